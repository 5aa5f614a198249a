"""Session parsers: when a session starts (read in the facilitator's zone, stored as UTC,
confirmed back), how long it lasts, and the link to join it."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dateparser
import pytest
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.i18n import catalogue, translate
from assistant.parsers import duration_minutes, join_url, session_start
from assistant.parsing import Invalid, Parser, Valid
from tests.test_parsers import accepted, refusal

ASSISTANT = Path(__file__).resolve().parents[1] / "assistant"
# Monday 23 November 2026: 10:00 in London (GMT), 05:00 in Toronto (EST, UTC-5).
MONDAY_MORNING_UTC = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LONDON, TORONTO = "Europe/London", "America/Toronto"


@dataclass(frozen=True)
class Context:
    language: str = "en"
    time_zone: str | None = LONDON
    now: datetime = MONDAY_MORNING_UTC


# session_start: what facilitators type

ENGLISH = [
    # text, London UTC, Toronto UTC
    ("next Thursday at 1pm", "2026-11-26T13:00:00+00:00", "2026-11-26T18:00:00+00:00"),
    ("Thursday at 1pm", "2026-11-26T13:00:00+00:00", "2026-11-26T18:00:00+00:00"),
    ("NEXT THURSDAY AT 1PM", "2026-11-26T13:00:00+00:00", "2026-11-26T18:00:00+00:00"),
    ("  tomorrow   9:30 ", "2026-11-24T09:30:00+00:00", "2026-11-24T14:30:00+00:00"),
    ("tomorrow at 9.30am", "2026-11-24T09:30:00+00:00", "2026-11-24T14:30:00+00:00"),
    ("tomorrow at midday", "2026-11-24T12:00:00+00:00", "2026-11-24T17:00:00+00:00"),
    ("today at 3pm", "2026-11-23T15:00:00+00:00", "2026-11-23T20:00:00+00:00"),
    ("12 March 2027 13:00", "2027-03-12T13:00:00+00:00", "2027-03-12T18:00:00+00:00"),
    ("2027-03-12 13:00", "2027-03-12T13:00:00+00:00", "2027-03-12T18:00:00+00:00"),
    ("2027-03-04T13:00", "2027-03-04T13:00:00+00:00", "2027-03-04T18:00:00+00:00"),
    ("Friday 4 December at 15:00", "2026-12-04T15:00:00+00:00", "2026-12-04T20:00:00+00:00"),
    ("Thursday 26th November at 1pm", "2026-11-26T13:00:00+00:00", "2026-11-26T18:00:00+00:00"),
    ("in 2 weeks at 1pm", "2026-12-07T13:00:00+00:00", "2026-12-07T18:00:00+00:00"),
    ("13/04/2027 13:00", "2027-04-13T12:00:00+00:00", "2027-04-13T17:00:00+00:00"),
]

FRENCH = [
    ("jeudi prochain à 13 h", "2026-11-26T13:00:00+00:00", "2026-11-26T18:00:00+00:00"),
    ("prochain jeudi 13h", "2026-11-26T13:00:00+00:00", "2026-11-26T18:00:00+00:00"),
    ("jeudi à 13 h 30", "2026-11-26T13:30:00+00:00", "2026-11-26T18:30:00+00:00"),
    ("demain 9 h 30", "2026-11-24T09:30:00+00:00", "2026-11-24T14:30:00+00:00"),
    ("demain à 9h30", "2026-11-24T09:30:00+00:00", "2026-11-24T14:30:00+00:00"),
    ("mardi prochain à midi", "2026-11-24T12:00:00+00:00", "2026-11-24T17:00:00+00:00"),
    ("aujourd'hui à 15 h", "2026-11-23T15:00:00+00:00", "2026-11-23T20:00:00+00:00"),
    ("après-demain à 10 h", "2026-11-25T10:00:00+00:00", "2026-11-25T15:00:00+00:00"),
    ("le 12 mars 2027 à 13 h", "2027-03-12T13:00:00+00:00", "2027-03-12T18:00:00+00:00"),
    ("le 12 mars 2027 à 13 heures", "2027-03-12T13:00:00+00:00", "2027-03-12T18:00:00+00:00"),
    ("vendredi 4 décembre à 15 h", "2026-12-04T15:00:00+00:00", "2026-12-04T20:00:00+00:00"),
    ("le 1er décembre 2026 à 10 h", "2026-12-01T10:00:00+00:00", "2026-12-01T15:00:00+00:00"),
    ("dans 3 jours à 14 h", "2026-11-26T14:00:00+00:00", "2026-11-26T19:00:00+00:00"),
    ("2027-03-12 13:00", "2027-03-12T13:00:00+00:00", "2027-03-12T18:00:00+00:00"),
]


@pytest.mark.parametrize(("text", "london", "toronto"), ENGLISH)
def test_english_starts_are_read_in_the_facilitator_zone(text: str, london: str, toronto: str) -> None:
    assert accepted(session_start(text, Context("en", LONDON))) == london
    assert accepted(session_start(text, Context("en", TORONTO))) == toronto


@pytest.mark.parametrize(("text", "london", "toronto"), FRENCH)
def test_french_starts_are_read_in_the_facilitator_zone(text: str, london: str, toronto: str) -> None:
    assert accepted(session_start(text, Context("fr", LONDON))) == london
    assert accepted(session_start(text, Context("fr", TORONTO))) == toronto


def test_a_french_hour_is_a_time_of_day_not_a_number_of_hours() -> None:
    # Unrewritten, dateparser reads "demain 9 h 30" as tomorrow 19:00 (now + 9 hours) and
    # "le 12 mars à 13 h" as the year 2113.
    assert accepted(session_start("demain 9 h 30", Context("fr"))) == "2026-11-24T09:30:00+00:00"
    assert accepted(session_start("le 12 mars à 13 h", Context("fr"))) == "2027-03-12T13:00:00+00:00"


def test_the_same_wall_time_moves_in_utc_when_the_clocks_change() -> None:
    # North America goes forward on the second Sunday of March (14 March 2027), the UK on
    # the last (28 March 2027): 13:00 stays 13:00 on the wall, its UTC moves an hour.
    fr_toronto, en_london = Context("fr", TORONTO), Context("en", LONDON)
    assert accepted(session_start("le 12 mars 2027 à 13 h", fr_toronto)) == "2027-03-12T18:00:00+00:00"
    assert accepted(session_start("le 15 mars 2027 à 13 h", fr_toronto)) == "2027-03-15T17:00:00+00:00"
    assert accepted(session_start("26 March 2027 13:00", en_london)) == "2027-03-26T13:00:00+00:00"
    assert accepted(session_start("2 April 2027 13:00", en_london)) == "2027-04-02T12:00:00+00:00"


def test_the_repeated_hour_in_autumn_is_the_first_one() -> None:
    # 01:30 happens twice in London on 31 October 2027: the summer-time one, 00:30 UTC.
    result = session_start("31 October 2027 01:30", Context("en", LONDON))
    assert accepted(result) == "2027-10-31T00:30:00+00:00"


def test_the_value_is_an_aware_utc_moment_for_json() -> None:
    value = accepted(session_start("next Thursday at 1pm", Context("en", TORONTO)))
    assert datetime.fromisoformat(value) == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


# session_start: always confirmed back, with the zone


def test_the_confirmation_names_weekday_date_time_and_zone_in_english() -> None:
    result = session_start("next Thursday at 1pm", Context("en", LONDON))
    assert isinstance(result, Valid)
    assert result.confirm == "parsers.when.confirm"
    assert dict(result.confirm_args) == {
        "date": "Thursday 26 November 2026", "time": "13:00", "zone": LONDON,
    }
    assert translate(result.confirm, "en", **result.confirm_args) == (
        "Thursday 26 November 2026, 13:00 (Europe/London time) — is that right?"
    )


def test_the_confirmation_names_weekday_date_time_and_zone_in_french() -> None:
    result = session_start("le 12 mars 2027 à 13 h", Context("fr", TORONTO))
    assert isinstance(result, Valid)
    assert result.confirm == "parsers.when.confirm"
    assert dict(result.confirm_args) == {
        "date": "vendredi 12 mars 2027", "time": "13 h 00", "zone": TORONTO,
    }
    assert translate(result.confirm, "fr", **result.confirm_args) == (
        "vendredi 12 mars 2027 à 13 h 00 (fuseau horaire America/Toronto). Est-ce bien cela ?"
    )


def test_without_a_profile_zone_the_time_is_utc_and_the_confirmation_says_so() -> None:
    result = session_start("next Thursday at 1pm", Context("en", None))
    assert isinstance(result, Valid)
    assert result.value == "2026-11-26T13:00:00+00:00"
    assert result.confirm_args["zone"] == "UTC"
    assert result.confirm_args["time"] == "13:00"


# session_start: refusals


@pytest.mark.parametrize(
    ("text", "language", "reason"),
    [
        ("garbage", "en", "parsers.when.unclear"),
        ("the usual time", "en", "parsers.when.unclear"),
        ("tomorrow 25:00", "en", "parsers.when.unclear"),  # dateparser keeps the date, drops 25:00
        ("tomorrow 13pm", "en", "parsers.when.unclear"),
        ("lundi et mardi à 13 h", "fr", "parsers.when.unclear"),
        ("1pm", "en", "parsers.when.no_date"),
        ("at 13:00", "en", "parsers.when.no_date"),
        ("13 h", "fr", "parsers.when.no_date"),
        ("tomorrow 1pm-2pm", "en", "parsers.when.range"),
        ("de 13 h à 14 h", "fr", "parsers.when.range"),
        ("   ", "en", "parse.text.empty"),
    ],
)
def test_starts_that_cannot_be_read(text: str, language: str, reason: str) -> None:
    assert refusal(session_start(text, Context(language))) == reason


@pytest.mark.parametrize(
    ("text", "language", "date"),
    [
        ("next Thursday", "en", "Thursday 26 November 2026"),
        ("tonight", "en", "Monday 23 November 2026"),
        ("tomorrow morning", "en", "Tuesday 24 November 2026"),
        ("12 March 2027", "en", "Friday 12 March 2027"),
        ("jeudi prochain", "fr", "jeudi 26 novembre 2026"),
        ("le 12 mars 2027", "fr", "vendredi 12 mars 2027"),
    ],
)
def test_a_day_without_a_time_asks_for_the_time(text: str, language: str, date: str) -> None:
    assert session_start(text, Context(language)) == Invalid("parsers.when.no_time", {"date": date})


@pytest.mark.parametrize("text", ["2", "12", "3.", "4)", "2027"])
def test_menu_answers_and_bare_numbers_never_reach_dateparser(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # D4: dateparser would read "2" as the 2nd of this month.
    def must_not_parse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("dateparser was called")

    monkeypatch.setattr(dateparser, "parse", must_not_parse)
    assert session_start(text, Context()) == Invalid("parsers.when.unclear")


def test_long_text_is_refused_before_dateparser(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_parse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("dateparser was called")

    long_text = "next Thursday at 1pm " + "x" * 80
    assert len(long_text.strip()) == 101
    monkeypatch.setattr(dateparser, "parse", must_not_parse)
    assert session_start(long_text, Context()) == Invalid("parsers.when.unclear")


@pytest.mark.parametrize(
    ("text", "london_time", "date"),
    [
        ("yesterday at 3pm", "15:00", "Sunday 22 November 2026"),
        ("today at 9am", "09:00", "Monday 23 November 2026"),
        ("2026-11-23 10:00", "10:00", "Monday 23 November 2026"),  # exactly now
    ],
)
def test_a_start_in_the_past_is_refused(text: str, london_time: str, date: str) -> None:
    assert session_start(text, Context("en", LONDON)) == Invalid(
        "parsers.when.past", {"date": date, "time": london_time, "zone": LONDON}
    )


def test_the_past_is_judged_in_the_facilitator_zone() -> None:
    # 09:00 has gone in London (10:00) but not yet in Toronto (05:00).
    assert refusal(session_start("today at 9am", Context("en", LONDON))) == "parsers.when.past"
    assert accepted(session_start("today at 9am", Context("en", TORONTO))) == "2026-11-23T14:00:00+00:00"
    assert refusal(session_start("hier à 15 h", Context("fr", TORONTO))) == "parsers.when.past"


def test_a_start_more_than_two_years_ahead_is_refused() -> None:
    assert accepted(session_start("23 November 2028 09:00", Context("en", LONDON))) == (
        "2028-11-23T09:00:00+00:00"
    )
    assert session_start("23 November 2028 11:00", Context("en", LONDON)) == Invalid(
        "parsers.when.too_far",
        {"date": "Thursday 23 November 2028", "time": "11:00", "zone": LONDON, "years": 2},
    )
    assert refusal(session_start("le 12 mars 2029 à 13 h", Context("fr"))) == "parsers.when.too_far"


@pytest.mark.parametrize(
    ("text", "language", "typed"),
    [
        ("03/04/2027 13:00", "en", "03/04/2027"),
        ("3/4 at 1pm", "en", "3/4"),
        ("03-04-27 13:00", "en", "03-04-27"),
        ("03.04.2027 à 13 h", "fr", "03.04.2027"),
        ("le 5/6/2027 à 13 h", "fr", "5/6/2027"),
    ],
)
def test_a_numeric_date_that_reads_both_ways_asks_for_the_month_in_words(
    text: str, language: str, typed: str
) -> None:
    assert session_start(text, Context(language)) == Invalid("parsers.when.ambiguous", {"typed": typed})


def test_a_numeric_date_that_reads_one_way_is_day_first() -> None:
    assert accepted(session_start("04/04/2027 13:00", Context())) == "2027-04-04T12:00:00+00:00"
    assert accepted(session_start("26/11 13:00", Context())) == "2026-11-26T13:00:00+00:00"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("1pm ET", "en"),
        ("Thursday 1pm et", "en"),
        ("Thursday 1pm est", "en"),
        ("13:00 PST", "en"),
        ("tomorrow 1pm pst", "en"),
        ("13:00 GMT+1", "en"),
        ("GMT+1 13:00", "en"),
        ("tomorrow 13:00 utc", "en"),
        ("2026-11-26T13:00Z", "en"),
        ("tomorrow 13:00 +01:00", "en"),
        ("tomorrow 13:00 JST", "en"),
        ("1pm Eastern time", "en"),
        ("13:00 Europe/Paris", "en"),
        ("jeudi à 13 h HNE", "fr"),
        ("demain 13 h hne", "fr"),
        ("jeudi 13 h heure de l'Est", "fr"),
        ("demain 13 h, fuseau de Paris", "fr"),
    ],
)
def test_a_zone_in_the_text_is_refused(text: str, language: str) -> None:
    # D2: abbreviations are fixed offsets, wrong half the year; the profile zone is used.
    assert session_start(text, Context(language, TORONTO)) == Invalid(
        "parsers.when.zone_named", {"zone": TORONTO}
    )


def test_french_words_that_look_like_zones_are_not_zones() -> None:
    # dateparser takes "et" for Eastern Time and "est" for EST whatever their case.
    assert refusal(session_start("lundi et mardi à 13 h", Context("fr"))) != "parsers.when.zone_named"
    assert refusal(session_start("c'est jeudi à 13 h", Context("fr"))) != "parsers.when.zone_named"


@pytest.mark.parametrize(
    ("text", "language", "zone", "args"),
    [
        ("28 March 2027 01:30", "en", LONDON,
         {"date": "Sunday 28 March 2027", "time": "01:30", "zone": LONDON}),
        ("le 14 mars 2027 à 2 h 30", "fr", TORONTO,
         {"date": "dimanche 14 mars 2027", "time": "02 h 30", "zone": TORONTO}),
    ],
)
def test_a_time_skipped_by_the_clocks_going_forward_is_refused(
    text: str, language: str, zone: str, args: dict[str, str]
) -> None:
    assert session_start(text, Context(language, zone)) == Invalid("parsers.when.nonexistent", args)


def test_a_time_skipped_elsewhere_is_fine_here() -> None:
    # 28 March 01:30 does not exist in London; Toronto moved two weeks earlier.
    assert accepted(session_start("28 March 2027 01:30", Context("en", TORONTO))) == (
        "2027-03-28T05:30:00+00:00"
    )


# duration_minutes


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("60", 60),
        ("10", 10),
        ("90 min", 90),
        ("90 minutes", 90),
        ("45 mn", 45),
        ("1h", 60),
        ("1 h 30", 90),
        ("1h30", 90),
        ("1:30", 90),
        ("1.5 hours", 90),
        ("1,5 heure", 90),
        ("2 hours", 120),
        ("1 hour 15 minutes", 75),
        ("1 hour and 30 minutes", 90),
        ("an hour and a half", 90),
        ("half an hour", 30),
        ("une heure", 60),
        ("1 heure 30", 90),
        ("une heure et demie", 90),
        ("une demi-heure", 30),
        ("deux heures", 120),
        ("  8 H ", 480),
    ],
)
def test_durations_in_english_and_french(text: str, minutes: int) -> None:
    assert duration_minutes(text, Context()) == Valid(minutes)


@pytest.mark.parametrize("text", ["0", "5", "9 min", "8 h 01", "9 hours", "999"])
def test_durations_outside_the_range_say_the_range(text: str) -> None:
    assert duration_minutes(text, Context()) == Invalid(
        "parsers.duration.out_of_range", {"min": 10, "max": 480}
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "parse.text.empty"),
        ("soon", "parsers.duration.unclear"),
        ("1 h 75", "parsers.duration.unclear"),
        ("1:90", "parsers.duration.unclear"),
        ("1.5 h 30", "parsers.duration.unclear"),
        ("1.5", "parsers.duration.unclear"),
        ("-60", "parsers.duration.unclear"),
        ("60 seconds", "parsers.duration.unclear"),
        ("ninety", "parsers.duration.unclear"),
    ],
)
def test_durations_that_cannot_be_read(text: str, reason: str) -> None:
    assert refusal(duration_minutes(text, Context())) == reason


# join_url


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://zoom.us/j/123456789?pwd=abc", "https://zoom.us/j/123456789?pwd=abc"),
        ("  https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0  ",
         "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0"),
        ("HTTPS://meet.example.org/echo", "HTTPS://meet.example.org/echo"),
    ],
)
def test_an_https_link_is_kept_as_pasted(text: str, url: str) -> None:
    assert join_url(text, Context()) == Valid(url)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://zoom.us/j/123", "parsers.join_url.not_https"),
        ("https://zoom.us/j/123 pwd=abc", "parsers.join_url.spaces"),
        ("zoom.us/j/123", "parsers.join_url.not_a_link"),
        ("ftp://files.example.org/x", "parsers.join_url.not_a_link"),
        ("https://localhost/meeting", "parsers.join_url.not_a_link"),
        ("https://zoom.us@example.org/j/1", "parsers.join_url.not_a_link"),
        ("https://", "parsers.join_url.not_a_link"),
        ("https://[::1", "parsers.join_url.not_a_link"),
        ("https://zoom.us/\x00", "parse.text.control"),
        ("", "parse.text.empty"),
    ],
)
def test_links_that_are_refused(text: str, reason: str) -> None:
    assert refusal(join_url(text, Context())) == reason


def test_a_link_longer_than_500_characters_is_refused_with_the_limit() -> None:
    url = "https://zoom.us/j/" + "1" * 482
    assert len(url) == 500
    assert join_url(url, Context()) == Valid(url)
    assert join_url(url + "1", Context()) == Invalid("parse.text.too_long", {"max": 500})


# every parser, any text, and every message translated

PARSERS: dict[str, Parser[Any]] = {
    "session_start": session_start,
    "duration_minutes": duration_minutes,
    "join_url": join_url,
}


@pytest.mark.parametrize("name", PARSERS)
@pytest.mark.parametrize("language", ["en", "fr"])
@settings(deadline=None, max_examples=150)
@given(text=st.text(max_size=120))
def test_no_session_parser_raises_on_any_text(name: str, language: str, text: str) -> None:
    result = PARSERS[name](text, Context(language, TORONTO))
    assert isinstance(result, Valid | Invalid)
    if isinstance(result, Invalid):
        assert result.message.startswith(("parse.text.", "parsers."))


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_the_session_parsers_name_is_in_both_catalogues() -> None:
    source = (ASSISTANT / "parsers" / "session_time.py").read_text(encoding="utf-8")
    # tests/test_parsers.py checks the shared "parse.text.*" ids against parsers.po; these
    # live in when.po, which test_i18n's scan of the code does not look for.
    used = set(re.findall(r'"(parsers\.[a-z_]+\.[a-z_]+)"', source))
    assert {"parsers.when.confirm", "parsers.when.past", "parsers.duration.out_of_range"} <= used
    for language in ("en", "fr"):
        assert used <= catalogue(language).keys(), language
        for message_id in used:
            assert placeholders(catalogue(language)[message_id]) == placeholders(
                catalogue("en")[message_id]), message_id


def test_the_when_catalogues_hold_the_same_messages() -> None:
    def read(language: str) -> dict[str, str]:
        path = ASSISTANT / "locale" / language / "LC_MESSAGES" / "when.po"
        with path.open("rb") as handle:
            return {str(m.id): str(m.string) for m in read_po(handle) if m.id}

    english, french = read("en"), read("fr")
    assert english.keys() == french.keys()
    assert len(english) == 15
    assert all(french[key] and french[key] != english[key] for key in english)
