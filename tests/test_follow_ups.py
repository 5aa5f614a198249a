"""The team's follow-up after a session: written in chat, previewed, and sent through the
outbox, thanks to those who came and "sorry we missed you" to those who did not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.model import AttendanceRecord, Session
from assistant.outbox import Sender
from assistant.ports import Store
from assistant.services.follow_ups import send_follow_up
from storage.repositories import SqlStore
from tests.community import enrol, member, open_networks, series, session
from tests.harness import ChatHarness
from tests.inbox import Inbox, refs

HELD = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # the Monday of the test clock, 13:00 in London
SLIDES = "https://example.org/slides/pain.pdf"
RECORDING = "https://example.org/recordings/42"


class Network:
    """Care Homes ECHO after one session: Fay facilitates; Amira came; Ben and Cara (who said
    she could not come) are registered; Dan is a member who did not register."""

    def __init__(self, store: Store, clock: FakeClock, fay_language: str = "en") -> None:
        now = clock.now()
        open_networks(store, now)
        self.fay = member(store, now, "fay", role="facilitator", language=fay_language)
        self.amira = member(store, now, "amira")
        self.ben = member(store, now, "ben", language="fr", zone="America/Montreal")
        self.cara = member(store, now, "cara")
        self.dan = member(store, now, "dan")
        self.spring = series(store, now)
        for person in (self.amira, self.ben, self.cara):
            enrol(store, now, self.spring, person)
        self.held: Session = session(store, now, self.spring, HELD)
        self.coming: Session = session(store, now, self.spring, HELD + timedelta(days=14),
                                       topic="Breathlessness")
        with store.transaction() as uow:
            uow.rsvps.set(self.held.id, self.cara, "not_going", now)
        clock.advance(hours=5)  # the session is over


def came(store: Store, session_id: int, person_id: int, at: datetime) -> None:
    with store.transaction() as uow:
        uow.attendance.mark(AttendanceRecord(session_id, person_id, True, None, "button",
                                             "console:x", at))


def write_follow_up(fay: ChatHarness, when: str = "now") -> None:
    fay.say("follow up")
    fay.expect_question("session")
    fay.pick(fay.options()[0].label)
    fay.expect_question("summary")
    fay.say("Opioid conversion and when to call the palliative team.\nCases: agitation at night.")
    fay.expect_question("resources")
    fay.say(SLIDES)
    fay.expect_question("recording")
    fay.say(RECORDING)
    fay.expect_question("teaser")
    fay.say("skip")
    fay.expect_question("when")
    fay.say(when)


def test_attendees_are_thanked_and_absentees_get_what_they_missed(suite_store: SqlStore,
                                                                 clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    came(suite_store, world.held.id, world.amira, clock.now())
    inbox = Inbox()
    fay = ChatHarness(suite_store, clock, user="fay")

    write_follow_up(fay)
    fay.expect_question("send")
    # The preview shows both messages exactly as they will read.
    assert fay.tr("follow_up.message.thanks", title="Spring series: Pain at the end of life",
                  date="Monday 2 June 2025") in fay.text
    assert "Sorry we missed you" in fay.text and SLIDES in fay.text
    fay.say("yes")
    fay.expect_said("follow_up.sent", count=3)
    asyncio.run(Sender(suite_store, inbox, clock, worker="w").deliver_due())

    [amira] = inbox.of("console:amira")
    assert "Thank you for joining" in amira.reply.fallback_text()
    assert RECORDING in amira.reply.fallback_text()
    assert f"act:evaluate:{world.held.id}" in refs(amira)
    assert "Next session" in amira.reply.fallback_text()
    [ben] = inbox.of("console:ben")  # in French, in his own zone
    assert "Dommage de ne pas vous avoir vu" in ben.reply.fallback_text()
    assert RECORDING in ben.reply.fallback_text()
    assert not any(r.startswith("act:evaluate:") for r in refs(ben))
    [cara] = inbox.of("console:cara")
    assert "Sorry we missed you" in cara.reply.fallback_text()
    assert inbox.of("console:dan") == []
    assert not any("Opioid conversion" in m.reply.fallback_text() for m in inbox.of("console:fay")
                   if "Send it?" not in m.reply.fallback_text())


def test_with_no_attendance_recorded_everyone_gets_one_message_with_the_survey(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    inbox = Inbox()
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay)
    fay.say("yes")
    asyncio.run(Sender(suite_store, inbox, clock, worker="w").deliver_due())
    for who in ("amira", "cara"):
        [message] = inbox.of(f"console:{who}")
        assert "Thank you for being part of" in message.reply.fallback_text()
    [amira] = inbox.of("console:amira")
    assert f"act:evaluate:{world.held.id}" in refs(amira)


def test_send_pressed_twice_sends_once(store_on: SqlStore, clock: FakeClock) -> None:
    Network(store_on, clock)
    inbox = Inbox()
    fay = ChatHarness(store_on, clock, user="fay")
    write_follow_up(fay)
    send_ref = fay.option("runtime.yes").ref
    fay.send(UserChose(send_ref))
    fay.send(UserChose(send_ref))  # the same button again: the conversation is over
    asyncio.run(Sender(store_on, inbox, clock, worker="w").deliver_due())
    assert len(inbox.of("console:amira")) == 1
    with store_on.transaction() as uow:
        assert len(uow.follow_ups.of_session(uow.schedule.sessions_of(1)[0].id)) == 1


def test_the_service_stores_one_follow_up_per_conversation(store_on: SqlStore,
                                                          clock: FakeClock) -> None:
    world = Network(store_on, clock)
    fay = ChatHarness(store_on, clock, user="fay")
    fay.say("help")  # any turn, for a context with Fay in it
    from assistant.events import Actor, Hints
    from assistant.i18n import Translator
    from assistant.runtime import Directory
    from assistant.services.context import ServiceContext

    for _ in range(2):
        with store_on.transaction() as uow:
            person = uow.people.get(world.fay)
            ctx = ServiceContext(uow, Actor("console:fay"), clock.now(), Translator("en"), Hints(),
                                 Directory(), person, {})
            send_follow_up(ctx, world.held.id, {"summary": "Done."}, None, "console:fay:key")
    with store_on.transaction() as uow:
        assert len(uow.follow_ups.of_session(world.held.id)) == 1
        assert uow.outbox.known([f"follow_up:1:{world.amira}"]) == {f"follow_up:1:{world.amira}"}


def test_a_scheduled_follow_up_waits_and_uses_the_attendance_recorded_by_then(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    inbox = Inbox()
    sender = Sender(suite_store, inbox, clock, worker="w")
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay, when="tomorrow at 9am")
    assert "Tuesday 3 June 2025" in fay.text  # confirmed back with the date
    fay.say("yes")
    fay.expect_question("send")
    fay.say("yes")
    assert "Scheduled for" in fay.text
    asyncio.run(sender.deliver_due())
    assert inbox.of("console:amira") == [] and inbox.of("console:ben") == []
    # The Zoom report arrives in the evening: Ben was there after all.
    came(suite_store, world.held.id, world.ben, clock.now())
    clock.advance(hours=20)  # Tuesday 11:00 in London, 06:00 in Montreal
    asyncio.run(sender.deliver_due())
    assert inbox.of("console:ben") == []  # his quiet hours end at 08:00 his time
    assert "Sorry we missed you" in inbox.of("console:amira")[0].reply.fallback_text()
    clock.advance(hours=3)
    asyncio.run(sender.deliver_due())
    assert "Merci d'avoir participé" in inbox.of("console:ben")[0].reply.fallback_text()


def test_newcomers_get_the_follow_up_and_nobody_gets_it_twice(suite_store: SqlStore,
                                                             clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    inbox = Inbox()
    sender = Sender(suite_store, inbox, clock, worker="w")
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay)
    fay.say("yes")
    asyncio.run(sender.deliver_due())
    enrol(suite_store, clock.now(), world.spring, world.dan)

    fay.say("follow ups")
    fay.pick("follow_up.action.resend")
    fay.expect_said("follow_up.resent", count=1)
    asyncio.run(sender.deliver_due())
    assert len(inbox.of("console:dan")) == 1
    assert len(inbox.of("console:amira")) == 1
    fay.say("follow ups")
    fay.pick("follow_up.action.resend")
    fay.expect_said("follow_up.no_newcomers")


def test_only_the_networks_team_can_write_list_show_or_resend(suite_store: SqlStore,
                                                             clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    member(suite_store, clock.now(), "gus", role="facilitator", network="palliative-essentials")
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay)
    fay.say("yes")
    with suite_store.transaction() as uow:
        [stored] = uow.follow_ups.of_session(world.held.id)

    amira = ChatHarness(suite_store, clock, user="amira")
    amira.say("follow up")
    amira.expect_said("follow_up.team_only")
    gus = ChatHarness(suite_store, clock, user="gus")
    gus.say("follow up")
    gus.expect_said("follow_up.no_sessions")
    for who in (amira, gus):
        for action in ("follow_up_show", "follow_up_resend"):
            who.send(UserChose(f"act:{action}:{stored.id}"))
            who.expect_said("follow_up.not_allowed")
            assert "Opioid conversion" not in who.text
    with suite_store.transaction() as uow:
        refused = [row for row in _audit(uow) if row["action"] == "action.refused"]
    assert len(refused) == 4
    fay.send(UserChose(f"act:follow_up_show:{stored.id}"))
    assert "Opioid conversion" in fay.text


def _audit(uow: object) -> list[dict[str, object]]:
    from sqlalchemy import select

    from storage.tables import AuditRow

    conn = uow.audit._conn  # type: ignore[attr-defined]
    return [dict(row._mapping) for row in conn.execute(select(AuditRow.__table__))]  # type: ignore[attr-defined]


def test_a_summary_that_could_identify_a_patient_is_flagged_before_anyone_reads_it(
        suite_store: SqlStore, clock: FakeClock) -> None:
    Network(suite_store, clock)
    fay = ChatHarness(suite_store, clock, user="fay")
    fay.say("follow up")
    fay.pick(fay.options()[0].label)
    fay.say("We discussed the case of NHS 999 765 4323 and her pain.")
    assert "999 765 4323" not in fay.text  # shown masked
    assert fay.pending == "summary"
    assert "summary" not in fay.answers


@pytest.mark.parametrize(("typed", "reason"), [
    ("slides on the shared drive", "follow_up.link.not_a_link"),
    ("ftp://example.org/slides", "follow_up.link.not_a_link"),
    ("https://zoom.us@example.org/x", "follow_up.link.not_a_link"),
])
def test_a_bad_link_is_asked_again_with_the_reason(suite_store: SqlStore, clock: FakeClock,
                                                   typed: str, reason: str) -> None:
    Network(suite_store, clock)
    fay = ChatHarness(suite_store, clock, user="fay")
    fay.say("follow up")
    fay.pick(fay.options()[0].label)
    fay.say("A summary.")
    fay.say(typed)
    fay.expect_question("resources")
    fay.expect_said(reason, typed=typed.split()[0])
    assert fay.answers["summary"] == "A summary."


def test_a_french_facilitator_writes_it_in_french(suite_store: SqlStore,
                                                  clock: FakeClock) -> None:
    Network(suite_store, clock, fay_language="fr")
    fay = ChatHarness(suite_store, clock, user="fay")
    fay.say("suivi")
    fay.expect_question("session")
    assert fay.tr("follow_up.session.ask", "fr") in fay.text
    fay.pick(fay.options()[0].label)
    fay.say("Conversion des opioïdes.")
    fay.say("passer")
    fay.say("passer")
    fay.say("passer")
    fay.say("maintenant")
    fay.expect_question("send")
    assert "Merci d'avoir participé" in fay.text
    fay.say("oui")
    fay.expect_said("follow_up.sent", "fr", count=3)


def test_cancelling_sends_nothing(suite_store: SqlStore, clock: FakeClock) -> None:
    Network(suite_store, clock)
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay)
    fay.say("no")
    fay.expect_said("follow_up.not_sent")
    with suite_store.transaction() as uow:
        assert uow.follow_ups.of_session(1) == []


def test_an_attendee_who_does_not_answer_the_survey_is_reminded_once(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    came(suite_store, world.held.id, world.amira, clock.now())
    inbox = Inbox()
    sender = Sender(suite_store, inbox, clock, worker="w")
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay)
    fay.say("yes")
    asyncio.run(sender.deliver_due())
    assert len(inbox.of("console:amira")) == 1
    for _ in range(4):  # three days on, then every day until the survey closes
        clock.advance(days=1)
        asyncio.run(sender.deliver_due())
    amira = inbox.of("console:amira")
    assert len(amira) == 2
    assert f"act:evaluate:{world.held.id}" in refs(amira[1])
    assert "Thank you for joining" not in amira[1].reply.fallback_text()


def test_no_reminder_once_the_survey_is_answered(suite_store: SqlStore,
                                                 clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    came(suite_store, world.held.id, world.amira, clock.now())
    inbox = Inbox()
    sender = Sender(suite_store, inbox, clock, worker="w")
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay)
    fay.say("yes")
    asyncio.run(sender.deliver_due())
    amira = ChatHarness(suite_store, clock, user="amira")
    amira.send(UserChose(f"act:evaluate:{world.held.id}"))
    for score in ("5", "4", "4"):
        amira.say(score)
    amira.pick("evaluation.recommend.yes")
    amira.say("skip")
    with suite_store.transaction() as uow:
        assert uow.evaluations.answered(world.held.id, world.amira)
    clock.advance(days=4)
    asyncio.run(sender.deliver_due())
    assert len([m for m in inbox.of("console:amira")
                if f"act:evaluate:{world.held.id}" in refs(m)]) == 1


def test_the_summary_alone_can_go_to_the_networks_channel(suite_store: SqlStore,
                                                          clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    came(suite_store, world.held.id, world.amira, clock.now())
    with suite_store.transaction() as uow:
        uow.networks.set_channel("care-homes", "slack:T1/C0CARE", {"team": "T1", "channel": "C0CARE"})
    inbox = Inbox()
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay)
    fay.expect_question("channel")
    fay.say("yes")
    fay.expect_question("send")
    fay.say("yes")
    asyncio.run(Sender(suite_store, inbox, clock, worker="w", platforms=["slack", "console"])
                .deliver_due())
    [post] = inbox.of("slack:T1/C0CARE")
    assert post.reply.private is False
    text = post.reply.fallback_text()
    assert "Opioid conversion" in text
    assert RECORDING not in text and SLIDES not in text
    assert "Amira" not in text and "Test" not in text
    assert len(inbox.of("console:amira")) == 1  # members still get theirs in private


def test_without_a_channel_the_question_is_not_asked(suite_store: SqlStore,
                                                     clock: FakeClock) -> None:
    Network(suite_store, clock)
    fay = ChatHarness(suite_store, clock, user="fay")
    write_follow_up(fay)
    fay.expect_question("send")
