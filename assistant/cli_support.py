"""What `spoke admin`'s command modules share: the refusal `main` prints as `error: ...` (exit
status 1), and the look-ups every command makes of what an operator typed. It lives apart
from assistant/cli.py so that `python -m assistant.cli` and the command modules see one class."""

from __future__ import annotations

import argparse
import zoneinfo
from collections.abc import Callable

from assistant.bootstrap import App
from assistant.i18n import translate
from assistant.model import Series, Session
from assistant.ports import UnitOfWork

Command = Callable[[App, argparse.Namespace], int]
Wrap = Callable[[Command], Callable[[argparse.Namespace], int]]


class CommandError(Exception):
    """A refusal to print as `error: ...` with exit status 1."""


def network(uow: UnitOfWork, slug: str) -> None:
    if not any(n.slug == slug for n in uow.networks.all()):
        raise CommandError(translate("schedule.unknown_network", "en", network=slug))


def series(uow: UnitOfWork, network_slug: str, name: str) -> Series:
    network(uow, network_slug)
    found = uow.schedule.series_named(network_slug, name)
    if found is None:
        raise CommandError(f'there is no series "{name}" in {network_slug}')
    return found


def session(uow: UnitOfWork, reference: str) -> Session:
    number = whole_number(reference, "SESSION_ID")
    found = uow.schedule.session(number)
    if found is None:
        raise CommandError(f"there is no session {number}")
    return found


def zone(name: str) -> str:
    """The IANA name as tzdata spells it ("europe/london" is Europe/London)."""
    known = {z.casefold(): z for z in zoneinfo.available_timezones()}
    if name.strip().casefold() not in known:
        raise CommandError(translate("schedule.bad_zone", "en", zone=name))
    return known[name.strip().casefold()]


def whole_number(text: str, option: str) -> int:
    """A positive whole number that fits any integer column (nine digits at most)."""
    if not (text.isascii() and text.strip().isdigit()) or len(text.strip()) > 9:
        raise CommandError(f"{option} takes a whole number, not {text!r}")
    return int(text)
