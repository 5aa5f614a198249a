"""CSV exports for iECHO (`spoke admin export ...`): a network's members, attendance at its held
sessions, and evaluation answers, in iECHO's column names (DOMAIN.md §7).

The pseudonymised variant swaps the name and e-mail columns for a `Participant ID`: an
HMAC-SHA256 of the person's id under a key derived from the server's secret, so the same
person keeps the same ID from one export to the next, and nobody without the key can tell
who it is. A deleted person appears under that ID alone in both variants. Evaluation answers
never carry a name, an e-mail or an id.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from assistant.i18n import translate
from assistant.model import CARE_SETTINGS, ROLES, Person, Series, Session
from assistant.ports import UnitOfWork

KINDS = ("participants", "attendance", "evaluations")
NAME_COLUMNS = ("First Name", "Last Name", "Email")
PERSON_COLUMNS = (*NAME_COLUMNS, "Status", "Title", "Organisation", "Care Setting", "Region",
                  "Country", "Role")
PARTICIPANT_COLUMNS = (*PERSON_COLUMNS, "Network", "Series")
ATTENDANCE_COLUMNS = (*PERSON_COLUMNS, "Network", "Series", "Session Date", "Session Title",
                      "Attended", "Minutes", "Attendance Source", "Adjusted", "Adjustment Reason",
                      "Attendance Marked By")
EVALUATION_COLUMNS = ("Network", "Series", "Session Date", "Session Title", "Satisfaction",
                      "Relevance", "Confidence", "Would Recommend", "Comment")
_RECOMMEND = {"yes": "Yes", "no": "No", "not_sure": "Not sure"}
_TEAM = ("facilitator", "hub_admin")
# A cell starting with one of these is a formula to Excel: names and comments are people's text.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def csv_bytes(self) -> bytes:
        """UTF-8 with a BOM: without it Excel reads the file as Windows-1252 and mangles
        accented names ("Chloé" shows as "ChloÃ©")."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows([_safe(cell) for cell in row] for row in self.rows)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def participant_key(secret: str) -> bytes:
    """The key Participant IDs are made with, bound to this one purpose. Derived from the
    current SPOKE_SECRET_KEY: after a key rotation the IDs change (say so to iECHO)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"spoke",
                info=b"spoke: participant ids in exports, v1").derive(secret.encode("utf-8"))


def participant_id(key: bytes, person_id: int) -> str:
    digest = hmac.new(key, f"person:{person_id}".encode(), hashlib.sha256).hexdigest()
    return f"SP-{digest[:16].upper()}"


@dataclass(frozen=True)
class _People:
    """Who is who for one export, looked up once each."""

    uow: UnitOfWork
    network: str
    key: bytes
    pseudonymised: bool

    def columns(self, base: Sequence[str]) -> tuple[str, ...]:
        if not self.pseudonymised:
            return tuple(base)
        return ("Participant ID", *(c for c in base if c not in NAME_COLUMNS))

    def cells(self, person_id: int) -> list[str]:
        person = self.uow.people.get(person_id)
        pid = participant_id(self.key, person_id)
        memberships = [m for m in self.uow.memberships.of(person_id) if m.network == self.network]
        role = "Org Team" if any(m.role in _TEAM for m in memberships) else "Attendee"
        if person is None:  # deleted: the pseudonym alone
            return [pid, *[""] * (len(self.columns(PERSON_COLUMNS)) - 2), role]
        status = ("Active" if any(m.status == "active" for m in memberships)
                  else "Invited" if memberships else "")
        details = [status, person.profession, person.organisation, _care_setting(person),
                   person.region, person.country, role]
        if self.pseudonymised:
            return [pid, *details]
        first, last = _split(person.full_name)
        return [first, last, person.email, *details]

    def order(self, person_id: int) -> tuple[str, ...]:
        """Named: by last then first name. Pseudonymised: by ID, so the order gives no names."""
        person = None if self.pseudonymised else self.uow.people.get(person_id)
        if person is None:
            return ("~", participant_id(self.key, person_id))
        first, last = _split(person.full_name)
        return (last.casefold(), first.casefold(), str(person_id))

    def marker(self, marked_by: str) -> str:
        """Who marked the attendance: imports and the operator as they are; a person by name,
        or by ID when pseudonymised (a participant marks themselves with the button)."""
        if marked_by == "cli" or marked_by.startswith("import:"):
            return marked_by
        person = self.uow.people.find(marked_by) if marked_by else None
        if person is None:
            return ""
        return participant_id(self.key, person.id) if self.pseudonymised else person.full_name


def participants(uow: UnitOfWork, network: str, series: Series | None, key: bytes,
                 pseudonymised: bool = False) -> Export:
    """One row per active member of the network (with a series: those registered for it),
    with the titles of the network's series each is registered for."""
    people = _People(uow, network, key, pseudonymised)
    titles = {s.id: s.title for s in ([series] if series else uow.schedule.series_of([network]))}
    members = set(uow.people.with_role(network, ROLES))
    if series is not None:
        members &= set(uow.enrolments.registered(series.id))
    name = _network_name(uow, network)
    rows = []
    for person_id in sorted(members, key=people.order):
        places = uow.enrolments.of_person(person_id)
        registered = sorted(titles[s] for s, status in places.items()
                            if status == "registered" and s in titles)
        rows.append((*people.cells(person_id), name, "; ".join(registered)))
    return Export(people.columns(PARTICIPANT_COLUMNS), tuple(rows))


def attendance(uow: UnitOfWork, network: str, series: Series | None, now: datetime, key: bytes,
               pseudonymised: bool = False) -> Export:
    """One row per person per held session (ended, not cancelled): everyone registered for
    the series, marked at the session, or who said they were going."""
    people = _People(uow, network, key, pseudonymised)
    rules = uow.networks.attendance_rules(network)
    name = _network_name(uow, network)
    rows: list[tuple[tuple[object, ...], tuple[str, ...]]] = []
    for group, session in _sessions(uow, network, series, held_by=now):
        marked = uow.attendance.of_session(session.id)
        going = {p for p, answer in uow.rsvps.answers(session.id).items() if answer == "going"}
        expected = set(uow.enrolments.registered(group.id)) | set(marked) | going
        minutes = int((session.ends_at - session.starts_at).total_seconds() // 60)
        for person_id in expected:
            record = marked.get(person_id)
            facts = ("No", "", "", "No", "", "") if record is None else (
                "Yes" if rules.attended(record, minutes) else "No",
                "" if record.minutes is None else str(record.minutes), record.source,
                "Yes" if record.adjusted else "No", record.reason, people.marker(record.marked_by))
            rows.append(((session.starts_at, session.id, people.order(person_id)), (
                *people.cells(person_id), name, group.title, _date(session),
                _title(group, session), *facts)))
    rows.sort(key=lambda row: row[0])
    return Export(people.columns(ATTENDANCE_COLUMNS), tuple(row for _, row in rows))


def evaluations(uow: UnitOfWork, network: str, series: Series | None) -> Export:
    """One row per response and nothing about who gave it. Within a session the rows are in
    the order of their answers' content, not of their arrival: that order could name people."""
    name = _network_name(uow, network)
    rows: list[tuple[tuple[object, ...], tuple[str, ...]]] = []
    for group, session in _sessions(uow, network, series, held_by=None):
        for answer in uow.evaluations.of_sessions([session.id]):
            content = (str(answer.satisfaction), str(answer.relevance), str(answer.confidence),
                       _RECOMMEND.get(answer.recommend, answer.recommend), answer.comment)
            rows.append(((session.starts_at, session.id, content),
                         (name, group.title, _date(session), _title(group, session), *content)))
    rows.sort(key=lambda row: row[0])
    return Export(EVALUATION_COLUMNS, tuple(row for _, row in rows))


def _sessions(uow: UnitOfWork, network: str, series: Series | None,
              held_by: datetime | None) -> list[tuple[Series, Session]]:
    """The network's (or one series') sessions that were not cancelled; with `held_by`, only
    those that had ended by then."""
    found: list[tuple[Series, Session]] = []
    for group in [series] if series else uow.schedule.series_of([network]):
        found.extend((group, session) for session in uow.schedule.sessions_of(group.id)
                     if session.state != "cancelled"
                     and (held_by is None or session.ends_at <= held_by))
    return found


def _network_name(uow: UnitOfWork, slug: str) -> str:
    return next((n.name for n in uow.networks.all() if n.slug == slug), slug)


def _date(session: Session) -> str:
    """The day in the hub's zone: a noon session in Toronto is not on the next day in UTC."""
    return session.starts_at.astimezone(zoneinfo.ZoneInfo(session.time_zone)).date().isoformat()


def _title(group: Series, session: Session) -> str:
    return session.topic or group.title


def _care_setting(person: Person) -> str:
    if person.care_setting in CARE_SETTINGS:
        return translate(f"fields.care_setting.{person.care_setting}", "en")
    return person.care_setting


def _split(full_name: str) -> tuple[str, str]:
    """iECHO wants first and last names; Spoke asks for one full name. The last word is taken
    as the last name ("Marie-Claire Dubois" -> "Marie-Claire", "Dubois")."""
    words = full_name.split()
    if len(words) < 2:
        return full_name.strip(), ""
    return " ".join(words[:-1]), words[-1]


def _safe(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA) else cell
