"""The slack-bolt listeners: acknowledge, translate, hand the event to the turn handler.

An Events API event (what people type) is answered only once its turn is committed: a server
killed before that never answered, so Slack sends the event again to another replica (and the
turn's dedupe keeps it to one effect); during a database outage the answer is 503, and Slack
sends it again later. Buttons and commands are acknowledged first and run after (Slack shows
the presser an error if they are not acknowledged in 3 s, so a lost click is seen and pressed
again). A modal submission runs its turn before acknowledging, because field errors must travel
in the acknowledgement itself (`response_action: errors`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import translate
from adapters.slack.profiles import SlackProfiles
from adapters.slack.render import ACTION_PREFIX, escape
from assistant.events import Event, Hints
from assistant.ports import Unavailable
from assistant.turns import AfterTurn, TurnHandler

log = logging.getLogger(__name__)
RETRY_FIRST, RETRY_LONGEST, RETRY_TIMES = 0.2, 30.0, 40  # about fifteen minutes in all


class Acknowledged:
    """The presses and commands Slack was told are received whose turns have not finished: a
    server shutting down waits for them, or they would be lost (Slack does not send them
    again)."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[Any]] = set()
        self.held: set[asyncio.Task[None]] = set()  # waiting for the database to come back

    def track(self, task: asyncio.Task[Any] | None, into: set[Any]) -> None:
        if task is not None:
            into.add(task)
            task.add_done_callback(into.discard)

    async def finish(self, grace_seconds: float) -> None:
        if self.running:
            await asyncio.wait(set(self.running), timeout=grace_seconds)
        lost = len(self.running) + len(self.held)
        for task in (*self.running, *self.held):
            task.cancel()
        if lost:
            log.error("acknowledged events not processed at shutdown",
                      extra={"event": "slack.events_lost", "count": lost})


def build_bolt(client: AsyncWebClient, turns: TurnHandler, profiles: SlackProfiles, wake: AfterTurn,
               bot_user_id: str | None = None,
               acknowledged: Acknowledged | None = None) -> AsyncApp:
    async def authorize(**_: Any) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip on every request.
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=client.token,
                               bot_user_id=bot_user_id, bot_id=None)

    # Bolt answers Slack once a listener returns: events wait for their turn (durable by
    # Slack's redelivery); buttons and commands hand their turn to a task and return at once.
    # A press acknowledged just as the database went down is held and tried again until it
    # comes back; meanwhile the front door answers 503, so Slack keeps the rest.
    bolt = AsyncApp(client=client, authorize=authorize, request_verification_enabled=False,
                    ignoring_self_events_enabled=False, process_before_response=True,
                    logger=logging.getLogger("slack_bolt"))
    work = acknowledged or Acknowledged()

    async def hold(event: Event) -> None:
        delay = RETRY_FIRST
        for _ in range(RETRY_TIMES):
            await asyncio.sleep(delay)
            try:
                wake(await turns.handle(event))
                return
            except Unavailable:
                delay = min(delay * 2, RETRY_LONGEST)
        log.error("event dropped after the database stayed down",
                  extra={"event": "slack.event_dropped"})

    async def run(make: Callable[[dict[str, Any], Hints], Event | None], body: dict[str, Any],
                  user: str, *, acknowledged: bool = True) -> Any:
        hints = await profiles.hints(user) if user else Hints()
        event = make(body, hints)
        if event is None:
            return None
        try:
            result = await turns.handle(event)
        except Unavailable:
            if not acknowledged:
                raise  # answered 503 (on_error): Slack sends the event again later
            work.track(asyncio.create_task(hold(event)), work.held)
            return None
        wake(result)
        return result

    def after_ack(turn: Awaitable[Any]) -> None:
        """The turn of a press or command, run once Slack has its acknowledgement."""
        work.track(asyncio.ensure_future(turn), work.running)

    @bolt.error
    async def on_error(error: Exception) -> BoltResponse | None:
        if isinstance(error, Unavailable):
            return BoltResponse(status=503, body='{"ok": false, "error": "database_unavailable"}',
                                headers={"content-type": "application/json"})
        log.error("slack listener failed", exc_info=error, extra={"event": "slack.listener_failed"})
        return None  # answered 500: Slack sends an event again

    async def on_event(body: dict[str, Any]) -> None:
        await run(translate.from_event, body, str((body.get("event") or {}).get("user") or ""),
                  acknowledged=False)

    for kind in ("message", "app_mention", "app_home_opened"):
        bolt.event(kind)(on_event)

    @bolt.action(re.compile(f"^{re.escape(ACTION_PREFIX)}"))
    async def on_choice(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()

        async def choose() -> None:
            await run(translate.from_action, body, str((body.get("user") or {}).get("id") or ""))
            await retire_buttons(client, body)

        after_ack(choose())

    @bolt.command("/spoke")
    async def on_command(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        after_ack(run(translate.from_command, body, str(body.get("user_id") or "")))

    @bolt.view("spoke_form")
    async def on_form(ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        result = await run(translate.from_view_submission, body,
                           str((body.get("user") or {}).get("id") or ""))
        errors = getattr(result, "form_errors", None)
        if errors:
            await ack(response_action="errors", errors=dict(errors))
        else:
            await ack()

    return bolt


CHOSEN_BLOCK = "spoke_chosen"
REPEATABLE = "act:"  # the core's one-shot actions, which may be pressed again


async def retire_buttons(client: AsyncWebClient, body: dict[str, Any]) -> None:
    """Replace the buttons just used with what was chosen, so they cannot be pressed twice
    and the conversation reads as it happened. Cosmetic: the core already refuses a second
    press, so a failure here is only logged."""
    try:
        update = _retired(body)
    except (AttributeError, TypeError, KeyError, IndexError):
        # A payload not shaped like Slack's (the listener runs after the ack: it would
        # only raise into Bolt's error log).
        log.info("buttons not retired", extra={"event": "slack.retire_unreadable"})
        return
    if update is None:
        return
    try:
        await client.chat_update(**update)
    except SlackApiError:
        log.info("buttons not retired", extra={"event": "slack.retire_failed"})


def _retired(body: dict[str, Any]) -> dict[str, Any] | None:
    """The chat.update that retires the used buttons, or None when there is none to make."""
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id")
    chosen = (body.get("actions") or [{}])[0]
    if not message.get("ts") or not channel or not message.get("blocks"):
        return None
    if not str(channel).startswith("D"):
        return None  # a channel's announcement: everyone reads it, nobody's choice shows there
    label = (_button_label(message["blocks"], chosen.get("action_id"))
             or ((chosen.get("selected_option") or {}).get("text") or {}).get("text")
             or (chosen.get("text") or {}).get("text") or "")
    # A session's buttons (I'll attend, add to calendar) stay usable: people change their
    # minds; only the line saying what was chosen last is replaced.
    repeatable = str(chosen.get("value") or "").startswith(REPEATABLE)
    blocks = [block for block in message["blocks"]
              if block.get("block_id") != CHOSEN_BLOCK
              and (repeatable or block.get("block_id") != chosen.get("block_id"))]
    blocks.append({"type": "context", "block_id": CHOSEN_BLOCK, "elements": [
        {"type": "mrkdwn", "text": f"✓ {escape(label)}", "verbatim": True}]})
    return {"channel": channel, "ts": message["ts"], "blocks": blocks,
            "text": message.get("text") or label}


def _button_label(blocks: list[dict[str, Any]], action_id: object) -> str | None:
    for block in blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id and element.get("type") == "button":
                return str((element.get("text") or {}).get("text") or "")
    return None
