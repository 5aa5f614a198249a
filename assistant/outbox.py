"""The sender: claims due outbox rows under a lease, hands each to the platform's Notifier,
records what happened. At-least-once delivery, exactly-once state."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from assistant.clock import Clock
from assistant.ports import Notifier, RetryLater, Sent, Store, Unreachable

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
BACKOFF_BASE = 10.0  # seconds
BACKOFF_CAP = 3600.0


class Sender:
    def __init__(self, store: Store, notifier: Notifier, clock: Clock, worker: str,
                 identity: str | None = None, rng: random.Random | None = None) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._worker = worker
        self._identity = identity  # the console sends only its own reader's messages
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy

    async def deliver_due(self, batch: int = 50) -> int:
        """Send what is due now; returns how many were sent."""
        now = self._clock.now()
        with self._store.transaction() as uow:
            claimed = uow.outbox.claim(self._worker, now, now + LEASE, batch, self._identity)
        sent = 0
        for message in claimed:
            try:
                result = await self._notifier.send(message)
            except Exception:
                log.exception("send failed", extra={"event": "outbox.error", "row": message.id})
                result = RetryLater("exception")
            with self._store.transaction() as uow:
                at = self._clock.now()
                if isinstance(result, Sent):
                    uow.outbox.sent(message.id, at)
                    sent += 1
                elif isinstance(result, Unreachable):
                    uow.outbox.give_up(message.id, "unreachable", result.code)
                elif message.attempts >= MAX_ATTEMPTS:
                    uow.outbox.give_up(message.id, "failed", result.code)
                else:
                    uow.outbox.retry(message.id, at + self._backoff(result, message.attempts),
                                     result.code)
        return sent

    def _backoff(self, result: RetryLater, attempts: int) -> timedelta:
        """The platform's Retry-After when it gives one; otherwise exponential backoff with
        full jitter (10 s, 20 s, 40 s ... capped at an hour), so a long outage is outlasted
        rather than used up in two minutes."""
        if result.after_seconds is not None:
            return timedelta(seconds=result.after_seconds)
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=self._rng.uniform(0, ceiling))
