"""Case presentations after the draft: submitted, reviewed (opened, returned or accepted),
scheduled, presented, or withdrawn by their presenter (DOMAIN.md §5).

`TRANSITIONS` is the whole state machine; every move is audited with its from and to states
and never a word of the case. Every call checks again who is asking: the author for their own
case, the facilitators and hub admins of its network for the review. A button names a case by
number, and anyone can forge one: such refusals are audited as "action.refused".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from assistant.i18n import Translator, normalise_language
from assistant.messages import Card, Fact, File, Option, Part, Question, Reply, Text
from assistant.model import (
    ACP_STATUSES,
    AGE_BANDS,
    CARE_SETTINGS,
    CASE_TEXT_LIMITS,
    CASE_TYPES,
    QUESTION_LIMIT,
    SEXES,
    Case,
    CaseContent,
    Person,
)
from assistant.ports import CaseRecord
from assistant.reminder_times import after_quiet_hours
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import describe_time
from assistant.services.sessions import team_networks

AUTHOR, TEAM = "author", "team"
MAX_QUESTIONS = 3
RETURN_REASON_LIMIT = 500
TEAM_ROLES = ("facilitator", "hub_admin")


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    by: str  # AUTHOR or TEAM
    audit: str


def _t(sources: set[str], target: str, by: str, audit: str) -> Transition:
    return Transition(frozenset(sources), target, by, audit)


# The life of a case. "draft" lives in the conversation; a case row starts at "submitted".
# Opening a case for review keeps it "submitted" but ends the author's edits.
TRANSITIONS: Mapping[str, Transition] = {
    "submit": _t({"draft"}, "submitted", AUTHOR, "case.submitted"),
    "resubmit": _t({"returned"}, "submitted", AUTHOR, "case.resubmitted"),
    "update": _t({"submitted"}, "submitted", AUTHOR, "case.updated"),
    "start_review": _t({"submitted"}, "submitted", TEAM, "case.review_started"),
    "return": _t({"submitted"}, "returned", TEAM, "case.returned"),
    "accept": _t({"submitted"}, "accepted", TEAM, "case.accepted"),
    "schedule": _t({"accepted", "scheduled"}, "scheduled", TEAM, "case.scheduled"),
    "present": _t({"scheduled"}, "presented", TEAM, "case.presented"),
    "send_recommendations": _t({"presented"}, "recommendations_sent", TEAM,
                               "case.recommendations_sent"),
    "withdraw": _t({"submitted", "returned", "accepted", "scheduled"}, "withdrawn", AUTHOR,
                   "case.withdrawn"),
}


def allowed(state: str, action: str) -> bool:
    return state in TRANSITIONS[action].sources


# --- the template ----------------------------------------------------------------------------

# Every field, in the order the template asks for it; the de-identified part is what the
# network sees (questions first).
IDENTIFIED_FIELDS = ("presenter_setting", "case_type")
DEIDENTIFIED_FIELDS = ("questions", "summary", "age_band", "sex", "care_setting", "diagnosis",
                       "symptoms", "medications", "psychosocial", "acp_status", "acp_notes",
                       "tried", "services")
# What a returned case can be reopened at: every field, and the preferred session.
RETURNABLE_FIELDS = (*IDENTIFIED_FIELDS, "session", *DEIDENTIFIED_FIELDS)
REQUIRED = ("presenter_setting", "case_type", "questions", "summary", "care_setting",
            "symptoms", "tried")
REQUIRED_FOR_PATIENTS = ("age_band", "sex", "diagnosis", "acp_status")
PATIENT_ONLY = (*REQUIRED_FOR_PATIENTS, "acp_notes")  # not asked about a service issue
CHOICES: Mapping[str, tuple[str, ...]] = {
    "case_type": CASE_TYPES, "presenter_setting": CARE_SETTINGS, "care_setting": CARE_SETTINGS,
    "age_band": AGE_BANDS, "sex": SEXES, "acp_status": ACP_STATUSES}


def check_content(content: CaseContent, t: Translator) -> CaseContent | Refused:
    """The content as it will be stored (trimmed; patient fields dropped from a service
    issue), or what stops it: missing fields named, a wrong choice, a text too long, or
    something the identifier checker is certain identifies a person. Refusals about fields
    carry their keys in `fields` (for the dialog to ask again) and their names in `names`."""
    from assistant.identifiers import find_identifiers  # loaded in the warm-up

    trimmed: dict[str, Any] = {f.name: getattr(content, f.name).strip()
                               for f in fields(CaseContent)
                               if isinstance(getattr(content, f.name), str)}
    questions = tuple(q.strip() for q in content.questions if q.strip())
    clean = replace(content, questions=questions, **trimmed)
    if clean.case_type != "patient":
        blank: dict[str, Any] = dict.fromkeys(PATIENT_ONLY, "")
        clean = replace(clean, **blank)
    required = REQUIRED + (REQUIRED_FOR_PATIENTS if clean.case_type == "patient" else ())
    missing = [name for name in RETURNABLE_FIELDS if name in required and not getattr(clean, name)]
    if missing:
        return Refused("cases.submit.missing", {"fields": missing, "names": _labels(missing, t)})
    for name, choices in CHOICES.items():
        value = getattr(clean, name)
        if value and value not in choices:
            return Refused("cases.submit.bad_choice", {"field": t(f"cases.field.{name}"),
                                                       "fields": [name]})
    if len(questions) > MAX_QUESTIONS:
        return Refused("cases.submit.too_many_questions", {"max": MAX_QUESTIONS,
                                                            "fields": ["questions"]})
    if any(len(q) > QUESTION_LIMIT for q in questions):
        return Refused("cases.submit.too_long", {"field": t("cases.field.questions"),
                                                 "max": QUESTION_LIMIT, "fields": ["questions"]})
    for name, limit in CASE_TEXT_LIMITS.items():
        if len(getattr(clean, name)) > limit:
            return Refused("cases.submit.too_long", {"field": t(f"cases.field.{name}"),
                                                     "max": limit, "fields": [name]})
    flagged = [name for name, text in _texts(clean)
               if any(f.blocks_submit for f in find_identifiers(text, t.language))]
    if flagged:
        names = list(dict.fromkeys(flagged))
        return Refused("cases.submit.identifiers", {"fields": names, "names": _labels(names, t)})
    return clean


def _texts(content: CaseContent) -> list[tuple[str, str]]:
    return ([("questions", q) for q in content.questions]
            + [(name, getattr(content, name)) for name in CASE_TEXT_LIMITS])


def _labels(names: Sequence[str], t: Translator) -> str:
    return t.list([t(f"cases.field.{name}") for name in names])


# --- submitting and editing ------------------------------------------------------------------


def submit_case(ctx: ServiceContext, content: CaseContent, network: str, series_id: int | None,
                session_id: int | None, draft_key: str) -> Case | Refused:
    """Send a finished draft to the network's team. The same draft sent twice is one case:
    unchanged, it is simply that case again; changed, it is an edit (while nobody has opened
    it); a returned case sent again goes back for review under its own number."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    existing = ctx.uow.cases.by_draft_key(draft_key)
    if existing is not None:
        if existing.case.author_id != person.id:
            return _refuse(ctx, f"case:{existing.case.id}", "submit")
        existing = ctx.uow.cases.hold(existing.case.id) or existing
        if existing.case.network != network:
            return Refused("cases.edit.network_fixed")
        if existing.case.state == "returned":
            return _resubmit(ctx, existing, content, series_id, session_id)
        if existing.case.state == "submitted":
            return update_submitted_case(ctx, existing.case.id, content, series_id, session_id)
        checked = check_content(content, ctx.t)
        if not isinstance(checked, Refused) and checked == existing.case.content:
            return existing.case  # pressed twice
        return Refused("cases.edit.too_late", {"state": state_label(existing.case.state, ctx.t)})
    if not _is_member(ctx, network):
        return Refused("cases.submit.not_member", {"network": network})
    checked = check_content(content, ctx.t)
    if isinstance(checked, Refused):
        return checked
    place = _check_place(ctx, network, series_id, session_id)
    if isinstance(place, Refused):
        return place
    record = ctx.uow.cases.add(person.id, network, place[0], place[1], checked, draft_key, ctx.now)
    _audit(ctx, record.case.id, "submit", "draft", {"type": checked.case_type,
                                                    "overrides": len(checked.overrides)})
    _tell_team(ctx, record, "cases.notice.submitted")
    return record.case


def _resubmit(ctx: ServiceContext, record: CaseRecord, content: CaseContent,
              series_id: int | None, session_id: int | None) -> Case | Refused:
    if not _is_member(ctx, record.case.network):
        return Refused("cases.submit.not_member", {"network": record.case.network})
    checked = check_content(content, ctx.t)
    if isinstance(checked, Refused):
        return checked
    place = _check_place(ctx, record.case.network, series_id, session_id)
    if isinstance(place, Refused):
        return place
    moved = _move(ctx, record, "resubmit", {
        "content": checked, "series_id": place[0], "session_id": place[1], "returned": None,
        "submitted_at": ctx.now}, {"changed": _changed(record, checked, place)})
    _tell_team(ctx, moved, "cases.notice.resubmitted")
    return moved.case


def update_submitted_case(ctx: ServiceContext, case_id: int, content: CaseContent,
                          series_id: int | None, session_id: int | None) -> Case | Refused:
    """The author changes a submitted case until someone in the team opens it; the team is
    sent the new version."""
    record = _case_for(ctx, case_id, AUTHOR, "update")
    if isinstance(record, Refused):
        return record
    if record.case.state == "submitted" and record.review_started_at is not None:
        return Refused("cases.edit.review_started")
    cannot = _cannot(ctx, record, "update")
    if cannot is not None:
        return cannot
    checked = check_content(content, ctx.t)
    if isinstance(checked, Refused):
        return checked
    place = _check_place(ctx, record.case.network, series_id, session_id)
    if isinstance(place, Refused):
        return place
    changed = _changed(record, checked, place)
    if not changed:
        return record.case
    moved = _move(ctx, record, "update", {"content": checked, "series_id": place[0],
                                          "session_id": place[1]}, {"changed": changed})
    _tell_team(ctx, moved, "cases.notice.updated")
    return moved.case


def case_for_editing(ctx: ServiceContext, case_id: int) -> Case | Refused:
    """The author's own case, to fill a draft with: when it was returned, or is submitted and
    not yet opened by the team."""
    record = _case_for(ctx, case_id, AUTHOR, "edit")
    if isinstance(record, Refused):
        return record
    if not _editable(record):
        if record.case.state == "submitted":
            return Refused("cases.edit.review_started")
        return Refused("cases.edit.too_late", {"state": state_label(record.case.state, ctx.t)})
    return record.case


def _changed(record: CaseRecord, content: CaseContent,
             place: tuple[int | None, int | None]) -> list[str]:
    """Which fields differ: names only, for the audit log and the team."""
    before = record.case.content
    names = [name for name in RETURNABLE_FIELDS
             if name != "session" and getattr(before, name) != getattr(content, name)]
    if place != (record.case.series_id, record.case.session_id):
        names.append("session")
    return names


def _editable(record: CaseRecord) -> bool:
    return record.case.state == "returned" or (
        record.case.state == "submitted" and record.review_started_at is None)


def _is_member(ctx: ServiceContext, network: str) -> bool:
    person = ctx.person
    return person is not None and any(m.network == network and m.status == "active"
                                      for m in ctx.uow.memberships.of(person.id))


def _check_place(ctx: ServiceContext, network: str, series_id: int | None,
                 session_id: int | None) -> tuple[int | None, int | None] | Refused:
    """The (series, session) a case is for: a coming session of the network, a series of
    it, or neither ("any session")."""
    if session_id is not None:
        session = ctx.uow.schedule.session(session_id)
        series = ctx.uow.schedule.series(session.series_id) if session else None
        if session is None or series is None or series.network != network or (
                series_id is not None and series_id != series.id):
            return _refuse(ctx, f"session:{session_id}", "choose_session")
        if session.state != "scheduled" or session.starts_at <= ctx.now:
            return Refused("cases.submit.session_closed")
        return series.id, session.id
    if series_id is not None:
        series = ctx.uow.schedule.series(series_id)
        if series is None or series.network != network:
            return _refuse(ctx, f"series:{series_id}", "choose_series")
        if series.state == "closed":
            return Refused("cases.submit.session_closed")
        return series.id, None
    return None, None


# --- the review ------------------------------------------------------------------------------


def start_review(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    """Open a case for review (the "Open" button): from now on the author cannot change it.
    A case already in review, or further on, is simply shown."""
    record = _case_for(ctx, case_id, TEAM, "start_review")
    if isinstance(record, Refused):
        return record
    lead: list[Part] = []
    if record.case.state == "submitted" and record.review_started_at is None:
        record = _move(ctx, record, "start_review", _review_started(ctx))
        lead.append(Text(ctx.t("cases.review.started")))
    return lead + _case_view(ctx, record, TEAM)


def accept_case(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    record = _case_for(ctx, case_id, TEAM, "accept")
    if isinstance(record, Refused):
        return record
    accepted = _accept(ctx, record)
    if isinstance(accepted, Refused):
        return accepted
    return [Text(ctx.t("cases.accepted.done", reference=accepted.case.reference)),
            Card(_title(accepted.case, ctx.t), (), (
                Option(ctx.t("cases.action.schedule"), f"act:case_schedule:{case_id}"),))]


def _accept(ctx: ServiceContext, record: CaseRecord) -> CaseRecord | Refused:
    cannot = _cannot(ctx, record, "accept")
    if cannot is not None:
        return cannot
    code, year = network_code(record.case.network), ctx.now.year
    reference = f"{code}-{year}-{ctx.uow.cases.next_reference(code, year):03d}"
    changes: dict[str, Any] = {"reference": reference}
    if record.review_started_at is None:
        changes.update(_review_started(ctx))
    moved = _move(ctx, record, "accept", changes, {"reference": reference})
    _tell_author(ctx, moved, lambda t, zone: (
        Text(t("cases.notice.accepted", network=_network_name(ctx, moved.case.network),
               reference=reference)),))
    return moved


def network_code(slug: str) -> str:
    """"care-homes" -> "CH": the first letter of each word of the network's slug."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", slug) if word]
    return "".join(word[0] for word in words).upper() or "ECHO"


def return_case(ctx: ServiceContext, case_id: int, reason: str,
                fields: Sequence[str]) -> list[Part] | Refused:
    """Back to the author with the team's reason, reopened at the fields named."""
    record = _case_for(ctx, case_id, TEAM, "return")
    if isinstance(record, Refused):
        return record
    reason = " ".join(reason.split())
    if not reason:
        return Refused("cases.return.reason_needed")
    if len(reason) > RETURN_REASON_LIMIT:
        return Refused("cases.return.reason_too_long", {"max": RETURN_REASON_LIMIT})
    unknown = [name for name in fields if name not in RETURNABLE_FIELDS]
    if unknown:
        return Refused("cases.return.unknown_field", {"field": unknown[0]})
    named = [name for name in RETURNABLE_FIELDS if name in fields]
    cannot = _cannot(ctx, record, "return")
    if cannot is not None:
        return cannot
    moved = _move(ctx, record, "return", {"returned": (reason, tuple(named)),
                                          "review_started_at": None, "reviewer_id": None},
                  {"fields": named})
    _tell_author(ctx, moved, lambda t, zone: _returned_notice(ctx, moved.case, t))
    return [Text(ctx.t("cases.returned.done"))]


def _returned_notice(ctx: ServiceContext, case: Case, t: Translator) -> tuple[Part, ...]:
    parts: list[Part] = [Text(t("cases.notice.returned", network=_network_name(ctx, case.network),
                                reason=case.returned_reason))]
    if case.returned_fields:
        parts.append(Text(t("cases.notice.returned_fields", fields=_labels(case.returned_fields, t))))
    parts.append(Card(_title(case, t), (), (
        Option(t("cases.action.edit"), f"act:case_edit:{case.id}"),
        Option(t("cases.action.show"), f"act:case_show:{case.id}"),
        Option(t("cases.action.withdraw"), f"act:case_withdraw:{case.id}"))))
    return tuple(parts)


def offer_sessions(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    """The "Schedule" button: the network's coming sessions, the presenter's choice first."""
    record = _case_for(ctx, case_id, TEAM, "schedule")
    if isinstance(record, Refused):
        return record
    case = record.case
    if case.state not in ("submitted", "accepted", "scheduled"):
        return Refused("cases.cannot.schedule", {"state": state_label(case.state, ctx.t)})
    series = {s.id: s for s in ctx.uow.schedule.series_of([case.network])}
    coming = [s for s in ctx.uow.schedule.upcoming(list(series), ctx.now, 10)
              if s.starts_at > ctx.now]
    coming.sort(key=lambda s: (s.id != case.session_id, s.starts_at))
    if not coming:
        return Refused("cases.schedule.no_sessions")
    options = tuple(Option(f"{series[s.series_id].title}: {describe_time(s, ctx.time_zone, ctx.t)}",
                           schedule_ref(case.id, s.id)) for s in coming)
    return [Question(ctx.t("cases.schedule.which"), options)]


SCHEDULE_ACTION = "case_slot"


def schedule_ref(case_id: int, session_id: int) -> str:
    return f"act:{SCHEDULE_ACTION}:{case_id}:{session_id}"


def schedule_from_ref(ctx: ServiceContext, ref: str) -> list[Part] | Refused:
    """A pressed `act:case_slot:CASE:SESSION`: both numbers are only claims."""
    match = re.fullmatch(rf"act:{SCHEDULE_ACTION}:([1-9][0-9]{{0,8}}):([1-9][0-9]{{0,8}})", ref)
    if match is None:
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", "button",
                             {"reason": "unknown"})
        return Refused("cases.not_yours")
    return schedule_case(ctx, int(match[1]), int(match[2]))


def schedule_case(ctx: ServiceContext, case_id: int, session_id: int) -> list[Part] | Refused:
    """Put a case on a session's agenda (accepting it first if nobody had), or move it to
    another session; the presenter is told when, in their own zone."""
    record = _case_for(ctx, case_id, TEAM, "schedule")
    if isinstance(record, Refused):
        return record
    if record.case.state != "submitted":
        cannot = _cannot(ctx, record, "schedule")
        if cannot is not None:
            return cannot
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    if session is None or series is None or series.network != record.case.network:
        return _refuse(ctx, f"session:{session_id}", "schedule")
    if session.state != "scheduled" or session.starts_at <= ctx.now:
        return Refused("cases.submit.session_closed")
    if record.case.state == "scheduled" and record.case.session_id == session.id:
        return Refused("cases.already", {"state": state_label("scheduled", ctx.t)})
    if record.case.state == "submitted":
        accepted = _accept(ctx, record)
        if isinstance(accepted, Refused):
            return accepted
        record = accepted
    moved = _move(ctx, record, "schedule", {"session_id": session.id, "series_id": series.id},
                  {"session": session.id})
    reference = moved.case.reference or ""
    _tell_author(ctx, moved, lambda t, zone: (Text(t(
        "cases.notice.scheduled", reference=reference, series=series.title,
        when=describe_time(session, zone, t))),))
    return [Text(ctx.t("cases.scheduled.done", reference=reference, series=series.title,
                       when=describe_time(session, ctx.time_zone, ctx.t)))]


def mark_presented(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    done = _simple_move(ctx, case_id, "present", "cases.presented.done")
    if isinstance(done, Refused):
        return done
    return [*done, Card(ctx.t("cases.recommend.next"), (), (
        Option(ctx.t("cases.action.recommend"), f"act:case_recommend:{case_id}"),))]


def mark_recommendations_sent(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    return _simple_move(ctx, case_id, "send_recommendations", "cases.recommendations_sent.done")


def confirm_withdraw(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    """Withdrawing cannot be undone, so the button asks first."""
    record = _case_for(ctx, case_id, AUTHOR, "withdraw")
    if isinstance(record, Refused):
        return record
    cannot = _cannot(ctx, record, "withdraw")
    if cannot is not None:
        return cannot
    return [Card(ctx.t("cases.withdraw.confirm", title=_title(record.case, ctx.t)), (), (
        Option(ctx.t("cases.action.withdraw_confirmed"), f"act:case_withdraw_confirmed:{case_id}"),
        Option(ctx.t("cases.action.keep"), f"act:case_show:{case_id}")))]


def withdraw_case(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    """The presenter takes the case back (any time before it is presented); the team hears."""
    parts = _simple_move(ctx, case_id, "withdraw", "cases.withdrawn.done")
    if not isinstance(parts, Refused):
        record = ctx.uow.cases.get(case_id)
        assert record is not None
        _tell_team(ctx, record, "cases.notice.withdrawn", with_case=False)
    return parts


def _simple_move(ctx: ServiceContext, case_id: int, action: str,
                 done: str) -> list[Part] | Refused:
    record = _case_for(ctx, case_id, TRANSITIONS[action].by, action)
    if isinstance(record, Refused):
        return record
    cannot = _cannot(ctx, record, action)
    if cannot is not None:
        return cannot
    moved = _move(ctx, record, action)
    return [Text(ctx.t(done, title=_title(moved.case, ctx.t)))]


# --- reading ---------------------------------------------------------------------------------


def show_case(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    """The whole case: to its author, and to its network's team once submitted (not after
    the author withdrew it)."""
    record = ctx.uow.cases.get(case_id)
    viewer = _viewer(ctx, record.case) if record else None
    if record is None or viewer is None:
        return _refuse(ctx, f"case:{case_id}", "show")
    return _case_view(ctx, record, viewer)


def my_cases(ctx: ServiceContext) -> list[Part] | Refused:
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    records = ctx.uow.cases.of_author(person.id)
    if not records:
        return [Text(ctx.t("cases.mine.none"))]
    parts: list[Part] = [Text(ctx.t("cases.mine.intro"))]
    for record in records[:10]:
        facts = (Fact(ctx.t("cases.fact.summary"), record.case.content.summary),
                 *_status_facts(ctx, record))
        parts.append(Card(_title(record.case, ctx.t), facts, _actions(ctx, record, AUTHOR)))
    return parts


REVIEW_STATES = ("submitted", "accepted", "scheduled")


def cases_to_review(ctx: ServiceContext) -> list[Part] | Refused:
    """For facilitators and hub admins: cases waiting for review, then accepted ones waiting
    for a session, then scheduled ones."""
    networks = sorted(team_networks(ctx))
    if not networks:
        return Refused("cases.team_only")
    records = ctx.uow.cases.for_networks(networks, REVIEW_STATES)
    if not records:
        return [Text(ctx.t("cases.review.none"))]
    records.sort(key=lambda r: REVIEW_STATES.index(r.case.state))
    parts: list[Part] = [Text(ctx.t("cases.review.intro", count=len(records)))]
    for record in records[:10]:
        facts = (Fact(ctx.t("cases.fact.network"), _network_name(ctx, record.case.network)),
                 *_status_facts(ctx, record),
                 Fact(ctx.t("cases.fact.summary"), record.case.content.summary))
        parts.append(Card(_title(record.case, ctx.t), facts, _actions(ctx, record, TEAM)))
    return parts


MEDIA_TYPES = {"md": "text/markdown", "pdf": "application/pdf",
               "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def export_case(ctx: ServiceContext, case_id: int,
                part: Literal["deidentified", "full"] = "deidentified",
                fmt: Literal["md", "docx", "pdf"] = "md") -> list[Part] | Refused:
    """The case as a file: the de-identified part, to share on screen in the session (a PDF
    reads best there), or the full record for the hub."""
    from assistant.case_export import export_bytes, export_name

    record = ctx.uow.cases.get(case_id)
    if record is None or _viewer(ctx, record.case) is None:
        return _refuse(ctx, f"case:{case_id}", f"export_{part}")
    case = record.case
    content = export_bytes(case, fmt, part, ctx.t, presenter=ctx.uow.people.get(case.author_id),
                           session_when=_session_when(ctx, case, ctx.time_zone, ctx.t),
                           network_name=_network_name(ctx, case.network))
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "case.exported", f"case:{case.id}",
                         {"part": part, "format": fmt})
    return [File(export_name(case, part, fmt), MEDIA_TYPES[fmt], content,
                 caption=ctx.t(f"cases.export.caption.{part}"))]


def case_markdown(case: Case, part: Literal["deidentified", "full"], t: Translator, *,
                  presenter: Person | None = None, session_when: str = "",
                  network_name: str = "") -> str:
    """Markdown of a case. The de-identified part holds only what the network may see
    (questions first); "full" adds the identified part, for the hub team."""
    content = case.content
    kind = t(f"cases.type.{content.case_type}")
    lines = [f"# {_title(case, t)}", "", f"*{kind}*" + (f" · {network_name}" if network_name else ""),
             "", f"## {t('cases.part.questions')}", ""]
    lines += [f"{n}. {question}" for n, question in enumerate(content.questions, 1)]
    lines += ["", f"## {t('cases.part.case')}", ""]
    lines += [f"- **{label}:** {value}" for label, value in _deidentified_facts(content, t)]
    if part == "full":
        lines += ["", f"## {t('cases.part.identified')}", ""]
        lines += [f"- **{label}:** {value}" for label, value in
                  _identified_facts(case, t, presenter, session_when)]
    return "\n".join(lines).rstrip() + "\n"


# --- how a case looks ------------------------------------------------------------------------


def _case_view(ctx: ServiceContext, record: CaseRecord, viewer: str) -> list[Part]:
    case = record.case
    presenter = ctx.uow.people.get(case.author_id)
    session_when = _session_when(ctx, case, ctx.time_zone, ctx.t)
    return [*deidentified_parts(case.content, ctx.t),
            Card(ctx.t("cases.part.identified"),
                 tuple(Fact(label, value) for label, value in
                       _identified_facts(case, ctx.t, presenter, session_when))),
            Card(_title(case, ctx.t), _status_facts(ctx, record), _actions(ctx, record, viewer))]


def deidentified_parts(content: CaseContent, t: Translator) -> list[Part]:
    """What the network may see, questions first."""
    return [Card(t("cases.part.questions"),
                 tuple(Fact(str(n), q) for n, q in enumerate(content.questions, 1))),
            Card(t("cases.part.case"), tuple(Fact(label, value) for label, value
                                             in _deidentified_facts(content, t)))]


def _deidentified_facts(content: CaseContent, t: Translator) -> list[tuple[str, str]]:
    return [(t(f"cases.field.{name}"), _shown(name, getattr(content, name), t))
            for name in DEIDENTIFIED_FIELDS if name != "questions" and getattr(content, name)]


def _identified_facts(case: Case, t: Translator, presenter: Person | None,
                      session_when: str, checked: bool = True) -> list[tuple[str, str]]:
    facts = []
    if presenter is not None:
        facts.append((t("cases.fact.presenter"),
                      f"{presenter.full_name}, {presenter.profession}, {presenter.organisation}"))
    facts += [(t("cases.field.presenter_setting"),
               _shown("presenter_setting", case.content.presenter_setting, t)),
              (t("cases.field.case_type"), _shown("case_type", case.content.case_type, t)),
              (t("cases.field.session"), session_when or t("cases.session.any")),
              (t("cases.fact.state"), state_label(case.state, t))]
    if checked:
        facts.append((t("cases.fact.checked"), checked_line(case.content, t)))
    if case.reference:
        facts.append((t("cases.fact.reference"), case.reference))
    if case.state == "returned" and case.returned_reason:
        facts.append((t("cases.fact.returned"), case.returned_reason))
        if case.returned_fields:
            facts.append((t("cases.fact.returned_fields"), _labels(case.returned_fields, t)))
    return facts


def _shown(name: str, value: str, t: Translator) -> str:
    if name == "case_type":
        return t(f"cases.type.{value}")
    if name in ("care_setting", "presenter_setting"):
        return t(f"fields.care_setting.{value}")
    if name == "sex":
        return t(f"cases.sex.{value}")
    if name == "acp_status":
        return t(f"cases.acp.{value}")
    return value


def checked_line(content: CaseContent, t: Translator) -> str:
    """"Checked by Spoke, 2 overrides": how many findings the author judged not identifying."""
    count = len(content.overrides)
    key = "none" if count == 0 else "one" if count == 1 else "many"
    return t(f"cases.checked.{key}", count=count)


def state_label(state: str, t: Translator) -> str:
    return t(f"cases.state.{state}")


def _title(case: Case, t: Translator) -> str:
    return t("cases.title.reference", reference=case.reference) if case.reference else t(
        "cases.title.number", number=case.id)


def _status_facts(ctx: ServiceContext, record: CaseRecord) -> tuple[Fact, ...]:
    case = record.case
    state = state_label(case.state, ctx.t)
    if case.state == "submitted" and record.review_started_at is not None:
        state = ctx.t("cases.state.in_review")
    facts = [Fact(ctx.t("cases.fact.state"), state),
             Fact(ctx.t("cases.field.session"),
                  _session_when(ctx, case, ctx.time_zone, ctx.t) or ctx.t("cases.session.any"))]
    if case.submitted_at is not None:
        facts.append(Fact(ctx.t("cases.fact.submitted"),
                          ctx.t.datetime(case.submitted_at, ctx.time_zone, "date")))
    return tuple(facts)


def _actions(ctx: ServiceContext, record: CaseRecord, viewer: str) -> tuple[Option, ...]:
    case, t = record.case, ctx.t
    if viewer == AUTHOR:
        actions = [Option(t("cases.action.show"), f"act:case_show:{case.id}")]
        if _editable(record):
            actions.append(Option(t("cases.action.edit"), f"act:case_edit:{case.id}"))
        if allowed(case.state, "withdraw"):
            actions.append(Option(t("cases.action.withdraw"), f"act:case_withdraw:{case.id}"))
        return tuple(actions)
    if case.state == "submitted":
        return review_actions(case.id, t, opened=record.review_started_at is not None)
    if case.state in ("accepted", "scheduled"):
        actions = [Option(t("cases.action.schedule"), f"act:case_schedule:{case.id}")]
        if case.state == "scheduled":
            actions.append(Option(t("cases.action.presented"), f"act:case_presented:{case.id}"))
        actions.append(Option(t("cases.action.export"), f"act:case_export:{case.id}"))
        actions.append(Option(t("cases.action.export_pdf"), f"act:case_export_pdf:{case.id}"))
        return tuple(actions)
    if case.state in ("presented", "recommendations_sent"):
        return (Option(t("cases.action.recommend"), f"act:case_recommend:{case.id}"),)
    return ()


def review_actions(case_id: int, t: Translator, opened: bool = False) -> tuple[Option, ...]:
    """Open (which ends the author's edits), Accept, Return with a reason, Schedule."""
    actions = () if opened else (Option(t("cases.action.open"), f"act:case_open:{case_id}"),)
    return (*actions, Option(t("cases.action.accept"), f"act:case_accept:{case_id}"),
            Option(t("cases.action.return"), f"act:case_return:{case_id}"),
            Option(t("cases.action.schedule"), f"act:case_schedule:{case_id}"))


def _session_when(ctx: ServiceContext, case: Case, zone: str, t: Translator) -> str:
    if case.session_id is not None:
        session = ctx.uow.schedule.session(case.session_id)
        series = ctx.uow.schedule.series(session.series_id) if session else None
        if session is not None and series is not None:
            return f"{series.title}: {describe_time(session, zone, t)}"
    if case.series_id is not None:
        series = ctx.uow.schedule.series(case.series_id)
        if series is not None:
            return t("cases.session.any_in", series=series.title)
    return ""


def _network_name(ctx: ServiceContext, slug: str) -> str:
    return next((n.name for n in ctx.uow.networks.all() if n.slug == slug), slug)


# --- notices ---------------------------------------------------------------------------------

Compose = Callable[[Translator, str], tuple[Part, ...]]  # (reader's words, reader's zone)


def _tell_team(ctx: ServiceContext, record: CaseRecord, lead: str, with_case: bool = True) -> None:
    """Each facilitator and hub admin of the network (the author aside) gets the news in
    their own language and zone, with the de-identified case and the review buttons."""
    case = record.case
    team = [p for p in ctx.uow.people.with_role(case.network, TEAM_ROLES)
            if ctx.person is None or p != ctx.person.id]
    network = _network_name(ctx, case.network)

    def compose(t: Translator, zone: str) -> tuple[Part, ...]:
        parts: list[Part] = [Text(t(lead, network=network, title=_title(case, t),
                                    type=t(f"cases.type.{case.content.case_type}")))]
        if with_case:
            presenter = ctx.uow.people.get(case.author_id)
            parts += [Text(checked_line(case.content, t)), *deidentified_parts(case.content, t),
                      Card(_title(case, t), tuple(
                          Fact(label, value) for label, value in _identified_facts(
                              case, t, presenter, _session_when(ctx, case, zone, t),
                              checked=False)),
                           review_actions(case.id, t))]
        return tuple(parts)

    _send(ctx, record, sorted(set(team)), lead, compose)


def _tell_author(ctx: ServiceContext, record: CaseRecord, compose: Compose) -> None:
    _send(ctx, record, [record.case.author_id], record.case.state, compose)


def _send(ctx: ServiceContext, record: CaseRecord, people: Sequence[int], what: str,
          compose: Compose) -> None:
    """Written now, in each reader's language; held back until their quiet hours end."""
    contacts = ctx.uow.people.contacts(people)
    preferences = ctx.uow.reminder_preferences.of(list(contacts))
    for person_id, contact in contacts.items():
        t = Translator(normalise_language(contact.language))
        reply = Reply(tuple(compose(t, contact.time_zone)))
        due = after_quiet_hours(ctx.now, contact.time_zone, preferences[person_id])
        ctx.uow.outbox.add(contact.identity, contact.address, reply,
                           f"case:{record.case.id}:{record.revision}:{what}:{person_id}", due)


# --- permissions and moves -------------------------------------------------------------------


def team_case(ctx: ServiceContext, case_id: int, action: str) -> CaseRecord | Refused:
    """The case, locked, for a member of its network's team; an audited refusal otherwise."""
    return _case_for(ctx, case_id, TEAM, action)


def author_case(ctx: ServiceContext, case_id: int, action: str) -> CaseRecord | Refused:
    """The case, locked, for its author; an audited refusal otherwise."""
    return _case_for(ctx, case_id, AUTHOR, action)


def advance_case(ctx: ServiceContext, record: CaseRecord, action: str) -> CaseRecord:
    """Move a case along its life (the caller checked `allowed`), audited."""
    return _move(ctx, record, action)


def case_title(case: Case, t: Translator) -> str:
    return _title(case, t)


def _case_for(ctx: ServiceContext, case_id: int, by: str, action: str) -> CaseRecord | Refused:
    """The case, locked, if this reader may act on it as `by`; otherwise an audited refusal
    that says the same for a case that does not exist and one that is not theirs."""
    person = ctx.person
    record = ctx.uow.cases.hold(case_id) if person is not None else None
    if person is None or record is None or not _may(ctx, record.case, by):
        return _refuse(ctx, f"case:{case_id}", action)
    return record


def _may(ctx: ServiceContext, case: Case, by: str) -> bool:
    if by == AUTHOR:
        return ctx.person is not None and case.author_id == ctx.person.id
    return case.network in team_networks(ctx)


def _viewer(ctx: ServiceContext, case: Case) -> str | None:
    if _may(ctx, case, AUTHOR):
        return AUTHOR
    if case.state != "withdrawn" and _may(ctx, case, TEAM):
        return TEAM
    return None


def _cannot(ctx: ServiceContext, record: CaseRecord, action: str) -> Refused | None:
    transition = TRANSITIONS[action]
    state = record.case.state
    if state in transition.sources:
        return None
    if state == transition.target:
        return Refused("cases.already", {"state": state_label(state, ctx.t)})
    return Refused(f"cases.cannot.{action}", {"state": state_label(state, ctx.t)})


def _move(ctx: ServiceContext, record: CaseRecord, action: str,
          changes: Mapping[str, Any] | None = None,
          detail: Mapping[str, Any] | None = None) -> CaseRecord:
    transition = TRANSITIONS[action]
    assert record.case.state in transition.sources, (record.case.state, action)
    moved = ctx.uow.cases.update(record.case.id, {"state": transition.target, **(changes or {})},
                                 record.revision, ctx.now)
    _audit(ctx, record.case.id, action, record.case.state, detail)
    return moved


def _audit(ctx: ServiceContext, case_id: int, action: str, before: str,
           detail: Mapping[str, Any] | None = None) -> None:
    transition = TRANSITIONS[action]
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, transition.audit, f"case:{case_id}",
                         {"from": before, "to": transition.target, **(detail or {})})


def _review_started(ctx: ServiceContext) -> dict[str, Any]:
    return {"review_started_at": ctx.now, "reviewer_id": ctx.person.id if ctx.person else None}


def _refuse(ctx: ServiceContext, subject: str, action: str) -> Refused:
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", subject,
                         {"reason": "cases.not_yours", "action": action})
    return Refused("cases.not_yours")
