"""What the core needs from the outside world, as small protocols.

`storage/` implements the repositories; adapters implement `Notifier`. The core never imports
either: `assistant/bootstrap.py` wires them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from assistant.messages import Outgoing, Reply
from assistant.model import ConsentRecord, Membership, ParticipantRow, Person
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


@dataclass(frozen=True)
class Arrival:
    """Who is writing: the registered person behind an identity (if any) and the language
    they chose (before registering, too)."""

    person: Person | None
    language: str | None


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


class Networks(Protocol):
    def all(self) -> list[NetworkInfo]: ...
    def add(self, slug: str, name: str, professions: Sequence[str], state: str,
            consent_version: str, consent_text: dict[str, str], at: datetime) -> NetworkInfo: ...
    def set_state(self, slug: str, state: str) -> None: ...


class Memberships(Protocol):
    def of(self, person_id: int) -> list[Membership]: ...
    def join(self, person_id: int, network: str, role: str, status: str, at: datetime) -> None: ...
    def leave(self, person_id: int, network: str, at: datetime) -> None: ...
    def participants(self, network: str) -> list[ParticipantRow]: ...


class Consents(Protocol):
    def record(self, person_id: int, record: ConsentRecord, evidence: str) -> None: ...
    def history(self, person_id: int) -> list[ConsentRecord]: ...


class Outbox(Protocol):
    def add(self, identity: str, address: dict[str, Any], reply: Reply, dedupe_key: str,
            due_at: datetime) -> None: ...
    def claim(self, worker: str, now: datetime, lease_until: datetime, batch: int,
              identity: str | None = None,
              platforms: Sequence[str] | None = None) -> list[Outgoing]:
        """Lease due rows, for one identity (the terminal) or for the platforms this
        process serves (so `spoke serve` never takes a terminal user's messages)."""
        ...
    def sent(self, row_ids: Sequence[int], at: datetime) -> None: ...
    def retry(self, row_id: int, not_before: datetime, code: str) -> None: ...
    def give_up(self, row_id: int, status: str, code: str) -> None: ...
    def release(self, row_id: int, not_before: datetime) -> None:
        """Back to pending without spending an attempt: it waited behind another message."""
        ...
    def forget(self, identities: Sequence[str]) -> None: ...


class Audit(Protocol):
    def record(self, at: datetime, actor: str, action: str, subject: str,
               detail: dict[str, Any] | None = None) -> None: ...


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


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        """One database transaction; commits on success, rolls back on any exception."""
        ...

    def ping(self) -> bool: ...


@dataclass(frozen=True)
class Sent:
    pass


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
