"""A case from first question to acceptance, as the presenter and a facilitator live it in
chat: drafted, submitted, returned with a reason, corrected, resubmitted and accepted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.outbox import Sender
from storage.repositories import SqlStore
from tests.community import member, series, session
from tests.harness import ChatHarness, seeded
from tests.inbox import Inbox, refs


def draft_and_submit(chat: ChatHarness) -> None:
    chat.say("case")
    chat.say("How can we ease her breathlessness at night?")
    chat.pick("case.case_type.patient")
    chat.pick("fields.care_setting.care_home_nursing")
    chat.pick("case.session.any")
    chat.say("A woman in her 80s with advanced heart failure")
    chat.pick("case.age_band.80-89")
    chat.pick("case.sex.female")
    chat.pick("fields.care_setting.care_home_nursing")
    chat.say("Heart failure and CKD; two admissions in three months")
    chat.say("Breathless at night, frightened, wants to stay in the home")
    chat.say("skip")
    chat.say("skip")
    chat.pick("case.acp_status.discussed")
    chat.say("skip")
    chat.say("Oxygen at night: no change. A fan helps a little.")
    chat.say("skip")
    chat.expect_question("preview")
    assert "A woman in her 80s with advanced heart failure" in chat.text
    chat.pick("case.preview.ready")
    chat.pick("case.declare.deidentified.yes")
    chat.pick("case.declare.consent_policy.yes")
    chat.pick("case.declare.responsibility.yes")
    chat.say("yes")


def test_a_case_is_submitted_returned_corrected_and_accepted(suite_store: SqlStore,
                                                            clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    member(store, clock.now(), "fay", role="facilitator")
    spring = series(store, clock.now(), name="spring")
    session(store, clock.now(), spring, datetime(2025, 6, 12, 12, 0, tzinfo=UTC))
    inbox = Inbox()
    sender = Sender(store, inbox, clock, worker="w")
    amira, fay = ChatHarness(store, clock, user="amira"), ChatHarness(store, clock, user="fay")

    draft_and_submit(amira)
    assert amira.state() is None  # the draft became a case
    asyncio.run(sender.deliver_due())
    notice = inbox.of("console:fay")[-1]
    assert "How can we ease her breathlessness at night?" in notice.reply.fallback_text()
    assert "Amira Test" in notice.reply.fallback_text()  # the hub team sees who presents
    return_ref = next(r for r in refs(notice) if r.startswith("act:case_return:"))

    fay.send(UserChose(return_ref))
    fay.expect_question("reason")
    fay.say("Please say what was tried for breathlessness in more detail")
    fay.say("tried")
    asyncio.run(sender.deliver_due())
    returned = inbox.of("console:amira")[-1]
    assert "Please say what was tried" in returned.reply.fallback_text()
    edit_ref = next(r for r in refs(returned) if r.startswith("act:case_edit:"))

    amira.send(UserChose(edit_ref))
    amira.expect_question("tried")  # only the part the team named is asked again
    amira.say("Oxygen at night: no change. Fan and sitting up: some relief. Morphine 1 mg: helped.")
    amira.pick("case.preview.ready")
    amira.pick("case.declare.deidentified.yes")
    amira.pick("case.declare.consent_policy.yes")
    amira.pick("case.declare.responsibility.yes")
    amira.say("no")
    assert amira.state() is None

    asyncio.run(sender.deliver_due())
    again = inbox.of("console:fay")[-1]
    accept_ref = next(r for r in refs(again) if r.startswith("act:case_accept:"))
    assert accept_ref.split(":")[-1] == return_ref.split(":")[-1]  # the same case, resubmitted
    fay.send(UserChose(accept_ref))
    with store.transaction() as uow:
        case = uow.cases.get(int(accept_ref.split(":")[-1]))
    assert case is not None and case.case.state == "accepted"
    assert case.case.reference is not None and case.case.reference.startswith("CH-2025-")
    assert "Morphine 1 mg" in case.case.content.tried


def test_someone_else_pressing_a_case_button_is_refused(suite_store: SqlStore,
                                                        clock: FakeClock) -> None:
    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    member(store, clock.now(), "ben")
    amira = ChatHarness(store, clock, user="amira")
    draft_and_submit(amira)
    with store.transaction() as uow:
        [record] = uow.cases.of_author(uow.people.by_identity("console:amira").id)  # type: ignore[union-attr]
    mine = record.case
    ben = ChatHarness(store, clock, user="ben")
    for name in ("case_accept", "case_show", "case_return", "case_edit", "case_withdraw"):
        ben.send(UserChose(f"act:{name}:{mine.id}"))
        assert "Heart failure" not in ben.text and "breathlessness" not in ben.text
    with store.transaction() as uow:
        assert uow.cases.get(mine.id).case.state == "submitted"  # type: ignore[union-attr]


def test_the_team_exports_the_deidentified_case_as_a_pdf_for_screen_sharing(
        suite_store: SqlStore, clock: FakeClock) -> None:
    from assistant.messages import File

    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    member(store, clock.now(), "fay", role="facilitator")
    draft_and_submit(ChatHarness(store, clock, user="amira"))
    with store.transaction() as uow:
        [record] = uow.cases.for_networks(["care-homes"], ["submitted"])
    fay = ChatHarness(store, clock, user="fay")
    fay.send(UserChose(f"act:case_accept:{record.case.id}"))
    fay.send(UserChose(f"act:case_export_pdf:{record.case.id}"))
    [pdf] = [p for p in fay.parts if isinstance(p, File)]
    assert pdf.media_type == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert pdf.name.endswith("-deidentified.pdf")
    ben = ChatHarness(store, clock, user="ben")
    member(store, clock.now(), "ben")
    ben.send(UserChose(f"act:case_export_pdf:{record.case.id}"))
    assert not any(isinstance(p, File) for p in ben.parts)
