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
    # Keys sealed text may still be under after a rotation (read, never written with).
    previous_secret_keys: tuple[Secret, ...] = ()
    # Where `spoke serve` is reachable from readers' devices: links to files (Teams) use it.
    public_url: str = ""
    # How long a sender holds a row it is sending before another may retake it (a sender
    # that died mid-send), and how often the outbox is looked at when nothing wakes it.
    outbox_lease_seconds: float = 60.0
    outbox_tick_seconds: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("SPOKE_DATA_DIR", "data")).expanduser()
        url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'spoke.db'}"
        return cls(database_url=url, data_dir=data_dir,
                   secret_key=Secret(env.get("SPOKE_SECRET_KEY", "")),
                   log_level=env.get("SPOKE_LOG_LEVEL", "WARNING").upper(),
                   public_url=env.get("SPOKE_PUBLIC_URL", "").strip(),
                   previous_secret_keys=tuple(
                       Secret(k.strip()) for k in env.get("SPOKE_PREVIOUS_SECRET_KEYS", "").split(",")
                       if k.strip()),
                   # Above the platforms' 15 s call timeout, or a slow send could overlap
                   # another replica's retake of the same row.
                   outbox_lease_seconds=_seconds(env, "SPOKE_OUTBOX_LEASE_SECONDS", 60.0,
                                                 low=10.0),
                   outbox_tick_seconds=_seconds(env, "SPOKE_OUTBOX_TICK_SECONDS", 15.0))


def _seconds(env: Mapping[str, str], name: str, default: float, low: float = 0.5) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
    if not low <= value <= 86400:
        raise ValueError(f"{name} must be between {low:g} and 86400 seconds")
    return value
