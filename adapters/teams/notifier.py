"""Sends outbox rows to the Bot Connector REST API (v3) with one shared session and a cached
token, and turns the connector's answers into the outbox's typed results."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from adapters.teams.auth import ConnectorTokens
from adapters.teams.render import render
from assistant.messages import File, Outgoing
from assistant.ports import RetryLater, SendResult, Sent, Unreachable

log = logging.getLogger(__name__)


class ConnectorError(Exception):
    def __init__(self, status: int, code: str, retry_after: float | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.retry_after = status, code, retry_after


class BotConnector:
    """The few Connector calls Spoke makes, as plain HTTP."""

    def __init__(self, session: aiohttp.ClientSession, tokens: ConnectorTokens) -> None:
        self._session = session
        self._tokens = tokens

    async def call(self, method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        token = await self._tokens.token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self._session.request(method, url, json=body, headers=headers) as response:
            text = await response.text()
            if response.status in (200, 201, 202):
                return json.loads(text) if text.strip() else {}
            if response.status == 401:
                self._tokens.forget()
            retry_after = response.headers.get("Retry-After")
            raise ConnectorError(response.status, _error_code(text, response.status),
                                 float(retry_after) if retry_after else None)

    async def personal_conversation(self, address: dict[str, Any]) -> str:
        """The 1:1 chat with this person: known from an earlier message, or created now
        (a click on a channel's card carries no personal conversation: it is created)."""
        if address.get("conversation"):
            return str(address["conversation"])
        created = await self.call("POST", _url(address, "v3/conversations"), {
            "bot": {"id": address.get("bot")}, "members": [{"id": address.get("user")}],
            "isGroup": False, "tenantId": address.get("tenant"),
            "channelData": {"tenant": {"id": address.get("tenant")}}})
        return str(created["id"])

    async def member(self, address: dict[str, Any], conversation: str) -> dict[str, Any]:
        return await self.call("GET", _url(address, f"v3/conversations/{quote(conversation, safe='')}"
                                                     f"/members/{quote(str(address.get('user')), safe='')}"))


class TeamsNotifier:
    def __init__(self, connector: BotConnector,
                 file_links: Callable[[File], str] | None = None) -> None:
        self._connector = connector
        # Bots cannot attach files in every Teams chat: files go as signed, expiring links.
        self._file_links = file_links

    async def send(self, message: Outgoing) -> SendResult:
        address = message.address
        if not address.get("service_url"):
            return Unreachable("no_service_url")
        if message.reply.surface != "chat":
            return Sent()  # Teams has no home page to publish to
        channel = address.get("channel")
        if channel and message.reply.private:
            return Unreachable("private_to_channel")  # never a person's message in a channel
        try:
            conversation = (str(channel) if channel
                            else await self._connector.personal_conversation(address))
            activity = render(message.reply, await self._links(message))
            activity["conversation"] = {"id": conversation}
            if address.get("bot"):  # a channel set from the command line may not name it
                activity["from"] = {"id": address["bot"]}
            if channel:
                # A new post in the channel (not a reply in someone's thread).
                activity["conversation"].update({"isGroup": True, "conversationType": "channel"})
                activity["channelData"] = {"channel": {"id": channel},
                                           "tenant": {"id": address.get("tenant")}}
            else:
                activity["recipient"] = {"id": address.get("user")}
            await self._connector.call(
                "POST", _url(address, f"v3/conversations/{quote(conversation, safe='')}/activities"),
                activity)
        except ConnectorError as refused:
            return _result_of(refused)
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            return RetryLater("connection")
        return Sent()


    async def _links(self, message: Outgoing) -> dict[int, str]:
        if self._file_links is None:
            return {}
        offer = self._file_links
        return {index: await asyncio.to_thread(offer, part)
                for index, part in enumerate(message.reply.parts) if isinstance(part, File)}


def _result_of(refused: ConnectorError) -> SendResult:
    if refused.status == 429:
        return RetryLater("throttled", refused.retry_after)
    if refused.status in (403, 404):  # blocked, uninstalled, or the conversation is gone
        return Unreachable(refused.code)
    return RetryLater(refused.code)


def _error_code(text: str, status: int) -> str:
    try:
        code = (json.loads(text).get("error") or {}).get("code")
    except (ValueError, AttributeError):
        code = None
    return str(code or f"http_{status}")[:80]


def _url(address: dict[str, Any], path: str) -> str:
    base = str(address["service_url"])
    return (base if base.endswith("/") else base + "/") + path
