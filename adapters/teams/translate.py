"""Teams Activities in, neutral events out. The identity is the tenant and the Azure AD
object id from the authenticated activity; card values carry only the core's reference.

The few fields needed are read from the JSON directly: botbuilder's msrest deserialisation
of a whole Activity cost about a millisecond per message (bench/teams.py), most of the
adapter's overhead. The conversation reference kept is the shape botbuilder's
`TurnContext.get_conversation_reference` produces, so it can be handed back to it."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from adapters.teams.auth import tenant_of
from assistant.events import (
    Action,
    Actor,
    ConversationStarted,
    Event,
    FileOffered,
    FormSubmitted,
    Hints,
    UserChose,
    UserSaid,
)

CAPABILITIES = frozenset({"buttons", "forms"})
ORIGIN = "_origin"  # the address key the core reads a channel from (assistant/services/announcements)
REF, FORM = "spoke_ref", "spoke_form"
_MENTION = re.compile(r"<at>.*?</at>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_TEXT_KINDS = ("text/html", "text/plain")
# A pasted photo is an <img> in the HTML; Teams' emoji are <img>s too, marked as such.
_IMAGE = re.compile(r"<img\b(?![^>]*schema\.skype\.com/Emoji)", re.IGNORECASE)


@dataclass(frozen=True)
class Incoming:
    event: Event
    invoke: bool  # an Action.Execute: Teams waits for an invoke response


def plain_text(text: str) -> str:
    """Teams sends HTML-ish text: drop mentions and tags, decode entities."""
    return html.unescape(_TAG.sub(" ", _MENTION.sub(" ", text))).replace("\xa0", " ").strip()


def translate(activity: dict[str, Any], hints: Hints) -> Incoming | None:
    activity_id = activity.get("id")
    tenant = tenant_of(activity)
    sender = activity.get("from") or {}
    aad = _text(sender.get("aadObjectId"))
    if not tenant or not aad or not isinstance(activity_id, str) or not activity_id:
        return None
    personal = (activity.get("conversation") or {}).get("conversationType", "personal") == "personal"
    action = _action(activity, personal)
    if action is None:
        return None
    event = Event(f"teams:{activity_id}", Actor(f"teams:{tenant}/{aad}"), action,
                  address(activity, tenant, personal), hints, CAPABILITIES)
    return Incoming(event, invoke=activity.get("type") == "invoke")


def _action(activity: dict[str, Any], personal: bool) -> Action | None:
    kind = activity.get("type")
    if kind == "conversationUpdate":
        bot = (activity.get("recipient") or {}).get("id")
        added = [m.get("id") for m in activity.get("membersAdded") or []]
        return ConversationStarted() if personal and bot in added else None
    if kind == "invoke" and activity.get("name") == "adaptiveCard/action":
        data = ((activity.get("value") or {}).get("action") or {}).get("data") or {}
        return _from_card(data)
    if kind != "message":
        return None
    value = activity.get("value")
    if isinstance(value, dict):
        # A card's button, also on a channel's announcement: answered in the personal chat.
        return _from_card(value)
    if not personal and not _mentions_bot(activity):
        return None  # in a channel or group chat, only when spoken to
    if _has_file(activity):
        # Refused whole: no name, link or content kept, and the words with it are not read.
        return FileOffered(with_text=bool(plain_text(str(activity.get("text") or ""))))
    return UserSaid(plain_text(str(activity.get("text") or "")) or "help")


def _has_file(activity: dict[str, Any]) -> bool:
    """A file (`...teams.file.download.info`), a photo (`image/*`) or anything else that is
    neither the message's own text (`text/html`, `text/plain`) nor a card."""
    for attachment in activity.get("attachments") or []:
        kind = str((attachment or {}).get("contentType") or "")
        if kind in _TEXT_KINDS:
            if _IMAGE.search(str(attachment.get("content") or "")):
                return True  # a photo pasted into the message: only an <img> in the HTML
            continue
        if not kind.startswith("application/vnd.microsoft.card."):
            return True
    return False


def _from_card(data: dict[str, Any]) -> Action | None:
    if isinstance(data.get(FORM), str):
        values = {k: str(v) for k, v in data.items() if k != FORM and isinstance(v, str | int | float)}
        return FormSubmitted(data[FORM], values)
    ref = data.get(REF)
    return UserChose(ref) if isinstance(ref, str) and ref else None


def _mentions_bot(activity: dict[str, Any]) -> bool:
    bot = (activity.get("recipient") or {}).get("id")
    return any(entity.get("type") == "mention" and (entity.get("mentioned") or {}).get("id") == bot
               for entity in activity.get("entities") or [])


def address(activity: dict[str, Any], tenant: str, personal: bool) -> dict[str, Any]:
    """Where to send later: the service URL the token vouched for and the conversation
    reference; a channel's conversation is never kept (personal data goes to the 1:1 chat)."""
    kept: dict[str, Any] = {"service_url": activity.get("serviceUrl"), "tenant": tenant,
                            "user": (activity.get("from") or {}).get("id"),
                            "bot": (activity.get("recipient") or {}).get("id")}
    if personal:
        kept["conversation"] = (activity.get("conversation") or {}).get("id")
        kept["reference"] = conversation_reference(activity)
    else:
        channel = channel_of(activity)
        if channel is not None:
            # Where it was said, for this delivery only ("use this channel").
            kept[ORIGIN] = {"identity": f"teams:{channel}", "address": {
                "service_url": activity.get("serviceUrl"), "tenant": tenant,
                "bot": kept["bot"], "channel": channel}}
    return kept


def channel_of(activity: dict[str, Any]) -> str | None:
    """The Teams channel a channel post or reply is in (its conversation id names the thread:
    "19:...@thread.tacv2;messageid=..."), or None outside channels."""
    conversation = activity.get("conversation") or {}
    if conversation.get("conversationType") != "channel":
        return None
    data = activity.get("channelData") or {}
    channel = (data.get("channel") or {}).get("id") or data.get("teamsChannelId") \
        or str(conversation.get("id") or "").split(";")[0]
    return str(channel) if channel else None


def conversation_reference(activity: dict[str, Any]) -> dict[str, Any]:
    """What `TurnContext.get_conversation_reference(activity).serialize()` gives."""
    def account(value: Any) -> dict[str, Any]:
        fields = ("id", "name", "aadObjectId", "role")
        return {k: value[k] for k in fields if isinstance(value, dict) and value.get(k) is not None}
    conversation = activity.get("conversation") or {}
    reference = {"activityId": activity.get("id"), "user": account(activity.get("from")),
                 "bot": account(activity.get("recipient")),
                 "conversation": {k: conversation[k] for k in ("conversationType", "id", "name",
                                                                "isGroup") if k in conversation},
                 "channelId": activity.get("channelId"), "locale": activity.get("locale"),
                 "serviceUrl": activity.get("serviceUrl")}
    return {k: v for k, v in reference.items() if v is not None}


def hints_from(activity: dict[str, Any], member: dict[str, Any] | None) -> Hints:
    """The activity's name, zone and locale, and the member's e-mail: offered, then confirmed.
    Only strings: `"locale": true` failed the turn, and its apology too."""
    member = member or {}
    email = _text(member.get("email")) or _text(member.get("userPrincipalName"))
    name = _text((activity.get("from") or {}).get("name")) or _text(member.get("name"))
    return Hints(display_name=name or None, email=email if "@" in email else None,
                 time_zone=_text(activity.get("localTimezone")) or None,
                 language=_text(activity.get("locale")) or None)


def _text(value: Any) -> str:
    """A field Teams sends as a string; anything else reads as empty."""
    return value if isinstance(value, str) else ""
