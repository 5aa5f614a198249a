"""Attendance in chat: the "I'm here" button, the team's roll call and adjustments (with a
reason), and a participant's "my attendance". The services check every call again: a button
names a session by number, and anyone can forge one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from assistant.messages import Part, Text
from assistant.parsers import one_line
from assistant.parsing import Invalid, Valid
from assistant.runtime import Answers, Ask, Choice, Choose, Confirm, Dialog, Review, StepContext
from assistant.services.attendance import (
    REASON_MAX,
    REASON_MIN,
    Attendee,
    adjust_attendance,
    adjustable_sessions,
    i_am_here,
    my_attendance,
    record_roll_call,
    roll_call_people,
    roll_call_sessions,
    session_label,
    session_people,
)
from assistant.services.context import Refused, ServiceContext
from assistant.services.sessions import team_networks
from assistant.turns import Routed, StartDialog
from dialogs.command import Acted, Command

HERE, ABSENT = "here", "absent"


def _shown(result: Sequence[Part] | Refused, ctx: ServiceContext) -> list[Part]:
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return list(result)


# --- what the dialogs are handed: sessions and people, loaded when they start --------------


def _entry(ctx: ServiceContext, session_id: int,
           people: Callable[[ServiceContext, int], list[Attendee] | Refused]) -> dict[str, Any] | None:
    """One session as the dialog offers it, with its people and their marks; None when the
    reader may not, or nobody is there to mark."""
    found = people(ctx, session_id)
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    if isinstance(found, Refused) or not found or session is None or series is None:
        return None
    return {"id": session.id, "label": session_label(ctx, session, series),
            "people": [{"id": a.person_id, "name": a.name,
                        "present": None if a.record is None else a.record.present,
                        "source": None if a.record is None else a.record.source}
                       for a in found]}


def _entries(ctx: ServiceContext, session_ids: Sequence[int],
             people: Callable[[ServiceContext, int], list[Attendee] | Refused]) -> list[dict[str, Any]]:
    return [e for e in (_entry(ctx, sid, people) for sid in session_ids) if e is not None]


def _chosen(ctx: StepContext) -> dict[str, Any]:
    wanted = str(ctx.answers.get("session", ""))
    return next((s for s in ctx.answers.get("_sessions", []) if str(s["id"]) == wanted),
                {"label": "", "people": []})


def _sessions(ctx: StepContext) -> list[Choice]:
    return [Choice(str(s["id"]), s["label"], literal=True) for s in ctx.answers.get("_sessions", [])]


def _preset(entries: list[dict[str, Any]], session_id: int | None = None) -> dict[str, Any]:
    """A session already chosen (a button on it, or the only one) is not asked for."""
    if session_id is None and len(entries) == 1:
        session_id = int(entries[0]["id"])
    return {"_sessions": entries, **({"session": str(session_id)} if session_id else {})}


# --- roll call --------------------------------------------------------------------------------


def _people_to_mark(ctx: StepContext) -> list[Choice]:
    return [Choice(str(p["id"]), ctx.t("attendance.roll_call.marked", name=p["name"])
                   if p["present"] else p["name"], literal=True)
            for p in _chosen(ctx)["people"]]


def _who_is_here(ctx: StepContext) -> str:
    chosen = _chosen(ctx)
    marked = sum(1 for p in chosen["people"] if p["present"])
    return ctx.t("attendance.roll_call.present.ask", session=chosen["label"], marked=marked)


def _sure(ctx: StepContext) -> str:
    chosen = _chosen(ctx)
    picked = {str(v) for v in ctx.answers.get("present") or []}
    names = [p["name"] for p in chosen["people"] if str(p["id"]) in picked]
    return ctx.t("attendance.roll_call.sure.ask", session=chosen["label"], names=ctx.t.list(names))


def _finish_roll_call(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    if not answers.get("sure"):
        return [Text(ctx.t("attendance.roll_call.cancelled"))]
    present = [int(v) for v in answers.get("present") or [] if str(v).isdigit()]
    return _shown(record_roll_call(ctx, int(answers["session"]), present), ctx)


ROLL_CALL = Dialog(
    name="roll_call",
    version=1,
    steps=(
        Choose("session", "attendance.roll_call.session.ask", options=_sessions,
               label="attendance.session.label"),
        Choose("present", _who_is_here, options=_people_to_mark, many=True,
               help="attendance.roll_call.present.help", depends_on=("session",),
               label="attendance.roll_call.present.label"),
        Confirm("sure", _sure, depends_on=("session", "present"), reviewed=False),
    ),
    cancelled="attendance.roll_call.cancelled",
    finish=_finish_roll_call,
)


def _roll_call(ctx: ServiceContext) -> Routed:
    if not team_networks(ctx):
        return [Text(ctx.t("attendance.team_only"))]
    entries = _entries(ctx, [s.id for s in roll_call_sessions(ctx)], roll_call_people)
    if not entries:
        return [Text(ctx.t("attendance.roll_call.no_sessions"))]
    return StartDialog("roll_call", preset=_preset(entries))


def _roll_call_for(ctx: ServiceContext, session_id: int) -> Acted:
    """"Roll call" on a session: that session chosen already (if it is on now)."""
    people = roll_call_people(ctx, session_id)  # refuses, and audits, anyone outside the team
    if isinstance(people, Refused):
        return people
    if session_id not in {s.id for s in roll_call_sessions(ctx)}:
        return Refused("attendance.roll_call.not_now")
    entry = _entry(ctx, session_id, roll_call_people)
    if entry is None:
        return Refused("attendance.roll_call.nobody")
    return StartDialog("roll_call", preset=_preset([entry], session_id))


# --- adjusting one person's attendance ----------------------------------------------------------


def _people_to_adjust(ctx: StepContext) -> list[Choice]:
    choices = []
    for p in _chosen(ctx)["people"]:
        if p["present"] is None:
            label = ctx.t("attendance.adjust.person.unmarked", name=p["name"])
        else:
            label = ctx.t(f"attendance.adjust.person.{HERE if p['present'] else ABSENT}",
                          name=p["name"], source=ctx.t(f"attendance.source.{p['source']}"))
        choices.append(Choice(str(p["id"]), label, literal=True))
    return choices


def _reason(text: str, ctx: StepContext) -> Valid[str] | Invalid:
    result = one_line(REASON_MAX)(text, ctx)
    if isinstance(result, Valid) and len(result.value) < REASON_MIN:
        return Invalid("attendance.adjust.reason.too_short", {"min": REASON_MIN})
    return result


def _finish_adjust(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    return _shown(adjust_attendance(ctx, int(answers["session"]), int(answers["person"]),
                                    answers.get("present") == HERE, str(answers.get("reason", ""))),
                  ctx)


ADJUST_ATTENDANCE = Dialog(
    name="adjust_attendance",
    version=1,
    steps=(
        Choose("session", "attendance.adjust.session.ask", options=_sessions,
               label="attendance.session.label"),
        Choose("person", "attendance.adjust.person.ask", options=_people_to_adjust,
               depends_on=("session",), label="attendance.adjust.person.label"),
        Choose("present", "attendance.adjust.present.ask",
               options=(Choice(HERE, "attendance.adjust.present.here"),
                        Choice(ABSENT, "attendance.adjust.present.absent")),
               label="attendance.adjust.present.label"),
        Ask("reason", "attendance.adjust.reason.ask", parse=_reason,
            help="attendance.adjust.reason.help", label="attendance.adjust.reason.label"),
    ),
    review=Review("attendance.adjust.review", submit="attendance.adjust.save"),
    cancelled="attendance.adjust.cancelled",
    finish=_finish_adjust,
)


def _adjust(ctx: ServiceContext) -> Routed:
    if not team_networks(ctx):
        return [Text(ctx.t("attendance.team_only"))]
    entries = _entries(ctx, [s.id for s in adjustable_sessions(ctx)], session_people)
    if not entries:
        return [Text(ctx.t("attendance.adjust.no_sessions"))]
    return StartDialog("adjust_attendance", preset=_preset(entries))


def _adjust_for(ctx: ServiceContext, session_id: int) -> Acted:
    """"Adjust attendance" on a session: that one chosen, the others still offered."""
    people = session_people(ctx, session_id)  # refuses, and audits, anyone outside the team
    if isinstance(people, Refused):
        return people
    entry = _entry(ctx, session_id, session_people)
    if entry is None:
        return Refused("attendance.adjust.nobody")
    others = _entries(ctx, [s.id for s in adjustable_sessions(ctx) if s.id != session_id],
                      session_people)
    return StartDialog("adjust_attendance", preset=_preset([entry, *others], session_id))


# --- a participant's own record -----------------------------------------------------------------


def _mine(ctx: ServiceContext) -> Routed:
    return _shown(my_attendance(ctx), ctx)


def _attendance(ctx: ServiceContext) -> Routed:
    """"Attendance" alone: the roll call for a network's team, one's own record for others."""
    return _roll_call(ctx) if team_networks(ctx) else _mine(ctx)


DIALOGS: tuple[Dialog, ...] = (ROLL_CALL, ADJUST_ATTENDANCE)
ACTIONS: dict[str, Callable[[ServiceContext, int], Acted]] = {
    "here": i_am_here,
    "roll_call": _roll_call_for,
    "adjust_attendance": _adjust_for,
}
COMMANDS: tuple[Command, ...] = (
    Command("roll_call", frozenset({"roll call", "rollcall", "take attendance", "appel",
                                    "faire l'appel", "prendre les presences"}), _roll_call),
    Command("attendance", frozenset({"attendance", "presences", "presence"}), _attendance),
    Command("adjust_attendance", frozenset({"adjust attendance", "correct attendance",
                                            "change attendance", "corriger les presences",
                                            "corriger une presence", "modifier les presences"}),
            _adjust),
    Command("my_attendance", frozenset({"my attendance", "mes presences", "ma presence",
                                        "certificate", "certificat", "my certificate",
                                        "mon certificat"}), _mine),
)
