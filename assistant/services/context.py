"""What a service call receives: the turn's unit of work, who is acting, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assistant.events import Actor, Hints
from assistant.i18n import Translator
from assistant.model import Person
from assistant.ports import UnitOfWork
from assistant.runtime import Directory


@dataclass(frozen=True)
class ServiceContext:
    uow: UnitOfWork
    actor: Actor
    now: datetime
    t: Translator
    hints: Hints
    directory: Directory
    person: Person | None
    address: dict[str, Any]
    capabilities: frozenset[str] = frozenset()

    @property
    def language(self) -> str:
        return self.t.language

    @property
    def time_zone(self) -> str:
        return (self.person.time_zone if self.person else None) or self.hints.time_zone or "UTC"


@dataclass(frozen=True)
class Refused:
    """An expected refusal, shown to the person as it is (a catalogue id)."""

    message: str
    args: dict[str, Any] | None = None
