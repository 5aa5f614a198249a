"""What people type is sealed at rest: the database file holds none of it in clear."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from assistant.bootstrap import MissingSecret, sealer_for
from assistant.clock import FakeClock
from assistant.config import Secret, Settings
from assistant.runtime import DialogState
from assistant.sealing import CannotOpen, Sealer
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore

CASE_TEXT = "Retired fisherman with breathlessness at rest, lives alone on Skye"


def test_a_sealed_value_opens_to_the_same_value() -> None:
    sealer = Sealer(["current"])
    value = {"summary": CASE_TEXT, "age_band": "80-89", "tried": ["morphine", "fan"]}
    sealed = sealer.seal(value)
    assert set(sealed) == {"sealed"} and CASE_TEXT not in sealed["sealed"]
    assert sealer.open(sealed) == value


def test_after_a_rotation_old_values_open_and_new_ones_use_the_new_key() -> None:
    old = Sealer(["old key"]).seal({"summary": CASE_TEXT})
    rotated = Sealer(["new key", "old key"])
    assert rotated.open(old) == {"summary": CASE_TEXT}
    assert Sealer(["new key"]).open(rotated.seal({"a": 1})) == {"a": 1}
    with pytest.raises(CannotOpen):
        Sealer(["new key"]).open(old)  # the old key was dropped too soon: said, not guessed


def test_values_stored_before_sealing_are_read_as_they_are() -> None:
    assert Sealer(["k"]).open({"summary": "plain"}) == {"summary": "plain"}


def test_the_database_file_holds_no_answer_in_clear(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path / 'spoke.db'}"
    upgrade(url)
    store = SqlStore(make_engine(url), Sealer(["k"]))
    state = DialogState(dialog="case", dialog_version=1, answers={"summary": CASE_TEXT},
                        pending_step="age_band", previous={"summary": CASE_TEXT + " (before)"},
                        proposed={"key": "summary", "value": CASE_TEXT})
    with store.transaction() as uow:
        uow.conversations.save("console:amira", state, clock.now())
    with store.transaction() as uow:
        loaded = uow.conversations.load("console:amira", "case")
    assert loaded is not None and loaded.answers == {"summary": CASE_TEXT}
    assert loaded.proposed == {"key": "summary", "value": CASE_TEXT}
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("spoke.db*"))
    assert b"fisherman" not in raw and b"Skye" not in raw


def test_embedded_sqlite_makes_its_own_key_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'spoke.db'}", data_dir=tmp_path,
                        secret_key=Secret(""))
    first = sealer_for(settings).seal({"a": 1})
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert sealer_for(settings).open(first) == {"a": 1}  # the same key next time


def test_postgresql_without_a_shared_key_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql+psycopg://spoke@127.0.0.1/spoke",
                        data_dir=tmp_path, secret_key=Secret(""))
    with pytest.raises(MissingSecret, match="SPOKE_SECRET_KEY"):
        sealer_for(settings)
    assert not (tmp_path / "secret.key").exists()
