""".ics files for sessions: one to add a session to a calendar (or take it off again), one
for a whole series.

Built with icalendar, never by hand: it escapes commas, semicolons and newlines, folds long
lines and writes CRLF. Times go out in the hub's zone (`DTSTART;TZID=Europe/London`) with a
VTIMEZONE that icalendar derives from zoneinfo, so a calendar shows 13:00 London time even
if it knows no zone database; converted back they are the stored UTC instants.

UID and SEQUENCE come from the session: the UID stays the same for the session's life and
the SEQUENCE grows with every change, so a calendar replaces its copy instead of adding a
second one, and a cancellation (STATUS:CANCELLED, METHOD:CANCEL) removes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from assistant.clock import SystemClock
from assistant.i18n import normalise_language, translate
from assistant.model import Series, Session

PRODID = "-//Spoke//ECHO sessions//EN"


def session_calendar(session: Session, series: Series, *, cancelled: bool = False,
                     stamp: datetime | None = None, language: str = "en") -> bytes:
    """One session, to add to a calendar; with `cancelled` (or a cancelled session), the
    message that takes it off again."""
    withdrawn = cancelled or session.state == "cancelled"
    calendar = _calendar(method="CANCEL" if withdrawn else "PUBLISH")
    calendar.add_component(_event(session, series, _stamp(stamp), language, cancelled=withdrawn))
    return _finish(calendar, [session])


def series_calendar(series: Series, sessions: Sequence[Session], *,
                    stamp: datetime | None = None, language: str = "en") -> bytes:
    """Every given session of a series in one file named after the series. Cancelled ones
    stay in, marked cancelled, so a calendar that imported them earlier learns of it."""
    calendar = _calendar(method="PUBLISH")
    # NAME is RFC 7986; X-WR-CALNAME is what most calendars read. icalendar 7 writes both
    # for `calendar_name`, 6 only NAME.
    # One line: icalendar writes these two unescaped, and a line break in a title raised.
    name = " ".join(series.title.split())
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    moment = _stamp(stamp)
    for session in sessions:
        calendar.add_component(_event(session, series, moment, language,
                                      cancelled=session.state == "cancelled"))
    return _finish(calendar, sessions)


def _calendar(method: str) -> Calendar:
    # Calendar.new() would add a random UID; these files are otherwise deterministic.
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    return calendar


def _event(session: Session, series: Series, stamp: datetime, language: str, *,
           cancelled: bool) -> Event:
    zone = ZoneInfo(session.time_zone)
    join_url = session.join_url or series.join_url
    event = Event()
    event.add("uid", session.uid)
    event.add("sequence", session.sequence)
    event.add("dtstamp", stamp)
    # Aware datetimes in a zoneinfo zone come out as DTSTART;TZID=<zone>:<wall-clock time>.
    event.add("dtstart", session.starts_at.astimezone(zone))
    event.add("dtend", session.ends_at.astimezone(zone))
    event.add("summary", f"{series.title}: {session.topic}" if session.topic else series.title)
    description = _description(session, join_url, normalise_language(language))
    if description:
        event.add("description", description)
    if join_url:
        event.add("url", join_url)
        event.add("location", join_url)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _description(session: Session, join_url: str, language: str) -> str:
    parts: list[str] = []
    if session.expert:
        parts.append(translate("calendar.expert", language, name=session.expert))
    if session.agenda:
        parts.append(session.agenda)
    if session.materials:
        parts.append("\n".join((translate("calendar.materials", language), *session.materials)))
    if join_url:
        parts.append(translate("calendar.join", language, url=join_url))
    return "\n\n".join(parts)


def _stamp(stamp: datetime | None) -> datetime:
    if stamp is None:
        return SystemClock().now()
    if stamp.tzinfo is None:
        raise ValueError("DTSTAMP needs an aware time")
    return stamp.astimezone(UTC)


def _finish(calendar: Calendar, sessions: Sequence[Session]) -> bytes:
    # A VTIMEZONE lists the zone's changes between two dates: here the years the sessions
    # span, with one either side (local and UTC years differ around New Year), rather than
    # icalendar's default of 1970 to 2038.
    if sessions:
        first = min(session.starts_at for session in sessions).year
        last = max(session.ends_at for session in sessions).year
        calendar.add_missing_timezones(first_date=date(first - 1, 1, 1),
                                       last_date=date(last + 2, 1, 1))
    return bytes(calendar.to_ical())
