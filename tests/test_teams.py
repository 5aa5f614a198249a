"""Spoke in Teams, over real HTTP: signed activities in, Bot Connector calls out to local mocks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.teams.config import TeamsMisconfigured, TeamsSettings
from adapters.teams.render import escape
from assistant.i18n import translate
from assistant.messages import Reply, Text
from storage.tables import OutboxRow, ProcessedEventRow
from tests.teams_activities import (
    DEFAULT_TENANT,
    bot_added,
    card_execute_invoke,
    card_submit,
    channel_mention,
)
from tests.teams_fixtures import IDENTITY, TeamsSpoke, card_text, submit_value
from tests.test_console import spoke as spoke_cli


def en(message_id: str, **args: object) -> str:
    return translate(message_id, "en", **args)


def count(teams: TeamsSpoke, table: type) -> int:
    with teams.store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


async def click(teams: TeamsSpoke, sent: dict, label: str) -> dict:
    value = submit_value(sent, label)
    response = await teams.post(dict(card_submit(value, service_url=teams.connector.service_url)))
    assert response.status == 200
    return (await teams.connector.next_activity()).activity  # type: ignore[no-any-return]


async def register(teams: TeamsSpoke) -> dict:
    sent = await teams.say("hello")
    for how, what in [("click", "Register"), ("click", "Use Ama Mensah"), ("type", "ama@example.org"),
                      ("click", "Registered nurse"), ("type", "Korle Bu Hospice"), ("click", "Hospice"),
                      ("type", "EH6"), ("type", "Scotland"), ("click", "Use Europe/London"),
                      ("click", "Yes"), ("click", "English"), ("click", "Care Homes ECHO"),
                      ("click", "I agree"), ("click", "Confirm and register")]:
        sent = await click(teams, sent, what) if how == "click" else await teams.say(what)
    return sent


async def test_installing_the_bot_greets_once(teams: TeamsSpoke) -> None:
    added = dict(bot_added(service_url=teams.connector.service_url, activity_id="install-1"))
    assert (await teams.post(added)).status == 200
    greeting = (await teams.connector.next_activity()).activity
    assert en("registration.welcome").split(",")[0] in card_text(greeting)
    assert (await teams.post(added)).status == 200  # Teams may deliver it again
    await teams.settle()
    assert len(teams.connector.activities()) == 1


async def test_a_whole_registration_in_the_personal_chat(teams: TeamsSpoke) -> None:
    done = await register(teams)
    assert escape(en("registration.done", name="Ama")) in done["text"]
    with teams.store.transaction() as uow:
        person = uow.people.by_identity(IDENTITY)
        assert person is not None
        assert (person.full_name, person.email, person.time_zone) == (
            "Ama Mensah", "ama@example.org", "Europe/London")
        assert [m.network for m in uow.memberships.of(person.id)] == ["care-homes"]


@pytest.mark.parametrize("forgery", [
    {"headers": {}},                                           # no token at all
    {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}},
    {"headers": {"Authorization": "Bearer not.a.jwt"}},
    {"expires_in": -400},                                      # expired beyond the 5-minute skew
    {"not_before_offset": 900},                                # not valid yet
    {"key": "rogue"},                                          # signed with an unpublished key
    {"alg": "none"},
    {"alg": "HS256"},                                          # public key used as an HMAC secret
    {"kid": "unknown"},
    {"audience": "11111111-0000-4000-8000-000000000bad"},      # minted for another bot
    {"issuer": "https://sts.windows.net/evil/"},
    {"service_url": "http://127.0.0.1:1/elsewhere/"},          # a serviceUrl the token does not vouch for
])
async def test_a_forged_or_broken_token_gets_401_and_changes_nothing(teams: TeamsSpoke,
                                                                     forgery: dict) -> None:
    response = await teams.post(teams.message("hello"), **forgery)
    assert response.status == 401
    await teams.settle()
    assert teams.connector.calls() == []
    assert count(teams, ProcessedEventRow) == 0 and count(teams, OutboxRow) == 0


async def test_a_tenant_outside_the_allow_list_gets_403(teams: TeamsSpoke) -> None:
    response = await teams.post(teams.message("hello", tenant="99999999-0000-4000-8000-0000000000ff"))
    assert response.status == 403
    assert count(teams, ProcessedEventRow) == 0


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"no": "type"}'])
async def test_a_malformed_body_gets_400(teams: TeamsSpoke, body: bytes) -> None:
    headers = teams.identity.authorization({"serviceUrl": teams.connector.service_url})
    headers["Content-Type"] = "application/json"
    response = await teams.http.post(f"{teams.base}/api/messages", data=body, headers=headers)
    assert response.status == 400
    assert count(teams, ProcessedEventRow) == 0


async def test_the_same_activity_is_processed_once(teams: TeamsSpoke) -> None:
    activity = teams.message("hello", activity_id="1700000000001")
    for _ in range(3):
        assert (await teams.post(activity)).status == 200
    await teams.settle()
    assert len(teams.connector.activities()) == 1 and count(teams, ProcessedEventRow) == 1


async def test_signing_keys_and_the_bot_token_are_fetched_once(teams: TeamsSpoke) -> None:
    for n in range(5):
        await teams.say(f"help {n}")
    assert teams.identity.key_fetches == 1
    assert len(teams.identity.token_requests) == 1


async def test_a_mention_in_a_channel_is_answered_in_the_personal_chat(teams: TeamsSpoke) -> None:
    activity = dict(channel_mention("help", service_url=teams.connector.service_url))
    assert (await teams.post(activity)).status == 200
    sent = await teams.connector.next_activity()
    assert sent.conversation_id.startswith("a:")  # the 1:1 chat, created for the answer
    assert teams.connector.calls("create")


async def test_an_action_execute_invoke_is_answered_in_the_response(teams: TeamsSpoke) -> None:
    greeting = await teams.say("hello")
    data = submit_value(greeting, "Register")
    response = await teams.post(dict(card_execute_invoke("choose", data,
                                                          service_url=teams.connector.service_url)))
    assert response.status == 200
    assert (await response.json())["statusCode"] == 200
    question = (await teams.connector.next_activity()).activity
    assert en("fields.full_name.ask") in card_text(question)


async def test_a_throttled_reply_waits_for_retry_after_then_arrives_once(teams: TeamsSpoke) -> None:
    teams.connector.fail_next("send", status=429, retry_after=20, times=2)
    await teams.post(teams.message("hello"))
    await teams.settle()
    assert teams.connector.activities() == []
    for _ in range(2):
        teams.clock.advance(seconds=21)
        await teams.serving.sender.deliver_due()  # type: ignore[union-attr]
    assert len(teams.connector.activities()) == 1


@pytest.mark.parametrize(("status", "code"), [(403, "MessageWritesBlocked"),
                                              (404, "ConversationNotFound")])
async def test_a_blocked_or_vanished_chat_is_marked_unreachable(teams: TeamsSpoke, status: int,
                                                                code: str) -> None:
    teams.connector.fail_next("send", status=status, code=code)
    await teams.post(teams.message("hello"))
    await teams.settle()
    teams.clock.advance(days=1)
    await teams.serving.sender.deliver_due()  # type: ignore[union-attr]
    with teams.store.engine.connect() as connection:
        assert connection.execute(select(OutboxRow.status, OutboxRow.last_error)).one() == (
            "unreachable", code)


async def test_a_proactive_message_after_a_restart_uses_the_stored_reference(
        teams: TeamsSpoke) -> None:
    await teams.say("hello")
    conversation = teams.connector.activities()[0].conversation_id
    with teams.store.transaction() as uow:  # as a reminder would, in a later process
        address = uow.people.address_of(IDENTITY)
        uow.outbox.add(IDENTITY, address, Reply((Text("Session tomorrow"),)), "proactive:1",
                       teams.clock.now())
    await teams.serving.sender.deliver_due()  # type: ignore[union-attr]
    sent = teams.connector.activities()[-1]
    assert sent.conversation_id == conversation and "Session tomorrow" in sent.activity["text"]
    assert address["service_url"] == teams.connector.service_url


async def test_a_profile_form_with_an_error_comes_back_with_the_error(teams: TeamsSpoke) -> None:
    await register(teams)
    sent = await teams.say("profile")
    form = await click(teams, sent, "Several at once, in a form")
    submit = submit_value(form, "Save")
    values = {**submit, "full_name": "Ama Mensah", "email": "nope", "organisation": "Korle Bu",
              "region": "EH6", "country": "GB", "time_zone": "Europe/London"}
    response = await teams.post(dict(card_submit(values, service_url=teams.connector.service_url)))
    assert response.status == 200
    again = (await teams.connector.next_activity()).activity
    assert en("parse.email.no_at").split(" ")[0] in card_text(again)
    values["email"] = "ama.m@example.org"
    await teams.post(dict(card_submit({**values, **submit_value(again, "Save")},
                                      service_url=teams.connector.service_url)))
    saved = (await teams.connector.next_activity()).activity
    assert en("profile.saved").split(".")[0] in card_text(saved)


def test_half_configured_credentials_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(TeamsMisconfigured):
        TeamsSettings.from_env({"MICROSOFT_APP_ID": "x"})
    with pytest.raises(TeamsMisconfigured):
        TeamsSettings.from_env({"MICROSOFT_APP_ID": "x", "MICROSOFT_APP_PASSWORD": "y",
                                "MICROSOFT_APP_TYPE": "SingleTenant"})
    assert TeamsSettings.from_env({}) is None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MICROSOFT_", "SLACK_"))}
    os.environ.clear()
    os.environ.update({**env, "MICROSOFT_APP_ID": "only-the-id"})
    try:
        result = spoke_cli(tmp_path, "serve", "--port", "0", timeout=30)
    finally:
        os.environ.clear()
        os.environ.update(env)
    assert result.returncode == 1 and "MICROSOFT_APP_PASSWORD" in result.stderr


def test_tenant_rules_for_single_and_multi_tenant_apps() -> None:
    single = TeamsSettings.from_env({"MICROSOFT_APP_ID": "a", "MICROSOFT_APP_PASSWORD": "s3cr3t-pw",
                                     "MICROSOFT_APP_TYPE": "SingleTenant",
                                     "MICROSOFT_APP_TENANT_ID": DEFAULT_TENANT})
    multi = TeamsSettings.from_env({"MICROSOFT_APP_ID": "a", "MICROSOFT_APP_PASSWORD": "p"})
    assert single is not None and multi is not None
    assert single.tenant_allowed(DEFAULT_TENANT) and not single.tenant_allowed("other")
    assert multi.tenant_allowed("anyone")
    assert "s3cr3t-pw" not in repr(single)
    assert DEFAULT_TENANT in single.outbound_token_url


async def test_a_refused_activity_leaves_neither_body_nor_token_in_the_logs(
        teams: TeamsSpoke, caplog: pytest.LogCaptureFixture) -> None:
    activity = teams.message("my patient NHS 999 765 4323")
    headers = teams.identity.authorization(activity, key="rogue")
    with caplog.at_level("DEBUG"):
        response = await teams.post(activity, headers=headers)
    assert response.status == 401
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "999 765 4323" not in logged and headers["Authorization"][7:] not in logged
    assert any(getattr(r, "event", None) == "teams.refused" for r in caplog.records)


async def test_a_database_outage_answers_503_and_the_redelivery_is_processed_once(
        teams: TeamsSpoke, monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    from assistant.ports import Unavailable

    working = teams.store.transaction

    @contextmanager
    def down():  # type: ignore[no-untyped-def]
        raise Unavailable("OperationalError")
        yield

    activity = teams.message("hello", activity_id="1700000000777")
    monkeypatch.setattr(teams.store, "transaction", down)
    assert (await teams.post(activity)).status == 503
    monkeypatch.setattr(teams.store, "transaction", working)
    assert (await teams.post(activity)).status == 200
    assert (await teams.post(activity)).status == 200
    await teams.settle()
    assert len(teams.connector.activities()) == 1


async def test_insecure_dev_mode_accepts_unsigned_activities_from_this_machine(
        suite_store, clock, tmp_path: Path) -> None:
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestServer

    from adapters.web.server import build_web_app
    from assistant.bootstrap import build_app
    from assistant.config import Secret, Settings
    from tests.harness import seeded
    from tests.teams_activities import personal_message

    settings = TeamsSettings.from_env({"SPOKE_TEAMS_INSECURE_DEV": "1"})
    assert settings is not None and settings.insecure_dev
    core = build_app(Settings(database_url="sqlite://", data_dir=tmp_path, secret_key=Secret("")),
                     clock=clock, store=seeded(suite_store, clock))
    app, _ = build_web_app(core, None, settings, tick_seconds=3600)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with ClientSession() as http:
            activity = dict(personal_message("hello", service_url="http://127.0.0.1:9/emea/"))
            response = await http.post(str(server.make_url("/api/messages")), json=activity)
            assert response.status == 200
    finally:
        await server.close()
    with suite_store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ProcessedEventRow)).scalar_one() == 1
