"""The sender keeps each person's messages in order and lets nobody wait for someone else."""

from __future__ import annotations

from assistant.messages import Outgoing, Reply, Text
from assistant.outbox import Sender
from assistant.ports import RetryLater, SendResult, Sent
from storage.repositories import SqlStore


class Recorder:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: Outgoing) -> SendResult:
        text = message.reply.fallback_text()
        if text in self.refuse:
            return RetryLater("rate_limited", 30)
        self.sent.append((message.identity, text))
        return Sent()


def queue(store: SqlStore, clock, identity: str, *texts: str) -> None:
    with store.transaction() as uow:
        for text in texts:
            uow.outbox.add(identity, {}, Reply((Text(text),)), f"{identity}:{text}", clock.now())


async def test_a_message_that_cannot_go_holds_back_only_that_persons_later_ones(
        store_on: SqlStore, clock) -> None:
    queue(store_on, clock, "slack:T/A", "a1", "a2", "a3")
    queue(store_on, clock, "slack:T/B", "b1", "b2")
    notifier = Recorder(refuse={"a2"})
    sender = Sender(store_on, notifier, clock, worker="w")
    assert await sender.deliver_due() == 3
    assert sorted(notifier.sent) == [("slack:T/A", "a1"), ("slack:T/B", "b1"), ("slack:T/B", "b2")]
    clock.advance(seconds=29)
    assert await sender.deliver_due() == 0        # a3 waits for a2, which waits for Retry-After
    notifier.refuse.clear()
    clock.advance(seconds=2)
    assert await sender.deliver_due() == 2
    assert [text for who, text in notifier.sent if who == "slack:T/A"] == ["a1", "a2", "a3"]
    with store_on.engine.connect() as connection:
        from sqlalchemy import select

        from storage.tables import OutboxRow

        attempts = dict(connection.execute(select(OutboxRow.dedupe_key, OutboxRow.attempts)).all())
    assert attempts["slack:T/A:a3"] == 1  # waiting behind a2 spent no attempt
