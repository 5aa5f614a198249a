"""Stopping `spoke serve` loses nothing: SIGTERM lets the requests and the turns already
acknowledged finish, sends their replies, and hands back outbox rows still claimed; every log
line of a request carries its id (issue #9, operations)."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from assistant.clock import FakeClock
from assistant.messages import Outgoing, Reply, Text
from assistant.outbox import OutboxPump, Sender
from assistant.ports import SendResult, Sent
from storage.engine import make_engine
from storage.repositories import SqlStore
from tests.slack_fixtures import AMIRA, SIGNING_SECRET, Spoke
from tests.slack_mock import SlackApiMock
from tests.slack_signing import dm_channel_id, dm_event, json_body, slack_signed_headers
from tests.test_console import spoke as spoke_cli
from tests.test_serve import start_serve


class StuckPlatform:
    """Answers each message after `seconds` (forever when None); says who it was given."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.given: list[int] = []
        self.started = asyncio.Event()

    async def send(self, message: Outgoing) -> SendResult:
        self.given.append(message.id)
        self.started.set()
        await asyncio.sleep(3600 if self.seconds is None else self.seconds)
        return Sent()


def queue_messages(store: SqlStore, clock: FakeClock, readers: int) -> None:
    with store.transaction() as uow:
        for n in range(readers):
            uow.outbox.add(f"slack:T1:U{n}", {"channel": f"D{n}"}, Reply((Text(f"hello {n}"),)),
                           f"test:{n}", clock.now())


def statuses(store: SqlStore) -> list[tuple[str, str | None, int]]:
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "select status, lease_owner, attempts from outbox order by id"))]


async def test_a_stopping_pump_hands_back_the_rows_it_could_not_finish(store_on, clock) -> None:
    queue_messages(store_on, clock, 3)
    platform = StuckPlatform(seconds=None)  # the platform never answers
    pump = OutboxPump(Sender(store_on, platform, clock, worker="replica-a"), tick_seconds=60)
    await pump.start()
    await asyncio.wait_for(platform.started.wait(), timeout=5)
    assert {status for status, _, _ in statuses(store_on)} == {"sending"}

    await pump.stop(grace_seconds=0.2)

    # Back to pending at once: another replica takes them now, not in a minute. The attempt
    # stays spent (the stuck post may have landed: a retried row is looked for first).
    assert statuses(store_on) == [("pending", None, 1)] * 3
    other = Sender(store_on, StuckPlatform(seconds=0), clock, worker="replica-b")
    assert await other.deliver_due() == 3


async def test_a_stopping_pump_finishes_the_round_under_way_and_sends_what_was_queued(
        suite_store, clock) -> None:
    queue_messages(suite_store, clock, 2)
    platform = StuckPlatform(seconds=0.3)
    pump = OutboxPump(Sender(suite_store, platform, clock, worker="replica-a"), tick_seconds=60)
    await pump.start()
    await asyncio.wait_for(platform.started.wait(), timeout=5)
    await asyncio.to_thread(_queue_one_more, suite_store, clock)  # a turn's reply, just in

    await pump.stop(grace_seconds=5)

    # The round under way finished (no message cut off half-sent), and the last round sent the
    # reply a turn queued just before the stop.
    assert [status for status, _, _ in statuses(suite_store)] == ["sent"] * 3
    assert sorted(platform.given) == sorted(set(platform.given))


def _queue_one_more(store: SqlStore, clock: FakeClock) -> None:
    with store.transaction() as uow:
        uow.outbox.add("slack:T1:ULATE", {"channel": "DLATE"}, Reply((Text("late"),)), "test:late",
                       clock.now())


async def test_a_pump_that_never_started_stops_quietly(suite_store, clock) -> None:
    pump = OutboxPump(Sender(suite_store, StuckPlatform(0), clock, worker="a"))
    await pump.stop(grace_seconds=1)
    assert statuses(suite_store) == []


def lines_with(logs: io.StringIO, event: str) -> list[dict[str, object]]:
    return [entry for entry in map(json.loads, logs.getvalue().splitlines())
            if entry.get("event") == event]


async def test_every_line_of_a_request_and_of_its_turn_carries_the_request_id(
        spoke: Spoke, json_logs: io.StringIO) -> None:
    first = await spoke.post(json_body(dm_event(AMIRA, "hello")))
    await spoke.api.next_call("chat.postMessage")
    refused = await spoke.post(json_body(dm_event(AMIRA, "hello")), signed=False)

    request_id = first.headers["X-Request-Id"]
    assert len(request_id) == 16 and refused.headers["X-Request-Id"] != request_id
    # The turn ran after Slack was answered, in another task and thread: it still knows.
    assert [line["request_id"] for line in lines_with(json_logs, "turn.done")] == [request_id]
    assert [line["request_id"] for line in lines_with(json_logs, "slack.refused")] == [
        refused.headers["X-Request-Id"]]
    for line in lines_with(json_logs, "turn.done"):
        assert str(line["time"]).startswith("20")


async def test_a_proxy_request_id_is_kept_and_a_strange_one_replaced(spoke: Spoke) -> None:
    kept = await spoke.post(json_body(dm_event(AMIRA, "hi")), headers={"X-Request-Id": "lb-42.a"})
    strange = await spoke.post(json_body(dm_event(AMIRA, "hi", event_id="Ev2")),
                               headers={"X-Request-Id": 'x" {"level":"ERROR"}'})
    assert kept.headers["X-Request-Id"] == "lb-42.a"
    assert strange.headers["X-Request-Id"] != 'x" {"level":"ERROR"}'
    assert len(strange.headers["X-Request-Id"]) == 16


@pytest.mark.slow
async def test_sigterm_answers_every_acknowledged_event_and_leaves_no_row_claimed(
        tmp_path: Path, slack_api: SlackApiMock) -> None:
    """Five people write just before the operator stops the server. Slack has been answered
    200 for each, so it will not send them again: each must still get Spoke's reply."""
    assert spoke_cli(tmp_path, "db", "upgrade").returncode == 0
    assert spoke_cli(tmp_path, "demo", "seed").returncode == 0
    people = [f"U0GRACE{n}" for n in range(5)]
    for person in people:
        slack_api.add_user(person, real_name=f"Nurse {person[-1]}", tz="Europe/London")
    # Reading each profile takes a while: the turns are still to run when SIGTERM arrives.
    slack_api.fail_always("users.info", delay=1.0)
    process, base = await start_serve(tmp_path, slack_api, SPOKE_LOG_LEVEL="INFO")
    try:
        async with aiohttp.ClientSession() as http:
            async def write(person: str) -> int:
                body = json_body(dm_event(person, "hello"))
                headers = slack_signed_headers(body, SIGNING_SECRET, int(time.time()))
                headers["Content-Type"] = "application/json"
                async with http.post(f"{base}/slack/events", data=body, headers=headers) as answer:
                    return answer.status

            assert await asyncio.gather(*(write(person) for person in people)) == [200] * 5
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=40)
    assert process.returncode == 0
    answered = {call["channel"] for call in slack_api.calls("chat.postMessage")}
    assert answered >= {dm_channel_id(person) for person in people}
    assert process.stderr is not None
    logged = [json.loads(line) for line in (await process.stderr.read()).decode().splitlines()
              if line.startswith("{")]
    events = [line.get("event") for line in logged]
    assert "serve.stopping" in events and "serve.stopped" in events
    assert "slack.events_lost" not in events
    engine = make_engine(f"sqlite:///{tmp_path / 'spoke.db'}")
    try:
        with engine.connect() as connection:
            claimed = connection.execute(text(
                "select count(*) from outbox where status = 'sending'")).scalar_one()
            unsent = connection.execute(text(
                "select count(*) from outbox where status = 'pending' and identity like 'slack:%'"
            )).scalar_one()
    finally:
        engine.dispose()
    assert claimed == 0 and unsent == 0
