"""Zoom and Microsoft Teams attendance reports, for `spoke admin attendance import`.

Pure: bytes in, attendees and row errors out, never an exception for what a file holds and
nothing stored. The format is told from the file itself:

- Zoom's participants export: a table `Name (Original Name)`, `User Email`, `Join Time`,
  `Leave Time`, ... (one row per join), optionally below the meeting summary and a blank line.
- Teams' attendance report: UTF-16 with a BOM and TABs as downloaded (UTF-8 and commas are
  read too), in sections `1. Summary`, `2. Participants` and `3. In-Meeting Activities`.

Times without an offset are wall-clock times in the zone the caller gives (Zoom writes the
account's zone, Teams the downloader's). Header names are read whatever their case and
spacing; cells are not guessed at: a time in another layout is a row error.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from assistant.parsers._folding import fold

Interval = tuple[datetime, datetime]
RowError = tuple[int, str]  # (line, reason); line 0 is the file as a whole

# US order, as both products write it whatever the account's country; ISO is read too.
_TIME_LAYOUTS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
                 "%m/%d/%y, %I:%M:%S %p", "%m/%d/%Y, %I:%M:%S %p", "%m/%d/%y, %H:%M:%S",
                 "%m/%d/%Y, %H:%M:%S")
_SECTION = re.compile(r"(\d)\.\s*(summary|participants|in-meeting activities)", re.IGNORECASE)
# At most six digits a number: int() refuses strings of over 4,300 digits, and a duration
# must fit a timedelta.
_DURATION = re.compile(r"(?:(\d{1,6})\s*h)?\s*(?:(\d{1,6})\s*m(?:in)?)?\s*(?:(\d{1,6})\s*s)?",
                       re.IGNORECASE)
_CLOCK_DURATION = re.compile(r"(\d{1,6}):(\d{2}):(\d{2})")
_TRAILING_NOTE = re.compile(r"\s*\([^()]*\)\s*$")  # "(Original Name)", "(Guest)", "(External)"
_ZOOM_NAME = ("name (original name)", "name", "participant")
_EMAIL = ("user email", "email")


@dataclass(frozen=True)
class Attendee:
    key: str  # the lower-cased e-mail, else the folded name
    name: str  # as the report wrote it
    email: str  # as the report wrote it; "" when it gave none
    intervals: tuple[Interval, ...]  # UTC, merged, in order
    lines: tuple[int, ...]  # the rows it came from

    @property
    def match_name(self) -> str:
        """The name to look people up by, without a note such as "(Guest)"."""
        return _TRAILING_NOTE.sub("", self.name) or self.name

    def minutes(self, within: Interval | None = None) -> int:
        return minutes_of(self.intervals, within)


@dataclass(frozen=True)
class Report:
    source: str  # "zoom" | "teams"; "" when the file is neither
    attendees: tuple[Attendee, ...]
    errors: tuple[RowError, ...]


@dataclass(frozen=True)
class _Row:
    line: int
    name: str
    email: str
    interval: Interval


def read_report(content: bytes, zone: str) -> Report:
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return _refused(f"unknown time zone {zone!r}")
    text = _text(content)
    if isinstance(text, tuple):
        return Report("", (), (text,))
    rows = _rows(text)
    if isinstance(rows, tuple):
        return Report("", (), (rows,))
    if any(_SECTION.fullmatch(cells[0].strip()) for _, cells in rows if cells):
        return _teams(rows, tz)
    for at, (_, cells) in enumerate(rows):
        names = [_header(cell) for cell in cells]
        if "first join" in names or ("role" in names and "join time" in names):
            return _teams(rows, tz)
        if "join time" in names and "leave time" in names:
            return _zoom(rows, at, names, tz)
        if "total duration (minutes)" in names:
            return _refused("this Zoom report has no join and leave times: export it again "
                            "without \"Show unique users\"", "zoom")
        if "user action" in names and "timestamp" in names:
            return _refused("this is Teams' older report (Joined/Left rows): download the "
                            "attendance report again from the meeting's Attendance tab", "teams")
    return _refused("not a Zoom participants report or a Teams attendance report")


def merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Overlapping or touching intervals become one: a rejoin's overlap counts once."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def minutes_of(intervals: Iterable[Interval], within: Interval | None = None) -> int:
    """Whole minutes in the union of the intervals (clipped to `within`), to the nearest."""
    seconds = 0.0
    for start, end in merge(intervals):
        if within is not None:
            start, end = max(start, within[0]), min(end, within[1])
        seconds += max((end - start).total_seconds(), 0)
    return int(seconds + 30) // 60


# --- the two formats -------------------------------------------------------------------------

def _zoom(rows: list[tuple[int, list[str]]], header_at: int, names: list[str],
          tz: zoneinfo.ZoneInfo) -> Report:
    above = [(line, cells) for line, cells in rows[:header_at] if cells]
    if above and _header(above[0][1][0]) not in ("meeting id", "topic"):
        return _refused("the rows above the participant table are not Zoom's meeting summary",
                        "zoom", above[0][0])
    name, email = _first(names, _ZOOM_NAME), _first(names, _EMAIL)
    if name is None:
        return _refused("the participant table has no Name column", "zoom", rows[header_at][0])
    waiting = names.index("in waiting room") if "in waiting room" in names else None
    found: list[_Row] = []
    errors: list[RowError] = []
    for line, cells in rows[header_at + 1:]:
        if not cells:
            continue
        if len(cells) > len(names) and any(cell.strip() for cell in cells[len(names):]):
            errors.append((line, "more cells than the header has"))
            continue
        values = [*cells, *[""] * (len(names) - len(cells))]
        if waiting is not None and values[waiting].strip().casefold() == "yes":
            continue  # time in the waiting room is not time in the session
        row = _row(line, values[name], values[email] if email is not None else "",
                   values[names.index("join time")], values[names.index("leave time")], tz)
        _sort(row, found, errors)
    return _report("zoom", found, errors)


def _teams(rows: list[tuple[int, list[str]]], tz: zoneinfo.ZoneInfo) -> Report:
    """Section 3 has every join; without it, section 2's first join and time in the meeting
    (where the gaps fell is unknown, so the time is counted from the first join)."""
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current = "table"  # a file holding one section's table alone
    for line, cells in rows:
        marker = _SECTION.fullmatch(cells[0].strip()) if cells and not any(cells[1:]) else None
        if marker:
            current = marker[2].casefold()
        elif cells:
            sections.setdefault(current, []).append((line, cells))
    tables = [sections.get(name, []) for name in ("in-meeting activities", "participants", "table")]
    for table in tables:
        if not table:
            continue
        names = [_header(cell) for cell in table[0][1]]
        if "join time" in names and "leave time" in names:
            return _teams_table(table, names, tz, spans=False)
        if "first join" in names and "last leave" in names:
            return _teams_table(table, names, tz, spans=True)
    return _refused("this Teams report has no participant table", "teams")


def _teams_table(table: list[tuple[int, list[str]]], names: list[str], tz: zoneinfo.ZoneInfo,
                 spans: bool) -> Report:
    column = {key: _first(names, options) for key, options in (
        ("name", ("name", "full name")), ("email", ("email",)),
        ("join", ("first join", "join time")), ("leave", ("last leave", "leave time")),
        ("duration", ("in-meeting duration", "duration")))}
    if column["name"] is None:
        return _refused("the participant table has no Name column", "teams", table[0][0])
    found: list[_Row] = []
    errors: list[RowError] = []
    for line, cells in table[1:]:
        if len(cells) > len(names) and any(cell.strip() for cell in cells[len(names):]):
            errors.append((line, "more cells than the header has"))
            continue
        values = [*cells, *[""] * (len(names) - len(cells))]

        def cell(key: str, values: list[str] = values) -> str:
            at = column[key]
            return values[at] if at is not None else ""

        row = _row(line, cell("name"), cell("email"), cell("join"), cell("leave"), tz)
        if isinstance(row, _Row) and spans:
            seconds = _seconds(cell("duration"))
            if seconds is None:
                row = (line, f"cannot read the time in the meeting {cell('duration').strip()!r} "
                             "(expected like 1h 5m 3s)")
            else:
                start, end = row.interval
                if seconds < (end - start).total_seconds():  # never past the last leave:
                    end = start + timedelta(seconds=seconds)  # no overflow near year 9999
                row = _Row(line, row.name, row.email, (start, end))
        _sort(row, found, errors)
    return _report("teams", found, errors)


# --- shared ----------------------------------------------------------------------------------

def _row(line: int, name: str, email: str, joined: str, left: str,
         tz: zoneinfo.ZoneInfo) -> _Row | RowError:
    name, email = " ".join(name.split()), email.strip()
    if not name and not email:
        return line, "no name and no e-mail"
    if email and ("@" not in email or " " in email):
        return line, f"{email!r} is not an e-mail address"
    start, end = _moment(joined, tz), _moment(left, tz)
    if isinstance(start, str):
        return line, f"cannot read the join time {joined.strip()!r} ({start})"
    if isinstance(end, str):
        return line, f"cannot read the leave time {left.strip()!r} ({end})"
    if end < start:
        return line, "leaves before joining"
    return _Row(line, name, email, (start, end))


def _sort(row: _Row | RowError, found: list[_Row], errors: list[RowError]) -> None:
    if isinstance(row, _Row):
        found.append(row)
    else:
        errors.append(row)


def _moment(text: str, tz: zoneinfo.ZoneInfo) -> datetime | str:
    """The UTC moment, or why not. Windows puts a narrow no-break space before "PM"."""
    cleaned = " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())
    if not cleaned:
        return "it is empty"
    parsed: datetime | None = None
    for layout in _TIME_LAYOUTS:
        try:
            parsed = datetime.strptime(cleaned, layout)  # noqa: DTZ007 (zone attached below)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(cleaned)
        except ValueError:
            return "expected like 06/12/2025 12:58:03 PM"
    try:
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        local = parsed.replace(tzinfo=tz)
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed:
            return "the clocks skipped this time that day"
    except OverflowError:  # 31/12/9999 in Toronto, 01/01/0001 in Tokyo: UTC cannot hold them
        return "the date is out of range"
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        return "the clocks passed this time twice that day: give it with its UTC offset"
    return local.astimezone(UTC)


def _seconds(text: str) -> int | None:
    """"1h 5m 3s", "58m 12s", "45s" or "1:05:03"."""
    cleaned = text.strip()
    clock = _CLOCK_DURATION.fullmatch(cleaned)
    if clock:
        return int(clock[1]) * 3600 + int(clock[2]) * 60 + int(clock[3])
    parts = _DURATION.fullmatch(cleaned)
    if not cleaned or parts is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def _report(source: str, rows: list[_Row], errors: list[RowError]) -> Report:
    """One attendee per e-mail (else per name). A rejoin without an e-mail (from a phone, say)
    joins the one attendee with that e-mail and the same name."""
    groups: dict[str, list[_Row]] = {}
    for row in rows:
        groups.setdefault(row.email.lower() or _name_key(row.name), []).append(row)
    by_name: dict[str, list[str]] = {}
    for key, group in groups.items():
        if "@" in key:
            by_name.setdefault(_name_key(group[0].name), []).append(key)
    for key in [k for k in groups if "@" not in k]:
        owners = by_name.get(key, [])
        if len(owners) == 1:
            groups[owners[0]].extend(groups.pop(key))
    attendees = []
    for key, group in groups.items():
        group.sort(key=lambda row: row.line)
        attendees.append(Attendee(
            key=key, name=group[0].name, email=next((r.email for r in group if r.email), ""),
            intervals=merge(row.interval for row in group),
            lines=tuple(row.line for row in group)))
    attendees.sort(key=lambda attendee: attendee.lines[0])
    if not attendees and not errors:
        errors.append((0, "the report lists nobody"))
    return Report(source, tuple(attendees), tuple(sorted(errors)))


def _name_key(name: str) -> str:
    return fold(_TRAILING_NOTE.sub("", name) or name)


def _text(content: bytes) -> str | RowError:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):  # Teams' download: UTF-16 with a BOM
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError:
            return 0, "the file says UTF-16 but is not"
    if b"\x00" in content:  # no text file holds NUL: a spreadsheet, an image, an archive
        return 0, "not a text file (save the report as CSV)"
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return content.count(b"\n", 0, error.start) + 1, "not UTF-8 text"
    return text if text.strip() else (0, "the file is empty")


def _rows(text: str) -> list[tuple[int, list[str]]] | RowError:
    """(line, cells) for every row, [] for a blank one. TABs if the file has any, else commas
    (a Teams time holds a comma, so a comma file quotes it)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if "\t" in text else ",")
    rows: list[tuple[int, list[str]]] = []
    previous = 0
    try:
        for cells in reader:
            line, previous = previous + 1, reader.line_num  # a quoted cell may span lines
            rows.append((line, cells if any(cell.strip() for cell in cells) else []))
    except csv.Error:  # a cell over csv's 128 KiB limit: usually a quote left open
        return previous + 1, "a cell is longer than 128 KiB: is a quote left open?"
    return rows


def _header(cell: str) -> str:
    return " ".join(cell.split()).casefold()


def _first(names: Sequence[str], options: Sequence[str]) -> int | None:
    return next((names.index(option) for option in options if option in names), None)


def _refused(reason: str, source: str = "", line: int = 0) -> Report:
    return Report(source, (), ((line, reason),))
