"""`spoke serve` under Teams-shaped HTTP load on loopback, beside botbuilder's stock echo (issue #5).

    .venv/bin/python bench/teams.py              # 50 simulated users, about a minute
    .venv/bin/python bench/teams.py --quick      # smoke run: 10 users, about half a minute
    .venv/bin/python bench/teams.py --profile 50 # also cProfile 50 users in-process, both apps

Prints figures, asserts nothing. In one run on one machine, authentication on everywhere:

- `spoke serve` (the real command, its own process, port 0) on a fresh SQLite file migrated with
  `spoke db upgrade` and seeded with `spoke demo seed`, Teams configured (MICROSOFT_APP_ID/
  PASSWORD, MultiTenant, the test tenant allowed), its OpenID metadata and token endpoint
  pointed at the identity mock;
- beside it `bench/teams_echo.py`: botbuilder's stock `CloudAdapter` (botbuilder-integration-
  aiohttp 4.17.1, `ConfigurationBotFrameworkAuthentication`) and an `ActivityHandler` that sends
  each message's text back with `turn_context.send_activity`, on aiohttp in its own process;
- the local Bot Framework of the tests (`tests/teams_mock.py`) in a thread of this process:
  `BotFrameworkIdentity` over https (stock botbuilder fetches keys with `requests` and gets its
  token from MSAL, both need https; the throwaway CA goes to the echo as REQUESTS_CA_BUNDLE and
  to `spoke serve` as SSL_CERT_FILE) and `BotConnectorMock`, which both apps reply to;
- the simulated users: asyncio tasks sharing one aiohttp session, each its own AAD object id
  (the tenant is allowed) in its own personal chat, the connector knowing each as a member.

Each user types the registration in the personal chat, one activity each (`personal_message`,
unique ids), with a channel token minted for that one activity beforehand (RS256, the
connector's serviceUrl), and waits for the app's activity in its conversation at the connector
before the next answer. Both apps get the same users, the same messages and the same waiting;
they take turns in ROUNDS rounds (alternating who goes first), new users every round. Before
timing, each server's RSS must stop growing, then one untimed conversation each warms it up
(keys and bot token fetched, first imports, the city index, compiled statements).

- ack: client-side, from sending the HTTP request to reading the whole response (perf_counter);
- reply: from just before sending (time.time()) to the connector mock's arrival stamp of the
  activity posted into that conversation (`ConnectorCall.at`, time.time() in this process);
- activities/s: activities sent over the wall time of the round(s), first send to last reply;
- CPU: the server's user+system seconds over the timed rounds (/proc/PID/stat) as a share of one
  core; RSS: VmRSS and VmHWM from /proc/PID/status; identity mock: token requests, key and
  metadata fetches each server made during the timed rounds.

Then the adapter overhead, in this process, one activity at a time (no queueing in the figures),
after a warm-up conversation: `build_web_app` (what `spoke serve` serves) with timing wrappers
on the Teams front door (the whole `POST /api/messages` handler; the token check; the member
lookup; translate), the turn (`TurnHandler.handle`) and the outbound send (render + POST to the
connector). Adapter overhead per activity = the front door's wall time minus the turn's. Then
the same app under --users at once, for a CPU budget per activity under load: each server
thread's CPU (/proc/self/task: the event loop's, the pool's) and the wrapped parts of it (token
check, translate, render, turns, outbox transactions; thread CPU time, exact for code that does
not await). The stock echo likewise, one at a time: `CloudAdapter.process` minus the bot's
`on_turn`, and `send_activity`.
In-process Spoke reads keys and its token from a plain-http twin of the identity mock (same
keys and app; aiohttp fixed its CA list when this process imported it): both cached anyway.

`--profile N` then runs both in-process apps under N users at once with cProfile on the event-
loop thread (and, for Spoke, each thread of its pool).

Targets (issue #5, on 2 cores): Spoke at least 4x the stock echo's activities/s, reply p99 under
250 ms, adapter overhead per activity well under 2 ms; report `spoke serve`'s memory.
"""

from __future__ import annotations

import asyncio
import contextvars
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
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

from tests.teams_activities import (  # noqa: E402
    DEFAULT_APP_ID,
    DEFAULT_TENANT,
    personal_conversation_id,
    personal_message,
    teams_user_id,
)
from tests.teams_mock import (  # noqa: E402
    DEFAULT_APP_PASSWORD,
    BotConnectorMock,
    BotFrameworkIdentity,
    ConnectorCall,
    ServerThread,
    local_ca,
)

APP_ID, APP_PASSWORD, TENANT = DEFAULT_APP_ID, DEFAULT_APP_PASSWORD, DEFAULT_TENANT
USER_NAME = "Ama Mensah"
# The registration as typed in the personal chat, one activity per answer (checked by a dry run:
# "1" picks Register, the first role, the first care setting, English and "I agree"; "2" is
# Care Homes ECHO among the seeded networks). {email} is per user.
SCRIPT: tuple[str, ...] = (
    "hello", "1", USER_NAME, "{email}", "1", "Korle Bu Hospice", "1", "EH6", "Scotland", "Glasgow",
    "yes", "1", "2", "1", "yes",
)
REGISTERED = "You're registered"
TARGET_RATIO, TARGET_REPLY_P99_MS, TARGET_OVERHEAD_MS = 4.0, 250.0, 2.0
ROUNDS = 2           # each app runs this many rounds, alternating which goes first
REPLY_TIMEOUT_S = 60.0
PACKAGES = ("assistant", "dialogs", "storage", "adapters", "bench")  # ours, in the profile


# --- figures ----------------------------------------------------------------------------------

@dataclass
class TeamsRun(Run):
    statuses: set[int] = field(default_factory=set)
    identity_calls: dict[str, int] = field(default_factory=dict)  # token, keys, metadata
    connector_calls: dict[str, int] = field(default_factory=dict)  # by kind


# --- the servers ------------------------------------------------------------------------------

def spoke_env(workdir: Path, identity: BotFrameworkIdentity) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SPOKE_TEAMS_"))}
    return {**env, "DATABASE_URL": f"sqlite:///{workdir / 'spoke.db'}", "SPOKE_DATA_DIR": str(workdir),
            "MICROSOFT_APP_ID": APP_ID, "MICROSOFT_APP_PASSWORD": APP_PASSWORD,
            "MICROSOFT_APP_TYPE": "MultiTenant", "SPOKE_TEAMS_ALLOWED_TENANTS": TENANT,
            "SPOKE_TEAMS_OPENID_METADATA_URL": identity.openid_metadata_url,
            "SPOKE_TEAMS_TOKEN_URL": identity.token_url,
            # aiohttp (Spoke's one session) trusts SSL_CERT_FILE: the mock's throwaway CA.
            "SSL_CERT_FILE": local_ca().ca_bundle}


def echo_env(identity: BotFrameworkIdentity) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SPOKE_"))}
    return {**env, "MICROSOFT_APP_ID": APP_ID, "MICROSOFT_APP_PASSWORD": APP_PASSWORD,
            "MICROSOFT_APP_TYPE": "MultiTenant",
            "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": identity.openid_metadata_url,
            "TO_CHANNEL_FROM_BOT_LOGIN_URL": identity.adfs_authority,  # MSAL: https, no discovery
            "REQUESTS_CA_BUNDLE": local_ca().ca_bundle}  # requests trusts only this


# --- the simulated users ----------------------------------------------------------------------

def user_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:03d}" for n in range(count)]


def aad_of(user: str) -> str:
    """Each simulated user's own Azure AD object id (a GUID), stable per name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://spoke.example/bench/teams/{user}"))


def conversation_of(user: str) -> str:
    return personal_conversation_id(teams_user_id(aad_of(user)), APP_ID)


def answers(user: str) -> list[str]:
    return [text.format(email=f"ama.{user.lower()}@example.org") for text in SCRIPT]


def add_members(connector: BotConnectorMock, users: Sequence[str]) -> None:
    """The connector knows each user (Spoke looks the member up once, for the e-mail it offers)."""
    for user in users:
        connector.add_user(aad_of(user), name=USER_NAME, email=f"{user.lower()}@nhs.example",
                           userPrincipalName=f"{user.lower()}@nhs.example", tenantId=TENANT)


def mint_tokens(identity: BotFrameworkIdentity, service_url: str, users: Sequence[str]
                ) -> dict[str, list[str]]:
    """One channel token per activity, minted before the clock starts (RS256 signing costs about
    0.5 ms, which would otherwise load the users' process): no server can reuse a check."""
    return {user: [f"Bearer {identity.mint(service_url=service_url)}" for _ in SCRIPT] for user in users}


def reply_text(call: ConnectorCall) -> str:
    """What the person reads: the text, or the Adaptive Card's JSON."""
    text = str(call.get("text") or "")
    cards = call.get("attachments") or []
    return text + (json.dumps(cards, ensure_ascii=False) if cards else "")


def connector_replies(connector: BotConnectorMock) -> Replies[ConnectorCall]:
    """Hands each activity the connector mock accepts to the user whose conversation it went to."""
    return Replies(lambda: connector.next_activity(timeout=3600), lambda call: str(call.conversation_id),
                   conversation_of)


async def converse(http: aiohttp.ClientSession, url: str, service_url: str, replies: Replies[ConnectorCall],
                   user: str, tokens: Sequence[str]) -> UserResult:
    """One person's personal chat: send an answer, wait for the reply, send the next."""
    aad = aad_of(user)

    def posted(position: int, text: str) -> tuple[bytes, dict[str, str]]:
        activity = personal_message(text, service_url=service_url, user_aad=aad, user_name=USER_NAME)
        return json.dumps(activity).encode(), {"Authorization": tokens[position],
                                               "Content-Type": "application/json; charset=utf-8"}

    return await loadkit.converse(http, url, answers(user), posted, replies.queue(user), reply_text,
                                  accepted=(200, 201, 202), reply_timeout_s=REPLY_TIMEOUT_S)


async def drive(http: aiohttp.ClientSession, base: str, service_url: str, replies: Replies[ConnectorCall],
                users: Sequence[str], tokens: dict[str, list[str]], expected: str | None,
                one_at_a_time: bool = False) -> RoundResult:
    """All users at once (or one after the other); their results, the wall time, how many
    finished as expected. `expected` None: the echo's last reply must be the last message itself."""
    url = f"{base}/api/messages"
    return await loadkit.drive(
        users, lambda user: converse(http, url, service_url, replies, user, tokens[user]),
        lambda user, result: loadkit.finished(result, expected, answers(user)[-1]), one_at_a_time)


def identity_counts(identity: BotFrameworkIdentity) -> dict[str, int]:
    return {"token": len(identity.token_requests), "keys": identity.key_fetches,
            "metadata": identity.metadata_fetches}


def connector_counts(connector: BotConnectorMock) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in connector.calls():
        counts[call.kind] = counts.get(call.kind, 0) + 1
    return counts


def add_counts(total: dict[str, int], after: dict[str, int], before: dict[str, int]) -> None:
    for key in after.keys() | before.keys():
        total[key] = total.get(key, 0) + after.get(key, 0) - before.get(key, 0)


@dataclass
class Mocks:
    identity: BotFrameworkIdentity       # https: both servers
    twin: BotFrameworkIdentity           # http, same keys and app: in-process Spoke
    connector: BotConnectorMock


def conversations(http: aiohttp.ClientSession, server: Server, mocks: Mocks, replies: Replies[ConnectorCall],
                  users: Sequence[str], expected: str | None) -> Awaitable[RoundResult]:
    """The users' conversations with `server`, their tokens minted now, before the clock starts."""
    tokens = mint_tokens(mocks.identity, mocks.connector.service_url, users)
    return drive(http, server.url, mocks.connector.service_url, replies, users, tokens, expected)


async def timed_round(http: aiohttp.ClientSession, server: Server, mocks: Mocks,
                      replies: Replies[ConnectorCall], run: TeamsRun, users: Sequence[str],
                      expected: str | None) -> None:
    talks = conversations(http, server, mocks, replies, users, expected)
    idents, calls = identity_counts(mocks.identity), connector_counts(mocks.connector)

    async def counted() -> RoundResult:
        """The conversations, and what the server asked of the mocks meanwhile."""
        outcome = await talks
        add_counts(run.identity_calls, identity_counts(mocks.identity), idents)
        add_counts(run.connector_calls, connector_counts(mocks.connector), calls)
        return outcome

    for result in await loadkit.timed_round(run, server, users, counted(), replies):
        run.statuses |= result.statuses


async def measure(spoke: Server, echo: Server, mocks: Mocks, users: int, rounds: int
                  ) -> tuple[TeamsRun, TeamsRun, int]:
    spoke_run = TeamsRun("Spoke (spoke serve)")
    echo_run = TeamsRun("stock CloudAdapter echo")
    spoke_run.memory.append(("idle after start", *loadkit.settled_memory_kib(spoke.pid)))
    echo_run.memory.append(("idle after start", *loadkit.settled_memory_kib(echo.pid)))
    connector = aiohttp.TCPConnector(limit=0)  # one connection per user in flight
    async with (connector_replies(mocks.connector) as replies,
                aiohttp.ClientSession(connector=connector) as http):
        # One full conversation each, untimed: keys and token fetched, first imports, the city index.
        activities = f"{len(SCRIPT)} activities"
        await loadkit.warm_up(spoke_run, spoke,
                              conversations(http, spoke, mocks, replies, ["SW000"], REGISTERED), activities)
        await loadkit.warm_up(echo_run, echo, conversations(http, echo, mocks, replies, ["EW000"], None),
                              activities)
        sides = ((spoke, spoke_run, "S", REGISTERED), (echo, echo_run, "E", None))
        for number, (server, run, prefix, expected) in loadkit.alternating(rounds, *sides):
            await timed_round(http, server, mocks, replies, run, user_names(f"{prefix}{number}", users),
                              expected)
    return spoke_run, echo_run, replies.stray


# --- adapter overhead, in this process ----------------------------------------------------------

_REQUEST: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("bench_request",
                                                                                  default=None)


@dataclass
class Stages:
    """Wall and thread-CPU seconds per wrapped call, and per request the stages inside it."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    requests: list[dict[str, float]] = field(default_factory=list)

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.wall.setdefault(name, []).append(wall)
        self.cpu.setdefault(name, []).append(cpu)
        current = _REQUEST.get()
        if current is not None:
            current[name] = current.get(name, 0.0) + wall
            current[f"{name} cpu"] = current.get(f"{name} cpu", 0.0) + cpu

    def clear(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.requests.clear()

    def timed(self, name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """Wraps a coroutine function. CPU is this thread's (time.thread_time): the event loop's."""
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return await function(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - wall, time.thread_time() - cpu)
        return wrapper

    def timed_sync(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - wall, time.thread_time() - cpu)
        return wrapper

    def request(self, name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """The outermost wrapper: one record per request with every stage timed inside it."""
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            record: dict[str, float] = {}
            token = _REQUEST.set(record)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return await function(*args, **kwargs)
            finally:
                record[name] = time.perf_counter() - wall
                record[f"{name} cpu"] = time.thread_time() - cpu
                _REQUEST.reset(token)
                self.requests.append(record)
        return wrapper

    def per_request(self, name: str, minus: str = "", cpu: bool = False) -> list[float]:
        suffix = " cpu" if cpu else ""
        return [r[name + suffix] - (r.get(minus + suffix, 0.0) if minus else 0.0)
                for r in self.requests if name + suffix in r]


def users_runner(mocks: Mocks, identity: BotFrameworkIdentity, phases: Sequence[tuple[Sequence[str], bool]],
                 expected: str | None, between: Callable[[int], None] = lambda _phase: None
                 ) -> Callable[[str], Coroutine[Any, Any, list[RoundResult]]]:
    """Users in phases: (names, one at a time?); `between(phase)` runs once each phase is over
    and its last send's bookkeeping has settled (to set the warm-up's samples apart)."""
    async def run(base: str) -> list[RoundResult]:
        out = []
        async with (connector_replies(mocks.connector) as replies,
                    aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http):
            for number, (names, sequential) in enumerate(phases):
                tokens = mint_tokens(identity, mocks.connector.service_url, names)
                out.append(await drive(http, base, mocks.connector.service_url, replies, names, tokens,
                                       expected, one_at_a_time=sequential))
                await asyncio.sleep(0.3)  # the last send's bookkeeping settles
                between(number)
        return out
    return run


@dataclass
class Overhead:
    label: str
    rows: list[tuple[str, list[float], list[float]]]  # (what, wall samples, loop-thread CPU samples)
    inbound: list[float]                 # adapter overhead per activity (wall)
    notes: list[str] = field(default_factory=list)
    inbound_cached: list[float] = field(default_factory=list)  # Spoke: no member GET in the request


def teams_settings(identity: BotFrameworkIdentity) -> Any:
    from adapters.teams.config import TeamsSettings
    from assistant.config import Secret

    return TeamsSettings(app_id=APP_ID, app_password=Secret(APP_PASSWORD), app_type="MultiTenant",
                         allowed_tenants=frozenset({TENANT}),
                         openid_metadata_url=identity.openid_metadata_url, token_url=identity.token_url)


def spoke_in_process(workdir: Path, mocks: Mocks, names: Sequence[str], warm_user: str,
                     load_names: Sequence[str]) -> Overhead:
    """`build_web_app` with Teams, timing wrappers on the front door, the turn, the send and the
    outbox's transactions: first one activity at a time (the table), then `load_names` at once
    (the CPU budget under load, per thread: the event loop's and the pool's)."""
    import adapters.teams.front_door as front_door_module
    import adapters.teams.notifier as notifier_module
    from adapters.web.server import build_web_app
    from assistant.bootstrap import build_app
    from assistant.config import Secret, Settings

    env = spoke_env(workdir, mocks.twin)
    loadkit.prepare_database(loadkit.spoke_command(), env)
    settings = teams_settings(mocks.twin)
    core = build_app(Settings(database_url=env["DATABASE_URL"], data_dir=workdir, secret_key=Secret("")))
    stages = Stages()
    originals = (front_door_module.translate, front_door_module.hints_from, notifier_module.render)
    loop_tid = threading.get_native_id()  # serve_in_process runs the server's loop on this thread
    pool_tids: list[int] = []
    snapshots: list[Stages] = []
    marks: list[tuple[float, dict[int, float]]] = []

    def between(_phase: int) -> None:
        snapshots.append(Stages(dict(stages.wall), dict(stages.cpu), list(stages.requests)))
        stages.clear()
        marks.append((loadkit.thread_cpu_s(loop_tid), {tid: loadkit.thread_cpu_s(tid) for tid in pool_tids}))

    def make_app() -> tuple[web.Application, Callable[[], None]]:
        app, serving = build_web_app(core, None, settings)

        def started() -> None:  # serving.teams exists once the app has started
            teams = serving.teams
            assert teams is not None
            door = teams.front_door
            door.handle = stages.request("front door", door.handle)  # type: ignore[method-assign]
            auth, profiles = door._auth, door._profiles  # a bench's timing wrappers
            assert auth is not None
            auth.check = stages.timed("token check", auth.check)  # type: ignore[method-assign]
            profiles.member = stages.timed("member lookup", profiles.member)  # type: ignore[method-assign]
            connector = profiles._connector  # the Connector GET on a cache miss
            assert connector is not None
            connector.member = stages.timed("member GET", connector.member)  # type: ignore[method-assign]
            core.turns.handle = stages.timed("turn", core.turns.handle)  # type: ignore[method-assign]
            # The turn's own CPU, in its pool thread; the outbox's transactions, likewise.
            core.turns.handle_now = stages.timed_sync(  # type: ignore[method-assign]
                "turn in the pool", core.turns.handle_now)
            sender = serving.sender
            assert sender is not None
            sender._claim = stages.timed_sync("outbox claim", sender._claim)  # type: ignore[method-assign]
            sender._record = stages.timed_sync("outbox record", sender._record)  # type: ignore[method-assign]
            teams.notifier.send = stages.timed("send", teams.notifier.send)  # type: ignore[method-assign]
            front_door_module.translate = stages.timed_sync("translate", originals[0])
            front_door_module.hints_from = stages.timed_sync("hints", originals[1])
            notifier_module.render = stages.timed_sync("render", originals[2])

        return app, started

    before = identity_counts(mocks.twin)
    try:
        phases = [([warm_user], True), (names, True), (load_names, False)]
        results = serve_in_process(make_app, users_runner(mocks, mocks.twin, phases, REGISTERED,
                                                          between=between),
                                   thread_initializer=lambda: pool_tids.append(threading.get_native_id()))
    finally:
        front_door_module.translate, front_door_module.hints_from, notifier_module.render = originals
        core.close()
    fetched = identity_counts(mocks.twin)
    seq, load = snapshots[1], snapshots[2]
    _, wall_s, done = results[1]
    activities = len(seq.requests)
    notes = [f"{activities} activities one at a time in {wall_s:.2f} s, {done} of {len(names)} registered; "
             f"identity mock during the whole run, warm-up included: {fetched['token'] - before['token']} "
             f"token requests, {fetched['keys'] - before['keys']} key fetches"]
    rows = [
        ("front door, whole handler", seq.per_request("front door"), seq.per_request("front door", cpu=True)),
        ("  token check", seq.wall.get("token check", []), seq.cpu.get("token check", [])),
        ("  member lookup", seq.wall.get("member lookup", []), seq.cpu.get("member lookup", [])),
        ("    of which GET member", seq.wall.get("member GET", []), seq.cpu.get("member GET", [])),
        ("  translate + hints", [a + b for a, b in zip(seq.wall.get("translate", []),
                                                       seq.wall.get("hints", []), strict=False)],
         [a + b for a, b in zip(seq.cpu.get("translate", []), seq.cpu.get("hints", []), strict=False)]),
        ("  the turn (CPU: in the pool)", seq.per_request("turn"), seq.cpu.get("turn in the pool", [])),
        ("outside the turn", seq.per_request("front door", "turn"),
         seq.per_request("front door", "turn", cpu=True)),
        ("send (render + POST)", seq.wall.get("send", []), seq.cpu.get("send", [])),
        ("  render", seq.wall.get("render", []), seq.cpu.get("render", [])),
    ]

    # Under load: each thread's CPU over the phase, and the part of it the wrappers account for.
    _, load_wall_s, load_done = results[2]
    load_activities = max(1, len(load.requests))
    loop_ms = 1000 * (marks[2][0] - marks[1][0]) / load_activities
    pool_s = sum(cpu - marks[1][1].get(tid, 0.0) for tid, cpu in marks[2][1].items())
    pool_ms = 1000 * pool_s / load_activities

    def ms(stages_: Stages, *names_: str) -> float:
        return 1000 * sum(sum(stages_.cpu.get(name, [])) for name in names_) / load_activities

    claims = len(load.cpu.get("outbox claim", []))
    outside = Figures.of(load.per_request("front door", "turn"))
    notes.append(
        f"under load, {len(load_names)} users at once: {len(load.requests)} activities in "
        f"{load_wall_s:.2f} s = {len(load.requests) / load_wall_s:.0f}/s in this process (users and mocks "
        f"share its GIL), "
        f"{load_done} registered; front door outside the turn (queueing included) p50 {outside.p50_ms:.2f}, "
        f"p99 {outside.p99_ms:.2f} ms")
    notes.append(
        f"  server CPU per activity under load: event-loop thread {loop_ms:.2f} ms (token check "
        f"{ms(load, 'token check'):.2f}, translate + hints {ms(load, 'translate', 'hints'):.2f}, render "
        f"{ms(load, 'render'):.2f}; the rest is aiohttp serving and sending, the member lookups, the outbox "
        f"pump, asyncio) + pool threads {pool_ms:.2f} ms (turns {ms(load, 'turn in the pool'):.2f}, outbox "
        f"claim + record {ms(load, 'outbox claim', 'outbox record'):.2f} in {claims} claims) = "
        f"{loop_ms + pool_ms:.2f} ms")
    cached = [r["front door"] - r.get("turn", 0.0) for r in seq.requests if "member GET" not in r]
    return Overhead("Spoke (build_web_app)", rows, seq.per_request("front door", "turn"), notes, cached)


def echo_in_process(mocks: Mocks, names: Sequence[str], warm_user: str) -> Overhead:
    """bench/teams_echo.py's CloudAdapter and bot, with timing wrappers around `process`, the
    bot's `on_turn` and `send_activity`."""
    import teams_echo  # bench/, beside this script
    from botbuilder.core import TurnContext

    config = teams_echo.Config.from_env(echo_env(mocks.identity))
    adapter, _ = teams_echo.build(config)
    stages = Stages()

    class TimedEcho(teams_echo.EchoBot):
        async def on_turn(self, turn_context: TurnContext) -> None:
            await stages.timed("on_turn", super().on_turn)(turn_context)

        async def on_message_activity(self, turn_context: TurnContext) -> None:
            send = stages.timed("send", turn_context.send_activity)
            await send(turn_context.activity.text or "…")

    def make_app() -> tuple[web.Application, Callable[[], None]]:
        bot = TimedEcho()
        timed_process = stages.request("process", adapter.process)

        async def messages(request: web.Request) -> web.StreamResponse:
            response = await timed_process(request, bot)
            return response if response is not None else web.Response(status=201)

        app = web.Application()
        app.router.add_post("/api/messages", messages)
        return app, lambda: None

    before = identity_counts(mocks.identity)
    phases = [([warm_user], True), (names, True)]
    def between(phase: int) -> None:
        if phase == 0:
            stages.clear()  # the warm-up's samples

    results = serve_in_process(make_app, users_runner(mocks, mocks.identity, phases, None, between=between))
    _, wall_s, done = results[-1]
    activities = len(stages.requests)
    fetched = identity_counts(mocks.identity)
    notes = [f"{activities} activities one at a time in {wall_s:.2f} s, {done} of {len(names)} echoed; "
             f"identity mock during the whole phase, warm-up included: {fetched['token'] - before['token']} "
             f"token requests, {fetched['keys'] - before['keys']} key fetches, "
             f"{fetched['metadata'] - before['metadata']} metadata fetches"]
    rows = [
        ("CloudAdapter.process, whole", stages.per_request("process"),
         stages.per_request("process", cpu=True)),
        ("  the bot's on_turn", stages.per_request("on_turn"), stages.per_request("on_turn", cpu=True)),
        ("outside on_turn", stages.per_request("process", "on_turn"),
         stages.per_request("process", "on_turn", cpu=True)),
        ("send_activity (token + POST)", stages.wall.get("send", []), stages.cpu.get("send", [])),
    ]
    return Overhead("stock CloudAdapter echo", rows, stages.per_request("process", "on_turn"), notes)


# --- profile ---------------------------------------------------------------------------------

def own_time_by_package(stats: pstats.Stats) -> str:
    """Self time per package, TLS and sockets apart (the stock echo fetches keys and tokens over https)."""
    return loadkit.own_time_by_package(stats, PACKAGES, loadkit.C_FUNCTIONS + loadkit.C_IO_FUNCTIONS)


def profile_in_process(workdir: Path, mocks: Mocks, users: int, top: int) -> str:
    """cProfile of both apps in this process under `users` registrations at once: Spoke's
    `build_web_app` (event-loop thread and every pool thread) and the stock echo (its loop)."""
    import teams_echo

    from adapters.web.server import build_web_app
    from assistant.bootstrap import build_app
    from assistant.config import Secret, Settings

    out = io.StringIO()

    def summary(label: str, results: list[RoundResult], names: Sequence[str]) -> None:
        user_results, wall_s, done = results[-1]
        activities = sum(len(r.acks) for r in user_results)
        acks = Figures.of([a for r in user_results for a in r.acks])
        replies = Figures.of([a for r in user_results for a in r.replies])
        out.write(f"   {label}: {len(names)} users at once, {activities} activities in {wall_s:.2f} s = "
                  f"{activities / wall_s:.1f}/s (under the profiler); {done} of {len(names)} finished; "
                  f"ack p50/p99 {acks.p50_ms:.1f}/{acks.p99_ms:.1f} ms, reply p50/p99 "
                  f"{replies.p50_ms:.1f}/{replies.p99_ms:.1f} ms\n")

    # Spoke.
    env = spoke_env(workdir, mocks.twin)
    loadkit.prepare_database(loadkit.spoke_command(), env)
    settings = teams_settings(mocks.twin)
    core = build_app(Settings(database_url=env["DATABASE_URL"], data_dir=workdir, secret_key=Secret("")))
    loop_profiler = cProfile.Profile(time.thread_time)
    workers = loadkit.ThreadProfilers()

    def spoke_app() -> tuple[web.Application, Callable[[], None]]:
        return build_web_app(core, None, settings)[0], lambda: None

    names = user_names("PS", users)
    try:
        # The warm-up on its own loop and pool; then the profiled run on fresh ones.
        serve_in_process(spoke_app, users_runner(mocks, mocks.twin, [(["PSW000"], True)], REGISTERED))
        results = serve_in_process(spoke_app, users_runner(mocks, mocks.twin, [(names, False)], REGISTERED),
                                   thread_initializer=workers,
                                   on_loop=(loop_profiler.enable, loop_profiler.disable))
    finally:
        core.close()
    summary("Spoke", results, names)
    loop_stats = pstats.Stats(loop_profiler, stream=out)
    worker_stats = workers.stats(out)
    activities = max(1, sum(len(r.acks) for r in results[-1][0]))
    per = 1000 / activities
    loop_cpu, worker_cpu = loadkit.busy_s(loop_stats), loadkit.busy_s(worker_stats) if worker_stats else 0.0
    door = loadkit.cumulative_s(loop_stats, "front_door.py", "handle")
    turn_wait = loadkit.cumulative_s(loop_stats, "turns.py", "handle")
    check = loadkit.cumulative_s(loop_stats, "auth.py", "check")
    translate = loadkit.cumulative_s(loop_stats, "translate.py", "translate")
    send = loadkit.cumulative_s(loop_stats, "notifier.py", "send")
    turns = loadkit.cumulative_s(worker_stats, "turns.py", "handle_now") if worker_stats else 0.0
    out.write(f"   Spoke CPU per activity (thread CPU time, inflated by the profiler): event loop "
              f"{loop_cpu * per:.2f} ms (front door outside the turn {(door - turn_wait) * per:.2f}: token "
              f"check {check * per:.2f}, translate {translate * per:.2f}; Teams sends {send * per:.2f}; the "
              f"rest is aiohttp, the outbox pump, asyncio), pool threads {worker_cpu * per:.2f} ms (turns "
              f"{turns * per:.2f})\n")
    out.write("\n   Spoke's event-loop thread (aiohttp, front door, outbox pump and its sends):\n")
    out.write(own_time_by_package(loop_stats))
    loop_stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    loop_stats.print_callees(r"front_door.py:\d+\(_process\)|\(translate\)|auth.py:\d+\(check\)")
    if worker_stats is not None:
        out.write(f"\n   Spoke's {len(workers.profilers)} pool threads (turns and database work), merged:\n")
        out.write(own_time_by_package(worker_stats))
        worker_stats.strip_dirs().sort_stats("cumulative").print_stats(top)

    # The stock echo: everything runs on its event loop.
    adapter, bot = teams_echo.build(teams_echo.Config.from_env(echo_env(mocks.identity)))
    echo_profiler = cProfile.Profile(time.thread_time)
    names = user_names("PE", users)
    serve_in_process(lambda: (teams_echo.web_app(adapter, bot), lambda: None),
                     users_runner(mocks, mocks.identity, [(["PEW000"], True)], None))
    results = serve_in_process(lambda: (teams_echo.web_app(adapter, bot), lambda: None),
                               users_runner(mocks, mocks.identity, [(names, False)], None),
                               on_loop=(echo_profiler.enable, echo_profiler.disable))
    summary("stock echo", results, names)
    echo_stats = pstats.Stats(echo_profiler, stream=out)
    activities = max(1, sum(len(r.acks) for r in results[-1][0]))
    per = 1000 / activities
    parameterized = "_parameterized_bot_framework_authentication.py"
    auth = loadkit.cumulative_s(echo_stats, parameterized, "authenticate_request")
    user_tokens = loadkit.cumulative_s(echo_stats, parameterized, "create_user_token_client")
    factory = loadkit.cumulative_s(echo_stats, "_connector_factory_impl.py", "create")
    msal_app = loadkit.cumulative_s(echo_stats, "microsoft_app_credentials.py", "__get_msal_app")
    token = loadkit.cumulative_s(echo_stats, "microsoft_app_credentials.py", "get_access_token")
    busy = loadkit.busy_s(echo_stats)
    out.write(f"   stock echo CPU per activity (thread CPU time, inflated by the profiler): event loop "
              f"{busy * per:.2f} ms: authenticate_request {auth * per:.2f}, a new connector "
              f"client and credentials {factory * per:.2f}, a new user-token client {user_tokens * per:.2f}; "
              f"in send_activity the MSAL token {token * per:.2f} (of which building a new MSAL application, "
              f"with its tenant discovery, {msal_app * per:.2f}), all blocking the event loop\n")
    out.write("\n   The stock echo's event-loop thread:\n")
    out.write(own_time_by_package(echo_stats))
    echo_stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    echo_stats.print_callees(r"\(process_activity\)")
    return out.getvalue()


# --- printing ---------------------------------------------------------------------------------

TABLE = Table(label_width=26, count="activities", count_width=11, rate="activities/s", rate_width=14)
PAD = " " * 33


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def print_header(users: int, rounds: int) -> None:
    print("Spoke over Microsoft Teams (Bot Framework) on loopback (issue #5)")
    libraries = ", ".join(f"{name} {package_version(name)}" for name in (
        "botbuilder-core", "botbuilder-integration-aiohttp", "botframework-connector", "PyJWT", "aiohttp"))
    print(loadkit.platform_line(libraries))
    print(f"  {users} simulated users per round, each its own AAD object id in its own personal chat, "
          f"{len(SCRIPT)} activities per user (the registration as typed); {rounds} rounds per app, "
          f"alternating which goes first, new users every round")
    print("  Authentication on: every activity carries its own RS256 channel token (minted before the clock "
          "starts); each user waits for the app's activity at the connector before its next answer; all "
          "users start together; one shared aiohttp session")
    print("  Spoke: `spoke serve` on a fresh SQLite file (db upgrade + demo seed), Teams only; echo: "
          "bench/teams_echo.py (stock CloudAdapter + ActivityHandler); each its own process")
    print("  The identity mock (https) and connector mock (tests/teams_mock.py) and the users share this "
          "process; timing starts once each server's RSS has settled and one conversation has warmed it up")
    loadkit.print_start(TABLE)


def print_run(run: TeamsRun) -> None:
    TABLE.print_run(run, PAD, f"; HTTP {'/'.join(str(s) for s in sorted(run.statuses))}")
    per_activity = 1000 * run.server_cpu_s / run.sent if run.sent else 0.0
    print(f"{PAD}server CPU {run.server_cpu_s:.2f} s = {100 * run.server_share:.0f}% of one core over the "
          f"timed rounds ({per_activity:.2f} ms per activity); users + mocks process "
          f"{100 * run.driver_share:.0f}%")
    ids, calls = run.identity_calls, run.connector_calls
    per = 1 / run.sent if run.sent else 0.0
    print(f"{PAD}identity mock: {ids.get('token', 0)} token requests ({ids.get('token', 0) * per:.2f} per "
          f"activity), {ids.get('keys', 0)} key and {ids.get('metadata', 0)} metadata fetches; connector: "
          + ", ".join(f"{n} {kind}" for kind, n in sorted(calls.items())))
    for line in loadkit.run_notes(run, PAD, "activity"):
        print(line)


def print_overhead(overheads: Sequence[Overhead]) -> None:
    print()
    print("Adapter overhead, in this process, one activity at a time after a warm-up conversation "
          "(wall ms; CPU = the event-loop thread's):")
    print(f"  {'':<26}{'':<31}{'n':>5}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'CPU p50':>9}{'CPU p99':>9}")
    for overhead in overheads:
        for number, (what, wall, cpu) in enumerate(overhead.rows):
            f, c = Figures.of(wall), Figures.of(cpu) if cpu else None
            cpu_cells = f"{c.p50_ms:>9.3f}{c.p99_ms:>9.3f}" if c else f"{'':>9}{'':>9}"
            print(f"  {overhead.label if number == 0 else '':<26}{what:<31}{f.count:>5}{f.p50_ms:>8.3f}"
                  f"{f.p95_ms:>8.3f}{f.p99_ms:>8.3f}{f.max_ms:>8.3f}{cpu_cells}")
        for note in overhead.notes:
            print(f"  {'':<26}{note}")


def print_summary(spoke: Run, echo: Run, spoke_overhead: Overhead, echo_overhead: Overhead) -> None:
    ratio = spoke.per_s / echo.per_s if echo.per_s else 0.0
    reply99 = Figures.of(spoke.replies).p99_ms
    overhead, stock = Figures.of(spoke_overhead.inbound), Figures.of(echo_overhead.inbound)
    cached = Figures.of(spoke_overhead.inbound_cached)
    print(f"Summary: Spoke {spoke.per_s:.1f} activities/s = {ratio:.1f}x the stock echo's {echo.per_s:.1f} "
          f"(≥4x: {yes(ratio >= TARGET_RATIO)}) | reply p99 {reply99:.1f} ms (<250 ms: "
          f"{yes(reply99 < TARGET_REPLY_P99_MS)}) | adapter overhead per activity (front door outside the "
          f"turn) p50 {overhead.p50_ms:.2f} ms, p99 {overhead.p99_ms:.2f} ms (<2 ms: "
          f"{yes(overhead.p99_ms < TARGET_OVERHEAD_MS)}); without each person's first activity (member "
          f"GET) p50 {cached.p50_ms:.2f}, p99 {cached.p99_ms:.2f} ms; stock CloudAdapter outside on_turn "
          f"p50 {stock.p50_ms:.2f}, p99 {stock.p99_ms:.2f} ms | spoke serve {loadkit.final_memory(spoke)}")


# --- the run ----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = loadkit.bench_parser("Spoke Teams HTTP benchmark (prints figures)", 50,
                                  "concurrent users per round", "10 users, 5 for the overhead (smoke run)",
                                  rounds=ROUNDS)
    parser.add_argument("--overhead-users", type=int, default=0, metavar="USERS",
                        help="users (15 activities each) for the in-process overhead (default 20, quick 5)")
    loadkit.add_profile_option(parser, "also cProfile this many registrations at once in-process, both apps")
    args = parser.parse_args(argv)
    users = 10 if args.quick else args.users
    rounds = max(1, args.rounds)
    overhead_users = args.overhead_users or (5 if args.quick else 20)

    everyone = ["SW000", "EW000", "OSW000", "OEW000", "PSW000", "PEW000",
                *user_names("OS", overhead_users), *user_names("OE", overhead_users),
                *user_names("OL", users),
                *user_names("PS", args.profile), *user_names("PE", args.profile)]
    for number in range(1, rounds + 1):
        everyone += user_names(f"S{number}", users) + user_names(f"E{number}", users)
    identity = BotFrameworkIdentity(https=True)
    mocks = Mocks(identity, BotFrameworkIdentity(), BotConnectorMock(identity))
    add_members(mocks.connector, everyone)
    threaded = ServerThread(mocks.identity, mocks.twin, mocks.connector)
    threaded.start()
    # For the in-process stock echo: requests (its key fetch, MSAL) trusts only this.
    os.environ["REQUESTS_CA_BUNDLE"] = local_ca().ca_bundle
    spoke_cmd = loadkit.spoke_command()
    print_header(users, rounds)
    try:
        with tempfile.TemporaryDirectory(prefix="spoke-bench-teams-") as tmp:
            workdir = Path(tmp)
            env = spoke_env(workdir, mocks.identity)
            loadkit.prepare_database(spoke_cmd, env)
            with (open(workdir / "spoke.log", "w+b") as spoke_log,
                  open(workdir / "echo.log", "w+b") as echo_log):
                with (Server("spoke serve", [spoke_cmd, "serve", "--host", "127.0.0.1", "--port", "0"],
                             env, spoke_log) as spoke,
                      Server("teams_echo.py", [sys.executable, str(BENCH / "teams_echo.py"), "--port", "0"],
                             echo_env(mocks.identity), echo_log) as echo):
                    spoke_run, echo_run, stray = asyncio.run(measure(spoke, echo, mocks, users, rounds))
                print_run(spoke_run)
                print_run(echo_run)
                if stray:
                    print(f"  WARNING: {stray} activities went to no simulated user's conversation")
                loadkit.print_logged_errors([spoke, echo], ('"ERROR"', "Traceback", "turn failed"))
            loadkit.print_memory([spoke_run, echo_run], TABLE.label_width)
            (workdir / "overhead").mkdir()
            spoke_overhead = spoke_in_process(workdir / "overhead", mocks, user_names("OS", overhead_users),
                                              "OSW000", user_names("OL", users))
            echo_overhead = echo_in_process(mocks, user_names("OE", overhead_users), "OEW000")
            print_overhead([spoke_overhead, echo_overhead])
            profile = ""
            if args.profile:
                (workdir / "profile").mkdir()
                profile = profile_in_process(workdir / "profile", mocks, args.profile, 30)
    finally:
        threaded.stop()
    if profile:
        print()
        print(f"cProfile in this process, {args.profile} users registering at once (after one untimed "
              f"warm-up conversation each):")
        print(profile)
    print()
    print(f"Load average at the end: {loadkit.load_average()} "
          f"(other work on this machine shows up in every figure)")
    print_summary(spoke_run, echo_run, spoke_overhead, echo_overhead)
    return 0


if __name__ == "__main__":
    sys.exit(main())
