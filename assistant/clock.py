"""The only place that reads the wall clock. Everything else is handed a `Clock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock tests move by hand: `FakeClock(at="2025-10-25T21:30:00Z")`."""

    def __init__(self, at: str | datetime = "2025-06-02T09:00:00Z") -> None:
        self._now = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware time")
        self._now = self._now.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at.astimezone(UTC)
