"""The member's e-mail (or UPN) from the connector, to offer during registration. Cached
briefly; only asked in personal chats, where the conversation is the person's own."""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from adapters.teams.notifier import BotConnector, ConnectorError
from assistant.clock import Clock

log = logging.getLogger(__name__)


class TeamsProfiles:
    def __init__(self, connector: BotConnector | None, clock: Clock,
                 keep: timedelta = timedelta(minutes=30), size: int = 2000) -> None:
        self._connector = connector
        self._clock = clock
        self._keep = keep
        self._size = size
        self._cache: OrderedDict[str, tuple[datetime, dict[str, Any]]] = OrderedDict()

    async def member(self, activity: dict[str, Any]) -> dict[str, Any] | None:
        conversation = activity.get("conversation") or {}
        sender = activity.get("from") or {}
        if (self._connector is None or conversation.get("conversationType", "personal") != "personal"
                or activity.get("type") not in ("message", "conversationUpdate")
                or not sender.get("id") or not activity.get("serviceUrl")):
            return None
        key = str(sender.get("aadObjectId") or sender["id"])
        now = self._clock.now()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._keep:
            return cached[1]
        address = {"service_url": activity["serviceUrl"], "user": sender["id"]}
        try:
            found = await self._connector.member(address, str(conversation.get("id")))
        except (ConnectorError, aiohttp.ClientError, TimeoutError):
            log.info("member profile unavailable", extra={"event": "teams.member_failed"})
            found = {}
        self._cache[key] = (now, found)
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return found
