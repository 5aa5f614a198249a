"""Requests as Slack sends them: the v0 signature headers and payloads shaped like real ones.

Events API deliveries are JSON (`json_body(event_callback(...))`); interactivity payloads are
a form with one field, `payload=<json>` (`form_body(block_actions(...))`); slash commands are
plain form fields (`command_body(slash_command(...))`). Sign the exact bytes you send:

    body = json_body(dm_event("U0AMA", "help", event_id="Ev1"))
    headers = slack_signed_headers(body, SIGNING_SECRET, clock.now())

Defaults (team T0SPOKE, app A0SPOKE, bot UBOT) match SlackApiMock's.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

TEAM_ID, API_APP_ID, BOT_USER_ID, BOT_ID = "T0SPOKE", "A0SPOKE", "UBOT", "B0SPOKE"
TEAM_DOMAIN = "spoke-test"
VERIFICATION_TOKEN = "verification-token"      # deprecated by Slack, still present in payloads
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# Unique, increasing defaults for ts, event and trigger ids, deterministic within a test run.
_sequence = itertools.count(1)


def _next() -> int:
    return next(_sequence)


def _ts() -> str:
    return f"{1_700_000_000 + _next()}.000100"


def _trigger_id() -> str:
    n = _next()
    return f"{1_700_000_000 + n}.{TEAM_ID[1:]}.{n:032x}"


def dm_channel_id(user: str) -> str:
    """The bot's DM channel with `user` in these tests: U0AMA -> D0AMA."""
    return "D" + (user[1:] if user[:1] in ("U", "W") else user)


# ---------------------------------------------------------------------- signing

def slack_signature(body: bytes, signing_secret: str, timestamp: int) -> str:
    """`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` keyed with the signing secret."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def slack_signed_headers(body: bytes, signing_secret: str, timestamp: int | datetime,
                         content_type: str = JSON, *, retry_num: int | None = None,
                         retry_reason: str = "http_timeout") -> dict[str, str]:
    """The headers of a Slack delivery of `body`; `retry_num` marks a redelivery (PLATFORMS S1)."""
    seconds = int(timestamp.timestamp()) if isinstance(timestamp, datetime) else int(timestamp)
    headers = {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "X-Slack-Request-Timestamp": str(seconds),
        "X-Slack-Signature": slack_signature(body, signing_secret, seconds),
    }
    if retry_num is not None:
        headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
    return headers


def json_body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def form_body(payload: Mapping[str, Any]) -> bytes:
    """An interactivity request body: `payload=<url-encoded JSON>`."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def command_body(fields: Mapping[str, str]) -> bytes:
    return urlencode(fields).encode()


# ---------------------------------------------------------------------- Events API

def event_callback(event: Mapping[str, Any], *, team_id: str = TEAM_ID, event_id: str | None = None,
                   event_time: int | None = None, api_app_id: str = API_APP_ID,
                   bot_user_id: str = BOT_USER_ID,
                   authorizations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The Events API envelope around `event`."""
    if event_time is None:
        event_time = int(float(event.get("event_ts") or event.get("ts") or _ts()))
    return {
        "token": VERIFICATION_TOKEN, "team_id": team_id, "context_team_id": team_id,
        "context_enterprise_id": None, "api_app_id": api_app_id, "event": dict(event),
        "type": "event_callback", "event_id": event_id or f"Ev{_next():09d}", "event_time": event_time,
        "authorizations": authorizations if authorizations is not None else [
            {"enterprise_id": None, "team_id": team_id, "user_id": bot_user_id, "is_bot": True,
             "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": f"4-message-{team_id}-{event.get('channel', '')}",
    }


def _rich_text(text: str) -> list[dict[str, Any]]:
    return [{"type": "rich_text", "block_id": "Zk1t",
             "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}]


def dm_message(user: str, text: str, *, channel: str | None = None, ts: str | None = None,
               team_id: str = TEAM_ID) -> dict[str, Any]:
    """A person's direct message to the bot (event type "message", channel_type "im")."""
    ts = ts or _ts()
    return {"client_msg_id": f"{_next():08x}-0000-4000-8000-000000000000", "type": "message",
            "text": text, "user": user, "ts": ts, "blocks": _rich_text(text), "team": team_id,
            "channel": channel or dm_channel_id(user), "event_ts": ts, "channel_type": "im"}


def dm_event(user: str, text: str, *, event_id: str | None = None, **message: Any) -> dict[str, Any]:
    """`dm_message` in its envelope."""
    return event_callback(dm_message(user, text, **message), event_id=event_id)


def app_mention(user: str, text: str, channel: str, *, mention: str | None = BOT_USER_ID,
                ts: str | None = None, team_id: str = TEAM_ID) -> dict[str, Any]:
    """An @-mention of the bot in a channel; the text starts with `<@UBOT> ` unless mention=None."""
    ts = ts or _ts()
    text = f"<@{mention}> {text}" if mention else text
    return {"client_msg_id": f"{_next():08x}-0000-4000-8000-000000000000", "type": "app_mention",
            "text": text, "user": user, "ts": ts, "blocks": _rich_text(text), "team": team_id,
            "channel": channel, "event_ts": ts}


def app_home_opened(user: str, *, tab: str = "home", view: Mapping[str, Any] | None = None,
                    event_ts: str | None = None) -> dict[str, Any]:
    """Slack includes `view` only once a Home view was published for this user."""
    event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": dm_channel_id(user),
                             "tab": tab, "event_ts": event_ts or _ts()}
    if view is not None:
        event["view"] = dict(view)
    return event


def url_verification(challenge: str) -> dict[str, Any]:
    return {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}


# ---------------------------------------------------------------------- interactivity

def _user(user: str, team_id: str) -> dict[str, str]:
    name = user.lower()
    return {"id": user, "username": name, "name": name, "team_id": team_id}


def block_actions(user: str, team_id: str, action_id: str, value: str, *, channel: str | None = None,
                  message_ts: str | None = None, trigger_id: str | None = None,
                  view: Mapping[str, Any] | None = None, selected_option: bool = False,
                  block_id: str = "actions", message: Mapping[str, Any] | None = None,
                  api_app_id: str = API_APP_ID) -> dict[str, Any]:
    """A click: a button (or, with selected_option=True, a static_select choice) in a message in
    `channel`, or in `view` (a modal or the Home tab)."""
    action_ts = _ts()
    label = {"type": "plain_text", "text": value, "emoji": True}
    action: dict[str, Any] = (
        {"type": "static_select", "action_id": action_id, "block_id": block_id,
         "selected_option": {"text": label, "value": value},
         "placeholder": {"type": "plain_text", "text": "Choose", "emoji": True}, "action_ts": action_ts}
        if selected_option else
        {"type": "button", "action_id": action_id, "block_id": block_id, "text": label, "value": value,
         "action_ts": action_ts})
    payload: dict[str, Any] = {
        "type": "block_actions", "user": _user(user, team_id), "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN, "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN}, "enterprise": None, "is_enterprise_install": False,
        "state": {"values": {}}, "actions": [action],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = dict(view)
    else:
        channel = channel or dm_channel_id(user)
        message_ts = message_ts or (message or {}).get("ts") or _ts()
        payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                "is_ephemeral": False}
        payload["channel"] = {"id": channel, "name": "directmessage" if channel.startswith("D") else channel}
        payload["message"] = dict(message) if message is not None else {
            "type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": api_app_id, "text": "",
            "ts": message_ts, "team": team_id, "blocks": []}
        payload["response_url"] = f"https://127.0.0.1:9/actions/{team_id}/{_next()}/{message_ts}"
    return payload


def text_value(value: str) -> dict[str, Any]:
    """A plain_text_input's entry in view.state.values[block_id][action_id]."""
    return {"type": "plain_text_input", "value": value}


def select_value(value: str, text: str | None = None) -> dict[str, Any]:
    """A static_select's entry in view.state.values[block_id][action_id]."""
    return {"type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": text or value, "emoji": True},
                                "value": value}}


def view_submission(user: str, team_id: str, callback_id: str, private_metadata: str,
                    state_values: Mapping[str, Mapping[str, Any]], view_id: str, *,
                    trigger_id: str | None = None, title: str = "Spoke", external_id: str = "",
                    blocks: list[dict[str, Any]] | None = None,
                    api_app_id: str = API_APP_ID) -> dict[str, Any]:
    """A modal's Submit. `state_values` is {block_id: {action_id: text_value(...)|select_value(...)}}."""
    n = _next()
    return {
        "type": "view_submission", "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user, team_id), "api_app_id": api_app_id, "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(), "enterprise": None, "is_enterprise_install": False,
        "view": {
            "id": view_id, "team_id": team_id, "type": "modal", "blocks": blocks or [],
            "private_metadata": private_metadata, "callback_id": callback_id,
            "state": {"values": {b: dict(a) for b, a in state_values.items()}},
            "hash": f"{1_700_000_000 + n}.{n:08x}",
            "title": {"type": "plain_text", "text": title, "emoji": True},
            "clear_on_close": False, "notify_on_close": False,
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None, "root_view_id": view_id, "app_id": api_app_id,
            "external_id": external_id, "app_installed_team_id": team_id, "bot_id": BOT_ID,
        },
        "response_urls": [],
    }


def slash_command(user: str, team_id: str = TEAM_ID, command: str = "/spoke", text: str = "", *,
                  channel: str | None = None, trigger_id: str | None = None,
                  api_app_id: str = API_APP_ID) -> dict[str, str]:
    """The form fields of a slash command (send with command_body)."""
    channel = channel or dm_channel_id(user)
    return {
        "token": VERIFICATION_TOKEN, "team_id": team_id, "team_domain": TEAM_DOMAIN,
        "channel_id": channel, "channel_name": "directmessage" if channel.startswith("D") else channel,
        "user_id": user, "user_name": user.lower(), "command": command, "text": text,
        "api_app_id": api_app_id, "is_enterprise_install": "false",
        "response_url": f"https://127.0.0.1:9/commands/{team_id}/{_next()}/x",  # unused by Spoke
        "trigger_id": trigger_id or _trigger_id(),
    }
