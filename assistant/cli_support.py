"""What the `spoke admin` command modules share: a refusal that prints as `error: ...` and
exits 1, and the wrapper that turns one into the other."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from assistant.bootstrap import App

Command = Callable[[App, argparse.Namespace], int]
Wrap = Callable[[Command], Callable[[argparse.Namespace], int]]


class Refusal(Exception):
    """Printed as `error: ...`; the command exits with status 1."""


def guarded(with_app: Wrap, command: Command) -> Callable[[argparse.Namespace], int]:
    def run(app: App, args: argparse.Namespace) -> int:
        try:
            return command(app, args)
        except Refusal as refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return 1
    return with_app(run)
