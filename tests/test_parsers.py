"""Registration parsers: what each accepts, how it tidies, and why it refuses."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.parsers import (
    country,
    country_name,
    full_name,
    one_line,
    region,
    time_zone,
    work_email,
)
from assistant.parsing import Invalid, Parser, Valid

ASSISTANT = Path(__file__).resolve().parents[1] / "assistant"
CATALOGUES = {
    language: ASSISTANT / "locale" / language / "LC_MESSAGES" / "parsers.po"
    for language in ("en", "fr")
}
MONDAY_AFTERNOON_UTC = datetime(2025, 11, 24, 15, 4, tzinfo=UTC)


@dataclass(frozen=True)
class Context:
    language: str = "en"
    time_zone: str | None = None
    now: datetime = MONDAY_AFTERNOON_UTC


CTX = Context()


def accepted(result: Valid[Any] | Invalid) -> Any:
    assert isinstance(result, Valid), result
    return result.value


def refusal(result: Valid[Any] | Invalid) -> str:
    assert isinstance(result, Invalid), result
    return result.message


# one_line and full_name


def test_one_line_tidies_whitespace() -> None:
    assert accepted(one_line(40)("  St  Mary's\n\tHospice  ", CTX)) == "St Mary's Hospice"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_one_line_refuses_an_empty_answer(text: str) -> None:
    assert refusal(one_line(40)(text, CTX)) == "parse.text.empty"


def test_one_line_refuses_more_than_its_maximum_and_says_how_many() -> None:
    assert accepted(one_line(5)("abcde", CTX)) == "abcde"
    result = one_line(5)("abcdef", CTX)
    assert result == Invalid("parse.text.too_long", {"max": 5})


@pytest.mark.parametrize("text", ["Jane\x00Doe", "Jane\x1b[31mDoe", "Jane \u202eeoD"])
def test_one_line_refuses_control_characters(text: str) -> None:
    assert refusal(one_line(40)(text, CTX)) == "parse.text.control"


def test_full_name_keeps_the_name_as_written() -> None:
    assert accepted(full_name("  Aoife   Ní Bhriain ", CTX)) == "Aoife Ní Bhriain"
    assert accepted(full_name("Lê Văn Thành", CTX)) == "Lê Văn Thành"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "parse.text.empty"),
        ("J", "parse.full_name.too_short"),
        ("12 34", "parse.full_name.no_letter"),
        ("--", "parse.full_name.no_letter"),
        ("x" * 121, "parse.text.too_long"),
    ],
)
def test_full_name_refusals(text: str, reason: str) -> None:
    assert refusal(full_name(text, CTX)) == reason


def test_full_name_accepts_exactly_120_characters() -> None:
    assert len(accepted(full_name("a" * 120, CTX))) == 120


# work_email


def test_work_email_lower_cases_the_domain_only() -> None:
    assert accepted(work_email("  Jane.Doe@NHS.Net ", CTX)) == "Jane.Doe@nhs.net"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "parse.text.empty"),
        ("jane.doe.nhs.net", "parse.email.no_at"),
        ("jane@nhs", "parse.email.invalid"),
        ("jane doe@nhs.net", "parse.email.invalid"),
        ("jane@@nhs.net", "parse.email.invalid"),
        ("@nhs.net", "parse.email.invalid"),
    ],
)
def test_work_email_refusals(text: str, reason: str) -> None:
    result = work_email(text, CTX)
    assert refusal(result) == reason
    assert isinstance(result, Invalid)
    assert not result.args  # the address is never echoed back


# region


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("EH6", "EH6"),
        ("eh6", "EH6"),
        ("SW1A", "SW1A"),
        ("M1", "M1"),
        ("B33", "B33"),
        ("W1A", "W1A"),
        ("K1A", "K1A"),
        ("h2x", "H2X"),
    ],
)
def test_region_accepts_a_first_part_without_asking(text: str, kept: str) -> None:
    assert region(text, CTX) == Valid(kept)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("EH6 8QX", "EH6"),
        ("eh68qx", "EH6"),
        ("SW1A 1AA", "SW1A"),
        ("M1  1AE", "M1"),
        ("GIR 0AA", "GIR"),
        ("K1A 0B1", "K1A"),
        ("k1a0b1", "K1A"),
    ],
)
def test_region_keeps_only_the_first_part_of_a_full_code_and_says_so(text: str, kept: str) -> None:
    assert region(text, CTX) == Valid(
        kept, confirm="parse.region.kept_outward", confirm_args={"kept": kept}
    )


@pytest.mark.parametrize(
    "text", ["Lothian", "Ontario", "Île-de-France", "British Columbia", "Côtes-d'Armor"]
)
def test_region_accepts_a_region_name_as_typed(text: str) -> None:
    assert region(f"  {text} ", CTX) == Valid(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "parse.text.empty"),
        ("EH6 8Q", "parse.region.bad_postcode"),
        ("QH6", "parse.region.bad_postcode"),  # Q never leads a UK postcode
        ("D1A 0B1", "parse.region.bad_postcode"),  # nor D a Canadian one
        ("12345", "parse.region.bad_postcode"),
        ("K1A 0B1 X", "parse.region.bad_postcode"),
        ("X", "parse.region.invalid"),
        ("Lothian & Borders", "parse.region.invalid"),
        ("a" * 61, "parse.text.too_long"),
    ],
)
def test_region_refusals(text: str, reason: str) -> None:
    assert refusal(region(text, CTX)) == reason


# country


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("uk", "GB"),
        ("United Kingdom", "GB"),
        ("Royaume-Uni", "GB"),
        ("royaume uni", "GB"),
        ("Scotland", "GB"),
        ("Écosse", "GB"),
        ("England", "GB"),
        ("Wales", "GB"),
        ("Northern Ireland", "GB"),
        ("gb", "GB"),
        ("Canada", "CA"),
        ("ca", "CA"),
        ("USA", "US"),
        ("United States", "US"),
        ("États-Unis", "US"),
        ("etats-unis", "US"),
        ("Allemagne", "DE"),
        ("the Netherlands", "NL"),
        ("Côte d’Ivoire", "CI"),
        ("cote d'ivoire", "CI"),
    ],
)
def test_country_reads_names_in_english_and_french_and_codes(text: str, code: str) -> None:
    assert country(text, CTX) == Valid(code)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "parse.text.empty"),
        ("Narnia", "parse.country.unknown"),
        ("EU", "parse.country.unknown"),
    ],
)
def test_country_refusals(text: str, reason: str) -> None:
    assert refusal(country(text, CTX)) == reason


def test_country_name_follows_the_readers_language() -> None:
    assert country_name("GB", "en") == "United Kingdom"
    assert country_name("GB", "fr") == "Royaume-Uni"
    assert country_name("us", "fr") == "États-Unis"


# time_zone


@pytest.mark.parametrize(
    ("text", "zone", "city", "hour"),
    [
        ("Toronto", "America/Toronto", "Toronto", 10),
        ("Glasgow", "Europe/London", "Glasgow", 15),
        ("Londres", "Europe/London", "Londres", 15),
        ("Montréal", "America/Toronto", "Montréal", 10),
        ("montreal", "America/Toronto", "Montréal", 10),
        ("QUÉBEC", "America/Toronto", "Québec", 10),
        ("Vancouver", "America/Vancouver", "Vancouver", 7),
        ("edinburgh", "Europe/London", "Edinburgh", 15),
        ("London, Canada", "America/Toronto", "London", 10),
        ("europe/london", "Europe/London", "London", 15),
        ("America/Toronto", "America/Toronto", "Toronto", 10),
        ("america/new york", "America/New_York", "New York", 10),
    ],
)
def test_time_zone_asks_the_reader_to_check_the_local_time(
    text: str, zone: str, city: str, hour: int
) -> None:
    result = time_zone(text, CTX)
    assert isinstance(result, Valid)
    assert result.value == zone
    assert result.confirm == "parse.time_zone.confirm"
    assert result.confirm_args["zone"] == zone
    assert result.confirm_args["city"] == city
    local_time = result.confirm_args["local_time"]
    assert local_time == MONDAY_AFTERNOON_UTC
    assert local_time.tzinfo == ZoneInfo(zone)
    assert (local_time.hour, local_time.minute) == (hour, 4)


def test_time_zone_shows_summer_time_in_summer() -> None:
    july = Context(now=datetime(2025, 7, 1, 15, 4, tzinfo=UTC))
    result = time_zone("Glasgow", july)
    assert isinstance(result, Valid)
    assert result.confirm_args["local_time"].hour == 16


def test_time_zone_prefers_the_most_populous_namesake() -> None:
    assert accepted(time_zone("London", CTX)) == "Europe/London"
    assert accepted(time_zone("Birmingham", CTX)) == "Europe/London"


@pytest.mark.parametrize(
    "text", ["ET", "PT", "EST", "est", "PST", "GMT", "GMT+1", "UTC-5", "HNE", "EST5EDT", "AEST"]
)
def test_time_zone_refuses_abbreviations(text: str) -> None:
    assert refusal(time_zone(text, CTX)) == "parse.time_zone.abbreviation"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "parse.text.empty"),
        ("Narnia", "parse.time_zone.unknown"),
        ("Europe/Atlantis", "parse.time_zone.unknown"),
        ("localtime", "parse.time_zone.unknown"),
    ],
)
def test_time_zone_refusals(text: str, reason: str) -> None:
    assert refusal(time_zone(text, CTX)) == reason


# every parser, any text

PARSERS: dict[str, Parser[Any]] = {
    "one_line": one_line(80),
    "full_name": full_name,
    "work_email": work_email,
    "region": region,
    "country": country,
    "time_zone": time_zone,
}


@pytest.mark.parametrize("name", PARSERS)
@settings(deadline=None, max_examples=200)
@given(text=st.text(max_size=200))
def test_no_parser_raises_on_any_text(name: str, text: str) -> None:
    result = PARSERS[name](text, CTX)
    assert isinstance(result, Valid | Invalid)
    if isinstance(result, Invalid):
        assert result.message.startswith("parse.")


# catalogues


def catalogue(language: str) -> dict[str, str]:
    with CATALOGUES[language].open("rb") as po:
        read = read_po(po, locale=language)
    return {str(message.id): str(message.string) for message in read if message.id}


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_both_catalogues_hold_the_same_ids_and_placeholders() -> None:
    english, french = catalogue("en"), catalogue("fr")
    assert english.keys() == french.keys()
    for message_id, text in english.items():
        assert text, message_id
        assert french[message_id], message_id
        assert placeholders(text) == placeholders(french[message_id]), message_id


def test_every_id_the_parsers_use_is_in_the_catalogues() -> None:
    source = "".join(path.read_text() for path in (ASSISTANT / "parsers").glob("*.py"))
    used = set(re.findall(r'"(parse\.[a-z_]+\.[a-z_]+)"', source))
    assert used
    assert used <= catalogue("en").keys()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_messages_format_with_the_arguments_parsers_give(language: str) -> None:
    texts = catalogue(language)
    results = [
        one_line(5)("abcdef", CTX),
        region("EH6 8QX", CTX),
        time_zone("Toronto", CTX),
    ]
    for result in results:
        message_id, args = (
            (result.message, result.args)
            if isinstance(result, Invalid)
            else (result.confirm, result.confirm_args)
        )
        assert message_id is not None
        formatted = texts[message_id].format(**_as_text(args))
        assert "{" not in formatted


def _as_text(args: Mapping[str, Any]) -> dict[str, str]:
    # The runtime formats datetimes with Babel before wording; a placeholder string stands in.
    return {key: str(value) for key, value in args.items()}
