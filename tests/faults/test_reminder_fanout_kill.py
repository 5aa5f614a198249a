"""SIGKILL `spoke serve` in the middle of a 500-reminder fan-out: every participant still gets
exactly one reminder.

Real `spoke serve` processes send to the local Slack mock on the real clock. 500 people are
registered for a session starting in 50 minutes, so each has one "hour" reminder due at once
(the "day" one has passed). A replica is killed while the mock is still answering some of its
chat.postMessage calls: those messages reach Slack but the outbox never hears so. Their rows stay
leased (SPOKE_OUTBOX_LEASE_SECONDS=10, not 60), another sender retakes them, finds the row id in
the DM's `conversations.history` metadata and does not post again (STYLE §6).

- SQLite: one replica, killed, then a new one on the same file.
- PostgreSQL: two replicas; one is killed, the other finishes alone.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, create_engine, insert, select, text
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from assistant.clock import SystemClock
from assistant.demo import seed
from assistant.i18n import translate
from assistant.model import Series, Session
from assistant.services.schedule import add_session
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore, SqlUnitOfWork
from storage.scratch import scratch_database
from storage.tables import EnrolmentRow, IdentityRow, MembershipRow, NetworkRow, PersonRow, RsvpRow
from tests.community import OPERATOR, series
from tests.slack_fixtures import SIGNING_SECRET
from tests.slack_mock import SlackApiMock
from tests.slack_signing import TEAM_ID, dm_channel_id

pytestmark = pytest.mark.slow

FANOUT = 500
# The lease must outlast a batch from claim to the last answer (the Slack client gives up after
# 10 s), or a live sender's rows are retaken while it still posts them. With 2 s, the first batch
# after start-up (compose, Babel's first load, the warm-up thread) regularly outran it here.
LEASE_SECONDS, TICK_SECONDS = 10, 1
# How long the mock takes to answer chat.postMessage: a batch of 50 stays in flight this long,
# which leaves time to kill a sender mid-batch (the fan-out takes a few seconds, not 0.5).
POST_DELAY = 0.25
KILL_AFTER = 100         # posted before the kill: the fan-out is well under way
SERVER_START = 30.0      # seconds for `spoke serve` to print its address
FANOUT_DEADLINE = 40.0   # seconds for every reminder to be sent after the kill
TOPIC = "Pain at the end of life"


class InFlightSlackApi(SlackApiMock):
    """The Slack mock, told which replica each call comes from (each has its own bot token)
    and counting the chat.postMessage calls it has not answered yet, per replica."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replicas: set[str] = set()
        self.in_flight: Counter[str] = Counter()
        self.posted_by: Counter[str] = Counter()

    def token_for(self, replica: str) -> str:
        token = f"{self.token}-{replica}"
        self.replicas.add(token)
        return token

    async def _answer(self, method: str, args: dict[str, Any], token: str | None,
                      bad_body: str | None) -> tuple[int, Any, dict[str, str]]:
        replica = token if token in self.replicas else None
        if replica is None or method != "chat.postMessage":
            return await super()._answer(method, args, self.token if replica else token, bad_body)
        self.in_flight[replica] += 1
        try:
            status, answer, extra = await super()._answer(method, args, self.token, bad_body)
        finally:
            self.in_flight[replica] -= 1
        if status == 200 and isinstance(answer, dict) and answer.get("ok"):
            self.posted_by[replica] += 1
        return status, answer, extra


@dataclass
class Replica:
    name: str
    token: str
    process: asyncio.subprocess.Process
    stderr: Path


@dataclass(frozen=True)
class Kill:
    replica: Replica
    posted: int       # reminders posted (by every replica) when it was killed
    in_flight: int    # its posts the mock had not answered yet: they land, unrecorded
    at: float         # time.time(), as the mock stamps calls


@dataclass(frozen=True)
class Participant:
    person_id: int
    user: str
    channel: str
    language: str


@pytest.fixture
async def slack_api() -> AsyncIterator[InFlightSlackApi]:
    """Replaces the shared `slack_api` here: this one knows the 500 people's DMs, tells the
    replicas apart and answers chat.postMessage after POST_DELAY."""
    api = InFlightSlackApi()
    for n in range(FANOUT):
        api.add_user(user_id(n), real_name=f"Participant {n}", tz="Europe/London")
    api.fail_always("chat.postMessage", delay=POST_DELAY)  # a delay alone: the post succeeds
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'spoke.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_database(os.environ["SPOKE_TEST_POSTGRES_URL"]) as url:
        yield url


def user_id(n: int) -> str:
    return f"U{n:05d}"


# ---------------------------------------------------------------------------------- the tests


async def test_a_killed_server_restarted_sends_every_reminder_exactly_once(
        sqlite_url: str, slack_api: InFlightSlackApi, tmp_path: Path) -> None:
    fanout = prepare(sqlite_url)
    replicas: list[Replica] = []
    try:
        replicas.append(await start_replica("first", sqlite_url, slack_api, tmp_path))
        people, session_id = schedule_fanout(sqlite_url, fanout)
        kill = await kill_mid_fanout(replicas, slack_api)
        replicas.append(await start_replica("second", sqlite_url, slack_api, tmp_path))
        await wait_until_all_sent(sqlite_url, session_id, slack_api)
    finally:
        errors = await stop_all(replicas)
    check_exactly_once(sqlite_url, session_id, people, fanout, slack_api, kill)
    assert errors["second"] == "" and replicas[1].process.returncode == 0, errors["second"]


@pytest.mark.postgres
async def test_two_replicas_one_killed_every_reminder_goes_exactly_once(
        postgres_url: str, slack_api: InFlightSlackApi, tmp_path: Path) -> None:
    fanout = prepare(postgres_url)
    replicas: list[Replica] = []
    try:
        started = await asyncio.gather(start_replica("a", postgres_url, slack_api, tmp_path),
                                       start_replica("b", postgres_url, slack_api, tmp_path),
                                       return_exceptions=True)
        replicas += [r for r in started if isinstance(r, Replica)]
        for failed in started:
            if isinstance(failed, BaseException):
                raise failed
        people, session_id = schedule_fanout(postgres_url, fanout)
        kill = await kill_mid_fanout(replicas, slack_api, both_sending=True)
        await wait_until_all_sent(postgres_url, session_id, slack_api)
    finally:
        errors = await stop_all(replicas)
    check_exactly_once(postgres_url, session_id, people, fanout, slack_api, kill)
    survivor = next(r for r in replicas if r is not kill.replica)
    assert errors[survivor.name] == "" and survivor.process.returncode == 0, errors[survivor.name]
    assert slack_api.posted_by[survivor.token] > 0


# ---------------------------------------------------------------------------------- the data


def prepare(url: str) -> Series:
    """A migrated database with the demo networks and an empty series for the fan-out."""
    upgrade(url)
    store = SqlStore(make_engine(url))
    try:
        now = SystemClock().now()
        seed(store, now)
        return series(store, now, name="fanout")
    finally:
        store.close()


def schedule_fanout(url: str, fanout: Series) -> tuple[list[Participant], int]:
    """500 registered Slack users and a session of theirs starting in 50 minutes, in one
    transaction, so a running sender sees all of it or none. Everyone answered "going": their
    hour reminder then goes whatever their quiet hours and work days, so the test does not
    depend on the hour or weekday it runs. The people go in by bulk insert: through the
    repositories, one by one, this took 11 s on PostgreSQL."""
    now = SystemClock().now()
    users = [user_id(n) for n in range(FANOUT)]
    languages = [("en", "fr")[n % 2] for n in range(FANOUT)]
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            made = add_session(SqlUnitOfWork(connection), OPERATOR, fanout, now + timedelta(minutes=50),
                               60, now, {"topic": TOPIC, "expert": "Dr Rao"})
            assert isinstance(made, Session), made
            person_ids = list(connection.execute(
                insert(table(PersonRow)).returning(table(PersonRow).c.id, sort_by_parameter_order=True),
                [{"full_name": f"Participant {n}", "email": f"p{n}@example.org",
                  "profession": "Registered nurse", "organisation": "Test Care Home",
                  "care_setting": "hospice", "region": "EH6", "country": "GB",
                  "time_zone": ("Europe/London", "America/Toronto", "Africa/Nairobi")[n % 3],
                  "language": languages[n], "registered_at": now} for n in range(FANOUT)]).scalars())
            network_id = connection.execute(select(table(NetworkRow).c.id).where(
                table(NetworkRow).c.slug == fanout.network)).scalar_one()
            connection.execute(insert(table(IdentityRow)), [
                {"identity": f"slack:{TEAM_ID}/{user}", "person_id": person_id,
                 "address": {"team": TEAM_ID, "user": user, "channel": dm_channel_id(user)},
                 "language": language, "last_seen_at": now}
                for user, person_id, language in zip(users, person_ids, languages, strict=True)])
            connection.execute(insert(table(MembershipRow)), [
                {"person_id": p, "network_id": network_id, "role": "participant",
                 "status": "active", "since": now} for p in person_ids])
            connection.execute(insert(table(EnrolmentRow)), [
                {"series_id": fanout.id, "person_id": p, "status": "registered", "asked_at": now,
                 "updated_at": now} for p in person_ids])
            connection.execute(insert(table(RsvpRow)), [
                {"session_id": made.id, "person_id": p, "answer": "going", "at": now}
                for p in person_ids])
    finally:
        engine.dispose()
    people = [Participant(p, user, dm_channel_id(user), language)
              for p, user, language in zip(person_ids, users, languages, strict=True)]
    return people, made.id


def table(row: type[SQLModel]) -> Table:
    return row.__table__  # type: ignore[attr-defined, no-any-return]


def outbox_rows(url: str, session_id: int) -> list[Any]:
    """The session's outbox rows, read without taking SQLite's write lock (make_engine's
    connections begin IMMEDIATE), so watching does not slow the senders."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT id, person_id, status, attempts, last_error FROM outbox "
                "WHERE subject = :subject ORDER BY id"), {"subject": f"session:{session_id}"}))
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------- the servers


async def start_replica(name: str, database_url: str, slack_api: InFlightSlackApi,
                        tmp_path: Path) -> Replica:
    """`spoke serve` as tests/test_serve.py starts it, with its own database URL and bot token
    (start_serve fixes both), and stderr in a file: nobody reads a pipe while it sends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SPOKE_", "DATABASE_"))}
    token = slack_api.token_for(name)
    env.update(DATABASE_URL=database_url, SPOKE_DATA_DIR=str(tmp_path), SLACK_BOT_TOKEN=token,
               SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack_api.url,
               SPOKE_SECRET_KEY="the key both replicas share",
               SPOKE_OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
               SPOKE_OUTBOX_TICK_SECONDS=str(TICK_SECONDS))
    stderr = tmp_path / f"serve-{name}.err"
    with stderr.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=sink, env=env)
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=SERVER_START)).decode()
        assert re.search(r"http://127\.0\.0\.1:\d+", line), (line, stderr.read_text())
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return Replica(name, token, process, stderr)


async def kill_mid_fanout(replicas: list[Replica], slack_api: InFlightSlackApi,
                          both_sending: bool = False) -> Kill:
    """SIGKILL a replica while the mock holds some of its chat.postMessage calls unanswered,
    once KILL_AFTER reminders went out (from every replica, with `both_sending`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FANOUT_DEADLINE
    while True:
        posted = len(slack_api.posted())
        assert posted < FANOUT, f"the fan-out finished before a kill; posted by {slack_api.posted_by}"
        assert loop.time() < deadline, f"no kill point within {FANOUT_DEADLINE}s; posted {posted}"
        ready = posted >= KILL_AFTER and (
            not both_sending or all(slack_api.posted_by[r.token] for r in replicas))
        victim = next((r for r in replicas if slack_api.in_flight[r.token]), None)
        if ready and victim is not None:
            # No await between the check and the kill: those calls are still unanswered.
            victim.process.kill()
            kill = Kill(victim, posted, slack_api.in_flight[victim.token], time.time())
            break
        await asyncio.sleep(0.005)
    assert await asyncio.wait_for(victim.process.wait(), timeout=10) == -signal.SIGKILL
    return kill


async def wait_until_all_sent(url: str, session_id: int, slack_api: InFlightSlackApi) -> None:
    """Until every row of the session is recorded sent (a sent row is never claimed again)
    and no post is in flight, then two ticks more in which nothing may be posted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FANOUT_DEADLINE
    while True:
        rows = await asyncio.to_thread(outbox_rows, url, session_id)
        statuses = Counter(r.status for r in rows)
        if statuses == {"sent": FANOUT} and not any(slack_api.in_flight.values()):
            break
        assert loop.time() < deadline, f"not all sent within {FANOUT_DEADLINE}s: {dict(statuses)}"
        await asyncio.sleep(0.1)
    posted = len(slack_api.calls("chat.postMessage"))
    await asyncio.sleep(2 * TICK_SECONDS)
    assert len(slack_api.calls("chat.postMessage")) == posted, "posted after every row was sent"


async def stop_all(replicas: list[Replica]) -> dict[str, str]:
    """SIGTERM the live replicas; returns each replica's stderr lines that report trouble
    (logs are JSON lines; a traceback would be plain text)."""
    for replica in replicas:
        if replica.process.returncode is None:
            replica.process.send_signal(signal.SIGTERM)
    for replica in replicas:
        try:
            await asyncio.wait_for(replica.process.wait(), timeout=20)
        except TimeoutError:
            replica.process.kill()
            await replica.process.wait()
    return {r.name: "\n".join(line for line in r.stderr.read_text().splitlines()
                              if "Traceback" in line or '"level": "ERROR"' in line
                              or '"level": "CRITICAL"' in line)
            for r in replicas}


# ---------------------------------------------------------------------------------- the checks


def check_exactly_once(url: str, session_id: int, people: list[Participant], fanout: Series,
                       slack_api: InFlightSlackApi, kill: Kill) -> None:
    rows = outbox_rows(url, session_id)
    row_of = {r.person_id: r.id for r in rows}
    assert len(rows) == FANOUT and len(row_of) == FANOUT      # one hour reminder per person
    assert Counter(r.status for r in rows) == {"sent": FANOUT}, [r for r in rows if r.status != "sent"]

    # The kill hit the fan-out mid-way, with posts in flight that the killed sender never
    # recorded: their rows were retaken after the lease.
    assert KILL_AFTER <= kill.posted < FANOUT and kill.in_flight > 0
    assert 0 < slack_api.posted_by[kill.replica.token] < FANOUT
    assert sum(1 for r in rows if r.attempts >= 2) >= kill.in_flight
    # Only the kill made rows be retaken: none was taken from a sender still posting it.
    looked_up = [call.at for call in slack_api.calls("conversations.history")]
    assert looked_up and min(looked_up) > kill.at, "a live sender's rows were retaken"

    channels = {p.channel for p in people}
    posts = Counter(call["channel"] for call in slack_api.calls("chat.postMessage") if call.ok)
    duplicates = {c: n for c, n in posts.items() if n != 1}
    assert not duplicates, f"{len(duplicates)} people got more than one: {sorted(duplicates)[:10]}"
    assert set(posts) == channels, f"missing: {sorted(channels - set(posts))[:10]}"

    title = f"{fanout.title}: {TOPIC}"
    for person in people:
        [message] = slack_api.history(person.channel)
        assert message["metadata"] == {"event_type": "spoke_outbox",
                                       "event_payload": {"row": row_of[person.person_id]}}
        assert translate("sessions.heading.hour", person.language, title=title) in message["text"]
