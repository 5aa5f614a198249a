"""Neutral replies as Block Kit. Pure: no I/O, so snapshot tests can hold it to Slack's limits.

Everything Spoke says may carry user text (a name in a review, an organisation), so every
string placed in mrkdwn is escaped: `<!channel>` typed as a name stays text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.messages import Card, File, Form, Option, Question, Reply, Text

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_LABEL = 75
MAX_BUTTONS = 5
MAX_SELECT_OPTIONS = 100
MAX_FIELDS = 10
ACTION_PREFIX = "spoke:"


@dataclass(frozen=True)
class SlackMessage:
    text: str  # the notification and screen-reader text
    blocks: list[dict[str, Any]] = field(default_factory=list)
    files: list[File] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)


def escape(text: str) -> str:
    """The three characters Slack's mrkdwn gives meaning to, and nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(reply: Reply) -> SlackMessage:
    blocks: list[dict[str, Any]] = []
    files: list[File] = []
    forms: list[Form] = []
    for number, part in enumerate(reply.parts):
        if isinstance(part, Text):
            blocks += _sections(part.text)
        elif isinstance(part, Question):
            blocks += _sections(part.prompt)
            if part.options:
                blocks.append(_choices(part.options, f"q{number}"))
        elif isinstance(part, Card):
            blocks += _card(part, number)
        elif isinstance(part, File):
            files.append(part)
        elif isinstance(part, Form):
            forms.append(part)
            blocks += _sections(part.title)
    text = reply.fallback_text()
    return SlackMessage(text=_clip(escape(text), 4000), blocks=_cap(blocks), files=files,
                        forms=forms)


def _sections(text: str) -> list[dict[str, Any]]:
    if not text:
        return []
    escaped = escape(text)
    chunks = [escaped[i:i + MAX_SECTION_TEXT] for i in range(0, len(escaped), MAX_SECTION_TEXT)]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk, "verbatim": True}}
            for chunk in chunks]


def _choices(options: tuple[Option, ...], block_id: str) -> dict[str, Any]:
    if len(options) <= MAX_BUTTONS:
        return {"type": "actions", "block_id": block_id, "elements": [
            {"type": "button", "action_id": f"{ACTION_PREFIX}{block_id}:{n}",
             "text": _plain(option.label), "value": option.ref}
            for n, option in enumerate(options)]}
    return {"type": "actions", "block_id": block_id, "elements": [{
        "type": "static_select", "action_id": f"{ACTION_PREFIX}{block_id}:select",
        "placeholder": _plain("…"),
        "options": [{"text": _plain(option.label), "value": option.ref}
                    for option in options[:MAX_SELECT_OPTIONS]]}]}


def _card(card: Card, number: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(card.title, 150)}]
    fields = [{"type": "mrkdwn", "text": f"*{escape(f.label)}*\n{escape(f.value)}", "verbatim": True}
              for f in card.facts]
    for start in range(0, len(fields), MAX_FIELDS):
        blocks.append({"type": "section", "fields": fields[start:start + MAX_FIELDS]})
    if card.actions:
        blocks.append(_choices(card.actions, f"c{number}"))
    return blocks


def _plain(text: str, limit: int = MAX_LABEL) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(text, limit) or " ", "emoji": True}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _cap(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Slack refuses a message over 50 blocks: keep the end, where the question is."""
    return blocks if len(blocks) <= MAX_BLOCKS else blocks[-MAX_BLOCKS:]


def home_view(reply: Reply) -> dict[str, Any]:
    return {"type": "home", "blocks": render(reply).blocks[:100]}


def modal(form: Form) -> dict[str, Any]:
    """A form as a modal; each field is an input block whose block id is the field key,
    so validation errors come back keyed the same way."""
    blocks = []
    for item in form.fields:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value",
                                   "multiline": item.multiline}
        if item.value:
            element["initial_value"] = item.value
        blocks.append({"type": "input", "block_id": item.key, "optional": True,
                       "label": _plain(item.label, 2000), "element": element})
    return {"type": "modal", "callback_id": "spoke_form", "private_metadata": form.ref,
            "title": _plain(form.title, 24), "submit": _plain(form.submit or "OK", 24),
            "close": _plain(form.close or "Cancel", 24), "blocks": blocks[:100]}
