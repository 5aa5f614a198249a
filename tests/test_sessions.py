"""Sessions in chat, as a participant and as a facilitator: the listing, a place in a series
(with capacity, a waiting list and approval), the buttons on cards and reminders (checked on
the server, since anyone can forge one), RSVPs, reminder preferences, and adding, moving and
cancelling a session. Transcripts run through the real turn handler and store."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import select, text

from assistant.clock import FakeClock
from assistant.events import Actor, Hints, UserChose
from assistant.i18n import Translator, translate
from assistant.messages import File
from assistant.model import ReminderPrefs, Series, Session
from assistant.ports import Store
from assistant.runtime import Directory
from assistant.services.context import Refused, ServiceContext
from assistant.services.schedule import Actor as Scheduler
from assistant.services.schedule import (
    add_session,
    cancel_session,
    change_link,
    reschedule,
    set_capacity,
)
from assistant.services.sessions import join_series
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from storage.scratch import scratch_database
from storage.tables import AuditRow, OutboxRow
from tests.community import OPERATOR, enrol, member, open_networks, series, session
from tests.harness import ChatHarness

AUDIT, OUTBOX = AuditRow.__table__, OutboxRow.__table__
LONDON, TORONTO = "Europe/London", "America/Toronto"
# The clock fixture starts on Monday 2 June 2025, 09:00 UTC (10:00 in London).
THURSDAY_1PM = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)  # 13:00 British Summer Time
NEXT_THURSDAY_1PM = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)


# --- a hub with two networks -----------------------------------------------------------------

@pytest.fixture
def store(suite_store: SqlStore, clock: FakeClock) -> SqlStore:
    open_networks(suite_store, clock.now())
    return suite_store


@pytest.fixture
def hub_on(store_on: SqlStore, clock: FakeClock) -> SqlStore:
    open_networks(store_on, clock.now())
    return store_on


def spring(store: Store, clock: FakeClock, *starts: datetime, **options: Any) -> tuple[Series, list[Session]]:
    """The Spring series (London, 13:00) with a session at each of `starts`."""
    made = series(store, clock.now(), **options)
    return made, [session(store, clock.now(), made, start) for start in starts or (THURSDAY_1PM,)]


def press(chat: ChatHarness, ref: str) -> ChatHarness:
    result = chat.send(UserChose(ref))
    assert result.incident is None, chat.text
    return chat


def status(store: Store, of: Series, person_id: int) -> str | None:
    with store.transaction() as uow:
        return uow.enrolments.status(of.id, person_id)


def outbox(store: SqlStore, prefix: str) -> dict[str, dict[str, Any]]:
    """Planned rows whose key starts with `prefix`: key -> status, due_at, recipe."""
    with store.engine.connect() as connection:
        rows = connection.execute(select(OUTBOX).where(OUTBOX.c.dedupe_key.startswith(prefix)))
        return {r.dedupe_key: {"status": r.status, "due_at": r.due_at,
                               "compose": r.payload.get("compose")} for r in rows}


def reminder_rows(store: SqlStore, one: Session, person_id: int,
                  sequence: int = 0) -> dict[str, tuple[str, datetime]]:
    """kind -> (status, due_at) of a person's reminders for one version of a session."""
    prefix = f"reminder:{one.id}:{sequence}:{person_id}:"
    return {key.removeprefix(prefix): (row["status"], row["due_at"])
            for key, row in outbox(store, prefix).items()}


def sessions_of(store: Store, of: Series) -> list[Session]:
    with store.transaction() as uow:
        return uow.schedule.sessions_of(of.id)


def refusals(store: SqlStore) -> list[tuple[str, str, dict[str, Any]]]:
    with store.engine.connect() as connection:
        return [(r.actor, r.subject, r.detail) for r in connection.execute(
            select(AUDIT).where(AUDIT.c.action == "action.refused").order_by(AUDIT.c.id))]


def en(message_id: str, **args: Any) -> str:
    return translate(message_id, "en", **args)


# --- the listing -----------------------------------------------------------------------------

LISTINGS = [
    # language, zone, heading, when, button
    ("en", TORONTO, "Coming up in your networks (times in Canada (Toronto) Time):",
     "Next session: Thursday 5 June, 08:00–09:00 (Canada (Toronto) Time)", "Register for this series"),
    ("en", LONDON, "Coming up in your networks (times in United Kingdom Time):",
     "Next session: Thursday 5 June, 13:00–14:00 (United Kingdom Time)", "Register for this series"),
    ("fr", LONDON, "À venir dans vos réseaux",
     "Prochaine séance: jeudi 5 juin, 13 h 00 à 14 h 00 (heure : Royaume-Uni)", "M'inscrire à cette série"),
    ("fr", TORONTO, "À venir dans vos réseaux",
     "Prochaine séance: jeudi 5 juin, 08 h 00 à 09 h 00 (heure : Canada (Toronto))",
     "M'inscrire à cette série"),
]


@pytest.mark.parametrize(("language", "zone", "heading", "when", "button"), LISTINGS,
                         ids=["Toronto, English", "London, English", "London, French", "Toronto, French"])
def test_sessions_lists_what_is_coming_in_the_readers_zone_and_language(
        store, clock, language, zone, heading, when, button):
    member(store, clock.now(), "amira", zone=zone, language=language)
    spring_series, _ = spring(store, clock)
    chat = ChatHarness(store, clock, user="amira")

    chat.say("sessions" if language == "en" else "séances")

    assert chat.text.startswith(heading)
    assert when in chat.text
    register, just_this_one, share = chat.options()
    assert (register.label, register.ref) == (button, f"act:join:{spring_series.id}")
    assert just_this_one.ref.startswith("act:attend:")
    assert share.ref == f"act:share:{spring_series.id}"


def test_the_french_listing_names_the_zone_once(store, clock):
    member(store, clock.now(), "amira", zone=TORONTO, language="fr")
    spring(store, clock)
    chat = ChatHarness(store, clock, user="amira")
    chat.say("séances")
    assert "heure : heure" not in chat.text and "heures : heure" not in chat.text


def test_a_series_without_dates_can_still_be_joined_and_other_networks_are_not_shown(store, clock):
    member(store, clock.now(), "amira")
    undated = series(store, clock.now(), name="autumn")
    series(store, clock.now(), name="elsewhere", network="palliative-essentials")
    chat = ChatHarness(store, clock, user="amira")
    chat.say("sessions")
    assert [(o.label, o.ref) for o in chat.options()] == [
        (en("sessions.action.join.open"), f"act:join:{undated.id}"),
        (en("invite.action.share"), f"act:share:{undated.id}")]
    assert "Elsewhere series" not in chat.text


# --- a place in a series ---------------------------------------------------------------------

def test_registering_gives_the_dates_a_calendar_file_and_a_way_to_cancel(store, clock):
    amira = member(store, clock.now(), "amira")
    spring_series, (first, second) = spring(store, clock, THURSDAY_1PM, NEXT_THURSDAY_1PM)
    chat = ChatHarness(store, clock, user="amira")
    chat.say("sessions")

    chat.pick("sessions.action.join.open")

    chat.expect_said("sessions.joined.registered", series="Spring series")
    assert "1: Thursday 5 June, 13:00–14:00 (United Kingdom Time)" in chat.text
    assert "2: Thursday 12 June, 13:00–14:00 (United Kingdom Time)" in chat.text
    chat.expect_said("sessions.link_arrives")
    [ics] = [part for part in chat.parts if isinstance(part, File)]
    assert (ics.name, ics.media_type) == (f"echo-series-{spring_series.id}.ics", "text/calendar")
    events = Calendar.from_ical(ics.content).walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [first.uid, second.uid]
    assert [e["DTSTART"].dt.astimezone(UTC) for e in events] == [THURSDAY_1PM, NEXT_THURSDAY_1PM]
    cancel = chat.option("sessions.action.cancel_place")
    assert cancel.ref == f"act:cancel_place:{spring_series.id}"
    assert status(store, spring_series, amira) == "registered"
    assert reminder_rows(store, first, amira) == {
        "day": ("pending", datetime(2025, 6, 4, 9, 0, tzinfo=UTC)),
        "hour": ("pending", datetime(2025, 6, 5, 11, 0, tzinfo=UTC))}


def test_registering_twice_says_you_already_have_a_place(store, clock):
    member(store, clock.now(), "amira")
    spring_series, _ = spring(store, clock)
    chat = ChatHarness(store, clock, user="amira")
    press(chat, f"act:join:{spring_series.id}")
    press(chat, f"act:join:{spring_series.id}")
    assert chat.text == en("sessions.already.registered", series="Spring series")


def test_the_listing_shows_a_registered_readers_place_and_answer(store, clock):
    amira = member(store, clock.now(), "amira")
    spring_series, [thursday] = spring(store, clock)
    enrol(store, clock.now(), spring_series, amira)
    chat = ChatHarness(store, clock, user="amira")
    press(chat, f"act:going:{thursday.id}")
    chat.say("sessions")
    assert f"{en('sessions.your_place')}: {en('sessions.place.going')}" in chat.text
    assert [o.ref for o in chat.options()] == [f"act:going:{thursday.id}", f"act:not_going:{thursday.id}",
                                               f"act:calendar:{thursday.id}",
                                               f"act:case_for:{thursday.id}"]


# --- capacity, the waiting list and approval ------------------------------------------------

def full_house(store: Store, clock: FakeClock, **options: Any) -> tuple[Series, dict[str, int]]:
    """Capacity 1: Amira registered, then Ben and Cara join in that order."""
    people = {user: member(store, clock.now(), user) for user in ("amira", "ben", "cara")}
    spring_series, _ = spring(store, clock, capacity=1, **options)
    for user in people:
        press(ChatHarness(store, clock, user=user), f"act:join:{spring_series.id}")
        clock.advance(minutes=1)
    return spring_series, people


def test_once_the_series_is_full_newcomers_wait_and_are_told_their_position(store, clock):
    people = {user: member(store, clock.now(), user) for user in ("amira", "ben", "cara")}
    spring_series, _ = spring(store, clock, capacity=1)
    said = {}
    for user in people:
        chat = press(ChatHarness(store, clock, user=user), f"act:join:{spring_series.id}")
        said[user] = chat
        clock.advance(minutes=1)

    said["amira"].expect_said("sessions.joined.registered", series="Spring series")
    said["ben"].expect_said("sessions.joined.waitlisted", series="Spring series", position=1)
    said["cara"].expect_said("sessions.joined.waitlisted", series="Spring series", position=2)
    assert said["cara"].option("sessions.action.leave_waitlist").ref == f"act:cancel_place:{spring_series.id}"
    assert {user: status(store, spring_series, p) for user, p in people.items()} == {
        "amira": "registered", "ben": "waitlisted", "cara": "waitlisted"}


def test_a_freed_place_goes_to_the_first_waiting_who_is_told(store, clock):
    spring_series, people = full_house(store, clock)
    [thursday] = sessions_of(store, spring_series)
    chat = press(ChatHarness(store, clock, user="amira"), f"act:cancel_place:{spring_series.id}")

    chat.expect_said("sessions.cancelled_place.registered", series="Spring series")
    assert {user: status(store, spring_series, p) for user, p in people.items()} == {
        "amira": None, "ben": "registered", "cara": "waitlisted"}
    [(key, offer)] = outbox(store, "place_offered:").items()
    assert key.endswith(f":{people['ben']}") and offer["status"] == "pending"
    assert offer["compose"] == {"what": "place_offered", "person": people["ben"],
                                "series": spring_series.id}
    assert {kind: row[0] for kind, row in reminder_rows(store, thursday, people["ben"]).items()} == {
        "day": "pending", "hour": "pending"}
    assert {kind: row[0] for kind, row in reminder_rows(store, thursday, people["amira"]).items()} == {
        "day": "withdrawn", "hour": "withdrawn"}


def test_leaving_the_waiting_list_frees_no_place(store, clock):
    spring_series, people = full_house(store, clock)
    chat = press(ChatHarness(store, clock, user="ben"), f"act:cancel_place:{spring_series.id}")
    chat.expect_said("sessions.cancelled_place.waitlisted", series="Spring series")
    assert {user: status(store, spring_series, p) for user, p in people.items()} == {
        "amira": "registered", "ben": None, "cara": "waitlisted"}
    assert outbox(store, "place_offered:") == {}


def test_under_manual_approval_newcomers_wait_for_the_team_and_nobody_is_promoted(store, clock):
    amira, ben = member(store, clock.now(), "amira"), member(store, clock.now(), "ben")
    spring_series, _ = spring(store, clock, capacity=1, approval=True)
    enrol(store, clock.now(), spring_series, amira)  # confirmed by the team

    chat = press(ChatHarness(store, clock, user="ben"), f"act:join:{spring_series.id}")
    chat.expect_said("sessions.joined.pending_approval", series="Spring series")
    press(ChatHarness(store, clock, user="amira"), f"act:cancel_place:{spring_series.id}")

    assert (status(store, spring_series, amira), status(store, spring_series, ben)) == (
        None, "pending_approval")
    assert outbox(store, "place_offered:") == {}


def test_raising_the_capacity_gives_the_new_places_to_those_waiting_first(store, clock):
    spring_series, people = full_house(store, clock)
    with store.transaction() as uow:
        set_capacity(uow, OPERATOR, spring_series, 3, clock.now())
    dan = member(store, clock.now(), "dan")
    press(ChatHarness(store, clock, user="dan"), f"act:join:{spring_series.id}")
    assert {user: status(store, spring_series, p) for user, p in {**people, "dan": dan}.items()} == {
        "amira": "registered", "ben": "registered", "cara": "registered", "dan": "waitlisted"}


STATES = [("closed", "sessions.series_closed", None),
          ("opening_soon", "sessions.series_opening_soon", None),
          ("full", "sessions.joined.waitlisted", "waitlisted")]


@pytest.mark.parametrize(("state", "said", "enrolment"), STATES, ids=[s[0] for s in STATES])
def test_the_series_state_decides_whether_a_newcomer_may_join(store, clock, state, said, enrolment):
    amira = member(store, clock.now(), "amira")
    spring_series, _ = spring(store, clock, state=state)
    chat = press(ChatHarness(store, clock, user="amira"), f"act:join:{spring_series.id}")
    chat.expect_said(said, series="Spring series", position=1)
    assert status(store, spring_series, amira) == enrolment


def _context(uow: Any, user: str, person_id: int, now: datetime) -> ServiceContext:
    return ServiceContext(uow=uow, actor=Actor(f"console:{user}"), now=now, t=Translator("en"),
                          hints=Hints(), directory=Directory(networks=uow.networks.all),
                          person=uow.people.get(person_id), address={})


@pytest.fixture
def postgres_store() -> Iterator[SqlStore]:
    with scratch_database(os.environ.get("SPOKE_TEST_POSTGRES_URL", "")) as url:
        upgrade(url)
        made = SqlStore(make_engine(url))
        yield made
        made.close()


WAITING_ON_A_LOCK = text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                         "WHERE NOT l.granted AND a.datname = current_database()")


@pytest.mark.postgres
def test_two_people_taking_the_last_place_at_once_do_not_both_get_it(postgres_store, clock):
    store, now = postgres_store, clock.now()
    open_networks(store, now)
    amira, ben = member(store, now, "amira"), member(store, now, "ben")
    spring_series, _ = spring(store, clock, capacity=1)
    amira_joined, ben_done = threading.Event(), threading.Event()

    def ben_joins() -> None:
        amira_joined.wait(10)
        with store.transaction() as uow:
            join_series(_context(uow, "ben", ben, now), spring_series.id)
        ben_done.set()

    helper = threading.Thread(target=ben_joins)
    helper.start()
    with store.transaction() as uow:
        join_series(_context(uow, "amira", amira, now), spring_series.id)
        amira_joined.set()
        # Ben's join either completes (it counted the place as free) or waits for this
        # transaction's lock: carry on as soon as either is true.
        with store.engine.connect() as probe:
            for _ in range(1000):
                if ben_done.wait(0.01) or probe.execute(WAITING_ON_A_LOCK).scalar():
                    break
    helper.join(10)
    assert (status(store, spring_series, amira), status(store, spring_series, ben)) == (
        "registered", "waitlisted")


# --- buttons are claims, checked on the server ----------------------------------------------

def test_someone_outside_the_network_cannot_join_by_forging_a_button(store, clock):
    dan = member(store, clock.now(), "dan", network="palliative-essentials")
    spring_series, _ = spring(store, clock)
    chat = press(ChatHarness(store, clock, user="dan"), f"act:join:{spring_series.id}")
    assert chat.text == en("sessions.not_yours")
    assert status(store, spring_series, dan) is None
    assert refusals(store) == [("console:dan", f"series:{spring_series.id}",
                                {"reason": "sessions.not_yours"})]


FORGED = [
    # ref, what the reader is told, audited subject
    ("act:going:999999", "sessions.not_yours", "session:999999"),
    ("act:calendar:999999", "sessions.not_yours", "session:999999"),
    ("act:series_calendar:999999", "sessions.not_yours", "series:999999"),
    ("act:join:999999", "sessions.not_yours", "series:999999"),
    ("act:cancel_place:999999", "sessions.no_place", "series:999999"),
    ("act:going:abc", "runtime.stale_idle", "button"),
    ("act:going:", "runtime.stale_idle", "button"),
    ("act:going:-1", "runtime.stale_idle", "button"),
    ("act:going:1:2", "runtime.stale_idle", "button"),
    ("act:nonsense:1", "runtime.stale_idle", "button"),
    ("act:", "runtime.stale_idle", "button"),
]


def test_forged_buttons_are_refused_audited_and_crash_nothing(hub_on, clock):
    member(hub_on, clock.now(), "amira")
    chat = ChatHarness(hub_on, clock, user="amira")
    told = [(ref, press(chat, ref).text) for ref, _, _ in FORGED]
    assert told == [(ref, en(message)) for ref, message, _ in FORGED]
    assert [(actor, subject) for actor, subject, _ in refusals(hub_on)] == [
        ("console:amira", subject) for _, _, subject in FORGED]


def test_a_button_with_a_superscript_digit_is_refused_without_a_crash(hub_on, clock):
    member(hub_on, clock.now(), "amira")
    chat = press(ChatHarness(hub_on, clock, user="amira"), "act:going:²")
    assert chat.text == en("runtime.stale_idle")


def test_a_button_naming_a_number_too_big_for_an_id_is_refused_without_a_crash(hub_on, clock):
    member(hub_on, clock.now(), "amira")
    chat = press(ChatHarness(hub_on, clock, user="amira"), "act:going:999999999999")
    assert chat.text == en("runtime.stale_idle")


OTHER_NETWORK = [
    # action, by series or session, what Amira is told
    ("going", "session", "sessions.not_yours"),
    ("not_going", "session", "sessions.not_yours"),
    ("calendar", "session", "sessions.not_yours"),
    ("series_calendar", "series", "sessions.not_yours"),
    ("join", "series", "sessions.not_yours"),
    ("cancel_place", "series", "sessions.no_place"),
]


@pytest.mark.parametrize(("action", "target", "told"), OTHER_NETWORK, ids=[o[0] for o in OTHER_NETWORK])
def test_a_button_for_another_networks_session_is_refused(store, clock, action, target, told):
    amira = member(store, clock.now(), "amira")
    ben = member(store, clock.now(), "ben", network="palliative-essentials")
    theirs, [their_session] = spring(store, clock, network="palliative-essentials", name="essentials")
    enrol(store, clock.now(), theirs, ben)
    number = their_session.id if target == "session" else theirs.id

    chat = press(ChatHarness(store, clock, user="amira"), f"act:{action}:{number}")

    assert chat.text == en(told)
    assert not [p for p in chat.parts if isinstance(p, File)]
    assert status(store, theirs, amira) is None
    with store.transaction() as uow:
        assert uow.rsvps.answers(their_session.id) == {}
    assert [(actor, subject) for actor, subject, _ in refusals(store)] == [
        ("console:amira", f"{target}:{number}")]


CALENDAR_READERS = [
    # who, their enrolment, role, gets the file
    ("registered participant", "registered", "participant", True),
    ("participant on the waiting list", "waitlisted", "participant", False),
    ("participant not enrolled", None, "participant", False),
    ("facilitator of the network", None, "facilitator", True),
]


@pytest.mark.parametrize(("enrolment", "role", "gets_it"), [c[1:] for c in CALENDAR_READERS],
                         ids=[c[0] for c in CALENDAR_READERS])
def test_add_to_calendar_gives_the_sessions_ics_to_those_who_may_see_it(store, clock, enrolment, role,
                                                                        gets_it):
    amira = member(store, clock.now(), "amira", role=role)
    spring_series, [thursday] = spring(store, clock)
    if enrolment:
        enrol(store, clock.now(), spring_series, amira, enrolment)

    chat = press(ChatHarness(store, clock, user="amira"), f"act:calendar:{thursday.id}")

    files = [p for p in chat.parts if isinstance(p, File)]
    if not gets_it:
        assert (files, chat.text) == ([], en("sessions.not_yours"))
        return
    [ics] = files
    assert ics.name == f"echo-session-{thursday.id}.ics"
    [event] = Calendar.from_ical(ics.content).walk("VEVENT")
    assert (str(event["UID"]), event["DTSTART"].dt.astimezone(UTC)) == (thursday.uid, THURSDAY_1PM)


def test_a_calendar_file_is_stamped_by_the_turns_clock_in_the_readers_language(store, clock):
    amira = member(store, clock.now(), "amira", language="fr")
    spring_series, [thursday] = spring(store, clock)
    enrol(store, clock.now(), spring_series, amira)
    chat = press(ChatHarness(store, clock, user="amira"), f"act:calendar:{thursday.id}")
    [ics] = [p for p in chat.parts if isinstance(p, File)]
    [event] = Calendar.from_ical(ics.content).walk("VEVENT")
    assert event["DTSTAMP"].dt == clock.now()
    assert translate("calendar.expert", "fr", name="Dr Rao") in str(event["DESCRIPTION"])


# --- RSVPs -----------------------------------------------------------------------------------

def test_going_and_not_going_are_stored_and_reshape_that_persons_reminders(store, clock):
    amira, ben = member(store, clock.now(), "amira"), member(store, clock.now(), "ben")
    early = datetime(2025, 6, 5, 7, 30, tzinfo=UTC)  # 08:30 in London: the hour reminder is at 07:30
    spring_series, [thursday] = spring(store, clock, early)
    for user in ("amira", "ben"):
        press(ChatHarness(store, clock, user=user), f"act:join:{spring_series.id}")
    wednesday_10am, held_until_8am = (datetime(2025, 6, 4, 9, 0, tzinfo=UTC),
                                      datetime(2025, 6, 5, 7, 0, tzinfo=UTC))
    assert reminder_rows(store, thursday, amira) == {"day": ("pending", wednesday_10am),
                                                     "hour": ("pending", held_until_8am)}
    chat = ChatHarness(store, clock, user="amira")

    press(chat, f"act:not_going:{thursday.id}")
    chat.expect_said("sessions.rsvp.not_going", when="Thursday 5 June, 08:30–09:30 (United Kingdom Time)")
    assert reminder_rows(store, thursday, amira) == {"day": ("withdrawn", wednesday_10am),
                                                     "hour": ("withdrawn", held_until_8am)}

    press(chat, f"act:going:{thursday.id}")
    chat.expect_said("sessions.rsvp.going", when="Thursday 5 June, 08:30–09:30 (United Kingdom Time)")
    # Going: the link comes an hour before, quiet hours or not.
    assert reminder_rows(store, thursday, amira) == {
        "day": ("pending", wednesday_10am), "hour": ("pending", datetime(2025, 6, 5, 6, 30, tzinfo=UTC))}

    with store.transaction() as uow:
        assert uow.rsvps.answers(thursday.id) == {amira: "going"}
    assert reminder_rows(store, thursday, ben) == {"day": ("pending", wednesday_10am),
                                                   "hour": ("pending", held_until_8am)}


def _cancelled(store: Store, clock: FakeClock, one: Session) -> None:
    with store.transaction() as uow:
        cancel_session(uow, OPERATOR, one, clock.now())


def _over(store: Store, clock: FakeClock, one: Session) -> None:
    clock.set(one.ends_at)


@pytest.mark.parametrize(("happened", "told"), [(_cancelled, "sessions.session_cancelled"),
                                                (_over, "sessions.session_over")],
                         ids=["cancelled", "over"])
def test_an_answer_about_a_cancelled_or_finished_session_is_refused(store, clock, happened, told):
    amira = member(store, clock.now(), "amira")
    spring_series, [thursday] = spring(store, clock)
    enrol(store, clock.now(), spring_series, amira)
    happened(store, clock, thursday)
    chat = press(ChatHarness(store, clock, user="amira"), f"act:going:{thursday.id}")
    assert chat.text == en(told)
    with store.transaction() as uow:
        assert uow.rsvps.answer(thursday.id, amira) is None


# --- a button in the middle of another conversation ------------------------------------------

OPEN_DIALOGS = [
    # command, answers given first, the question then open
    ("reminders", ["1 day before, 1 hour before"], "quiet"),
    ("reminders", [], "kinds"),
    ("profile", [], "field"),
]


@pytest.mark.parametrize(("command", "answers", "pending"), OPEN_DIALOGS,
                         ids=["reminders, second question", "reminders, first question", "profile"])
def test_a_button_pressed_mid_conversation_acts_and_asks_the_open_question_again(
        store, clock, command, answers, pending):
    amira = member(store, clock.now(), "amira")
    spring_series, [thursday] = spring(store, clock)
    enrol(store, clock.now(), spring_series, amira)
    chat = ChatHarness(store, clock, user="amira")
    chat.say(command)
    for answer in answers:
        chat.say(answer)
    before = chat.state()
    assert before is not None and before.pending_step == pending
    question = chat.parts[-1]

    press(chat, f"act:going:{thursday.id}")

    chat.expect_said("sessions.rsvp.going", when="Thursday 5 June, 13:00–14:00 (United Kingdom Time)")
    assert chat.parts[-1] == question  # the same question, its buttons still valid
    after = chat.state()
    assert after is not None
    assert (after.dialog, after.pending_step, after.answers, after.nonce) == (
        before.dialog, before.pending_step, before.answers, before.nonce)
    with store.transaction() as uow:
        assert uow.rsvps.answer(thursday.id, amira) == "going"


def test_the_conversation_carries_on_after_a_button_pressed_in_the_middle(store, clock):
    amira = member(store, clock.now(), "amira")
    spring_series, [thursday] = spring(store, clock)
    enrol(store, clock.now(), spring_series, amira)
    chat = ChatHarness(store, clock, user="amira")
    chat.say("reminders")
    chat.say("1 day before")
    press(chat, f"act:calendar:{thursday.id}")
    chat.say("21:00-07:00")
    chat.expect_question("work_days")
    assert chat.answers == {"kinds": ["day"], "quiet": "21:00-07:00"}


# --- reminder preferences --------------------------------------------------------------------

QUIET_HOURS = [
    ("20:00-08:00", "20:00-08:00"),
    ("22h-7h", "22:00-07:00"),
    ("21:30 to 6:45", "21:30-06:45"),
    ("22h30-7h", "22:30-07:00"),
    ("none", ""),
    ("aucune", ""),
]


@pytest.mark.parametrize(("typed", "kept"), QUIET_HOURS, ids=[q[0] for q in QUIET_HOURS])
def test_quiet_hours_are_read_in_several_forms(store, clock, typed, kept):
    member(store, clock.now(), "amira")
    chat = ChatHarness(store, clock, user="amira")
    chat.say("reminders")
    chat.say("1 day before")
    chat.say(typed)
    chat.expect_question("work_days")
    assert chat.answers["quiet"] == kept


def test_quiet_hours_written_as_spoke_writes_french_times_are_understood(store, clock):
    member(store, clock.now(), "amira", language="fr")
    chat = ChatHarness(store, clock, user="amira")
    chat.say("rappels")
    chat.say("1 jour avant")
    chat.say("22 h 30 à 7 h 00")
    chat.expect_question("work_days")
    assert chat.answers["quiet"] == "22:30-07:00"


@pytest.mark.parametrize("typed", ["garbage", "25:00-08:00", "20:00", "20:61-08:00"])
def test_quiet_hours_that_cannot_be_read_are_asked_again(store, clock, typed):
    member(store, clock.now(), "amira")
    chat = ChatHarness(store, clock, user="amira")
    chat.say("reminders")
    chat.say("1 day before")
    chat.say(typed)
    chat.expect_said("reminders.quiet.unclear")
    chat.expect_said("reminders.quiet.ask")
    chat.expect_question("quiet")
    assert chat.answers == {"kinds": ["day"]}


def _stored_prefs(store: Store, person_id: int) -> ReminderPrefs:
    with store.transaction() as uow:
        return uow.reminder_preferences.of([person_id])[person_id]


def test_saved_preferences_replace_the_planned_reminders(store, clock):
    amira = member(store, clock.now(), "amira")
    spring_series, [thursday] = spring(store, clock, NEXT_THURSDAY_1PM)
    press(ChatHarness(store, clock, user="amira"), f"act:join:{spring_series.id}")
    assert {k: s for k, (s, _) in reminder_rows(store, thursday, amira).items()} == {
        "day": "pending", "hour": "pending"}
    chat = ChatHarness(store, clock, user="amira")

    chat.say("reminders")
    chat.say("1 week before, 1 day before")
    chat.say("none")
    chat.say("Monday, Tuesday, Wednesday")
    chat.expect_question("__review__")
    chat.pick("runtime.review.submit")

    chat.expect_said("reminders.saved", kinds="1 week before and 1 day before")
    assert _stored_prefs(store, amira) == ReminderPrefs(kinds=("week", "day"), quiet_start="00:00",
                                                        quiet_end="00:00", work_days=(0, 1, 2))
    assert reminder_rows(store, thursday, amira) == {
        "week": ("pending", datetime(2025, 6, 4, 9, 0, tzinfo=UTC)),  # Wednesday, the last work day
        "day": ("pending", datetime(2025, 6, 11, 9, 0, tzinfo=UTC)),
        "hour": ("withdrawn", datetime(2025, 6, 12, 11, 0, tzinfo=UTC)),
    }


def test_turning_reminders_off_asks_nothing_more_and_withdraws_them(store, clock):
    amira = member(store, clock.now(), "amira")
    spring_series, [thursday] = spring(store, clock)
    press(ChatHarness(store, clock, user="amira"), f"act:join:{spring_series.id}")
    chat = ChatHarness(store, clock, user="amira")

    chat.say("reminders")
    chat.pick("reminders.kind.off")
    chat.expect_question("__review__")
    chat.pick("runtime.review.submit")

    chat.expect_said("reminders.saved_off")
    assert _stored_prefs(store, amira).kinds == ()
    assert {k: s for k, (s, _) in reminder_rows(store, thursday, amira).items()} == {
        "day": "withdrawn", "hour": "withdrawn"}


def test_cancelling_the_reminders_conversation_changes_nothing(store, clock):
    amira = member(store, clock.now(), "amira")
    chat = ChatHarness(store, clock, user="amira")
    chat.say("reminders")
    chat.say("1 hour before")
    chat.say("cancel")
    chat.expect_said("reminders.unchanged")
    assert chat.state() is None
    assert _stored_prefs(store, amira) == ReminderPrefs()


def test_the_reminders_review_names_each_answer_in_words(store, clock):
    member(store, clock.now(), "amira")
    chat = ChatHarness(store, clock, user="amira")
    chat.say("reminders")
    chat.say("1 day before")
    chat.say("20:00-08:00")
    chat.say("Monday")
    assert "reminders." not in chat.text


# --- facilitators ----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["add session", "change session", "ajouter une séance"])
def test_only_facilitators_and_hub_admins_may_schedule(store, clock, command):
    member(store, clock.now(), "amira")
    spring(store, clock)
    chat = ChatHarness(store, clock, user="amira")
    chat.say(command)
    assert chat.text == en("schedule.team_only")
    assert chat.state() is None


def test_a_facilitator_adds_a_session_by_chat_confirmed_in_absolute_time(store, clock):
    member(store, clock.now(), "fiona", role="facilitator", zone=TORONTO)
    spring_series = series(store, clock.now())
    chat = ChatHarness(store, clock, user="fiona")

    chat.say("add session")
    chat.expect_question("series")
    chat.pick("Spring series (Care Homes ECHO)")
    chat.say("next Thursday at 1pm")
    chat.expect_said("parsers.when.confirm", date="Thursday 5 June 2025", time="13:00",
                     zone=TORONTO)
    chat.say("yes")
    chat.expect_question("duration")
    chat.say("1h30")
    for optional in ("topic", "expert", "link"):
        chat.expect_question(optional)
        chat.say("skip")
    chat.expect_question("__review__")
    chat.pick("runtime.review.submit")

    chat.expect_said("schedule.added", series="Spring series",
                     when="Thursday 5 June, 13:00–14:30 (Canada (Toronto) Time)")
    [added] = sessions_of(store, spring_series)
    assert (added.starts_at, added.ends_at) == (datetime(2025, 6, 5, 17, 0, tzinfo=UTC),
                                                datetime(2025, 6, 5, 18, 30, tzinfo=UTC))
    assert (added.topic, added.expert, added.join_url, added.time_zone, added.state) == (
        "", "", "", LONDON, "scheduled")


def test_the_add_session_review_names_each_answer_in_words(store, clock):
    member(store, clock.now(), "fiona", role="facilitator")
    series(store, clock.now())
    chat = ChatHarness(store, clock, user="fiona")
    for said in ("add session", "1", "next Thursday at 1pm", "yes", "60", "skip", "skip", "skip"):
        chat.say(said)
    chat.expect_question("__review__")
    assert "add_session." not in chat.text


SCHEDULERS = [
    # role, network, may change the Spring series
    ("participant", "care-homes", False),
    ("facilitator", "palliative-essentials", False),
    ("facilitator", "care-homes", True),
    ("hub_admin", "care-homes", True),
]
CHANGES = {
    "add": lambda uow, who, one, at: add_session(uow, who, uow.schedule.series(one.series_id),
                                                 NEXT_THURSDAY_1PM, 60, at),
    "move": lambda uow, who, one, at: reschedule(uow, who, one, NEXT_THURSDAY_1PM, 60, at),
    "relink": lambda uow, who, one, at: change_link(uow, who, one, "https://zoom.example/j/9", at),
    "capacity": lambda uow, who, one, at: set_capacity(uow, who, uow.schedule.series(one.series_id),
                                                       40, at),
    "cancel": lambda uow, who, one, at: cancel_session(uow, who, one, at),
}


@pytest.mark.parametrize(("role", "network", "allowed"), SCHEDULERS,
                         ids=[f"{r} of {n}" for r, n, _ in SCHEDULERS])
def test_only_the_networks_team_may_change_its_schedule(store, clock, role, network, allowed):
    who = Scheduler("console:fiona", member(store, clock.now(), "fiona", role=role, network=network))
    _, [thursday] = spring(store, clock)
    results = {}
    for name, change in CHANGES.items():
        with store.transaction() as uow:
            current = uow.schedule.session(thursday.id)
            results[name] = change(uow, who, current, clock.now())
    if allowed:
        assert not [name for name, result in results.items() if isinstance(result, Refused)]
        assert refusals(store) == []
    else:
        assert results == dict.fromkeys(CHANGES, Refused("schedule.not_allowed"))
        assert [detail for _, _, detail in refusals(store)] == [{"reason": "not_team"}] * len(CHANGES)
        with store.transaction() as uow:
            assert uow.schedule.session(thursday.id) == thursday


def registered_pair(store: Store, clock: FakeClock) -> tuple[Series, Session, dict[str, int]]:
    people = {user: member(store, clock.now(), user) for user in ("amira", "ben")}
    member(store, clock.now(), "fiona", role="facilitator")
    spring_series, [thursday] = spring(store, clock)
    for user in people:
        press(ChatHarness(store, clock, user=user), f"act:join:{spring_series.id}")
    return spring_series, thursday, people


def test_moving_a_session_by_chat_tells_everyone_registered_and_withdraws_old_reminders(store, clock):
    _, thursday, people = registered_pair(store, clock)
    chat = ChatHarness(store, clock, user="fiona")

    chat.say("change session")
    chat.pick("Spring series: Thursday 5 June, 13:00")
    chat.pick("schedule.change.move")
    chat.say("Friday at 2pm")
    chat.expect_said("parsers.when.confirm", date="Friday 6 June 2025", time="14:00", zone=LONDON)
    chat.say("yes")

    chat.expect_said("schedule.moved", when="Friday 6 June, 14:00–15:00 (United Kingdom Time)")
    with store.transaction() as uow:
        moved = uow.schedule.session(thursday.id)
    assert moved is not None
    assert (moved.starts_at, moved.ends_at, moved.sequence) == (
        datetime(2025, 6, 6, 13, 0, tzinfo=UTC), datetime(2025, 6, 6, 14, 0, tzinfo=UTC), 1)
    for person in people.values():
        assert {k: s for k, (s, _) in reminder_rows(store, thursday, person).items()} == {
            "day": "withdrawn", "hour": "withdrawn"}
    notices = outbox(store, "session_changed:")
    assert {key: row["status"] for key, row in notices.items()} == {
        f"session_changed:{thursday.id}:1:{p}": "pending" for p in people.values()}
    assert {row["compose"]["old_starts_at"] for row in notices.values()} == {THURSDAY_1PM.isoformat()}


@pytest.mark.parametrize(("sure", "cancelled"), [("yes", True), ("no", False)])
def test_cancelling_a_session_by_chat_asks_once_then_tells_everyone(store, clock, sure, cancelled):
    _, thursday, people = registered_pair(store, clock)
    chat = ChatHarness(store, clock, user="fiona")

    chat.say("cancel session")
    chat.pick("Spring series: Thursday 5 June, 13:00")
    chat.pick("schedule.change.cancel")
    chat.expect_said("schedule.cancel.confirm")
    chat.say(sure)

    chat.expect_said("schedule.cancelled" if cancelled else "schedule.unchanged")
    with store.transaction() as uow:
        now_stored = uow.schedule.session(thursday.id)
    assert now_stored is not None and now_stored.state == ("cancelled" if cancelled else "scheduled")
    expected_notices = {f"session_cancelled:{thursday.id}:1:{p}": "pending"
                        for p in people.values()} if cancelled else {}
    assert {k: r["status"] for k, r in outbox(store, "session_cancelled:").items()} == expected_notices
    for person in people.values():
        assert {s for s, _ in reminder_rows(store, thursday, person).values()} == {
            "withdrawn" if cancelled else "pending"}
