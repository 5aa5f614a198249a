"""The building blocks a dialog declares. Pure data: the engine interprets them.

A step's key names its answer; `when` decides whether it is asked at all; `help` is a
catalogue id shown on "help" before the same question is asked again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from assistant.events import Hints
from assistant.i18n import Translator
from assistant.parsing import Flagged, Invalid, Valid

if TYPE_CHECKING:
    from assistant.services.context import ServiceContext

Answers = Mapping[str, Any]


@dataclass(frozen=True)
class NetworkInfo:
    """What a dialog may show about a network (loaded by the turn, read-only)."""

    slug: str
    name: str
    state: str  # open | full | closed | opening_soon
    professions: tuple[str, ...]
    consent_version: str
    consent_text: Mapping[str, str]  # language -> plain-words agreement
    consent_hash: Mapping[str, str]
    id: int = 0  # the number a button names it by (a claim: checked like any other)


class Directory:
    """The slice of the world a turn hands to dialogs: networks and the reader's standing.

    Each part may be given as a value or as a loader called on first use: most questions
    (a name, an e-mail) read none of it, and a turn should not pay for what it never reads.
    Read-only once built; it lives for one turn, inside its transaction."""

    def __init__(self,
                 networks: Sequence[NetworkInfo] | Callable[[], Sequence[NetworkInfo]] = (),
                 person: Mapping[str, Any] | None = None,
                 memberships: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
                 consents: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
                 ) -> None:
        self.person = person
        self._networks = networks
        self._memberships = memberships or {}
        self._consents = consents or {}

    @functools.cached_property
    def networks(self) -> tuple[NetworkInfo, ...]:
        return tuple(_resolve(self._networks))

    @functools.cached_property
    def memberships(self) -> Mapping[str, str]:
        """Network slug -> membership status."""
        return dict(_resolve(self._memberships))

    @functools.cached_property
    def consents(self) -> Mapping[str, str]:
        """Network slug -> version of the agreement currently given."""
        return dict(_resolve(self._consents))

    def network(self, slug: str) -> NetworkInfo | None:
        return next((n for n in self.networks if n.slug == slug), None)


def _resolve(source: Any) -> Any:
    return source() if callable(source) else source


@dataclass(frozen=True)
class StepContext:
    """Everything a prompt, option list or parser may read. Values, not services."""

    t: Translator
    time_zone: str | None
    now: datetime
    hints: Hints
    directory: Directory
    answers: Answers
    capabilities: frozenset[str] = frozenset()

    @property
    def language(self) -> str:
        return self.t.language


Prompt = str | Callable[[StepContext], str]
When = Callable[[Answers], bool]
ParseFn = Callable[[str, StepContext], Valid[Any] | Invalid | Flagged]


@dataclass(frozen=True)
class Choice:
    """One option of a `Choose`. `label` is a catalogue id, or ready text when `literal`."""

    value: str
    label: str
    literal: bool = False

    def text(self, t: Translator) -> str:
        return self.label if self.literal else t(self.label)


class OptionsFn(Protocol):
    def __call__(self, ctx: StepContext, /) -> Sequence[Choice]: ...


@dataclass(frozen=True)
class Step:
    key: str
    prompt: Prompt
    when: When | None = None
    help: str | None = None
    skippable: bool = False
    label: str | None = None  # how the review names this answer; defaults to <dialog>.<key>.label
    reviewed: bool = True  # False for steps that only steer the conversation ("ready?")
    depends_on: tuple[str, ...] = ()  # answering any of these again asks this step again

    def applies(self, answers: Answers) -> bool:
        return self.when is None or bool(self.when(answers))


@dataclass(frozen=True)
class Say(Step):
    """Says something and moves on; it has no answer to review."""


@dataclass(frozen=True)
class Ask(Step):
    parse: ParseFn | None = None
    suggest: Callable[[StepContext], str | None] | None = None
    show: Callable[[Any, StepContext], str] | None = None
    long: bool = False  # a paragraph rather than a line: a multi-line box in a form


@dataclass(frozen=True)
class Choose(Step):
    options: OptionsFn | Sequence[Choice] = ()
    many: bool = False
    show: Callable[[Any, StepContext], str] | None = None
    # Values that pause the dialog at this step with a message instead of answering it
    # ("Not now" on consent): nothing is lost, the same question comes back later.
    pause_on: Mapping[str, str] = field(default_factory=dict)

    def choices(self, ctx: StepContext) -> Sequence[Choice]:
        return self.options(ctx) if callable(self.options) else self.options


@dataclass(frozen=True)
class Confirm(Step):
    """A yes/no question; the answer is a bool."""


@dataclass(frozen=True)
class Fill(Step):
    """Several answers at once in a form (a Slack modal, a Teams card), for front-ends that
    can show one. Each field is another step of the dialog, parsed by that step's own parser,
    so a form and a one-question-at-a-time conversation accept exactly the same answers."""

    fields: tuple[str, ...] = ()
    prefill: Callable[[StepContext], Mapping[str, str]] | None = None


@dataclass(frozen=True)
class Sub(Step):
    """Runs another dialog's steps here; its answers are stored under `key.`."""

    dialog: Dialog | None = None


@dataclass(frozen=True)
class Review:
    """Show every answer before finishing, each with "change"."""

    title: str
    submit: str = "runtime.review.submit"


@dataclass(frozen=True)
class Reopen:
    """What `finish` returns when the answers cannot be used as they are (a submission
    refused): the conversation is kept, these answers are asked again, nothing is lost."""

    parts: Sequence[Any]
    ask_again: tuple[str, ...] = ()


Finish = Callable[[Answers, "ServiceContext"], "Sequence[Any] | Reopen"]
Migration = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Dialog:
    name: str
    version: int
    steps: tuple[Step, ...]
    finish: Finish | None = None
    review: Review | None = None
    cancelled: str = "runtime.cancelled"
    # "cancel" pauses instead of discarding: the answers wait for the dialog to be started again.
    keep_on_cancel: bool = False
    migrations: Mapping[int, Migration] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Steps are looked up several times a turn: flatten the Sub dialogs once.
        object.__setattr__(self, "_flat", flatten(self.steps))
        keys = [step.key for step in self.flat_steps]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            # A duplicate key would silently share one answer between two questions.
            raise ValueError(f"dialog {self.name!r} repeats step keys {sorted(duplicates)}")
        for key in keys:
            if ":" in key or key.startswith("__"):
                raise ValueError(f"dialog {self.name!r}: step key {key!r} is reserved")

    @property
    def flat_steps(self) -> tuple[Step, ...]:
        flat: tuple[Step, ...] = self.__dict__["_flat"]
        return flat

    def step(self, key: str) -> Step | None:
        return next((s for s in self.flat_steps if s.key == key), None)


def flatten(steps: Sequence[Step], prefix: str = "", outer: When | None = None) -> tuple[Step, ...]:
    """Inline `Sub` dialogs: their keys get the Sub's key as prefix and its `when` as a gate."""
    flat: list[Step] = []
    for step in steps:
        if isinstance(step, Sub) and step.dialog is not None:
            gate = _both(outer, step.when)
            flat += flatten(step.dialog.steps, f"{prefix}{step.key}.", gate)
            continue
        if prefix or outer:
            step = _prefixed(step, prefix, outer)
        flat.append(step)
    return tuple(flat)


def _both(first: When | None, second: When | None) -> When | None:
    if first is None or second is None:
        return first or second
    return lambda answers: first(answers) and second(answers)


def _prefixed(step: Step, prefix: str, outer: When | None) -> Step:
    from dataclasses import replace

    inner = step.when
    scoped: When | None = inner
    if inner is not None and prefix:
        # The child dialog's conditions read its own keys, without the prefix.
        def scoped(answers: Answers) -> bool:
            own = {k[len(prefix):]: v for k, v in answers.items() if k.startswith(prefix)}
            return bool(inner(own))
    return replace(step, key=prefix + step.key, when=_both(outer, scoped))
