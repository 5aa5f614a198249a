"""The one composition root: builds the engine, store, playbook and turn handler."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.clock import Clock, SystemClock
from assistant.config import Settings
from assistant.ports import Store
from assistant.turns import Playbook, TurnHandler


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


def build_store(database_url: str) -> Store:
    from storage.engine import make_engine
    from storage.repositories import SqlStore

    return SqlStore(make_engine(database_url))


def migrate(database_url: str) -> None:
    from storage.migrate import upgrade

    upgrade(database_url)


def build_app(settings: Settings, clock: Clock | None = None, store: Store | None = None) -> App:
    from dialogs import PLAYBOOK

    clock = clock or SystemClock()
    store = store or build_store(settings.database_url)
    return App(store=store, clock=clock, playbook=PLAYBOOK,
               turns=TurnHandler(store, clock, PLAYBOOK), settings=settings)
