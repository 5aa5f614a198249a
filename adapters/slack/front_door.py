"""The Slack endpoint: checks the signature on the raw bytes before anything is parsed,
refuses malformed bodies, and only then lets slack-bolt see the request.

Bolt parses first and verifies after (a garbage body or timestamp gives 500, and a failed
signature logs the whole body at INFO), so this runs in front of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier

from assistant.clock import Clock

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # Slack's payloads are a few KiB; anything near a MiB is not Slack


class _ClockForSlack(SignatureClock):
    """slack_sdk's verifier asks a clock for Unix seconds; ours is the injected one."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


class SlackFrontDoor:
    def __init__(self, bolt: AsyncApp, signing_secret: str, clock: Clock,
                 reachable: Callable[[], Awaitable[bool]]) -> None:
        self._bolt = bolt
        self._reachable = reachable
        self._verifier = SignatureVerifier(signing_secret, clock=_ClockForSlack(clock))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _refuse(413, "too_large")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _refuse(413, "too_large")
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        if not timestamp or not timestamp.isdigit() or not self._verifier.is_valid(
                body, timestamp, signature):
            return _refuse(401, "bad_signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "not_utf8")
        if not _well_formed(text, request.content_type):
            return _refuse(400, "malformed")
        if not await self._reachable():
            return _refuse(503, "database_unavailable")  # Slack redelivers events later
        response = await self._bolt.async_dispatch(
            AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers)))
        return await to_aiohttp_response(response)


def _well_formed(text: str, content_type: str) -> bool:
    """A JSON object (Events API), or a form with either a JSON `payload` object
    (interactivity) or a slash command's `command` field."""
    try:
        if content_type == "application/json":
            return isinstance(json.loads(text), dict)
        if content_type == "application/x-www-form-urlencoded":
            form = parse_qs(text, strict_parsing=True, keep_blank_values=True)
            if "payload" in form:
                return isinstance(json.loads(form["payload"][0]), dict)
            return "command" in form
    except ValueError:
        return False
    return False


def _refuse(status: int, reason: str) -> web.Response:
    # Neither the body nor the headers are logged: they may carry personal data or tokens.
    log.warning("slack request refused", extra={"event": "slack.refused", "outcome": reason,
                                               "status": status})
    return web.json_response({"ok": False, "error": reason}, status=status)
