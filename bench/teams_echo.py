"""The baseline for `bench/teams.py`: botbuilder's stock echo bot on its stock `CloudAdapter`.

What the Bot Framework samples (02.echo-bot) run: `CloudAdapter` from
botbuilder-integration-aiohttp 4.17.1 with `ConfigurationBotFrameworkAuthentication` built from
a configuration object (authentication on: the app id and password are set), an
`ActivityHandler` whose `on_message_activity` sends the text back with
`turn_context.send_activity`, and `adapter.process(request, bot)` behind `POST /api/messages`
on aiohttp. No database, no dialog: the floor any botbuilder bot stands on, with botbuilder's
own per-turn costs (PLATFORMS T8: the signing keys fetched with blocking `requests` calls and
cached; per turn a new `MicrosoftAppCredentials`, MSAL application and connector client).

Configuration from the environment, under botbuilder's own attribute names:

    MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD, MICROSOFT_APP_TYPE (default MultiTenant)
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL   the channel's OpenID metadata (signing keys)
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER          default https://api.botframework.com
    TO_CHANNEL_FROM_BOT_LOGIN_URL             the MSAL authority for the bot's own token
    REQUESTS_CA_BUNDLE                        the CA of local https test servers, if any

    .venv/bin/python bench/teams_echo.py --port 0

Prints `Echo is listening on http://HOST:PORT` once bound, then serves until SIGTERM/SIGINT.
Run by `bench/teams.py` in its own process, so it and `spoke serve` are measured alike; that
script also imports `build` to time the adapter in its own process.

Needs botbuilder-integration-aiohttp 4.17.1 (the same botbuilder-core, -schema and
botframework-connector Spoke uses; installing it into Spoke's venv changes no other package).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from botbuilder.core import ActivityHandler, TurnContext
from loadkit import echo_main, serve_until_stopped  # bench/, beside this script

try:
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
except ImportError as missing:  # not one of Spoke's dependencies
    raise SystemExit("bench/teams_echo.py needs botbuilder-integration-aiohttp==4.17.1 "
                     "(.venv/bin/pip install botbuilder-integration-aiohttp==4.17.1)") from missing

BOT_FRAMEWORK = "https://api.botframework.com"
log = logging.getLogger("teams_echo")


@dataclass(frozen=True)
class Config:
    """The configuration object `ConfigurationBotFrameworkAuthentication` reads (as the samples'
    `DefaultConfig`), from the environment."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str | None
    TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: str | None
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str | None
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str | None
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str | None
    OAUTH_URL: str | None
    VALIDATE_AUTHORITY: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        metadata = env.get("TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL") or None
        login = env.get("TO_CHANNEL_FROM_BOT_LOGIN_URL") or None
        local = bool(metadata or login)
        return cls(
            APP_ID=env.get("MICROSOFT_APP_ID", ""), APP_PASSWORD=env.get("MICROSOFT_APP_PASSWORD", ""),
            APP_TYPE=env.get("MICROSOFT_APP_TYPE", "MultiTenant") or "MultiTenant",
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=metadata,
            TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=metadata,
            # Overriding the metadata URL needs the issuer too, or every valid token is refused.
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=env.get("TO_BOT_FROM_CHANNEL_TOKEN_ISSUER")
            or (BOT_FRAMEWORK if local else None),
            TO_CHANNEL_FROM_BOT_LOGIN_URL=login,
            TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=BOT_FRAMEWORK if local else None,
            OAUTH_URL=BOT_FRAMEWORK if local else None)


class EchoBot(ActivityHandler):
    """The sample's echo: every message's text straight back."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(turn_context.activity.text or "…")


def build(config: Config) -> tuple[CloudAdapter, EchoBot]:
    if not (config.APP_ID and config.APP_PASSWORD):
        # With an empty app id botbuilder turns authentication off (PLATFORMS T1): not a baseline.
        raise SystemExit("MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD are needed (authentication on)")
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))

    async def on_error(context: TurnContext, error: Exception) -> None:  # as the samples do
        log.error("turn failed: %s: %s", type(error).__name__, error)

    adapter.on_turn_error = on_error
    return adapter, EchoBot()


def web_app(adapter: CloudAdapter, bot: EchoBot) -> web.Application:
    async def messages(request: web.Request) -> web.StreamResponse:
        response = await adapter.process(request, bot)
        return response if response is not None else web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


async def serve(host: str, port: int) -> None:
    await serve_until_stopped(web_app(*build(Config.from_env())), host, port)


def main(argv: list[str] | None = None) -> int:
    return echo_main("stock botbuilder CloudAdapter echo bot (bench baseline)", serve, argv)


if __name__ == "__main__":
    sys.exit(main())
