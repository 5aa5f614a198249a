"""Teams settings from the environment. The password never prints."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from assistant.config import Secret

BOT_FRAMEWORK_METADATA = "https://login.botframework.com/v1/.well-known/openidconfiguration"
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
CONNECTOR_SCOPE = "https://api.botframework.com/.default"


class TeamsMisconfigured(Exception):
    """Raised at start-up: Spoke refuses to run a Teams bot that anyone could impersonate."""


@dataclass(frozen=True)
class TeamsSettings:
    app_id: str
    app_password: Secret
    app_type: str = "MultiTenant"
    tenant_id: str = ""
    allowed_tenants: frozenset[str] = frozenset()
    openid_metadata_url: str = BOT_FRAMEWORK_METADATA
    token_url: str = ""
    insecure_dev: bool = False

    @property
    def outbound_token_url(self) -> str:
        if self.token_url:
            return self.token_url
        tenant = self.tenant_id if self.app_type == "SingleTenant" and self.tenant_id else "botframework.com"
        return f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"

    def tenant_allowed(self, tenant: str | None) -> bool:
        if self.allowed_tenants:
            return tenant in self.allowed_tenants
        if self.app_type == "SingleTenant":
            return bool(tenant) and tenant == self.tenant_id
        return True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TeamsSettings | None:
        """None when Teams is not configured at all; an error when half configured."""
        env = os.environ if env is None else env
        app_id = env.get("MICROSOFT_APP_ID", "")
        password = env.get("MICROSOFT_APP_PASSWORD", "")
        insecure = env.get("SPOKE_TEAMS_INSECURE_DEV") == "1"
        if not app_id and not password and not insecure:
            return None
        if not (app_id and password) and not insecure:
            raise TeamsMisconfigured(
                "MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD are both needed: without them "
                "anyone could post to the bot (set SPOKE_TEAMS_INSECURE_DEV=1 for a local "
                "emulator only)")
        app_type = env.get("MICROSOFT_APP_TYPE", "MultiTenant") or "MultiTenant"
        if app_type not in ("MultiTenant", "SingleTenant"):
            raise TeamsMisconfigured("MICROSOFT_APP_TYPE is MultiTenant or SingleTenant")
        tenants = frozenset(t.strip() for t in env.get("SPOKE_TEAMS_ALLOWED_TENANTS", "").split(",")
                            if t.strip())
        tenant_id = env.get("MICROSOFT_APP_TENANT_ID", "")
        if app_type == "SingleTenant" and not tenant_id and not insecure:
            raise TeamsMisconfigured("a SingleTenant app needs MICROSOFT_APP_TENANT_ID")
        return cls(app_id=app_id, app_password=Secret(password), app_type=app_type,
                   tenant_id=tenant_id, allowed_tenants=tenants,
                   openid_metadata_url=env.get("SPOKE_TEAMS_OPENID_METADATA_URL") or BOT_FRAMEWORK_METADATA,
                   token_url=env.get("SPOKE_TEAMS_TOKEN_URL", ""), insecure_dev=insecure)
