"""`spoke ...` run in the test's own process, as from a shell: for the admin command tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.clock import FakeClock


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


Spoke = Callable[..., Ran]


def in_process(url: str, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str],
               monkeypatch: pytest.MonkeyPatch) -> Spoke:
    """The database from DATABASE_URL and the key from SPOKE_SECRET_KEY, on the test's clock."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SPOKE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SPOKE_SECRET_KEY", "a key for the tests")
    # main() points the root logger at the stderr of the moment; pytest's capture comes and goes.
    monkeypatch.setattr("assistant.logs.configure", lambda level: None)

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = main(list(argv), clock=clock)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run
