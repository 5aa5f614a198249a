"""Both catalogues say everything, with the same placeholders, and formatting is per locale."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.i18n import LANGUAGES, catalogue, format_moment, normalise_language, translate
from assistant.model import CARE_SETTINGS, NETWORK_STATES
from dialogs.fields import EDITABLE

ROOT = Path(__file__).resolve().parents[1]
LITERAL_ID = re.compile(r'"((?:runtime|registration|fields|profile|networks|consent|data|language'
                        r'|help|commands|welcome|parse)\.[a-z_.]+)"')


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def ids_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("assistant", "dialogs"):
        for path in (ROOT / folder).rglob("*.py"):
            # Audit actions ("data.exported") look like ids but are never shown to anyone.
            lines = [line for line in path.read_text(encoding="utf-8").splitlines()
                     if "audit.record(" not in line]
            found |= set(LITERAL_ID.findall("\n".join(lines)))
    # Ids built from data: one per profile field, care setting, network state and status.
    found |= {f"fields.{key}.label" for key in (*EDITABLE, "profession_other")}
    found |= {f"fields.care_setting.{s}" for s in CARE_SETTINGS}
    joinable = [s for s in NETWORK_STATES if s != "closed"]
    found |= {f"networks.action.join.{s}" for s in joinable}
    found |= {f"registration.networks.state.{s}" for s in joinable}
    found |= {f"networks.joined.{s}" for s in ("active", "waitlisted", "interested")}
    found |= {f"home.status.{s}" for s in ("active", "waitlisted", "interested")}
    return {i for i in found if not i.endswith(".")}


def test_english_and_french_hold_the_same_messages_with_the_same_placeholders() -> None:
    english, french = catalogue("en"), catalogue("fr")
    assert english.keys() == french.keys()
    for message_id, text in english.items():
        assert placeholders(text) == placeholders(french[message_id]), message_id


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_the_code_names_is_translated(language: str) -> None:
    missing = sorted(ids_in_code() - catalogue(language).keys())
    assert not missing


def test_a_french_reader_gets_french() -> None:
    assert translate("runtime.yes", "fr") == "Oui"
    assert translate("language.saved", "fr") != translate("language.saved", "en")


@pytest.mark.parametrize(("given", "expected"), [
    ("fr-CA", "fr"), ("fr_FR", "fr"), ("FR", "fr"), ("en-GB", "en"), ("de", "en"), (None, "en"),
])
def test_language_tags_are_normalised(given: str | None, expected: str) -> None:
    assert normalise_language(given) == expected


def test_times_are_shown_in_the_reader_zone_and_language() -> None:
    moment = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)
    assert format_moment(moment, "Europe/London", "en") == "Thursday 12 June, 13:00"
    assert format_moment(moment, "America/Toronto", "fr") == "jeudi 12 juin, 08 h 00"
