"""When each reminder for one session goes to one person, in that person's own zone.

The rules are DOMAIN.md §4: the day-before (and week-before) message goes at the reader's
reminder hour on the last work day before the session; quiet hours and work days hold back
everything except the 1-hour and starting-now messages for a session the person is going
to; a reminder whose moment has passed is dropped, never sent late. Pure: the caller hands
in the session, the zone and the preferences, and stores the result in the outbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.model import REMINDER_KINDS, ReminderPrefs

_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# "starting now" goes 10 minutes before, and a held-back message closer than that is noise.
_LEAD_OF_NOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Moment:
    kind: str  # "week" | "day" | "hour" | "now"
    due_at: datetime  # aware, UTC
    expires_at: datetime  # aware, UTC: after this the message is no longer useful and is dropped


def reminder_moments(starts_at: datetime, ends_at: datetime, zone: str, prefs: ReminderPrefs,
                     going: bool) -> list[Moment]:
    """The reminders `prefs` asks for, sorted by `due_at`; those that cannot be sent in
    time are left out rather than sent late."""
    starts_at, ends_at = _utc(starts_at, "starts_at"), _utc(ends_at, "ends_at")
    if ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")
    tz = _zone(zone)
    _check(prefs)
    session_day = starts_at.astimezone(tz).date()
    moments: list[Moment] = []
    for kind in REMINDER_KINDS:  # the catalogue's order breaks ties in due_at
        if kind not in prefs.kinds:
            continue
        due: datetime | None
        if kind == "week":
            due = _at_reminder_hour(_last_work_day(session_day - timedelta(days=7), prefs), tz, prefs)
            expires = starts_at - timedelta(days=1)
        elif kind == "day":
            due = _at_reminder_hour(_last_work_day(session_day - timedelta(days=1), prefs), tz, prefs)
            expires = starts_at - timedelta(hours=1)
        else:
            lead = timedelta(hours=1) if kind == "hour" else _LEAD_OF_NOW
            expires = starts_at if kind == "hour" else ends_at
            # Someone who is going needs the link whatever the hour; anyone else can wait.
            due = starts_at - lead if going else _held_back(starts_at - lead, starts_at, tz, prefs)
        if due is not None and due < expires:
            moments.append(Moment(kind, due, expires))
    return sorted(moments, key=lambda moment: moment.due_at)


def in_quiet_hours(moment: datetime, zone: str, prefs: ReminderPrefs) -> bool:
    """Whether `moment` falls in the person's quiet hours, read on their own wall clock."""
    local = _utc(moment, "moment").astimezone(_zone(zone))
    return _is_quiet(local.time(), prefs)


def after_quiet_hours(moment: datetime, zone: str, prefs: ReminderPrefs) -> datetime:
    """`moment`, or when the reader's quiet hours end if it falls inside them (UTC)."""
    tz = _zone(zone)
    local = _utc(moment, "moment").astimezone(tz)
    if not _is_quiet(local.time(), prefs):
        return _utc(moment, "moment")
    quiet_end = _hh_mm(prefs.quiet_end)
    day = local.date() + timedelta(days=int(local.time() >= quiet_end))
    return _wall(day, quiet_end, tz)


def _held_back(due: datetime, starts_at: datetime, tz: ZoneInfo,
               prefs: ReminderPrefs) -> datetime | None:
    """An hour or starting-now message for someone not (yet) going: wait for quiet hours to
    end, and stay silent on their days off."""
    local = due.astimezone(tz)
    if _is_quiet(local.time(), prefs):
        quiet_end = _hh_mm(prefs.quiet_end)
        # In a window that wraps midnight, the evening part ends tomorrow morning.
        day = local.date() + timedelta(days=int(local.time() >= quiet_end))
        due = _wall(day, quiet_end, tz)
        if due > starts_at - _LEAD_OF_NOW:
            return None
    if prefs.work_days and due.astimezone(tz).weekday() not in prefs.work_days:
        return None
    return due


def _at_reminder_hour(day: date, tz: ZoneInfo, prefs: ReminderPrefs) -> datetime:
    at = _hh_mm(prefs.reminder_hour)
    if _is_quiet(at, prefs):
        # Held until the window opens that same day, which keeps it on the chosen work day
        # (earlier in the day if the reminder hour sits in the evening part of the quiet hours).
        at = _hh_mm(prefs.quiet_end)
    return _wall(day, at, tz)


def _last_work_day(on_or_before: date, prefs: ReminderPrefs) -> date:
    if not prefs.work_days:  # no work days: every day will do
        return on_or_before
    day = on_or_before
    while day.weekday() not in prefs.work_days:
        day -= timedelta(days=1)
    return day


def _is_quiet(at: time, prefs: ReminderPrefs) -> bool:
    start, end = _hh_mm(prefs.quiet_start), _hh_mm(prefs.quiet_end)
    if start <= end:
        return start <= at < end  # equal start and end: no quiet hours at all
    return at >= start or at < end


def _wall(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time as a real UTC instant. fold=0 takes the first of two 01:30s
    when the clocks go back, and reads a time skipped when they go forward with the offset
    in force before, so 01:30 on a spring-forward night lands at 02:30 summer time."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _check(prefs: ReminderPrefs) -> None:
    unknown = set(prefs.kinds) - set(REMINDER_KINDS)
    if unknown:
        raise ValueError(f"unknown reminder kinds: {sorted(unknown)}")
    if any(day not in range(7) for day in prefs.work_days):
        raise ValueError(f"work days are 0 (Monday) to 6, not {prefs.work_days}")
    for text in (prefs.quiet_start, prefs.quiet_end, prefs.reminder_hour):
        _hh_mm(text)


def _hh_mm(text: str) -> time:
    match = _HH_MM.fullmatch(text)
    if match is None:
        raise ValueError(f"expected a time as HH:MM, got {text!r}")
    return time(int(match[1]), int(match[2]))


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error
