"""The Bot Framework mocks answer the way Bot Framework does, and the activity builders have the
shape botbuilder reads. Tokens are checked here with PyJWT done right and with stock
botframework-connector, so an adapter test against these mocks tests the adapter, not the mock."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import pytest
import requests
from botbuilder.core import CloudAdapterBase, TurnContext
from botbuilder.core.teams import teams_get_channel_id, teams_get_team_info
from botbuilder.schema import Activity
from botbuilder.schema.teams import TeamsChannelData
from botframework.connector.auth import (
    BotFrameworkAuthenticationFactory,
    PasswordServiceClientCredentialFactory,
)

from assistant.clock import FakeClock
from tests.teams_activities import (
    DEFAULT_APP_ID,
    DEFAULT_CHANNEL_ID,
    DEFAULT_TEAM_ID,
    DEFAULT_TENANT,
    DEFAULT_USER_AAD,
    bot_added,
    card_execute_invoke,
    card_submit,
    channel_mention,
    personal_conversation_id,
    personal_message,
    teams_user_id,
)
from tests.teams_mock import (
    BOT_FRAMEWORK_ISSUER,
    CONNECTOR_AUDIENCE,
    CONNECTOR_SCOPE,
    DEFAULT_APP_PASSWORD,
    KEY_IDS,
    TOKEN_ISSUER,
    BotConnectorMock,
    BotFrameworkIdentity,
    ServerThread,
    local_ca,
)

SERVICE_URL = "http://127.0.0.1:9/emea/"  # a claim value only, never contacted
AMA = teams_user_id(DEFAULT_USER_AAD)
CONVERSATION = personal_conversation_id(AMA, DEFAULT_APP_ID)
OTHER_APP = "11111111-0000-4000-8000-000000000bad"


@pytest.fixture
async def identity() -> AsyncIterator[BotFrameworkIdentity]:
    async with BotFrameworkIdentity() as server:
        yield server


@pytest.fixture
async def connector(identity: BotFrameworkIdentity) -> AsyncIterator[BotConnectorMock]:
    async with BotConnectorMock(identity) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def token_form(client_id: str = DEFAULT_APP_ID, secret: str | None = DEFAULT_APP_PASSWORD,
               scope: str = CONNECTOR_SCOPE, grant_type: str = "client_credentials") -> dict[str, str]:
    form = {"grant_type": grant_type, "client_id": client_id, "scope": scope}
    if secret is not None:
        form["client_secret"] = secret
    return form


async def fetch_token(http: aiohttp.ClientSession, identity: BotFrameworkIdentity) -> str:
    async with http.post(identity.token_url, data=token_form()) as response:
        assert response.status == 200
        return str((await response.json())["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def activities_url(connector: BotConnectorMock, conversation_id: str, activity_id: str | None = None) -> str:
    url = f"{connector.service_url}v3/conversations/{quote(conversation_id, safe='')}/activities"
    return url if activity_id is None else f"{url}/{quote(activity_id, safe='')}"


async def published_key(http: aiohttp.ClientSession, identity: BotFrameworkIdentity, kid: str) -> Any:
    """The verification key the way a careful adapter finds it: metadata, then jwks_uri, by kid."""
    async with http.get(identity.openid_metadata_url) as response:
        metadata = await response.json()
    async with http.get(metadata["jwks_uri"]) as response:
        keys = (await response.json())["keys"]
    matching = [k for k in keys if k["kid"] == kid]
    if not matching:
        raise jwt.InvalidTokenError(f"no published key {kid}")
    return jwt.PyJWK(matching[0], algorithm="RS256").key


async def validate(http: aiohttp.ClientSession, identity: BotFrameworkIdentity, token: str) -> dict[str, Any]:
    """Bot Framework channel-token validation done right, with PyJWT."""
    key = await published_key(http, identity, jwt.get_unverified_header(token).get("kid", ""))
    return jwt.decode(token, key, algorithms=["RS256"], audience=DEFAULT_APP_ID, issuer=BOT_FRAMEWORK_ISSUER,
                      options={"require": ["exp", "nbf", "iss", "aud"]})


# ---------------------------------------------------------------------- identity: metadata, keys, mint

async def test_metadata_and_keys_look_like_bot_frameworks_and_validate_a_good_token(
        identity: BotFrameworkIdentity, http: aiohttp.ClientSession) -> None:
    async with http.get(identity.openid_metadata_url) as response:
        metadata = await response.json()
    assert metadata["issuer"] == "https://api.botframework.com"
    assert metadata["jwks_uri"] == identity.jwks_url and metadata["jwks_uri"].startswith("http://127.0.0.1:")
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    async with http.get(identity.jwks_url) as response:
        keys = (await response.json())["keys"]
    assert [k["kid"] for k in keys] == [KEY_IDS["good"]]
    assert keys[0]["kty"] == "RSA" and keys[0]["use"] == "sig" and keys[0]["endorsements"] == ["msteams"]
    assert {"n", "e", "x5t", "x5c"} <= keys[0].keys()
    assert identity.key_fetches == 1 and identity.metadata_fetches == 1

    token = identity.mint(service_url=SERVICE_URL)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": KEY_IDS["good"], "typ": "JWT", "x5t": keys[0]["x5t"]}
    claims = await validate(http, identity, token)
    assert claims["aud"] == DEFAULT_APP_ID and claims["iss"] == BOT_FRAMEWORK_ISSUER
    assert claims["serviceurl"] == SERVICE_URL and claims["exp"] - claims["nbf"] == 3600


def forged(identity: BotFrameworkIdentity, kind: str) -> str:
    return {
        "rogue": lambda: identity.mint(key="rogue", service_url=SERVICE_URL),
        "expired": lambda: identity.mint(expires_in=-10, service_url=SERVICE_URL),
        "not yet valid": lambda: identity.mint(not_before_offset=600, service_url=SERVICE_URL),
        "alg none": lambda: identity.mint(alg="none", service_url=SERVICE_URL),
        "HS256": lambda: identity.mint(alg="HS256", service_url=SERVICE_URL),
        "wrong audience": lambda: identity.mint(audience=OTHER_APP, service_url=SERVICE_URL),
        "wrong issuer": lambda: identity.mint(issuer=TOKEN_ISSUER, service_url=SERVICE_URL),
        "unknown kid": lambda: identity.mint(kid="unknown", service_url=SERVICE_URL),
        "no exp": lambda: identity.mint(extra_claims={"exp": None}, service_url=SERVICE_URL),
    }[kind]()


@pytest.mark.parametrize(("kind", "error"), [
    ("rogue", jwt.InvalidSignatureError), ("expired", jwt.ExpiredSignatureError),
    ("not yet valid", jwt.ImmatureSignatureError), ("alg none", jwt.InvalidAlgorithmError),
    ("HS256", jwt.InvalidAlgorithmError), ("wrong audience", jwt.InvalidAudienceError),
    ("wrong issuer", jwt.InvalidIssuerError), ("unknown kid", jwt.InvalidTokenError),
    ("no exp", jwt.MissingRequiredClaimError),
])
async def test_forged_tokens_fail_validation_done_right(identity: BotFrameworkIdentity,
                                                        http: aiohttp.ClientSession, kind: str,
                                                        error: type[Exception]) -> None:
    token = forged(identity, kind)
    unverified = jwt.decode(token, options={"verify_signature": False})
    assert unverified["serviceurl"] == SERVICE_URL          # a plausible token, refused only for its flaw
    with pytest.raises(error):
        await validate(http, identity, token)


def test_the_confusion_forgeries_are_the_real_attacks(identity: BotFrameworkIdentity) -> None:
    # HS256 keyed with the published public key: a verifier that trusts the header's alg and feeds
    # its RSA key's PEM to HMAC would accept it.
    signing_input, _, signature = identity.mint(alg="HS256", service_url=SERVICE_URL).rpartition(".")
    expected = hmac.new(identity.key().public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    # alg none: header.payload. with an empty signature.
    unsigned = identity.mint(alg="none", service_url=SERVICE_URL)
    assert unsigned.endswith(".") and jwt.get_unverified_header(unsigned)["alg"] == "none"
    # The rogue key claims the published kid but is another key.
    rogue = identity.mint(key="rogue", service_url=SERVICE_URL)
    assert jwt.get_unverified_header(rogue)["kid"] == KEY_IDS["good"]
    assert identity.key("rogue").public_pem != identity.key().public_pem


async def test_a_fake_clock_dates_minted_tokens(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(at="2025-06-02T09:00:00Z")
    async with BotFrameworkIdentity(clock=clock) as identity:
        claims = jwt.decode(identity.mint(service_url=SERVICE_URL), options={"verify_signature": False})
        assert claims["nbf"] == clock.now().timestamp() and claims["exp"] == claims["nbf"] + 3600
        explicit = jwt.decode(identity.mint(service_url=None, now=1_000), options={"verify_signature": False})
        assert explicit["exp"] == 4_600 and "serviceurl" not in explicit


async def test_rotated_keys_are_published_and_counted(identity: BotFrameworkIdentity,
                                                      http: aiohttp.ClientSession) -> None:
    token = identity.mint(key="next", service_url=SERVICE_URL)
    with pytest.raises(jwt.InvalidTokenError):
        await validate(http, identity, token)          # not published yet: an unknown kid
    identity.publish("good", "next")
    assert (await validate(http, identity, token))["aud"] == DEFAULT_APP_ID
    assert identity.key_fetches == 2


async def test_key_and_metadata_fetches_can_fail(identity: BotFrameworkIdentity,
                                                 http: aiohttp.ClientSession) -> None:
    identity.fail_next("keys", status=503)
    async with http.get(identity.jwks_url) as response:
        assert response.status == 503
    async with http.get(identity.jwks_url) as response:
        assert response.status == 200
    assert identity.key_fetches == 2


# ---------------------------------------------------------------------- identity: token endpoint

async def test_the_token_endpoint_issues_a_connector_token_for_the_right_secret(
        identity: BotFrameworkIdentity, http: aiohttp.ClientSession) -> None:
    async with http.post(identity.token_url, data=token_form()) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == answer["ext_expires_in"] == 3600
    key = await published_key(http, identity, jwt.get_unverified_header(answer["access_token"])["kid"])
    claims = jwt.decode(answer["access_token"], key, algorithms=["RS256"], audience=CONNECTOR_AUDIENCE,
                        issuer=TOKEN_ISSUER)
    assert claims["appid"] == DEFAULT_APP_ID
    assert identity.tokens_issued == 1
    request = identity.token_requests[0]
    assert (request.client_id, request.scope, request.status) == (DEFAULT_APP_ID, CONNECTOR_SCOPE, 200)


@pytest.mark.parametrize(("form", "status", "error", "code"), [
    (token_form(secret="wrong"), 401, "invalid_client", 7000215),
    (token_form(secret=None), 401, "invalid_client", 7000218),
    (token_form(client_id=OTHER_APP), 400, "unauthorized_client", 700016),
    (token_form(grant_type="password"), 400, "unsupported_grant_type", 70003),
    (token_form(scope="https://api.botframework.com"), 400, "invalid_scope", 1002012),
    (token_form(scope="https://graph.microsoft.com/.default"), 400, "invalid_resource", 500011),
])
async def test_the_token_endpoint_refuses_like_azure_ad(identity: BotFrameworkIdentity,
                                                        http: aiohttp.ClientSession, form: dict[str, str],
                                                        status: int, error: str, code: int) -> None:
    async with http.post(identity.token_url, data=form) as response:
        assert response.status == status
        answer = await response.json()
    assert answer["error"] == error and answer["error_codes"] == [code]
    assert answer["error_description"].startswith(f"AADSTS{code}:") and "access_token" not in answer
    assert identity.tokens_issued == 0 and identity.token_requests[0].error == error


async def test_the_token_endpoint_takes_basic_auth_and_the_tenant_path(
        identity: BotFrameworkIdentity, http: aiohttp.ClientSession) -> None:
    form = token_form(secret=None)
    basic = base64.b64encode(f"{DEFAULT_APP_ID}:{DEFAULT_APP_PASSWORD}".encode()).decode()
    async with http.post(f"{identity.base_url}/botframework.com/oauth2/v2.0/token", data=form,
                         headers={"Authorization": f"Basic {basic}"}) as response:
        assert response.status == 200
    assert identity.tokens_issued == 1


async def test_token_failures_can_be_scripted(identity: BotFrameworkIdentity,
                                              http: aiohttp.ClientSession) -> None:
    identity.fail_next("token", status=429, retry_after=3)
    async with http.post(identity.token_url, data=token_form()) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "3"
        assert (await response.json())["error"] == "temporarily_unavailable"
    assert await fetch_token(http, identity)
    assert [r.status for r in identity.token_requests] == [429, 200]


# ---------------------------------------------------------------------- connector: authentication

@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic abc", "Bearer not-a-jwt", "bearer {good}",
    "Bearer {rogue}", "Bearer {channel}", "Bearer {wrong_audience}", "Bearer {expired}", "Bearer {other_app}",
])
async def test_the_connector_refuses_missing_and_bad_bearer_tokens(
        identity: BotFrameworkIdentity, connector: BotConnectorMock, http: aiohttp.ClientSession,
        authorization: str | None) -> None:
    tokens = {
        "good": await fetch_token(http, identity),
        "rogue": identity.issue_access_token(key="rogue"),
        "channel": identity.mint(service_url=connector.service_url),    # a token for the bot, not from AAD
        "wrong_audience": identity.issue_access_token(audience="https://graph.microsoft.com"),
        "expired": identity.issue_access_token(expires_in=-1),
        "other_app": identity.issue_access_token(app_id=OTHER_APP),
    }
    headers = {} if authorization is None else {"Authorization": authorization.format(**tokens)}
    async with http.post(activities_url(connector, CONVERSATION), json={"type": "message", "text": "hi"},
                         headers=headers) as response:
        assert response.status == 401
        assert await response.json() == {"message": "Authorization has been denied for this request."}
    assert connector.activities() == [] and connector.conversation(CONVERSATION) == []
    assert connector.calls()[0].app_id is None


async def test_the_connector_accepts_the_token_endpoints_token(
        identity: BotFrameworkIdentity, connector: BotConnectorMock, http: aiohttp.ClientSession) -> None:
    token = await fetch_token(http, identity)
    async with http.post(activities_url(connector, CONVERSATION), json={"type": "message", "text": "hi"},
                         headers=bearer(token)) as response:
        assert response.status == 201
    posted = await connector.next_activity()
    assert posted["text"] == "hi" and posted.app_id == DEFAULT_APP_ID
    assert "Authorization" not in posted.headers


async def test_connector_tokens_expire_on_the_mocks_clock(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(at="2025-06-02T09:00:00Z")
    async with BotFrameworkIdentity(clock=clock) as identity, BotConnectorMock(identity) as connector:
        token = await fetch_token(http, identity)
        url = activities_url(connector, CONVERSATION)
        async with http.post(url, json={"type": "message", "text": "1"}, headers=bearer(token)) as response:
            assert response.status == 201
        clock.advance(minutes=61)
        async with http.post(url, json={"type": "message", "text": "2"}, headers=bearer(token)) as response:
            assert response.status == 401
        assert [c["text"] for c in connector.activities()] == ["1"]


# ---------------------------------------------------------------------- connector: endpoints

@pytest.fixture
async def token(identity: BotFrameworkIdentity, http: aiohttp.ClientSession) -> str:
    return await fetch_token(http, identity)


async def test_send_reply_update_and_delete(connector: BotConnectorMock, http: aiohttp.ClientSession,
                                            token: str) -> None:
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard"}}
    async with http.post(activities_url(connector, CONVERSATION), headers=bearer(token),
                         json={"type": "message", "attachments": [card]}) as response:
        assert response.status == 201
        card_id = (await response.json())["id"]
    async with http.post(activities_url(connector, CONVERSATION, card_id), headers=bearer(token),
                         json={"type": "message", "text": "noted"}) as response:
        assert response.status == 201
        reply_id = (await response.json())["id"]
    assert reply_id != card_id
    sent, reply = connector.activities(CONVERSATION)
    assert (sent.kind, sent.id, sent.conversation_id) == ("send", card_id, CONVERSATION)
    assert (reply.kind, reply.target_id, reply.id) == ("reply", card_id, reply_id)
    assert connector.activities("a:1another") == []

    async with http.put(activities_url(connector, CONVERSATION, card_id), headers=bearer(token),
                        json={"type": "message", "text": "Answered: yes"}) as response:
        assert response.status == 200 and await response.json() == {"id": card_id}
    assert connector.conversation(CONVERSATION)[0] == {"type": "message", "text": "Answered: yes",
                                                       "id": card_id}
    delete_url = activities_url(connector, CONVERSATION, reply_id)
    async with http.delete(delete_url, headers=bearer(token)) as response:
        assert response.status == 200
    assert [a["id"] for a in connector.conversation(CONVERSATION)] == [card_id]
    assert [c.kind for c in connector.calls()] == ["send", "reply", "update", "delete"]


async def test_strict_ids_refuse_updates_of_unknown_activities(
        identity: BotFrameworkIdentity, http: aiohttp.ClientSession, token: str) -> None:
    async with BotConnectorMock(identity, strict_activity_ids=True) as connector:
        url = activities_url(connector, CONVERSATION, "1750000009999")
        async with http.put(url, headers=bearer(token), json={"type": "message", "text": "x"}) as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "ActivityNotFoundInConversation"


async def test_an_activity_without_a_type_is_a_bad_argument(connector: BotConnectorMock,
                                                            http: aiohttp.ClientSession, token: str) -> None:
    async with http.post(activities_url(connector, CONVERSATION), headers=bearer(token),
                         json={"text": "no type"}) as response:
        assert response.status == 400 and (await response.json())["error"]["code"] == "BadArgument"
    assert connector.activities() == []


async def test_create_conversation_gives_the_personal_chat_id_stable_per_member(
        connector: BotConnectorMock, http: aiohttp.ClientSession, token: str) -> None:
    connector.add_user(DEFAULT_USER_AAD, name="Ama Mensah")
    url = f"{connector.service_url}v3/conversations"
    ids = []
    for member in (AMA, DEFAULT_USER_AAD, AMA):        # by Teams id or by AAD object id
        body = {"bot": {"id": f"28:{DEFAULT_APP_ID}"}, "members": [{"id": member}], "isGroup": False,
                "tenantId": DEFAULT_TENANT, "channelData": {"tenant": {"id": DEFAULT_TENANT}}}
        async with http.post(url, json=body, headers=bearer(token)) as response:
            assert response.status == 201
            ids.append((await response.json())["id"])
    assert ids == [CONVERSATION] * 3          # the id personal_message() uses for Ama
    assert ids[0].startswith("a:1")
    other = {"bot": {"id": f"28:{DEFAULT_APP_ID}"}, "members": [{"id": teams_user_id("someone-else")}],
             "tenantId": DEFAULT_TENANT}
    async with http.post(url, json=other, headers=bearer(token)) as response:
        assert (await response.json())["id"] not in ids
    no_tenant = {"bot": {"id": f"28:{DEFAULT_APP_ID}"}, "members": [{"id": AMA}]}
    async with http.post(url, json=no_tenant, headers=bearer(token)) as response:
        assert response.status == 400 and (await response.json())["error"]["code"] == "BadArgument"


async def test_create_conversation_for_a_user_without_the_app_is_forbidden(
        connector: BotConnectorMock, http: aiohttp.ClientSession, token: str) -> None:
    connector.add_user(DEFAULT_USER_AAD, installed=False)
    body = {"bot": {"id": f"28:{DEFAULT_APP_ID}"}, "members": [{"id": AMA}], "tenantId": DEFAULT_TENANT}
    url = f"{connector.service_url}v3/conversations"
    async with http.post(url, json=body, headers=bearer(token)) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "ForbiddenOperationException"


async def test_get_member_answers_a_teams_channel_account(connector: BotConnectorMock,
                                                          http: aiohttp.ClientSession, token: str) -> None:
    connector.add_user(DEFAULT_USER_AAD, name="Ama Mensah", email="ama@example.org",
                       user_principal_name="ama@example.org", given_name="Ama", surname="Mensah")
    base = f"{connector.service_url}v3/conversations/{quote(CONVERSATION, safe='')}/members/"
    for member in (AMA, DEFAULT_USER_AAD):
        async with http.get(base + quote(member, safe=""), headers=bearer(token)) as response:
            assert response.status == 200
            account = await response.json()
        assert account == {"id": AMA, "name": "Ama Mensah", "aadObjectId": DEFAULT_USER_AAD,
                           "email": "ama@example.org", "userPrincipalName": "ama@example.org",
                           "tenantId": DEFAULT_TENANT, "givenName": "Ama", "surname": "Mensah",
                           "userRole": "user"}
    async with http.get(base + quote("29:1nobody", safe=""), headers=bearer(token)) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "MemberNotFoundInConversation"


async def test_the_service_url_keeps_its_path(connector: BotConnectorMock, http: aiohttp.ClientSession,
                                              token: str) -> None:
    assert connector.service_url.endswith("/emea/")
    root = connector.base_url + f"/v3/conversations/{quote(CONVERSATION, safe='')}/activities"
    async with http.post(root, json={"type": "message", "text": "lost"}, headers=bearer(token)) as response:
        assert response.status == 404          # a client that drops the path of serviceUrl


# ---------------------------------------------------------------------- connector: failures

async def test_throttling_answers_429_with_retry_after_then_recovers(
        connector: BotConnectorMock, http: aiohttp.ClientSession, token: str) -> None:
    connector.fail_next("send", status=429, retry_after=2)
    url = activities_url(connector, CONVERSATION)
    async with http.post(url, json={"type": "message", "text": "1"}, headers=bearer(token)) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "2"
        assert (await response.json())["error"]["code"] == "Throttled"
    async with http.post(url, json={"type": "message", "text": "1"}, headers=bearer(token)) as response:
        assert response.status == 201
    assert [c.status for c in connector.calls("send")] == [429, 201]
    assert len(connector.conversation(CONVERSATION)) == 1        # a refused send stores nothing


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("send", 403, "MessageWritesBlocked"), ("send", 404, "ConversationNotFound"),
    ("send", 412, "PreconditionFailed"), ("send", 502, "ServiceError"),
    ("update", 403, "MessageWritesBlocked"), ("create", 403, "MessageWritesBlocked"),
    ("member", 404, "MemberNotFoundInConversation"),
])
async def test_failures_answer_like_the_connector(connector: BotConnectorMock, http: aiohttp.ClientSession,
                                                  token: str, kind: str, status: int, code: str) -> None:
    connector.add_user(DEFAULT_USER_AAD)
    connector.fail_next(kind, status=status)
    url, method, body = {
        "send": (activities_url(connector, CONVERSATION), "POST", {"type": "message", "text": "hi"}),
        "update": (activities_url(connector, CONVERSATION, "1"), "PUT", {"type": "message", "text": "hi"}),
        "create": (f"{connector.service_url}v3/conversations", "POST",
                   {"members": [{"id": AMA}], "tenantId": DEFAULT_TENANT}),
        "member": (f"{connector.service_url}v3/conversations/{quote(CONVERSATION, safe='')}/members/"
                   f"{quote(AMA, safe='')}", "GET", None),
    }[kind]
    async with http.request(method, url, json=body, headers=bearer(token)) as response:
        assert response.status == status
        assert (await response.json())["error"]["code"] == code
    async with http.request(method, url, json=body, headers=bearer(token)) as response:
        assert response.status in (200, 201)          # the failure was for the next call only


async def test_failures_repeat_and_delays_alone_still_succeed(
        connector: BotConnectorMock, http: aiohttp.ClientSession, token: str) -> None:
    url = activities_url(connector, CONVERSATION)
    connector.fail_next("send", status=502, times=2)
    connector.fail_next("send", delay=0.05)
    statuses = []
    for _ in range(4):
        async with http.post(url, json={"type": "message", "text": "x"}, headers=bearer(token)) as response:
            statuses.append(response.status)
    assert statuses == [502, 502, 201, 201]


async def test_an_unreachable_conversation_stays_unreachable(
        connector: BotConnectorMock, http: aiohttp.ClientSession, token: str) -> None:
    connector.make_unreachable(CONVERSATION)
    for _ in range(2):
        async with http.post(activities_url(connector, CONVERSATION), json={"type": "message", "text": "x"},
                             headers=bearer(token)) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "MessageWritesBlocked"
    async with http.post(activities_url(connector, "a:1other"), json={"type": "message", "text": "x"},
                         headers=bearer(token)) as response:
        assert response.status == 201


async def test_next_activity_waits_and_times_out(connector: BotConnectorMock, http: aiohttp.ClientSession,
                                                 token: str) -> None:
    waiting = asyncio.ensure_future(connector.next_activity(timeout=5))
    await asyncio.sleep(0)
    async with http.post(activities_url(connector, CONVERSATION), json={"type": "message", "text": "late"},
                         headers=bearer(token)):
        pass
    assert (await waiting)["text"] == "late"
    with pytest.raises(TimeoutError):
        await connector.next_activity(timeout=0.05)
    connector.reset()
    assert connector.calls() == [] and connector.conversation(CONVERSATION) == []


# ---------------------------------------------------------------------- threaded, blocking clients

def test_the_threaded_mocks_serve_blocking_requests() -> None:
    identity = BotFrameworkIdentity()
    connector = BotConnectorMock(identity)
    with ServerThread(identity, connector):
        metadata = requests.get(identity.openid_metadata_url, timeout=5).json()
        keys = requests.get(metadata["jwks_uri"], timeout=5).json()["keys"]
        token = identity.mint(service_url=connector.service_url)
        key = jwt.PyJWK(keys[0], algorithm="RS256").key
        assert jwt.decode(token, key, algorithms=["RS256"], audience=DEFAULT_APP_ID)["aud"] == DEFAULT_APP_ID
        issued = requests.post(identity.token_url, data=token_form(), timeout=5).json()["access_token"]
        url = activities_url(connector, CONVERSATION)
        answer = requests.post(url, json={"type": "message", "text": "hi"}, headers=bearer(issued), timeout=5)
        assert answer.status_code == 201
        assert connector.wait_activity(timeout=5)["text"] == "hi"
        refused = requests.post(url, json={"type": "message", "text": "hi"}, timeout=5)
        assert refused.status_code == 401
    with pytest.raises(requests.ConnectionError):
        requests.get(identity.openid_metadata_url, timeout=1)


def stock_authentication(identity: BotFrameworkIdentity, login_url: str | None = None) -> Any:
    """botbuilder's own BotFrameworkAuthentication, configured as ConfigurationBotFrameworkAuthentication
    would be with TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL and TO_BOT_FROM_CHANNEL_TOKEN_ISSUER."""
    return BotFrameworkAuthenticationFactory.create(
        channel_service="", validate_authority=False,
        to_channel_from_bot_login_url=login_url or identity.token_url,
        to_channel_from_bot_oauth_scope=CONNECTOR_AUDIENCE,
        to_bot_from_channel_token_issuer=BOT_FRAMEWORK_ISSUER, oauth_url="https://api.botframework.com",
        to_bot_from_channel_open_id_metadata_url=identity.openid_metadata_url,
        to_bot_from_emulator_open_id_metadata_url=identity.openid_metadata_url,
        credential_factory=PasswordServiceClientCredentialFactory(DEFAULT_APP_ID, DEFAULT_APP_PASSWORD))


async def test_stock_botframework_connector_accepts_minted_tokens_and_refuses_forgeries() -> None:
    identity = BotFrameworkIdentity()
    with ServerThread(identity):           # botbuilder fetches keys with blocking requests calls
        auth = stock_authentication(identity)
        activity = Activity().deserialize(personal_message("help", service_url=SERVICE_URL))
        result = await auth.authenticate_request(activity, f"Bearer {identity.mint(service_url=SERVICE_URL)}")
        assert result.claims_identity.is_authenticated
        assert result.claims_identity.claims["aud"] == DEFAULT_APP_ID
        for kind in ("rogue", "expired", "wrong audience", "wrong issuer"):
            token = forged(identity, kind)
            if kind == "expired":                   # botbuilder allows 5 minutes of clock skew
                token = identity.mint(service_url=SERVICE_URL, expires_in=-400)
            with pytest.raises(Exception):  # noqa: B017, PT011 - botbuilder raises several types
                await auth.authenticate_request(activity, f"Bearer {token}")
        other_url = identity.mint(service_url="https://evil.example/")
        with pytest.raises(PermissionError):
            await auth.authenticate_request(activity, f"Bearer {other_url}")
        assert identity.key_fetches == 1            # botbuilder caches the keys for a day


async def test_stock_botbuilder_runs_against_the_https_mocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a benchmark does: stock botbuilder authenticates the inbound token over https (the CA
    in REQUESTS_CA_BUNDLE), gets a connector token from MSAL at the adfs authority and replies."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", local_ca().ca_bundle)
    identity = BotFrameworkIdentity(https=True)
    connector = BotConnectorMock(identity)
    with ServerThread(identity, connector):
        assert identity.openid_metadata_url.startswith("https://127.0.0.1:")
        auth = stock_authentication(identity, login_url=identity.adfs_authority)
        inbound = personal_message("help", service_url=connector.service_url)
        header = identity.authorization(inbound)["Authorization"]
        result = await auth.authenticate_request(Activity().deserialize(inbound), header)
        factory = auth.create_connector_factory(result.claims_identity)
        client = await factory.create(connector.service_url, CONNECTOR_AUDIENCE)
        reply = Activity(type="message", text="Here is what I can do")
        await client.conversations.send_to_conversation(inbound["conversation"]["id"], reply)
        posted = connector.wait_activity(timeout=5)
    assert posted.conversation_id == inbound["conversation"]["id"]
    assert posted["text"] == "Here is what I can do"
    assert posted.app_id == DEFAULT_APP_ID and identity.tokens_issued == 1


async def test_a_stock_cloud_adapter_answers_through_the_mocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's baseline: botbuilder-core's CloudAdapterBase, unmodified, replies to a turn."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", local_ca().ca_bundle)
    identity = BotFrameworkIdentity(https=True)
    connector = BotConnectorMock(identity)

    async def echo(turn: TurnContext) -> None:
        await turn.send_activity(f"echo {turn.activity.text}")

    with ServerThread(identity, connector):
        adapter = CloudAdapterBase(stock_authentication(identity, login_url=identity.adfs_authority))
        inbound = personal_message("help", service_url=connector.service_url)
        await adapter.process_activity(identity.authorization(inbound)["Authorization"],
                                       Activity().deserialize(inbound), echo)
        posted = connector.wait_activity(timeout=5)
        assert (posted.kind, posted.target_id, posted["text"]) == ("reply", inbound["id"], "echo help")
        forged_header = f"Bearer {identity.mint(key='rogue', service_url=connector.service_url)}"
        with pytest.raises(jwt.InvalidSignatureError):     # what CloudAdapter turns into a 500 (T2)
            await adapter.process_activity(forged_header, Activity().deserialize(inbound), echo)
    assert len(connector.activities()) == 1


async def test_https_is_verified_against_the_local_ca(http: aiohttp.ClientSession) -> None:
    async with BotFrameworkIdentity(https=True) as identity:
        async with http.get(identity.openid_metadata_url, ssl=local_ca().client_context()) as response:
            assert response.status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with http.get(identity.openid_metadata_url):
                pass
        assert identity.ca_bundle == local_ca().ca_bundle


# ---------------------------------------------------------------------- activity builders

def test_a_personal_message_reads_as_teams_sends_it() -> None:
    raw = personal_message("help", user_aad=DEFAULT_USER_AAD, local_timezone="America/Toronto",
                           locale="fr-CA")
    activity = Activity().deserialize(raw)
    assert activity.channel_id == "msteams" and activity.text == "help"
    assert activity.conversation.conversation_type == "personal"
    assert raw["conversation"]["tenantId"] == DEFAULT_TENANT
    # botbuilder-python maps ConversationAccount.tenant_id to "tenantID", so it drops Teams'
    # conversation.tenantId: read the tenant from channelData.
    assert activity.conversation.tenant_id is None
    assert TeamsChannelData().deserialize(activity.channel_data).tenant.id == DEFAULT_TENANT
    assert activity.from_property.aad_object_id == DEFAULT_USER_AAD and activity.from_property.id == AMA
    assert activity.recipient.id == f"28:{DEFAULT_APP_ID}"
    assert activity.local_timezone == "America/Toronto" and activity.locale == "fr-CA"
    assert raw["entities"][0] == {"type": "clientInfo", "locale": "fr-CA", "country": "CA",
                                  "platform": "Web", "timezone": "America/Toronto"}
    reference = TurnContext.get_conversation_reference(activity)
    assert reference.conversation.id == CONVERSATION and reference.service_url == SERVICE_URL
    assert raw["timestamp"].endswith("Z") and raw["localTimestamp"][-6:] in ("-04:00", "-05:00")
    again = personal_message("help")
    assert again["id"] != raw["id"] and int(again["id"]) > int(raw["id"])    # unique, increasing
    assert json.loads(json.dumps(raw)) == raw


def test_card_clicks() -> None:
    submitted = card_submit({"choice": "attending"}, reply_to_id="1750000000001")
    assert submitted["type"] == "message" and "text" not in submitted
    assert submitted["value"] == {"choice": "attending"} and submitted["replyToId"] == "1750000000001"
    executed = Activity().deserialize(card_execute_invoke("rsvp", {"session": 7}))
    assert executed.type == "invoke" and executed.name == "adaptiveCard/action"
    assert executed.value == {"action": {"type": "Action.Execute", "verb": "rsvp", "data": {"session": 7}},
                              "trigger": "manual"}


def test_bot_added_and_channel_mentions() -> None:
    added = bot_added()
    assert added["type"] == "conversationUpdate"
    assert added["membersAdded"] == [{"id": f"28:{DEFAULT_APP_ID}"}]
    assert added["conversation"]["id"] == CONVERSATION
    team = Activity().deserialize(bot_added(scope="team"))
    assert teams_get_team_info(team).id == DEFAULT_TEAM_ID
    mention = Activity().deserialize(channel_mention("help"))
    assert mention.conversation.conversation_type == "channel"
    assert mention.conversation.id == f"{DEFAULT_CHANNEL_ID};messageid={mention.id}"
    assert teams_get_channel_id(mention) == DEFAULT_CHANNEL_ID
    assert TurnContext.remove_recipient_mention(mention).strip() == "help"
