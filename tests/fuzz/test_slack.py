"""Slack over real HTTP: properly signed requests with garbled payloads, against `spoke serve`
on port 0 and the Slack API mock (tests/slack_fixtures.py), one server per test.

Events API bodies, interactivity `payload=` forms (block_actions with forged and garbled
values, view_submission with garbled state) and slash-command forms: the answer is never a
500, an error body never holds a traceback, no turn fails (the reader would get an apology
with an incident reference), and a refused request stores nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.slack.render import ACTION_PREFIX
from tests.fuzz import fuzz
from tests.fuzz.http import (
    Failures,
    assert_answered_well,
    counts,
    edits,
    json_values,
    mutate,
    texts,
    watching_failures,
)
from tests.slack_fixtures import AMIRA, Spoke
from tests.slack_signing import (
    FORM,
    JSON,
    TEAM_ID,
    app_home_opened,
    app_mention,
    block_actions,
    command_body,
    dm_event,
    dm_message,
    event_callback,
    slash_command,
    text_value,
    url_verification,
    view_submission,
)

pytestmark = pytest.mark.slow

USERS = st.sampled_from([AMIRA, AMIRA, "U0ELI", "UNOBODY", "", "UBOT", "W0GRID"])
# Types Slack sends that Spoke does not listen for: Bolt's matchers still read their parts.
PAYLOAD_TYPES = st.sampled_from(["block_actions", "view_submission", "view_closed", "shortcut",
                                 "message_action", "workflow_step_edit", "interactive_message",
                                 "dialog_submission", "dialog_cancellation", "block_suggestion",
                                 "event_callback", "url_verification", "ssl_check", "app_rate_limited"])
EVENT_TYPES = st.sampled_from(["message", "app_mention", "app_home_opened", "workflow_step_execute",
                               "function_executed", "assistant_thread_started", "app_uninstalled",
                               "tokens_revoked", "member_joined_channel"])


def retyped(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any]:
    """Now and then, another type Slack sends on the same payload, or its event's."""
    if draw(st.integers(0, 4)) == 0:
        payload["type"] = draw(PAYLOAD_TYPES)
    if isinstance(payload.get("event"), dict) and draw(st.integers(0, 4)) == 0:
        payload["event"]["type"] = draw(EVENT_TYPES)
    if isinstance(payload.get("view"), dict) and draw(st.integers(0, 4)) == 0:
        payload["view"]["type"] = draw(st.sampled_from(["modal", "home", "workflow_step"]))
    return payload


async def until_listeners_finish(spoke: Spoke) -> None:
    """Events, clicks and commands run their turns after the acknowledgement."""
    assert spoke.serving.slack is not None
    work = spoke.serving.slack.acknowledged
    for _ in range(1000):
        if not work.running and not work.held:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("listeners still running after 5 s")


async def send(spoke: Spoke, body: bytes, content_type: str, failures: Failures) -> int:
    """Posts one signed request; checks the answer, that nothing raised, and that a refused
    request left every table as it was."""
    before = counts(spoke.store)
    response = await spoke.post(body, content_type)
    assert_answered_well(response.status, await response.text())
    await until_listeners_finish(spoke)
    if response.status != 200:
        assert counts(spoke.store) == before, f"a refused request ({response.status}) stored rows"
    assert not (found := failures.take()), found
    return response.status


# --- Events API ------------------------------------------------------------------------------------

EVENT_PATHS = [["type"], ["event"], ["event_id"], ["team_id"], ["authorizations"], ["api_app_id"],
               ["challenge"], ["event", "type"], ["event", "user"], ["event", "text"],
               ["event", "channel"], ["event", "channel_type"], ["event", "subtype"],
               ["event", "files"], ["event", "bot_id"], ["event", "tab"], ["event", "team"],
               ["event", "blocks"], ["event", "ts"], ["event", "view"]]


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    user, text = draw(USERS), draw(texts)
    base = draw(st.sampled_from([
        dm_event(user, text),
        event_callback(app_mention(user, text, draw(st.sampled_from(["C0CHAN", "G0PRIV", "D0AMA", ""])))),
        event_callback(app_home_opened(user)),
        event_callback({**dm_message(user, text), "subtype": draw(st.sampled_from(
            ["file_share", "message_changed", "bot_message", "channel_join"])),
            "files": [{"id": "F1", "name": "scan.pdf"}]}),
        event_callback({"type": draw(st.text(max_size=20)), "user": user}),
        url_verification(draw(st.text(max_size=40))),
    ]))
    return retyped(draw, mutate(base, draw(edits(EVENT_PATHS))))


@fuzz(100)
@given(payload=events(), raw=st.integers(0, 5).map(lambda n: n == 0), garbage=st.binary(max_size=40))
async def test_signed_events_with_garbled_payloads(spoke: Spoke, payload: dict[str, Any], raw: bool,
                                                   garbage: bytes) -> None:
    body = json.dumps(payload).encode() if not raw else json.dumps(payload).encode()[:-1] + garbage
    with watching_failures() as failures:
        await send(spoke, body, JSON, failures)


# --- interactivity -----------------------------------------------------------------------------------

ACTION_PATHS = [["type"], ["user"], ["user", "id"], ["team"], ["team", "id"], ["actions"],
                ["actions", "0"], ["actions", "0", "action_id"], ["actions", "0", "value"],
                ["actions", "0", "selected_option"], ["message", "blocks", "0"],
                ["trigger_id"], ["channel"], ["channel", "id"], ["container"], ["message"],
                ["message", "blocks"], ["message", "ts"], ["view"], ["response_url"]]
VIEW_PATHS = [["type"], ["user"], ["team"], ["view"], ["view", "callback_id"], ["view", "state"],
              ["view", "state", "values"], ["view", "private_metadata"], ["view", "id"],
              ["view", "hash"], ["trigger_id"]]


def offered(spoke: Spoke) -> list[tuple[str, str]]:
    """(action_id, value) of every button and option Spoke has posted so far."""
    found = [("spoke:x", "registration:begin:0:yes")]
    for call in spoke.api.calls("chat.postMessage")[-5:]:
        blocks = call.get("blocks") or []
        for block in json.loads(blocks) if isinstance(blocks, str) else blocks:
            for element in block.get("elements", []):
                if element.get("value"):
                    found.append((element["action_id"], element["value"]))
                found += [(element["action_id"], o["value"]) for o in element.get("options", [])]
    return found


@st.composite
def clicks(draw: st.DrawFn, choices: list[tuple[str, str]]) -> dict[str, Any]:
    # Drawn by position, not sampled_from(choices): what was posted changes between runs,
    # and hypothesis needs the same draws to replay an example.
    action_id, value = choices[draw(st.integers(0, 99)) % len(choices)]
    value = draw(st.one_of(
        st.just(value),  # the real thing, pressed again or by someone else
        st.builds(lambda cut: value[:cut], st.integers(0, 60)),
        st.builds(lambda tail: value.rsplit(":", 1)[0] + ":" + tail, st.text(max_size=12)),
        st.sampled_from(["act:join:1", "act:join:99999999999999999999", "act:rsvp:-1", "act:::",
                         "registration:begin:0:yes", ":::", "__skip__"]),
        st.text(max_size=60)))
    payload = block_actions(draw(USERS), TEAM_ID, draw(st.sampled_from([action_id, ACTION_PREFIX + "x"])),
                            value, channel=draw(st.sampled_from(["D0AMA", "C0CHAN", "D0ELI"])),
                            selected_option=draw(st.booleans()))
    return retyped(draw, mutate(payload, draw(edits(ACTION_PATHS))))


@st.composite
def submissions(draw: st.DrawFn) -> dict[str, Any]:
    keys = st.sampled_from(["full_name", "email", "region", "country", "time_zone", "answer", "x"])
    values = draw(st.dictionaries(keys, st.one_of(
        texts.map(lambda text: {"value": text_value(text)}),
        json_values.map(lambda garbled: {"value": garbled}),
        json_values), max_size=5))
    payload = view_submission(draw(USERS), TEAM_ID, draw(st.sampled_from(["spoke_form", "other"])),
                              draw(st.sampled_from(["registration:__form__:0:form", "", "x:y:z"])
                                   | st.text(max_size=40)), {}, "V0FUZZ")
    payload["view"]["state"]["values"] = values
    return retyped(draw, mutate(payload, draw(edits(VIEW_PATHS))))


@fuzz(100)
@given(data=st.data())
async def test_signed_interactivity_with_forged_and_garbled_payloads(spoke: Spoke,
                                                                      data: st.DataObject) -> None:
    with watching_failures() as failures:
        if not spoke.api.calls("chat.postMessage"):
            await spoke.dm("hello")  # a real message with real buttons to forge from
        payload = data.draw(clicks(offered(spoke)) | submissions(), label="payload")
        encoded = data.draw(st.sampled_from(["json", "broken", "many"]), label="encoding")
        form = {"payload": json.dumps(payload)}
        if encoded == "broken":
            body = ("payload=" + quote(json.dumps(payload))[:-3] + "%zz%").encode()
        elif encoded == "many":
            body = urlencode({**form, "command": "/spoke", "payload2": "x"}).encode() + b"&payload=%7B%7D"
        else:
            body = urlencode(form).encode()
        await send(spoke, body, FORM, failures)


# --- slash commands -----------------------------------------------------------------------------------

COMMAND_FIELDS = ["team_id", "user_id", "command", "text", "trigger_id", "channel_id", "response_url",
                  "api_app_id"]


@fuzz(60)
@given(user=USERS, text=texts, changes=st.dictionaries(st.sampled_from(COMMAND_FIELDS),
                                                      st.none() | st.text(max_size=30), max_size=3),
       extra=st.binary(max_size=30))
async def test_signed_slash_commands_with_garbled_fields(spoke: Spoke, user: str, text: str,
                                                         changes: dict[str, str | None],
                                                         extra: bytes) -> None:
    fields = slash_command(user, text=text)
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    body = command_body(fields) + (b"&" + quote(extra).encode() + b"=" + quote(extra[::-1]).encode()
                                   if extra else b"")
    with watching_failures() as failures:
        await send(spoke, body, FORM, failures)


# --- signature headers ------------------------------------------------------------------------------

header_values = st.one_of(
    st.sampled_from(["", "²", "¹²³", "1" * 5000, "-1", "+1700000000", " 1700000000", "1e9",
                     "v0=", "v0=é", "v0=" + "0" * 64, "v0=" + "é" * 64]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
            max_size=80))


@fuzz(60)
@given(timestamp=st.none() | header_values, signature=st.none() | header_values,
       body=st.sampled_from([b"{}", b'{"type":"url_verification","challenge":"x"}', b"\x80\xff{",
                             b"payload=%7B%7D"]) | st.binary(max_size=60),
       content_type=st.sampled_from([JSON, FORM, "text/plain"]))
async def test_garbled_signature_headers_are_refused_not_raised(
        spoke: Spoke, timestamp: str | None, signature: str | None, body: bytes,
        content_type: str) -> None:
    headers = {"Content-Type": content_type}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    with watching_failures() as failures:
        before = counts(spoke.store)
        response = await spoke.post(body, content_type, headers=headers, signed=False)
        assert response.status == 401, await response.text()
        assert counts(spoke.store) == before
        assert not (found := failures.take()), found


@pytest.mark.parametrize("constant", ["Infinity", "NaN"])
async def test_a_number_json_has_not_is_refused(spoke: Spoke, constant: str) -> None:
    body = json.dumps(dm_event(AMIRA, "hello")).replace('"event_time":', f'"event_time": {constant},"x":')
    with watching_failures() as failures:
        assert await send(spoke, body.encode(), JSON, failures) == 400


async def test_a_slash_command_that_says_payload_is_answered(spoke: Spoke) -> None:
    # Bolt reads any form body holding the word "payload" as an interactivity payload: the
    # command below came out as an empty body and a 404, and the person got nothing.
    response = await spoke.post(command_body(slash_command(AMIRA, text="help with the payload")), FORM)
    assert response.status == 200
    answer = await spoke.api.next_call("chat.postMessage")
    assert answer["channel"] == "D0AMA"
