"""The outbox: every message Spoke sends is a row first, claimed under a lease, then sent."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from assistant.messages import File, Outgoing, Reply, reply_from_json, reply_to_json
from assistant.ports import Planned
from assistant.sealing import Sealer
from storage.tables import AuditRow, DownloadRow, OutboxRow

OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
AUDIT = AuditRow.__table__  # type: ignore[attr-defined]
DOWNLOAD = DownloadRow.__table__  # type: ignore[attr-defined]


class SqlOutbox:
    """A message's words are sealed at rest when a sealer is configured (they may quote a
    case); the recipe of a planned reminder holds only ids and is kept readable."""

    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self.queued = 0
        self._conn = conn
        self._sealer = sealer

    def _seal(self, value: dict[str, Any]) -> dict[str, Any]:
        return self._sealer.seal(value) if self._sealer else value

    def _open(self, stored: dict[str, Any]) -> dict[str, Any]:
        return dict(self._sealer.open(stored)) if self._sealer else dict(stored)

    def add(self, identity: str, address: dict[str, Any], reply: Reply, dedupe_key: str,
            due_at: datetime) -> None:
        self.queued += 1
        self._conn.execute(_ADD, {
            "dedupe_key": dedupe_key, "identity": identity, "address": address,
            "payload": self._seal(reply_to_json(reply)), "status": "pending", "due_at": due_at,
            "created_at": due_at})

    def add_leased(self, identity: str, address: dict[str, Any], reply: Reply, dedupe_key: str,
                   due_at: datetime, worker: str, lease_until: datetime) -> int:
        return int(self._conn.execute(_ADD.returning(OUTBOX.c.id), {
            "dedupe_key": dedupe_key, "identity": identity, "address": address,
            "payload": self._seal(reply_to_json(reply)), "status": "sending", "due_at": due_at,
            "created_at": due_at, "lease_owner": worker, "lease_until": lease_until,
            "attempts": 1}).scalar_one())

    def waiting(self, identity: str, now: datetime, worker: str) -> bool:
        return self._conn.execute(_WAITING, {"identity": identity, "now": now,
                                             "worker": worker}).first() is not None

    def claim(self, worker: str, now: datetime, lease_until: datetime, batch: int,
              identity: str | None = None,
              platforms: Sequence[str] | None = None) -> list[Outgoing]:
        due = (select(OUTBOX.c.id)
               .where(OUTBOX.c.due_at <= now,
                      or_(OUTBOX.c.not_before.is_(None), OUTBOX.c.not_before <= now),
                      or_(OUTBOX.c.status == "pending",
                          and_(OUTBOX.c.status == "sending", OUTBOX.c.lease_until < now)))
               .order_by(OUTBOX.c.due_at, OUTBOX.c.id).limit(batch))
        if identity is not None:
            due = due.where(OUTBOX.c.identity == identity)
        # A reader's earlier message still being sent (a turn's reply its server is posting)
        # goes first: nobody reads an answer before its question.
        due = due.where(~exists().where(
            _EARLIER.c.identity == OUTBOX.c.identity, _EARLIER.c.id < OUTBOX.c.id,
            _EARLIER.c.status == "sending", _EARLIER.c.lease_until >= now))
        if platforms is not None:
            due = due.where(or_(*(OUTBOX.c.identity.startswith(f"{p}:", autoescape=True)
                                  for p in platforms)))
        if self._conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # A reminder whose moment passed while nobody could send it is dropped, never sent
        # late: it is marked in the same statement that leases the others.
        expired = and_(OUTBOX.c.expires_at.is_not(None), OUTBOX.c.expires_at <= now)
        rows = self._conn.execute(
            update(OUTBOX).where(OUTBOX.c.id.in_(due.scalar_subquery()))
            .values(status=case((expired, "expired"), else_="sending"), lease_owner=worker,
                    lease_until=lease_until, attempts=OUTBOX.c.attempts + 1)
            .returning(OUTBOX.c.id, OUTBOX.c.identity, OUTBOX.c.address, OUTBOX.c.payload,
                       OUTBOX.c.due_at, OUTBOX.c.attempts, OUTBOX.c.status)).all()
        rows = sorted((r for r in rows if r.status == "sending"),
                      key=lambda r: (r.due_at, r.id))  # RETURNING promises no order
        opened = [(r, self._open(r.payload)) for r in rows]
        return [Outgoing(r.id, r.identity, dict(r.address), reply_from_json(payload), r.attempts,
                         payload.get("compose"))
                for r, payload in opened]

    def sent(self, row_ids: Sequence[int], at: datetime,
             refs: Mapping[int, str] | None = None) -> None:
        if row_ids:  # one statement for a whole batch: a send costs about a millisecond less
            self._conn.execute(_SENT, {"ids": list(row_ids), "sent_at": at})
        for row_id, ref in (refs or {}).items():
            self._conn.execute(_REF, {"row_id": row_id, "ref": ref[:120]})

    def plan(self, messages: Sequence[Planned], at: datetime) -> None:
        self.queued += len(messages)
        statement = _plan_statement(self._conn.dialect.name)
        rows = [{"dedupe_key": m.dedupe_key, "identity": m.identity, "person_id": m.person_id,
                 "subject": m.subject, "address": m.address,
                 "payload": {**reply_to_json(Reply(())), "compose": m.compose},
                 "status": "pending", "due_at": m.due_at, "expires_at": m.expires_at,
                 "not_before": None, "attempts": 0, "created_at": at} for m in messages]
        for start in range(0, len(rows), 1000):
            self._conn.execute(statement, rows[start:start + 1000])

    def backlog(self) -> tuple[int, datetime | None]:
        row = self._conn.execute(select(func.count(), func.min(OUTBOX.c.due_at))
                                 .where(OUTBOX.c.status == "pending")).one()
        return int(row[0]), row[1]

    def known(self, dedupe_keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        keys = list(dedupe_keys)
        for start in range(0, len(keys), 500):
            found.update(self._conn.execute(select(OUTBOX.c.dedupe_key).where(
                OUTBOX.c.dedupe_key.in_(keys[start:start + 500]))).scalars())
        return found

    def withdraw(self, subject: str, person_id: int | None = None) -> int:
        condition = [OUTBOX.c.subject == subject, OUTBOX.c.status == "pending"]
        if person_id is not None:
            condition.append(OUTBOX.c.person_id == person_id)
        return int(self._conn.execute(update(OUTBOX).where(*condition)
                                      .values(status="withdrawn")).rowcount or 0)

    def expire(self, row_id: int, status: str) -> None:
        self._conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
            status=status, lease_owner=None, lease_until=None))

    def next_due(self, platforms: Sequence[str] | None,
                 identity: str | None = None) -> datetime | None:
        # not_before is only ever set after due_at (a retry), so it wins when present.
        moment = func.coalesce(OUTBOX.c.not_before, OUTBOX.c.due_at)
        query = select(func.min(moment)).where(OUTBOX.c.status == "pending")
        if identity is not None:
            query = query.where(OUTBOX.c.identity == identity)
        if platforms is not None:
            query = query.where(or_(*(OUTBOX.c.identity.startswith(f"{p}:", autoescape=True)
                                      for p in platforms)))
        found = self._conn.execute(query).scalar()
        return _utc(found)

    def retry(self, row_id: int, not_before: datetime, code: str,
              worker: str | None = None, spend_attempt: bool = True) -> None:
        values: dict[str, Any] = {"status": "pending", "not_before": not_before,
                                  "last_error": code, "lease_owner": None, "lease_until": None}
        if not spend_attempt:
            values["attempts"] = OUTBOX.c.attempts - 1
        self._conn.execute(update(OUTBOX).where(*_held(row_id, worker)).values(**values))

    def give_up(self, row_id: int, status: str, code: str, worker: str | None = None) -> None:
        self._conn.execute(update(OUTBOX).where(*_held(row_id, worker)).values(
            status=status, last_error=code, lease_owner=None, lease_until=None))

    def release(self, row_id: int, not_before: datetime, worker: str | None = None) -> None:
        self._conn.execute(update(OUTBOX).where(*_held(row_id, worker)).values(
            status="pending", not_before=not_before, lease_owner=None, lease_until=None,
            attempts=OUTBOX.c.attempts - 1))

    def release_reader(self, identity: str) -> int:
        return self._conn.execute(update(OUTBOX).where(
            OUTBOX.c.identity == identity, OUTBOX.c.status == "sending").values(
            status="pending", lease_owner=None, lease_until=None)).rowcount

    def release_held(self, worker: str) -> int:
        """Every row this worker still holds back to pending, due at once (shutting down).
        The attempt stays spent: a row still held when its round is over may have reached
        the platform (cancelled mid-send, or its outcome not recorded because the database
        went down), and only a retried row is looked for before it is posted again."""
        return self._conn.execute(update(OUTBOX).where(
            OUTBOX.c.lease_owner == worker, OUTBOX.c.status == "sending").values(
            status="pending", lease_owner=None, lease_until=None)).rowcount

    def forget(self, identities: Sequence[str]) -> None:
        """Deleting someone's data takes their queued and sent message copies too."""
        self._conn.execute(delete(OUTBOX).where(OUTBOX.c.identity.in_(list(identities))))


def _held(row_id: int, worker: str | None) -> list[Any]:
    """The row, if this worker still holds it: a sender whose lease ran out (and another
    replica took the row) must not put it back to pending under the new holder."""
    condition = [OUTBOX.c.id == row_id]
    if worker is not None:
        condition += [OUTBOX.c.lease_owner == worker, OUTBOX.c.status == "sending"]
    return condition


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands an aggregate back as text
        value = datetime.fromisoformat(value)
    moment: datetime = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment


@functools.cache
def _plan_statement(dialect: str) -> Any:
    """Insert, or bring a row that is still unsent up to date (a withdrawn one returns); a row
    that is being sent or was sent keeps its state, so planning twice never sends twice."""
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(OUTBOX)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["dedupe_key"],
        set_={"status": "pending", "due_at": excluded.due_at, "expires_at": excluded.expires_at,
              "identity": excluded.identity, "address": excluded.address,
              "payload": excluded.payload, "not_before": None},
        # Two comparisons, not IN: an expanding IN cannot run as executemany.
        where=or_(OUTBOX.c.status == "pending", OUTBOX.c.status == "withdrawn"))


_REF = update(OUTBOX).where(OUTBOX.c.id == bindparam("row_id")).values(
    platform_ref=bindparam("ref"))
_ADD = insert(OUTBOX)  # executed with parameters, so its compiled form is cached
_WAITING = select(OUTBOX.c.id).where(
    OUTBOX.c.identity == bindparam("identity"),
    or_(and_(OUTBOX.c.status == "sending", OUTBOX.c.lease_owner != bindparam("worker")),
        and_(OUTBOX.c.status == "pending", OUTBOX.c.due_at <= bindparam("now")))).limit(1)
_EARLIER = OUTBOX.alias("earlier")
_SENT = (update(OUTBOX).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
         .values(status="sent", sent_at=bindparam("sent_at"), lease_owner=None, lease_until=None))


class SqlDownloads:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, token: str, file: File, at: datetime, expires_at: datetime) -> None:
        self._conn.execute(insert(DOWNLOAD).values(
            token=token, name=file.name, media_type=file.media_type, content=file.content,
            created_at=at, expires_at=expires_at))

    def get(self, token: str, now: datetime) -> File | None:
        row = self._conn.execute(select(DOWNLOAD).where(DOWNLOAD.c.token == token,
                                                        DOWNLOAD.c.expires_at > now)).first()
        return File(row.name, row.media_type, bytes(row.content)) if row else None

    def purge(self, before: datetime) -> int:
        return int(self._conn.execute(delete(DOWNLOAD).where(DOWNLOAD.c.expires_at < before))
                   .rowcount or 0)


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, at: datetime, actor: str, action: str, subject: str,
               detail: dict[str, Any] | None = None) -> None:
        self._conn.execute(insert(AUDIT).values(at=at, actor=actor, action=action,
                                                subject=subject, detail=detail or {}))

    def pseudonymise(self, actors: Sequence[str], as_actor: str) -> None:
        if actors:
            self._conn.execute(update(AUDIT).where(AUDIT.c.actor.in_(list(actors)))
                               .values(actor=as_actor))
