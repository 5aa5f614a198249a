"""A notifier that keeps what the outbox sends, for tests that read proactive messages."""

from __future__ import annotations

from assistant.messages import Card, Outgoing, Question
from assistant.ports import SendResult, Sent


class Inbox:
    def __init__(self) -> None:
        self.got: list[Outgoing] = []

    async def send(self, message: Outgoing) -> SendResult:
        self.got.append(message)
        return Sent()

    def of(self, identity: str) -> list[Outgoing]:
        return [m for m in self.got if m.identity == identity]


def refs(message: Outgoing) -> list[str]:
    """The references of every button in a message."""
    found: list[str] = []
    for part in message.reply.parts:
        if isinstance(part, Card):
            found += [o.ref for o in part.actions]
        elif isinstance(part, Question):
            found += [o.ref for o in part.options]
    return found
