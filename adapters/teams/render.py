"""Neutral replies as Bot Framework activities: plain text, or an Adaptive Card 1.5.
Pure, so tests can hold it to what Teams renders."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity

from adapters.teams.translate import FORM, REF
from assistant.messages import Card, File, Form, Option, Question, Reply, Text

MAX_BUTTONS = 6
# What would turn text into emphasis, links, code, headings or HTML; sentence punctuation
# stays as it is, since an escaped full stop would show its backslash in some clients.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~])")


def escape(text: str) -> str:
    """User text shown as text: Teams' markdown must not turn it into links or emphasis."""
    return _MARKDOWN.sub(r"\\\1", text)


def render(reply: Reply, file_links: Mapping[int, str] | None = None) -> dict[str, Any]:
    """`file_links`: part index -> a download link for that File part."""
    if all(isinstance(part, Text) for part in reply.parts):
        text = "\n\n".join(escape(part.text) for part in reply.parts if isinstance(part, Text))
        activity: Activity = MessageFactory.text(text)
        activity.text_format = "markdown"
    else:
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card(reply, file_links)))
        activity.summary = reply.fallback_text()[:200]
    return dict(activity.serialize())


def card(reply: Reply, file_links: Mapping[int, str] | None = None) -> dict[str, Any]:
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for index, part in enumerate(reply.parts):
        if isinstance(part, Text):
            body.append(_text(part.text))
        elif isinstance(part, Question):
            body.append(_text(part.prompt))
            body += _choices(part.options)
        elif isinstance(part, Card):
            body.append(_text(part.title, weight="Bolder", size="Medium"))
            body.append({"type": "FactSet", "facts": [{"title": escape(f.label), "value": escape(f.value)}
                                                      for f in part.facts]})
            body += _choices(part.actions)
        elif isinstance(part, Form):
            body += _form(part, actions)
        elif isinstance(part, File):
            body.append(_text(part.caption or part.name))
            link = (file_links or {}).get(index)
            if link and part.media_type in ("image/png", "image/jpeg"):
                # A chart shows in the card itself; the link below still opens it full size.
                body.append({"type": "Image", "url": link, "altText": part.caption or part.name})
            if link:
                body.append({"type": "ActionSet", "actions": [
                    {"type": "Action.OpenUrl", "title": part.name, "url": link}]})
    document: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.5",
                                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                "body": body}
    if actions:
        document["actions"] = actions
    return document


def _text(text: str, **style: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": escape(text), "wrap": True, **style}


def _choices(options: tuple[Option, ...]) -> list[dict[str, Any]]:
    """Buttons, in rows of six: Teams shows at most six actions in one set."""
    return [{"type": "ActionSet", "actions": [
        {"type": "Action.Submit", "title": option.label, "data": {REF: option.ref}}
        for option in options[start:start + MAX_BUTTONS]]}
        for start in range(0, len(options), MAX_BUTTONS)]


def _form(form: Form, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [_text(form.title, weight="Bolder", size="Medium")]
    for item in form.fields:
        body.append({"type": "Input.Text", "id": item.key, "label": item.label, "value": item.value,
                     "isMultiline": item.multiline})
        if item.error:
            body.append(_text(item.error, color="Attention", size="Small"))
    actions.append({"type": "Action.Submit", "title": form.submit or "OK", "data": {FORM: form.ref}})
    return body
