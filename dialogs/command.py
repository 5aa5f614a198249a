"""A command people type (`sessions`, `follow up`), as each conversation module declares it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.messages import Part
from assistant.services.context import Refused, ServiceContext
from assistant.turns import Routed, StartDialog

# What a button or a command's service returns: words to show, a refusal, or a conversation.
Acted = Sequence[Part] | Refused | StartDialog


@dataclass(frozen=True)
class Command:
    name: str
    words: frozenset[str]  # folded: lower case, no accents
    run: Callable[[ServiceContext], Routed]
    needs_registration: bool = True
