"""Coming to one session without a place in the whole series."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.messages import File
from assistant.outbox import Sender
from assistant.ports import SendResult, Sent
from storage.repositories import SqlStore
from tests.community import enrol, member, series, session
from tests.harness import ChatHarness, seeded

THURSDAY = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)  # 13:00 in London


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

    async def send(self, message) -> SendResult:  # type: ignore[no-untyped-def]
        self.got.append((message.identity, message.reply.fallback_text()))
        return Sent()


def press(store: SqlStore, clock: FakeClock, user: str, ref: str) -> ChatHarness:
    chat = ChatHarness(store, clock, user=user)
    chat.send(UserChose(ref))
    return chat


def test_just_this_session_gives_a_calendar_entry_and_its_reminders(suite_store: SqlStore,
                                                                    clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    now = clock.now()
    amira = member(store, now, "amira")
    spring = series(store, now, name="drop-in")
    meeting = session(store, now, spring, THURSDAY)

    listing = ChatHarness(store, clock, user="amira")
    listing.say("sessions")
    offered = [o.ref for o in listing.options() if o.label == listing.tr("sessions.action.one_session")]
    assert f"act:attend:{meeting.id}" in offered

    chat = press(store, clock, "amira", f"act:attend:{meeting.id}")
    chat.expect_said("sessions.one_session.done", series="Drop-In series",
                     when="Thursday 5 June, 13:00–14:00 (United Kingdom Time)")
    assert any(isinstance(p, File) and p.name.endswith(".ics") for p in chat.parts)
    with store.transaction() as uow:
        assert uow.enrolments.status(spring.id, amira) is None
        assert uow.rsvps.answer(meeting.id, amira) == "going"

    inbox = Inbox()
    sender = Sender(store, inbox, clock, worker="w")
    clock.set(datetime(2025, 6, 4, 9, 0, tzinfo=UTC))  # Wednesday 10:00 in London
    asyncio.run(sender.plan_reminders())
    asyncio.run(sender.deliver_due())
    assert [who for who, text in inbox.got if "Reminder: Drop-In series" in text] == ["console:amira"]

    # Can't make it after all: no more reminders for it.
    press(store, clock, "amira", f"act:not_going:{meeting.id}").expect_said(
        "sessions.rsvp.not_going_guest", when="Thursday 5 June, 13:00–14:00 (United Kingdom Time)")
    asyncio.run(sender.deliver_due())
    clock.set(datetime(2025, 6, 5, 11, 0, tzinfo=UTC))
    inbox.got.clear()
    asyncio.run(sender.deliver_due())
    assert inbox.got == []


def test_a_full_series_offers_no_single_places(suite_store: SqlStore, clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    now = clock.now()
    amira, ben, _cleo = (member(store, now, name) for name in ("amira", "ben", "cleo"))
    small = series(store, now, name="small", capacity=2)
    meeting = session(store, now, small, THURSDAY)
    enrol(store, now, small, amira)
    press(store, clock, "ben", f"act:attend:{meeting.id}").expect_said(
        "sessions.one_session.done", series="Small series",
        when="Thursday 5 June, 13:00–14:00 (United Kingdom Time)")
    chat = press(store, clock, "cleo", f"act:attend:{meeting.id}")
    chat.expect_said("sessions.one_session.full", series="Small series")
    with store.transaction() as uow:
        assert uow.rsvps.answers(meeting.id) == {ben: "going"}  # Cleo has no place
        assert uow.enrolments.status(small.id, amira) == "registered"


def test_series_needing_approval_take_whole_series_registrations_only(suite_store: SqlStore,
                                                                       clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    vetted = series(store, clock.now(), name="vetted", approval=True)
    meeting = session(store, clock.now(), vetted, THURSDAY)
    chat = press(store, clock, "amira", f"act:attend:{meeting.id}")
    chat.expect_said("sessions.one_session.not_offered", series="Vetted series")


def test_someone_outside_the_network_cannot_come_to_one_session(suite_store: SqlStore,
                                                               clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira", network="palliative-essentials")
    other = series(store, clock.now(), name="care-homes-only")
    meeting = session(store, clock.now(), other, THURSDAY)
    press(store, clock, "amira", f"act:attend:{meeting.id}").expect_said("sessions.not_yours")


def test_the_listing_offers_a_series_once_and_shows_a_guests_own_session(suite_store: SqlStore,
                                                                        clock: FakeClock) -> None:
    from assistant.messages import Card

    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    weekly = series(store, clock.now(), name="weekly")
    first = session(store, clock.now(), weekly, THURSDAY)
    session(store, clock.now(), weekly, datetime(2025, 6, 12, 12, 0, tzinfo=UTC))

    chat = ChatHarness(store, clock, user="amira")
    chat.say("sessions")
    offers = [p for p in chat.parts if isinstance(p, Card) and p.title == "Weekly series"]
    assert len(offers) == 1  # one offer, at its next date, not one per session

    press(store, clock, "amira", f"act:attend:{first.id}")
    chat.say("sessions")
    mine = [p for p in chat.parts if isinstance(p, Card) and p.title.startswith("Weekly series:")]
    assert len(mine) == 1
    assert any(f.value == chat.tr("sessions.place.going") for f in mine[0].facts)
