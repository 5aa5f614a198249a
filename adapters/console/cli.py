"""Adds `spoke chat` to the command line (found through the `spoke.frontends` entry point)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from assistant.bootstrap import App


def register(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
             open_app: Callable[[], App]) -> None:
    parser = commands.add_parser("chat", help="talk to Spoke in this terminal")
    parser.add_argument("--as", dest="user", required=True,
                        help="who you are in this terminal, e.g. amira")
    parser.add_argument("--lang", choices=("en", "fr"), default=None,
                        help="language to start in (default: English)")

    def run(args: argparse.Namespace) -> int:
        from adapters.console.chat import main

        app = open_app()
        try:
            return main(app, args.user, args.lang)
        finally:
            app.close()

    parser.set_defaults(run=run)
