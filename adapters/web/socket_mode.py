"""`spoke serve --slack-socket-mode`: Slack over a WebSocket instead of a public URL
(handy behind a firewall). `/healthz` and the outbox pump still run on the HTTP port."""

from __future__ import annotations

import asyncio

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from adapters.slack.config import SlackSettings
from adapters.web.server import SHUTDOWN_STAGE_SECONDS, build_web_app
from assistant.bootstrap import App


async def serve_socket_mode(core: App, host: str, port: int, slack: SlackSettings) -> None:
    app, serving = build_web_app(core, slack)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_STAGE_SECONDS)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    assert serving.slack is not None
    # Socket Mode frames arrive already authenticated by the app-level token.
    handler = AsyncSocketModeHandler(serving.slack.bolt, slack.app_token.value)
    bound = runner.addresses[0]
    print(f"Spoke is listening on http://{bound[0]}:{bound[1]} and Slack Socket Mode", flush=True)
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await asyncio.Event().wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
