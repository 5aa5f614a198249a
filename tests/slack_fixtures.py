"""`spoke serve`'s web app with Slack configured, on 127.0.0.1 port 0, beside the Slack mock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.slack.config import SlackSettings
from adapters.web.server import Serving, build_web_app
from assistant.bootstrap import build_app
from assistant.clock import FakeClock
from assistant.config import Secret, Settings
from storage.repositories import SqlStore
from tests.harness import seeded
from tests.slack_mock import Call, SlackApiMock
from tests.slack_signing import (
    FORM,
    JSON,
    TEAM_ID,
    block_actions,
    dm_event,
    form_body,
    json_body,
    slack_signed_headers,
)

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AMIRA = "U0AMA"


@dataclass
class Spoke:
    """The server under test, driven as Slack would drive it."""

    http: aiohttp.ClientSession
    base: str
    clock: FakeClock
    store: SqlStore
    serving: Serving
    api: SlackApiMock

    async def post(self, body: bytes, content_type: str = JSON, *, headers: dict[str, str] | None = None,
                   signed: bool = True, retry_num: int | None = None) -> aiohttp.ClientResponse:
        sent = dict(headers or {})
        if signed:
            sent.update(slack_signed_headers(body, SIGNING_SECRET, self.clock.now(), content_type,
                                             retry_num=retry_num))
        sent.setdefault("Content-Type", content_type)
        response = await self.http.post(f"{self.base}/slack/events", data=body, headers=sent)
        await response.read()
        return response

    async def dm(self, text: str, user: str = AMIRA, event_id: str | None = None) -> Call:
        """Say something in the app's DM and wait for Spoke's answer there."""
        response = await self.post(json_body(dm_event(user, text, event_id=event_id)))
        assert response.status == 200
        return await self.api.next_call("chat.postMessage")

    async def click(self, posted: Call, label: str, user: str = AMIRA,
                    trigger_id: str | None = None) -> aiohttp.ClientResponse:
        """Press the button (or pick the select option) with this label in a posted message."""
        action_id, value, is_select = find_option(posted["blocks"], label)
        body = form_body(block_actions(user, TEAM_ID, action_id, value, channel=posted["channel"],
                                       trigger_id=trigger_id, selected_option=is_select))
        return await self.post(body, FORM)

    async def settle_listeners(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0.01)

    async def settle(self) -> None:
        """Let the listeners that run after the ack finish, then send what is due."""
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert self.serving.sender is not None
        await self.serving.sender.deliver_due()


def find_option(blocks: list[dict[str, Any]] | str, label: str) -> tuple[str, str, bool]:
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button" and element["text"]["text"] == label:
                return element["action_id"], element["value"], False
            for option in element.get("options", []):
                if option["text"]["text"] == label:
                    return element["action_id"], option["value"], True
    raise AssertionError(f"no option {label!r} in {json.dumps(blocks)[:2000]}")


def text_of(call: Call) -> str:
    return str(call["text"])


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApiMock]:
    api = SlackApiMock(users={
        AMIRA: {"real_name": "Amira Haddad", "email": "amira@nhs.example", "tz": "Europe/London",
                "tz_label": "British Summer Time", "tz_offset": 3600, "locale": "en-GB"},
        "U0ELI": {"real_name": "Élise Tremblay", "tz": "America/Toronto", "locale": "fr-CA"},
    })
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def spoke(suite_store: SqlStore, clock: FakeClock, slack_api: SlackApiMock,
                tmp_path: Path) -> AsyncIterator[Spoke]:
    core = build_app(Settings(database_url="sqlite://", data_dir=tmp_path, secret_key=Secret("")),
                     clock=clock, store=seeded(suite_store, clock))
    settings = SlackSettings(bot_token=Secret(slack_api.token), signing_secret=Secret(SIGNING_SECRET),
                             api_url=slack_api.url, bot_user_id="UBOT")
    app, serving = build_web_app(core, settings, tick_seconds=3600)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield Spoke(http, str(server.make_url("")).rstrip("/"), clock, suite_store, serving, slack_api)
    await server.close()
