"""PostgreSQL stopped and started under `spoke serve` while people write to it on Slack and
Teams: during the outage requests are answered 503 (and /healthz too), and once it is back
the redelivered events are processed; everyone gets one reply per message, none lost, none
twice, also after the server is restarted.

The suite's PostgreSQL server is shared with other tests, so this one runs a private cluster
(initdb into a temporary directory, its own port and socket), found as .ci/postgres.sh finds
the binaries. The platforms are played by this test: a request answered 503 is delivered
again (the same Slack event id with X-Slack-Retry-Num, the same Teams activity id), as Slack
and Teams do, and a person who gets no answer within a second writes again.

Slack users write throughout, so the server is stopped mid-load: a Slack event acknowledged
just as the database went down is held and retried by the server (adapters/slack/app.py), and
a Slack post whose outcome could not be recorded is found in the DM's history when its row is
retaken (the last test shows that case on its own). Teams users write their first message
before the outage and the rest during and after it; the outage starts once their replies are
recorded sent, because a Teams post sent but not recorded would be posted twice when retaken
(at least once: the Bot Connector cannot be asked what was posted; test_platform_outage.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from adapters.slack.notifier import SlackNotifier
from assistant.clock import FakeClock, SystemClock
from assistant.demo import seed
from assistant.messages import Outgoing, Reply, Text
from assistant.outbox import OutboxPump, Sender
from assistant.ports import SendResult, Unavailable, UnitOfWork
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from tests.faults.support import TICK_SECONDS, start_serve, trouble
from tests.slack_fixtures import AMIRA, SIGNING_SECRET
from tests.slack_mock import SlackApiMock
from tests.slack_signing import (
    JSON,
    TEAM_ID,
    dm_channel_id,
    dm_event,
    json_body,
    slack_signed_headers,
)
from tests.teams_activities import (
    DEFAULT_APP_ID,
    DEFAULT_TENANT,
    personal_conversation_id,
    personal_message,
    teams_user_id,
)
from tests.teams_mock import DEFAULT_APP_PASSWORD, BotConnectorMock, BotFrameworkIdentity

pytestmark = pytest.mark.slow

REQUIRE_POSTGRES = os.environ.get("SPOKE_REQUIRE_POSTGRES") == "1"
SLACK_USERS = [f"U0DB{n}" for n in range(4)]
TEAMS_USERS = [f"0000000{n}-0000-4000-8000-0000000db0db" for n in range(3)]
SLACK_SAYS = ["hello", "help", "hello", "help", "hello"]
TEAMS_SAYS = ["hello", "help", "hello", "help"]
REDELIVER_AFTER = 0.3    # seconds before the platform delivers a refused request again
REDELIVERIES = 200       # a minute of them at most
REPLY_DEADLINE = 30.0    # seconds for a reply, outage included
PATIENCE = 1.0           # seconds a writer waits for an answer before writing again anyway


# ---------------------------------------------------------------------------------- PostgreSQL


def server_binaries() -> Path | None:
    """SPOKE_PG_BIN (set by .ci/postgres.sh), or the newest /usr/lib/postgresql/*/bin with
    the server tools, as that script looks for them."""
    wanted = ("initdb", "pg_ctl", "postgres")
    candidates = [Path(os.environ["SPOKE_PG_BIN"])] if os.environ.get("SPOKE_PG_BIN") else []
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin")
             if all((d / tool).is_file() for tool in wanted)]
    candidates += sorted(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
                         reverse=True)
    return next((d for d in candidates if all((d / tool).is_file() for tool in wanted)), None)


def cluster_owner() -> str | None:
    """Who runs the server: us, or (PostgreSQL refuses to run as root) SPOKE_PG_USER or the
    CI script's `spokeci`, through runuser. None when we are root and neither exists."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    for name in (os.environ.get("SPOKE_PG_USER"), "spokeci"):
        if name and shutil.which("runuser"):
            try:
                pwd.getpwnam(name)
            except KeyError:
                continue
            return name
    return None


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster of this test's own, on 127.0.0.1 and a socket in its
    directory."""

    binaries: Path
    home: Path
    owner: str
    port: int = 0

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://spoke@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(command, cwd=self.home, capture_output=True, text=True,
                              timeout=60, check=False)
        log = self.home / "postgres.log"
        assert done.returncode == 0, (command, done.stdout, done.stderr,
                                      log.read_text()[-3000:] if log.exists() else "")

    def create(self) -> None:
        (self.home / "sock").mkdir()
        if os.geteuid() == 0:
            for path in (self.home, self.home / "sock"):
                shutil.chown(path, self.owner)
        self.run("initdb", "-D", str(self.data), "-U", "spoke", "--auth=trust", "--no-sync",
                 "--encoding=UTF8", "--locale=C")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.home / 'sock'}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.home / "postgres.log"),
                 "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    binaries, owner = server_binaries(), cluster_owner()
    if binaries is None or owner is None:
        reason = ("PostgreSQL server binaries not found (SPOKE_PG_BIN, /usr/lib/postgresql/*/bin)"
                  if binaries is None else "running as root, with no SPOKE_PG_USER or spokeci to "
                                           "run PostgreSQL as")
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    # Not tmp_path: its parents may be closed to the server's user, and a socket path must
    # stay short.
    cluster = Cluster(binaries, Path(tempfile.mkdtemp(prefix="spoke-pg-outage-")), owner)
    try:
        cluster.create()
        cluster.start()
        yield cluster
    finally:
        if cluster.running:
            cluster.stop("immediate")
        shutil.rmtree(cluster.home, ignore_errors=True)


@pytest.fixture
def database_url(cluster: Cluster) -> str:
    """A migrated database with the demo networks. Not storage.scratch: its pooled admin
    connection would not survive the restart, and the whole cluster goes afterwards."""
    admin = create_engine(cluster.admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "spoke_outage"'))
    finally:
        admin.dispose()
    url = cluster.admin_url.rpartition("/")[0] + "/spoke_outage"
    upgrade(url)
    store = SqlStore(make_engine(url))
    try:
        seed(store, SystemClock().now())
    finally:
        store.close()
    return url


# ---------------------------------------------------------------------------------- platforms


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[SlackApiMock, BotFrameworkIdentity, BotConnectorMock]]:
    slack = SlackApiMock()
    for user in SLACK_USERS:
        slack.add_user(user, real_name=f"Writer {user}", tz="Europe/London")
    await slack.start()
    async with BotFrameworkIdentity() as identity, BotConnectorMock(identity) as connector:
        for aad in TEAMS_USERS:
            connector.add_user(aad, name=f"Writer {aad[:8]}", email=f"{aad[:8]}@example.org")
        yield slack, identity, connector
    await slack.stop()


@dataclass
class Traffic:
    """What the platforms were answered, and whether the server's /healthz said 503."""

    answers: dict[str, list[int]] = field(default_factory=lambda: {"slack": [], "teams": []})
    health: list[int] = field(default_factory=list)
    in_outage: bool = False
    during_outage: Counter[tuple[str, int]] = field(default_factory=Counter)

    def answered(self, platform: str, status: int) -> None:
        self.answers[platform].append(status)
        if self.in_outage:
            self.during_outage[platform, status] += 1


async def deliver(platform: str, post: Callable[[int], Awaitable[int]], traffic: Traffic) -> None:
    """Deliver one event as the platform does: again, after a while, until answered 200."""
    for attempt in range(REDELIVERIES):
        status = await post(attempt)
        traffic.answered(platform, status)
        if status == 200:
            return
        assert status == 503, f"{platform} answered {status}"
        await asyncio.sleep(REDELIVER_AFTER)
    raise AssertionError(f"{platform}: still refused after {REDELIVERIES} deliveries")


async def until(condition: Callable[[], bool], what: str, seconds: float = REPLY_DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, f"no {what} within {seconds}s"
        await asyncio.sleep(0.02)


async def replied(answers: Callable[[], int], before: int) -> None:
    """Until the chat holds more than `before` answers, or the writer's patience runs out
    (someone who gets no answer writes again)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(until(lambda: answers() > before, "an answer"), PATIENCE)


async def slack_user(http: aiohttp.ClientSession, base: str, api: SlackApiMock, user: str,
                     traffic: Traffic) -> None:
    """Writes in the app's DM, each message once the last was answered (or a second
    after it was sent, if no answer came)."""
    for n, words in enumerate(SLACK_SAYS):
        body = json_body(dm_event(user, words, event_id=f"EvDbOutage{user}{n}"))

        async def post(attempt: int, body: bytes = body) -> int:
            headers = slack_signed_headers(body, SIGNING_SECRET, int(time.time()), JSON,
                                           retry_num=attempt or None)
            async with http.post(f"{base}/slack/events", data=body, headers=headers) as response:
                await response.read()
                return response.status

        await deliver("slack", post, traffic)
        await replied(lambda: len(api.posted(dm_channel_id(user))), n)


async def teams_user(http: aiohttp.ClientSession, base: str, identity: BotFrameworkIdentity,
                     connector: BotConnectorMock, aad: str, traffic: Traffic,
                     outage_ready: asyncio.Event) -> None:
    """Writes in the bot's personal chat: the first message before the outage, the rest
    from when it starts."""
    conversation = personal_conversation_id(teams_user_id(aad))
    for n, words in enumerate(TEAMS_SAYS):
        if n == 1:
            await outage_ready.wait()
        activity = personal_message(words, user_aad=aad, service_url=connector.service_url)

        async def post(_: int, activity: dict[str, Any] = activity) -> int:
            headers = {"Content-Type": "application/json", **identity.authorization(activity)}
            async with http.post(f"{base}/api/messages", json=activity,
                                 headers=headers) as response:
                await response.read()
                return response.status

        await deliver("teams", post, traffic)
        await replied(lambda: len(connector.activities(conversation)), n)


# ---------------------------------------------------------------------------------- the test


async def test_a_database_restart_mid_load_answers_503_then_loses_and_repeats_nothing(
        cluster: Cluster, database_url: str,
        platforms: tuple[SlackApiMock, BotFrameworkIdentity, BotConnectorMock],
        tmp_path: Path) -> None:
    """Then the server is restarted, as an orchestrator would after /healthz failed: a reply
    posted as the database went down, whose outcome could not be recorded, is not posted
    again by the new server."""
    slack, identity, connector = platforms
    settings = {
        "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
        "MICROSOFT_APP_ID": DEFAULT_APP_ID, "MICROSOFT_APP_PASSWORD": DEFAULT_APP_PASSWORD,
        "SPOKE_TEAMS_OPENID_METADATA_URL": identity.openid_metadata_url,
        "SPOKE_TEAMS_TOKEN_URL": identity.token_url, "SPOKE_TEAMS_ALLOWED_TENANTS": DEFAULT_TENANT}
    traffic = Traffic()
    outage_ready = asyncio.Event()
    servers = [await start_serve("outage", tmp_path, settings)]
    try:
        base = servers[0][1]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            writers = [asyncio.create_task(slack_user(http, base, slack, user, traffic))
                       for user in SLACK_USERS]
            writers += [asyncio.create_task(teams_user(http, base, identity, connector, aad,
                                                       traffic, outage_ready))
                        for aad in TEAMS_USERS]
            try:
                await outage(cluster, http, base, database_url, slack, connector, traffic,
                             outage_ready)
                await asyncio.wait_for(asyncio.gather(*writers), timeout=REPLY_DEADLINE)
                await until(lambda: all(len(slack.posted(dm_channel_id(u))) >= len(SLACK_SAYS)
                                        for u in SLACK_USERS)
                            and len(connector.activities()) >= len(TEAMS_USERS) * len(TEAMS_SAYS),
                            "every answer")
            finally:
                for writer in writers:
                    writer.cancel()
                await asyncio.gather(*writers, return_exceptions=True)
                if not cluster.running:
                    await asyncio.to_thread(cluster.start)  # for a clean shutdown
        assert await stop(servers[0][0]) == 0
        servers.append(await start_serve("restarted", tmp_path, settings))
        await all_sent(database_url, "%", "every row sent")
        # Two ticks more: nothing else is sent.
        posted, activities = len(slack.posted()), len(connector.activities())
        await asyncio.sleep(2 * TICK_SECONDS)
        assert (len(slack.posted()), len(connector.activities())) == (posted, activities)
    finally:
        codes = [await stop(process) for process, _ in servers]

    # During the outage both platforms were told 503 (never 500), and so was /healthz.
    assert traffic.during_outage["slack", 503] and traffic.during_outage["teams", 503], (
        traffic.during_outage)
    assert set(traffic.answers["slack"]) | set(traffic.answers["teams"]) == {200, 503}
    assert 503 in traffic.health and traffic.health[-1] == 200
    check_one_reply_per_message(database_url, slack, connector)
    for name in ("outage", "restarted"):  # an outage is a warning, not an error
        assert not trouble(tmp_path / f"serve-{name}.err"), name
    assert codes[-1] == 0


async def stop(process: asyncio.subprocess.Process) -> int | None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        except TimeoutError:
            process.kill()
            await process.wait()
    return process.returncode


async def outage(cluster: Cluster, http: aiohttp.ClientSession, base: str, url: str,
                 slack: SlackApiMock, connector: BotConnectorMock, traffic: Traffic,
                 outage_ready: asyncio.Event) -> None:
    """Stop PostgreSQL once everyone has had a first answer (and the Teams ones are recorded
    sent), keep it down until both platforms have been told 503, then start it again."""
    await until(lambda: all(slack.posted(dm_channel_id(u)) for u in SLACK_USERS)
                and len(connector.activities()) == len(TEAMS_USERS), "first answers")
    await all_sent(url, "teams:%", "Teams answers recorded")
    await asyncio.to_thread(cluster.stop, "fast")
    traffic.in_outage = True
    outage_ready.set()
    await health_becomes(503, http, base, traffic)
    await until(lambda: bool(traffic.during_outage["slack", 503]
                             and traffic.during_outage["teams", 503]), "503s from both platforms", seconds=10)
    assert await health(http, base, traffic) == 503
    await asyncio.to_thread(cluster.start)
    traffic.in_outage = False
    await health_becomes(200, http, base, traffic)


async def health_becomes(status: int, http: aiohttp.ClientSession, base: str,
                         traffic: Traffic) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await health(http, base, traffic) != status:
        assert loop.time() < deadline, f"/healthz did not answer {status}"
        await asyncio.sleep(0.1)


async def health(http: aiohttp.ClientSession, base: str, traffic: Traffic) -> int:
    async with http.get(f"{base}/healthz") as response:
        await response.read()
        traffic.health.append(response.status)
        return response.status


async def all_sent(url: str, identities: str, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REPLY_DEADLINE
    while await asyncio.to_thread(unsent, url, identities):
        assert loop.time() < deadline, f"no {what} within {REPLY_DEADLINE}s"
        await asyncio.sleep(0.1)


def unsent(url: str, identities: str) -> int:
    """Rows not yet sent, of the identities LIKE this."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT count(*) FROM outbox WHERE identity LIKE :platform "
                "AND status IN ('pending', 'sending')"), {"platform": identities}).scalar_one())
    finally:
        engine.dispose()


def check_one_reply_per_message(url: str, slack: SlackApiMock, connector: BotConnectorMock) -> None:
    """Each person's chat holds one answer per message they wrote; each answer is the one
    outbox row of its event, sent."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = list(connection.execute(text(
                "SELECT id, dedupe_key, status FROM outbox WHERE dedupe_key LIKE 'reply:%'")))
    finally:
        engine.dispose()
    assert {r.status for r in rows} == {"sent"}, [r for r in rows if r.status != "sent"]
    events = Counter(r.dedupe_key.rpartition(":")[0] for r in rows)
    assert events == {f"reply:slack:EvDbOutage{u}{n}": 1
                      for u in SLACK_USERS for n in range(len(SLACK_SAYS))} | {
        key: 1 for key in events if key.startswith("reply:teams:")}
    assert sum(1 for key in events if key.startswith("reply:teams:")) == (
        len(TEAMS_USERS) * len(TEAMS_SAYS))

    row_of_key = {r.dedupe_key: r.id for r in rows}
    for user in SLACK_USERS:
        # Answered in the order processed: a held message may be overtaken by the next one.
        posted = slack.history(dm_channel_id(user))
        assert sorted(m["metadata"]["event_payload"]["row"] for m in posted) == sorted(
            row_of_key[f"reply:slack:EvDbOutage{user}{n}:0"] for n in range(len(SLACK_SAYS)))
    for aad in TEAMS_USERS:
        conversation = personal_conversation_id(teams_user_id(aad))
        assert len(connector.activities(conversation)) == len(TEAMS_SAYS), aad


# ---------------------------------------------------------------------------------- recording


class FailingStore:
    """The store, but down (Unavailable) while `down` is set: what a sender meets when the
    database goes away between a post and its record."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.down = False

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        if self.down:
            raise Unavailable("OperationalError")
        return self._store.transaction()

    def ping(self) -> bool:
        return not self.down and self._store.ping()


class DownAfterPosting:
    """Slack's notifier; the database goes down once the post is made."""

    def __init__(self, notifier: SlackNotifier, store: FailingStore) -> None:
        self._notifier = notifier
        self._store = store

    async def send(self, message: Outgoing) -> SendResult:
        result = await self._notifier.send(message)
        self._store.down = True
        return result


async def test_a_slack_post_whose_record_was_lost_is_not_posted_again_after_a_restart(
        suite_store: SqlStore, clock: FakeClock, slack_api: SlackApiMock) -> None:
    """The database goes down after a post, before its outcome is recorded; the replica is
    stopped (a failing /healthz gets it restarted), which hands its claimed rows back; the
    next replica retakes the row, finds the post in the DM's history and does not post again."""
    with suite_store.transaction() as uow:
        uow.outbox.add(f"slack:{TEAM_ID}/{AMIRA}", {"team": TEAM_ID, "user": AMIRA,
                                                    "channel": dm_channel_id(AMIRA)},
                       Reply((Text("Your place is booked."),)), "test:booked", clock.now())
    async with aiohttp.ClientSession() as session:
        slack = SlackNotifier(AsyncWebClient(token=slack_api.token, base_url=slack_api.url,
                                             session=session, retry_handlers=[]))
        store = FailingStore(suite_store)
        first = Sender(store, DownAfterPosting(slack, store), clock, worker="replica-a")
        with pytest.raises(Unavailable):
            await first.deliver_due()
        assert len(slack_api.history(dm_channel_id(AMIRA))) == 1
        store.down = False
        pump = OutboxPump(first, tick_seconds=3600)
        await pump.stop()  # never started: hands back what replica-a holds

        second = Sender(suite_store, slack, clock, worker="replica-b")
        assert await second.deliver_due() == 1
    assert [m["text"] for m in slack_api.history(dm_channel_id(AMIRA))] == ["Your place is booked."]
    with suite_store.engine.connect() as connection:
        assert connection.execute(text("SELECT status FROM outbox")).scalar_one() == "sent"
