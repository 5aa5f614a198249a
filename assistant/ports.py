"""What the core needs from the outside world, as small protocols.

`storage/` implements the repositories; adapters implement `Notifier`. The core never imports
either: `assistant/bootstrap.py` wires them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from assistant.messages import File, Outgoing, Reply
from assistant.model import (
    AttendanceRecord,
    AttendanceRules,
    Case,
    CaseContent,
    ConsentRecord,
    EvaluationAnswer,
    FollowUp,
    LibraryItem,
    Membership,
    ParticipantRow,
    Person,
    Poll,
    PollOption,
    ReminderPrefs,
    Series,
    Session,
    Suggestion,
)
from assistant.runtime import DialogState, NetworkInfo


class StaleState(Exception):
    """Another turn saved this conversation first: reload and run the turn again."""


class Unavailable(Exception):
    """The database cannot be reached; the caller answers 503 and retries later."""


class ProcessedEvents(Protocol):
    def add(self, delivery_id: str, at: datetime) -> bool:
        """Record a delivery; False if it was already processed (a redelivery)."""
        ...

    def purge(self, before: datetime) -> int: ...


class Conversations(Protocol):
    def active(self, key: str) -> DialogState | None: ...
    def load(self, key: str, dialog: str) -> DialogState | None: ...
    def save(self, key: str, state: DialogState, at: datetime) -> DialogState:
        """Insert or update; raises StaleState if the stored revision moved on."""
        ...
    def delete(self, key: str, dialog: str, revision: int) -> None: ...
    def delete_all(self, key: str) -> None: ...
    def all_of(self, key: str) -> list[DialogState]:
        """Every conversation kept for this key, paused ones (a case draft put aside) too."""
        ...
    def idle(self, dialog: str, before: datetime) -> list[IdleState]:
        """Every state of this dialog last saved at or before `before`, oldest first (drafts
        left alone, for housekeeping)."""
        ...


@dataclass(frozen=True)
class Arrival:
    """Who is writing: the registered person behind an identity (if any) and the language
    they chose (before registering, too)."""

    person: Person | None
    language: str | None


@dataclass(frozen=True)
class Contact:
    """Where and how to reach a person proactively: their most recently used identity."""

    person_id: int
    identity: str
    address: dict[str, Any]
    language: str
    time_zone: str


class People(Protocol):
    def arrive(self, identity: str, address: dict[str, Any], at: datetime) -> Arrival:
        """Record the identity and its newest address (proactive sends use it), and say who
        it is, in as few statements as the database allows: this runs on every turn."""
        ...
    def arrival(self, identity: str) -> Arrival: ...
    def address_of(self, identity: str) -> dict[str, Any]:
        """Where to reach this identity proactively (saved from authenticated traffic)."""
        ...
    def by_identity(self, identity: str) -> Person | None: ...
    def set_identity_language(self, identity: str, language: str) -> None: ...
    def register(self, identity: str, profile: dict[str, str], at: datetime) -> Person: ...
    def update(self, person_id: int, changes: dict[str, str]) -> Person: ...
    def find(self, reference: str) -> Person | None:
        """By identity (`console:amira`), e-mail or numeric id: for admin commands."""
        ...
    def identities(self, person_id: int) -> list[str]: ...
    def forget(self, person_id: int, pseudonym: str, at: datetime) -> None:
        """Remove personal data; keep an anonymous row so counts stay right."""
        ...
    def get(self, person_id: int) -> Person | None: ...
    def contacts(self, person_ids: Sequence[int]) -> dict[int, Contact]:
        """How to reach each of these people now: their most recently seen identity (people
        with none, or deleted, are left out)."""
        ...
    def with_role(self, network: str, roles: Sequence[str]) -> list[int]:
        """Active members of a network with one of these roles."""
        ...


class Networks(Protocol):
    def all(self) -> list[NetworkInfo]: ...
    def add(self, slug: str, name: str, professions: Sequence[str], state: str,
            consent_version: str, consent_text: dict[str, str], at: datetime) -> NetworkInfo: ...
    def set_state(self, slug: str, state: str) -> None: ...
    def attendance_rules(self, slug: str) -> AttendanceRules: ...
    def set_attendance_rules(self, slug: str, rules: AttendanceRules) -> None: ...
    def channel(self, slug: str) -> tuple[str, dict[str, Any]] | None:
        """The network's channel (identity and address) for announcements, if it has one."""
        ...
    def set_channel(self, slug: str, identity: str | None,
                    address: dict[str, Any] | None) -> None: ...


class Memberships(Protocol):
    def of(self, person_id: int) -> list[Membership]: ...
    def join(self, person_id: int, network: str, role: str, status: str, at: datetime) -> None: ...
    def leave(self, person_id: int, network: str, at: datetime) -> None: ...
    def participants(self, network: str) -> list[ParticipantRow]: ...


class Consents(Protocol):
    def record(self, person_id: int, record: ConsentRecord, evidence: str) -> None: ...
    def history(self, person_id: int) -> list[ConsentRecord]: ...


@dataclass(frozen=True)
class Planned:
    """A message planned for later: a reminder, or a notice about a change."""

    dedupe_key: str
    person_id: int | None  # None: a channel's message, not a person's
    identity: str
    address: dict[str, Any]
    subject: str
    compose: dict[str, Any]  # the recipe the sender writes the message from (Outgoing.compose)
    due_at: datetime
    expires_at: datetime | None


class Outbox(Protocol):
    # How many rows for the pump (pending) this unit of work has written: a turn that wrote
    # some (a notice to the team, a reminder planned) wakes it.
    queued: int

    def add(self, identity: str, address: dict[str, Any], reply: Reply, dedupe_key: str,
            due_at: datetime) -> None: ...
    def add_leased(self, identity: str, address: dict[str, Any], reply: Reply, dedupe_key: str,
                   due_at: datetime, worker: str, lease_until: datetime) -> int:
        """Add a row already claimed by `worker` (a turn's reply its server sends at once);
        returns its id."""
        ...
    def waiting(self, identity: str, now: datetime, worker: str) -> bool:
        """Whether a message to this reader is due but unsent, or being sent by another
        worker: a new one must queue behind it."""
        ...
    def claim(self, worker: str, now: datetime, lease_until: datetime, batch: int,
              identity: str | None = None,
              platforms: Sequence[str] | None = None) -> list[Outgoing]:
        """Lease due rows, for one identity (the terminal) or for the platforms this
        process serves (so `spoke serve` never takes a terminal user's messages)."""
        ...
    def sent(self, row_ids: Sequence[int], at: datetime,
             refs: Mapping[int, str] | None = None) -> None: ...
    def retry(self, row_id: int, not_before: datetime, code: str,
              worker: str | None = None, spend_attempt: bool = True) -> None:
        """Back to pending after a failure; given a worker, only while it holds the row.
        A wait the platform asked for (a 429) does not spend an attempt."""
        ...
    def give_up(self, row_id: int, status: str, code: str, worker: str | None = None) -> None: ...
    def release(self, row_id: int, not_before: datetime, worker: str | None = None) -> None:
        """Back to pending without spending an attempt: it waited behind another message."""
        ...
    def release_reader(self, identity: str) -> int:
        """Every row of this reader being sent back to pending: for a sender that is the only
        one for its reader (the terminal), rows still held at its start are from one that died."""
        ...
    def release_held(self, worker: str) -> int:
        """All this worker's leased rows back to pending at once: a replica shutting down
        hands its unsent work to the others instead of leaving it leased for a minute."""
        ...
    def forget(self, identities: Sequence[str]) -> None: ...
    def plan(self, messages: Sequence[Planned], at: datetime) -> None:
        """Add these rows, or bring an unsent row with the same key up to date (a withdrawn
        one comes back); a row already sent or being sent is never touched: no doubles."""
        ...
    def backlog(self) -> tuple[int, datetime | None]:
        """How many rows wait to be sent, and the earliest due time among them."""
        ...
    def known(self, dedupe_keys: Sequence[str]) -> set[str]:
        """Which of these keys already have a row (whatever its state)."""
        ...
    def withdraw(self, subject: str, person_id: int | None = None) -> int:
        """Pending rows about this subject (for this person) will not be sent."""
        ...
    def expire(self, row_id: int, status: str) -> None:
        """The sender decided a claimed row is no longer worth sending (withdrawn/expired)."""
        ...
    def next_due(self, platforms: Sequence[str] | None,
                 identity: str | None = None) -> datetime | None: ...


class Schedule(Protocol):
    """Series and their sessions."""

    def add_series(self, network: str, values: dict[str, Any], at: datetime) -> Series: ...
    def series(self, series_id: int) -> Series | None: ...
    def hold_series(self, series_id: int) -> Series | None:
        """The series, locked until the transaction ends: places are counted and given one
        transaction at a time (two people must not both get the last one)."""
        ...
    def series_named(self, network: str, name: str) -> Series | None: ...
    def series_of(self, networks: Sequence[str]) -> list[Series]: ...
    def update_series(self, series_id: int, changes: dict[str, Any]) -> Series: ...
    def add_session(self, series_id: int, values: dict[str, Any], at: datetime) -> Session: ...
    def session(self, session_id: int) -> Session | None: ...
    def update_session(self, session_id: int, changes: dict[str, Any], at: datetime,
                       new_version: bool) -> Session:
        """`new_version` bumps the sequence: the time, link or state changed, so calendars
        update and reminders planned for the old version are withdrawn."""
        ...
    def sessions_of(self, series_id: int) -> list[Session]: ...
    def upcoming(self, series_ids: Sequence[int], after: datetime, limit: int) -> list[Session]:
        """Scheduled sessions ending after `after`, soonest first."""
        ...
    def to_plan(self, now: datetime, until: datetime) -> list[Session]:
        """Scheduled sessions starting in (now, until] whose reminders are not planned for
        their current version."""
        ...
    def mark_planned(self, session_id: int, sequence: int) -> None: ...


@dataclass(frozen=True)
class EnrolmentRequest:
    id: int
    series_id: int
    person_id: int
    status: str
    asked_at: datetime


class Enrolments(Protocol):
    def status(self, series_id: int, person_id: int) -> str | None: ...
    def statuses(self, series_id: int, person_ids: Sequence[int]) -> dict[int, str]:
        """Person id -> status in this series, for those with a current place or request."""
        ...
    def of_person(self, person_id: int) -> dict[int, str]:
        """Series id -> status, for the person's current (not cancelled) enrolments."""
        ...
    def set(self, series_id: int, person_id: int, status: str, at: datetime,
            new_turn: bool = False) -> None:
        """Insert or change; `new_turn` restarts the waitlist turn (asking again)."""
        ...
    def count(self, series_id: int, statuses: Sequence[str]) -> int: ...
    def waitlist(self, series_id: int) -> list[int]:
        """Waitlisted person ids, first come first."""
        ...
    def registered(self, series_id: int) -> list[int]: ...
    def awaiting_approval(self, series_ids: Sequence[int]) -> list[EnrolmentRequest]: ...
    def request(self, enrolment_id: int) -> EnrolmentRequest | None: ...
    def cancel_all(self, person_id: int, series_ids: Sequence[int] | None, at: datetime
                   ) -> list[int]:
        """Cancel the person's places (in these series, or all); returns the series ids."""
        ...


class Rsvps(Protocol):
    def set(self, session_id: int, person_id: int, answer: str, at: datetime) -> None: ...
    def answer(self, session_id: int, person_id: int) -> str | None: ...
    def answers(self, session_id: int) -> dict[int, str]: ...
    def of_person(self, person_id: int) -> dict[int, str]:
        """Session id -> answer."""
        ...
    def forget(self, person_id: int) -> None: ...
    def clear_declined(self, session_id: int) -> None:
        """A moved session asks again those who could not come at the old time."""
        ...


class ReminderPreferences(Protocol):
    def of(self, person_ids: Sequence[int]) -> dict[int, ReminderPrefs]:
        """Everyone asked for gets prefs: the defaults when they never chose."""
        ...
    def set(self, person_id: int, prefs: ReminderPrefs, at: datetime) -> None: ...
    def forget(self, person_id: int) -> None: ...


class Downloads(Protocol):
    def add(self, token: str, file: File, at: datetime, expires_at: datetime) -> None: ...
    def get(self, token: str, now: datetime) -> File | None:
        """The file, unless it expired."""
        ...
    def purge(self, before: datetime) -> int: ...


class Audit(Protocol):
    def record(self, at: datetime, actor: str, action: str, subject: str,
               detail: dict[str, Any] | None = None) -> None: ...
    def pseudonymise(self, actors: Sequence[str], as_actor: str) -> None:
        """What these identities did stays in the trail, under `as_actor`."""
        ...


class UnitOfWork(Protocol):
    """The repositories of one transaction (read-only attributes, so implementations may
    declare their own concrete types)."""

    @property
    def processed(self) -> ProcessedEvents: ...
    @property
    def conversations(self) -> Conversations: ...
    @property
    def people(self) -> People: ...
    @property
    def networks(self) -> Networks: ...
    @property
    def memberships(self) -> Memberships: ...
    @property
    def consents(self) -> Consents: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def audit(self) -> Audit: ...
    @property
    def schedule(self) -> Schedule: ...
    @property
    def enrolments(self) -> Enrolments: ...
    @property
    def rsvps(self) -> Rsvps: ...
    @property
    def reminder_preferences(self) -> ReminderPreferences: ...
    @property
    def downloads(self) -> Downloads: ...
    @property
    def cases(self) -> Cases: ...
    @property
    def attendance(self) -> Attendance: ...
    @property
    def follow_ups(self) -> FollowUps: ...
    @property
    def evaluations(self) -> Evaluations: ...
    @property
    def library(self) -> Library: ...
    @property
    def series_alerts(self) -> SeriesAlerts: ...
    @property
    def suggestions(self) -> Suggestions: ...
    @property
    def polls(self) -> Polls: ...
    @property
    def invitations(self) -> Invitations: ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        """One database transaction; commits on success, rolls back on any exception."""
        ...

    def ping(self) -> bool: ...


@dataclass(frozen=True)
class Sent:
    ref: str | None = None  # the platform's id for the message (Slack ts, Teams activity id)


@dataclass(frozen=True)
class RetryLater:
    code: str
    after_seconds: float | None = None  # from Retry-After, when the platform says


@dataclass(frozen=True)
class Unreachable:
    code: str


SendResult = Sent | RetryLater | Unreachable


class Notifier(Protocol):
    async def send(self, message: Outgoing) -> SendResult: ...


@dataclass(frozen=True)
class CaseRecord:
    """A stored case with what only the review workflow needs: the draft it came from, its
    revision (a write against an older one is stale), and who opened it for review, when."""

    case: Case
    draft_key: str
    revision: int
    created_at: datetime
    review_started_at: datetime | None
    reviewer_id: int | None


class Cases(Protocol):
    """Case presentations from submission on. The content and the reason for a return are
    sealed at rest; states, ids and times are not."""

    def add(self, author_id: int, network: str, series_id: int | None, session_id: int | None,
            content: CaseContent, draft_key: str, at: datetime) -> CaseRecord:
        """A newly submitted case; raises StaleState if another turn just submitted a case
        from the same draft (the rerun finds it)."""
        ...
    def get(self, case_id: int) -> CaseRecord | None: ...
    def hold(self, case_id: int) -> CaseRecord | None:
        """The case, locked until the transaction ends (an author's edit and a facilitator's
        opening it must not cross)."""
        ...
    def by_draft_key(self, draft_key: str) -> CaseRecord | None: ...
    def update(self, case_id: int, changes: Mapping[str, Any], seen_revision: int,
               at: datetime) -> CaseRecord:
        """Change these columns (`state`, `series_id`, `session_id`, `reference`, `content` (a
        CaseContent), `returned` ((reason, fields) or None), `submitted_at`,
        `review_started_at`, `reviewer_id`) and bump the revision; raises StaleState if the
        case moved past `seen_revision`."""
        ...
    def of_author(self, person_id: int) -> list[CaseRecord]:
        """Newest first."""
        ...
    def for_networks(self, networks: Sequence[str], states: Sequence[str]) -> list[CaseRecord]:
        """Cases in these networks and states, oldest submission first."""
        ...
    def next_reference(self, code: str, year: int) -> int:
        """The next number for references `CODE-YEAR-NNN`: one more than the highest given.
        Callers in one transaction are served one at a time."""
        ...
    def purge_before(self, session_ended_before: datetime, submitted_before: datetime,
                     keep_states: Sequence[str]) -> dict[int, str]:
        """Delete cases whose session ended before `session_ended_before`, and cases with no
        session submitted before `submitted_before`; cases in `keep_states` stay. Returns the
        deleted ids with the state each was in."""
        ...


@dataclass(frozen=True)
class IdleState:
    """A stored dialog state with its conversation key and when it was last saved."""

    key: str
    state: DialogState
    updated_at: datetime


class Attendance(Protocol):
    def mark(self, record: AttendanceRecord) -> bool:
        """Insert or replace one person's attendance at one session; False (nothing changes)
        when a facilitator adjusted it and this is not an adjustment, or when another turn
        marked it first."""
        ...
    def get(self, session_id: int, person_id: int) -> AttendanceRecord | None: ...
    def pseudonymise(self, markers: Sequence[str], as_marker: str) -> None:
        """Marks made by these identities (their own "I'm here") name `as_marker` instead."""
        ...
    def recorded(self, session_id: int) -> bool:
        """Whether any attendance is recorded for this session (one row is enough)."""
        ...
    def of_session(self, session_id: int) -> dict[int, AttendanceRecord]:
        """Person id -> record."""
        ...
    def of_sessions(self, session_ids: Sequence[int]) -> list[AttendanceRecord]: ...
    def of_person(self, person_id: int) -> list[AttendanceRecord]: ...


class FollowUps(Protocol):
    def add(self, session_id: int, kind: str, case_id: int | None, author_id: int,
            content: Mapping[str, Any], draft_key: str, send_at: datetime,
            at: datetime) -> FollowUp:
        """Store one; raises StaleState if the same conversation already stored it (Send
        pressed twice: the rerun finds it by `draft_key`)."""
        ...
    def get(self, follow_up_id: int) -> FollowUp | None: ...
    def by_draft_key(self, draft_key: str) -> FollowUp | None: ...
    def of_session(self, session_id: int, kinds: Sequence[str] = ("session",)) -> list[FollowUp]:
        """Oldest first."""
        ...
    def of_case(self, case_id: int) -> list[FollowUp]: ...


class Evaluations(Protocol):
    def answer(self, answer: EvaluationAnswer) -> bool:
        """Store the answers; False if this person already answered for this session."""
        ...
    def answered(self, session_id: int, person_id: int) -> bool: ...
    def forget_comments(self, person_id: int) -> None:
        """Their scores still count; what they wrote goes."""
        ...
    def of_sessions(self, session_ids: Sequence[int]) -> list[EvaluationAnswer]: ...
    def of_person(self, person_id: int) -> list[EvaluationAnswer]:
        """One person's own answers (for "export my data")."""
        ...


class Library(Protocol):
    """What facilitators added to past sessions' library entries (besides follow-ups)."""

    def add(self, session_id: int, kind: str, url: str, title: str, added_by: str,
            at: datetime) -> LibraryItem: ...
    def get(self, item_id: int) -> LibraryItem | None: ...
    def remove(self, item_id: int, at: datetime) -> bool: ...
    def of_sessions(self, session_ids: Sequence[int]) -> list[LibraryItem]: ...


class SeriesAlerts(Protocol):
    """"Tell me when registration opens": one message per subscriber, once."""

    def subscribe(self, series_id: int, person_id: int, kind: str, at: datetime) -> bool:
        """False if already subscribed (and not yet told)."""
        ...
    def subscribed(self, series_id: int, person_id: int, kind: str) -> bool: ...
    def of_person(self, person_id: int) -> list[tuple[int, str, datetime]]:
        """(series id, kind, asked at) of every alert this person asked for."""
        ...
    def unsubscribe(self, series_id: int, person_id: int, kind: str) -> bool: ...
    def waiting(self, series_id: int, kind: str) -> list[int]:
        """Subscribers not yet told, first come first."""
        ...
    def mark_notified(self, series_id: int, person_ids: Sequence[int], kind: str,
                      at: datetime) -> None: ...
    def forget(self, person_id: int) -> None: ...


class Suggestions(Protocol):
    def add(self, network: str, person_id: int, kind: str, content: Mapping[str, Any],
            at: datetime) -> Suggestion: ...
    def get(self, suggestion_id: int) -> Suggestion | None: ...
    def forget_words(self, person_id: int) -> None:
        """Their suggestions keep only the topic or title (polls and merges point to them);
        reasons and the names of proposed teachers go."""
        ...
    def of_network(self, network: str, states: Sequence[str],
                   kinds: Sequence[str]) -> list[Suggestion]:
        """Oldest first."""
        ...
    def of_person(self, person_id: int) -> list[Suggestion]: ...
    def set_state(self, suggestion_id: int, state: str, merged_into: int | None = None) -> None: ...


class Polls(Protocol):
    def add(self, network: str, question: str, options: Sequence[PollOption], created_by: int,
            at: datetime, closes_at: datetime | None) -> Poll: ...
    def get(self, poll_id: int) -> Poll | None: ...
    def of_network(self, network: str, states: Sequence[str]) -> list[Poll]: ...
    def close(self, poll_id: int) -> None: ...
    def vote(self, poll_id: int, person_id: int, choice: int, at: datetime) -> str:
        """"new", "changed" or "same": one vote per member, a second one replaces the first."""
        ...
    def vote_of(self, poll_id: int, person_id: int) -> int | None: ...
    def votes_of_person(self, person_id: int) -> list[tuple[int, int, datetime]]:
        """(poll id, choice, at) of each of this person's votes."""
        ...
    def counts(self, poll_id: int) -> dict[int, int]:
        """Choice index -> votes."""
        ...


class Invitations(Protocol):
    def add(self, code: str, series_id: int, person_id: int, at: datetime) -> None: ...
    def of_person(self, person_id: int) -> list[tuple[str, int, datetime]]:
        """(code, series id, made at) of the codes this person shared."""
        ...
    def get(self, code: str) -> tuple[int, int] | None:
        """(series id, who shared it)."""
        ...
    def of(self, series_id: int, person_id: int) -> str | None:
        """The code this person already shares for this series."""
        ...
    def credit(self, series_id: int, person_id: int, code: str) -> None: ...
    def counts(self, network: str) -> dict[int, int]:
        """Series id -> current places that came through an invitation."""
        ...
