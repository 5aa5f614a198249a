"""The Slack endpoint: checks the signature on the raw bytes before anything is parsed,
refuses malformed bodies, and only then lets slack-bolt see the request.

Bolt parses first and verifies after (a garbage body or timestamp gives 500, and a failed
signature logs the whole body at INFO), so this runs in front of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
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
        try:  # the whole body, in as many pieces as it comes; never past client_max_size
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "too_large")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not _signed(self._verifier, body, timestamp, signature):
            return _refuse(401, "bad_signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "not_utf8")
        if not _well_formed(text, request.content_type):
            return _refuse(400, "malformed")
        if not await self._reachable():
            return _refuse(503, "database_unavailable")  # Slack redelivers events later
        if request.content_type == "application/x-www-form-urlencoded" and "payload" in text \
                and "payload" not in parse_qs(text, keep_blank_values=True):
            # Bolt takes any form holding the word for an interactivity payload: "/spoke help
            # with the payload" became an empty body and a 404. The same form, its p escaped.
            text = text.replace("payload", "%70ayload")
        try:
            response = await self._bolt.async_dispatch(AsyncBoltRequest(
                body=text, query=request.query_string, headers=dict(request.headers)))
        except Exception as unread:
            # Bolt reads payloads without checking their shape: `"event": null` or
            # `"authorizations": 3.5` raise in its context builders and middleware, before
            # any listener runs. A signed body it cannot read is a bad request, not a 500.
            return _refuse(400, "unreadable", cause=type(unread).__name__)
        return await to_aiohttp_response(response)


def _signed(verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str) -> bool:
    """slack_sdk's verifier raises (a 500) rather than refuses what Slack never sends: a
    timestamp int() cannot read ("²", 5,000 digits), a signature hmac cannot compare (not
    ASCII), a body that is not UTF-8 (it decodes the body to sign it)."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
            and signature.isascii()):
        return False
    try:
        return verifier.is_valid(body, timestamp, signature)
    except UnicodeDecodeError:
        return False


def _well_formed(text: str, content_type: str) -> bool:
    """A JSON object (Events API), or a form with either a JSON `payload` object
    (interactivity) or a slash command's `command` field; objects where Bolt expects them."""
    try:
        if content_type == "application/json":
            payload = json.loads(text, parse_constant=_not_json)
            return isinstance(payload, dict) and _bolt_can_read(payload)
        if content_type == "application/x-www-form-urlencoded":
            form = parse_qs(text, strict_parsing=True, keep_blank_values=True)
            if "payload" in form:
                # Bolt reads the last `payload` field (and any body holding the word).
                payloads = [json.loads(payload, parse_constant=_not_json) for payload in form["payload"]]
                return all(isinstance(p, dict) and _bolt_can_read(p) for p in payloads)
            return "command" in form
    except ValueError:
        return False
    return False


def _not_json(constant: str) -> float:
    """NaN and Infinity, which Python's json reads and JSON has not (nor Slack's payloads)."""
    raise ValueError(constant)


# Bolt's context builders, middleware and matchers call .get() on these without checking
# their type ("event": null raised AttributeError in its authorization middleware: a 500).
_OBJECTS = ("message", "previous_message", "container", "state", "user")  # spoke's listeners too
_OBJECTS_OR_IDS = ("team", "channel", "enterprise")


def _bolt_can_read(payload: dict[str, Any]) -> bool:
    if any(key in payload and not isinstance(payload[key], dict) for key in ("event", "view")):
        return False  # its matchers test `"type" in body["event"]`, `"callback_id" in body["view"]`
    if any(payload.get(key) is not None and not isinstance(payload[key], dict) for key in _OBJECTS):
        return False
    if any(payload.get(key) is not None and not isinstance(payload[key], dict | str)
           for key in _OBJECTS_OR_IDS):
        return False
    authorizations = payload.get("authorizations")
    if authorizations is not None and not (isinstance(authorizations, list)
                                           and all(isinstance(a, dict) for a in authorizations)):
        return False
    kind, view = payload.get("type"), payload.get("view") or {}
    if kind == "block_actions" and "actions" in payload:
        # Its action matcher reads actions[0]["action_id"] and searches it with a pattern.
        actions = payload["actions"]
        return (isinstance(actions, list) and bool(actions) and isinstance(actions[0], dict)
                and isinstance(actions[0].get("action_id", 0), str | None))
    if kind == "view_submission" and "callback_id" in view and "type" not in view:
        return False  # its workflow-step matcher reads view["type"]
    if kind == "workflow_step_edit" or view.get("type") == "workflow_step":
        return "workflow_step" in payload  # and then payload["workflow_step"]
    return True


def _refuse(status: int, reason: str, cause: str | None = None) -> web.Response:
    # Neither the body nor the headers are logged: they may carry personal data or tokens.
    # A cause is an exception's type name, never its message (which may quote the body).
    log.warning("slack request refused", extra={"event": "slack.refused", "outcome": reason,
                                               "status": status, "cause": cause})
    return web.json_response({"ok": False, "error": reason}, status=status)
