"""The HTTP server behind `spoke serve`: platform webhooks, `/healthz`, and the outbox pump
that delivers what turns queued."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.slack.config import SlackSettings
from adapters.teams.config import TeamsSettings
from adapters.web.metrics import Handler, Metrics
from assistant.bootstrap import App
from assistant.downloads import DownloadLinks
from assistant.housekeeping import (
    care_for_drafts,
    forget_expired_downloads,
    forget_old_deliveries,
    remind_about_recommendations,
)
from assistant.logs import new_request_id, request_scope
from assistant.outbox import OutboxPump, PlatformNotifier, ReadyReplies, Sender
from assistant.parsers import warm_up
from assistant.ports import Notifier, Unavailable
from assistant.turns import TurnResult

if TYPE_CHECKING:
    from adapters.slack.wiring import SlackFrontEnd
    from adapters.teams.wiring import TeamsFrontEnd

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
# How long a stopping server may take for each stage: requests under way, then turns already
# acknowledged to Slack, then the outbox round under way. Within the 30 s most orchestrators
# (Kubernetes, systemd) allow between SIGTERM and SIGKILL.
SHUTDOWN_STAGE_SECONDS = 8.0


@dataclass
class Serving:
    """What a running server holds, for tests and for shutting down."""

    pump: OutboxPump | None = None
    sender: Sender | None = None
    replies: ReadyReplies | None = None
    slack: SlackFrontEnd | None = None
    teams: TeamsFrontEnd | None = None
    platforms: tuple[str, ...] = field(default_factory=tuple)


def build_web_app(core: App, slack_settings: SlackSettings | None,
                  teams_settings: TeamsSettings | None = None,
                  tick_seconds: float | None = None) -> tuple[web.Application, Serving]:
    metrics = Metrics(core.store, core.clock)
    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[_with_request_id, metrics.middleware])
    serving = Serving()
    core.turns.watch(metrics.turn)
    links = download_links(core)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        notifiers: dict[str, Notifier] = {}

        def after_turn(result: TurnResult) -> None:
            """The front doors exist before the pump and the poster they hand results to."""
            if result.ready and serving.replies is not None:
                serving.replies.post(result.ready)
            if (result.queued or not result.ready) and serving.pump is not None:
                serving.pump.wake()

        # Each platform's SDK is imported only when that platform is configured (botbuilder
        # alone is about 24 MiB).
        if slack_settings is not None:
            from adapters.slack.wiring import build_slack

            serving.slack = build_slack(slack_settings, core.turns, core.clock, after_turn)
            notifiers["slack"] = serving.slack.notifier
        if teams_settings is not None:
            from adapters.teams.wiring import build_teams

            serving.teams = build_teams(teams_settings, core.turns, core.clock, after_turn,
                                        links.offer if links else None)
            notifiers["teams"] = serving.teams.notifier
        router = PlatformNotifier(notifiers)
        serving.platforms = router.platforms
        worker = f"{socket.gethostname()}-{os.getpid()}"
        lease = timedelta(seconds=core.settings.outbox_lease_seconds)
        sender = Sender(core.store, router, core.clock, worker=worker, platforms=router.platforms,
                        lease=lease)
        sender.watch(metrics.delivery)
        serving.sender = sender
        serving.pump = OutboxPump(sender, tick_seconds=tick_seconds or core.settings.outbox_tick_seconds)
        serving.replies = ReadyReplies(sender, serving.pump.wake)
        # A turn's replies go out as soon as it ends (measured: the pump's rounds made them
        # wait for one another); reminders and retries stay with the pump.
        core.turns.send_replies_directly(worker, lease)
        await serving.pump.start()
        # Build the time-zone city index now, in a thread, not at someone's first answer.
        warming = asyncio.create_task(_warm_up(), name="warm-up")
        tidying = asyncio.create_task(_tidy(core), name="housekeeping")
        yield
        # Shutting down: no request comes in any more (aiohttp stopped listening and let the
        # requests under way finish). Turns already acknowledged run, their replies go out
        # in one last outbox round, and rows still claimed go back to the other replicas.
        log.info("stopping", extra={"event": "serve.stopping"})
        warming.cancel()
        tidying.cancel()
        if serving.slack is not None:
            await serving.slack.finish(SHUTDOWN_STAGE_SECONDS)
        await serving.replies.finish(SHUTDOWN_STAGE_SECONDS)
        await serving.pump.stop(grace_seconds=SHUTDOWN_STAGE_SECONDS)
        log.info("stopped", extra={"event": "serve.stopped"})
        if serving.slack is not None:
            await serving.slack.close()
        if serving.teams is not None:
            await serving.teams.close()

    app.cleanup_ctx.append(lifecycle)

    async def slack_events(request: web.Request) -> web.StreamResponse:
        if serving.slack is None:
            return web.json_response({"ok": False, "error": "slack_not_configured"}, status=404)
        return await serving.slack.front_door.handle(request)

    async def healthz(_: web.Request) -> web.Response:
        reachable = await asyncio.to_thread(core.store.ping)
        return web.json_response({"status": "ok" if reachable else "unavailable",
                                  "database": "ok" if reachable else "unreachable",
                                  "platforms": list(serving.platforms)},
                                 status=200 if reachable else 503)

    async def teams_messages(request: web.Request) -> web.StreamResponse:
        if serving.teams is None:
            return web.json_response({"error": "teams_not_configured"}, status=404)
        return await serving.teams.front_door.handle(request)

    async def download(request: web.Request) -> web.StreamResponse:
        """A file offered by signed link; anything forged, altered or expired is a 404."""
        if links is None:
            raise web.HTTPNotFound()
        file = await asyncio.to_thread(links.open, request.match_info["token"],
                                       request.query.get("expires", ""),
                                       request.query.get("sig", ""))
        if file is None:
            raise web.HTTPNotFound(text="This link has expired or is not valid.")
        return web.Response(body=file.content, content_type=file.media_type, headers={
            "Content-Disposition": f'attachment; filename="{_safe_name(file.name)}"',
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})

    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/files/{token}/{name}", download)
    app.router.add_post("/api/messages", teams_messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics.page)
    return app, serving


@web.middleware
async def _with_request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every log line of a request, and of the turn it starts, carries one id, returned in
    X-Request-Id (a proxy's own id is kept when it sends one)."""
    with request_scope(new_request_id(request.headers.get("X-Request-Id"))) as request_id:
        try:
            response = await handler(request)
        except web.HTTPException as answered:
            answered.headers["X-Request-Id"] = request_id
            raise
        response.headers["X-Request-Id"] = request_id
        return response


def download_links(core: App) -> DownloadLinks | None:
    """Links need an address readers can reach and a key every replica shares."""
    settings = core.settings
    if not settings.public_url or not settings.secret_key.value:
        return None
    return DownloadLinks(core.store, core.clock, settings.public_url,
                         settings.secret_key.value.encode("utf-8"))


def _safe_name(name: str) -> str:
    return "".join(c for c in name if c.isalnum() or c in "-_.") or "download"


async def _tidy(core: App, every_seconds: float = 600.0) -> None:
    """Forget delivery ids past any redelivery, so the dedupe table stays small."""
    while True:
        try:
            await asyncio.to_thread(forget_old_deliveries, core.store, core.clock)
            await asyncio.to_thread(forget_expired_downloads, core.store, core.clock)
            await asyncio.to_thread(care_for_drafts, core.store, core.clock)
            await asyncio.to_thread(remind_about_recommendations, core.store, core.clock)
        except Unavailable:
            log.warning("housekeeping waits for the database",
                        extra={"event": "serve.housekeeping_unavailable"})
        except Exception:
            log.exception("housekeeping failed", extra={"event": "serve.housekeeping_failed"})
        await asyncio.sleep(every_seconds)


async def _warm_up() -> None:
    await asyncio.to_thread(warm_up)
    # What start-up built lives as long as the process: move it out of the collector's
    # sight, or every full collection walks it (measured: 76-100 ms pauses with the index).
    gc.collect()
    gc.freeze()


async def serve(core: App, host: str, port: int, slack_settings: SlackSettings | None,
                teams_settings: TeamsSettings | None = None) -> None:
    """Runs until cancelled; prints the bound address so a caller using port 0 can find it."""
    app, _ = build_web_app(core, slack_settings, teams_settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_STAGE_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    print(f"Spoke is listening on http://{bound[0]}:{bound[1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
