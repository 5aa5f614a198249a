"""What a parser returns: a value, or the reason it refused the text.

Parsers are pure functions `(text, ctx) -> Valid | Invalid`. A reason is a catalogue
message id (plus arguments), never free text, so French readers get French reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Valid(Generic[T_co]):
    """An accepted answer. `confirm` asks the reader to check an altered or derived value
    ("I only need the first part, so I kept EH6") before it is stored."""

    value: T_co
    confirm: str | None = None
    confirm_args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """A refusal the reader sees verbatim after translation: `message` is a catalogue id."""

    message: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Flagged:
    """An answer that may identify someone (a case presentation's). The engine offers the
    author a safer version (`safer`, placeholders instead of what was found), typing the
    answer again, or, unless `blocking` (a checksum-valid health number, an e-mail...),
    keeping it with a one-line reason. `message` names what was found, masked; `kinds`
    (categories and tiers, never text) goes to the audit log with the reason."""

    original: str
    safer: str
    message: str
    args: Mapping[str, Any] = field(default_factory=dict)
    blocking: bool = False
    kinds: tuple[str, ...] = ()
    # Said instead of `message` under a form's field, which has no room for the choices.
    form_message: str | None = None


class ParseContext(Protocol):
    """What a parser may know: the reader's language and zone, and the turn's moment
    (a value handed in by the turn, so parsers stay pure and tests control time)."""

    @property
    def language(self) -> str: ...

    @property
    def time_zone(self) -> str | None: ...

    @property
    def now(self) -> datetime: ...


class Parser(Protocol[T_co]):
    def __call__(self, text: str, ctx: ParseContext, /) -> Valid[T_co] | Invalid: ...


Parsed = Valid[Any] | Invalid | Flagged
