"""Puts the Slack pieces together for `spoke serve`: one client, one HTTP session."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import Acknowledged, build_bolt
from adapters.slack.config import SlackSettings
from adapters.slack.front_door import SlackFrontDoor
from adapters.slack.notifier import SlackNotifier
from adapters.slack.profiles import SlackProfiles
from assistant.clock import Clock
from assistant.turns import AfterTurn, TurnHandler


@dataclass
class SlackFrontEnd:
    front_door: SlackFrontDoor
    notifier: SlackNotifier
    bolt: AsyncApp
    session: aiohttp.ClientSession
    acknowledged: Acknowledged

    async def finish(self, grace_seconds: float) -> None:
        """Runs the turns of events already acknowledged (up to `grace_seconds`)."""
        await self.acknowledged.finish(grace_seconds)

    async def close(self) -> None:
        await self.session.close()


def build_slack(settings: SlackSettings, turns: TurnHandler, clock: Clock,
                wake: AfterTurn) -> SlackFrontEnd:
    """Call inside the running event loop: the shared aiohttp session belongs to it."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    client = AsyncWebClient(token=settings.bot_token.value, base_url=settings.api_url,
                            session=session, retry_handlers=[])
    acknowledged = Acknowledged()
    bolt = build_bolt(client, turns, SlackProfiles(client, clock), wake, settings.bot_user_id,
                      acknowledged)
    return SlackFrontEnd(SlackFrontDoor(bolt, settings.signing_secret.value, clock,
                                        turns.database_reachable),
                         SlackNotifier(client), bolt, session, acknowledged)
