""".ics files: read back with icalendar, they hold the session's UID, SEQUENCE, wall-clock
times in the hub's zone with its VTIMEZONE, the same UTC moments, and the text unharmed."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar, Event

from assistant.calendar import series_calendar, session_calendar
from assistant.i18n import catalogue, translate
from assistant.model import Series, Session

STAMP = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
SERIES = Series(id=1, network="care-homes", name="pain-2026", title="Pain ECHO", description="",
                recurrence="weekly", default_time="13:00", time_zone="Europe/London",
                duration_minutes=60, join_url="https://zoom.us/j/1110001", capacity=None,
                state="open", requires_approval=False)
# Monday after the clocks went forward: 12:00 UTC is 13:00 British Summer Time.
SESSION = Session(id=12, series_id=1, starts_at=datetime(2026, 3, 30, 12, 0, tzinfo=UTC),
                  ends_at=datetime(2026, 3, 30, 13, 0, tzinfo=UTC), time_zone="Europe/London",
                  topic="Breathlessness at the end of life", expert="Dr Lewis",
                  agenda="Teaching: 20 minutes. Case: night-time breathlessness.",
                  materials=("https://example.org/slides.pdf", "https://example.org/leaflet"),
                  join_url="https://zoom.us/j/9990001", state="scheduled", sequence=2,
                  uid="session-12@spoke")


def parsed(data: bytes) -> tuple[Calendar, list[Event]]:
    calendar = Calendar.from_ical(data)
    return calendar, calendar.events


def wall_clock(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def only_event(data: bytes) -> Event:
    _, events = parsed(data)
    assert len(events) == 1
    return events[0]


def test_a_session_keeps_its_uid_and_sequence() -> None:
    event = only_event(session_calendar(SESSION, SERIES, stamp=STAMP))
    assert str(event["UID"]) == "session-12@spoke"
    assert event["SEQUENCE"] == 2
    assert event["DTSTAMP"].dt == STAMP


def test_a_london_session_is_written_at_13_00_summer_time_in_its_zone() -> None:
    data = session_calendar(SESSION, SERIES, stamp=STAMP)
    event = only_event(data)
    start, end = event["DTSTART"], event["DTEND"]
    assert start.params["TZID"] == end.params["TZID"] == "Europe/London"
    assert wall_clock(start.dt) == "2026-03-30 13:00"
    assert wall_clock(end.dt) == "2026-03-30 14:00"
    assert start.dt.astimezone(UTC) == SESSION.starts_at
    assert end.dt.astimezone(UTC) == SESSION.ends_at
    assert b"DTSTART;TZID=Europe/London:20260330T130000\r\n" in data


def test_the_file_carries_the_zone_definition_it_names() -> None:
    calendar, _ = parsed(session_calendar(SESSION, SERIES, stamp=STAMP))
    assert [zone.tz_name for zone in calendar.timezones] == ["Europe/London"]
    assert calendar.get_missing_tzids() == set()
    # The definition itself says 13:00 on 30 March is BST, without a zone database.
    london = calendar.timezones[0].to_tz(lookup_tzid=False)
    assert datetime(2026, 3, 30, 13, 0, tzinfo=london).utcoffset() == timedelta(hours=1)
    assert datetime(2026, 1, 15, 13, 0, tzinfo=london).utcoffset() == timedelta(0)


def test_a_toronto_winter_session_is_noon_eastern_standard_time() -> None:
    session = dataclasses.replace(SESSION, time_zone="America/Toronto",
                                  starts_at=datetime(2026, 1, 15, 17, 0, tzinfo=UTC),
                                  ends_at=datetime(2026, 1, 15, 18, 30, tzinfo=UTC))
    calendar, [event] = parsed(session_calendar(session, SERIES, stamp=STAMP))
    assert event["DTSTART"].params["TZID"] == "America/Toronto"
    assert wall_clock(event["DTSTART"].dt) == "2026-01-15 12:00"
    assert event["DTEND"].dt.astimezone(UTC) == datetime(2026, 1, 15, 18, 30, tzinfo=UTC)
    assert [zone.tz_name for zone in calendar.timezones] == ["America/Toronto"]


def test_a_utc_session_needs_no_zone_definition() -> None:
    session = dataclasses.replace(SESSION, time_zone="UTC")
    data = session_calendar(session, SERIES, stamp=STAMP)
    calendar, [event] = parsed(data)
    assert b"DTSTART:20260330T120000Z\r\n" in data
    assert calendar.timezones == []
    assert event["DTSTART"].dt == SESSION.starts_at


def test_the_calendar_is_published_by_spoke_as_icalendar_2_0() -> None:
    calendar, [event] = parsed(session_calendar(SESSION, SERIES, stamp=STAMP))
    assert str(calendar["PRODID"]) == "-//Spoke//ECHO sessions//EN"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "UID" not in calendar  # nothing random in the file


def test_summary_link_and_description_say_what_the_session_is() -> None:
    event = only_event(session_calendar(SESSION, SERIES, stamp=STAMP))
    assert str(event["SUMMARY"]) == "Pain ECHO: Breathlessness at the end of life"
    assert str(event["URL"]) == str(event["LOCATION"]) == "https://zoom.us/j/9990001"
    assert str(event["DESCRIPTION"]) == (
        "Expert: Dr Lewis\n\n"
        "Teaching: 20 minutes. Case: night-time breathlessness.\n\n"
        "Materials:\nhttps://example.org/slides.pdf\nhttps://example.org/leaflet\n\n"
        "Join: https://zoom.us/j/9990001"
    )


def test_french_readers_get_french_labels() -> None:
    description = str(only_event(session_calendar(SESSION, SERIES, stamp=STAMP,
                                                  language="fr-CA"))["DESCRIPTION"])
    assert description.startswith(translate("calendar.expert", "fr", name="Dr Lewis"))
    assert translate("calendar.join", "fr", url="https://zoom.us/j/9990001") in description
    assert "Expert: Dr Lewis" not in description


def test_without_a_topic_the_summary_is_the_series_title() -> None:
    event = only_event(session_calendar(dataclasses.replace(SESSION, topic=""), SERIES,
                                        stamp=STAMP))
    assert str(event["SUMMARY"]) == "Pain ECHO"


def test_a_session_without_its_own_link_uses_the_series_link() -> None:
    event = only_event(session_calendar(dataclasses.replace(SESSION, join_url=""), SERIES,
                                        stamp=STAMP))
    assert str(event["URL"]) == "https://zoom.us/j/1110001"
    assert str(event["DESCRIPTION"]).endswith("Join: https://zoom.us/j/1110001")


def test_with_no_link_at_all_there_is_no_url_or_location() -> None:
    bare = dataclasses.replace(SESSION, join_url="", expert="", agenda="", materials=())
    event = only_event(session_calendar(bare, dataclasses.replace(SERIES, join_url=""),
                                        stamp=STAMP))
    assert "URL" not in event and "LOCATION" not in event and "DESCRIPTION" not in event


@pytest.mark.parametrize(("session", "cancelled"), [
    (SESSION, True),
    (dataclasses.replace(SESSION, state="cancelled", sequence=3), False),
])
def test_a_cancellation_is_a_cancel_message_for_the_same_uid(session: Session,
                                                             cancelled: bool) -> None:
    calendar, [event] = parsed(session_calendar(session, SERIES, cancelled=cancelled,
                                                stamp=STAMP))
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == "session-12@spoke"
    assert event["SEQUENCE"] == session.sequence


def test_commas_semicolons_newlines_and_accents_survive_the_round_trip() -> None:
    topic = "Délire, agitation; nuit\nEt après ?"
    agenda = 'Cas: Mme Côté; 84 ans, "refuse l\'oxygène"\nQ&A \\ discussion, 15 min; fin'
    session = dataclasses.replace(SESSION, topic=topic, agenda=agenda, expert="Dr Émilie Lévesque")
    series = dataclasses.replace(SERIES, title="Soins palliatifs, Québec; ÉCHO")
    data = session_calendar(session, series, stamp=STAMP)
    event = only_event(data)
    assert str(event["SUMMARY"]) == f"Soins palliatifs, Québec; ÉCHO: {topic}"
    assert agenda in str(event["DESCRIPTION"])
    assert "Dr Émilie Lévesque" in str(event["DESCRIPTION"])
    assert b"\\, " in data and b"\\;" in data and b"\\n" in data  # escaped, not raw


def test_lines_end_in_crlf_and_are_folded_at_75_octets() -> None:
    long_agenda = "A very long agenda line that goes on, and on; " * 10
    data = session_calendar(dataclasses.replace(SESSION, agenda=long_agenda), SERIES,
                            stamp=STAMP)
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    lines = data.split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    assert long_agenda.strip() in str(only_event(data)["DESCRIPTION"])


def test_the_same_session_and_stamp_give_the_same_bytes() -> None:
    assert session_calendar(SESSION, SERIES, stamp=STAMP) == session_calendar(SESSION, SERIES,
                                                                                stamp=STAMP)


def test_without_a_stamp_dtstamp_is_an_aware_utc_moment() -> None:
    stamp = only_event(session_calendar(SESSION, SERIES))["DTSTAMP"].dt
    assert stamp.tzinfo is not None and stamp.utcoffset().total_seconds() == 0


def test_a_naive_stamp_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        session_calendar(SESSION, SERIES, stamp=datetime(2026, 3, 1, 9, 30))  # noqa: DTZ001


def weekly(count: int) -> list[Session]:
    return [dataclasses.replace(SESSION, id=20 + week, uid=f"session-{20 + week}@spoke",
                                starts_at=SESSION.starts_at + timedelta(weeks=week),
                                ends_at=SESSION.ends_at + timedelta(weeks=week), sequence=week)
            for week in range(count)]


def test_a_series_file_holds_every_session_and_is_named_after_the_series() -> None:
    sessions = weekly(4)
    sessions[2] = dataclasses.replace(sessions[2], state="cancelled")
    calendar, events = parsed(series_calendar(SERIES, sessions, stamp=STAMP))
    assert str(calendar["X-WR-CALNAME"]) == "Pain ECHO"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert [str(event["UID"]) for event in events] == [
        "session-20@spoke", "session-21@spoke", "session-22@spoke", "session-23@spoke"]
    assert [str(event["STATUS"]) for event in events] == [
        "CONFIRMED", "CONFIRMED", "CANCELLED", "CONFIRMED"]
    assert [event["DTSTART"].dt.astimezone(UTC) for event in events] == [
        session.starts_at for session in sessions]
    assert [event["DTSTART"].dt.date() for event in events] == [
        date(2026, 3, 30), date(2026, 4, 6), date(2026, 4, 13), date(2026, 4, 20)]
    assert [zone.tz_name for zone in calendar.timezones] == ["Europe/London"]


def test_a_series_across_zones_defines_each_zone_once() -> None:
    london, toronto, utc = weekly(3)
    toronto = dataclasses.replace(toronto, time_zone="America/Toronto")
    utc = dataclasses.replace(utc, time_zone="UTC")
    calendar, events = parsed(series_calendar(SERIES, [london, toronto, utc], stamp=STAMP))
    assert len(events) == 3
    assert sorted(zone.tz_name for zone in calendar.timezones) == [
        "America/Toronto", "Europe/London"]
    assert wall_clock(events[1]["DTSTART"].dt) == "2026-04-06 08:00"  # EDT


def test_an_empty_series_file_is_still_a_calendar() -> None:
    calendar, events = parsed(series_calendar(SERIES, [], stamp=STAMP))
    assert events == []
    assert str(calendar["X-WR-CALNAME"]) == "Pain ECHO"


def test_every_calendar_label_is_in_both_catalogues() -> None:
    source = (Path(__file__).resolve().parents[1] / "assistant" / "calendar.py").read_text()
    used = set(re.findall(r'"(calendar\.[a-z_]+)"', source))
    assert used == {"calendar.expert", "calendar.materials", "calendar.join"}
    assert used <= catalogue("en").keys()
    assert used <= catalogue("fr").keys()
