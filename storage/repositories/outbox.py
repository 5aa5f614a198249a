"""The outbox: every message Spoke sends is a row first, claimed under a lease, then sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from assistant.messages import Outgoing, Reply, reply_from_json, reply_to_json
from storage.tables import AuditRow, OutboxRow

OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
AUDIT = AuditRow.__table__  # type: ignore[attr-defined]


class SqlOutbox:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, identity: str, address: dict[str, Any], reply: Reply, dedupe_key: str,
            due_at: datetime) -> None:
        self._conn.execute(_ADD, {
            "dedupe_key": dedupe_key, "identity": identity, "address": address,
            "payload": reply_to_json(reply), "status": "pending", "due_at": due_at,
            "created_at": due_at})

    def claim(self, worker: str, now: datetime, lease_until: datetime, batch: int,
              identity: str | None = None,
              platforms: Sequence[str] | None = None) -> list[Outgoing]:
        due = (select(OUTBOX.c.id)
               .where(OUTBOX.c.due_at <= now,
                      or_(OUTBOX.c.not_before.is_(None), OUTBOX.c.not_before <= now),
                      or_(OUTBOX.c.status == "pending",
                          and_(OUTBOX.c.status == "claimed", OUTBOX.c.lease_until < now)))
               .order_by(OUTBOX.c.due_at, OUTBOX.c.id).limit(batch))
        if identity is not None:
            due = due.where(OUTBOX.c.identity == identity)
        if platforms is not None:
            due = due.where(or_(*(OUTBOX.c.identity.startswith(f"{p}:", autoescape=True)
                                  for p in platforms)))
        if self._conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = self._conn.execute(
            update(OUTBOX).where(OUTBOX.c.id.in_(due.scalar_subquery()))
            .values(status="claimed", lease_owner=worker, lease_until=lease_until,
                    attempts=OUTBOX.c.attempts + 1)
            .returning(OUTBOX.c.id, OUTBOX.c.identity, OUTBOX.c.address, OUTBOX.c.payload,
                       OUTBOX.c.due_at, OUTBOX.c.attempts)).all()
        rows = sorted(rows, key=lambda r: (r.due_at, r.id))  # RETURNING promises no order
        return [Outgoing(r.id, r.identity, dict(r.address), reply_from_json(r.payload), r.attempts)
                for r in rows]

    def sent(self, row_ids: Sequence[int], at: datetime) -> None:
        if row_ids:  # one statement for a whole batch: a send costs about a millisecond less
            self._conn.execute(_SENT, {"ids": list(row_ids), "sent_at": at})

    def retry(self, row_id: int, not_before: datetime, code: str) -> None:
        self._conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
            status="pending", not_before=not_before, last_error=code, lease_owner=None,
            lease_until=None))

    def give_up(self, row_id: int, status: str, code: str) -> None:
        self._conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
            status=status, last_error=code, lease_owner=None, lease_until=None))

    def release(self, row_id: int, not_before: datetime) -> None:
        self._conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
            status="pending", not_before=not_before, lease_owner=None, lease_until=None,
            attempts=OUTBOX.c.attempts - 1))

    def forget(self, identities: Sequence[str]) -> None:
        """Deleting someone's data takes their queued and sent message copies too."""
        self._conn.execute(delete(OUTBOX).where(OUTBOX.c.identity.in_(list(identities))))


_ADD = insert(OUTBOX)  # executed with parameters, so its compiled form is cached
_SENT = (update(OUTBOX).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
         .values(status="sent", sent_at=bindparam("sent_at"), lease_owner=None, lease_until=None))


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, at: datetime, actor: str, action: str, subject: str,
               detail: dict[str, Any] | None = None) -> None:
        self._conn.execute(insert(AUDIT).values(at=at, actor=actor, action=action,
                                                subject=subject, detail=detail or {}))
