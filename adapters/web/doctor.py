"""`spoke doctor`: checks what a deployment needs before it serves anyone — configuration, the
database and its migrations, each configured platform's credentials (with one harmless call),
and the clock, which signed requests and tokens depend on. Prints one line a check, never a
secret, and exits 1 when any check fails."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from assistant.bootstrap import App, MissingSecret, database_status, sealer_for
from assistant.clock import Clock, SystemClock
from assistant.config import Settings

# Slack refuses requests signed more than 5 minutes off; tokens carry a few minutes of
# leeway. A minute is already worth fixing.
CLOCK_SKEW_LIMIT_SECONDS = 60.0


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'PROBLEM':8} {self.name}: {self.detail}"


def register(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
             open_app: Callable[[], App]) -> None:
    parser = commands.add_parser("doctor", help="check configuration, database, platforms, clock")

    def run(args: argparse.Namespace) -> int:
        findings = asyncio.run(examine(Settings.from_env(), SystemClock()))
        for finding in findings:
            print(finding.line())
        return 0 if all(f.ok for f in findings) else 1

    parser.set_defaults(run=run)


async def examine(settings: Settings, clock: Clock,
                  env: dict[str, str] | None = None) -> list[Finding]:
    from adapters.slack.config import SlackSettings
    from adapters.teams.config import TeamsMisconfigured, TeamsSettings

    findings = [_configuration(settings)]
    findings += await asyncio.to_thread(_database, settings, clock)
    slack = SlackSettings.from_env(env)
    try:
        teams = TeamsSettings.from_env(env)
    except TeamsMisconfigured as refusal:
        findings.append(Finding("teams", False, str(refusal)))
        teams = None
    if slack is None and teams is None:
        findings.append(Finding("platforms", False, "neither Slack nor Teams is configured "
                                                    "(only `spoke chat` will work)"))
    if slack is not None:
        findings += await _slack(slack, clock)
    if teams is not None:
        findings += await _teams(teams, clock)
    return findings


def _configuration(settings: Settings) -> Finding:
    try:
        sealer_for(settings)
    except MissingSecret as missing:
        return Finding("configuration", False, str(missing))
    kind = settings.database_url.split(":", 1)[0]
    key = "SPOKE_SECRET_KEY" if settings.secret_key.value else f"key file in {settings.data_dir}"
    return Finding("configuration", True, f"database {kind}, sealing key from {key}")


def _database(settings: Settings, clock: Clock) -> list[Finding]:
    found = database_status(settings)
    if found.error is not None:
        return [Finding("database", False, f"cannot connect ({found.error})")]
    findings = [Finding("database", True, "reachable")]
    if found.current == found.head:
        findings.append(Finding("migrations", True, f"up to date ({found.head})"))
    else:
        findings.append(Finding("migrations", False, f"at {found.current or 'none'}, head is "
                                                     f"{found.head}: run `spoke db upgrade`"))
    if found.server_now is not None:
        findings.append(_skew("clock (database server)", found.server_now, clock))
    return findings


async def _slack(slack: Any, clock: Clock) -> list[Finding]:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=slack.bot_token.value, base_url=slack.api_url, timeout=10)
    try:
        answer = await client.auth_test()
    except SlackApiError as refused:
        return [Finding("slack", False, f"auth.test refused: {refused.response.get('error')}")]
    except Exception as failed:  # any failure to reach Slack is the finding
        return [Finding("slack", False, f"cannot reach the Web API ({type(failed).__name__})")]
    found = [Finding("slack", True, f"bot token works for team {answer.get('team_id')}")]
    date = answer.headers.get("Date") or answer.headers.get("date")
    if date:
        found.append(_skew("clock (Slack)", parsedate_to_datetime(str(date)), clock))
    return found


async def _teams(teams: Any, clock: Clock) -> list[Finding]:
    import aiohttp

    from adapters.teams.config import CONNECTOR_SCOPE

    if teams.insecure_dev and not teams.app_password.value:
        return [Finding("teams", True, "insecure local development: no token to check")]
    form = {"grant_type": "client_credentials", "client_id": teams.app_id,
            "client_secret": teams.app_password.value, "scope": CONNECTOR_SCOPE}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
                session.post(teams.outbound_token_url, data=form) as response:
            date = response.headers.get("Date")
            if response.status != 200:
                return [Finding("teams", False, f"the token endpoint refused the app id and "
                                                f"password (HTTP {response.status})")]
    except aiohttp.ClientError as failed:
        return [Finding("teams", False, f"cannot reach the token endpoint ({type(failed).__name__})")]
    found = [Finding("teams", True, f"app {teams.app_id} gets a connector token")]
    if date:
        found.append(_skew("clock (Teams token endpoint)", parsedate_to_datetime(date),
                           clock))
    return found


def _skew(name: str, theirs: datetime, clock: Clock) -> Finding:
    ours = clock.now()
    seconds = abs((ours - theirs.astimezone(UTC)).total_seconds())
    if seconds > CLOCK_SKEW_LIMIT_SECONDS:
        return Finding(name, False, f"{seconds:.0f} s apart: set the clock (NTP) before serving")
    return Finding(name, True, f"within {max(seconds, 1):.0f} s")
