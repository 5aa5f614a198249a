"""Reading sessions from a CSV or .ics file: the rows it gives, and each refusal with the
line it belongs to. Nothing is stored; garbage gets a refusal, never an exception."""

from __future__ import annotations

import dataclasses
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.calendar import series_calendar
from assistant.i18n import catalogue
from assistant.model import Series, Session
from assistant.session_import import ImportResult, RowError, SessionRow, read_sessions

ASSISTANT = Path(__file__).resolve().parents[1] / "assistant"

GOOD_CSV = (
    "Series,Date,Start,End,Time zone,Topic,Expert,Agenda,Join URL,Materials\n"
    "pain-2026,2026-03-30,13:00,14:00,Europe/London,Breathlessness,Dr Lewis,"
    "\"Teaching, then a case\",https://zoom.us/j/1,https://example.org/a.pdf | https://example.org/b\n"
    "pain-2026,2026-01-15,12:00,13:30,America/Toronto,\"Délire; agitation\",Dr Côté,,"
    "https://zoom.us/j/2,\n"
)
LONDON = SessionRow(line=2, series="pain-2026",
                    starts_at=datetime(2026, 3, 30, 12, 0, tzinfo=UTC),  # 13:00 BST
                    ends_at=datetime(2026, 3, 30, 13, 0, tzinfo=UTC), time_zone="Europe/London",
                    topic="Breathlessness", expert="Dr Lewis", agenda="Teaching, then a case",
                    join_url="https://zoom.us/j/1",
                    materials=("https://example.org/a.pdf", "https://example.org/b"), uid="")
TORONTO = SessionRow(line=3, series="pain-2026",
                     starts_at=datetime(2026, 1, 15, 17, 0, tzinfo=UTC),  # noon EST
                     ends_at=datetime(2026, 1, 15, 18, 30, tzinfo=UTC),
                     time_zone="America/Toronto", topic="Délire; agitation", expert="Dr Côté",
                     agenda="", join_url="https://zoom.us/j/2", materials=(), uid="")


def csv_file(*rows: str, header: str = "series,date,start,time_zone") -> bytes:
    return "\n".join((header, *rows)).encode()


def errors(result: ImportResult) -> list[tuple[int, str, dict[str, str]]]:
    return [(error.line, error.message, dict(error.args)) for error in result.errors]


# --- CSV: what it accepts --------------------------------------------------------------------

def test_a_good_csv_gives_every_session_in_utc() -> None:
    result = read_sessions(GOOD_CSV.encode(), "sessions.csv")
    assert result == ImportResult(rows=(LONDON, TORONTO), errors=())


def test_semicolons_a_bom_and_crlf_from_excel_read_the_same() -> None:
    semicolons = GOOD_CSV.replace(",", ";").replace("Teaching; then", "Teaching, then")
    semicolons = semicolons.replace("\n", "\r\n")
    result = read_sessions(b"\xef\xbb\xbf" + semicolons.encode(), "sessions.csv")
    assert result == ImportResult(rows=(LONDON, TORONTO), errors=())


def test_excel_separator_line_and_utf16_tabs_are_understood() -> None:
    with_sep = "sep=;\n" + GOOD_CSV.replace(",", ";").replace("Teaching; then", "Teaching, then")
    rows = read_sessions(with_sep.encode(), "sessions.csv").rows
    assert [(row.line, row.starts_at) for row in rows] == [(3, LONDON.starts_at),
                                                           (4, TORONTO.starts_at)]
    tabs = GOOD_CSV.replace(",", "\t").replace("Teaching\t then", "Teaching, then")
    assert read_sessions(tabs.encode("utf-16"), "sessions.txt").rows == (LONDON, TORONTO)


def test_columns_are_found_by_name_in_any_order_and_case() -> None:
    content = (b"START ,Time-Zone,series,DATE,duration\n"
               b"09:30,America/Vancouver,bc-dementia,2026-06-04,90\n")
    [row] = read_sessions(content, "sessions.csv").rows
    assert row.series == "bc-dementia"
    assert row.starts_at == datetime(2026, 6, 4, 16, 30, tzinfo=UTC)  # PDT is UTC-7
    assert row.ends_at - row.starts_at == timedelta(minutes=90)


def test_without_end_or_duration_the_default_duration_and_zone_apply() -> None:
    content = b"series,date,start\npain-2026,2026-11-05,12:00\n"
    [row] = read_sessions(content, "s.csv", default_zone="America/Toronto",
                          default_duration=75).rows
    assert row.time_zone == "America/Toronto"
    assert row.starts_at == datetime(2026, 11, 5, 17, 0, tzinfo=UTC)  # EST again by then
    assert row.ends_at == datetime(2026, 11, 5, 18, 15, tzinfo=UTC)


def test_an_empty_zone_cell_takes_the_default_and_names_are_not_case_sensitive() -> None:
    result = read_sessions(csv_file("a,2026-03-30,13:00,", "b,2026-03-30,13:00,europe/london"),
                           "s.csv", default_zone="Europe/Paris")
    assert [(row.time_zone, row.starts_at.hour) for row in result.rows] == [
        ("Europe/Paris", 11), ("Europe/London", 12)]


def test_blank_lines_are_skipped_and_lines_count_from_the_file() -> None:
    content = (b"series,date,start,agenda\n\n"
               b'a,2026-03-30,13:00,"Case one\nCase two"\n'
               b",,,\n"
               b"b,2026-03-31,13:00,\n")
    result = read_sessions(content, "s.csv")
    assert [(row.line, row.series, row.agenda) for row in result.rows] == [
        (3, "a", "Case one\nCase two"), (6, "b", "")]


def test_seconds_from_a_spreadsheet_are_accepted() -> None:
    [row] = read_sessions(csv_file("a,2026-03-30,13:00:00,UTC"), "s.csv").rows
    assert row.starts_at == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)


# --- CSV: what it refuses, and where ---------------------------------------------------------

@pytest.mark.parametrize(("row", "expected"), [
    ("a,30/03/2026,13:00,UTC", [("import.bad_date", {"value": "30/03/2026"})]),
    ("a,2026-02-30,13:00,UTC", [("import.bad_date", {"value": "2026-02-30"})]),
    ("a,2026-03-30,1pm,UTC", [("import.bad_time", {"column": "start", "value": "1pm"})]),
    ("a,2026-03-30,24:00,UTC", [("import.bad_time", {"column": "start", "value": "24:00"})]),
    ("a,2026-03-30,13:00,Europe/Lundun", [("import.unknown_zone", {"value": "Europe/Lundun"})]),
    (",2026-03-30,13:00,UTC", [("import.empty_cell", {"column": "series"})]),
    ("a,,,UTC", [("import.empty_cell", {"column": "date"}),
                 ("import.empty_cell", {"column": "start"})]),
    # 01:30 on 29 March 2026 never happens in London; on 25 October it happens twice.
    ("a,2026-03-29,01:30,Europe/London",
     [("import.nonexistent_time", {"value": "2026-03-29 01:30", "zone": "Europe/London"})]),
    ("a,2026-10-25,01:30,Europe/London",
     [("import.ambiguous_time", {"value": "2026-10-25 01:30", "zone": "Europe/London"})]),
    ("a,2026-03-30,13:00,UTC,surplus", [("import.extra_cells", {})]),
])
def test_a_bad_row_is_refused_on_its_line(row: str, expected: list[tuple[str, dict[str, str]]]
                                          ) -> None:
    result = read_sessions(csv_file("ok,2026-03-30,12:00,UTC", row), "s.csv")
    assert [row.line for row in result.rows] == [2]
    assert errors(result) == [(3, message, args) for message, args in expected]


@pytest.mark.parametrize(("cells", "expected"), [
    ("13:00,12:00,", ("import.end_before_start", {"start": "13:00", "end": "12:00"})),
    ("13:00,13:00,", ("import.end_before_start", {"start": "13:00", "end": "13:00"})),
    ("13:00,,5", ("import.bad_duration", {"value": "5"})),
    ("13:00,,481", ("import.bad_duration", {"value": "481"})),
    ("13:00,,sixty", ("import.bad_duration", {"value": "sixty"})),
    ("09:00,18:00,", ("import.bad_duration", {"value": "540"})),
    ("13:00,13:05,", ("import.bad_duration", {"value": "5"})),
    ("13:00,14:00,90", ("import.end_and_duration", {"end": "14:00", "duration": "90"})),
    ("13:00,14:60,", ("import.bad_time", {"column": "end", "value": "14:60"})),
])
def test_end_and_duration_must_make_a_session(cells: str,
                                              expected: tuple[str, dict[str, str]]) -> None:
    result = read_sessions(csv_file(f"a,2026-03-30,{cells}",
                                    header="series,date,start,end,duration"), "s.csv")
    assert result.rows == ()
    assert errors(result) == [(2, *expected)]


def test_an_end_that_agrees_with_the_duration_is_fine() -> None:
    result = read_sessions(csv_file("a,2026-03-30,13:00,14:30,90",
                                    header="series,date,start,end,duration"), "s.csv")
    assert result.errors == ()
    assert result.rows[0].ends_at == datetime(2026, 3, 30, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(("cells", "expected"), [
    ("http://zoom.us/j/1,", {"column": "join_url", "value": "http://zoom.us/j/1"}),
    ("zoom.us/j/1,", {"column": "join_url", "value": "zoom.us/j/1"}),
    ("https://,", {"column": "join_url", "value": "https://"}),
    (",https://a.org/x http://b.org/y", {"column": "materials", "value": "http://b.org/y"}),
    (",javascript:alert(1)", {"column": "materials", "value": "javascript:alert(1)"}),
])
def test_links_must_be_https(cells: str, expected: dict[str, str]) -> None:
    result = read_sessions(csv_file(f"a,2026-03-30,13:00,{cells}",
                                    header="series,date,start,join_url,materials"), "s.csv")
    assert errors(result) == [(2, "import.not_https", expected)]


def test_every_problem_in_a_row_is_reported_together() -> None:
    result = read_sessions(csv_file("a,2026-13-01,25:00,Mars/Base,http://x",
                                    header="series,date,start,time_zone,join_url"), "s.csv")
    assert errors(result) == [
        (2, "import.bad_date", {"value": "2026-13-01"}),
        (2, "import.bad_time", {"column": "start", "value": "25:00"}),
        (2, "import.unknown_zone", {"value": "Mars/Base"}),
        (2, "import.not_https", {"column": "join_url", "value": "http://x"}),
    ]


def test_good_rows_come_back_beside_the_refusals_for_the_caller_to_decide() -> None:
    content = csv_file("a,2026-03-30,13:00,UTC", "b,2026-03-31,13:00,Nowhere",
                       "c,2026-04-01,13:00,UTC", "d,2026-04-02,noon,UTC")
    result = read_sessions(content, "s.csv")
    assert [(row.line, row.series) for row in result.rows] == [(2, "a"), (4, "c")]
    assert [(error.line, error.message) for error in result.errors] == [
        (3, "import.unknown_zone"), (5, "import.bad_time")]


def test_a_header_without_the_required_columns_is_one_refusal_on_line_1() -> None:
    result = read_sessions(b"name,when\npain,2026-03-30 13:00\n", "s.csv")
    assert errors(result) == [(1, "import.missing_columns", {"columns": "series, date, start"})]


def test_unknown_and_repeated_columns_are_refused_rather_than_ignored() -> None:
    result = read_sessions(csv_file("a,2026-03-30,13:00,UTC,x,y",
                                    header="series,date,start,time_zone,timezon,date"), "s.csv")
    assert result.rows == ()
    assert [(error.line, error.message, error.args.get("column")) for error in result.errors] == [
        (1, "import.unknown_column", "timezon"), (1, "import.duplicate_column", "date")]
    assert "time_zone" in result.errors[0].args["known"]


def test_a_header_with_no_rows_has_no_sessions() -> None:
    assert errors(read_sessions(b"series,date,start\n\n", "s.csv")) == [
        (0, "import.no_sessions", {})]


# --- iCalendar -------------------------------------------------------------------------------

SERIES = Series(id=1, network="care-homes", name="pain-2026", title="Pain ECHO", description="",
                recurrence="weekly", default_time="13:00", time_zone="Europe/London",
                duration_minutes=60, join_url="https://zoom.us/j/1110001", capacity=None,
                state="open", requires_approval=False)
FIRST = Session(id=12, series_id=1, starts_at=datetime(2026, 3, 30, 12, 0, tzinfo=UTC),
                ends_at=datetime(2026, 3, 30, 13, 30, tzinfo=UTC), time_zone="Europe/London",
                topic="Breathlessness", expert="Dr Lewis", agenda="", materials=(),
                join_url="https://zoom.us/j/9990001", state="scheduled", sequence=0,
                uid="session-12@spoke")


def ics(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{event.strip()}\r\nEND:VEVENT\r\n" for event in events)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n{body}"
            "END:VCALENDAR\r\n").encode()


def event(*lines: str, uid: str = "e1@example.org") -> str:
    return "\r\n".join((f"UID:{uid}", "DTSTAMP:20260101T000000Z", *lines))


def test_spokes_own_series_file_reads_back_to_the_same_sessions() -> None:
    sessions = [
        FIRST,
        dataclasses.replace(FIRST, id=13, uid="session-13@spoke", time_zone="America/Toronto",
                            starts_at=datetime(2026, 11, 5, 17, 0, tzinfo=UTC),
                            ends_at=datetime(2026, 11, 5, 18, 0, tzinfo=UTC), topic=""),
        dataclasses.replace(FIRST, id=14, uid="session-14@spoke", state="cancelled",
                            starts_at=datetime(2026, 4, 6, 12, 0, tzinfo=UTC),
                            ends_at=datetime(2026, 4, 6, 13, 0, tzinfo=UTC)),
    ]
    result = read_sessions(series_calendar(SERIES, sessions), "pain.ics")
    assert result.errors == ()
    assert [(row.line, row.uid, row.starts_at, row.ends_at, row.time_zone, row.topic,
             row.join_url, row.series) for row in result.rows] == [
        (1, "session-12@spoke", FIRST.starts_at, FIRST.ends_at, "Europe/London",
         "Pain ECHO: Breathlessness", "https://zoom.us/j/9990001", ""),
        (2, "session-13@spoke", sessions[1].starts_at, sessions[1].ends_at, "America/Toronto",
         "Pain ECHO", "https://zoom.us/j/9990001", ""),
    ]  # the cancelled third session is skipped


def test_an_event_with_a_tzid_is_read_in_that_zone() -> None:
    content = ics(event("DTSTART;TZID=America/Toronto:20260115T120000",
                        "DTEND;TZID=America/Toronto:20260115T133000",
                        "SUMMARY:Delirium\\, agitation\\; night",
                        "DESCRIPTION:Case one\\nCase two",
                        "URL:https://zoom.us/j/42"))
    [row] = read_sessions(content, "x.ics").rows
    assert row == SessionRow(line=1, series="", starts_at=datetime(2026, 1, 15, 17, 0, tzinfo=UTC),
                             ends_at=datetime(2026, 1, 15, 18, 30, tzinfo=UTC),
                             time_zone="America/Toronto", topic="Delirium, agitation; night",
                             expert="", agenda="Case one\nCase two",
                             join_url="https://zoom.us/j/42", materials=(), uid="e1@example.org")


def test_outlook_zone_names_become_iana_names() -> None:
    content = ics(event("DTSTART;TZID=GMT Standard Time:20260330T130000",
                        "DTEND;TZID=GMT Standard Time:20260330T140000"))
    [row] = read_sessions(content, "x.ics").rows
    assert (row.time_zone, row.starts_at) == ("Europe/London",
                                              datetime(2026, 3, 30, 12, 0, tzinfo=UTC))


def test_utc_times_keep_the_default_zone() -> None:
    [row] = read_sessions(ics(event("DTSTART:20260330T120000Z", "DURATION:PT45M")), "x.ics",
                          default_zone="Europe/London").rows
    assert row.time_zone == "Europe/London"
    assert (row.starts_at, row.ends_at) == (datetime(2026, 3, 30, 12, 0, tzinfo=UTC),
                                            datetime(2026, 3, 30, 12, 45, tzinfo=UTC))


def test_floating_times_are_read_in_the_default_zone() -> None:
    content = ics(event("DTSTART:20260115T120000", "DTEND:20260115T130000"))
    [row] = read_sessions(content, "x.ics", default_zone="America/Toronto").rows
    assert row.time_zone == "America/Toronto"
    assert row.starts_at == datetime(2026, 1, 15, 17, 0, tzinfo=UTC)


def test_without_an_end_the_default_duration_applies() -> None:
    [row] = read_sessions(ics(event("DTSTART:20260330T120000Z")), "x.ics",
                          default_duration=90).rows
    assert row.ends_at == datetime(2026, 3, 30, 13, 30, tzinfo=UTC)


def test_the_join_link_comes_from_url_or_an_https_location() -> None:
    content = ics(event("DTSTART:20260330T120000Z", "URL:http://old.example.org",
                        "LOCATION:https://teams.microsoft.com/l/meetup-join/1"),
                  event("DTSTART:20260330T120000Z", "LOCATION:Room 4\\, Hospice", uid="e2"))
    rows = read_sessions(content, "x.ics").rows
    assert [row.join_url for row in rows] == ["https://teams.microsoft.com/l/meetup-join/1", ""]


def test_all_day_recurring_and_cancelled_events_are_told_apart() -> None:
    content = ics(
        event("DTSTART:20260330T120000Z", uid="ok-1"),
        event("DTSTART;VALUE=DATE:20260331", uid="all-day"),
        event("DTSTART:20260401T120000Z", "RRULE:FREQ=WEEKLY;COUNT=10", uid="weekly"),
        event("DTSTART:20260402T120000Z", "STATUS:CANCELLED", uid="gone"),
        event("DTSTART:20260403T120000Z", uid="ok-5"),
        event("DTSTART:20260408T130000Z", "RECURRENCE-ID:20260408T120000Z", uid="weekly"),
    )
    result = read_sessions(content, "x.ics")
    assert [(row.line, row.uid) for row in result.rows] == [(1, "ok-1"), (5, "ok-5")]
    assert errors(result) == [(2, "import.all_day", {}), (3, "import.recurring", {}),
                              (6, "import.recurring", {})]


@pytest.mark.parametrize(("lines", "expected"), [
    (("DTSTART;TZID=Mars/Olympus:20260330T120000",),
     ("import.unknown_zone", {"value": "Mars/Olympus"})),
    (("DTSTART:20260330T120000Z", "DTEND:20260330T110000Z"),
     ("import.end_before_start", {"start": "2026-03-30T12:00:00+00:00",
                                  "end": "2026-03-30T11:00:00+00:00"})),
    (("DTSTART:20260330T120000Z", "DURATION:PT9H"), ("import.bad_duration", {"value": "540"})),
    (("SUMMARY:No start",), ("import.no_start", {})),
    (("DTSTART:tomorrow",), ("import.no_start", {})),
    (("DTSTART:20260330T120000Z", "DURATION:P1D"), ("import.bad_duration", {"value": "1440"})),
])
def test_a_bad_event_is_refused_by_its_number(lines: tuple[str, ...],
                                              expected: tuple[str, dict[str, str]]) -> None:
    content = ics(event("DTSTART:20260330T120000Z", uid="fine"), event(*lines, uid="bad"))
    result = read_sessions(content, "x.ics")
    assert [row.uid for row in result.rows] == ["fine"]
    assert errors(result) == [(2, *expected)]


def test_an_ics_file_is_recognised_by_its_content_whatever_its_name() -> None:
    content = ics(event("DTSTART:20260330T120000Z"))
    assert len(read_sessions(content, "export.csv").rows) == 1
    assert len(read_sessions(b"\r\n " + content, "download").rows) == 1


# --- garbage ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "filename", "expected"), [
    (b"", "s.csv", (0, "import.empty", {})),
    (b" \r\n\t\n", "s.csv", (0, "import.empty", {})),
    (b"\xef\xbb\xbf", "s.csv", (0, "import.empty", {})),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.png", (0, "import.unrecognised", {})),
    (b"PK\x03\x04\x14\x00\x06\x00", "sessions.xlsx", (0, "import.unrecognised", {})),
    # Windows-1252 from an old Excel: the bad byte (é) is on line 2.
    (b"series,date,start\ncaf\xe9,2026-03-30,13:00\n", "s.csv", (2, "import.not_utf8", {})),
    (b"hello world", "notes.txt",
     (1, "import.missing_columns", {"columns": "series, date, start"})),
    (b"BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n", "x.ics", (0, "import.not_calendar", {})),
    (b"series,date,start\na,2026-03-30,13:00\n", "x.ics", (0, "import.not_calendar", {})),
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "x.ics",
     (0, "import.no_sessions", {})),
])
def test_garbage_gets_one_refusal(content: bytes, filename: str,
                                  expected: tuple[int, str, dict[str, str]]) -> None:
    result = read_sessions(content, filename)
    assert result.rows == ()
    assert errors(result) == [expected]


def test_a_bad_default_zone_or_duration_is_refused_not_raised() -> None:
    assert errors(read_sessions(GOOD_CSV.encode(), "s.csv", default_zone="Mars/Base")) == [
        (0, "import.unknown_zone", {"value": "Mars/Base"})]
    assert errors(read_sessions(GOOD_CSV.encode(), "s.csv", default_duration=0)) == [
        (0, "import.bad_duration", {"value": "0"})]


@settings(max_examples=300, deadline=None)
@given(content=st.one_of(st.binary(max_size=400),
                         st.text(max_size=400).map(str.encode),
                         st.text(alphabet=",;\n\"\r:-0123456789seriedatsTZ/", max_size=300)
                         .map(lambda text: f"series,date,start,end,time_zone\n{text}".encode()),
                         st.text(max_size=200).map(
                             lambda text: f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n{text}".encode())),
       filename=st.sampled_from(["s.csv", "s.ics", "s"]))
def test_no_content_raises(content: bytes, filename: str) -> None:
    result = read_sessions(content, filename)
    assert all(isinstance(error, RowError) and error.line >= 0 for error in result.errors)
    for row in result.rows:
        assert row.starts_at.utcoffset() == timedelta(0) and row.ends_at > row.starts_at


# --- messages --------------------------------------------------------------------------------

def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_refusal_is_worded_in_english_and_french_with_the_same_placeholders() -> None:
    source = (ASSISTANT / "session_import.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"(import\.[a-z_0-9]+)"', source))
    assert len(used) >= 20
    english, french = catalogue("en"), catalogue("fr")
    for message_id in used:
        assert placeholders(english[message_id]) == placeholders(french[message_id]), message_id


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_arguments_given_fill_every_placeholder(language: str) -> None:
    bad = csv_file("a,2026-13-01,25:00,Mars/Base,http://x,1", "b,2026-03-29,01:30,Europe/London,,",
                   "c,2026-03-30,13:00,UTC,,5",
                   header="series,date,start,time_zone,join_url,duration")
    found = [*read_sessions(bad, "s.csv").errors,
             *read_sessions(b"a,b\n1,2\n", "s.csv").errors,
             *read_sessions(csv_file("a,2026-03-30,13:00,14:00,90",
                                     header="series,date,start,end,duration"), "s.csv").errors]
    assert len({error.message for error in found}) >= 7
    for error in found:
        text = catalogue(language)[error.message].format(**error.args)
        assert "{" not in text and "line" not in text.lower()
