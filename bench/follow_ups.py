"""A session's follow-up to everyone registered, planned and written through the outbox.

    .venv/bin/python bench/follow_ups.py                  # 2,000 registered, SQLite
    .venv/bin/python bench/follow_ups.py --people 500     # smaller
    .venv/bin/python bench/follow_ups.py --postgres URL   # or set SPOKE_TEST_POSTGRES_URL

Prints figures, asserts nothing. One network, one series, one held session; N people
registered (half marked present, so both messages are written), each with a console identity.
Timed: `send_follow_up` (storing it and planning one outbox row per person, one transaction)
and delivering every row with `Sender.deliver_due(200)` to a notifier that only counts (so the
figure is Spoke's own work: claim, compose — the attendee/absentee split, the survey's
eligibility and reminder — and record). Memory: this process's RSS before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.clock import FakeClock
from assistant.events import Actor, Hints
from assistant.i18n import Translator
from assistant.messages import Outgoing
from assistant.model import AttendanceRecord
from assistant.outbox import Sender
from assistant.ports import SendResult, Sent
from assistant.runtime import Directory
from assistant.sealing import Sealer
from assistant.services.context import ServiceContext
from assistant.services.follow_ups import send_follow_up
from bench.loadkit import memory_kib
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from storage.scratch import scratch_database
from tests.community import member, open_networks, series, session

HELD = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


class Counting:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, message: Outgoing) -> SendResult:
        self.sent += 1
        return Sent()


def run(url: str, people: int) -> None:
    upgrade(url)
    store = SqlStore(make_engine(url), Sealer(["bench key"]))
    clock = FakeClock(at="2025-06-02T09:00:00Z")
    open_networks(store, clock.now())
    fay = member(store, clock.now(), "fay", role="facilitator")
    spring = series(store, clock.now())
    held = session(store, clock.now(), spring, HELD)
    ids = [member(store, clock.now(), f"p{n}", language="fr" if n % 5 == 0 else "en")
           for n in range(people)]
    with store.transaction() as uow:
        for n, person in enumerate(ids):
            uow.enrolments.set(spring.id, person, "registered", clock.now())
            if n % 2 == 0:
                uow.attendance.mark(AttendanceRecord(held.id, person, True, 55, "zoom", "bench",
                                                     clock.now()))
    clock.set(datetime(2025, 6, 2, 15, 0, tzinfo=UTC))
    rss_before = memory_kib()[0]

    started = time.perf_counter()
    with store.transaction() as uow:
        ctx = ServiceContext(uow, Actor("console:fay"), clock.now(), Translator("en"), Hints(),
                             Directory(), uow.people.get(fay), {})
        send_follow_up(ctx, held.id, {"summary": "Opioid conversion.",
                                      "recording": "https://example.org/r/1"}, None, "bench")
    planned_s = time.perf_counter() - started

    notifier = Counting()
    sender = Sender(store, notifier, clock, worker="bench")
    started = time.perf_counter()
    while asyncio.run(sender.deliver_due(200)) > 0:
        pass
    sent_s = time.perf_counter() - started
    rss_after = memory_kib()[0]
    store.close()
    print(f"  people {people:>6}   plan {planned_s * 1000:8.0f} ms   "
          f"deliver {sent_s:6.2f} s ({notifier.sent / sent_s:7.0f} messages/s, "
          f"{sent_s / max(notifier.sent, 1) * 1000:5.2f} ms each)   "
          f"sent {notifier.sent}   RSS {rss_before // 1024} -> {rss_after // 1024} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--postgres", default=os.environ.get("SPOKE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(f"follow-up fan-out, {args.people} registered (half attended), batches of 200")
    with tempfile.TemporaryDirectory() as scratch:
        print("SQLite (file, WAL)")
        run(f"sqlite:///{Path(scratch) / 'bench.db'}", args.people)
    if args.postgres:
        print("PostgreSQL")
        with scratch_database(args.postgres) as url:
            run(url, args.people)
    return 0


if __name__ == "__main__":
    sys.exit(main())
