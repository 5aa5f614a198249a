"""Looking after case drafts and old cases between conversations (DOMAIN.md §4-§5).

- A draft meant for a session that is near, left alone for a day, gets one gentle nudge.
  Never a second one in a row: the next nudge waits until the author has touched the draft.
- A draft left alone for `DRAFT_IDLE_LIMIT` is deleted, never without a warning sent at least
  `DRAFT_WARNING_NOTICE` before; a touch in between starts the count again.
- A case is deleted `CASE_KEPT_AFTER_SESSION` after its session ended, or, with no session,
  `UNSCHEDULED_CASE_KEPT` after it was submitted. Cases accepted and waiting for a session
  stay: the team means to present them.

What was sent is remembered in the draft itself (`_nudged`, `_warned`, keyed by the moment
it was last touched), saved with its old `updated_at` so remembering is not a touch. Every
draft is handled in its own transaction; one the author changed meanwhile (another revision)
is left for the next round. Audit rows carry states and counts, never a word of a case.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from assistant.i18n import Translator, normalise_language
from assistant.messages import Reply, Text
from assistant.model import ReminderPrefs
from assistant.ports import IdleState, StaleState, Store, UnitOfWork
from assistant.reminder_times import after_quiet_hours
from assistant.runtime import DialogState

DRAFT_DIALOG = "case"
ANY_SESSION = "any"
ACTOR = "housekeeping"

NUDGE_WITHIN = timedelta(days=3)  # how near the chosen session must be
NUDGE_AFTER_IDLE = timedelta(days=1)
DRAFT_IDLE_LIMIT = timedelta(days=90)
DRAFT_WARNING_NOTICE = timedelta(days=7)  # the warning goes at 83 idle days
CASE_KEPT_AFTER_SESSION = timedelta(days=90)
UNSCHEDULED_CASE_KEPT = timedelta(days=180)
KEEP_STATES = ("accepted",)  # waiting for a session the team will give it

NUDGED, WARNED = "_nudged", "_warned"


@dataclass(frozen=True)
class DraftCare:
    nudged: int = 0
    warned: int = 0
    deleted: int = 0
    purged: int = 0


def care_for_drafts(store: Store, now: datetime, *, nudge_within: timedelta = NUDGE_WITHIN,
                    nudge_after_idle: timedelta = NUDGE_AFTER_IDLE,
                    idle_limit: timedelta = DRAFT_IDLE_LIMIT,
                    warning_notice: timedelta = DRAFT_WARNING_NOTICE) -> DraftCare:
    """One round: nudges, warnings and deletions of drafts, then old cases purged."""
    with store.transaction() as uow:
        idle = uow.conversations.idle(DRAFT_DIALOG, now - nudge_after_idle)
    warn_from = idle_limit - warning_notice
    nudged = warned = deleted = 0
    for draft in idle:
        left_for = now - draft.updated_at
        try:
            with store.transaction() as uow:
                current = uow.conversations.load(draft.key, DRAFT_DIALOG)
                if current is None or current.revision != draft.state.revision:
                    continue  # touched or gone since the list was read: next round
                draft = replace(draft, state=current)
                if left_for >= warn_from:
                    outcome = _warn_or_delete(uow, draft, now, idle_limit, warning_notice)
                    warned += outcome == "warned"
                    deleted += outcome == "deleted"
                elif _nudge(uow, draft, now, nudge_within):
                    nudged += 1
        except StaleState:
            continue  # the author (or another replica) saved it meanwhile
    purged = purge_old_cases(store, now)
    return DraftCare(nudged=nudged, warned=warned, deleted=deleted, purged=purged)


def purge_old_cases(store: Store, now: datetime,
                    kept_after_session: timedelta = CASE_KEPT_AFTER_SESSION,
                    unscheduled_kept: timedelta = UNSCHEDULED_CASE_KEPT) -> int:
    with store.transaction() as uow:
        gone = uow.cases.purge_before(now - kept_after_session, now - unscheduled_kept,
                                      KEEP_STATES)
        for case_id, state in sorted(gone.items()):
            uow.audit.record(now, ACTOR, "case.purged", f"case:{case_id}", {"state": state})
    return len(gone)


# --- nudges ---------------------------------------------------------------------------------


def _nudge(uow: UnitOfWork, draft: IdleState, now: datetime, within: timedelta) -> bool:
    """One nudge for a draft whose chosen session is near, unless one went since the draft
    was last touched."""
    answers = draft.state.answers
    touched = draft.updated_at.isoformat()
    chosen = str(answers.get("session") or "")
    if answers.get(NUDGED) == touched or chosen in ("", ANY_SESSION) or not chosen.isdigit():
        return False
    session = uow.schedule.session(int(chosen))
    if session is None or session.state != "scheduled" or not now < session.starts_at <= now + within:
        return False
    series = uow.schedule.series(session.series_id)
    reader = _reader(uow, draft.key)
    if reader is None:
        return False
    t, zone, due = reader[0], reader[1], after_quiet_hours(now, reader[1], reader[2])
    if due >= session.starts_at:
        return False  # quiet hours last past the start: too late to be useful
    text = t("draft_care.nudge", series=series.title if series else "",
             when=t.datetime(session.starts_at, zone), zone=t.zone_name(zone))
    uow.outbox.add(draft.key, uow.people.address_of(draft.key), Reply((Text(text),)),
                   _dedupe("nudge", draft, touched), due)
    uow.conversations.save(draft.key, _remember(draft, NUDGED, touched), draft.updated_at)
    return True


# --- abandoned drafts -----------------------------------------------------------------------


def _warn_or_delete(uow: UnitOfWork, draft: IdleState, now: datetime, limit: timedelta,
                    notice: timedelta) -> str:
    """"warned", "deleted", or "" (warned already, and the notice has not run out yet)."""
    touched = draft.updated_at.isoformat()
    warning = draft.state.answers.get(WARNED)
    warned_at = (datetime.fromisoformat(warning["at"])
                 if isinstance(warning, dict) and warning.get("for") == touched else None)
    reader = _reader(uow, draft.key)
    if warned_at is None and reader is not None:
        t, zone, prefs = reader
        due = after_quiet_hours(now, zone, prefs)
        text = t("draft_care.warning", days=notice.days,
                 touched=t.datetime(draft.updated_at, zone, "date"))
        uow.outbox.add(draft.key, uow.people.address_of(draft.key), Reply((Text(text),)),
                       _dedupe("warning", draft, touched), due)
        remembered = _remember(draft, WARNED, {"for": touched, "at": due.isoformat()})
        uow.conversations.save(draft.key, remembered, draft.updated_at)
        return "warned"
    # Nobody to warn (the person is gone), or warned long enough ago.
    if now - draft.updated_at < limit or (warned_at is not None and now - warned_at < notice):
        return ""
    uow.conversations.delete(draft.key, DRAFT_DIALOG, draft.state.revision)
    person = uow.people.by_identity(draft.key)
    uow.audit.record(now, ACTOR, "case.draft_deleted",
                     f"person:{person.id}" if person else "person:unknown",
                     {"idle_days": (now - draft.updated_at).days,
                      "warned": warned_at is not None})
    return "deleted"


# --- shared ---------------------------------------------------------------------------------


def _reader(uow: UnitOfWork, identity: str) -> tuple[Translator, str, ReminderPrefs] | None:
    person = uow.people.by_identity(identity)
    if person is None:
        return None
    prefs = uow.reminder_preferences.of([person.id])[person.id]
    return Translator(normalise_language(person.language)), person.time_zone, prefs


def _remember(draft: IdleState, key: str, value: object) -> DialogState:
    return replace(draft.state, answers={**draft.state.answers, key: value})


def _dedupe(kind: str, draft: IdleState, touched: str) -> str:
    """One row per draft, kind and touch; the identity is hashed to keep the key short."""
    started = str(draft.state.answers.get("_started", ""))
    digest = hashlib.sha256(f"{draft.key}\n{started}".encode()).hexdigest()[:24]
    return f"draft:{kind}:{digest}:{touched}"
