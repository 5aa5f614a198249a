"""Drafting a case presentation in conversation: one field at a time, every answer checked
for identifiers, nothing lost on cancel or restart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.clock import FakeClock
from storage.repositories import SqlStore
from tests.community import member, series, session
from tests.harness import ChatHarness, seeded

NHS = "NHS 999 765 4323"  # passes the NHS check (DOMAIN.md worked example)


@pytest.fixture
def amira(suite_store: SqlStore, clock: FakeClock) -> ChatHarness:
    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    spring = series(store, clock.now(), name="spring")
    session(store, clock.now(), spring, datetime(2025, 6, 12, 12, 0, tzinfo=UTC))
    return ChatHarness(store, clock, user="amira")


def draft_until_summary(chat: ChatHarness) -> None:
    chat.say("case")
    chat.expect_said("case.intro")
    chat.expect_question("questions")
    chat.say("How can we ease her breathlessness at night?\nShould we start a syringe driver?")
    chat.expect_question("case_type")
    chat.pick("case.case_type.patient")
    chat.pick("fields.care_setting.care_home_nursing")
    chat.expect_question("session")
    chat.pick("case.session.any")
    chat.expect_question("summary")


def test_the_questions_come_first_and_the_network_is_chosen_when_there_is_one(amira: ChatHarness) -> None:
    draft_until_summary(amira)
    assert amira.answers["network"] == "care-homes"
    assert amira.answers["questions"] == ["How can we ease her breathlessness at night?",
                                          "Should we start a syringe driver?"]


def test_more_than_three_questions_are_refused_with_the_reason(amira: ChatHarness) -> None:
    amira.say("case")
    amira.say("One?\nTwo?\nThree?\nFour?")
    amira.expect_said("case.questions.too_many")
    amira.expect_question("questions")


def test_an_identifier_is_shown_masked_and_replaced_with_a_placeholder(amira: ChatHarness) -> None:
    draft_until_summary(amira)
    amira.say(f"Mrs Patel, {NHS}, heart failure")
    assert "999 765 4323" not in amira.text and "Patel" not in amira.text  # masked, never echoed
    assert "999 *** ****" in amira.text
    labels = [o.label for o in amira.options()]
    assert amira.tr("runtime.flag.keep") not in labels  # a checksum-valid number is certain
    amira.pick("runtime.flag.replace")
    assert amira.answers["summary"] == "Mrs [name], NHS [NHS number], heart failure"
    amira.expect_question("age_band")


def test_a_likely_identifier_may_be_kept_with_a_reason_that_is_audited(amira: ChatHarness) -> None:
    from sqlalchemy import select

    from storage.tables import AuditRow

    draft_until_summary(amira)
    amira.say("A woman in her 80s admitted 3 March 2025 with heart failure")
    amira.pick("runtime.flag.keep")
    amira.say("The admission date is needed for the timeline and identifies nobody")
    assert amira.answers["summary"] == "A woman in her 80s admitted 3 March 2025 with heart failure"
    audit = AuditRow.__table__  # type: ignore[attr-defined]
    with amira.store.engine.connect() as connection:  # type: ignore[attr-defined]
        rows = connection.execute(select(audit.c.action, audit.c.detail)
                                  .where(audit.c.action == "identifier.override")).all()
    assert len(rows) == 1
    assert rows[0].detail["kinds"] == ["date:likely"] and rows[0].detail["step"] == "summary"
    assert "March" not in str(rows[0].detail["kinds"])


def test_a_service_issue_skips_the_patient_fields(amira: ChatHarness) -> None:
    amira.say("case")
    amira.say("How do we share out-of-hours plans with the ambulance service?")
    amira.pick("case.case_type.service_issue")
    amira.pick("fields.care_setting.care_home_nursing")
    amira.pick("case.session.any")
    amira.say("Out-of-hours plans don't reach the ambulance crews")
    amira.expect_question("care_setting")
    amira.pick("fields.care_setting.care_home_nursing")
    amira.expect_question("symptoms")  # no age band, sex or diagnosis


def test_cancel_puts_the_draft_aside_and_case_picks_it_up_even_after_a_restart(amira: ChatHarness) -> None:
    draft_until_summary(amira)
    amira.say("A man in his 70s with COPD at home")
    amira.expect_question("age_band")
    amira.say("cancel")
    amira.expect_said("case.cancelled")
    amira.restart()
    amira.say("hello")  # nothing is pending: the menu, not the draft
    amira.say("case")
    amira.expect_question("age_band")
    assert amira.answers["summary"] == "A man in his 70s with COPD at home"


def test_discard_case_deletes_the_draft(amira: ChatHarness) -> None:
    draft_until_summary(amira)
    amira.say("cancel")
    amira.say("discard case")
    amira.expect_said("case.discarded")
    amira.say("discard case")
    amira.expect_said("case.no_draft")


def test_back_and_change_work_in_the_draft(amira: ChatHarness) -> None:
    draft_until_summary(amira)
    amira.say("A woman in her 80s with heart failure")
    amira.expect_question("age_band")
    amira.say("back")
    amira.expect_question("summary")
    amira.say("A woman in her 90s with heart failure")
    amira.pick("case.age_band.90+")
    amira.say("change questions")
    amira.expect_question("questions")
    amira.say("What can we do about her breathlessness?")
    assert amira.answers["questions"] == ["What can we do about her breathlessness?"]
    assert amira.answers["age_band"] == "90+"


def test_the_draft_in_french(suite_store: SqlStore, clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    member(store, clock.now(), "eli", language="fr", zone="America/Toronto")
    chat = ChatHarness(store, clock, user="eli")
    chat.say("cas")
    chat.expect_said("case.intro", "fr")
    chat.say("Comment soulager son essoufflement la nuit ?")
    chat.pick(chat.tr("case.case_type.patient", "fr"))
    chat.pick(chat.tr("fields.care_setting.hospice", "fr"))
    chat.pick(chat.tr("case.session.any", "fr"))
    chat.say("Une femme de 93 ans atteinte d'insuffisance cardiaque")
    assert chat.tr("runtime.flag.replace", "fr") in [o.label for o in chat.options()]
    chat.pick(chat.tr("runtime.flag.replace", "fr"))
    assert "93" not in chat.answers["summary"] and "90+" in chat.answers["summary"]


def test_present_a_case_on_a_reminder_starts_a_draft_for_that_session(amira: ChatHarness) -> None:
    from assistant.events import UserChose

    with amira.store.transaction() as uow:  # type: ignore[attr-defined]
        spring = uow.schedule.series_named("care-homes", "spring")
        assert spring is not None
        [thursday] = uow.schedule.sessions_of(spring.id)
    amira.send(UserChose(f"act:case_for:{thursday.id}"))
    amira.expect_said("case.intro")
    assert amira.answers["session"] == str(thursday.id)
    amira.say("What can we do for her breathlessness?")
    amira.pick("case.case_type.patient")
    amira.pick("fields.care_setting.hospice")
    amira.expect_question("summary")  # the session was chosen by the button


def test_present_a_case_for_another_networks_session_is_refused(amira: ChatHarness) -> None:
    from assistant.events import UserChose

    other = series(amira.store, amira.clock.now(), name="elsewhere",  # type: ignore[arg-type]
                   network="palliative-essentials")
    far = session(amira.store, amira.clock.now(), other,  # type: ignore[arg-type]
                  datetime(2025, 6, 12, 16, 0, tzinfo=UTC))
    amira.send(UserChose(f"act:case_for:{far.id}"))
    amira.expect_said("sessions.not_yours")
    assert amira.state() is None


def test_where_forms_can_be_shown_the_long_parts_go_in_one_checked_form(suite_store: SqlStore,
                                                                       clock: FakeClock) -> None:
    from assistant.events import FormSubmitted
    from assistant.messages import Form

    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    chat = ChatHarness(store, clock, user="amira",
                       capabilities=frozenset({"buttons", "forms", "inline_form_errors"}))
    chat.say("case")
    chat.say("How can we ease her breathlessness at night?")
    chat.pick("case.case_type.patient")
    chat.pick("fields.care_setting.care_home_nursing")
    chat.pick("case.session.any")
    chat.say("A woman in her 80s with heart failure")
    chat.pick("case.age_band.80-89")
    chat.pick("case.sex.female")
    chat.pick("fields.care_setting.care_home_nursing")
    chat.expect_question("how")
    chat.pick("case.how.form")
    [form] = [p for p in chat.parts if isinstance(p, Form)]
    assert [f.key for f in form.fields] == ["diagnosis", "symptoms", "medications",
                                            "psychosocial", "tried", "services"]
    assert all(f.multiline for f in form.fields)

    written = {"diagnosis": "Heart failure and CKD", "symptoms": "Breathless at night",
               "medications": "", "psychosocial": "", "tried": "A fan helps", "services": ""}
    flagged = chat.send(FormSubmitted(form.ref, {**written, "psychosocial": "Her son Peter visits"}))
    assert flagged.form_errors is not None and set(flagged.form_errors) == {"psychosocial"}
    assert "Peter" not in flagged.form_errors["psychosocial"]  # masked
    assert "diagnosis" not in chat.answers  # a form is one answer: nothing kept yet

    done = chat.send(FormSubmitted(form.ref, written))
    assert done.form_errors is None
    assert chat.answers["diagnosis"] == "Heart failure and CKD"
    assert chat.answers["medications"] is None  # left empty: skipped
    chat.expect_question("acp_status")
