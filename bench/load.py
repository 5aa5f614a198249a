"""200 simulated participants on Slack and Teams at once against one `spoke serve` (issue #9).

    .venv/bin/python bench/load.py                        # 200 users, 120 s: SQLite, PostgreSQL, replica kill
    .venv/bin/python bench/load.py --quick                # smoke run: 40 users, 15 s each
    .venv/bin/python bench/load.py --database sqlite      # one run on SQLite only
    .venv/bin/python bench/load.py --database postgresql  # PostgreSQL, then the replica kill
    .venv/bin/python bench/load.py --only-kill            # only the replica kill (--seed N to vary it)
    .venv/bin/python bench/load.py --users 100 --duration 60 --no-kill
    .venv/bin/python bench/load.py --users 2 --duration 20 --database sqlite --trace   # each message

Prints figures, asserts nothing. PostgreSQL comes from SPOKE_TEST_POSTGRES_URL (a scratch
database per run, as bench/follow_ups.py); without it those runs are skipped with a note.

Each run, on one machine, over loopback:

- `spoke serve` (the real command, its own process, port 0) configured for Slack AND Teams at
  once, on a fresh database migrated with `spoke db upgrade`, seeded with `spoke demo seed`, plus
  one open series of 8 weekly sessions with room for everyone (`spoke admin series add`: the demo
  series holds 30 places, and a full series leaves nothing to RSVP to);
- the Slack Web API mock (tests/slack_mock.py) and the local Bot Framework (tests/teams_mock.py:
  identity over https, connector) in threads of this process, as bench/slack.py and
  bench/teams.py run them;
- half the users on Slack (signed Events API deliveries and block_actions clicks, each in its
  own DM), half on Teams (a personal chat each, an RS256 channel token minted per activity,
  Action.Submit card payloads), asyncio tasks on one aiohttp session.

Each user starts at a random moment in the first few seconds, then: the registration as typed
(once; bench/slack.py and bench/teams.py's scripts), then in a loop until the time is up:
`sessions`; an RSVP on the listing (the "Register for this series" button the first time, then
"I'll attend" and "Can't make it" in turn); and a case drafted and submitted through the
`case` dialog, answering whatever it asks (buttons pressed where the reply has them, else the
label typed), with a think time (uniform, --think) before every message. Each user waits for
the reply to each message before thinking about the next.

- turn: one message (typed or pressed) and its reply; turns/s over the run's wall time, first
  send to the last reply;
- ack: client-side HTTP request to response; reply: from just before sending (time.time()) to
  the mock's arrival stamp of the reply into that user's conversation (same clock);
- errors: any response other than 2xx, any reply not come within --reply-timeout, any reply that
  reads as an error ("Sorry, something went wrong", "I didn't understand", an unrecognised
  choice), a step the dialog did not offer; a user stops at a timeout or HTTP error (their
  conversation is no longer in step), and types *cancel* after an unexpected reply;
- exactly once: after the users stop (and the outbox's lease has run out, in the kill run), the
  replies each user's conversation received at the mock, against the messages they sent (by
  platform when they differ);
- RSS: VmRSS of each `spoke serve` every 5 s (/proc); "flat" when the last sample is within 5%
  (and 16 MiB) of the sample half-way through; CPU: the server's user+system seconds over the
  run as a share of one core, and this process's (users and mocks).

The replica kill: two `spoke serve` on one PostgreSQL database (the same key), requests spread
round-robin over them by this process (a tiny load balancer); one replica is SIGKILLed half-way,
at the first moment (within 5 s) when a request is on its way to it.
A request that fails to connect or loses its connection is sent again (same body, same event or
activity id, the next replica), as Slack and Teams redeliver; a replica that refused a
connection is skipped for 2 s. The outbox's lease is 10 s (SPOKE_OUTBOX_LEASE_SECONDS; 60 by
default) and its tick 1 s, as in tests/faults/, so the survivor retakes the dead one's rows
within the reply timeout.

Targets (issue #9): error count 0; RSS flat. Latency and throughput are reported, not targeted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import loadkit  # bench/, beside this script (Python puts a script's folder on sys.path)
import slack as slack_bench  # bench/slack.py: its registration script, users and replies
import teams as teams_bench  # bench/teams.py: likewise for Teams
from loadkit import Replies, Server, memory_kib, percentile

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.i18n import catalogue, translate  # noqa: E402
from storage.scratch import scratch_database  # noqa: E402
from tests.slack_fixtures import find_option  # noqa: E402
from tests.slack_mock import SlackApiMock, ThreadedSlackApiMock  # noqa: E402
from tests.slack_signing import (  # noqa: E402
    FORM,
    TEAM_ID,
    block_actions,
    dm_channel_id,
    dm_event,
    form_body,
    json_body,
    slack_signed_headers,
)
from tests.teams_activities import card_submit, personal_message  # noqa: E402
from tests.teams_fixtures import submit_value  # noqa: E402
from tests.teams_mock import BotConnectorMock, BotFrameworkIdentity, ServerThread  # noqa: E402

USERS, DURATION_S = 200, 120.0
QUICK_USERS, QUICK_DURATION_S = 40, 15.0
THINK_S = (1.0, 3.0)          # uniform, before every message
QUICK_THINK_S = (0.1, 0.3)    # so that a 15 s smoke run gets through a case or two
REPLY_TIMEOUT_S = 30.0
SAMPLE_EVERY_S = 5.0
RAMP_S = 5.0                  # users start at random moments in the first RAMP_S seconds
LEASE_S, TICK_S = 10, 1       # the kill run's outbox lease and tick (tests/faults/ use the same)
SHARED_KEY = "the key every replica of the load bench shares"
REQUEST_ATTEMPTS = 6          # a request is sent at most this often (connection errors only)
DOWN_FOR_S = 2.0              # a replica that refused a connection is skipped this long
KILL_WAIT_S = 5.0             # half-way, the kill waits up to this long for a request in flight to it
FLAT_SHARE, FLAT_KIB = 0.05, 16 * 1024
TRACE = False                 # --trace: each message and the start of its reply (a few users only)
LOG_TROUBLE = ('"ERROR"', '"CRITICAL"', "Traceback")

SERIES_NAME = "load-2027"


def en(message_id: str, **args: object) -> str:
    return translate(message_id, "en", **args)


def marker(message_id: str) -> str:
    """The start of a catalogue string, up to its first placeholder or markup: what a reply
    that says it holds, however the platform renders it."""
    text = catalogue("en")[message_id]
    for stop in ("{", "*", '"', "\n", "("):
        text = text.split(stop)[0]
    return text[:48].strip()


REGISTERED = marker("registration.done")   # "You're registered"
# Replies that read as an error (any of them counts).
ERROR_MARKERS = tuple(marker(m) for m in ("runtime.apology", "commands.unknown", "runtime.choose.unknown",
                                          "runtime.empty"))

QUESTION = "How can we ease her breathlessness at night?"
# The case dialog, whatever order it asks in: (what the question says, what the user does:
# "press:<label>" or "type:<text>"). The first that the reply holds wins; the end comes first.
CASE_STEPS: tuple[tuple[str, str], ...] = (
    (marker("case.submitted"), "done"),
    (marker("case.update_later.ask"), "press:" + en("runtime.no")),
    (marker("case.declare.responsibility"), "press:" + en("case.declare.responsibility.yes")),
    (marker("case.declare.consent_policy"), "press:" + en("case.declare.consent_policy.yes")),
    (marker("case.declare.deidentified"), "press:" + en("case.declare.deidentified.yes")),
    (marker("case.preview.ask"), "press:" + en("case.preview.ready")),
    (marker("case.questions.ask"), "type:" + QUESTION),
    (marker("case.case_type.ask"), "press:" + en("case.case_type.patient")),
    (marker("case.presenter_setting.ask"), "press:" + en("fields.care_setting.care_home_nursing")),
    (marker("case.session.ask"), "press:" + en("case.session.any")),
    (marker("case.summary.ask"), "type:A woman in her 80s with advanced heart failure"),
    (marker("case.age_band.ask"), "press:80-89"),
    (marker("case.sex.ask"), "press:" + en("case.sex.female")),
    (marker("case.care_setting.ask"), "press:" + en("fields.care_setting.care_home_nursing")),
    (marker("case.how.ask"), "press:" + en("case.how.chat")),
    (marker("case.diagnosis.ask"), "type:Heart failure and CKD; two admissions in three months"),
    (marker("case.symptoms.ask"), "type:Breathless at night, frightened, wants to stay in the home"),
    (marker("case.medications.ask"), "type:skip"),
    (marker("case.psychosocial.ask"), "type:skip"),
    (marker("case.acp_status.ask"), "press:" + en("case.acp_status.discussed")),
    (marker("case.acp_notes.ask"), "type:skip"),
    (marker("case.tried.ask"), "type:Oxygen at night: no change. A fan helps a little."),
    (marker("case.services.ask"), "type:skip"),
)
CASE_MAX_STEPS = 40           # a dialog that goes on longer than this is going round in circles
JOIN, GOING, NOT_GOING = (en("sessions.action.join.open"), en("sessions.action.going"),
                          en("sessions.action.not_going"))


# --- the two platforms ------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


class SlackSide:
    """Slack: signed Events API messages in the user's DM, block_actions clicks, the reply is a
    chat.postMessage into that DM."""

    name = "Slack"
    accepted = (200,)

    def __init__(self, api: SlackApiMock) -> None:
        self.api = api

    @staticmethod
    def users(prefix: str, count: int) -> list[str]:
        return slack_bench.user_ids(f"L{prefix}", count)

    def registration(self, user: str) -> list[str]:
        return slack_bench.answers(user)

    def replies(self) -> Replies[Any]:
        return slack_bench.dm_replies(self.api)

    @staticmethod
    def text_of(reply: Any) -> str:
        blocks = reply.get("blocks")
        shown = blocks if isinstance(blocks, str) else json.dumps(blocks or [], ensure_ascii=False)
        return f"{reply.get('text') or ''}\n{shown}"

    @staticmethod
    def _signed(body: bytes, content_type: str = "application/json") -> Request:
        return Request("/slack/events", body,
                       slack_signed_headers(body, slack_bench.SIGNING_SECRET, int(time.time()), content_type))

    def typed(self, user: str, text: str, number: int) -> Request:
        return self._signed(json_body(dm_event(user, text, event_id=f"EvL{user}{number:05d}")))

    def pressed(self, user: str, reply: Any, label: str, _number: int) -> Request | None:
        try:
            action_id, value, is_select = find_option(reply.get("blocks") or [], label)
        except AssertionError:
            return None
        body = form_body(block_actions(user, TEAM_ID, action_id, value, channel=dm_channel_id(user),
                                       selected_option=is_select))
        return self._signed(body, FORM)

    @staticmethod
    def retried(request: Request, attempt: int) -> Request:
        """Slack's redelivery: the same body, marked as a retry."""
        return Request(request.path, request.body, {**request.headers, "X-Slack-Retry-Num": str(attempt),
                                                    "X-Slack-Retry-Reason": "http_error"})

    def received(self, users: Sequence[str]) -> dict[str, int]:
        """The replies each user's DM received at the mock."""
        posted = Counter(str(call.get("channel")) for call in self.api.calls("chat.postMessage") if call.ok)
        return {user: posted.get(dm_channel_id(user), 0) for user in users}


class TeamsSide:
    """Teams: activities in the user's personal chat (a channel token minted for each), card
    submissions; the reply is the activity the connector mock accepts in that conversation."""

    name = "Teams"
    accepted = (200, 201, 202)

    def __init__(self, identity: BotFrameworkIdentity, connector: BotConnectorMock) -> None:
        self.identity, self.connector = identity, connector

    @staticmethod
    def users(prefix: str, count: int) -> list[str]:
        return teams_bench.user_names(f"L{prefix}", count)

    def registration(self, user: str) -> list[str]:
        return teams_bench.answers(user)

    def replies(self) -> Replies[Any]:
        return teams_bench.connector_replies(self.connector)

    @staticmethod
    def text_of(reply: Any) -> str:
        return teams_bench.reply_text(reply)

    def _posted(self, activity: dict[str, Any]) -> Request:
        token = self.identity.mint(service_url=self.connector.service_url)
        return Request("/api/messages", json.dumps(activity).encode(),
                       {"Authorization": f"Bearer {token}",
                        "Content-Type": "application/json; charset=utf-8"})

    def typed(self, user: str, text: str, _number: int) -> Request:
        return self._posted(dict(personal_message(text, service_url=self.connector.service_url,
                                                  user_aad=teams_bench.aad_of(user),
                                                  user_name=teams_bench.USER_NAME)))

    def pressed(self, user: str, reply: Any, label: str, _number: int) -> Request | None:
        try:
            value = submit_value(reply.activity, label)
        except AssertionError:
            return None
        return self._posted(dict(card_submit(value, reply_to_id=reply.id,
                                             service_url=self.connector.service_url,
                                             user_aad=teams_bench.aad_of(user),
                                             user_name=teams_bench.USER_NAME)))

    @staticmethod
    def retried(request: Request, _attempt: int) -> Request:
        """The Bot Framework redelivers the same activity (same id) with its token."""
        return request

    def received(self, users: Sequence[str]) -> dict[str, int]:
        posted = Counter(str(call.conversation_id) for call in self.connector.activities())
        return {user: posted.get(teams_bench.conversation_of(user), 0) for user in users}


Side = SlackSide | TeamsSide


# --- a tiny round-robin load balancer ----------------------------------------------------------

class Balancer:
    """Sends each request to the next replica; on a connection error, again to the next one."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        self._next = 0
        self._down_until: dict[str, float] = {}
        self.in_flight: Counter[str] = Counter()
        self.failovers = 0        # requests sent again after a connection error
        self.refused: Counter[str] = Counter()  # connection errors, by replica
        self.killed = ""          # the replica SIGKILLed, once it is
        self.watched: asyncio.Event | None = None  # set when a request goes to the second replica

    def _pick(self) -> str:
        now = time.monotonic()
        for _ in range(len(self.urls)):
            url = self.urls[self._next % len(self.urls)]
            self._next += 1
            if self._down_until.get(url, 0.0) <= now:
                return url
        return self.urls[self._next % len(self.urls)]

    async def post(self, http: aiohttp.ClientSession, request: Request,
                   retried: Callable[[Request, int], Request]) -> tuple[int, str]:
        """The status of the first answer and the replica that gave it; raises the last connection
        error after REQUEST_ATTEMPTS."""
        attempt = 0
        while True:
            url = self._pick()
            self.in_flight[url] += 1
            if self.watched is not None and url == self.urls[-1]:
                self.watched.set()
            try:
                async with http.post(url + request.path, data=request.body,
                                     headers=request.headers) as response:
                    await response.read()
                    return response.status, url
            except (aiohttp.ClientConnectionError, TimeoutError):
                self.refused[url] += 1
                self._down_until[url] = time.monotonic() + DOWN_FOR_S
                attempt += 1
                if attempt >= REQUEST_ATTEMPTS:
                    raise
                self.failovers += 1
                request = retried(request, attempt)
                await asyncio.sleep(0.05 * attempt)
            finally:
                self.in_flight[url] -= 1


# --- the participants ---------------------------------------------------------------------------

@dataclass
class Tally:
    """What every user did in one run."""

    acks: dict[str, list[float]] = field(default_factory=lambda: {"Slack": [], "Teams": []})
    replies: dict[str, list[float]] = field(default_factory=lambda: {"Slack": [], "Teams": []})
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (sent at, reply seconds)
    by_step: dict[str, list[float]] = field(default_factory=dict)     # reply seconds by step
    sent: Counter[str] = field(default_factory=Counter)         # messages acknowledged, by user
    errors: Counter[str] = field(default_factory=Counter)       # by kind
    examples: dict[str, str] = field(default_factory=dict)      # one per kind
    stopped: Counter[str] = field(default_factory=Counter)      # users stopped early, by reason kind
    typed_labels: int = 0       # labels typed because the reply had no such button (a select, a list)
    registered: int = 0
    rsvps: int = 0
    listings: int = 0
    cases: int = 0
    first_send: float = float("inf")
    last_reply: float = 0.0

    def error(self, kind: str, example: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, example)

    @property
    def turns(self) -> int:
        return sum(len(r) for r in self.replies.values())


class Stop(Exception):
    """The user's time is up."""


class Failed(Exception):
    """The user cannot go on: their conversation is no longer in step."""


class Participant:
    """One simulated person on one platform: types or presses, waits for the reply, thinks."""

    def __init__(self, side: Side, user: str, http: aiohttp.ClientSession, balancer: Balancer,
                 inbox: asyncio.Queue[Any], tally: Tally, rng: random.Random, think_s: tuple[float, float],
                 deadline: float, reply_timeout_s: float) -> None:
        self.side, self.user, self.http, self.balancer = side, user, http, balancer
        self.inbox, self.tally, self.rng, self.think_s = inbox, tally, rng, think_s
        self.deadline, self.reply_timeout_s = deadline, reply_timeout_s
        self.last: Any = None
        self.number = 0
        self.step = "registration"   # what the next message is part of, for the figures by step

    @property
    def last_text(self) -> str:
        return self.side.text_of(self.last) if self.last is not None else ""

    async def say(self, text: str) -> str:
        return await self._send(lambda n: self.side.typed(self.user, text, n), text)

    async def press(self, label: str) -> str:
        """The button (or select option) with this label in the last reply, else the label typed."""
        if self.last is not None and self.side.pressed(self.user, self.last, label, 0) is not None:
            return await self._send(lambda n: self.side.pressed(self.user, self.last, label, n), label)
        self.tally.typed_labels += 1
        return await self.say(label)

    async def _send(self, make: Callable[[int], Request | None], what: str) -> str:
        await asyncio.sleep(self.rng.uniform(*self.think_s))
        if time.monotonic() >= self.deadline:
            raise Stop
        self.number += 1
        request = make(self.number)
        assert request is not None
        sent_at = time.time()
        started = time.perf_counter()
        self.tally.first_send = min(self.tally.first_send, sent_at)
        try:
            status, answered_by = await self.balancer.post(self.http, request, self.side.retried)
        except (aiohttp.ClientError, TimeoutError) as error:
            self.tally.error("connection", f"{type(error).__name__} after {REQUEST_ATTEMPTS} attempts")
            raise Failed("connection") from error
        self.tally.acks[self.side.name].append(time.perf_counter() - started)
        if status not in self.side.accepted:
            self.tally.error(f"HTTP {status}", f"{self.side.name} {self.user}: HTTP {status}")
            raise Failed(f"HTTP {status}")
        self.tally.sent[self.user] += 1
        try:
            reply = await asyncio.wait_for(self.inbox.get(), self.reply_timeout_s)
        except TimeoutError as error:
            kind = ("reply timeout (acknowledged by the replica then killed)"
                    if answered_by == self.balancer.killed else "reply timeout")
            self.tally.error(kind, f"{self.side.name} {self.user}: no reply within "
                             f"{self.reply_timeout_s:.0f} s to message {self.number}")
            raise Failed("reply timeout") from error
        self.tally.replies[self.side.name].append(reply.at - sent_at)
        self.tally.timeline.append((sent_at, reply.at - sent_at))
        self.tally.by_step.setdefault(self.step, []).append(reply.at - sent_at)
        self.tally.last_reply = max(self.tally.last_reply, reply.at)
        self.last = reply
        text = self.side.text_of(reply)
        if TRACE:
            print(f"    {self.user} {what[:30]!r} -> {' '.join(text.split())[:150]!r}", flush=True)
        for error_marker in ERROR_MARKERS:
            if error_marker in text:
                self.tally.error("error-looking reply", f"{self.side.name}: {error_marker!r} after {what!r}")
        return text

    async def register(self) -> None:
        self.step = "registration"
        for answer in self.side.registration(self.user):
            await self.say(answer)
        if REGISTERED in self.last_text:
            self.tally.registered += 1
        else:
            self.tally.error("unexpected reply",
                             f"{self.side.name}: registration ended without {REGISTERED!r}")
            await self.say("cancel")

    async def rsvp(self, round_number: int) -> None:
        self.step = "sessions"
        listing = await self.say("sessions")
        self.tally.listings += 1
        label = JOIN if JOIN in listing else (GOING if round_number % 2 else NOT_GOING)
        if label not in listing:
            self.tally.error("unexpected reply", f"{self.side.name}: no {label!r} in the listing")
            return
        self.step = "RSVP"
        await self.press(label)
        self.tally.rsvps += 1

    async def draft_case(self) -> None:
        self.step = "case"
        text = await self.say("case")
        self.step = "case answers"
        for _ in range(CASE_MAX_STEPS):
            action = next((a for question, a in CASE_STEPS if question in text), None)
            if action is None:
                self.tally.error("unexpected reply", f"{self.side.name}: the case dialog asked something "
                                 f"this script does not know ({len(text)} characters)")
                await self.say("cancel")
                return
            if action == "done":
                self.tally.cases += 1
                return
            how, _, what = action.partition(":")
            text = await (self.press(what) if how == "press" else self.say(what))
        self.tally.error("unexpected reply", f"{self.side.name}: the case dialog did not end in "
                         f"{CASE_MAX_STEPS} answers")
        await self.say("cancel")

    async def run(self, start_after_s: float, rounds: int | None = None) -> None:
        """The registration, then rounds of sessions, RSVP and case until the time is up (or
        `rounds` of them)."""
        await asyncio.sleep(start_after_s)
        try:
            await self.register()
            round_number = 0
            while rounds is None or round_number < rounds:
                round_number += 1
                await self.rsvp(round_number)
                await self.draft_case()
        except Stop:
            pass
        except Failed as failed:
            self.tally.stopped[str(failed)] += 1


# --- a run ------------------------------------------------------------------------------------

@dataclass
class Outcome:
    label: str
    users: int
    tally: Tally
    wall_s: float
    memory: dict[str, list[tuple[float, int, float]]]  # replica -> (seconds in, VmRSS KiB, CPU s so far)
    metrics: dict[str, list[dict[str, float]]]         # replica -> its /metrics at each sample
    cpu: dict[str, float]                        # replica -> CPU seconds over the run
    driver_cpu_s: float
    load_before: str
    load_after: str
    received: dict[str, dict[str, int]]          # platform -> user -> replies at the mock
    unread: int
    stray: int
    balancer: Balancer
    trouble: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(self.tally.errors.values())

    def duplicates_and_missing(self, platform: str | None = None) -> tuple[int, int, int]:
        """(users with more replies than messages, extra replies, replies missing), on one
        platform or both."""
        extra = missing = users = 0
        for name, by_user in self.received.items():
            if platform not in (None, name):
                continue
            for user, count in by_user.items():
                sent = self.tally.sent.get(user, 0)
                if count > sent:
                    users += 1
                    extra += count - sent
                missing += max(0, sent - count)
        return users, extra, missing


@dataclass
class Setup:
    slack: SlackSide
    teams: TeamsSide
    spoke: str
    users: int
    duration_s: float
    think_s: tuple[float, float]
    reply_timeout_s: float
    seed: int


def spoke_env(setup: Setup, workdir: Path, database_url: str) -> dict[str, str]:
    """Both platforms on: Teams as bench/teams.py configures it, Slack as bench/slack.py."""
    env = teams_bench.spoke_env(workdir, setup.teams.identity)
    env = {k: v for k, v in env.items() if not k.startswith(("SPOKE_OUTBOX_", "SPOKE_LOG"))}
    env.update(DATABASE_URL=database_url, SPOKE_DATA_DIR=str(workdir), SPOKE_SECRET_KEY=SHARED_KEY,
               SLACK_BOT_TOKEN=slack_bench.BOT_TOKEN, SLACK_SIGNING_SECRET=slack_bench.SIGNING_SECRET,
               SLACK_API_URL=setup.slack.api.url, SLACK_BOT_USER_ID="UBOT")
    return env


def prepare(spoke: str, env: dict[str, str]) -> None:
    """Migrated, the demo seeded, and a series with room for everyone (8 weekly sessions)."""
    loadkit.prepare_database(spoke, env)
    first = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7 * 86400))
    done = subprocess.run(  # noqa: S603 - our own command and arguments
        [spoke, "admin", "series", "add", "--network", "care-homes", "--name", SERIES_NAME,
         "--title", "Care Homes ECHO: load test", "--recurrence", "weekly", "--time", "13:00",
         "--tz", "Europe/London", "--duration", "60", "--join-url", "https://zoom.example.org/j/789",
         "--capacity", "5000", "--state", "open", "--first", first, "--count", "8"],
        env=env, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"spoke admin series add failed: {done.stderr.strip()[-600:]}")


def serve(label: str, spoke: str, env: dict[str, str], log: Path, stack: ExitStack) -> Server:
    logs = stack.enter_context(open(log, "w+b"))  # noqa: SIM115 - closed by the stack
    command = [spoke, "serve", "--host", "127.0.0.1", "--port", "0"]
    return stack.enter_context(Server(label, command, env, logs))


async def warm_up(setup: Setup, http: aiohttp.ClientSession, balancer: Balancer,
                  replies: dict[str, Replies[Any]]) -> list[str]:
    """One untimed user per platform (per replica) through the whole mix once: first imports,
    keys and tokens, the city index, compiled statements. Returns notes."""
    notes = []
    tally = Tally()
    users = [(side, user) for side in (setup.slack, setup.teams)
             for user in side.users("W", len(balancer.urls))]
    started = time.perf_counter()
    await asyncio.gather(*(Participant(side, user, http, balancer, replies[side.name].queue(user), tally,
                                       random.Random(0), (0.0, 0.0), float("inf"),
                                       setup.reply_timeout_s).run(0.0, rounds=1) for side, user in users))
    notes.append(f"warm-up, untimed: {len(users)} users through the mix once ({tally.turns} turns, "
                 f"{tally.cases} cases) in {time.perf_counter() - started:.1f} s, "
                 f"{sum(tally.errors.values())} errors")
    return notes


METRICS = ("spoke_turn_seconds_sum", "spoke_turn_seconds_count", "spoke_outbox_pending",
           "spoke_outbox_oldest_due_seconds")


async def scrape(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The few /metrics figures the run prints, summed over their labels ({} if unanswered)."""
    try:
        async with http.get(f"{url}/metrics", timeout=aiohttp.ClientTimeout(total=4)) as response:
            page = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return {}
    figures: dict[str, float] = {}
    for line in page.splitlines():
        name, _, value = line.partition(" ") if "{" not in line else (
            line.split("{")[0], "", line.rsplit(" ", 1)[-1])
        if name in METRICS:
            figures[name] = figures.get(name, 0.0) + float(value)
    return figures


async def sample_servers(http: aiohttp.ClientSession, servers: Sequence[Server],
                         into: dict[str, list[tuple[float, int, float]]],
                         metrics: dict[str, list[dict[str, float]]], started: float,
                         stop: asyncio.Event) -> None:
    """Every SAMPLE_EVERY_S: each live server's RSS and CPU so far, and its /metrics."""
    while True:
        for server in servers:
            if server.process.poll() is None:
                sample = (time.monotonic() - started, memory_kib(server.pid)[0], loadkit.cpu_s(server.pid))
                into.setdefault(server.label, []).append(sample)
                metrics.setdefault(server.label, []).append(await scrape(http, server.url))
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)
            return
        except TimeoutError:
            continue


async def kill_later(server: Server, after_s: float, balancer: Balancer, cpu_at_kill: dict[str, float],
                     notes: list[str]) -> None:
    await asyncio.sleep(after_s)
    # Mid-run, at a moment when requests are on their way to it (up to KILL_WAIT_S more).
    waited = time.monotonic()
    balancer.watched = asyncio.Event()
    if not balancer.in_flight[server.url]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(balancer.watched.wait(), KILL_WAIT_S)
    in_flight = balancer.in_flight[server.url]
    cpu_at_kill[server.label] = loadkit.cpu_s(server.pid)
    server.process.send_signal(signal.SIGKILL)
    balancer.killed = server.url
    notes.append(f"{server.label} SIGKILLed {after_s + time.monotonic() - waited:.1f} s in, with {in_flight} "
                 f"requests in flight to it")


async def drive(setup: Setup, label: str, servers: Sequence[Server], kill: Server | None) -> Outcome:
    """The users against `servers` (round-robin) for the duration; `kill` is SIGKILLed half-way."""
    for server in servers:
        loadkit.settled_memory_kib(server.pid)
    balancer = Balancer([s.url for s in servers])
    tally = Tally()
    half = setup.users // 2
    everyone: list[tuple[Side, str]] = [(setup.slack, u) for u in setup.slack.users("", half)]
    everyone += [(setup.teams, u) for u in setup.teams.users("", setup.users - half)]
    rng = random.Random(setup.seed)
    memory: dict[str, list[tuple[float, int, float]]] = {}
    metrics: dict[str, list[dict[str, float]]] = {}
    notes: list[str] = []
    connector = aiohttp.TCPConnector(limit=0)  # one connection per user in flight, as the platforms
    timeout = aiohttp.ClientTimeout(total=setup.reply_timeout_s)
    async with (setup.slack.replies() as slack_replies, setup.teams.replies() as teams_replies,
                aiohttp.ClientSession(connector=connector, timeout=timeout) as http):
        replies = {"Slack": slack_replies, "Teams": teams_replies}
        notes += await warm_up(setup, http, balancer, replies)
        load_before = loadkit.load_average()
        cpu_before = {s.label: loadkit.cpu_s(s.pid) for s in servers}
        own_before = loadkit.own_cpu_s()
        started = time.monotonic()
        deadline = started + setup.duration_s
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_servers(http, servers, memory, metrics, started, stop))
        cpu_at_kill: dict[str, float] = {}
        killer = (asyncio.create_task(kill_later(kill, setup.duration_s / 2, balancer, cpu_at_kill, notes))
                  if kill is not None else None)
        people = [Participant(side, user, http, balancer, replies[side.name].queue(user), tally,
                              random.Random(rng.random()), setup.think_s, deadline, setup.reply_timeout_s)
                  for side, user in everyone]
        ramp = min(RAMP_S, setup.duration_s / 4)
        await asyncio.gather(*(p.run(rng.uniform(0, ramp)) for p in people))
        wall_s = max(tally.last_reply - tally.first_send, 1e-9)
        if killer is not None:
            await killer
        cpu = {s.label: (cpu_at_kill[s.label] if s.label in cpu_at_kill else loadkit.cpu_s(s.pid))
               - cpu_before[s.label] for s in servers}
        driver_cpu_s = loadkit.own_cpu_s() - own_before
        stop.set()
        await sampler
        # Late replies (a retaken row after the lease) reach their conversations before counting.
        await asyncio.sleep(LEASE_S + 3 * TICK_S if kill is not None else 2.0)
        unread = sum(replies[side.name].unread([user]) for side, user in everyone)
        stray = slack_replies.stray + teams_replies.stray
    received = {side.name: side.received([u for s, u in everyone if s is side])
                for side in (setup.slack, setup.teams)}
    notes.append("calls to the mocks (warm-up included): Slack " + ", ".join(
        f"{method} {n}" for method, n in Counter(c.method for c in setup.slack.api.calls()).most_common())
        + "; Teams connector " + ", ".join(
        f"{kind} {n}" for kind, n in Counter(c.kind for c in setup.teams.connector.calls()).most_common()))
    trouble = {s.label: s.logged_errors(LOG_TROUBLE) for s in servers}
    return Outcome(label, setup.users, tally, wall_s, memory, metrics, cpu, driver_cpu_s, load_before,
                   loadkit.load_average(), received, unread, stray, balancer, trouble, notes)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'spoke.db'}"
    else:
        with scratch_database(os.environ["SPOKE_TEST_POSTGRES_URL"]) as url:
            yield url


def run(setup: Setup, kind: str) -> Outcome:
    """One run: "sqlite", "postgresql" (one `spoke serve`) or "replica-kill" (two on PostgreSQL)."""
    replicas = 2 if kind == "replica-kill" else 1
    with tempfile.TemporaryDirectory(prefix=f"spoke-bench-load-{kind}-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        url = stack.enter_context(database("sqlite" if kind == "sqlite" else "postgresql", workdir))
        env = spoke_env(setup, workdir, url)
        if replicas > 1:
            env.update(SPOKE_OUTBOX_LEASE_SECONDS=str(LEASE_S), SPOKE_OUTBOX_TICK_SECONDS=str(TICK_S))
        prepare(setup.spoke, env)
        servers = [serve(f"spoke serve {'ab'[n]}" if replicas > 1 else "spoke serve", setup.spoke, env,
                         workdir / f"serve-{n}.log", stack) for n in range(replicas)]
        label = {"sqlite": "SQLite", "postgresql": "PostgreSQL",
                 "replica-kill": "PostgreSQL, 2 replicas, 1 killed"}
        return asyncio.run(drive(setup, label[kind], servers, servers[1] if replicas > 1 else None))


# --- printing ---------------------------------------------------------------------------------

def ms(samples: Sequence[float], p: float) -> str:
    return f"{percentile(sorted(samples), p) * 1000:9.1f}" if samples else f"{'-':>9}"


def latency_rows(outcome: Outcome) -> list[str]:
    rows = [f"    {'':<16}{'turns':>8}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>9}{'max ms':>9}"]
    acks = outcome.tally.acks["Slack"] + outcome.tally.acks["Teams"]
    replies = outcome.tally.replies["Slack"] + outcome.tally.replies["Teams"]
    t = outcome.tally
    for what, samples in (("reply, both", replies), ("reply, Slack", t.replies["Slack"]),
                          ("reply, Teams", t.replies["Teams"]), ("ack, both", acks),
                          ("ack, Slack", t.acks["Slack"]), ("ack, Teams", t.acks["Teams"])):
        rows.append(f"    {what:<16}{len(samples):>8}{ms(samples, 50)}{ms(samples, 99)}{ms(samples, 99.9)}"
                    f"{ms(samples, 100)}")
    return rows


def timeline_rows(tally: Tally, windows: int = 12) -> list[str]:
    """Turns/s and reply p50/p99 by slice of the run (by send time): a start-up burst, a kill."""
    if not tally.timeline:
        return []
    start = tally.first_send
    width = max((max(at for at, _ in tally.timeline) - start) / windows, 1e-9)
    slices: list[list[float]] = [[] for _ in range(windows)]
    for at, seconds in tally.timeline:
        slices[min(int((at - start) / width), windows - 1)].append(seconds)
    cells = [f"{n * width:.0f}s {len(s) / width:.0f}/s {ms(s, 50).strip()}/{ms(s, 99).strip()}"
             for n, s in enumerate(slices)]
    return ["  by slice of the run (from, turns/s, reply p50/p99 ms): " + ", ".join(cells[:6]),
            "    " + ", ".join(cells[6:])]


def memory_verdict(series: Sequence[tuple[float, int, float]]) -> tuple[str, bool]:
    """First, half-way, last, max; flat when the last is within FLAT_SHARE and FLAT_KIB of half-way."""
    if not series:
        return "no samples", False
    rss = [kib for _, kib, _ in series]
    half = rss[len(rss) // 2]
    growth = rss[-1] - half
    flat = growth <= max(FLAT_SHARE * half, 0) and growth <= FLAT_KIB
    return (f"first {rss[0] / 1024:.1f} MiB, half-way {half / 1024:.1f}, last {rss[-1] / 1024:.1f}, "
            f"max {max(rss) / 1024:.1f}; second half {growth / 1024:+.1f} MiB"), flat


def print_outcome(outcome: Outcome, setup: Setup) -> None:
    t = outcome.tally
    print()
    print(f"{outcome.label}: {outcome.users} users ({outcome.users // 2} Slack + "
          f"{outcome.users - outcome.users // 2} Teams), {setup.duration_s:.0f} s; load average "
          f"{outcome.load_before} at the start, {outcome.load_after} at the end")
    for note in outcome.notes:
        print(f"  {note}")
    print(f"  {t.turns} turns in {outcome.wall_s:.1f} s = {t.turns / outcome.wall_s:.1f} turns/s; "
          f"{t.registered} registrations, {t.listings} listings, {t.rsvps} RSVPs, {t.cases} cases submitted; "
          f"{t.typed_labels} choices typed (no button)")
    steps = [f"{step} {len(s)} {ms(s, 50).strip()}/{ms(s, 99).strip()}" for step, s in t.by_step.items()]
    for row in [*latency_rows(outcome), "  reply by step (turns, p50/p99 ms): " + ", ".join(steps),
                *timeline_rows(t)]:
        print(row)
    errors = outcome.errors
    print(f"  errors: {errors}" + (" (" + ", ".join(f"{kind} {n}" for kind, n in t.errors.most_common()) + ")"
                                   if errors else ""))
    for kind, example in t.examples.items():
        print(f"    e.g. {kind}: {example}")
    if t.stopped:
        print("  users stopped early: " + ", ".join(f"{n} by {why}" for why, n in t.stopped.most_common()))
    users, extra, missing = outcome.duplicates_and_missing()
    once = users == 0 and missing == 0 and outcome.unread == 0
    print(f"  exactly one reply per message: {loadkit.yes(once)} ({sum(t.sent.values())} messages "
          f"acknowledged; "
          f"{extra} extra replies to {users} users, {missing} missing; {outcome.unread} unread, "
          f"{outcome.stray} to no user)")
    if not once:
        for platform in outcome.received:
            users, extra, missing = outcome.duplicates_and_missing(platform)
            print(f"    {platform}: {extra} extra replies to {users} users, {missing} missing")
    if len(outcome.balancer.urls) > 1 or outcome.balancer.failovers:
        print(f"  load balancer: {outcome.balancer.failovers} requests sent again after a connection error "
              f"({', '.join(f'{n} to {u}' for u, n in outcome.balancer.refused.items()) or 'none refused'})")
    for label, cpu_s in outcome.cpu.items():
        print(f"  {label}: CPU {cpu_s:.1f} s = {100 * cpu_s / outcome.wall_s:.0f}% of one core")
    print(f"  users + mocks (this process): CPU {outcome.driver_cpu_s:.1f} s = "
          f"{100 * outcome.driver_cpu_s / outcome.wall_s:.0f}% of one core")
    for label, series in outcome.memory.items():
        summary, flat = memory_verdict(series)
        print(f"  {label} RSS every {SAMPLE_EVERY_S:.0f} s (MiB): "
              + " ".join(f"{kib / 1024:.0f}" for _, kib, _ in series))
        shares = [100 * (b[2] - a[2]) / (b[0] - a[0]) for a, b in pairwise(series)]
        print(f"    CPU, % of one core, each {SAMPLE_EVERY_S:.0f} s: " + " ".join(f"{x:.0f}" for x in shares))
        scraped = outcome.metrics.get(label, [])
        turn_ms = [1000 * (b.get("spoke_turn_seconds_sum", 0) - a.get("spoke_turn_seconds_sum", 0))
                   / max(b.get("spoke_turn_seconds_count", 0) - a.get("spoke_turn_seconds_count", 0), 1)
                   for a, b in pairwise(scraped)]
        print(f"    /metrics each {SAMPLE_EVERY_S:.0f} s: mean turn ms "
              + " ".join(f"{x:.0f}" for x in turn_ms)
              + "; outbox pending " + " ".join(f"{m.get('spoke_outbox_pending', 0):.0f}" for m in scraped)
              + "; oldest due s " + " ".join(f"{m.get('spoke_outbox_oldest_due_seconds', 0):.1f}"
                                            for m in scraped))
        print(f"    {summary}: flat {loadkit.yes(flat)}")
    for label, lines in outcome.trouble.items():
        if lines:
            print(f"  WARNING: {label} logged {len(lines)} errors, e.g. {lines[0][:200]}")


def summary_line(outcome: Outcome) -> str:
    t = outcome.tally
    replies = sorted(t.replies["Slack"] + t.replies["Teams"])
    flats = [memory_verdict(series)[1] for label, series in outcome.memory.items()]
    users, _extra, missing = outcome.duplicates_and_missing()
    return (f"  {outcome.label:<34}{t.turns / outcome.wall_s:8.1f}{ms(replies, 50)}{ms(replies, 99)}"
            f"{ms(replies, 99.9)}{outcome.errors:>8}  {'yes' if all(flats) else 'no':<6}"
            f"{'yes' if users == 0 and missing == 0 and outcome.unread == 0 else 'no'}")


def print_header(setup: Setup, kinds: Sequence[str]) -> None:
    print("Spoke under load: Slack and Teams users at once against `spoke serve` (issue #9)")
    print(loadkit.platform_line(f"aiohttp {version('aiohttp')}, slack-bolt {version('slack-bolt')}, "
                                f"SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}"))
    print(f"  {setup.users} users ({setup.users // 2} Slack, {setup.users - setup.users // 2} Teams), "
          f"{setup.duration_s:.0f} s per run, think time {setup.think_s[0]:g}-{setup.think_s[1]:g} s before "
          f"every message, reply timeout {setup.reply_timeout_s:.0f} s, seed {setup.seed}; "
          f"runs: {', '.join(kinds)}")
    print("  Each user: the registration (once), then sessions, an RSVP and a case drafted and submitted, "
          "in a loop")
    print(f"  Load average at the start: {loadkit.load_average()}")


# --- the command line ---------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = loadkit.bench_parser("Spoke load benchmark: Slack and Teams users at once (prints figures)",
                                  USERS, "simulated users, half on Slack, half on Teams",
                                  f"{QUICK_USERS} users, {QUICK_DURATION_S:.0f} s per run, shorter think "
                                  f"time (smoke run)")
    parser.add_argument("--duration", type=float, default=None,
                        help=f"seconds per run (default {DURATION_S:.0f})")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both",
                        help="postgresql: one replica, then the replica kill; both (default): all three")
    parser.add_argument("--no-kill", action="store_true", help="skip the PostgreSQL replica-kill run")
    parser.add_argument("--only-kill", action="store_true", help="only the PostgreSQL replica-kill run")
    parser.add_argument("--think", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                        help=f"think time before each message, seconds "
                             f"(default {THINK_S[0]:g} {THINK_S[1]:g})")
    parser.add_argument("--reply-timeout", type=float, default=REPLY_TIMEOUT_S)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--trace", action="store_true", help="print every message and the start of its reply")
    args = parser.parse_args(argv)
    global TRACE
    TRACE = args.trace
    users = QUICK_USERS if args.quick and args.users == USERS else args.users
    duration = args.duration or (QUICK_DURATION_S if args.quick else DURATION_S)
    think = tuple(args.think) if args.think else (QUICK_THINK_S if args.quick else THINK_S)

    kinds = {"sqlite": ["sqlite"], "postgresql": ["postgresql", "replica-kill"],
             "both": ["sqlite", "postgresql", "replica-kill"]}[args.database]
    if args.no_kill:
        kinds = [k for k in kinds if k != "replica-kill"]
    if args.only_kill:
        kinds = ["replica-kill"]
    skipped = []
    if not os.environ.get("SPOKE_TEST_POSTGRES_URL"):
        skipped = [k for k in kinds if k != "sqlite"]
        kinds = [k for k in kinds if k == "sqlite"]

    # Everyone the mocks must know: the runs' users and the warm-up users (per replica).
    slack_users = SlackSide.users("", users // 2) + SlackSide.users("W", 2)
    teams_users = TeamsSide.users("", users - users // 2) + TeamsSide.users("W", 2)
    slack_mock = ThreadedSlackApiMock(users={u: slack_bench.slack_profile(u) for u in slack_users})
    identity = BotFrameworkIdentity(https=True)
    connector = BotConnectorMock(identity)
    teams_bench.add_members(connector, teams_users)
    teams_mocks = ServerThread(identity, connector)
    outcomes: list[Outcome] = []
    setup = Setup(SlackSide(slack_mock.start()), TeamsSide(identity, connector), loadkit.spoke_command(),
                  users, duration, (float(think[0]), float(think[1])), args.reply_timeout, args.seed)
    teams_mocks.start()
    print_header(setup, kinds)
    for kind in skipped:
        print(f"  skipped {kind}: no SPOKE_TEST_POSTGRES_URL (see .ci/postgres.sh)")
    try:
        for kind in kinds:
            # Each run starts with the mocks' books empty, so each run's exactly-once count is its own.
            setup.slack.api.reset()
            connector.reset()
            outcome = run(setup, kind)
            print_outcome(outcome, setup)
            outcomes.append(outcome)
    finally:
        teams_mocks.stop()
        slack_mock.stop()
    print()
    print(f"Load average at the end: {loadkit.load_average()} "
          f"(other work on this machine shows up in every figure)")
    print(f"Summary ({setup.users} users, {setup.duration_s:.0f} s; targets: errors 0, RSS flat):")
    print(f"  {'':<34}{'turns/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>9}{'errors':>8}  {'flat':<6}once")
    for outcome in outcomes:
        print(summary_line(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
