"""The Slack Web API mock answers the way slack_sdk expects Slack to, and the signed payloads
pass slack_sdk's verifier and Bolt's routing. Everything runs on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.slack_mock import UPLOAD, SlackApiMock, ThreadedSlackApiMock, UploadedFile
from tests.slack_signing import (
    FORM,
    app_home_opened,
    app_mention,
    block_actions,
    command_body,
    dm_event,
    dm_message,
    event_callback,
    form_body,
    json_body,
    select_value,
    slack_signed_headers,
    slash_command,
    text_value,
    view_submission,
)

TOKEN = "xoxb-test"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
USERS: dict[str, dict[str, Any]] = {
    "U0AMA": {"real_name": "Amira Haddad", "email": "amira@example.org", "tz": "America/Toronto",
              "tz_label": "Eastern Standard Time", "tz_offset": -18000, "locale": "fr-CA"},
    "U0BEN": {"real_name": "Ben Okafor", "tz": "Europe/London"},
    "U0GONE": {"real_name": "Former Member", "deleted": True},
}
MODAL = {"type": "modal", "callback_id": "snooze", "title": {"type": "plain_text", "text": "Snooze"},
         "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "When?"}}]}
HOME = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Spoke*"}}]}
METADATA = {"event_type": "reminder_sent", "event_payload": {"reminder_id": "r-42"}}


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApiMock]:
    api = SlackApiMock(users=USERS)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def client(slack_api: SlackApiMock) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack_api.url, retry_handlers=[])


async def refused(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


def test_url_is_a_loopback_base_url_ending_with_a_slash(slack_api: SlackApiMock) -> None:
    assert slack_api.url.startswith("http://127.0.0.1:") and slack_api.url.endswith("/api/")


async def test_auth_test_names_the_bot(client: AsyncWebClient) -> None:
    answer = await client.auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0SPOKE", "UBOT", "B0SPOKE")


async def test_a_message_posted_to_a_dm_comes_back_newest_first_with_its_metadata(
        slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    opened = await client.conversations_open(users="U0AMA")
    channel = opened["channel"]["id"]
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "R"}}]
    first = await client.chat_postMessage(channel=channel, text="Reminder", metadata=METADATA, blocks=blocks)
    second = await client.chat_postMessage(channel=channel, text="Second")
    assert channel == "D0AMA" and float(second["ts"]) > float(first["ts"])
    assert first["message"]["metadata"] == METADATA and first["message"]["user"] == "UBOT"

    history = await client.conversations_history(channel=channel, include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["Second", "Reminder"]
    assert history["messages"][1]["metadata"] == METADATA
    newer = await client.conversations_history(channel=channel, oldest=first["ts"], limit=5)
    assert [m["ts"] for m in newer["messages"]] == [second["ts"]]

    # slack_sdk sends chat.* as JSON and reads (history) as GET with a query string
    assert slack_api.calls("chat.postMessage")[0].encoding == "json"
    assert slack_api.calls("conversations.history")[0].http_method == "GET"
    again = await client.conversations_open(users="U0AMA")
    assert again["already_open"] is True


async def test_posting_to_a_user_id_lands_in_the_dm_and_bad_arguments_are_refused(
        slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    answer = await client.chat_postMessage(channel="U0BEN", text="hi")
    assert answer["channel"] == "D0BEN" and slack_api.posted("D0BEN") == [{"channel": "U0BEN", "text": "hi"}]
    assert (await refused(client.chat_postMessage(channel="C0NOPE", text="x"))).response["error"] == \
        "channel_not_found"
    with pytest.warns(UserWarning, match="top-level `text`"):       # slack_sdk warns too
        assert (await refused(client.chat_postMessage(channel="D0BEN"))).response["error"] == "no_text"
    slack_api.add_channel("C0ECHO")
    assert (await client.chat_postMessage(channel="C0ECHO", text="all"))["channel"] == "C0ECHO"
    assert slack_api.history("D0BEN")[0]["text"] == "hi" and len(slack_api.posted()) == 2


async def test_update_and_ephemeral(slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="D0AMA", text="Attending?")
    updated = await client.chat_update(channel="D0AMA", ts=posted["ts"], text="Thanks, noted")
    assert updated["ts"] == posted["ts"] and slack_api.history("D0AMA")[0]["text"] == "Thanks, noted"
    missing = await refused(client.chat_update(channel="D0AMA", ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"
    ephemeral = await client.chat_postEphemeral(channel="D0AMA", user="U0AMA", text="only you")
    assert ephemeral["message_ts"] and len(slack_api.history("D0AMA")) == 1


async def test_users_info_is_shaped_like_slack_and_locale_comes_only_when_asked(
        client: AsyncWebClient) -> None:
    plain = (await client.users_info(user="U0AMA"))["user"]
    assert plain["tz"] == "America/Toronto" and plain["tz_offset"] == -18000
    assert plain["profile"]["email"] == "amira@example.org" and "locale" not in plain
    assert (await client.users_info(user="U0AMA", include_locale=True))["user"]["locale"] == "fr-CA"
    assert "email" not in (await client.users_info(user="U0BEN"))["user"]["profile"]
    assert (await client.users_info(user="U0GONE"))["user"]["deleted"] is True
    assert (await refused(client.users_info(user="U0WHO"))).response["error"] == "user_not_found"
    assert (await refused(client.conversations_open(users="U0WHO"))).response["error"] == "user_not_found"
    assert (await refused(client.conversations_open(users="U0GONE"))).response["error"] == "user_disabled"


async def test_views_publish_open_and_update(slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    home = await client.views_publish(user_id="U0AMA", view=HOME)
    assert home["view"]["id"].startswith("V") and home["view"]["type"] == "home"
    modal = await client.views_open(trigger_id="123.456.abc", view=MODAL)
    assert modal["view"]["callback_id"] == "snooze" and modal["view"]["title"]["text"] == "Snooze"
    assert slack_api.last("views.open")["view"] == MODAL

    reused = await refused(client.views_open(trigger_id="123.456.abc", view=MODAL))
    assert reused.response["error"] == "exchanged_trigger_id"
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "A title longer than 24 chars"}}
    assert (await refused(client.views_open(trigger_id="t2", view=long_title))).response["error"] == \
        "invalid_arguments"

    changed = {**MODAL, "private_metadata": "r-42"}
    updated = await client.views_update(view_id=modal["view"]["id"], view=changed, hash=modal["view"]["hash"])
    assert updated["view"]["private_metadata"] == "r-42"
    stale = await refused(client.views_update(view_id=modal["view"]["id"], view=MODAL,
                                              hash=modal["view"]["hash"]))
    assert stale.response["error"] == "hash_conflict"
    assert (await refused(client.views_update(view_id="V404", view=MODAL))).response["error"] == "not_found"


async def test_files_upload_v2_delivers_the_bytes_to_the_channel(
        slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    answer = await client.files_upload_v2(channel="D0AMA", filename="session.ics", content=ics,
                                          title="Pain ECHO", initial_comment="Your invitation")
    assert answer["file"]["title"] == "Pain ECHO"
    assert slack_api.uploaded_files() == [UploadedFile("session.ics", ics, "D0AMA")]
    assert await slack_api.uploaded_file() == ics
    upload = slack_api.last(UPLOAD)
    assert upload.encoding == "raw" and upload.answer == f"OK - {len(ics)}"
    assert slack_api.last("files.completeUploadExternal")["initial_comment"] == "Your invitation"


async def test_a_multipart_upload_is_read_too(slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    url = await client.files_getUploadURLExternal(filename="notes.txt", length=5)
    form = aiohttp.FormData()
    form.add_field("file", b"hello", filename="notes.txt", content_type="text/plain")
    async with aiohttp.ClientSession() as http, http.post(url["upload_url"], data=form) as resp:
        assert resp.status == 200 and await resp.text() == "OK - 5"
    await client.files_completeUploadExternal(files=[{"id": url["file_id"], "title": "Notes"}])
    assert slack_api.uploaded_files() == [UploadedFile("notes.txt", b"hello", None)]
    assert slack_api.last(UPLOAD).encoding == "multipart"
    again = await refused(client.files_completeUploadExternal(files=[{"id": url["file_id"]}]))
    assert again.response["error"] == "file_not_found"


async def test_a_failed_upload_surfaces_and_completes_nothing(
        slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    from slack_sdk.errors import SlackRequestError
    slack_api.fail_next(UPLOAD, status=500)
    with pytest.raises(SlackRequestError, match="status: 500"):
        await client.files_upload_v2(channel="D0AMA", filename="a.ics", content=b"x")
    assert slack_api.uploaded_files() == []


async def test_a_wrong_or_missing_token_is_refused_and_recorded(slack_api: SlackApiMock) -> None:
    wrong = AsyncWebClient(token="xoxb-forged", base_url=slack_api.url, retry_handlers=[])
    error = await refused(wrong.chat_postMessage(channel="D0AMA", text="x"))
    assert error.response.status_code == 200 and error.response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=slack_api.url, retry_handlers=[])
    assert (await refused(anonymous.auth_test())).response["error"] == "not_authed"
    assert [c.error for c in slack_api.calls()] == ["invalid_auth", "not_authed"]
    assert "Authorization" not in slack_api.calls()[0].headers and slack_api.history("D0AMA") == []


async def test_a_token_form_field_is_accepted_and_form_fields_are_decoded(slack_api: SlackApiMock) -> None:
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "x"}}]
    async with aiohttp.ClientSession() as http:
        resp = await http.post(slack_api.url + "chat.postMessage",
                               data={"token": TOKEN, "channel": "D0AMA", "blocks": json.dumps(blocks)})
        assert (await resp.json())["ok"] is True
        resp = await http.post(slack_api.url + "no.suchMethod", data={"token": TOKEN})
        assert (await resp.json())["error"] == "unknown_method"
    call = slack_api.calls("chat.postMessage")[0]
    assert call.encoding == "form" and call["blocks"] == blocks and "token" not in call.args


async def test_429_carries_retry_after_and_posts_nothing(slack_api: SlackApiMock,
                                                         client: AsyncWebClient) -> None:
    slack_api.fail_next("chat.postMessage", status=429, retry_after=2)
    error = await refused(client.chat_postMessage(channel="D0AMA", text="Reminder"))
    assert error.response.status_code == 429 and error.response.headers["Retry-After"] == "2"
    assert error.response["error"] == "ratelimited"
    assert slack_api.history("D0AMA") == [] and slack_api.posted() == []
    await client.chat_postMessage(channel="D0AMA", text="Reminder")      # only the next call failed
    assert [c.status for c in slack_api.calls("chat.postMessage")] == [429, 200]


async def test_injected_errors_fail_without_effect(slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    slack_api.fail_next("chat.postMessage", error="channel_not_found", times=2)
    for _ in range(2):
        error = await refused(client.chat_postMessage(channel="D0AMA", text="x"))
        assert error.response.status_code == 200 and error.response["error"] == "channel_not_found"
    slack_api.fail_always("users.info", status=503, body="<html>Service Unavailable</html>")
    for _ in range(2):
        error = await refused(client.users_info(user="U0AMA"))
        assert error.response.status_code == 503 and error.response.data == {}   # HTML: no JSON to read
    slack_api.clear_failures()
    assert (await client.users_info(user="U0AMA"))["ok"] and slack_api.history("D0AMA") == []


async def test_a_slow_answer_still_takes_effect_after_the_client_gave_up(slack_api: SlackApiMock) -> None:
    slack_api.fail_next("chat.postMessage", delay=0.3)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.05)) as http:
        with pytest.raises(asyncio.TimeoutError):
            await http.post(slack_api.url + "chat.postMessage", json={"channel": "D0AMA", "text": "x"},
                            headers={"Authorization": f"Bearer {TOKEN}"})
    assert (await slack_api.next_call("chat.postMessage")).ok     # posted although the client timed out
    assert len(slack_api.history("D0AMA")) == 1


async def test_next_call_waits_for_the_call_and_hands_each_out_once(
        slack_api: SlackApiMock, client: AsyncWebClient) -> None:
    waiting = asyncio.create_task(slack_api.next_call("chat.postMessage"))
    await asyncio.sleep(0)
    assert not waiting.done()
    await client.chat_postMessage(channel="D0AMA", text="one")
    assert (await waiting)["text"] == "one"
    await client.chat_postMessage(channel="D0AMA", text="two")
    assert (await slack_api.next_call("chat.postMessage"))["text"] == "two"
    with pytest.raises(TimeoutError, match=r"chat\.postMessage"):
        await slack_api.next_call("chat.postMessage", timeout=0.05)
    slack_api.reset()
    assert slack_api.calls() == [] and slack_api.history("D0AMA") == []


def test_the_threaded_mock_serves_a_synchronous_client() -> None:
    with ThreadedSlackApiMock(users=USERS) as slack_api:
        client = WebClient(token=TOKEN, base_url=slack_api.url, retry_handlers=[])
        client.chat_postMessage(channel="U0AMA", text="from a thread", metadata=METADATA)
        call = slack_api.wait_call("chat.postMessage")
        assert call["metadata"] == METADATA and call.answer["channel"] == "D0AMA"   # type: ignore[index]

        slack_api.fail_next("chat.postMessage", status=429, retry_after=7)
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel="D0AMA", text="again")
        assert caught.value.response.status_code == 429
        assert caught.value.response.headers["Retry-After"] == "7"

        ics = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"      # urllib labels these raw bytes as a form
        client.files_upload_v2(channel="D0AMA", filename="s.ics", content=ics)
        assert slack_api.uploaded_files() == [UploadedFile("s.ics", ics, "D0AMA")]
        assert slack_api.calls("users.info") == [] and slack_api.calls("conversations.history") == []
        assert slack_api.calls("chat.postMessage")[0].encoding == "json"
        assert slack_api.calls("files.getUploadURLExternal")[0].encoding == "form"   # sync: body, not query


async def test_next_call_wakes_a_test_loop_for_the_threaded_mock() -> None:
    with ThreadedSlackApiMock(users=USERS) as slack_api:
        waiting = asyncio.create_task(slack_api.next_call("auth.test"))
        client = AsyncWebClient(token=TOKEN, base_url=slack_api.url, retry_handlers=[])
        await client.auth_test()
        call = await waiting        # woken from the mock's thread, on this test's loop
        assert call.ok and slack_api.calls("auth.test") == [call]


# ---------------------------------------------------------------------- signing and payloads

class FrozenClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_the_signature_is_slack_sdks_and_forgeries_fail() -> None:
    body, at = json_body(dm_event("U0AMA", "help", event_id="Ev1")), 1_750_000_000
    headers = slack_signed_headers(body, SIGNING_SECRET, at)
    verifier = SignatureVerifier(SIGNING_SECRET, clock=FrozenClock(at + 10))
    assert headers["X-Slack-Signature"] == verifier.generate_signature(timestamp=str(at), body=body)
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body.replace(b"help", b"hel0"), headers)
    assert not SignatureVerifier("another-secret", clock=FrozenClock(at)).is_valid_request(body, headers)
    assert not SignatureVerifier(SIGNING_SECRET, clock=FrozenClock(at + 301)).is_valid_request(body, headers)


def test_payloads_are_shaped_like_slacks() -> None:
    envelope = event_callback(dm_message("U0AMA", "help"), event_id="Ev1")
    assert envelope["event"]["channel"] == "D0AMA" and envelope["event"]["channel_type"] == "im"
    assert envelope["authorizations"][0] == {"enterprise_id": None, "team_id": "T0SPOKE", "user_id": "UBOT",
                                             "is_bot": True, "is_enterprise_install": False}
    assert app_mention("U0AMA", "help", "C0ECHO")["text"] == "<@UBOT> help"
    click = block_actions("U0AMA", "T0SPOKE", "attend", "yes", message_ts="1700000001.000100")
    assert click["container"]["channel_id"] == "D0AMA" and click["actions"][0]["value"] == "yes"
    choice = block_actions("U0AMA", "T0SPOKE", "pick", "r:2", view={"id": "V1", "type": "home"},
                           selected_option=True)
    assert choice["container"] == {"type": "view", "view_id": "V1"} and "channel" not in choice
    assert choice["actions"][0]["selected_option"]["value"] == "r:2"
    assert form_body({"a": 1}) == b"payload=%7B%22a%22%3A1%7D"


async def test_bolt_routes_the_signed_payloads_and_answers_through_the_mock(slack_api: SlackApiMock) -> None:
    """Bolt verifies with the wall clock, so these requests are signed with time.time()."""
    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=slack_api.url, retry_handlers=[]),
                   signing_secret=SIGNING_SECRET)
    seen: list[str] = []

    @app.event("message")
    async def on_message(event: dict[str, Any], say: Any) -> None:
        await say(f"you said {event['text']}")

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any]) -> None:
        seen.append("mention")

    @app.event("app_home_opened")
    async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_publish(user_id=event["user"], view=HOME)

    @app.action("attend")
    async def on_attend(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.append(body["actions"][0]["value"])

    @app.view("snooze")
    async def on_submit(ack: Any, view: dict[str, Any]) -> None:
        await ack()
        seen.append(view["state"]["values"]["when"]["when_input"]["value"] + view["private_metadata"])

    @app.command("/spoke")
    async def on_command(ack: Any, command: dict[str, str]) -> None:
        await ack()
        seen.append(command["text"])

    async def deliver(body: bytes, content_type: str = "application/json") -> int:
        headers: dict[str, str | Sequence[str]] = {
            **slack_signed_headers(body, SIGNING_SECRET, int(time.time()), content_type)}
        response = await app.async_dispatch(AsyncBoltRequest(body=body.decode(), headers=headers))
        return response.status

    assert await deliver(json_body(dm_event("U0AMA", "help"))) == 200
    assert (await slack_api.next_call("chat.postMessage"))["channel"] == "D0AMA"
    assert await deliver(json_body(event_callback(app_mention("U0AMA", "hi", "C0ECHO")))) == 200
    assert await deliver(json_body(event_callback(app_home_opened("U0BEN")))) == 200
    assert (await slack_api.next_call("views.publish"))["user_id"] == "U0BEN"
    assert await deliver(form_body(block_actions("U0AMA", "T0SPOKE", "attend", "yes")), FORM) == 200
    submission = view_submission("U0AMA", "T0SPOKE", "snooze", ":r-42",
                                 {"when": {"when_input": text_value("tomorrow")},
                                  "zone": {"zone_pick": select_value("Europe/London")}}, "V123")
    assert await deliver(form_body(submission), FORM) == 200
    assert await deliver(command_body(slash_command("U0AMA", text="help")), FORM) == 200
    assert seen == ["mention", "yes", "tomorrow:r-42", "help"]
    assert len(slack_api.calls("auth.test")) == 1        # Bolt checked the token once
