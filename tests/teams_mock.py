"""A local Bot Framework for Teams adapter tests and benchmarks: the identity side and the Bot Connector.

`BotFrameworkIdentity` plays the Bot Framework login service and the Azure AD token endpoint:

- `GET /openid/.well-known/openidconfiguration` (also `/v1/.well-known/openidconfiguration`):
  OpenID metadata like Bot Framework's, `jwks_uri` pointing at `GET /openid/keys`;
- `GET /openid/keys`: the JWKS, one RSA key per published key, each with `endorsements`
  (the channel ids the key may sign for, ["msteams"] by default);
- `POST /oauth2/v2.0/token` (also `/{tenant}/oauth2/v2.0/token`): the client-credentials grant,
  answering a connector access token for the right app id and password, Azure AD's errors
  otherwise;
- `GET /{tenant}/.well-known/openid-configuration` and `/{tenant}/v2.0/...`: tenant discovery,
  so MSAL (botbuilder's `MicrosoftAppCredentials`) can use `adfs_authority` when served over https.

`identity.mint(...)` signs tokens as the Bot Framework channel sends them to a bot (iss
"https://api.botframework.com", aud = app id, `serviceurl`), and the forgeries an adapter must
refuse: signed with an unpublished "rogue" key, expired, not yet valid, `alg: none`, HS256 keyed
with the public key, wrong audience or issuer, unknown kid. `identity.authorization(activity)`
gives the header to POST an activity with.

`BotConnectorMock` plays the Bot Connector REST API v3 that `serviceUrl` names. It checks the
bearer token (one the identity's token endpoint issued: RS256, published key, aud
"https://api.botframework.com", not expired on the mock's clock, appid = the app), answers 401
otherwise, records every call and keeps each conversation's activities:

    connector.fail_next("send", status=429, retry_after=2)
    connector.make_unreachable(conversation_id)                 # 403 MessageWritesBlocked from now on
    posted = await connector.next_activity()

Both bind 127.0.0.1 port 0 and run on the test's loop (`await x.start()`, or `async with x`),
or on their own loop in a daemon thread with `ServerThread(identity, connector)`: botbuilder
fetches keys and tokens with blocking `requests` calls, which would deadlock a mock served by
the very loop they block (PLATFORMS T8). `https=True` serves TLS with a throwaway CA whose
certificate is at `local_ca().ca_bundle` (for `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE` or
`ssl=local_ca().client_context()`).

Every accessor is thread-safe: the servers mutate state under one lock each.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from assistant.clock import Clock
from tests.mock_server import AppServer, CallWaiters, LoopThread, take_failure
from tests.teams_activities import DEFAULT_APP_ID, DEFAULT_TENANT, personal_conversation_id, teams_user_id

T = TypeVar("T")
Json = dict[str, Any]
Reply = tuple[int, Any, str | None]   # a connector answer: status, JSON (None: empty), new id

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"   # iss of the tokens the channel sends the bot
CONNECTOR_AUDIENCE = "https://api.botframework.com"     # aud of the tokens the bot sends the connector
CONNECTOR_SCOPE = f"{CONNECTOR_AUDIENCE}/.default"
BOT_FRAMEWORK_TENANT = "d6d49420-f39b-4df7-a1dc-d59a935871db"  # the botframework.com AAD tenant
TOKEN_ISSUER = f"https://sts.windows.net/{BOT_FRAMEWORK_TENANT}/"  # iss of the connector tokens (AAD v1)
DEFAULT_APP_PASSWORD = "spoke-test-app-password"
KEY_IDS = {"good": "spoke-test-key", "next": "spoke-test-key-2", "rogue": "spoke-rogue-key"}
AAD_BACKDATE = 300          # Azure AD dates iat/nbf of its tokens five minutes back
DENIED = {"message": "Authorization has been denied for this request."}

# Default error codes of the Bot Connector (Teams) per HTTP status, as in its error bodies.
CONNECTOR_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadArgument", "Invalid request."),
    403: ("MessageWritesBlocked", "Thread is blocked from message writes: the bot was blocked or "
                                  "uninstalled by the user."),
    404: ("ConversationNotFound", "Conversation not found."),
    412: ("PreconditionFailed", "Precondition failed, please try again."),
    413: ("MessageSizeTooBig", "Message size too large."),
    429: ("Throttled", "Too many requests. Please retry after some time."),
    500: ("ServiceError", "Internal server error."),
    502: ("ServiceError", "Bad gateway: the service is temporarily unavailable."),
    503: ("ServiceUnavailable", "Service unavailable."),
    504: ("GatewayTimeout", "Gateway timeout."),
}


# ---------------------------------------------------------------------- keys and TLS

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


_VALIDITY = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2045, 1, 1, tzinfo=UTC))


def _certificate(subject: str, public_key: Any, signer: Any, issuer: str | None = None,
                 extensions: Iterable[tuple[x509.ExtensionType, bool]] = ()) -> x509.Certificate:
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or subject)]))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(_VALIDITY[0]).not_valid_after(_VALIDITY[1]))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signer, hashes.SHA256())


@dataclass(frozen=True)
class SigningKey:
    """An RSA 2048 key pair with a self-signed certificate, as Bot Framework publishes its keys."""

    name: str
    kid: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @property
    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def x5t(self) -> str:
        return _b64url(hashlib.sha1(self.certificate.public_bytes(serialization.Encoding.DER)).digest())  # noqa: S324 - x5t is SHA-1 by definition

    def jwk(self, endorsements: Iterable[str]) -> Json:
        numbers = self.public_key.public_numbers()
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.x5t,
                "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e),
                "x5c": [base64.b64encode(der).decode()], "endorsements": list(endorsements)}


_keys: dict[str, SigningKey] = {}
_keys_lock = threading.Lock()


def signing_key(name: str) -> SigningKey:
    """The process-wide key pair "good" (published), "next" (for rotation) or "rogue" (never
    published), generated on first use."""
    if name not in KEY_IDS:
        raise ValueError(f"key is one of {sorted(KEY_IDS)}")
    with _keys_lock:
        if name not in _keys:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            cert = _certificate(f"spoke-test-{name}", private.public_key(), private)
            _keys[name] = SigningKey(name, KEY_IDS[name], private, cert)
        return _keys[name]


@dataclass(frozen=True)
class LocalCA:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""

    directory: Path
    ca_bundle: str          # the CA certificate: REQUESTS_CA_BUNDLE, SSL_CERT_FILE, requests' verify=
    cert_file: str
    key_file: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_bundle)


_ca: LocalCA | None = None


def local_ca() -> LocalCA:
    global _ca
    with _keys_lock:
        if _ca is None:
            directory = Path(tempfile.mkdtemp(prefix="spoke-teams-ca-"))
            atexit.register(shutil.rmtree, directory, True)
            ca_key = ec.generate_private_key(ec.SECP256R1())
            ca_cert = _certificate("Spoke Test CA", ca_key.public_key(), ca_key, extensions=[
                (x509.BasicConstraints(ca=True, path_length=0), True),
                (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                               content_commitment=False, key_encipherment=False, data_encipherment=False,
                               key_agreement=False, encipher_only=False, decipher_only=False), True)])
            server_key = ec.generate_private_key(ec.SECP256R1())
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            server_cert = _certificate("127.0.0.1", server_key.public_key(), ca_key, issuer="Spoke Test CA",
                                       extensions=[(x509.SubjectAlternativeName(names), False),
                                                   (x509.BasicConstraints(ca=False, path_length=None), True)])
            pem = serialization.Encoding.PEM
            (directory / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
            (directory / "server.pem").write_bytes(server_cert.public_bytes(pem))
            (directory / "server.key").write_bytes(server_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            _ca = LocalCA(directory, str(directory / "ca.pem"), str(directory / "server.pem"),
                          str(directory / "server.key"))
        return _ca


# ---------------------------------------------------------------------- shared server plumbing

@dataclass
class _Failure:
    status: int | None
    code: str | None
    message: str | None
    retry_after: int | None
    delay: float | None
    remaining: int | None          # None: until clear_failures()


class _Server:
    """One aiohttp app on 127.0.0.1:0, a clock, scripted failures per request kind."""

    KINDS: tuple[str, ...] = ()

    def __init__(self, *, clock: Clock | None, https: bool) -> None:
        self.clock = clock
        self.https = https
        self._lock = threading.RLock()
        self._failures: dict[str, list[_Failure]] = {}
        self._server = AppServer()

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        self._routes(app)
        await self._server.start(app, host, port, local_ca().server_context() if self.https else None)

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self: T) -> T:
        await self.start()  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if not self._server.base:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.base

    @property
    def ca_bundle(self) -> str | None:
        """The CA file that verifies this server's certificate (https only)."""
        return local_ca().ca_bundle if self.https else None

    def now(self) -> float:
        """Seconds since the epoch on the mock's clock (the wall clock without one)."""
        return self.clock.now().timestamp() if self.clock is not None else time.time()

    def _queue_failure(self, kind: str, failure: _Failure) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"{kind!r} is not one of {self.KINDS}")
        with self._lock:
            self._failures.setdefault(kind, []).append(failure)

    def clear_failures(self, kind: str | None = None) -> None:
        with self._lock:
            if kind is None:
                self._failures.clear()
            else:
                self._failures.pop(kind, None)

    def _take_failure(self, kind: str) -> _Failure | None:
        with self._lock:
            return take_failure(self._failures, kind)


# ---------------------------------------------------------------------- identity

class TokenRequest(NamedTuple):
    """One call of the token endpoint (the secret is never kept)."""

    client_id: str | None
    grant_type: str | None
    scope: str | None
    status: int
    error: str | None
    at: float


def _aad_error(error: str, code: int, description: str) -> Json:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {"error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: "
                                 f"{correlation} Timestamp: {stamp}",
            "error_codes": [code], "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
            "error_uri": f"https://127.0.0.1/error?code={code}"}


class BotFrameworkIdentity(_Server):
    """OpenID metadata, signing keys and the client-credentials token endpoint of Bot Framework.

    `app_id`/`app_password` are the one app the token endpoint knows; `endorsements` go on every
    published key; `clock` (an assistant.clock.Clock) dates minted and issued tokens.
    """

    KINDS = ("metadata", "keys", "token")

    def __init__(self, *, app_id: str = DEFAULT_APP_ID, app_password: str = DEFAULT_APP_PASSWORD,
                 endorsements: Iterable[str] = ("msteams",), clock: Clock | None = None,
                 https: bool = False) -> None:
        super().__init__(clock=clock, https=https)
        self.app_id, self.app_password = app_id, app_password
        self.endorsements = list(endorsements)
        self._published: list[str] = ["good"]
        self._metadata_fetches = self._key_fetches = 0
        self._token_requests: list[TokenRequest] = []
        signing_key("good")                     # generate before the first request, not during it

    # ------------------------------------------------------------------ addresses

    @property
    def openid_metadata_url(self) -> str:
        """For SPOKE_TEAMS_OPENID_METADATA_URL / botbuilder's TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL."""
        return f"{self.base_url}/openid/.well-known/openidconfiguration"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/openid/keys"

    @property
    def token_url(self) -> str:
        """The token endpoint itself, for SPOKE_TEAMS_TOKEN_URL."""
        return f"{self.base_url}/oauth2/v2.0/token"

    @property
    def adfs_authority(self) -> str:
        """An MSAL authority for stock botbuilder (TO_CHANNEL_FROM_BOT_LOGIN_URL); needs https=True.
        MSAL skips instance discovery for an "adfs" tenant and reads this server's tenant discovery."""
        return f"{self.base_url}/adfs"

    # ------------------------------------------------------------------ set-up and inspection

    def publish(self, *names: str) -> None:
        """Publish exactly these keys ("good", "next") in the JWKS, e.g. to rotate keys."""
        if "rogue" in names or not names:
            raise ValueError("publish one or more of 'good' and 'next'")
        for name in names:
            signing_key(name)
        with self._lock:
            self._published = list(names)

    @property
    def published(self) -> list[str]:
        with self._lock:
            return list(self._published)

    def key(self, name: str = "good") -> SigningKey:
        return signing_key(name)

    def fail_next(self, kind: str, *, status: int = 503, retry_after: int | None = None,
                  error: str | None = None, times: int = 1, delay: float | None = None) -> None:
        """Script the next `times` requests of `kind` ("metadata", "keys" or "token") to answer
        `status` after `delay` seconds. Token failures carry Azure AD's JSON error (`error`, by
        default "temporarily_unavailable"); 429 also `Retry-After` (default 1)."""
        self._queue_failure(kind, _Failure(status, error, None, retry_after, delay, times))

    def fail_always(self, kind: str, *, status: int = 503, retry_after: int | None = None,
                    error: str | None = None, delay: float | None = None) -> None:
        self._queue_failure(kind, _Failure(status, error, None, retry_after, delay, None))

    @property
    def metadata_fetches(self) -> int:
        with self._lock:
            return self._metadata_fetches

    @property
    def key_fetches(self) -> int:
        """How many times the JWKS was fetched: an adapter that caches keys fetches it once."""
        with self._lock:
            return self._key_fetches

    @property
    def token_requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._token_requests)

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return sum(1 for r in self._token_requests if r.status == 200)

    def reset(self) -> None:
        """Forget counts, token requests and failures; publish the good key alone again."""
        with self._lock:
            self._metadata_fetches = self._key_fetches = 0
            self._token_requests.clear()
            self._failures.clear()
            self._published = ["good"]

    # ------------------------------------------------------------------ tokens

    def mint(self, *, app_id: str | None = None, service_url: str | None,
             issuer: str = BOT_FRAMEWORK_ISSUER, audience: str | None = None, expires_in: int = 3600,
             not_before_offset: int = 0, key: str = "good", alg: str = "RS256", kid: str | None = None,
             extra_claims: Mapping[str, Any] | None = None, extra_headers: Mapping[str, Any] | None = None,
             now: float | None = None) -> str:
        """A token as the Bot Framework channel sends it to the bot (`Authorization: Bearer …`).

        Claims: iss, aud (default `app_id`, default this app), nbf (now + not_before_offset),
        exp (now + expires_in), serviceurl (left out when `service_url` is None). Header: alg,
        kid, x5t, typ. `extra_claims` adds claims, a None value removes one; likewise
        `extra_headers`. Forgeries:

        - key="rogue": signed with a key never published, under the good key's kid by default;
          key="next": a real key, published only after `publish("good", "next")`;
        - alg="none": `header.payload.` with `{"alg": "none"}` and no signature;
        - alg="HS256": HMAC-SHA256 keyed with the public key's PEM (the key-confusion attack);
        - kid="unknown": a kid the JWKS does not have.
        """
        issued_at = int(self.now() if now is None else now)
        claims: Json = {"serviceurl": service_url, "nbf": issued_at + not_before_offset,
                        "exp": issued_at + expires_in, "iss": issuer,
                        "aud": audience if audience is not None else (app_id or self.app_id)}
        claims |= dict(extra_claims or {})
        claims = {k: v for k, v in claims.items() if v is not None}
        return self._sign(claims, key=key, alg=alg, kid=kid, extra_headers=extra_headers)

    def authorization(self, activity: Mapping[str, Any], **mint_kwargs: Any) -> dict[str, str]:
        """The Authorization header the channel would send with `activity` (its serviceUrl)."""
        mint_kwargs.setdefault("service_url", activity.get("serviceUrl"))
        return {"Authorization": f"Bearer {self.mint(**mint_kwargs)}"}

    def issue_access_token(self, *, app_id: str | None = None, audience: str = CONNECTOR_AUDIENCE,
                           expires_in: int = 3600, key: str = "good", now: float | None = None,
                           extra_claims: Mapping[str, Any] | None = None) -> str:
        """The access token the token endpoint answers (an Azure AD v1 app token for the
        connector); the connector accepts it. Tests forge their own with other arguments."""
        issued_at = int(self.now() if now is None else now)
        app = app_id or self.app_id
        claims: Json = {"aud": audience, "iss": TOKEN_ISSUER, "iat": issued_at - AAD_BACKDATE,
                        "nbf": issued_at - AAD_BACKDATE, "exp": issued_at + expires_in,
                        "aio": _b64url(uuid.uuid4().bytes), "appid": app, "appidacr": "1",
                        "idp": TOKEN_ISSUER, "idtyp": "app", "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, app)),
                        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, app)), "tid": BOT_FRAMEWORK_TENANT,
                        "uti": _b64url(uuid.uuid4().bytes), "ver": "1.0"}
        claims |= dict(extra_claims or {})
        return self._sign({k: v for k, v in claims.items() if v is not None}, key=key, alg="RS256",
                          kid=None, extra_headers=None)

    def verify_access_token(self, token: str, *, now: float | None = None) -> Json:
        """The claims of a connector token this identity issued, or jwt.InvalidTokenError."""
        header = jwt.get_unverified_header(token)
        with self._lock:
            trusted = {signing_key(n).kid: signing_key(n) for n in ("good", "next")}
        signer = trusted.get(header.get("kid", ""))
        if signer is None:
            raise jwt.InvalidTokenError("unknown key id")
        claims = jwt.decode(token, signer.public_key, algorithms=["RS256"], audience=CONNECTOR_AUDIENCE,
                            issuer=TOKEN_ISSUER, options={"verify_exp": False, "verify_nbf": False,
                                                          "verify_iat": False,
                                                          "require": ["exp", "nbf", "aud", "iss", "appid"]})
        moment = self.now() if now is None else now
        if moment >= claims["exp"]:
            raise jwt.ExpiredSignatureError("token expired")
        if moment < claims["nbf"]:
            raise jwt.ImmatureSignatureError("token not yet valid")
        if claims["appid"] != self.app_id:
            raise jwt.InvalidTokenError("token issued to another app")
        return claims

    def _sign(self, claims: Json, *, key: str, alg: str, kid: str | None,
              extra_headers: Mapping[str, Any] | None) -> str:
        signer = signing_key(key)
        header: Json = {"alg": alg, "kid": kid or (KEY_IDS["good"] if key == "rogue" else signer.kid),
                        "typ": "JWT"}
        if alg == "RS256":
            header["x5t"] = signing_key("good").x5t if key == "rogue" and kid is None else signer.x5t
        header |= dict(extra_headers or {})
        header = {k: v for k, v in header.items() if v is not None}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        if alg == "none":
            return signing_input + "."
        if alg == "HS256":
            mac = hmac.new(signing_key("good" if key == "rogue" else key).public_pem,
                           signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{_b64url(mac)}"
        if alg != "RS256":
            raise ValueError("alg is RS256, none or HS256")
        headers = {k: v for k, v in header.items() if k not in ("alg", "typ")}
        return jwt.encode(claims, signer.private_key, algorithm="RS256", headers=headers)

    # ------------------------------------------------------------------ HTTP

    def _routes(self, app: web.Application) -> None:
        for path in ("/openid/.well-known/openidconfiguration", "/v1/.well-known/openidconfiguration"):
            app.router.add_get(path, self._serve_metadata)
        for path in ("/openid/keys", "/v1/.well-known/keys"):
            app.router.add_get(path, self._serve_keys)
        app.router.add_post("/oauth2/v2.0/token", self._serve_token)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._serve_token)
        app.router.add_get("/{tenant}/.well-known/openid-configuration", self._serve_tenant_discovery)
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._serve_tenant_discovery)

    async def _scripted(self, kind: str) -> _Failure | None:
        failure = self._take_failure(kind)
        if failure is not None and failure.delay:
            await asyncio.sleep(failure.delay)
        return failure

    @staticmethod
    def _plain_failure(failure: _Failure) -> web.Response:
        headers = {"Retry-After": str(failure.retry_after or 1)} if (
            failure.status == 429 or failure.retry_after is not None) else {}
        return web.Response(status=failure.status or 503, text="Service Unavailable", headers=headers)

    async def _serve_metadata(self, request: web.Request) -> web.Response:
        with self._lock:
            self._metadata_fetches += 1
        failure = await self._scripted("metadata")
        if failure is not None and failure.status:
            return self._plain_failure(failure)
        return web.json_response({
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        })

    async def _serve_keys(self, request: web.Request) -> web.Response:
        with self._lock:
            self._key_fetches += 1
            published = list(self._published)
        failure = await self._scripted("keys")
        if failure is not None and failure.status:
            return self._plain_failure(failure)
        return web.json_response({"keys": [signing_key(n).jwk(self.endorsements) for n in published]})

    async def _serve_tenant_discovery(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        base = f"{self.base_url}/{tenant}"
        return web.json_response({
            "issuer": TOKEN_ISSUER if tenant != "adfs" else base,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": self.jwks_url,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })

    async def _serve_token(self, request: web.Request) -> web.Response:
        arrived = time.time()
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        client_id, secret = fields.get("client_id"), fields.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):          # client_secret_basic
            with contextlib.suppress(ValueError):
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        grant_type, scope = fields.get("grant_type"), fields.get("scope")
        status, answer, headers = await self._token_answer(client_id, secret, grant_type, scope)
        with self._lock:
            self._token_requests.append(TokenRequest(client_id, grant_type, scope, status,
                                                     answer.get("error"), arrived))
        return web.json_response(answer, status=status, headers=headers)

    async def _token_answer(self, client_id: str | None, secret: str | None, grant_type: str | None,
                            scope: str | None) -> tuple[int, Json, dict[str, str]]:
        failure = await self._scripted("token")
        if failure is not None and failure.status:
            headers = {"Retry-After": str(failure.retry_after or 1)} if (
                failure.status == 429 or failure.retry_after is not None) else {}
            error = failure.code or "temporarily_unavailable"
            return failure.status, _aad_error(error, 50196 if failure.status == 429 else 90033,
                                              "The service is temporarily unavailable."), headers
        if grant_type != "client_credentials":
            return 400, _aad_error("unsupported_grant_type", 70003,
                                   "The app requested an unsupported grant type."), {}
        if not client_id:
            return 400, _aad_error("invalid_request", 900144,
                                   "The request body must contain the following parameter: 'client_id'."), {}
        if client_id != self.app_id:
            return 400, _aad_error("unauthorized_client", 700016,
                                   f"Application with identifier '{client_id}' was not found in the "
                                   "directory 'Bot Framework'."), {}
        if not secret:
            return 401, _aad_error("invalid_client", 7000218,
                                   "The request body must contain the following parameter: "
                                   "'client_assertion' or 'client_secret'."), {}
        if not hmac.compare_digest(secret.encode(), self.app_password.encode()):
            return 401, _aad_error("invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the secret being sent in the "
                                   f"request is the client secret value, not the client secret ID, for a "
                                   f"secret added to app '{client_id}'."), {}
        if not scope or not scope.endswith("/.default"):
            return 400, _aad_error("invalid_scope", 1002012,
                                   f"The provided value for scope {scope} is not valid. Client credential "
                                   "flows must have a scope value with /.default suffixed to the resource "
                                   "identifier (application ID URI)."), {}
        if scope.removesuffix("/.default") != CONNECTOR_AUDIENCE:
            return 400, _aad_error("invalid_resource", 500011,
                                   f"The resource principal named {scope.removesuffix('/.default')} was "
                                   "not found in the tenant named Bot Framework."), {}
        token = self.issue_access_token(app_id=client_id)
        return 200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                     "access_token": token}, {}


# ---------------------------------------------------------------------- connector

@dataclass(frozen=True)
class ConnectorCall:
    """One request the connector answered. `call["text"]` reads the body's field."""

    kind: str                   # send, reply, update, delete, create, member, members
    http_method: str
    path: str
    conversation_id: str | None
    target_id: str | None       # the activity id in the path (reply, update, delete) or member id
    id: str | None              # the id answered: new activity (send, reply), conversation (create)
    body: Any                   # the decoded JSON body, or None
    headers: dict[str, str]     # without Authorization
    app_id: str | None          # appid of the bearer token; None when refused
    status: int
    answer: Any
    at: float

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default) if isinstance(self.body, dict) else default

    @property
    def activity(self) -> Json:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        if isinstance(self.answer, dict) and isinstance(self.answer.get("error"), dict):
            code = self.answer["error"].get("code")
            return str(code) if code is not None else None
        return None


def _connector_error(status: int, code: str | None = None, message: str | None = None) -> Json:
    default_code, default_message = CONNECTOR_ERRORS.get(status, ("ServiceError", "Error."))
    return {"error": {"code": code or default_code, "message": message or default_message}}


_MEMBER_FIELDS = {"aad_object_id": "aadObjectId", "user_principal_name": "userPrincipalName",
                  "tenant_id": "tenantId", "given_name": "givenName", "user_role": "userRole"}
_ACCOUNT_KEYS = ("id", "name", "aadObjectId", "email", "userPrincipalName", "tenantId", "givenName",
                 "surname", "userRole")


@dataclass
class _State:
    calls: list[ConnectorCall] = field(default_factory=list)
    consumed: dict[str, int] = field(default_factory=dict)   # kind -> calls handed to next_call
    posted: list[ConnectorCall] = field(default_factory=list)
    posted_consumed: int = 0
    conversations: dict[str, list[Json]] = field(default_factory=dict)  # id -> current activities
    unreachable: dict[str, tuple[int, str | None, str | None]] = field(default_factory=dict)


class BotConnectorMock(_Server):
    """The Bot Connector REST API v3 at `service_url` (which ends with "/emea/" like Teams' own,
    so a client that drops the path when joining URLs gets 404s).

    `identity` checks the bearer tokens; `clock` defaults to the identity's. With
    `strict_activity_ids`, updating or deleting an activity the mock never stored answers 404.
    """

    KINDS = ("send", "update", "delete", "create", "member")
    PREFIX = "/emea"

    def __init__(self, identity: BotFrameworkIdentity, *, clock: Clock | None = None, https: bool = False,
                 strict_activity_ids: bool = False) -> None:
        super().__init__(clock=clock or identity.clock, https=https)
        self.identity = identity
        self.strict_activity_ids = strict_activity_ids
        self._members: dict[str, Json] = {}
        self._installed: dict[str, bool] = {}
        self._state = _State()
        self._seq = 0
        self._waiters = CallWaiters(self._lock)
        self._loop_thread: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await super().start(host, port)
        self._loop_thread = threading.get_ident()

    @property
    def service_url(self) -> str:
        """The activities' `serviceUrl`, ending with "/"."""
        return f"{self.base_url}{self.PREFIX}/"

    # ------------------------------------------------------------------ set-up

    def add_member(self, member_id: str, **fields: Any) -> Json:
        """A user the member endpoints know, by Teams id ("29:…"). Fields (camelCase or snake_case):
        name, aadObjectId, email, userPrincipalName, tenantId (default the test tenant), givenName,
        surname, userRole (default "user"); `installed=False` makes creating a conversation with
        them answer 403 (the app is not installed for them)."""
        installed = bool(fields.pop("installed", True))
        account: Json = {"id": member_id, "tenantId": DEFAULT_TENANT, "userRole": "user"}
        account |= {_MEMBER_FIELDS.get(k, k): v for k, v in fields.items()}
        with self._lock:
            self._members[member_id] = account
            self._installed[member_id] = installed
        return dict(account)

    def add_user(self, aad_object_id: str, **fields: Any) -> Json:
        """add_member under the Teams id that tests/teams_activities.py gives this AAD user."""
        return self.add_member(teams_user_id(aad_object_id), aadObjectId=aad_object_id, **fields)

    def fail_next(self, kind: str, *, status: int | None = None, retry_after: int | None = None,
                  code: str | None = None, message: str | None = None, times: int = 1,
                  delay: float | None = None) -> None:
        """Script the next `times` authenticated requests of `kind`: "send" (send and reply),
        "update", "delete", "create" or "member" (one member or the list).

        status 429 (implied by retry_after) answers `Retry-After: N` (default 1) and
        `{"error": {"code": "Throttled", ...}}`; 403 MessageWritesBlocked, 404 ConversationNotFound
        (MemberNotFoundInConversation for "member"), 412 PreconditionFailed, 502 ServiceError…;
        `code`/`message` override. `delay` answers that much later; with delay alone the request
        then succeeds and takes effect.
        """
        if status is None and retry_after is None and delay is None:
            raise ValueError("fail_next needs status, retry_after or delay")
        if retry_after is not None and status is None:
            status = 429
        self._queue_failure(kind, _Failure(status, code, message, retry_after, delay, times))

    def fail_always(self, kind: str, *, status: int | None = None, retry_after: int | None = None,
                    code: str | None = None, message: str | None = None, delay: float | None = None) -> None:
        self.fail_next(kind, status=status, retry_after=retry_after, code=code, message=message, delay=delay)
        with self._lock:
            self._failures[kind][-1].remaining = None

    def make_unreachable(self, conversation_id: str, *, status: int = 403, code: str | None = None,
                         message: str | None = None) -> None:
        """From now on sends, updates and deletes in this conversation answer `status` (403
        MessageWritesBlocked: the user blocked or uninstalled the bot; 404 ConversationNotFound)."""
        with self._lock:
            self._state.unreachable[conversation_id] = (status, code, message)

    def reset(self) -> None:
        """Forget calls, activities, failures and unreachable conversations; keep members."""
        with self._lock:
            self._state = _State()
            self._failures.clear()

    # ------------------------------------------------------------------ inspection

    def calls(self, kind: str | None = None) -> list[ConnectorCall]:
        with self._lock:
            return [c for c in self._state.calls if kind is None or c.kind == kind]

    def activities(self, conversation_id: str | None = None) -> list[ConnectorCall]:
        """The sends and replies the mock accepted (status 201), oldest first."""
        with self._lock:
            return [c for c in self._state.posted if conversation_id in (None, c.conversation_id)]

    def conversation(self, conversation_id: str) -> list[Json]:
        """The conversation's activities now, as posted and then updated (deleted ones gone)."""
        with self._lock:
            return [dict(a) for a in self._state.conversations.get(conversation_id, [])]

    async def next_activity(self, timeout: float = 5) -> ConnectorCall:  # noqa: ASYNC109 - a test's one-liner
        """The first accepted send or reply not yet handed out, waiting for it if need be."""
        return await self._waiters.wait(self._take_activity, timeout, "an activity", self._summary)

    async def next_call(self, kind: str, timeout: float = 5) -> ConnectorCall:  # noqa: ASYNC109 - as above
        """The first call of `kind` (any status) not yet handed out by next_call."""
        return await self._waiters.wait(lambda: self._take_call(kind), timeout, f"a {kind} call",
                                        self._summary)

    def wait_activity(self, timeout: float = 5) -> ConnectorCall:
        """next_activity for synchronous code in another thread than the mock's."""
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("wait_activity would block the mock's own event loop; await next_activity")
        return self._waiters.wait_blocking(self._take_activity, timeout, "activity", self._summary)

    def _take_activity(self) -> ConnectorCall | None:
        if self._state.posted_consumed >= len(self._state.posted):
            return None
        self._state.posted_consumed += 1
        return self._state.posted[self._state.posted_consumed - 1]

    def _take_call(self, kind: str) -> ConnectorCall | None:
        of_kind = [c for c in self._state.calls if c.kind == kind]
        index = self._state.consumed.get(kind, 0)
        if index >= len(of_kind):
            return None
        self._state.consumed[kind] = index + 1
        return of_kind[index]

    def _summary(self) -> list[str]:
        with self._lock:
            return [f"{c.kind}:{c.status}" for c in self._state.calls]

    def _record(self, call: ConnectorCall) -> None:
        with self._lock:
            self._state.calls.append(call)
            if call.kind in ("send", "reply") and call.status == 201:
                self._state.posted.append(call)
            self._waiters.notify()

    # ------------------------------------------------------------------ HTTP

    def _routes(self, app: web.Application) -> None:
        v3 = f"{self.PREFIX}/v3/conversations"
        one = v3 + "/{conversation_id}/activities/{activity_id}"
        app.router.add_post(v3, self._handler("create", self._create))
        app.router.add_get(v3 + "/{conversation_id}/members", self._handler("members", self._list_members))
        app.router.add_get(v3 + "/{conversation_id}/members/{member_id}",
                           self._handler("member", self._member))
        app.router.add_post(v3 + "/{conversation_id}/activities", self._handler("send", self._send))
        app.router.add_post(one, self._handler("reply", self._send))
        app.router.add_put(one, self._handler("update", self._update))
        app.router.add_delete(one, self._handler("delete", self._delete))

    def _handler(self, kind: str, answer: Callable[[str, Any, Mapping[str, str], str], Reply]
                 ) -> Callable[[web.Request], Any]:
        failure_kind = {"reply": "send", "members": "member"}.get(kind, kind)

        async def handle(request: web.Request) -> web.Response:
            arrived = time.time()
            body: Any = None
            if request.can_read_body:
                raw = await request.read()
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
            app_id = self._authorized(request.headers.get("Authorization", ""))
            headers: dict[str, str] = {}
            new_id: str | None = None
            if app_id is None:
                status, reply = 401, dict(DENIED)
                headers["WWW-Authenticate"] = 'Bearer realm="api.botframework.com"'
            else:
                failure = self._take_failure(failure_kind)
                if failure is not None and failure.delay:
                    await asyncio.sleep(failure.delay)
                if failure is not None and failure.status:
                    status, reply = failure.status, self._failure_body(failure_kind, failure)
                    if status == 429 or failure.retry_after is not None:
                        headers["Retry-After"] = str(failure.retry_after or 1)
                else:
                    with self._lock:
                        status, reply, new_id = answer(app_id, body, request.match_info, kind)
            match = request.match_info
            self._record(ConnectorCall(
                kind=kind, http_method=request.method, path=request.path,
                conversation_id=match.get("conversation_id") or (reply.get("id") if kind == "create"
                                                                   and isinstance(reply, dict) else None),
                target_id=match.get("activity_id") or match.get("member_id"), id=new_id, body=body,
                headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
                app_id=app_id, status=status, answer=reply, at=arrived))
            if reply is None:
                return web.Response(status=status, headers=headers)
            return web.json_response(reply, status=status, headers=headers)

        return handle

    def _authorized(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token.strip():
            return None
        try:
            return str(self.identity.verify_access_token(token.strip(), now=self.now())["appid"])
        except jwt.InvalidTokenError:
            return None

    @staticmethod
    def _failure_body(kind: str, failure: _Failure) -> Json:
        assert failure.status is not None
        code = failure.code
        if code is None and kind == "member" and failure.status == 404:
            code = "MemberNotFoundInConversation"
        return _connector_error(failure.status, code, failure.message)

    def _next_id(self) -> str:
        self._seq += 1
        return str(1_750_000_000_000 + self._seq)

    def _blocked(self, conversation_id: str) -> Reply | None:
        if conversation_id in self._state.unreachable:
            status, code, message = self._state.unreachable[conversation_id]
            return status, _connector_error(status, code, message), None
        return None

    # The answers below run under the lock: (status, JSON answer, new id).

    def _send(self, app_id: str, body: Any, match: Mapping[str, str], kind: str) -> Reply:
        conversation_id = match["conversation_id"]
        if (blocked := self._blocked(conversation_id)) is not None:
            return blocked
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return 400, _connector_error(400, message="The activity must be a JSON object with a type."), None
        new_id = self._next_id()
        stored = dict(body) | {"id": new_id}
        if kind == "reply":
            stored.setdefault("replyToId", match["activity_id"])
        self._state.conversations.setdefault(conversation_id, []).append(stored)
        return 201, {"id": new_id}, new_id

    def _find(self, conversation_id: str, activity_id: str) -> int | None:
        for index, activity in enumerate(self._state.conversations.get(conversation_id, [])):
            if activity.get("id") == activity_id:
                return index
        return None

    def _update(self, app_id: str, body: Any, match: Mapping[str, str], kind: str) -> Reply:
        conversation_id, activity_id = match["conversation_id"], match["activity_id"]
        if (blocked := self._blocked(conversation_id)) is not None:
            return blocked
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return 400, _connector_error(400, message="The activity must be a JSON object with a type."), None
        index = self._find(conversation_id, activity_id)
        if index is None and self.strict_activity_ids:
            return 404, _connector_error(404, "ActivityNotFoundInConversation", "Unknown activity."), None
        stored = dict(body) | {"id": activity_id}
        activities = self._state.conversations.setdefault(conversation_id, [])
        if index is None:
            activities.append(stored)
        else:
            activities[index] = stored
        return 200, {"id": activity_id}, activity_id

    def _delete(self, app_id: str, body: Any, match: Mapping[str, str], kind: str) -> Reply:
        conversation_id, activity_id = match["conversation_id"], match["activity_id"]
        if (blocked := self._blocked(conversation_id)) is not None:
            return blocked
        index = self._find(conversation_id, activity_id)
        if index is None:
            if self.strict_activity_ids:
                return 404, _connector_error(404, "ActivityNotFoundInConversation", "Unknown activity."), None
        else:
            self._state.conversations[conversation_id].pop(index)
        return 200, None, None

    def _resolve_member(self, member_id: str) -> str | None:
        """The Teams id of a member given by Teams id, AAD object id or 8:orgid:<aad>."""
        if member_id in self._members:
            return member_id
        aad = member_id.removeprefix("8:orgid:").lower()
        for known, account in self._members.items():
            if str(account.get("aadObjectId", "")).lower() == aad:
                return known
        return None

    def _create(self, app_id: str, body: Any, match: Mapping[str, str], kind: str) -> Reply:
        if not isinstance(body, dict):
            return 400, _connector_error(400, message="The request body must be a JSON object."), None
        if body.get("isGroup"):
            return 400, _connector_error(400, message="The mock creates personal conversations only."), None
        members = body.get("members")
        if not (isinstance(members, list) and len(members) == 1 and isinstance(members[0], dict)
                and isinstance(members[0].get("id"), str) and members[0]["id"]):
            return 400, _connector_error(400, message="A personal conversation needs one member id."), None
        channel_data: Json = body["channelData"] if isinstance(body.get("channelData"), dict) else {}
        tenant_data: Json = channel_data["tenant"] if isinstance(channel_data.get("tenant"), dict) else {}
        tenant = body.get("tenantId") or tenant_data.get("id")
        if not tenant:
            return 400, _connector_error(400, message="Tenant id is required."), None
        asked = members[0]["id"]
        user_id = self._resolve_member(asked)
        if user_id is not None and not self._installed.get(user_id, True):
            return 403, _connector_error(403, "ForbiddenOperationException",
                                         "Bot is not installed in user's personal scope"), None
        if user_id is None:
            user_id = asked if asked.startswith("29:") else teams_user_id(asked.removeprefix("8:orgid:"))
        bot: Json = body["bot"] if isinstance(body.get("bot"), dict) else {}
        conversation_id = personal_conversation_id(user_id, str(bot.get("id") or app_id))
        answer: Json = {"id": conversation_id}
        new_id = None
        if isinstance(body.get("activity"), dict):
            new_id = self._next_id()
            stored = dict(body["activity"]) | {"id": new_id}
            self._state.conversations.setdefault(conversation_id, []).append(stored)
            answer["activityId"] = new_id
        return 201, answer, new_id

    def _account(self, member_id: str) -> Json:
        account = self._members[member_id]
        return {k: account.get(k) for k in _ACCOUNT_KEYS} | {
            k: v for k, v in account.items() if k not in _ACCOUNT_KEYS}

    def _member(self, app_id: str, body: Any, match: Mapping[str, str], kind: str) -> Reply:
        member_id = self._resolve_member(match["member_id"])
        if member_id is None:
            return 404, _connector_error(404, "MemberNotFoundInConversation",
                                         "The member is not found in the conversation."), None
        return 200, self._account(member_id), None

    def _list_members(self, app_id: str, body: Any, match: Mapping[str, str], kind: str) -> Reply:
        return 200, [self._account(m) for m in self._members], None


# ---------------------------------------------------------------------- a thread of their own

class ServerThread(LoopThread):
    """Serves mocks (BotFrameworkIdentity, BotConnectorMock) from their own event loop in a
    daemon thread, for blocking clients such as stock botbuilder's key and token fetches:

        with ServerThread(identity, connector):
            requests.get(identity.openid_metadata_url)
    """

    def __init__(self, *servers: Any) -> None:
        super().__init__()
        self.servers = servers

    def start(self, host: str = "127.0.0.1", timeout: float = 10) -> None:
        async def start_all() -> None:
            for server in self.servers:
                await server.start(host, 0)

        async def stop_all() -> None:
            for server in reversed(self.servers):
                await server.stop()

        self._start_thread(start_all, stop_all, name="teams-mock", what="the Teams mocks", timeout=timeout)

    def __enter__(self) -> ServerThread:
        self.start()
        return self

