"""10,000 day-before reminders due at once, sent through the outbox to a local Slack Web API.

    .venv/bin/python bench/reminders.py                      # 10,000 participants, a few minutes
    .venv/bin/python bench/reminders.py --quick              # smoke run: 1,000 participants
    .venv/bin/python bench/reminders.py --postgres URL       # or set SPOKE_TEST_POSTGRES_URL
    .venv/bin/python bench/reminders.py --profile            # also cProfile one run per engine

Prints figures, asserts nothing. In one run on one machine:

- the data: one network, one series, one session (Wednesday 4 June 2025, 13:00 London),
  N participants registered for it (Europe/London, one in five reading French), each with a
  Slack identity whose address names its DM channel (no conversations.open), bulk-inserted
  with SQLAlchemy Core; then `plan_due_sessions` at the day-before moment (Tuesday 10:00
  London = 09:00 UTC) puts one day-before row (due now) and one hour-before row (due tomorrow)
  per person in the outbox. Planning is timed apart; the rest of the set-up is not timed.
  SQLite: a file (WAL, as storage/engine.py sets it up). PostgreSQL: a scratch database of its
  own on the server named by --postgres or SPOKE_TEST_POSTGRES_URL (storage/scratch.py),
  ANALYZEd after planning, as autovacuum would have done in the 11 days before the rows fall due.
- the Slack Web API: tests/slack_mock.py's SlackApiMock, served from a thread of this process
  (which otherwise only waits), answering at once; or, for the rate-limited runs, answering
  HTTP 429 with `Retry-After: 1` to a random fifth of all calls (chat.postMessage and the
  conversations.history look-up a retried row makes first), seeded, so runs compare.
- the senders: each in a process of its own (this script with --sender), building what
  `spoke serve` builds for the outbox: SqlStore(make_engine(url)), one aiohttp session (10 s
  timeout, aiohttp's default 100 connections), AsyncWebClient(retry_handlers=[]) and
  SlackNotifier, and assistant.outbox.Sender. Each first sends one warm-up reminder of its own
  (imports, compiled statements, Babel's data, the HTTP connection), untimed; then its peak
  RSS is reset (/proc/self/clear_refs) and it waits for the word to go.
- the clock: each sender's Clock stands at the due moment when told to go and then runs at
  real speed, so Retry-After: 1 costs a real second, as it would in production.
- the loop: `while await sender.deliver_due(batch) > 0`; when it returns 0 while rows of this
  run are still pending or being sent (held by Retry-After, or another sender's batch), the
  sender sleeps until `next_due()` (at least 10 ms, at most 1 s) and goes on, until none is
  left. "pump rule" runs instead follow OutboxPump._run: keep going while a whole batch was
  claimed, else plan, then sleep until max(next_due, now + 1 s) (at most the 15 s tick).

Runs, each on freshly planned rows, per engine (SQLite: one sender; PostgreSQL: two, as
separate processes claiming with FOR UPDATE SKIP LOCKED): every --batches size (50, 200); on
PostgreSQL also one sender at the largest, for what the second adds; then 20% 429s at the best
batch, drained and by the pump's rule; with --profile, one more run at the best batch under
cProfile (thread CPU time; slower, left out of the summary). --quick: 1,000 participants,
batch 200, no pump-rule or one-sender runs.

Figures:
- due→last: from telling the senders to go (time.time()) to the mock's arrival stamp of the
  last successful chat.postMessage (the same clock, this process);
- reminders/s: reminders handed over in that time; claims/s: rows claimed per second over the
  senders' own wall time (a claim transaction also composes its rows), and claim
  transactions' p50/p95 ms;
- lost / duplicates: participants whose DM got no reminder / more than one, counted at the
  mock (and each reminder's outbox row id, carried in message metadata); the outbox's
  day-before rows by status at the end;
- per stage: claim+compose (a worker thread), sends (the event loop, a batch's messages
  concurrently), record (a worker thread), summed over the deliver_due calls;
- CPU: each sender's user+system seconds over the run (per reminder handed over), this process's
  (the mock's), and on PostgreSQL the server processes of the senders' connections
  (/proc/PID/stat: the server must run on this machine);
- memory: each sender's VmRSS before go, after its first batch and after the last send, and
  VmHWM (peak) over the run; flat: the end within FLAT_MIB of the RSS after the first batch
  (the first batch's rows, replies and connections are what a batch costs, not a leak).

Targets (the issue): 10,000 reminders handed over in under 20 s on SQLite and under 10 s with
two senders on PostgreSQL; 0 lost, 0 duplicates; memory flat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import loadkit  # bench/, beside this script (Python puts a script's folder on sys.path)
from loadkit import Figures, yes

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test helpers below live in tests/, not an installed package

from tests.slack_mock import SlackApiMock, ThreadedSlackApiMock, _Failure  # noqa: E402

BOT_TOKEN = "xoxb-test"  # noqa: S105 - the mock's token
TEAM = "T0SPOKE"
NETWORK = "care-homes"
SET_UP_AT = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)       # a Sunday: the series and session are made
STARTS = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)         # Wednesday 13:00 in London (BST)
DUE = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)             # the day before at 10:00 London: the reminder hour
WARM_UP_LEAD = timedelta(seconds=60)                     # warm-up rows fall due this much earlier
FRENCH_EVERY = 5                                         # one participant in five reads French
RATE_LIMITED_SHARE = 0.20
RATE_LIMIT_SEED = 20250603
LIMITED_METHODS = frozenset({"chat.postMessage", "conversations.history"})
PUMP_TICK_S = 15.0                                       # OutboxPump's default tick
TARGET_SQLITE_S, TARGET_POSTGRES_S = 20.0, 10.0
FLAT_MIB = 5.0                                           # RSS growth after the first batch we call flat
PACKAGES = ("assistant", "dialogs", "storage", "adapters")
BEGIN = "BENCH "                                         # the senders' report lines start so


def participant(n: int) -> str:
    return f"U{n:07d}"


def warm_up_user(n: int) -> str:
    return f"UWARM{n:02d}"


def dm_channel(user: str) -> str:
    return "D" + user[1:]  # as tests/slack_signing.py dm_channel_id names the bot's DM


def identity_of(user: str) -> str:
    return f"slack:{TEAM}/{user}"


# --- the Slack Web API ------------------------------------------------------------------------

class RateLimitingSlackApi(SlackApiMock):
    """SlackApiMock that, when asked, answers a random share of calls with HTTP 429 and
    `Retry-After: 1`, as Slack's rate limiter does (fail_next scripts only the next calls)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.share = 0.0
        self._rng = random.Random(RATE_LIMIT_SEED)

    def limit(self, share: float) -> None:
        self.share = share
        self._rng = random.Random(RATE_LIMIT_SEED)

    def _take_failure(self, method: str) -> _Failure | None:
        scripted = super()._take_failure(method)
        if scripted is None and method in LIMITED_METHODS and self.share and self._rng.random() < self.share:
            return _Failure(status=429, error=None, retry_after=1, delay=None, body=None, remaining=1)
        return scripted


# --- the data ---------------------------------------------------------------------------------

@dataclass
class Population:
    url: str
    engine: str
    participants: int
    session_id: int
    warm_up_people: list[int]
    set_up_s: float = 0.0
    planned: int = 0
    plan_s: float = 0.0


def populate(url: str, participants: int, warm_ups: int) -> Population:
    """Migrates an empty database and fills it: network, series, session, people. Untimed."""
    from sqlalchemy import insert, select

    from assistant.demo import seed
    from storage.engine import make_engine
    from storage.migrate import upgrade
    from storage.repositories import SqlStore
    from storage.tables import EnrolmentRow, IdentityRow, MembershipRow, NetworkRow, PersonRow
    from tests import community

    started = time.perf_counter()
    upgrade(url)
    store = SqlStore(make_engine(url))
    try:
        seed(store, SET_UP_AT)
        series = community.series(store, SET_UP_AT, network=NETWORK, name="reminders-bench")
        session = community.session(store, SET_UP_AT, series, STARTS, minutes=60,
                                    agenda="Case presentations; breathlessness at night")
        person, ident = PersonRow.__table__, IdentityRow.__table__  # type: ignore[attr-defined]
        membership, enrolment = MembershipRow.__table__, EnrolmentRow.__table__  # type: ignore[attr-defined]
        network = NetworkRow.__table__  # type: ignore[attr-defined]
        users = [warm_up_user(n) for n in range(warm_ups)] + [participant(n) for n in range(participants)]
        with store.engine.begin() as conn:
            network_id = conn.execute(select(network.c.id).where(network.c.slug == NETWORK)).scalar_one()
            for start in range(0, len(users), 2000):
                chunk = users[start:start + 2000]
                people = [{"full_name": f"Participant {user}", "email": f"{user.lower()}@example.org",
                           "profession": "Registered nurse", "organisation": "Test Care Home",
                           "care_setting": "care_home", "region": "EH6", "country": "GB",
                           "time_zone": "Europe/London",
                           "language": "fr" if (start + i) % FRENCH_EVERY == FRENCH_EVERY - 1 else "en",
                           "registered_at": SET_UP_AT} for i, user in enumerate(chunk)]
                ids = conn.execute(insert(person).returning(person.c.id, sort_by_parameter_order=True),
                                   people).scalars().all()
                conn.execute(insert(ident), [
                    {"identity": identity_of(user), "person_id": pid, "language": row["language"],
                     "address": {"team": TEAM, "user": user, "channel": dm_channel(user)},
                     "last_seen_at": SET_UP_AT} for user, pid, row in zip(chunk, ids, people, strict=True)])
                conn.execute(insert(membership), [
                    {"person_id": pid, "network_id": network_id, "role": "participant", "status": "active",
                     "since": SET_UP_AT} for pid in ids])
                conn.execute(insert(enrolment), [
                    {"series_id": series.id, "person_id": pid, "status": "registered", "asked_at": SET_UP_AT,
                     "updated_at": SET_UP_AT} for pid in ids])
                if start == 0:
                    warm_ids = list(ids[:warm_ups])
    finally:
        store.close()
    return Population(url, "postgresql" if url.startswith("postgresql") else "sqlite", participants,
                      session.id, warm_ids, set_up_s=time.perf_counter() - started)


def plan(population: Population, senders: int) -> None:
    """Empties the outbox, plans the session's reminders at the due moment (timed), moves the
    day-before rows of one warm-up person per sender a minute earlier and withdraws the rest."""
    from sqlalchemy import text, update

    from assistant.services.reminders import plan_due_sessions
    from storage.engine import make_engine
    from storage.repositories import SqlStore
    from storage.tables import OutboxRow, SessionRow

    outbox, session = OutboxRow.__table__, SessionRow.__table__  # type: ignore[attr-defined]
    store = SqlStore(make_engine(population.url))
    try:
        with store.engine.begin() as conn:
            if population.engine == "postgresql":
                conn.execute(text("TRUNCATE outbox"))
            else:
                conn.execute(outbox.delete())
            conn.execute(update(session).values(planned_sequence=None))
        started = time.perf_counter()
        with store.transaction() as uow:
            population.planned = plan_due_sessions(uow, DUE)
        population.plan_s = time.perf_counter() - started
        with store.engine.begin() as conn:
            warm_ups = population.warm_up_people
            conn.execute(update(outbox).where(outbox.c.person_id.in_(warm_ups[:senders]))
                         .where(outbox.c.due_at <= DUE).values(due_at=DUE - WARM_UP_LEAD))
            conn.execute(update(outbox).where(outbox.c.person_id.in_(warm_ups[senders:]))
                         .values(status="withdrawn"))
        if population.engine == "postgresql":
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
    finally:
        store.close()


def outbox_state(population: Population) -> dict[str, int]:
    """The day-before rows of the participants (not the warm-up people), by status; those not
    sent also by their last error and attempts."""
    from sqlalchemy import func, select

    from storage.engine import make_engine
    from storage.tables import OutboxRow

    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    engine = make_engine(population.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(outbox.c.status, outbox.c.last_error, outbox.c.attempts, func.count())
                                .where(outbox.c.dedupe_key.like("reminder:%:day"),
                                       outbox.c.person_id.not_in(population.warm_up_people))
                                .group_by(outbox.c.status, outbox.c.last_error, outbox.c.attempts)).all()
    finally:
        engine.dispose()
    state: Counter[str] = Counter()
    for status, error, attempts, count in rows:
        state[status if status == "sent" else f"{status} ({error}, {attempts} attempts)"] += int(count)
    return dict(state)


# --- one sender, in its own process -----------------------------------------------------------

class RunningClock:
    """Stands at `at` until started, then runs at real speed from there."""

    def __init__(self, at: datetime) -> None:
        self._at = at
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.monotonic()

    def now(self) -> datetime:
        if self._started is None:
            return self._at
        return self._at + timedelta(seconds=time.monotonic() - self._started)


def emit(what: dict[str, Any]) -> None:
    print(BEGIN + json.dumps(what), flush=True)


def reset_peak_rss() -> bool:
    """VmHWM back to the current RSS (Linux: writing 5 to clear_refs), so the peak is the run's."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


async def sender_main(opts: argparse.Namespace) -> None:
    import aiohttp
    from slack_sdk.web.async_client import AsyncWebClient
    from sqlalchemy import func, select

    from adapters.slack.notifier import SlackNotifier
    from assistant.clock import FakeClock
    from assistant.messages import Outgoing
    from assistant.outbox import Sender
    from storage.engine import make_engine
    from storage.repositories import SqlStore
    from storage.tables import OutboxRow

    class TimedSender(Sender):
        """The Sender, with its claim and record transactions timed (wall clock)."""

        claim_s: list[float]
        record_s: list[float]
        claimed: int

        def _claim(self, now: datetime, batch: int) -> tuple[int, list[Outgoing]]:
            started = time.perf_counter()
            taken, claimed = super()._claim(now, batch)
            self.claim_s.append(time.perf_counter() - started)
            self.claimed += taken
            return taken, claimed

        def _record(self, results: Any) -> None:
            started = time.perf_counter()
            super()._record(results)
            self.record_s.append(time.perf_counter() - started)

    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    store = SqlStore(make_engine(opts.database))
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    client = AsyncWebClient(token=BOT_TOKEN, base_url=opts.api, session=http, retry_handlers=[])
    notifier = SlackNotifier(client)
    await asyncio.to_thread(sys.stdin.readline)  # the rows are planned: warm up
    warmed = 0
    warm_up = Sender(store, notifier, FakeClock(DUE - WARM_UP_LEAD / 2), worker=f"{opts.worker}-warm-up",
                     identity=identity_of(opts.warm_up_user), platforms=("slack",))
    while (sent := await warm_up.deliver_due(opts.batch)) > 0:
        warmed += sent

    clock = RunningClock(DUE)
    sender = TimedSender(store, notifier, clock, worker=opts.worker, platforms=("slack",))
    sender.claim_s, sender.record_s, sender.claimed = [], [], 0
    unfinished_query = select(func.count()).select_from(outbox).where(
        outbox.c.status.in_(("pending", "sending")), outbox.c.due_at <= DUE)

    def unfinished() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(unfinished_query).scalar_one())

    profilers = None
    if opts.profile:
        import concurrent.futures
        import cProfile

        profilers = (cProfile.Profile(time.thread_time), loadkit.ThreadProfilers())
        asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(
            max_workers=min(32, (os.cpu_count() or 1) + 4), initializer=profilers[1]))
    peak_reset = reset_peak_rss()
    before = loadkit.memory_kib()
    emit({"ready": True, "warmed": warmed})
    await asyncio.to_thread(sys.stdin.readline)  # the word to go

    clock.start()
    started, cpu_before = time.time(), loadkit.own_cpu_s()
    deliver_s: list[float] = []
    rss_kib: list[int] = []  # after each deliver_due call
    sent_total = waits = 0
    slept_s = 0.0
    if profilers is not None:
        profilers[0].enable()

    async def deliver() -> tuple[int, int]:
        nonlocal sent_total
        began = time.perf_counter()
        claimed, sent = await sender.deliver_round(opts.batch)
        deliver_s.append(time.perf_counter() - began)
        rss_kib.append(loadkit.memory_kib()[0])
        sent_total += sent
        return claimed, sent

    last_wake = time.monotonic()
    while True:
        if opts.pump_rule:
            await sender.plan_reminders()  # as OutboxPump._run does on every wake
            while (await deliver())[0] >= opts.batch:
                pass
        else:
            while (await deliver())[1] > 0:
                pass
        if not await asyncio.to_thread(unfinished):
            break
        next_due = await sender.next_due()
        now = clock.now()
        if opts.pump_rule:  # the alarm at next_due, never sooner than a second; the tick meanwhile
            alarm = max(next_due or now, now + timedelta(seconds=1))
            tick = PUMP_TICK_S - (time.monotonic() - last_wake) % PUMP_TICK_S
            wait = min((alarm - now).total_seconds(), tick)
        else:
            wait = min(max(((next_due or now) - now).total_seconds(), 0.01), 1.0)
        waits += 1
        slept_s += wait
        await asyncio.sleep(wait)
        last_wake = time.monotonic()
    finished = time.time()
    if profilers is not None:
        profilers[0].disable()
    cpu_s = loadkit.own_cpu_s() - cpu_before
    after = loadkit.memory_kib()
    if profilers is not None:
        import pstats

        pstats.Stats(profilers[0]).dump_stats(f"{opts.profile}.loop")
        workers = profilers[1].stats(sys.stderr)
        if workers is not None:
            workers.dump_stats(f"{opts.profile}.workers")
    emit({"done": True, "worker": opts.worker, "started": started, "finished": finished,
          "sent": sent_total, "claimed": sender.claimed, "claim_s": sender.claim_s,
          "record_s": sender.record_s, "deliver_s": deliver_s, "waits": waits, "slept_s": slept_s,
          "cpu_s": cpu_s, "rss_before": before[0], "rss_first": rss_kib[0] if rss_kib else before[0],
          "rss_after": after[0], "peak": after[1] if peak_reset else None})
    # Connections stay open until told, so the benchmark can read their server processes' CPU.
    await asyncio.to_thread(sys.stdin.readline)
    await http.close()
    store.close()


# --- a run: senders, the mock, the figures ----------------------------------------------------

@dataclass(frozen=True)
class Setting:
    senders: int
    batch: int
    rate_limited: bool = False
    pump_rule: bool = False
    profile: bool = False

    @property
    def label(self) -> str:
        return (f"{self.senders} sender{'s' if self.senders > 1 else ''}, batch {self.batch}"
                + (", 20% 429" if self.rate_limited else "") + (", pump rule" if self.pump_rule else "")
                + (", cProfile" if self.profile else ""))


@dataclass
class Result:
    engine: str
    setting: Setting
    participants: int
    planned: int = 0
    plan_s: float = 0.0
    due_to_last_s: float = float("nan")
    handed_over: int = 0
    lost: int = 0
    duplicates: int = 0
    duplicate_rows: int = 0
    stray: int = 0
    status: dict[str, int] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    senders: list[dict[str, Any]] = field(default_factory=list)
    mock_cpu_s: float = 0.0
    database_cpu_s: float | None = None   # PostgreSQL: the senders' server processes
    errors: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.handed_over / self.due_to_last_s if self.due_to_last_s > 0 else 0.0

    def claims(self) -> tuple[float, Figures, int]:
        """Rows claimed per second of the senders' own wall time, claim transactions' figures,
        how many claim transactions."""
        claimed = sum(s["claimed"] for s in self.senders)
        wall = max((s["finished"] for s in self.senders), default=0) - min(
            (s["started"] for s in self.senders), default=0)
        transactions = [t for s in self.senders for t in s["claim_s"]]
        return (claimed / wall if wall > 0 else 0.0), Figures.of(transactions), len(transactions)

    def stages(self) -> tuple[float, float, float]:
        """Seconds in claim+compose, sends, record, summed over every deliver_due call."""
        claim = sum(t for s in self.senders for t in s["claim_s"])
        record = sum(t for s in self.senders for t in s["record_s"])
        deliver = sum(t for s in self.senders for t in s["deliver_s"])
        return claim, deliver - claim - record, record


async def read_report(process: asyncio.subprocess.Process, what: str, limit_s: float) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + limit_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"a sender gave no {what} report in {limit_s:.0f} s")
        line = await asyncio.wait_for(process.stdout.readline(), remaining)
        if not line:
            raise RuntimeError(f"a sender ended before its {what} report (exit {await process.wait()})")
        text = line.decode(errors="replace")
        if text.startswith(BEGIN):
            report: dict[str, Any] = json.loads(text[len(BEGIN):])
            return report


def sender_command(population: Population, api_url: str, setting: Setting, number: int,
                   profile_path: str | None) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--sender", "--database", population.url,
               "--api", api_url, "--worker", f"w{number + 1}", "--batch", str(setting.batch),
               "--warm-up-user", warm_up_user(number)]
    if setting.pump_rule:
        command.append("--pump-rule")
    if profile_path:
        command += ["--profile-to", profile_path]
    return command


def open_log(workdir: Path, name: str) -> IO[bytes]:
    return open(workdir / name, "w+b")  # the caller closes it after the process ends


async def run_setting(population: Population, api: RateLimitingSlackApi, setting: Setting,
                      workdir: Path, run_number: int) -> Result:
    """One run: the senders started (importing while the rows are planned afresh), the mock reset,
    the senders warmed up, told to go, counted."""
    api.reset()
    api.limit(RATE_LIMITED_SHARE if setting.rate_limited else 0.0)
    result = Result(population.engine, setting, population.participants, population.planned,
                    population.plan_s)
    logs, processes = [], []
    for number in range(setting.senders):
        logs.append(open_log(workdir, f"{population.engine}-run{run_number}-w{number + 1}.log"))
        profile_path = None
        if setting.profile:
            profile_path = str(workdir / f"profile-{population.engine}-w{number + 1}")
            result.profiles.append(profile_path)
        processes.append(await asyncio.create_subprocess_exec(
            *sender_command(population, api.url, setting, number, profile_path),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=logs[-1]))
    try:
        plan(population, setting.senders)
        result.planned, result.plan_s = population.planned, population.plan_s
        await tell(processes, b"warm up\n")
        for process in processes:
            await read_report(process, "ready", 120)
        warm_up_calls = len(api.calls())
        backends = database_backends(population)
        cpu_before, database_before = loadkit.own_cpu_s(), backend_cpu_s(backends)
        go = time.time()
        await tell(processes, b"go\n")
        result.senders = [await read_report(process, "result", 900) for process in processes]
        result.mock_cpu_s = loadkit.own_cpu_s() - cpu_before
        if population.engine == "postgresql":
            backends = database_backends(population)
            after = backend_cpu_s(backends)
            result.database_cpu_s = sum(after.values()) - sum(
                cpu for pid, cpu in database_before.items() if pid in after)
        await tell(processes, b"bye\n")
        for process in processes:
            await process.wait()
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for log in logs:
            log.seek(0)
            result.errors += [line for line in log.read().decode(errors="replace").splitlines()
                              if "Error" in line or "Traceback" in line or "failed" in line][:3]
            log.close()
    count_deliveries(result, api, go, warm_up_calls)
    result.status = outbox_state(population)
    return result


async def tell(processes: Sequence[asyncio.subprocess.Process], word: bytes) -> None:
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(word)
        await process.stdin.drain()


def database_backends(population: Population) -> list[int]:
    """The server processes of the connections to the run's database (PostgreSQL), this query's
    own excepted."""
    if population.engine != "postgresql":
        return []
    from sqlalchemy import create_engine, text

    engine = create_engine(population.url)
    try:
        with engine.connect() as conn:
            return [int(pid) for pid in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalars()]
    finally:
        engine.dispose()


def backend_cpu_s(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds of each process still there (/proc/PID/stat; the server runs on this machine)."""
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            seconds[pid] = loadkit.cpu_s(pid)
    return seconds


def count_deliveries(result: Result, api: SlackApiMock, go: float, warm_up_calls: int) -> None:
    """What reached the mock after the word to go: per participant's DM and per outbox row."""
    wanted = {dm_channel(participant(n)) for n in range(result.participants)}
    per_channel: Counter[str] = Counter()
    per_row: Counter[int] = Counter()
    last = go
    for call in api.calls()[warm_up_calls:]:
        result.calls[f"{call.method} {call.status}"] += 1
        if call.method != "chat.postMessage" or not call.ok:
            continue
        channel = str(call.get("channel"))
        if channel not in wanted:
            continue  # a warm-up reminder
        per_channel[channel] += 1
        per_row[int(((call.get("metadata") or {}).get("event_payload") or {}).get("row", -1))] += 1
        last = max(last, call.at)
    result.handed_over = len(per_channel)
    result.lost = len(wanted - per_channel.keys())
    result.duplicates = sum(1 for count in per_channel.values() if count > 1)
    result.duplicate_rows = sum(1 for count in per_row.values() if count > 1)
    result.due_to_last_s = last - go if per_channel else float("nan")


# --- printing ---------------------------------------------------------------------------------

def mib(kib: float | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


def print_header(participants: int, postgres: str | None, batches: Sequence[int]) -> None:
    print(f"Reminders at scale: {participants:,} participants, one session, every day-before reminder "
          "due at the same moment")
    print(loadkit.platform_line(f"slack-sdk {version('slack-sdk')}, aiohttp {version('aiohttp')}, "
                                f"SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}"))
    print(f"  Senders: each its own process (assistant.outbox.Sender -> SlackNotifier -> AsyncWebClient, "
          f"retry_handlers=[], one aiohttp session, 100 connections), one untimed warm-up reminder each; "
          f"batches {', '.join(map(str, batches))}")
    print("  Slack Web API: tests/slack_mock.py SlackApiMock in a thread of this process, answering at "
          f"once; rate-limited runs answer 429 (Retry-After: 1) to {RATE_LIMITED_SHARE:.0%} of "
          "chat.postMessage and conversations.history calls, at random (seeded)")
    print("  Clock: stands at the due moment (2025-06-03 09:00 UTC) until the senders are told to go, "
          "then runs at real speed: a Retry-After of 1 s costs a real second")
    print("  Loop: deliver_due until it returns 0, then sleep until next_due (10 ms-1 s) while rows "
          "are pending or being sent; 'pump rule': OutboxPump._run's loop (go on while a whole batch "
          "was claimed, else plan and sleep until max(next_due, now + 1 s))")
    where = (f"a scratch database on {redacted(postgres)}" if postgres
             else "skipped (no --postgres URL or SPOKE_TEST_POSTGRES_URL)")
    print(f"  PostgreSQL: {where}")
    print(f"  Load average at the start: {loadkit.load_average()}")


def redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


HEAD = (f"  {'engine':<11}{'setting':<36}{'handed over':>12}{'due→last s':>11}{'remind/s':>10}"
        f"{'claims/s':>10}{'claim p50/p95 ms':>18}{'lost':>6}{'dup':>5}  RSS before/1st batch/end/peak MiB")


def print_result(result: Result) -> None:
    claims_per_s, claim, transactions = result.claims()
    memory = "; ".join(f"{mib(s['rss_before'])}/{mib(s['rss_first'])}/{mib(s['rss_after'])}/{mib(s['peak'])}"
                       for s in result.senders)
    print(f"  {result.engine:<11}{result.setting.label:<36}{result.handed_over:>12,}"
          f"{result.due_to_last_s:>11.2f}{result.rate:>10.0f}{claims_per_s:>10.0f}{claim.p50_ms:>9.1f}/{claim.p95_ms:<8.1f}"
          f"{result.lost:>6}{result.duplicates:>5}  {memory}")
    pad = " " * 13
    claim_s, send_s, record_s = result.stages()
    whole = (claim_s + send_s + record_s) or 1.0
    cpu = ", ".join(f"{s['worker']} {s['cpu_s']:.1f} s" for s in result.senders)
    wall = ", ".join(f"{s['worker']} {s['finished'] - s['started']:.2f} s" for s in result.senders)
    def share(seconds: float) -> str:
        return f"{seconds:.2f} s ({100 * seconds / whole:.0f}%)"

    print(f"{pad}planned {result.planned:,} rows in {result.plan_s:.2f} s (untimed); {transactions} claim "
          f"transactions; stages (summed over senders): claim+compose {share(claim_s)}, "
          f"sends {share(send_s)}, record {share(record_s)}")
    waits = sum(s["waits"] for s in result.senders)
    slept = sum(s["slept_s"] for s in result.senders)
    sender_cpu = sum(s["cpu_s"] for s in result.senders)
    database = (f"; PostgreSQL server processes {result.database_cpu_s:.1f} s"
                if result.database_cpu_s is not None else "")
    per_reminder = 1000 * sender_cpu / max(result.handed_over, 1)
    print(f"{pad}sender wall {wall}; CPU: senders {cpu} = {per_reminder:.2f} ms per reminder{database}; "
          f"mock (this process) {result.mock_cpu_s:.1f} s; {waits} sleeps, "
          f"{slept:.2f} s asleep (summed)")
    calls = ", ".join(f"{name} ×{count:,}" for name, count in sorted(result.calls.items()))
    print(f"{pad}Web API calls: {calls}")
    print(f"{pad}outbox day-before rows: {', '.join(f'{k} {v:,}' for k, v in sorted(result.status.items()))}"
          + (f"; {result.duplicate_rows} rows posted twice" if result.duplicate_rows else "")
          + (f"; {result.stray} stray" if result.stray else ""))
    for error in result.errors:
        print(f"{pad}WARNING (sender log): {error[:200]}")


def print_profile(result: Result, top: int) -> None:
    import io
    import pstats

    for path in result.profiles:
        for part, what in (
                (".loop", "the event-loop thread (Sender.deliver_due, SlackNotifier, slack_sdk, aiohttp)"),
                (".workers", "the worker threads (claim+compose and record, via asyncio.to_thread)")):
            if not Path(path + part).exists():
                continue
            out = io.StringIO()
            stats = pstats.Stats(path + part, stream=out)
            out.write(f"\n  cProfile (thread CPU time) of {Path(path).name}, {what}:\n")
            out.write(loadkit.own_time_by_package(stats, PACKAGES))
            stats.strip_dirs().sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top)
            print(out.getvalue())


def best(results: Sequence[Result], engine: str, senders: int) -> Result | None:
    plain = [r for r in results if r.engine == engine and r.setting.senders == senders
             and not r.setting.rate_limited and not r.setting.profile and r.handed_over]
    return min(plain, key=lambda r: r.due_to_last_s, default=None)


def print_summary(results: Sequence[Result], participants: int) -> None:
    print()
    print("Summary (targets scale with the participants: 20 s and 10 s are for 10,000):")
    scale = participants / 10_000
    for engine, senders, target in (("sqlite", 1, TARGET_SQLITE_S * scale),
                                    ("postgresql", 2, TARGET_POSTGRES_S * scale)):
        chosen = best(results, engine, senders)
        if chosen is None:
            continue
        print(f"  {engine}, {chosen.setting.label}: {chosen.handed_over:,} handed over in "
              f"{chosen.due_to_last_s:.2f} s = {chosen.rate:.0f}/s (under {target:.0f} s: "
              f"{yes(chosen.due_to_last_s < target and chosen.handed_over == participants)})")
        for limited in (r for r in results if r.engine == engine and r.setting.rate_limited):
            print(f"  {engine}, {limited.setting.label}: {limited.handed_over:,} in "
                  f"{limited.due_to_last_s:.2f} s")
    timed = [r for r in results if not r.setting.profile]
    lost, dup = sum(r.lost for r in timed), sum(r.duplicates + r.duplicate_rows for r in timed)
    unsent = sum(v for r in timed for k, v in r.status.items() if k != "sent")
    why = "".join(f"; {k} ×{v}" for k, v in sorted(Counter(
        {k: sum(r.status.get(k, 0) for r in timed) for r in timed for k in r.status if k != "sent"}).items()))
    print(f"  0 lost and 0 duplicates in every run: {yes(lost == 0 and dup == 0)} ({lost} lost, "
          f"{dup} duplicates; {unsent} day-before rows not 'sent' in the outbox{why})")
    first = [(s["rss_first"] - s["rss_before"]) / 1024 for r in timed for s in r.senders]
    growth = [(s["rss_after"] - s["rss_first"]) / 1024 for r in timed for s in r.senders]
    peaks = [(s["peak"] - s["rss_before"]) / 1024 for r in timed for s in r.senders if s["peak"]]
    if growth:
        print(f"  memory flat (each sender's RSS at the end within {FLAT_MIB:.0f} MiB of its RSS after the "
              f"first batch): {yes(max(growth) <= FLAT_MIB)} (first batch {min(first):+.1f} to "
              f"{max(first):+.1f} MiB over before go; then {min(growth):+.1f} to {max(growth):+.1f} MiB "
              f"to the end; peak over before go {min(peaks, default=0):+.1f} to "
              f"{max(peaks, default=0):+.1f} MiB)")


# --- the run ----------------------------------------------------------------------------------

def settings_for(engine: str, batches: Sequence[int], extras: bool) -> list[Setting]:
    senders = 1 if engine == "sqlite" else 2
    plain = [Setting(senders, batch) for batch in batches]
    if engine == "postgresql" and extras:
        plain.append(Setting(1, max(batches)))  # one sender, for how much the second one adds
    return plain


async def bench_engine(url: str, participants: int, batches: Sequence[int], profile: bool, extras: bool,
                       workdir: Path, api: RateLimitingSlackApi) -> list[Result]:
    """The plain runs at each batch size, then 429s at the best one (drained, and by the pump's
    rule when `extras`), then a profiled run when asked."""
    population = populate(url, participants, warm_ups=2)
    print(f"  ({population.engine}: set up {participants:,} participants in {population.set_up_s:.1f} s, "
          "untimed)")
    results: list[Result] = []
    for setting in settings_for(population.engine, batches, extras):
        results.append(await run_setting(population, api, setting, workdir, len(results)))
        print_result(results[-1])
    senders = 1 if population.engine == "sqlite" else 2
    chosen = best(results, population.engine, senders)
    batch = chosen.setting.batch if chosen else max(batches)
    for pump_rule in (False, True) if extras else (False,):
        results.append(await run_setting(population, api, Setting(senders, batch, True, pump_rule), workdir,
                                         len(results)))
        print_result(results[-1])
    if profile:
        results.append(await run_setting(population, api, Setting(senders, batch, profile=True), workdir,
                                         len(results)))
        print_result(results[-1])
        print_profile(results[-1], 25)
    return results


async def bench(args: argparse.Namespace, participants: int, postgres: str | None) -> list[Result]:
    users = {u: {"real_name": f"Participant {u}", "tz": "Europe/London"}
             for u in [warm_up_user(n) for n in range(2)] + [participant(n) for n in range(participants)]}
    mock = ThreadedSlackApiMock(RateLimitingSlackApi(token=BOT_TOKEN, team_id=TEAM, users=users))
    api = mock.start()
    assert isinstance(api, RateLimitingSlackApi)
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="spoke-bench-reminders-") as tmp:
            workdir = Path(tmp)
            print()
            print(HEAD)
            if args.engine in ("both", "sqlite"):
                results += await bench_engine(f"sqlite:///{workdir / 'spoke.db'}", participants, args.batches,
                                              args.profile, not args.quick, workdir, api)
            if args.engine in ("both", "postgresql") and postgres:
                from storage.scratch import scratch_database

                with scratch_database(postgres, prefix="spoke_bench") as url:
                    results += await bench_engine(url, participants, args.batches, args.profile,
                                                  not args.quick, workdir, api)
    finally:
        mock.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = loadkit.bench_parser("Spoke reminder fan-out benchmark (prints figures)", 10_000,
                                  "participants registered for the session", "1,000 participants (smoke run)")
    parser.add_argument("--postgres", default=os.environ.get("SPOKE_TEST_POSTGRES_URL") or None,
                        metavar="URL", help="a PostgreSQL server (default: $SPOKE_TEST_POSTGRES_URL)")
    parser.add_argument("--engine", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--batches", type=lambda text: [int(b) for b in text.split(",")], default=None,
                        help="deliver_due batch sizes to try, comma-separated (default 50,200; --quick: 200)")
    parser.add_argument("--profile", action="store_true",
                        help="also one cProfiled run per engine at the best batch (not in the summary)")
    # A sender process: started by the benchmark itself.
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--warm-up-user", help=argparse.SUPPRESS)
    parser.add_argument("--pump-rule", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", dest="profile_path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.sender:
        args.profile = args.profile_path
        asyncio.run(sender_main(args))
        return 0
    participants = 1_000 if args.quick else args.users
    args.batches = args.batches or ([200] if args.quick else [50, 200])
    print_header(participants, args.postgres if args.engine != "sqlite" else None, args.batches)
    started = time.perf_counter()
    with contextlib.suppress(KeyboardInterrupt):
        results = asyncio.run(bench(args, participants, args.postgres))
        print_summary(results, participants)
    print(f"  Load average at the end: {loadkit.load_average()} (other work on this machine shows up in "
          f"every figure); whole benchmark {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
