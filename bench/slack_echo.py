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

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

import aiohttp
from aiohttp import web
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
        runner = web.AppRunner(build(client, os.environ["SLACK_SIGNING_SECRET"]), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0]
        print(f"Echo is listening on http://{bound[0]}:{bound[1]}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare slack-bolt echo app (bench baseline)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
