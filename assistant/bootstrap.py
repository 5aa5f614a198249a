"""The one composition root: builds the engine, store, playbook and turn handler."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.clock import Clock, SystemClock
from assistant.config import Settings
from assistant.ports import Store
from assistant.turns import Playbook, TurnHandler

if TYPE_CHECKING:
    from assistant.sealing import Sealer
    from storage.migrate import DatabaseStatus


@dataclass
class App:
    store: Store
    clock: Clock
    playbook: Playbook
    turns: TurnHandler
    settings: Settings

    def close(self) -> None:
        dispose = getattr(self.store, "close", None)
        if dispose is not None:
            dispose()


class MissingSecret(Exception):
    """Raised at start-up: replicas sharing PostgreSQL must share the key that seals text."""


def build_store(settings: Settings) -> Store:
    from storage.engine import make_engine
    from storage.repositories import SqlStore

    return SqlStore(make_engine(settings.database_url), sealer_for(settings))


def sealer_for(settings: Settings) -> Sealer:
    """The key that seals what people type: SPOKE_SECRET_KEY, or for an embedded SQLite
    database a key file made once beside it (data/secret.key, readable by its owner only)."""
    from assistant.sealing import Sealer

    previous = [k.value for k in settings.previous_secret_keys]
    if settings.secret_key.value:
        return Sealer([settings.secret_key.value, *previous])
    if not settings.database_url.startswith("sqlite"):
        raise MissingSecret("set SPOKE_SECRET_KEY: every replica on this database needs the same "
                            "key to read what the others sealed")
    return Sealer([_local_key(settings.data_dir), *previous])


def server_secret(settings: Settings) -> str:
    """The current secret (SPOKE_SECRET_KEY, or the embedded database's key file), for keys
    derived from it other than the sealer's (the Participant IDs of pseudonymised exports)."""
    return settings.secret_key.value or _local_key(settings.data_dir)


def _local_key(data_dir: Path) -> str:
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Created owner-only from the start: never a moment when others could read it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def database_status(settings: Settings) -> DatabaseStatus:
    """Reachable or not, migrations applied or pending, the server's clock (for the doctor)."""
    from storage.migrate import status

    return status(settings.database_url)


def migrate(database_url: str) -> None:
    from storage.migrate import upgrade

    upgrade(database_url)


def build_app(settings: Settings, clock: Clock | None = None, store: Store | None = None) -> App:
    from dialogs import PLAYBOOK

    clock = clock or SystemClock()
    store = store or build_store(settings)
    return App(store=store, clock=clock, playbook=PLAYBOOK,
               turns=TurnHandler(store, clock, PLAYBOOK), settings=settings)
