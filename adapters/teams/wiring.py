"""Puts the Teams pieces together for `spoke serve`: one session, cached keys and token."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from adapters.teams.auth import ConnectorTokens, InboundAuth, SigningKeys
from adapters.teams.config import TeamsSettings
from adapters.teams.front_door import TeamsFrontDoor
from adapters.teams.notifier import BotConnector, TeamsNotifier
from adapters.teams.profiles import TeamsProfiles
from assistant.clock import Clock
from assistant.messages import File
from assistant.turns import AfterTurn, TurnHandler

log = logging.getLogger(__name__)


@dataclass
class TeamsFrontEnd:
    front_door: TeamsFrontDoor
    notifier: TeamsNotifier
    session: aiohttp.ClientSession

    async def close(self) -> None:
        await self.session.close()


def build_teams(settings: TeamsSettings, turns: TurnHandler, clock: Clock,
                wake: AfterTurn,
                file_links: Callable[[File], str] | None = None) -> TeamsFrontEnd:
    """Call inside the running event loop: the shared aiohttp session belongs to it."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    connector = BotConnector(session, ConnectorTokens(session, settings, clock))
    auth: InboundAuth | None = None
    if settings.insecure_dev:
        log.warning("TEAMS AUTHENTICATION IS OFF (SPOKE_TEAMS_INSECURE_DEV=1): only requests "
                    "from this machine are accepted; never run this way in production",
                    extra={"event": "teams.insecure_dev"})
    else:
        auth = InboundAuth(settings, SigningKeys(session, settings.openid_metadata_url, clock), clock)
    front_door = TeamsFrontDoor(auth, turns, TeamsProfiles(connector, clock), wake)
    if file_links is None:
        log.warning("SPOKE_PUBLIC_URL or SPOKE_SECRET_KEY is not set: calendar files cannot be "
                    "offered on Teams", extra={"event": "teams.no_file_links"})
    return TeamsFrontEnd(front_door, TeamsNotifier(connector, file_links), session)
