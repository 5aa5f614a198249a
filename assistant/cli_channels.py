"""`spoke admin network channel SLUG`: where a network's announcements are posted.

    spoke admin network channel care-homes --slack-channel T0123/C0456
    spoke admin network channel care-homes --teams-conversation '19:...@thread.tacv2' \
        --service-url https://smba.trafficmanager.net/emea/ --tenant TENANT [--bot-id 28:APP]
    spoke admin network channel care-homes --clear
    spoke admin network channel care-homes          (shows the current one)

In chat, a facilitator mentions Spoke in the channel and says "use this channel", which also
captures Teams' service address; this is for the hub setting it up beforehand. CommandErrors print
as `error: ...` with exit status 1, as in assistant/cli.py (this module does not import it:
under `python -m assistant.cli` that would load a second copy whose errors `main` misses).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from assistant.bootstrap import App
from assistant.cli_support import CommandError, Wrap

OPERATOR = "cli"
_SLACK = re.compile(r"(?P<team>[TE][A-Z0-9]{2,20})/(?P<channel>[CG][A-Z0-9]{2,20})")
# A Teams channel's conversation id; a thread's ";messageid=..." suffix is dropped.
_TEAMS = re.compile(r"19:[A-Za-z0-9_.\-]{1,200}@thread\.(tacv2|skype)")
_TENANT = re.compile(r"[0-9a-fA-F-]{36}")


def add_channel_commands(admin: argparse._SubParsersAction,  # type: ignore[type-arg]
                         with_app: Wrap) -> None:
    """Adds `channel` under the existing `spoke admin network` commands."""

    network = admin.choices["network"]
    commands = next(action for action in network._actions
                    if isinstance(action, argparse._SubParsersAction))
    channel = commands.add_parser("channel", help="the channel a network announces in")
    channel.add_argument("slug", metavar="SLUG")
    where = channel.add_mutually_exclusive_group()
    where.add_argument("--slack-channel", metavar="TEAM/CHANNEL",
                       help="a Slack channel, e.g. T0123ABCD/C0456EFGH (invite @Spoke to it)")
    where.add_argument("--teams-conversation", metavar="ID",
                       help="a Teams channel's id, 19:...@thread.tacv2")
    where.add_argument("--clear", action="store_true", help="no channel: no announcements")
    channel.add_argument("--service-url", help="Teams: the service URL of its activities")
    channel.add_argument("--tenant", help="Teams: the tenant id")
    channel.add_argument("--bot-id", default="", help="Teams: the bot's id (28:<app id>)")
    channel.set_defaults(run=with_app(_channel))


def _channel(app: App, args: argparse.Namespace) -> int:
    teams_only = [name for name in ("service_url", "tenant") if getattr(args, name)]
    if teams_only and not args.teams_conversation:
        raise CommandError("--service-url and --tenant go with --teams-conversation")
    wanted: tuple[str, dict[str, Any]] | None = None
    if args.slack_channel:
        wanted = _slack(args.slack_channel)
    elif args.teams_conversation:
        wanted = _teams(args)
    now = app.clock.now()
    with app.store.transaction() as uow:
        names = {n.slug: n.name for n in uow.networks.all()}
        if args.slug not in names:
            raise CommandError(f"there is no network {args.slug!r}")
        if wanted is None and not args.clear:
            current = uow.networks.channel(args.slug)
            print(f"{args.slug}: " + (current[0] if current else "no channel for announcements"))
            return 0
        uow.networks.set_channel(args.slug, *(wanted or (None, None)))
        uow.audit.record(now, OPERATOR, "network.channel_set", f"network:{args.slug}",
                         {"channel": wanted[0] if wanted else None})
    if wanted is None:
        print(f"{args.slug}: no channel for announcements any more")
    else:
        print(f"{args.slug}: announcements go to {wanted[0]}")
        if args.slack_channel:
            print("invite @Spoke to that channel, or Slack refuses its posts (not_in_channel)")
    return 0


def _slack(given: str) -> tuple[str, dict[str, Any]]:
    found = _SLACK.fullmatch(given.strip())
    if found is None:
        raise CommandError(f"--slack-channel is TEAM/CHANNEL, e.g. T0123ABCD/C0456EFGH, not {given!r}"
                       " (a direct message, D..., is nobody's shared channel)")
    team, channel = found["team"], found["channel"]
    return f"slack:{team}/{channel}", {"team": team, "channel": channel}


def _teams(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    conversation = str(args.teams_conversation).strip().split(";")[0]
    if not _TEAMS.fullmatch(conversation):
        raise CommandError("--teams-conversation is a channel's id, 19:...@thread.tacv2, "
                       f"not {args.teams_conversation!r}")
    if not args.service_url or not args.tenant:
        raise CommandError("a Teams channel needs --service-url and --tenant too (or mention Spoke "
                       "in the channel and say \"use this channel\")")
    if not _TENANT.fullmatch(args.tenant.strip()):
        raise CommandError(f"--tenant is a tenant id (a GUID), not {args.tenant!r}")
    service_url = args.service_url.strip()
    if not _safe_url(service_url):
        raise CommandError(f"--service-url must be an https:// address, not {service_url!r}")
    address = {"service_url": service_url, "tenant": args.tenant.strip(), "channel": conversation}
    if args.bot_id:
        address["bot"] = args.bot_id.strip()
    return f"teams:{conversation}", address


def _safe_url(url: str) -> bool:
    """https, or plain http to this machine only (a local emulator)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme == "https" and "." in host:
        return True
    if parts.scheme != "http":
        return False
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
