"""Adds `spoke serve` to the command line (found through the `spoke.frontends` entry point)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from assistant.bootstrap import App

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
             open_app: Callable[[], App]) -> None:
    parser = commands.add_parser("serve", help="serve the Slack (and later Teams) webhooks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--slack-socket-mode", action="store_true",
                        help="reach Slack over Socket Mode (needs SLACK_APP_TOKEN)")

    def run(args: argparse.Namespace) -> int:
        from adapters.slack.config import SlackSettings
        from adapters.teams.config import TeamsMisconfigured, TeamsSettings

        slack = SlackSettings.from_env()
        try:
            teams = TeamsSettings.from_env()
        except TeamsMisconfigured as refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return 1
        if slack is None and teams is None:
            print("error: neither Slack (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET) nor Teams "
                  "(MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD) is configured", file=sys.stderr)
            return 1
        if teams is not None and teams.insecure_dev and args.host not in ("127.0.0.1", "::1",
                                                                          "localhost"):
            print("error: SPOKE_TEAMS_INSECURE_DEV=1 only serves on 127.0.0.1", file=sys.stderr)
            return 1
        app = open_app()
        try:
            if args.slack_socket_mode:
                from adapters.web.socket_mode import serve_socket_mode

                if slack is None or not slack.app_token.value:
                    print("error: --slack-socket-mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN")
                    return 1
                coroutine = serve_socket_mode(app, args.host, args.port, slack)
            else:
                from adapters.web.server import serve

                coroutine = serve(app, args.host, args.port, slack, teams)
            _run_until_signalled(coroutine)
            return 0
        finally:
            app.close()

    parser.set_defaults(run=run)


def _run_until_signalled(coroutine: Coroutine[Any, Any, None]) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(coroutine)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


def register_teams(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                   open_app: Callable[[], App]) -> None:
    teams = commands.add_parser("teams", help="Microsoft Teams").add_subparsers(title="teams commands")
    package = teams.add_parser("package", help="build the Teams app package (zip) to upload")
    package.add_argument("--app-id", default=None, help="the bot's Microsoft app id "
                         "(default: MICROSOFT_APP_ID)")
    package.add_argument("--domain", required=True, help="public host name of spoke serve, "
                         "e.g. spoke.example.org")
    package.add_argument("--output", default="spoke-teams.zip")

    def run(args: argparse.Namespace) -> int:
        import os
        import re
        from pathlib import Path

        from adapters.teams.package import package as build

        app_id = args.app_id or os.environ.get("MICROSOFT_APP_ID", "")
        if not re.fullmatch(r"[0-9a-fA-F-]{36}", app_id):
            print("error: --app-id (or MICROSOFT_APP_ID) must be the bot's GUID app id",
                  file=sys.stderr)
            return 1
        domain = args.domain.removeprefix("https://").strip("/")
        Path(args.output).write_bytes(build(app_id, domain))
        print(f"Teams app package written to {args.output}")
        return 0

    package.set_defaults(run=run)
