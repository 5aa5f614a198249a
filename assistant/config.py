"""Settings from the environment, read once by the entry point and passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Secret:
    """A value that never prints: repr and str show only that it is set."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "**********" if self.value else ""

    def __repr__(self) -> str:
        return "Secret('**********')" if self.value else "Secret('')"


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    secret_key: Secret
    log_level: str = "WARNING"
    # Where `spoke serve` is reachable from readers' devices: links to files (Teams) use it.
    public_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("SPOKE_DATA_DIR", "data")).expanduser()
        url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'spoke.db'}"
        return cls(database_url=url, data_dir=data_dir,
                   secret_key=Secret(env.get("SPOKE_SECRET_KEY", "")),
                   log_level=env.get("SPOKE_LOG_LEVEL", "WARNING").upper(),
                   public_url=env.get("SPOKE_PUBLIC_URL", "").strip())
