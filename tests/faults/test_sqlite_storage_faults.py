"""The embedded SQLite file stops taking writes (a full disk, or read-only): a turn tells the
person to try again later (the terminal chat) or its front door answers 503 (Teams redelivers),
the command line prints a clear error without a traceback, nothing is half-written and the
file is sound; once it takes writes again the conversation goes on from the same question.

The faults are SQLite's own errors (tests/faults/sqlite_faults.py): SQLITE_FULL from
`PRAGMA max_page_count`, SQLITE_READONLY from `PRAGMA query_only`.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from adapters.console.chat import chat
from assistant.bootstrap import build_app
from assistant.clock import FakeClock
from assistant.config import Secret, Settings
from assistant.i18n import translate
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from tests.conftest import TEST_SEALER
from tests.faults.sqlite_faults import Fault, integrity
from tests.harness import seeded
from tests.teams_fixtures import IDENTITY, TeamsSpoke, serve_teams
from tests.test_console import environment

pytestmark = pytest.mark.slow

KINDS = ["disk_full", "read_only"]
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Snapshot:
    """What a refused turn must leave as it was."""

    deliveries: int
    outbox: int
    conversation: tuple[str | None, int] | None   # pending step, revision

    @classmethod
    def of(cls, url: str, identity: str) -> Snapshot:
        """Read on an engine of its own: the faulty one cannot even begin a transaction."""
        store = SqlStore(make_engine(url), TEST_SEALER)
        try:
            with store.engine.connect() as connection:
                deliveries, outbox = (connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()  # noqa: S608 - our names
                                      for name in ("processed_event", "outbox"))
            with store.transaction() as uow:
                state = uow.conversations.active(identity)
        finally:
            store.close()
        return cls(int(deliveries), int(outbox),
                   (state.pending_step, state.revision) if state else None)


def database_file(store: SqlStore) -> Path:
    name = store.engine.url.database
    assert name is not None
    return Path(name)


# ---------------------------------------------------------------------------------- the chat


class Typing(io.StringIO):
    """What the person types, a line at a time; `before` runs when a line is read, that is
    once the last turn is over."""

    def __init__(self, lines: list[tuple[str, Callable[[], None] | None]]) -> None:
        super().__init__()
        self._lines = list(lines)

    def isatty(self) -> bool:
        return False

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        if not self._lines:
            return ""
        line, before = self._lines.pop(0)
        if before is not None:
            before()
        return line + "\n"


@pytest.mark.parametrize("kind", KINDS)
async def test_the_terminal_chat_says_try_again_later_and_resumes_at_the_same_question(
        kind: str, tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path / 'spoke.db'}"
    upgrade(url)
    store = SqlStore(make_engine(url), TEST_SEALER)
    app = build_app(Settings(database_url=url, data_dir=tmp_path, secret_key=Secret("")),
                    clock=clock, store=seeded(store, clock))
    identity = "console:amira"
    seen: dict[str, Snapshot] = {}
    fault = Fault(store.engine, kind)

    def break_it() -> None:
        seen["before"] = Snapshot.of(url, identity)
        fault.on()

    def mend_it() -> None:
        fault.off()
        seen["refused"] = Snapshot.of(url, identity)
        assert integrity(database_file(store)) == "ok"

    out = io.StringIO()
    typing = Typing([("register", None), ("Amira Haddad", break_it), ("Amira Haddad", mend_it)])
    try:
        assert await asyncio.wait_for(chat(app, "amira", "en", typing, out), timeout=30) == 0
    finally:
        store.close()

    said = out.getvalue()
    unavailable = translate("runtime.unavailable", "en")
    assert said.count(unavailable) == 1, said
    # Asked for the name; refused while the file took no writes; then the same answer went on.
    assert seen["refused"] == seen["before"] and seen["before"].conversation is not None
    assert seen["before"].conversation[0] == "full_name"
    after = said.split(unavailable, 1)[1]
    assert "Traceback" not in said and "e-mail" in after, after
    check_file(url, identity, answered={"full_name": "Amira Haddad"})


def check_file(url: str, identity: str, answered: dict[str, Any]) -> None:
    """The file is sound and holds the answer given once it took writes again."""
    store = SqlStore(make_engine(url), TEST_SEALER)
    try:
        assert integrity(database_file(store)) == "ok"
        with store.transaction() as uow:
            state = uow.conversations.active(identity)
        assert state is not None and state.pending_step != "full_name"
        assert {k: state.answers.get(k) for k in answered} == answered
    finally:
        store.close()


# ---------------------------------------------------------------------------------- Teams


@pytest.fixture
async def teams(sqlite_store: SqlStore, clock: FakeClock, tmp_path: Path) -> AsyncIterator[TeamsSpoke]:
    """The shared `teams` server, on SQLite whatever the suite's engine."""
    async with serve_teams(sqlite_store, clock, tmp_path) as spoke:
        yield spoke


@pytest.mark.parametrize("kind", KINDS)
async def test_teams_is_answered_503_and_the_redelivered_answer_goes_on_once(
        kind: str, teams: TeamsSpoke) -> None:
    await teams.say("register")                   # the welcome, and shall we begin?
    await teams.say(translate("registration.begin.yes", "en"))
    url = str(teams.store.engine.url)
    before = Snapshot.of(url, IDENTITY)
    assert before.conversation is not None and before.conversation[0] == "full_name"
    answer = teams.message("Ama Mensah")
    with Fault(teams.store.engine, kind):
        refused = await teams.post(answer)
        assert refused.status == 503, await refused.text()
        assert Snapshot.of(url, IDENTITY) == before
        assert integrity(database_file(teams.store)) == "ok"
    assert (await teams.post(answer)).status == 200       # Teams delivers it again
    asked = (await teams.connector.next_activity()).activity
    assert "e-mail" in str(asked), asked
    assert (await teams.post(answer)).status == 200       # and again: a duplicate, ignored
    await teams.settle()
    assert len(teams.connector.activities()) == 3        # then the name, then the e-mail
    check_file(url, IDENTITY, answered={"full_name": "Ama Mensah"})


# ---------------------------------------------------------------------------------- the command line


FAULTY_SPOKE = ("import sys; from tests.faults.sqlite_faults import every_engine_faulty; "
                "every_engine_faulty(sys.argv[1]); from assistant.cli import main; "
                "sys.exit(main(sys.argv[2:]))")


def spoke(tmp_path: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    """`spoke ARGS`, meeting the fault."""
    command = ([sys.executable, "-c", FAULTY_SPOKE, fault] if fault
               else [sys.executable, "-m", "assistant.cli"])
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT,
                          env=environment(tmp_path), timeout=60, check=False)


@pytest.mark.parametrize("kind", KINDS)
def test_the_command_line_prints_a_clear_error_and_changes_nothing(kind: str,
                                                                   tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'spoke.db'}"
    upgrade(url)
    add = ("admin", "network", "add", "wound-care", "--name", "Wound Care ECHO")

    refused = spoke(tmp_path, *add, fault=kind)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr, refused.stderr
    assert integrity(tmp_path / "spoke.db") == "ok"
    assert networks(url) == []

    assert spoke(tmp_path, *add).returncode == 0                   # writable again: it is added
    assert networks(url) == ["wound-care"]


def networks(url: str) -> list[str]:
    store = SqlStore(make_engine(url), TEST_SEALER)
    try:
        with store.transaction() as uow:
            return [n.slug for n in uow.networks.all()]
    finally:
        store.close()
