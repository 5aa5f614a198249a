"""The turn handler's promises: one transaction, no double processing, apologies that lose
nothing, and racing devices that never lose an answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace

import pytest

from assistant.events import Actor, Event, UserSaid
from assistant.i18n import translate
from assistant.messages import Part, Text
from assistant.runtime import Ask, Dialog, DialogState
from assistant.services.context import ServiceContext
from assistant.turns import Routed, StartDialog, TurnHandler
from dialogs import PLAYBOOK
from storage.repositories import SqlStore
from tests.harness import ChatHarness, seeded
from tests.test_registration import SCRIPT, follow


class ExplodingPlaybook:
    """The real conversations, except that one answer makes the dialog's parser crash."""

    def __init__(self, trigger: str) -> None:
        self.trigger = trigger

    def dialog(self, name: str) -> Dialog:
        dialog = PLAYBOOK.dialog(name)
        steps = tuple(replace(step, parse=self._boom(step.parse)) if isinstance(step, Ask) else step
                      for step in dialog.steps)
        return replace(dialog, steps=steps)

    def knows(self, name: str) -> bool:
        return PLAYBOOK.knows(name)

    def route(self, event: Event, ctx: ServiceContext) -> Routed:
        return PLAYBOOK.route(event, ctx)

    def _boom(self, parse):  # type: ignore[no-untyped-def]
        def parse_or_crash(text, ctx):  # type: ignore[no-untyped-def]
            if text == self.trigger:
                raise RuntimeError("NHS 999 765 4323 in an exception message")
            return parse(text, ctx) if parse else None
        return parse_or_crash


@pytest.fixture
def chat(suite_store: SqlStore, clock) -> ChatHarness:
    return ChatHarness(seeded(suite_store, clock), clock)


def test_a_crash_apologises_with_a_reference_and_loses_nothing(
        chat: ChatHarness, clock, caplog: pytest.LogCaptureFixture) -> None:
    follow(chat, SCRIPT, until="organisation")
    chat.turns = TurnHandler(chat.store, clock, ExplodingPlaybook("kaboom"))
    with caplog.at_level(logging.ERROR):
        result = chat.say("kaboom")
    assert result.incident is not None and len(result.incident) == 6
    chat.expect_said("runtime.apology", ref=result.incident)
    chat.expect_question("organisation")  # the pending question follows the apology
    assert chat.tr("fields.organisation.ask") in chat.text
    assert chat.answers["email"] == "Amira@example.org"
    assert "RuntimeError" not in chat.text and "999" not in chat.text
    incident_logs = [r for r in caplog.records if getattr(r, "incident", None) == result.incident]
    assert incident_logs and incident_logs[0].exc_info is not None
    chat.restart()
    chat.say("St Columba's Hospice")
    chat.expect_question("care_setting")


def test_the_apology_is_sent_once_even_if_the_event_is_redelivered(chat: ChatHarness, clock) -> None:
    follow(chat, SCRIPT, until="organisation")
    chat.turns = TurnHandler(chat.store, clock, ExplodingPlaybook("kaboom"))
    first = chat.send(UserSaid("kaboom"), delivery_id="Ev-crash")
    again = chat.send(UserSaid("kaboom"), delivery_id="Ev-crash")
    assert first.replies and again.duplicate and not again.replies
    with chat.store.transaction() as uow:
        claimed = uow.outbox.claim("w", clock.now(), clock.now(), 100, chat.identity)
    apologies = [m for m in claimed if translate("runtime.apology", "en", ref=first.incident)
                 in m.reply.fallback_text()]
    assert len(apologies) == 1


def test_replies_are_queued_in_the_outbox_in_order(chat: ChatHarness, clock) -> None:
    chat.start()
    chat.say("1")
    with chat.store.transaction() as uow:
        queued = uow.outbox.claim("w", clock.now(), clock.now(), 100, chat.identity)
    texts = [m.reply.fallback_text() for m in queued]
    assert translate("registration.welcome", "en") in texts[0]
    assert translate("fields.full_name.ask", "en") in texts[-1]


def test_two_devices_answering_the_same_question_at_once_lose_nothing(
        store_on: SqlStore, clock) -> None:
    suite_store = store_on  # both engines: PostgreSQL really interleaves the two turns
    chat = ChatHarness(seeded(suite_store, clock), clock)
    follow(chat, SCRIPT, until="organisation")
    barrier = threading.Barrier(2)
    results = []

    def answer(text: str) -> None:
        handler = TurnHandler(suite_store, clock, PLAYBOOK)
        barrier.wait()
        results.append(handler.handle_now(Event(f"race-{text}", Actor(chat.identity),
                                                UserSaid(text))))

    threads = [threading.Thread(target=answer, args=(t,)) for t in ("Org A", "hospice")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.incident is None for r in results)
    # Whichever came first answered "organisation"; the other then answered the next question.
    answers = chat.answers
    assert answers["organisation"] in ("Org A", "hospice")
    assert chat.pending in ("care_setting", "region")


def test_a_state_saved_by_a_vanished_dialog_version_is_migrated(chat: ChatHarness, clock) -> None:
    follow(chat, SCRIPT, until="organisation")
    with chat.store.transaction() as uow:
        state = uow.conversations.active(chat.identity)
        assert state is not None
        old = replace(state, dialog_version=0, answers={**state.answers, "pager": "1234"})
        uow.conversations.save(chat.identity, old, clock.now())
    chat.say("St Columba's Hospice")
    chat.expect_question("care_setting")
    assert "pager" not in chat.answers


class GreetingPlaybook:
    def dialog(self, name: str) -> Dialog:
        return PLAYBOOK.dialog(name)

    def knows(self, name: str) -> bool:
        return PLAYBOOK.knows(name)

    def route(self, event: Event, ctx: ServiceContext) -> Routed:
        parts: Sequence[Part] = [Text("hello")]
        return parts if ctx.person else StartDialog("registration", lead=(Text("first"),))


def test_a_router_lead_comes_before_the_dialog(suite_store: SqlStore, clock) -> None:
    chat = ChatHarness(seeded(suite_store, clock), clock)
    chat.turns = TurnHandler(suite_store, clock, GreetingPlaybook())
    chat.say("anything")
    assert chat.texts()[0] == "first"
    chat.expect_question("begin")


def test_the_dialog_state_row_holds_no_more_than_the_answers(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="email")
    state = chat.state()
    assert isinstance(state, DialogState)
    assert state.history == ("welcome", "begin", "full_name")
    assert state.pending_step == "email"


def test_delivery_ids_older_than_an_hour_are_forgotten(chat: ChatHarness, clock) -> None:
    from assistant.housekeeping import forget_old_deliveries

    chat.start()
    chat.send(UserSaid("Not now"), delivery_id="Ev-old")
    clock.advance(minutes=30)
    assert forget_old_deliveries(chat.store, clock) == 0
    assert chat.send(UserSaid("Not now"), delivery_id="Ev-old").duplicate
    clock.advance(minutes=31)
    assert forget_old_deliveries(chat.store, clock) >= 1
    assert not chat.send(UserSaid("help"), delivery_id="Ev-old").duplicate


def test_a_state_from_a_dialog_that_no_longer_exists_is_dropped(chat: ChatHarness, clock) -> None:
    with chat.store.transaction() as uow:
        uow.people.arrive(chat.identity, {}, clock.now())
        uow.conversations.save(chat.identity, DialogState(dialog="retired", dialog_version=1,
                                                          pending_step="x"), clock.now())
    chat.say("hello")
    assert chat.last is not None and chat.last.incident is None
    chat.expect_question("begin")  # a newcomer again, not an endless apology
