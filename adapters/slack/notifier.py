"""Sends outbox rows to Slack, and turns Slack's answers into the outbox's typed results.

Built on one shared AsyncWebClient with `retry_handlers=[]`: slack_sdk's own retry can post a
message twice, and a sleeping retry would hold a worker; the outbox retries instead, at the
time Slack's Retry-After names.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import home_view, modal, render
from assistant.messages import Outgoing
from assistant.ports import RetryLater, SendResult, Sent, Unreachable

log = logging.getLogger(__name__)
# Errors that no retry will cure: the person left, the app was removed, the channel is gone.
PERMANENT = frozenset({"channel_not_found", "not_in_channel", "account_inactive", "is_archived",
                       "user_not_found", "user_disabled", "team_access_not_granted",
                       "invalid_auth", "not_authed", "token_revoked", "missing_scope",
                       "cannot_dm_bot", "restricted_action"})
METADATA_EVENT = "spoke_outbox"


class _NoPrivateChannel(Exception):
    """A private reply whose address names a shared channel and nobody to write to instead."""


class SlackNotifier:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, message: Outgoing) -> SendResult:
        try:
            ref = await self._deliver(message)
        except SlackApiError as refused:
            return _result_of(refused)
        except _NoPrivateChannel:
            return Unreachable("private_to_channel")
        except (TimeoutError, aiohttp.ClientError, ConnectionError, SlackRequestError):
            return RetryLater("connection")
        return Sent(ref)

    async def _deliver(self, message: Outgoing) -> str | None:
        """Returns where the message landed (channel and ts), kept with the outbox row."""
        address, reply = message.address, message.reply
        user = str(address.get("user", ""))
        if reply.surface == "home":
            await self._client.views_publish(user_id=user, view=home_view(reply))
            return None
        rendered = render(reply)
        trigger = address.get("_trigger_id")
        for form in rendered.forms:
            if trigger:
                try:
                    await self._client.views_open(trigger_id=trigger, view=modal(form))
                    return None
                except SlackApiError:
                    log.info("modal not opened", extra={"event": "slack.modal_fallback"})
        channel = str(address.get("channel") or "")
        if reply.private and not channel.startswith("D"):
            # A private reply never lands in a shared channel, whatever the address says.
            if not user:
                raise _NoPrivateChannel
            channel = await self._open_dm(user)
        elif not channel:
            channel = await self._open_dm(user)
        # A retried row may have reached Slack before its earlier attempt failed or its
        # lease ran out: look for it (its row id rides in the message metadata) first.
        posted = message.attempts > 1 and await self._already_posted(channel, message.id)
        ref = None
        if (rendered.blocks or not rendered.files) and not posted:
            answer = await self._client.chat_postMessage(
                channel=channel, text=rendered.text, blocks=rendered.blocks,
                unfurl_links=False, unfurl_media=False,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"row": message.id}})
            ref = f"{channel}/{answer.get('ts', '')}"
        for file in rendered.files:
            await self._client.files_upload_v2(channel=channel, content=file.content,
                                               filename=file.name, title=file.caption or file.name)
        return ref

    async def _open_dm(self, user: str) -> str:
        opened = await self._client.conversations_open(users=user)
        return str(opened["channel"]["id"])

    async def _already_posted(self, channel: str, row_id: int) -> bool:
        try:
            history = await self._client.conversations_history(channel=channel, limit=30,
                                                               include_all_metadata=True)
        except SlackApiError as refused:
            if refused.response.get("error") != "missing_scope":
                raise
            # An install from an older manifest cannot read a channel's history: posting
            # again is better than never posting.
            log.info("history unavailable", extra={"event": "slack.history_unavailable"})
            return False
        messages: list[dict[str, Any]] = history.get("messages") or []
        for posted in messages:
            metadata: dict[str, Any] = posted.get("metadata") or {}
            if (metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("row") == row_id):
                return True
        return False


def _result_of(refused: SlackApiError) -> SendResult:
    response = refused.response
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        return RetryLater("rate_limited", float(retry_after) if retry_after else None)
    error = str(response.get("error") or f"http_{response.status_code}")
    if error in PERMANENT:
        return Unreachable(error)
    return RetryLater(error)
