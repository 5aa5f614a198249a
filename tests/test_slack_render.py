"""Block Kit rendering held to Slack's limits, and the app manifest to what the code needs."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from adapters.slack.render import MAX_BLOCKS, escape, home_view, modal, render
from adapters.slack.translate import decode, from_event
from assistant.events import Hints, UserSaid
from assistant.messages import Card, Fact, File, Form, FormField, Option, Question, Reply, Text

MANIFEST = Path(__file__).resolve().parents[1] / "adapters" / "slack" / "manifest.yml"


def options(count: int, label: str = "Option") -> tuple[Option, ...]:
    return tuple(Option(f"{label} {n}", f"d:s:1:v{n}") for n in range(count))


def test_user_text_is_escaped_and_never_becomes_a_mention() -> None:
    message = render(Reply((Text("Hello <!channel> & <@U1>"),)))
    section = message.blocks[0]["text"]
    assert section == {"type": "mrkdwn", "text": "Hello &lt;!channel&gt; &amp; &lt;@U1&gt;",
                       "verbatim": True}
    assert "<!channel>" not in message.text
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_up_to_five_choices_are_buttons_and_more_a_select() -> None:
    five = render(Reply((Question("Pick", options(5)),))).blocks[-1]
    six = render(Reply((Question("Pick", options(6)),))).blocks[-1]
    assert [e["type"] for e in five["elements"]] == ["button"] * 5
    assert [e["type"] for e in six["elements"]] == ["static_select"]
    assert len(six["elements"][0]["options"]) == 6
    assert five["elements"][2]["value"] == "d:s:1:v2"  # only the core's opaque reference


def test_labels_are_clipped_to_slack_limits() -> None:
    block = render(Reply((Question("Pick", (Option("x" * 200, "r"),)),))).blocks[-1]
    label = block["elements"][0]["text"]["text"]
    assert len(label) == 75 and label.endswith("…")


def test_a_long_text_is_split_into_sections_under_3000_characters() -> None:
    blocks = render(Reply((Text("a" * 7000),))).blocks
    assert [len(b["text"]["text"]) for b in blocks] == [3000, 3000, 1000]


def test_a_message_never_exceeds_fifty_blocks_and_keeps_the_question() -> None:
    parts = (*tuple(Text(f"line {n}") for n in range(80)), Question("Last?", options(2)))
    blocks = render(Reply(parts)).blocks
    assert len(blocks) == MAX_BLOCKS
    assert blocks[-1]["type"] == "actions"


def test_a_card_becomes_a_header_fields_and_actions() -> None:
    card = Card("Your profile", tuple(Fact(f"L{n}", f"V{n}") for n in range(12)), options(2))
    blocks = render(Reply((card,))).blocks
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Your profile",
                                                    "emoji": True}}
    assert [len(b["fields"]) for b in blocks[1:3]] == [10, 2]
    assert blocks[3]["type"] == "actions"


def test_files_and_forms_are_handed_to_the_notifier() -> None:
    form = Form("Edit", "profile:details:3:form", (FormField("email", "E-mail", "a@b.org"),),
                submit="Save", close="Cancel")
    message = render(Reply((File("x.ics", "text/calendar", b"BEGIN"), form)))
    assert [f.name for f in message.files] == ["x.ics"] and message.forms == [form]
    view = modal(form)
    assert view["private_metadata"] == "profile:details:3:form"
    assert view["blocks"][0]["block_id"] == "email"
    assert view["blocks"][0]["element"]["initial_value"] == "a@b.org"
    assert view["submit"]["text"] == "Save"


def test_the_home_view_holds_the_rendered_blocks() -> None:
    view = home_view(Reply((Text("Welcome"),), surface="home"))
    assert view["type"] == "home" and view["blocks"][0]["text"]["text"] == "Welcome"


def test_slack_markup_is_decoded_into_plain_text() -> None:
    assert decode("<mailto:amira@nhs.example|amira@nhs.example>") == "amira@nhs.example"
    assert decode("<@UBOT> profile") == "profile"
    assert decode("A &amp; B &lt;3") == "A & B <3"
    assert decode("see <https://example.org|the site>") == "see the site"


def test_bot_messages_and_edits_are_not_answered() -> None:
    base = {"team_id": "T1", "event_id": "Ev1"}
    bot = {**base, "event": {"type": "message", "channel_type": "im", "user": "U1", "bot_id": "B1"}}
    edit = {**base, "event": {"type": "message", "channel_type": "im", "user": "U1",
                              "subtype": "message_changed"}}
    channel = {**base, "event": {"type": "message", "channel_type": "channel", "user": "U1"}}
    for body in (bot, edit, channel):
        assert from_event(body, Hints()) is None
    said = from_event({**base, "event": {"type": "message", "channel_type": "im", "user": "U1",
                                         "channel": "D1", "text": "hi"}}, Hints())
    assert said is not None and said.action == UserSaid("hi")
    assert said.actor.identity == "slack:T1/U1" and said.delivery_id == "slack:Ev1"


def test_the_manifest_subscribes_to_what_the_adapter_handles() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened", "app_mention", "message.im"}
    assert settings["interactivity"]["is_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "im:history", "im:write", "users:read", "files:write",
            "app_mentions:read"} <= scopes
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/spoke"]
    json.dumps(manifest)  # nothing YAML-only in it
