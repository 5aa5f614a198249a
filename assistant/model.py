"""Core values the services and dialogs work with; storage maps its tables onto these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
