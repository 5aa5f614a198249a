"""Activities as Microsoft Teams sends them to a bot, as plain JSON dicts (camelCase, wire shape).

    activity = personal_message("help", user_aad=AMA_AAD)
    headers = identity.authorization(activity)          # tests/teams_mock.py: a channel token
    await http.post(f"{base}/api/messages", json=activity, headers=headers)

Shapes follow what Teams delivers: `channelId` "msteams", `from` with `aadObjectId`, the bot as
`recipient` "28:<app id>", `conversation.conversationType` ("personal" or "channel") with
`tenantId`, `channelData.tenant.id`, a `clientInfo` entity carrying locale and time zone, and
`localTimezone`. Card clicks: Action.Submit arrives as a *message* with `value` and no text;
Action.Execute as an *invoke* named "adaptiveCard/action" that expects an invoke response.

Ids are deterministic: `teams_user_id(aad)` derives a "29:1…" id from an AAD object id, and
`personal_conversation_id(user_id, bot_id)` the "a:1…" id of the bot's 1:1 chat with that user,
which `BotConnectorMock` also answers to a create-conversation call for the same member.
Activity ids are unique and increasing, like Teams' millisecond message ids.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

DEFAULT_TENANT = "72f988bf-0000-4000-8000-00000000cafe"
DEFAULT_APP_ID = "00000000-0000-4000-8000-00000000b07a"
DEFAULT_USER_AAD = "6f1e2d3c-0000-4000-8000-0000000a3a1a"
DEFAULT_USER_NAME = "Ama Mensah"
DEFAULT_SERVICE_URL = "http://127.0.0.1:9/emea/"  # never reached: tests pass the mock's URL
DEFAULT_TEAM_ID = "19:5b3d8c0e9f2a4e6d8c1b7a0f3e2d1c4b@thread.tacv2"
DEFAULT_CHANNEL_ID = "19:0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f@thread.tacv2"
BOT_NAME = "Spoke"
CHANNEL_ID = "msteams"

Activity = dict[str, Any]

_lock = threading.Lock()
_last_id = 0
_conversation_update_seq = itertools.count(1)


def _digest(*parts: str, length: int) -> str:
    raw = hashlib.sha256("\x00".join(parts).encode()).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")[:length]


def teams_user_id(aad_object_id: str) -> str:
    """The Teams ("29:1…") id of the user with this AAD object id, stable across calls."""
    return "29:1" + _digest("user", aad_object_id.lower(), length=42)


def bot_account_id(app_id: str = DEFAULT_APP_ID) -> str:
    return app_id if app_id.startswith("28:") else f"28:{app_id}"


def personal_conversation_id(user_id: str, bot_id: str = DEFAULT_APP_ID) -> str:
    """The id of the bot's personal (1:1) conversation with `user_id` ("29:…")."""
    return "a:1" + _digest("personal", user_id, bot_id.removeprefix("28:"), length=60)


def next_activity_id(at: datetime | None = None) -> str:
    """A unique, increasing id shaped like Teams' message ids (epoch milliseconds)."""
    global _last_id
    millis = int((at or datetime.fromtimestamp(time.time(), UTC)).timestamp() * 1000)
    with _lock:
        _last_id = max(_last_id + 1, millis)
        return str(_last_id)


def _timestamps(at: datetime | None, zone: str) -> tuple[str, str]:
    moment = (at or datetime.fromtimestamp(time.time(), UTC)).astimezone(UTC)
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    # Seven fractional digits, as Teams writes them: 2025-06-02T09:00:00.1234560Z.
    return (moment.strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
            local.strftime("%Y-%m-%dT%H:%M:%S.%f0") + local.isoformat()[-6:])


def _client_info(locale: str, local_timezone: str) -> dict[str, Any]:
    return {"type": "clientInfo", "locale": locale, "country": locale.rsplit("-", 1)[-1].upper(),
            "platform": "Web", "timezone": local_timezone}


def _activity(kind: str, *, user_aad: str, user_id: str | None, user_name: str, tenant: str,
              service_url: str, bot_id: str, conversation: dict[str, Any], activity_id: str | None,
              local_timezone: str, locale: str, at: datetime | None,
              channel_data: Mapping[str, Any] | None = None) -> Activity:
    timestamp, local_timestamp = _timestamps(at, local_timezone)
    return {
        "type": kind,
        "id": activity_id or next_activity_id(at),
        "timestamp": timestamp,
        "localTimestamp": local_timestamp,
        "localTimezone": local_timezone,
        "serviceUrl": service_url,
        "channelId": CHANNEL_ID,
        "from": {"id": user_id or teams_user_id(user_aad), "name": user_name, "aadObjectId": user_aad},
        "conversation": conversation,
        "recipient": {"id": bot_account_id(bot_id), "name": BOT_NAME},
        "entities": [_client_info(locale, local_timezone)],
        "channelData": {"tenant": {"id": tenant}, **(channel_data or {})},
        "locale": locale,
    }


def personal_conversation(user_aad: str = DEFAULT_USER_AAD, *, user_id: str | None = None,
                          tenant: str = DEFAULT_TENANT, bot_id: str = DEFAULT_APP_ID) -> dict[str, Any]:
    return {"conversationType": "personal", "tenantId": tenant,
            "id": personal_conversation_id(user_id or teams_user_id(user_aad), bot_id)}


def personal_message(text: str | None, *, user_aad: str = DEFAULT_USER_AAD, user_id: str | None = None,
                     user_name: str = DEFAULT_USER_NAME, tenant: str = DEFAULT_TENANT,
                     service_url: str = DEFAULT_SERVICE_URL, bot_id: str = DEFAULT_APP_ID,
                     activity_id: str | None = None, local_timezone: str = "Europe/London",
                     locale: str = "en-GB", value: Any = None, reply_to_id: str | None = None,
                     at: datetime | None = None) -> Activity:
    """A message the user typed in the bot's 1:1 chat (or, with `value`, a card's payload)."""
    activity = _activity("message", user_aad=user_aad, user_id=user_id, user_name=user_name,
                         tenant=tenant, service_url=service_url, bot_id=bot_id,
                         conversation=personal_conversation(user_aad, user_id=user_id, tenant=tenant,
                                                            bot_id=bot_id),
                         activity_id=activity_id, local_timezone=local_timezone, locale=locale, at=at)
    if text is not None:
        activity["text"] = text
        activity["textFormat"] = "plain"
        activity["attachments"] = [{"contentType": "text/html", "content": f"<p>{text}</p>"}]
    if value is not None:
        activity["value"] = value
    if reply_to_id is not None:
        activity["replyToId"] = reply_to_id
    return activity


def card_submit(value: Mapping[str, Any], *, reply_to_id: str | None = None, **kwargs: Any) -> Activity:
    """What Teams sends when an Adaptive Card's Action.Submit is pressed in a 1:1 chat: a message
    with the inputs plus the action's `data` merged in `value`, no text, `replyToId` = the card's
    activity id. Keyword arguments as personal_message."""
    reply_to = reply_to_id or next_activity_id()
    activity = personal_message(None, value=dict(value), reply_to_id=reply_to, **kwargs)
    activity["channelData"] |= {"source": {"name": "message"}, "legacy": {"replyToId": reply_to}}
    return activity


def card_execute_invoke(verb: str, data: Mapping[str, Any] | None = None, *, reply_to_id: str | None = None,
                        action_id: str | None = None, title: str | None = None, **kwargs: Any) -> Activity:
    """An Adaptive Card Universal Action (Action.Execute): an invoke named "adaptiveCard/action".
    The bot answers it in the HTTP response: 200 with `{"statusCode": 200, "type":
    "application/vnd.microsoft.card.adaptive", "value": <card>}` (the card replaces the old
    one) or `"type": "application/vnd.microsoft.activity.message", "value": "<text>"`."""
    reply_to = reply_to_id or next_activity_id()
    action: dict[str, Any] = {"type": "Action.Execute", "verb": verb, "data": dict(data or {})}
    if action_id is not None:
        action["id"] = action_id
    if title is not None:
        action["title"] = title
    activity = personal_message(None, value={"action": action, "trigger": "manual"},
                                reply_to_id=reply_to, **kwargs)
    activity["type"] = "invoke"
    activity["name"] = "adaptiveCard/action"
    activity["channelData"] |= {"source": {"name": "message"}, "legacy": {"replyToId": reply_to}}
    return activity


def bot_added(*, scope: str = "personal", user_aad: str = DEFAULT_USER_AAD, user_id: str | None = None,
              user_name: str = DEFAULT_USER_NAME, tenant: str = DEFAULT_TENANT,
              service_url: str = DEFAULT_SERVICE_URL, bot_id: str = DEFAULT_APP_ID,
              team_id: str = DEFAULT_TEAM_ID, team_name: str = "Pain ECHO",
              local_timezone: str = "Europe/London", locale: str = "en-GB",
              activity_id: str | None = None, at: datetime | None = None) -> Activity:
    """The conversationUpdate Teams sends when the app is installed: scope "personal" (the user
    added the bot to a 1:1 chat, `from` is that user) or "team" (added to a team; the
    conversation is the team's General channel, channelData carries `team` and
    `eventType: "teamMemberAdded"`)."""
    if scope == "personal":
        conversation = personal_conversation(user_aad, user_id=user_id, tenant=tenant, bot_id=bot_id)
        channel_data: dict[str, Any] = {}
    elif scope == "team":
        conversation = {"isGroup": True, "conversationType": "channel", "tenantId": tenant, "id": team_id}
        channel_data = {"team": {"aadGroupId": "0f1e2d3c-0000-4000-8000-00000000ec40", "name": team_name,
                                 "id": team_id},
                        "eventType": "teamMemberAdded",
                        "settings": {"selectedChannel": {"id": team_id}}}
    else:
        raise ValueError("scope is 'personal' or 'team'")
    activity = _activity("conversationUpdate", user_aad=user_aad, user_id=user_id, user_name=user_name,
                         tenant=tenant, service_url=service_url, bot_id=bot_id, conversation=conversation,
                         activity_id=activity_id or f"f:{next(_conversation_update_seq):019d}",
                         local_timezone=local_timezone, locale=locale, at=at, channel_data=channel_data)
    activity["membersAdded"] = [{"id": bot_account_id(bot_id)}]
    for key in ("localTimestamp", "localTimezone", "locale"):   # conversation updates carry none
        activity.pop(key)
    activity["entities"] = []
    return activity


def channel_mention(text: str, *, user_aad: str = DEFAULT_USER_AAD, user_id: str | None = None,
                    user_name: str = DEFAULT_USER_NAME, tenant: str = DEFAULT_TENANT,
                    service_url: str = DEFAULT_SERVICE_URL, bot_id: str = DEFAULT_APP_ID,
                    team_id: str = DEFAULT_TEAM_ID, channel_id: str = DEFAULT_CHANNEL_ID,
                    activity_id: str | None = None, local_timezone: str = "Europe/London",
                    locale: str = "en-GB", at: datetime | None = None) -> Activity:
    """A new channel post that @mentions the bot: text "<at>Spoke</at> {text}" with a mention
    entity; the conversation id is "{channel id};messageid={activity id}" (the post's thread)."""
    message_id = activity_id or next_activity_id(at)
    mention_text = f"<at>{BOT_NAME}</at>"
    conversation = {"isGroup": True, "conversationType": "channel", "tenantId": tenant,
                    "id": f"{channel_id};messageid={message_id}"}
    channel_data = {"teamsChannelId": channel_id, "teamsTeamId": team_id, "channel": {"id": channel_id},
                    "team": {"id": team_id}}
    activity = _activity("message", user_aad=user_aad, user_id=user_id, user_name=user_name, tenant=tenant,
                         service_url=service_url, bot_id=bot_id, conversation=conversation,
                         activity_id=message_id, local_timezone=local_timezone, locale=locale, at=at,
                         channel_data=channel_data)
    activity["text"] = f"{mention_text} {text}"
    activity["textFormat"] = "plain"
    activity["attachments"] = [{"contentType": "text/html",
                                "content": f'<div><div><span itemscope="" itemtype="http://schema.skype.com/'
                                           f'Mention" itemid="0">{BOT_NAME}</span> {text}</div></div>'}]
    activity["entities"].insert(0, {"type": "mention", "text": mention_text,
                                    "mentioned": {"id": bot_account_id(bot_id), "name": BOT_NAME}})
    return activity
