"""Reminders and session notices, end to end: planned into the outbox, written at send time,
delivered by the sender while a fake clock runs through the days. What each reader got, and
when, is read back from a recording notifier and the outbox rows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.i18n import format_moment, translate
from assistant.messages import Outgoing
from assistant.model import ReminderPrefs, Series, Session
from assistant.outbox import Sender
from assistant.ports import SendResult, Sent
from assistant.reminder_times import in_quiet_hours
from assistant.services.context import Refused
from assistant.services.schedule import cancel_session, change_link, reschedule
from storage.engine import make_engine
from storage.repositories import SqlStore
from storage.tables import OutboxRow
from tests.community import OPERATOR, enrol, member, open_networks, series, session
from tests.harness import ChatHarness

OUTBOX = OutboxRow.__table__
LONDON, TORONTO = "Europe/London", "America/Toronto"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# The clock fixture starts on Monday 2 June 2025, 09:00 UTC (10:00 in London).
THURSDAY_1PM = at("2025-06-05T12:00:00Z")  # 13:00 British Summer Time
MONDAY_1PM = at("2025-06-09T12:00:00Z")


# --- the hub, its readers and a recording notifier -------------------------------------------

class Inbox:
    """A notifier that records every message and the moment it went."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.got: list[tuple[datetime, Outgoing]] = []

    async def send(self, message: Outgoing) -> SendResult:
        self.got.append((self.clock.now(), message))
        return Sent()


@dataclass
class Hub:
    store: SqlStore
    clock: FakeClock
    inbox: Inbox
    senders: list[Sender] = field(default_factory=list)

    def sender(self, store: SqlStore | None = None, worker: str = "sender-1") -> Sender:
        made = Sender(store or self.store, self.inbox, self.clock, worker=worker)
        self.senders.append(made)
        return made

    async def run_until(self, until: datetime, step: timedelta = timedelta(hours=6)) -> None:
        """Every sender plans and delivers, twice over and all at once, at each moment
        something falls due (and at least every `step`, so sessions come within the
        planner's reach)."""
        senders = self.senders or [self.sender()]
        for _ in range(1000):
            for _ in range(2):
                await asyncio.gather(*(sender.plan_reminders() for sender in senders))
                await asyncio.gather(*(sender.deliver_due() for sender in senders))
            now = self.clock.now()
            if now >= until:
                return
            due = await senders[0].next_due()
            following = now + step if due is None or due <= now else min(now + step, due)
            self.clock.set(min(following, until))
        raise AssertionError("the outbox never settled")

    def keys(self) -> dict[int, str]:
        with self.store.engine.connect() as connection:
            return {r.id: r.dedupe_key for r in connection.execute(
                select(OUTBOX.c.id, OUTBOX.c.dedupe_key))}

    def delivered(self, identity: str | None = None) -> list[tuple[str, datetime]]:
        """(dedupe key, moment) of every reminder and notice sent, chat replies left out."""
        keys = self.keys()
        return [(keys[m.id], when) for when, m in self.inbox.got
                if not keys[m.id].startswith("reply:") and identity in (None, m.identity)]

    def texts(self, identity: str) -> list[str]:
        keys = self.keys()
        return [m.reply.fallback_text() for _, m in self.inbox.got
                if m.identity == identity and not keys[m.id].startswith("reply:")]

    def status(self, key: str) -> str:
        with self.store.engine.connect() as connection:
            return str(connection.execute(
                select(OUTBOX.c.status).where(OUTBOX.c.dedupe_key == key)).scalar_one())

    def statuses(self, prefix: str) -> dict[str, str]:
        with self.store.engine.connect() as connection:
            return {r.dedupe_key: r.status for r in connection.execute(
                select(OUTBOX.c.dedupe_key, OUTBOX.c.status)
                .where(OUTBOX.c.dedupe_key.startswith(prefix)))}

    def prefer(self, person_id: int, prefs: ReminderPrefs) -> None:
        with self.store.transaction() as uow:
            uow.reminder_preferences.set(person_id, prefs, self.clock.now())


@pytest.fixture
def hub(suite_store: SqlStore, clock: FakeClock) -> Hub:
    open_networks(suite_store, clock.now())
    return Hub(suite_store, clock, Inbox(clock))


def spring(hub: Hub, starts_at: datetime, zone: str = LONDON, **options: Any) -> tuple[Series, Session]:
    made = series(hub.store, hub.clock.now(), zone=zone, **options)
    return made, session(hub.store, hub.clock.now(), made, starts_at)


def reminder(one: Session, person_id: int, kind: str, sequence: int = 0) -> str:
    return f"reminder:{one.id}:{sequence}:{person_id}:{kind}"


# --- exactly once ----------------------------------------------------------------------------

@pytest.fixture
def second_replica(store_on: SqlStore) -> Iterator[SqlStore]:
    other = SqlStore(make_engine(store_on.engine.url.render_as_string(hide_password=False)))
    yield other
    other.close()


async def test_default_reminders_go_once_each_at_their_moment_even_from_two_replicas(
        store_on, second_replica, clock):
    hub = Hub(store_on, clock, Inbox(clock))
    open_networks(store_on, clock.now())
    amira = member(store_on, clock.now(), "amira")
    spring_series, monday = spring(hub, MONDAY_1PM)
    enrol(store_on, clock.now(), spring_series, amira)
    hub.sender(worker="replica-1")
    hub.sender(second_replica, worker="replica-2")

    await hub.run_until(MONDAY_1PM + timedelta(days=2))

    assert hub.delivered() == [
        # 10:00 in London on Friday, the last work day before the Monday session
        (reminder(monday, amira, "day"), at("2025-06-06T09:00:00Z")),
        (reminder(monday, amira, "hour"), at("2025-06-09T11:00:00Z")),
    ]
    day, hour = hub.texts("console:amira")
    assert day.startswith("Reminder: Spring series: Pain at the end of life")
    assert "Monday 9 June, 13:00–14:00 (United Kingdom Time)" in day
    assert "Speaker: Dr Rao" in day and "Join link: https://zoom.example/j/123" in day
    assert hour.startswith("Starting in an hour: Spring series: Pain at the end of life")
    assert "Join link: https://zoom.example/j/123" in hour


# --- clock changes ---------------------------------------------------------------------------

CLOCK_CHANGES = [
    # zone, clock starts, session (13:00 local on the Monday after the change), day, hour, shown
    (LONDON, "2027-03-22T09:00:00Z", "2027-03-29T12:00:00Z",
     "2027-03-26T10:00:00Z",  # Friday 10:00 GMT, before the clocks went forward
     "2027-03-29T11:00:00Z", "Monday 29 March, 13:00–14:00 (United Kingdom Time)"),
    (TORONTO, "2027-03-08T14:00:00Z", "2027-03-15T17:00:00Z",
     "2027-03-12T15:00:00Z",  # Friday 10:00 EST
     "2027-03-15T16:00:00Z", "Monday 15 March, 13:00–14:00 (Canada (Toronto) Time)"),
]


@pytest.mark.parametrize(("zone", "start", "starts_at", "day", "hour", "shown"), CLOCK_CHANGES,
                         ids=["London, 28 March 2027", "Toronto, 14 March 2027"])
async def test_reminders_around_a_clock_change_go_at_the_local_hour_of_their_own_day(
        hub, zone, start, starts_at, day, hour, shown):
    hub.clock.set(at(start))
    reader = member(hub.store, hub.clock.now(), "amira", zone=zone)
    spring_series, monday = spring(hub, at(starts_at), zone=zone)
    enrol(hub.store, hub.clock.now(), spring_series, reader)

    await hub.run_until(at(starts_at) + timedelta(hours=2))

    assert hub.delivered() == [(reminder(monday, reader, "day"), at(day)),
                               (reminder(monday, reader, "hour"), at(hour))]
    assert all(shown in text for text in hub.texts("console:amira"))


# --- preferences -----------------------------------------------------------------------------

EVENINGS_OFF = ReminderPrefs()  # the defaults: a day and an hour, quiet 20:00-08:00, Mon-Fri
PREFERENCES = [
    # name, prefs, session starts, going, {kind: moment}
    ("a week, a day and an hour", ReminderPrefs(kinds=("week", "day", "hour")),
     "2025-06-12T12:00:00Z", False,
     {"week": "2025-06-05T09:00:00Z", "day": "2025-06-11T09:00:00Z", "hour": "2025-06-12T11:00:00Z"}),
    ("a week ahead, for a session beyond the planner's reach at first", ReminderPrefs(kinds=("week",)),
     "2025-06-16T12:00:00Z", False, {"week": "2025-06-09T09:00:00Z"}),
    ("only when it starts", ReminderPrefs(kinds=("now",)), "2025-06-05T12:00:00Z", False,
     {"now": "2025-06-05T11:50:00Z"}),
    ("off", ReminderPrefs(kinds=()), "2025-06-05T12:00:00Z", True, {}),
    ("quiet hours hold the hour reminder until 08:00", EVENINGS_OFF, "2025-06-05T07:30:00Z", False,
     {"day": "2025-06-04T09:00:00Z", "hour": "2025-06-05T07:00:00Z"}),
    ("quiet hours never hold it for someone going", EVENINGS_OFF, "2025-06-05T07:30:00Z", True,
     {"day": "2025-06-04T09:00:00Z", "hour": "2025-06-05T06:30:00Z"}),
    ("no quiet hours", ReminderPrefs(quiet_start="00:00", quiet_end="00:00"),
     "2025-06-05T07:30:00Z", False,
     {"day": "2025-06-04T09:00:00Z", "hour": "2025-06-05T06:30:00Z"}),
    ("Monday to Wednesday: the day reminder on Wednesday, no hour reminder on a Friday off",
     ReminderPrefs(work_days=(0, 1, 2)), "2025-06-06T12:00:00Z", False,
     {"day": "2025-06-04T09:00:00Z"}),
    ("a Friday off still brings the link to someone going",
     ReminderPrefs(work_days=(0, 1, 2)), "2025-06-06T12:00:00Z", True,
     {"day": "2025-06-04T09:00:00Z", "hour": "2025-06-06T11:00:00Z"}),
]


@pytest.mark.parametrize(("prefs", "starts_at", "going", "expected"), [p[1:] for p in PREFERENCES],
                         ids=[p[0] for p in PREFERENCES])
async def test_stored_preferences_decide_which_reminders_go_and_when(
        hub, prefs, starts_at, going, expected):
    amira = member(hub.store, hub.clock.now(), "amira")
    hub.prefer(amira, prefs)
    spring_series, one = spring(hub, at(starts_at))
    enrol(hub.store, hub.clock.now(), spring_series, amira)
    if going:
        with hub.store.transaction() as uow:
            uow.rsvps.set(one.id, amira, "going", hub.clock.now())

    await hub.run_until(at(starts_at) + timedelta(hours=2))

    assert hub.delivered() == [(reminder(one, amira, kind), at(moment))
                               for kind, moment in expected.items()]


# --- a session moved or cancelled ------------------------------------------------------------

async def test_a_moved_session_withdraws_the_old_reminders_and_tells_everyone_once(hub):
    now = hub.clock.now()
    amira, ben = member(hub.store, now, "amira"), member(hub.store, now, "ben", zone=TORONTO)
    spring_series, thursday = spring(hub, THURSDAY_1PM)
    for person in (amira, ben):
        enrol(hub.store, now, spring_series, person)
    await hub.run_until(at("2025-06-03T09:00:00Z"))  # planned, nothing due yet
    assert hub.delivered() == []

    with hub.store.transaction() as uow:
        moved = reschedule(uow, OPERATOR, thursday, at("2025-06-06T12:00:00Z"), 60, hub.clock.now())
    assert isinstance(moved, Session) and moved.sequence == 1
    # Ben's hour reminder (07:00 in Toronto) falls in his quiet hours: he only gets the day one.
    assert hub.statuses(f"reminder:{thursday.id}:0:") == {
        reminder(thursday, amira, "day"): "withdrawn", reminder(thursday, amira, "hour"): "withdrawn",
        reminder(thursday, ben, "day"): "withdrawn"}

    await hub.run_until(at("2025-06-07T12:00:00Z"))

    assert hub.delivered() == [
        (f"session_changed:{thursday.id}:1:{amira}", at("2025-06-03T09:00:00Z")),
        # 05:00 in Toronto is in Ben's quiet hours: he hears at 08:00 his time.
        (f"session_changed:{thursday.id}:1:{ben}", at("2025-06-03T12:00:00Z")),
        (reminder(thursday, amira, "day", sequence=1), at("2025-06-05T09:00:00Z")),
        (reminder(thursday, ben, "day", sequence=1), at("2025-06-05T14:00:00Z")),  # 10:00 Toronto
        (reminder(thursday, amira, "hour", sequence=1), at("2025-06-06T11:00:00Z")),
    ]
    notice = hub.texts("console:amira")[0]
    assert translate("sessions.changed_notice", "en", series="Spring series",
                     old="Thursday 5 June, 13:00",
                     when="Friday 6 June, 13:00–14:00 (United Kingdom Time)") in notice
    assert "Thursday 5 June, 08:00" in hub.texts("console:ben")[0]  # Ben reads Toronto time


async def test_a_cancelled_session_is_announced_once_and_never_reminded(hub):
    now = hub.clock.now()
    amira = member(hub.store, now, "amira")
    spring_series, thursday = spring(hub, THURSDAY_1PM)
    enrol(hub.store, now, spring_series, amira)
    await hub.run_until(at("2025-06-03T09:00:00Z"))

    with hub.store.transaction() as uow:
        assert isinstance(cancel_session(uow, OPERATOR, thursday, hub.clock.now()), Session)
    await hub.run_until(THURSDAY_1PM + timedelta(days=1))

    assert hub.delivered() == [(f"session_cancelled:{thursday.id}:1:{amira}", at("2025-06-03T09:00:00Z"))]
    [notice] = hub.texts("console:amira")
    assert translate("sessions.cancelled_notice", "en", series="Spring series",
                     when="Thursday 5 June, 13:00–14:00 (United Kingdom Time)") in notice
    assert {hub.status(reminder(thursday, amira, kind)) for kind in ("day", "hour")} == {"withdrawn"}


async def test_a_new_join_link_is_announced_as_a_new_link_not_as_a_move(hub):
    amira = member(hub.store, hub.clock.now(), "amira")
    spring_series, thursday = spring(hub, THURSDAY_1PM)
    enrol(hub.store, hub.clock.now(), spring_series, amira)
    with hub.store.transaction() as uow:
        changed = change_link(uow, OPERATOR, thursday, "https://zoom.example/j/999", hub.clock.now())
    assert isinstance(changed, Session)
    await hub.run_until(hub.clock.now())

    [notice] = hub.texts("console:amira")
    assert "https://zoom.example/j/999" in notice
    moved = translate("sessions.changed_notice", "en", series="Spring series",
                      old="Thursday 5 June, 13:00",
                      when="Thursday 5 June, 13:00–14:00 (United Kingdom Time)")
    assert moved not in notice


async def test_the_link_of_a_cancelled_session_cannot_change_and_the_cancellation_still_goes(hub):
    amira = member(hub.store, hub.clock.now(), "amira")
    spring_series, thursday = spring(hub, THURSDAY_1PM)
    enrol(hub.store, hub.clock.now(), spring_series, amira)
    with hub.store.transaction() as uow:
        cancelled = cancel_session(uow, OPERATOR, thursday, hub.clock.now())
        assert isinstance(cancelled, Session)
        relinked = change_link(uow, OPERATOR, cancelled, "https://zoom.example/j/999", hub.clock.now())
    await hub.run_until(hub.clock.now() + timedelta(hours=1))

    assert hub.delivered() == [(f"session_cancelled:{thursday.id}:1:{amira}", at("2025-06-02T09:00:00Z"))]
    assert relinked == Refused("schedule.not_scheduled")


async def test_someone_who_could_not_make_the_old_time_is_told_the_new_one(hub):
    amira = member(hub.store, hub.clock.now(), "amira")
    spring_series, thursday = spring(hub, THURSDAY_1PM)
    enrol(hub.store, hub.clock.now(), spring_series, amira)
    with hub.store.transaction() as uow:
        uow.rsvps.set(thursday.id, amira, "not_going", hub.clock.now())
        reschedule(uow, OPERATOR, thursday, at("2025-06-06T12:00:00Z"), 60, hub.clock.now())
    await hub.run_until(hub.clock.now() + timedelta(hours=1))

    assert [key for key, _ in hub.delivered()] == [f"session_changed:{thursday.id}:1:{amira}"]


# --- catching up after downtime --------------------------------------------------------------

CATCH_UP = [
    # back at, what goes then and later, the day reminder's row
    ("after the day moment, before an hour to go", "2025-06-05T10:00:00Z",
     [("day", "2025-06-05T10:00:00Z"), ("hour", "2025-06-05T11:00:00Z")], "sent"),
    ("less than an hour to go", "2025-06-05T11:30:00Z", [("hour", "2025-06-05T11:30:00Z")], "expired"),
    ("after the start", "2025-06-05T12:30:00Z", [], "expired"),
    ("after the end", "2025-06-05T13:30:00Z", [], "expired"),
]


@pytest.mark.parametrize(("back_at", "expected", "day_row"), [c[1:] for c in CATCH_UP],
                         ids=[c[0] for c in CATCH_UP])
async def test_after_downtime_only_reminders_still_useful_are_sent(hub, back_at, expected, day_row):
    amira = member(hub.store, hub.clock.now(), "amira")
    spring_series, thursday = spring(hub, THURSDAY_1PM)
    enrol(hub.store, hub.clock.now(), spring_series, amira)
    sender = hub.sender()
    assert await sender.plan_reminders() == 2

    hub.clock.set(at(back_at))  # nothing ran in between
    await hub.run_until(THURSDAY_1PM + timedelta(days=1))

    assert hub.delivered() == [(reminder(thursday, amira, kind), at(moment)) for kind, moment in expected]
    assert hub.status(reminder(thursday, amira, "day")) == day_row


# --- written at send time --------------------------------------------------------------------

async def test_a_reminder_is_written_in_the_language_and_zone_the_reader_has_when_it_goes(hub):
    amira = member(hub.store, hub.clock.now(), "amira")
    spring_series, _ = spring(hub, THURSDAY_1PM)
    enrol(hub.store, hub.clock.now(), spring_series, amira)
    await hub.run_until(at("2025-06-03T09:00:00Z"))  # planned in English, London time

    with hub.store.transaction() as uow:
        uow.people.update(amira, {"language": "fr", "time_zone": TORONTO})
    await hub.run_until(at("2025-06-04T09:00:00Z"))

    [day] = hub.texts("console:amira")
    assert day.startswith(translate("sessions.heading.day", "fr",
                                    title="Spring series: Pain at the end of life"))
    assert format_moment(THURSDAY_1PM, TORONTO, "fr") in day  # jeudi 5 juin, 08 h 00
    assert "(heure : Canada (Toronto))" in day


# --- leaving ---------------------------------------------------------------------------------

def _cancel_in_chat(hub: Hub, spring_series: Series, person_id: int) -> None:
    ChatHarness(hub.store, hub.clock, user="amira").send(UserChose(f"act:cancel_place:{spring_series.id}"))


def _leave_without_withdrawing(hub: Hub, spring_series: Series, person_id: int) -> None:
    with hub.store.transaction() as uow:  # as leaving a network does, outbox untouched
        uow.enrolments.cancel_all(person_id, None, hub.clock.now())


@pytest.mark.parametrize(("leave", "row_status"), [(_cancel_in_chat, "withdrawn"),
                                                   (_leave_without_withdrawing, "withdrawn")],
                         ids=["cancel my place", "places cancelled elsewhere"])
async def test_someone_who_left_the_series_gets_no_more_reminders(hub, leave, row_status):
    now = hub.clock.now()
    amira, ben = member(hub.store, now, "amira"), member(hub.store, now, "ben")
    spring_series, thursday = spring(hub, THURSDAY_1PM)
    for person in (amira, ben):
        enrol(hub.store, now, spring_series, person)
    await hub.run_until(at("2025-06-03T09:00:00Z"))

    leave(hub, spring_series, amira)
    await hub.run_until(THURSDAY_1PM + timedelta(hours=2))

    assert hub.delivered("console:amira") == []
    assert [key for key, _ in hub.delivered("console:ben")] == [
        reminder(thursday, ben, "day"), reminder(thursday, ben, "hour")]
    assert {hub.status(reminder(thursday, amira, kind)) for kind in ("day", "hour")} == {row_status}


# --- quiet hours for what is planned late ----------------------------------------------------

def _in_quiet_hours(moments: Sequence[datetime]) -> list[str]:
    return [f"{m:%a %H:%M}Z" for m in moments if in_quiet_hours(m, LONDON, ReminderPrefs())]


async def test_a_place_offered_late_in_the_evening_reaches_the_reader_after_the_quiet_hours(hub):
    hub.clock.set(at("2025-06-04T21:30:00Z"))  # Wednesday 22:30 in London
    now = hub.clock.now()
    amira, ben = member(hub.store, now, "amira"), member(hub.store, now, "ben")
    spring_series, _ = spring(hub, THURSDAY_1PM, capacity=1)
    for user in ("amira", "ben"):
        ChatHarness(hub.store, hub.clock, user=user).send(UserChose(f"act:join:{spring_series.id}"))
    _cancel_in_chat(hub, spring_series, amira)  # Ben moves up from the waiting list
    with hub.store.transaction() as uow:
        assert uow.enrolments.status(spring_series.id, ben) == "registered"

    await hub.run_until(THURSDAY_1PM)

    ben_got = hub.delivered("console:ben")
    assert [key.split(":")[0] for key, _ in ben_got] == ["place_offered", "reminder", "reminder"]
    assert _in_quiet_hours([moment for _, moment in ben_got]) == []
