"""A conversation's saved place in a dialog: enough to resume after a restart.

The current step is derived (the first applicable step without an answer), never an index,
so resume, back and change need no dialog code and a newly inserted step is simply asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

REVIEW = "__review__"


@dataclass(frozen=True)
class DialogState:
    dialog: str
    dialog_version: int
    answers: dict[str, Any] = field(default_factory=dict)
    history: tuple[str, ...] = ()  # answered keys in order, for "back"
    pending_step: str | None = None  # the key a click must name
    asked: int = 0  # questions asked so far; the nonce of the current one
    attempts: int = 0  # refusals on the pending step
    proposed: dict[str, Any] | None = None  # {"value": ...} awaiting "is that right?"
    previous: dict[str, Any] = field(default_factory=dict)  # answers "back" may keep
    paused: bool = False
    revision: int = 0  # optimistic concurrency: saved only if nobody saved meanwhile

    @property
    def nonce(self) -> str:
        return _base36(self.asked)

    def with_answer(self, key: str, value: Any) -> DialogState:
        answers = {**self.answers, key: value}
        history = (*tuple(k for k in self.history if k != key), key)
        previous = {k: v for k, v in self.previous.items() if k != key}
        return replace(self, answers=answers, history=history, proposed=None,
                       attempts=0, previous=previous)

    def without(self, *keys: str) -> DialogState:
        answers = {k: v for k, v in self.answers.items() if k not in keys}
        history = tuple(k for k in self.history if k not in keys)
        return replace(self, answers=answers, history=history, proposed=None, attempts=0)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text
