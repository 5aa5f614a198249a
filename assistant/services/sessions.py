"""A participant's sessions: what is coming, a place in a series, RSVPs and calendar files.

Every call re-checks on the server who may do what: a button names a session or series by
number, and anyone can forge one.
"""

from __future__ import annotations

from assistant.i18n import Translator
from assistant.messages import Card, Fact, File, Option, Part, Text
from assistant.model import Person, Series, Session
from assistant.services.alerts import opening_card_extras, opening_soon_parts
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import (
    describe_time,
    notify_person,
    promote_waiting,
    replan_person,
    request_card,
    session_card,
    subject_of,
)

UPCOMING_SHOWN = 5


def upcoming_sessions(ctx: ServiceContext) -> list[Part] | Refused:
    """What is coming in the reader's networks, in their zone and language."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    networks = _member_networks(ctx)
    if not networks:
        return Refused("sessions.no_networks")
    series = {s.id: s for s in ctx.uow.schedule.series_of(networks)}
    enrolled = ctx.uow.enrolments.of_person(person.id)
    names = {n.slug: n.name for n in ctx.directory.networks}
    coming = ctx.uow.schedule.upcoming(list(series), ctx.now, UPCOMING_SHOWN)
    parts: list[Part] = []
    if not coming:
        parts.append(Text(ctx.t("sessions.none_coming")))
    else:
        parts.append(Text(ctx.t("sessions.coming", zone=ctx.t.zone_name(ctx.time_zone))))
    cards: list[tuple[Series, Card]] = []
    offered: set[int] = set()  # a series one has no place in is offered once, at its next date
    for session in coming:
        one = series[session.series_id]
        status = enrolled.get(one.id)
        answer = ctx.uow.rsvps.answer(session.id, person.id)
        if status == "registered" or answer == "going":  # a place, or coming to this one
            place = ctx.t(f"sessions.place.{answer or 'registered'}")
            cards.append((one, session_card(session, one, names.get(one.network, one.network),
                                            ctx.time_zone, ctx.t, place=place)))
        elif one.id not in offered:
            offered.add(one.id)
            cards.append((one, _open_series_card(ctx, one, session, status,
                                                 names.get(one.network, one.network))))
    # Series with no date yet, or none in view, can still be joined (or waited for).
    shown = {s.series_id for s in coming}
    for one in series.values():
        if one.id not in shown and one.id not in enrolled and one.state != "closed":
            cards.append((one, _open_series_card(ctx, one, None, None,
                                                 names.get(one.network, one.network))))
    # What is meant for the reader's profession or setting comes first; dates order the rest.
    cards.sort(key=lambda pair: 0 if meant_for(pair[0], person) else 1)
    parts += [card for _, card in cards]
    if any(one.state != "closed" for one, _ in cards):
        parts.append(Text(ctx.t("invite.hint")))
    return parts


def meant_for(series: Series, person: Person) -> bool | None:
    """Whether a series names the reader's profession or care setting: None when it is for
    everyone, False when it names others only."""
    if not series.audience_professions and not series.audience_settings:
        return None
    return (person.profession.casefold() in {p.casefold() for p in series.audience_professions}
            or person.care_setting in series.audience_settings)


def audience_names(series: Series, t: Translator) -> str:
    """"Registered nurses, GPs and Hospice": professions as the network spells them, care
    settings in the reader's language."""
    return t.list([*series.audience_professions,
                   *(t(f"fields.care_setting.{code}") for code in series.audience_settings)])


def audience_fact(ctx: ServiceContext, series: Series) -> Fact | None:
    """Who a targeted series is for, and, for others, the kind note or the team's say."""
    person = ctx.person
    fits = meant_for(series, person) if person is not None else None
    if fits is None:
        return None
    key = "audience.yours" if fits else f"audience.others.{series.others}"
    return Fact(ctx.t("audience.label"), ctx.t(key, audience=audience_names(series, ctx.t)))


def _needs_team(ctx: ServiceContext, series: Series) -> bool:
    """A place needs the team's yes: for the whole series, or for people outside its audience
    when the series asks so."""
    person = ctx.person
    return series.requires_approval or (
        series.others == "approval" and person is not None and meant_for(series, person) is False)


def my_next_sessions(ctx: ServiceContext, shown: int = 3) -> list[Part]:
    """The reader's own coming sessions, for the home page: when, and whether they said
    they'll come."""
    person = ctx.person
    if person is None:
        return []
    mine = [series_id for series_id, status in ctx.uow.enrolments.of_person(person.id).items()
            if status == "registered"]
    coming = ctx.uow.schedule.upcoming(mine, ctx.now, shown)
    if not coming:
        return []
    facts = []
    for session in coming:
        answer = ctx.uow.rsvps.answer(session.id, person.id)
        series = ctx.uow.schedule.series(session.series_id)
        title = f"{series.title}: {session.topic}" if series and session.topic else (
            series.title if series else session.topic)
        place = ctx.t(f"sessions.place.{answer or 'registered'}")
        facts.append(Fact(describe_time(session, ctx.time_zone, ctx.t), f"{title} ({place})"))
    return [Card(ctx.t("home.next_sessions"), tuple(facts))]


def _open_series_card(ctx: ServiceContext, series: Series, session: Session | None,
                      status: str | None, network: str) -> Card:
    facts = [Fact(ctx.t("sessions.network"), network),
             Fact(ctx.t("sessions.series_state"), ctx.t(f"sessions.state.{series.state}"))]
    if session is not None:
        facts.insert(0, Fact(ctx.t("sessions.next"), describe_time(session, ctx.time_zone, ctx.t)))
    if series.description:
        facts.append(Fact(ctx.t("sessions.about"), series.description))
    audience = audience_fact(ctx, series)
    if audience is not None:
        facts.append(audience)
    actions: tuple[Option, ...] = ()
    if status in ("waitlisted", "pending_approval"):
        facts.append(Fact(ctx.t("sessions.your_place"), ctx.t(f"sessions.place.{status}")))
        actions = (Option(ctx.t("sessions.action.leave_waitlist"), f"act:cancel_place:{series.id}"),)
    elif series.state in ("open", "full"):
        actions = (Option(ctx.t(f"sessions.action.join.{series.state}"), f"act:join:{series.id}"),)
        if session is not None and series.state == "open" and not _needs_team(ctx, series):
            actions += (Option(ctx.t("sessions.action.one_session"), f"act:attend:{session.id}"),)
        if series.state == "open":  # colleagues can have a place: worth passing on
            actions += (Option(ctx.t("invite.action.share"), f"act:share:{series.id}"),)
    elif series.state == "opening_soon":
        listed, actions = opening_card_extras(ctx, series)
        facts += listed
    return Card(series.title, tuple(facts), actions)


def join_series(ctx: ServiceContext, series_id: int) -> list[Part] | Refused:
    """A place in a series: registered while there is room, else on the waitlist, or
    waiting for the team's approval when the series asks for it."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    series = ctx.uow.schedule.hold_series(series_id)
    if series is None or series.network not in _member_networks(ctx):
        return _refuse(ctx, "sessions.not_yours", f"series:{series_id}")
    if series.state == "closed":
        return Refused("sessions.series_closed", {"series": series.title})
    if series.state == "opening_soon":
        return opening_soon_parts(ctx, series)  # with "tell me when it opens"
    current = ctx.uow.enrolments.status(series.id, person.id)
    if current is not None:
        return Refused(f"sessions.already.{current}", {"series": series.title})
    status = _status_for_newcomer(ctx, series)
    ctx.uow.enrolments.set(series.id, person.id, status, ctx.now, new_turn=True)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "enrolment.joined", f"series:{series.id}",
                         {"status": status})
    if status == "waitlisted":
        position = ctx.uow.enrolments.waitlist(series.id).index(person.id) + 1
        return [Text(ctx.t("sessions.joined.waitlisted", series=series.title, position=position)),
                Card(series.title, (), (Option(ctx.t("sessions.action.leave_waitlist"),
                                               f"act:cancel_place:{series.id}"),))]
    if status == "pending_approval":
        _ask_team(ctx, series, person.id)
        if not series.requires_approval:  # outside the audience of a series that asks so
            return [Text(ctx.t("audience.asked_team", series=series.title,
                               audience=audience_names(series, ctx.t)))]
        return [Text(ctx.t("sessions.joined.pending_approval", series=series.title))]
    replan_person(ctx.uow, person.id, series.id, ctx.now)
    parts = _registered_message(ctx, series)
    if meant_for(series, person) is False:  # welcome, with a word on who it is meant for
        parts.insert(1, Text(ctx.t("audience.note", audience=audience_names(series, ctx.t))))
    return parts


def _status_for_newcomer(ctx: ServiceContext, series: Series) -> str:
    if _needs_team(ctx, series):
        return "pending_approval"
    if series.state == "full" or ctx.uow.enrolments.waitlist(series.id):
        return "waitlisted"  # nobody jumps the queue
    if series.capacity is not None and ctx.uow.enrolments.count(
            series.id, ("registered",)) >= series.capacity:
        return "waitlisted"
    return "registered"


def _registered_message(ctx: ServiceContext, series: Series) -> list[Part]:
    sessions = [s for s in ctx.uow.schedule.sessions_of(series.id)
                if s.state == "scheduled" and s.ends_at > ctx.now]
    dates = [describe_time(s, ctx.time_zone, ctx.t) for s in sessions[:6]]
    parts: list[Part] = [Text(ctx.t("sessions.joined.registered", series=series.title))]
    if dates:
        parts.append(Card(ctx.t("sessions.dates"), tuple(Fact(str(n), d)
                                                         for n, d in enumerate(dates, 1))))
    parts.append(Text(ctx.t("sessions.link_arrives")))
    if sessions:
        parts.append(_series_file(ctx, series, sessions))
    parts.append(Card(series.title, (), (Option(ctx.t("sessions.action.cancel_place"),
                                                f"act:cancel_place:{series.id}"),
                                         Option(ctx.t("invite.action.share"),
                                                f"act:share:{series.id}"))))
    return parts


def _ask_team(ctx: ServiceContext, series: Series, person_id: int) -> None:
    """The network's facilitators and hub admins hear of the request, with the buttons."""
    request = next((r for r in ctx.uow.enrolments.awaiting_approval([series.id])
                    if r.person_id == person_id), None)
    if request is None:
        return
    for member in ctx.uow.people.with_role(series.network, ("facilitator", "hub_admin")):
        notify_person(ctx.uow, member, "approval_requested",
                      f"{request.id}:{request.asked_at.isoformat()}", ctx.now,
                      {"enrolment": request.id})


def requests_to_approve(ctx: ServiceContext) -> list[Part] | Refused:
    """For facilitators: who is waiting for a place in a series that needs approval."""
    networks = sorted(team_networks(ctx))
    if not networks:
        return Refused("schedule.team_only")
    series = {s.id: s for s in ctx.uow.schedule.series_of(networks)}
    waiting = ctx.uow.enrolments.awaiting_approval(list(series))
    if not waiting:
        return [Text(ctx.t("sessions.approvals.none"))]
    parts: list[Part] = [Text(ctx.t("sessions.approvals.intro", count=len(waiting)))]
    for request in waiting[:10]:
        parts.append(request_card(ctx.uow, request, series[request.series_id], ctx.t))
    return parts


def decide_request(ctx: ServiceContext, enrolment_id: int, approve: bool) -> list[Part] | Refused:
    """Approve (a place, or the waitlist when the series is full) or decline a request."""
    person = ctx.person
    request = ctx.uow.enrolments.request(enrolment_id)
    series = ctx.uow.schedule.hold_series(request.series_id) if request else None
    if person is None or request is None or series is None \
            or series.network not in team_networks(ctx):
        return _refuse(ctx, "schedule.not_allowed", f"enrolment:{enrolment_id}")
    if request.status != "pending_approval":
        return Refused("sessions.approvals.already_decided")
    if not approve:
        status = "cancelled"
    elif series.capacity is not None and ctx.uow.enrolments.count(
            series.id, ("registered",)) >= series.capacity:
        status = "waitlisted"
    else:
        status = "registered"
    ctx.uow.enrolments.set(series.id, request.person_id, status, ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, f"enrolment.{'approved' if approve else 'declined'}",
                         f"series:{series.id}", {"person": request.person_id, "status": status})
    notify_person(ctx.uow, request.person_id, "request_decided", f"{request.id}", ctx.now,
                  {"series": series.id, "status": status})
    if status == "registered":
        replan_person(ctx.uow, request.person_id, series.id, ctx.now)
    who = ctx.uow.people.get(request.person_id)
    return [Text(ctx.t(f"sessions.approvals.done.{status}",
                       name=who.full_name if who else "?", series=series.title))]


def cancel_place(ctx: ServiceContext, series_id: int) -> list[Part] | Refused:
    """Give up a place (or leave the waitlist); a freed seat goes to the first waiting."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    series = ctx.uow.schedule.hold_series(series_id)
    current = ctx.uow.enrolments.status(series_id, person.id) if series else None
    if series is None or current is None:
        return _refuse(ctx, "sessions.no_place", f"series:{series_id}")
    ctx.uow.enrolments.set(series.id, person.id, "cancelled", ctx.now)
    for session in ctx.uow.schedule.upcoming([series.id], ctx.now, limit=50):
        ctx.uow.outbox.withdraw(subject_of(session), person.id)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "enrolment.cancelled", f"series:{series.id}")
    if current == "registered":
        promote_from_waitlist(ctx, series)
    return [Text(ctx.t(f"sessions.cancelled_place.{current}", series=series.title))]


def give_up_places(ctx: ServiceContext, person_id: int, network: str | None) -> None:
    """Leaving a network (or deleting one's data) ends one's places in its series: their
    reminders are withdrawn and freed seats go to whoever waits."""
    series = {s.id: s for s in ctx.uow.schedule.series_of(
        [network] if network else sorted({n.slug for n in ctx.directory.networks}))}
    held = {sid: status for sid, status in ctx.uow.enrolments.of_person(person_id).items()
            if sid in series}
    if not held:
        return
    ctx.uow.enrolments.cancel_all(person_id, list(held), ctx.now)
    for session in ctx.uow.schedule.upcoming(list(held), ctx.now, limit=200):
        ctx.uow.outbox.withdraw(subject_of(session), person_id)
    for series_id, status in held.items():
        locked = ctx.uow.schedule.hold_series(series_id)
        if status == "registered" and locked is not None:
            promote_from_waitlist(ctx, locked)


def promote_from_waitlist(ctx: ServiceContext, series: Series) -> list[int]:
    """Free seats go to the first people waiting, who are told; under manual approval the
    team decides instead, so nobody is promoted here."""
    return promote_waiting(ctx.uow, series, ctx.now)


def attend_one_session(ctx: ServiceContext, session_id: int) -> list[Part] | Refused:
    """Come to one session without a place in the whole series, while it has room."""
    from assistant.calendar import session_calendar  # icalendar loads in the warm-up

    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.hold_series(session.series_id) if session else None
    if session is None or series is None or series.network not in _member_networks(ctx):
        return _refuse(ctx, "sessions.not_yours", f"session:{session_id}")
    if ctx.uow.enrolments.status(series.id, person.id) == "registered":
        return answer_rsvp(ctx, session_id, "going")
    if series.state != "open" or _needs_team(ctx, series):
        return Refused("sessions.one_session.not_offered", {"series": series.title})
    if session.state != "scheduled" or session.ends_at <= ctx.now:
        return Refused("sessions.session_over" if session.state == "scheduled"
                       else "sessions.session_cancelled")
    if series.capacity is not None:
        guests = [p for p, a in ctx.uow.rsvps.answers(session.id).items()
                  if a == "going" and p != person.id]
        taken = ctx.uow.enrolments.count(series.id, ("registered",)) + len(
            [p for p in guests if ctx.uow.enrolments.status(series.id, p) != "registered"])
        if taken >= series.capacity:
            return Refused("sessions.one_session.full", {"series": series.title})
    ctx.uow.rsvps.set(session.id, person.id, "going", ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "rsvp.one_session", f"session:{session.id}")
    replan_person(ctx.uow, person.id, series.id, ctx.now)
    return [Text(ctx.t("sessions.one_session.done", series=series.title,
                       when=describe_time(session, ctx.time_zone, ctx.t))),
            File(f"echo-session-{session.id}.ics", "text/calendar",
                 session_calendar(session, series, stamp=ctx.now, language=ctx.language),
                 caption=ctx.t("sessions.calendar_caption"))]


def answer_rsvp(ctx: ServiceContext, session_id: int, answer: str) -> list[Part] | Refused:
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    session = ctx.uow.schedule.session(session_id)
    expected = session is not None and (
        ctx.uow.enrolments.status(session.series_id, person.id) == "registered"
        or ctx.uow.rsvps.answer(session.id, person.id) is not None)  # a one-session guest
    if session is None or not expected:
        return _refuse(ctx, "sessions.not_yours", f"session:{session_id}")
    if answer == "going" and ctx.uow.enrolments.status(session.series_id, person.id) != "registered":
        return attend_one_session(ctx, session_id)  # a guest coming back: room is counted again
    if session.state != "scheduled":
        return Refused("sessions.session_cancelled")
    if session.ends_at <= ctx.now:
        return Refused("sessions.session_over")
    ctx.uow.rsvps.set(session.id, person.id, answer, ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, f"rsvp.{answer}", f"session:{session.id}")
    replan_person(ctx.uow, person.id, session.series_id, ctx.now)
    when = describe_time(session, ctx.time_zone, ctx.t)
    guest = ctx.uow.enrolments.status(session.series_id, person.id) != "registered"
    key = "sessions.rsvp.not_going_guest" if guest and answer == "not_going" else f"sessions.rsvp.{answer}"
    return [Text(ctx.t(key, when=when))]


def session_file(ctx: ServiceContext, session_id: int) -> list[Part] | Refused:
    """An .ics for one session, for people registered in its series (and its team)."""
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    if session is None or series is None or not _may_see(ctx, series, session.id):
        return _refuse(ctx, "sessions.not_yours", f"session:{session_id}")
    from assistant.calendar import session_calendar

    content = session_calendar(session, series, stamp=ctx.now, language=ctx.language)
    return [File(f"echo-session-{session.id}.ics", "text/calendar", content,
                 caption=ctx.t("sessions.calendar_caption"))]


def series_file(ctx: ServiceContext, series_id: int) -> list[Part] | Refused:
    series = ctx.uow.schedule.series(series_id)
    if series is None or not _may_see(ctx, series):
        return _refuse(ctx, "sessions.not_yours", f"series:{series_id}")
    return [_series_file(ctx, series, ctx.uow.schedule.sessions_of(series.id))]


def _series_file(ctx: ServiceContext, series: Series, sessions: list[Session]) -> File:
    from assistant.calendar import series_calendar

    return File(f"echo-series-{series.id}.ics", "text/calendar",
                series_calendar(series, sessions, stamp=ctx.now, language=ctx.language),
                caption=ctx.t("sessions.series_calendar_caption"))


def _may_see(ctx: ServiceContext, series: Series, session_id: int | None = None) -> bool:
    person = ctx.person
    if person is None:
        return False
    if ctx.uow.enrolments.status(series.id, person.id) == "registered":
        return True
    if session_id is not None and ctx.uow.rsvps.answer(session_id, person.id) == "going":
        return True  # coming to this one session
    return series.network in team_networks(ctx)


def _member_networks(ctx: ServiceContext) -> list[str]:
    person = ctx.person
    if person is None:
        return []
    return sorted({m.network for m in ctx.uow.memberships.of(person.id) if m.status == "active"})


def team_networks(ctx: ServiceContext) -> set[str]:
    """Networks where the reader is a facilitator or hub admin."""
    person = ctx.person
    if person is None:
        return set()
    return {m.network for m in ctx.uow.memberships.of(person.id)
            if m.role in ("facilitator", "hub_admin") and m.status == "active"}


def _refuse(ctx: ServiceContext, message: str, subject: str) -> Refused:
    """Refused and audited: a button naming someone else's session is worth a record."""
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", subject,
                         {"reason": message})
    return Refused(message)
