"""The network's recommendations reach the presenter, in writing and in private; the
presenter can reply or ask for a follow-up slot; a late case reminds the team once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.model import CaseContent
from assistant.outbox import Sender
from assistant.ports import Store
from assistant.services.recommendations import nudge_missing_recommendations, working_days_after
from storage.repositories import SqlStore
from tests.community import enrol, member, open_networks, series, session
from tests.harness import ChatHarness
from tests.inbox import Inbox, refs

HELD = datetime(2025, 6, 6, 12, 0, tzinfo=UTC)  # a Friday, 13:00 in London
CONTENT = CaseContent(questions=("How can we ease her breathlessness at night?",),
                      case_type="patient", presenter_setting="care_home_nursing",
                      summary="A woman in her 80s with heart failure", care_setting="hospice",
                      symptoms="Breathless at night", tried="A fan helps a little",
                      age_band="80-89", sex="female", diagnosis="Heart failure",
                      acp_status="discussed")


class Presented:
    """Amira's case was presented at Friday's session; Fay facilitates; Ben is another member."""

    def __init__(self, store: Store, clock: FakeClock, state: str = "presented") -> None:
        now = clock.now()
        open_networks(store, now)
        self.fay = member(store, now, "fay", role="facilitator")
        self.amira = member(store, now, "amira")
        self.ben = member(store, now, "ben")
        self.gus = member(store, now, "gus", role="facilitator", network="palliative-essentials")
        spring = series(store, now)
        enrol(store, now, spring, self.amira)
        self.session = session(store, now, spring, HELD)
        with store.transaction() as uow:
            record = uow.cases.add(self.amira, "care-homes", spring.id, self.session.id, CONTENT,
                                   "console:amira:draft", now)
            uow.cases.update(record.case.id, {"state": state, "reference": "CH-2025-001"},
                             record.revision, now)
        self.case_id = record.case.id
        clock.set(HELD.replace(hour=15))


def state_of(store: Store, case_id: int) -> str:
    with store.transaction() as uow:
        record = uow.cases.get(case_id)
    assert record is not None
    return record.case.state


def write(fay: ChatHarness, case_id: int) -> None:
    fay.send(UserChose(f"act:case_recommend:{case_id}"))
    fay.expect_question("text")
    fay.say("Try a hand-held fan before oxygen\n2. Review the opioid dose with the GP\n"
            "- Talk with her daughter about what matters most")
    fay.expect_question("resources")
    fay.say("https://example.org/breathlessness-guide")
    fay.expect_question("send")


def test_the_presenter_alone_receives_numbered_recommendations(store_on: SqlStore,
                                                              clock: FakeClock) -> None:
    world = Presented(store_on, clock)
    inbox = Inbox()
    fay = ChatHarness(store_on, clock, user="fay")
    write(fay, world.case_id)
    assert "1. Try a hand-held fan before oxygen" in fay.text  # the preview, numbered
    assert "3. Talk with her daughter" in fay.text
    fay.say("yes")
    fay.expect_said("recommend.sent", title="Case CH-2025-001")
    assert state_of(store_on, world.case_id) == "recommendations_sent"

    asyncio.run(Sender(store_on, inbox, clock, worker="w").deliver_due())
    [letter] = inbox.of("console:amira")
    text = letter.reply.fallback_text()
    assert "2. Review the opioid dose with the GP" in text
    assert "https://example.org/breathlessness-guide" in text
    assert any(r.startswith("act:recommendation_reply:") for r in refs(letter))
    assert f"act:follow_up_slot:{world.case_id}" in refs(letter)
    assert inbox.of("console:ben") == [] and inbox.of("console:gus") == []
    with store_on.transaction() as uow:
        [stored] = uow.follow_ups.of_case(world.case_id)
    assert stored.kind == "recommendations" and "opioid" in stored.content["text"]


def test_recommendations_are_sealed_at_rest(suite_store: SqlStore, clock: FakeClock) -> None:
    world = Presented(suite_store, clock)
    fay = ChatHarness(suite_store, clock, user="fay")
    write(fay, world.case_id)
    fay.say("yes")
    from sqlalchemy import text

    with suite_store.engine.connect() as connection:
        raw = str(connection.execute(text("SELECT content FROM follow_up")).scalar_one())
    assert "opioid" not in raw and "daughter" not in raw


def test_nobody_else_can_write_read_or_answer_them(suite_store: SqlStore,
                                                   clock: FakeClock) -> None:
    world = Presented(suite_store, clock)
    fay = ChatHarness(suite_store, clock, user="fay")
    write(fay, world.case_id)
    fay.say("yes")
    with suite_store.transaction() as uow:
        [stored] = uow.follow_ups.of_case(world.case_id)

    for user in ("ben", "gus", "amira"):  # amira is the presenter, not the team
        other = ChatHarness(suite_store, clock, user=user)
        other.send(UserChose(f"act:case_recommend:{world.case_id}"))
        assert other.state() is None
    for user in ("ben", "gus", "fay"):  # only the presenter replies or asks for a slot
        other = ChatHarness(suite_store, clock, user=user)
        other.send(UserChose(f"act:recommendation_reply:{stored.id}"))
        assert other.state() is None and "opioid" not in other.text
        other.send(UserChose(f"act:follow_up_slot:{world.case_id}"))
        other.expect_said("cases.not_yours")


def test_the_presenter_replies_and_asks_for_a_follow_up_slot(suite_store: SqlStore,
                                                            clock: FakeClock) -> None:
    world = Presented(suite_store, clock)
    inbox = Inbox()
    sender = Sender(suite_store, inbox, clock, worker="w")
    fay = ChatHarness(suite_store, clock, user="fay")
    write(fay, world.case_id)
    fay.say("yes")
    asyncio.run(sender.deliver_due())
    [letter] = inbox.of("console:amira")
    reply_ref = next(r for r in refs(letter) if r.startswith("act:recommendation_reply:"))

    amira = ChatHarness(suite_store, clock, user="amira")
    amira.send(UserChose(reply_ref))
    amira.expect_question("text")
    amira.say("Thank you. The fan helped on the first night.")
    amira.expect_said("recommend.reply.sent")
    amira.send(UserChose(f"act:follow_up_slot:{world.case_id}"))
    amira.expect_said("recommend.slot.asked")
    asyncio.run(sender.deliver_due())
    notices = [m.reply.fallback_text() for m in inbox.of("console:fay") if m.compose is None
               and "Amira Test" in m.reply.fallback_text()]
    assert any("The fan helped on the first night" in n for n in notices)
    assert any("follow-up slot" in n for n in notices)
    assert inbox.of("console:gus") == []


def test_a_slot_can_only_be_asked_once_the_recommendations_came(suite_store: SqlStore,
                                                               clock: FakeClock) -> None:
    world = Presented(suite_store, clock)
    amira = ChatHarness(suite_store, clock, user="amira")
    amira.send(UserChose(f"act:follow_up_slot:{world.case_id}"))
    amira.expect_said("recommend.slot.not_yet")


def test_recommendations_wait_for_the_case_to_be_presented(suite_store: SqlStore,
                                                           clock: FakeClock) -> None:
    world = Presented(suite_store, clock, state="scheduled")
    fay = ChatHarness(suite_store, clock, user="fay")
    fay.send(UserChose(f"act:case_recommend:{world.case_id}"))
    fay.expect_said("recommend.not_presented")
    fay.send(UserChose(f"act:case_presented:{world.case_id}"))
    fay.pick("cases.action.recommend")
    fay.expect_question("text")


def test_the_team_is_reminded_once_two_working_days_after_the_session(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Presented(suite_store, clock)
    inbox = Inbox()
    sender = Sender(suite_store, inbox, clock, worker="w")
    due = working_days_after(world.session.ends_at, 2)
    assert due.weekday() == 1  # Friday + two working days is Tuesday

    clock.set(datetime(2025, 6, 9, 12, 0, tzinfo=UTC))  # Monday: not yet
    with suite_store.transaction() as uow:
        assert nudge_missing_recommendations(uow, clock.now()) == 0
    clock.set(due)
    for _ in range(2):  # every replica's housekeeping may run it
        with suite_store.transaction() as uow:
            nudge_missing_recommendations(uow, clock.now())
    asyncio.run(sender.deliver_due())
    [nudge] = inbox.of("console:fay")
    assert "have not been sent yet" in nudge.reply.fallback_text()
    assert f"act:case_recommend:{world.case_id}" in refs(nudge)
    assert inbox.of("console:amira") == [] and inbox.of("console:gus") == []


def test_a_reminder_planned_before_the_recommendations_went_is_dropped(
        suite_store: SqlStore, clock: FakeClock) -> None:
    world = Presented(suite_store, clock)
    inbox = Inbox()
    clock.set(working_days_after(world.session.ends_at, 2))
    with suite_store.transaction() as uow:
        assert nudge_missing_recommendations(uow, clock.now()) == 1
    fay = ChatHarness(suite_store, clock, user="fay")
    write(fay, world.case_id)
    fay.say("yes")
    asyncio.run(Sender(suite_store, inbox, clock, worker="w").deliver_due())
    assert not any("have not been sent yet" in m.reply.fallback_text()
                   for m in inbox.of("console:fay"))
    with suite_store.transaction() as uow:
        assert nudge_missing_recommendations(uow, clock.now()) == 0


def test_french_presenter_reads_them_in_french(suite_store: SqlStore, clock: FakeClock) -> None:
    world = Presented(suite_store, clock)
    with suite_store.transaction() as uow:
        uow.people.update(world.amira, {"language": "fr"})
    inbox = Inbox()
    fay = ChatHarness(suite_store, clock, user="fay")
    write(fay, world.case_id)
    fay.say("yes")
    asyncio.run(Sender(suite_store, inbox, clock, worker="w").deliver_due())
    [letter] = inbox.of("console:amira")
    assert "Recommandations sur" in letter.reply.fallback_text()
    assert "Demander une séance de suivi" in letter.reply.fallback_text()


def test_the_presenters_export_holds_her_case_its_recommendations_and_her_attendance(
        suite_store: SqlStore, clock: FakeClock) -> None:
    import json

    from assistant.messages import File
    from assistant.model import AttendanceRecord

    world = Presented(suite_store, clock)
    with suite_store.transaction() as uow:
        uow.attendance.mark(AttendanceRecord(world.session.id, world.amira, True, 55, "zoom",
                                             "import:zoom.csv", clock.now()))
    fay = ChatHarness(suite_store, clock, user="fay")
    write(fay, world.case_id)
    fay.say("yes")
    amira = ChatHarness(suite_store, clock, user="amira")
    amira.say("export my data")
    [exported] = [p for p in amira.parts if isinstance(p, File)]
    document = json.loads(exported.content)
    [case] = document["cases"]
    assert case["reference"] == "CH-2025-001"
    assert case["content"]["questions"] == ["How can we ease her breathlessness at night?"]
    assert "hand-held fan" in case["follow_ups"][0]["content"]["text"]
    assert document["attendance"] == [{"session": world.session.id, "present": True,
                                       "minutes": 55, "source": "zoom", "adjusted": False,
                                       "reason": "", "at": clock.now().isoformat()}]
    ben = ChatHarness(suite_store, clock, user="ben")
    ben.say("export my data")
    [theirs] = [p for p in ben.parts if isinstance(p, File)]
    assert json.loads(theirs.content)["cases"] == []
