"""Nothing a person types, and no secret, reaches the logs."""

from __future__ import annotations

import io
import json
import logging

from assistant.config import Secret, Settings
from assistant.logs import redact
from assistant.turns import TurnHandler
from storage.repositories import SqlStore
from tests.harness import ChatHarness, seeded
from tests.test_turns import ExplodingPlaybook

SECRET_ANSWER = "NHS 999 765 4323 Rosemount Care Home"


def test_a_whole_registration_with_a_health_number_leaves_no_trace_in_the_logs(
        suite_store: SqlStore, clock, json_logs: io.StringIO) -> None:
    chat = ChatHarness(seeded(suite_store, clock), clock)
    chat.start()
    for text in ("1", "Amira Haddad", "amira@example.org", "1", SECRET_ANSWER, "1"):
        chat.say(text)
    chat.turns = TurnHandler(suite_store, clock, ExplodingPlaybook("kaboom"))
    chat.say("kaboom")  # a crash whose exception message carries a health number
    logs = json_logs.getvalue()
    assert '"event": "turn.done"' in logs and '"event": "turn.failed"' in logs
    for leaked in ("999 765 4323", "Rosemount", "Amira", "amira@example.org"):
        assert leaked not in logs
    for line in logs.splitlines():
        json.loads(line)  # structured, one JSON object a line


def test_known_secret_shapes_are_redacted() -> None:
    assert redact("token xoxb-123-456-abc") == "token [SECRET]"
    assert redact("Authorization: Bearer eyJ.abc.def") == "Authorization: [SECRET]"
    assert redact("CHI 1507451318") == "CHI [NUMBER]"


def test_fields_that_carry_text_are_dropped_from_records(json_logs: io.StringIO) -> None:
    logging.getLogger("spoke.test").warning("incoming", extra={"text": "my patient Mrs X",
                                                               "event": "x"})
    assert "Mrs X" not in json_logs.getvalue()


def test_the_secret_key_never_prints() -> None:
    settings = Settings.from_env({"SPOKE_SECRET_KEY": "hunter2-very-secret"})
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.secret_key)
    assert settings.secret_key.value == "hunter2-very-secret"
    assert repr(Secret("")) == "Secret('')"


def test_settings_default_to_a_sqlite_file_in_the_data_directory() -> None:
    settings = Settings.from_env({"SPOKE_DATA_DIR": "/srv/spoke"})
    assert settings.database_url == "sqlite:////srv/spoke/spoke.db"
    assert Settings.from_env({"DATABASE_URL": "postgresql+psycopg://x@h/db"}).database_url.startswith(
        "postgresql")


def test_the_suite_wide_scan_reads_records_as_spoke_writes_them() -> None:
    from tests.conftest import NEVER_LOGGED, _as_spoke_writes

    typed = logging.makeLogRecord({"name": "spoke.test", "levelno": logging.INFO,
                                   "msg": "answer: %s", "args": ("Breathless at night",)})
    assert any(canary in _as_spoke_writes(typed) for canary in NEVER_LOGGED)  # would fail a test
    token = logging.makeLogRecord({"name": "spoke.test", "msg": "calling with xoxb-test-123"})
    assert "xoxb-test" not in _as_spoke_writes(token)  # redacted on the way out: no false alarm
