"""`spoke admin series|session ...` and the demo series, run through the command line's `main`
against a migrated database, with the clock held at Monday 4 January 2027, 09:00 UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.cli import main
from assistant.clock import FakeClock
from assistant.demo import seed
from assistant.i18n import translate
from assistant.model import Series, Session
from assistant.ports import Store
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from storage.tables import OutboxRow
from tests.command_line import Ran, Spoke, in_process
from tests.community import enrol, member, series, session
from tests.conftest import url_of

OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
LONDON, TORONTO = "Europe/London", "America/Toronto"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at="2027-01-04T09:00:00Z")  # a Monday; the clocks go forward 28 March


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def command_line(store: SqlStore, url: str, clock: FakeClock, tmp_path: Path,
                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Spoke:
    """`spoke ...` in this process, with two networks to schedule in."""
    run = in_process(url, clock, tmp_path, capsys, monkeypatch)
    with store.transaction() as uow:
        for slug in ("care-homes", "palliative-essentials"):
            uow.networks.add(slug, slug.title(), ["Registered nurse"], "open", "v1",
                             {"en": "We keep your details.", "fr": "Nous gardons vos données."},
                             clock.now())
    return run


@pytest.fixture
def spoke(store_on: SqlStore, clock: FakeClock, tmp_path: Path,
          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Spoke:
    """On SQLite and PostgreSQL."""
    return command_line(store_on, url_of(store_on), clock, tmp_path, capsys, monkeypatch)


@pytest.fixture
def sqlite_spoke(tmp_path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Spoke, SqlStore]]:
    """On SQLite alone, for the many ways to be refused."""
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    upgrade(url)
    store = SqlStore(make_engine(url))
    yield command_line(store, url, clock, tmp_path, capsys, monkeypatch), store
    store.close()


def named(store: Store, name: str, network: str = "care-homes") -> Series | None:
    with store.transaction() as uow:
        return uow.schedule.series_named(network, name)


def sessions(store: Store, name: str, network: str = "care-homes") -> list[Session]:
    with store.transaction() as uow:
        found = uow.schedule.series_named(network, name)
        return uow.schedule.sessions_of(found.id) if found else []


def times(store: Store, name: str, network: str = "care-homes") -> list[tuple[datetime, datetime]]:
    return [(s.starts_at, s.ends_at) for s in sessions(store, name, network)]


def refused(ran: Ran, message: str) -> None:
    assert (ran.code, ran.out, ran.err) == (1, "", f"error: {message}\n")


# --- series add ----------------------------------------------------------------------------

def test_a_weekly_series_keeps_its_london_time_across_the_clock_change(spoke: Spoke,
                                                                       store_on: SqlStore) -> None:
    ran = spoke("admin", "series", "add", "--network", "care-homes", "--name", "pain-2027",
                "--title", "Pain ECHO", "--description", "Cases and teaching",
                "--recurrence", "weekly", "--time", "12:30", "--tz", LONDON, "--duration", "90",
                "--join-url", "https://zoom.example.org/j/9", "--capacity", "25",
                "--state", "open", "--approval", "--first", "2027-03-18", "--count", "3")

    made = named(store_on, "pain-2027")
    assert made is not None
    assert made == Series(id=made.id, network="care-homes", name="pain-2027", title="Pain ECHO",
                          description="Cases and teaching", recurrence="weekly",
                          default_time="12:30", time_zone=LONDON, duration_minutes=90,
                          join_url="https://zoom.example.org/j/9", capacity=25, state="open",
                          requires_approval=True)
    # 12:30 London is 12:30 UTC in winter (GMT) and 11:30 UTC from 28 March (BST).
    assert times(store_on, "pain-2027") == [(utc(2027, 3, 18, 12, 30), utc(2027, 3, 18, 14, 0)),
                                            (utc(2027, 3, 25, 12, 30), utc(2027, 3, 25, 14, 0)),
                                            (utc(2027, 4, 1, 11, 30), utc(2027, 4, 1, 13, 0))]
    ids = [s.id for s in sessions(store_on, "pain-2027")]
    assert [(s.time_zone, s.state, s.uid) for s in sessions(store_on, "pain-2027")] == [
        (LONDON, "scheduled", f"session-{n}@spoke") for n in ids]
    assert ran == Ran(0, (
        f"series pain-2027 added to care-homes (id {made.id})\n"
        f"session {ids[0]}: 2027-03-18 12:30 Europe/London (2027-03-18 12:30 UTC)\n"
        f"session {ids[1]}: 2027-03-25 12:30 Europe/London (2027-03-25 12:30 UTC)\n"
        f"session {ids[2]}: 2027-04-01 12:30 Europe/London (2027-04-01 11:30 UTC)\n"), "")


def test_a_series_alone_has_no_sessions_and_the_defaults(spoke: Spoke, store_on: SqlStore) -> None:
    ran = spoke("admin", "series", "add", "--network", "palliative-essentials",
                "--name", "essentials", "--title", "Essentials")
    made = named(store_on, "essentials", "palliative-essentials")
    assert made is not None
    assert ran == Ran(0, f"series essentials added to palliative-essentials (id {made.id})\n", "")
    assert (made.recurrence, made.default_time, made.time_zone, made.duration_minutes,
            made.capacity, made.state, made.requires_approval) == (
        "none", "12:00", "UTC", 60, None, "open", False)
    assert sessions(store_on, "essentials", "palliative-essentials") == []


def test_monthly_sessions_skip_months_without_that_day(sqlite_spoke: tuple[Spoke, SqlStore]) -> None:
    spoke, store = sqlite_spoke
    ran = spoke("admin", "series", "add", "--network", "care-homes", "--name", "monthly",
                "--title", "Monthly", "--recurrence", "monthly", "--time", "12:00",
                "--tz", "europe/london", "--first", "2027-01-31", "--count", "3")
    assert ran.code == 0
    assert [s.time_zone for s in sessions(store, "monthly")] == [LONDON] * 3  # as tzdata spells it
    assert [start for start, _ in times(store, "monthly")] == [
        utc(2027, 1, 31, 12), utc(2027, 3, 31, 11), utc(2027, 5, 31, 11)]


def test_fortnightly_sessions_in_toronto(sqlite_spoke: tuple[Spoke, SqlStore]) -> None:
    spoke, store = sqlite_spoke
    ran = spoke("admin", "series", "add", "--network", "care-homes", "--name", "toronto",
                "--title", "Toronto", "--recurrence", "fortnightly", "--time", "12:00",
                "--tz", TORONTO, "--duration", "45", "--first", "2027-03-03", "--count", "2")
    assert ran.code == 0  # Toronto's clocks go forward on 14 March
    assert times(store, "toronto") == [(utc(2027, 3, 3, 17), utc(2027, 3, 3, 17, 45)),
                                       (utc(2027, 3, 17, 16), utc(2027, 3, 17, 16, 45))]


SERIES = ("admin", "series", "add", "--network", "care-homes", "--name", "pain", "--title", "Pain")


@pytest.mark.parametrize(("extra", "message"), [
    (("--first", "2027-01-01", "--time", "12:00"), translate("schedule.in_the_past", "en")),
    # The second session falls in the hour the clocks skip: the first is not kept either.
    (("--recurrence", "weekly", "--first", "2027-03-21", "--count", "2", "--time", "01:30",
      "--tz", LONDON),
     translate("import.nonexistent_time", "en", value="2027-03-28 01:30", zone=LONDON)),
    (("--recurrence", "weekly", "--first", "2027-10-24", "--count", "2", "--time", "01:30",
      "--tz", LONDON),
     translate("import.ambiguous_time", "en", value="2027-10-31 01:30", zone=LONDON)),
    (("--tz", "Europe/Londres"), translate("schedule.bad_zone", "en", zone="Europe/Londres")),
    (("--recurrence", "daily"),
     translate("schedule.bad_recurrence", "en", choices="none, weekly, fortnightly, monthly")),
    (("--state", "paused"),
     translate("schedule.bad_state", "en", choices="opening_soon, open, full, closed")),
    (("--join-url", "http://zoom.example.org/j/1"), translate("schedule.bad_url", "en")),
    (("--duration", "5"), translate("schedule.bad_duration", "en", low=10, high=480)),
    (("--duration", "1h"), "--duration takes a whole number, not '1h'"),
    (("--capacity", "0"), translate("schedule.bad_capacity", "en")),
    (("--first", "2027-02-01", "--count", "53", "--recurrence", "weekly", "--time", "12:00"),
     "--count must be from 1 to 52"),
    (("--count", "2"), "--count needs --first, the date of the first session"),
    (("--first", "2027-02-01"), "--first needs --time HH:MM, the sessions' start"),
    (("--first", "2027-02-01", "--count", "2", "--time", "12:00"),
     "a series without --recurrence has one session: use --count 1"),
    (("--first", "2027-02-30", "--time", "12:00"),
     "--first takes a date written YYYY-MM-DD, not '2027-02-30'"),
    (("--time", "24:00"), "--time takes a time written HH:MM, not '24:00'"),
    (("--description", "x" * 2001), "--description is too long (at most 2000 characters)"),
])
def test_a_refused_series_leaves_nothing_behind(sqlite_spoke: tuple[Spoke, SqlStore],
                                                extra: tuple[str, ...], message: str) -> None:
    spoke, store = sqlite_spoke
    refused(spoke(*SERIES, *extra), message)
    assert named(store, "pain") is None


def test_a_series_name_is_taken_once_per_network_and_the_network_must_exist(spoke: Spoke) -> None:
    assert spoke(*SERIES).code == 0
    refused(spoke(*SERIES), translate("schedule.series_exists", "en", name="pain"))
    refused(spoke("admin", "series", "add", "--network", "nowhere", "--name", "x", "--title", "X"),
            translate("schedule.unknown_network", "en", network="nowhere"))
    # PostgreSQL would refuse the over-long value with a traceback: it is refused first.
    refused(spoke("admin", "series", "add", "--network", "care-homes", "--name", "y",
                  "--title", "T" * 161), "--title is too long (at most 160 characters)")


# --- session add ---------------------------------------------------------------------------

def test_a_session_at_noon_in_toronto_is_stored_in_utc(spoke: Spoke, store_on: SqlStore,
                                                       clock: FakeClock) -> None:
    series(store_on, clock.now(), name="winter", zone=TORONTO)
    ran = spoke("admin", "session", "add", "--network", "care-homes", "--series", "winter",
                "--starts", "2027-01-14 12:00", "--tz", TORONTO, "--duration", "75",
                "--join-url", "https://zoom.example.org/j/77", "--topic", "Delirium",
                "--expert", "Dr Tremblay", "--agenda", "Case, then teaching",
                "--materials", "https://example.org/a.pdf", "https://example.org/b.pdf")
    summer = spoke("admin", "session", "add", "--network", "care-homes", "--series", "WINTER",
                   "--starts", "2027-07-08 12:00", "--tz", TORONTO, "--duration", "60")

    [first, second] = sessions(store_on, "winter")
    assert first == Session(
        id=first.id, series_id=first.series_id, starts_at=utc(2027, 1, 14, 17),  # EST, UTC-5
        ends_at=utc(2027, 1, 14, 18, 15), time_zone=TORONTO, topic="Delirium",
        expert="Dr Tremblay", agenda="Case, then teaching",
        materials=("https://example.org/a.pdf", "https://example.org/b.pdf"),
        join_url="https://zoom.example.org/j/77", state="scheduled", sequence=0,
        uid=f"session-{first.id}@spoke")
    assert (second.starts_at, second.ends_at) == (utc(2027, 7, 8, 16), utc(2027, 7, 8, 17))  # EDT
    assert ran == Ran(0, f"session {first.id} added to winter: "
                         "2027-01-14 12:00 America/Toronto (2027-01-14 17:00 UTC)\n", "")
    assert summer == Ran(0, f"session {second.id} added to winter: "
                            "2027-07-08 12:00 America/Toronto (2027-07-08 16:00 UTC)\n", "")


SESSION = {"--network": "care-homes", "--series": "spring", "--starts": "2027-02-04 12:30",
           "--tz": LONDON, "--duration": "60"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"--starts": "2027-01-03 12:30"}, translate("schedule.in_the_past", "en")),
    ({"--starts": "2027-01-04 09:00", "--tz": "UTC"}, translate("schedule.in_the_past", "en")),
    ({"--starts": "2027-03-28 01:30"},
     translate("import.nonexistent_time", "en", value="2027-03-28 01:30", zone=LONDON)),
    ({"--starts": "2027-10-31 01:30"},
     translate("import.ambiguous_time", "en", value="2027-10-31 01:30", zone=LONDON)),
    ({"--tz": "Europe/Londres"}, translate("schedule.bad_zone", "en", zone="Europe/Londres")),
    ({"--tz": "BST"}, translate("schedule.bad_zone", "en", zone="BST")),
    ({"--series": "autumn"}, 'there is no series "autumn" in care-homes'),
    ({"--network": "nowhere"}, translate("schedule.unknown_network", "en", network="nowhere")),
    ({"--join-url": "http://zoom.example.org/j/1"}, translate("schedule.bad_url", "en")),
    ({"--materials": "ftp://example.org/a.pdf"},
     f"{translate('schedule.bad_url', 'en')} (ftp://example.org/a.pdf)"),
    ({"--duration": "9"}, translate("schedule.bad_duration", "en", low=10, high=480)),
    ({"--duration": "481"}, translate("schedule.bad_duration", "en", low=10, high=480)),
    ({"--duration": "-30"}, "--duration takes a whole number, not '-30'"),
    ({"--starts": "04/02/2027 12:30"}, "--starts takes \"YYYY-MM-DD HH:MM\", not '04/02/2027 12:30'"),
    ({"--starts": "next thursday"}, "--starts takes \"YYYY-MM-DD HH:MM\", not 'next thursday'"),
    ({"--starts": "2027-02-30 12:30"}, "--starts takes a date written YYYY-MM-DD, not '2027-02-30'"),
    ({"--starts": "2027-02-04 12:60"}, "--starts takes a time written HH:MM, not '12:60'"),
    ({"--topic": "t" * 201}, "--topic is too long (at most 200 characters)"),
])
def test_a_refused_session_is_not_stored(sqlite_spoke: tuple[Spoke, SqlStore], clock: FakeClock,
                                         changes: dict[str, str], message: str) -> None:
    spoke, store = sqlite_spoke
    series(store, clock.now(), name="spring")
    argv = [part for option, value in {**SESSION, **changes}.items() for part in (option, value)]
    refused(spoke("admin", "session", "add", *argv), message)
    assert sessions(store, "spring") == []


# --- import --------------------------------------------------------------------------------

CSV = ("series,date,start,duration,topic\n"
       "spring,2027-02-04,12:30,60,Recognising dying\n"
       "winter,2027-02-10,12:00,45,Delirium\n"
       "spring,2027-02-30,12:30,60,A day that never was\n"
       "autumn,2027-02-11,12:30,60,No such series\n"
       "spring,2027-01-02,12:30,60,Already over\n"
       "spring,2027-03-28,01:30,60,In the hour London skips\n")


def csv_problems(path: Path) -> str:
    skipped = translate("import.nonexistent_time", "en", value="2027-03-28 01:30", zone=LONDON)
    return (f'{path}:4: {translate("import.bad_date", "en", value="2027-02-30")}\n'
            f'{path}:5: there is no series "autumn" in care-homes\n'
            f'{path}:6: {translate("schedule.in_the_past", "en")}\n'
            f'{path}:7: {skipped}\n')


@pytest.fixture
def two_series(spoke: Spoke, store_on: SqlStore, clock: FakeClock) -> None:
    series(store_on, clock.now(), name="spring", zone=LONDON)
    series(store_on, clock.now(), name="winter", zone=TORONTO)


@pytest.mark.usefixtures("two_series")
def test_a_csv_with_bad_rows_imports_nothing_and_names_their_lines(
        spoke: Spoke, store_on: SqlStore, tmp_path: Path) -> None:
    path = tmp_path / "term.csv"
    path.write_text(CSV, encoding="utf-8")

    ran = spoke("admin", "session", "import", str(path), "--network", "care-homes")

    assert ran == Ran(1, "", csv_problems(path) + f"error: 4 problem(s) in {path}: nothing "
                                                  "imported (--skip-bad imports the good rows)\n")
    assert times(store_on, "spring") == times(store_on, "winter") == []


@pytest.mark.usefixtures("two_series")
def test_skip_bad_imports_the_good_rows_each_in_its_series_zone(
        spoke: Spoke, store_on: SqlStore, tmp_path: Path) -> None:
    path = tmp_path / "term.csv"
    path.write_text(CSV, encoding="utf-8")

    ran = spoke("admin", "session", "import", str(path), "--network", "care-homes", "--skip-bad")

    assert ran == Ran(0, "2 session(s) imported, 4 refused\n", csv_problems(path))
    assert times(store_on, "spring") == [(utc(2027, 2, 4, 12, 30), utc(2027, 2, 4, 13, 30))]
    assert times(store_on, "winter") == [(utc(2027, 2, 10, 17), utc(2027, 2, 10, 17, 45))]
    assert [(s.topic, s.time_zone) for s in sessions(store_on, "winter")] == [("Delirium", TORONTO)]


@pytest.mark.usefixtures("two_series")
def test_tz_overrides_the_series_zone_and_skip_bad_with_nothing_good_fails(
        spoke: Spoke, store_on: SqlStore, tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("series,date,start\nwinter,2027-02-10,12:00\n", encoding="utf-8")
    assert spoke("admin", "session", "import", str(path), "--network", "care-homes",
                 "--tz", LONDON) == Ran(0, "1 session(s) imported\n", "")
    assert times(store_on, "winter") == [(utc(2027, 2, 10, 12), utc(2027, 2, 10, 13))]

    path.write_text("series,date,start\nwinter,2027-01-01,12:00\n", encoding="utf-8")
    ran = spoke("admin", "session", "import", str(path), "--network", "care-homes", "--skip-bad")
    assert ran == Ran(1, "", f"{path}:2: {translate('schedule.in_the_past', 'en')}\n"
                             f"error: 1 problem(s) in {path}: nothing imported\n")


def ics(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{event}\r\nEND:VEVENT\r\n" for event in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n{body}END:VCALENDAR\r\n"


CALENDAR = ics(
    "UID:a@example.org\r\nDTSTAMP:20270101T000000Z\r\nSUMMARY:Recognising dying\r\n"
    "DTSTART;TZID=Europe/London:20270204T123000\r\nDTEND;TZID=Europe/London:20270204T133000\r\n"
    "URL:https://zoom.example.org/j/5",
    # floating, no end: the series' zone and length
    "UID:b@example.org\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270408T123000",
    "UID:c@example.org\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270415T113000Z\r\nDURATION:PT45M")


def test_an_ics_file_imports_once_however_often_it_is_imported(
        spoke: Spoke, store_on: SqlStore, tmp_path: Path) -> None:
    assert spoke("admin", "series", "add", "--network", "care-homes", "--name", "spring",
                 "--title", "Spring", "--tz", LONDON, "--duration", "90").code == 0
    path = tmp_path / "spring.ics"
    path.write_text(CALENDAR, encoding="utf-8")
    command = ("admin", "session", "import", str(path), "--network", "care-homes",
               "--series", "spring")

    assert spoke(*command) == Ran(0, "3 session(s) imported\n", "")
    again = spoke(*command)

    assert again == Ran(0, f"{path}: event 1: already imported (UID a@example.org)\n"
                           f"{path}: event 2: already imported (UID b@example.org)\n"
                           f"{path}: event 3: already imported (UID c@example.org)\n"
                           "0 session(s) imported, 3 already there\n", "")
    assert [(s.uid, s.starts_at, s.ends_at, s.topic, s.join_url)
            for s in sessions(store_on, "spring")] == [
        ("a@example.org", utc(2027, 2, 4, 12, 30), utc(2027, 2, 4, 13, 30), "Recognising dying",
         "https://zoom.example.org/j/5"),
        ("b@example.org", utc(2027, 4, 8, 11, 30), utc(2027, 4, 8, 13), "", ""),  # BST
        ("c@example.org", utc(2027, 4, 15, 11, 30), utc(2027, 4, 15, 12, 15), "", "")]


def test_ics_needs_a_series_a_csv_does_not_take_one_and_events_are_counted(
        sqlite_spoke: tuple[Spoke, SqlStore], clock: FakeClock, tmp_path: Path) -> None:
    spoke, store = sqlite_spoke
    series(store, clock.now(), name="spring")
    calendar, table, empty = tmp_path / "a.ics", tmp_path / "a.csv", tmp_path / "empty.csv"
    calendar.write_text(ics(
        "UID:a@example.org\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270204T123000Z",
        "UID:d@example.org\r\nDTSTAMP:20270101T000000Z\r\nDTSTART;VALUE=DATE:20270205"),
        encoding="utf-8")
    table.write_text("series,date,start\nspring,2027-02-04,12:30\n", encoding="utf-8")
    empty.write_text("", encoding="utf-8")

    refused(spoke("admin", "session", "import", str(calendar), "--network", "care-homes"),
            "an .ics file's events need a series: say which with --series")
    refused(spoke("admin", "session", "import", str(table), "--network", "care-homes",
                  "--series", "spring"),
            "a CSV file names each row's series in its series column; --series is for .ics files")
    refused(spoke("admin", "session", "import", str(tmp_path / "gone.csv"), "--network",
                  "care-homes"), f"cannot read {tmp_path / 'gone.csv'}: No such file or directory")
    refused(spoke("admin", "session", "import", str(table), "--network", "nowhere"),
            translate("schedule.unknown_network", "en", network="nowhere"))
    refused(spoke("admin", "session", "import", str(table), "--network", "care-homes",
                  "--tz", "Mars/Olympus"), translate("schedule.bad_zone", "en", zone="Mars/Olympus"))
    assert spoke("admin", "session", "import", str(empty), "--network", "care-homes") == Ran(
        1, "", f"{empty}: {translate('import.empty', 'en')}\n"
               f"error: 1 problem(s) in {empty}: nothing imported (--skip-bad imports the good rows)\n")
    assert spoke("admin", "session", "import", str(calendar), "--network", "care-homes",
                 "--series", "spring") == Ran(
        1, "", f"{calendar}: event 2: {translate('import.all_day', 'en')}\n"
               f"error: 1 problem(s) in {calendar}: nothing imported (--skip-bad imports the good rows)\n")
    assert sessions(store, "spring") == []


# --- move, cancel, list ----------------------------------------------------------------------

def notices(store: SqlStore, session_id: int) -> list[tuple[str, str, int, dict[str, Any]]]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(OUTBOX.c.dedupe_key, OUTBOX.c.status, OUTBOX.c.person_id,
                                         OUTBOX.c.payload)
                                  .where(OUTBOX.c.subject == f"notice:{session_id}")
                                  .order_by(OUTBOX.c.id))
        return [(r.dedupe_key, r.status, r.person_id, r.payload["compose"]) for r in rows]


def test_moving_then_cancelling_tells_each_registered_person(spoke: Spoke, store_on: SqlStore,
                                                             clock: FakeClock) -> None:
    now = clock.now()
    spring = series(store_on, now, name="spring")
    meeting = session(store_on, now, spring, utc(2027, 2, 4, 12, 30))
    amira, bea, cal = (member(store_on, now, name) for name in ("amira", "bea", "cal"))
    enrol(store_on, now, spring, amira)
    enrol(store_on, now, spring, bea)
    enrol(store_on, now, spring, cal, status="waitlisted")  # not registered: not told

    moved = spoke("admin", "session", "move", str(meeting.id), "--starts", "2027-02-05 13:00",
                  "--tz", LONDON)

    assert moved == Ran(0, f"session {meeting.id} moved to 2027-02-05 13:00 Europe/London "
                           "(2027-02-05 13:00 UTC); everyone registered is being told\n", "")
    [now_stored] = sessions(store_on, "spring")
    assert (now_stored.starts_at, now_stored.ends_at, now_stored.sequence) == (
        utc(2027, 2, 5, 13), utc(2027, 2, 5, 14), 1)
    changed = {"what": "session_changed", "session": meeting.id, "sequence": 1,
               "old_starts_at": "2027-02-04T12:30:00+00:00"}
    assert notices(store_on, meeting.id) == [
        (f"session_changed:{meeting.id}:1:{amira}", "pending", amira, {**changed, "person": amira}),
        (f"session_changed:{meeting.id}:1:{bea}", "pending", bea, {**changed, "person": bea})]

    cancelled = spoke("admin", "session", "cancel", str(meeting.id))

    assert cancelled == Ran(0, f"session {meeting.id} cancelled; everyone registered is being "
                               "told\n", "")
    [after] = sessions(store_on, "spring")
    assert (after.state, after.sequence) == ("cancelled", 2)
    gone = {"what": "session_cancelled", "session": meeting.id, "sequence": 2}
    assert notices(store_on, meeting.id) == [  # the change notice is withdrawn, unsent
        (f"session_changed:{meeting.id}:1:{amira}", "withdrawn", amira, {**changed, "person": amira}),
        (f"session_changed:{meeting.id}:1:{bea}", "withdrawn", bea, {**changed, "person": bea}),
        (f"session_cancelled:{meeting.id}:2:{amira}", "pending", amira, {**gone, "person": amira}),
        (f"session_cancelled:{meeting.id}:2:{bea}", "pending", bea, {**gone, "person": bea})]

    refused(spoke("admin", "session", "cancel", str(meeting.id)),
            translate("schedule.not_scheduled", "en"))
    refused(spoke("admin", "session", "move", str(meeting.id), "--starts", "2027-02-06 13:00",
                  "--tz", LONDON), translate("schedule.not_scheduled", "en"))
    assert len(notices(store_on, meeting.id)) == 4


def test_move_and_cancel_refusals(sqlite_spoke: tuple[Spoke, SqlStore], clock: FakeClock) -> None:
    spoke, store = sqlite_spoke
    spring = series(store, clock.now(), name="spring")
    meeting = session(store, clock.now(), spring, utc(2027, 2, 4, 12, 30))

    refused(spoke("admin", "session", "cancel", "999"), "there is no session 999")
    refused(spoke("admin", "session", "cancel", "one"), "SESSION_ID takes a whole number, not 'one'")
    refused(spoke("admin", "session", "move", str(meeting.id), "--starts", "2027-01-01 12:00",
                  "--tz", LONDON), translate("schedule.in_the_past", "en"))
    refused(spoke("admin", "session", "move", str(meeting.id), "--starts", "2027-03-28 01:00",
                  "--tz", LONDON),
            translate("import.nonexistent_time", "en", value="2027-03-28 01:00", zone=LONDON))
    refused(spoke("admin", "session", "move", str(meeting.id), "--starts", "2027-02-05 13:00",
                  "--tz", "London"), translate("schedule.bad_zone", "en", zone="London"))
    assert [(s.starts_at, s.sequence) for s in sessions(store, "spring")] == [
        (utc(2027, 2, 4, 12, 30), 0)]


def test_the_list_shows_coming_sessions_in_the_series_zone(spoke: Spoke, store_on: SqlStore,
                                                           clock: FakeClock) -> None:
    now = clock.now()
    spring = series(store_on, now, name="spring", zone=LONDON)
    winter = series(store_on, now, name="winter", zone=TORONTO)
    elsewhere = series(store_on, now, name="other", network="palliative-essentials")
    later = session(store_on, now, spring, utc(2027, 4, 1, 11, 30))
    soon = session(store_on, now, winter, utc(2027, 1, 14, 17))
    called_off = session(store_on, now, spring, utc(2027, 2, 4, 12, 30))
    over = session(store_on, now, spring, utc(2027, 1, 5, 12))
    session(store_on, now, elsewhere, utc(2027, 1, 20, 12))
    for name in ("amira", "bea"):
        enrol(store_on, now, spring, member(store_on, now, name))
    clock.advance(days=2)  # the 5 January session is over
    assert spoke("admin", "session", "cancel", str(called_off.id)).code == 0

    ran = spoke("admin", "session", "list", "--network", "care-homes")

    assert over.id not in (later.id, soon.id, called_off.id)
    assert ran == Ran(0, (
        f"{soon.id}  winter  2027-01-14 12:00 America/Toronto  scheduled  0 registered\n"
        f"{called_off.id}  spring  2027-02-04 12:30 Europe/London  cancelled  2 registered\n"
        f"{later.id}  spring  2027-04-01 12:30 Europe/London  scheduled  2 registered\n"
        "3 coming session(s)\n"), "")
    refused(spoke("admin", "session", "list", "--network", "nowhere"),
            translate("schedule.unknown_network", "en", network="nowhere"))


# --- demo data -----------------------------------------------------------------------------

def test_the_demo_seed_adds_its_series_once(store_on: SqlStore, clock: FakeClock) -> None:
    first = seed(store_on, clock.now())
    clock.advance(days=3)  # a later run, on the Thursday: still nothing new
    again = seed(store_on, clock.now())

    assert first == ["care-homes", "palliative-essentials", "advance-care-planning", "covid-care",
                     "care-homes-2027", "essentials-2027"]
    assert again == []
    care = named(store_on, "care-homes-2027")
    full = named(store_on, "essentials-2027", "palliative-essentials")
    assert care is not None and full is not None
    assert (care.title, care.recurrence, care.default_time, care.time_zone, care.duration_minutes,
            care.join_url, care.capacity, care.state) == (
        "Care Homes ECHO: end of life care", "weekly", "12:30", LONDON, 60,
        "https://zoom.example.org/j/123", 30, "open")
    assert (full.capacity, full.state, full.time_zone) == (2, "full", TORONTO)
    # Monday 4 January 2027: the next Thursday is the 7th, the next Wednesday the 6th.
    assert [(s.starts_at, s.ends_at, s.topic) for s in sessions(store_on, "care-homes-2027")] == [
        (utc(2027, 1, 7, 12, 30), utc(2027, 1, 7, 13, 30), "Recognising dying"),
        (utc(2027, 1, 14, 12, 30), utc(2027, 1, 14, 13, 30), "Pain and breathlessness"),
        (utc(2027, 1, 21, 12, 30), utc(2027, 1, 21, 13, 30), "Talking with families"),
        (utc(2027, 1, 28, 12, 30), utc(2027, 1, 28, 13, 30), "Anticipatory medicines")]
    assert [s.starts_at for s in sessions(store_on, "essentials-2027", "palliative-essentials")] == [
        utc(2027, 1, 6, 17), utc(2027, 1, 13, 17)]  # noon in Toronto (EST)
    assert all(s.expert for s in sessions(store_on, "care-homes-2027"))
    with store_on.transaction() as uow:
        counts = {n.slug: len(uow.schedule.series_of([n.slug])) for n in uow.networks.all()}
    assert counts == {"care-homes": 1, "palliative-essentials": 1, "advance-care-planning": 0,
                      "covid-care": 0}


def test_the_demo_seed_from_a_thursday_starts_a_week_on(suite_store: SqlStore) -> None:
    seed(suite_store, datetime(2027, 1, 7, 9, tzinfo=UTC))
    assert sessions(suite_store, "care-homes-2027")[0].starts_at == utc(2027, 1, 14, 12, 30)


def test_spoke_demo_seed_twice(tmp_path: Path, clock: FakeClock,
                               capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setattr("assistant.logs.configure", lambda level: None)
    assert main(["db", "upgrade"], clock=clock) == 0
    assert main(["demo", "seed"], clock=clock) == 0
    assert main(["demo", "seed"], clock=clock) == 0
    assert capsys.readouterr().out == (
        "demo data added: care-homes, palliative-essentials, advance-care-planning, covid-care, "
        "care-homes-2027, essentials-2027\n"
        "demo data already there\n")
    assert main(["admin", "session", "list", "--network", "palliative-essentials"],
                clock=clock) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ", 1)[1] for line in lines[:-1]] == [
        "essentials-2027  2027-01-06 12:00 America/Toronto  scheduled  0 registered",
        "essentials-2027  2027-01-13 12:00 America/Toronto  scheduled  0 registered"]
    assert lines[-1] == "2 coming session(s)"
