"""A local Slack Web API for adapter tests and benchmarks.

`SlackApiMock` serves `http://127.0.0.1:PORT/api/<method>` the way slack.com does for the
methods Spoke uses: it checks the bot token and the arguments, answers HTTP 200 with
`{"ok": true|false, ...}` and Slack's error names, keeps what was posted (messages per channel,
views, uploaded files), records every call, and can be scripted to fail:

    slack_api.fail_next("chat.postMessage", status=429, retry_after=1)

Point the client at it with `AsyncWebClient(token=..., base_url=slack_api.url)`; the URL ends
with "/" because slack_sdk joins method names onto it. `ThreadedSlackApiMock` runs the same
mock on its own event loop in a thread, for synchronous clients and for apps in another process.

Every recorded-state accessor is thread-safe: the server mutates state under one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiohttp import BodyPartReader, web

from tests.mock_server import AppServer, CallWaiters, LoopThread, take_failure
from tests.slack_signing import dm_channel_id

Answer = dict[str, Any]

# Slack sends these as JSON strings inside form bodies and query strings; decoded when recorded.
JSON_FIELDS = frozenset({"attachments", "blocks", "files", "metadata", "view"})
# The pseudo-method under which the POST of file bytes to an upload URL is recorded and can fail.
UPLOAD = "upload"

TS_EPOCH = 1_700_000_000            # message ts values start at 1700000000.000100
MAX_MESSAGE_BLOCKS, MAX_VIEW_BLOCKS = 50, 100
MAX_TEXT, MAX_MODAL_TITLE, MAX_PRIVATE_METADATA = 40_000, 24, 3_000


@dataclass(frozen=True)
class Call:
    """One request the mock answered. `call["channel"]` reads an argument."""

    method: str
    args: dict[str, Any]          # decoded, without the token
    headers: dict[str, str]       # without Authorization
    encoding: str                 # "json", "form", "multipart", "query" or "raw"
    http_method: str
    at: float                     # time.time() when the request arrived
    status: int
    answer: Answer | str

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)

    @property
    def ok(self) -> bool:
        return self.status == 200 and (not isinstance(self.answer, dict) or bool(self.answer.get("ok")))

    @property
    def error(self) -> str | None:
        return self.answer.get("error") if isinstance(self.answer, dict) else None


class UploadedFile(NamedTuple):
    filename: str
    content: bytes
    channel: str | None


@dataclass
class _Failure:
    status: int | None
    error: str | None
    retry_after: int | None
    delay: float | None
    body: str | None
    remaining: int | None          # None: until clear_failures()


@dataclass
class _Upload:
    filename: str
    length: int
    content: bytes | None = None
    completed: bool = False


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    by_method: dict[str, list[Call]] = field(default_factory=dict)   # the same calls, indexed
    consumed: dict[str, int] = field(default_factory=dict)      # method -> calls handed to next_call
    failures: dict[str, list[_Failure]] = field(default_factory=dict)
    messages: dict[str, list[Answer]] = field(default_factory=dict)   # channel -> oldest first
    opened_dms: set[str] = field(default_factory=set)
    views: dict[str, Answer] = field(default_factory=dict)
    home_views: dict[str, str] = field(default_factory=dict)    # user -> view id
    used_triggers: set[str] = field(default_factory=set)
    uploads: dict[str, _Upload] = field(default_factory=dict)
    completed: list[UploadedFile] = field(default_factory=list)
    uploads_consumed: int = 0


def _err(error: str, *messages: str) -> Answer:
    answer: Answer = {"ok": False, "error": error}
    if messages:  # how Slack explains invalid_arguments
        answer["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in messages]}
    return answer


def _truthy(value: Any) -> bool:
    # JSON bodies carry booleans; slack_sdk turns them into "1"/"0" in forms and query strings.
    return value is True or str(value).lower() in {"1", "true"}


class SlackApiMock:
    def __init__(self, *, token: str = "xoxb-test",  # noqa: S107 - a test token
                 team_id: str = "T0SPOKE", bot_user_id: str = "UBOT", bot_id: str = "B0SPOKE",
                 app_id: str = "A0SPOKE", team_name: str = "Spoke Test",
                 users: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.token, self.team_id, self.bot_user_id = token, team_id, bot_user_id
        self.bot_id, self.app_id, self.team_name = bot_id, app_id, team_name
        self._lock = threading.RLock()
        self._users: dict[str, dict[str, Any]] = {}
        self._dm_owners: dict[str, str] = {}      # D… -> U…, so channel checks stay O(1) under load
        for user_id, profile in (users or {}).items():
            self.add_user(user_id, **profile)
        self._channels: set[str] = set()
        self._waiters = CallWaiters(self._lock)
        self._state = _State()
        self._seq = 0                  # never reset: ts, view and file ids stay unique
        self._server = AppServer()
        self._loop_thread: int | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], Answer]] = {
            "auth.test": self._auth_test, "chat.postMessage": self._post_message,
            "chat.update": self._update, "chat.postEphemeral": self._post_ephemeral,
            "conversations.open": self._open, "conversations.history": self._history,
            "users.info": self._users_info, "views.publish": self._views_publish,
            "views.open": self._views_open, "views.update": self._views_update,
            "files.getUploadURLExternal": self._upload_url, "files.completeUploadExternal": self._complete,
        }

    # ------------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._serve_api)
        app.router.add_post("/upload/{file_id}", self._serve_upload)
        # AppServer keeps a handler running when its client gives up, as Slack does: a delayed call
        # still takes effect after the client timed out (the duplicate-post hazard of PLATFORMS S5).
        await self._server.start(app, host, port)
        self._loop_thread = threading.get_ident()

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def url(self) -> str:
        """The Web API base URL for slack_sdk's `base_url`, ending with "/"."""
        if not self._server.base:
            raise RuntimeError("SlackApiMock is not started")
        return f"{self._server.base}/api/"

    # ------------------------------------------------------------------ set-up

    def add_user(self, user_id: str, **profile: Any) -> None:
        """Profile fields: real_name, name, display_name, email, tz, tz_label, tz_offset, locale,
        is_bot, deleted."""
        with self._lock:
            self._users[user_id] = dict(profile)
            self._dm_owners[dm_channel_id(user_id)] = user_id

    def add_channel(self, channel_id: str) -> None:
        with self._lock:
            self._channels.add(channel_id)

    def fail_next(self, method: str, *, status: int | None = None, error: str | None = None,
                  retry_after: int | None = None, times: int = 1, delay: float | None = None,
                  body: str | None = None) -> None:
        """Script the next `times` authenticated calls of `method` (or of UPLOAD):

        - status=429 (implied by retry_after): HTTP 429, `Retry-After: N`, `{"ok": false,
          "error": "ratelimited"}`, as Slack rate-limits;
        - error="channel_not_found": HTTP 200 `{"ok": false, "error": ...}`;
        - status=500/503: that status with `{"ok": false, "error": "internal_error"}`, or with
          `body` as text/html, like an error page from Slack's edge;
        - delay=seconds: answer that much later. With delay alone the call then succeeds and takes
          effect; with a failure it does not (a failed call never stores anything).
        """
        if status is None and error is None and retry_after is None and delay is None:
            raise ValueError("fail_next needs status, error, retry_after or delay")
        if retry_after is not None and status is None:
            status = 429
        failure = _Failure(status, error, retry_after, delay, body, remaining=times)
        with self._lock:
            self._state.failures.setdefault(method, []).append(failure)

    def fail_always(self, method: str, *, status: int | None = None, error: str | None = None,
                    retry_after: int | None = None, delay: float | None = None,
                    body: str | None = None) -> None:
        self.fail_next(method, status=status, error=error, retry_after=retry_after, delay=delay, body=body)
        with self._lock:
            self._state.failures[method][-1].remaining = None

    def clear_failures(self, method: str | None = None) -> None:
        with self._lock:
            if method is None:
                self._state.failures.clear()
            else:
                self._state.failures.pop(method, None)

    def reset(self) -> None:
        """Forget calls, failures, messages, views and files; keep users and added channels."""
        with self._lock:
            self._state = _State()

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return list(self._state.calls if method is None else self._state.by_method.get(method, []))

    def last(self, method: str, **where: Any) -> Call:
        """The latest call of `method` whose arguments match `where`."""
        for call in reversed(self.calls(method)):
            if all(call.args.get(k) == v for k, v in where.items()):
                return call
        raise LookupError(f"no {method} call with {where}; calls: {self._summary()}")

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Arguments of the chat.postMessage calls that succeeded (channel as asked or as resolved)."""
        found = []
        for call in self.calls("chat.postMessage"):
            resolved = call.answer.get("channel") if isinstance(call.answer, dict) else None
            if call.ok and (channel is None or channel in (call.args.get("channel"), resolved)):
                found.append(call.args)
        return found

    def history(self, channel: str) -> list[Answer]:
        """Messages stored in `channel`, oldest first, as conversations.history returns them."""
        with self._lock:
            return [dict(m) for m in self._state.messages.get(channel, [])]

    def uploaded_files(self) -> list[UploadedFile]:
        with self._lock:
            return list(self._state.completed)

    async def next_call(self, method: str, timeout: float = 5) -> Call:  # noqa: ASYNC109 - a test's one-liner
        """The first call of `method` not yet handed out, waiting for it if need be."""
        return await self._waiters.wait(lambda: self._take_call(method), timeout, f"a {method} call",
                                        self._summary)

    def wait_call(self, method: str, timeout: float = 5) -> Call:
        """next_call for synchronous code in another thread than the mock's."""
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("wait_call would block the mock's own event loop; await next_call")
        return self._waiters.wait_blocking(lambda: self._take_call(method), timeout, f"{method} call",
                                           self._summary)

    async def uploaded_file(self, timeout: float = 5) -> bytes:  # noqa: ASYNC109 - as next_call
        """The content of the next completed upload not yet handed out."""
        upload = await self._waiters.wait(self._take_upload, timeout, "a completed upload", self._summary)
        return upload.content

    # ------------------------------------------------------------------ waiting

    def _take_call(self, method: str) -> Call | None:
        of_method = self._state.by_method.get(method, [])
        index = self._state.consumed.get(method, 0)
        if index >= len(of_method):
            return None
        self._state.consumed[method] = index + 1
        return of_method[index]

    def _take_upload(self) -> UploadedFile | None:
        if self._state.uploads_consumed >= len(self._state.completed):
            return None
        self._state.uploads_consumed += 1
        return self._state.completed[self._state.uploads_consumed - 1]

    def _record(self, call: Call) -> None:
        with self._lock:
            self._state.calls.append(call)
            self._state.by_method.setdefault(call.method, []).append(call)
            self._waiters.notify()

    def _summary(self) -> list[str]:
        with self._lock:
            return [f"{c.method}:{c.status}:{c.error or 'ok'}" for c in self._state.calls]

    # ------------------------------------------------------------------ HTTP

    async def _serve_api(self, request: web.Request) -> web.Response:
        arrived = time.time()
        method = request.match_info["method"]
        args, encoding, bad_body = await _read_args(request)
        token = args.pop("token", None)
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ")
        status, answer, extra = await self._answer(method, args, token, bad_body)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        self._record(Call(method, args, headers, encoding, request.method, arrived, status, answer))
        if isinstance(answer, str):
            return web.Response(status=status, text=answer, content_type="text/html", headers=extra)
        return web.json_response(answer, status=status, headers=extra)

    async def _answer(self, method: str, args: dict[str, Any], token: str | None,
                      bad_body: str | None) -> tuple[int, Answer | str, dict[str, str]]:
        if not token:
            return 200, _err("not_authed"), {}
        if token != self.token:
            return 200, _err("invalid_auth"), {}
        failure = self._take_failure(method)
        if failure is not None:
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status is not None or failure.error is not None:
                return _failure_answer(failure)
        if bad_body is not None:
            return 200, _err(bad_body), {}
        handler = self._methods.get(method)
        if handler is None:
            return 200, {**_err("unknown_method"), "req_method": method}, {}
        with self._lock:
            return 200, handler(args), {}

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            return take_failure(self._state.failures, method)

    async def _serve_upload(self, request: web.Request) -> web.Response:
        # slack_sdk POSTs the raw bytes (aiohttp: application/octet-stream; urllib: labelled
        # application/x-www-form-urlencoded), Slack's docs also allow multipart: read both.
        arrived = time.time()
        file_id = request.match_info["file_id"]
        if request.content_type == "multipart/form-data":
            encoding, content = "multipart", b""
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader) and part.filename is not None:
                    content = bytes(await part.read())
                    break
        else:
            encoding, content = "raw", await request.read()
        status, answer = 200, f"OK - {len(content)}"
        with self._lock:
            upload = self._state.uploads.get(file_id)
        failure = self._take_failure(UPLOAD)
        if failure is not None and failure.delay:
            await asyncio.sleep(failure.delay)
        if upload is None:
            status, answer = 404, "Not Found"
        elif failure is not None and (failure.status is not None or failure.error is not None):
            status, answer = failure.status or 500, failure.body or failure.error or "Internal Server Error"
        else:
            with self._lock:
                upload.content = content
        headers = dict(request.headers)
        args = {"file_id": file_id, "length": len(content)}
        self._record(Call(UPLOAD, args, headers, encoding, request.method, arrived, status, answer))
        return web.Response(status=status, text=answer, content_type="text/plain")

    # ------------------------------------------------------------------ methods (run under the lock)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _next_ts(self) -> str:
        micros = self._next_seq() * 100
        return f"{TS_EPOCH + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _live_user(self, user_id: Any) -> dict[str, Any] | None:
        return self._users.get(user_id) if isinstance(user_id, str) else None

    def _resolve_channel(self, channel: Any) -> str | None:
        """A channel id Slack would accept, as Slack names it in its answer, or None."""
        if not isinstance(channel, str):
            return None
        if channel in self._channels or channel in self._dm_owners:
            return channel
        # The bot's DM with every member exists (events arrive in it before any conversations.open),
        # and a user id posts into that DM. Slack posts to deactivated users' DMs too.
        return dm_channel_id(channel) if channel in self._users else None

    def _auth_test(self, args: dict[str, Any]) -> Answer:
        return {"ok": True, "url": f"https://{self.team_name.lower().replace(' ', '-')}.slack.com/",
                "team": self.team_name, "user": "spoke", "team_id": self.team_id,
                "user_id": self.bot_user_id, "bot_id": self.bot_id, "is_enterprise_install": False}

    def _check_content(self, args: dict[str, Any]) -> Answer | None:
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks and not args.get("attachments"):
            return _err("no_text")
        if blocks is not None and not isinstance(blocks, list):
            return _err("invalid_blocks_format")
        if isinstance(blocks, list) and len(blocks) > MAX_MESSAGE_BLOCKS:
            return _err("invalid_blocks", f"must provide an array of no more than {MAX_MESSAGE_BLOCKS} items")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            return _err("msg_too_long")
        metadata = args.get("metadata")
        if metadata is not None and not (isinstance(metadata, dict)
                                         and isinstance(metadata.get("event_type"), str)
                                         and isinstance(metadata.get("event_payload"), dict)):
            return _err("invalid_metadata_format")
        return None

    def _post_message(self, args: dict[str, Any]) -> Answer:
        channel = self._resolve_channel(args.get("channel"))
        if channel is None:
            return _err("channel_not_found")
        if (refused := self._check_content(args)) is not None:
            return refused
        ts = self._next_ts()
        message: Answer = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id,
                           "app_id": self.app_id, "text": args.get("text") or "", "ts": ts,
                           "team": self.team_id}
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if args.get(key) is not None:
                message[key] = args[key]
        self._state.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _update(self, args: dict[str, Any]) -> Answer:
        channel = self._resolve_channel(args.get("channel"))
        if channel is None:
            return _err("channel_not_found")
        found = [m for m in self._state.messages.get(channel, []) if m["ts"] == args.get("ts")]
        if not found:
            return _err("message_not_found")
        if (refused := self._check_content(args)) is not None:
            return refused
        message = found[0]
        message["text"] = args.get("text") or ""
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                message[key] = args[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"],
                "message": dict(message)}

    def _post_ephemeral(self, args: dict[str, Any]) -> Answer:
        channel = self._resolve_channel(args.get("channel"))
        if channel is None:
            return _err("channel_not_found")
        user = str(args.get("user") or "")
        if self._live_user(user) is None or (channel.startswith("D") and channel != dm_channel_id(user)):
            return _err("user_not_in_channel")
        if (refused := self._check_content(args)) is not None:
            return refused
        return {"ok": True, "message_ts": self._next_ts()}

    def _open(self, args: dict[str, Any]) -> Answer:
        if args.get("channel"):
            channel = self._resolve_channel(args["channel"])
            return ({"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel}}
                    if channel else _err("channel_not_found"))
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users:
            return _err("users_list_not_supplied")
        if len(users) > 1:
            return _err("not_supported_by_mock", "group DMs are not modelled")
        profile = self._live_user(users[0])
        if profile is None:
            return _err("user_not_found")
        if profile.get("deleted"):
            return _err("user_disabled")       # the name Slack documents for conversations.open
        channel = dm_channel_id(users[0])
        already = channel in self._state.opened_dms
        self._state.opened_dms.add(channel)
        body: Answer = {"id": channel}
        if _truthy(args.get("return_im")):
            body |= {"created": TS_EPOCH, "is_im": True, "is_org_shared": False, "user": users[0],
                     "is_user_deleted": False, "priority": 0}
        return {"ok": True, **({"no_op": True, "already_open": True} if already else {}), "channel": body}

    def _history(self, args: dict[str, Any]) -> Answer:
        channel = self._resolve_channel(args.get("channel"))
        if channel is None:
            return _err("channel_not_found")
        inclusive = _truthy(args.get("inclusive"))
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or "inf")
        limit = min(int(args.get("limit") or 100), 999)

        def within(ts: float) -> bool:
            return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

        # Replies stay in their thread unless broadcast, as in Slack's channel history.
        top = [m for m in self._state.messages.get(channel, [])
               if within(float(m["ts"])) and m.get("thread_ts") in (None, m["ts"])]
        newest_first = sorted(top, key=lambda m: float(m["ts"]), reverse=True)
        return {"ok": True, "messages": [dict(m) for m in newest_first[:limit]],
                "has_more": len(newest_first) > limit, "pin_count": 0,
                "response_metadata": {"next_cursor": ""}}

    def _users_info(self, args: dict[str, Any]) -> Answer:
        user_id = args.get("user")
        profile = self._live_user(user_id)
        if profile is None:
            return _err("user_not_found")
        real_name = profile.get("real_name", "")
        user: Answer = {
            "id": user_id, "team_id": self.team_id,
            "name": profile.get("name") or str(profile.get("email", user_id)).split("@")[0],
            "deleted": bool(profile.get("deleted", False)), "real_name": real_name,
            "is_admin": False, "is_owner": False, "is_primary_owner": False, "is_restricted": False,
            "is_ultra_restricted": False, "is_bot": bool(profile.get("is_bot", False)),
            "is_app_user": False, "updated": TS_EPOCH,
        }
        if "tz" in profile:     # left out when not given, so tests can cover a missing zone
            user |= {"tz": profile["tz"], "tz_label": profile.get("tz_label", profile["tz"]),
                     "tz_offset": profile.get("tz_offset", _offset_now(profile["tz"]))}
        if _truthy(args.get("include_locale")):
            user["locale"] = profile.get("locale", "en-US")
        display = profile.get("display_name", "")
        user["profile"] = {"real_name": real_name, "real_name_normalized": real_name,
                           "display_name": display, "display_name_normalized": display, "team": self.team_id}
        if "email" in profile:
            user["profile"]["email"] = profile["email"]
        return {"ok": True, "user": user}

    # views

    def _check_view(self, view: Any, kind: str) -> Answer | None:
        if not isinstance(view, dict):
            return _err("invalid_arguments", "missing required field: view")
        if view.get("type") != kind:
            return _err("invalid_arguments", f"must be '{kind}' [json-pointer:/view/type]")
        blocks = view.get("blocks", [])
        if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
            return _err("invalid_arguments",
                        f"no more than {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]")
        if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
            return _err("invalid_arguments",
                        "must be less than 3001 characters [json-pointer:/view/private_metadata]")
        if kind == "modal":
            title = view.get("title")
            if not isinstance(title, dict) or not title.get("text"):
                return _err("invalid_arguments", "missing required field: title [json-pointer:/view]")
            if len(title["text"]) > MAX_MODAL_TITLE:
                return _err("invalid_arguments", f"must be less than {MAX_MODAL_TITLE + 1} characters"
                                                 " [json-pointer:/view/title/text]")
        return None

    def _store_view(self, view_id: str, view: dict[str, Any], root_id: str | None = None) -> Answer:
        seq = self._next_seq()
        stored: Answer = {
            "id": view_id, "team_id": self.team_id, "type": view["type"], "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "state": {"values": {}}, "hash": f"{TS_EPOCH + seq}.{seq:08x}", "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)), "close": view.get("close"),
            "submit": view.get("submit"), "previous_view_id": None, "root_view_id": root_id or view_id,
            "app_id": self.app_id, "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id, "bot_id": self.bot_id,
        }
        self._state.views[view_id] = stored
        return {"ok": True, "view": dict(stored)}

    def _new_view_id(self) -> str:
        return f"V{self._next_seq():09d}"

    def _views_publish(self, args: dict[str, Any]) -> Answer:
        user_id = str(args.get("user_id") or "")
        if self._live_user(user_id) is None:
            return _err("user_not_found")
        if (refused := self._check_view(args.get("view"), "home")) is not None:
            return refused
        view_id = self._state.home_views.get(user_id) or self._new_view_id()
        current = self._state.views.get(view_id)
        if current and args.get("hash") and args["hash"] != current["hash"]:
            return _err("hash_conflict")
        self._state.home_views[user_id] = view_id
        return self._store_view(view_id, args["view"])

    def _views_open(self, args: dict[str, Any]) -> Answer:
        trigger = args.get("trigger_id")
        if not trigger:
            return _err("invalid_arguments", "missing required field: trigger_id")
        if trigger in self._state.used_triggers:
            return _err("exchanged_trigger_id")     # a trigger opens one modal (PLATFORMS S2)
        if (refused := self._check_view(args.get("view"), "modal")) is not None:
            return refused
        self._state.used_triggers.add(trigger)
        return self._store_view(self._new_view_id(), args["view"])

    def _views_update(self, args: dict[str, Any]) -> Answer:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next((v["id"] for v in self._state.views.values()
                            if v["external_id"] == args["external_id"]), None)
        current = self._state.views.get(view_id) if view_id else None
        if current is None:
            return _err("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            return _err("hash_conflict")
        if (refused := self._check_view(args.get("view"), current["type"])) is not None:
            return refused
        return self._store_view(current["id"], args["view"], current["root_view_id"])

    # files

    def _upload_url(self, args: dict[str, Any]) -> Answer:
        filename, length = args.get("filename"), str(args.get("length", ""))
        if not filename or not length.isdigit() or int(length) <= 0:
            return _err("invalid_arguments", "filename and a positive length are required")
        file_id = f"F{self._next_seq():09d}"
        self._state.uploads[file_id] = _Upload(str(filename), int(length))
        return {"ok": True, "upload_url": f"{self._server.base}/upload/{file_id}", "file_id": file_id}

    def _complete(self, args: dict[str, Any]) -> Answer:
        files = args.get("files")
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
            return _err("invalid_arguments", "files must be a JSON array of {id, title}")
        channels = [c for c in str(args.get("channels") or args.get("channel_id") or "").split(",") if c]
        resolved = [self._resolve_channel(c) for c in channels]
        if None in resolved:
            return _err("channel_not_found")
        uploads = [self._state.uploads.get(f.get("id", "")) for f in files]
        if any(u is None or u.content is None or u.completed for u in uploads):
            return _err("file_not_found")
        answered = []
        for spec, upload in zip(files, uploads, strict=True):
            assert upload is not None and upload.content is not None
            upload.completed = True
            self._state.completed.append(UploadedFile(upload.filename, upload.content,
                                                      resolved[0] if resolved else None))
            answered.append({"id": spec["id"], "title": spec.get("title") or upload.filename})
        return {"ok": True, "files": answered}


def _failure_answer(failure: _Failure) -> tuple[int, Answer | str, dict[str, str]]:
    if failure.status == 429:
        return 429, _err(failure.error or "ratelimited"), {"Retry-After": str(failure.retry_after or 1)}
    if failure.status is not None and failure.status != 200:
        if failure.body is not None:
            return failure.status, failure.body, {}
        return failure.status, _err(failure.error or "internal_error"), {}
    return 200, _err(failure.error or "internal_error"), {}


async def _read_args(request: web.Request) -> tuple[dict[str, Any], str, str | None]:
    """Query string plus body, as Slack merges them. Returns (args, encoding, body error)."""
    args: dict[str, Any] = dict(request.query)
    encoding = "query"
    if request.can_read_body:
        if request.content_type == "application/json":
            encoding = "json"
            try:
                body = await request.json()
            except ValueError:
                return args, encoding, "invalid_json"
            if not isinstance(body, dict):
                return args, encoding, "invalid_json"
            args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            encoding = "form" if request.content_type.endswith("urlencoded") else "multipart"
            for key, value in (await request.post()).items():
                args[key] = value if isinstance(value, str | bytes | bytearray) else value.file.read()
    for key in JSON_FIELDS & args.keys():
        # Left as sent when it is not JSON: the method then answers invalid_*_format.
        if isinstance(args[key], str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args, encoding, None


def _offset_now(tz: str) -> int:
    offset = datetime.fromtimestamp(time.time(), UTC).astimezone(zoneinfo.ZoneInfo(tz)).utcoffset()
    return int(offset.total_seconds()) if offset else 0


class ThreadedSlackApiMock(LoopThread):
    """A SlackApiMock served from its own event loop in a daemon thread.

        with ThreadedSlackApiMock(users={"U0AMA": {...}}) as slack_api:
            WebClient(token="xoxb-test", base_url=slack_api.url).chat_postMessage(...)
            slack_api.wait_call("chat.postMessage")

    For synchronous clients (which would block a test's own loop) and for load tests whose app
    runs in another process: pass `slack_api.url` to it.
    """

    def __init__(self, api: SlackApiMock | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.api = api or SlackApiMock(**kwargs)

    def start(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 10) -> SlackApiMock:
        self._start_thread(lambda: self.api.start(host, port), self.api.stop, name="slack-api-mock",
                           what="SlackApiMock", timeout=timeout)
        return self.api

    @property
    def url(self) -> str:
        return self.api.url

    def __enter__(self) -> SlackApiMock:
        return self.start()

