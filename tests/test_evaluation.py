"""The post-session survey: answered in chat in English and French from the "Evaluate"
button, re-asked on answers it cannot use, checked for identifiers, open only to attendees
and only for a week, stored once (even from two devices), one reminder that is withdrawn
once answered, and aggregates that say nothing below three answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import Actor, Hints, UserChose
from assistant.i18n import Translator
from assistant.messages import Card, Reply
from assistant.model import AttendanceRecord, EvaluationAnswer, Session
from assistant.ports import Store
from assistant.runtime import Directory
from assistant.services.context import Refused, ServiceContext
from assistant.services.evaluation import (
    EVALUATION_WINDOW,
    MIN_RESPONSES,
    REMINDER_AFTER,
    evaluation_summary,
    may_evaluate,
    plan_evaluation_reminder,
    save_evaluation,
    write_evaluation_reminder,
)
from storage.repositories import SqlStore
from storage.tables import AuditRow, OutboxRow
from tests.community import enrol, member, open_networks, series, session
from tests.harness import ChatHarness

AUDIT, OUTBOX = AuditRow.__table__, OutboxRow.__table__
HELD = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # the Monday of the test clock, 13:00 in London


class Network:
    """Care Homes ECHO after one session: Fay facilitates; Amira (English) and Ben (French,
    in Montreal) came; Cara registered but was not marked; Dan is a member who did not
    register; Gus belongs to another network."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        open_networks(store, now)
        self.store, self.clock = store, clock
        self.fay = member(store, now, "fay", role="facilitator")
        self.amira = member(store, now, "amira")
        self.ben = member(store, now, "ben", language="fr", zone="America/Montreal")
        self.cara = member(store, now, "cara")
        self.dan = member(store, now, "dan")
        self.gus = member(store, now, "gus", network="palliative-essentials")
        self.spring = series(store, now)
        for person in (self.amira, self.ben, self.cara):
            enrol(store, now, self.spring, person)
        self.held: Session = session(store, now, self.spring, HELD)
        clock.advance(hours=5)  # the session is over

    def came(self, *people: int) -> None:
        with self.store.transaction() as uow:
            for person in people:
                uow.attendance.mark(AttendanceRecord(self.held.id, person, True, None, "button",
                                                     "console:x", self.clock.now()))

    def chat(self, user: str) -> ChatHarness:
        return ChatHarness(self.store, self.clock, user=user)

    def answers(self) -> list[EvaluationAnswer]:
        with self.store.transaction() as uow:
            return uow.evaluations.of_sessions([self.held.id])


def evaluate(chat: ChatHarness, session_id: int) -> None:
    chat.send(UserChose(f"act:evaluate:{session_id}"))


def audit(store: SqlStore, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with store.engine.connect() as connection:
        return [(r.actor, r.subject, r.detail) for r in connection.execute(
            select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id))]


def context(uow: Any, person_id: int, identity: str, now: datetime) -> ServiceContext:
    return ServiceContext(uow, Actor(identity), now, Translator("en"), Hints(), Directory(),
                          uow.people.get(person_id), {})


GOOD = {"satisfaction": "4", "relevance": "5", "confidence": "3", "recommend": "yes",
        "comment": "Ask about pain at every handover."}


# --- the survey in chat -------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "language", "zone_date", "closes"), [
    ("amira", "en", "Monday 2 June 2025", "Monday 9 June 2025"),
    ("ben", "fr", "lundi 2 juin 2025", "lundi 9 juin 2025"),
])
def test_an_attendee_answers_from_the_button_one_question_at_a_time(
        store_on: SqlStore, clock: FakeClock, user: str, language: str, zone_date: str,
        closes: str) -> None:
    world = Network(store_on, clock)
    world.came(world.amira, world.ben)
    person = world.amira if user == "amira" else world.ben
    chat = world.chat(user)

    evaluate(chat, world.held.id)
    chat.expect_said("evaluation.intro", language, title="Spring series: Pain at the end of life",
                     date=zone_date, closes=closes)
    chat.expect_question("satisfaction")
    labels = [o.label for o in chat.options()]
    assert labels == [chat.tr("evaluation.satisfaction.lowest", language), "2", "3", "4",
                      chat.tr("evaluation.satisfaction.highest", language)]
    chat.pick(chat.tr("evaluation.satisfaction.highest", language))
    chat.expect_question("relevance")
    chat.say("4")  # typed rather than pressed
    chat.expect_question("confidence")
    chat.say("7")  # not on the scale: asked again, with the reason
    chat.expect_question("confidence")
    scale = Translator(language).list([chat.tr("evaluation.confidence.lowest", language), "2", "3",
                                       "4", chat.tr("evaluation.confidence.highest", language)])
    chat.expect_said("runtime.choose.unknown", language, options=scale)
    assert "confidence" not in chat.answers
    chat.pick("3")
    chat.expect_question("recommend")
    chat.pick(chat.tr("evaluation.recommend.not_sure", language))
    chat.expect_question("comment")
    chat.expect_said("evaluation.comment.ask", language)
    chat.say("skip" if language == "en" else "passer")

    chat.expect_said("evaluation.thanks", language)
    assert chat.state() is None
    [stored] = world.answers()
    assert (stored.person_id, stored.satisfaction, stored.relevance, stored.confidence,
            stored.recommend, stored.comment) == (person, 5, 4, 3, "not_sure", "")
    # The log says a survey was answered, never what was answered.
    assert audit(store_on, "evaluation.answered") == [(f"console:{user}",
                                                       f"session:{world.held.id}", {})]


def test_a_comment_is_kept_in_the_writers_words(suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira)
    chat = world.chat("amira")
    evaluate(chat, world.held.id)
    for answer in ("2", "3", "4", "yes"):
        chat.say(answer)
    chat.say("  I will ask about   pain at every handover. ")
    chat.expect_said("evaluation.thanks")
    [stored] = world.answers()
    assert (stored.satisfaction, stored.relevance, stored.confidence, stored.recommend,
            stored.comment) == (2, 3, 4, "yes", "I will ask about pain at every handover.")


def test_an_identifying_comment_is_flagged_and_never_stored_as_written(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira)
    chat = world.chat("amira")
    evaluate(chat, world.held.id)
    for answer in ("5", "5", "5", "yes"):
        chat.say(answer)
    chat.say("Write to jane.doe@example.org about her mother's pain plan.")
    chat.expect_question("comment")
    assert "jane.doe@example.org" not in chat.text  # shown masked
    assert chat.tr("evaluation.comment.found", found="")[:40] in chat.text
    # An e-mail address is certain: "it's not identifying" is not offered.
    assert chat.tr("runtime.flag.keep") not in [o.label for o in chat.options()]
    assert world.answers() == []
    chat.pick("runtime.flag.edit")
    chat.expect_question("comment")
    chat.say("Write to the family about the pain plan.")
    chat.expect_said("evaluation.thanks")
    assert [a.comment for a in world.answers()] == ["Write to the family about the pain plan."]


def test_the_service_refuses_a_comment_with_a_certain_identifier(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira)
    with suite_store.transaction() as uow:
        ctx = context(uow, world.amira, "console:amira", clock.now())
        refused = save_evaluation(ctx, world.held.id,
                                  {**GOOD, "comment": "Her NHS number is 999 765 4323."})
    assert refused == Refused("evaluation.comment.identifiers")
    assert world.answers() == []


def test_answers_out_of_range_are_not_stored(suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira)
    with suite_store.transaction() as uow:
        ctx = context(uow, world.amira, "console:amira", clock.now())
        for forged in ("9", "²", "፩"):  # "²" and "፩" pass isdigit() and break int()
            assert save_evaluation(ctx, world.held.id, {**GOOD, "satisfaction": forged}) == Refused(
                "evaluation.incomplete")
        assert save_evaluation(ctx, world.held.id, {**GOOD, "recommend": "maybe"}) == Refused(
            "evaluation.incomplete")
    assert world.answers() == []


def test_cancel_keeps_nothing_and_the_button_starts_again(suite_store: SqlStore,
                                                          clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira)
    chat = world.chat("amira")
    evaluate(chat, world.held.id)
    chat.say("4")
    chat.say("cancel")
    chat.expect_said("evaluation.cancelled")
    assert chat.state() is None and world.answers() == []
    evaluate(chat, world.held.id)
    chat.expect_question("satisfaction")
    assert "satisfaction" not in chat.answers


def test_one_survey_at_a_time_the_newest_button_wins(suite_store: SqlStore,
                                                     clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    second = session(suite_store, clock.now() - timedelta(days=14), world.spring,
                     HELD - timedelta(days=2))
    with suite_store.transaction() as uow:
        for held in (world.held, second):
            uow.attendance.mark(AttendanceRecord(held.id, world.amira, True, None, "button",
                                                 "console:x", clock.now()))
    chat = world.chat("amira")
    evaluate(chat, second.id)
    chat.say("2")
    chat.expect_question("relevance")
    evaluate(chat, world.held.id)
    chat.expect_said("evaluation.other_put_aside")
    chat.expect_question("satisfaction")
    assert chat.answers["_session"] == world.held.id


# --- who may answer ------------------------------------------------------------------------------


def test_only_attendees_may_answer_and_every_refusal_is_audited(suite_store: SqlStore,
                                                                clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira)  # attendance was taken: Cara, registered but unmarked, was absent
    for user, ref, reason in (
            ("cara", world.held.id, "evaluation.not_attendee"),
            ("dan", world.held.id, "evaluation.not_attendee"),
            ("gus", world.held.id, "evaluation.not_allowed"),  # another network's member
            ("amira", 987654, "evaluation.not_allowed")):  # a forged number
        chat = world.chat(user)
        evaluate(chat, ref)
        chat.expect_said(reason)
        assert chat.state() is None
    refused = audit(suite_store, "action.refused")
    assert [(actor, subject, detail["reason"]) for actor, subject, detail in refused] == [
        ("console:cara", f"session:{world.held.id}", "evaluation.not_attendee"),
        ("console:dan", f"session:{world.held.id}", "evaluation.not_attendee"),
        ("console:gus", f"session:{world.held.id}", "evaluation.not_allowed"),
        ("console:amira", "session:987654", "evaluation.not_allowed")]


def test_with_no_attendance_recorded_everyone_expected_may_answer(suite_store: SqlStore,
                                                                  clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    with suite_store.transaction() as uow:
        uow.rsvps.set(world.held.id, world.dan, "going", clock.now())  # a one-session guest
        for person in (world.amira, world.cara, world.dan):
            assert may_evaluate(uow, world.held, person, clock.now()) is None
        assert may_evaluate(uow, world.held, world.fay, clock.now()) == "evaluation.not_attendee"


def test_a_minutes_report_below_the_threshold_is_not_attending(suite_store: SqlStore,
                                                               clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    with suite_store.transaction() as uow:
        for person, minutes in ((world.amira, 45), (world.ben, 20)):  # of 60; 50% needed
            uow.attendance.mark(AttendanceRecord(world.held.id, person, True, minutes, "zoom",
                                                 "import:zoom.csv", clock.now()))
        assert may_evaluate(uow, world.held, world.amira, clock.now()) is None
        assert may_evaluate(uow, world.held, world.ben, clock.now()) == "evaluation.not_attendee"


def test_the_survey_opens_at_the_end_and_closes_a_week_later(suite_store: SqlStore,
                                                             clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira)
    chat = world.chat("amira")
    with suite_store.transaction() as uow:
        assert may_evaluate(uow, world.held, world.amira,
                            world.held.ends_at - timedelta(minutes=1)) == "evaluation.not_yet"
    clock.advance(seconds=(world.held.ends_at + EVALUATION_WINDOW - clock.now()).total_seconds())
    evaluate(chat, world.held.id)
    chat.expect_said("evaluation.closed")
    assert audit(suite_store, "action.refused")[0][2]["reason"] == "evaluation.closed"


def test_a_second_answer_is_refused_and_a_second_device_doubles_nothing(
        store_on: SqlStore, clock: FakeClock) -> None:
    world = Network(store_on, clock)
    world.came(world.amira)
    chat = world.chat("amira")
    evaluate(chat, world.held.id)
    for answer in ("4", "4", "4", "yes"):
        chat.say(answer)
    # Meanwhile she finishes the same survey on her phone.
    with store_on.transaction() as uow:
        assert uow.evaluations.answer(EvaluationAnswer(world.held.id, world.amira, 1, 1, 1, "no",
                                                       "", clock.now()))
    chat.say("skip")
    chat.expect_said("evaluation.thanks_already")
    assert [(a.satisfaction, a.recommend) for a in world.answers()] == [(1, "no")]
    evaluate(chat, world.held.id)
    chat.expect_said("evaluation.already_answered")
    with store_on.transaction() as uow:  # the store itself never holds two
        assert not uow.evaluations.answer(EvaluationAnswer(world.held.id, world.amira, 5, 5, 5,
                                                           "yes", "", clock.now()))
    assert len(world.answers()) == 1


# --- the reminder ------------------------------------------------------------------------------


def reminder_rows(store: SqlStore) -> list[tuple[str, str, datetime, datetime | None, Any]]:
    with store.engine.connect() as connection:
        return [(r.dedupe_key, r.status, r.due_at, r.expires_at, r.payload["compose"])
                for r in connection.execute(select(OUTBOX).where(
                    OUTBOX.c.dedupe_key.startswith("evaluation_reminder:")).order_by(OUTBOX.c.id))]


def test_one_reminder_is_planned_written_then_withdrawn_once_answered(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira, world.ben)
    now = clock.now()
    with suite_store.transaction() as uow:
        assert plan_evaluation_reminder(uow, world.held, world.amira, now, now + REMINDER_AFTER)
        assert plan_evaluation_reminder(uow, world.held, world.ben, now, now + REMINDER_AFTER)
        # Never a second nudge; nobody nudged who may not answer.
        assert not plan_evaluation_reminder(uow, world.held, world.amira, now, now + REMINDER_AFTER)
        assert not plan_evaluation_reminder(uow, world.held, world.cara, now, now + REMINDER_AFTER)
    key = f"evaluation_reminder:{world.held.id}:{world.amira}"
    [amira_row, _ben_row] = reminder_rows(suite_store)
    assert amira_row == (key, "pending", now + REMINDER_AFTER,
                         world.held.ends_at + EVALUATION_WINDOW,
                         {"what": "evaluation_reminder", "session": world.held.id,
                          "person": world.amira})

    with suite_store.transaction() as uow:
        written = write_evaluation_reminder(uow, amira_row[4], world.amira, Translator("en"),
                                            "Europe/London", now + REMINDER_AFTER)
        french = write_evaluation_reminder(uow, amira_row[4], world.ben, Translator("fr"),
                                           "America/Montreal", now + REMINDER_AFTER)
    assert isinstance(written, Reply) and isinstance(french, Reply)
    assert Translator("en")("evaluation.reminder", title="Spring series: Pain at the end of life",
                            date="Monday 2 June 2025",
                            closes="Monday 9 June 2025") in written.fallback_text()
    assert "lundi 9 juin 2025" in french.fallback_text()
    [card] = [p for p in written.parts if isinstance(p, Card)]
    assert [(o.label, o.ref) for o in card.actions] == [("Evaluate", f"act:evaluate:{world.held.id}")]

    chat = world.chat("amira")
    chat.send(UserChose(card.actions[0].ref))  # the reminder's own button
    for answer in ("3", "3", "3", "no", "skip"):
        chat.say(answer)
    chat.expect_said("evaluation.thanks")
    statuses = {row[0]: row[1] for row in reminder_rows(suite_store)}
    assert statuses == {key: "withdrawn",
                        f"evaluation_reminder:{world.held.id}:{world.ben}": "pending"}
    with suite_store.transaction() as uow:
        assert write_evaluation_reminder(uow, amira_row[4], world.amira, Translator("en"),
                                         "Europe/London", now) == "withdrawn"
        # Planned again (a follow-up sent twice), the answered survey stays quiet.
        assert not plan_evaluation_reminder(uow, world.held, world.amira, now,
                                            now + REMINDER_AFTER)
        closed = world.held.ends_at + EVALUATION_WINDOW
        assert write_evaluation_reminder(uow, amira_row[4], world.ben, Translator("fr"),
                                         "America/Montreal", closed) == "expired"


def test_a_reminder_waits_for_quiet_hours_and_never_outlives_the_survey(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    world.came(world.amira, world.ben)
    late = datetime(2025, 6, 5, 21, 30, tzinfo=UTC)  # 22:30 in London: quiet until 08:00
    with suite_store.transaction() as uow:
        assert plan_evaluation_reminder(uow, world.held, world.amira, clock.now(), late)
        too_late = world.held.ends_at + EVALUATION_WINDOW
        assert not plan_evaluation_reminder(uow, world.held, world.ben, clock.now(), too_late)
    [(_, _, due, _, _)] = reminder_rows(suite_store)
    assert due == datetime(2025, 6, 6, 7, 0, tzinfo=UTC)  # 08:00 in London


# --- what the team sees -------------------------------------------------------------------------


def test_the_summary_says_nothing_but_the_count_below_three_answers(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Network(suite_store, clock)
    given = [(world.amira, 5, 4, 3, "yes", "Zinc cream first."),
             (world.ben, 4, 4, 2, "not_sure", ""),
             (world.cara, 3, 5, 4, "yes", "ask about breathlessness")]
    with suite_store.transaction() as uow:
        for person, s, r, c, recommend, comment in given[:2]:
            uow.evaluations.answer(EvaluationAnswer(world.held.id, person, s, r, c, recommend,
                                                    comment, clock.now()))
        few = evaluation_summary(uow, [world.held.id, 424242])
    assert few[world.held.id].responses == 2 < MIN_RESPONSES
    assert (few[world.held.id].satisfaction, few[world.held.id].comments,
            dict(few[world.held.id].recommend)) == (None, (), {})
    assert few[424242].responses == 0

    with suite_store.transaction() as uow:
        person, s, r, c, recommend, comment = given[2]
        uow.evaluations.answer(EvaluationAnswer(world.held.id, person, s, r, c, recommend,
                                                comment, clock.now()))
        summary = evaluation_summary(uow, [world.held.id])[world.held.id]
    assert summary.responses == 3
    assert summary.satisfaction == pytest.approx(sum(g[1] for g in given) / 3)
    assert summary.relevance == pytest.approx(sum(g[2] for g in given) / 3)
    assert summary.confidence == pytest.approx(sum(g[3] for g in given) / 3)
    assert summary.recommend == pytest.approx({"yes": 2 / 3, "no": 0.0, "not_sure": 1 / 3})
    # Alphabetical, not in the order (or by the people) they were written.
    assert summary.comments == ("ask about breathlessness", "Zinc cream first.")
