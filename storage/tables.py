"""SQLModel tables. They stay in storage/: the core sees frozen values (assistant.model)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import JsonColumn, UTCDateTime


def _json(default: Any = dict, nullable: bool = False) -> Any:
    return Field(default_factory=default, sa_column=Column(JsonColumn, nullable=nullable))


def _when(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class PersonRow(SQLModel, table=True):
    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    full_name: str = Field(default="", max_length=120)
    email: str = Field(default="", max_length=254, index=True)
    profession: str = Field(default="", max_length=80)
    organisation: str = Field(default="", max_length=120)
    care_setting: str = Field(default="", max_length=40)
    region: str = Field(default="", max_length=60)
    country: str = Field(default="", max_length=2)
    time_zone: str = Field(default="UTC", max_length=64)
    language: str = Field(default="en", max_length=5)
    registered_at: datetime = _when()
    deleted_at: datetime | None = _when(nullable=True)
    pseudonym: str | None = Field(default=None, max_length=32)


class IdentityRow(SQLModel, table=True):
    """A platform identity (`slack:T1/U1`), its last authenticated address, and the person."""

    __tablename__ = "identity"

    identity: str = Field(primary_key=True, max_length=200)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    address: dict[str, Any] = _json()
    language: str | None = Field(default=None, max_length=5)
    last_seen_at: datetime = _when()


class NetworkRow(SQLModel, table=True):
    __tablename__ = "network"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, max_length=60)
    name: str = Field(max_length=120)
    state: str = Field(default="open", max_length=20)
    professions: list[str] = _json(list)
    consent_version: str = Field(max_length=40)
    consent_text: dict[str, str] = _json()
    created_at: datetime = _when()
    # When a session counts as attended, and what share of a series earns a certificate.
    attendance_threshold: int = 50
    attendance_unit: str = Field(default="percent", max_length=10)
    certificate_share: int = 80
    # Where announcements and de-identified summaries go (a Slack or Teams channel).
    channel_identity: str | None = Field(default=None, max_length=200)
    channel_address: dict[str, Any] | None = _json(lambda: None, nullable=True)


class MembershipRow(SQLModel, table=True):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("person_id", "network_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    role: str = Field(default="participant", max_length=20)
    status: str = Field(default="active", max_length=20)
    since: datetime = _when()
    left_at: datetime | None = _when(nullable=True)


class ConsentEventRow(SQLModel, table=True):
    """Append-only: what was agreed or withdrawn, which text (version and hash), when."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    network_id: int = Field(foreign_key="network.id")
    version: str = Field(max_length=40)
    text_hash: str = Field(max_length=64)
    language: str = Field(max_length=5)
    decision: str = Field(max_length=10)
    evidence: str = Field(default="", max_length=200)
    at: datetime = _when()


class ConversationStateRow(SQLModel, table=True):
    __tablename__ = "conversation_state"
    __table_args__ = (UniqueConstraint("conversation_key", "dialog"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_key: str = Field(max_length=200, index=True)
    dialog: str = Field(max_length=60)
    dialog_version: int = 1
    answers: dict[str, Any] = _json()
    history: list[str] = _json(list)
    pending_step: str | None = Field(default=None, max_length=120)
    asked: int = 0
    attempts: int = 0
    proposed: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonColumn, nullable=True))
    previous: dict[str, Any] = _json()
    paused: bool = False
    revision: int = 1
    updated_at: datetime = _when()


class ProcessedEventRow(SQLModel, table=True):
    __tablename__ = "processed_event"

    delivery_id: str = Field(primary_key=True, max_length=200)
    processed_at: datetime = _when(index=True)


class OutboxRow(SQLModel, table=True):
    """One message to one reader. `dedupe_key` is unique: a reminder's key names its session,
    version, person and kind, so planning it twice (two replicas, a restart) adds one row.
    `subject` (`session:12`) lets a change withdraw what was queued about it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "due_at"),
                      Index("ix_outbox_subject", "subject", "status"))

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=200)
    identity: str = Field(max_length=200, index=True)
    person_id: int | None = Field(default=None, index=True)
    subject: str | None = Field(default=None, max_length=60)
    address: dict[str, Any] = _json()
    payload: dict[str, Any] = _json()
    # pending | sending | sent | failed | unreachable | withdrawn | expired
    status: str = Field(default="pending", max_length=12)
    due_at: datetime = _when()
    not_before: datetime | None = _when(nullable=True)
    expires_at: datetime | None = _when(nullable=True)
    platform_ref: str | None = Field(default=None, max_length=120)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = _when(nullable=True)
    last_error: str | None = Field(default=None, max_length=80)
    sent_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()


class SeriesRow(SQLModel, table=True):
    __tablename__ = "series"
    __table_args__ = (UniqueConstraint("network_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    name: str = Field(max_length=80)  # short handle facilitators type ("care-homes-2027")
    title: str = Field(max_length=160)
    description: str = Field(default="", max_length=2000)
    recurrence: str = Field(default="none", max_length=12)
    default_time: str = Field(default="12:00", max_length=5)
    time_zone: str = Field(default="UTC", max_length=64)
    duration_minutes: int = 60
    join_url: str = Field(default="", max_length=500)
    capacity: int | None = None
    state: str = Field(default="open", max_length=20)
    requires_approval: bool = False
    created_at: datetime = _when()
    # Who the series is meant for (professions, care settings; empty: everyone), and what
    # happens when someone else asks for a place: "note" (welcome, with a word) or "approval".
    audience_professions: list[str] = _json(list)
    audience_settings: list[str] = _json(list)
    others: str = Field(default="note", max_length=10)


class SessionRow(SQLModel, table=True):
    __tablename__ = "session"
    __table_args__ = (Index("ix_session_starts", "state", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    series_id: int = Field(foreign_key="series.id", index=True)
    starts_at: datetime = _when()
    ends_at: datetime = _when()
    time_zone: str = Field(default="UTC", max_length=64)
    topic: str = Field(default="", max_length=200)
    expert: str = Field(default="", max_length=200)
    agenda: str = Field(default="", max_length=4000)
    materials: list[str] = _json(list)
    join_url: str = Field(default="", max_length=500)
    state: str = Field(default="scheduled", max_length=12)
    sequence: int = 0
    uid: str = Field(max_length=200, unique=True)
    # The `sequence` whose reminders are in the outbox (planned once, when the session
    # comes within reach of its earliest reminder).
    planned_sequence: int | None = None
    updated_at: datetime = _when()


class EnrolmentRow(SQLModel, table=True):
    __tablename__ = "enrolment"
    __table_args__ = (UniqueConstraint("series_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    series_id: int = Field(foreign_key="series.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    status: str = Field(max_length=20)  # pending_approval | registered | waitlisted | cancelled
    # The invitation a colleague shared, when the place came through one (counted in reports).
    invitation: str | None = Field(default=None, max_length=16)
    # Waitlist order: when the person asked for a place (re-asking starts a new turn).
    asked_at: datetime = _when()
    updated_at: datetime = _when()


class RsvpRow(SQLModel, table=True):
    __tablename__ = "rsvp"
    __table_args__ = (UniqueConstraint("session_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="session.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    answer: str = Field(max_length=12)  # going | not_going
    at: datetime = _when()


class ReminderPreferenceRow(SQLModel, table=True):
    __tablename__ = "reminder_preference"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    kinds: list[str] = _json(list)
    quiet_start: str = Field(default="20:00", max_length=5)
    quiet_end: str = Field(default="08:00", max_length=5)
    work_days: list[int] = _json(list)
    updated_at: datetime = _when()


class DownloadRow(SQLModel, table=True):
    """A file offered by link where a platform cannot attach it (a calendar on Teams)."""

    __tablename__ = "download"

    token: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    media_type: str = Field(max_length=100)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _when()
    expires_at: datetime = _when(index=True)


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=60)
    subject: str = Field(max_length=200)
    detail: dict[str, Any] = _json()


class CasePresentationRow(SQLModel, table=True):
    """A case presentation from submission on (drafts live in the conversation state).

    Everything the presenter wrote is one sealed JSON value (`content`), and so is the team's
    reason for returning it (`returned`): only ids, states, times and the reference are in
    clear. `draft_key` names the draft it came from, so submitting it twice makes one case.
    `revision` grows with every change (a stale write is refused, and notices are keyed by
    it)."""

    __tablename__ = "case_presentation"
    __table_args__ = (Index("ix_case_presentation_network_state", "network_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(foreign_key="person.id", index=True)
    network_id: int = Field(foreign_key="network.id")
    series_id: int | None = Field(default=None, foreign_key="series.id")
    session_id: int | None = Field(default=None, foreign_key="session.id", index=True)
    state: str = Field(max_length=24)
    reference: str | None = Field(default=None, unique=True, max_length=24)
    draft_key: str = Field(unique=True, max_length=200)
    content: dict[str, Any] = _json()
    returned: dict[str, Any] | None = _json(lambda: None, nullable=True)
    revision: int = 1
    created_at: datetime = _when()
    updated_at: datetime = _when()
    submitted_at: datetime | None = _when(nullable=True)
    review_started_at: datetime | None = _when(nullable=True)
    reviewer_id: int | None = Field(default=None, foreign_key="person.id")


class AttendanceRow(SQLModel, table=True):
    """One person at one session: from the "I'm here" button, a roll call, a Zoom or Teams
    report (with minutes), or a facilitator's adjustment (with the reason; the audit log keeps
    each change). An adjusted row is not overwritten by a later import."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("session_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="session.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    present: bool = True
    minutes: int | None = None
    source: str = Field(max_length=12)
    marked_by: str = Field(max_length=200)
    marked_at: datetime = _when()
    adjusted: bool = False
    reason: str = Field(default="", max_length=300)


class FollowUpRow(SQLModel, table=True):
    """A follow-up to a session, recommendations to a presenter, or the presenter's reply.
    `content` is sealed. `draft_key` names the conversation it came from, so pressing Send
    twice stores one."""

    __tablename__ = "follow_up"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="session.id", index=True)
    kind: str = Field(max_length=20)
    case_id: int | None = Field(default=None, foreign_key="case_presentation.id", index=True)
    author_id: int = Field(foreign_key="person.id")
    content: dict[str, Any] = _json()
    draft_key: str = Field(unique=True, max_length=200)
    send_at: datetime = _when()
    created_at: datetime = _when()


class EvaluationRow(SQLModel, table=True):
    """One person's survey answers for one session; the comment is sealed."""

    __tablename__ = "evaluation"
    __table_args__ = (UniqueConstraint("session_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="session.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    satisfaction: int
    relevance: int
    confidence: int
    recommend: str = Field(max_length=10)
    comment: dict[str, Any] | None = _json(lambda: None, nullable=True)
    answered_at: datetime = _when()


class LibraryItemRow(SQLModel, table=True):
    """A recording, slides or a resource a facilitator added to a past session's library
    entry (beyond what its follow-ups carry); a correction removes one and adds another."""

    __tablename__ = "library_item"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="session.id", index=True)
    kind: str = Field(max_length=12)  # recording | slides | resource
    url: str = Field(max_length=500)
    title: str = Field(default="", max_length=200)
    added_by: str = Field(max_length=200)
    added_at: datetime = _when()
    removed_at: datetime | None = _when(nullable=True)


class SeriesAlertRow(SQLModel, table=True):
    """Someone asked to be told when a series opens for registration; `notified_at` is set
    when the message was planned (one per subscriber, whatever restarts in between)."""

    __tablename__ = "series_alert"
    __table_args__ = (UniqueConstraint("series_id", "person_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    series_id: int = Field(foreign_key="series.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(default="opening", max_length=12)
    created_at: datetime = _when()
    notified_at: datetime | None = _when(nullable=True)


class SuggestionRow(SQLModel, table=True):
    """A member's proposal: a topic or case theme, or a whole series (routed to the hub
    admins). What they wrote is sealed."""

    __tablename__ = "suggestion"
    __table_args__ = (Index("ix_suggestion_network_state", "network_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=12)  # topic | case_theme | series
    content: dict[str, Any] = _json()
    state: str = Field(default="open", max_length=12)  # open | merged | scheduled | closed
    merged_into: int | None = Field(default=None, foreign_key="suggestion.id")
    created_at: datetime = _when()


class PollRow(SQLModel, table=True):
    __tablename__ = "poll"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    question: str = Field(max_length=300)
    options: list[dict[str, Any]] = _json(list)  # [{"label": ..., "suggestion": id or None}]
    state: str = Field(default="open", max_length=10)  # open | closed
    created_by: int = Field(foreign_key="person.id")
    created_at: datetime = _when()
    closes_at: datetime | None = _when(nullable=True)


class PollVoteRow(SQLModel, table=True):
    """One vote per member per poll: voting again changes it."""

    __tablename__ = "poll_vote"
    __table_args__ = (UniqueConstraint("poll_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    choice: int
    at: datetime = _when()


class InvitationRow(SQLModel, table=True):
    """A short code a participant shares with colleagues to bring them to a series."""

    __tablename__ = "invitation"

    code: str = Field(primary_key=True, max_length=16)
    series_id: int = Field(foreign_key="series.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    created_at: datetime = _when()
