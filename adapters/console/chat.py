"""`spoke chat`: the terminal front-end. Same core, same turns, same outbox as Slack/Teams.

Works interactively and with piped input (reads lines until end of input, exits 0).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.console.render import render
from assistant.bootstrap import App
from assistant.events import Actor, ConversationStarted, Event, Hints, UserChose, UserSaid
from assistant.housekeeping import forget_old_deliveries
from assistant.i18n import normalise_language, translate
from assistant.messages import Card, Option, Outgoing, Question, Reply
from assistant.outbox import OutboxPump, Sender
from assistant.parsers import warm_up
from assistant.ports import Sent, Unavailable


class ConsoleNotifier:
    def __init__(self, out: TextIO, files_dir: Path) -> None:
        self._out = out
        self._files_dir = files_dir
        # The numbered buttons of the last message printed: typing "2" presses the second.
        self.last_options: tuple[Option, ...] = ()

    async def send(self, message: Outgoing) -> Sent:
        text = render(message.reply, self._files_dir)
        if text:
            self._out.write(f"\nSpoke: {text}\n")
            self._out.flush()
            self.last_options = _last_options(message.reply)
        return Sent()

    def pressed(self, line: str) -> UserChose | None:
        """A bare number answers the numbered list just printed, whether a question's or a
        reminder's buttons (which have no question waiting behind them)."""
        text = line.strip()
        if not text.isdigit() or not 1 <= int(text) <= len(self.last_options):
            return None
        return UserChose(self.last_options[int(text) - 1].ref)


def _last_options(reply: Reply) -> tuple[Option, ...]:
    for part in reversed(reply.parts):
        if isinstance(part, Question) and part.options and not part.many:
            return part.options
        if isinstance(part, Card) and part.actions:
            return part.actions
    return ()


async def chat(app: App, user: str, language: str | None, stdin: TextIO, out: TextIO) -> int:
    actor = Actor(f"console:{user}")
    hints = Hints(display_name=None, language=language, time_zone=_local_zone())
    notifier = ConsoleNotifier(out, app.settings.data_dir / "files")
    sender = Sender(app.store, notifier, app.clock, worker=f"console-{os.getpid()}",
                    identity=actor.identity)
    interactive = stdin.isatty()

    async def turn(action: UserSaid | UserChose | ConversationStarted) -> None:
        event = Event(delivery_id=f"console:{uuid.uuid4()}", actor=actor, action=action,
                      address={"user": user}, hints=hints)
        try:
            await app.turns.handle(event)
        except Unavailable:
            out.write(f"\nSpoke: {translate('runtime.unavailable', normalise_language(language))}\n")
            return
        await sender.deliver_due()

    forget_old_deliveries(app.store, app.clock)
    await sender.take_over_reader()  # a chat killed mid-message: it is shown again
    await turn(ConversationStarted())
    pump: OutboxPump | None = None
    if interactive:
        # Reminders and notices arrive while the reader sits at the prompt.
        pump = OutboxPump(sender, tick_seconds=app.settings.outbox_tick_seconds)
        await pump.start()
    # Build the city index while the reader reads the greeting, not when they reach the
    # time-zone question.
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    while True:
        if interactive:
            out.write("\n> ")
            out.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:  # end of input
            if interactive:
                out.write("\n")
            if pump is not None:
                await pump.stop()
            return 0
        await turn(notifier.pressed(line) or UserSaid(line.rstrip("\n")))


def _local_zone() -> str | None:
    """The terminal's zone is a fair suggestion; the reader still confirms it."""
    name = os.environ.get("TZ")
    if not name:
        try:
            name = "/".join(Path("/etc/localtime").resolve().parts[-2:])
        except OSError:
            return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def main(app: App, user: str, language: str | None) -> int:
    return asyncio.run(chat(app, user, language, sys.stdin, sys.stdout))
