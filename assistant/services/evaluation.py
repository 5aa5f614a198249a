"""The post-session survey (DOMAIN.md §7): who may answer it, storing the answers once,
the one reminder, and the aggregates the team sees.

Only attendees answer: by the attendance recorded, or, when none was recorded at all, anyone
expected at the session (registered for the series, or said they were going). The survey
closes `EVALUATION_WINDOW` after the session ends. Answers are stored with the person (so
nobody answers twice), but what the team reads is counts, averages and unattributed comments,
and nothing but the count below `MIN_RESPONSES` answers: with two answers, an average says
what each person gave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any

from assistant.i18n import Translator
from assistant.messages import Card, Fact, Option, Part, Reply, Text
from assistant.model import EVALUATION_SCALE, RECOMMEND_ANSWERS, EvaluationAnswer, Series, Session
from assistant.ports import Planned, UnitOfWork
from assistant.reminder_times import after_quiet_hours
from assistant.services.context import Refused, ServiceContext
from assistant.turns import StartDialog

EVALUATION_WINDOW = timedelta(days=7)
MIN_RESPONSES = 3
REMINDER_AFTER = timedelta(days=3)
COMMENT_LIMIT = 500
SCORES = ("satisfaction", "relevance", "confidence")
DIALOG = "evaluation"


# --- who may answer ---------------------------------------------------------------------------


def may_evaluate(uow: UnitOfWork, session: Session, person_id: int, now: datetime) -> str | None:
    """None when this person may answer this session's survey now; otherwise the catalogue
    id of the reason."""
    series = uow.schedule.series(session.series_id)
    if series is None or not any(m.network == series.network and m.status == "active"
                                 for m in uow.memberships.of(person_id)):
        return "evaluation.not_allowed"
    if session.state == "cancelled":
        return "evaluation.not_held"
    if now < session.ends_at:
        return "evaluation.not_yet"
    if now >= closes_at(session):
        return "evaluation.closed"
    if uow.evaluations.answered(session.id, person_id):
        return "evaluation.already_answered"
    if not _attended(uow, session, series, person_id):
        return "evaluation.not_attendee"
    return None


def closes_at(session: Session) -> datetime:
    return session.ends_at + EVALUATION_WINDOW


def _attended(uow: UnitOfWork, session: Session, series: Series, person_id: int) -> bool:
    # One person's rows, never the whole session's: a follow-up asks this for every reader.
    record = uow.attendance.get(session.id, person_id)
    if record is None and not uow.attendance.recorded(session.id):
        # Nothing recorded (no roll call, no report): everyone expected gets the benefit of
        # the doubt, as the follow-up does.
        return (uow.enrolments.status(series.id, person_id) == "registered"
                or uow.rsvps.answer(session.id, person_id) == "going")
    minutes = int((session.ends_at - session.starts_at).total_seconds() // 60)
    return record is not None and uow.networks.attendance_rules(series.network).attended(
        record, minutes)


def session_title(session: Session, series: Series) -> str:
    return f"{series.title}: {session.topic}" if session.topic else series.title


# --- the survey in chat -----------------------------------------------------------------------


def start_evaluation(ctx: ServiceContext, session_id: int) -> StartDialog | Refused:
    """The "Evaluate" button (`act:evaluate:N`) on a follow-up or the reminder."""
    person = ctx.person
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    if person is None or session is None or series is None:
        return _refuse(ctx, session_id, "evaluation.not_allowed")
    reason = may_evaluate(ctx.uow, session, person.id, ctx.now)
    if reason is not None:
        return _refuse(ctx, session_id, reason)
    lead: list[Part] = []
    saved = ctx.uow.conversations.load(ctx.actor.identity, DIALOG)
    if saved is not None and saved.answers.get("_session") != session.id:
        # One survey at a time: the one asked for now wins; the other's button still works.
        ctx.uow.conversations.delete(ctx.actor.identity, DIALOG, saved.revision)
        lead.append(Text(ctx.t("evaluation.other_put_aside")))
    lead.append(Text(ctx.t("evaluation.intro", title=session_title(session, series),
                           date=ctx.t.datetime(session.starts_at, ctx.time_zone, "date"),
                           closes=ctx.t.datetime(closes_at(session), ctx.time_zone, "date"))))
    return StartDialog(DIALOG, preset={"_session": session.id}, lead=tuple(lead))


def save_evaluation(ctx: ServiceContext, session_id: int,
                    answers: Mapping[str, Any]) -> list[Part] | Refused:
    """Store the finished survey (checked again: the window may have closed meanwhile)."""
    person = ctx.person
    session = ctx.uow.schedule.session(session_id)
    if person is None or session is None:
        return _refuse(ctx, session_id, "evaluation.not_allowed")
    reason = may_evaluate(ctx.uow, session, person.id, ctx.now)
    if reason == "evaluation.already_answered":  # finished on another device first
        return [Text(ctx.t("evaluation.thanks_already"))]
    if reason is not None:
        return _refuse(ctx, session_id, reason)
    answer = _answer(session.id, person.id, answers, ctx.now)
    if answer is None:
        return Refused("evaluation.incomplete")
    if answer.comment and _identifies(answer.comment, ctx.language):
        return Refused("evaluation.comment.identifiers")
    if not ctx.uow.evaluations.answer(answer):
        return [Text(ctx.t("evaluation.thanks_already"))]
    # Which session was answered, never the answers: the log must not undo the anonymity.
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "evaluation.answered", f"session:{session.id}")
    ctx.uow.outbox.withdraw(f"evaluation:{session.id}", person.id)
    return [Text(ctx.t("evaluation.thanks"))]


def _answer(session_id: int, person_id: int, answers: Mapping[str, Any],
            now: datetime) -> EvaluationAnswer | None:
    """The stored form of the dialog's answers, or None if any is missing or out of range
    (a dialog answer is text; a service must not trust it)."""
    scores: dict[str, int] = {}
    for key in SCORES:
        value = str(answers.get(key, ""))
        if not value.isdecimal() or int(value) not in EVALUATION_SCALE:
            return None
        scores[key] = int(value)
    recommend = str(answers.get("recommend", ""))
    comment = " ".join(str(answers.get("comment") or "").split())
    if recommend not in RECOMMEND_ANSWERS or len(comment) > COMMENT_LIMIT:
        return None
    return EvaluationAnswer(session_id=session_id, person_id=person_id, recommend=recommend,
                            comment=comment, answered_at=now, **scores)


def _identifies(text: str, language: str) -> bool:
    from assistant.identifiers import find_identifiers  # loaded in the warm-up

    return any(f.blocks_submit for f in find_identifiers(text, language))


def _refuse(ctx: ServiceContext, session_id: int, reason: str) -> Refused:
    """Refused and audited: the button names a session by number, and anyone can forge one."""
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", f"session:{session_id}",
                         {"reason": reason, "action": "evaluate"})
    return Refused(reason)


# --- the one reminder -------------------------------------------------------------------------


def plan_evaluation_reminder(uow: UnitOfWork, session: Session, person_id: int, now: datetime,
                             due_at: datetime) -> bool:
    """Plan the single nudge for someone who may answer; False when none was planned (not
    eligible, already planned once, unreachable, or it would come after the survey closes)."""
    key = f"evaluation_reminder:{session.id}:{person_id}"
    closes = closes_at(session)
    if may_evaluate(uow, session, person_id, now) is not None or uow.outbox.known([key]):
        return False  # never a second nudge, even after the first was withdrawn
    contact = uow.people.contacts([person_id]).get(person_id)
    if contact is None:
        return False
    prefs = uow.reminder_preferences.of([person_id])[person_id]
    due = after_quiet_hours(max(due_at, now), contact.time_zone, prefs)
    if due >= closes:
        return False
    uow.outbox.plan([Planned(dedupe_key=key, person_id=person_id, identity=contact.identity,
                             address=contact.address, subject=f"evaluation:{session.id}",
                             compose={"what": "evaluation_reminder", "session": session.id,
                                      "person": person_id},
                             due_at=due, expires_at=closes)], now)
    return True


def write_evaluation_reminder(uow: UnitOfWork, recipe: Mapping[str, Any], person_id: int,
                              t: Translator, zone: str, now: datetime) -> Reply | str:
    """The reminder as it goes, in the reader's language and zone of the day; "withdrawn"
    or "expired" when it no longer applies."""
    session = uow.schedule.session(int(recipe["session"]))
    series = uow.schedule.series(session.series_id) if session else None
    if session is None or series is None:
        return "withdrawn"
    reason = may_evaluate(uow, session, person_id, now)
    if reason == "evaluation.closed":
        return "expired"
    if reason is not None:
        return "withdrawn"
    title = session_title(session, series)
    return Reply((
        Text(t("evaluation.reminder", title=title,
               date=t.datetime(session.starts_at, zone, "date"),
               closes=t.datetime(closes_at(session), zone, "date"))),
        Card(title, (Fact(t("evaluation.reminder.closes"),
                          t.datetime(closes_at(session), zone)),),
             (Option(t("evaluation.action.evaluate"), f"act:evaluate:{session.id}"),)),
    ))


# --- what the team sees -----------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationSummary:
    """One session's answers, unattributed. Below `MIN_RESPONSES` only `responses` is set."""

    responses: int
    satisfaction: float | None = None
    relevance: float | None = None
    confidence: float | None = None
    recommend: Mapping[str, float] = field(default_factory=dict)  # answer -> share (0..1)
    comments: tuple[str, ...] = ()

    @property
    def enough(self) -> bool:
        return self.responses >= MIN_RESPONSES


def evaluation_summary(uow: UnitOfWork, session_ids: Sequence[int]) -> dict[int, EvaluationSummary]:
    """Every session asked about, answered or not."""
    grouped: dict[int, list[EvaluationAnswer]] = {session_id: [] for session_id in session_ids}
    for answer in uow.evaluations.of_sessions(list(session_ids)):
        grouped.setdefault(answer.session_id, []).append(answer)
    return {session_id: _summarise(answers) for session_id, answers in grouped.items()}


def _summarise(answers: Sequence[EvaluationAnswer]) -> EvaluationSummary:
    count = len(answers)
    if count < MIN_RESPONSES:
        return EvaluationSummary(count)
    return EvaluationSummary(
        responses=count,
        satisfaction=fmean(a.satisfaction for a in answers),
        relevance=fmean(a.relevance for a in answers),
        confidence=fmean(a.confidence for a in answers),
        recommend={choice: sum(a.recommend == choice for a in answers) / count
                   for choice in RECOMMEND_ANSWERS},
        # Sorted by their own words, so their order says nothing about who wrote which.
        comments=tuple(sorted((a.comment for a in answers if a.comment), key=str.casefold)),
    )
