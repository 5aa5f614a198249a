"""Attendance in chat: the "I'm here" button (only in its window, only for people expected,
never twice), the team's roll call and adjustments (with a reason, audited, never
overwritten by a later report), and "my attendance" against the network's rules. Buttons
name sessions by number, so forged references are refused and audited. Transcripts run
through the real turn handler and store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import Actor, Hints, UserChose
from assistant.i18n import Translator, translate
from assistant.model import AttendanceRecord, AttendanceRules, Series, Session
from assistant.ports import Store, UnitOfWork
from assistant.runtime import Directory
from assistant.services.attendance import adjust_attendance, my_attendance, record_roll_call
from assistant.services.context import Refused, ServiceContext
from storage.repositories import SqlStore
from storage.tables import AuditRow
from tests.community import enrol, member, open_networks, series, session
from tests.harness import ChatHarness

AUDIT = AuditRow.__table__
TODAY_1PM = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # the test clock's Monday, 13:00 in London


class Hub:
    """Care Homes ECHO on the morning of a session at 13:00 London time: Fiona facilitates,
    Hana is the hub admin; Amira, Ben and Cara have places; Gus comes to this one session
    only; Dan is a member without a place; Oscar facilitates the other network."""

    def __init__(self, store: Store, clock: FakeClock, *, language: str = "en") -> None:
        now = clock.now()
        open_networks(store, now)
        self.store, self.clock = store, clock
        self.fiona = member(store, now, "fiona", role="facilitator", language=language)
        self.hana = member(store, now, "hana", role="hub_admin")
        self.amira = member(store, now, "amira", language=language)
        self.ben = member(store, now, "ben")
        self.cara = member(store, now, "cara")
        self.gus = member(store, now, "gus")
        self.dan = member(store, now, "dan")
        self.oscar = member(store, now, "oscar", role="facilitator",
                            network="palliative-essentials")
        self.spring: Series = series(store, now)
        for person in (self.amira, self.ben, self.cara):
            enrol(store, now, self.spring, person)
        self.today: Session = session(store, now, self.spring, TODAY_1PM)
        with store.transaction() as uow:
            uow.rsvps.set(self.today.id, self.gus, "going", now)

    def at(self, moment: datetime) -> None:
        self.clock.set(moment)

    def chat(self, user: str) -> ChatHarness:
        return ChatHarness(self.store, self.clock, user=user)

    def record(self, person_id: int, session: Session | None = None) -> AttendanceRecord | None:
        with self.store.transaction() as uow:
            return uow.attendance.get((session or self.today).id, person_id)

    def call(self, user: str, person_id: int, service: Any, *args: Any,
             language: str = "en") -> Any:
        """A service called as this person would through a button or a dialog, in its own
        transaction."""
        with self.store.transaction() as uow:
            return service(context(uow, user, person_id, self.clock.now(), language), *args)


def context(uow: UnitOfWork, user: str, person_id: int, now: datetime,
            language: str = "en") -> ServiceContext:
    return ServiceContext(uow=uow, actor=Actor(f"console:{user}"), now=now, t=Translator(language),
                          hints=Hints(), directory=Directory(networks=uow.networks.all),
                          person=uow.people.get(person_id), address={})


def audited(store: SqlStore, action: str) -> list[tuple[datetime, str, str, dict[str, Any]]]:
    with store.engine.connect() as connection:
        return [(r.at, r.actor, r.subject, r.detail) for r in connection.execute(
            select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id))]


def press(chat: ChatHarness, ref: str) -> ChatHarness:
    result = chat.send(UserChose(ref))
    assert result.incident is None, chat.text
    return chat


def en(message_id: str, **args: Any) -> str:
    return translate(message_id, "en", **args)


@pytest.fixture
def hub(store_on: SqlStore, clock: FakeClock) -> Hub:
    return Hub(store_on, clock)


# --- "I'm here" ------------------------------------------------------------------------------

@pytest.mark.parametrize(("moment", "counted"), [
    (TODAY_1PM - timedelta(minutes=16), False),
    (TODAY_1PM - timedelta(minutes=15), True),
    (TODAY_1PM + timedelta(minutes=30), True),
    (TODAY_1PM + timedelta(minutes=90), True),  # the end (14:00) and half an hour's grace
    (TODAY_1PM + timedelta(minutes=91), False),
], ids=["16 min early", "15 min early", "during", "grace ends", "after the grace"])
def test_im_here_counts_from_a_quarter_of_an_hour_before_until_half_an_hour_after(
        hub: Hub, moment: datetime, counted: bool) -> None:
    hub.at(moment)
    amira = press(hub.chat("amira"), f"act:here:{hub.today.id}")

    record = hub.record(hub.amira)
    if counted:
        amira.expect_said("attendance.here.noted", series="Spring series")
        assert record == AttendanceRecord(hub.today.id, hub.amira, True, None, "button",
                                          "console:amira", moment)
    else:
        assert record is None
        assert en("attendance.here.noted", series="Spring series") not in amira.text


def test_too_early_says_from_when_in_the_readers_zone(hub: Hub) -> None:
    hub.at(TODAY_1PM - timedelta(hours=2))
    amira = press(hub.chat("amira"), f"act:here:{hub.today.id}")
    # 12:45 in London (British Summer Time), where Amira lives.
    amira.expect_said("attendance.here.too_early", when="Monday 2 June, 12:45",
                      zone="United Kingdom Time")
    hub.at(TODAY_1PM + timedelta(hours=3))
    press(amira, f"act:here:{hub.today.id}").expect_said("attendance.here.too_late")
    assert hub.record(hub.amira) is None


@pytest.mark.parametrize("language", ["en", "fr"])
def test_pressing_twice_says_already_noted_and_keeps_the_first_mark(
        store_on: SqlStore, clock: FakeClock, language: str) -> None:
    hub = Hub(store_on, clock, language=language)
    hub.at(TODAY_1PM - timedelta(minutes=5))
    amira = press(hub.chat("amira"), f"act:here:{hub.today.id}")
    amira.expect_said("attendance.here.noted", language, series="Spring series")
    first = hub.record(hub.amira)
    hub.clock.advance(minutes=7)
    press(amira, f"act:here:{hub.today.id}").expect_said("attendance.here.already", language)
    assert hub.record(hub.amira) == first
    assert audited(hub.store, "action.refused") == []


def test_a_guest_coming_to_this_one_session_may_say_they_are_here(hub: Hub) -> None:
    hub.at(TODAY_1PM)
    press(hub.chat("gus"), f"act:here:{hub.today.id}").expect_said(
        "attendance.here.noted", series="Spring series")
    assert hub.record(hub.gus) is not None


@pytest.mark.parametrize(("user", "session_id"), [("dan", None), ("oscar", None),
                                                  ("amira", 987654)],
                         ids=["member without a place", "another network", "forged session"])
def test_someone_not_expected_or_a_forged_session_is_refused_and_audited(
        hub: Hub, user: str, session_id: int | None) -> None:
    hub.at(TODAY_1PM)
    target = session_id or hub.today.id
    chat = press(hub.chat(user), f"act:here:{target}")

    chat.expect_said("attendance.here.not_expected")
    with hub.store.transaction() as uow:
        assert uow.attendance.of_session(hub.today.id) == {}
    [(_, actor, subject, detail)] = audited(hub.store, "action.refused")
    assert (actor, subject) == (f"console:{user}", f"session:{target}")
    assert detail["action"] == "here"


def test_a_cancelled_session_takes_no_attendance(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        uow.schedule.update_session(hub.today.id, {"state": "cancelled"}, hub.clock.now(), True)
    hub.at(TODAY_1PM)
    press(hub.chat("amira"), f"act:here:{hub.today.id}").expect_said("attendance.session_cancelled")
    assert hub.record(hub.amira) is None


def test_the_button_leaves_the_teams_adjustment_alone(hub: Hub) -> None:
    hub.at(TODAY_1PM + timedelta(minutes=10))
    hub.call("fiona", hub.fiona, adjust_attendance, hub.today.id, hub.amira, False,
             "Asked to be marked absent: on a ward round")
    amira = press(hub.chat("amira"), f"act:here:{hub.today.id}")

    amira.expect_said("attendance.here.settled")
    record = hub.record(hub.amira)
    assert record is not None and record.adjusted and not record.present


# --- roll call -------------------------------------------------------------------------------

ROLL_CALLS = [("en", "roll call", "yes"), ("fr", "appel", "oui"), ("en", "attendance", "yes"),
              ("fr", "présences", "oui")]


@pytest.mark.parametrize(("language", "command", "yes"), ROLL_CALLS,
                         ids=["English", "French", "attendance", "présences"])
def test_a_facilitator_takes_the_roll_call_in_chat(store_on: SqlStore, clock: FakeClock,
                                                   language: str, command: str, yes: str) -> None:
    hub = Hub(store_on, clock, language=language)
    hub.at(TODAY_1PM - timedelta(minutes=5))
    press(hub.chat("ben"), f"act:here:{hub.today.id}")  # Ben said so himself
    hub.at(TODAY_1PM + timedelta(minutes=10))
    fiona = hub.chat("fiona")

    fiona.say(command)
    fiona.expect_question("present")  # the only session on now is chosen already
    label = f"Spring series: {Translator(language).datetime(TODAY_1PM, 'Europe/London')}"
    assert translate("attendance.roll_call.present.ask", language, session=label, marked=1) \
        in fiona.text
    labels = [o.label for o in fiona.options()]
    assert labels == ["Amira Test", "Ben Test ✓", "Cara Test", "Gus Test"]
    assert "Dan Test" not in fiona.text  # no place, not expected
    fiona.say("Amira, Ben, gus")
    fiona.expect_question("sure")
    fiona.say(yes)

    fiona.expect_said("attendance.roll_call.saved", language, session=label, marked=2, already=1)
    assert fiona.state() is None
    amira, ben, gus = (hub.record(p) for p in (hub.amira, hub.ben, hub.gus))
    assert amira is not None and gus is not None and ben is not None
    assert (amira.source, amira.marked_by, amira.marked_at, amira.present) == (
        "roll_call", "console:fiona", clock.now(), True)
    assert ben.source == "button"  # his own mark stays as it was
    assert hub.record(hub.cara) is None  # not picked: not marked absent either
    [(_, actor, subject, detail)] = audited(hub.store, "attendance.roll_call")
    assert (actor, subject, detail) == ("console:fiona", f"session:{hub.today.id}",
                                        {"marked": 2, "unchanged": 1})


def test_the_roll_call_asks_which_session_when_two_are_on(hub: Hub) -> None:
    later = session(hub.store, hub.clock.now(), hub.spring, TODAY_1PM + timedelta(minutes=70))
    hub.at(TODAY_1PM + timedelta(minutes=20))
    fiona = hub.chat("fiona")
    fiona.say("roll call")
    fiona.expect_question("session")
    fiona.pick(f"Spring series: {Translator('en').datetime(later.starts_at, 'Europe/London')}")
    fiona.expect_question("present")
    fiona.say("1")
    fiona.say("no")
    fiona.expect_said("attendance.roll_call.cancelled")
    with hub.store.transaction() as uow:
        assert uow.attendance.of_sessions([hub.today.id, later.id]) == []


def test_with_no_session_on_there_is_no_roll_call(hub: Hub) -> None:
    hub.at(TODAY_1PM - timedelta(hours=3))  # more than an hour before
    fiona = hub.chat("fiona")
    fiona.say("roll call")
    fiona.expect_said("attendance.roll_call.no_sessions")
    assert fiona.state() is None


def test_a_participant_cannot_take_the_roll_call(hub: Hub) -> None:
    hub.at(TODAY_1PM)
    amira = hub.chat("amira")
    amira.say("roll call")
    amira.expect_said("attendance.team_only")
    assert amira.state() is None
    press(amira, f"act:roll_call:{hub.today.id}").expect_said("attendance.team_only")
    assert amira.state() is None
    refused = hub.call("amira", hub.amira, record_roll_call, hub.today.id, [hub.amira, hub.ben])
    assert refused == Refused("attendance.team_only")
    assert hub.record(hub.amira) is None and hub.record(hub.ben) is None
    assert [(a, s, d["action"]) for _, a, s, d in audited(hub.store, "action.refused")] == [
        ("console:amira", f"session:{hub.today.id}", "roll_call")] * 2


def test_another_networks_facilitator_cannot_take_this_roll_call(hub: Hub) -> None:
    hub.at(TODAY_1PM)
    oscar = hub.chat("oscar")
    oscar.say("roll call")
    oscar.expect_said("attendance.roll_call.no_sessions")  # nothing of Care Homes is offered
    press(oscar, f"act:roll_call:{hub.today.id}").expect_said("attendance.team_only")
    assert oscar.state() is None
    refused = hub.call("oscar", hub.oscar, record_roll_call, hub.today.id, [hub.amira])
    assert isinstance(refused, Refused) and hub.record(hub.amira) is None
    assert len(audited(hub.store, "action.refused")) == 2


def test_a_roll_call_naming_someone_not_expected_marks_nobody(hub: Hub) -> None:
    hub.at(TODAY_1PM)
    refused = hub.call("fiona", hub.fiona, record_roll_call, hub.today.id, [hub.amira, hub.dan])
    assert refused == Refused("attendance.roll_call.not_expected")
    assert hub.record(hub.amira) is None and hub.record(hub.dan) is None
    [(_, actor, _, detail)] = audited(hub.store, "action.refused")
    assert actor == "console:fiona" and detail["people"] == 1


def test_the_roll_call_button_opens_it_for_that_session(hub: Hub) -> None:
    hub.at(TODAY_1PM)
    hana = press(hub.chat("hana"), f"act:roll_call:{hub.today.id}")  # a hub admin may too
    hana.expect_question("present")
    assert hana.answers["session"] == str(hub.today.id)


# --- adjustments -----------------------------------------------------------------------------

def test_an_adjustment_needs_a_reason_and_is_audited_with_who_and_when(hub: Hub) -> None:
    hub.at(TODAY_1PM + timedelta(hours=2))
    for reason in ("", "  ", "ok", "x" * 301):
        refused = hub.call("fiona", hub.fiona, adjust_attendance, hub.today.id, hub.cara, True,
                           reason)
        assert refused == Refused("attendance.adjust.reason_needed", {"min": 3, "max": 300})
    assert hub.record(hub.cara) is None

    reason = "Joined by phone, so not in the Zoom report"
    done = hub.call("fiona", hub.fiona, adjust_attendance, hub.today.id, hub.cara, True, reason)

    assert isinstance(done, list) and reason in done[0].text and "Cara Test" in done[0].text
    assert hub.record(hub.cara) == AttendanceRecord(
        hub.today.id, hub.cara, True, None, "adjustment", "console:fiona", hub.clock.now(),
        adjusted=True, reason=reason)
    [(at, actor, subject, detail)] = audited(hub.store, "attendance.adjusted")
    assert (at, actor, subject) == (hub.clock.now(), "console:fiona", f"session:{hub.today.id}")
    assert detail == {"person": hub.cara, "present": True, "was": None, "was_source": None,
                      "reason_length": len(reason)}
    assert "phone" not in str(detail)  # the reason stays in the record, not in the log


def test_a_later_report_does_not_overwrite_an_adjustment(hub: Hub) -> None:
    hub.at(TODAY_1PM + timedelta(hours=2))
    hub.call("fiona", hub.fiona, adjust_attendance, hub.today.id, hub.amira, False,
             "Camera off and no answer all session")
    adjusted = hub.record(hub.amira)
    hub.clock.advance(days=1)
    with hub.store.transaction() as uow:
        written = uow.attendance.mark(AttendanceRecord(
            hub.today.id, hub.amira, True, 55, "zoom", "import:zoom.csv", hub.clock.now()))
    assert written is False
    assert hub.record(hub.amira) == adjusted
    # A second adjustment may change it again, and says what it was.
    hub.call("hana", hub.hana, adjust_attendance, hub.today.id, hub.amira, True,
             "She was on the phone line")
    record = hub.record(hub.amira)
    assert record is not None and record.present and record.marked_by == "console:hana"
    assert audited(hub.store, "attendance.adjusted")[-1][3]["was"] is False


@pytest.mark.parametrize("user", ["amira", "oscar"], ids=["participant", "another network"])
def test_only_the_networks_team_may_adjust(hub: Hub, user: str) -> None:
    hub.at(TODAY_1PM + timedelta(hours=2))
    person = hub.amira if user == "amira" else hub.oscar
    refused = hub.call(user, person, adjust_attendance, hub.today.id, hub.amira, True,
                       "I was there all along")
    assert refused == Refused("attendance.team_only")
    chat = press(hub.chat(user), f"act:adjust_attendance:{hub.today.id}")
    chat.expect_said("attendance.team_only")
    assert chat.state() is None and hub.record(hub.amira) is None
    assert audited(hub.store, "attendance.adjusted") == []
    assert [(a, s) for _, a, s, _ in audited(hub.store, "action.refused")] == [
        (f"console:{user}", f"session:{hub.today.id}")] * 2


def test_adjusting_someone_with_no_place_and_no_mark_is_refused(hub: Hub) -> None:
    hub.at(TODAY_1PM + timedelta(hours=2))
    refused = hub.call("fiona", hub.fiona, adjust_attendance, hub.today.id, hub.dan, True,
                       "Came along with Amira")
    assert refused == Refused("attendance.adjust.not_expected")
    assert hub.record(hub.dan) is None


def test_a_facilitator_adjusts_in_chat_with_a_reason(hub: Hub) -> None:
    hub.at(TODAY_1PM + timedelta(minutes=30))
    press(hub.chat("amira"), f"act:here:{hub.today.id}")
    hub.at(TODAY_1PM + timedelta(hours=3))
    fiona = hub.chat("fiona")

    fiona.say("adjust attendance")
    fiona.expect_question("person")  # the only session with people is chosen already
    assert "Amira Test (here: you pressed “I'm here”)" in [o.label for o in fiona.options()]
    fiona.pick("Amira Test (here: you pressed “I'm here”)")
    fiona.expect_question("present")
    fiona.pick("attendance.adjust.present.absent")
    fiona.expect_question("reason")
    fiona.say("no")
    fiona.expect_said("attendance.adjust.reason.too_short", min=3)
    fiona.expect_question("reason")
    fiona.say("skip")
    fiona.expect_question("reason")  # a reason is required
    fiona.say("Left after five minutes")
    fiona.expect_question("__review__")
    fiona.pick("attendance.adjust.save")

    assert "Amira Test" in fiona.text and "Left after five minutes" in fiona.text
    record = hub.record(hub.amira)
    assert record is not None
    assert (record.present, record.adjusted, record.source, record.reason, record.marked_by) == (
        False, True, "adjustment", "Left after five minutes", "console:fiona")


# --- my attendance ---------------------------------------------------------------------------

class Term:
    """Four sessions of the Spring series already held, and one still to come."""

    def __init__(self, hub: Hub) -> None:
        earlier = hub.clock.now() - timedelta(days=60)
        starts = [TODAY_1PM - timedelta(weeks=n) for n in (4, 3, 2, 1)]
        self.held = [session(hub.store, earlier, hub.spring, s) for s in starts]
        self.coming = hub.today
        with hub.store.transaction() as uow:
            marks = [(self.held[0], hub.amira, None, "button"),
                     (self.held[1], hub.amira, 40, "zoom"),
                     (self.held[2], hub.amira, 20, "teams"),
                     (self.held[0], hub.ben, 57, "zoom"),
                     (self.held[3], hub.ben, None, "roll_call")]
            for one, person, minutes, source in marks:
                uow.attendance.mark(AttendanceRecord(one.id, person, True, minutes, source,
                                                     "import:x.csv", earlier))


def mine(hub: Hub, user: str = "amira", command: str = "my attendance") -> ChatHarness:
    chat = hub.chat(user)
    result = chat.say(command)
    assert result.incident is None, chat.text
    return chat


@pytest.mark.parametrize(("rules", "attended", "reached"), [
    (AttendanceRules(), 2, False),  # 50% of 60 min: the 40 counts, the 20 does not
    (AttendanceRules(threshold=15, unit="minutes"), 3, False),  # both count: 3 of 4 is 75%
    (AttendanceRules(threshold=15, unit="minutes", certificate_share=75), 3, True),
    (AttendanceRules(threshold=45, unit="minutes", certificate_share=25), 1, True),
    (AttendanceRules(threshold=45, unit="minutes", certificate_share=30), 1, False),
], ids=["default", "15 minutes", "share 75%", "45 minutes, share 25%", "45 minutes, share 30%"])
def test_my_attendance_counts_by_the_networks_rules(hub: Hub, rules: AttendanceRules,
                                                    attended: int, reached: bool) -> None:
    Term(hub)
    with hub.store.transaction() as uow:
        uow.networks.set_attendance_rules("care-homes", rules)

    amira = mine(hub)

    assert en("attendance.mine.share_value", attended=attended, held=4,
              percent=attended * 100 // 4) in amira.text
    verdict = "reached" if reached else "not_reached"
    amira.expect_said(f"attendance.mine.certificate.{verdict}", share=rules.certificate_share)
    amira.expect_said(f"attendance.mine.rule.{rules.unit}", threshold=rules.threshold)


def test_my_attendance_shows_each_session_in_my_zone_and_nobody_elses_rows(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        uow.people.update(hub.amira, {"time_zone": "America/Toronto"})
    term = Term(hub)

    amira = mine(hub)

    lines = amira.text.splitlines()
    first = Translator("en").datetime(term.held[0].starts_at, "America/Toronto")
    assert first.endswith("08:00")  # 13:00 in London is 08:00 in Toronto
    assert f"{first}: {en('attendance.mine.mark.present', source=en('attendance.source.button'))}" \
        in lines
    assert en("attendance.mine.mark.minutes", minutes=40, source="Zoom report") in amira.text
    assert en("attendance.mine.mark.short", minutes=20, source="Teams report") in amira.text
    assert en("attendance.mine.mark.none") in amira.text  # the fourth, where she has no mark
    assert "57" not in amira.text and "roll call" not in amira.text  # Ben's marks
    assert "Ben" not in amira.text
    coming = Translator("en").datetime(term.coming.starts_at, "America/Toronto")
    assert coming not in amira.text  # not held yet


def test_my_attendance_in_french(store_on: SqlStore, clock: FakeClock) -> None:
    hub = Hub(store_on, clock, language="fr")
    Term(hub)
    amira = mine(hub, command="mes présences")
    amira.expect_said("attendance.mine.share_value", "fr", attended=2, held=4, percent=50)
    amira.expect_said("attendance.mine.certificate.not_reached", "fr", share=80)
    assert "Présence : 40 minutes (rapport Zoom)" in amira.text


def test_an_adjustment_counts_whatever_the_minutes(hub: Hub) -> None:
    term = Term(hub)
    hub.call("fiona", hub.fiona, adjust_attendance, term.held[2].id, hub.amira, True,
             "Her connection dropped; she was there throughout")
    amira = mine(hub)
    assert en("attendance.mine.share_value", attended=3, held=4, percent=75) in amira.text
    assert en("attendance.mine.mark.present", source=en("attendance.source.adjustment")) \
        in amira.text
    assert "connection dropped" not in amira.text  # the team's note stays with the team


def test_my_attendance_with_nothing_on_record(hub: Hub) -> None:
    mine(hub, "dan").expect_said("attendance.mine.none")
    amira = mine(hub)  # a place, but nothing held yet
    amira.expect_said("attendance.mine.none_held")
    assert "Certificate" not in amira.text


def test_a_participant_typing_attendance_sees_only_their_own(hub: Hub) -> None:
    Term(hub)
    amira = mine(hub, command="attendance")
    assert amira.state() is None  # no roll call for a participant
    amira.expect_said("attendance.mine.share_value", attended=2, held=4, percent=50)
    assert "Ben" not in amira.text


def test_my_attendance_works_directly_as_a_service(hub: Hub) -> None:
    Term(hub)
    parts = hub.call("ben", hub.ben, my_attendance)
    text = "\n".join(p.fallback_text() for p in parts)
    # Ben: 57 of 60 minutes, and a roll call: two of four, which is 50%.
    assert en("attendance.mine.share_value", attended=2, held=4, percent=50) in text
    assert "Amira" not in text and "40 minutes" not in text
