"""After a session: attendance, follow-ups (sealed) and evaluation answers (comment sealed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from assistant.model import AttendanceRecord, EvaluationAnswer, FollowUp
from assistant.ports import StaleState
from assistant.sealing import Sealer
from storage.tables import AttendanceRow, EvaluationRow, FollowUpRow

ATTENDANCE = AttendanceRow.__table__  # type: ignore[attr-defined]
FOLLOW_UP = FollowUpRow.__table__  # type: ignore[attr-defined]
EVALUATION = EvaluationRow.__table__  # type: ignore[attr-defined]


class SqlAttendance:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def mark(self, record: AttendanceRecord) -> bool:
        existing = self._conn.execute(select(ATTENDANCE.c.id, ATTENDANCE.c.adjusted).where(
            ATTENDANCE.c.session_id == record.session_id,
            ATTENDANCE.c.person_id == record.person_id)).first()
        values = _attendance_values(record)
        if existing is None:
            try:
                with self._conn.begin_nested():
                    self._conn.execute(insert(ATTENDANCE).values(**values))
                return True
            except IntegrityError:
                # Marked by another turn this instant (two taps on "I'm here"): theirs stands.
                return False
        if existing.adjusted and not record.adjusted:
            return False  # a facilitator's adjustment is the last word
        self._conn.execute(update(ATTENDANCE).where(ATTENDANCE.c.id == existing.id).values(**values))
        return True

    def pseudonymise(self, markers: Sequence[str], as_marker: str) -> None:
        if markers:
            self._conn.execute(update(ATTENDANCE).where(ATTENDANCE.c.marked_by.in_(list(markers)))
                               .values(marked_by=as_marker))

    def get(self, session_id: int, person_id: int) -> AttendanceRecord | None:
        row = self._conn.execute(select(ATTENDANCE).where(
            ATTENDANCE.c.session_id == session_id, ATTENDANCE.c.person_id == person_id)).first()
        return _attendance(row) if row else None

    def recorded(self, session_id: int) -> bool:
        return self._conn.execute(select(ATTENDANCE.c.id).where(
            ATTENDANCE.c.session_id == session_id).limit(1)).first() is not None

    def of_session(self, session_id: int) -> dict[int, AttendanceRecord]:
        rows = self._conn.execute(select(ATTENDANCE).where(ATTENDANCE.c.session_id == session_id))
        return {row.person_id: _attendance(row) for row in rows}

    def of_sessions(self, session_ids: Sequence[int]) -> list[AttendanceRecord]:
        if not session_ids:
            return []
        rows = self._conn.execute(select(ATTENDANCE).where(
            ATTENDANCE.c.session_id.in_(list(session_ids))).order_by(ATTENDANCE.c.id))
        return [_attendance(row) for row in rows]

    def of_person(self, person_id: int) -> list[AttendanceRecord]:
        rows = self._conn.execute(select(ATTENDANCE).where(ATTENDANCE.c.person_id == person_id)
                                  .order_by(ATTENDANCE.c.session_id))
        return [_attendance(row) for row in rows]


class SqlFollowUps:
    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self._conn = conn
        self._seal: Callable[[Any], Any] = sealer.seal if sealer else (lambda value: value)
        self._open: Callable[[Any], Any] = sealer.open if sealer else (lambda value: value)

    def add(self, session_id: int, kind: str, case_id: int | None, author_id: int,
            content: Mapping[str, Any], draft_key: str, send_at: datetime,
            at: datetime) -> FollowUp:
        try:
            with self._conn.begin_nested():
                follow_up_id = self._conn.execute(insert(FOLLOW_UP).values(
                    session_id=session_id, kind=kind, case_id=case_id, author_id=author_id,
                    content=self._seal(dict(content)), draft_key=draft_key, send_at=send_at,
                    created_at=at).returning(FOLLOW_UP.c.id)).scalar_one()
        except IntegrityError as clash:
            if self.by_draft_key(draft_key) is None:
                raise
            raise StaleState(f"follow-up {draft_key}") from clash  # stored by the other press
        found = self.get(follow_up_id)
        assert found is not None
        return found

    def get(self, follow_up_id: int) -> FollowUp | None:
        row = self._conn.execute(select(FOLLOW_UP).where(FOLLOW_UP.c.id == follow_up_id)).first()
        return self._follow_up(row) if row else None

    def by_draft_key(self, draft_key: str) -> FollowUp | None:
        row = self._conn.execute(select(FOLLOW_UP).where(FOLLOW_UP.c.draft_key == draft_key)).first()
        return self._follow_up(row) if row else None

    def of_session(self, session_id: int, kinds: Sequence[str] = ("session",)) -> list[FollowUp]:
        rows = self._conn.execute(select(FOLLOW_UP).where(
            FOLLOW_UP.c.session_id == session_id, FOLLOW_UP.c.kind.in_(list(kinds)))
            .order_by(FOLLOW_UP.c.id))
        return [self._follow_up(row) for row in rows]

    def of_case(self, case_id: int) -> list[FollowUp]:
        rows = self._conn.execute(select(FOLLOW_UP).where(FOLLOW_UP.c.case_id == case_id)
                                  .order_by(FOLLOW_UP.c.id))
        return [self._follow_up(row) for row in rows]

    def _follow_up(self, row: Row[Any]) -> FollowUp:
        return FollowUp(id=row.id, session_id=row.session_id, kind=row.kind, case_id=row.case_id,
                        author_id=row.author_id, content=dict(self._open(row.content)),
                        send_at=row.send_at, created_at=row.created_at)


class SqlEvaluations:
    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self._conn = conn
        self._seal: Callable[[Any], Any] = sealer.seal if sealer else (lambda value: value)
        self._open: Callable[[Any], Any] = sealer.open if sealer else (lambda value: value)

    def answer(self, answer: EvaluationAnswer) -> bool:
        """Store one person's answers; False if they had already answered (the first stays:
        a survey answered on two devices counts once)."""
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(EVALUATION).values(
                    session_id=answer.session_id, person_id=answer.person_id,
                    satisfaction=answer.satisfaction, relevance=answer.relevance,
                    confidence=answer.confidence, recommend=answer.recommend,
                    comment=self._seal({"text": answer.comment}) if answer.comment else None,
                    answered_at=answer.answered_at))
            return True
        except IntegrityError:
            return False

    def forget_comments(self, person_id: int) -> None:
        self._conn.execute(update(EVALUATION).where(EVALUATION.c.person_id == person_id)
                           .values(comment=None))

    def answered(self, session_id: int, person_id: int) -> bool:
        return self._conn.execute(select(EVALUATION.c.id).where(
            EVALUATION.c.session_id == session_id,
            EVALUATION.c.person_id == person_id)).first() is not None

    def of_sessions(self, session_ids: Sequence[int]) -> list[EvaluationAnswer]:
        if not session_ids:
            return []
        rows = self._conn.execute(select(EVALUATION).where(
            EVALUATION.c.session_id.in_(list(session_ids))).order_by(EVALUATION.c.id))
        return [self._answer(row) for row in rows]

    def of_person(self, person_id: int) -> list[EvaluationAnswer]:
        rows = self._conn.execute(select(EVALUATION).where(EVALUATION.c.person_id == person_id)
                                  .order_by(EVALUATION.c.id))
        return [self._answer(row) for row in rows]

    def _answer(self, row: Row[Any]) -> EvaluationAnswer:
        comment = str(self._open(row.comment).get("text", "")) if row.comment else ""
        return EvaluationAnswer(session_id=row.session_id, person_id=row.person_id,
                                satisfaction=row.satisfaction, relevance=row.relevance,
                                confidence=row.confidence, recommend=row.recommend,
                                comment=comment, answered_at=row.answered_at)


def _attendance_values(record: AttendanceRecord) -> dict[str, Any]:
    return {"session_id": record.session_id, "person_id": record.person_id,
            "present": record.present, "minutes": record.minutes, "source": record.source,
            "marked_by": record.marked_by, "marked_at": record.marked_at,
            "adjusted": record.adjusted, "reason": record.reason}


def _attendance(row: Row[Any]) -> AttendanceRecord:
    return AttendanceRecord(session_id=row.session_id, person_id=row.person_id,
                            present=row.present, minutes=row.minutes, source=row.source,
                            marked_by=row.marked_by, marked_at=row.marked_at,
                            adjusted=row.adjusted, reason=row.reason)
