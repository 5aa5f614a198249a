"""Case presentations: what the presenter wrote (and why the team returned it) sealed in one
JSON value each; ids, states, times and the reference in clear for the queries."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from assistant.model import Case, CaseContent
from assistant.ports import CaseRecord, StaleState
from assistant.sealing import Sealer
from storage.repositories.people import _network_id
from storage.tables import CasePresentationRow, NetworkRow, SessionRow

CASE = CasePresentationRow.__table__  # type: ignore[attr-defined]
NETWORK = NetworkRow.__table__  # type: ignore[attr-defined]
SESSION = SessionRow.__table__  # type: ignore[attr-defined]
_WITH_NETWORK = select(CASE, NETWORK.c.slug.label("network")).join(
    NETWORK, NETWORK.c.id == CASE.c.network_id)
_CONTENT_FIELDS = frozenset(f.name for f in dataclasses.fields(CaseContent))
# Columns `update` may change; anything else is a mistake in the caller.
_CHANGEABLE = frozenset({"state", "series_id", "session_id", "reference", "content", "returned",
                         "submitted_at", "review_started_at", "reviewer_id"})


class SqlCases:
    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self._conn = conn
        self._seal: Callable[[Any], Any] = sealer.seal if sealer else (lambda value: value)
        self._open: Callable[[Any], Any] = sealer.open if sealer else (lambda value: value)

    def add(self, author_id: int, network: str, series_id: int | None, session_id: int | None,
            content: CaseContent, draft_key: str, at: datetime) -> CaseRecord:
        try:
            with self._conn.begin_nested():
                case_id = self._conn.execute(insert(CASE).values(
                    author_id=author_id, network_id=_network_id(self._conn, network),
                    series_id=series_id, session_id=session_id, state="submitted",
                    draft_key=draft_key, content=self._seal(_content_json(content)),
                    returned=None, revision=1, created_at=at, updated_at=at, submitted_at=at)
                    .returning(CASE.c.id)).scalar_one()
        except IntegrityError as clash:
            if self.by_draft_key(draft_key) is None:
                raise  # not the draft key: a mistake, not a race
            raise StaleState(f"case draft {draft_key}") from clash  # submitted meanwhile
        found = self.get(case_id)
        assert found is not None
        return found

    def get(self, case_id: int) -> CaseRecord | None:
        row = self._conn.execute(_WITH_NETWORK.where(CASE.c.id == case_id)).first()
        return self._record(row) if row else None

    def hold(self, case_id: int) -> CaseRecord | None:
        # SQLite's write transactions are already one at a time (BEGIN IMMEDIATE).
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(select(CASE.c.id).where(CASE.c.id == case_id).with_for_update())
        return self.get(case_id)

    def by_draft_key(self, draft_key: str) -> CaseRecord | None:
        row = self._conn.execute(_WITH_NETWORK.where(CASE.c.draft_key == draft_key)).first()
        return self._record(row) if row else None

    def update(self, case_id: int, changes: Mapping[str, Any], seen_revision: int,
               at: datetime) -> CaseRecord:
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"not a changeable case column: {sorted(unknown)}")
        values = dict(changes)
        if "content" in values:
            values["content"] = self._seal(_content_json(values["content"]))
        if "returned" in values:
            returned = values["returned"]
            values["returned"] = None if returned is None else self._seal(
                {"reason": returned[0], "fields": list(returned[1])})
        changed = self._conn.execute(
            update(CASE).where(CASE.c.id == case_id, CASE.c.revision == seen_revision)
            .values(revision=seen_revision + 1, updated_at=at, **values)).rowcount
        if changed != 1:
            raise StaleState(f"case {case_id}")  # changed since it was read: rerun the turn
        found = self.get(case_id)
        assert found is not None
        return found

    def of_author(self, person_id: int) -> list[CaseRecord]:
        rows = self._conn.execute(_WITH_NETWORK.where(CASE.c.author_id == person_id)
                                  .order_by(CASE.c.created_at.desc(), CASE.c.id.desc()))
        return [self._record(row) for row in rows]

    def for_networks(self, networks: Sequence[str], states: Sequence[str]) -> list[CaseRecord]:
        if not networks or not states:
            return []
        rows = self._conn.execute(
            _WITH_NETWORK.where(NETWORK.c.slug.in_(list(networks)), CASE.c.state.in_(list(states)))
            .order_by(CASE.c.submitted_at, CASE.c.id))
        return [self._record(row) for row in rows]

    def next_reference(self, code: str, year: int) -> int:
        prefix = f"{code}-{year}-"
        if self._conn.dialect.name == "postgresql":
            # Two acceptances in one network at once would both read the same highest number:
            # the second waits here until the first commits (SQLite writers already take turns).
            self._conn.execute(select(func.pg_advisory_xact_lock(zlib.crc32(prefix.encode()))))
        given = self._conn.execute(select(CASE.c.reference).where(
            CASE.c.reference.startswith(prefix, autoescape=True))).scalars()
        numbers = [int(tail) for ref in given if (tail := ref[len(prefix):]).isdigit()]
        return max(numbers, default=0) + 1

    def purge_before(self, session_ended_before: datetime, submitted_before: datetime,
                     keep_states: Sequence[str]) -> dict[int, str]:
        ended = select(SESSION.c.id).where(SESSION.c.ends_at < session_ended_before)
        unscheduled = and_(CASE.c.session_id.is_(None),
                           func.coalesce(CASE.c.submitted_at, CASE.c.created_at) < submitted_before)
        doomed = {row.id: row.state for row in self._conn.execute(
            select(CASE.c.id, CASE.c.state).where(
                or_(CASE.c.session_id.in_(ended), unscheduled),
                CASE.c.state.not_in(list(keep_states))))}
        if doomed:
            self._conn.execute(delete(CASE).where(CASE.c.id.in_(list(doomed))))
        return doomed

    def _record(self, row: Any) -> CaseRecord:
        returned = self._open(row.returned) if row.returned is not None else None
        case = Case(
            id=row.id, author_id=row.author_id, network=row.network, series_id=row.series_id,
            session_id=row.session_id, state=row.state, reference=row.reference,
            content=_content(self._open(row.content)),
            returned_reason=str(returned["reason"]) if returned else "",
            returned_fields=tuple(returned["fields"]) if returned else (),
            submitted_at=row.submitted_at, updated_at=row.updated_at)
        return CaseRecord(case=case, draft_key=row.draft_key, revision=row.revision,
                          created_at=row.created_at, review_started_at=row.review_started_at,
                          reviewer_id=row.reviewer_id)


def _content_json(content: CaseContent) -> dict[str, Any]:
    data = dataclasses.asdict(content)
    data["questions"] = list(content.questions)
    data["overrides"] = list(content.overrides)
    return data


def _content(data: Mapping[str, Any]) -> CaseContent:
    """Keys a later version dropped are ignored; ones it added take their defaults."""
    values = {key: value for key, value in data.items() if key in _CONTENT_FIELDS}
    values["questions"] = tuple(values.get("questions", ()))
    values["overrides"] = tuple(values.get("overrides", ()))
    return CaseContent(**values)
