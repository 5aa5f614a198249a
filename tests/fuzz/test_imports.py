"""Files from spreadsheets and meeting tools: session imports (CSV and .ics), Zoom and Teams
attendance reports, and the .ics files Spoke writes.

Whatever the bytes (any encoding, BOMs, UTF-16, cells of 200 KiB, numbers of 5,000 digits,
dates in year 1 or 9999, formula-looking cells), a reader returns rows and row errors and
never raises: the admin command shows the errors by line, it never prints a traceback.
tests/test_session_import.py already throws short random bytes at read_sessions; these are
shaped like the real files, so they reach the cell readers.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import available_timezones

from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from assistant.attendance_reports import Report, read_report
from assistant.calendar import series_calendar, session_calendar
from assistant.model import Series, Session
from assistant.session_import import MAX_MINUTES, MIN_MINUTES, read_sessions
from tests.fuzz import fuzz
from tests.fuzz.texts import ODD_CHARACTERS
from tests.fuzz.wording import assert_worded

# --- cells --------------------------------------------------------------------------------------

FORMULAS = ("=1+1", "+SUM(A1:A9)", "-2+3", "@cmd", "=HYPERLINK(\"https://example.org\",\"x\")",
            "=cmd|' /C calc'!A0", "\t=1", "\r=1", "=\"a\"&\"b\"")
huge = st.integers(140_000, 200_000).map(lambda n: "x" * n)  # over csv's 128 KiB field limit
many_digits = st.integers(4_301, 6_000).map(lambda n: "9" * n)  # over int()'s 4,300 digits
odd_text = st.text(max_size=30) | st.text(alphabet=ODD_CHARACTERS + "\",;\n", max_size=12)
any_cell = st.one_of(odd_text, st.sampled_from(FORMULAS), huge, many_digits)

dates = st.one_of(
    st.dates().map(lambda day: day.isoformat()),  # year 1 to 9999, in a zone or not
    st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "26-03-30",
                     "30/03/2026", ""]),
    any_cell)
times = st.one_of(st.times().map(lambda t: f"{t:%H:%M}"),
                  st.sampled_from(["00:00", "23:59", "24:00", "1:30", "01:30:00", "25:61"]), any_cell)
zones = st.one_of(st.sampled_from(["UTC", "Europe/London", "America/Toronto", "Asia/Tokyo",
                                   "Pacific/Kiritimati", "Etc/GMT+12", "etc/gmt-14", "Mars/Base",
                                   ""]), any_cell)
durations = st.one_of(st.integers(-10, 1000).map(str), st.sampled_from(["", "٣٠", "60.5", "1e3"]),
                      any_cell)
links = st.one_of(st.sampled_from(["https://zoom.us/j/1", "http://zoom.us/j/1", "https://[::1",
                                   "https://", "javascript:alert(1)", ""]), any_cell)
COLUMNS = {"series": odd_text | st.sampled_from(FORMULAS), "date": dates, "start": times,
           "end": times, "duration": durations, "time_zone": zones, "topic": any_cell,
           "expert": any_cell, "agenda": any_cell, "join_url": links, "materials": links}
HEADERS = {"series": ["series", "Series", " SERIES "], "date": ["date", "Date"],
           "start": ["start", "Start time", "start-time"], "end": ["end", "end_time"],
           "duration": ["duration", "Duration minutes"], "time_zone": ["time_zone", "Time zone", "TZ"],
           "topic": ["topic"], "expert": ["expert"], "agenda": ["agenda"],
           "join_url": ["join_url", "Join link", "link"], "materials": ["materials"]}


def csv_text(header: list[str], rows: list[list[str]], delimiter: str) -> str:
    """Cells quoted the way a spreadsheet quotes them: only when they hold a delimiter,
    a quote or a line break."""
    def cell(value: str) -> str:
        if any(c in value for c in (delimiter, "\"", "\n", "\r")):
            return "\"" + value.replace("\"", "\"\"") + "\""
        return value
    return "\r\n".join(delimiter.join(cell(v) for v in line) for line in [header, *rows])


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252"]


@st.composite
def session_files(draw: st.DrawFn) -> tuple[bytes, str]:
    columns = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=0, max_size=8, unique=True))
    if draw(st.booleans()):
        columns = ["series", "date", "start", *(c for c in columns if c not in ("series", "date", "start"))]
    header = [draw(st.sampled_from(HEADERS[c])) for c in columns]
    if draw(st.integers(0, 9)) == 0:
        header.append(draw(odd_text))  # an unknown or repeated column
    rows = [[draw(COLUMNS[c]) for c in columns] + draw(st.lists(odd_text, max_size=2))
            for _ in range(draw(st.integers(0, 4)))]
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    text = csv_text(header, rows, delimiter)
    if draw(st.integers(0, 5)) == 0:
        text = f"sep={delimiter}\r\n{text}"
    if draw(st.integers(0, 5)) == 0:
        text = text.replace("\"", "", 1)  # an unclosed quote swallows the rest of the file
    encoding = draw(st.sampled_from(ENCODINGS))
    content = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 7)) == 0:
        content = content[:draw(st.integers(0, len(content)))]  # cut anywhere, mid-character too
    return content, draw(st.sampled_from(["sessions.csv", "sessions.CSV", "s.txt", "s.ics", ""]))


def assert_a_session_import(content: bytes, filename: str, zone: str = "UTC",
                            duration: int = 60) -> None:
    result = read_sessions(content, filename, default_zone=zone, default_duration=duration)
    lines = content.count(b"\n") + content.count(b"\r") + 1
    for error in result.errors:
        assert 0 <= error.line <= max(lines, len(result.errors) + len(result.rows)), error
        assert_worded(error.message, error.args)
    for row in result.rows:
        assert row.starts_at.utcoffset() == timedelta(0)
        assert MIN_MINUTES <= (row.ends_at - row.starts_at) / timedelta(minutes=1) <= MAX_MINUTES
        assert row.time_zone in available_timezones()
        assert row.join_url == "" or row.join_url.lower().startswith("https://")


@fuzz(120)
@given(file=session_files(), zone=st.sampled_from(["UTC", "Asia/Tokyo", "America/Toronto"]))
def test_a_session_csv_gives_rows_and_worded_errors_never_an_exception(
        file: tuple[bytes, str], zone: str) -> None:
    assert_a_session_import(*file, zone=zone)


cell_text = odd_text.filter(lambda text: "\x00" not in text)  # NUL: no text file, refused whole


@fuzz(60)
@given(topic=st.sampled_from(FORMULAS) | cell_text, expert=st.sampled_from(FORMULAS) | cell_text,
       delimiter=st.sampled_from([",", ";", "\t"]), encoding=st.sampled_from(["utf-8-sig", "utf-16"]))
def test_formula_looking_cells_are_kept_as_the_text_they_are(topic: str, expert: str, delimiter: str,
                                                             encoding: str) -> None:
    text = csv_text(["series", "date", "start", "topic", "expert"],
                    [["pain", "2026-03-30", "13:00", topic, expert]], delimiter)
    result = read_sessions(text.encode(encoding), "s.csv")
    assert result.errors == () and len(result.rows) == 1, result.errors
    assert (result.rows[0].topic, result.rows[0].expert) == (topic.strip(), expert.strip())


def test_a_cell_larger_than_csv_allows_is_a_row_error() -> None:
    for cell in ("x" * 200_000, "\"unclosed " + "y" * 200_000):
        text = f"series,date,start,topic\npain,2026-03-30,13:00,{cell}\n"
        result = read_sessions(text.encode(), "s.csv")
        assert result.rows == () and len(result.errors) == 1
        assert_worded(result.errors[0].message, result.errors[0].args)


def test_a_duration_of_5000_digits_is_a_bad_duration() -> None:
    result = read_sessions(f"series,date,start,duration\npain,2026-03-30,13:00,{'9' * 5000}\n".encode(),
                           "s.csv")
    assert [(e.line, e.message) for e in result.errors] == [(2, "import.bad_duration")]


def test_the_first_and_last_days_utc_can_hold_are_refused_on_their_line() -> None:
    text = ("series,date,start,time_zone\npain,9999-12-31,23:00,America/Toronto\n"
            "pain,0001-01-01,00:30,Asia/Tokyo\n")
    result = read_sessions(text.encode(), "s.csv")
    assert result.rows == () and [error.line for error in result.errors] == [2, 3]
    for error in result.errors:
        assert_worded(error.message, error.args)


# --- .ics imports, and the .ics Spoke writes ---------------------------------------------------------

# What a session's texts may hold. Not NUL: no import or dialog lets one in, and a file
# holding one is no text file to any reader, Spoke's included. Not a byte-order mark either:
# icalendar drops one that starts a value.
any_text = (st.text(max_size=80) | st.text(alphabet=ODD_CHARACTERS + ",;:\\\"\n", max_size=40)
            ).map(lambda text: text.replace("\x00", "").replace("\ufeff", ""))
SERIES = Series(id=1, network="care-homes", name="pain-2026", title="Pain ECHO", description="",
                recurrence="weekly", default_time="13:00", time_zone="Europe/London",
                duration_minutes=60, join_url="https://zoom.us/j/1110001", capacity=None,
                state="open", requires_approval=False)
STAMP = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    # hypothesis takes naive bounds and attaches the zone itself
    starts = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1),  # noqa: DTZ001
                               timezones=st.just(UTC))).replace(second=0, microsecond=0)
    zone = draw(st.sampled_from(["Europe/London", "America/Toronto", "Asia/Kolkata",
                                 "Australia/Lord_Howe", "UTC"]))
    return Session(id=draw(st.integers(1, 10**6)), series_id=1, starts_at=starts,
                   ends_at=starts + timedelta(minutes=draw(st.integers(10, 480))), time_zone=zone,
                   topic=draw(any_text), expert=draw(any_text), agenda=draw(any_text),
                   materials=tuple(draw(st.lists(st.sampled_from(["https://example.org/a.pdf",
                                                                  "https://example.org/b?x=1,2;3"]),
                                                 max_size=2))),
                   join_url=draw(st.sampled_from(["", "https://zoom.us/j/9;a,b"])),
                   state=draw(st.sampled_from(["scheduled", "cancelled"])),
                   sequence=draw(st.integers(0, 10**6)), uid=f"session-{draw(st.integers(1, 10**6))}@spoke")


def lines_as_ical_keeps_them(text: str) -> str:
    """RFC 5545 text has one line break, written \\n: a CR or CRLF comes back as LF (and
    never starts a property of its own)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@fuzz(60)
@given(session=sessions(), title=any_text, language=st.sampled_from(["en", "fr"]))
def test_the_ics_spoke_writes_reads_back_with_its_text_and_times(session: Session, title: str,
                                                                 language: str) -> None:
    series = dataclasses.replace(SERIES, title=title or "Pain ECHO")
    data = session_calendar(session, series, stamp=STAMP, language=language)
    calendar = Calendar.from_ical(data)
    [event] = calendar.events
    summary = lines_as_ical_keeps_them(f"{series.title}: {session.topic}" if session.topic
                                       else series.title)
    assert str(event["SUMMARY"]) == summary
    assert set(event) <= {"UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY",
                          "DESCRIPTION", "URL", "LOCATION", "STATUS"}  # nothing injected
    description = str(event.get("DESCRIPTION", ""))
    for kept in (session.expert, session.agenda, *session.materials):
        assert lines_as_ical_keeps_them(kept) in description
    assert event["DTSTART"].dt.astimezone(UTC) == session.starts_at
    assert event["DTEND"].dt.astimezone(UTC) == session.ends_at
    assert str(event["UID"]) == session.uid
    # And Spoke's own series file names the series and imports back as the same sessions.
    whole = series_calendar(series, [session], stamp=STAMP)
    assert str(Calendar.from_ical(whole)["X-WR-CALNAME"]) == " ".join(series.title.split())
    result = read_sessions(whole, "series.ics")
    if session.state == "cancelled":
        assert result.rows == () and result.errors == ()
    else:
        [row] = result.rows
        assert (row.starts_at, row.ends_at, row.topic) == (session.starts_at, session.ends_at,
                                                           summary.strip())


ICS_LINES = st.sampled_from([
    "DTSTART:20260330T120000Z", "DTSTART;TZID=Europe/London:20260330T130000",
    "DTSTART;TZID=Mars/Base:20260330T130000", "DTSTART;VALUE=DATE:20260330", "DTSTART:garbage",
    "DTSTART:99991231T230000", "DTSTART;TZID=America/Toronto:99991231T230000",
    "DTSTART;TZID=Asia/Tokyo:00010101T003000", "DTEND:20260330T130000Z", "DTEND:20260330T110000Z",
    "DURATION:PT90M", "DURATION:P99999999D", "DURATION:-PT1H", "DURATION:nonsense",
    "RRULE:FREQ=WEEKLY", "STATUS:CANCELLED", "SUMMARY:=1+1", "URL:https://zoom.us/j/1",
    "LOCATION:http://x", "UID:x", "BEGIN:VEVENT", "END:VEVENT", "BEGIN:VTIMEZONE", "END:VCALENDAR",
    "DTSTART:20260330T120000Z", "DTSTART:20260330T120000Z",  # given twice
])


@fuzz(120)
@given(lines=st.lists(ICS_LINES | any_text.map(lambda t: t.replace("\n", " ")), max_size=14),
       encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
       zone=st.sampled_from(["UTC", "America/Toronto", "Asia/Tokyo"]))
def test_an_ics_file_gives_rows_and_worded_errors_never_an_exception(lines: list[str], encoding: str,
                                                                    zone: str) -> None:
    text = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VEVENT", *lines, "END:VEVENT",
                        "END:VCALENDAR"])
    assert_a_session_import(text.encode(encoding, errors="replace"), "x.ics", zone)


# --- attendance reports -----------------------------------------------------------------------------

ZOOM_HEADER = ["Name (Original Name)", "User Email", "Join Time", "Leave Time", "Duration (Minutes)",
               "Guest", "In Waiting Room"]
TEAMS_HEADER = ["Name", "First Join", "Last Leave", "In-Meeting Duration", "Email",
                "Participant ID (UPN)", "Role"]
ACTIVITY_HEADER = ["Name", "Join Time", "Leave Time", "Duration", "Email", "Role"]
report_times = st.one_of(
    # Wall-clock times as the reports write them: naive on purpose.
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(  # noqa: DTZ001
        lambda t: st.sampled_from([f"{t:%m/%d/%Y %I:%M:%S %p}", f"{t:%m/%d/%y, %H:%M:%S}",
                                   t.isoformat(), f"{t:%m/%d/%Y %H:%M}"])).flatmap(lambda s: s),
    st.sampled_from(["12/31/9999 11:59:59 PM", "01/01/0001 12:00:00 AM", "9999-12-31T23:59:59",
                     "0001-01-01T00:00:00", "9999-12-31T23:00:00-05:00", "06/12/2025 1:05:00\u202fPM",
                     "03/29/2026 01:30:00 AM", "11/01/2026 01:30:00 AM", ""]),
    any_cell)
report_durations = st.one_of(
    st.sampled_from(["1h 5m 3s", "58m 12s", "45s", "1:05:03", "99999999999h", "", "0s"]),
    many_digits.map(lambda d: d + "h"), many_digits.map(lambda d: f"{d}:00:00"), any_cell)
REPORT_CELLS = {"Name (Original Name)": odd_text, "Name": odd_text,
                "User Email": st.sampled_from(["a@b.org", "A@B.ORG", "not an email", ""]) | any_cell,
                "Email": st.sampled_from(["a@b.org", ""]) | any_cell,
                "Join Time": report_times, "Leave Time": report_times, "First Join": report_times,
                "Last Leave": report_times, "In-Meeting Duration": report_durations,
                "Duration": report_durations, "Duration (Minutes)": durations,
                "Guest": st.sampled_from(["Yes", "No"]),
                "In Waiting Room": st.sampled_from(["Yes", "No", ""]),
                "Participant ID (UPN)": any_cell, "Role": st.sampled_from(["Organizer", "Presenter", ""])}


@st.composite
def reports(draw: st.DrawFn) -> bytes:
    shape = draw(st.sampled_from(["zoom", "zoom_summary", "teams", "teams_table", "activity"]))
    header = {"zoom": ZOOM_HEADER, "zoom_summary": ZOOM_HEADER, "teams": TEAMS_HEADER,
              "teams_table": TEAMS_HEADER, "activity": ACTIVITY_HEADER}[shape]
    header = draw(st.permutations(header)).copy()
    del header[draw(st.integers(2, len(header))):]  # some columns missing
    rows = [[draw(REPORT_CELLS[column]) for column in header] + draw(st.lists(odd_text, max_size=1))
            for _ in range(draw(st.integers(0, 4)))]
    delimiter = "\t" if shape.startswith("teams") or shape == "activity" else ","
    table = csv_text(header, rows, delimiter)
    if shape == "zoom_summary":
        table = f"Meeting ID,Topic\r\n123,{draw(odd_text).replace(',', ' ')}\r\n\r\n{table}"
    elif shape == "teams":
        table = f"1. Summary\r\nMeeting title\t{draw(odd_text)}\r\n\r\n2. Participants\r\n{table}"
    elif shape == "activity":
        table = f"1. Summary\r\n\r\n3. In-Meeting Activities\r\n{table}"
    encoding = draw(st.sampled_from(["utf-16", "utf-8-sig", "utf-8", "utf-16-le", "latin-1"]))
    content = table.encode(encoding, errors="replace")
    if draw(st.integers(0, 7)) == 0:
        content = content[:draw(st.integers(0, len(content)))]
    return content


def assert_a_report(report: Report) -> None:
    assert report.source in ("zoom", "teams", "")
    for line, reason in report.errors:
        assert isinstance(line, int) and line >= 0 and isinstance(reason, str) and reason
        assert "Traceback" not in reason
    for attendee in report.attendees:
        assert attendee.intervals and attendee.minutes() >= 0
        for start, end in attendee.intervals:
            assert start.utcoffset() == timedelta(0) and start <= end
        assert list(attendee.intervals) == sorted(attendee.intervals)


@fuzz(120)
@given(content=reports(), zone=st.sampled_from(["Europe/London", "America/Toronto", "Asia/Tokyo",
                                                "UTC", "Mars/Base", ""]))
def test_an_attendance_report_gives_attendees_and_row_errors_never_an_exception(content: bytes,
                                                                                zone: str) -> None:
    assert_a_report(read_report(content, zone))


def test_report_cells_past_what_csv_int_and_datetime_hold_are_row_errors() -> None:
    zoom = "Name (Original Name),User Email,Join Time,Leave Time\n"
    teams = ("Name\tFirst Join\tLast Leave\tIn-Meeting Duration\n"
             "A\t06/12/2025 12:58:03 PM\t06/12/2025 1:58:03 PM\t")
    for content, zone in [((zoom + f"A,a@b.org,06/12/2025 12:58:03 PM,{'x' * 200_000}\n"), "UTC"),
                          (teams + "9" * 5000 + "h\n", "UTC"), (teams + "99999999999h\n", "UTC"),
                          (zoom + "A,a@b.org,9999-12-31 23:00,9999-12-31 23:30\n", "America/Toronto"),
                          (zoom + "A,a@b.org,0001-01-01 00:00,0001-01-01 00:30\n", "Asia/Tokyo")]:
        report = read_report(content.encode(), zone)
        assert report.errors, content[:80]
        assert_a_report(report)

