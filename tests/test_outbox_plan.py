"""Planned outbox rows on SQLite and PostgreSQL: planning is an upsert keyed by `dedupe_key`
that never touches a row once it is being sent, withdrawing and expiring stop a row before it
goes, `next_due` sees only what a sender may take, and two replicas claiming at once never
take the same row."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from assistant.clock import FakeClock
from assistant.messages import Outgoing, Reply, Text
from assistant.outbox import LEASE, Sender
from assistant.ports import Planned, SendResult, Sent, UnitOfWork
from storage.engine import make_engine
from storage.repositories import SqlStore
from storage.tables import OutboxRow

OUTBOX = OutboxRow.__table__
AMIRA, BEN = "slack:T1/U1", "teams:29:ben"
ADDRESSES = {AMIRA: {"team": "T1", "user": "U1", "channel": "D1"},
             BEN: {"conversation": "a:1", "service_url": "https://smba.example/"}}


# --- helpers ---------------------------------------------------------------------------------

def planned(key: str, due_at: datetime, *, identity: str = AMIRA, person: int = 1,
            subject: str = "session:7", expires_at: datetime | None = None,
            kind: str = "day") -> Planned:
    return Planned(dedupe_key=key, person_id=person, identity=identity,
                   address=ADDRESSES.get(identity, {"user": identity}), subject=subject,
                   compose={"what": "reminder", "session": 7, "person": person, "kind": kind},
                   due_at=due_at, expires_at=expires_at)


def plan(store: SqlStore, *rows: Planned, at: datetime) -> None:
    with store.transaction() as uow:
        uow.outbox.plan(list(rows), at)


def row(store: SqlStore, key: str) -> RowMapping:
    with store.engine.connect() as connection:
        return connection.execute(select(OUTBOX).where(OUTBOX.c.dedupe_key == key)).mappings().one()


def statuses(store: SqlStore) -> dict[str, str]:
    with store.engine.connect() as connection:
        return {r.dedupe_key: r.status for r in connection.execute(
            select(OUTBOX.c.dedupe_key, OUTBOX.c.status))}


def claim(store: SqlStore, now: datetime, worker: str = "w1", batch: int = 50) -> list[Outgoing]:
    with store.transaction() as uow:
        return uow.outbox.claim(worker, now, now + LEASE, batch)


def claimed_keys(store: SqlStore, now: datetime) -> list[str]:
    ids = [message.id for message in claim(store, now)]
    with store.engine.connect() as connection:
        keys = {r.id: r.dedupe_key for r in connection.execute(select(OUTBOX.c.id, OUTBOX.c.dedupe_key))}
    return [keys[row_id] for row_id in ids]


def next_due(store: SqlStore, platforms: Sequence[str] | None = None,
             identity: str | None = None) -> datetime | None:
    with store.transaction() as uow:
        return uow.outbox.next_due(platforms, identity)


@pytest.fixture
def replica(store_on: SqlStore) -> Iterator[SqlStore]:
    """A second process on the same database: its own engine, pool and (SQLite) writer lock."""
    other = SqlStore(make_engine(store_on.engine.url.render_as_string(hide_password=False)))
    yield other
    other.close()


# --- planning is an upsert -------------------------------------------------------------------

def test_planning_a_new_key_adds_one_pending_row_holding_the_recipe(store_on, clock):
    due = clock.now() + timedelta(days=2)
    plan(store_on, planned("reminder:7:0:1:day", due, expires_at=due + timedelta(hours=20)),
         at=clock.now())
    stored = row(store_on, "reminder:7:0:1:day")
    assert (stored["status"], stored["due_at"], stored["expires_at"]) == (
        "pending", due, due + timedelta(hours=20))
    assert (stored["identity"], stored["person_id"], stored["subject"]) == (AMIRA, 1, "session:7")
    assert stored["address"] == ADDRESSES[AMIRA]
    assert stored["payload"]["compose"] == {"what": "reminder", "session": 7, "person": 1,
                                            "kind": "day"}
    assert (stored["attempts"], stored["not_before"], stored["created_at"]) == (0, None, clock.now())


def test_planning_a_pending_key_again_brings_the_same_row_up_to_date(store_on, clock):
    first_due = clock.now() + timedelta(days=2)
    plan(store_on, planned("reminder:7:0:1:day", first_due), at=clock.now())
    original = row(store_on, "reminder:7:0:1:day")

    later_due = first_due + timedelta(hours=3)
    plan(store_on, planned("reminder:7:0:1:day", later_due, identity=BEN,
                           expires_at=later_due + timedelta(hours=1), kind="week"),
         at=clock.advance(hours=1))

    updated = row(store_on, "reminder:7:0:1:day")
    assert updated["id"] == original["id"] and len(statuses(store_on)) == 1
    assert (updated["status"], updated["due_at"], updated["expires_at"]) == (
        "pending", later_due, later_due + timedelta(hours=1))
    assert (updated["identity"], updated["address"]) == (BEN, ADDRESSES[BEN])
    assert updated["payload"]["compose"]["kind"] == "week"


def test_planning_a_withdrawn_key_again_revives_it(store_on, clock):
    due = clock.now() + timedelta(days=1)
    plan(store_on, planned("reminder:7:0:1:day", due), at=clock.now())
    with store_on.transaction() as uow:
        assert uow.outbox.withdraw("session:7", person_id=1) == 1
    assert row(store_on, "reminder:7:0:1:day")["status"] == "withdrawn"

    plan(store_on, planned("reminder:7:0:1:day", due), at=clock.now())
    assert row(store_on, "reminder:7:0:1:day")["status"] == "pending"
    assert claimed_keys(store_on, clock.advance(days=1)) == ["reminder:7:0:1:day"]


def test_planning_again_clears_a_retry_hold(store_on, clock):
    plan(store_on, planned("reminder:7:0:1:day", clock.now()), at=clock.now())
    [message] = claim(store_on, clock.now())
    with store_on.transaction() as uow:
        uow.outbox.retry(message.id, clock.now() + timedelta(minutes=30), "rate_limited")

    plan(store_on, planned("reminder:7:0:1:day", clock.now()), at=clock.now())
    assert row(store_on, "reminder:7:0:1:day")["not_before"] is None
    assert claimed_keys(store_on, clock.now()) == ["reminder:7:0:1:day"]


def _sending(uow: UnitOfWork, row_id: int, at: datetime) -> None:
    """Left as the claim leaves it."""


def _sent(uow: UnitOfWork, row_id: int, at: datetime) -> None:
    uow.outbox.sent([row_id], at)


def _expired(uow: UnitOfWork, row_id: int, at: datetime) -> None:
    uow.outbox.expire(row_id, "expired")


def _failed(uow: UnitOfWork, row_id: int, at: datetime) -> None:
    uow.outbox.give_up(row_id, "failed", "server_error")


def _unreachable(uow: UnitOfWork, row_id: int, at: datetime) -> None:
    uow.outbox.give_up(row_id, "unreachable", "channel_not_found")


SETTLED = {"sending": _sending, "sent": _sent, "expired": _expired, "failed": _failed,
           "unreachable": _unreachable}


def test_planning_again_never_touches_a_row_that_left_the_queue(store_on, clock):
    now = clock.now()
    keys = {status: f"reminder:7:0:1:{status}" for status in SETTLED}
    plan(store_on, *(planned(key, now) for key in keys.values()), at=now)
    assert len(claim(store_on, now)) == len(keys)
    ids = {status: row(store_on, key)["id"] for status, key in keys.items()}
    with store_on.transaction() as uow:
        for status, settle in SETTLED.items():
            settle(uow, ids[status], now)
    before = {key: row(store_on, key) for key in keys.values()}

    plan(store_on, *(planned(key, now + timedelta(hours=5), identity=BEN, kind="hour")
                     for key in keys.values()), at=clock.advance(minutes=1))

    assert {key: row(store_on, key) for key in keys.values()} == before
    assert {status: row(store_on, key)["status"] for status, key in keys.items()} == {
        status: status for status in SETTLED}


def test_a_batch_plans_every_row_and_a_second_planner_adds_nothing(store_on, replica, clock):
    rows = [planned(f"reminder:7:0:{person}:day", clock.now() + timedelta(hours=1), person=person)
            for person in range(1, 1201)]  # more than one chunk of 1000
    plan(store_on, *rows, at=clock.now())
    plan(replica, *rows, at=clock.now())
    found = statuses(store_on)
    assert len(found) == 1200 and set(found.values()) == {"pending"}


# --- withdrawing -----------------------------------------------------------------------------

def _queue_for_withdrawal(store: SqlStore, clock: FakeClock) -> None:
    soon = clock.now() + timedelta(hours=2)
    plan(store,
         planned("reminder:7:0:1:day", clock.now(), person=1),
         planned("reminder:7:0:1:hour", soon, person=1),
         planned("reminder:7:0:2:hour", soon, person=2, identity=BEN),
         planned("session_changed:7:1:2", soon, person=2, identity=BEN, subject="notice:7"),
         planned("reminder:8:0:1:hour", soon, person=1, subject="session:8"),
         at=clock.now())
    [sent] = claim(store, clock.now())  # the day reminder of person 1 went already
    with store.transaction() as uow:
        uow.outbox.sent([sent.id], clock.now())


WITHDRAWALS = [
    # subject, person, how many, statuses afterwards
    ("session:7", None, 2, {"reminder:7:0:1:day": "sent", "reminder:7:0:1:hour": "withdrawn",
                            "reminder:7:0:2:hour": "withdrawn", "session_changed:7:1:2": "pending",
                            "reminder:8:0:1:hour": "pending"}),
    ("session:7", 2, 1, {"reminder:7:0:1:day": "sent", "reminder:7:0:1:hour": "pending",
                         "reminder:7:0:2:hour": "withdrawn", "session_changed:7:1:2": "pending",
                         "reminder:8:0:1:hour": "pending"}),
    ("notice:7", None, 1, {"reminder:7:0:1:day": "sent", "reminder:7:0:1:hour": "pending",
                           "reminder:7:0:2:hour": "pending", "session_changed:7:1:2": "withdrawn",
                           "reminder:8:0:1:hour": "pending"}),
    ("session:9", None, 0, {"reminder:7:0:1:day": "sent", "reminder:7:0:1:hour": "pending",
                            "reminder:7:0:2:hour": "pending", "session_changed:7:1:2": "pending",
                            "reminder:8:0:1:hour": "pending"}),
]


@pytest.mark.parametrize(("subject", "person", "count", "expected"), WITHDRAWALS,
                         ids=["a whole session", "one person", "notices", "another subject"])
def test_withdrawing_stops_only_the_pending_rows_of_that_subject_and_person(
        store_on, clock, subject, person, count, expected):
    _queue_for_withdrawal(store_on, clock)
    with store_on.transaction() as uow:
        assert uow.outbox.withdraw(subject, person) == count
    assert statuses(store_on) == expected


def test_a_withdrawn_row_is_never_claimed(store_on, clock):
    plan(store_on, planned("reminder:7:0:1:hour", clock.now()), at=clock.now())
    with store_on.transaction() as uow:
        uow.outbox.withdraw("session:7")
    assert claim(store_on, clock.advance(days=3)) == []


# --- expiring --------------------------------------------------------------------------------

EXPIRIES = [
    # due (minutes from now), expires (minutes from now or None), status after a claim now
    ("expired long ago", -120, -60, "expired"),
    ("expires this very moment", -60, 0, "expired"),
    ("still useful", -60, 30, "sending"),
    ("never expires", -600, None, "sending"),
    ("not due yet", 30, 90, "pending"),
]


def test_a_claim_marks_rows_whose_moment_passed_as_expired_and_takes_the_rest(store_on, clock):
    now = clock.now()
    plan(store_on, *(planned(name, now + timedelta(minutes=due),
                             expires_at=None if expires is None else now + timedelta(minutes=expires))
                     for name, due, expires, _ in EXPIRIES), at=now - timedelta(days=1))
    taken = claimed_keys(store_on, now)
    assert statuses(store_on) == {name: after for name, _, _, after in EXPIRIES}
    assert sorted(taken) == sorted(name for name, *_, after in EXPIRIES if after == "sending")


def test_the_sender_can_drop_a_claimed_row_and_it_never_comes_back(store_on, clock):
    plan(store_on, planned("reminder:7:0:1:day", clock.now()), at=clock.now())
    [message] = claim(store_on, clock.now())
    with store_on.transaction() as uow:
        uow.outbox.expire(message.id, "withdrawn")
    dropped = row(store_on, "reminder:7:0:1:day")
    assert (dropped["status"], dropped["lease_owner"], dropped["lease_until"]) == ("withdrawn", None, None)
    assert claim(store_on, clock.advance(seconds=LEASE.total_seconds() * 3)) == []


# --- next_due --------------------------------------------------------------------------------

def _queue_for_next_due(store: SqlStore, clock: FakeClock) -> datetime:
    now = clock.now()
    plan(store,
         planned("slack:later", now + timedelta(hours=3), identity=AMIRA),
         planned("teams:soon", now + timedelta(hours=2), identity=BEN),
         planned("console:soonest", now + timedelta(hours=1), identity="console:amira"),
         planned("slack:withdrawn", now + timedelta(minutes=5), identity=AMIRA, subject="session:9"),
         planned("slack:retried", now - timedelta(hours=1), identity="slack:T1/U9"),
         at=now)
    with store.transaction() as uow:
        uow.outbox.withdraw("session:9")
        [retried] = uow.outbox.claim("w1", now, now + LEASE, 1)
        uow.outbox.retry(retried.id, now + timedelta(hours=4), "rate_limited")
    return now


NEXT_DUE = [
    # platforms, identity, hours from now (None: nothing)
    (None, None, 1),
    (("slack",), None, 3),  # the retried row waits for not_before (4 h), the withdrawn one never
    (("teams",), None, 2),
    (("slack", "teams"), None, 2),
    (("discord",), None, None),
    (None, "console:amira", 1),
    (None, BEN, 2),
    (None, "slack:T1/U9", 4),
    (("slack",), BEN, None),
]


def test_next_due_is_the_earliest_pending_moment_a_sender_may_take(store_on, clock):
    now = _queue_for_next_due(store_on, clock)
    found = [(platforms, identity, next_due(store_on, platforms, identity))
             for platforms, identity, _ in NEXT_DUE]
    assert found == [(platforms, identity, None if hours is None else now + timedelta(hours=hours))
                     for platforms, identity, hours in NEXT_DUE]


def test_next_due_ignores_rows_in_flight_sent_or_expired(store_on, clock):
    now = clock.now()
    plan(store_on, planned("a", now), planned("b", now - timedelta(hours=1)),
         planned("c", now - timedelta(hours=2), expires_at=now - timedelta(minutes=1)), at=now)
    [first, _] = claim(store_on, now)  # "c" expires, "b" and "a" are taken
    with store_on.transaction() as uow:
        uow.outbox.sent([first.id], now)
    assert statuses(store_on) == {"a": "sending", "b": "sent", "c": "expired"}
    assert next_due(store_on) is None


# --- two replicas claiming at once -----------------------------------------------------------

def _plan_many(store: SqlStore, clock: FakeClock, count: int) -> None:
    now = clock.now()
    plan(store, *(planned(f"reminder:{n}:0:{n}:hour", now - timedelta(seconds=n), person=n,
                          expires_at=now + timedelta(hours=1))
                  for n in range(count)), at=now)


def test_two_replicas_claiming_in_threads_never_take_the_same_row(store_on, replica, clock):
    _plan_many(store_on, clock, 500)
    start = threading.Barrier(2)
    taken: dict[str, list[int]] = {"w1": [], "w2": []}

    def drain(store: SqlStore, worker: str) -> None:
        start.wait()
        while batch := claim(store, clock.now(), worker, batch=10):
            taken[worker] += [message.id for message in batch]

    threads = [threading.Thread(target=drain, args=(store, worker))
               for store, worker in ((store_on, "w1"), (replica, "w2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    everything = taken["w1"] + taken["w2"]
    assert len(everything) == len(set(everything)) == 500
    with store_on.engine.connect() as connection:
        owners = {r.id: r.lease_owner for r in connection.execute(select(OUTBOX.c.id, OUTBOX.c.lease_owner))}
    assert {row_id for row_id, owner in owners.items() if owner == "w1"} == set(taken["w1"])


class Writing:
    """Stands in for the reminder composer: every claimed row becomes one line naming it."""

    def compose(self, uow: UnitOfWork, messages: Sequence[Outgoing], now: datetime) -> list[Outgoing]:
        return [Outgoing(m.id, m.identity, m.address, Reply((Text(f"row {m.id}"),)), m.attempts)
                for m in messages]


class Counting:
    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(self, message: Outgoing) -> SendResult:
        await asyncio.sleep(0)  # let the other replica run
        self.sent.append(message.id)
        return Sent()


async def test_two_senders_deliver_500_planned_rows_exactly_once(store_on, replica, clock):
    _plan_many(store_on, clock, 500)
    notifier = Counting()
    senders = [Sender(store, notifier, clock, worker=worker, composer=Writing())
               for store, worker in ((store_on, "sender-1"), (replica, "sender-2"))]
    for _ in range(10):
        counts = await asyncio.gather(*(sender.deliver_due(batch=30) for sender in senders))
        if not any(counts):
            break
    assert len(notifier.sent) == len(set(notifier.sent)) == 500
    assert set(statuses(store_on).values()) == {"sent"}
