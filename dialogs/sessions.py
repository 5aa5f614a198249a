"""Sessions in chat: the buttons on reminders and listings, reminder preferences, and the
facilitator's "add a session", "move a session" and "cancel a session"."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from assistant.messages import Part, Text
from assistant.model import ReminderPrefs
from assistant.parsers import one_line
from assistant.parsers.session_time import duration_minutes, join_url, session_start
from assistant.parsing import Invalid, Valid
from assistant.reminder_times import in_quiet_hours  # noqa: F401  (re-exported for tests)
from assistant.runtime import Answers, Ask, Choice, Choose, Confirm, Dialog, Review, StepContext
from assistant.services.alerts import notify_when_open, stop_notifying
from assistant.services.context import Refused, ServiceContext
from assistant.services.invitations import join_by_code, share_series, shareable
from assistant.services.reminders import describe_time, replan_person
from assistant.services.schedule import Actor, add_session, cancel_session, reschedule
from assistant.services.sessions import (
    answer_rsvp,
    attend_one_session,
    cancel_place,
    decide_request,
    join_series,
    series_file,
    session_file,
    team_networks,
)
from assistant.turns import Routed, StartDialog
from dialogs.command import Command

NOTHING = "nothing"


def shown(result: Sequence[Part] | Refused, ctx: ServiceContext) -> list[Part]:
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return list(result)


# --- buttons on reminders and listings -------------------------------------------------------

ACTIONS: dict[str, Callable[[ServiceContext, int], Sequence[Part] | Refused]] = {
    "going": lambda ctx, n: answer_rsvp(ctx, n, "going"),
    "not_going": lambda ctx, n: answer_rsvp(ctx, n, "not_going"),
    "calendar": session_file,
    "series_calendar": series_file,
    "join": join_series,
    "attend": attend_one_session,
    "cancel_place": cancel_place,
    "approve": lambda ctx, n: decide_request(ctx, n, approve=True),
    "decline": lambda ctx, n: decide_request(ctx, n, approve=False),
    "notify_open": notify_when_open,
    "notify_open_off": stop_notifying,
    "share": share_series,
}


# --- invitations: "join CODE" and "share" ----------------------------------------------------


def _join_word(ctx: ServiceContext) -> Routed:
    """"join" with no code: registration for a newcomer (as the register command does)."""
    if ctx.person is None:
        return StartDialog("registration")
    return [Text(ctx.t("invite.code_needed"))]


# For the command router: listed before "register", so "join" alone still registers.
INVITATION_COMMANDS: tuple[Command, ...] = (
    Command("join_code", frozenset({"join", "rejoindre"}), _join_word, needs_registration=False,
            run_with=join_by_code),
    Command("share", frozenset({"share", "partager", "invite colleagues", "invite a colleague",
                                "inviter des collegues", "inviter un collegue"}), shareable),
)


# --- reminder preferences -------------------------------------------------------------------

KINDS = ("week", "day", "hour", "now")
OFF = "off"


def _kind_choices(ctx: StepContext) -> list[Choice]:
    return [*(Choice(kind, f"reminders.kind.{kind}") for kind in KINDS),
            Choice(OFF, "reminders.kind.off")]


def _quiet_hours(text: str, ctx: StepContext) -> Valid[str] | Invalid:
    """"20:00-08:00", "20h-8h", "22 h 30 à 7 h 00", "none"."""
    folded = text.strip().lower()
    if folded in ("none", "no", "aucune", "non", "0"):
        return Valid("")
    match = _QUIET.fullmatch(folded)
    if not match:
        return Invalid("reminders.quiet.unclear")
    start_h, start_m, end_h, end_m = match.groups()
    if int(start_h) > 23 or int(end_h) > 23 or int(start_m or 0) > 59 or int(end_m or 0) > 59:
        return Invalid("reminders.quiet.unclear")
    return Valid(f"{int(start_h):02d}:{int(start_m or 0):02d}-{int(end_h):02d}:{int(end_m or 0):02d}")


_QUIET = re.compile(r"(\d{1,2})\s*(?:[:h]\s*(\d{2}))?\s*h?\s*(?:-|–|to|à|a)\s*"
                    r"(\d{1,2})\s*(?:[:h]\s*(\d{2}))?\s*h?")


def _work_day_choices(ctx: StepContext) -> list[Choice]:
    return [Choice(str(day), f"reminders.day.{day}") for day in range(7)]


def _current_prefs_prompt(ctx: StepContext) -> str:
    return ctx.t("reminders.kinds.ask")


def _save_prefs(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    person = ctx.person
    if person is None:
        return [Text(ctx.t("profile.not_registered"))]
    kinds = [k for k in answers.get("kinds", []) if k in KINDS]
    if OFF in answers.get("kinds", []):
        kinds = []
    quiet = str(answers.get("quiet") or "")
    start, _, end = quiet.partition("-")
    days = tuple(sorted(int(d) for d in answers.get("work_days", []) if str(d).isdigit()))
    prefs = ReminderPrefs(kinds=tuple(kinds), quiet_start=start or "00:00",
                          quiet_end=end or "00:00", work_days=days)
    ctx.uow.reminder_preferences.set(person.id, prefs, ctx.now)
    for series_id, status in ctx.uow.enrolments.of_person(person.id).items():
        if status == "registered":
            replan_person(ctx.uow, person.id, series_id, ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "reminders.preferences", f"person:{person.id}")
    if not kinds:
        return [Text(ctx.t("reminders.saved_off"))]
    names = [ctx.t(f"reminders.kind.{k}") for k in kinds]
    return [Text(ctx.t("reminders.saved", kinds=ctx.t.list(names)))]


REMINDERS = Dialog(
    name="reminders",
    version=1,
    steps=(
        Choose("kinds", _current_prefs_prompt, options=_kind_choices, many=True,
               help="reminders.kinds.help"),
        Ask("quiet", "reminders.quiet.ask", parse=_quiet_hours, help="reminders.quiet.help",
            show=lambda value, ctx: str(value) or ctx.t("reminders.quiet.none"),
            when=lambda a: OFF not in a.get("kinds", [])),
        Choose("work_days", "reminders.days.ask", options=_work_day_choices, many=True,
               when=lambda a: OFF not in a.get("kinds", [])),
    ),
    review=Review("reminders.review"),
    cancelled="reminders.unchanged",
    finish=_save_prefs,
)


# --- facilitators: add, move, cancel a session ------------------------------------------------


def _team_series(ctx: StepContext) -> list[Choice]:
    """Series of the networks this reader runs: loaded by the command, kept in the answers."""
    return [Choice(str(s["id"]), s["label"], literal=True) for s in ctx.answers.get("_series", [])]


def _parse_start(text: str, ctx: StepContext) -> Valid[str] | Invalid:
    return session_start(text, ctx)


def _show_start(value: Any, ctx: StepContext) -> str:
    return ctx.t.datetime(datetime.fromisoformat(str(value)), ctx.time_zone or "UTC")


def _finish_add(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    person = ctx.person
    if person is None:
        return [Text(ctx.t("profile.not_registered"))]
    series = ctx.uow.schedule.series(int(answers["series"]))
    if series is None:
        return [Text(ctx.t("schedule.not_allowed"))]
    result = add_session(ctx.uow, Actor(ctx.actor.identity, person.id), series,
                         datetime.fromisoformat(str(answers["starts"])), int(answers["duration"]),
                         ctx.now, {"topic": answers.get("topic") or "",
                                   "expert": answers.get("expert") or "",
                                   "join_url": answers.get("link") or ""})
    if isinstance(result, Refused):
        return shown(result, ctx)
    return [Text(ctx.t("schedule.added", series=series.title,
                       when=describe_time(result, ctx.time_zone, ctx.t)))]


ADD_SESSION = Dialog(
    name="add_session",
    version=1,
    steps=(
        Choose("series", "schedule.series.ask", options=_team_series),
        Ask("starts", "schedule.starts.ask", parse=_parse_start, help="schedule.starts.help",
            show=_show_start),
        Ask("duration", "schedule.duration.ask", parse=duration_minutes,
            help="schedule.duration.help"),
        Ask("topic", "schedule.topic.ask", parse=one_line(200), skippable=True),
        Ask("expert", "schedule.expert.ask", parse=one_line(200), skippable=True),
        Ask("link", "schedule.link.ask", parse=join_url, skippable=True, help="schedule.link.help"),
    ),
    review=Review("schedule.review"),
    cancelled="schedule.unchanged",
    finish=_finish_add,
)


def _team_sessions(ctx: StepContext) -> list[Choice]:
    return [Choice(str(s["id"]), s["label"], literal=True) for s in ctx.answers.get("_sessions", [])]


MOVE, CANCEL = "move", "cancel"


def _finish_change(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    person = ctx.person
    session = ctx.uow.schedule.session(int(answers["session"])) if person else None
    if person is None or session is None:
        return [Text(ctx.t("schedule.not_allowed"))]
    actor = Actor(ctx.actor.identity, person.id)
    if answers.get("change") == CANCEL:
        if not answers.get("sure"):
            return [Text(ctx.t("schedule.unchanged"))]
        result = cancel_session(ctx.uow, actor, session, ctx.now)
        if isinstance(result, Refused):
            return shown(result, ctx)
        return [Text(ctx.t("schedule.cancelled"))]
    duration = int((session.ends_at - session.starts_at).total_seconds() // 60)
    moved = reschedule(ctx.uow, actor, session, datetime.fromisoformat(str(answers["starts"])),
                       duration, ctx.now)
    if isinstance(moved, Refused):
        return shown(moved, ctx)
    return [Text(ctx.t("schedule.moved", when=describe_time(moved, ctx.time_zone, ctx.t)))]


CHANGE_SESSION = Dialog(
    name="change_session",
    version=1,
    steps=(
        Choose("session", "schedule.session.ask", options=_team_sessions),
        Choose("change", "schedule.change.ask",
               options=(Choice(MOVE, "schedule.change.move"), Choice(CANCEL, "schedule.change.cancel"))),
        Ask("starts", "schedule.new_start.ask", parse=_parse_start, help="schedule.starts.help",
            show=_show_start, when=lambda a: a.get("change") == MOVE),
        Confirm("sure", "schedule.cancel.confirm", when=lambda a: a.get("change") == CANCEL),
    ),
    cancelled="schedule.unchanged",
    finish=_finish_change,
)


def team_series_preset(ctx: ServiceContext) -> list[dict[str, Any]]:
    networks = sorted(team_networks(ctx))
    names = {n.slug: n.name for n in ctx.directory.networks}
    return [{"id": s.id, "label": f"{s.title} ({names.get(s.network, s.network)})"}
            for s in ctx.uow.schedule.series_of(networks) if s.state != "closed"]


def team_sessions_preset(ctx: ServiceContext) -> list[dict[str, Any]]:
    series = {s.id: s for s in ctx.uow.schedule.series_of(sorted(team_networks(ctx)))}
    coming = ctx.uow.schedule.upcoming(list(series), ctx.now, 10)
    return [{"id": s.id, "label": f"{series[s.series_id].title}: "
                                  f"{ctx.t.datetime(s.starts_at, ctx.time_zone)}"} for s in coming]
