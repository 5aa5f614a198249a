"""A chat harness: talk to the real turn handler and store, and read what Spoke says.

    chat = ChatHarness(store, clock, user="amira")
    chat.say("register")
    chat.expect_question("full_name")
    chat.pick("Registered nurse")

Assertions name step keys and message ids, so the French runs reuse the English scripts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from assistant.clock import FakeClock
from assistant.demo import seed
from assistant.events import Action, Actor, ConversationStarted, Event, Hints, UserChose, UserSaid
from assistant.i18n import translate
from assistant.messages import Card, Option, Question, Reply, Text
from assistant.ports import Store
from assistant.runtime import DialogState
from assistant.turns import TurnHandler, TurnResult
from dialogs import PLAYBOOK

_deliveries = itertools.count(1)


@dataclass
class ChatHarness:
    store: Store
    clock: FakeClock
    user: str = "amira"
    hints: Hints = field(default_factory=Hints)
    capabilities: frozenset[str] = frozenset()
    turns: TurnHandler | None = None
    last: TurnResult | None = None

    def __post_init__(self) -> None:
        self.turns = self.turns or TurnHandler(self.store, self.clock, PLAYBOOK)

    @property
    def identity(self) -> str:
        return f"console:{self.user}"

    # --- talking -------------------------------------------------------------------------

    def send(self, action: Action, delivery_id: str | None = None) -> TurnResult:
        assert self.turns is not None
        event = Event(delivery_id or f"test:{next(_deliveries)}", Actor(self.identity), action,
                      address={"user": self.user}, hints=self.hints,
                      capabilities=self.capabilities)
        self.last = self.turns.handle_now(event)
        return self.last

    def start(self) -> TurnResult:
        return self.send(ConversationStarted())

    def say(self, text: str) -> TurnResult:
        return self.send(UserSaid(text))

    def pick(self, label: str) -> TurnResult:
        """Press the button with this label (exact text, or a catalogue id's English)."""
        option = self.option(label)
        return self.send(UserChose(option.ref))

    def restart(self) -> ChatHarness:
        """A new process: new turn handler, same database."""
        self.turns = TurnHandler(self.store, self.clock, PLAYBOOK)
        return self

    # --- reading -------------------------------------------------------------------------

    @property
    def parts(self) -> list[Any]:
        assert self.last is not None
        return [part for reply in self.last.replies for part in reply.parts]

    @property
    def text(self) -> str:
        return "\n".join(Reply(tuple(self.parts)).fallback_text().splitlines())

    def options(self) -> list[Option]:
        found: list[Option] = []
        for part in self.parts:
            if isinstance(part, Question):
                found += part.options
            elif isinstance(part, Card):
                found += part.actions
        return found

    def option(self, label: str) -> Option:
        options = self.options()
        exact = [option for option in options if option.label == label]
        if exact:  # a literal label (a series' title) is not a catalogue id: don't look it up
            return exact[0]
        for option in options:
            if option.label == self.tr(label):
                return option
        raise AssertionError(f"no option {label!r} in {[o.label for o in self.options()]}")

    def state(self) -> DialogState | None:
        with self.store.transaction() as uow:
            return uow.conversations.active(self.identity)

    @property
    def pending(self) -> str | None:
        state = self.state()
        return state.pending_step if state else None

    @property
    def answers(self) -> dict[str, Any]:
        state = self.state()
        return dict(state.answers) if state else {}

    def tr(self, message_id: str, language: str = "en", **args: Any) -> str:
        return translate(message_id, language, **args)

    def expect_question(self, step: str) -> None:
        assert self.pending == step, f"expected question {step!r}, pending is {self.pending!r}\n{self.text}"

    def expect_said(self, message_id: str, language: str = "en", **args: Any) -> None:
        expected = self.tr(message_id, language, **args)
        assert expected in self.text, f"expected {expected!r} in:\n{self.text}"

    def texts(self) -> list[str]:
        return [p.text for p in self.parts if isinstance(p, Text)]


def seeded(store: Store, clock: FakeClock) -> Store:
    seed(store, clock.now())
    return store
