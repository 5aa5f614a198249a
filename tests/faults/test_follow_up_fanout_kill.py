"""SIGKILL one of two `spoke serve` replicas on PostgreSQL in the middle of a follow-up fan-out:
everyone registered still gets exactly one follow-up, worded for whether they came.

A facilitator sends a session's follow-up through the service (`send_follow_up`, issue #8) to
300 registered Slack users, a third of whom attended. The follow-up is planned as one outbox
row per reader holding a recipe; the replicas write each message when they claim its row (the
attendee/absentee split is made then). One replica is killed while the mock is still answering
some of its posts: those land, unrecorded, and the survivor retakes their rows after the lease,
finds them in the DM's history and does not post again (tests/faults/support.py).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from assistant.clock import SystemClock
from assistant.events import Actor, Hints
from assistant.i18n import Translator
from assistant.messages import Text
from assistant.model import AttendanceRecord, Series, Session
from assistant.runtime import Directory
from assistant.sealing import Sealer
from assistant.services.context import ServiceContext
from assistant.services.follow_ups import send_follow_up
from assistant.services.schedule import add_session
from storage.engine import make_engine
from storage.repositories import SqlStore, SqlUnitOfWork
from storage.scratch import scratch_database
from storage.tables import ReminderPreferenceRow
from tests.community import OPERATOR, member
from tests.faults.support import (
    SHARED_KEY,
    InFlightSlackApi,
    Participant,
    Replica,
    add_participants,
    check_exactly_once,
    kill_mid_fanout,
    outbox_rows,
    prepare,
    start_fanout_api,
    start_replicas,
    stop_all,
    table,
    user_id,
    wait_until_all_sent,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FANOUT = 300
KILL_AFTER = 60          # posted before the kill: the fan-out is well under way
TOPIC = "Pain at the end of life"
RECORDING = "https://example.org/recordings/41"
CONTENT = {"summary": "Managing pain in the last days of life, with two worked examples.",
           "resources": ["https://example.org/guides/pain"], "recording": RECORDING}


@pytest.fixture
async def slack_api() -> AsyncIterator[InFlightSlackApi]:
    """Replaces the shared `slack_api` here: the fan-out's people, replicas told apart."""
    api = await start_fanout_api([user_id(n) for n in range(FANOUT)])
    yield api
    await api.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_database(os.environ["SPOKE_TEST_POSTGRES_URL"]) as url:
        yield url


def attended(n: int) -> bool:
    """Every third person came; of the others, half were there too briefly to count (10 of
    60 minutes) and half have no record at all: both read "sorry we missed you"."""
    return n % 3 == 0


async def test_two_replicas_one_killed_every_follow_up_goes_exactly_once(
        postgres_url: str, slack_api: InFlightSlackApi, tmp_path: Path) -> None:
    fanout = prepare(postgres_url)
    replicas: list[Replica] = []
    try:
        await start_replicas(["a", "b"], postgres_url, slack_api, tmp_path, replicas)
        people, held = hold_session(postgres_url, fanout)
        follow_up = facilitator_follows_up(postgres_url, held)
        subject = f"follow_up:{follow_up}"
        kill = await kill_mid_fanout(replicas, slack_api, FANOUT, KILL_AFTER, both_sending=True)
        await wait_until_all_sent(postgres_url, subject, slack_api, FANOUT)
    finally:
        errors = await stop_all(replicas)

    messages = check_exactly_once(postgres_url, subject, people, slack_api, kill)
    assert kill.posted >= KILL_AFTER
    survivor = next(r for r in replicas if r is not kill.replica)
    assert errors[survivor.name] == "" and survivor.process.returncode == 0, errors[survivor.name]
    assert slack_api.posted_by[survivor.token] > 0

    # Worded for each reader when it went: thanks and the survey for those who came, "sorry
    # we missed you" and no survey for the others, in their language and zone.
    title = f"{fanout.title}: {TOPIC}"
    evaluate = f"act:evaluate:{held.id}"
    for n, person in enumerate(people):
        t = Translator(person.language)
        date = t.datetime(held.starts_at, person.time_zone, "date")
        message = messages[person.person_id]
        buttons = json.dumps(message["blocks"])
        if attended(n):
            assert t("follow_up.message.thanks", title=title, date=date) in message["text"]
            assert evaluate in buttons
        else:
            assert t("follow_up.message.missed", title=title, date=date) in message["text"]
            assert evaluate not in buttons
        assert RECORDING in buttons
    # Writing a retaken row again planned no second survey reminder.
    nudges = outbox_rows(postgres_url, f"evaluation:{held.id}")
    came = {p.person_id for n, p in enumerate(people) if attended(n)}
    assert Counter(r.person_id for r in nudges) == dict.fromkeys(came, 1)


def hold_session(url: str, fanout: Series) -> tuple[list[Participant], Session]:
    """A session of the series that ended two hours ago, its 300 registered people (no quiet
    hours, so the follow-up goes at once whatever the hour the test runs) and the attendance
    report, in one transaction."""
    now = SystemClock().now()
    starts_at = now - timedelta(hours=3)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            uow = SqlUnitOfWork(connection)
            held = add_session(uow, OPERATOR, fanout, starts_at, 60, starts_at - timedelta(days=7),
                               {"topic": TOPIC, "expert": "Dr Rao"})
            assert isinstance(held, Session), held
            people = add_participants(connection, fanout, FANOUT, now)
            connection.execute(insert(table(ReminderPreferenceRow)), [
                {"person_id": p.person_id, "kinds": ["day", "hour"], "quiet_start": "00:00",
                 "quiet_end": "00:00", "work_days": [0, 1, 2, 3, 4, 5, 6], "updated_at": now}
                for p in people])
            for n, person in enumerate(people):
                if n % 3 != 2:
                    uow.attendance.mark(AttendanceRecord(
                        held.id, person.person_id, True, 55 if attended(n) else 10, "zoom",
                        "import:zoom.csv", now))
    finally:
        engine.dispose()
    return people, held


def facilitator_follows_up(url: str, held: Session) -> int:
    """The network's facilitator sends the follow-up now, through the service; returns its id."""
    store = SqlStore(make_engine(url), Sealer([SHARED_KEY]))
    try:
        now = SystemClock().now()
        with store.transaction() as uow:
            series = uow.schedule.series(held.series_id)
            assert series is not None
        fay = member(store, now, "fay", network=series.network, role="facilitator")
        with store.transaction() as uow:
            ctx = ServiceContext(uow, Actor("console:fay"), now, Translator("en"), Hints(),
                                 Directory(), uow.people.get(fay), {})
            said = send_follow_up(ctx, held.id, CONTENT, None, "follow-up-fanout")
            assert isinstance(said, list) and isinstance(said[0], Text), said
            assert said[0].text == ctx.t("follow_up.sent", count=FANOUT)
            [follow_up] = uow.follow_ups.of_session(held.id)
        return follow_up.id
    finally:
        store.close()
