"""`spoke serve` as an operator starts it: a real process on a free port, talking to the mock."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.slack_fixtures import AMIRA, SIGNING_SECRET
from tests.slack_mock import SlackApiMock
from tests.slack_signing import dm_event, json_body, slack_signed_headers
from tests.test_console import spoke as spoke_cli


async def start_serve(tmp_path: Path, slack_api: SlackApiMock,
                      **extra: str) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SPOKE_", "DATABASE_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'spoke.db'}", SPOKE_DATA_DIR=str(tmp_path),
               SLACK_BOT_TOKEN=slack_api.token, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_API_URL=slack_api.url, **extra)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert found, line
    return process, f"http://127.0.0.1:{found.group(1)}"


@pytest.mark.slow
async def test_spoke_serve_answers_a_signed_direct_message_and_stops_cleanly(
        tmp_path: Path, slack_api: SlackApiMock) -> None:
    assert spoke_cli(tmp_path, "db", "upgrade").returncode == 0
    assert spoke_cli(tmp_path, "demo", "seed").returncode == 0
    process, base = await start_serve(tmp_path, slack_api)
    try:
        async with aiohttp.ClientSession() as http:
            health = await http.get(f"{base}/healthz")
            assert health.status == 200 and (await health.json())["database"] == "ok"
            body = json_body(dm_event(AMIRA, "hello"))
            headers = slack_signed_headers(body, SIGNING_SECRET, int(time.time()))
            headers["Content-Type"] = "application/json"
            response = await http.post(f"{base}/slack/events", data=body, headers=headers)
            assert response.status == 200
            posted = await slack_api.next_call("chat.postMessage", timeout=20)
            assert posted["channel"] == "D0AMA" and "Spoke" in posted["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=20)
    assert process.returncode == 0
    assert process.stderr is not None
    errors = (await process.stderr.read()).decode()
    assert "Traceback" not in errors and SIGNING_SECRET not in errors and slack_api.token not in errors


async def test_spoke_serve_forgets_delivery_ids_past_any_redelivery(suite_store, clock,
                                                                  tmp_path: Path) -> None:
    from datetime import timedelta

    from aiohttp.test_utils import TestServer

    from adapters.slack.config import SlackSettings
    from adapters.web.server import build_web_app
    from assistant.bootstrap import build_app
    from assistant.config import Secret, Settings

    with suite_store.transaction() as uow:
        uow.processed.add("slack:EvOld", clock.now() - timedelta(hours=2))
        uow.processed.add("slack:EvRecent", clock.now() - timedelta(minutes=5))
    core = build_app(Settings(database_url="sqlite://", data_dir=tmp_path, secret_key=Secret("")),
                     clock=clock, store=suite_store)
    slack = SlackSettings(bot_token=Secret("xoxb-test"), signing_secret=Secret("s"),
                          api_url="http://127.0.0.1:9/api/")
    app, _ = build_web_app(core, slack, tick_seconds=3600)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        for _ in range(100):  # the housekeeping task runs at start, in a thread
            await asyncio.sleep(0.02)
            with suite_store.transaction() as uow:
                if uow.processed.add("slack:EvOld", clock.now()):
                    break
        else:
            raise AssertionError("the old delivery id was never forgotten")
        with suite_store.transaction() as uow:
            assert not uow.processed.add("slack:EvRecent", clock.now())  # still recognised
    finally:
        await server.close()
