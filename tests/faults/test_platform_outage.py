"""The platform answering 429, 500 or nothing at all for minutes: every message is delivered
later, exactly once, and the outbox ends with every row sent.

The real Slack and Teams notifiers post over HTTP to the local mocks; the outbox's Sender runs
in this process on a FakeClock, which the test moves five seconds at a time, so a ten-minute
outage takes a second or two. Each platform client gives up after CLIENT_TIMEOUT (real)
seconds; a "timeout" is the mock answering LATE seconds after that.

Four readers on each platform have three messages queued each; one reader's messages go in
order, and wait behind the first that could not go (assistant/outbox.py).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Protocol

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text

from adapters.slack.notifier import SlackNotifier
from adapters.teams.auth import ConnectorTokens
from adapters.teams.config import TeamsSettings
from adapters.teams.notifier import BotConnector, TeamsNotifier
from assistant.clock import FakeClock
from assistant.config import Secret
from assistant.messages import Outgoing, Reply, Text
from assistant.outbox import BACKOFF_BASE, MAX_ATTEMPTS, Sender
from assistant.ports import Notifier, RetryLater, SendResult, Sent
from storage.repositories import SqlStore
from tests.slack_mock import SlackApiMock
from tests.slack_signing import TEAM_ID, dm_channel_id
from tests.teams_activities import (
    DEFAULT_APP_ID,
    DEFAULT_TENANT,
    bot_account_id,
    personal_conversation_id,
    teams_user_id,
)
from tests.teams_mock import DEFAULT_APP_PASSWORD, BotConnectorMock, BotFrameworkIdentity

pytestmark = pytest.mark.slow

READERS, MESSAGES = 4, 3
STEP = timedelta(seconds=5)      # how far the fake clock moves between two sender rounds
CLIENT_TIMEOUT = 0.5             # real seconds before a platform client gives up
LATE = 1.0                       # real seconds a "timed-out" call takes to be answered
SETTLE = 10.0                    # real seconds for the mock to finish what it was asked


class WorstJitter(random.Random):
    """Jitter that always draws the least it may: retries come as early as the backoff
    allows, the worst case for using the attempts up during an outage."""

    def uniform(self, a: float, b: float) -> float:
        return a


# ---------------------------------------------------------------------------------- platforms


class Platform(Protocol):
    """One platform's mock and real notifier, and the faults it can be told to play."""

    name: str
    notifier: Notifier
    readers: list[tuple[str, dict[str, Any]]]   # identity, address

    def rate_limit(self, retry_after: int) -> None: ...

    def server_error(self) -> None: ...

    def time_out(self, lands: bool) -> None:
        """Answer after the client gave up; with `lands` the message still reaches the
        reader (the platform got it), otherwise it is lost with the answer."""
        ...

    def recover(self) -> None: ...

    def received(self, identity: str) -> list[str]:
        """The texts the reader has, oldest first."""
        ...

    def posts(self, identity: str) -> int:
        """How many times a message was posted to the reader (answered or not)."""
        ...

    def busy(self) -> bool:
        """Whether the mock is still answering a call."""
        ...


class CountingSlackApi(SlackApiMock):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight = 0

    async def _answer(self, method: str, args: dict[str, Any], token: str | None,
                      bad_body: str | None) -> tuple[int, Any, dict[str, str]]:
        self.in_flight += 1
        try:
            return await super()._answer(method, args, token, bad_body)
        finally:
            self.in_flight -= 1


@dataclass
class Slack:
    api: CountingSlackApi
    notifier: Notifier
    readers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    name: str = "slack"

    def rate_limit(self, retry_after: int) -> None:
        self.api.fail_always("chat.postMessage", status=429, retry_after=retry_after)

    def server_error(self) -> None:
        self.api.fail_always("chat.postMessage", status=500)

    def time_out(self, lands: bool) -> None:
        # A delay alone: the post succeeds and takes effect; with a status it does not.
        self.api.fail_always("chat.postMessage", delay=LATE, status=None if lands else 503)

    def recover(self) -> None:
        self.api.clear_failures()

    def received(self, identity: str) -> list[str]:
        return [m["text"] for m in self.api.history(_slack_channel(identity))]

    def posts(self, identity: str) -> int:
        channel = _slack_channel(identity)
        return sum(1 for c in self.api.calls("chat.postMessage") if c.get("channel") == channel)

    def busy(self) -> bool:
        return self.api.in_flight > 0


def _slack_channel(identity: str) -> str:
    return dm_channel_id(identity.rpartition("/")[2])


class CountingConnector(BotConnectorMock):
    def __init__(self, identity: BotFrameworkIdentity) -> None:
        super().__init__(identity)
        self.in_flight = 0

    def _handler(self, kind: str, answer: Any) -> Callable[[Any], Any]:
        handle = super()._handler(kind, answer)

        async def counted(request: Any) -> Any:
            self.in_flight += 1
            try:
                return await handle(request)
            finally:
                self.in_flight -= 1

        return counted


@dataclass
class Teams:
    connector: CountingConnector
    notifier: Notifier
    readers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    name: str = "teams"

    def rate_limit(self, retry_after: int) -> None:
        self.connector.fail_always("send", status=429, retry_after=retry_after)

    def server_error(self) -> None:
        self.connector.fail_always("send", status=500)

    def time_out(self, lands: bool) -> None:
        self.connector.fail_always("send", delay=LATE, status=None if lands else 503)

    def recover(self) -> None:
        self.connector.clear_failures()

    def _conversation(self, identity: str) -> str:
        return str(dict(self.readers)[identity]["conversation"])

    def received(self, identity: str) -> list[str]:
        return [str(a.get("text") or "") for a in
                self.connector.conversation(self._conversation(identity))]

    def posts(self, identity: str) -> int:
        conversation = self._conversation(identity)
        return sum(1 for c in self.connector.calls("send") if c.conversation_id == conversation)

    def busy(self) -> bool:
        return self.connector.in_flight > 0


@pytest.fixture(params=["slack", "teams"])
async def platform(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Platform]:
    """The real notifier of the platform, over HTTP to its mock; its client gives up after
    CLIENT_TIMEOUT (the servers' give up after 10 and 15 s)."""
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        if request.param == "slack":
            api = CountingSlackApi()
            users = [f"U0OUT{n}" for n in range(READERS)]
            for user in users:
                api.add_user(user, real_name=f"Reader {user}", tz="Europe/London")
            await api.start()
            client = AsyncWebClient(token=api.token, base_url=api.url, session=session,
                                    retry_handlers=[])
            slack = Slack(api, SlackNotifier(client))
            slack.readers = [(f"slack:{TEAM_ID}/{u}",
                              {"team": TEAM_ID, "user": u, "channel": dm_channel_id(u)})
                             for u in users]
            try:
                yield slack
            finally:
                await api.stop()
            return
        async with BotFrameworkIdentity(clock=clock) as identity, \
                CountingConnector(identity) as connector:
            settings = TeamsSettings(app_id=DEFAULT_APP_ID,
                                     app_password=Secret(DEFAULT_APP_PASSWORD),
                                     token_url=identity.token_url)
            bot = BotConnector(session, ConnectorTokens(session, settings, clock))
            teams = Teams(connector, TeamsNotifier(bot))
            for n in range(READERS):
                aad = f"0000000{n}-0000-4000-8000-00000000a0a0"
                user = teams_user_id(aad)
                teams.readers.append((f"teams:{DEFAULT_TENANT}/{aad}", {
                    "service_url": connector.service_url, "tenant": DEFAULT_TENANT,
                    "user": user, "bot": bot_account_id(),
                    "conversation": personal_conversation_id(user)}))
            yield teams


# ---------------------------------------------------------------------------------- the sender


@dataclass(frozen=True)
class Attempt:
    at: datetime       # on the fake clock
    row: int
    identity: str
    result: SendResult


class Recording:
    """The real notifier, with every attempt written down (when, on the fake clock, and
    what the notifier made of the platform's answer)."""

    def __init__(self, notifier: Notifier, clock: FakeClock) -> None:
        self._notifier = notifier
        self._clock = clock
        self.attempts: list[Attempt] = []

    async def send(self, message: Outgoing) -> SendResult:
        result = await self._notifier.send(message)
        self.attempts.append(Attempt(self._clock.now(), message.id, message.identity, result))
        return result

    def of(self, row: int) -> list[Attempt]:
        return [a for a in self.attempts if a.row == row]


@dataclass
class Outbox:
    store: SqlStore
    clock: FakeClock
    platform: Platform
    recording: Recording
    sender: Sender
    rows: dict[str, list[int]]   # each reader's rows, in order

    async def run_for(self, duration: timedelta) -> None:
        """Sender rounds STEP apart on the fake clock; between two, the mock finishes what
        it is still answering (a late answer lands before the next round looks for it)."""
        end = self.clock.now() + duration
        while self.clock.now() < end:
            await self.sender.deliver_due()
            await settled(self.platform)
            self.clock.advance(seconds=STEP.total_seconds())

    def statuses(self) -> dict[int, tuple[str, int]]:
        with self.store.engine.connect() as connection:
            return {r.id: (r.status, r.attempts) for r in connection.execute(
                text("SELECT id, status, attempts FROM outbox"))}

    def check_each_delivered_once(self) -> None:
        """Every reader has their messages once each, in order, and every row is sent."""
        for reader, (identity, _) in enumerate(self.platform.readers):
            assert self.platform.received(identity) == [words(reader, n) for n in range(MESSAGES)]
        assert {status for status, _ in self.statuses().values()} == {"sent"}, self.statuses()


def words(reader: int, n: int) -> str:
    return f"Message {n} for reader {reader}"


async def settled(platform: Platform) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE
    while platform.busy():
        assert loop.time() < deadline, "the mock is still answering"
        await asyncio.sleep(0.01)


@pytest.fixture
def outbox(suite_store: SqlStore, clock: FakeClock, platform: Platform) -> Outbox:
    recording = Recording(platform.notifier, clock)
    rows: dict[str, list[int]] = {}
    for reader, (identity, address) in enumerate(platform.readers):
        with suite_store.transaction() as uow:
            for n in range(MESSAGES):
                uow.outbox.add(identity, address, Reply((Text(words(reader, n)),)),
                               f"test:{identity}:{n}", clock.now())
        rows[identity] = []
    with suite_store.engine.connect() as connection:
        for row_id, identity in connection.execute(
                text("SELECT id, identity FROM outbox ORDER BY id")):
            rows[identity].append(row_id)
    sender = Sender(suite_store, recording, clock, worker="outage", rng=WorstJitter())
    return Outbox(suite_store, clock, platform, recording, sender, rows)


# ---------------------------------------------------------------------------------- the tests


async def test_rate_limited_for_five_minutes_waits_as_told_then_sends_each_message_once(
        outbox: Outbox) -> None:
    outbox.platform.rate_limit(retry_after=30)
    await outbox.run_for(timedelta(minutes=5))
    for identity, rows in outbox.rows.items():
        assert outbox.platform.received(identity) == []
        first = outbox.recording.of(rows[0])
        # Tried again only once Retry-After had passed: every 30 s, 10 times in 5 minutes.
        assert [isinstance(a.result, RetryLater) and a.result.after_seconds for a in first] == (
            [30.0] * 10)
        gaps = [later.at - earlier.at for earlier, later in pairwise(first)]
        assert gaps and all(gap == timedelta(seconds=30) for gap in gaps), gaps
        # The messages behind it waited: never posted while the first could not go.
        assert all(outbox.recording.of(row) == [] for row in rows[1:])
        assert outbox.platform.posts(identity) == 10
    # Waiting as told spends no attempt: a long rate limit cannot use them up.
    assert {attempts for _, attempts in outbox.statuses().values()} == {0}

    outbox.platform.recover()
    await outbox.run_for(timedelta(minutes=1))
    outbox.check_each_delivered_once()
    await outbox.run_for(timedelta(minutes=30))  # nothing is sent again
    assert len(outbox.recording.attempts) == READERS * (10 + MESSAGES)


async def test_server_errors_for_eight_minutes_back_off_and_every_message_goes_once(
        outbox: Outbox) -> None:
    """Retries come at the least the backoff allows (WorstJitter): 5, 10, 20 ... s apart.
    Eight minutes of 500s use 7 of the MAX_ATTEMPTS; the eighth, after the outage, goes."""
    outbox.platform.server_error()
    await outbox.run_for(timedelta(minutes=8))
    floors = [BACKOFF_BASE * 2 ** n / 2 for n in range(MAX_ATTEMPTS)]
    for identity, rows in outbox.rows.items():
        assert outbox.platform.received(identity) == []
        first = outbox.recording.of(rows[0])
        assert all(isinstance(a.result, RetryLater) and a.result.after_seconds is None
                   for a in first)
        gaps = [(later.at - earlier.at).total_seconds()
                for earlier, later in pairwise(first)]
        # The backoff doubles, and a step of the fake clock rounds each wait up to 5 s.
        assert len(first) == 7 and all(floor <= gap < floor + STEP.total_seconds()
                                       for gap, floor in zip(gaps, floors, strict=False)), gaps
        assert all(outbox.recording.of(row) == [] for row in rows[1:])
        assert outbox.platform.posts(identity) == 7
    assert {status for status, _ in outbox.statuses().values()} == {"pending"}

    outbox.platform.recover()
    await outbox.run_for(timedelta(minutes=6))
    outbox.check_each_delivered_once()
    first_rows = {rows[0] for rows in outbox.rows.values()}
    assert {attempts for row, (_, attempts) in outbox.statuses().items()
            if row in first_rows} == {MAX_ATTEMPTS}
    posted = sum(outbox.platform.posts(identity) for identity in outbox.rows)
    await outbox.run_for(timedelta(hours=1))  # nothing is sent again
    assert sum(outbox.platform.posts(identity) for identity in outbox.rows) == posted


async def test_timeouts_that_never_reached_the_platform_are_sent_again_once(
        outbox: Outbox) -> None:
    """The platform never answers in time and drops what it was sent: each attempt is a
    RetryLater("connection") and nothing reaches the reader until it recovers."""
    outbox.platform.time_out(lands=False)
    await outbox.run_for(timedelta(minutes=4))
    for identity, rows in outbox.rows.items():
        assert outbox.platform.received(identity) == []
        first = outbox.recording.of(rows[0])
        assert [a.result for a in first] == [RetryLater("connection")] * 6  # 0, 5, 15, ... 155 s
    outbox.platform.recover()
    await outbox.run_for(timedelta(minutes=6))
    outbox.check_each_delivered_once()


@pytest.mark.parametrize("platform", ["slack"], indirect=True)
async def test_a_slack_post_that_timed_out_but_landed_is_not_posted_again(
        outbox: Outbox) -> None:
    """Slack took every post, answering only after the client gave up. The retry finds the
    row's id in the DM's history (message metadata) and records it sent without posting."""
    outbox.platform.time_out(lands=True)
    await outbox.run_for(timedelta(minutes=4))
    outbox.check_each_delivered_once()
    for identity, rows in outbox.rows.items():
        assert outbox.platform.posts(identity) == MESSAGES   # each posted once, never again
        for row in rows:
            assert [type(a.result) for a in outbox.recording.of(row)] == [RetryLater, Sent]


@pytest.mark.parametrize("platform", ["teams"], indirect=True)
async def test_a_teams_post_that_timed_out_but_landed_arrives_once_per_attempt(
        outbox: Outbox) -> None:
    """Teams delivery is at least once: the Bot Connector cannot be asked what a bot posted,
    so while Teams takes posts but answers only after the client gave up, each retry lands
    again. The copies are bounded by the attempts (backing off: 5 in the slow minute), none is
    lost, the order holds, and once Teams answers in time no copy more is made."""
    outbox.platform.time_out(lands=True)
    await outbox.run_for(timedelta(minutes=1))
    outbox.platform.recover()
    await outbox.run_for(timedelta(minutes=6))
    for reader, (identity, rows) in enumerate(outbox.rows.items()):
        received = outbox.platform.received(identity)
        expected = [words(reader, n) for n in range(MESSAGES)]
        assert [said for n, said in enumerate(received) if said not in received[:n]] == expected
        for message, row in zip(expected, rows, strict=True):
            attempts = outbox.recording.of(row)
            assert received.count(message) == len(attempts) <= MAX_ATTEMPTS
            assert isinstance(attempts[-1].result, Sent)
    assert {status for status, _ in outbox.statuses().values()} == {"sent"}
