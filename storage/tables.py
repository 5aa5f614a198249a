"""SQLModel tables. They stay in storage/: the core sees frozen values (assistant.model)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
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
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=200)
    identity: str = Field(max_length=200, index=True)
    address: dict[str, Any] = _json()
    payload: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=12)
    due_at: datetime = _when()
    not_before: datetime | None = _when(nullable=True)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = _when(nullable=True)
    last_error: str | None = Field(default=None, max_length=80)
    sent_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=60)
    subject: str = Field(max_length=200)
    detail: dict[str, Any] = _json()
