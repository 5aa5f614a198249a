"""The neutral outbound message model: what Spoke says, before any platform renders it.

Frozen values, no I/O. Strings are already translated for the reader; adapters render them
(Block Kit, Adaptive Cards, numbered text) and never decide wording.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Text:
    text: str

    def fallback_text(self) -> str:
        return self.text


@dataclass(frozen=True)
class Option:
    """One choice. `ref` is opaque (`dialog:step:nonce:value`) and re-checked by the core."""

    label: str
    ref: str

    def fallback_text(self) -> str:
        return self.label


@dataclass(frozen=True)
class Question:
    """A prompt with choices; `many` lets the reader pick several (comma-separated in text)."""

    prompt: str
    options: tuple[Option, ...] = ()
    many: bool = False

    def fallback_text(self) -> str:
        lines = [self.prompt]
        lines += [f"{n}. {option.label}" for n, option in enumerate(self.options, start=1)]
        return "\n".join(lines)


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Card:
    """A titled block of facts with optional actions (a profile, a review summary)."""

    title: str
    facts: tuple[Fact, ...] = ()
    actions: tuple[Option, ...] = ()

    def fallback_text(self) -> str:
        lines = [self.title] + [f"{fact.label}: {fact.value}" for fact in self.facts]
        lines += [f"{n}. {a.label}" for n, a in enumerate(self.actions, start=1)]
        return "\n".join(lines)


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    value: str = ""
    error: str | None = None
    multiline: bool = False


@dataclass(frozen=True)
class Form:
    """Several fields at once, where the platform can show a form; submitted as one event."""

    title: str
    ref: str
    fields: tuple[FormField, ...] = ()
    submit: str = ""
    close: str = ""

    def fallback_text(self) -> str:
        return "\n".join([self.title] + [f"- {f.label}" for f in self.fields])


@dataclass(frozen=True)
class File:
    """An attachment such as an .ics calendar or a JSON export."""

    name: str
    media_type: str
    content: bytes
    caption: str = ""

    def fallback_text(self) -> str:
        return self.caption or self.name


Part = Text | Question | Card | Form | File


@dataclass(frozen=True)
class Reply:
    """One message to one reader. `private` keeps it out of shared channels; `replaces`
    names an earlier message whose buttons were used, so they cannot be pressed twice."""

    parts: tuple[Part, ...]
    private: bool = True
    replaces: str | None = None
    surface: str = "chat"  # "chat", or "home": the app's home page where a platform has one

    def fallback_text(self) -> str:
        return "\n\n".join(part.fallback_text() for part in self.parts)


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """A JSON-safe form for the outbox table."""
    return {
        "private": reply.private,
        "replaces": reply.replaces,
        "surface": reply.surface,
        "parts": [_part_to_json(part) for part in reply.parts],
    }


def reply_from_json(data: dict[str, Any]) -> Reply:
    return Reply(
        parts=tuple(_part_from_json(part) for part in data["parts"]),
        private=bool(data.get("private", True)),
        replaces=data.get("replaces"),
        surface=str(data.get("surface", "chat")),
    )


def _options(items: list[dict[str, str]]) -> tuple[Option, ...]:
    return tuple(Option(label=item["label"], ref=item["ref"]) for item in items)


def _part_to_json(part: Part) -> dict[str, Any]:
    match part:
        case Text(text=text):
            return {"type": "text", "text": text}
        case Question(prompt=prompt, options=options, many=many):
            return {"type": "question", "prompt": prompt, "many": many,
                    "options": [{"label": o.label, "ref": o.ref} for o in options]}
        case Card(title=title, facts=facts, actions=actions):
            return {"type": "card", "title": title,
                    "facts": [{"label": f.label, "value": f.value} for f in facts],
                    "actions": [{"label": o.label, "ref": o.ref} for o in actions]}
        case Form(title=title, ref=ref, fields=fields, submit=submit, close=close):
            return {"type": "form", "title": title, "ref": ref, "submit": submit, "close": close,
                    "fields": [{"key": f.key, "label": f.label, "value": f.value,
                                "error": f.error, "multiline": f.multiline} for f in fields]}
        case File(name=name, media_type=media_type, content=content, caption=caption):
            return {"type": "file", "name": name, "media_type": media_type, "caption": caption,
                    "content": base64.b64encode(content).decode("ascii")}
    raise TypeError(f"unknown part {type(part).__name__}")


def _part_from_json(data: dict[str, Any]) -> Part:
    kind = data["type"]
    if kind == "text":
        return Text(data["text"])
    if kind == "question":
        return Question(data["prompt"], _options(data["options"]), bool(data.get("many")))
    if kind == "card":
        facts = tuple(Fact(f["label"], f["value"]) for f in data["facts"])
        return Card(data["title"], facts, _options(data["actions"]))
    if kind == "form":
        fields = tuple(FormField(**f) for f in data["fields"])
        return Form(data["title"], data["ref"], fields, data.get("submit", ""), data.get("close", ""))
    if kind == "file":
        return File(data["name"], data["media_type"], base64.b64decode(data["content"]),
                    data.get("caption", ""))
    raise ValueError(f"unknown part type {kind!r}")


@dataclass(frozen=True)
class Outgoing:
    """A reply addressed to a person's platform identity, as the sender reads it back."""

    id: int
    identity: str
    address: dict[str, Any] = field(default_factory=dict)
    reply: Reply = field(default_factory=lambda: Reply(parts=()))
    attempts: int = 1
    # Written just before sending, from this recipe (a reminder: session, kind), so it says
    # what is true then, in the reader's language and zone of the day.
    compose: dict[str, Any] | None = None
