"""The terminal front-end and the admin command line, run as a newcomer would run them."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.console.render import render
from assistant.i18n import translate
from assistant.messages import Card, Fact, File, Option, Question, Reply, Text
from storage.engine import make_engine
from storage.repositories import SqlStore

REGISTRATION_LINES = ["1", "Amira Haddad", "amira@example.org", "Registered nurse",
                      "St Columba's Hospice", "care home (nursing)", "EH6 8QX", "yes", "Scotland",
                      "Glasgow", "yes", "English", "2", "1", "yes"]


def spoke(tmp_path: Path, *args: str, stdin: str = "",
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], input=stdin, text=True,
                          capture_output=True, env=environment(tmp_path), timeout=timeout, check=False)


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "SPOKE_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'spoke.db'}", SPOKE_DATA_DIR=str(tmp_path),
               TZ="Europe/London")
    return env


def person(tmp_path: Path, identity: str):  # type: ignore[no-untyped-def]
    store = SqlStore(make_engine(f"sqlite:///{tmp_path / 'spoke.db'}"))
    try:
        with store.transaction() as uow:
            found = uow.people.by_identity(identity)
            return found, (uow.memberships.of(found.id) if found else [])
    finally:
        store.close()


@pytest.fixture
def seeded_dir(tmp_path: Path) -> Path:
    assert spoke(tmp_path, "db", "upgrade").returncode == 0
    first = spoke(tmp_path, "demo", "seed")
    again = spoke(tmp_path, "demo", "seed")
    assert first.returncode == again.returncode == 0
    assert "care-homes" in first.stdout and "already there" in again.stdout
    return tmp_path


def test_render_numbers_options_and_saves_files(tmp_path: Path) -> None:
    reply = Reply((Text("Hello"), Question("Role?", (Option("Nurse", "r:1"), Option("GP", "r:2"))),
                   Card("You", (Fact("Name", "Amira"),)),
                   File("../../evil.json", "application/json", b"{}", caption="Your data")))
    text = render(reply, tmp_path / "files")
    assert "Role?\n1. Nurse\n2. GP" in text and "Name: Amira" in text
    assert (tmp_path / "files" / "evil.json").read_bytes() == b"{}"  # never outside its folder
    assert f"Your data: {tmp_path / 'files' / 'evil.json'}" in text


@pytest.mark.slow
def test_a_piped_registration_ends_cleanly_and_is_stored(seeded_dir: Path) -> None:
    result = spoke(seeded_dir, "chat", "--as", "amira", stdin="\n".join(REGISTRATION_LINES) + "\n")
    assert result.returncode == 0, result.stderr
    assert translate("registration.done", "en", name="Amira") in result.stdout
    assert "Traceback" not in result.stderr
    found, memberships = person(seeded_dir, "console:amira")
    assert found is not None and found.region == "EH6" and found.care_setting == "care_home_nursing"
    assert [m.network for m in memberships] == ["care-homes"]

    listing = spoke(seeded_dir, "admin", "list", "participants", "--network", "care-homes", "--csv")
    rows = list(csv.DictReader(io.StringIO(listing.stdout)))
    assert listing.returncode == 0 and rows[0]["Email"] == "amira@example.org"

    granted = spoke(seeded_dir, "admin", "grant", "facilitator", "--network", "care-homes",
                    "--user", "amira@example.org")
    assert granted.returncode == 0, granted.stderr
    roles = {m.role for m in person(seeded_dir, "console:amira")[1]}
    assert roles == {"participant", "facilitator"}


@pytest.mark.slow
def test_french_chat_from_the_command_line(seeded_dir: Path) -> None:
    result = spoke(seeded_dir, "chat", "--as", "elise", "--lang", "fr", stdin="aide\n")
    assert result.returncode == 0
    assert translate("registration.welcome", "fr") in result.stdout
    assert translate("registration.begin.help", "fr") in result.stdout


@pytest.mark.slow
def test_a_killed_chat_resumes_at_the_same_question(seeded_dir: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "assistant.cli", "chat", "--as", "rhys"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env=environment(seeded_dir))
    assert process.stdin is not None and process.stdout is not None
    for line in REGISTRATION_LINES[:4]:
        process.stdin.write(line + "\n")
    process.stdin.flush()
    organisation = translate("fields.organisation.ask", "en")
    while organisation not in (process.stdout.readline() or organisation):
        pass
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    resumed = spoke(seeded_dir, "chat", "--as", "rhys", stdin="")
    assert translate("runtime.welcome_back", "en") in resumed.stdout
    assert organisation in resumed.stdout


@pytest.mark.parametrize(("args", "status", "message"), [
    (["admin", "grant", "facilitator", "--network", "nowhere", "--user", "x"], 1, "no network"),
    (["admin", "grant", "facilitator", "--network", "care-homes", "--user", "ghost"], 1,
     "no registered person"),
    (["admin", "network", "add", "Bad Slug!", "--name", "X"], 1, "slug"),
    (["admin", "network", "add", "care-homes", "--name", "Again"], 1, "already exists"),
    (["admin", "list", "participants", "--network", "nowhere"], 1, "no network"),
    (["admin", "network", "add", "x", "--name", "X", "--state", "ajar"], 2, "invalid choice"),
    (["admin", "grant", "king", "--network", "care-homes", "--user", "x"], 2, "invalid choice"),
])
def test_bad_admin_commands_fail_clearly(seeded_dir: Path, args: list[str], status: int,
                                         message: str) -> None:
    result = spoke(seeded_dir, *args)
    assert result.returncode == status
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_network_added_from_the_command_line_offers_its_professions(seeded_dir: Path) -> None:
    added = spoke(seeded_dir, "admin", "network", "add", "homeless-echo", "--name",
                  "Homeless Services ECHO", "--professions", "Outreach worker, Nurse",
                  "--state", "opening-soon")
    assert added.returncode == 0, added.stderr
    result = spoke(seeded_dir, "chat", "--as", "sam", stdin="1\nSam Jones\nsam@example.org\n")
    assert "Outreach worker" in result.stdout
