"""`spoke serve` under Slack-shaped HTTP load on loopback, beside a bare slack-bolt echo (issue #4).

    .venv/bin/python bench/slack.py              # 50 simulated users, about 20 s
    .venv/bin/python bench/slack.py --quick      # smoke run: 10 users, about 10 s
    .venv/bin/python bench/slack.py --profile 50 # also cProfile 50 users in-process

Prints figures, asserts nothing. In one run on one machine:

- `spoke serve` (the real command, its own process, port 0) on a fresh SQLite file migrated with
  `spoke db upgrade` and seeded with `spoke demo seed`, its Slack Web API pointed at the mock;
- beside it `bench/slack_echo.py`, a bare slack-bolt `AsyncApp` (signature verification on)
  on aiohttp whose `message` listener echoes the text with `chat.postMessage`;
- the Slack Web API mock of the tests (`tests/slack_mock.py`) in a thread of this process,
  and the simulated users: asyncio tasks sharing one aiohttp session, each in its own DM.

Each user sends the registration as typed answers, one signed Events API delivery each
(`tests/slack_signing.py`), and waits for the app's `chat.postMessage` into its DM channel
before sending the next answer, as a person reads before answering; no think time beyond that.
Both apps get the same users, the same messages and the same waiting; they take turns in
ROUNDS rounds (alternating who goes first), each round with new users, so load from other work
on the machine lands on both sides. Before timing, each server's RSS must stop growing
(`spoke serve` builds its time-zone city index in a thread at start-up, and the garbage
collector's full passes over it paused the whole process for 100-160 ms each while it did),
then one untimed conversation each warms it up (first imports, compiled statements).

- ack: client-side, from sending the HTTP request to reading the whole response (perf_counter);
- reply: from just before sending (time.time()) to the mock's arrival stamp of the
  chat.postMessage into that DM (`Call.at`, time.time() in this process: the same clock);
- events/s: events sent over the wall time of the round(s), first send to last reply;
- CPU: the server process's user+system seconds over the timed rounds (/proc/PID/stat), as a
  share of one core; RSS: VmRSS and VmHWM of the server process from /proc/PID/status.

`--profile N` then runs `build_web_app` (what `spoke serve` serves) in this process under N
users at once, with cProfile on its event-loop thread and on each thread of its pool, the
wait of every BEGIN IMMEDIATE (SQLite's write lock), the loop's lag and the GC's pauses.

Targets (issue #4, on 2 cores): Spoke at least 60% of the echo's events/s, ack p99 under
50 ms, reply p99 under 150 ms; report `spoke serve`'s memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test helpers below live in tests/, not an installed package

from tests.slack_mock import Call, SlackApiMock, ThreadedSlackApiMock  # noqa: E402
from tests.slack_signing import dm_channel_id, dm_event, json_body, slack_signed_headers  # noqa: E402

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # noqa: S105 - a bench's made-up secret
BOT_TOKEN = "xoxb-test"  # noqa: S105 - the mock's token
# The registration as typed in the DM, one answer per delivery (checked by a dry run: the menu
# numbers match the seeded demo networks; "2" is Care Homes ECHO). {email} is per user.
SCRIPT: tuple[str, ...] = (
    "hello", "1", "Amira Haddad", "{email}", "1", "St Columba's Hospice", "1", "EH6", "Scotland",
    "Glasgow", "yes", "1", "2", "1", "yes",
)
REGISTERED = "You're registered"
TARGET_SHARE, TARGET_ACK_P99_MS, TARGET_REPLY_P99_MS = 0.60, 50.0, 150.0
ROUNDS = 2           # each app runs this many rounds, alternating which goes first
REPLY_TIMEOUT_S = 30.0
START_TIMEOUT_S = 60.0


# --- figures ----------------------------------------------------------------------------------

def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest rank, as bench/turns.py: the smallest sample with at least p% at or below it."""
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class Figures:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Figures:
        ordered = sorted(seconds) or [float("nan")]

        def ms(p: float) -> float:
            return percentile(ordered, p) * 1000

        return cls(len(seconds), ms(50), ms(95), ms(99), ordered[-1] * 1000)


@dataclass
class Run:
    """What one app did over its timed rounds."""

    label: str
    acks: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    events: int = 0
    wall_s: float = 0.0
    round_rates: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    driver_cpu_s: float = 0.0
    users: int = 0
    completed: int = 0         # users whose last reply is what a finished script should get
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    memory: list[tuple[str, int, int]] = field(default_factory=list)  # (when, VmRSS, VmHWM) KiB
    slow_acks: int = 0         # acks over the target
    slow_first_acks: int = 0   # ... of which a user's first event (the round's opening burst)
    unread: int = 0            # replies beyond one per event (would skew reply latency)

    @property
    def per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s else 0.0


# --- /proc ------------------------------------------------------------------------------------

def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc (Linux)."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.split()[0] if value.split() else "0"
    return int(fields.get("VmRSS", 0)), int(fields.get("VmHWM", 0))


def settled_memory_kib(pid: int, quiet_s: float = 1.0, limit_s: float = 15.0) -> tuple[int, int]:
    """Memory once RSS has stopped growing for `quiet_s` (`spoke serve` builds its city index in
    the background at start-up), or after `limit_s`."""
    deadline = time.monotonic() + limit_s
    last, steady_since = memory_kib(pid), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - steady_since < quiet_s:
        time.sleep(0.1)
        now = memory_kib(pid)
        if abs(now[0] - last[0]) > 256:  # KiB
            steady_since = time.monotonic()
        last = now
    return last


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (its threads included)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        after_name = stat.read().rpartition(")")[2].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the servers ------------------------------------------------------------------------------

class Server:
    """A server in its own process that prints "... listening on http://HOST:PORT" once bound."""

    def __init__(self, label: str, command: Sequence[str], env: dict[str, str], logs: IO[bytes]) -> None:
        self.label = label
        self.logs = logs
        # Our own interpreter, scripts and arguments, no shell: nothing untrusted reaches it.
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,  # noqa: S603
                                        stderr=logs, text=True)
        self.url = self._wait_for_address()

    def _wait_for_address(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if "listening on http://" in line:
                return line.strip().rsplit(" ", 1)[1]
        self.stop()
        raise RuntimeError(f"{self.label} did not start:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        self.logs.flush()
        self.logs.seek(0)
        return "\n".join(self.logs.read().decode(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spoke_command() -> str:
    beside = Path(sys.executable).parent / "spoke"
    if not beside.exists():
        raise SystemExit(f"no `spoke` beside {sys.executable} (pip install -e .)")
    return str(beside)


def spoke_env(workdir: Path, api_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'spoke.db'}",
            "SPOKE_DATA_DIR": str(workdir), "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api_url,
            "SLACK_BOT_USER_ID": "UBOT"}


def prepare_database(spoke: str, env: dict[str, str]) -> None:
    for step in (["db", "upgrade"], ["demo", "seed"]):
        done = subprocess.run([spoke, *step], env=env, capture_output=True, text=True,  # noqa: S603
                              check=False, timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"spoke {' '.join(step)} failed: {done.stderr.strip()[-600:]}")


# --- the simulated users ----------------------------------------------------------------------

def user_ids(prefix: str, count: int) -> list[str]:
    return [f"U{prefix}{n:03d}" for n in range(count)]


def slack_profile(user: str) -> dict[str, Any]:
    # Spoke offers the name and e-mail as suggestions (typing an answer wins); no `tz`, so the
    # time-zone question is asked plainly, as in a workspace whose profiles carry no zone.
    return {"real_name": "Amira Haddad", "email": f"{user.lower()}@nhs.example", "locale": "en-GB"}


def answers(user: str) -> list[str]:
    return [text.format(email=f"{user.lower()}@example.org") for text in SCRIPT]


class Replies:
    """Hands each chat.postMessage the mock records to the user whose DM it went to."""

    def __init__(self, api: SlackApiMock) -> None:
        self._api = api
        self._queues: dict[str, asyncio.Queue[Call]] = {}
        self.stray = 0
        self._task: asyncio.Task[None] | None = None

    def queue(self, user: str) -> asyncio.Queue[Call]:
        return self._queues.setdefault(dm_channel_id(user), asyncio.Queue())

    def unread(self, users: Sequence[str]) -> int:
        """Messages no answer waited for: more than one reply to some event."""
        return sum(self.queue(user).qsize() for user in users)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                call = await self._api.next_call("chat.postMessage", timeout=3600)
            except TimeoutError:
                continue
            queue = self._queues.get(str(call.get("channel")))
            if queue is None:
                self.stray += 1
            else:
                queue.put_nowait(call)


@dataclass
class UserResult:
    acks: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    last_text: str = ""
    failure: str = ""


async def converse(http: aiohttp.ClientSession, url: str, replies: Replies, user: str, tag: str,
                   texts: Sequence[str]) -> UserResult:
    """One person's DM: send an answer, wait for the reply, send the next."""
    result = UserResult()
    inbox = replies.queue(user)
    for position, text in enumerate(texts):
        body = json_body(dm_event(user, text, event_id=f"Ev{tag}{user}{position:02d}"))
        headers = slack_signed_headers(body, SIGNING_SECRET, int(time.time()))
        sent_at = time.time()
        started = time.perf_counter()
        try:
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError as error:
            result.failure = f"{type(error).__name__} at answer {position + 1}"
            return result
        result.acks.append(time.perf_counter() - started)
        if status != 200:
            result.failure = f"HTTP {status} at answer {position + 1}"
            return result
        try:
            call = await asyncio.wait_for(inbox.get(), REPLY_TIMEOUT_S)
        except TimeoutError:
            result.failure = f"no reply within {REPLY_TIMEOUT_S:.0f} s to answer {position + 1}"
            return result
        result.replies.append(call.at - sent_at)
        result.last_text = str(call.get("text") or "")
    return result


async def drive(http: aiohttp.ClientSession, base: str, replies: Replies, users: Sequence[str],
                tag: str, expected: str | None) -> tuple[list[UserResult], float, int]:
    """All users at once; returns their results, the wall time and how many finished as expected.
    `expected` None: each user's last reply must echo its last message."""
    url = f"{base}/slack/events"
    started = time.perf_counter()
    results = await asyncio.gather(*(converse(http, url, replies, user, tag, answers(user))
                                     for user in users))
    wall_s = time.perf_counter() - started
    finished = sum(not r.failure and (expected in r.last_text if expected is not None
                                      else r.last_text == answers(u)[-1])
                   for u, r in zip(users, results, strict=True))
    return list(results), wall_s, finished


async def timed_round(http: aiohttp.ClientSession, server: Server, replies: Replies, run: Run,
                      users: Sequence[str], tag: str, expected: str | None) -> None:
    cpu_before, own_before = cpu_s(server.pid), own_cpu_s()
    results, wall_s, finished = await drive(http, server.url, replies, users, tag, expected)
    run.server_cpu_s += cpu_s(server.pid) - cpu_before
    run.driver_cpu_s += own_cpu_s() - own_before
    events = sum(len(r.acks) for r in results)
    run.events += events
    run.wall_s += wall_s
    run.round_rates.append(events / wall_s)
    run.users += len(users)
    run.completed += finished
    for result in results:
        run.acks += result.acks
        run.replies += result.replies
        slow = [position for position, ack in enumerate(result.acks) if ack * 1000 > TARGET_ACK_P99_MS]
        run.slow_acks += len(slow)
        run.slow_first_acks += slow[:1] == [0]
        if result.failure:
            run.failures.append(result.failure)
    await asyncio.sleep(0.2)  # a late extra reply, if any, reaches its queue
    run.unread += replies.unread(users)
    run.memory.append((f"after round {len(run.round_rates)}", *memory_kib(server.pid)))


async def warm_up(http: aiohttp.ClientSession, server: Server, replies: Replies, run: Run, user: str,
                  expected: str | None) -> None:
    """One full conversation, untimed: first imports, compiled statements, the city index."""
    results, wall_s, finished = await drive(http, server.url, replies, [user], "W", expected)
    run.notes.append(f"warm-up: one user, {len(SCRIPT)} events, {wall_s:.2f} s (untimed)")
    if not finished:
        why = results[0].failure or f"last reply {results[0].last_text[:80]!r}"
        run.notes.append(f"WARNING: the warm-up did not finish as expected ({why})")
    run.memory.append(("after warm-up", *memory_kib(server.pid)))


async def measure(spoke: Server, echo: Server, api: SlackApiMock, users: int, rounds: int,
                  ) -> tuple[Run, Run, int]:
    spoke_run = Run("Spoke (spoke serve)")
    echo_run = Run("bare Bolt echo")
    spoke_run.memory.append(("idle after start", *settled_memory_kib(spoke.pid)))
    echo_run.memory.append(("idle after start", *settled_memory_kib(echo.pid)))
    replies = Replies(api)
    replies.start()
    connector = aiohttp.TCPConnector(limit=0)  # one connection per user in flight, as Slack would
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            await warm_up(http, spoke, replies, spoke_run, "USW000", REGISTERED)
            await warm_up(http, echo, replies, echo_run, "UEW000", None)
            for number in range(1, rounds + 1):
                sides = [(spoke, spoke_run, "S", REGISTERED), (echo, echo_run, "E", None)]
                for server, run, prefix, expected in sides if number % 2 else sides[::-1]:
                    await timed_round(http, server, replies, run, user_ids(f"{prefix}{number}", users),
                                      f"R{number}", expected)
    finally:
        await replies.stop()
    return spoke_run, echo_run, replies.stray


# --- profile ---------------------------------------------------------------------------------

@dataclass
class Waits:
    """Seconds spent executing BEGIN IMMEDIATE (waiting for SQLite's write lock), by thread kind."""

    loop_thread: int
    on_loop: list[float] = field(default_factory=list)
    in_workers: list[float] = field(default_factory=list)

    def watch(self, engine: Any) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement == "BEGIN IMMEDIATE":
                conn.info["bench_begin"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement == "BEGIN IMMEDIATE" and "bench_begin" in conn.info:
                took = time.perf_counter() - conn.info.pop("bench_begin")
                on_loop = threading.get_ident() == self.loop_thread
                (self.on_loop if on_loop else self.in_workers).append(took)


class GcPauses:
    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))


def calls_to(stats: pstats.Stats, file_name: str, function: str) -> int:
    """Primitive calls of a function (coroutines count each resumption: use plain functions)."""
    return sum(row[0] for (filename, _line, name), row in stats.stats.items()  # type: ignore[attr-defined]
               if name == function and Path(filename).name == file_name)


def cumulative_s(stats: pstats.Stats, file_name: str, function: str) -> float:
    return sum(row[3] for (filename, _line, name), row in stats.stats.items()  # type: ignore[attr-defined]
               if name == function and Path(filename).name == file_name)


def busy_s(stats: pstats.Stats) -> float:
    """Self time of everything but waiting for work or I/O."""
    return sum(row[2] for (filename, _line, name), row in stats.stats.items()  # type: ignore[attr-defined]
               if not (filename == "~" and ("SimpleQueue" in name or "epoll" in name)))


def own_time_by_package(stats: pstats.Stats) -> str:
    """Self time summed per package (as bench/turns.py): Spoke's code, a library, or C."""
    totals: dict[str, float] = {}
    idle = 0.0
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~":
            if "SimpleQueue" in function or "epoll" in function:
                idle += row[2]  # a pool thread waiting for work, the loop waiting for I/O
                continue
            package = ("sqlite3 (C)" if "sqlite3" in function
                       else "lock waits (C)" if "acquire" in function
                       else "builtins (C)")
        else:
            parts = Path(filename).parts
            package = (parts[parts.index("site-packages") + 1] if "site-packages" in parts
                       else next((p for p in ("assistant", "dialogs", "storage", "adapters") if p in parts),
                                 "stdlib"))
        totals[package] = totals.get(package, 0.0) + row[2]
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:10]
    return (f"   self time {whole:.2f} s (besides {idle:.2f} s idle, waiting for work or I/O) by package: "
            + ", ".join(f"{name} {100 * s / whole:.0f}%" for name, s in ranked) + "\n")


def profile_in_process(workdir: Path, api: SlackApiMock, users: int, top: int) -> str:
    """cProfile of `build_web_app` (the app `spoke serve` runs: front door, Bolt, turns, outbox
    pump) in this process under `users` concurrent registrations. The server's event loop runs
    in the main thread and its turns in a profiled thread pool (asyncio's default size); the
    users run on their own loop in another thread, unprofiled, like the mock. Also times every
    BEGIN IMMEDIATE (the wait for SQLite's write lock) and the garbage collector's pauses."""
    import concurrent.futures
    import gc

    from adapters.slack.config import SlackSettings
    from adapters.web.server import build_web_app
    from assistant.bootstrap import build_app
    from assistant.config import Secret, Settings

    env = spoke_env(workdir, api.url)
    prepare_database(spoke_command(), env)
    settings = SlackSettings(bot_token=Secret(BOT_TOKEN), signing_secret=Secret(SIGNING_SECRET),
                             api_url=api.url, bot_user_id="UBOT")
    core = build_app(Settings(database_url=env["DATABASE_URL"], data_dir=workdir, secret_key=Secret("")))
    waits = Waits(threading.get_ident())
    gc_pauses = GcPauses()
    loop_profiler = cProfile.Profile(time.thread_time)  # CPU: waits are timed apart, below
    worker_profilers: list[cProfile.Profile] = []
    results: list[tuple[list[UserResult], float, int]] = []
    handler_s: list[float] = []
    lag_s: list[float] = []

    def profile_this_thread() -> None:
        profiler = cProfile.Profile(time.thread_time)
        worker_profilers.append(profiler)
        profiler.enable()

    def users_in_a_thread(base: str, names: Sequence[str], tag: str, done: asyncio.Event,
                          loop: asyncio.AbstractEventLoop) -> threading.Thread:
        async def run() -> None:
            replies = Replies(api)
            replies.start()
            try:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                    results.append(await drive(http, base, replies, names, tag, REGISTERED))
            finally:
                await replies.stop()
                loop.call_soon_threadsafe(done.set)

        thread = threading.Thread(target=asyncio.run, args=(run(),), name=f"users-{tag}")
        thread.start()
        return thread

    async def serve(names: Sequence[str], tag: str, profiled: bool) -> None:
        loop = asyncio.get_running_loop()
        if profiled:
            loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
                max_workers=min(32, (os.cpu_count() or 1) + 4), initializer=profile_this_thread))
        app, _serving = build_web_app(core, settings)
        if profiled:
            app.middlewares.append(time_handlers)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        done = asyncio.Event()
        if profiled:
            gc.callbacks.append(gc_pauses)
            probe = asyncio.create_task(probe_lag())
            loop_profiler.enable()
        thread = users_in_a_thread(f"http://{host}:{port}", names, tag, done, loop)
        try:
            await done.wait()
        finally:
            if profiled:
                loop_profiler.disable()
                gc.callbacks.remove(gc_pauses)
                probe.cancel()
            thread.join()
            await runner.cleanup()

    @web.middleware
    async def time_handlers(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            handler_s.append(time.perf_counter() - started)

    async def probe_lag() -> None:
        """How late a 1 ms sleep wakes up: the event loop blocked or busy for that long."""
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lag_s.append(time.perf_counter() - started - 0.001)

    try:
        # The warm-up (first imports, the city index, compiled statements) on its own loop and
        # thread pool; then the profiled run on fresh ones, so every worker thread is profiled.
        asyncio.run(serve(["UPW000"], "PW", profiled=False))
        waits.watch(core.store.engine)  # type: ignore[attr-defined]
        asyncio.run(serve(user_ids("P", users), "P", profiled=True))
    finally:
        core.close()

    out = io.StringIO()
    user_results, wall_s, finished = results[-1]
    events = sum(len(r.acks) for r in user_results)
    acks = Figures.of([a for r in user_results for a in r.acks])
    replies_ = Figures.of([a for r in user_results for a in r.replies])
    out.write(f"   {users} users at once, {events} events in {wall_s:.2f} s = {events / wall_s:.1f} events/s "
              f"(under the profiler); {finished} of {users} registered; ack p50/p99 {acks.p50_ms:.1f}/"
              f"{acks.p99_ms:.1f} ms, reply p50/p99 {replies_.p50_ms:.1f}/{replies_.p99_ms:.1f} ms\n")
    for where, samples in (("event-loop thread", waits.on_loop), ("worker threads", waits.in_workers)):
        f = Figures.of(samples)
        out.write(f"   BEGIN IMMEDIATE on the {where}: {f.count} transactions, wait p50 {f.p50_ms:.2f} ms, "
                  f"p99 {f.p99_ms:.2f} ms, max {f.max_ms:.2f} ms, total {sum(samples):.2f} s\n")
    handled, lag = Figures.of(handler_s), Figures.of(lag_s)
    out.write(f"   server side: the /slack/events handler (front door + Bolt until the ack) p50 "
              f"{handled.p50_ms:.2f} ms, p99 {handled.p99_ms:.2f} ms, max {handled.max_ms:.2f} ms; "
              f"event-loop lag (a 1 ms sleep's overshoot) p50 {lag.p50_ms:.2f} ms, p99 {lag.p99_ms:.2f} ms, "
              f"max {lag.max_ms:.2f} ms, {sum(1 for x in lag_s if x > 0.02)} stalls over 20 ms\n")
    loop_stats = pstats.Stats(loop_profiler, stream=out)
    claims, marked = (calls_to(loop_stats, "outbox.py", name) for name in ("claim", "sent"))
    out.write(f"   outbox pump: {claims} claims (one write transaction each) for {marked} messages, "
              f"each then posted alone and marked sent in a write transaction of its own, all on the "
              f"event-loop thread\n")
    full = [p for generation, p in gc_pauses.pauses if generation == 2]
    every = sum(p for _, p in gc_pauses.pauses)
    out.write(f"   garbage collector: {len(gc_pauses.pauses)} collections, {len(full)} of generation 2 "
              f"(max {max(full, default=0) * 1000:.1f} ms), all pauses {every * 1000:.0f} ms\n")
    worker_stats = pstats.Stats(*worker_profilers, stream=out) if worker_profilers else None  # type: ignore[arg-type]
    loop_cpu = busy_s(loop_stats)
    pump = cumulative_s(loop_stats, "outbox.py", "deliver_due")
    post = cumulative_s(loop_stats, "notifier.py", "_deliver")
    inbound = cumulative_s(loop_stats, "front_door.py", "handle")
    turns = cumulative_s(worker_stats, "turns.py", "handle_now") if worker_stats else 0.0
    worker_cpu = busy_s(worker_stats) if worker_stats else 0.0
    whole = (loop_cpu + worker_cpu) or 1.0
    per_event = 1000 / max(events, 1)
    other = loop_cpu - pump - inbound
    out.write(f"   CPU by stage (thread CPU time, inflated by the profiler; ms per event): outbox pump "
              f"{pump * per_event:.2f} ({100 * pump / whole:.0f}%: its sends {post * per_event:.2f}, its "
              f"transactions and the rest {(pump - post) * per_event:.2f}), turns in the pool "
              f"{turns * per_event:.2f} ({100 * turns / whole:.0f}%), inbound request to ack "
              f"{inbound * per_event:.2f} ({100 * inbound / whole:.0f}%), other event-loop work "
              f"{other * per_event:.2f} ({100 * other / whole:.0f}%: "
              f"listeners, users.info, aiohttp, the loop itself)\n")
    out.write("\n   The event-loop thread (aiohttp, front door, Bolt, outbox pump and its sends):\n")
    out.write(own_time_by_package(loop_stats))
    loop_stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    loop_stats.sort_stats("tottime").print_stats(top)
    if worker_stats is not None:
        out.write(f"\n   The {len(worker_profilers)} worker threads (turns, via asyncio.to_thread), "
                  "merged:\n")
        out.write(own_time_by_package(worker_stats))
        worker_stats.strip_dirs().sort_stats("cumulative").print_stats(top)
        worker_stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --- printing ---------------------------------------------------------------------------------

def print_header(users: int, rounds: int) -> None:
    print("Spoke over Slack's Events API on loopback (issue #4)")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"  Python {platform.python_version()} ({platform.python_implementation()}), "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({affinity} usable); "
          f"slack-bolt {version('slack-bolt')}, slack-sdk {version('slack-sdk')}, "
          f"aiohttp {version('aiohttp')}")
    print(f"  {users} simulated users per round, each in its own DM, {len(SCRIPT)} events per user "
          f"(the registration as typed); {rounds} rounds per app, alternating which goes first, "
          f"new users every round")
    print("  Each user waits for the app's chat.postMessage in its DM before its next answer; all "
          "users start together; one shared aiohttp session")
    print("  Spoke: `spoke serve` on a fresh SQLite file (db upgrade + demo seed); echo: "
          "bench/slack_echo.py (AsyncApp, signature verification on); each its own process")
    print("  The Slack Web API mock (tests/slack_mock.py) and the users share this process; timing "
          "starts once each server's RSS has settled (`spoke serve` builds its city index at start-up)")
    print(f"  Load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(f"  {'':<22}{'':<7}{'events':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'events/s':>10}")


def row(label: str, what: str, f: Figures, per_s: float | None = None) -> str:
    rate = f"{per_s:>10.1f}" if per_s is not None else ""
    return (f"  {label:<22}{what:<7}{f.count:>7}{f.p50_ms:>9.2f}{f.p95_ms:>9.2f}{f.p99_ms:>9.2f}"
            f"{f.max_ms:>9.2f}{rate}")


def print_run(run: Run) -> None:
    print(row(run.label, "ack", Figures.of(run.acks), run.per_s))
    print(row("", "reply", Figures.of(run.replies)))
    rates = ", ".join(f"{rate:.1f}" for rate in run.round_rates)
    print(f"  {'':<29}events/s by round: {rates}; {run.completed} of {run.users} users finished")
    print(f"  {'':<29}acks over {TARGET_ACK_P99_MS:.0f} ms: {run.slow_acks}, of which {run.slow_first_acks} "
          f"a user's first event (all users start together)")
    share = run.server_cpu_s / run.wall_s if run.wall_s else 0.0
    driver = run.driver_cpu_s / run.wall_s if run.wall_s else 0.0
    print(f"  {'':<29}server CPU {run.server_cpu_s:.2f} s = {100 * share:.0f}% of one core over the "
          f"timed rounds; users + mock process {100 * driver:.0f}%")
    for when, rss, peak in run.memory[-1:]:
        print(f"  {'':<29}server memory {when}: RSS {rss / 1024:.1f} MiB, peak (VmHWM) "
              f"{peak / 1024:.1f} MiB")
    for note in run.notes:
        print(f"  {'':<29}{note}")
    if run.failures:
        print(f"  {'':<29}WARNING: {len(run.failures)} users failed, e.g. {run.failures[0]}")
    if run.unread:
        print(f"  {'':<29}WARNING: {run.unread} replies beyond one per event; reply latency is off")


def print_memory(runs: Sequence[Run]) -> None:
    print()
    print("Server memory (/proc/PID/status):")
    for run in runs:
        for when, rss, peak in run.memory:
            print(f"  {run.label:<22}{when:<18} RSS {rss / 1024:6.1f} MiB   "
                  f"peak so far {peak / 1024:6.1f} MiB")


def yes(ok: bool) -> str:
    return "yes" if ok else "no"


def print_summary(spoke: Run, echo: Run) -> None:
    share = spoke.per_s / echo.per_s if echo.per_s else 0.0
    ack99, reply99 = Figures.of(spoke.acks).p99_ms, Figures.of(spoke.replies).p99_ms
    rss, peak = spoke.memory[-1][1:]
    print(f"Summary: Spoke {spoke.per_s:.1f} events/s = {100 * share:.0f}% of the echo's "
          f"{echo.per_s:.1f} (≥60%: {yes(share >= TARGET_SHARE)}) | ack p99 {ack99:.1f} ms "
          f"(<50 ms: {yes(ack99 < TARGET_ACK_P99_MS)}) | reply p99 {reply99:.1f} ms "
          f"(<150 ms: {yes(reply99 < TARGET_REPLY_P99_MS)}) | spoke serve RSS {rss / 1024:.1f} MiB, "
          f"peak {peak / 1024:.1f} MiB")


# --- the run ----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Spoke Slack HTTP benchmark (prints figures)")
    parser.add_argument("--users", type=int, default=50, help="concurrent users per round")
    parser.add_argument("--quick", action="store_true", help="10 users (smoke run)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds per app")
    parser.add_argument("--profile", type=int, default=0, metavar="USERS",
                        help="also cProfile this many registrations in-process (build_web_app)")
    args = parser.parse_args(argv)
    users = 10 if args.quick else args.users
    rounds = max(1, args.rounds)

    everyone = ["USW000", "UEW000", "UPW000", *user_ids("P", args.profile)]
    for number in range(1, rounds + 1):
        everyone += user_ids(f"S{number}", users) + user_ids(f"E{number}", users)
    mock = ThreadedSlackApiMock(users={user: slack_profile(user) for user in everyone})
    api = mock.start()
    spoke_cmd = spoke_command()
    print_header(users, rounds)
    with tempfile.TemporaryDirectory(prefix="spoke-bench-slack-") as tmp:
        workdir = Path(tmp)
        env = spoke_env(workdir, api.url)
        prepare_database(spoke_cmd, env)
        servers: list[Server] = []
        with open(workdir / "spoke.log", "w+b") as spoke_log, open(workdir / "echo.log", "w+b") as echo_log:
            try:
                spoke = Server("spoke serve", [spoke_cmd, "serve", "--host", "127.0.0.1", "--port", "0"],
                               env, spoke_log)
                servers.append(spoke)
                echo = Server("slack_echo.py", [sys.executable, str(BENCH / "slack_echo.py"), "--port", "0"],
                              env, echo_log)
                servers.append(echo)
                spoke_run, echo_run, stray = asyncio.run(measure(spoke, echo, api, users, rounds))
            finally:
                for server in servers:
                    server.stop()
            print_run(spoke_run)
            print_run(echo_run)
            if stray:
                print(f"  WARNING: {stray} chat.postMessage calls went to no simulated user's DM")
            for server in servers:
                errors = [line for line in server.log_tail(200).splitlines() if '"ERROR"' in line
                          or "Traceback" in line]
                if errors:
                    print(f"  WARNING: {server.label} logged {len(errors)} errors, e.g. {errors[0][:200]}")
        print_memory([spoke_run, echo_run])
        profile = ""
        if args.profile:
            profile_dir = workdir / "profile"
            profile_dir.mkdir()
            profile = profile_in_process(profile_dir, api, args.profile, 30)
    mock.stop()
    if profile:
        print()
        print(f"cProfile of build_web_app in this process, {args.profile} users registering at once "
              f"(after one untimed warm-up registration):")
        print(profile)
    print()
    print(f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"(other work on this machine shows up in every figure)")
    print_summary(spoke_run, echo_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
