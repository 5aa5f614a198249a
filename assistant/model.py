"""Core values the services and dialogs work with; storage maps its tables onto these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ROLES = ("participant", "facilitator", "hub_admin")
NETWORK_STATES = ("open", "full", "closed", "opening_soon")
CARE_SETTINGS = ("care_home_nursing", "care_home_residential", "home_care", "primary_care",
                 "community", "hospital", "hospice", "social_care", "other")
PROFILE_FIELDS = ("full_name", "email", "profession", "organisation", "care_setting",
                  "region", "country", "time_zone", "language")


@dataclass(frozen=True)
class Person:
    id: int
    full_name: str
    email: str
    profession: str
    organisation: str
    care_setting: str
    region: str
    country: str
    time_zone: str
    language: str
    registered_at: datetime

    def profile(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in PROFILE_FIELDS}


@dataclass(frozen=True)
class Membership:
    network: str  # slug
    role: str
    status: str  # active | waitlisted | interested | left
    since: datetime


@dataclass(frozen=True)
class ConsentRecord:
    network: str
    version: str
    text_hash: str
    language: str
    decision: str  # given | withdrawn
    at: datetime


@dataclass(frozen=True)
class ParticipantRow:
    """One line of `spoke admin list participants`."""

    full_name: str
    email: str
    profession: str
    organisation: str
    region: str
    country: str
    role: str
    status: str


# --- sessions ------------------------------------------------------------------------------

SERIES_STATES = ("opening_soon", "open", "full", "closed")
RECURRENCES = ("none", "weekly", "fortnightly", "monthly")
ENROLMENT_STATUSES = ("pending_approval", "registered", "waitlisted", "cancelled")
SESSION_STATES = ("scheduled", "cancelled", "held")
REMINDER_KINDS = ("week", "day", "hour", "now")  # "now": starting now, 10 minutes before
DEFAULT_REMINDER_KINDS = ("day", "hour")


@dataclass(frozen=True)
class Series:
    """Sessions registered for once (iECHO "Participant Group")."""

    id: int
    network: str  # slug
    name: str
    title: str
    description: str
    recurrence: str  # none | weekly | fortnightly | monthly
    default_time: str  # "HH:MM" in `time_zone`
    time_zone: str
    duration_minutes: int
    join_url: str
    capacity: int | None
    state: str
    requires_approval: bool
    # Who it is meant for (empty: everyone) and what others get: "note" or "approval".
    audience_professions: tuple[str, ...] = ()
    audience_settings: tuple[str, ...] = ()
    others: str = "note"


@dataclass(frozen=True)
class Session:
    """One meeting. Times are UTC; `sequence` grows with every change of time, link or state
    (the .ics SEQUENCE, and the key that withdraws reminders planned for an older version)."""

    id: int
    series_id: int
    starts_at: datetime
    ends_at: datetime
    time_zone: str  # the hub's zone, for facilitators; readers see their own
    topic: str
    expert: str
    agenda: str
    materials: tuple[str, ...]
    join_url: str
    state: str
    sequence: int
    uid: str


@dataclass(frozen=True)
class ReminderPrefs:
    """When a person wants to hear about their sessions. Quiet hours and work days are in the
    person's own zone; quiet hours may wrap past midnight (20:00-08:00)."""

    kinds: tuple[str, ...] = DEFAULT_REMINDER_KINDS
    quiet_start: str = "20:00"
    quiet_end: str = "08:00"
    work_days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    reminder_hour: str = "10:00"  # when the day-before (and week-before) message goes


# --- case presentations --------------------------------------------------------------------

CASE_STATES = ("draft", "submitted", "returned", "accepted", "scheduled", "presented",
               "recommendations_sent", "withdrawn")
CASE_TYPES = ("patient", "service_issue")
AGE_BANDS = ("0-17", "18-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+")
SEXES = ("female", "male", "another", "not_stated")
ACP_STATUSES = ("documented", "discussed", "not_yet", "unknown")
# The de-identified part, in the order the network hears it (DOMAIN.md §5, part B), with the
# longest each answer may be.
CASE_TEXT_LIMITS = {"summary": 160, "diagnosis": 600, "symptoms": 600, "medications": 400,
                    "psychosocial": 800, "acp_notes": 300, "tried": 600, "services": 300}
QUESTION_LIMIT = 300


@dataclass(frozen=True)
class CaseContent:
    """Everything the presenter wrote. The identified part (setting, session) goes to the hub
    team only; the rest is what the network sees. Sealed at rest as a whole."""

    questions: tuple[str, ...]  # 1-3
    case_type: str  # patient | service_issue
    presenter_setting: str
    summary: str
    care_setting: str
    symptoms: str
    tried: str
    age_band: str = ""  # patient cases
    sex: str = ""
    diagnosis: str = ""
    acp_status: str = ""
    acp_notes: str = ""
    medications: str = ""
    psychosocial: str = ""
    services: str = ""
    update_later: bool = False
    # "Not identifying" overrides the presenter chose: kind and tier only, never the text.
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    id: int
    author_id: int
    network: str  # slug
    series_id: int | None
    session_id: int | None  # preferred, then scheduled
    state: str
    reference: str | None  # "CH-2025-014", given at acceptance
    content: CaseContent
    returned_reason: str
    returned_fields: tuple[str, ...]
    submitted_at: datetime | None
    updated_at: datetime


# --- after the session -----------------------------------------------------------------------

ATTENDANCE_SOURCES = ("button", "roll_call", "zoom", "teams", "adjustment")


@dataclass(frozen=True)
class AttendanceRules:
    """A network's rules: when a session counts as attended (a share of its minutes, or a
    number of minutes) and what share of a series earns a certificate."""

    threshold: int = 50
    unit: str = "percent"  # percent | minutes
    certificate_share: int = 80  # percent of a series' held sessions

    def attended(self, record: AttendanceRecord, session_minutes: int) -> bool:
        """Presence from a button, a roll call or an adjustment counts as it is; minutes from
        a report count above the threshold."""
        if not record.present:
            return False
        if record.minutes is None or record.adjusted:
            return True
        needed = (self.threshold if self.unit == "minutes"
                  else session_minutes * self.threshold / 100)
        return record.minutes >= needed


@dataclass(frozen=True)
class AttendanceRecord:
    session_id: int
    person_id: int
    present: bool
    minutes: int | None  # from a report; None for a button or a roll call
    source: str  # one of ATTENDANCE_SOURCES
    marked_by: str  # an identity, or "import:<file name>"
    marked_at: datetime
    adjusted: bool = False
    reason: str = ""  # why a facilitator adjusted it


FOLLOW_UP_KINDS = ("session", "recommendations", "reply")


@dataclass(frozen=True)
class FollowUp:
    """What a facilitator sent after a session (`session`: summary, resources, recording,
    teaser), the network's recommendations to a case's presenter (`recommendations`), or the
    presenter's answer to them (`reply`). The text is sealed at rest."""

    id: int
    session_id: int
    kind: str
    case_id: int | None
    author_id: int
    content: Mapping[str, Any]
    send_at: datetime
    created_at: datetime


EVALUATION_SCALE = (1, 2, 3, 4, 5)
RECOMMEND_ANSWERS = ("yes", "no", "not_sure")


@dataclass(frozen=True)
class EvaluationAnswer:
    """One person's answers to one session's survey. Reports never show who."""

    session_id: int
    person_id: int
    satisfaction: int
    relevance: int
    confidence: int
    recommend: str
    comment: str
    answered_at: datetime


# --- the members' library and the co-created curriculum -----------------------------------

LIBRARY_KINDS = ("recording", "slides", "resource")


@dataclass(frozen=True)
class LibraryItem:
    id: int
    session_id: int
    kind: str  # one of LIBRARY_KINDS
    url: str
    title: str
    added_by: str
    added_at: datetime


SUGGESTION_KINDS = ("topic", "case_theme", "series")


@dataclass(frozen=True)
class Suggestion:
    """A member's proposal. `content` (sealed at rest): `topic` and `reason` for a topic or
    case theme; `title`, `audience`, `why`, `teachers` for a series."""

    id: int
    network: str
    person_id: int
    kind: str
    content: Mapping[str, Any]
    state: str  # open | merged | scheduled | closed
    merged_into: int | None
    created_at: datetime


@dataclass(frozen=True)
class PollOption:
    label: str
    suggestion: int | None = None


@dataclass(frozen=True)
class Poll:
    id: int
    network: str
    question: str
    options: tuple[PollOption, ...]
    state: str  # open | closed
    created_by: int
    created_at: datetime
    closes_at: datetime | None
