"""Every parser in assistant/parsers, on any text, in any reader's language, zone and moment.

tests/test_parsers.py and test_session_time.py already throw `st.text()` at the parsers in
one context; here the context varies too, the text is built from pieces of real answers
(so it gets past the first checks), a refusal must be a message both catalogues word with
the arguments given, and what is accepted must read back as itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from hypothesis import assume, given
from hypothesis import strategies as st

from assistant.parsers import (
    country,
    country_name,
    duration_minutes,
    full_name,
    join_url,
    one_line,
    region,
    session_start,
    time_zone,
    work_email,
)
from assistant.parsers.region import _CA_FSA, _CA_LDU, _UK_INWARD, _UK_OUTWARD
from assistant.parsers.time_zone import _iana_zones
from assistant.parsing import Invalid, Parser, Valid
from tests.fuzz import fuzz
from tests.fuzz.texts import any_answer
from tests.fuzz.wording import assert_a_result


@dataclass(frozen=True)
class Reader:
    language: str
    time_zone: str | None
    now: datetime


ZONES = [None, "UTC", "Europe/London", "America/Toronto", "America/St_Johns", "Asia/Tokyo",
         "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Australia/Lord_Howe"]
readers = st.builds(
    Reader,
    language=st.sampled_from(["en", "fr", "fr-CA", "en_GB", "de", "", "FRENCH"]),
    time_zone=st.sampled_from(ZONES),
    # hypothesis takes naive bounds and attaches the zone itself
    now=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 12, 31),  # noqa: DTZ001
                     timezones=st.just(UTC)),
)

PARSERS: dict[str, Parser[Any]] = {
    "one_line": one_line(80), "full_name": full_name, "work_email": work_email,
    "region": region, "country": country, "time_zone": time_zone,
    "session_start": session_start, "duration_minutes": duration_minutes, "join_url": join_url,
}
# What each accepted value is typed as to be read again: the same value must come back.
READ_BACK = {"one_line", "full_name", "work_email", "region", "country", "time_zone",
             "duration_minutes", "join_url"}


@pytest.mark.parametrize("name", PARSERS)
@fuzz(120)
@given(text=any_answer, reader=readers)
def test_any_text_gets_a_value_or_a_worded_refusal(name: str, text: str, reader: Reader) -> None:
    result = PARSERS[name](text, reader)
    assert_a_result(result)
    if isinstance(result, Valid) and name in READ_BACK:
        again = PARSERS[name](str(result.value), reader)
        assert isinstance(again, Valid) and again.value == result.value, (result, again)
    if isinstance(result, Valid) and name == "session_start":
        starts = datetime.fromisoformat(result.value)
        assert starts.utcoffset() == timedelta(0)
        assert reader.now < starts <= reader.now.replace(year=reader.now.year + 2) + timedelta(days=1)


# --- session_start: a moment written out reads back as that moment --------------------------

MONTHS = {"en": ["January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December"],
          "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                 "septembre", "octobre", "novembre", "décembre"]}


def written(wall: datetime, language: str, style: int) -> str:
    day, month, year = wall.day, MONTHS[language][wall.month - 1], wall.year
    if language == "fr":
        clock = [f"{wall.hour} h {wall.minute:02d}", f"{wall.hour}h{wall.minute:02d}",
                 f"{wall.hour}:{wall.minute:02d}"][style]
        return f"le {day} {month} {year} à {clock}"
    twelve = f"{(wall.hour - 1) % 12 + 1}:{wall.minute:02d}{'am' if wall.hour < 12 else 'pm'}"
    return [f"{day} {month} {year} at {wall.hour:02d}:{wall.minute:02d}",
            f"{month} {day}, {year} {twelve}",
            f"{wall:%Y-%m-%d} {wall.hour}:{wall.minute:02d}"][style]


@fuzz(100)
@given(reader=readers.filter(lambda r: r.time_zone is not None),
       ahead=st.timedeltas(min_value=timedelta(days=1), max_value=timedelta(days=700)),
       hour=st.integers(0, 23), minute=st.integers(0, 59), language=st.sampled_from(["en", "fr"]),
       style=st.integers(0, 2))
def test_a_written_start_reads_back_as_that_moment(reader: Reader, ahead: timedelta, hour: int,
                                                   minute: int, language: str, style: int) -> None:
    assert reader.time_zone is not None
    zone = ZoneInfo(reader.time_zone)
    day = (reader.now + ahead).astimezone(zone)
    wall = day.replace(hour=hour, minute=minute, second=0, microsecond=0, tzinfo=None)
    text = written(wall, language, style)
    result = session_start(text, Reader(language, reader.time_zone, reader.now))
    expected = wall.replace(tzinfo=zone).astimezone(UTC)
    if expected.astimezone(zone).replace(tzinfo=None) != wall:
        assert isinstance(result, Invalid) and result.message == "parsers.when.nonexistent", text
        return
    assert isinstance(result, Valid), (text, result)
    assert result.value == expected.isoformat(), text
    assert_a_result(result)


# --- durations ---------------------------------------------------------------------------------

@fuzz(150)
@given(minutes=st.integers(10, 480), style=st.integers(0, 4))
def test_a_written_duration_reads_back_as_its_minutes(minutes: int, style: int) -> None:
    hours, rest = divmod(minutes, 60)
    assume(style < 2 or hours >= 1)
    text = [f"{minutes}", f"{minutes} minutes", f"{hours} h {rest}", f"{hours}:{rest:02d}",
            f"{hours} hours and {rest} minutes" if rest else f"{hours} heures"][style]
    assert duration_minutes(text, Reader("en", None, datetime(2026, 1, 1, tzinfo=UTC))) == Valid(minutes)


# --- postcodes -----------------------------------------------------------------------------------

CTX = Reader("en", "Europe/London", datetime(2026, 3, 2, 9, tzinfo=UTC))
outward = st.from_regex(re.compile(_UK_OUTWARD), fullmatch=True) | st.from_regex(
    re.compile(_CA_FSA), fullmatch=True)


@fuzz(150)
@given(first=outward, data=st.data())
def test_a_postcode_first_part_is_kept_and_a_full_one_cut_to_it(first: str, data: st.DataObject) -> None:
    canadian = re.fullmatch(_CA_FSA, first) is not None and re.fullmatch(_UK_OUTWARD, first) is None
    second = data.draw(st.from_regex(re.compile(_CA_LDU if canadian else _UK_INWARD), fullmatch=True))
    typed = data.draw(st.sampled_from([str.lower, str.upper, lambda code: f"  {code} "]))
    assert region(typed(first), CTX) == Valid(first)
    full = region(typed(f"{first} {second}"), CTX)
    assert isinstance(full, Valid) and full.confirm == "parse.region.kept_outward", full
    # A full code may split two ways ("W1A 1AA" is never ambiguous, "A1 1AA" never either):
    # whatever is kept is a first part the full code starts with, shown to the reader.
    assert f"{first} {second}".upper().startswith(full.value)
    assert_a_result(full)


# --- countries and zones -----------------------------------------------------------------------

NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}
CODES = sorted(code for code in Locale.parse("en").territories
               if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES)


@fuzz(100)
@given(code=st.sampled_from(CODES), language=st.sampled_from(["en", "fr"]),
       typed=st.sampled_from([str.lower, str.upper, str.title, lambda s: f" {s}. "]))
def test_a_country_code_and_its_name_read_back(code: str, language: str, typed: Any) -> None:
    assert country(typed(code), CTX) == Valid(code)
    by_name = country(typed(country_name(code, language)), CTX)
    assert isinstance(by_name, Valid)
    # Two territories may share a name once folded; the name shown back must be the same.
    assert country_name(by_name.value, language).casefold() == country_name(code, language).casefold()


@fuzz(100)
@given(zone=st.sampled_from(sorted(_iana_zones().values())),
       typed=st.sampled_from([str, str.lower, lambda z: z.replace("_", " "), lambda z: f" {z.upper()} "]),
       reader=readers)
def test_an_iana_zone_reads_back_as_itself(zone: str, typed: Any, reader: Reader) -> None:
    result = time_zone(typed(zone), reader)
    assert isinstance(result, Valid) and result.value == zone, (zone, result)
    assert_a_result(result)


# --- e-mail and links -------------------------------------------------------------------------

@fuzz(100)
@given(address=st.emails())
def test_a_valid_address_is_kept_and_reads_back(address: str) -> None:
    result = work_email(address, CTX)
    assume(isinstance(result, Valid))  # hypothesis' addresses include some email_validator refuses
    assert isinstance(result, Valid)
    local, domain = address.rsplit("@", 1)
    if "xn--" not in domain.lower():  # email_validator turns punycode into Unicode ("a.संगठन")
        assert result.value == f"{local}@{domain.lower()}"  # matched against reports as typed
    assert work_email(result.value, CTX) == result


@fuzz(100)
@given(host=st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,10}){1,3}", fullmatch=True),
       path=st.text(alphabet="abcXYZ019/?=&%-_.~", max_size=80))
def test_an_https_link_is_kept_as_pasted(host: str, path: str) -> None:
    url = f"https://{host}/{path}"
    assert join_url(url, CTX) == Valid(url)
    assert join_url(url.replace("https://", "http://", 1), CTX) == Invalid("parsers.join_url.not_https")


# --- text ----------------------------------------------------------------------------------------

@fuzz(100)
@given(text=any_answer, limit=st.integers(1, 200))
def test_one_line_keeps_one_tidy_line_within_its_limit(text: str, limit: int) -> None:
    result = one_line(limit)(text, CTX)
    assert_a_result(result)
    if isinstance(result, Valid):
        assert result.value == " ".join(result.value.split()) and 0 < len(result.value) <= limit
        assert result.value in " ".join(text.split())


@fuzz(60)
@given(zone=st.sampled_from([z for z in ZONES if z]))
def test_a_zone_name_said_in_any_case_is_that_zone(zone: str) -> None:
    assume(zone != "UTC")  # a bare abbreviation, refused on purpose
    assert time_zone(zone.lower(), CTX) == time_zone(zone, CTX)


EDGES = st.sampled_from([date(1, 1, 1), date(1, 1, 2), date(9999, 12, 31), date(9999, 12, 30)])


@fuzz(60)
@given(reader=readers, day=EDGES | st.dates(max_value=date(2, 12, 31)) | st.dates(min_value=date(9998, 1, 1)),
       hour=st.sampled_from([0, 23]) | st.integers(0, 23), language=st.sampled_from(["en", "fr"]),
       style=st.integers(0, 2))
def test_a_start_at_the_ends_of_the_calendar_is_refused_not_raised(
        reader: Reader, day: date, hour: int, language: str, style: int) -> None:
    # Year 1 in Tokyo or 9999 in Toronto is a moment UTC cannot hold (OverflowError).
    wall = datetime(day.year, day.month, day.day, hour, 30)  # noqa: DTZ001 - a wall-clock time
    text = written(wall, language, style)
    result = session_start(text, reader)
    assert isinstance(result, Invalid), (text, result)
    assert_a_result(result)


@pytest.mark.parametrize(("text", "zone"), [("31 December 9999 at 23:00", "America/Toronto"),
                                            ("1 January 0001 at 00:30", "Asia/Tokyo")])
def test_the_last_and_first_hours_utc_can_hold_are_refused(text: str, zone: str) -> None:
    result = session_start(text, Reader("en", zone, datetime(2026, 3, 2, 9, tzinfo=UTC)))
    assert isinstance(result, Invalid) and result.message in ("parsers.when.too_far",
                                                              "parsers.when.past"), result
    assert_a_result(result)
