"""The buttons on case notices, the team's "return with a reason" conversation, and the
author's way back into a returned case. Every action is re-checked by the cases service: a
button names a case by number, and anyone can forge one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from assistant.messages import Part, Text
from assistant.parsers import one_line
from assistant.runtime import Answers, Ask, Choice, Choose, Dialog, StepContext
from assistant.services.cases import (
    RETURN_REASON_LIMIT,
    RETURNABLE_FIELDS,
    accept_case,
    case_for_editing,
    confirm_withdraw,
    export_case,
    mark_presented,
    offer_sessions,
    return_case,
    show_case,
    start_review,
    team_case,
    withdraw_case,
)
from assistant.services.context import Refused, ServiceContext
from assistant.turns import StartDialog
from dialogs.case_presentation import NAME as DRAFT
from dialogs.case_presentation import draft_preset

Acted = Sequence[Part] | Refused | StartDialog


def _ask_reason(ctx: ServiceContext, case_id: int) -> Acted:
    """Returning needs words: a short conversation (the service checks the team on submit)."""
    record = team_case(ctx, case_id, "return")  # refuses (and audits) anyone else
    if isinstance(record, Refused):
        return record
    return StartDialog("return_case", preset={"_case": case_id})


def _edit(ctx: ServiceContext, case_id: int) -> Acted:
    """The author back into a returned (or not yet opened) case: a draft holding their
    answers, with the fields the team named asked again."""
    case = case_for_editing(ctx, case_id)
    if isinstance(case, Refused):
        return case
    if ctx.uow.conversations.load(ctx.actor.identity, DRAFT) is not None:
        return Refused("case.edit.draft_in_the_way")
    record = ctx.uow.cases.get(case_id)
    content = case.content
    answers: dict[str, Any] = {
        "network": case.network, "questions": list(content.questions),
        "case_type": content.case_type, "presenter_setting": content.presenter_setting,
        "session": str(case.session_id) if case.session_id else "any",
        "summary": content.summary, "care_setting": content.care_setting,
        "symptoms": content.symptoms, "tried": content.tried, "age_band": content.age_band,
        "sex": content.sex, "diagnosis": content.diagnosis, "acp_status": content.acp_status,
        "acp_notes": content.acp_notes, "medications": content.medications,
        "psychosocial": content.psychosocial, "services": content.services,
        "intro": True, "_draft_key": record.draft_key if record else "",
        "_sessions": (draft_preset(ctx) or {}).get("_sessions", []),
    }
    again = set(case.returned_fields)
    # An empty optional field was skipped: kept skipped (None), not asked again.
    preset = {k: (None if v == "" else v) for k, v in answers.items() if k not in again}
    lead = (Text(ctx.t("case.edit.intro", reason=case.returned_reason)),) if case.returned_reason else ()
    return StartDialog(DRAFT, preset=preset, lead=lead)


def _present_at(ctx: ServiceContext, session_id: int) -> Acted:
    """"Present a case" on a reminder: a new draft with that session already chosen (or the
    draft put aside, when there is one: nothing is overwritten)."""
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    preset = draft_preset(ctx)
    if session is None or series is None or preset is None \
            or ctx.directory.memberships.get(series.network) != "active":
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused",
                             f"session:{session_id}", {"reason": "sessions.not_yours",
                                                       "action": "case_for"})
        return Refused("sessions.not_yours")
    if ctx.uow.conversations.load(ctx.actor.identity, DRAFT) is not None:
        return StartDialog(DRAFT)  # picks up the draft in progress
    if not any(s["id"] == session.id for s in preset["_sessions"]):
        return Refused("sessions.session_over")
    return StartDialog(DRAFT, preset={**preset, "network": series.network,
                                      "session": str(session.id)})


CASE_ACTIONS: dict[str, Callable[[ServiceContext, int], Acted]] = {
    "case_open": start_review,
    "case_accept": accept_case,
    "case_return": _ask_reason,
    "case_schedule": offer_sessions,
    "case_show": show_case,
    "case_withdraw": confirm_withdraw,
    "case_withdraw_confirmed": withdraw_case,
    "case_presented": mark_presented,
    "case_export": export_case,
    "case_export_full": lambda ctx, n: export_case(ctx, n, "full"),
    "case_export_pdf": lambda ctx, n: export_case(ctx, n, "deidentified", "pdf"),
    "case_export_docx": lambda ctx, n: export_case(ctx, n, "deidentified", "docx"),
    "case_edit": _edit,
    "case_for": _present_at,
}


# --- returning a case with a reason --------------------------------------------------------

def _fields(ctx: StepContext) -> list[Choice]:
    return [Choice(name, f"cases.field.{name}") for name in RETURNABLE_FIELDS]


def _return(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    result = return_case(ctx, int(answers["_case"]), str(answers.get("reason", "")),
                         list(answers.get("fields", [])))
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return result


RETURN_CASE = Dialog(
    name="return_case",
    version=1,
    steps=(
        Ask("reason", "case.return.reason.ask", parse=one_line(RETURN_REASON_LIMIT),
            help="case.return.reason.help"),
        Choose("fields", "case.return.fields.ask", options=_fields, many=True),
    ),
    cancelled="case.return.cancelled",
    finish=_return,
)
