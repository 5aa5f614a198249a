"""What the fan-out kill tests share: real `spoke serve` replicas sending to a Slack mock that
tells them apart, a kill while some of a replica's posts are still unanswered, and the checks
that every recipient got exactly one message.

A killed replica's posts in flight reach Slack but the outbox never hears so: their rows stay
leased (LEASE_SECONDS), another sender retakes them, finds the row id in the DM's
`conversations.history` metadata and does not post again (STYLE §6).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, create_engine, insert, select, text
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from assistant.clock import SystemClock
from assistant.demo import seed
from assistant.model import Series
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from storage.tables import EnrolmentRow, IdentityRow, MembershipRow, NetworkRow, PersonRow
from tests.community import series
from tests.slack_fixtures import SIGNING_SECRET
from tests.slack_mock import SlackApiMock
from tests.slack_signing import TEAM_ID, dm_channel_id

# The lease must outlast a batch from claim to the last answer (the Slack client gives up after
# 10 s), or a live sender's rows are retaken while it still posts them. With 2 s, the first batch
# after start-up (compose, Babel's first load, the warm-up thread) regularly outran it here.
LEASE_SECONDS, TICK_SECONDS = 10, 1
# How long the mock takes to answer chat.postMessage: a batch of 50 stays in flight this long,
# which leaves time to kill a sender mid-batch (the fan-out takes a few seconds, not 0.5).
POST_DELAY = 0.25
SERVER_START = 30.0      # seconds for `spoke serve` to print its address
FANOUT_DEADLINE = 40.0   # seconds for every message to be sent after the kill
SHARED_KEY = "the key both replicas share"


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


async def start_fanout_api(users: list[str]) -> InFlightSlackApi:
    """The mock, knowing these people's DMs, answering chat.postMessage after POST_DELAY."""
    api = InFlightSlackApi()
    for n, user in enumerate(users):
        api.add_user(user, real_name=f"Participant {n}", tz="Europe/London")
    api.fail_always("chat.postMessage", delay=POST_DELAY)  # a delay alone: the post succeeds
    await api.start()
    return api


@dataclass
class Replica:
    name: str
    token: str
    process: asyncio.subprocess.Process
    stderr: Path


@dataclass(frozen=True)
class Kill:
    replica: Replica
    posted: int       # messages posted (by every replica) when it was killed
    in_flight: int    # its posts the mock had not answered yet: they land, unrecorded
    at: float         # time.time(), as the mock stamps calls


@dataclass(frozen=True)
class Participant:
    person_id: int
    user: str
    channel: str
    language: str
    time_zone: str


def user_id(n: int) -> str:
    return f"U{n:05d}"


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


def add_participants(connection: Connection, fanout: Series, count: int,
                     now: datetime) -> list[Participant]:
    """`count` Slack users registered for the series, by bulk insert (through the
    repositories, one by one, 500 people took 11 s on PostgreSQL). Every other person reads
    French; zones cycle through London, Toronto and Nairobi."""
    users = [user_id(n) for n in range(count)]
    languages = [("en", "fr")[n % 2] for n in range(count)]
    zones = [("Europe/London", "America/Toronto", "Africa/Nairobi")[n % 3] for n in range(count)]
    person_ids = list(connection.execute(
        insert(table(PersonRow)).returning(table(PersonRow).c.id, sort_by_parameter_order=True),
        [{"full_name": f"Participant {n}", "email": f"p{n}@example.org",
          "profession": "Registered nurse", "organisation": "Test Care Home",
          "care_setting": "hospice", "region": "EH6", "country": "GB", "time_zone": zones[n],
          "language": languages[n], "registered_at": now} for n in range(count)]).scalars())
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
    return [Participant(p, user, dm_channel_id(user), language, zone)
            for p, user, language, zone in zip(person_ids, users, languages, zones, strict=True)]


def table(row: type[SQLModel]) -> Table:
    return row.__table__  # type: ignore[attr-defined, no-any-return]


def outbox_rows(url: str, subject: str) -> list[Any]:
    """The outbox rows of one subject (`session:7`, `follow_up:3`), read without taking
    SQLite's write lock (make_engine's connections begin IMMEDIATE), so watching does not
    slow the senders."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT id, person_id, status, attempts, last_error FROM outbox "
                "WHERE subject = :subject ORDER BY id"), {"subject": subject}))
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------- the servers


async def start_replica(name: str, database_url: str, slack_api: InFlightSlackApi,
                        tmp_path: Path) -> Replica:
    """A replica with its own bot token, so the mock tells the replicas apart."""
    token = slack_api.token_for(name)
    process, _ = await start_serve(name, tmp_path, {
        "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack_api.url})
    return Replica(name, token, process, tmp_path / f"serve-{name}.err")


async def start_serve(name: str, tmp_path: Path, settings: dict[str, str]
                      ) -> tuple[asyncio.subprocess.Process, str]:
    """`spoke serve` as tests/test_serve.py starts it, with these settings (the database and
    platforms), the replicas' shared key, a short lease and tick, and stderr in a file
    (`serve-NAME.err`): nobody reads a pipe while it sends. Returns it and its base URL."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "SPOKE_", "DATABASE_", "MICROSOFT_"))}
    env.update(SPOKE_DATA_DIR=str(tmp_path), SPOKE_SECRET_KEY=SHARED_KEY,
               SPOKE_OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
               SPOKE_OUTBOX_TICK_SECONDS=str(TICK_SECONDS), **settings)
    stderr = tmp_path / f"serve-{name}.err"
    with stderr.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=sink, env=env)
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=SERVER_START)).decode()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, (line, stderr.read_text())
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return process, found.group(0)


async def start_replicas(names: list[str], database_url: str, slack_api: InFlightSlackApi,
                         tmp_path: Path, replicas: list[Replica]) -> None:
    """Start them side by side; each one started goes into `replicas` (for stop_all), even
    when another failed to start."""
    started = await asyncio.gather(*(start_replica(name, database_url, slack_api, tmp_path)
                                     for name in names), return_exceptions=True)
    replicas += [r for r in started if isinstance(r, Replica)]
    for failed in started:
        if isinstance(failed, BaseException):
            raise failed


async def kill_mid_fanout(replicas: list[Replica], slack_api: InFlightSlackApi, total: int,
                          kill_after: int, both_sending: bool = False) -> Kill:
    """SIGKILL a replica while the mock holds some of its chat.postMessage calls unanswered,
    once `kill_after` of the `total` messages went out (from every replica, with
    `both_sending`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FANOUT_DEADLINE
    while True:
        posted = len(slack_api.posted())
        assert posted < total, f"the fan-out finished before a kill; posted by {slack_api.posted_by}"
        assert loop.time() < deadline, f"no kill point within {FANOUT_DEADLINE}s; posted {posted}"
        ready = posted >= kill_after and (
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


async def wait_until_all_sent(url: str, subject: str, slack_api: InFlightSlackApi,
                              total: int) -> None:
    """Until every row of the subject is recorded sent (a sent row is never claimed again)
    and no post is in flight, then two ticks more in which nothing may be posted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FANOUT_DEADLINE
    while True:
        rows = await asyncio.to_thread(outbox_rows, url, subject)
        statuses = Counter(r.status for r in rows)
        if statuses == {"sent": total} and not any(slack_api.in_flight.values()):
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
    return {r.name: trouble(r.stderr) for r in replicas}


def trouble(stderr: Path) -> str:
    """The lines of a server's stderr that report trouble: a traceback, ERROR or CRITICAL."""
    return "\n".join(line for line in stderr.read_text().splitlines()
                     if "Traceback" in line or '"level": "ERROR"' in line
                     or '"level": "CRITICAL"' in line)


# ---------------------------------------------------------------------------------- the checks


def check_exactly_once(url: str, subject: str, people: list[Participant],
                       slack_api: InFlightSlackApi, kill: Kill) -> dict[int, dict[str, Any]]:
    """Every row of the subject sent, the kill hit mid-way with posts in flight, and each
    person's DM holds exactly one message, carrying their row's id. Returns each person's
    message, by person id."""
    total = len(people)
    rows = outbox_rows(url, subject)
    row_of = {r.person_id: r.id for r in rows}
    assert len(rows) == total and len(row_of) == total      # one row per person
    assert Counter(r.status for r in rows) == {"sent": total}, [r for r in rows if r.status != "sent"]

    # The kill hit the fan-out mid-way, with posts in flight that the killed sender never
    # recorded: their rows were retaken after the lease.
    assert kill.posted < total and kill.in_flight > 0
    assert 0 < slack_api.posted_by[kill.replica.token] < total
    assert sum(1 for r in rows if r.attempts >= 2) >= kill.in_flight
    # Only the kill made rows be retaken: none was taken from a sender still posting it.
    looked_up = [call.at for call in slack_api.calls("conversations.history")]
    assert looked_up and min(looked_up) > kill.at, "a live sender's rows were retaken"

    channels = {p.channel for p in people}
    posts = Counter(call["channel"] for call in slack_api.calls("chat.postMessage") if call.ok)
    duplicates = {c: n for c, n in posts.items() if n != 1}
    assert not duplicates, f"{len(duplicates)} people got more than one: {sorted(duplicates)[:10]}"
    assert set(posts) == channels, f"missing: {sorted(channels - set(posts))[:10]}"

    messages = {}
    for person in people:
        [message] = slack_api.history(person.channel)
        assert message["metadata"] == {"event_type": "spoke_outbox",
                                       "event_payload": {"row": row_of[person.person_id]}}
        messages[person.person_id] = message
    return messages

