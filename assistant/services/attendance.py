"""Attendance in chat: a participant's "I'm here", the team's roll call and adjustments, and
a participant's own record against the network's certificate rule (DOMAIN.md §7).

A button names a session by number and anyone can forge one: every call checks again who is
asking, and a refused claim on someone else's session is audited as "action.refused". Only a
network's facilitators and hub admins see anyone else's attendance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from assistant.messages import Card, Fact, Option, Part, Text
from assistant.model import AttendanceRecord, AttendanceRules, Series, Session
from assistant.ports import UnitOfWork
from assistant.services.context import Refused, ServiceContext
from assistant.services.sessions import team_networks

HERE_EARLY = timedelta(minutes=15)  # people join early to check their sound
HERE_GRACE = timedelta(minutes=30)  # and press the button late, once things have settled
ROLL_CALL_PAST = timedelta(days=1)
ROLL_CALL_AHEAD = timedelta(hours=1)
ADJUSTABLE_PAST = timedelta(days=90)  # a quarter: certificates are usually settled by then
SESSIONS_OFFERED = 15
REASON_MIN, REASON_MAX = 3, 300
SESSIONS_SHOWN = 12  # per series in "my attendance"; the share still counts every session


@dataclass(frozen=True)
class Attendee:
    """Someone the team may mark at a session, with what is recorded for them so far."""

    person_id: int
    name: str
    record: AttendanceRecord | None


def here_window(session: Session) -> tuple[datetime, datetime]:
    """When "I'm here" counts: from shortly before the start until a while after the end."""
    return session.starts_at - HERE_EARLY, session.ends_at + HERE_GRACE


def session_minutes(session: Session) -> int:
    return int((session.ends_at - session.starts_at).total_seconds() // 60)


def session_label(ctx: ServiceContext, session: Session, series: Series) -> str:
    """"Spring series: Thursday 5 June, 13:00", in the reader's zone."""
    return f"{series.title}: {ctx.t.datetime(session.starts_at, ctx.time_zone)}"


# --- a participant: "I'm here" -------------------------------------------------------------


def i_am_here(ctx: ServiceContext, session_id: int) -> list[Part] | Refused:
    """The "I'm here" button: marks the reader present, once, while the session is on."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    if session is None or series is None or not _is_expected(ctx.uow, session, person.id):
        return _refuse(ctx, "attendance.here.not_expected", session_id, "here")
    if session.state == "cancelled":
        return Refused("attendance.session_cancelled")
    opens, closes = here_window(session)
    if ctx.now < opens:
        return Refused("attendance.here.too_early",
                       {"when": ctx.t.datetime(opens, ctx.time_zone),
                        "zone": ctx.t.zone_name(ctx.time_zone)})
    if ctx.now > closes:
        return Refused("attendance.here.too_late")
    current = ctx.uow.attendance.get(session.id, person.id)
    if current is not None and current.adjusted and not current.present:
        return [Text(ctx.t("attendance.here.settled"))]  # the team's word stands
    if current is not None and current.present:
        return [Text(ctx.t("attendance.here.already"))]
    marked = ctx.uow.attendance.mark(AttendanceRecord(
        session_id=session.id, person_id=person.id, present=True, minutes=None, source="button",
        marked_by=ctx.actor.identity, marked_at=ctx.now))
    if not marked:  # a second tap won the race: it said the same thing
        return [Text(ctx.t("attendance.here.already"))]
    return [Text(ctx.t("attendance.here.noted", series=series.title))]


# --- the team: roll call --------------------------------------------------------------------


def roll_call_sessions(ctx: ServiceContext) -> list[Session]:
    """The team's sessions that started in the last day or start within the hour, the most
    recent start first (a session just begun comes before yesterday's)."""
    found = [session for session, _ in _team_sessions(ctx)
             if ctx.now - ROLL_CALL_PAST <= session.starts_at <= ctx.now + ROLL_CALL_AHEAD]
    return sorted(found, key=lambda s: s.starts_at, reverse=True)


def adjustable_sessions(ctx: ServiceContext) -> list[Session]:
    """The team's sessions that have begun, in the last three months, newest first."""
    found = [session for session, _ in _team_sessions(ctx)
             if ctx.now - ADJUSTABLE_PAST <= session.starts_at <= ctx.now + HERE_EARLY]
    return sorted(found, key=lambda s: s.starts_at, reverse=True)[:SESSIONS_OFFERED]


def roll_call_people(ctx: ServiceContext, session_id: int) -> list[Attendee] | Refused:
    """Who is expected at the session (a place in its series, or coming to this one), with
    their current mark: for the team of its network only."""
    found = _team_session(ctx, session_id, "roll_call")
    if isinstance(found, Refused):
        return found
    session, _ = found
    return _attendees(ctx.uow, session, _expected(ctx.uow, session))


def session_people(ctx: ServiceContext, session_id: int) -> list[Attendee] | Refused:
    """Everyone whose attendance the team may adjust: those expected, and anyone a report
    or an earlier adjustment recorded (a guest matched by e-mail)."""
    found = _team_session(ctx, session_id, "adjust")
    if isinstance(found, Refused):
        return found
    session, _ = found
    recorded = set(ctx.uow.attendance.of_session(session.id))
    return _attendees(ctx.uow, session, _expected(ctx.uow, session) | recorded)


def record_roll_call(ctx: ServiceContext, session_id: int,
                     present_ids: Sequence[int]) -> list[Part] | Refused:
    """Marks the people picked as present. Nobody is marked absent here: taking a mark away
    is an adjustment, with a reason."""
    found = _team_session(ctx, session_id, "roll_call")
    if isinstance(found, Refused):
        return found
    session, series = found
    if session.state == "cancelled":
        return Refused("attendance.session_cancelled")
    if not ctx.now - ROLL_CALL_PAST <= session.starts_at <= ctx.now + ROLL_CALL_AHEAD:
        return Refused("attendance.roll_call.not_now")
    picked = set(present_ids)
    strangers = picked - _expected(ctx.uow, session)
    if strangers:  # the dialog offers only those expected: anything else was forged
        return _refuse(ctx, "attendance.roll_call.not_expected", session.id, "roll_call",
                       {"people": len(strangers)})
    current = ctx.uow.attendance.of_session(session.id)
    marked = already = 0
    for person_id in sorted(picked):
        record = current.get(person_id)
        if record is not None and (record.present or record.adjusted):
            already += 1  # noted already, or settled by an adjustment: left as it is
            continue
        if ctx.uow.attendance.mark(AttendanceRecord(
                session_id=session.id, person_id=person_id, present=True, minutes=None,
                source="roll_call", marked_by=ctx.actor.identity, marked_at=ctx.now)):
            marked += 1
        else:
            already += 1
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "attendance.roll_call",
                         f"session:{session.id}", {"marked": marked, "unchanged": already})
    label = session_label(ctx, session, series)
    return [Text(ctx.t("attendance.roll_call.saved", session=label, marked=marked,
                       already=already)),
            Card(label, (), (Option(ctx.t("attendance.action.adjust"),
                                    f"act:adjust_attendance:{session.id}"),))]


# --- the team: adjustments ------------------------------------------------------------------


def adjust_attendance(ctx: ServiceContext, session_id: int, person_id: int, present: bool,
                      reason: str) -> list[Part] | Refused:
    """The team's correction, with a reason: it is the last word (a later report does not
    overwrite it). The audit log keeps who, when and what changed; the reason stays in the
    record, where the team can read it, not in the log."""
    found = _team_session(ctx, session_id, "adjust")
    if isinstance(found, Refused):
        return found
    session, series = found
    previous = ctx.uow.attendance.get(session.id, person_id)
    if previous is None and person_id not in _expected(ctx.uow, session):
        return _refuse(ctx, "attendance.adjust.not_expected", session.id, "adjust",
                       {"person": person_id})
    if session.state == "cancelled":
        return Refused("attendance.session_cancelled")
    if ctx.now < here_window(session)[0]:
        return Refused("attendance.adjust.not_started")
    cleaned = " ".join(reason.split())
    if not REASON_MIN <= len(cleaned) <= REASON_MAX:
        return Refused("attendance.adjust.reason_needed", {"min": REASON_MIN, "max": REASON_MAX})
    ctx.uow.attendance.mark(AttendanceRecord(
        session_id=session.id, person_id=person_id, present=present,
        minutes=previous.minutes if previous else None, source="adjustment",
        marked_by=ctx.actor.identity, marked_at=ctx.now, adjusted=True, reason=cleaned))
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "attendance.adjusted", f"session:{session.id}",
                         {"person": person_id, "present": present,
                          "was": None if previous is None else previous.present,
                          "was_source": None if previous is None else previous.source,
                          "reason_length": len(cleaned)})
    who = ctx.uow.people.get(person_id)
    return [Text(ctx.t("attendance.adjust.done." + ("here" if present else "absent"),
                       name=who.full_name if who else "?",
                       session=session_label(ctx, session, series), reason=cleaned))]


# --- a participant: "my attendance" ---------------------------------------------------------


def my_attendance(ctx: ServiceContext) -> list[Part] | Refused:
    """The reader's own record, series by series: each session held, whether it counted,
    the share attended and whether it reaches the network's certificate share."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    records = {r.session_id: r for r in ctx.uow.attendance.of_person(person.id)}
    series_ids = {sid for sid, status in ctx.uow.enrolments.of_person(person.id).items()
                  if status == "registered"}
    going = [sid for sid, answer in ctx.uow.rsvps.of_person(person.id).items() if answer == "going"]
    for session_id in {*records, *going}:  # a single session, or a place since given up
        session = ctx.uow.schedule.session(session_id)
        if session is not None:
            series_ids.add(session.series_id)
    all_series = [s for s in (ctx.uow.schedule.series(sid) for sid in series_ids) if s is not None]
    if not all_series:
        return [Text(ctx.t("attendance.mine.none"))]
    rules: dict[str, AttendanceRules] = {}
    parts: list[Part] = [Text(ctx.t("attendance.mine.intro",
                                    zone=ctx.t.zone_name(ctx.time_zone)))]
    for series in sorted(all_series, key=lambda s: (s.title, s.id)):
        if series.network not in rules:
            rules[series.network] = ctx.uow.networks.attendance_rules(series.network)
        parts.append(_series_card(ctx, series, records, rules[series.network]))
    return parts


def _series_card(ctx: ServiceContext, series: Series, records: dict[int, AttendanceRecord],
                 rules: AttendanceRules) -> Card:
    held = [s for s in ctx.uow.schedule.sessions_of(series.id)
            if s.state != "cancelled" and s.ends_at <= ctx.now]
    held.sort(key=lambda s: s.starts_at)
    counted = {s.id for s in held
               if s.id in records and rules.attended(records[s.id], session_minutes(s))}
    facts: list[Fact] = []
    if len(held) > SESSIONS_SHOWN:
        facts.append(Fact(ctx.t("attendance.mine.earlier"),
                          ctx.t("attendance.mine.earlier_value", count=len(held) - SESSIONS_SHOWN)))
    for session in held[-SESSIONS_SHOWN:]:
        facts.append(Fact(ctx.t.datetime(session.starts_at, ctx.time_zone),
                          _mark(ctx, records.get(session.id), session.id in counted)))
    if not held:
        facts.append(Fact(ctx.t("attendance.mine.share"), ctx.t("attendance.mine.none_held")))
    else:
        attended = len(counted)
        facts.append(Fact(ctx.t("attendance.mine.share"), ctx.t(
            "attendance.mine.share_value", attended=attended, held=len(held),
            percent=attended * 100 // len(held))))
        reached = attended * 100 >= rules.certificate_share * len(held)
        facts.append(Fact(ctx.t("attendance.mine.certificate"), ctx.t(
            "attendance.mine.certificate." + ("reached" if reached else "not_reached"),
            share=rules.certificate_share)))
    facts.append(Fact(ctx.t("attendance.mine.rule"),
                      ctx.t(f"attendance.mine.rule.{rules.unit}", threshold=rules.threshold)))
    network = ctx.directory.network(series.network)
    return Card(f"{series.title} ({network.name if network else series.network})", tuple(facts))


def _mark(ctx: ServiceContext, record: AttendanceRecord | None, counted: bool) -> str:
    if record is None:
        return ctx.t("attendance.mine.mark.none")
    source = ctx.t(f"attendance.source.{record.source}")
    with_minutes = record.minutes is not None and not record.adjusted
    if counted:
        key = "attendance.mine.mark.minutes" if with_minutes else "attendance.mine.mark.present"
    else:
        key = "attendance.mine.mark.short" if with_minutes and record.present \
            else "attendance.mine.mark.absent"
    return ctx.t(key, source=source, minutes=record.minutes or 0)


# --- who may, and who is expected -----------------------------------------------------------


def _is_expected(uow: UnitOfWork, session: Session, person_id: int) -> bool:
    return (uow.enrolments.status(session.series_id, person_id) == "registered"
            or uow.rsvps.answer(session.id, person_id) == "going")


def _expected(uow: UnitOfWork, session: Session) -> set[int]:
    going = {p for p, answer in uow.rsvps.answers(session.id).items() if answer == "going"}
    return set(uow.enrolments.registered(session.series_id)) | going


def _attendees(uow: UnitOfWork, session: Session, person_ids: set[int]) -> list[Attendee]:
    records = uow.attendance.of_session(session.id)
    found = []
    for person_id in person_ids:
        person = uow.people.get(person_id)
        if person is not None:
            found.append(Attendee(person_id, person.full_name, records.get(person_id)))
    return sorted(found, key=lambda a: (a.name.casefold(), a.person_id))


def _team_sessions(ctx: ServiceContext) -> list[tuple[Session, Series]]:
    series = ctx.uow.schedule.series_of(sorted(team_networks(ctx)))
    return [(session, one) for one in series for session in ctx.uow.schedule.sessions_of(one.id)
            if session.state != "cancelled"]


def _team_session(ctx: ServiceContext, session_id: int,
                  action: str) -> tuple[Session, Series] | Refused:
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    if session is None or series is None or series.network not in team_networks(ctx):
        return _refuse(ctx, "attendance.team_only", session_id, action)
    return session, series


def _refuse(ctx: ServiceContext, message: str, session_id: int, action: str,
            detail: dict[str, int] | None = None) -> Refused:
    """Refused and audited: a claim on a session that is not the reader's is worth a record."""
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", f"session:{session_id}",
                         {"reason": message, "action": action, **(detail or {})})
    return Refused(message)
