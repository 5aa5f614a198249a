"""One turn: load the conversation, run the dialog, and save everything in one transaction.

State, outbound messages (outbox rows) and the processed delivery id commit together, so a
crash before the commit loses nothing and repeats nothing, and a redelivered event is
ignored. Never a platform call or network await inside the transaction.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from assistant import runtime
from assistant.clock import Clock
from assistant.events import Event, HomeOpened, UserChose
from assistant.i18n import Translator, normalise_language
from assistant.messages import Outgoing, Part, Reply, Text
from assistant.model import ConsentRecord
from assistant.ports import Arrival, StaleState, Store, Unavailable, UnitOfWork
from assistant.runtime import Dialog, DialogState, Directory, Reopen, StepContext
from assistant.services.context import ServiceContext

log = logging.getLogger(__name__)
MAX_RACE_RETRIES = 5
ACTION_PREFIX = "act:"


@dataclass(frozen=True)
class StartDialog:
    """What the idle router may ask for: start (or resume) a dialog, with preset answers."""

    dialog: str
    preset: dict[str, object] | None = None
    lead: tuple[Part, ...] = ()


@dataclass(frozen=True)
class HomePage:
    """What the router shows on the app's home page instead of in the chat."""

    parts: tuple[Part, ...]


Routed = Sequence[Part] | StartDialog | HomePage


class Playbook(Protocol):
    """The conversations Spoke knows (built in `dialogs/`, handed in by bootstrap)."""

    def dialog(self, name: str) -> Dialog: ...

    def knows(self, name: str) -> bool: ...

    def route(self, event: Event, ctx: ServiceContext) -> Routed:
        """What to do with an event when no dialog is waiting for an answer."""
        ...

    def act(self, ref: str, ctx: ServiceContext) -> Sequence[Part] | StartDialog:
        """A one-shot button (`act:...`: I'll attend, add to calendar), pressed at any time."""
        ...


@dataclass(frozen=True)
class TurnResult:
    replies: tuple[Reply, ...] = ()
    duplicate: bool = False
    incident: str | None = None
    # A submitted form's field errors, for the front-end to show on the form itself.
    form_errors: dict[str, str] | None = None
    # The replies already claimed for this server's sender, to post at once (in order);
    # empty when they wait in the outbox for the pump.
    ready: tuple[Outgoing, ...] = ()
    # Whether the turn left work for the pump (replies waiting, a notice, a reminder planned).
    queued: bool = False


# What a front end calls with each turn's result: the server posts what is ready and wakes
# the outbox pump for the rest.
AfterTurn = Callable[[TurnResult], None]


@dataclass(frozen=True)
class _Said:
    replies: list[Reply]
    form_errors: dict[str, str] | None = None


class TurnHandler:
    def __init__(self, store: Store, clock: Clock, playbook: Playbook) -> None:
        self._store = store
        self._clock = clock
        self._playbook = playbook
        self._database_down = False  # learnt from the last turn; cleared by the next success
        self._watchers: list[Callable[[str, float], None]] = []
        self._direct: tuple[str, timedelta] | None = None

    def send_replies_directly(self, worker: str, lease: timedelta) -> None:
        """A server's sender posts a turn's replies itself, right after the turn, instead of
        waking the pump to claim them: the rows are written already claimed by `worker`.
        Without it (the terminal, the tests) replies wait in the outbox as pending rows."""
        self._direct = (worker, lease)

    def watch(self, watcher: Callable[[str, float], None]) -> None:
        """Told each turn's outcome ("ok", "duplicate", "failed") and seconds (metrics)."""
        self._watchers.append(watcher)

    async def database_reachable(self) -> bool:
        """Cheap while all is well; after a failure, asks the database again. Front doors
        use it to answer 503 during an outage instead of accepting what they cannot keep."""
        if self._database_down and await asyncio.to_thread(self._store.ping):
            self._database_down = False
        return not self._database_down

    async def handle(self, event: Event) -> TurnResult:
        """The async entry point for adapters; the database work runs in a thread."""
        return await asyncio.to_thread(self.handle_now, event)

    def handle_now(self, event: Event) -> TurnResult:
        started = time.perf_counter()
        try:
            result = self._run_with_retries(event)
        except Unavailable:
            # Nothing was processed: the front door answers 503 and the platform redelivers.
            self._database_down = True
            log.warning("database unavailable", extra={"event": "turn.unavailable"})
            raise
        except Exception:
            incident = _incident_ref()
            log.exception("turn failed", extra={"event": "turn.failed", "incident": incident})
            result = self._apologise(event, incident)
        self._database_down = False
        seconds = time.perf_counter() - started
        outcome = "duplicate" if result.duplicate else "failed" if result.incident else "ok"
        log.info("turn", extra={"event": "turn.done", "outcome": outcome,
                                "duration_ms": round(seconds * 1000, 2)})
        for watcher in self._watchers:
            watcher(outcome, seconds)
        return result

    def _run_with_retries(self, event: Event) -> TurnResult:
        for _attempt in range(MAX_RACE_RETRIES):
            try:
                with self._store.transaction() as uow:
                    if not uow.processed.add(event.delivery_id, self._clock.now()):
                        return TurnResult(duplicate=True)
                    said = self._turn(uow, event)
                    ready = self._queue(uow, event, said.replies)
                    queued = uow.outbox.queued > 0
                return TurnResult(tuple(said.replies), form_errors=said.form_errors, ready=ready,
                                  queued=queued)
            except StaleState:
                # Another device answered this conversation meanwhile: rerun on its state.
                continue
        raise StaleState("conversation kept changing")

    def _turn(self, uow: UnitOfWork, event: Event) -> _Said:
        now = self._clock.now()
        key = event.actor.identity
        arrival = uow.people.arrive(key, event.lasting_address(), now)
        ctx = self._service_context(uow, event, arrival)
        state = uow.conversations.active(key)
        if isinstance(event.action, UserChose) and event.action.ref.startswith(ACTION_PREFIX):
            return self._act(uow, ctx, event.action.ref, state)
        if isinstance(event.action, HomeOpened):
            state = None  # opening the home page answers no question
        elif state is not None and not self._playbook.knows(state.dialog):
            # Saved by a version of Spoke that had this dialog; nothing can resume it.
            log.warning("dropped state of an unknown dialog", extra={"event": "turn.unknown_dialog",
                                                                    "dialog": state.dialog})
            uow.conversations.delete(key, state.dialog, state.revision)
            state = None
        if state is not None:
            dialog = self._playbook.dialog(state.dialog)
            outcome = runtime.advance(dialog, state, event.action, self._step_context(ctx))
            return self._settle(uow, ctx, dialog, outcome, state.revision, state)
        routed = self._playbook.route(event, ctx)
        if isinstance(routed, HomePage):
            return _Said([Reply(routed.parts, surface="home")])
        if not isinstance(routed, StartDialog):
            return _Said([Reply(tuple(routed))] if routed else [])
        return self._start(uow, ctx, routed)

    def _start(self, uow: UnitOfWork, ctx: ServiceContext, routed: StartDialog) -> _Said:
        key = ctx.actor.identity
        dialog = self._playbook.dialog(routed.dialog)
        saved = uow.conversations.load(key, dialog.name)
        step_ctx = self._step_context(ctx)
        if saved is not None:  # a paused dialog (consent "not now") picks up where it was
            outcome = runtime.resume(dialog, saved, step_ctx, routed.lead)
            return self._settle(uow, ctx, dialog, outcome, saved.revision, saved)
        outcome = runtime.start(dialog, step_ctx, dict(routed.preset or {}))
        outcome = replace(outcome, parts=(*routed.lead, *outcome.parts))
        return self._settle(uow, ctx, dialog, outcome, None)

    def _act(self, uow: UnitOfWork, ctx: ServiceContext, ref: str,
             state: DialogState | None) -> _Said:
        """A reminder's button works whatever conversation is open; the open question is
        asked again after it, so nothing in progress is lost. A button may also start a
        conversation of its own (return a case with a reason)."""
        acted = self._playbook.act(ref, ctx)
        if isinstance(acted, StartDialog):
            return self._start(uow, ctx, acted)
        parts = tuple(acted)
        if state is None or not self._playbook.knows(state.dialog):
            return _Said([Reply(parts)] if parts else [])
        dialog = self._playbook.dialog(state.dialog)
        outcome = runtime.resume(dialog, state, self._step_context(ctx), parts)
        return self._settle(uow, ctx, dialog, outcome, state.revision)

    def _settle(self, uow: UnitOfWork, ctx: ServiceContext, dialog: Dialog,
                outcome: runtime.Outcome, seen_revision: int | None,
                before: DialogState | None = None) -> _Said:
        key = ctx.actor.identity
        parts = list(outcome.parts)
        for override in outcome.overrides:
            # Which kinds of identifier the author judged not identifying, and why; never the
            # text itself.
            uow.audit.record(ctx.now, key, "identifier.override", f"dialog:{dialog.name}",
                             dict(override))
        if outcome.state is not None:
            uow.conversations.save(key, outcome.state, ctx.now)
        elif seen_revision is not None:
            uow.conversations.delete(key, dialog.name, seen_revision)
        if outcome.finished is None or dialog.finish is None:
            return _Said([Reply(tuple(parts))] if parts else [], outcome.form_errors)
        finished = dialog.finish(outcome.finished, ctx)
        if not isinstance(finished, Reopen):
            parts += list(finished)
        elif before is not None:
            # Not finished after all: the same conversation goes on at the answers named
            # (saved afresh: the finished one was deleted above).
            kept = replace(before, answers=dict(outcome.finished), proposed=None,
                           pending_step=None, revision=0).without(*finished.ask_again)
            reopened = runtime.resume(dialog, kept, self._step_context(ctx), tuple(finished.parts))
            if reopened.state is not None:
                uow.conversations.save(key, reopened.state, ctx.now)
            parts = list(reopened.parts)
        return _Said([Reply(tuple(parts))] if parts else [], outcome.form_errors)

    def _service_context(self, uow: UnitOfWork, event: Event,
                         arrival: Arrival | None = None) -> ServiceContext:
        if arrival is None:
            arrival = uow.people.arrival(event.actor.identity)
        person = arrival.person
        language = normalise_language(arrival.language or event.hints.language)
        directory = Directory(networks=uow.networks.all)
        if person is not None:
            person_id = person.id
            directory = Directory(
                networks=uow.networks.all, person=person.profile(),
                memberships=lambda: {m.network: m.status for m in uow.memberships.of(person_id)},
                consents=lambda: current_consents(uow.consents.history(person_id)))
        return ServiceContext(uow=uow, actor=event.actor, now=self._clock.now(),
                              t=Translator(language), hints=event.hints, directory=directory,
                              person=person, address=dict(event.address),
                              capabilities=event.capabilities)

    @staticmethod
    def _step_context(ctx: ServiceContext) -> StepContext:
        zone = (ctx.person.time_zone if ctx.person else None) or ctx.hints.time_zone
        return StepContext(t=ctx.t, time_zone=zone, now=ctx.now, hints=ctx.hints,
                           directory=ctx.directory, answers={}, capabilities=ctx.capabilities)

    def _queue(self, uow: UnitOfWork, event: Event,
               replies: Sequence[Reply]) -> tuple[Outgoing, ...]:
        now, identity = self._clock.now(), event.actor.identity
        keys = [f"reply:{event.delivery_id}:{position}" for position in range(len(replies))]
        if (self._direct is None or not replies
                or uow.outbox.waiting(identity, now, self._direct[0])):
            for key, reply in zip(keys, replies, strict=True):
                uow.outbox.add(identity, event.address, reply, key, now)
            return ()
        worker, lease = self._direct
        return tuple(Outgoing(uow.outbox.add_leased(identity, event.address, reply, key, now,
                                                    worker, now + lease),
                              identity, dict(event.address), reply)
                     for key, reply in zip(keys, replies, strict=True))

    def _apologise(self, event: Event, incident: str) -> TurnResult:
        """Store a translated apology (once per delivery) and the pending question; the
        failed turn's changes were rolled back, the saved answers are untouched."""
        try:
            with self._store.transaction() as uow:
                if not uow.processed.add(event.delivery_id, self._clock.now()):
                    return TurnResult(duplicate=True, incident=incident)
                language = normalise_language(
                    uow.people.arrival(event.actor.identity).language or event.hints.language)
                parts: list[Part] = [Text(Translator(language)("runtime.apology", ref=incident))]
                parts += self._pending_question(uow, event)
                reply = Reply(tuple(parts))
                ready = self._queue(uow, event, [reply])
            return TurnResult((reply,), incident=incident, ready=ready)
        except Exception:
            log.exception("apology failed", extra={"event": "turn.apology_failed",
                                                   "incident": incident})
            return TurnResult(incident=incident)

    def _pending_question(self, uow: UnitOfWork, event: Event) -> list[Part]:
        try:
            state = uow.conversations.active(event.actor.identity)
            if state is None:
                return []
            ctx = self._service_context(uow, event)
            dialog = self._playbook.dialog(state.dialog)
            resumed = runtime.resume(dialog, state, self._step_context(ctx))
            return list(resumed.parts)
        except Exception:
            return []


def current_consents(history: Sequence[ConsentRecord]) -> dict[str, str]:
    """Network slug -> agreement version, from the append-only history (oldest first)."""
    consents: dict[str, str] = {}
    for record in history:
        if record.decision == "given":
            consents[record.network] = record.version
        else:
            consents.pop(record.network, None)
    return consents


def _incident_ref() -> str:
    alphabet = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no look-alikes: easy to read out on a call
    return "".join(secrets.choice(alphabet) for _ in range(6))


__all__ = ["DialogState", "HomePage", "Playbook", "StartDialog", "TurnHandler", "TurnResult"]
