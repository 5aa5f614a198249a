"""Reminders and session notices: planned into the outbox, written just before they go.

Planning puts one row per (session version, person, kind) in the outbox, when a session comes
within a week and a half of its start (or a person enrols later): the unique key makes a
second planner — another replica, a restart — add nothing. The row holds a recipe, not the
words: the sender asks `compose` to write it at the moment it goes, so it shows the session as
it is then, in the reader's current language and zone, or is dropped when it no longer applies
(cancelled, moved, the person left or said they cannot come, or the moment passed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from assistant.i18n import Translator, normalise_language
from assistant.messages import Card, Fact, File, Option, Outgoing, Part, Reply, Text
from assistant.model import ReminderPrefs, Series, Session
from assistant.ports import Contact, EnrolmentRequest, Planned, UnitOfWork
from assistant.reminder_times import after_quiet_hours, reminder_moments

# Far enough ahead for a week-before message on the last work day before that week.
PLANNING_HORIZON = timedelta(days=11)
STARTING_SOON = timedelta(minutes=10)


def subject_of(session: Session) -> str:
    return f"session:{session.id}"


# --- planning ------------------------------------------------------------------------------


def plan_due_sessions(uow: UnitOfWork, now: datetime) -> int:
    """Plan every session that came within reach and is not planned for its current version.
    Returns how many rows were planned."""
    planned = 0
    for session in uow.schedule.to_plan(now, now + PLANNING_HORIZON):
        planned += plan_session(uow, session, now)
        uow.schedule.mark_planned(session.id, session.sequence)
    return planned


def plan_session(uow: UnitOfWork, session: Session, now: datetime,
                 people: Sequence[int] | None = None) -> int:
    """Plan the reminders of one session for everyone expected (or these people)."""
    answers = uow.rsvps.answers(session.id)
    expected = set(audience(uow, session, answers))
    wanted = [p for p in (people if people is not None else sorted(expected)) if p in expected]
    contacts = uow.people.contacts(wanted)
    preferences = uow.reminder_preferences.of(list(contacts))
    rows: list[Planned] = []
    for person_id, contact in contacts.items():
        going = answers.get(person_id) == "going"
        prefs = preferences[person_id]
        for kind, due_at, expires_at in _moments(session, contact, prefs, going):
            if due_at < now and not (going and kind in ("hour", "now")):
                # Planned late (a new place, a moved session): not in the middle of the night.
                due_at = after_quiet_hours(now, contact.time_zone, prefs)
            if expires_at <= max(due_at, now):
                continue  # too late to be useful
            rows.append(Planned(
                dedupe_key=f"reminder:{session.id}:{session.sequence}:{person_id}:{kind}",
                person_id=person_id, identity=contact.identity, address=contact.address,
                subject=subject_of(session),
                compose={"what": "reminder", "session": session.id, "person": person_id,
                         "sequence": session.sequence, "kind": kind},
                due_at=max(due_at, now), expires_at=expires_at))
    uow.outbox.plan(rows, now)
    return len(rows)


def audience(uow: UnitOfWork, session: Session,
             answers: dict[int, str] | None = None) -> list[int]:
    """Who a session's reminders and notices are for: the series' registered people who have
    not said they cannot come, and people coming to this one session only."""
    answers = uow.rsvps.answers(session.id) if answers is None else answers
    registered = set(uow.enrolments.registered(session.series_id))
    guests = {p for p, answer in answers.items() if answer == "going"}
    return sorted((registered | guests) - {p for p, a in answers.items() if a == "not_going"})


def replan_person(uow: UnitOfWork, person_id: int, series_id: int, now: datetime) -> None:
    """After someone enrols, answers an RSVP or changes their preferences: their rows for
    the coming planned sessions of the series are brought up to date (and withdrawn for
    sessions they are no longer expected at)."""
    for session in uow.schedule.upcoming([series_id], now, limit=20):
        if session.starts_at > now + PLANNING_HORIZON:
            break
        uow.outbox.withdraw(subject_of(session), person_id)
        plan_session(uow, session, now, people=[person_id])


def _soon(now: datetime, contact: Contact, prefs: ReminderPrefs, session: Session) -> datetime:
    """A notice goes now, or when the reader's quiet hours end, unless that is too late to
    matter (a session later today moved: better told at night than after the fact)."""
    later = after_quiet_hours(now, contact.time_zone, prefs)
    return later if later < session.starts_at - timedelta(hours=1) else now


def _moments(session: Session, contact: Contact, prefs: ReminderPrefs,
             going: bool) -> Iterable[tuple[str, datetime, datetime]]:
    moments = reminder_moments(session.starts_at, session.ends_at, contact.time_zone, prefs, going)
    kinds = {m.kind: m for m in moments}
    for moment in moments:
        later = kinds.get("now")
        if moment.kind == "hour" and later is not None and later.due_at - moment.due_at < STARTING_SOON:
            continue  # held back until "starting now" anyway: one message, not two at once
        yield moment.kind, moment.due_at, moment.expires_at


# --- notices about a change ------------------------------------------------------------------


def notify_registered(uow: UnitOfWork, session: Session, what: str, now: datetime,
                      extra: dict[str, Any] | None = None) -> int:
    """Tell everyone registered for the series (who has not said they cannot come) that the
    session changed or was cancelled, once per session version."""
    contacts = uow.people.contacts(audience(uow, session))
    preferences = uow.reminder_preferences.of(list(contacts))
    rows = [Planned(dedupe_key=f"{what}:{session.id}:{session.sequence}:{person_id}",
                    person_id=person_id, identity=c.identity, address=c.address,
                    subject=f"notice:{session.id}",
                    compose={"what": what, "session": session.id, "sequence": session.sequence,
                             "person": person_id, **(extra or {})},
                    due_at=_soon(now, c, preferences[person_id], session),
                    expires_at=session.ends_at if what != "session_cancelled" else None)
            for person_id, c in contacts.items()]
    uow.outbox.plan(rows, now)
    return len(rows)


def notify_person(uow: UnitOfWork, person_id: int, what: str, key: str, now: datetime,
                  compose: dict[str, Any]) -> bool:
    """One notice to one person (a place opened for them), through the outbox."""
    contact = uow.people.contacts([person_id]).get(person_id)
    if contact is None:
        return False
    prefs = uow.reminder_preferences.of([person_id])[person_id]
    uow.outbox.plan([Planned(dedupe_key=f"{what}:{key}:{person_id}", person_id=person_id,
                             identity=contact.identity, address=contact.address,
                             subject=f"person:{person_id}",
                             compose={"what": what, "person": person_id, **compose},
                             due_at=after_quiet_hours(now, contact.time_zone, prefs),
                             expires_at=None)], now)
    return True


def notify_people(uow: UnitOfWork, people: Sequence[int], what: str, key: str, now: datetime,
                  compose: dict[str, Any], expires_at: datetime | None = None) -> int:
    """One message each, written when it goes, outside each reader's quiet hours; planned
    twice (a second press, another replica), it is still sent once."""
    contacts = uow.people.contacts(list(people))
    preferences = uow.reminder_preferences.of(list(contacts))
    rows = [Planned(dedupe_key=f"{what}:{key}:{person_id}", person_id=person_id,
                    identity=c.identity, address=c.address, subject=f"{what}:{key}",
                    compose={"what": what, "person": person_id, **compose},
                    due_at=after_quiet_hours(now, c.time_zone, preferences[person_id]),
                    expires_at=expires_at)
            for person_id, c in contacts.items()]
    uow.outbox.plan(rows, now)
    return len(rows)


def promote_waiting(uow: UnitOfWork, series: Series, now: datetime) -> list[int]:
    """Give free places to the people waiting longest, and tell them (the caller holds the
    series, see Schedule.hold_series). Returns who was promoted."""
    if series.requires_approval:
        return []
    promoted: list[int] = []
    taken = uow.enrolments.count(series.id, ("registered",))
    for person_id in uow.enrolments.waitlist(series.id):
        if series.capacity is not None and taken >= series.capacity:
            break
        uow.enrolments.set(series.id, person_id, "registered", now)
        uow.audit.record(now, "spoke", "enrolment.promoted", f"series:{series.id}",
                         {"person": person_id})
        notify_person(uow, person_id, "place_offered", f"{series.id}:{now.isoformat()}", now,
                      {"series": series.id})
        replan_person(uow, person_id, series.id, now)
        promoted.append(person_id)
        taken += 1
        if series.capacity is None:
            break  # a "full" series with no number: one freed place, one promotion
    return promoted


# --- composing, just before sending ----------------------------------------------------------


@dataclass
class _Lookups:
    """What one batch reads more than once: 10,000 reminders share one session."""

    uow: UnitOfWork
    people: Sequence[int] = ()
    sessions: dict[int, Session | None] = field(default_factory=dict)
    series: dict[int, Series | None] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)
    places: dict[int, dict[int, str]] = field(default_factory=dict)  # series -> person -> status
    answers: dict[int, dict[int, str]] = field(default_factory=dict)  # session -> person -> RSVP

    def place(self, series_id: int, person_id: int) -> str | None:
        """One query per series and batch, for everyone in the batch."""
        if series_id not in self.places:
            self.places[series_id] = self.uow.enrolments.statuses(series_id, self.people)
        return self.places[series_id].get(person_id)

    def answer(self, session_id: int, person_id: int) -> str | None:
        if session_id not in self.answers:
            self.answers[session_id] = self.uow.rsvps.answers(session_id)
        return self.answers[session_id].get(person_id)

    def session(self, session_id: int) -> Session | None:
        if session_id not in self.sessions:
            self.sessions[session_id] = self.uow.schedule.session(session_id)
        return self.sessions[session_id]

    def series_of(self, series_id: int) -> Series | None:
        if series_id not in self.series:
            self.series[series_id] = self.uow.schedule.series(series_id)
        return self.series[series_id]

    def network_name(self, slug: str) -> str:
        if not self.networks:
            self.networks = {n.slug: n.name for n in self.uow.networks.all()}
        return self.networks.get(slug, slug)


class Composer:
    """Writes claimed rows that carry a recipe; drops those that no longer apply."""

    def compose(self, uow: UnitOfWork, messages: Sequence[Outgoing], now: datetime
                ) -> list[Outgoing]:
        ready: list[Outgoing] = []
        recipes = [m for m in messages if m.compose]
        person_ids = sorted({p for p in (_person_of(m) for m in recipes) if p is not None})
        lookups = _Lookups(uow, person_ids)
        people = {}
        if recipes:
            # The row's identity was the newest when planned; language and zone are read now.
            people = {c.person_id: c for c in uow.people.contacts(person_ids).values()}
        for message in messages:
            if not message.compose:
                ready.append(message)
                continue
            person = _person_of(message)
            contact = people.get(person) if person is not None else None
            if person is None:  # to a channel, not a person: no language or zone of a reader
                written = _write_to_channel(message.compose, uow, now)
            else:
                written = _write(message.compose, contact, lookups, now) if contact else "withdrawn"
            if isinstance(written, str):
                uow.outbox.expire(message.id, written)
                continue
            ready.append(Outgoing(message.id, message.identity, message.address, written,
                                  message.attempts))
        return ready


def _person_of(message: Outgoing) -> int | None:
    person = (message.compose or {}).get("person")
    return int(person) if person is not None else None


def _write(recipe: dict[str, Any], contact: Contact, lookups: _Lookups,
           now: datetime) -> Reply | str:
    """The message, or why it is not sent ("withdrawn", "expired")."""
    what = recipe.get("what")
    t = Translator(normalise_language(contact.language))
    uow = lookups.uow
    if what in AFTER_SESSION:
        return _write_after_session(str(what), recipe, contact, uow, t, now)
    if what == "approval_requested":
        request = uow.enrolments.request(int(recipe["enrolment"]))
        series = lookups.series_of(request.series_id) if request else None
        if request is None or series is None or request.status != "pending_approval":
            return "withdrawn"  # someone in the team already decided
        return Reply((request_card(uow, request, series, t),))
    if what == "request_decided":
        series = lookups.series_of(int(recipe["series"]))
        status = str(recipe.get("status"))
        if series is None or uow.enrolments.status(series.id, contact.person_id) != (
                None if status == "cancelled" else status):
            return "withdrawn"
        parts: tuple[Part, ...] = (Text(t(f"sessions.decided.{status}", series=series.title)),)
        if status == "registered":
            parts += _series_actions(series, t)
        return Reply(parts)
    if what == "place_offered":
        series = lookups.series_of(int(recipe["series"]))
        if series is None or lookups.place(series.id, contact.person_id) != "registered":
            return "withdrawn"
        return Reply((Text(t("sessions.place_offered", series=series.title)),
                      *_series_actions(series, t)))
    session = lookups.session(int(recipe["session"]))
    if session is None:
        return "withdrawn"
    series = lookups.series_of(session.series_id)
    expected = (lookups.place(session.series_id, contact.person_id) == "registered"
                or lookups.answer(session.id, contact.person_id) == "going")
    if series is None or not expected:
        return "withdrawn"  # left the series (or the network) since
    if what == "session_cancelled":
        return Reply((Text(t("sessions.cancelled_notice", series=series.title,
                             when=describe_time(session, contact.time_zone, t))),
                      _calendar_file(session, series, t, now)))
    if session.state != "scheduled" or session.sequence != recipe.get("sequence"):
        return "withdrawn"  # moved or cancelled after this was planned: a notice went instead
    if now >= session.ends_at:
        return "expired"
    if lookups.answer(session.id, contact.person_id) == "not_going":
        return "withdrawn"
    if what == "link_changed":
        return Reply((Text(t("sessions.link_changed_notice", series=series.title,
                             when=describe_time(session, contact.time_zone, t))),
                      session_card(session, series, lookups.network_name(series.network),
                                   contact.time_zone, t, kind="changed"),
                      _calendar_file(session, series, t, now)))
    if what == "session_changed":
        old = datetime.fromisoformat(str(recipe["old_starts_at"]))
        return Reply((Text(t("sessions.changed_notice", series=series.title,
                             old=t.datetime(old, contact.time_zone),
                             when=describe_time(session, contact.time_zone, t))),
                      session_card(session, series, lookups.network_name(series.network),
                                   contact.time_zone, t, kind="changed"),
                      _calendar_file(session, series, t, now)))
    kind = str(recipe.get("kind"))
    if kind in ("week", "day") and now >= session.starts_at - timedelta(hours=1):
        return "expired"  # a later reminder says it better now
    if now >= session.starts_at and kind == "hour":
        kind = "now"  # caught up after the start: "starting now", with the link
    return Reply((session_card(session, series, lookups.network_name(series.network),
                               contact.time_zone, t, kind=kind),))


AFTER_SESSION = frozenset({"follow_up", "recommendations", "presenter_reply", "follow_up_slot",
                           "recommendations_due", "evaluation_reminder", "series_opened",
                           "poll", "series_proposal"})


def _write_to_channel(recipe: dict[str, Any], uow: UnitOfWork, now: datetime) -> Reply | str:
    # Imported here: those services use this module's helpers.
    from assistant.services import announcements, follow_ups

    if recipe.get("what") == "follow_up_channel":
        return follow_ups.write_channel_post(uow, recipe, now)
    if recipe.get("what") == announcements.RECIPE:
        return announcements.write_announcement(uow, recipe, now)
    return "withdrawn"  # a recipe this version does not know: never a raw message


def _write_after_session(what: str, recipe: dict[str, Any], contact: Contact, uow: UnitOfWork,
                         t: Translator, now: datetime) -> Reply | str:
    # Imported here: those services use this module's helpers (describe_time and the rest).
    from assistant.services import alerts, curriculum, evaluation, follow_ups, polls, recommendations

    if what == "poll":
        return polls.write_poll(uow, recipe, contact, t, now)
    if what == "series_proposal":
        return curriculum.write_series_proposal(uow, recipe, contact, t, now)
    if what == "series_opened":
        return alerts.write_series_opened(uow, recipe, contact, t, now)
    if what == "evaluation_reminder":
        return evaluation.write_evaluation_reminder(uow, recipe, contact.person_id, t,
                                                    contact.time_zone, now)
    if what == "follow_up":
        return follow_ups.write_follow_up(uow, recipe, contact, t, now)
    if what == "recommendations":
        return recommendations.write_recommendations(uow, recipe, contact, t)
    return recommendations.write_team_notice(uow, recipe, contact, t)


def _calendar_file(session: Session, series: Series, t: Translator, now: datetime) -> File:
    """The same calendar entry (same UID, higher SEQUENCE), so calendars update in place."""
    from assistant.calendar import session_calendar

    return File(f"echo-session-{session.id}.ics", "text/calendar",
                session_calendar(session, series, stamp=now, language=t.language),
                caption=t("sessions.calendar_updated"))


def describe_time(session: Session, zone: str, t: Translator) -> str:
    """"Thursday 12 June, 13:00–14:00 (United Kingdom Time)", in the reader's own zone."""
    return t("sessions.time_span", start=t.datetime(session.starts_at, zone),
             end=t.datetime(session.ends_at, zone, "time"), zone=t.zone_name(zone))


def session_card(session: Session, series: Series, network: str, zone: str, t: Translator,
                 kind: str = "listing", place: str | None = None) -> Card:
    """A session as a reader sees it: in their zone, with what they can do about it."""
    title = f"{series.title}: {session.topic}" if session.topic else series.title
    facts = [Fact(t("sessions.when"), describe_time(session, zone, t)),
             Fact(t("sessions.network"), network)]
    if session.expert:
        facts.append(Fact(t("sessions.expert"), session.expert))
    if session.agenda and kind in ("day", "week", "listing", "changed"):
        facts.append(Fact(t("sessions.agenda"), session.agenda))
    if session.materials and kind in ("day", "week", "listing"):
        facts.append(Fact(t("sessions.materials"), "\n".join(session.materials)))
    link = session.join_url or series.join_url
    if link and kind in ("day", "hour", "now", "changed"):
        facts.append(Fact(t("sessions.join_link"), link))
    if place:
        facts.append(Fact(t("sessions.your_place"), place))
    heading = t(f"sessions.heading.{kind}", title=title)
    actions: list[Option] = []
    if kind == "now":  # attendance from the message people open to join
        actions.append(Option(t("sessions.action.here"), f"act:here:{session.id}"))
    actions += [Option(t("sessions.action.going"), f"act:going:{session.id}"),
                             Option(t("sessions.action.not_going"), f"act:not_going:{session.id}"),
                             Option(t("sessions.action.calendar"), f"act:calendar:{session.id}")]
    if kind in ("day", "week", "hour"):
        actions.append(Option(t("sessions.action.cancel_place"), f"act:cancel_place:{series.id}"))
    if kind in ("day", "week", "listing"):
        actions.append(Option(t("sessions.action.present_case"), f"act:case_for:{session.id}"))
    return Card(heading, tuple(facts), tuple(actions))


def request_card(uow: UnitOfWork, request: EnrolmentRequest, series: Series, t: Translator) -> Card:
    """A request for a place, as the team sees it: who, from where, and the two buttons."""
    person = uow.people.get(request.person_id)
    facts = (Fact(t("sessions.approvals.who"), person.full_name if person else "?"),
             Fact(t("sessions.approvals.role"),
                  f"{person.profession}, {person.organisation}" if person else "?"),
             Fact(t("sessions.approvals.series"), series.title))
    return Card(t("sessions.approvals.title"), facts, (
        Option(t("sessions.approvals.approve"), f"act:approve:{request.id}"),
        Option(t("sessions.approvals.decline"), f"act:decline:{request.id}")))


def _series_actions(series: Series, t: Translator) -> tuple[Part, ...]:
    return (Card(series.title, (), (
        Option(t("sessions.action.series_calendar"), f"act:series_calendar:{series.id}"),
        Option(t("sessions.action.cancel_place"), f"act:cancel_place:{series.id}"))),)
