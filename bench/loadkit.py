"""What the benchmarks share: figures, /proc readings, servers in their own process, simulated
users who wait for each reply, profiling helpers and printing.

The scripts in bench/ import it as `loadkit`: run as `python bench/NAME.py`, Python puts bench/
itself first on sys.path. Plain functions and dataclasses; each script keeps what is its own
(the platform's messages, its mocks, its figures beyond these).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import logging
import os
import platform
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Container, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    import cProfile
    import pstats

START_TIMEOUT_S = 60.0


# --- figures ----------------------------------------------------------------------------------

def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest sample with at least p% of the samples at or below it."""
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats creeping in
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
    sent: int = 0              # events (Slack) or activities (Teams) the users sent
    wall_s: float = 0.0
    round_rates: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    driver_cpu_s: float = 0.0
    users: int = 0
    completed: int = 0         # users whose last reply is what a finished script should get
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    memory: list[tuple[str, int, int]] = field(default_factory=list)  # (when, VmRSS, VmHWM) KiB
    unread: int = 0            # replies beyond one per message sent (would skew reply latency)

    @property
    def per_s(self) -> float:
        return self.sent / self.wall_s if self.wall_s else 0.0

    @property
    def by_round(self) -> str:
        """Each round's rate, one decimal each."""
        return ", ".join(f"{rate:.1f}" for rate in self.round_rates)

    @property
    def server_share(self) -> float:
        """The server's CPU over the timed rounds as a share of one core."""
        return self.server_cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def driver_share(self) -> float:
        """This process's (users and mocks) CPU over the timed rounds as a share of one core."""
        return self.driver_cpu_s / self.wall_s if self.wall_s else 0.0


# --- /proc ------------------------------------------------------------------------------------

def memory_kib(pid: int | str = "self") -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc (Linux): current and peak RSS."""
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


def _stat_cpu_s(path: str) -> float:
    """User + system CPU seconds from a /proc stat file."""
    with open(path, encoding="ascii") as stat:
        after_name = stat.read().rpartition(")")[2].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (its threads included)."""
    return _stat_cpu_s(f"/proc/{pid}/stat")


def thread_cpu_s(tid: int) -> float:
    """User + system CPU seconds of one thread of this process (/proc/self/task), 0 if gone."""
    try:
        return _stat_cpu_s(f"/proc/self/task/{tid}/stat")
    except FileNotFoundError:
        return 0.0


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- servers in their own process -------------------------------------------------------------

class Server:
    """A server in its own process that prints "... listening on http://HOST:PORT" once bound.
    As a context manager it stops the process on the way out."""

    def __init__(self, label: str, command: Sequence[str], env: Mapping[str, str], logs: IO[bytes]) -> None:
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

    def logged_errors(self, markers: Sequence[str]) -> list[str]:
        """Lines of the log's tail that hold any of `markers`."""
        return [line for line in self.log_tail(200).splitlines() if any(m in line for m in markers)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def spoke_command() -> str:
    beside = Path(sys.executable).parent / "spoke"
    if not beside.exists():
        raise SystemExit(f"no `spoke` beside {sys.executable} (pip install -e .)")
    return str(beside)


def prepare_database(spoke: str, env: Mapping[str, str]) -> None:
    """`spoke db upgrade` and `spoke demo seed` on the database `env` names."""
    for step in (["db", "upgrade"], ["demo", "seed"]):
        done = subprocess.run([spoke, *step], env=env, capture_output=True, text=True,  # noqa: S603
                              check=False, timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"spoke {' '.join(step)} failed: {done.stderr.strip()[-600:]}")


async def serve_until_stopped(app: web.Application, host: str, port: int) -> None:
    """Serves `app`, prints `Echo is listening on http://HOST:PORT` once bound (what Server
    waits for), then serves until SIGTERM/SIGINT."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0]
    print(f"Echo is listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def echo_main(description: str, serve: Callable[[str, int], Coroutine[Any, Any, None]],
              argv: Sequence[str] | None = None) -> int:
    """The command line of an echo baseline: --host, --port (0 picks a free port)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


# --- servers in this process ------------------------------------------------------------------

def serve_in_process(make_app: Callable[[], tuple[web.Application, Callable[[], None]]],
                     run_users: Callable[[str], Coroutine[Any, Any, Any]],
                     thread_initializer: Callable[[], None] | None = None,
                     on_loop: tuple[Callable[[], None], Callable[[], None]] | None = None) -> Any:
    """Serves an app on this thread's new event loop while `run_users(base_url)` runs on a loop
    of its own in another thread (as the mock does), so the server's loop does only its work.
    `make_app` gives the app and a hook to run once it has started; `thread_initializer` runs in
    each thread of the loop's default pool; `on_loop` (start, stop) runs around the users on the
    server's loop (cProfile). Returns what `run_users` returned."""
    outcome: list[Any] = []

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        if thread_initializer is not None:
            loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
                max_workers=min(32, (os.cpu_count() or 1) + 4), initializer=thread_initializer))
        app, started = make_app()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        started()
        host, port = runner.addresses[0][:2]
        done = asyncio.Event()

        def users() -> None:
            try:
                outcome.append(asyncio.run(run_users(f"http://{host}:{port}")))
            finally:
                loop.call_soon_threadsafe(done.set)

        if on_loop is not None:
            on_loop[0]()
        thread = threading.Thread(target=users, name="bench-users")
        thread.start()
        try:
            await done.wait()
        finally:
            if on_loop is not None:
                on_loop[1]()
            thread.join()
            await runner.cleanup()

    asyncio.run(serve())
    if not outcome:
        raise RuntimeError("the in-process users did not finish")
    return outcome[0]


# --- the simulated users ----------------------------------------------------------------------

class Reply(Protocol):
    """What a mock records of an app's reply: at least its arrival stamp (time.time())."""

    @property
    def at(self) -> float: ...


R = TypeVar("R", bound=Reply)


class Replies(Generic[R]):
    """Hands each reply a mock records to the user whose conversation it went to.

    `next_reply` waits for the mock's next one; `conversation_of_reply` and `conversation_of`
    (a user's) name the conversation. An async context manager: hands out replies inside."""

    def __init__(self, next_reply: Callable[[], Awaitable[R]], conversation_of_reply: Callable[[R], str],
                 conversation_of: Callable[[str], str]) -> None:
        self._next_reply = next_reply
        self._conversation_of_reply = conversation_of_reply
        self._conversation_of = conversation_of
        self._queues: dict[str, asyncio.Queue[R]] = {}
        self.stray = 0
        self._task: asyncio.Task[None] | None = None

    def queue(self, user: str) -> asyncio.Queue[R]:
        return self._queues.setdefault(self._conversation_of(user), asyncio.Queue())

    def unread(self, users: Sequence[str]) -> int:
        """Replies no answer waited for: more than one reply to some message."""
        return sum(self.queue(user).qsize() for user in users)

    async def _hand_out(self) -> None:
        while True:
            try:
                reply = await self._next_reply()
            except TimeoutError:
                continue
            queue = self._queues.get(self._conversation_of_reply(reply))
            if queue is None:
                self.stray += 1
            else:
                queue.put_nowait(reply)

    async def __aenter__(self) -> Replies[R]:
        self._task = asyncio.create_task(self._hand_out())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class UserResult:
    acks: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    last_text: str = ""
    failure: str = ""


RoundResult = tuple[list[UserResult], float, int]  # each user's result, wall seconds, finished


async def converse(http: aiohttp.ClientSession, url: str, texts: Sequence[str],
                   request: Callable[[int, str], tuple[bytes, Mapping[str, str]]],
                   inbox: asyncio.Queue[R], text_of: Callable[[R], str], *, accepted: Container[int],
                   reply_timeout_s: float) -> UserResult:
    """One person's conversation: send an answer, wait for the reply, send the next.
    `request(position, text)` gives the body and headers to POST to `url`."""
    result = UserResult()
    for position, text in enumerate(texts):
        body, headers = request(position, text)
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
        result.statuses.add(status)
        if status not in accepted:
            result.failure = f"HTTP {status} at answer {position + 1}"
            return result
        try:
            reply = await asyncio.wait_for(inbox.get(), reply_timeout_s)
        except TimeoutError:
            result.failure = f"no reply within {reply_timeout_s:.0f} s to answer {position + 1}"
            return result
        result.replies.append(reply.at - sent_at)
        result.last_text = text_of(reply)
    return result


def finished(result: UserResult, expected: str | None, last_answer: str) -> bool:
    """Whether a user's last reply holds `expected`; None (an echo): is its last answer itself."""
    if result.failure:
        return False
    return expected in result.last_text if expected is not None else result.last_text == last_answer


async def drive(users: Sequence[str], converse_one: Callable[[str], Awaitable[UserResult]],
                done: Callable[[str, UserResult], bool], one_at_a_time: bool = False) -> RoundResult:
    """All users at once (or one after the other); their results, the wall time, how many
    finished as expected."""
    started = time.perf_counter()
    if one_at_a_time:
        results = [await converse_one(user) for user in users]
    else:
        results = list(await asyncio.gather(*(converse_one(user) for user in users)))
    wall_s = time.perf_counter() - started
    return results, wall_s, sum(done(user, result) for user, result in zip(users, results, strict=True))


async def warm_up(run: Run, server: Server, conversation: Awaitable[RoundResult], what: str) -> None:
    """One full conversation, untimed (`what`: how many messages it was)."""
    results, wall_s, done = await conversation
    run.notes.append(f"warm-up: one user, {what}, {wall_s:.2f} s (untimed)")
    if not done:
        why = results[0].failure or f"last reply {results[0].last_text[:80]!r}"
        run.notes.append(f"WARNING: the warm-up did not finish as expected ({why})")
    run.memory.append(("after warm-up", *memory_kib(server.pid)))


async def timed_round(run: Run, server: Server, users: Sequence[str], conversations: Awaitable[RoundResult],
                      replies: Replies[Any]) -> list[UserResult]:
    """Adds one round to `run`: the server's and this process's CPU over `conversations`, the
    users' figures, extra replies and the server's memory after it. Returns the users' results."""
    cpu_before, own_before = cpu_s(server.pid), own_cpu_s()
    results, wall_s, done = await conversations
    run.server_cpu_s += cpu_s(server.pid) - cpu_before
    run.driver_cpu_s += own_cpu_s() - own_before
    sent = sum(len(r.acks) for r in results)
    run.sent += sent
    run.wall_s += wall_s
    run.round_rates.append(sent / wall_s)
    run.users += len(users)
    run.completed += done
    for result in results:
        run.acks += result.acks
        run.replies += result.replies
        if result.failure:
            run.failures.append(result.failure)
    await asyncio.sleep(0.2)  # a late extra reply, if any, reaches its queue
    run.unread += replies.unread(users)
    run.memory.append((f"after round {len(run.round_rates)}", *memory_kib(server.pid)))
    return results


S = TypeVar("S")


def alternating(rounds: int, first: S, second: S) -> list[tuple[int, S]]:
    """(round number, side) for `rounds` rounds each, alternating which side goes first, so load
    from other work on the machine lands on both sides."""
    return [(number, side) for number in range(1, rounds + 1)
            for side in ((first, second) if number % 2 else (second, first))]


# --- profiles ---------------------------------------------------------------------------------

class ThreadProfilers:
    """A thread pool's initializer that runs cProfile (thread CPU time) in each of its threads."""

    def __init__(self) -> None:
        self.profilers: list[cProfile.Profile] = []

    def __call__(self) -> None:
        import cProfile

        profiler = cProfile.Profile(time.thread_time)
        self.profilers.append(profiler)
        profiler.enable()

    def stats(self, stream: IO[str]) -> pstats.Stats | None:
        """Every thread's profile merged; None when no thread ran."""
        import pstats

        return pstats.Stats(*self.profilers, stream=stream) if self.profilers else None


def calls_to(stats: pstats.Stats, file_name: str, function: str) -> int:
    """Primitive calls of a function (coroutines count each resumption: use plain functions)."""
    return sum(row[0] for (filename, _line, name), row in stats.stats.items()  # type: ignore[attr-defined]
               if name == function and Path(filename).name == file_name)


def cumulative_s(stats: pstats.Stats, file_name: str, function: str) -> float:
    return sum(row[3] for (filename, _line, name), row in stats.stats.items()  # type: ignore[attr-defined]
               if name == function and Path(filename).name == file_name)


def _idle(name: str) -> bool:
    """A pool thread waiting for work, the loop waiting for I/O."""
    return "SimpleQueue" in name or "epoll" in name


def busy_s(stats: pstats.Stats) -> float:
    """Self time of everything but waiting for work or I/O."""
    return sum(row[2] for (filename, _line, name), row in stats.stats.items()  # type: ignore[attr-defined]
               if not (filename == "~" and _idle(name)))


# C functions by what their names hold: (package label, words); the rest count as builtins.
C_FUNCTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sqlite3 (C)", ("sqlite3",)), ("lock waits (C)", ("acquire",)))
C_IO_FUNCTIONS = (("ssl (C)", ("SSL", "ssl")), ("sockets (C)", ("socket",)))


def own_time_by_package(stats: pstats.Stats, packages: Sequence[str],
                        c_functions: Sequence[tuple[str, tuple[str, ...]]] = C_FUNCTIONS) -> str:
    """Self time summed per package (as bench/turns.py): Spoke's `packages`, a library, or C
    (named by the first of `c_functions` whose words the function's name holds)."""
    totals: dict[str, float] = {}
    idle = 0.0
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~":
            if _idle(function):
                idle += row[2]
                continue
            package = next((label for label, words in c_functions if any(w in function for w in words)),
                           "builtins (C)")
        else:
            parts = Path(filename).parts
            package = (parts[parts.index("site-packages") + 1] if "site-packages" in parts
                       else next((p for p in packages if p in parts), "stdlib"))
        totals[package] = totals.get(package, 0.0) + row[2]
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:10]
    return (f"   self time {whole:.2f} s (besides {idle:.2f} s idle, waiting for work or I/O) by package: "
            + ", ".join(f"{name} {100 * s / whole:.0f}%" for name, s in ranked) + "\n")


# --- printing ---------------------------------------------------------------------------------

def bench_parser(description: str, users: int, users_help: str, quick_help: str,
                 rounds: int | None = None) -> argparse.ArgumentParser:
    """The options every benchmark has: --users and --quick; --rounds when `rounds` (the default)
    is given. Its own options follow, then --profile (add_profile_option)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--users", type=int, default=users, help=users_help)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if rounds is not None:
        parser.add_argument("--rounds", type=int, default=rounds, help="timed rounds per app")
    return parser


def add_profile_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--profile", type=int, default=0, metavar="USERS", help=what)


def platform_line(libraries: str, usable_cpus: bool = True) -> str:
    """The header line naming the interpreter, the machine and `libraries`."""
    cpus = f"{os.cpu_count()} CPUs"
    if usable_cpus:
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        cpus += f" ({affinity} usable)"
    return (f"  Python {platform.python_version()} ({platform.python_implementation()}), "
            f"{platform.system()} {platform.machine()}, {cpus}; {libraries}")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def yes(ok: bool) -> str:
    return "yes" if ok else "no"


@dataclass(frozen=True)
class Table:
    """The columns of a latency table: label, what, count, p50/p95/p99/max ms, rate."""

    label_width: int
    count: str
    count_width: int
    rate: str
    rate_width: int

    def head(self) -> str:
        return (f"  {'':<{self.label_width}}{'':<7}{self.count:>{self.count_width}}{'p50 ms':>9}{'p95 ms':>9}"
                f"{'p99 ms':>9}{'max ms':>9}{self.rate:>{self.rate_width}}")

    def row(self, label: str, what: str, f: Figures, per_s: float | None = None) -> str:
        rate = f"{per_s:>{self.rate_width}.1f}" if per_s is not None else ""
        return (f"  {label:<{self.label_width}}{what:<7}{f.count:>{self.count_width}}{f.p50_ms:>9.2f}"
                f"{f.p95_ms:>9.2f}{f.p99_ms:>9.2f}{f.max_ms:>9.2f}{rate}")

    def print_run(self, run: Run, pad: str, finished_also: str = "") -> None:
        """A run's ack and reply rows, then its rate by round and how many users finished."""
        print(self.row(run.label, "ack", Figures.of(run.acks), run.per_s))
        print(self.row("", "reply", Figures.of(run.replies)))
        print(f"{pad}{self.rate} by round: {run.by_round}; {run.completed} of {run.users} users finished"
              f"{finished_also}")


def print_start(table: Table) -> None:
    """The end of a load benchmark's header: the load average now, then the table's head."""
    print(f"  Load average at the start: {load_average()}")
    print()
    print(table.head())


def run_notes(run: Run, pad: str, unit: str) -> list[str]:
    """The lines under a run's figures: its memory at the end, notes and warnings."""
    lines = [f"{pad}server memory {when}: RSS {rss / 1024:.1f} MiB, peak (VmHWM) {peak / 1024:.1f} MiB"
             for when, rss, peak in run.memory[-1:]]
    lines += [f"{pad}{note}" for note in run.notes]
    if run.failures:
        lines.append(f"{pad}WARNING: {len(run.failures)} users failed, e.g. {run.failures[0]}")
    if run.unread:
        lines.append(f"{pad}WARNING: {run.unread} replies beyond one per {unit}; reply latency is off")
    return lines


def final_memory(run: Run) -> str:
    """The server's memory after its last round, for the summary line."""
    _when, rss, peak = run.memory[-1]
    return f"RSS {rss / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB"


def print_memory(runs: Sequence[Run], label_width: int) -> None:
    print()
    print("Server memory (/proc/PID/status):")
    for run in runs:
        for when, rss, peak in run.memory:
            print(f"  {run.label:<{label_width}}{when:<18} RSS {rss / 1024:6.1f} MiB   "
                  f"peak so far {peak / 1024:6.1f} MiB")


def print_logged_errors(servers: Sequence[Server], markers: Sequence[str]) -> None:
    for server in servers:
        errors = server.logged_errors(markers)
        if errors:
            print(f"  WARNING: {server.label} logged {len(errors)} errors, e.g. {errors[0][:200]}")
