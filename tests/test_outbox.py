"""The outbox on SQLite and PostgreSQL: rows are claimed under a lease, never by two workers,
and the sender records what the platform said (sent, retry later, unreachable, failed)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from assistant.clock import FakeClock
from assistant.messages import (
    Card,
    Fact,
    File,
    Form,
    FormField,
    Option,
    Outgoing,
    Question,
    Reply,
    Text,
    reply_from_json,
    reply_to_json,
)
from assistant.outbox import BACKOFF_BASE, BACKOFF_CAP, LEASE, MAX_ATTEMPTS, Sender
from assistant.ports import RetryLater, SendResult, Sent, Unreachable
from storage.repositories import SqlStore
from storage.tables import OutboxRow

OUTBOX = OutboxRow.__table__
AMIRA = "slack:T1/U1"
BEN = "slack:T1/U2"
ADDRESSES = {AMIRA: {"team": "T1", "user": "U1", "channel": "D1"},
             BEN: {"team": "T1", "user": "U2", "channel": "D2"}}


# --- helpers ---------------------------------------------------------------------------------

def saying(text: str) -> Reply:
    return Reply((Text(text),))


def text_of(message: Outgoing) -> str:
    part = message.reply.parts[0]
    assert isinstance(part, Text)
    return part.text


def queue(store: SqlStore, text: str, due_at: datetime, identity: str = AMIRA,
          reply: Reply | None = None) -> int:
    """Queue a reply keyed by its text; returns the row id."""
    with store.transaction() as uow:
        uow.outbox.add(identity, ADDRESSES[identity], reply or saying(text), f"test:{text}", due_at)
    with store.engine.connect() as connection:
        return int(connection.execute(
            select(OUTBOX.c.id).where(OUTBOX.c.dedupe_key == f"test:{text}")).scalar_one())


def claim(store: SqlStore, now: datetime, worker: str = "w1", batch: int = 50,
          identity: str | None = None) -> list[Outgoing]:
    with store.transaction() as uow:
        return uow.outbox.claim(worker, now, now + LEASE, batch, identity)


def texts(messages: list[Outgoing]) -> list[str]:
    return [text_of(m) for m in messages]


def row(store: SqlStore, row_id: int) -> RowMapping:
    with store.engine.connect() as connection:
        return connection.execute(select(OUTBOX).where(OUTBOX.c.id == row_id)).mappings().one()


class FakeNotifier:
    """Answers with the scripted results in turn (an exception is raised), then `Sent`."""

    def __init__(self, *script: SendResult | Exception) -> None:
        self.script = list(script)
        self.calls: list[Outgoing] = []
        self.delivered: list[Outgoing] = []

    def always(self, answer: SendResult | Exception, times: int) -> FakeNotifier:
        self.script += [answer] * times
        return self

    async def send(self, message: Outgoing) -> SendResult:
        self.calls.append(message)
        answer = self.script.pop(0) if self.script else Sent()
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, Sent):
            self.delivered.append(message)
        return answer


def sender(store: SqlStore, notifier: FakeNotifier, clock: FakeClock, **options: Any) -> Sender:
    return Sender(store, notifier, clock, worker="sender-1", **options)


# --- adding ----------------------------------------------------------------------------------

def test_a_second_row_with_the_same_dedupe_key_is_refused(store_on, clock):
    queue(store_on, "hi", clock.now())
    with pytest.raises(IntegrityError), store_on.transaction() as uow:
        uow.outbox.add(AMIRA, ADDRESSES[AMIRA], saying("hi again"), "test:hi", clock.now())
    assert texts(claim(store_on, clock.now())) == ["hi"]


# --- claiming --------------------------------------------------------------------------------

def test_a_claim_takes_only_due_rows_oldest_first(store_on, clock):
    now = clock.now()
    queue(store_on, "later", now + timedelta(minutes=5))
    queue(store_on, "just due", now)
    queue(store_on, "overdue", now - timedelta(minutes=10))
    queue(store_on, "due", now - timedelta(minutes=1))
    assert texts(claim(store_on, now)) == ["overdue", "due", "just due"]


def test_a_row_held_back_by_not_before_waits_for_it(store_on, clock):
    held = queue(store_on, "held", clock.now() - timedelta(minutes=10))
    claim(store_on, clock.now())
    with store_on.transaction() as uow:
        uow.outbox.retry(held, clock.now() + timedelta(seconds=30), "rate_limited")
    queue(store_on, "due", clock.now())
    assert texts(claim(store_on, clock.now())) == ["due"]
    assert claim(store_on, clock.advance(seconds=29)) == []
    assert texts(claim(store_on, clock.advance(seconds=1))) == ["held"]


def test_a_claim_respects_the_batch_size_in_due_order(store_on, clock):
    for minute in range(5):
        queue(store_on, f"m{minute}", clock.now() - timedelta(minutes=10 - minute))
    for expected in (["m0", "m1"], ["m2", "m3"], ["m4"]):
        claimed = claim(store_on, clock.now(), batch=2)
        assert texts(claimed) == expected
        with store_on.transaction() as uow:
            uow.outbox.sent([m.id for m in claimed], clock.now())


def test_a_readers_later_message_waits_while_an_earlier_one_is_being_sent(store_on, clock):
    """Another replica (or this server's poster) is sending m0: m1 is not taken until it is
    done, or nobody could say which the reader sees first. Other readers are not held up."""
    queue(store_on, "m0", clock.now() - timedelta(minutes=2))
    [m0] = claim(store_on, clock.now(), worker="replica-a", batch=1)
    queue(store_on, "m1", clock.now() - timedelta(minutes=1))
    queue(store_on, "to ben", clock.now(), identity=BEN)
    assert texts(claim(store_on, clock.now(), worker="replica-b")) == ["to ben"]
    with store_on.transaction() as uow:
        uow.outbox.sent([m0.id], clock.now())
    assert texts(claim(store_on, clock.now(), worker="replica-b")) == ["m1"]


def test_a_dead_senders_row_no_longer_holds_the_readers_next_message(store_on, clock):
    queue(store_on, "m0", clock.now() - timedelta(minutes=2))
    claim(store_on, clock.now(), worker="replica-a", batch=1)  # then replica-a dies
    queue(store_on, "m1", clock.now() - timedelta(minutes=1))
    # Once the lease is over, both go, in order, to whoever claims.
    assert texts(claim(store_on, clock.now() + LEASE + timedelta(seconds=1))) == ["m0", "m1"]


def test_claimed_rows_are_leased_and_not_claimed_again_until_the_lease_ends(store_on, clock):
    row_id = queue(store_on, "hi", clock.now())
    [first] = claim(store_on, clock.now(), worker="w1")
    assert first.attempts == 1
    leased = row(store_on, row_id)
    assert leased["status"] == "sending" and leased["lease_owner"] == "w1"
    assert leased["lease_until"] == clock.now() + LEASE

    assert claim(store_on, clock.now(), worker="w2") == []
    assert claim(store_on, clock.advance(seconds=LEASE.total_seconds()), worker="w2") == []

    [again] = claim(store_on, clock.advance(seconds=1), worker="w2")
    assert again.id == row_id and again.attempts == 2
    assert row(store_on, row_id)["lease_owner"] == "w2"


def test_a_claim_for_one_identity_leaves_everyone_else_queued(store_on, clock):
    queue(store_on, "for amira", clock.now(), AMIRA)
    queue(store_on, "for ben", clock.now(), BEN)
    mine = claim(store_on, clock.now(), identity=AMIRA)
    assert texts(mine) == ["for amira"]
    assert mine[0].identity == AMIRA and mine[0].address == ADDRESSES[AMIRA]
    assert texts(claim(store_on, clock.now())) == ["for ben"]


def test_a_sent_row_is_never_claimed_again(store_on, clock):
    row_id = queue(store_on, "hi", clock.now())
    claim(store_on, clock.now())
    sent_at = clock.advance(seconds=2)
    with store_on.transaction() as uow:
        uow.outbox.sent([row_id], sent_at)
    stored = row(store_on, row_id)
    assert stored["status"] == "sent" and stored["sent_at"] == sent_at
    assert stored["lease_owner"] is None and stored["lease_until"] is None
    assert claim(store_on, clock.advance(days=1)) == []


def test_a_retried_row_waits_until_not_before_and_keeps_the_error_code(store_on, clock):
    row_id = queue(store_on, "hi", clock.now())
    claim(store_on, clock.now())
    not_before = clock.now() + timedelta(minutes=2)
    with store_on.transaction() as uow:
        uow.outbox.retry(row_id, not_before, "rate_limited")
    stored = row(store_on, row_id)
    assert (stored["status"], stored["not_before"], stored["last_error"]) == (
        "pending", not_before, "rate_limited")
    assert claim(store_on, not_before - timedelta(seconds=1)) == []
    [again] = claim(store_on, not_before)
    assert again.id == row_id and again.attempts == 2


def test_a_row_given_up_on_is_never_claimed_again(store_on, clock):
    row_id = queue(store_on, "hi", clock.now())
    claim(store_on, clock.now())
    with store_on.transaction() as uow:
        uow.outbox.give_up(row_id, "unreachable", "channel_not_found")
    stored = row(store_on, row_id)
    assert (stored["status"], stored["last_error"]) == ("unreachable", "channel_not_found")
    assert claim(store_on, clock.advance(days=7)) == []


def test_forgetting_identities_removes_their_rows_only(store_on, clock):
    queue(store_on, "for amira", clock.now(), AMIRA)
    queue(store_on, "for ben", clock.now(), BEN)
    with store_on.transaction() as uow:
        uow.outbox.forget([AMIRA])
    assert texts(claim(store_on, clock.now())) == ["for ben"]


# --- payloads --------------------------------------------------------------------------------

REPLIES = {
    "text": Reply((Text("Bonjour Zoë 👋"),)),
    "question": Reply((Question("Which sessions suit you?",
                                (Option("Monday", "avail:days:3:mon"),
                                 Option("Thursday", "avail:days:3:thu")),
                                many=True),), private=False, replaces="msg-41"),
    "card": Reply((Card("Your profile", (Fact("Name", "Amira Haddad"), Fact("Pays", "France")),
                        (Option("Change", "profile:review:7:change"),)),)),
    "file": Reply((File("session.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n\x00\xff\xfe",
                        caption="Pain ECHO, 5 Nov"),)),
    "form": Reply((Form("Case", "case:form:2", (FormField("summary", "Summary", "72 y/o", "too short",
                                                          multiline=True),)),)),
    "several parts": Reply((Text("Thanks!"), Question("Anything else?", (Option("No", "x:y:1:no"),)))),
}


@pytest.mark.parametrize("reply", REPLIES.values(), ids=REPLIES.keys())
def test_a_reply_survives_a_json_round_trip(reply):
    assert reply_from_json(json.loads(json.dumps(reply_to_json(reply)))) == reply


def test_every_kind_of_reply_survives_the_outbox_table(store_on, clock):
    for name, reply in REPLIES.items():
        queue(store_on, name, clock.now(), reply=reply)
    claimed = {message.id: message.reply for message in claim(store_on, clock.now())}
    with store_on.engine.connect() as connection:
        keys = {r.id: r.dedupe_key for r in connection.execute(select(OUTBOX.c.id, OUTBOX.c.dedupe_key))}
    assert {keys[row_id]: reply for row_id, reply in claimed.items()} == {
        f"test:{name}": reply for name, reply in REPLIES.items()}


# --- two workers -----------------------------------------------------------------------------

async def test_two_workers_never_claim_the_same_row(store_on, clock):
    claimed_before: set[int] = set()
    for round_number in range(5):  # a race can go either way: give it several chances
        now = clock.advance(seconds=1)  # earlier rounds' leases still hold
        with store_on.transaction() as uow:
            for n in range(120):  # 120 new readers: a reader's next message waits for the last
                uow.outbox.add(f"slack:T1/R{round_number}x{n}", {"channel": f"D{n}"}, saying(f"reminder {n}"),
                               f"reminder:{round_number}:{n}", now - timedelta(seconds=n))
        batches = await asyncio.gather(*(asyncio.to_thread(claim, store_on, now, worker, 100)
                                         for worker in ("w1", "w2")))
        ids = [message.id for batch in batches for message in batch]
        assert len(ids) == len(set(ids)) == 120
        assert all(len(batch) <= 100 for batch in batches)
        assert claimed_before.isdisjoint(ids)
        claimed_before.update(ids)
        assert claim(store_on, now, "w3") == []


# --- the sender ------------------------------------------------------------------------------

async def test_the_sender_delivers_due_messages_once(store_on, clock):
    queue(store_on, "first", clock.now() - timedelta(minutes=2))
    queue(store_on, "second", clock.now())
    tomorrow = queue(store_on, "tomorrow", clock.now() + timedelta(days=1))
    notifier = FakeNotifier()
    outbox = sender(store_on, notifier, clock)

    assert await outbox.deliver_due() == 2
    assert texts(notifier.delivered) == ["first", "second"]
    assert notifier.delivered[0].address == ADDRESSES[AMIRA]
    assert await outbox.deliver_due() == 0
    assert len(notifier.calls) == 2

    clock.advance(days=1)
    assert await outbox.deliver_due() == 1
    assert texts(notifier.calls) == ["first", "second", "tomorrow"]
    assert row(store_on, tomorrow)["status"] == "sent"
    assert row(store_on, tomorrow)["sent_at"] == clock.now()


async def test_a_sender_for_one_identity_sends_only_that_persons_messages(store_on, clock):
    queue(store_on, "for amira", clock.now(), AMIRA)
    for_ben = queue(store_on, "for ben", clock.now(), BEN)
    notifier = FakeNotifier()
    assert await sender(store_on, notifier, clock, identity=AMIRA).deliver_due() == 1
    assert texts(notifier.delivered) == ["for amira"]
    assert row(store_on, for_ben)["status"] == "pending"


async def test_a_rate_limited_message_waits_for_retry_after_then_goes_once(store_on, clock):
    row_id = queue(store_on, "hi", clock.now())
    notifier = FakeNotifier(RetryLater("rate_limited", after_seconds=30))
    outbox = sender(store_on, notifier, clock)

    assert await outbox.deliver_due() == 0
    held = row(store_on, row_id)
    assert (held["status"], held["last_error"]) == ("pending", "rate_limited")
    assert held["not_before"] == clock.now() + timedelta(seconds=30)

    clock.advance(seconds=29)
    assert await outbox.deliver_due() == 0
    assert len(notifier.calls) == 1

    clock.advance(seconds=2)
    assert await outbox.deliver_due() == 1
    assert texts(notifier.delivered) == ["hi"]
    clock.advance(seconds=LEASE.total_seconds() * 2)
    assert await outbox.deliver_due() == 0
    assert len(notifier.calls) == 2 and row(store_on, row_id)["status"] == "sent"


async def test_an_unreachable_reader_is_marked_and_never_retried(store_on, clock):
    row_id = queue(store_on, "hi", clock.now())
    notifier = FakeNotifier(Unreachable("channel_not_found"))
    outbox = sender(store_on, notifier, clock)

    assert await outbox.deliver_due() == 0
    stored = row(store_on, row_id)
    assert (stored["status"], stored["last_error"]) == ("unreachable", "channel_not_found")
    clock.advance(days=2)
    assert await outbox.deliver_due() == 0
    assert len(notifier.calls) == 1


async def test_a_message_whose_send_raised_is_retried_later(store_on, clock):
    row_id = queue(store_on, "hi", clock.now())
    notifier = FakeNotifier(ConnectionResetError("peer reset"))
    outbox = sender(store_on, notifier, clock)

    assert await outbox.deliver_due() == 0
    stored = row(store_on, row_id)
    assert (stored["status"], stored["last_error"]) == ("pending", "exception")
    assert clock.now() <= stored["not_before"] <= clock.now() + timedelta(seconds=30)

    clock.advance(seconds=31)
    assert await outbox.deliver_due() == 1
    assert texts(notifier.delivered) == ["hi"] and row(store_on, row_id)["status"] == "sent"


@pytest.mark.parametrize(("failure", "code"), [(RuntimeError("boom"), "exception"),
                                               (RetryLater("server_error"), "server_error")],
                         ids=["raises", "retry-later"])
async def test_a_message_that_keeps_failing_is_marked_failed_after_max_attempts(store_on, clock,
                                                                                failure, code):
    row_id = queue(store_on, "hi", clock.now())
    notifier = FakeNotifier().always(failure, times=MAX_ATTEMPTS + 5)
    outbox = sender(store_on, notifier, clock)

    for attempt in range(1, MAX_ATTEMPTS):
        assert await outbox.deliver_due() == 0
        stored = row(store_on, row_id)
        assert (stored["status"], stored["attempts"]) == ("pending", attempt)
        # Backoff grows: at most 10 s after the first failure, 20 s after the second, ...
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        assert stored["not_before"] <= clock.now() + timedelta(seconds=ceiling)
        clock.advance(seconds=BACKOFF_CAP + 1)
    assert await outbox.deliver_due() == 0
    stored = row(store_on, row_id)
    assert (stored["status"], stored["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert stored["last_error"] == code

    clock.advance(days=1)
    assert await outbox.deliver_due() == 0
    assert len(notifier.calls) == MAX_ATTEMPTS and notifier.delivered == []


# --- leases ----------------------------------------------------------------------------------

class SlowNotifier(FakeNotifier):
    """Each send takes `seconds` on the fake clock, as a slow platform would."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    async def send(self, message: Outgoing) -> SendResult:
        self.clock.advance(seconds=self.seconds)
        return await super().send(message)


async def test_no_send_starts_once_the_lease_is_nearly_over(store_on, clock):
    """A reader's queue sent so slowly that the lease would run out: the rest go back to
    pending, unsent, rather than being posted while another replica may retake them."""
    first = queue(store_on, "first", clock.now())
    second = queue(store_on, "second", clock.now())
    notifier = SlowNotifier(clock, seconds=50)  # lease 60 s: the second would start at 50 s
    assert await sender(store_on, notifier, clock).deliver_due() == 1
    assert texts(notifier.calls) == ["first"]
    assert row(store_on, first)["status"] == "sent"
    assert row(store_on, second)["status"] == "pending" and row(store_on, second)["attempts"] == 0


def test_a_sender_whose_lease_was_taken_over_cannot_put_the_row_back(store_on, clock):
    held = queue(store_on, "slow", clock.now())
    claim(store_on, clock.now(), worker="w1")
    later = clock.now() + LEASE + timedelta(seconds=1)
    assert texts(claim(store_on, later, worker="w2")) == ["slow"]  # w1's lease ran out
    with store_on.transaction() as uow:
        uow.outbox.retry(held, later, "timeout", worker="w1")
        uow.outbox.release(held, later, worker="w1")
        uow.outbox.give_up(held, "failed", "timeout", worker="w1")
    taken = row(store_on, held)
    assert taken["status"] == "sending" and taken["lease_owner"] == "w2"


async def test_waiting_as_a_platform_asks_does_not_use_up_the_attempts(store_on, clock):
    """Twenty 429s in a row (a busy workspace): each wait is as long as asked, and the
    message still goes, once; an attempt is only spent when something went wrong."""
    row_id = queue(store_on, "hi", clock.now())
    notifier = FakeNotifier().always(RetryLater("rate_limited", after_seconds=1), times=MAX_ATTEMPTS + 12)
    outbox = sender(store_on, notifier, clock)
    for _ in range(MAX_ATTEMPTS + 12):
        assert await outbox.deliver_due() == 0
        assert row(store_on, row_id)["attempts"] == 0
        clock.advance(seconds=1)
    assert await outbox.deliver_due() == 1
    assert texts(notifier.delivered) == ["hi"] and row(store_on, row_id)["status"] == "sent"


async def test_a_full_claim_is_reported_even_when_the_platform_refused_some(store_on, clock):
    for text, reader in (("one", AMIRA), ("two", BEN), ("three", AMIRA)):
        queue(store_on, text, clock.now(), identity=reader)
    notifier = FakeNotifier(RetryLater("rate_limited", after_seconds=5))
    claimed, sent = await sender(store_on, notifier, clock).deliver_round(batch=3)
    # Amira's first was refused (her second waits behind it); Ben's went.
    assert (claimed, sent) == (3, 1)
