"""Follow-ups after a session: thanks, summary, resources and recording for those who came,
"sorry we missed you" for those who could not.

A follow-up is stored once (sealed) and planned into the outbox as one row per reader, keyed
by follow-up and person: pressing Send twice, or sending again to newcomers, never gives
anyone a second copy. The row holds a recipe: the message is written when it goes, so the
split between attendees and absentees uses the attendance recorded by then (a report
imported after a scheduled follow-up was written still counts). With no attendance recorded
at all, everyone gets one message with both the recording and the survey (DOMAIN.md §7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from assistant.i18n import Translator
from assistant.messages import Card, Fact, Option, Part, Reply, Text
from assistant.model import FollowUp, Series, Session
from assistant.ports import Contact, Planned, StaleState, UnitOfWork
from assistant.reminder_times import after_quiet_hours
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import describe_time
from assistant.services.sessions import team_networks

# Sessions a follow-up can still be written for, and listed with their follow-ups.
RECENT = timedelta(days=30)
SUMMARY_LIMIT = 1500
TEASER_LIMIT = 300
LINKS_LIMIT = 10

ATTENDEE, ABSENTEE, EVERYONE = "attendee", "absentee", "everyone"


def recent_team_sessions(ctx: ServiceContext) -> list[dict[str, Any]]:
    """The team's sessions that ended in the last month (newest first), as dialog choices,
    with what the preview shows of each (in the writer's zone)."""
    teams = team_networks(ctx)
    if not teams:
        return []
    series = {s.id: s for s in ctx.uow.schedule.series_of(sorted(teams))}
    held = [session for series_id in series for session in ctx.uow.schedule.sessions_of(series_id)
            if session.state != "cancelled" and ctx.now - RECENT <= session.ends_at <= ctx.now]
    held.sort(key=lambda s: s.starts_at, reverse=True)
    choices = []
    for session in held[:10]:
        heading = _heading(session, series[session.series_id], ctx.t, ctx.time_zone, ctx.uow,
                           ctx.now)
        choices.append({"id": session.id, "label": f"{heading.title} ({heading.date})",
                        "heading": heading.as_json(),
                        "channel": has_channel(ctx.uow, series[session.series_id].network)})
    return choices


@dataclass(frozen=True)
class Heading:
    """What a follow-up says about its session, in one reader's zone and language."""

    title: str
    date: str
    next_session: str | None

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "date": self.date, "next_session": self.next_session}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Heading:
        return cls(str(data["title"]), str(data["date"]), data.get("next_session"))


def _heading(session: Session, series: Series, t: Translator, zone: str, uow: UnitOfWork,
             now: datetime) -> Heading:
    coming = uow.schedule.upcoming([series.id], now, limit=1)
    next_one = coming[0] if coming and coming[0].starts_at > now else None
    return Heading(f"{series.title}: {session.topic}" if session.topic else series.title,
                   t.datetime(session.starts_at, zone, "date"),
                   describe_time(next_one, zone, t) if next_one else None)


def recipients(uow: UnitOfWork, session: Session) -> list[int]:
    """Everyone a session's follow-up is for: the series' registered people (also those who
    said they could not come), one-session guests, and anyone marked present (a walk-in
    matched from a report)."""
    answers = uow.rsvps.answers(session.id)
    people = set(uow.enrolments.registered(session.series_id))
    people |= {p for p, answer in answers.items() if answer == "going"}
    people |= set(uow.attendance.of_session(session.id))
    return sorted(people)


def send_follow_up(ctx: ServiceContext, session_id: int, content: Mapping[str, Any],
                   send_at: datetime | None, draft_key: str,
                   to_channel: bool = False) -> list[Part] | Refused:
    """Store the follow-up and plan it for every reader (now, or at `send_at`), and with
    `to_channel` its summary alone for the network's channel."""
    found = _team_session(ctx, session_id, "follow_up")
    if isinstance(found, Refused):
        return found
    session, series = found
    person = ctx.person
    assert person is not None  # _team_session checked
    existing = ctx.uow.follow_ups.by_draft_key(draft_key)
    if existing is not None:  # Send pressed again: it is already on its way
        return [Text(ctx.t("follow_up.already_sent"))]
    when = max(send_at or ctx.now, ctx.now)
    try:
        follow_up = ctx.uow.follow_ups.add(session.id, "session", None, person.id,
                                           _clean(content), draft_key, when, ctx.now)
    except StaleState:
        return [Text(ctx.t("follow_up.already_sent"))]
    count = plan_follow_up(ctx.uow, follow_up, session, ctx.now)
    posted = to_channel and post_to_channel(ctx.uow, follow_up, series, ctx.language, ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "follow_up.sent", f"session:{session.id}",
                         {"follow_up": follow_up.id, "readers": count,
                          "scheduled": when > ctx.now, "channel": posted})
    if when > ctx.now:
        return [Text(ctx.t("follow_up.scheduled", count=count,
                           when=ctx.t.datetime(when, ctx.time_zone)))]
    return [Text(ctx.t("follow_up.sent", count=count))]


def plan_follow_up(uow: UnitOfWork, follow_up: FollowUp, session: Session, now: datetime,
                   people: Sequence[int] | None = None) -> int:
    """One row per reader who has none yet; returns how many were new."""
    wanted = recipients(uow, session) if people is None else list(people)
    keys = {p: f"follow_up:{follow_up.id}:{p}" for p in wanted}
    already = uow.outbox.known(list(keys.values()))
    contacts = uow.people.contacts([p for p, key in keys.items() if key not in already])
    preferences = uow.reminder_preferences.of(list(contacts))
    due = max(follow_up.send_at, now)
    rows = [Planned(dedupe_key=keys[person_id], person_id=person_id, identity=c.identity,
                    address=c.address, subject=f"follow_up:{follow_up.id}",
                    compose={"what": "follow_up", "follow_up": follow_up.id, "person": person_id},
                    # A thank-you can wait for the morning.
                    due_at=after_quiet_hours(due, c.time_zone, preferences[person_id]),
                    expires_at=None)
            for person_id, c in contacts.items()]
    uow.outbox.plan(rows, now)
    return len(rows)


def resend_to_newcomers(ctx: ServiceContext, follow_up_id: int) -> list[Part] | Refused:
    """Those who joined the series since get the follow-up too; nobody gets it twice."""
    follow_up = ctx.uow.follow_ups.get(follow_up_id)
    if follow_up is None or follow_up.kind != "session":
        return _refuse(ctx, f"follow_up:{follow_up_id}", "follow_up_resend")
    found = _team_session(ctx, follow_up.session_id, "follow_up_resend")
    if isinstance(found, Refused):
        return found
    count = plan_follow_up(ctx.uow, follow_up, found[0], ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "follow_up.resent",
                         f"session:{follow_up.session_id}",
                         {"follow_up": follow_up.id, "readers": count})
    return [Text(ctx.t("follow_up.resent" if count else "follow_up.no_newcomers", count=count))]


def list_follow_ups(ctx: ServiceContext) -> list[Part] | Refused:
    """The team's recent sessions with what was sent after each."""
    if not team_networks(ctx):
        return Refused("follow_up.team_only")
    parts: list[Part] = []
    for choice in recent_team_sessions(ctx):
        for follow_up in ctx.uow.follow_ups.of_session(int(choice["id"])):
            sent = ctx.t.datetime(follow_up.send_at, ctx.time_zone)
            facts = (Fact(ctx.t("follow_up.list.sent_at"), sent),
                     Fact(ctx.t("follow_up.summary.label"), _short(follow_up.content["summary"])))
            parts.append(Card(str(choice["label"]), facts, (
                Option(ctx.t("follow_up.action.show"), f"act:follow_up_show:{follow_up.id}"),
                Option(ctx.t("follow_up.action.resend"), f"act:follow_up_resend:{follow_up.id}"))))
    return parts or [Text(ctx.t("follow_up.list.none"))]


def show_follow_up(ctx: ServiceContext, follow_up_id: int) -> list[Part] | Refused:
    """A stored follow-up as each audience reads it, for the team."""
    follow_up = ctx.uow.follow_ups.get(follow_up_id)
    if follow_up is None or follow_up.kind != "session":
        return _refuse(ctx, f"follow_up:{follow_up_id}", "follow_up_show")
    found = _team_session(ctx, follow_up.session_id, "follow_up_show")
    if isinstance(found, Refused):
        return found
    session, series = found
    heading = _heading(session, series, ctx.t, ctx.time_zone, ctx.uow, ctx.now)
    return preview(follow_up.content, session.id, heading, ctx.t)


def preview(content: Mapping[str, Any], session_id: int, heading: Heading,
            t: Translator) -> list[Part]:
    """Exactly what attendees and absentees will read (in the writer's language and zone)."""
    parts: list[Part] = []
    for audience in (ATTENDEE, ABSENTEE):
        parts.append(Text(t(f"follow_up.preview.{audience}")))
        parts += follow_up_parts(content, session_id, heading, audience, t,
                                 evaluation=audience == ATTENDEE)
    return parts


def follow_up_parts(content: Mapping[str, Any], session_id: int, heading: Heading,
                    audience: str, t: Translator, evaluation: bool) -> list[Part]:
    """The message one reader gets, by whether they came."""
    opening = {ATTENDEE: "follow_up.message.thanks", ABSENTEE: "follow_up.message.missed",
               EVERYONE: "follow_up.message.everyone"}[audience]
    facts = [Fact(t("follow_up.summary.label"), str(content["summary"]))]
    if content.get("resources"):
        facts.append(Fact(t("follow_up.resources.label"), "\n".join(content["resources"])))
    if content.get("recording"):
        facts.append(Fact(t("follow_up.recording.label"), str(content["recording"])))
    if content.get("teaser"):
        facts.append(Fact(t("follow_up.teaser.label"), str(content["teaser"])))
    if heading.next_session:
        facts.append(Fact(t("follow_up.next.label"), heading.next_session))
    actions: tuple[Option, ...] = ()
    if evaluation:
        actions = (Option(t("follow_up.action.evaluate"), f"act:evaluate:{session_id}"),)
    return [Text(t(opening, title=heading.title, date=heading.date)),
            Card(heading.title, tuple(facts), actions)]


def write_follow_up(uow: UnitOfWork, recipe: Mapping[str, Any], contact: Contact,
                    t: Translator, now: datetime) -> Reply | str:
    """The follow-up for one reader, when it goes (or "withdrawn")."""
    follow_up = uow.follow_ups.get(int(recipe["follow_up"]))
    session = uow.schedule.session(follow_up.session_id) if follow_up else None
    series = uow.schedule.series(session.series_id) if session else None
    if follow_up is None or session is None or series is None:
        return "withdrawn"
    if not any(m.network == series.network and m.status == "active"
               for m in uow.memberships.of(contact.person_id)):
        return "withdrawn"  # left the network since
    audience = audience_of(uow, session, series, contact.person_id)
    evaluation = False
    if audience != ABSENTEE:
        from assistant.services.evaluation import (
            REMINDER_AFTER,
            may_evaluate,
            plan_evaluation_reminder,
        )

        evaluation = may_evaluate(uow, session, contact.person_id, now) is None
        if evaluation:
            plan_evaluation_reminder(uow, session, contact.person_id, now, now + REMINDER_AFTER)
    heading = _heading(session, series, t, contact.time_zone, uow, now)
    return Reply(tuple(follow_up_parts(follow_up.content, session.id, heading, audience, t,
                                       evaluation)))


def audience_of(uow: UnitOfWork, session: Session, series: Series, person_id: int) -> str:
    # One person's row, never the whole session's: this runs for every reader.
    record = uow.attendance.get(session.id, person_id)
    if record is None:
        return ABSENTEE if uow.attendance.recorded(session.id) else EVERYONE
    minutes = int((session.ends_at - session.starts_at).total_seconds() // 60)
    rules = uow.networks.attendance_rules(series.network)
    return ATTENDEE if rules.attended(record, minutes) else ABSENTEE


def has_channel(uow: UnitOfWork, network: str) -> bool:
    return uow.networks.channel(network) is not None


def post_to_channel(uow: UnitOfWork, follow_up: FollowUp, series: Series, language: str,
                    now: datetime) -> bool:
    """The summary alone to the network's channel, when it has one: no names, and no
    recording or resources (those are for the members, in private)."""
    channel = uow.networks.channel(series.network)
    if channel is None:
        return False
    identity, address = channel
    uow.outbox.plan([Planned(dedupe_key=f"follow_up:{follow_up.id}:channel", person_id=None,
                             identity=identity, address=address,
                             subject=f"follow_up:{follow_up.id}",
                             compose={"what": "follow_up_channel", "follow_up": follow_up.id,
                                      "language": language},
                             due_at=max(follow_up.send_at, now), expires_at=None)], now)
    return True


def write_channel_post(uow: UnitOfWork, recipe: Mapping[str, Any], now: datetime) -> Reply | str:
    """Written in the language of the facilitator who sent it, the date in the hub's zone."""
    follow_up = uow.follow_ups.get(int(recipe["follow_up"]))
    session = uow.schedule.session(follow_up.session_id) if follow_up else None
    series = uow.schedule.series(session.series_id) if session else None
    if follow_up is None or session is None or series is None:
        return "withdrawn"
    t = Translator(str(recipe.get("language") or "en"))
    title = f"{series.title}: {session.topic}" if session.topic else series.title
    return Reply((Text(t("follow_up.channel.post", title=title,
                         date=t.datetime(session.starts_at, session.time_zone, "date"))),
                  Card(title, (Fact(t("follow_up.summary.label"),
                                    str(follow_up.content["summary"])),), ())), private=False)


def _team_session(ctx: ServiceContext, session_id: int,
                  action: str) -> tuple[Session, Series] | Refused:
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    if session is None or series is None or series.network not in team_networks(ctx):
        return _refuse(ctx, f"session:{session_id}", action)
    return session, series


def _refuse(ctx: ServiceContext, subject: str, action: str) -> Refused:
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", subject,
                         {"reason": "follow_up.not_allowed", "action": action})
    return Refused("follow_up.not_allowed")


def _clean(content: Mapping[str, Any]) -> dict[str, Any]:
    return {"summary": str(content.get("summary") or "").strip(),
            "resources": [str(link) for link in content.get("resources") or []][:LINKS_LIMIT],
            "recording": str(content.get("recording") or ""),
            "teaser": str(content.get("teaser") or "")}


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
