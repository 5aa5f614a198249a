"""Reading Zoom and Teams attendance reports: who was there, for how long (rejoins counted
once), and every row that cannot be read, with its line. Pure: no database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.attendance_reports import Attendee, Report, merge, minutes_of, read_report

DATA = Path(__file__).parent / "data"
LONDON = "Europe/London"
# The sample meeting: Thursday 12 June 2025, 13:00-14:00 in London (12:00-13:00 UTC).
HEADER = "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest\n"


def utc(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2025, 6, 12, hour, minute, second, tzinfo=UTC)


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def by_key(report: Report) -> dict[str, Attendee]:
    return {attendee.key: attendee for attendee in report.attendees}


def minutes(report: Report) -> dict[str, int]:
    return {attendee.key: attendee.minutes() for attendee in report.attendees}


# The sample reports describe the same meeting, so they must agree (worked out by hand from
# the rows: Amira's overlapping rejoin counts 12:52:30-14:01:12 once; Deepa was away 10 min).
SAME_MEETING = {"fiona.mackay@example.org": 87, "amira.haddad@example.org": 69,
                "bernard.okafor@example.org": 42, "chloe tremblay": 55,
                "deepa.rao@example.org": 50, "jo.bloggs@personal.example.org": 45}


# --- Zoom --------------------------------------------------------------------------------------

def test_a_zoom_report_gives_each_attendee_once_with_their_merged_time() -> None:
    report = read_report(sample("zoom_participants.csv"), LONDON)
    assert report.source == "zoom"
    assert report.errors == ()
    assert minutes(report) == {**SAME_MEETING, "iphone": 3}
    amira = by_key(report)["amira.haddad@example.org"]
    # Joined 12:52:30, left 13:20:05, back at 13:18:40 (before the first left) until 14:01:12.
    assert amira.intervals == ((utc(11, 52, 30), utc(13, 1, 12)),)
    assert amira.lines == (3, 5)
    deepa = by_key(report)["deepa.rao@example.org"]
    assert deepa.intervals == ((utc(12, 0, 15), utc(12, 30, 15)), (utc(12, 40), utc(13, 0)))
    assert deepa.email == "Deepa.Rao@Example.org"  # as written; the key is lower-cased
    bernard = by_key(report)["bernard.okafor@example.org"]
    assert bernard.name == "Bernard Okafor (Bernie's iPad)"
    assert bernard.match_name == "Bernard Okafor"  # the original name is a note, not the name
    chloe = by_key(report)["chloe tremblay"]  # no e-mail: keyed by the folded name
    assert (chloe.name, chloe.email, chloe.lines) == ("Chloé Tremblay", "", (6,))


def test_the_meeting_summary_above_the_table_and_the_waiting_room_are_left_out() -> None:
    report = read_report(sample("zoom_participants_with_summary.csv"), LONDON)
    assert report.source == "zoom"
    assert report.errors == ()
    assert minutes(report) == {**SAME_MEETING, "iphone": 3}
    # Line 6 is Amira in the waiting room from 12:49: not time in the session.
    assert by_key(report)["amira.haddad@example.org"].lines == (7, 9)
    assert by_key(report)["amira.haddad@example.org"].intervals[0][0] == utc(11, 52, 30)


def test_zoom_times_are_read_in_the_zone_given_unless_they_carry_an_offset() -> None:
    rows = ("Amira Haddad,amira@example.org,06/12/2025 12:00:00 PM,06/12/2025 01:00:00 PM,60,No\n"
            "Deepa Rao,deepa@example.org,2025-06-12T12:00:00+00:00,2025-06-12 13:00:00+00:00,60,No\n"
            "Sam Lee,sam@example.org,2025-06-12 12:00:00,06/12/2025 13:00,60,No\n")
    london = by_key(read_report((HEADER + rows).encode(), LONDON))
    toronto = by_key(read_report((HEADER + rows).encode(), "America/Toronto"))
    assert london["amira@example.org"].intervals == ((utc(11, 0), utc(12, 0)),)
    assert toronto["amira@example.org"].intervals == ((utc(16, 0), utc(17, 0)),)
    assert london["deepa@example.org"].intervals == toronto["deepa@example.org"].intervals \
        == ((utc(12, 0), utc(13, 0)),)
    assert london["sam@example.org"].intervals == ((utc(11, 0), utc(12, 0)),)


def test_headers_are_read_whatever_their_case_and_spacing() -> None:
    content = (" NAME (original name) ,user  email,JOIN TIME,Leave time\n"
               "Amira Haddad,amira@example.org,06/12/2025 01:00:00 PM,06/12/2025 01:45:00 PM\n")
    report = read_report(content.encode(), LONDON)
    assert report.errors == ()
    assert minutes(report) == {"amira@example.org": 45}


# --- Teams -------------------------------------------------------------------------------------

def test_a_teams_report_as_downloaded_is_utf16_tabs_and_sections() -> None:
    content = sample("teams_attendance.csv")
    assert content.startswith(b"\xff\xfe")  # the file really is what Teams gives
    text = content.decode("utf-16")
    assert "\t" in text and "3. In-Meeting Activities" in text
    report = read_report(content, LONDON)
    assert report.source == "teams"
    assert report.errors == ()
    # "(Guest)" and "(External)" are Teams' notes: the keys match the Zoom report's.
    assert minutes(report) == {**SAME_MEETING, "unknown caller": 3}
    assert by_key(report)["chloe tremblay"].name == "Chloé Tremblay (Guest)"
    assert by_key(report)["chloe tremblay"].match_name == "Chloé Tremblay"
    # Lines of section 3, where every join is.
    assert by_key(report)["amira.haddad@example.org"].lines == (22, 23)


def test_without_section_3_the_time_in_the_meeting_comes_from_section_2() -> None:
    text = sample("teams_attendance.csv").decode("utf-16")
    text = text[:text.index("3. In-Meeting Activities")]
    report = read_report(text.encode("utf-16"), LONDON)
    assert report.source == "teams"
    assert report.errors == ()
    assert minutes(report) == {**SAME_MEETING, "unknown caller": 3}
    deepa = by_key(report)["deepa.rao@example.org"]  # 50m in the meeting, counted from 13:00:15
    assert deepa.intervals == ((utc(12, 0, 15), utc(12, 50, 15)),)


def test_the_same_teams_report_saved_as_utf8_with_commas_reads_the_same() -> None:
    text = sample("teams_attendance.csv").decode("utf-16")
    out = io.StringIO()
    csv.writer(out).writerows(line.split("\t") for line in text.splitlines())
    as_csv = read_report(out.getvalue().encode("utf-8-sig"), LONDON)
    assert as_csv.source == "teams"
    assert as_csv.errors == ()
    assert as_csv.attendees == read_report(sample("teams_attendance.csv"), LONDON).attendees


def test_teams_durations_are_read_in_both_spellings() -> None:
    content = ("2. Participants\n"
               "Name\tFirst Join\tLast Leave\tIn-Meeting Duration\tEmail\tRole\n"
               "A One\t6/12/25, 1:00:00 PM\t6/12/25, 2:00:00 PM\t1h 5m 3s\ta@example.org\tAttendee\n"
               "B Two\t6/12/25, 1:00:00 PM\t6/12/25, 2:00:00 PM\t0:45:00\tb@example.org\tAttendee\n"
               "C Three\t6/12/25, 1:00:00 PM\t6/12/25, 2:00:00 PM\tlong\tc@example.org\tAttendee\n")
    report = read_report(content.encode(), LONDON)
    # A's 65 minutes cannot be longer than first join to last leave.
    assert minutes(report) == {"a@example.org": 60, "b@example.org": 45}
    assert report.errors == ((5, "cannot read the time in the meeting 'long' (expected like 1h 5m 3s)"),)


# --- rejoins -------------------------------------------------------------------------------------

def test_overlapping_rejoins_count_once_and_a_phone_without_email_joins_its_owner() -> None:
    content = HEADER + (
        "Amira Haddad,amira@example.org,06/12/2025 01:00:00 PM,06/12/2025 01:40:00 PM,40,No\n"
        "Amira Haddad,AMIRA@example.org,06/12/2025 01:30:00 PM,06/12/2025 02:00:00 PM,30,No\n"
        "amira haddad,,06/12/2025 01:55:00 PM,06/12/2025 02:10:00 PM,15,No\n"
        "Sam Lee,,06/12/2025 01:00:00 PM,06/12/2025 01:10:00 PM,10,Yes\n"
        "Sam Lee,,06/12/2025 01:20:00 PM,06/12/2025 01:30:00 PM,10,Yes\n")
    report = read_report(content.encode(), LONDON)
    assert report.errors == ()
    assert minutes(report) == {"amira@example.org": 70, "sam lee": 20}  # not 85, not 10
    assert by_key(report)["amira@example.org"].lines == (2, 3, 4)
    assert by_key(report)["sam lee"].intervals == ((utc(12, 0), utc(12, 10)), (utc(12, 20), utc(12, 30)))


def test_minutes_can_be_clipped_to_a_window_and_round_to_the_nearest() -> None:
    intervals = [(utc(11, 30), utc(12, 20)), (utc(12, 10), utc(12, 40, 29))]
    assert merge(intervals) == ((utc(11, 30), utc(12, 40, 29)),)
    assert minutes_of(intervals) == 70
    assert minutes_of(intervals, within=(utc(11, 45), utc(13, 30))) == 55
    assert minutes_of([(utc(12, 0), utc(12, 0, 30))]) == 1
    assert minutes_of([(utc(12, 0), utc(12, 0, 29))]) == 0
    assert minutes_of(intervals, within=(utc(14, 0), utc(15, 0))) == 0


# --- what cannot be read -------------------------------------------------------------------------

def test_unreadable_rows_are_named_by_line_and_the_rest_is_read() -> None:
    content = HEADER + (
        "Amira Haddad,amira@example.org,06/12/2025 01:00:00 PM,06/12/2025 01:45:00 PM,45,No\n"
        "Bernard Okafor,bernard@example.org,12 June 2025 1pm,06/12/2025 01:45:00 PM,45,No\n"
        "Chloé Tremblay,chloe@example.org,06/12/2025 01:45:00 PM,06/12/2025 01:00:00 PM,45,No\n"
        ",,06/12/2025 01:00:00 PM,06/12/2025 01:45:00 PM,45,Yes\n"
        "\n"
        "Deepa Rao,deepa.example.org,06/12/2025 01:00:00 PM,06/12/2025 01:45:00 PM,45,No\n"
        "Sam Lee,sam@example.org,06/12/2025 01:00:00 PM,06/12/2025 01:45:00 PM,45,No,extra\n"
        '"Lee, Kim",kim@example.org,06/12/2025 01:00:00 PM,,45,No\n')
    report = read_report(content.encode(), LONDON)
    assert [a.key for a in report.attendees] == ["amira@example.org"]
    assert report.errors == (
        (3, "cannot read the join time '12 June 2025 1pm' (expected like 06/12/2025 12:58:03 PM)"),
        (4, "leaves before joining"),
        (5, "no name and no e-mail"),
        (7, "'deepa.example.org' is not an e-mail address"),
        (8, "more cells than the header has"),
        (9, "cannot read the leave time '' (it is empty)"),
    )


def test_a_time_the_clocks_skip_is_a_row_error() -> None:
    content = HEADER + ("Amira Haddad,amira@example.org,03/30/2025 01:30:00 AM,"
                        "03/30/2025 03:00:00 AM,30,No\n")
    report = read_report(content.encode(), LONDON)
    assert report.attendees == ()
    assert report.errors == ((2, "cannot read the join time '03/30/2025 01:30:00 AM' "
                                 "(the clocks skipped this time that day)"),)


@pytest.mark.parametrize(("content", "reason"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file (save the report as CSV)"),
    (b"PK\x03\x04\x14\x00\x06\x00", "not a text file (save the report as CSV)"),
    (b"", "the file is empty"),
    (b"series,date,start\npain-2026,2026-03-30,13:00\n",
     "not a Zoom participants report or a Teams attendance report"),
    ("Meeting Summary\nFull Name\tUser Action\tTimestamp\nAmira\tJoined\t6/12/2025, 1:00:00 PM\n"
     .encode("utf-16"), "this is Teams' older report (Joined/Left rows): download the attendance "
                        "report again from the meeting's Attendance tab"),
    (b"Name (Original Name),User Email,Total Duration (Minutes),Guest\nAmira,a@example.org,45,No\n",
     "this Zoom report has no join and leave times: export it again without \"Show unique users\""),
    (HEADER.encode(), "the report lists nobody"),
])
def test_a_file_that_is_not_a_report_is_refused_as_a_whole(content: bytes, reason: str) -> None:
    report = read_report(content, LONDON)
    assert report.attendees == ()
    assert report.errors == ((0, reason),)


def test_bytes_that_are_not_utf8_are_named_by_line() -> None:
    content = (HEADER + "Chlo\xe9 Tremblay,c@example.org,06/12/2025 01:00 PM,06/12/2025 02:00 PM,60,No\n"
               ).encode("latin-1")
    assert read_report(content, LONDON).errors == ((2, "not UTF-8 text"),)


def test_rows_above_the_zoom_table_must_be_the_meeting_summary() -> None:
    content = "Please find the report below\n\n" + HEADER + (
        "Amira Haddad,amira@example.org,06/12/2025 01:00:00 PM,06/12/2025 01:45:00 PM,45,No\n")
    report = read_report(content.encode(), LONDON)
    assert report.attendees == ()
    assert report.errors == ((1, "the rows above the participant table are not Zoom's meeting "
                                 "summary"),)


def test_an_unknown_zone_is_refused() -> None:
    assert read_report(sample("zoom_participants.csv"), "Mars/Olympus").errors == (
        (0, "unknown time zone 'Mars/Olympus'"),)
