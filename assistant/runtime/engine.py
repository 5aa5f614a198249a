"""The dialog interpreter: given a saved place and what the person did, say what comes next.

Pure: no clock, database or platform. The runtime, never a dialog, handles help, cancel,
back, skip, review and "change X"; refusals re-ask the same question with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from assistant.events import (
    Action,
    ConversationStarted,
    FileOffered,
    FormSubmitted,
    UserChose,
    UserSaid,
)
from assistant.messages import Card, Fact, Form, FormField, Option, Part, Question, Text
from assistant.parsing import Flagged, Invalid, Valid
from assistant.runtime.state import REVIEW, DialogState
from assistant.runtime.steps import (
    Ask,
    Choice,
    Choose,
    Confirm,
    Dialog,
    Fill,
    Say,
    Step,
    StepContext,
)
from assistant.runtime.words import change_target, command_in, fold, split_many, yes_or_no

MAX_INPUT = 2000
HELP_AFTER_REFUSALS = 3
SUGGEST, KEEP, SKIP, SUBMIT, CHANGE = "__suggest__", "__keep__", "__skip__", "__submit__", "change="
OVERRIDES = "__overrides__"  # answers kept although flagged: step and kinds, for the record


@dataclass(frozen=True)
class Outcome:
    """`state` is None once the dialog has ended; `finished` holds the answers to hand to
    the dialog's `finish` service (run by the turn, in its transaction)."""

    state: DialogState | None
    parts: tuple[Part, ...]
    finished: dict[str, Any] | None = None
    cancelled: bool = False
    # Field key -> translated reason, for a form the front-end shows again with the errors.
    form_errors: dict[str, str] | None = None
    # "Not identifying" decisions taken in this turn, for the audit log: step, kinds, reason.
    overrides: tuple[dict[str, Any], ...] = ()


def start(dialog: Dialog, ctx: StepContext, preset: dict[str, Any] | None = None) -> Outcome:
    state = DialogState(dialog=dialog.name, dialog_version=dialog.version, answers=preset or {})
    return _ask_next(dialog, state, ctx, [])


def resume(dialog: Dialog, state: DialogState, ctx: StepContext, lead: Sequence[Part] = ()) -> Outcome:
    """Ask the pending question again, after a restart, a pause or a "where was I?"."""
    state = migrate(dialog, replace(state, paused=False))
    if state.pending_step == REVIEW or state.proposed is not None:
        return _repeat(dialog, state, ctx, list(lead))
    return _ask_next(dialog, state, ctx, list(lead))


def advance(dialog: Dialog, state: DialogState, action: Action, ctx: StepContext) -> Outcome:
    state = migrate(dialog, state)
    match action:
        case ConversationStarted():
            return resume(dialog, state, ctx, [Text(ctx.t("runtime.welcome_back"))])
        case UserChose(ref=ref):
            return _on_click(dialog, state, ref, ctx)
        case FormSubmitted(ref=ref, values=values):
            step = _pending(dialog, state)
            if isinstance(step, Fill) and ref == _ref(dialog, state, step.key, "form"):
                return _on_form(dialog, state, step, values, ctx)
            text = values.get("answer") or values.get(state.pending_step or "", "")
            return _on_click(dialog, state, ref, ctx, typed=text)
        case UserSaid(text=text):
            return _on_text(dialog, state, text, ctx)
        case FileOffered(with_text=with_text):
            # Not an answer, not a refusal of one: the same question again, unchanged.
            return _repeat(dialog, state, ctx, [Text(ctx.t(refused_file(with_text)))])
    raise TypeError(f"unknown action {type(action).__name__}")


def refused_file(with_text: bool) -> str:
    """Why a file or photo is not taken; the words sent with one are asked for again."""
    return "attachments.refused_with_text" if with_text else "attachments.refused"


def migrate(dialog: Dialog, state: DialogState) -> DialogState:
    """Bring answers saved by an older dialog version up to date; drop vanished keys."""
    if state.dialog_version >= dialog.version:
        return state
    answers = dict(state.answers)
    for version in sorted(v for v in dialog.migrations if v > state.dialog_version):
        answers = dialog.migrations[version](answers)
    known = {step.key for step in dialog.flat_steps}
    answers = {k: v for k, v in answers.items() if k in known}
    # A pending step that vanished or was answered by a migration falls back to the first
    # unanswered one; text typed for the old question is not applied to a different one.
    pending = state.pending_step if state.pending_step in (known - answers.keys()) | {REVIEW} else None
    return replace(state, answers=answers, history=tuple(k for k in state.history if k in answers),
                   pending_step=pending, proposed=None, dialog_version=dialog.version)


# --- what the person did ---------------------------------------------------------------


def _on_text(dialog: Dialog, state: DialogState, text: str, ctx: StepContext) -> Outcome:
    if len(text) > MAX_INPUT:
        return _refuse(dialog, state, ctx, Invalid("runtime.too_long", {"max": MAX_INPUT}))
    if not text.strip():
        return _refuse(dialog, state, ctx, Invalid("runtime.empty"))
    command = command_in(text)
    if command == "help":
        return _help(dialog, state, ctx)
    if command == "cancel":
        if dialog.keep_on_cancel:
            return Outcome(replace(state, paused=True, proposed=None),
                           (Text(ctx.t(dialog.cancelled)),), cancelled=True)
        return Outcome(None, (Text(ctx.t(dialog.cancelled)),), cancelled=True)
    if command == "back":
        return _back(dialog, state, ctx)
    if command == "skip":
        return _skip(dialog, state, ctx)
    if command == "review":
        return _review_so_far(dialog, state, ctx)
    target = change_target(text)
    if target is not None:
        return _change(dialog, state, target, ctx)
    if state.proposed is not None and "flag" in state.proposed:
        return _on_flag_text(dialog, state, text, ctx)
    if state.proposed is not None:
        decision = yes_or_no(text)
        if decision is None and fold(text) in ("1", "2"):  # the numbered Yes / No buttons
            decision = fold(text) == "1"
        if decision is None:
            return _refuse(dialog, state, ctx, Invalid("runtime.yes_or_no"))
        return _settle_proposal(dialog, state, decision, ctx)
    if state.pending_step == REVIEW:
        return _on_review_text(dialog, state, text, ctx)
    step = _pending(dialog, state)
    if step is None:
        return _ask_next(dialog, state, ctx, [])
    picked = _numbered_option(dialog, state, step, text, ctx)
    if picked is not None:  # "2" typed where buttons were shown means the second button
        return _on_click(dialog, state, picked, ctx)
    return _take(dialog, state, step, _parse(step, text, _ctx(ctx, state)), ctx)


def _numbered_option(dialog: Dialog, state: DialogState, step: Step, text: str,
                     ctx: StepContext) -> str | None:
    folded = fold(text)
    if not folded.isdigit():
        return None
    options = _question(dialog, state, step, ctx).options
    index = int(folded) - 1
    return options[index].ref if 0 <= index < len(options) else None


def _on_click(dialog: Dialog, state: DialogState, ref: str, ctx: StepContext,
              typed: str | None = None) -> Outcome:
    name, _, rest = ref.partition(":")
    key, _, rest = rest.partition(":")
    nonce, _, value = rest.partition(":")
    if name != dialog.name or key != state.pending_step or nonce != state.nonce:
        # An old button, a second device, or a forged payload: say where we are instead.
        return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.stale"))])
    if typed is not None:
        return _on_text(dialog, state, typed, ctx)
    if state.proposed is not None and "flag" in state.proposed:
        return _on_flag_choice(dialog, state, value, ctx)
    if state.proposed is not None:
        if value not in ("yes", "no"):
            return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.stale"))])
        return _settle_proposal(dialog, state, value == "yes", ctx)
    if key == REVIEW:
        return _on_review_value(dialog, state, value, ctx)
    step = _pending(dialog, state)
    if step is None:
        return _ask_next(dialog, state, ctx, [])
    if value == SKIP:
        return _skip(dialog, state, ctx)
    if value == KEEP and key in state.previous:
        return _store(dialog, state, step, state.previous[key], ctx)
    if value == SUGGEST and isinstance(step, Ask) and step.suggest is not None:
        suggestion = step.suggest(_ctx(ctx, state))
        if suggestion:
            return _take(dialog, state, step, _parse(step, suggestion, _ctx(ctx, state)), ctx)
    if isinstance(step, Confirm) and value in ("yes", "no"):
        return _store(dialog, state, step, value == "yes", ctx)
    if isinstance(step, Fill) and value == "open":  # a fresh click can open the form again
        return _repeat(dialog, state, ctx, [])
    if isinstance(step, Choose):
        offered = {choice.value for choice in step.choices(_ctx(ctx, state))}
        if value in offered:
            return _take(dialog, state, step, Valid([value] if step.many else value), ctx)
    return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.stale"))])


# --- answering ---------------------------------------------------------------------------


def _parse(step: Step, text: str, ctx: StepContext) -> Valid[Any] | Invalid | Flagged:
    if isinstance(step, Choose):
        return _parse_choice(step, text, ctx)
    if isinstance(step, Confirm):
        decision = yes_or_no(text)
        return Invalid("runtime.yes_or_no") if decision is None else Valid(decision)
    if isinstance(step, Ask) and step.parse is not None:
        return step.parse(text, ctx)
    if isinstance(step, Fill):
        return Invalid("runtime.form.use_form")
    return Valid(" ".join(text.split()))


def _parse_choice(step: Choose, text: str, ctx: StepContext) -> Valid[Any] | Invalid:
    choices = list(step.choices(ctx))
    wanted = split_many(text) if step.many else [fold(text)]
    picked: list[str] = []
    for word in wanted:
        choice = _match_choice(word, choices, ctx)
        if choice is None:
            labels = ctx.t.list([c.text(ctx.t) for c in choices])
            return Invalid("runtime.choose.unknown", {"options": labels})
        if choice.value not in picked:
            picked.append(choice.value)
    return Valid(picked if step.many else picked[0])


def _match_choice(word: str, choices: list[Choice], ctx: StepContext) -> Choice | None:
    if word.isdigit():
        index = int(word) - 1
        return choices[index] if 0 <= index < len(choices) else None
    exact = [c for c in choices if word in (fold(c.text(ctx.t)), fold(c.value))]
    if exact:
        return exact[0]
    starts = [c for c in choices if len(word) >= 3 and fold(c.text(ctx.t)).startswith(word)]
    return starts[0] if len(starts) == 1 else None


def _take(dialog: Dialog, state: DialogState, step: Step, result: Valid[Any] | Invalid | Flagged,
          ctx: StepContext) -> Outcome:
    if isinstance(result, Invalid):
        return _refuse(dialog, state, ctx, result)
    if isinstance(result, Flagged):
        # Kept in the (sealed) dialog state only until the author decides; never echoed.
        proposed = {"value": result.safer, "original": result.original,
                    "message": result.message, "args": _format_args(result.args, ctx),
                    "flag": {"blocking": result.blocking, "kinds": list(result.kinds)}}
        return _repeat(dialog, replace(state, proposed=proposed, asked=state.asked + 1), ctx, [])
    if isinstance(step, Choose) and not step.many and result.value in step.pause_on:
        paused = replace(state, paused=True)
        return Outcome(paused, (Text(ctx.t(step.pause_on[result.value])),))
    if result.confirm is not None:
        proposed = {"value": result.value, "message": result.confirm,
                    "args": _format_args(result.confirm_args, ctx)}
        return _repeat(dialog, replace(state, proposed=proposed, asked=state.asked + 1), ctx, [])
    return _store(dialog, state, step, result.value, ctx)


def _store(dialog: Dialog, state: DialogState, step: Step, value: Any, ctx: StepContext) -> Outcome:
    dependants = [s.key for s in dialog.flat_steps if step.key in s.depends_on]
    if dependants:  # e.g. consent names the networks chosen: new networks, new consent
        state = state.without(*dependants)
    state = _prune(dialog, state.with_answer(step.key, value), ctx)
    return _ask_next(dialog, state, ctx, [])


def _settle_proposal(dialog: Dialog, state: DialogState, agreed: bool, ctx: StepContext) -> Outcome:
    step = _pending(dialog, state)
    assert state.proposed is not None
    if step is None:
        return _ask_next(dialog, replace(state, proposed=None), ctx, [])
    if agreed:
        return _store(dialog, state, step, state.proposed["value"], ctx)
    state = replace(state, proposed=None, asked=state.asked + 1)
    return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.try_again"))])


# --- an answer that may identify someone ------------------------------------------------

FLAG_CHOICES = ("yes", "no", "keep")  # use the safer version, type it again, not identifying
MAX_REASON = 200


def _on_flag_choice(dialog: Dialog, state: DialogState, value: str, ctx: StepContext) -> Outcome:
    assert state.proposed is not None
    flag = state.proposed["flag"]
    if value not in FLAG_CHOICES or state.proposed.get("asking_reason") or (
            value == "keep" and flag["blocking"]):
        return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.stale"))])
    if value == "keep":
        proposed = {**state.proposed, "asking_reason": True}
        return _repeat(dialog, replace(state, proposed=proposed, asked=state.asked + 1), ctx, [])
    return _settle_proposal(dialog, state, value == "yes", ctx)


def _on_flag_text(dialog: Dialog, state: DialogState, text: str, ctx: StepContext) -> Outcome:
    """A reason, when one was asked for; otherwise a numbered choice, yes/no, or simply the
    answer typed again (which is checked again)."""
    assert state.proposed is not None
    step = _pending(dialog, state)
    if state.proposed.get("asking_reason"):
        reason = " ".join(text.split())
        if not reason or len(reason) > MAX_REASON:
            return _refuse(dialog, state, ctx, Invalid("runtime.flag.reason_needed",
                                                       {"max": MAX_REASON}))
        if step is None:
            return _ask_next(dialog, replace(state, proposed=None), ctx, [])
        override = {"step": step.key, "kinds": state.proposed["flag"]["kinds"], "reason": reason}
        noted = [*state.answers.get(OVERRIDES, []), {"step": step.key,
                                                     "kinds": override["kinds"]}]
        kept = replace(state, answers={**state.answers, OVERRIDES: noted})
        outcome = _store(dialog, kept, step, state.proposed["original"], ctx)
        return replace(outcome, overrides=(override,))
    folded = fold(text)
    if folded.isdigit():  # a button's number, never an answer of its own
        if 1 <= int(folded) <= len(_flag_options(state)):
            return _on_flag_choice(dialog, state, _flag_options(state)[int(folded) - 1], ctx)
        return _refuse(dialog, state, ctx, Invalid("runtime.flag.pick"))
    decision = yes_or_no(text)
    if decision is not None:
        return _settle_proposal(dialog, state, decision, ctx)
    if step is None:
        return _ask_next(dialog, replace(state, proposed=None), ctx, [])
    retyped = replace(state, proposed=None)
    return _take(dialog, retyped, step, _parse(step, text, _ctx(ctx, retyped)), ctx)


def _flag_options(state: DialogState) -> tuple[str, ...]:
    assert state.proposed is not None
    return FLAG_CHOICES[:2] if state.proposed["flag"]["blocking"] else FLAG_CHOICES


def _prune(dialog: Dialog, state: DialogState, ctx: StepContext) -> DialogState:
    """Drop answers to steps that no longer apply (role changed away from "other")."""
    # Answers a form gave are kept even though their one-at-a-time steps are not asked.
    filled = {key for s in dialog.flat_steps if isinstance(s, Fill) and s.key in state.answers
              and s.applies(state.answers) for key in s.fields}
    stale = [s.key for s in dialog.flat_steps
             if s.key in state.answers and s.key not in filled and not s.applies(state.answers)]
    return state.without(*stale) if stale else state


def _on_form(dialog: Dialog, state: DialogState, step: Fill, values: dict[str, str],
             ctx: StepContext) -> Outcome:
    """Every field parsed by its own step; all errors reported at once, nothing stored
    unless the whole form is valid (a form is one answer)."""
    errors: dict[str, str] = {}
    accepted: dict[str, Any] = {}
    for key in step.fields:
        field_step = dialog.step(key)
        text = values.get(key, "")
        if field_step is None:
            continue
        if not text.strip():
            if field_step.skippable:
                accepted[key] = None  # left empty: skipped, as "skip" would
            else:
                errors[key] = ctx.t("runtime.empty")
            continue
        result = _parse(field_step, text, _ctx(ctx, state))
        if isinstance(result, Invalid):
            errors[key] = ctx.t(result.message, **result.args)
        elif isinstance(result, Flagged):
            # A form has no room for the three choices: say what was found (masked) and let
            # the author edit it there.
            errors[key] = ctx.t(result.form_message or result.message,
                                **_format_args(result.args, ctx))
        else:
            accepted[key] = result.value  # derived values are shown back in the form itself
    if errors:
        state = replace(state, attempts=state.attempts + 1)
        if "inline_form_errors" in ctx.capabilities:  # the front-end shows them on the form
            return Outcome(state, (), form_errors=errors)
        # Otherwise the form comes again, with what was typed and each field's error.
        again = _form(dialog, state, step, _ctx(ctx, state))
        fields = tuple(replace(f, value=values.get(f.key, f.value), error=errors.get(f.key))
                       for f in again.fields)
        return Outcome(state, (replace(again, fields=fields),), form_errors=errors)
    for key, value in accepted.items():
        state = state.with_answer(key, value)
    return _store(dialog, state, step, True, ctx)


def _form(dialog: Dialog, state: DialogState, step: Fill, ctx: StepContext) -> Form:
    current = dict(step.prefill(ctx)) if step.prefill else {}
    fields = []
    for key in step.fields:
        field_step = dialog.step(key)
        if field_step is not None:
            fields.append(FormField(key, _label(dialog, field_step, ctx), current.get(key, ""),
                                    multiline=isinstance(field_step, Ask) and field_step.long))
    return Form(_prompt(step, ctx), _ref(dialog, state, step.key, "form"), tuple(fields),
                submit=ctx.t("runtime.form.submit"), close=ctx.t("runtime.cancel_button"))


def _ref(dialog: Dialog, state: DialogState, key: str, value: str) -> str:
    return f"{dialog.name}:{key}:{state.nonce}:{value}"


# --- runtime commands --------------------------------------------------------------------


def _help(dialog: Dialog, state: DialogState, ctx: StepContext) -> Outcome:
    step = _pending(dialog, state)
    lead: list[Part] = []
    if step is not None and step.help:
        lead.append(Text(ctx.t(step.help)))
    elif state.pending_step == REVIEW:
        lead.append(Text(ctx.t("runtime.review.help")))
    lead.append(Text(ctx.t("runtime.help.commands")))
    return _repeat(dialog, state, ctx, lead)


def _back(dialog: Dialog, state: DialogState, ctx: StepContext) -> Outcome:
    answered = [k for k in state.history if not isinstance(dialog.step(k), Say)]
    if not answered:
        return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.back.nothing"))])
    key = answered[-1]
    previous = {**state.previous, key: state.answers[key]}
    state = replace(state.without(key), previous=previous)
    return _ask_next(dialog, state, ctx, [])


def _skip(dialog: Dialog, state: DialogState, ctx: StepContext) -> Outcome:
    step = _pending(dialog, state)
    if step is None or not step.skippable or state.proposed is not None:
        return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.skip.not_allowed"))])
    return _store(dialog, state, step, None, ctx)


def _change(dialog: Dialog, state: DialogState, target: str, ctx: StepContext) -> Outcome:
    steps = _reviewable(dialog, state)
    found = [s for s in steps if target in (fold(s.key), fold(_label(dialog, s, ctx)))]
    if not found:
        found = [s for s in steps if fold(_label(dialog, s, ctx)).startswith(target)]
    if len(found) != 1:
        labels = ctx.t.list([_label(dialog, s, ctx) for s in steps])
        return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.change.unknown", options=labels))])
    step = found[0]
    previous = {**state.previous, step.key: state.answers[step.key]}
    return _ask_next(dialog, replace(state.without(step.key), previous=previous), ctx, [])


def _review_so_far(dialog: Dialog, state: DialogState, ctx: StepContext) -> Outcome:
    if not _reviewable(dialog, state):
        return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.review.empty"))])
    if state.pending_step == REVIEW:
        return _repeat(dialog, state, ctx, [])
    card = _summary(dialog, state, ctx, submit=False)
    return _repeat(dialog, state, ctx, [card])


def _on_review_text(dialog: Dialog, state: DialogState, text: str, ctx: StepContext) -> Outcome:
    folded = fold(text)
    if yes_or_no(text) is True:
        return _finish(state)
    actions = _review_actions(dialog, state, ctx)
    if folded.isdigit() and 0 < int(folded) <= len(actions):
        return _on_review_value(dialog, state, actions[int(folded) - 1][0], ctx)
    for value, label in actions:
        if folded == fold(label):
            return _on_review_value(dialog, state, value, ctx)
    return _refuse(dialog, state, ctx, Invalid("runtime.review.unknown"))


def _on_review_value(dialog: Dialog, state: DialogState, value: str, ctx: StepContext) -> Outcome:
    if value == SUBMIT:
        return _finish(state)
    key = value.removeprefix(CHANGE)
    if value.startswith(CHANGE) and key in state.answers:
        previous = {**state.previous, key: state.answers[key]}
        return _ask_next(dialog, replace(state.without(key), previous=previous), ctx, [])
    return _repeat(dialog, state, ctx, [Text(ctx.t("runtime.stale"))])


def _finish(state: DialogState) -> Outcome:
    return Outcome(None, (), finished=dict(state.answers))


# --- asking ------------------------------------------------------------------------------


def _pending(dialog: Dialog, state: DialogState) -> Step | None:
    return dialog.step(state.pending_step) if state.pending_step else None


def next_step(dialog: Dialog, answers: dict[str, Any]) -> Step | None:
    return next((s for s in dialog.flat_steps if s.key not in answers and s.applies(answers)), None)


def _ask_next(dialog: Dialog, state: DialogState, ctx: StepContext, lead: list[Part]) -> Outcome:
    while True:
        step = next_step(dialog, state.answers)
        if step is None:
            if dialog.review is None:
                return Outcome(None, tuple(lead), finished=dict(state.answers))
            state = replace(state, pending_step=REVIEW, asked=state.asked + 1, attempts=0)
            return Outcome(state, (*lead, _summary(dialog, state, ctx, submit=True)))
        if isinstance(step, Say):
            lead.append(Text(_prompt(step, _ctx(ctx, state))))
            state = state.with_answer(step.key, True)
            continue
        if state.pending_step != step.key:
            state = replace(state, pending_step=step.key, asked=state.asked + 1, attempts=0)
        return Outcome(state, (*lead, *_asking(dialog, state, step, ctx)))


def _repeat(dialog: Dialog, state: DialogState, ctx: StepContext, lead: list[Part]) -> Outcome:
    """Ask the pending question again, unchanged (its buttons stay valid)."""
    if state.pending_step == REVIEW:
        return Outcome(state, (*lead, _summary(dialog, state, ctx, submit=True)))
    step = _pending(dialog, state)
    if step is None:
        return _ask_next(dialog, state, ctx, lead)
    return Outcome(state, (*lead, *_asking(dialog, state, step, ctx)))


def _refuse(dialog: Dialog, state: DialogState, ctx: StepContext, reason: Invalid) -> Outcome:
    state = replace(state, attempts=state.attempts + 1)
    lead: list[Part] = [Text(ctx.t(reason.message, **reason.args))]
    step = _pending(dialog, state)
    if state.attempts >= HELP_AFTER_REFUSALS and step is not None and step.help:
        lead.append(Text(ctx.t(step.help)))
    return _repeat(dialog, state, ctx, lead)


def _asking(dialog: Dialog, state: DialogState, step: Step, ctx: StepContext) -> tuple[Part, ...]:
    if isinstance(step, Fill) and state.proposed is None:
        # The form, and a button to open it again (a Slack modal needs a fresh click).
        return (_form(dialog, state, step, _ctx(ctx, state)), _question(dialog, state, step, ctx))
    return (_question(dialog, state, step, ctx),)


def _question(dialog: Dialog, state: DialogState, step: Step, ctx: StepContext) -> Question:
    ctx = _ctx(ctx, state)

    def option(label: str, value: str) -> Option:
        return Option(label, f"{dialog.name}:{step.key}:{state.nonce}:{value}")

    if state.proposed is not None and "flag" in state.proposed:
        if state.proposed.get("asking_reason"):
            return Question(ctx.t("runtime.flag.reason", max=MAX_REASON))
        text = ctx.t(state.proposed["message"], **state.proposed["args"])
        labels = {"yes": "runtime.flag.replace", "no": "runtime.flag.edit",
                  "keep": "runtime.flag.keep"}
        return Question(text, tuple(option(ctx.t(labels[v]), v) for v in _flag_options(state)))
    if state.proposed is not None:
        text = ctx.t(state.proposed["message"], **state.proposed["args"])
        return Question(text, (option(ctx.t("runtime.yes"), "yes"), option(ctx.t("runtime.no"), "no")))
    options: list[Option] = []
    if isinstance(step, Choose):
        options = [option(c.text(ctx.t), c.value) for c in step.choices(ctx)]
    elif isinstance(step, Confirm):
        options = [option(ctx.t("runtime.yes"), "yes"), option(ctx.t("runtime.no"), "no")]
    elif isinstance(step, Fill):
        return Question(ctx.t("runtime.form.prompt"), (option(ctx.t("runtime.form.open"), "open"),))
    elif isinstance(step, Ask) and step.suggest is not None and step.key not in state.previous:
        suggestion = step.suggest(ctx)
        if suggestion:
            options.append(option(ctx.t("runtime.use_suggestion", value=suggestion), SUGGEST))
    if step.key in state.previous:
        shown = _display(dialog, step, state.previous[step.key], ctx)
        options.append(option(ctx.t("runtime.keep", value=shown), KEEP))
    if step.skippable:
        options.append(option(ctx.t("runtime.skip"), SKIP))
    many = isinstance(step, Choose) and step.many
    return Question(_prompt(step, ctx), tuple(options), many=many)


def _prompt(step: Step, ctx: StepContext) -> str:
    return step.prompt(ctx) if callable(step.prompt) else ctx.t(step.prompt)


def _ctx(ctx: StepContext, state: DialogState) -> StepContext:
    return replace(ctx, answers=state.answers)


# --- review ------------------------------------------------------------------------------


def _reviewable(dialog: Dialog, state: DialogState) -> list[Step]:
    return [s for s in dialog.flat_steps if s.key in state.answers and s.reviewed
            and not isinstance(s, Say) and s.applies(state.answers)]


def _label(dialog: Dialog, step: Step, ctx: StepContext) -> str:
    return ctx.t(step.label or f"{dialog.name}.{step.key}.label")


def _display(dialog: Dialog, step: Step, value: Any, ctx: StepContext) -> str:
    if value is None:
        return ctx.t("runtime.review.skipped")
    if isinstance(step, Ask | Choose) and step.show is not None:
        return step.show(value, ctx)
    if isinstance(step, Choose):
        labels = {c.value: c.text(ctx.t) for c in step.choices(ctx)}
        values = value if isinstance(value, list) else [value]
        return ctx.t.list([labels.get(str(v), str(v)) for v in values])
    if isinstance(step, Confirm) or isinstance(value, bool):
        return ctx.t("runtime.yes" if value else "runtime.no")
    return str(value)


def _review_actions(dialog: Dialog, state: DialogState, ctx: StepContext) -> list[tuple[str, str]]:
    actions = [(SUBMIT, ctx.t(dialog.review.submit if dialog.review else "runtime.review.submit"))]
    for step in _reviewable(dialog, state):
        actions.append((CHANGE + step.key, ctx.t("runtime.review.change", label=_label(dialog, step, ctx))))
    return actions


def _summary(dialog: Dialog, state: DialogState, ctx: StepContext, *, submit: bool) -> Card:
    facts = tuple(Fact(_label(dialog, s, ctx), _display(dialog, s, state.answers[s.key], _ctx(ctx, state)))
                  for s in _reviewable(dialog, state))
    title = ctx.t(dialog.review.title) if dialog.review else ctx.t("runtime.review.so_far")
    if not submit:
        return Card(ctx.t("runtime.review.so_far"), facts)
    actions = tuple(Option(label, f"{dialog.name}:{REVIEW}:{state.nonce}:{value}")
                    for value, label in _review_actions(dialog, state, ctx))
    return Card(title, facts, actions)


def _format_args(args: Any, ctx: StepContext) -> dict[str, Any]:
    """Confirmation arguments are stored in the state, so keep them JSON-friendly."""
    formatted: dict[str, Any] = {}
    for key, value in dict(args).items():
        if isinstance(value, datetime):
            zone = getattr(value.tzinfo, "key", None) or ctx.time_zone or "UTC"
            formatted[key] = ctx.t.datetime(value, zone)
        else:
            formatted[key] = value
    return formatted
