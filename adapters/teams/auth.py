"""Bot Framework authentication, done by Spoke before anything else reads the activity.

Inbound: the channel's bearer token is an RS256 JWT signed by a key from the Bot Framework
OpenID metadata; we check the algorithm, signature, issuer, audience, lifetime (against the
injected clock, with Bot Framework's five-minute skew) and that the activity's serviceUrl is
the one the token vouches for. Outbound: a client-credentials token, cached until shortly
before it expires.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import jwt
from jwt import PyJWK

from adapters.teams.config import BOT_FRAMEWORK_ISSUER, CONNECTOR_SCOPE, TeamsSettings
from assistant.clock import Clock

log = logging.getLogger(__name__)
CLOCK_SKEW = timedelta(minutes=5)
KEYS_KEEP = timedelta(hours=24)
KEYS_RETRY = timedelta(minutes=1)  # an unknown kid refreshes the keys, at most this often


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    service_url: str
    app_id: str


class SigningKeys:
    """The channel's published keys, fetched with the shared session (never blocking the
    loop, unlike botbuilder's own fetch) and cached."""

    def __init__(self, session: aiohttp.ClientSession, metadata_url: str, clock: Clock) -> None:
        self._session = session
        self._metadata_url = metadata_url
        self._clock = clock
        self._keys: dict[str, tuple[PyJWK, frozenset[str] | None]] = {}
        self._fetched: datetime | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> tuple[PyJWK, frozenset[str] | None] | None:
        """The key and, when the channel says so, the channels it may sign for."""
        now = self._clock.now()
        stale = self._fetched is None or now - self._fetched > KEYS_KEEP
        unknown = kid not in self._keys and (self._fetched is None or now - self._fetched > KEYS_RETRY)
        if stale or unknown:
            async with self._lock:
                if self._fetched is None or self._clock.now() - self._fetched > KEYS_RETRY:
                    await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._session.get(self._metadata_url) as response:
            response.raise_for_status()
            metadata = await response.json(content_type=None)
        async with self._session.get(metadata["jwks_uri"]) as response:
            response.raise_for_status()
            document = await response.json(content_type=None)
        keys: dict[str, tuple[PyJWK, frozenset[str] | None]] = {}
        for entry in document.get("keys", []):
            try:
                endorsements = entry.get("endorsements")
                keys[str(entry["kid"])] = (PyJWK(entry, algorithm="RS256"),
                                           frozenset(endorsements) if endorsements else None)
            except (jwt.PyJWTError, KeyError, ValueError, TypeError):
                continue
        self._keys = keys
        self._fetched = self._clock.now()


class InboundAuth:
    def __init__(self, settings: TeamsSettings, keys: SigningKeys, clock: Clock) -> None:
        self._settings = settings
        self._keys = keys
        self._clock = clock

    async def check(self, authorization: str | None, activity: dict[str, Any]) -> Claims:
        token = (authorization or "").removeprefix("Bearer ").strip()
        if not authorization or not authorization.startswith("Bearer ") or not token:
            raise Refused(401, "no_token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as bad:
            raise Refused(401, "malformed_token") from bad
        if header.get("alg") != "RS256":  # never "none", never HS256 keyed with a public key
            raise Refused(401, "bad_algorithm")
        found = await self._keys.key(str(header.get("kid", "")))
        if found is None:
            raise Refused(401, "unknown_key")
        key, endorsements = found
        if endorsements is not None and activity.get("channelId") not in endorsements:
            raise Refused(401, "key_not_endorsed_for_channel")
        try:
            claims = jwt.decode(token, key=key.key, algorithms=["RS256"],
                                audience=self._settings.app_id, issuer=BOT_FRAMEWORK_ISSUER,
                                options={"verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False,
                                         "require": ["exp", "nbf", "iss", "aud"]})
        except jwt.PyJWTError as bad:
            raise Refused(401, "invalid_token") from bad
        now = self._clock.now().timestamp()
        skew = CLOCK_SKEW.total_seconds()
        if float(claims["exp"]) + skew < now or float(claims["nbf"]) - skew > now:
            raise Refused(401, "expired_token")
        service_url = str(claims.get("serviceurl") or claims.get("serviceUrl") or "")
        if not service_url or service_url.rstrip("/") != str(activity.get("serviceUrl", "")).rstrip("/"):
            raise Refused(401, "service_url_mismatch")
        if not self._settings.tenant_allowed(tenant_of(activity)):
            raise Refused(403, "tenant_not_allowed")
        return Claims(service_url=service_url, app_id=self._settings.app_id)


def tenant_of(activity: dict[str, Any]) -> str | None:
    tenant = ((activity.get("channelData") or {}).get("tenant") or {}).get("id")
    return tenant or (activity.get("conversation") or {}).get("tenantId")


class ConnectorTokens:
    """The bot's own token for the Bot Connector, from the client-credentials flow."""

    def __init__(self, session: aiohttp.ClientSession, settings: TeamsSettings, clock: Clock) -> None:
        self._session = session
        self._settings = settings
        self._clock = clock
        self._token = ""
        self._until: datetime | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._settings.insecure_dev and not self._settings.app_password.value:
            return ""  # the local emulator takes unauthenticated replies
        if self._until is not None and self._clock.now() < self._until:
            return self._token
        async with self._lock:
            if self._until is None or self._clock.now() >= self._until:
                await self._fetch()
        return self._token

    def forget(self) -> None:
        """After a 401 from the connector: the next send fetches a new token."""
        self._until = None

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials", "client_id": self._settings.app_id,
                "client_secret": self._settings.app_password.value, "scope": CONNECTOR_SCOPE}
        async with self._session.post(self._settings.outbound_token_url, data=form) as response:
            body = await response.text()
            if response.status != 200:
                log.error("connector token refused", extra={"event": "teams.token_refused",
                                                           "status": response.status})
                raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
        answer = json.loads(body)
        self._token = str(answer["access_token"])
        lifetime = float(answer.get("expires_in", 3600))
        self._until = self._clock.now() + timedelta(seconds=max(lifetime - 300, 60))
