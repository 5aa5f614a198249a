"""The home page (Slack's App Home) shows a member's own next sessions, in their zone."""

from __future__ import annotations

from datetime import UTC, datetime

from assistant.clock import FakeClock
from assistant.events import HomeOpened
from assistant.messages import Card
from storage.repositories import SqlStore
from tests.community import enrol, member, series, session
from tests.harness import ChatHarness, seeded


def test_the_home_page_lists_my_next_sessions_with_my_answer(suite_store: SqlStore,
                                                             clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    now = clock.now()
    person = member(store, now, "eli", zone="America/Toronto", language="fr")
    spring = series(store, now)
    first = session(store, now, spring, datetime(2025, 6, 5, 16, 0, tzinfo=UTC))
    session(store, now, spring, datetime(2025, 6, 12, 16, 0, tzinfo=UTC))
    enrol(store, now, spring, person)
    with store.transaction() as uow:
        uow.rsvps.set(first.id, person, "going", now)

    chat = ChatHarness(store, clock, user="eli")
    result = chat.send(HomeOpened())
    assert result.replies[0].surface == "home"
    cards = [p for p in chat.parts if isinstance(p, Card) and p.title == chat.tr("home.next_sessions", "fr")]
    assert len(cards) == 1
    facts = cards[0].facts
    assert [f.label for f in facts] == [
        "jeudi 5 juin, 12 h 00 à 13 h 00 (heure : Canada (Toronto))",
        "jeudi 12 juin, 12 h 00 à 13 h 00 (heure : Canada (Toronto))"]
    assert chat.tr("sessions.place.going", "fr") in facts[0].value
    assert chat.tr("sessions.place.registered", "fr") in facts[1].value


def test_someone_with_no_place_sees_no_sessions_card(suite_store: SqlStore, clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    chat = ChatHarness(store, clock, user="amira")
    chat.send(HomeOpened())
    assert not any(isinstance(p, Card) and p.title == chat.tr("home.next_sessions") for p in chat.parts)
