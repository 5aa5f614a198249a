""""Tell me when registration opens": the button on an opening-soon series, the list, and the
one message each subscriber gets through the outbox when the series opens, however many times
it is opened and whichever process sends it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.i18n import translate
from assistant.model import Series
from assistant.outbox import Sender
from assistant.ports import Store
from assistant.services.alerts import OPENED, OPENING, announce_opening
from assistant.services.schedule import set_series_state
from storage.engine import make_engine
from storage.repositories import SqlStore
from storage.tables import AuditRow, OutboxRow
from tests.command_line import in_process
from tests.community import OPERATOR, enrol, member, open_networks, series
from tests.conftest import TEST_SEALER, url_of
from tests.harness import ChatHarness
from tests.inbox import Inbox, refs

AUDIT, OUTBOX = AuditRow.__table__, OutboxRow.__table__  # type: ignore[attr-defined]


def deliver(store: Store, clock: FakeClock, inbox: Inbox) -> int:
    return asyncio.run(Sender(store, inbox, clock, worker="w")
                       .deliver_due())


def press(chat: ChatHarness, ref: str) -> ChatHarness:
    result = chat.send(UserChose(ref))
    assert result.incident is None, chat.text
    return chat


def opening_rows(store: SqlStore, of: Series) -> dict[str, str]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(OUTBOX).where(
            OUTBOX.c.dedupe_key.startswith(f"{OPENED}:{of.id}:")))
        return {r.dedupe_key: r.status for r in rows}


def open_series(store: Store, of: Series, clock: FakeClock, state: str = "open") -> Series:
    with store.transaction() as uow:
        changed = set_series_state(uow, OPERATOR, of, state, clock.now())
    assert isinstance(changed, Series), changed
    return changed


@pytest.fixture
def store(suite_store: SqlStore, clock: FakeClock) -> SqlStore:
    open_networks(suite_store, clock.now())
    return suite_store


# --- the button -----------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_opening_soon_series_offers_to_tell_me_and_a_second_press_says_so(store, clock,
                                                                            language):
    amira = member(store, clock.now(), "amira", language=language)
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    chat = ChatHarness(store, clock, user="amira")

    chat.say("sessions" if language == "en" else "séances")
    notify = chat.option(translate("alerts.action.notify", language))
    assert notify.ref == f"act:notify_open:{autumn.id}"
    assert translate("sessions.state.opening_soon", language) in chat.text

    press(chat, notify.ref)
    chat.expect_said("alerts.listed", language, series="Autumn series")
    press(chat, notify.ref)
    chat.expect_said("alerts.already_listed", language, series="Autumn series")
    assert chat.option(translate("alerts.action.stop", language)).ref == \
        f"act:notify_open_off:{autumn.id}"

    chat.say("sessions" if language == "en" else "séances")  # the listing knows
    assert translate("alerts.on_the_list", language) in chat.text
    assert [o.ref for o in chat.options()] == [f"act:notify_open_off:{autumn.id}"]
    with store.transaction() as uow:
        assert uow.series_alerts.waiting(autumn.id, OPENING) == [amira]


def test_dont_tell_me_takes_one_off_the_list(store, clock):
    amira = member(store, clock.now(), "amira")
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    chat = press(ChatHarness(store, clock, user="amira"), f"act:notify_open:{autumn.id}")

    press(chat, f"act:notify_open_off:{autumn.id}")
    chat.expect_said("alerts.unlisted", series="Autumn series")
    press(chat, f"act:notify_open_off:{autumn.id}")
    chat.expect_said("alerts.not_listed", series="Autumn series")
    with store.transaction() as uow:
        assert not uow.series_alerts.subscribed(autumn.id, amira, OPENING)
        assert announce_opening(uow, autumn, clock.now()) == 0


def test_joining_an_opening_soon_series_offers_the_button_instead(store, clock):
    member(store, clock.now(), "amira")
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    chat = press(ChatHarness(store, clock, user="amira"), f"act:join:{autumn.id}")
    chat.expect_said("sessions.series_opening_soon", series="Autumn series")
    assert [o.ref for o in chat.options()] == [f"act:notify_open:{autumn.id}"]


def test_a_series_already_open_offers_registration(store, clock):
    member(store, clock.now(), "amira")
    spring = series(store, clock.now())
    chat = press(ChatHarness(store, clock, user="amira"), f"act:notify_open:{spring.id}")
    chat.expect_said("alerts.already_open", series="Spring series")
    assert [o.ref for o in chat.options()] == [f"act:join:{spring.id}"]


@pytest.mark.parametrize("action", ["notify_open", "notify_open_off"])
def test_a_forged_series_is_refused_and_audited(store, clock, action):
    member(store, clock.now(), "amira")  # care-homes only
    elsewhere = series(store, clock.now(), name="elsewhere", network="palliative-essentials",
                       state="opening_soon")
    chat = ChatHarness(store, clock, user="amira")
    for number in (elsewhere.id, 99999):
        press(chat, f"act:{action}:{number}")
        assert chat.text == translate("sessions.not_yours", "en")
    with store.engine.connect() as connection:
        refused = connection.execute(select(AUDIT.c.subject).where(
            AUDIT.c.action == "action.refused")).scalars().all()
    assert refused == [f"series:{elsewhere.id}", "series:99999"]
    with store.transaction() as uow:
        assert uow.series_alerts.waiting(elsewhere.id, OPENING) == []


# --- opening: one message per subscriber ------------------------------------------------------

def test_opening_tells_each_subscriber_once_across_a_restart_and_two_openings(
        store_on: SqlStore, clock: FakeClock):
    open_networks(store_on, clock.now())
    amira = member(store_on, clock.now(), "amira")
    ben = member(store_on, clock.now(), "ben", language="fr", zone="America/Montreal")
    member(store_on, clock.now(), "dan")  # never asked
    autumn = series(store_on, clock.now(), name="autumn", state="opening_soon")
    for user in ("amira", "ben"):
        press(ChatHarness(store_on, clock, user=user), f"act:notify_open:{autumn.id}")
    deliver(store_on, clock, Inbox())  # the answers to those presses

    open_series(store_on, autumn, clock)
    with store_on.transaction() as uow:  # a second replica planning again adds nothing
        assert announce_opening(uow, autumn, clock.now()) == 0
    assert set(opening_rows(store_on, autumn)) == {f"{OPENED}:{autumn.id}:{amira}",
                                                   f"{OPENED}:{autumn.id}:{ben}"}

    restarted = SqlStore(make_engine(url_of(store_on)), TEST_SEALER)  # a new process, same database
    try:
        inbox = Inbox()
        clock.advance(hours=4)  # 08:00 in Montreal: Ben's quiet hours are over
        assert deliver(restarted, clock, inbox) == 2
        open_series(restarted, autumn, clock, "closed")
        open_series(restarted, autumn, clock)  # opened a second time
        clock.advance(hours=1)
        deliver(restarted, clock, inbox)
        assert deliver(restarted, clock, inbox) == 0
    finally:
        restarted.close()

    [to_amira] = inbox.of("console:amira")
    assert translate("alerts.opened.open", "en", series="Autumn series") in \
        to_amira.reply.fallback_text()
    assert refs(to_amira) == [f"act:join:{autumn.id}"]
    [to_ben] = inbox.of("console:ben")  # in his language
    assert translate("alerts.opened.open", "fr", series="Autumn series") in \
        to_ben.reply.fallback_text()
    assert inbox.of("console:dan") == []
    with store_on.transaction() as uow:
        assert uow.series_alerts.waiting(autumn.id, OPENING) == []


def test_the_register_button_in_the_message_gives_a_place(store, clock):
    amira = member(store, clock.now(), "amira")
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    press(ChatHarness(store, clock, user="amira"), f"act:notify_open:{autumn.id}")
    deliver(store, clock, Inbox())  # the answer to the press
    open_series(store, autumn, clock)
    inbox = Inbox()
    deliver(store, clock, inbox)
    [message] = inbox.of("console:amira")

    press(ChatHarness(store, clock, user="amira"), refs(message)[0]).expect_said(
        "sessions.joined.registered", series="Autumn series")
    with store.transaction() as uow:
        assert uow.enrolments.status(autumn.id, amira) == "registered"


def test_a_message_is_dropped_when_the_subscriber_already_has_a_place_or_it_closed(store, clock):
    amira = member(store, clock.now(), "amira")
    member(store, clock.now(), "ben")
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    for user in ("amira", "ben"):
        press(ChatHarness(store, clock, user=user), f"act:notify_open:{autumn.id}")
    deliver(store, clock, Inbox())  # the answers to the presses
    open_series(store, autumn, clock)
    enrol(store, clock.now(), autumn, amira)  # registered before the message went
    inbox = Inbox()
    deliver(store, clock, inbox)
    assert inbox.of("console:amira") == []
    assert len(inbox.of("console:ben")) == 1


def test_opening_a_full_series_gives_everyone_waiting_a_place(store, clock):
    people = [member(store, clock.now(), user) for user in ("amira", "ben", "cara")]
    busy = series(store, clock.now(), name="busy", state="full")
    for person in people:
        enrol(store, clock.now(), busy, person, "waitlisted")
    open_series(store, busy, clock)
    with store.transaction() as uow:
        assert [uow.enrolments.status(busy.id, p) for p in people] == ["registered"] * 3


def test_a_full_series_offers_the_waiting_list_not_an_alert(store, clock):
    """A seat freed in a full series reaches people through the waiting list, which already
    exists (join -> waitlisted; a freed seat -> promoted and told "place_offered")."""
    member(store, clock.now(), "amira")
    busy = series(store, clock.now(), name="busy", state="full")
    chat = ChatHarness(store, clock, user="amira")
    chat.say("sessions")
    assert [(o.label, o.ref) for o in chat.options()] == [
        (translate("sessions.action.join.full", "en"), f"act:join:{busy.id}")]


# --- the command line -------------------------------------------------------------------------

def test_spoke_admin_series_open_plans_the_messages_once(
        suite_store: SqlStore, tmp_path: Path, clock: FakeClock,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    open_networks(suite_store, clock.now())
    amira = member(suite_store, clock.now(), "amira")
    autumn = series(suite_store, clock.now(), name="autumn", state="opening_soon")
    press(ChatHarness(suite_store, clock, user="amira"), f"act:notify_open:{autumn.id}")
    spoke = in_process(url_of(suite_store), clock, tmp_path, capsys,
                       monkeypatch)

    first = spoke("admin", "series", "open", "autumn", "--network", "care-homes")
    assert first.code == 0, first.err
    assert "1 waiting subscriber(s) will be told" in first.out
    again = spoke("admin", "series", "open", "autumn", "--network", "care-homes")
    assert again.code == 0 and "subscriber" not in again.out
    assert opening_rows(suite_store, autumn) == {f"{OPENED}:{autumn.id}:{amira}": "pending"}

    closed = spoke("admin", "series", "close", "autumn", "--network", "care-homes")
    assert (closed.code, closed.out.strip()) == (0, "series autumn is closed")
    missing = spoke("admin", "series", "open", "winter", "--network", "care-homes")
    assert missing.code == 1 and 'there is no series "winter"' in missing.err


def test_only_the_team_may_open_a_series(store, clock):
    amira = member(store, clock.now(), "amira")
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    from assistant.services.schedule import Actor

    with store.transaction() as uow:
        refused: Any = set_series_state(uow, Actor("console:amira", amira), autumn, "open",
                                        clock.now())
    assert refused.message == "schedule.not_allowed"
    with store.transaction() as uow:
        assert uow.schedule.series(autumn.id).state == "opening_soon"  # type: ignore[union-attr]


def test_deleting_ones_data_takes_one_off_every_list(store, clock):
    amira = member(store, clock.now(), "amira")
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    chat = press(ChatHarness(store, clock, user="amira"), f"act:notify_open:{autumn.id}")
    with store.transaction() as uow:
        assert uow.series_alerts.waiting(autumn.id, "opening") == [amira]
    chat.say("delete my data")
    chat.say("yes")
    with store.transaction() as uow:
        assert uow.series_alerts.waiting(autumn.id, "opening") == []
        assert not uow.series_alerts.subscribed(autumn.id, amira, "opening")


def test_a_button_pressed_by_someone_not_registered_is_refused_and_audited(store, clock):
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    chat = ChatHarness(store, clock, user="stranger")
    chat.send(UserChose(f"act:notify_open:{autumn.id}"))
    chat.expect_said("commands.register_first")
    with store.engine.connect() as connection:
        refused = connection.execute(select(AUDIT.c.detail).where(
            AUDIT.c.action == "action.refused")).scalars().all()
    assert refused == [{"reason": "not_registered", "action": "notify_open"}]
    with store.transaction() as uow:
        assert uow.series_alerts.waiting(autumn.id, "opening") == []
