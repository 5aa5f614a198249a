"""Dialog state rows, saved with an optimistic revision check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from assistant.ports import IdleState, StaleState
from assistant.runtime import DialogState
from assistant.sealing import Sealer
from storage.repositories._sql import insert_ignoring_duplicates
from storage.tables import ConversationStateRow, ProcessedEventRow

STATE = ConversationStateRow.__table__  # type: ignore[attr-defined]
PROCESSED = ProcessedEventRow.__table__  # type: ignore[attr-defined]


class SqlProcessedEvents:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, delivery_id: str, at: datetime) -> bool:
        return insert_ignoring_duplicates(
            self._conn, PROCESSED, {"delivery_id": delivery_id, "processed_at": at}, "delivery_id")

    def purge(self, before: datetime) -> int:
        return self._conn.execute(delete(PROCESSED).where(PROCESSED.c.processed_at < before)).rowcount


class SqlConversations:
    """Answers (and the answer being confirmed, and the ones kept for "back") are what people
    typed: sealed at rest when a sealer is configured."""

    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self._conn = conn
        self._sealer = sealer

    def active(self, key: str) -> DialogState | None:
        row = self._conn.execute(_ACTIVE, {"key": key}).mappings().first()
        return self._state(row) if row else None

    def load(self, key: str, dialog: str) -> DialogState | None:
        row = self._conn.execute(_LOAD, {"key": key, "dialog": dialog}).mappings().first()
        return self._state(row) if row else None

    def save(self, key: str, state: DialogState, at: datetime) -> DialogState:
        seal = self._sealer.seal if self._sealer else (lambda value: value)
        values = {
            "dialog_version": state.dialog_version, "answers": seal(state.answers),
            "history": list(state.history), "pending_step": state.pending_step,
            "asked": state.asked, "attempts": state.attempts,
            "proposed": None if state.proposed is None else seal(state.proposed),
            "previous": seal(state.previous), "paused": state.paused, "updated_at": at,
        }
        if state.revision == 0:
            try:
                with self._conn.begin_nested():
                    self._conn.execute(_INSERT, {"conversation_key": key, "dialog": state.dialog,
                                                 "revision": 1, **values})
            except IntegrityError as clash:
                raise StaleState(state.dialog) from clash
            return _with_revision(state, 1)
        changed = self._conn.execute(_UPDATE, {
            "key": key, "dialog_name": state.dialog, "seen": state.revision,
            "revision": state.revision + 1, **values}).rowcount
        if changed != 1:
            raise StaleState(state.dialog)
        return _with_revision(state, state.revision + 1)

    def delete(self, key: str, dialog: str, revision: int) -> None:
        gone = self._conn.execute(delete(STATE).where(
            STATE.c.conversation_key == key, STATE.c.dialog == dialog,
            STATE.c.revision == revision)).rowcount
        if revision and gone != 1:
            raise StaleState(dialog)  # it changed since we read it: rerun on the new state

    def delete_all(self, key: str) -> None:
        self._conn.execute(delete(STATE).where(STATE.c.conversation_key == key))

    def all_of(self, key: str) -> list[DialogState]:
        rows = self._conn.execute(select(STATE).where(STATE.c.conversation_key == key)
                                  .order_by(STATE.c.id)).mappings()
        return [self._state(row) for row in rows]

    def idle(self, dialog: str, before: datetime) -> list[IdleState]:
        rows = self._conn.execute(
            select(STATE).where(STATE.c.dialog == dialog, STATE.c.updated_at <= before)
            .order_by(STATE.c.updated_at, STATE.c.id)).mappings()
        return [IdleState(row["conversation_key"], self._state(row), row["updated_at"])
                for row in rows]

    def _state(self, row: object) -> DialogState:
        r = dict(row)  # type: ignore[call-overload]
        opened = self._sealer.open if self._sealer else (lambda value: value)
        return DialogState(
            dialog=r["dialog"], dialog_version=r["dialog_version"],
            answers=dict(opened(r["answers"])), history=tuple(r["history"]),
            pending_step=r["pending_step"], asked=r["asked"], attempts=r["attempts"],
            proposed=opened(r["proposed"]) if r["proposed"] is not None else None,
            previous=dict(opened(r["previous"]) or {}), paused=bool(r["paused"]),
            revision=r["revision"])


# Built once and executed with parameters: SQLAlchemy's compiled cache then does the work
# that building `.values(...)` statements redid on every turn.
_ACTIVE = (select(STATE).where(STATE.c.conversation_key == bindparam("key"),
                               STATE.c.paused.is_(False))
           .order_by(STATE.c.updated_at.desc()).limit(1))
_LOAD = select(STATE).where(STATE.c.conversation_key == bindparam("key"),
                            STATE.c.dialog == bindparam("dialog"))
_INSERT = insert(STATE)
_UPDATE = update(STATE).where(STATE.c.conversation_key == bindparam("key"),
                              STATE.c.dialog == bindparam("dialog_name"),
                              STATE.c.revision == bindparam("seen"))


def _with_revision(state: DialogState, revision: int) -> DialogState:
    from dataclasses import replace

    return replace(state, revision=revision)

