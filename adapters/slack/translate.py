"""Slack payloads in, neutral events out. Pure: the identity comes from the verified
envelope, never from a button value, and Slack's markup is decoded so the core holds text."""

from __future__ import annotations

import re
from typing import Any

from assistant.events import (
    Action,
    Actor,
    Event,
    FileOffered,
    FormSubmitted,
    Hints,
    HomeOpened,
    UserChose,
    UserSaid,
)

ORIGIN = "_origin"  # the address key the core reads a channel from (assistant/services/announcements)
# Slack shows a modal's field errors from the acknowledgement itself ("inline").
CAPABILITIES = frozenset({"buttons", "forms", "home", "inline_form_errors"})
_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>|<([^<>|]+)>")


def decode(text: str) -> str:
    """`<mailto:a@b.org|a@b.org>` -> `a@b.org`, `<@U1>` -> ``, then `&lt;` -> `<`."""
    def plain(match: re.Match[str]) -> str:
        _target, label, bare = match.groups()
        if label is not None:
            return label
        if bare.startswith(("@", "!", "#")):
            return ""  # a mention or a channel: not part of the answer
        return bare.removeprefix("mailto:")
    unlinked = _LINK.sub(plain, text)
    return unlinked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _object(value: Any) -> dict[str, Any]:
    """A part of a payload Slack sends as an object. Anything else (a payload garbled on the
    way, or signed by someone holding the secret) reads as empty, never raises."""
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> str:
    """A Slack id (team, user, channel): a string, or nothing."""
    return value if isinstance(value, str) else ""


def identity(team: str, user: str) -> Actor:
    return Actor(f"slack:{team}/{user}")


def channel_origin(team: str, channel: str) -> dict[str, Any]:
    """A channel as the core stores it for a network: an identity, and what the notifier
    needs to post there."""
    return {"identity": f"slack:{team}/{channel}", "address": {"team": team, "channel": channel}}


def from_event(body: dict[str, Any], hints: Hints) -> Event | None:
    """An Events API callback, or None for events Spoke does not answer (bots, edits...)."""
    event = _object(body.get("event"))
    team = _id(body.get("team_id")) or _id(event.get("team"))
    user = _id(event.get("user"))
    kind = event.get("type")
    offered = _file_offered(event)
    if not team or not user or event.get("bot_id") or (event.get("subtype") and offered is None):
        return None
    address: dict[str, Any] = {"team": team, "user": user}
    action: Action
    if kind == "message" and event.get("channel_type") == "im":
        address["channel"] = _id(event.get("channel")) or None
        action = offered or UserSaid(decode(str(event.get("text") or "")))
    elif kind == "app_mention":
        # Answered in the direct-message channel: a channel never sees personal data.
        action = offered or UserSaid(decode(str(event.get("text") or "")) or "help")
        channel = event.get("channel")
        if isinstance(channel, str) and channel[:1] in ("C", "G"):
            # Where it was said, for this delivery only ("use this channel"); never kept as
            # the person's address, so nothing personal is ever posted there.
            address[ORIGIN] = channel_origin(team, channel)
    elif kind == "app_home_opened" and event.get("tab") == "home":
        address["channel"] = _id(event.get("channel")) or None
        action = HomeOpened()
    else:
        return None
    return Event(f"slack:{body.get('event_id')}", identity(team, user), action, address, hints,
                 CAPABILITIES)


def _file_offered(event: dict[str, Any]) -> FileOffered | None:
    """A shared file or photo (subtype `file_share`, or `files` on the message): refused
    whole. Neither the file's id, name or link nor the words sent with it go any further."""
    if event.get("subtype") not in (None, "file_share") or (
            event.get("subtype") != "file_share" and not event.get("files")):
        return None
    return FileOffered(with_text=bool(decode(str(event.get("text") or ""))))


def from_action(body: dict[str, Any], hints: Hints) -> Event | None:
    """A button press or a select choice; its value is the core's opaque reference."""
    team, user = _who(body)
    actions = body.get("actions")
    if not team or not user or not isinstance(actions, list) or not actions:
        return None
    chosen = _object(actions[0])
    ref = chosen.get("value") or _object(chosen.get("selected_option")).get("value")
    if not isinstance(ref, str) or not ref:
        return None
    address = _interaction_address(body, team, user)
    return Event(f"slack:action:{body.get('trigger_id') or chosen.get('action_ts')}",
                 identity(team, user), UserChose(ref), address, hints, CAPABILITIES)


def from_view_submission(body: dict[str, Any], hints: Hints) -> Event | None:
    team, user = _who(body)
    view = _object(body.get("view"))
    if not team or not user or view.get("callback_id") != "spoke_form":
        return None
    values: dict[str, str] = {}
    for block_id, inputs in _object(_object(view.get("state")).get("values")).items():
        value = _object(_object(inputs).get("value")).get("value")
        values[str(block_id)] = value if isinstance(value, str) else ""
    address = _interaction_address(body, team, user)
    return Event(f"slack:view:{view.get('id')}:{view.get('hash')}", identity(team, user),
                 FormSubmitted(str(view.get("private_metadata") or ""), values), address, hints,
                 CAPABILITIES)


def from_command(body: dict[str, Any], hints: Hints) -> Event | None:
    """`/spoke profile` is the same as typing "profile" in the direct messages."""
    team, user = str(body.get("team_id") or ""), str(body.get("user_id") or "")
    if not team or not user:
        return None
    address: dict[str, Any] = {"team": team, "user": user}
    if body.get("trigger_id"):
        address["_trigger_id"] = body["trigger_id"]
    text = decode(str(body.get("text") or "")) or "help"
    return Event(f"slack:command:{body.get('trigger_id')}", identity(team, user), UserSaid(text),
                 address, hints, CAPABILITIES)


def _who(body: dict[str, Any]) -> tuple[str, str]:
    user = _object(body.get("user"))
    team = _id(_object(body.get("team")).get("id")) or _id(user.get("team_id"))
    return team, _id(user.get("id"))


def _interaction_address(body: dict[str, Any], team: str, user: str) -> dict[str, Any]:
    address: dict[str, Any] = {"team": team, "user": user}
    channel = _object(body.get("channel")).get("id") or _object(body.get("container")).get("channel_id")
    if isinstance(channel, str) and channel.startswith("D"):
        address["channel"] = channel
    if body.get("trigger_id"):
        address["_trigger_id"] = body["trigger_id"]
    return address


def hints_from_profile(user: dict[str, Any]) -> Hints:
    """What `users.info` says about someone: offered during registration, always confirmed."""
    profile = user.get("profile") or {}
    name = profile.get("real_name") or user.get("real_name") or None
    return Hints(display_name=name, email=profile.get("email") or None,
                 time_zone=user.get("tz") or None, language=user.get("locale") or None)
