"""Drafting a case presentation in conversation (DOMAIN.md §5), one field at a time.

The questions for the network come first, then the part only the hub team sees, then the
de-identified part. Every free-text answer goes through the identifier checker: what may
identify the patient is offered back masked, to replace, rewrite or (unless certain) keep with
a reason. The draft is the conversation's own saved state (sealed at rest), so it survives a
restart and resumes at the same question with `case`. A preview and three declarations come
before submission; "Not yet" pauses the draft rather than losing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from assistant.messages import Part, Text
from assistant.model import (
    ACP_STATUSES,
    AGE_BANDS,
    CARE_SETTINGS,
    CASE_TEXT_LIMITS,
    CASE_TYPES,
    QUESTION_LIMIT,
    SEXES,
    CaseContent,
)
from assistant.parsers import one_line
from assistant.parsing import Flagged, Invalid, Valid
from assistant.runtime import (
    Answers,
    Ask,
    Choice,
    Choose,
    Confirm,
    Dialog,
    Fill,
    Reopen,
    Say,
    StepContext,
)
from assistant.runtime.engine import OVERRIDES
from assistant.services.context import Refused, ServiceContext

NAME = "case"
ANY_SESSION = "any"
NOT_YET = "not_yet"
READY = "ready"
PATIENT_ONLY = ("age_band", "sex", "diagnosis", "acp_status", "acp_notes")
CONTENT_STEPS = ("questions", "case_type", "presenter_setting", "session", "summary",
                 "age_band", "sex", "care_setting", "diagnosis", "symptoms", "medications",
                 "psychosocial", "acp_status", "acp_notes", "tried", "services")


# --- the checker on every answer ----------------------------------------------------------

def flag_identifiers(text: str, ctx: StepContext, message: str = "case.check.found",
                     form_message: str = "case.check.found_in_form") -> Valid[str] | Flagged:
    """The text as it is, or what in it could identify someone, masked, with the choices
    (`message` says it in the conversation, `form_message` beside a form's field)."""
    from assistant.identifiers import find_identifiers, replace_with_placeholders

    findings = find_identifiers(text, ctx.language)
    if not findings:
        return Valid(text)
    found = ctx.t.list([f"{ctx.t(f.message_id)} ({f.masked})" for f in findings])
    return Flagged(original=text, safer=replace_with_placeholders(text, findings),
                   message=message, args={"found": found}, form_message=form_message,
                   blocking=any(f.blocks_submit for f in findings),
                   kinds=tuple(sorted({f"{f.kind}:{'certain' if f.blocks_submit else 'likely'}"
                                       for f in findings})))


def checked(longest: int) -> Callable[[str, StepContext], Valid[str] | Invalid | Flagged]:
    """Free text of at most `longest` characters, checked for identifiers."""
    limit = one_line(longest)

    def parse(text: str, ctx: StepContext) -> Valid[str] | Invalid | Flagged:
        result = limit(text, ctx)
        return result if isinstance(result, Invalid) else flag_identifiers(result.value, ctx)

    return parse


_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-•*])\s*")


def _questions(text: str, ctx: StepContext) -> Valid[list[str]] | Invalid | Flagged:
    """One to three questions, one per line (or numbered, or separated by "?")."""
    lines = [line for line in (_NUMBERING.sub("", raw).strip() for raw in text.splitlines()) if line]
    if len(lines) == 1 and lines[0].count("?") > 1:
        lines = [part.strip() + "?" for part in lines[0].split("?") if part.strip()]
    if not lines:
        return Invalid("parse.text.empty")
    if len(lines) > 3:
        return Invalid("case.questions.too_many")
    if any(len(line) > QUESTION_LIMIT for line in lines):
        return Invalid("parse.text.too_long", {"max": QUESTION_LIMIT})
    checked_lines = flag_identifiers("\n".join(lines), ctx)
    if isinstance(checked_lines, Flagged):
        return checked_lines
    return Valid(lines)


def _show_questions(value: Any, ctx: StepContext) -> str:
    if isinstance(value, str):  # kept or placeholdered as one text
        return value
    return "\n".join(f"{n}. {q}" for n, q in enumerate(value, 1))


# --- choices --------------------------------------------------------------------------------

def _networks(ctx: StepContext) -> list[Choice]:
    return [Choice(slug, network.name, literal=True)
            for slug in sorted(ctx.directory.memberships)
            if (network := ctx.directory.network(slug)) is not None]


def _sessions(ctx: StepContext) -> list[Choice]:
    network = ctx.answers.get("network")
    offered = [Choice(str(s["id"]), s["label"], literal=True)
               for s in ctx.answers.get("_sessions", []) if s["network"] == network]
    return [*offered, Choice(ANY_SESSION, "case.session.any")]


def _settings(ctx: StepContext) -> list[Choice]:
    return [Choice(s, f"fields.care_setting.{s}") for s in CARE_SETTINGS]


def _choices(prefix: str, values: Sequence[str]) -> tuple[Choice, ...]:
    return tuple(Choice(v, f"{prefix}.{v}") for v in values)


def _patient(answers: Answers) -> bool:
    return answers.get("case_type") == "patient"


IN_FORM, ONE_BY_ONE = "form", "chat"
PATIENT_FORM = ("diagnosis", "symptoms", "medications", "psychosocial", "tried", "services")
SERVICE_FORM = ("symptoms", "medications", "psychosocial", "tried", "services")


def _in_form(patient: bool) -> Callable[[Answers], bool]:
    return lambda answers: answers.get("how") == IN_FORM and _patient(answers) == patient


def _written_so_far(ctx: StepContext) -> dict[str, str]:
    return {key: str(ctx.answers.get(key) or "") for key in PATIENT_FORM}


def draft_preset(ctx: ServiceContext) -> dict[str, Any] | None:
    """What a new draft starts with: the reader's networks' coming sessions to choose from
    (and the network, when there is only one). None when they are in no network."""
    networks = sorted(slug for slug, status in ctx.directory.memberships.items()
                      if status == "active")
    if not networks:
        return None
    series = {s.id: s for s in ctx.uow.schedule.series_of(networks)}
    sessions = [{"id": s.id, "network": series[s.series_id].network,
                 "label": f"{series[s.series_id].title}: {ctx.t.datetime(s.starts_at, ctx.time_zone)}"}
                for s in ctx.uow.schedule.upcoming(list(series), ctx.now, 8)]
    preset: dict[str, Any] = {"_sessions": sessions, "_started": ctx.now.isoformat(),
                              "_forms": "forms" in ctx.capabilities}
    if len(networks) == 1:
        preset["network"] = networks[0]
    return preset


# --- preview and submission -----------------------------------------------------------------

def _preview(ctx: StepContext) -> str:
    """The whole presentation as the network will hear it, question first."""
    answers = ctx.answers
    t = ctx.t
    lines = [t("case.preview.title"), "", f"*{t('case.questions.label')}*",
             _show_questions(answers.get("questions", []), ctx), ""]
    for key in ("summary", "age_band", "sex", "care_setting", "diagnosis", "symptoms",
                "medications", "psychosocial", "acp_status", "acp_notes", "tried", "services"):
        value = answers.get(key)
        if not value:
            continue
        shown = t(f"case.{key}.{value}") if key in ("age_band", "sex", "acp_status") else (
            t(f"fields.care_setting.{value}") if key == "care_setting" else str(value))
        lines.append(f"*{t(f'case.{key}.label')}*: {shown}")
    lines += ["", t("case.preview.ask")]
    return "\n".join(lines)


def content_of(answers: Answers) -> CaseContent:
    def text(key: str) -> str:
        value = answers.get(key)
        return "" if value is None or (key in PATIENT_ONLY and not _patient(answers)) else str(value)

    questions = answers.get("questions") or []
    if isinstance(questions, str):
        questions = [line for line in questions.splitlines() if line.strip()]
    return CaseContent(
        questions=tuple(questions), case_type=str(answers.get("case_type", "")),
        presenter_setting=str(answers.get("presenter_setting", "")),
        summary=text("summary"), care_setting=str(answers.get("care_setting", "")),
        symptoms=text("symptoms"), tried=text("tried"), age_band=text("age_band"),
        sex=text("sex"), diagnosis=text("diagnosis"), acp_status=text("acp_status"),
        acp_notes=text("acp_notes"), medications=text("medications"),
        psychosocial=text("psychosocial"), services=text("services"),
        update_later=bool(answers.get("update_later")),
        overrides=tuple(f"{o['step']}:{kind}" for o in answers.get(OVERRIDES, [])
                        for kind in o.get("kinds", [])))


def _submit(answers: Answers, ctx: ServiceContext) -> Sequence[Part] | Reopen:
    from assistant.identifiers import find_identifiers
    from assistant.services.cases import submit_case

    content = content_of(answers)
    # The whole draft once more: details can identify in combination, and a kept answer
    # must not hide a certain identifier.
    whole = "\n".join([*content.questions, content.summary, content.diagnosis, content.symptoms,
                       content.medications, content.psychosocial, content.acp_notes,
                       content.tried, content.services])
    if any(f.blocks_submit for f in find_identifiers(whole, ctx.language)):
        return Reopen((Text(ctx.t("case.check.blocked")),), ask_again=("preview",))
    session = answers.get("session")
    session_id = int(session) if session and session != ANY_SESSION else None
    draft_key = str(answers.get("_draft_key") or f"{ctx.actor.identity}:{answers.get('_started', '')}")
    result = submit_case(ctx, content, str(answers.get("network", "")), None, session_id,
                         draft_key=draft_key)
    if isinstance(result, Refused):
        missing = [key for key in (result.args or {}).get("fields", []) if key in CONTENT_STEPS]
        return Reopen((Text(ctx.t(result.message, **(result.args or {}))),),
                      ask_again=tuple(missing) or ("preview",))
    return [Text(ctx.t("case.submitted", reference=result.id))]


def _declaration(key: str) -> Choose:
    return Choose(key, f"case.declare.{key}", options=(Choice(READY, f"case.declare.{key}.yes"),
                                                      Choice(NOT_YET, "case.not_yet")),
                  pause_on={NOT_YET: "case.paused"}, depends_on=CONTENT_STEPS)


CASE_PRESENTATION = Dialog(
    name=NAME,
    version=1,
    steps=(
        Say("intro", "case.intro", reviewed=False),
        Choose("network", "case.network.ask", options=_networks, help="case.network.help"),
        Ask("questions", "case.questions.ask", parse=_questions, show=_show_questions,
            help="case.questions.help"),
        Choose("case_type", "case.case_type.ask", options=_choices("case.case_type", CASE_TYPES),
               help="case.case_type.help"),
        Choose("presenter_setting", "case.presenter_setting.ask", options=_settings,
               help="case.presenter_setting.help"),
        Choose("session", "case.session.ask", options=_sessions, help="case.session.help",
               depends_on=("network",)),
        Ask("summary", "case.summary.ask", parse=checked(CASE_TEXT_LIMITS["summary"]),
            help="case.summary.help"),
        Choose("age_band", "case.age_band.ask", options=_choices("case.age_band", AGE_BANDS),
               when=_patient, help="case.age_band.help"),
        Choose("sex", "case.sex.ask", options=_choices("case.sex", SEXES), when=_patient,
               help="case.sex.help"),
        Choose("care_setting", "case.care_setting.ask", options=_settings,
               help="case.care_setting.help"),
        # Where a form can be shown (a Slack modal, a Teams card), the long answers may be
        # written in one, out of the chat history; each field is checked the same way.
        Choose("how", "case.how.ask", options=(Choice(ONE_BY_ONE, "case.how.chat"),
                                               Choice(IN_FORM, "case.how.form")),
               when=lambda a: bool(a.get("_forms")), reviewed=False),
        Fill("long_patient", "case.form.title", fields=PATIENT_FORM, prefill=_written_so_far,
             when=_in_form(patient=True), reviewed=False),
        Fill("long_service", "case.form.title", fields=SERVICE_FORM, prefill=_written_so_far,
             when=_in_form(patient=False), reviewed=False),
        Ask("diagnosis", "case.diagnosis.ask", parse=checked(CASE_TEXT_LIMITS["diagnosis"]),
            when=_patient, help="case.diagnosis.help", long=True),
        Ask("symptoms", "case.symptoms.ask", parse=checked(CASE_TEXT_LIMITS["symptoms"]),
            help="case.symptoms.help", long=True),
        Ask("medications", "case.medications.ask", parse=checked(CASE_TEXT_LIMITS["medications"]),
            skippable=True, help="case.medications.help", long=True),
        Ask("psychosocial", "case.psychosocial.ask",
            parse=checked(CASE_TEXT_LIMITS["psychosocial"]), skippable=True,
            help="case.psychosocial.help", long=True),
        Choose("acp_status", "case.acp_status.ask",
               options=_choices("case.acp_status", ACP_STATUSES), when=_patient,
               help="case.acp_status.help"),
        Ask("acp_notes", "case.acp_notes.ask", parse=checked(CASE_TEXT_LIMITS["acp_notes"]),
            when=_patient, skippable=True, help="case.acp_notes.help"),
        Ask("tried", "case.tried.ask", parse=checked(CASE_TEXT_LIMITS["tried"]),
            help="case.tried.help", long=True),
        Ask("services", "case.services.ask", parse=checked(CASE_TEXT_LIMITS["services"]),
            skippable=True, help="case.services.help", long=True),
        Choose("preview", _preview, options=(Choice(READY, "case.preview.ready"),
                                             Choice(NOT_YET, "case.not_yet")),
               pause_on={NOT_YET: "case.paused"}, reviewed=False, depends_on=CONTENT_STEPS),
        _declaration("deidentified"),
        _declaration("consent_policy"),
        _declaration("responsibility"),
        Confirm("update_later", "case.update_later.ask", depends_on=CONTENT_STEPS),
    ),
    cancelled="case.cancelled",
    keep_on_cancel=True,  # hours of work: "cancel" puts the draft aside, `case` picks it up
    finish=_submit,
)
