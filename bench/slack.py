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

import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import loadkit  # bench/, beside this script (Python puts a script's folder on sys.path)
from aiohttp import web
from loadkit import Figures, Replies, RoundResult, Run, Server, Table, UserResult, serve_in_process, yes

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
PACKAGES = ("assistant", "dialogs", "storage", "adapters")  # Spoke's own, in the profile


# --- figures ----------------------------------------------------------------------------------

@dataclass
class SlackRun(Run):
    slow_acks: int = 0         # acks over the target
    slow_first_acks: int = 0   # ... of which a user's first event (the round's opening burst)


# --- the servers ------------------------------------------------------------------------------

def spoke_env(workdir: Path, api_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'spoke.db'}",
            "SPOKE_DATA_DIR": str(workdir), "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api_url,
            "SLACK_BOT_USER_ID": "UBOT"}


# --- the simulated users ----------------------------------------------------------------------

def user_ids(prefix: str, count: int) -> list[str]:
    return [f"U{prefix}{n:03d}" for n in range(count)]


def slack_profile(user: str) -> dict[str, Any]:
    # Spoke offers the name and e-mail as suggestions (typing an answer wins); no `tz`, so the
    # time-zone question is asked plainly, as in a workspace whose profiles carry no zone.
    return {"real_name": "Amira Haddad", "email": f"{user.lower()}@nhs.example", "locale": "en-GB"}


def answers(user: str) -> list[str]:
    return [text.format(email=f"{user.lower()}@example.org") for text in SCRIPT]


def dm_replies(api: SlackApiMock) -> Replies[Call]:
    """Hands each chat.postMessage the mock records to the user whose DM it went to."""
    return Replies(lambda: api.next_call("chat.postMessage", timeout=3600),
                   lambda call: str(call.get("channel")), dm_channel_id)


async def converse(http: aiohttp.ClientSession, url: str, replies: Replies[Call], user: str, tag: str,
                   texts: Sequence[str]) -> UserResult:
    """One person's DM: send an answer, wait for the reply, send the next."""
    def signed(position: int, text: str) -> tuple[bytes, dict[str, str]]:
        body = json_body(dm_event(user, text, event_id=f"Ev{tag}{user}{position:02d}"))
        return body, slack_signed_headers(body, SIGNING_SECRET, int(time.time()))

    return await loadkit.converse(http, url, texts, signed, replies.queue(user),
                                  lambda call: str(call.get("text") or ""), accepted=(200,),
                                  reply_timeout_s=REPLY_TIMEOUT_S)


async def drive(http: aiohttp.ClientSession, base: str, replies: Replies[Call], users: Sequence[str],
                tag: str, expected: str | None) -> RoundResult:
    """All users at once; returns their results, the wall time and how many finished as expected.
    `expected` None: each user's last reply must echo its last message."""
    url = f"{base}/slack/events"
    return await loadkit.drive(users, lambda user: converse(http, url, replies, user, tag, answers(user)),
                               lambda user, result: loadkit.finished(result, expected, answers(user)[-1]))


async def timed_round(http: aiohttp.ClientSession, server: Server, replies: Replies[Call], run: SlackRun,
                      users: Sequence[str], tag: str, expected: str | None) -> None:
    conversations = drive(http, server.url, replies, users, tag, expected)
    results = await loadkit.timed_round(run, server, users, conversations, replies)
    for result in results:
        slow = [position for position, ack in enumerate(result.acks) if ack * 1000 > TARGET_ACK_P99_MS]
        run.slow_acks += len(slow)
        run.slow_first_acks += slow[:1] == [0]


async def measure(spoke: Server, echo: Server, api: SlackApiMock, users: int, rounds: int,
                  ) -> tuple[SlackRun, SlackRun, int]:
    spoke_run = SlackRun("Spoke (spoke serve)")
    echo_run = SlackRun("bare Bolt echo")
    spoke_run.memory.append(("idle after start", *loadkit.settled_memory_kib(spoke.pid)))
    echo_run.memory.append(("idle after start", *loadkit.settled_memory_kib(echo.pid)))
    connector = aiohttp.TCPConnector(limit=0)  # one connection per user in flight, as Slack would
    async with dm_replies(api) as replies, aiohttp.ClientSession(connector=connector) as http:
        # One full conversation each, untimed: first imports, compiled statements, the city index.
        events = f"{len(SCRIPT)} events"
        await loadkit.warm_up(spoke_run, spoke, drive(http, spoke.url, replies, ["USW000"], "W", REGISTERED),
                              events)
        await loadkit.warm_up(echo_run, echo, drive(http, echo.url, replies, ["UEW000"], "W", None), events)
        sides = ((spoke, spoke_run, "S", REGISTERED), (echo, echo_run, "E", None))
        for number, (server, run, prefix, expected) in loadkit.alternating(rounds, *sides):
            await timed_round(http, server, replies, run, user_ids(f"{prefix}{number}", users),
                              f"R{number}", expected)
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


def profile_in_process(workdir: Path, api: SlackApiMock, users: int, top: int) -> str:
    """cProfile of `build_web_app` (the app `spoke serve` runs: front door, Bolt, turns, outbox
    pump) in this process under `users` concurrent registrations. The server's event loop runs
    in the main thread and its turns in a profiled thread pool (asyncio's default size); the
    users run on their own loop in another thread, unprofiled, like the mock. Also times every
    BEGIN IMMEDIATE (the wait for SQLite's write lock) and the garbage collector's pauses."""
    import gc

    from adapters.slack.config import SlackSettings
    from adapters.web.server import build_web_app
    from assistant.bootstrap import build_app
    from assistant.config import Secret, Settings

    env = spoke_env(workdir, api.url)
    loadkit.prepare_database(loadkit.spoke_command(), env)
    settings = SlackSettings(bot_token=Secret(BOT_TOKEN), signing_secret=Secret(SIGNING_SECRET),
                             api_url=api.url, bot_user_id="UBOT")
    core = build_app(Settings(database_url=env["DATABASE_URL"], data_dir=workdir, secret_key=Secret("")))
    waits = Waits(threading.get_ident())  # serve_in_process runs the server's loop on this thread
    gc_pauses = GcPauses()
    loop_profiler = cProfile.Profile(time.thread_time)  # CPU: waits are timed apart, below
    workers = loadkit.ThreadProfilers()
    handler_s: list[float] = []
    lag_s: list[float] = []
    probes: list[asyncio.Task[None]] = []

    def users_of(names: Sequence[str], tag: str) -> Callable[[str], Coroutine[Any, Any, RoundResult]]:
        async def run(base: str) -> RoundResult:
            async with (dm_replies(api) as replies,
                        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http):
                return await drive(http, base, replies, names, tag, REGISTERED)
        return run

    def spoke_app(profiled: bool) -> Callable[[], tuple[web.Application, Callable[[], None]]]:
        def make() -> tuple[web.Application, Callable[[], None]]:
            app, _serving = build_web_app(core, settings)
            if profiled:
                app.middlewares.append(time_handlers)
            return app, lambda: None
        return make

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

    def start_profiling() -> None:
        gc.callbacks.append(gc_pauses)
        probes.append(asyncio.create_task(probe_lag()))
        loop_profiler.enable()

    def stop_profiling() -> None:
        loop_profiler.disable()
        gc.callbacks.remove(gc_pauses)
        probes.pop().cancel()

    try:
        # The warm-up (first imports, the city index, compiled statements) on its own loop and
        # thread pool; then the profiled run on fresh ones, so every worker thread is profiled.
        serve_in_process(spoke_app(False), users_of(["UPW000"], "PW"))
        waits.watch(core.store.engine)  # type: ignore[attr-defined]
        user_results, wall_s, registered = serve_in_process(
            spoke_app(True), users_of(user_ids("P", users), "P"), thread_initializer=workers,
            on_loop=(start_profiling, stop_profiling))
    finally:
        core.close()

    out = io.StringIO()
    events = sum(len(r.acks) for r in user_results)
    acks = Figures.of([a for r in user_results for a in r.acks])
    replies_ = Figures.of([a for r in user_results for a in r.replies])
    out.write(f"   {users} users at once, {events} events in {wall_s:.2f} s = {events / wall_s:.1f} events/s "
              f"(under the profiler); {registered} of {users} registered; ack p50/p99 {acks.p50_ms:.1f}/"
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
    claims, marked = (loadkit.calls_to(loop_stats, "outbox.py", name) for name in ("claim", "sent"))
    out.write(f"   outbox pump: {claims} claims (one write transaction each) for {marked} messages, "
              f"each then posted alone and marked sent in a write transaction of its own, all on the "
              f"event-loop thread\n")
    full = [p for generation, p in gc_pauses.pauses if generation == 2]
    every = sum(p for _, p in gc_pauses.pauses)
    out.write(f"   garbage collector: {len(gc_pauses.pauses)} collections, {len(full)} of generation 2 "
              f"(max {max(full, default=0) * 1000:.1f} ms), all pauses {every * 1000:.0f} ms\n")
    worker_stats = workers.stats(out)
    loop_cpu = loadkit.busy_s(loop_stats)
    pump = loadkit.cumulative_s(loop_stats, "outbox.py", "deliver_due")
    post = loadkit.cumulative_s(loop_stats, "notifier.py", "_deliver")
    inbound = loadkit.cumulative_s(loop_stats, "front_door.py", "handle")
    turns = loadkit.cumulative_s(worker_stats, "turns.py", "handle_now") if worker_stats else 0.0
    worker_cpu = loadkit.busy_s(worker_stats) if worker_stats else 0.0
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
    out.write(loadkit.own_time_by_package(loop_stats, PACKAGES))
    loop_stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    loop_stats.sort_stats("tottime").print_stats(top)
    if worker_stats is not None:
        out.write(f"\n   The {len(workers.profilers)} worker threads (turns, via asyncio.to_thread), "
                  "merged:\n")
        out.write(loadkit.own_time_by_package(worker_stats, PACKAGES))
        worker_stats.strip_dirs().sort_stats("cumulative").print_stats(top)
        worker_stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()




# --- printing ---------------------------------------------------------------------------------

TABLE = Table(label_width=22, count="events", count_width=7, rate="events/s", rate_width=10)
PAD = " " * 31  # under the table's label and what columns


def print_header(users: int, rounds: int) -> None:
    print("Spoke over Slack's Events API on loopback (issue #4)")
    print(loadkit.platform_line(f"slack-bolt {version('slack-bolt')}, slack-sdk {version('slack-sdk')}, "
                        f"aiohttp {version('aiohttp')}"))
    print(f"  {users} simulated users per round, each in its own DM, {len(SCRIPT)} events per user "
          f"(the registration as typed); {rounds} rounds per app, alternating which goes first, "
          f"new users every round")
    print("  Each user waits for the app's chat.postMessage in its DM before its next answer; all "
          "users start together; one shared aiohttp session")
    print("  Spoke: `spoke serve` on a fresh SQLite file (db upgrade + demo seed); echo: "
          "bench/slack_echo.py (AsyncApp, signature verification on); each its own process")
    print("  The Slack Web API mock (tests/slack_mock.py) and the users share this process; timing "
          "starts once each server's RSS has settled (`spoke serve` builds its city index at start-up)")
    loadkit.print_start(TABLE)


def print_run(run: SlackRun) -> None:
    TABLE.print_run(run, PAD)
    print(f"{PAD}acks over {TARGET_ACK_P99_MS:.0f} ms: {run.slow_acks}, of which {run.slow_first_acks} "
          f"a user's first event (all users start together)")
    print(f"{PAD}server CPU {run.server_cpu_s:.2f} s = {100 * run.server_share:.0f}% of one core over the "
          f"timed rounds; users + mock process {100 * run.driver_share:.0f}%")
    for line in loadkit.run_notes(run, PAD, "event"):
        print(line)


def print_summary(spoke: Run, echo: Run) -> None:
    share = spoke.per_s / echo.per_s if echo.per_s else 0.0
    ack99, reply99 = Figures.of(spoke.acks).p99_ms, Figures.of(spoke.replies).p99_ms
    print(f"Summary: Spoke {spoke.per_s:.1f} events/s = {100 * share:.0f}% of the echo's "
          f"{echo.per_s:.1f} (≥60%: {yes(share >= TARGET_SHARE)}) | ack p99 {ack99:.1f} ms "
          f"(<50 ms: {yes(ack99 < TARGET_ACK_P99_MS)}) | reply p99 {reply99:.1f} ms "
          f"(<150 ms: {yes(reply99 < TARGET_REPLY_P99_MS)}) | spoke serve {loadkit.final_memory(spoke)}")


# --- the run ----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = loadkit.bench_parser("Spoke Slack HTTP benchmark (prints figures)", 50,
                                  "concurrent users per round", "10 users (smoke run)", rounds=ROUNDS)
    loadkit.add_profile_option(parser, "also cProfile this many registrations in-process (build_web_app)")
    args = parser.parse_args(argv)
    users = 10 if args.quick else args.users
    rounds = max(1, args.rounds)

    everyone = ["USW000", "UEW000", "UPW000", *user_ids("P", args.profile)]
    for number in range(1, rounds + 1):
        everyone += user_ids(f"S{number}", users) + user_ids(f"E{number}", users)
    mock = ThreadedSlackApiMock(users={user: slack_profile(user) for user in everyone})
    api = mock.start()
    spoke_cmd = loadkit.spoke_command()
    print_header(users, rounds)
    with tempfile.TemporaryDirectory(prefix="spoke-bench-slack-") as tmp:
        workdir = Path(tmp)
        env = spoke_env(workdir, api.url)
        loadkit.prepare_database(spoke_cmd, env)
        with open(workdir / "spoke.log", "w+b") as spoke_log, open(workdir / "echo.log", "w+b") as echo_log:
            with (Server("spoke serve", [spoke_cmd, "serve", "--host", "127.0.0.1", "--port", "0"],
                         env, spoke_log) as spoke,
                  Server("slack_echo.py", [sys.executable, str(BENCH / "slack_echo.py"), "--port", "0"],
                         env, echo_log) as echo):
                spoke_run, echo_run, stray = asyncio.run(measure(spoke, echo, api, users, rounds))
            print_run(spoke_run)
            print_run(echo_run)
            if stray:
                print(f"  WARNING: {stray} chat.postMessage calls went to no simulated user's DM")
            loadkit.print_logged_errors([spoke, echo], ('"ERROR"', "Traceback"))
        loadkit.print_memory([spoke_run, echo_run], TABLE.label_width)
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
    print(f"Load average at the end: {loadkit.load_average()} "
          f"(other work on this machine shows up in every figure)")
    print_summary(spoke_run, echo_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
