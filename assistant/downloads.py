"""Files offered by link, for platforms where a bot cannot attach them (Teams chats).

The file waits in the database (so any replica can serve it) under a random token; the
link also carries its expiry and an HMAC of both, so a link cannot be stretched, and a
guessed token without the key's signature opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from assistant.clock import Clock
from assistant.messages import File
from assistant.ports import Store

LINK_LIFETIME = timedelta(days=3)


@dataclass(frozen=True)
class DownloadLinks:
    store: Store
    clock: Clock
    base_url: str  # where `spoke serve` is reachable from the readers' devices
    key: bytes
    lifetime: timedelta = LINK_LIFETIME

    def offer(self, file: File) -> str:
        """Keep the file and return its signed link (call from a thread: it writes)."""
        token = secrets.token_urlsafe(24)
        now = self.clock.now()
        expires_at = now + self.lifetime
        with self.store.transaction() as uow:
            uow.downloads.add(token, file, now, expires_at)
        expires = int(expires_at.timestamp())
        return (f"{self.base_url.rstrip('/')}/files/{token}/{quote(file.name)}"
                f"?expires={expires}&sig={self._signature(token, expires)}")

    def open(self, token: str, expires: str, signature: str) -> File | None:
        """The file behind a link, or None when the link is forged, altered or expired."""
        if not expires.isdigit() or len(expires) > 12:
            return None
        if not hmac.compare_digest(self._signature(token, int(expires)), signature):
            return None
        now = self.clock.now()
        if datetime.fromtimestamp(int(expires), UTC) <= now:
            return None
        with self.store.transaction() as uow:
            return uow.downloads.get(token, now)

    def _signature(self, token: str, expires: int) -> str:
        return hmac.new(self.key, f"{token}:{expires}".encode(), hashlib.sha256).hexdigest()
