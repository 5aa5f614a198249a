"""`spoke doctor` against real parts: SQLite and PostgreSQL, the Slack and Bot Framework mocks
on loopback (answering with their own Date headers), a fake clock to be wrong with."""

from __future__ import annotations

from pathlib import Path

from adapters.web.doctor import Finding, examine
from assistant.clock import FakeClock, SystemClock
from assistant.config import Settings
from storage.migrate import upgrade
from tests.slack_fixtures import SIGNING_SECRET
from tests.slack_mock import SlackApiMock
from tests.teams_mock import DEFAULT_APP_ID, DEFAULT_APP_PASSWORD, BotFrameworkIdentity


def _by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings}


def _settings(url: str, tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": url, "SPOKE_DATA_DIR": str(tmp_path), **env})


async def test_a_healthy_deployment_passes_every_check(db_url: str, tmp_path: Path,
                                                      slack_api: SlackApiMock) -> None:
    upgrade(db_url)
    env = {"SLACK_BOT_TOKEN": slack_api.token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack_api.url, "SPOKE_SECRET_KEY": "a doctor's key"}
    found = _by_name(await examine(_settings(db_url, tmp_path, **env), SystemClock(), env))
    assert all(f.ok for f in found.values()), found
    assert found["slack"].detail.startswith("bot token works")
    assert found["clock (Slack)"].ok
    if db_url.startswith("postgresql"):
        assert found["clock (database server)"].ok
    lines = " ".join(f.line() for f in found.values())
    assert slack_api.token not in lines and SIGNING_SECRET not in lines
    assert "a doctor's key" not in lines


async def test_pending_migrations_a_refused_token_and_a_wrong_clock_are_problems(
        tmp_path: Path, slack_api: SlackApiMock) -> None:
    url = f"sqlite:///{tmp_path / 'spoke.db'}"
    upgrade(url, "0003")
    env = {"SLACK_BOT_TOKEN": "xoxb-not-this-one", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack_api.url}
    found = _by_name(await examine(_settings(url, tmp_path, **env), SystemClock(), env))
    assert not found["migrations"].ok and "at 0003" in found["migrations"].detail
    assert not found["slack"].ok and "invalid_auth" in found["slack"].detail

    env["SLACK_BOT_TOKEN"] = slack_api.token
    wrong = FakeClock(at="2025-06-02T09:00:00Z")  # far from the mock's Date header
    found = _by_name(await examine(_settings(url, tmp_path, **env), wrong, env))
    assert found["slack"].ok and not found["clock (Slack)"].ok


async def test_postgresql_without_a_key_and_an_unreachable_database(tmp_path: Path) -> None:
    url = "postgresql+psycopg://spoke@127.0.0.1:1/nowhere"
    found = _by_name(await examine(_settings(url, tmp_path), SystemClock(), {}))
    assert not found["configuration"].ok and "SPOKE_SECRET_KEY" in found["configuration"].detail
    assert not found["database"].ok and "cannot connect" in found["database"].detail
    assert not found["platforms"].ok


async def test_teams_credentials_are_checked_against_the_token_endpoint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'spoke.db'}"
    upgrade(url)
    async with BotFrameworkIdentity(clock=SystemClock()) as identity:
        env = {"MICROSOFT_APP_ID": DEFAULT_APP_ID, "MICROSOFT_APP_PASSWORD": DEFAULT_APP_PASSWORD,
               "SPOKE_TEAMS_TOKEN_URL": identity.token_url}
        found = _by_name(await examine(_settings(url, tmp_path, **env), SystemClock(), env))
        assert found["teams"].ok, found
        assert found["clock (Teams token endpoint)"].ok
        env["MICROSOFT_APP_PASSWORD"] = "wrong"
        found = _by_name(await examine(_settings(url, tmp_path, **env), SystemClock(), env))
        assert not found["teams"].ok and "refused" in found["teams"].detail
        assert "wrong" not in found["teams"].line()


def test_findings_read_as_one_line_each() -> None:
    assert Finding("database", False, "cannot connect").line() == \
        "PROBLEM  database: cannot connect"
    assert Finding("database", True, "reachable").line().startswith("ok       database")
