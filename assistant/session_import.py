"""Sessions from a file, for `spoke admin session import FILE`: a spreadsheet saved as CSV,
or an .ics file exported from a calendar.

Pure: bytes in, rows and refusals out, never an exception for what a file holds. Nothing is
stored here: the command shows each refusal as "line N: <message>" and imports nothing while
there are any, unless told to skip the bad lines. A refusal is a catalogue id with arguments
(`imports.po`), like the parsers'. Line 0 means the file as a whole.

CSV times are wall-clock times in the row's zone (`time_zone`, else the default): a time the
clocks skip or pass twice is refused rather than guessed. In an .ics file they follow RFC 5545
(an event's TZID, UTC, or floating times read in the default zone).
"""

from __future__ import annotations

import csv
import functools
import io
import re
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlsplit

from icalendar import Calendar, Component, vDDDTypes

MIN_MINUTES, MAX_MINUTES = 10, 480
REQUIRED_COLUMNS = ("series", "date", "start")
OPTIONAL_COLUMNS = ("end", "duration", "time_zone", "topic", "expert", "agenda", "join_url",
                    "materials")
_ALIASES = {"timezone": "time_zone", "zone": "time_zone", "tz": "time_zone",
            "start_time": "start", "end_time": "end", "duration_minutes": "duration",
            "join_link": "join_url", "link": "join_url"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::00)?")  # spreadsheets often add ":00" seconds
_EXCEL_SEPARATOR = re.compile(r"sep=(.)")  # Excel's optional first line, "sep=;"


@dataclass(frozen=True)
class SessionRow:
    line: int  # 1-based line in a CSV file where the row starts, or the event's number in an .ics
    series: str  # the series name from a CSV file; "" from an .ics file (the caller supplies it)
    starts_at: datetime  # aware, UTC
    ends_at: datetime  # aware, UTC
    time_zone: str
    topic: str
    expert: str
    agenda: str
    join_url: str
    materials: tuple[str, ...]
    uid: str  # the .ics UID, else ""


@dataclass(frozen=True)
class RowError:
    line: int  # as SessionRow.line; 0 for the whole file
    message: str  # a catalogue id, "import.bad_time"
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportResult:
    rows: tuple[SessionRow, ...]
    errors: tuple[RowError, ...]


def read_sessions(content: bytes, filename: str, *, default_zone: str = "UTC",
                  default_duration: int = 60) -> ImportResult:
    zone = _zone_name(default_zone)
    if zone is None:
        return _refused(0, "import.unknown_zone", value=default_zone)
    if not MIN_MINUTES <= default_duration <= MAX_MINUTES:
        return _refused(0, "import.bad_duration", value=str(default_duration))
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" is UTF-16
        content = content.decode("utf-16", errors="replace").encode()
    if b"\x00" in content:  # no text file holds NUL: an image, a spreadsheet, an archive
        return _refused(0, "import.unrecognised")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return _refused(content.count(b"\n", 0, error.start) + 1, "import.not_utf8")
    if not text.strip():
        return _refused(0, "import.empty")
    if text.lstrip().upper().startswith("BEGIN:VCALENDAR") or filename.lower().endswith(".ics"):
        return _read_ics(text, zone, default_duration)
    return _read_csv(text, zone, default_duration)


def _refused(line: int, message: str, **args: str) -> ImportResult:
    return ImportResult(rows=(), errors=(RowError(line, message, args),))


class _Refused(Exception):
    def __init__(self, message: str, **args: str) -> None:
        super().__init__(message)
        self.message, self.details = message, args


# --- CSV -------------------------------------------------------------------------------------

def _read_csv(text: str, default_zone: str, default_duration: int) -> ImportResult:
    first_line = next(line for line in text.splitlines() if line.strip())
    excel = _EXCEL_SEPARATOR.fullmatch(first_line.strip())
    # Header names hold no delimiters, so the header line tells (a tie means a comma).
    delimiter = excel[1] if excel else max((",", ";", "\t"), key=first_line.count)
    skip_separator_line = excel is not None
    columns: list[str] | None = None
    rows: list[SessionRow] = []
    errors: list[RowError] = []
    reader = _Rows(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), errors)
    previous = 0
    for cells in reader:
        line, previous = previous + 1, reader.line_num  # a quoted cell may span lines
        if not any(cell.strip() for cell in cells):
            continue
        if skip_separator_line:
            skip_separator_line = False
            continue
        if columns is None:
            columns = [_column(cell) for cell in cells]
            header_errors = _header_errors(columns, line)
            if header_errors:
                return ImportResult(rows=(), errors=header_errors)
            continue
        if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns):]):
            errors.append(RowError(line, "import.extra_cells"))
            continue
        values = {name: cell.strip() for name, cell in zip(columns, cells, strict=False)}
        found = _csv_session(values, line, default_zone, default_duration)
        if isinstance(found, SessionRow):
            rows.append(found)
        else:
            errors.extend(found)
    if not rows and not errors:
        return _refused(0, "import.no_sessions")
    return ImportResult(rows=tuple(rows), errors=tuple(errors))


class _Rows:
    """csv.reader's rows until one it cannot read: a cell over its 128 KiB limit (usually an
    unclosed quote swallowing the rest of the file) ends the file with a row error there."""

    def __init__(self, reader: Any, errors: list[RowError]) -> None:
        self._reader, self._errors = reader, errors

    @property
    def line_num(self) -> int:
        return int(self._reader.line_num)

    def __iter__(self) -> Iterator[list[str]]:
        read = 0
        try:
            for cells in self._reader:
                read = self._reader.line_num
                yield cells
        except csv.Error:
            self._errors.append(RowError(read + 1, "import.unrecognised"))


def _column(name: str) -> str:
    key = re.sub(r"[\s-]+", "_", name.strip().casefold())
    return _ALIASES.get(key, key)


def _header_errors(columns: Sequence[str], line: int) -> tuple[RowError, ...]:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:  # also what a file that is no table at all gets: one refusal, not dozens
        return (RowError(line, "import.missing_columns", {"columns": ", ".join(missing)}),)
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    errors = []
    for index, name in enumerate(columns):
        if name not in known:
            # A misspelt "time_zone" or "end" would silently change every session's time.
            errors.append(RowError(line, "import.unknown_column",
                                   {"column": name, "known": ", ".join(known)}))
        elif name in columns[:index]:
            errors.append(RowError(line, "import.duplicate_column", {"column": name}))
    return tuple(errors)


def _csv_session(values: Mapping[str, str], line: int, default_zone: str,
                 default_duration: int) -> SessionRow | list[RowError]:
    errors: list[RowError] = []

    def refuse(message: str, **args: str) -> None:
        errors.append(RowError(line, message, args))

    for column in REQUIRED_COLUMNS:
        if not values.get(column):
            refuse("import.empty_cell", column=column)
    day = _date(values.get("date", ""))
    if values.get("date") and day is None:
        refuse("import.bad_date", value=values["date"])
    start, end = (_time(values.get(column, "")) for column in ("start", "end"))
    for column, clock in (("start", start), ("end", end)):
        if values.get(column) and clock is None:
            refuse("import.bad_time", column=column, value=values[column])
    zone = _zone_name(values.get("time_zone") or default_zone)
    if zone is None:
        refuse("import.unknown_zone", value=values.get("time_zone", ""))
    duration = default_duration
    if values.get("duration"):
        text = values["duration"]
        # Five digits at most: int() refuses a string of over 4,300 digits (ValueError).
        duration = int(text) if text.isascii() and text.isdigit() and len(text) <= 5 else 0
        if not MIN_MINUTES <= duration <= MAX_MINUTES:
            refuse("import.bad_duration", value=text)
    join_url = values.get("join_url", "")
    materials = [link for link in re.split(r"[\s|]+", values.get("materials", "")) if link]
    for column, link in (("join_url", join_url), *(("materials", link) for link in materials)):
        if link and not _is_https(link):
            refuse("import.not_https", column=column, value=link)
    if errors or day is None or start is None or zone is None:
        return errors

    if end is not None and end <= start:
        refuse("import.end_before_start", start=values["start"], end=values["end"])
        return errors
    try:
        starts_at = _utc(day, start, zone)
        ends_at = (_utc(day, end, zone) if end is not None
                   else starts_at + timedelta(minutes=duration))
    except _Refused as refusal:
        refuse(refusal.message, **refusal.details)
        return errors
    except OverflowError:  # 9999-12-31 in Toronto, 0001-01-01 in Tokyo: UTC cannot hold them
        refuse("import.bad_date", value=values["date"])
        return errors
    minutes = int((ends_at - starts_at) / timedelta(minutes=1))
    if end is not None and values.get("duration") and minutes != duration:
        refuse("import.end_and_duration", end=values["end"], duration=values["duration"])
    elif not MIN_MINUTES <= minutes <= MAX_MINUTES:
        refuse("import.bad_duration", value=str(minutes))
    if errors:
        return errors
    return SessionRow(line=line, series=values["series"], starts_at=starts_at, ends_at=ends_at,
                      time_zone=zone, topic=values.get("topic", ""),
                      expert=values.get("expert", ""), agenda=values.get("agenda", ""),
                      join_url=join_url, materials=tuple(materials),
                      uid="")


def _date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        return None


def _time(text: str) -> time | None:
    match = _TIME.fullmatch(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return time(int(match[1]), int(match[2]))


def _utc(day: date, clock: time, zone_name: str) -> datetime:
    """The UTC moment of a wall-clock time; refused when the clocks skip it or pass it twice
    that day, rather than guessed an hour out."""
    zone = zoneinfo.ZoneInfo(zone_name)
    local = datetime.combine(day, clock, tzinfo=zone)
    shown = f"{day.isoformat()} {clock:%H:%M}"
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise _Refused("import.nonexistent_time", value=shown, zone=zone_name)
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        raise _Refused("import.ambiguous_time", value=shown, zone=zone_name)
    return local.astimezone(UTC)


# --- iCalendar -------------------------------------------------------------------------------

def _read_ics(text: str, default_zone: str, default_duration: int) -> ImportResult:
    try:
        events = [event for calendar in Calendar.from_ical(text, multiple=True)
                  for event in calendar.walk("VEVENT")]
    except Exception:  # icalendar's parse errors vary; a bad file is an answer, not a crash
        return _refused(0, "import.not_calendar")
    if not events:
        return _refused(0, "import.no_sessions")
    rows: list[SessionRow] = []
    errors: list[RowError] = []
    for number, event in enumerate(events, start=1):
        try:
            if _text(event, "STATUS").upper() == "CANCELLED":
                continue
            rows.append(_ics_session(event, number, default_zone, default_duration))
        except _Refused as refusal:
            errors.append(RowError(number, refusal.message, refusal.details))
        except Exception:  # a malformed event costs its own line, not the whole import
            errors.append(RowError(number, "import.unreadable_event"))
    return ImportResult(rows=tuple(rows), errors=tuple(errors))


def _ics_session(event: Component, number: int, default_zone: str,
                 default_duration: int) -> SessionRow:
    if any(name in event for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
        raise _Refused("import.recurring")  # expanding them is the calendar's job, not ours
    if not isinstance(event.get("DTSTART"), vDDDTypes):  # missing, or unreadable (vBroken)
        raise _Refused("import.no_start")
    starts_at, zone = _moment(event["DTSTART"], default_zone)
    if "DTEND" in event:
        ends_at, _ = _moment(event["DTEND"], default_zone)
    elif "DURATION" in event:
        duration = event["DURATION"]
        if not isinstance(duration, vDDDTypes) or not isinstance(duration.dt, timedelta):
            raise _Refused("import.unreadable_event")
        ends_at = starts_at + duration.dt
    else:
        ends_at = starts_at + timedelta(minutes=default_duration)
    if ends_at <= starts_at:
        raise _Refused("import.end_before_start", start=starts_at.isoformat(),
                       end=ends_at.isoformat())
    minutes = int((ends_at - starts_at) / timedelta(minutes=1))
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise _Refused("import.bad_duration", value=str(minutes))
    links = (_text(event, name) for name in ("URL", "LOCATION"))
    return SessionRow(line=number, series="", starts_at=starts_at, ends_at=ends_at,
                      time_zone=zone, topic=_text(event, "SUMMARY"), expert="",
                      agenda=_text(event, "DESCRIPTION"),
                      join_url=next((link for link in links if _is_https(link)), ""),
                      materials=(), uid=_text(event, "UID"))


def _moment(prop: object, default_zone: str) -> tuple[datetime, str]:
    """A DTSTART or DTEND as a UTC moment and the zone it was written in."""
    if not isinstance(prop, vDDDTypes):  # given twice, or broken (vBroken)
        raise _Refused("import.unreadable_event")
    value, tzid = prop.dt, prop.params.get("TZID")
    if not isinstance(value, datetime):
        raise _Refused("import.all_day" if isinstance(value, date) else "import.unreadable_event")
    if value.tzinfo is None:
        if tzid:  # icalendar leaves a TZID it cannot resolve floating: not ours to guess
            raise _Refused("import.unknown_zone", value=str(tzid))
        return value.replace(tzinfo=zoneinfo.ZoneInfo(default_zone)).astimezone(UTC), default_zone
    return value.astimezone(UTC), _written_zone(value.tzinfo, tzid, default_zone)


def _written_zone(zone: tzinfo, tzid: str | None, default_zone: str) -> str:
    # icalendar maps Outlook's "GMT Standard Time" to a ZoneInfo; a zone defined only by the
    # file's VTIMEZONE still gives the right moments but has no name we can store.
    if not tzid:
        return default_zone  # a UTC time ("...Z")
    return _zone_name(getattr(zone, "key", "") or "") or _zone_name(tzid) or default_zone


def _text(component: Component, name: str) -> str:
    value = component.get(name)
    if isinstance(value, list):  # a property given twice
        value = value[0] if value else None
    return "" if value is None else str(value).strip()


# --- shared ----------------------------------------------------------------------------------

@functools.cache
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def _zone_name(text: str) -> str | None:
    return _zones().get(text.strip().casefold())


def _is_https(link: str) -> bool:
    if any(character.isspace() for character in link):
        return False
    try:
        parts = urlsplit(link)
        return parts.scheme.lower() == "https" and bool(parts.hostname)
    except ValueError:  # "https://[::1" and the like
        return False
