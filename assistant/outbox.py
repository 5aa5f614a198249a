"""The sender: claims due outbox rows under a lease, hands each to the platform's Notifier,
records what happened. At-least-once delivery, exactly-once state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from assistant.clock import Clock
from assistant.logs import new_request_id, request_scope
from assistant.messages import Outgoing
from assistant.ports import Notifier, RetryLater, SendResult, Sent, Store, Unavailable, Unreachable
from assistant.services.reminders import Composer, plan_due_sessions

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
BACKOFF_BASE = 10.0  # seconds
BACKOFF_CAP = 3600.0
# The longest a platform call may take (the Slack and Teams clients give up by then).
SEND_TIMEOUT = timedelta(seconds=15)


class Sender:
    def __init__(self, store: Store, notifier: Notifier, clock: Clock, worker: str,
                 identity: str | None = None, platforms: Sequence[str] | None = None,
                 rng: random.Random | None = None, composer: Composer | None = None,
                 lease: timedelta = LEASE) -> None:
        self._store = store
        self._composer = composer or Composer()
        self._lease = lease
        self._notifier = notifier
        self._clock = clock
        self._worker = worker
        self._identity = identity  # the console sends only its own reader's messages
        self._platforms = platforms  # a server sends only for the platforms it serves
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._watchers: list[Callable[[str], None]] = []

    def watch(self, watcher: Callable[[str], None]) -> None:
        """Told what became of each message tried: "sent", "retry", "rate_limited",
        "unreachable", or "held" (it waited behind another) — for metrics."""
        self._watchers.append(watcher)

    async def deliver_due(self, batch: int = 50) -> int:
        """Send what is due now; returns how many were sent."""
        return (await self.deliver_round(batch))[1]

    async def deliver_round(self, batch: int = 50) -> tuple[int, int]:
        """One batch: returns (how many rows were claimed, how many were sent). A full claim
        means more may be waiting, however many of these the platform refused.

        Different people's messages go out concurrently; one person's go in order, and stop
        at the first that cannot be sent, so nobody reads an answer before its question.
        Database work runs in a thread: the event loop keeps acknowledging requests."""
        now = self._clock.now()
        taken, claimed = await asyncio.to_thread(self._claim, now, batch)
        by_reader: dict[str, list[Outgoing]] = {}
        for message in claimed:
            by_reader.setdefault(message.identity, []).append(message)
        # No send starts so late that it could still be under way when the lease runs out
        # and another replica takes the row: that would be the same message twice.
        last_start = now + self._lease - min(SEND_TIMEOUT, self._lease / 2)
        outcomes = await asyncio.gather(*(self._send_in_order(queue, last_start)
                                          for queue in by_reader.values()))
        return taken, await self._settle([result for outcome in outcomes for result in outcome])

    async def send_ready(self, messages: Sequence[Outgoing]) -> int:
        """Post one reader's messages that a turn wrote already claimed for this sender, in
        order, and record what happened (a failed one waits in the outbox like any other)."""
        last_start = self._clock.now() + self._lease - min(SEND_TIMEOUT, self._lease / 2)
        return await self._settle(await self._send_in_order(list(messages), last_start))

    async def _settle(self, results: list[tuple[Outgoing, SendResult | None]]) -> int:
        await asyncio.to_thread(self._record, results)
        for watcher in self._watchers:
            for _, result in results:
                watcher(_result_name(result))
        return sum(1 for _, result in results if isinstance(result, Sent))

    def _claim(self, now: datetime, batch: int) -> tuple[int, list[Outgoing]]:
        """(rows claimed, the messages to send): composing may drop some of the claimed."""
        with self._store.transaction() as uow:
            claimed = uow.outbox.claim(self._worker, now, now + self._lease, batch, self._identity,
                                       self._platforms)
            # Reminders are written now, from what is true now; those that no longer
            # apply are marked and dropped in the same transaction.
            return len(claimed), self._composer.compose(uow, claimed, now)

    def now(self) -> datetime:
        return self._clock.now()

    async def take_over_reader(self) -> int:
        """A sender for one reader alone (the terminal) takes back what a previous one left
        half-sent when it died, so the reader's messages need not wait for its lease."""
        if self._identity is None:
            return 0

        def release(identity: str) -> int:
            with self._store.transaction() as uow:
                return uow.outbox.release_reader(identity)

        return await asyncio.to_thread(release, self._identity)

    async def release_held(self) -> int:
        """Hand back every row this sender still holds (shutting down): the other replicas,
        or this one restarted, take them at once instead of after the lease."""
        def release() -> int:
            with self._store.transaction() as uow:
                return uow.outbox.release_held(self._worker)

        released = await asyncio.to_thread(release)
        if released:
            log.info("claimed rows released", extra={"event": "outbox.released", "rows": released})
        return released

    async def plan_reminders(self) -> int:
        """Put the reminders of sessions that came within reach into the outbox."""
        return await asyncio.to_thread(self._plan, self._clock.now())

    def _plan(self, now: datetime) -> int:
        with self._store.transaction() as uow:
            return plan_due_sessions(uow, now)

    async def next_due(self) -> datetime | None:
        """When the next pending row of ours is due, so the pump can sleep until then."""
        return await asyncio.to_thread(self._next_due)

    def _next_due(self) -> datetime | None:
        with self._store.transaction() as uow:
            return uow.outbox.next_due(self._platforms, self._identity)

    async def _send_in_order(self, queue: list[Outgoing], last_start: datetime
                             ) -> list[tuple[Outgoing, SendResult | None]]:
        results: list[tuple[Outgoing, SendResult | None]] = []
        for position, message in enumerate(queue):
            if self._clock.now() >= last_start:
                log.warning("lease nearly over: released unsent", extra={
                    "event": "outbox.lease_short", "rows": len(queue) - position})
                return results + [(later, None) for later in queue[position:]]
            try:
                result = await self._notifier.send(message)
            except Exception:
                log.exception("send failed", extra={"event": "outbox.error", "row": message.id})
                result = RetryLater("exception")
            results.append((message, result))
            if not isinstance(result, Sent):
                # The rest wait behind this one (None: released, not attempted).
                results += [(later, None) for later in queue[position + 1:]]
                break
        return results

    def _record(self, results: list[tuple[Outgoing, SendResult | None]]) -> None:
        if not results:
            return
        with self._store.transaction() as uow:
            at = self._clock.now()
            delivered = [(m, r) for m, r in results if isinstance(r, Sent)]
            uow.outbox.sent([m.id for m, _ in delivered], at,
                            {m.id: r.ref for m, r in delivered if r.ref})
            held_until = at  # when the messages waiting behind a failed one may go
            for message, result in results:
                if result is None:
                    uow.outbox.release(message.id, held_until, self._worker)
                    continue
                held_until = at
                if isinstance(result, Sent):
                    continue
                if isinstance(result, Unreachable):
                    uow.outbox.give_up(message.id, "unreachable", result.code, self._worker)
                elif result.after_seconds is not None:
                    # The platform said when to come back (429): waiting as told is not a
                    # failed attempt; the row's own expiry bounds how long it may wait.
                    held_until = at + self._backoff(result, message.attempts)
                    uow.outbox.retry(message.id, held_until, result.code, self._worker,
                                     spend_attempt=False)
                elif message.attempts >= MAX_ATTEMPTS:
                    uow.outbox.give_up(message.id, "failed", result.code, self._worker)
                else:
                    held_until = at + self._backoff(result, message.attempts)
                    uow.outbox.retry(message.id, held_until, result.code, self._worker)

    def _backoff(self, result: RetryLater, attempts: int) -> timedelta:
        """The platform's Retry-After when it gives one; otherwise exponential backoff with
        equal jitter (5-10 s, 10-20 s, 20-40 s ... capped at an hour), so a long outage is
        outlasted rather than used up in two minutes: the MAX_ATTEMPTS span at least 635 s
        whatever the draws. (Full jitter, from 0, gave up on 6% of messages in a 5-minute
        outage: tests/faults/test_platform_outage.py.)"""
        if result.after_seconds is not None:
            return timedelta(seconds=result.after_seconds)
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=self._rng.uniform(ceiling / 2, ceiling))


class ReadyReplies:
    """Posts the replies a turn claimed for this server as soon as the turn is over: no wait
    for the pump's next round, nor a claim. One reader's replies go in the order of their
    turns; anything not sent is left to the pump (woken), which retries it in its time."""

    def __init__(self, sender: Sender, wake_pump: Callable[[], None]) -> None:
        self._sender = sender
        self._wake_pump = wake_pump
        self._last: dict[str, asyncio.Task[None]] = {}  # each reader's latest posting
        self.posting: set[asyncio.Task[None]] = set()

    def post(self, ready: Sequence[Outgoing]) -> None:
        identity = ready[0].identity
        task = asyncio.create_task(self._post(self._last.get(identity), ready))
        self._last[identity] = task
        self.posting.add(task)
        task.add_done_callback(lambda done: self._done(identity, done))

    async def finish(self, grace_seconds: float) -> None:
        """Lets the postings under way end (a server stopping); rows still held after that
        go back to pending with the sender's other rows."""
        if self.posting:
            await asyncio.wait(set(self.posting), timeout=grace_seconds)

    async def _post(self, before: asyncio.Task[None] | None, ready: Sequence[Outgoing]) -> None:
        if before is not None:
            await asyncio.wait([before])
        try:
            sent = await self._sender.send_ready(ready)
        except Unavailable:
            # Posted, but the database went down before it heard: the rows stay claimed until
            # their lease ends, then the pump retakes them (and looks before posting again).
            log.warning("replies not recorded", extra={"event": "outbox.ready_unrecorded"})
            return
        except Exception:
            log.exception("replies not recorded", extra={"event": "outbox.ready_failed"})
            return
        if sent < len(ready):
            self._wake_pump()

    def _done(self, identity: str, task: asyncio.Task[None]) -> None:
        self.posting.discard(task)
        if self._last.get(identity) is task:
            del self._last[identity]


class PlatformNotifier:
    """Hands each message to the notifier of its identity's platform (`slack:...`)."""

    def __init__(self, notifiers: Mapping[str, Notifier]) -> None:
        self._notifiers = dict(notifiers)

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(self._notifiers)

    async def send(self, message: Outgoing) -> SendResult:
        notifier = self._notifiers.get(message.identity.partition(":")[0])
        if notifier is None:
            return Unreachable("no_front_end")
        return await notifier.send(message)


class OutboxPump:
    """Runs the sender when a turn has queued something, and on a steady tick for scheduled
    and retried rows. APScheduler is only the alarm clock: the rows, their due times and
    leases live in the outbox table, so a killed process loses nothing."""

    def __init__(self, sender: Sender, tick_seconds: float = 15.0, batch: int = 50) -> None:
        self._sender = sender
        self._tick = tick_seconds
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scheduler: object | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def _alarm(self) -> None:
        # A coroutine, so APScheduler runs it on the loop rather than in a worker thread
        # (where setting an asyncio.Event is not safe, and shutdown cancels it noisily).
        self.wake()

    async def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler()
        scheduler.add_job(self._alarm, "interval", seconds=self._tick, id="outbox-tick",
                          coalesce=True, max_instances=1, replace_existing=True)
        scheduler.start()
        self._scheduler = scheduler
        self._task = asyncio.create_task(self._run(), name="outbox-pump")
        self.wake()

    async def stop(self, grace_seconds: float = 0.0) -> None:
        """Stops after one more round (or the round under way), waiting for it up to
        `grace_seconds` (a message half-sent when cancelled may reach its reader twice), then
        hands back every row still claimed."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)  # type: ignore[attr-defined]
            self._scheduler = None  # stopping twice (a test, then the server) is harmless
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            if grace_seconds > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._sender.release_held()
        except Exception:
            log.exception("claimed rows not released", extra={"event": "outbox.release_failed"})

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Stopping wakes it for one last round, started after the stop was asked for:
            # the replies of the last turns go out.
            last = self._stopping
            with request_scope(new_request_id(prefix="outbox-")):
                await self._round()
            if last:
                return

    async def _round(self) -> None:
        try:
            await self._sender.plan_reminders()
            while ((await self._sender.deliver_round(self._batch))[0] >= self._batch
                   and not self._stopping):
                pass  # a full batch was due: more may be waiting
            self._wake_at(await self._sender.next_due())
        except Unavailable:
            # The database is down: the tick tries again; one line a round, no traceback.
            log.warning("outbox waits for the database", extra={"event": "outbox.unavailable"})
        except Exception:
            log.exception("outbox pump failed", extra={"event": "outbox.pump_failed"})

    def _wake_at(self, due: datetime | None) -> None:
        """One alarm at the next due time (the steady tick is the safety net); the alarm
        is replaced every round, so the scheduler never holds more than one job of ours."""
        scheduler = self._scheduler
        if due is None or scheduler is None or self._stopping:
            return
        # Never sooner than a second: a row due but held (its reader's earlier message is
        # waiting) must not spin the loop. The wait is reckoned on the sender's clock;
        # APScheduler itself keeps real time.
        wait = max((due - self._sender.now()).total_seconds(), 1.0)
        run_at = datetime.now(UTC) + timedelta(seconds=min(wait, self._tick))  # noqa: TID251
        scheduler.add_job(self._alarm, "date", run_date=run_at, id="outbox-next",  # type: ignore[attr-defined]
                          replace_existing=True, misfire_grace_time=None)


def _result_name(result: SendResult | None) -> str:
    if result is None:
        return "held"
    if isinstance(result, Sent):
        return "sent"
    if isinstance(result, Unreachable):
        return "unreachable"
    return "rate_limited" if result.after_seconds is not None else "retry"
