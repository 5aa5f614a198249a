"""Spoke in Slack, over real HTTP: signed requests in, Web API calls out to the local mock."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from assistant.i18n import translate
from storage.tables import OutboxRow, ProcessedEventRow
from tests.slack_fixtures import AMIRA, SIGNING_SECRET, Spoke, find_option, text_of
from tests.slack_signing import (
    FORM,
    TEAM_ID,
    app_home_opened,
    app_mention,
    block_actions,
    command_body,
    dm_event,
    event_callback,
    form_body,
    json_body,
    slack_signed_headers,
    slash_command,
    text_value,
    url_verification,
    view_submission,
)


def rows(spoke: Spoke, table: type) -> int:
    with spoke.store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def en(message_id: str, **args: object) -> str:
    return translate(message_id, "en", **args)


async def register(spoke: Spoke) -> None:
    """The whole registration, by buttons where Slack shows them and typing elsewhere."""
    posted = await spoke.dm("hello")
    steps: list[tuple[str, str]] = [
        ("click", "Register"), ("click", "Use Amira Haddad"), ("click", "Use amira@nhs.example"),
        ("click", "Registered nurse"), ("type", "St Columba's Hospice"), ("click", "Hospice"),
        ("type", "EH6 8QX"), ("click", "Yes"), ("type", "Scotland"),
        ("click", "Use Europe/London"), ("click", "Yes"), ("click", "English"),
        ("click", "Care Homes ECHO"), ("click", "I agree"), ("click", "Confirm and register")]
    for how, what in steps:
        if how == "click":
            assert (await spoke.click(posted, what)).status == 200
            posted = await spoke.api.next_call("chat.postMessage")
        else:
            posted = await spoke.dm(what)


async def test_the_url_verification_challenge_is_answered(spoke: Spoke) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    response = await spoke.post(json_body(url_verification(challenge)))
    assert response.status == 200
    assert challenge in await response.text()


async def test_a_signed_direct_message_is_answered_in_the_dm(spoke: Spoke) -> None:
    posted = await spoke.dm("hello")
    assert posted["channel"] == "D0AMA"
    assert en("registration.welcome") in text_of(posted)
    assert find_option(posted["blocks"], "Register")[1].startswith("registration:begin:")
    assert posted["unfurl_links"] in (False, "0", 0)


async def test_a_whole_registration_through_messages_and_buttons(spoke: Spoke) -> None:
    await register(spoke)
    done = spoke.api.posted("D0AMA")[-1]
    assert en("registration.done", name="Amira") in done["text"]
    with spoke.store.transaction() as uow:
        person = uow.people.by_identity(f"slack:{TEAM_ID}/{AMIRA}")
        assert person is not None
        assert (person.email, person.time_zone, person.region) == (
            "amira@nhs.example", "Europe/London", "EH6")
        assert [m.network for m in uow.memberships.of(person.id)] == ["care-homes"]
    assert spoke.api.calls("users.info")  # the profile prefilled, and was confirmed


async def test_long_lists_become_a_select_and_short_ones_buttons(spoke: Spoke) -> None:
    posted = await spoke.dm("hello")
    assert find_option(posted["blocks"], "Register")[2] is False
    await spoke.click(posted, "Register")
    for _ in range(3):
        posted = await spoke.api.next_call("chat.postMessage")
        if "What is your role" in text_of(posted):
            break
        await spoke.click(posted, next(o for o in ("Use Amira Haddad", "Use amira@nhs.example")
                                        if o in json.dumps(posted["blocks"])))
    assert find_option(posted["blocks"], "Registered nurse")[2] is True


@pytest.mark.parametrize(("headers", "mutate"), [
    ({"X-Slack-Signature": "v0=" + "0" * 64}, None),                                   # forged
    ({}, "stale"),                                                                       # 6 min old
    ({"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=abc"}, None),   # garbage
    ({}, "unsigned"),
    ({}, "wrong_secret"),
])
async def test_a_request_that_is_not_from_slack_is_refused_and_changes_nothing(
        spoke: Spoke, headers: dict[str, str], mutate: str | None) -> None:
    body = json_body(dm_event(AMIRA, "hello", event_id="EvForged"))
    sent = slack_signed_headers(body, SIGNING_SECRET, spoke.clock.now())
    if mutate == "stale":
        sent = slack_signed_headers(body, SIGNING_SECRET, spoke.clock.now() - timedelta(minutes=6))
    elif mutate == "unsigned":
        sent = {}
    elif mutate == "wrong_secret":
        sent = slack_signed_headers(body, "not-the-secret", spoke.clock.now())
    sent.update(headers)
    response = await spoke.post(body, headers=sent, signed=False)
    assert response.status == 401
    await spoke.settle()
    assert spoke.api.calls("chat.postMessage") == []
    assert rows(spoke, ProcessedEventRow) == 0 and rows(spoke, OutboxRow) == 0


@pytest.mark.parametrize(("body", "content_type"), [
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b"payload=%7Bbroken", FORM),
    (b"payload=%5B%5D", FORM),
    (b"nothing=here", FORM),
    (b"<xml/>", "text/xml"),
])
async def test_a_signed_but_malformed_body_is_refused_with_400(spoke: Spoke, body: bytes,
                                                               content_type: str) -> None:
    response = await spoke.post(body, content_type)
    assert response.status == 400
    await spoke.settle()
    assert rows(spoke, ProcessedEventRow) == 0 and spoke.api.calls("chat.postMessage") == []


async def test_an_oversized_body_is_refused_before_parsing(spoke: Spoke) -> None:
    body = json_body(dm_event(AMIRA, "x" * (1024 * 1024 + 10)))
    response = await spoke.post(body)
    assert response.status == 413
    assert rows(spoke, ProcessedEventRow) == 0


async def test_slack_retries_of_one_event_are_processed_once(spoke: Spoke) -> None:
    body = json_body(dm_event(AMIRA, "hello", event_id="Ev0RETRY"))
    for retry in (None, 1, 2, 3):
        assert (await spoke.post(body, retry_num=retry)).status == 200
    await spoke.settle()
    assert len(spoke.api.calls("chat.postMessage")) == 1
    assert rows(spoke, ProcessedEventRow) == 1


async def test_a_rate_limited_message_is_delivered_once_when_slack_allows(spoke: Spoke) -> None:
    spoke.api.fail_next("chat.postMessage", status=429, retry_after=30, times=3)
    await spoke.post(json_body(dm_event(AMIRA, "hello")))
    await spoke.settle()
    assert spoke.api.posted() == []
    for _ in range(3):                       # each attempt waits out Retry-After, never sleeps
        spoke.clock.advance(seconds=29)
        assert await spoke.serving.sender.deliver_due() == 0  # type: ignore[union-attr]
        spoke.clock.advance(seconds=2)
        await spoke.serving.sender.deliver_due()  # type: ignore[union-attr]
    assert len(spoke.api.posted("D0AMA")) == 1
    assert len(spoke.api.calls("chat.postMessage")) == 4


async def test_a_storm_of_rate_limits_still_delivers_every_reply_exactly_once(spoke: Spoke) -> None:
    spoke.api.fail_always("chat.postMessage", status=429, retry_after=1)
    for n in range(10):
        await spoke.post(json_body(dm_event(f"U{n:04d}X", "help", event_id=f"EvStorm{n}")))
        spoke.api.add_user(f"U{n:04d}X", real_name=f"Person {n}")
    await spoke.settle()
    spoke.api.clear_failures()
    spoke.clock.advance(seconds=2)
    await spoke.serving.sender.deliver_due()  # type: ignore[union-attr]
    channels = [call["channel"] for call in spoke.api.calls("chat.postMessage") if call.ok]
    assert sorted(channels) == sorted({f"D{n:04d}X" for n in range(10)})


async def test_an_address_slack_says_is_gone_is_marked_unreachable(spoke: Spoke) -> None:
    spoke.api.fail_next("chat.postMessage", error="channel_not_found")
    await spoke.post(json_body(dm_event(AMIRA, "hello")))
    await spoke.settle()
    spoke.clock.advance(days=1)
    await spoke.serving.sender.deliver_due()  # type: ignore[union-attr]
    assert len(spoke.api.calls("chat.postMessage")) == 1
    with spoke.store.engine.connect() as connection:
        status, error = connection.execute(select(OutboxRow.status, OutboxRow.last_error)).one()
    assert (status, error) == ("unreachable", "channel_not_found")


async def test_user_text_cannot_become_a_mention(spoke: Spoke) -> None:
    posted = await spoke.dm("hello")
    await spoke.click(posted, "Register")
    await spoke.api.next_call("chat.postMessage")
    posted = await spoke.dm("<!channel> Amira &amp; <@U999> Haddad")
    await spoke.dm("review")
    review = spoke.api.posted("D0AMA")[-1]
    blob = json.dumps(review["blocks"]) + review["text"]
    assert "<!channel>" not in blob and "<!" not in blob
    assert "Amira &amp; Haddad" in blob


async def test_a_mention_in_a_channel_is_answered_privately(spoke: Spoke) -> None:
    spoke.api.add_channel("C0PUBLIC")
    body = json_body(event_callback(app_mention(AMIRA, "<@UBOT> help", "C0PUBLIC")))
    assert (await spoke.post(body)).status == 200
    posted = await spoke.api.next_call("chat.postMessage")
    assert posted["channel"] == "D0AMA"
    assert spoke.api.calls("conversations.open")
    assert spoke.api.posted("C0PUBLIC") == []


async def test_the_slash_command_answers_in_the_dm(spoke: Spoke) -> None:
    response = await spoke.post(command_body(slash_command(AMIRA, text="help")), FORM)
    assert response.status == 200
    posted = await spoke.api.next_call("chat.postMessage")
    assert en("registration.welcome") in text_of(posted) or en("help.intro") in text_of(posted)


async def test_app_home_shows_where_the_person_stands(spoke: Spoke) -> None:
    await spoke.post(json_body(event_callback(app_home_opened(AMIRA))))
    published = await spoke.api.next_call("views.publish")
    assert published["user_id"] == AMIRA
    assert en("home.newcomer").split(":")[0] in json.dumps(published["view"])
    await register(spoke)
    await spoke.post(json_body(event_callback(app_home_opened(AMIRA))))
    published = await spoke.api.next_call("views.publish")
    view = json.dumps(published["view"], ensure_ascii=False)
    assert "Care Homes ECHO" in view and en("home.status.active") in view


async def test_profile_in_a_modal_with_a_field_error(spoke: Spoke) -> None:
    await register(spoke)
    await spoke.post(command_body(slash_command(AMIRA, text="profile")), FORM)
    posted = await spoke.api.next_call("chat.postMessage")
    trigger = "13345224609.738474920.8088930838d88f008e0"
    await spoke.click(posted, "Several at once, in a form", trigger_id=trigger)
    opened = await spoke.api.next_call("views.open")
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    assert opened["trigger_id"] == trigger
    fields = {block["block_id"]: block["element"].get("initial_value") for block in view["blocks"]}
    assert fields["email"] == "amira@nhs.example" and fields["region"] == "EH6"

    values = {key: {"value": text_value(value or "")} for key, value in fields.items()}
    values["email"] = {"value": text_value("not an address")}
    submit = view_submission(AMIRA, TEAM_ID, "spoke_form", view["private_metadata"], values, "V0PROFILE")
    response = await spoke.post(form_body(submit), FORM)
    assert response.status == 200
    answer = json.loads(await response.text())
    assert answer == {"response_action": "errors", "errors": {"email": en("parse.email.no_at")}}

    values["email"] = {"value": text_value("a.haddad@nhs.example")}
    submit = view_submission(AMIRA, TEAM_ID, "spoke_form", view["private_metadata"], values, "V0PROFILE")
    response = await spoke.post(form_body(submit), FORM)
    assert response.status == 200 and (await response.text()) in ("", "{}")
    saved = await spoke.api.next_call("chat.postMessage")
    assert en("profile.saved") in text_of(saved)
    with spoke.store.transaction() as uow:
        person = uow.people.by_identity(f"slack:{TEAM_ID}/{AMIRA}")
        assert person is not None and person.email == "a.haddad@nhs.example"


async def test_a_forged_button_value_changes_nothing(spoke: Spoke) -> None:
    posted = await spoke.dm("hello")
    action_id, _, _ = find_option(posted["blocks"], "Register")
    body = form_body(block_actions(AMIRA, TEAM_ID, action_id, "registration:begin:0:yes"))
    assert (await spoke.post(body, FORM)).status == 200
    again = await spoke.api.next_call("chat.postMessage")
    assert en("runtime.stale") in text_of(again)


async def test_the_export_arrives_as_a_file_upload(spoke: Spoke) -> None:
    await register(spoke)
    await spoke.dm("export my data")
    document = json.loads(await spoke.api.uploaded_file())
    assert document["profile"]["email"] == "amira@nhs.example"


async def test_healthz_reports_the_database(spoke: Spoke) -> None:
    response = await spoke.http.get(f"{spoke.base}/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "platforms": ["slack"]}


async def test_used_buttons_are_replaced_by_the_choice(spoke: Spoke) -> None:
    posted = await spoke.dm("hello")
    stored = spoke.api.history("D0AMA")[-1]
    action_id, value, _ = find_option(posted["blocks"], "Register")
    body = form_body(block_actions(AMIRA, TEAM_ID, action_id, value, channel="D0AMA",
                                   message=stored, block_id="q1"))
    assert (await spoke.post(body, FORM)).status == 200
    updated = await spoke.api.next_call("chat.update")
    blocks = updated["blocks"] if isinstance(updated["blocks"], list) else json.loads(updated["blocks"])
    assert updated["ts"] == stored["ts"]
    assert all(block["type"] != "actions" for block in blocks)
    assert blocks[-1]["elements"][0]["text"] == "✓ Register"


async def test_a_refused_request_leaves_neither_body_nor_headers_in_the_logs(
        spoke: Spoke, caplog: pytest.LogCaptureFixture) -> None:
    body = json_body(dm_event(AMIRA, "my patient NHS 999 765 4323", event_id="EvLog"))
    headers = slack_signed_headers(body, "not-the-secret", spoke.clock.now())
    with caplog.at_level("DEBUG"):
        response = await spoke.post(body, headers=headers, signed=False)
    assert response.status == 401
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "999 765 4323" not in logged and headers["X-Slack-Signature"] not in logged
    assert any(getattr(r, "event", None) == "slack.refused" for r in caplog.records)


async def test_a_database_outage_loses_nothing_and_repeats_nothing(
        spoke: Spoke, monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    from assistant.ports import Unavailable

    working_transaction, working_ping = spoke.store.transaction, spoke.store.ping

    @contextmanager
    def down():  # type: ignore[no-untyped-def]
        raise Unavailable("OperationalError")
        yield

    first = json_body(dm_event(AMIRA, "hello", event_id="EvBeforeOutage"))
    second = json_body(dm_event("U0ELI", "bonjour", event_id="EvDuringOutage"))
    monkeypatch.setattr(spoke.store, "transaction", down)
    monkeypatch.setattr(spoke.store, "ping", lambda: False)
    # The database went down under the first turn: not answered 200, so Slack sends it again;
    # the second finds it known down.
    assert (await spoke.post(first)).status == 503
    assert (await spoke.post(second)).status == 503
    monkeypatch.setattr(spoke.store, "transaction", working_transaction)
    monkeypatch.setattr(spoke.store, "ping", working_ping)
    for event, channel in ((first, "D0AMA"), (second, "D0ELI")):
        assert (await spoke.post(event, retry_num=1)).status == 200
        assert (await spoke.api.next_call("chat.postMessage"))["channel"] == channel
    await spoke.settle()
    assert sorted(c["channel"] for c in spoke.api.calls("chat.postMessage")) == ["D0AMA", "D0ELI"]


async def test_a_press_acknowledged_as_the_database_went_down_is_tried_again(
        spoke: Spoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack never sends a press again: acknowledged (within Slack's 3 s), it is held in the
    server and its turn tried again until the database is back."""
    from contextlib import contextmanager

    from assistant.ports import Unavailable

    welcome = await spoke.dm("hello")
    working_transaction = spoke.store.transaction

    @contextmanager
    def down():  # type: ignore[no-untyped-def]
        raise Unavailable("OperationalError")
        yield

    monkeypatch.setattr(spoke.store, "transaction", down)
    assert (await spoke.click(welcome, "Register")).status == 200
    await spoke.settle_listeners()
    assert len(spoke.api.calls("chat.postMessage")) == 1  # nothing yet
    monkeypatch.setattr(spoke.store, "transaction", working_transaction)
    asked = await spoke.api.next_call("chat.postMessage", timeout=10)
    assert "Amira Haddad" in text_of(asked)  # registration began, once
