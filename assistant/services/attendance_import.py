"""Attendance from a Zoom or Teams report: each attendee matched to a registered person and
marked present with their minutes. Nobody is created: whoever cannot be matched is listed
for a facilitator to match by hand. People the report does not list are not marked absent
(absence is the lack of a row).

The operator's command line calls this; it trusts its caller, as the other `spoke admin`
commands do, but refuses a session that cannot have attendance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from assistant.attendance_reports import Attendee, Report, minutes_of
from assistant.model import ROLES, AttendanceRecord, Session
from assistant.parsers._folding import fold
from assistant.ports import UnitOfWork

# Minutes count from a quarter of an hour before the start (the room opens early for sound
# checks, and people settling in are there) to half an hour after the end (sessions overrun);
# a host who leaves the meeting open all afternoon does not attend all afternoon.
EARLY = timedelta(minutes=15)
LATE = timedelta(minutes=30)


class NotImportable(Exception):
    """The session cannot take attendance (cancelled, or not started): in plain English."""


@dataclass(frozen=True)
class Matched:
    person_id: int
    minutes: int
    lines: tuple[int, ...]
    by: str  # "email" | "name"


@dataclass(frozen=True)
class Unmatched:
    """A report row for a facilitator to match by hand, as the report wrote it."""

    lines: tuple[int, ...]
    name: str
    email: str
    minutes: int
    reason: str  # "unknown" | "ambiguous" (several members have this name) | "outside"


@dataclass(frozen=True)
class ImportResult:
    source: str
    matched: tuple[Matched, ...]  # written (or, in a dry run, would be)
    kept: tuple[Matched, ...]  # a facilitator's adjustment stands
    unmatched: tuple[Unmatched, ...]
    errors: tuple[tuple[int, str], ...]  # rows the report could not give
    dry_run: bool


def session_window(session: Session) -> tuple[datetime, datetime]:
    return session.starts_at - EARLY, session.ends_at + LATE


def import_attendance(uow: UnitOfWork, session: Session, report: Report, marked_by: str,
                      now: datetime, dry_run: bool = False, *, actor: str = "cli") -> ImportResult:
    """Mark each matched attendee present (source "zoom" or "teams") unless a facilitator
    adjusted their row; `marked_by` is what the record keeps ("import:<file name>"). Audited
    with counts only: the audit log holds no names."""
    if session.state == "cancelled":
        raise NotImportable(f"session {session.id} was cancelled")
    if now < session.starts_at:
        raise NotImportable(f"session {session.id} has not started yet")
    if report.source not in ("zoom", "teams"):
        raise NotImportable("the file is not a Zoom or Teams report")
    window = session_window(session)
    network = _network_of(uow, session)
    names = _names(uow, network)
    found: dict[int, tuple[list[Attendee], str]] = {}
    unmatched: list[Unmatched] = []
    for attendee in report.attendees:
        if attendee.minutes(window) == 0:
            unmatched.append(_unmatched(attendee, window, "outside"))
            continue
        person_id, by = _match(uow, attendee, names)
        if person_id is None:
            unmatched.append(_unmatched(attendee, window, by))
            continue
        # The same person twice (a laptop with their e-mail, a phone with their name): one
        # record, their time counted once.
        found.setdefault(person_id, ([], by))[0].append(attendee)
    matched: list[Matched] = []
    kept: list[Matched] = []
    for person_id, (attendees, by) in found.items():
        row = Matched(person_id, minutes_of([i for a in attendees for i in a.intervals], window),
                      tuple(sorted(line for a in attendees for line in a.lines)), by)
        if dry_run:
            existing = uow.attendance.get(session.id, person_id)
            written = existing is None or not existing.adjusted
        else:
            written = uow.attendance.mark(AttendanceRecord(
                session_id=session.id, person_id=person_id, present=True, minutes=row.minutes,
                source=report.source, marked_by=marked_by, marked_at=now))
        (matched if written else kept).append(row)
    result = ImportResult(report.source, tuple(sorted(matched, key=_first_line)),
                          tuple(sorted(kept, key=_first_line)),
                          tuple(sorted(unmatched, key=lambda u: u.lines[0])), report.errors,
                          dry_run)
    if not dry_run:
        uow.audit.record(now, actor, "attendance.imported", f"session:{session.id}",
                         {"source": report.source, **counts(result)})
    return result


def _match(uow: UnitOfWork, attendee: Attendee, names: dict[str, list[int]]
           ) -> tuple[int | None, str]:
    """By e-mail among everyone registered, then by name among the network's members when
    exactly one has it; else why not."""
    if attendee.email:
        person = uow.people.find(attendee.email)
        if person is not None and person.email.lower() == attendee.email.lower():
            return person.id, "email"
    same_name = names.get(fold(attendee.match_name), [])
    if len(same_name) == 1:
        return same_name[0], "name"
    return None, "ambiguous" if same_name else "unknown"


def _names(uow: UnitOfWork, network: str) -> dict[str, list[int]]:
    """The network's active members by folded full name."""
    names: dict[str, list[int]] = {}
    for person_id in sorted(set(uow.people.with_role(network, ROLES))):
        person = uow.people.get(person_id)
        if person is not None and person.full_name.strip():
            names.setdefault(fold(person.full_name), []).append(person_id)
    return names


def _network_of(uow: UnitOfWork, session: Session) -> str:
    series = uow.schedule.series(session.series_id)
    if series is None:
        raise NotImportable(f"session {session.id} belongs to no series")
    return series.network


def _unmatched(attendee: Attendee, window: tuple[datetime, datetime], reason: str) -> Unmatched:
    # Time outside the session shows as the report has it: a clue to a wrong session or zone.
    minutes = attendee.minutes(window) if reason != "outside" else attendee.minutes()
    return Unmatched(attendee.lines, attendee.name, attendee.email, minutes, reason)


def _first_line(row: Matched) -> int:
    return row.lines[0]


def counts(result: ImportResult) -> dict[str, int]:
    """What the summary and the audit log say: numbers, never names."""
    return {"matched": len(result.matched), "kept": len(result.kept),
            "unmatched": len(result.unmatched), "errors": len(result.errors)}
