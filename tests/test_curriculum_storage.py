"""The library, alerts, suggestions, polls and invitations tables, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from assistant.clock import FakeClock
from assistant.model import PollOption
from storage.repositories import SqlStore
from tests.community import enrol, member, open_networks, series, session


def test_library_items_are_added_listed_and_removed(store_on: SqlStore, clock: FakeClock) -> None:
    open_networks(store_on, clock.now())
    held = session(store_on, clock.now(), series(store_on, clock.now()),
                   datetime(2025, 6, 5, 12, tzinfo=UTC))
    with store_on.transaction() as uow:
        slides = uow.library.add(held.id, "slides", "https://example.org/s.pdf", "Slides",
                                 "console:fay", clock.now())
        uow.library.add(held.id, "recording", "https://example.org/r", "", "console:fay",
                        clock.now())
        assert uow.library.remove(slides.id, clock.now())
        assert not uow.library.remove(slides.id, clock.now())  # already gone
        assert [i.kind for i in uow.library.of_sessions([held.id])] == ["recording"]
        assert uow.library.get(slides.id) is None


def test_an_alert_is_one_per_person_until_they_are_told(store_on: SqlStore,
                                                        clock: FakeClock) -> None:
    open_networks(store_on, clock.now())
    amira = member(store_on, clock.now(), "amira")
    autumn = series(store_on, clock.now(), name="autumn", state="opening_soon")
    with store_on.transaction() as uow:
        assert uow.series_alerts.subscribe(autumn.id, amira, "opening", clock.now())
        assert not uow.series_alerts.subscribe(autumn.id, amira, "opening", clock.now())
        assert uow.series_alerts.waiting(autumn.id, "opening") == [amira]
        uow.series_alerts.mark_notified(autumn.id, [amira], "opening", clock.now())
        assert uow.series_alerts.waiting(autumn.id, "opening") == []
        assert not uow.series_alerts.subscribed(autumn.id, amira, "opening")


def test_suggestions_are_sealed_and_change_state(store_on: SqlStore, clock: FakeClock) -> None:
    open_networks(store_on, clock.now())
    amira = member(store_on, clock.now(), "amira")
    with store_on.transaction() as uow:
        first = uow.suggestions.add("care-homes", amira, "topic",
                                    {"topic": "Mouth care at the end of life", "reason": ""},
                                    clock.now())
        second = uow.suggestions.add("care-homes", amira, "topic", {"topic": "Mouth care"},
                                     clock.now())
        uow.suggestions.set_state(second.id, "merged", merged_into=first.id)
        [still_open] = uow.suggestions.of_network("care-homes", ["open"], ["topic"])
        assert still_open.content["topic"] == "Mouth care at the end of life"
        assert uow.suggestions.get(second.id).merged_into == first.id  # type: ignore[union-attr]
    with store_on.engine.connect() as connection:
        raw = " ".join(str(v) for v in connection.execute(text("SELECT content FROM suggestion")).scalars())
    assert "Mouth care" not in raw


def test_a_second_vote_replaces_the_first(store_on: SqlStore, clock: FakeClock) -> None:
    open_networks(store_on, clock.now())
    amira = member(store_on, clock.now(), "amira")
    ben = member(store_on, clock.now(), "ben")
    with store_on.transaction() as uow:
        poll = uow.polls.add("care-homes", "Next topic?", [PollOption("Pain"), PollOption("Sleep")],
                             amira, clock.now(), clock.now() + timedelta(days=7))
        assert uow.polls.vote(poll.id, amira, 0, clock.now()) == "new"
        assert uow.polls.vote(poll.id, amira, 0, clock.now()) == "same"
        assert uow.polls.vote(poll.id, amira, 1, clock.now()) == "changed"
        assert uow.polls.vote(poll.id, ben, 1, clock.now()) == "new"
        assert uow.polls.counts(poll.id) == {1: 2}
        assert [o.label for o in uow.polls.get(poll.id).options] == ["Pain", "Sleep"]  # type: ignore[union-attr]


def test_places_through_an_invitation_are_counted_per_series(store_on: SqlStore,
                                                            clock: FakeClock) -> None:
    open_networks(store_on, clock.now())
    amira = member(store_on, clock.now(), "amira")
    ben = member(store_on, clock.now(), "ben")
    spring = series(store_on, clock.now())
    with store_on.transaction() as uow:
        uow.invitations.add("SPRING-7F3K", spring.id, amira, clock.now())
        assert uow.invitations.get("SPRING-7F3K") == (spring.id, amira)
        assert uow.invitations.of(spring.id, amira) == "SPRING-7F3K"
    enrol(store_on, clock.now(), spring, ben)
    with store_on.transaction() as uow:
        uow.invitations.credit(spring.id, ben, "SPRING-7F3K")
        assert uow.invitations.counts("care-homes") == {spring.id: 1}
