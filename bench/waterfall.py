"""The baseline for `bench/turns.py`: the same six registration prompts as a botbuilder-dialogs
`WaterfallDialog`, its conversation state stored through SQLModel on a SQLite file.

Run by `bench/turns.py` in its own process (and, when the project's venv cannot hold
botbuilder-dialogs 4.17.1 beside Spoke's Babel, in its own venv), so it imports nothing from
Spoke and prints one JSON document on standard output:

    python bench/waterfall.py --db /tmp/x/spoke.db --users 50 --first 100   # bench100..bench149

Each timed turn is one incoming activity fully processed by `TestAdapter.process_activity`:
state read from the table, the dialog step, state written back and committed, the way a
botbuilder bot persists `ConversationState` with `save_changes` at the end of every turn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botbuilder.core import ConversationState, MessageFactory, Storage, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs import (
    DialogSet,
    DialogTurnResult,
    DialogTurnStatus,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.dialogs.choices import Choice
from botbuilder.dialogs.prompts import (
    ChoicePrompt,
    ConfirmPrompt,
    PromptOptions,
    PromptValidatorContext,
    TextPrompt,
)
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount
from jsonpickle.pickler import Pickler
from jsonpickle.unpickler import Unpickler
from sqlalchemy import JSON, Column, Engine, event
from sqlmodel import Field, Session, SQLModel, create_engine, select

# The script one user types: the greeting starts the dialog, then one answer per prompt.
SCRIPT = ("hi", "Amira Haddad", "amira@example.org", "1", "St Columba's Hospice", "Glasgow", "yes")
STEPS = ("start", "name", "email", "profession", "organisation", "time_zone", "consent")
PROFESSIONS = ("Registered nurse", "Nursing associate", "Care assistant", "GP",
               "Allied health professional", "Care home manager")
# Spoke looks cities up in a full gazetteer; a small map is the usual botbuilder-sample shortcut.
CITIES = {"glasgow": "Europe/London", "edinburgh": "Europe/London", "london": "Europe/London",
          "toronto": "America/Toronto", "ottawa": "America/Toronto",
          "vancouver": "America/Vancouver", "albuquerque": "America/Denver"}


# --- storage: botbuilder's Storage port over SQLModel ----------------------------------------

class BotStateRow(SQLModel, table=True):
    __tablename__ = "bench_bot_state"

    key: str = Field(primary_key=True)
    etag: str
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class SqlModelStorage(Storage):
    """Like botbuilder's blob and Cosmos stores: jsonpickle-flattened JSON, one row per key,
    an e-tag checked on write (optimistic concurrency), each call its own committed session."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def read(self, keys: list[str]) -> dict[str, Any]:
        with Session(self._engine) as session:
            rows = session.exec(select(BotStateRow).where(BotStateRow.key.in_(keys)))  # type: ignore[attr-defined]
            found: dict[str, Any] = {}
            for row in rows:
                item = Unpickler().restore(row.document)
                item["e_tag"] = row.etag
                found[row.key] = item
            return found

    async def write(self, changes: dict[str, Any]) -> None:
        with Session(self._engine) as session:
            for key, change in changes.items():
                document = dict(change)
                seen_etag = document.pop("e_tag", None)
                row = session.get(BotStateRow, key)
                if row is None:
                    row = BotStateRow(key=key, etag="", document={})
                elif seen_etag not in (None, "*") and seen_etag != row.etag:
                    raise KeyError(f"e-tag conflict on {key}")
                row.document = Pickler().flatten(document)
                row.etag = uuid.uuid4().hex
                session.add(row)
            session.commit()

    async def delete(self, keys: list[str]) -> None:
        with Session(self._engine) as session:
            for key in keys:
                row = session.get(BotStateRow, key)
                if row is not None:
                    session.delete(row)
            session.commit()


def sqlite_engine(path: str) -> Engine:
    """Same durability settings as Spoke's engine (WAL, synchronous=NORMAL), for a fair race."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 5})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    SQLModel.metadata.create_all(engine)
    return engine


# --- the dialog -------------------------------------------------------------------------------

async def has_at_sign(prompt: PromptValidatorContext) -> bool:
    text = (prompt.recognized.value or "").strip()
    return prompt.recognized.succeeded and "@" in text and " " not in text


async def known_zone(prompt: PromptValidatorContext) -> bool:
    return prompt.recognized.succeeded and zone_of(prompt.recognized.value or "") is not None


def zone_of(text: str) -> str | None:
    name = CITIES.get(text.strip().lower(), text.strip())
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def ask(text: str, retry: str | None = None, choices: list[Choice] | None = None) -> PromptOptions:
    return PromptOptions(prompt=MessageFactory.text(text),
                         retry_prompt=MessageFactory.text(retry) if retry else None,
                         choices=choices)


async def ask_name(step: WaterfallStepContext) -> DialogTurnResult:
    return await step.prompt("text", ask("What is your full name?"))


async def ask_email(step: WaterfallStepContext) -> DialogTurnResult:
    step.values["name"] = step.result
    return await step.prompt("email", ask("What is your work e-mail address?",
                                          "That does not look like an e-mail address."))


async def ask_profession(step: WaterfallStepContext) -> DialogTurnResult:
    step.values["email"] = step.result
    return await step.prompt("choice", ask("What is your role?",
                                           choices=[Choice(p) for p in PROFESSIONS]))


async def ask_organisation(step: WaterfallStepContext) -> DialogTurnResult:
    step.values["profession"] = step.result.value
    return await step.prompt("text", ask("Which organisation do you work for?"))


async def ask_time_zone(step: WaterfallStepContext) -> DialogTurnResult:
    step.values["organisation"] = step.result
    return await step.prompt("zone", ask("Which time zone are you in? A nearby city is fine.",
                                         "I don't know that place; try a nearby city."))


async def ask_consent(step: WaterfallStepContext) -> DialogTurnResult:
    step.values["time_zone"] = zone_of(step.result)
    return await step.prompt("confirm", ask("Do you agree to the hub keeping these details?"))


async def finish(step: WaterfallStepContext) -> DialogTurnResult:
    step.values["consent"] = step.result
    await step.context.send_activity(MessageFactory.text(f"You're registered, {step.values['name']}."))
    return await step.end_dialog(dict(step.values))


class RegistrationBot:
    """The canonical botbuilder turn: continue the active dialog, else begin; then save."""

    def __init__(self, storage: Storage) -> None:
        self.state = ConversationState(storage)
        self.dialogs = DialogSet(self.state.create_property("DialogState"))
        self.dialogs.add(TextPrompt("text"))
        self.dialogs.add(TextPrompt("email", has_at_sign))
        self.dialogs.add(TextPrompt("zone", known_zone))
        self.dialogs.add(ChoicePrompt("choice"))
        self.dialogs.add(ConfirmPrompt("confirm"))
        self.dialogs.add(WaterfallDialog("registration", [
            ask_name, ask_email, ask_profession, ask_organisation, ask_time_zone, ask_consent,
            finish]))
        self.completed = 0
        self.last_answers: dict[str, Any] = {}

    async def on_turn(self, turn: TurnContext) -> None:
        dialog = await self.dialogs.create_context(turn)
        result = await dialog.continue_dialog()
        if result.status == DialogTurnStatus.Empty:
            await dialog.begin_dialog("registration")
        elif result.status == DialogTurnStatus.Complete:
            self.completed += 1
            self.last_answers = dict(result.result)
        await self.state.save_changes(turn)


# --- driving it -------------------------------------------------------------------------------

def adapter_for(user: str) -> TestAdapter:
    """One conversation per user, so each has its own state row (key = channel/conversation)."""
    return TestAdapter(template_or_conversation=Activity(
        channel_id="test", service_url="https://test.invalid",
        from_property=ChannelAccount(id=user, name=user),
        recipient=ChannelAccount(id="bot", name="Bot"),
        conversation=ConversationAccount(id=f"conversation-{user}")))


async def register_one(bot: RegistrationBot, user: str,
                       timed: Callable[[int, Awaitable[None]], Awaitable[None]]) -> list[str]:
    adapter = adapter_for(user)
    for index, text in enumerate(SCRIPT):
        await timed(index, adapter.process_activity(
            Activity(type=ActivityTypes.message, text=text), bot.on_turn))
    return [a.text for a in adapter.activity_buffer if a.text]


async def run(db: str, users: int, first: int = 0) -> dict[str, Any]:
    engine = sqlite_engine(db)
    bot = RegistrationBot(SqlModelStorage(engine))
    timings: list[list[float]] = [[] for _ in SCRIPT]

    async def untimed(_index: int, turn: Awaitable[None]) -> None:
        await turn

    async def timed(index: int, turn: Awaitable[None]) -> None:
        started = time.perf_counter()
        await turn
        timings[index].append(time.perf_counter() - started)

    # The first turn loads the recognizers' models and compiles SQL: keep it out of the figures.
    started = time.perf_counter()
    transcript = await register_one(bot, f"warmup{first}", untimed)
    warmup_s = time.perf_counter() - started
    bot.completed = 0
    wall = time.perf_counter()
    for n in range(first, first + users):
        await register_one(bot, f"bench{n}", timed)
    wall_s = time.perf_counter() - wall
    engine.dispose()
    return {
        "python": sys.version.split()[0],
        "versions": {name: version(name) for name in
                     ("botbuilder-dialogs", "sqlmodel", "SQLAlchemy", "jsonpickle", "babel")},
        "steps": list(STEPS),
        "timings": timings,
        "completed": bot.completed,
        "users": users,
        "warmup_s": warmup_s,
        "wall_s": wall_s,
        "last_reply": transcript[-1] if transcript else "",
        "last_answers": bot.last_answers,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", required=True, help="SQLite file (shared with Spoke's run)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--first", type=int, default=0, help="number of the first user (a round)")
    args = parser.parse_args()
    json.dump(asyncio.run(run(args.db, args.users, args.first)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
