"""A command people type (`sessions`, `follow up`), as each conversation module declares it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.messages import Part
from assistant.runtime.words import fold
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
    # For commands that take words after them ("library pain"): called with what follows
    # one of `words` (as typed, trimmed) when the message is longer than the command.
    run_with: Callable[[ServiceContext, str], Routed] | None = None

    def rest_of(self, text: str) -> str | None:
        """What follows this command's word in `text`, or None if it does not start with one
        (the longest word first: "library search" before "library")."""
        if self.run_with is None:
            return None
        words = text.split()
        for word in sorted(self.words, key=lambda w: -len(w.split())):
            size = len(word.split())
            if len(words) > size and fold(" ".join(words[:size])) == word:
                return " ".join(words[size:])
        return None
