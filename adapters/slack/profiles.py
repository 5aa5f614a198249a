"""What Slack knows about a person (users.info), to offer during registration.

Cached briefly: a registration is about fifteen events, and the profile only suggests
answers the person confirms. The cache is built by bootstrap and bounded.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.translate import hints_from_profile
from assistant.clock import Clock
from assistant.events import Hints

log = logging.getLogger(__name__)


class SlackProfiles:
    def __init__(self, client: AsyncWebClient, clock: Clock, keep: timedelta = timedelta(minutes=30),
                 size: int = 2000) -> None:
        self._client = client
        self._clock = clock
        self._keep = keep
        self._size = size
        self._cache: OrderedDict[str, tuple[datetime, Hints]] = OrderedDict()

    async def hints(self, user: str) -> Hints:
        now = self._clock.now()
        cached = self._cache.get(user)
        if cached is not None and now - cached[0] < self._keep:
            return cached[1]
        try:
            answer = await self._client.users_info(user=user, include_locale=True)
            hints = hints_from_profile(answer.get("user") or {})
        except SlackApiError:
            log.info("profile unavailable", extra={"event": "slack.users_info_failed"})
            hints = Hints()
        self._cache[user] = (now, hints)
        self._cache.move_to_end(user)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return hints
