"""Buttons that do one thing at once (`act:going:12`), whatever conversation is open: on
reminders, listings and case notices. The number is only a claim: each service checks that
this reader may do this to that session, series or case, and refusals are audited."""

from __future__ import annotations

import re

from assistant.messages import Part, Text
from assistant.services.cases import schedule_from_ref
from assistant.services.context import ServiceContext
from assistant.turns import StartDialog
from dialogs.case_review import CASE_ACTIONS
from dialogs.features import MODULES
from dialogs.sessions import ACTIONS as SESSION_ACTIONS
from dialogs.sessions import shown

_ID = re.compile(r"[1-9][0-9]{0,8}")  # ASCII digits that fit any integer column
ACTIONS = {**SESSION_ACTIONS, **CASE_ACTIONS,
           **{name: run for module in MODULES for name, run in module.ACTIONS.items()}}


def act(ref: str, ctx: ServiceContext) -> list[Part] | StartDialog:
    _, _, rest = ref.partition(":")
    name, _, number = rest.partition(":")
    if ctx.person is None and name == "join":
        # Register on an announcement in a channel, pressed by someone new: welcome them.
        return StartDialog("registration")
    if ctx.person is None and (name in ACTIONS or name == "case_slot"):
        # Not anyone's yet: nothing to check it against, but a pressed button is a claim.
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", "button",
                             {"reason": "not_registered", "action": name})
        return [Text(ctx.t("commands.register_first"))]
    if name == "case_slot":  # a case and a session: the service reads and checks both
        return shown(schedule_from_ref(ctx, ref), ctx)
    action = ACTIONS.get(name)
    if action is None or not _ID.fullmatch(number):
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", "button",
                             {"reason": "unknown"})
        return [Text(ctx.t("runtime.stale_idle"))]
    result = action(ctx, int(number))
    if isinstance(result, StartDialog):
        return result
    return shown(result, ctx)


__all__ = ["ACTIONS", "act"]
