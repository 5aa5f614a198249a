"""The baseline for `bench/slack.py`: a bare slack-bolt app that echoes every direct message.

An `AsyncApp` with Bolt's own request verification (the v0 signature, on by default), served
by aiohttp through slack-bolt's aiohttp adapter, whose `message` listener posts the text back
with `chat.postMessage` through one shared aiohttp session (PLATFORMS S9), to whatever Web API
`SLACK_API_URL` names. No database, no dialog: the floor any Bolt app on aiohttp stands on.

    SLACK_BOT_TOKEN=xoxb-test SLACK_SIGNING_SECRET=... SLACK_API_URL=http://127.0.0.1:PORT/api/ \
        python bench/slack_echo.py --port 0

Prints `Echo is listening on http://HOST:PORT` once bound, then serves until SIGTERM/SIGINT.
Run by `bench/slack.py` in its own process, so it and `spoke serve` are measured alike.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import aiohttp
from aiohttp import web
from loadkit import echo_main, serve_until_stopped  # bench/, beside this script
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build(client: AsyncWebClient, signing_secret: str) -> web.Application:
    bolt = AsyncApp(client=client, signing_secret=signing_secret)  # token: the client's

    @bolt.event("message")
    async def echo(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.chat_postMessage(channel=event["channel"], text=event.get("text") or "…")

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    return app


async def serve(host: str, port: int) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"],
                                session=session)
        await serve_until_stopped(build(client, os.environ["SLACK_SIGNING_SECRET"]), host, port)


def main(argv: list[str] | None = None) -> int:
    return echo_main("bare slack-bolt echo app (bench baseline)", serve, argv)


if __name__ == "__main__":
    sys.exit(main())
