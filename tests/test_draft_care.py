"""Housekeeping for case drafts and old cases: one nudge for a draft meant for a near session
(again only after the author touched it), a warning at 83 idle days and deletion at 90, old
cases purged, quiet hours kept. Run on the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.housekeeping import care_for_drafts as tidy_drafts
from assistant.messages import reply_from_json
from assistant.model import CaseContent
from assistant.runtime import DialogState
from assistant.services.draft_care import DraftCare, care_for_drafts
from dialogs.case_presentation import CASE_PRESENTATION
from storage.repositories import SqlStore
from storage.tables import AuditRow, OutboxRow
from tests.community import member, open_networks, series, session
from tests.conftest import TEST_SEALER
from tests.harness import ChatHarness, seeded
from tests.test_case_dialog import draft_until_summary

AUDIT, OUTBOX = AuditRow.__table__, OutboxRow.__table__
AMIRA, FATIMA = "console:amira", "console:fatima"
# The clock fixture starts on Monday 2 June 2025, 09:00 UTC (10:00 in London).
THURSDAY_1PM_LONDON = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)
SECRET = "Breathless at rest, anxious at night"


@pytest.fixture
def hub(store_on: SqlStore, clock: FakeClock) -> dict[str, int]:
    now = clock.now()
    open_networks(store_on, now)
    amira = member(store_on, now, "amira")
    fatima = member(store_on, now, "fatima", zone="America/Toronto", language="fr")
    spring = series(store_on, now)
    thursday = session(store_on, now, spring, THURSDAY_1PM_LONDON)
    return {"amira": amira, "fatima": fatima, "series": spring.id, "session": thursday.id}


def save_draft(store: SqlStore, at: datetime, session_choice: str, key: str = AMIRA) -> None:
    answers = {"_sessions": [], "_started": at.isoformat(), "network": "care-homes",
               "session": session_choice, "symptoms": SECRET}
    with store.transaction() as uow:
        uow.conversations.save(key, DialogState(dialog="case",
                                                dialog_version=CASE_PRESENTATION.version,
                                                answers=answers, paused=True), at)


def touch(store: SqlStore, at: datetime, key: str = AMIRA) -> None:
    """What a turn does: the draft saved again, whole, at the turn's time."""
    with store.transaction() as uow:
        state = uow.conversations.load(key, "case")
        assert state is not None
        uow.conversations.save(key, replace(state, answers={**state.answers, "tried": "Fan"}), at)


def draft(store: SqlStore, key: str = AMIRA) -> DialogState | None:
    with store.transaction() as uow:
        return uow.conversations.load(key, "case")


def sent(store: SqlStore) -> list[tuple[str, str, datetime, str]]:
    """(dedupe key, identity, due, text) of every draft message queued."""
    with store.engine.connect() as connection:
        rows = connection.execute(select(OUTBOX).where(OUTBOX.c.dedupe_key.startswith("draft:"))
                                  .order_by(OUTBOX.c.id))
        return [(r.dedupe_key, r.identity, r.due_at,
                 reply_from_json(TEST_SEALER.open(r.payload)).fallback_text()) for r in rows]


def audit(store: SqlStore) -> list[tuple[str, str, str, dict[str, Any]]]:
    with store.engine.connect() as connection:
        return [(r.actor, r.action, r.subject, r.detail) for r in connection.execute(
            select(AUDIT).where(AUDIT.c.action.in_(["case.draft_deleted", "case.purged"]))
            .order_by(AUDIT.c.id))]


NUDGE_EN = ("Your case for Spring series on Thursday 5 June, 13:00 (United Kingdom Time) is "
            "waiting for you. Type *case* when you are ready to carry on.")


# --- nudges ---------------------------------------------------------------------------------

def test_a_draft_for_a_near_session_is_nudged_once_after_a_day(store_on: SqlStore,
                                                              clock: FakeClock, hub) -> None:
    save_draft(store_on, clock.now(), str(hub["session"]))

    clock.advance(hours=23, minutes=59)
    assert care_for_drafts(store_on, clock.now()) == DraftCare()
    assert sent(store_on) == []

    clock.advance(minutes=1)  # Tuesday 09:00 UTC: idle for a day, the session 51 hours away
    assert care_for_drafts(store_on, clock.now()) == DraftCare(nudged=1)
    [(key, identity, due, text)] = sent(store_on)
    assert (identity, due, text) == (AMIRA, datetime(2025, 6, 3, 9, 0, tzinfo=UTC), NUDGE_EN)
    assert key.startswith("draft:nudge:") and len(key) <= 200

    for hours in (0, 1, 24):  # the same round again, and later rounds: never a second one
        clock.advance(hours=hours)
        assert care_for_drafts(store_on, clock.now()) == DraftCare()
    assert len(sent(store_on)) == 1
    kept = draft(store_on)
    assert kept is not None and kept.answers["symptoms"] == SECRET and kept.paused


def test_remembering_the_nudge_is_not_a_touch(suite_store: SqlStore, clock: FakeClock) -> None:
    """The draft still counts as idle since it was last saved by its author."""
    open_networks(suite_store, clock.now())
    member(suite_store, clock.now(), "amira")
    spring = series(suite_store, clock.now())
    thursday = session(suite_store, clock.now(), spring, THURSDAY_1PM_LONDON)
    save_draft(suite_store, clock.now(), str(thursday.id))
    care_for_drafts(suite_store, clock.advance(days=1))
    with suite_store.transaction() as uow:
        [idle] = uow.conversations.idle("case", clock.now())
    assert idle.updated_at == datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    assert idle.state.revision == 2


def test_no_nudge_for_any_session_a_far_session_or_a_past_one(store_on: SqlStore,
                                                              clock: FakeClock, hub) -> None:
    far = session(store_on, clock.now(), _series(store_on, hub["series"]),
                  datetime(2025, 6, 12, 12, 0, tzinfo=UTC))
    save_draft(store_on, clock.now(), "any", key=AMIRA)
    save_draft(store_on, clock.now(), str(far.id), key=FATIMA)

    clock.advance(days=2)
    assert care_for_drafts(store_on, clock.now()) == DraftCare()
    clock.set(datetime(2025, 6, 5, 12, 0, tzinfo=UTC))  # Thursday's session is starting
    assert care_for_drafts(store_on, clock.now()) == DraftCare()
    assert sent(store_on) == []


def test_a_second_nudge_only_after_the_author_touched_the_draft(store_on: SqlStore,
                                                               clock: FakeClock, hub) -> None:
    save_draft(store_on, clock.now(), str(hub["session"]))
    care_for_drafts(store_on, clock.advance(days=1))          # Tuesday 09:00: first nudge
    touch(store_on, clock.advance(hours=1))                   # Tuesday 10:00: carried on

    assert care_for_drafts(store_on, clock.advance(hours=23, minutes=59)) == DraftCare()
    assert care_for_drafts(store_on, clock.advance(minutes=1)) == DraftCare(nudged=1)
    first, second = sent(store_on)
    assert (first[2], second[2]) == (datetime(2025, 6, 3, 9, 0, tzinfo=UTC),
                                     datetime(2025, 6, 4, 10, 0, tzinfo=UTC))
    assert first[0] != second[0] and second[3] == NUDGE_EN
    assert care_for_drafts(store_on, clock.advance(hours=2)) == DraftCare()


def test_a_nudge_waits_for_the_end_of_quiet_hours_in_the_readers_zone(
        store_on: SqlStore, clock: FakeClock, hub) -> None:
    clock.set(datetime(2025, 6, 2, 0, 0, tzinfo=UTC))
    save_draft(store_on, clock.now(), str(hub["session"]), key=FATIMA)

    clock.set(datetime(2025, 6, 3, 1, 0, tzinfo=UTC))  # Monday 21:00 in Toronto: quiet
    assert care_for_drafts(store_on, clock.now()) == DraftCare(nudged=1)
    [(_, identity, due, text)] = sent(store_on)
    assert identity == FATIMA
    assert due == datetime(2025, 6, 3, 12, 0, tzinfo=UTC)  # Tuesday 08:00 in Toronto
    assert text == ("Votre cas pour Spring series du jeudi 5 juin, 08 h 00 (heure : Canada "
                    "(Toronto)) vous attend. Tapez *cas* quand vous serez prêt·e à continuer.")


# --- abandoned drafts -----------------------------------------------------------------------

WARNING_EN = ("Your unfinished case draft, last changed on Monday 2 June 2025, will be deleted "
              "in 7 days unless you carry on. Type *case* to pick it up.")


def test_a_draft_left_for_83_days_is_warned_then_deleted_at_90(store_on: SqlStore,
                                                             clock: FakeClock, hub) -> None:
    started = clock.now()
    save_draft(store_on, started, "any")

    assert care_for_drafts(store_on, started + timedelta(days=83, minutes=-1)) == DraftCare()
    assert care_for_drafts(store_on, started + timedelta(days=83)) == DraftCare(warned=1)
    [(key, identity, due, text)] = sent(store_on)
    assert (identity, due, text) == (AMIRA, started + timedelta(days=83), WARNING_EN)
    assert key.startswith("draft:warning:")
    assert care_for_drafts(store_on, started + timedelta(days=84)) == DraftCare()
    assert care_for_drafts(store_on, started + timedelta(days=90, minutes=-1)) == DraftCare()
    assert draft(store_on) is not None and audit(store_on) == []

    assert care_for_drafts(store_on, started + timedelta(days=90)) == DraftCare(deleted=1)
    assert draft(store_on) is None
    assert len(sent(store_on)) == 1  # the warning, once
    [row] = audit(store_on)
    assert row == ("housekeeping", "case.draft_deleted", f"person:{hub['amira']}",
                   {"idle_days": 90, "warned": True})
    assert SECRET not in json.dumps(row)


def test_carrying_on_after_the_warning_keeps_the_draft(store_on: SqlStore, clock: FakeClock,
                                                       hub) -> None:
    started = clock.now()
    save_draft(store_on, started, "any")
    care_for_drafts(store_on, started + timedelta(days=83))
    touch(store_on, started + timedelta(days=85))

    assert care_for_drafts(store_on, started + timedelta(days=95)) == DraftCare()
    assert draft(store_on) is not None
    # The count starts again from the touch: a new warning at 83 days after it.
    assert care_for_drafts(store_on, started + timedelta(days=85 + 83)) == DraftCare(warned=1)
    assert len(sent(store_on)) == 2 and audit(store_on) == []


def test_a_draft_never_warned_gets_its_seven_days_before_deletion(suite_store: SqlStore,
                                                                  clock: FakeClock) -> None:
    """Housekeeping was down through the warning window: warn now, delete a week later."""
    open_networks(suite_store, clock.now())
    member(suite_store, clock.now(), "amira")
    started = clock.now()
    save_draft(suite_store, started, "any")

    assert care_for_drafts(suite_store, started + timedelta(days=100)) == DraftCare(warned=1)
    assert draft(suite_store) is not None
    assert care_for_drafts(suite_store, started + timedelta(days=107, minutes=-1)) == DraftCare()
    assert care_for_drafts(suite_store, started + timedelta(days=107)) == DraftCare(deleted=1)
    assert draft(suite_store) is None


def test_housekeeping_runs_the_whole_round(suite_store: SqlStore, clock: FakeClock) -> None:
    open_networks(suite_store, clock.now())
    member(suite_store, clock.now(), "amira")
    save_draft(suite_store, clock.now(), "any")
    clock.advance(days=83)
    assert tidy_drafts(suite_store, clock) == DraftCare(warned=1)


# --- old cases ------------------------------------------------------------------------------

CONTENT = CaseContent(questions=("How can we ease her breathlessness at night?",),
                      case_type="service_issue", presenter_setting="hospice",
                      summary="Night cover", care_setting="hospice", symptoms=SECRET,
                      tried="Fan")


def test_old_cases_are_purged_and_audited(store_on: SqlStore, clock: FakeClock, hub) -> None:
    now = clock.now()
    with store_on.transaction() as uow:
        def add(key: str, session_id: int | None) -> int:
            return uow.cases.add(hub["amira"], "care-homes", hub["series"], session_id, CONTENT,
                                 key, now).case.id

        for_thursday = add("d1", hub["session"])
        unscheduled = add("d2", None)
        waiting = add("d3", None)
        record = uow.cases.get(waiting)
        assert record is not None
        uow.cases.update(waiting, {"state": "accepted"}, record.revision, now)
    ended = THURSDAY_1PM_LONDON + timedelta(hours=1)

    # "More than" 90 and 180 days: exactly on the day, the case is still there.
    assert care_for_drafts(store_on, ended + timedelta(days=90)) == DraftCare()
    assert care_for_drafts(store_on, ended + timedelta(days=90, minutes=1)) == DraftCare(purged=1)
    assert care_for_drafts(store_on, now + timedelta(days=180)) == DraftCare()
    assert care_for_drafts(store_on, now + timedelta(days=180, minutes=1)) == DraftCare(purged=1)
    assert care_for_drafts(store_on, now + timedelta(days=400)) == DraftCare()

    with store_on.transaction() as uow:
        assert [uow.cases.get(i) is None for i in (for_thursday, unscheduled, waiting)] == [
            True, True, False]
    assert audit(store_on) == [
        ("housekeeping", "case.purged", f"case:{for_thursday}", {"state": "submitted"}),
        ("housekeeping", "case.purged", f"case:{unscheduled}", {"state": "submitted"})]


def _series(store: SqlStore, series_id: int) -> Any:
    with store.transaction() as uow:
        return uow.schedule.series(series_id)


def test_a_real_draft_is_warned_and_still_picks_up_where_it_was(suite_store: SqlStore,
                                                                clock: FakeClock) -> None:
    """The remembered warning rides in the draft without disturbing the conversation."""
    store = seeded(suite_store, clock)
    member(store, clock.now(), "amira")
    chat = ChatHarness(store, clock, user="amira")
    draft_until_summary(chat)
    chat.say("A man in his 70s with COPD at home")
    chat.say("cancel")

    clock.advance(days=83)
    assert care_for_drafts(store, clock.now()) == DraftCare(warned=1)
    [(_, identity, _, text)] = sent(store)
    assert identity == AMIRA and text.startswith("Your unfinished case draft, last changed on")
    chat.restart()
    chat.say("case")
    chat.expect_question("age_band")
    assert chat.answers["summary"] == "A man in his 70s with COPD at home"
    # Carrying on was a touch: nothing is deleted at 90 days from the start.
    assert care_for_drafts(store, clock.advance(days=7)) == DraftCare()
