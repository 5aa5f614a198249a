"""Neutral inbound events: what a person did, whatever the platform.

The `Actor` comes only from the verified envelope (signature, token, local terminal user),
never from a button payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Actor:
    """`identity` is `console:NAME`, `slack:TEAM/USER` or `teams:TENANT/AADOBJECT`."""

    identity: str

    @property
    def platform(self) -> str:
        return self.identity.partition(":")[0]


@dataclass(frozen=True)
class Hints:
    """What the platform profile suggests; always confirmed with the person, never trusted."""

    display_name: str | None = None
    email: str | None = None
    time_zone: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class UserSaid:
    text: str


@dataclass(frozen=True)
class UserChose:
    ref: str


@dataclass(frozen=True)
class FormSubmitted:
    ref: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationStarted:
    pass


@dataclass(frozen=True)
class HomeOpened:
    """The person opened the app's home page (Slack's App Home tab)."""


@dataclass(frozen=True)
class FileOffered:
    """The person sent a file or a photo. Nothing of it is kept (no name, link or content):
    it could identify someone. `with_text` says words came with it; they are not read either,
    so the person is asked to send them again on their own."""

    with_text: bool = False


Action = UserSaid | UserChose | FormSubmitted | ConversationStarted | HomeOpened | FileOffered


@dataclass(frozen=True)
class Event:
    """`delivery_id` is the platform's id for this delivery (Slack event_id, Teams activity
    id); the same id is never processed twice. `address` is opaque to the core: the adapter
    stores it to send proactive messages later. Keys starting with `_` belong to this
    delivery only (a Slack trigger id lives three seconds) and are not kept; `_origin` names
    the shared channel a mention came from ({"identity", "address"}), for "use this channel"."""

    delivery_id: str
    actor: Actor
    action: Action
    address: dict[str, Any] = field(default_factory=dict)
    hints: Hints = field(default_factory=Hints)
    # What the front-end can show beyond text: "buttons", "forms" (modals, card forms).
    capabilities: frozenset[str] = frozenset()

    def lasting_address(self) -> dict[str, Any]:
        return {key: value for key, value in self.address.items() if not key.startswith("_")}
