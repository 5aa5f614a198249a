"""Series, sessions, enrolments, RSVPs and reminder preferences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from assistant.model import ReminderPrefs, Series, Session
from assistant.ports import EnrolmentRequest
from storage.repositories.people import _network_id
from storage.tables import (
    EnrolmentRow,
    NetworkRow,
    ReminderPreferenceRow,
    RsvpRow,
    SeriesRow,
    SessionRow,
)

SERIES = SeriesRow.__table__  # type: ignore[attr-defined]
SESSION = SessionRow.__table__  # type: ignore[attr-defined]
ENROLMENT = EnrolmentRow.__table__  # type: ignore[attr-defined]
RSVP = RsvpRow.__table__  # type: ignore[attr-defined]
PREFERENCE = ReminderPreferenceRow.__table__  # type: ignore[attr-defined]
NETWORK = NetworkRow.__table__  # type: ignore[attr-defined]
_SERIES_WITH_NETWORK = select(SERIES, NETWORK.c.slug.label("network")).join(
    NETWORK, NETWORK.c.id == SERIES.c.network_id)


class SqlSchedule:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_series(self, network: str, values: dict[str, Any], at: datetime) -> Series:
        series_id = self._conn.execute(insert(SERIES).values(
            network_id=_network_id(self._conn, network), created_at=at, **values)
            .returning(SERIES.c.id)).scalar_one()
        found = self.series(series_id)
        assert found is not None
        return found

    def series(self, series_id: int) -> Series | None:
        row = self._conn.execute(_SERIES_WITH_NETWORK.where(SERIES.c.id == series_id)).first()
        return _series(row) if row else None

    def hold_series(self, series_id: int) -> Series | None:
        # SQLite's write transactions are already one at a time (BEGIN IMMEDIATE).
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(select(SERIES.c.id).where(SERIES.c.id == series_id)
                               .with_for_update())
        return self.series(series_id)

    def series_named(self, network: str, name: str) -> Series | None:
        row = self._conn.execute(_SERIES_WITH_NETWORK.where(
            NETWORK.c.slug == network, func.lower(SERIES.c.name) == name.lower())).first()
        return _series(row) if row else None

    def series_of(self, networks: Sequence[str]) -> list[Series]:
        rows = self._conn.execute(_SERIES_WITH_NETWORK.where(NETWORK.c.slug.in_(list(networks)))
                                  .order_by(SERIES.c.title))
        return [_series(r) for r in rows]

    def update_series(self, series_id: int, changes: dict[str, Any]) -> Series:
        self._conn.execute(update(SERIES).where(SERIES.c.id == series_id).values(**changes))
        found = self.series(series_id)
        assert found is not None
        return found

    def add_session(self, series_id: int, values: dict[str, Any], at: datetime) -> Session:
        values = {"uid": "", **values}
        session_id = self._conn.execute(insert(SESSION).values(
            series_id=series_id, updated_at=at, **values).returning(SESSION.c.id)).scalar_one()
        if not values["uid"]:
            # Stable for the session's whole life, whatever changes: calendars match on it.
            self._conn.execute(update(SESSION).where(SESSION.c.id == session_id)
                               .values(uid=f"session-{session_id}@spoke"))
        found = self.session(session_id)
        assert found is not None
        return found

    def session(self, session_id: int) -> Session | None:
        row = self._conn.execute(select(SESSION).where(SESSION.c.id == session_id)).first()
        return _session(row) if row else None

    def update_session(self, session_id: int, changes: dict[str, Any], at: datetime,
                       new_version: bool) -> Session:
        values: dict[str, Any] = {**changes, "updated_at": at}
        if new_version:
            values["sequence"] = SESSION.c.sequence + 1
        self._conn.execute(update(SESSION).where(SESSION.c.id == session_id).values(**values))
        found = self.session(session_id)
        assert found is not None
        return found

    def sessions_of(self, series_id: int) -> list[Session]:
        rows = self._conn.execute(select(SESSION).where(SESSION.c.series_id == series_id)
                                  .order_by(SESSION.c.starts_at))
        return [_session(r) for r in rows]

    def upcoming(self, series_ids: Sequence[int], after: datetime, limit: int) -> list[Session]:
        if not series_ids:
            return []
        rows = self._conn.execute(
            select(SESSION).where(SESSION.c.series_id.in_(list(series_ids)),
                                  SESSION.c.state == "scheduled", SESSION.c.ends_at > after)
            .order_by(SESSION.c.starts_at, SESSION.c.id).limit(limit))
        return [_session(r) for r in rows]

    def to_plan(self, now: datetime, until: datetime) -> list[Session]:
        rows = self._conn.execute(
            select(SESSION).where(
                SESSION.c.state == "scheduled", SESSION.c.starts_at > now,
                SESSION.c.starts_at <= until,
                (SESSION.c.planned_sequence.is_(None))
                | (SESSION.c.planned_sequence != SESSION.c.sequence))
            .order_by(SESSION.c.starts_at))
        return [_session(r) for r in rows]

    def mark_planned(self, session_id: int, sequence: int) -> None:
        self._conn.execute(update(SESSION).where(SESSION.c.id == session_id)
                           .values(planned_sequence=sequence))


class SqlEnrolments:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def status(self, series_id: int, person_id: int) -> str | None:
        status = self._conn.execute(select(ENROLMENT.c.status).where(
            ENROLMENT.c.series_id == series_id, ENROLMENT.c.person_id == person_id)).scalar()
        return None if status is None or status == "cancelled" else str(status)

    def statuses(self, series_id: int, person_ids: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        ids = list(person_ids)
        for start in range(0, len(ids), 500):
            rows = self._conn.execute(_STATUSES, {"series_id": series_id,
                                                  "people": ids[start:start + 500]})
            found.update({r.person_id: r.status for r in rows})
        return found

    def of_person(self, person_id: int) -> dict[int, str]:
        rows = self._conn.execute(select(ENROLMENT.c.series_id, ENROLMENT.c.status).where(
            ENROLMENT.c.person_id == person_id, ENROLMENT.c.status != "cancelled"))
        return {r.series_id: r.status for r in rows}

    def set(self, series_id: int, person_id: int, status: str, at: datetime,
            new_turn: bool = False) -> None:
        existing = self._conn.execute(select(ENROLMENT.c.id).where(
            ENROLMENT.c.series_id == series_id, ENROLMENT.c.person_id == person_id)).scalar()
        if existing is None:
            self._conn.execute(insert(ENROLMENT).values(
                series_id=series_id, person_id=person_id, status=status, asked_at=at,
                updated_at=at))
            return
        values: dict[str, Any] = {"status": status, "updated_at": at}
        if new_turn:
            values["asked_at"] = at
        self._conn.execute(update(ENROLMENT).where(ENROLMENT.c.id == existing).values(**values))

    def count(self, series_id: int, statuses: Sequence[str]) -> int:
        return int(self._conn.execute(select(func.count()).select_from(ENROLMENT).where(
            ENROLMENT.c.series_id == series_id, ENROLMENT.c.status.in_(list(statuses))))
            .scalar_one())

    def waitlist(self, series_id: int) -> list[int]:
        return list(self._conn.execute(
            select(ENROLMENT.c.person_id).where(ENROLMENT.c.series_id == series_id,
                                                ENROLMENT.c.status == "waitlisted")
            .order_by(ENROLMENT.c.asked_at, ENROLMENT.c.id)).scalars())

    def registered(self, series_id: int) -> list[int]:
        return list(self._conn.execute(
            select(ENROLMENT.c.person_id).where(ENROLMENT.c.series_id == series_id,
                                                ENROLMENT.c.status == "registered")
            .order_by(ENROLMENT.c.person_id)).scalars())

    def awaiting_approval(self, series_ids: Sequence[int]) -> list[EnrolmentRequest]:
        if not series_ids:
            return []
        rows = self._conn.execute(select(ENROLMENT).where(
            ENROLMENT.c.series_id.in_(list(series_ids)), ENROLMENT.c.status == "pending_approval")
            .order_by(ENROLMENT.c.asked_at, ENROLMENT.c.id))
        return [_request(r) for r in rows]

    def request(self, enrolment_id: int) -> EnrolmentRequest | None:
        row = self._conn.execute(select(ENROLMENT).where(ENROLMENT.c.id == enrolment_id)).first()
        return _request(row) if row else None

    def cancel_all(self, person_id: int, series_ids: Sequence[int] | None,
                   at: datetime) -> list[int]:
        condition = [ENROLMENT.c.person_id == person_id, ENROLMENT.c.status != "cancelled"]
        if series_ids is not None:
            condition.append(ENROLMENT.c.series_id.in_(list(series_ids)))
        cancelled = list(self._conn.execute(
            update(ENROLMENT).where(*condition).values(status="cancelled", updated_at=at)
            .returning(ENROLMENT.c.series_id)).scalars())
        return sorted(cancelled)


class SqlRsvps:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def set(self, session_id: int, person_id: int, answer: str, at: datetime) -> None:
        changed = self._conn.execute(update(RSVP).where(
            RSVP.c.session_id == session_id, RSVP.c.person_id == person_id)
            .values(answer=answer, at=at)).rowcount
        if not changed:
            self._conn.execute(insert(RSVP).values(session_id=session_id, person_id=person_id,
                                                   answer=answer, at=at))

    def answer(self, session_id: int, person_id: int) -> str | None:
        answer = self._conn.execute(select(RSVP.c.answer).where(
            RSVP.c.session_id == session_id, RSVP.c.person_id == person_id)).scalar()
        return None if answer is None else str(answer)

    def answers(self, session_id: int) -> dict[int, str]:
        rows = self._conn.execute(select(RSVP.c.person_id, RSVP.c.answer)
                                  .where(RSVP.c.session_id == session_id))
        return {r.person_id: r.answer for r in rows}

    def of_person(self, person_id: int) -> dict[int, str]:
        rows = self._conn.execute(select(RSVP.c.session_id, RSVP.c.answer)
                                  .where(RSVP.c.person_id == person_id))
        return {r.session_id: r.answer for r in rows}

    def forget(self, person_id: int) -> None:
        self._conn.execute(delete(RSVP).where(RSVP.c.person_id == person_id))

    def clear_declined(self, session_id: int) -> None:
        self._conn.execute(delete(RSVP).where(RSVP.c.session_id == session_id,
                                              RSVP.c.answer == "not_going"))


class SqlReminderPreferences:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def of(self, person_ids: Sequence[int]) -> dict[int, ReminderPrefs]:
        chosen: dict[int, ReminderPrefs] = {}
        ids = list(person_ids)
        for start in range(0, len(ids), 500):
            rows = self._conn.execute(select(PREFERENCE).where(
                PREFERENCE.c.person_id.in_(ids[start:start + 500])))
            for r in rows:
                chosen[r.person_id] = ReminderPrefs(
                    kinds=tuple(r.kinds), quiet_start=r.quiet_start, quiet_end=r.quiet_end,
                    work_days=tuple(r.work_days))
        default = ReminderPrefs()
        return {person_id: chosen.get(person_id, default) for person_id in ids}

    def set(self, person_id: int, prefs: ReminderPrefs, at: datetime) -> None:
        values = {"kinds": list(prefs.kinds), "quiet_start": prefs.quiet_start,
                  "quiet_end": prefs.quiet_end, "work_days": list(prefs.work_days),
                  "updated_at": at}
        changed = self._conn.execute(update(PREFERENCE).where(
            PREFERENCE.c.person_id == person_id).values(**values)).rowcount
        if not changed:
            self._conn.execute(insert(PREFERENCE).values(person_id=person_id, **values))

    def forget(self, person_id: int) -> None:
        self._conn.execute(delete(PREFERENCE).where(PREFERENCE.c.person_id == person_id))


_STATUSES = select(ENROLMENT.c.person_id, ENROLMENT.c.status).where(
    ENROLMENT.c.series_id == bindparam("series_id"),
    ENROLMENT.c.person_id.in_(bindparam("people", expanding=True)),
    ENROLMENT.c.status != "cancelled")


def _request(row: Row[Any]) -> EnrolmentRequest:
    return EnrolmentRequest(row.id, row.series_id, row.person_id, row.status, row.asked_at)


def _series(row: Row[Any]) -> Series:
    return Series(id=row.id, network=row.network, name=row.name, title=row.title,
                  description=row.description, recurrence=row.recurrence,
                  default_time=row.default_time, time_zone=row.time_zone,
                  duration_minutes=row.duration_minutes, join_url=row.join_url,
                  capacity=row.capacity, state=row.state,
                  requires_approval=bool(row.requires_approval),
                  audience_professions=tuple(row.audience_professions or ()),
                  audience_settings=tuple(row.audience_settings or ()), others=row.others)


def _session(row: Row[Any]) -> Session:
    return Session(id=row.id, series_id=row.series_id, starts_at=row.starts_at,
                   ends_at=row.ends_at, time_zone=row.time_zone, topic=row.topic,
                   expert=row.expert, agenda=row.agenda, materials=tuple(row.materials),
                   join_url=row.join_url, state=row.state, sequence=row.sequence, uid=row.uid)
