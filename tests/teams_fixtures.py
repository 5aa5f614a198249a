"""`spoke serve`'s web app with Teams configured, beside the local Bot Framework mocks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.teams.config import TeamsSettings
from adapters.web.server import Serving, build_web_app
from assistant.bootstrap import build_app
from assistant.clock import FakeClock
from assistant.config import Secret, Settings
from storage.repositories import SqlStore
from tests.harness import seeded
from tests.teams_activities import DEFAULT_APP_ID, DEFAULT_TENANT, DEFAULT_USER_AAD, personal_message
from tests.teams_mock import DEFAULT_APP_PASSWORD, BotConnectorMock, BotFrameworkIdentity

IDENTITY = f"teams:{DEFAULT_TENANT}/{DEFAULT_USER_AAD}"


@dataclass
class TeamsSpoke:
    http: aiohttp.ClientSession
    base: str
    clock: FakeClock
    store: SqlStore
    serving: Serving
    identity: BotFrameworkIdentity
    connector: BotConnectorMock

    async def post(self, activity: dict[str, Any], headers: dict[str, str] | None = None,
                   **mint: Any) -> aiohttp.ClientResponse:
        sent = {"Content-Type": "application/json"}
        sent.update(headers if headers is not None else self.identity.authorization(activity, **mint))
        response = await self.http.post(f"{self.base}/api/messages", data=json.dumps(activity),
                                        headers=sent)
        await response.read()
        return response

    def message(self, text: str | None = None, **fields: Any) -> dict[str, Any]:
        fields.setdefault("service_url", self.connector.service_url)
        return dict(personal_message(text, **fields))

    async def say(self, text: str, **fields: Any) -> dict[str, Any]:
        """Type in the personal chat and wait for Spoke's answer at the connector."""
        response = await self.post(self.message(text, **fields))
        assert response.status == 200, await response.text()
        return (await self.connector.next_activity()).activity

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert self.serving.sender is not None
        await self.serving.sender.deliver_due()


def submit_value(activity: dict[str, Any], label: str) -> dict[str, Any]:
    """The `data` of the Action.Submit with this title in a sent Adaptive Card."""
    for attachment in activity.get("attachments") or []:
        found = _find(attachment.get("content") or {}, label)
        if found is not None:
            return found
    raise AssertionError(f"no action {label!r} in {json.dumps(activity)[:1500]}")


def _find(node: Any, label: str) -> dict[str, Any] | None:
    if isinstance(node, dict):
        if node.get("type") == "Action.Submit" and node.get("title") == label:
            return dict(node["data"])
        children = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find(child, label)
        if found is not None:
            return found
    return None


def card_text(activity: dict[str, Any]) -> str:
    return json.dumps(activity, ensure_ascii=False)


@pytest.fixture
async def teams(suite_store: SqlStore, clock: FakeClock, tmp_path: Path) -> AsyncIterator[TeamsSpoke]:
    async with serve_teams(suite_store, clock, tmp_path) as spoke:
        yield spoke


@asynccontextmanager
async def serve_teams(suite_store: SqlStore, clock: FakeClock, tmp_path: Path, secret_key: str = "",
                      public_url: str = "") -> AsyncIterator[TeamsSpoke]:
    """`spoke serve`'s web app with Teams configured, beside the local Bot Framework mocks."""
    async with BotFrameworkIdentity(clock=clock) as identity, BotConnectorMock(identity) as connector:
        core = build_app(Settings(database_url="sqlite://", data_dir=tmp_path,
                                  secret_key=Secret(secret_key), public_url=public_url),
                         clock=clock, store=seeded(suite_store, clock))
        settings = TeamsSettings(app_id=DEFAULT_APP_ID, app_password=Secret(DEFAULT_APP_PASSWORD),
                                 openid_metadata_url=identity.openid_metadata_url,
                                 token_url=identity.token_url,
                                 allowed_tenants=frozenset({DEFAULT_TENANT}))
        app, serving = build_web_app(core, None, settings, tick_seconds=3600)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        async with aiohttp.ClientSession() as http:
            yield TeamsSpoke(http, str(server.make_url("")).rstrip("/"), clock, suite_store, serving,
                             identity, connector)
        await server.close()
