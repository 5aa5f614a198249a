"""The Teams endpoint, `POST /api/messages`: authenticate first, then parse, then process.

Missing, forged, expired, wrong-audience or `alg: none` tokens get 401; a tenant outside
the allow-list 403; a body that is not a JSON activity 400. Never 500, and nothing is
stored for a refused request.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Any

from aiohttp import web

from adapters.teams.auth import InboundAuth, Refused
from adapters.teams.profiles import TeamsProfiles
from adapters.teams.translate import hints_from, translate
from assistant.ports import Unavailable
from assistant.turns import AfterTurn, TurnHandler

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
INVOKE_OK = {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": ""}


class TeamsFrontDoor:
    def __init__(self, auth: InboundAuth | None, turns: TurnHandler, profiles: TeamsProfiles,
                 wake: AfterTurn) -> None:
        self._auth = auth  # None only under SPOKE_TEAMS_INSECURE_DEV, for loopback callers
        self._turns = turns
        self._profiles = profiles
        self._wake = wake

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self._auth is None and not _loopback(request.remote):
            return _refuse(403, "insecure_dev_loopback_only")
        authorization = request.headers.get("Authorization")
        if self._auth is not None and not (authorization or "").startswith("Bearer "):
            return _refuse(401, "no_token")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _refuse(413, "too_large")
        try:  # the whole body, in as many pieces as it comes; never past client_max_size
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "too_large")
        try:
            activity = json.loads(body, parse_constant=_not_json)
        except ValueError:
            return _refuse(400, "malformed")
        if not isinstance(activity, dict) or not isinstance(activity.get("type"), str) \
                or not _shaped(activity):
            return _refuse(400, "not_an_activity")
        if self._auth is not None:
            try:
                await self._auth.check(authorization, activity)
            except Refused as refused:
                return _refuse(refused.status, refused.reason)
        return await self._process(activity)

    async def _process(self, activity: dict[str, Any]) -> web.StreamResponse:
        try:
            member = await self._profiles.member(activity)
            incoming = translate(activity, hints_from(activity, member))
        except (ValueError, TypeError, KeyError, AttributeError):
            return _refuse(400, "unreadable_activity")
        if incoming is None:
            return web.Response(status=200)
        try:
            result = await self._turns.handle(incoming.event)
        except Unavailable:
            return _refuse(503, "database_unavailable")  # Teams sends it again; nothing lost
        self._wake(result)
        if incoming.invoke:
            return web.json_response(INVOKE_OK)
        return web.Response(status=200)


def _not_json(constant: str) -> float:
    """NaN and Infinity, which Python's json reads and JSON has not: stored in an address,
    one made every later turn of that person fail ("malformed JSON" in the database)."""
    raise ValueError(constant)


def _shaped(activity: dict[str, Any]) -> bool:
    """What the token check reads (tenant, channel, serviceUrl) in the types Teams sends:
    a list where the tenant id goes raised TypeError in the allow-list lookup (a 500)."""
    data, conversation = activity.get("channelData"), activity.get("conversation")
    parts = (data, conversation, activity.get("from"), activity.get("recipient"))
    if not all(part is None or isinstance(part, dict) for part in parts):
        return False
    tenant = (data or {}).get("tenant")
    if tenant is not None and not isinstance(tenant, dict):
        return False
    ids = ((tenant or {}).get("id"), (conversation or {}).get("tenantId"),
           activity.get("channelId"), activity.get("serviceUrl"))
    return all(value is None or isinstance(value, str) for value in ids)


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _refuse(status: int, reason: str) -> web.Response:
    # Neither the body nor the token is logged.
    log.warning("teams request refused", extra={"event": "teams.refused", "outcome": reason,
                                               "status": status})
    return web.json_response({"error": reason}, status=status)
