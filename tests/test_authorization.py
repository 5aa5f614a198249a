"""Every button, pressed by someone it was never shown to: a member of another network, that
network's facilitator or hub admin, and someone not registered at all. A button's number is
only a claim; each one must be refused, audited, and change nothing (issue #9's table)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.model import AttendanceRecord, CaseContent, PollOption
from dialogs.buttons import ACTIONS
from storage.repositories import SqlStore
from storage.tables import AuditRow
from tests.community import enrol, member, open_networks, series, session
from tests.harness import ChatHarness

AUDIT = AuditRow.__table__  # type: ignore[attr-defined]
HELD = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
CASE_TEXT = "Breathless at night, frightened, wants to stay in the home"
CONTENT = CaseContent(questions=("How can we ease her breathlessness at night?",),
                      case_type="patient", presenter_setting="care_home_nursing",
                      summary="A woman in her 80s with heart failure", care_setting="hospice",
                      symptoms=CASE_TEXT, tried="A fan helps a little", age_band="80-89",
                      sex="female", diagnosis="Heart failure", acp_status="discussed")
# What a forged button may never change.
GUARDED = ("enrolment", "rsvp", "attendance", "follow_up", "evaluation", "case_presentation",
           "library_item", "series_alert", "invitation", "poll", "poll_vote", "suggestion", "series",
           "session", "membership", "conversation_state")


class World:
    """Care Homes ECHO, with one of everything a button can name: Fay facilitates, Amira
    attended a session and presented a case, Ben waits for approval."""

    def __init__(self, store: SqlStore, clock: FakeClock) -> None:
        now = clock.now()
        open_networks(store, now)
        fay = member(store, now, "fay", role="facilitator")
        amira = member(store, now, "amira")
        ben = member(store, now, "ben")
        spring = series(store, now)
        closed_door = series(store, now, name="closed", approval=True)
        autumn = series(store, now, name="autumn", state="opening_soon")
        held = session(store, now, spring, HELD)
        coming = session(store, now, spring, datetime(2025, 6, 9, 12, 0, tzinfo=UTC))
        enrol(store, now, spring, amira)
        enrol(store, now, closed_door, ben, status="pending_approval")
        clock.set(datetime(2025, 6, 2, 14, 0, tzinfo=UTC))
        now = clock.now()
        with store.transaction() as uow:
            uow.attendance.mark(AttendanceRecord(held.id, amira, True, None, "button",
                                                 "console:amira", now))
            record = uow.cases.add(amira, "care-homes", spring.id, held.id, CONTENT,
                                   "console:amira:draft", now)
            uow.cases.update(record.case.id, {"state": "presented", "reference": "CH-2025-001"},
                             record.revision, now)
            summary = uow.follow_ups.add(held.id, "session", None, fay, {"summary": "Pain."},
                                         "k1", now, now)
            advice = uow.follow_ups.add(held.id, "recommendations", record.case.id, fay,
                                        {"text": "Try a fan", "resources": []}, "k2", now, now)
            item = uow.library.add(held.id, "slides", "https://example.org/s.pdf", "Slides",
                                   "console:fay", now)
            [request] = uow.enrolments.awaiting_approval([closed_door.id])
            idea = uow.suggestions.add("care-homes", amira, "topic",
                                       {"topic": "Mouth care", "reason": ""}, now)
            poll = uow.polls.add("care-homes", "Next?", [PollOption("Mouth care"),
                                                         PollOption("Falls")], fay, now, None)
            network = next(n.id for n in uow.networks.all() if n.slug == "care-homes")
        self.ids: dict[str, int] = {
            "session": held.id, "coming": coming.id, "series": spring.id,
            "opening": autumn.id, "case": record.case.id, "request": request.id,
            "follow_up": summary.id, "recommendations": advice.id, "item": item.id,
            "network": network, "suggestion": idea.id, "poll": poll.id, "vote": poll.id * 10}


# The kind of number each button carries (what it names in the world above).
NAMES: dict[str, str] = {
    "adjust_attendance": "session", "approve": "request", "attend": "coming",
    "calendar": "coming", "cancel_place": "series", "case_accept": "case", "case_edit": "case",
    "case_export": "case", "case_export_docx": "case", "case_export_full": "case",
    "case_export_pdf": "case", "case_for": "coming", "case_open": "case",
    "case_presented": "case", "case_recommend": "case", "case_return": "case",
    "case_schedule": "case", "case_show": "case", "case_withdraw": "case",
    "case_withdraw_confirmed": "case", "decline": "request", "evaluate": "session",
    "follow_up_resend": "follow_up", "follow_up_show": "follow_up", "follow_up_slot": "case",
    "going": "coming", "here": "session", "join": "series", "library_add": "session",
    "library_all": "series", "library_more": "coming", "library_remove": "item",
    "library_search_more": "coming", "library_series": "series",
    "library_series_more": "coming", "not_going": "coming", "notify_open": "opening",
    "notify_open_off": "opening", "recommendation_reply": "recommendations",
    "report": "network", "roll_call": "session", "series_calendar": "series", "share": "series",
    "suggestion_merge": "suggestion", "suggestion_session": "suggestion",
    "suggestion_close": "suggestion", "poll_start": "network", "poll_close": "poll",
    "poll_results": "poll", "vote": "vote", "announce_series": "series",
    "announce_session": "coming",
}
OUTSIDERS = ("pia", "gus", "hana", "zed")  # participant, facilitator, hub admin elsewhere; nobody


def test_every_button_has_a_row_in_this_table() -> None:
    assert sorted(NAMES) == sorted(ACTIONS)


def _snapshot(store: SqlStore) -> dict[str, list[Any]]:
    with store.engine.connect() as connection:
        return {table: [tuple(row) for row in connection.execute(
            text(f"SELECT * FROM {table} ORDER BY 1"))] for table in GUARDED}  # noqa: S608


def _refusals(store: SqlStore, actor: str) -> int:
    with store.engine.connect() as connection:
        return len(connection.execute(select(AUDIT.c.id).where(
            AUDIT.c.action == "action.refused", AUDIT.c.actor == actor)).all())


@pytest.fixture
def world(suite_store: SqlStore, clock: FakeClock) -> World:
    made = World(suite_store, clock)
    now = clock.now()
    member(suite_store, now, "pia", network="palliative-essentials")
    member(suite_store, now, "gus", role="facilitator", network="palliative-essentials")
    member(suite_store, now, "hana", role="hub_admin", network="palliative-essentials")
    return made


@pytest.mark.parametrize("action", sorted(NAMES))
def test_a_button_from_another_network_is_refused_audited_and_changes_nothing(
        world: World, suite_store: SqlStore, clock: FakeClock, action: str) -> None:
    ref = f"act:{action}:{world.ids[NAMES[action]]}"
    # Register, pressed by someone new (on an announcement in a channel), starts registration.
    for outsider in (o for o in OUTSIDERS if not (o == "zed" and action == "join")):
        chat = ChatHarness(suite_store, clock, user=outsider)
        before = _snapshot(suite_store)
        refused_before = _refusals(suite_store, chat.identity)
        chat.send(UserChose(ref))
        assert _snapshot(suite_store) == before, (outsider, chat.text)
        assert _refusals(suite_store, chat.identity) == refused_before + 1, (outsider, chat.text)
        for secret in (CASE_TEXT, "Amira", "Try a fan", "https://example.org/s.pdf",
                       "zoom.example"):
            assert secret not in chat.text, (outsider, chat.text)


# Buttons for the network's team, pressed by a participant of that same network.
TEAM_ONLY = ("adjust_attendance", "approve", "case_accept", "case_open", "case_presented",
             "case_recommend", "case_return", "case_schedule", "decline", "follow_up_resend",
             "follow_up_show", "library_add", "library_remove", "report", "roll_call",
             "suggestion_merge", "suggestion_session", "suggestion_close", "poll_start",
             "poll_close", "announce_series", "announce_session")
# Buttons for the case's presenter (or the attendee), pressed by another participant.
AUTHOR_ONLY = ("case_edit", "case_export", "case_export_docx", "case_export_full",
               "case_export_pdf", "case_show", "case_withdraw", "case_withdraw_confirmed",
               "evaluate", "follow_up_slot", "here", "recommendation_reply")


@pytest.mark.parametrize(("action", "who"), [*((a, "amira") for a in TEAM_ONLY),
                                             *((a, "ben") for a in AUTHOR_ONLY)])
def test_a_button_for_another_role_in_the_same_network_is_refused(
        world: World, suite_store: SqlStore, clock: FakeClock, action: str, who: str) -> None:
    chat = ChatHarness(suite_store, clock, user=who)
    before = _snapshot(suite_store)
    chat.send(UserChose(f"act:{action}:{world.ids[NAMES[action]]}"))
    assert _snapshot(suite_store) == before, chat.text
    assert _refusals(suite_store, chat.identity) == 1, chat.text
    if who == "ben":
        assert CASE_TEXT not in chat.text and "Try a fan" not in chat.text


def test_an_old_button_replayed_after_the_case_moved_on_changes_nothing(
        world: World, suite_store: SqlStore, clock: FakeClock) -> None:
    amira = ChatHarness(suite_store, clock, user="amira")  # her own case, now presented
    before = _snapshot(suite_store)
    amira.send(UserChose(f"act:case_withdraw_confirmed:{world.ids['case']}"))
    amira.send(UserChose(f"act:case_edit:{world.ids['case']}"))
    assert _snapshot(suite_store) == before


def test_register_pressed_by_someone_new_starts_registration_and_gives_no_place(
        world: World, suite_store: SqlStore, clock: FakeClock) -> None:
    before = _snapshot(suite_store)
    zed = ChatHarness(suite_store, clock, user="zed")
    zed.send(UserChose(f"act:join:{world.ids['series']}"))
    assert zed.pending == "begin"
    after = _snapshot(suite_store)
    assert {t: rows for t, rows in after.items() if t != "conversation_state"} == {
        t: rows for t, rows in before.items() if t != "conversation_state"}
    with suite_store.transaction() as uow:
        assert uow.people.by_identity("console:zed") is None
