"""A server posts a turn's replies as soon as the turn ends (issue #4/#5 reply latency): the
turn writes them already claimed by the server's sender, and the pump is not involved unless
something is waiting or a post fails. Order and exactly-once hold as with the pump."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import Actor, Event, UserChose, UserSaid
from assistant.messages import Outgoing, Text
from assistant.outbox import ReadyReplies, Sender
from assistant.ports import RetryLater, SendResult
from assistant.turns import TurnHandler
from dialogs import PLAYBOOK
from storage.repositories import SqlStore
from storage.tables import OutboxRow
from tests.community import member, open_networks, series
from tests.harness import seeded
from tests.slack_fixtures import Spoke, text_of
from tests.test_outbox import ADDRESSES, AMIRA, FakeNotifier, queue, saying

OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
LEASE = timedelta(seconds=60)


def said(text: str, n: int) -> Event:
    return Event(f"ev-{n}", Actor(AMIRA), UserSaid(text), address=ADDRESSES[AMIRA])


def rows(store: SqlStore) -> list[tuple[str, str | None, int]]:
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(OUTBOX.c.status, OUTBOX.c.lease_owner, OUTBOX.c.attempts).order_by(OUTBOX.c.id))]


def test_a_servers_turn_writes_its_replies_claimed_for_its_sender(store_on: SqlStore,
                                                                 clock: FakeClock) -> None:
    turns = TurnHandler(seeded(store_on, clock), clock, PLAYBOOK)
    turns.send_replies_directly("replica-a", LEASE)

    result = turns.handle_now(said("hello", 1))

    assert result.replies and [m.reply for m in result.ready] == list(result.replies)
    assert not result.queued  # nothing for the pump: it is not woken
    assert rows(store_on) == [("sending", "replica-a", 1)] * len(result.replies)
    assert all(m.identity == AMIRA and m.address == ADDRESSES[AMIRA] for m in result.ready)


def test_without_a_server_replies_wait_in_the_outbox(store_on: SqlStore, clock: FakeClock) -> None:
    turns = TurnHandler(seeded(store_on, clock), clock, PLAYBOOK)  # the terminal, the tests
    result = turns.handle_now(said("hello", 1))
    assert result.replies and result.ready == ()
    assert {status for status, _, _ in rows(store_on)} == {"pending"}


def test_a_reply_queues_behind_a_message_still_waiting_for_the_reader(store_on: SqlStore,
                                                                      clock: FakeClock) -> None:
    """A reminder held back by a 429 is due and unsent: the reply goes after it, through
    the pump, so the reader never sees them out of order."""
    turns = TurnHandler(seeded(store_on, clock), clock, PLAYBOOK)
    turns.send_replies_directly("replica-a", LEASE)
    queue(store_on, "your reminder", clock.now() - timedelta(minutes=1))

    result = turns.handle_now(said("hello", 1))

    assert result.replies and result.ready == () and result.queued  # the pump is woken
    assert {status for status, _, _ in rows(store_on)} == {"pending"}


class SlowPlatform(FakeNotifier):
    """Takes `seconds` over each post, answering with the script."""

    def __init__(self, seconds: float, *script: SendResult | Exception) -> None:
        super().__init__(*script)
        self.seconds = seconds

    async def send(self, message: Outgoing) -> SendResult:
        await asyncio.sleep(self.seconds)
        return await super().send(message)


async def test_one_readers_replies_go_in_the_order_of_their_turns(store_on: SqlStore,
                                                                  clock: FakeClock) -> None:
    platform = SlowPlatform(0.05)
    sender = Sender(store_on, platform, clock, worker="replica-a")
    turns = TurnHandler(seeded(store_on, clock), clock, PLAYBOOK)
    turns.send_replies_directly("replica-a", LEASE)
    woken: list[str] = []
    poster = ReadyReplies(sender, lambda: woken.append("pump"))

    for n, text in enumerate(("hello", "help")):  # the second turn ends while the first posts
        poster.post(turns.handle_now(said(text, n)).ready)
    await poster.finish(grace_seconds=5)

    texts = [text_of_outgoing(m) for m in platform.delivered]
    assert len(texts) == 2 and "Spoke" in texts[0]
    assert {status for status, _, _ in rows(store_on)} == {"sent"} and woken == []


def text_of_outgoing(message: Outgoing) -> str:
    return " ".join(p.text for p in message.reply.parts if isinstance(p, Text))


async def test_a_reply_the_platform_refused_is_left_to_the_pump(store_on: SqlStore,
                                                                clock: FakeClock) -> None:
    platform = FakeNotifier(RetryLater("rate_limited", after_seconds=30))
    sender = Sender(store_on, platform, clock, worker="replica-a")
    woken: list[str] = []
    poster = ReadyReplies(sender, lambda: woken.append("pump"))
    with store_on.transaction() as uow:
        row_id = uow.outbox.add_leased(AMIRA, ADDRESSES[AMIRA], saying("hi"), "test:hi",
                                       clock.now(), "replica-a", clock.now() + LEASE)

    poster.post([Outgoing(row_id, AMIRA, ADDRESSES[AMIRA], saying("hi"))])
    await poster.finish(grace_seconds=5)

    assert woken == ["pump"] and rows(store_on) == [("pending", None, 0)]  # a 429 costs no attempt
    clock.advance(seconds=31)
    assert await sender.deliver_due() == 1  # the pump's turn: once, after Retry-After
    assert [text_of_outgoing(m) for m in platform.delivered] == ["hi"]


async def test_over_slack_a_reply_arrives_with_the_pump_stopped(spoke: Spoke) -> None:
    assert spoke.serving.pump is not None
    await spoke.serving.pump.stop()
    posted = await spoke.dm("hello")
    assert "Spoke" in text_of(posted)
    assert spoke.serving.replies is not None
    await spoke.serving.replies.finish(grace_seconds=5)  # and recorded
    assert {status for status, _, _ in rows(spoke.store)} == {"sent"}


async def test_replies_posted_at_once_are_sent_exactly_once_by_a_later_pump_round(
        spoke: Spoke) -> None:
    await spoke.dm("hello")
    await spoke.settle()  # a pump round after the direct post: nothing is left for it
    assert len(spoke.api.calls("chat.postMessage")) == 1


def test_a_turn_that_also_tells_the_team_wakes_the_pump_for_it(store_on: SqlStore,
                                                              clock: FakeClock) -> None:
    """Ben asks for a place in a series under approval: his answer goes at once, and the
    facilitator's notice, queued in the same turn, is left to the pump, which is woken."""
    open_networks(store_on, clock.now())
    member(store_on, clock.now(), "fay", role="facilitator")
    member(store_on, clock.now(), "ben")
    spring = series(store_on, clock.now(), approval=True)
    turns = TurnHandler(store_on, clock, PLAYBOOK)
    turns.send_replies_directly("replica-a", LEASE)

    result = turns.handle_now(Event("ev-join", Actor("console:ben"),
                                    UserChose(f"act:join:{spring.id}"), address={"user": "ben"}))

    assert result.incident is None and result.ready and result.queued
    with store_on.engine.connect() as connection:
        pending = connection.execute(select(OUTBOX.c.identity).where(
            OUTBOX.c.status == "pending")).scalars().all()
    assert "console:fay" in pending
