"""Slack settings from the environment. Tokens are wrapped so they never print."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from assistant.config import Secret

SLACK_API = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackSettings:
    bot_token: Secret
    signing_secret: Secret
    api_url: str = SLACK_API
    app_token: Secret = field(default_factory=lambda: Secret(""))
    bot_user_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlackSettings | None:
        """None when Slack is not configured: `spoke serve` then serves the other platforms."""
        env = os.environ if env is None else env
        token, secret = env.get("SLACK_BOT_TOKEN", ""), env.get("SLACK_SIGNING_SECRET", "")
        if not token or not (secret or env.get("SLACK_APP_TOKEN")):
            return None
        url = env.get("SLACK_API_URL") or SLACK_API
        return cls(bot_token=Secret(token), signing_secret=Secret(secret),
                   api_url=url if url.endswith("/") else url + "/",  # slack_sdk joins blindly
                   app_token=Secret(env.get("SLACK_APP_TOKEN", "")),
                   bot_user_id=env.get("SLACK_BOT_USER_ID") or None)
