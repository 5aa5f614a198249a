"""Leaving a network, withdrawing consent or deleting one's data ends one's places: no more
reminders, and a freed seat goes to the first person waiting. A new time zone moves the
reminders to the new local hours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import UserChose
from storage.repositories import SqlStore
from storage.tables import OutboxRow
from tests.community import enrol, member, series, session
from tests.harness import ChatHarness, seeded

SESSION_START = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)  # Thursday 13:00 in London


def outbox(store: SqlStore, person_id: int) -> dict[str, tuple[str, datetime]]:
    table = OutboxRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as connection:
        rows = connection.execute(select(table.c.dedupe_key, table.c.status, table.c.due_at)
                                  .where(table.c.person_id == person_id))
        return {r.dedupe_key.split(":")[-1] if r.dedupe_key.startswith("reminder:") else r.dedupe_key:
                (r.status, r.due_at) for r in rows}


@pytest.fixture
def full_series(suite_store: SqlStore, clock: FakeClock) -> tuple[SqlStore, int, int, int]:
    """Amira has the only place (her reminders planned); Bea waits for it."""
    store = seeded(suite_store, clock)
    now = clock.now()
    amira, bea = member(store, now, "amira"), member(store, now, "bea")
    spring = series(store, now, capacity=1)
    session(store, now, spring, SESSION_START)
    ChatHarness(store, clock, user="amira").send(UserChose(f"act:join:{spring.id}"))
    ChatHarness(store, clock, user="bea").send(UserChose(f"act:join:{spring.id}"))
    with store.transaction() as uow:
        assert uow.enrolments.status(spring.id, amira) == "registered"
        assert uow.enrolments.status(spring.id, bea) == "waitlisted"
    assert outbox(store, amira)["day"][0] == "pending"
    return store, spring.id, amira, bea


@pytest.mark.parametrize("how", ["leave the network", "withdraw consent", "delete my data"])
def test_going_away_withdraws_reminders_and_promotes_the_waitlist(
        full_series: tuple[SqlStore, int, int, int], clock: FakeClock, how: str) -> None:
    store, series_id, amira, bea = full_series
    chat = ChatHarness(store, clock, user="amira")
    if how == "leave the network":
        chat.say("networks")
        chat.pick(chat.tr("networks.action.leave", network="Care Homes ECHO"))
        chat.say("yes")
    elif how == "withdraw consent":
        chat.say("consent")
        chat.pick(chat.tr("consent.withdraw.option", network="Care Homes ECHO"))
        chat.say("yes")
    else:
        chat.say("delete my data")
        chat.say("yes")
    with store.transaction() as uow:
        assert uow.enrolments.status(series_id, amira) is None
        assert uow.enrolments.status(series_id, bea) == "registered"
    assert all(status != "pending" for status, _ in outbox(store, amira).values())
    assert any(key.startswith("place_offered:") for key in outbox(store, bea))


def test_a_new_time_zone_moves_the_reminders_to_the_new_local_hours(suite_store: SqlStore,
                                                                     clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    now = clock.now()
    amira = member(store, now, "amira")
    spring = series(store, now)
    session(store, now, spring, SESSION_START)
    enrol(store, now, spring, amira)
    chat = ChatHarness(store, clock, user="amira")
    chat.send(UserChose(f"act:going:{_session_id(store, spring.id)}"))  # plans her reminders
    assert outbox(store, amira)["day"][1] == datetime(2025, 6, 4, 9, 0, tzinfo=UTC)  # 10:00 BST

    with store.transaction() as uow:
        from assistant.events import Actor, Hints
        from assistant.i18n import Translator
        from assistant.runtime import Directory
        from assistant.services.context import ServiceContext
        from assistant.services.profile import update_profile

        person = uow.people.get(amira)
        ctx = ServiceContext(uow=uow, actor=Actor("console:amira"), now=now, t=Translator("en"),
                             hints=Hints(), directory=Directory(), person=person, address={})
        update_profile({"time_zone": "America/Toronto"}, ctx)
    assert outbox(store, amira)["day"] == ("pending", datetime(2025, 6, 4, 14, 0, tzinfo=UTC))


def _session_id(store: SqlStore, series_id: int) -> int:
    with store.transaction() as uow:
        return uow.schedule.sessions_of(series_id)[0].id
