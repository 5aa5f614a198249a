"""When reminders go: the reader's zone across clock changes, work days, quiet hours, and
the 1-hour and starting-now messages that only someone going may get at night or at weekends.

Expected times are worked out by hand from the published clock changes of 2026: London goes
to BST on Sunday 29 March and back on Sunday 25 October (at 01:00 UTC); Toronto goes to EDT
on Sunday 8 March and back on Sunday 1 November (at 02:00 local).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from assistant.model import ReminderPrefs
from assistant.reminder_times import Moment, in_quiet_hours, reminder_moments

LONDON, TORONTO, KOLKATA = "Europe/London", "America/Toronto", "Asia/Kolkata"
ALL_KINDS = ReminderPrefs(kinds=("week", "day", "hour", "now"))
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def due_times(moments: list[Moment]) -> dict[str, datetime]:
    return {moment.kind: moment.due_at for moment in moments}


def moments_for(starts_at: datetime, zone: str = LONDON, prefs: ReminderPrefs = ALL_KINDS,
                going: bool = False, hours: int = 1) -> dict[str, datetime]:
    return due_times(reminder_moments(starts_at, starts_at + timedelta(hours=hours), zone, prefs,
                                      going))


# --- the day-before and week-before messages across clock changes --------------------------

@pytest.mark.parametrize(("zone", "starts_at", "day_before", "week_before"), [
    # London, spring: the Friday before is still GMT, the Monday after is BST.
    pytest.param(LONDON, utc(3, 30, 12), utc(3, 27, 10), utc(3, 23, 10), id="london-mon-after-spring"),
    pytest.param(LONDON, utc(3, 31, 12), utc(3, 30, 9), utc(3, 24, 10), id="london-tue-after-spring"),
    # London, autumn: the Friday before is BST, the Monday after is GMT.
    pytest.param(LONDON, utc(10, 26, 13), utc(10, 23, 9), utc(10, 19, 9), id="london-mon-after-autumn"),
    pytest.param(LONDON, utc(10, 27, 13), utc(10, 26, 10), utc(10, 20, 9), id="london-tue-after-autumn"),
    # Toronto: 10:00 is 15:00 UTC in EST and 14:00 UTC in EDT.
    pytest.param(TORONTO, utc(3, 9, 16), utc(3, 6, 15), utc(3, 2, 15), id="toronto-mon-after-spring"),
    pytest.param(TORONTO, utc(3, 10, 16), utc(3, 9, 14), utc(3, 3, 15), id="toronto-tue-after-spring"),
    pytest.param(TORONTO, utc(11, 2, 17), utc(10, 30, 14), utc(10, 26, 14), id="toronto-mon-after-autumn"),
    pytest.param(TORONTO, utc(11, 3, 17), utc(11, 2, 15), utc(10, 27, 14), id="toronto-tue-after-autumn"),
])
def test_day_and_week_before_go_at_ten_local_on_a_work_day(zone: str, starts_at: datetime,
                                                            day_before: datetime,
                                                            week_before: datetime) -> None:
    due = moments_for(starts_at, zone)
    assert due["day"] == day_before
    assert due["week"] == week_before


def test_all_four_kinds_with_their_expiry_sorted_by_due_time() -> None:
    starts_at, ends_at = utc(3, 30, 12), utc(3, 30, 13)  # Monday 13:00-14:00 BST
    kinds = ("now", "hour", "day", "week")  # the person's order does not matter
    moments = reminder_moments(starts_at, ends_at, LONDON, ReminderPrefs(kinds=kinds), going=True)
    assert moments == [
        Moment("week", utc(3, 23, 10), expires_at=utc(3, 29, 12)),
        Moment("day", utc(3, 27, 10), expires_at=utc(3, 30, 11)),
        Moment("hour", utc(3, 30, 11), expires_at=utc(3, 30, 12)),
        Moment("now", utc(3, 30, 11, 50), expires_at=utc(3, 30, 13)),
    ]
    assert all(m.due_at.tzinfo is UTC and m.expires_at.tzinfo is UTC for m in moments)


def test_default_kinds_are_the_day_and_hour_before() -> None:
    assert moments_for(utc(1, 13, 14), prefs=ReminderPrefs()) == {
        "day": utc(1, 12, 10), "hour": utc(1, 13, 13)}


def test_reminders_switched_off_give_nothing() -> None:
    assert reminder_moments(utc(1, 13, 14), utc(1, 13, 15), LONDON, ReminderPrefs(kinds=()),
                            going=True) == []


def test_a_monday_nine_oclock_session_still_gets_its_week_before() -> None:
    due = moments_for(utc(1, 12, 9), prefs=ReminderPrefs(kinds=("week",)))
    assert due == {"week": utc(1, 5, 10)}


# --- work days ------------------------------------------------------------------------------

@pytest.mark.parametrize(("work_days", "starts_at", "day_before", "week_before"), [
    # Monday, Wednesday and Friday only.
    pytest.param((0, 2, 4), utc(1, 14, 14), utc(1, 12, 10), utc(1, 7, 10), id="mwf-wednesday"),
    pytest.param((0, 2, 4), utc(1, 15, 14), utc(1, 14, 10), utc(1, 7, 10), id="mwf-thursday"),
    pytest.param((0, 2, 4), utc(1, 12, 14), utc(1, 9, 10), utc(1, 5, 10), id="mwf-monday"),
    # Tuesday to Saturday: a Tuesday session is announced on Saturday.
    pytest.param((1, 2, 3, 4, 5), utc(1, 13, 14), utc(1, 10, 10), utc(1, 6, 10), id="tue-sat-tuesday"),
    # No work days at all: simply the calendar day (and week) before.
    pytest.param((), utc(1, 12, 14), utc(1, 11, 10), utc(1, 5, 10), id="none-monday"),
    pytest.param((), utc(1, 18, 14), utc(1, 17, 10), utc(1, 11, 10), id="none-sunday"),
])
def test_custom_work_days(work_days: tuple[int, ...], starts_at: datetime, day_before: datetime,
                          week_before: datetime) -> None:
    prefs = ReminderPrefs(kinds=("week", "day"), work_days=work_days)
    assert moments_for(starts_at, prefs=prefs) == {"day": day_before, "week": week_before}


@pytest.mark.parametrize(("going", "expected"), [
    (False, {"day": utc(1, 16, 10)}),
    (True, {"day": utc(1, 16, 10), "hour": utc(1, 17, 10), "now": utc(1, 17, 10, 50)}),
])
def test_weekend_session_hour_and_now_only_for_someone_going(going: bool,
                                                             expected: dict[str, datetime]) -> None:
    prefs = ReminderPrefs(kinds=("day", "hour", "now"))
    assert moments_for(utc(1, 17, 11), prefs=prefs, going=going) == expected  # Saturday 11:00


@pytest.mark.parametrize(("starts_at", "expected"), [
    pytest.param(utc(1, 12, 11), {}, id="monday-off"),
    pytest.param(utc(1, 17, 11), {"hour": utc(1, 17, 10)}, id="saturday-on"),
])
def test_hour_before_for_someone_not_going_follows_custom_work_days(
        starts_at: datetime, expected: dict[str, datetime]) -> None:
    prefs = ReminderPrefs(kinds=("hour",), work_days=(1, 2, 3, 4, 5))
    assert moments_for(starts_at, prefs=prefs) == expected


def test_no_work_days_hold_back_nothing_on_sunday() -> None:
    prefs = ReminderPrefs(kinds=("hour",), work_days=())
    assert moments_for(utc(1, 18, 11), prefs=prefs) == {"hour": utc(1, 18, 10)}


# --- quiet hours ----------------------------------------------------------------------------

@pytest.mark.parametrize(("quiet", "local", "expected"), [
    (("20:00", "08:00"), (19, 59), False),
    (("20:00", "08:00"), (20, 0), True),
    (("20:00", "08:00"), (23, 59), True),
    (("20:00", "08:00"), (0, 0), True),
    (("20:00", "08:00"), (7, 59), True),
    (("20:00", "08:00"), (8, 0), False),
    (("20:00", "08:00"), (12, 0), False),
    (("12:00", "14:00"), (11, 59), False),
    (("12:00", "14:00"), (12, 0), True),
    (("12:00", "14:00"), (13, 59), True),
    (("12:00", "14:00"), (14, 0), False),
    (("09:00", "09:00"), (9, 0), False),
    (("09:00", "09:00"), (3, 0), False),
])
def test_quiet_hours_start_inclusive_end_exclusive_and_may_wrap_midnight(
        quiet: tuple[str, str], local: tuple[int, int], expected: bool) -> None:
    prefs = ReminderPrefs(quiet_start=quiet[0], quiet_end=quiet[1])
    moment = datetime(2026, 1, 14, *local, tzinfo=UTC)  # London is on UTC in January
    assert in_quiet_hours(moment, LONDON, prefs) is expected


def test_quiet_hours_are_read_on_the_readers_own_clock() -> None:
    moment = utc(1, 14, 23, 30)  # 23:30 in London, 18:30 in Toronto, 05:00 next day in Kolkata
    assert in_quiet_hours(moment, LONDON, ReminderPrefs()) is True
    assert in_quiet_hours(moment, TORONTO, ReminderPrefs()) is False
    assert in_quiet_hours(moment, KOLKATA, ReminderPrefs()) is True
    assert in_quiet_hours(moment, LONDON, ReminderPrefs(quiet_start="00:00", quiet_end="00:00")) is False


@pytest.mark.parametrize("going", [False, True])
@pytest.mark.parametrize(("reminder_hour", "quiet", "expected"), [
    pytest.param("07:00", ("20:00", "08:00"), utc(1, 12, 8), id="early-morning-waits-for-eight"),
    pytest.param("21:00", ("20:00", "08:00"), utc(1, 12, 8), id="evening-moves-to-that-morning"),
    pytest.param("13:00", ("12:00", "14:00"), utc(1, 12, 14), id="lunchtime-window"),
    pytest.param("19:59", ("20:00", "08:00"), utc(1, 12, 19, 59), id="just-before-quiet"),
])
def test_day_before_in_quiet_hours_goes_when_the_window_opens_that_day(
        going: bool, reminder_hour: str, quiet: tuple[str, str], expected: datetime) -> None:
    prefs = ReminderPrefs(kinds=("day",), reminder_hour=reminder_hour,
                          quiet_start=quiet[0], quiet_end=quiet[1])
    assert moments_for(utc(1, 13, 14), prefs=prefs, going=going) == {"day": expected}


@pytest.mark.parametrize(("starts_at", "going", "expected"), [
    # 08:30 session: the hour-before falls at 07:30, inside 20:00-08:00.
    pytest.param(utc(1, 13, 8, 30), False, {"hour": utc(1, 13, 8)}, id="0830-not-going-waits"),
    pytest.param(utc(1, 13, 8, 30), True, {"hour": utc(1, 13, 7, 30)}, id="0830-going-on-time"),
    # 08:05: 08:00 would be only five minutes before, so it is not worth sending.
    pytest.param(utc(1, 13, 8, 5), False, {}, id="0805-not-going-dropped"),
    pytest.param(utc(1, 13, 8, 5), True, {"hour": utc(1, 13, 7, 5)}, id="0805-going-on-time"),
    # 08:10: exactly ten minutes is still enough.
    pytest.param(utc(1, 13, 8, 10), False, {"hour": utc(1, 13, 8)}, id="0810-not-going-just-in-time"),
    # 06:00 Tuesday: the window opens after the session has begun.
    pytest.param(utc(1, 13, 6), False, {}, id="0600-not-going-dropped"),
    # 21:30 Tuesday: tomorrow morning is too late, not a reason to send it then.
    pytest.param(utc(1, 13, 21, 30), False, {}, id="2130-not-going-dropped"),
])
def test_hour_before_in_quiet_hours(starts_at: datetime, going: bool,
                                    expected: dict[str, datetime]) -> None:
    prefs = ReminderPrefs(kinds=("hour",))
    assert moments_for(starts_at, prefs=prefs, going=going) == expected


@pytest.mark.parametrize(("starts_at", "going", "expected"), [
    pytest.param(utc(1, 13, 8, 5), False, {}, id="0755-not-going-dropped"),
    pytest.param(utc(1, 13, 8, 5), True, {"now": utc(1, 13, 7, 55)}, id="0755-going-on-time"),
    pytest.param(utc(1, 13, 8, 10), False, {"now": utc(1, 13, 8)}, id="0800-not-quiet"),
])
def test_starting_now_in_quiet_hours(starts_at: datetime, going: bool,
                                     expected: dict[str, datetime]) -> None:
    prefs = ReminderPrefs(kinds=("now",))
    assert moments_for(starts_at, prefs=prefs, going=going) == expected


def test_a_wrapped_window_with_a_late_end_moves_the_hour_before_to_the_next_morning() -> None:
    # Quiet 22:00-01:00; a 01:30 Wednesday session's hour-before at 00:30 waits until 01:00.
    prefs = ReminderPrefs(kinds=("hour",), quiet_start="22:00", quiet_end="01:00")
    assert moments_for(utc(1, 14, 1, 30), prefs=prefs) == {"hour": utc(1, 14, 1)}
    # At 23:30 Tuesday for a 00:30 session, the window opens too late.
    assert moments_for(utc(1, 14, 0, 30), prefs=prefs) == {}


# --- expiry ---------------------------------------------------------------------------------

def test_a_day_before_that_would_go_after_it_expires_is_dropped() -> None:
    # Reminder hour 23:00 for a midnight session: due when it expires (an hour before).
    prefs = ReminderPrefs(kinds=("day",), reminder_hour="23:00",
                          quiet_start="00:00", quiet_end="00:00")
    assert moments_for(utc(1, 14, 0), prefs=prefs) == {}
    kept = reminder_moments(utc(1, 14, 0, 30), utc(1, 14, 1, 30), LONDON, prefs, going=True)
    assert kept == [Moment("day", utc(1, 13, 23), expires_at=utc(1, 13, 23, 30))]


def test_starting_now_lasts_until_the_session_ends() -> None:
    moments = reminder_moments(utc(1, 13, 14), utc(1, 13, 15, 30), LONDON,
                               ReminderPrefs(kinds=("now",)), going=False)
    assert moments == [Moment("now", utc(1, 13, 13, 50), expires_at=utc(1, 13, 15, 30))]


# --- clock changes on the night itself ------------------------------------------------------

@pytest.mark.parametrize(("zone", "starts_at", "reminder_hour", "expected"), [
    # 01:30 does not exist in London on 29 March: read as GMT, it is 02:30 BST.
    pytest.param(LONDON, utc(3, 30, 12), "01:30", utc(3, 29, 1, 30), id="london-skipped"),
    # 02:30 does not exist in Toronto on 8 March: read as EST, it is 03:30 EDT.
    pytest.param(TORONTO, utc(3, 9, 16), "02:30", utc(3, 8, 7, 30), id="toronto-skipped"),
    # 01:30 happens twice in London on 25 October: the first, in BST.
    pytest.param(LONDON, utc(10, 26, 12), "01:30", utc(10, 25, 0, 30), id="london-repeated"),
    # 01:30 happens twice in Toronto on 1 November: the first, in EDT.
    pytest.param(TORONTO, utc(11, 2, 17), "01:30", utc(11, 1, 5, 30), id="toronto-repeated"),
])
def test_a_reminder_hour_the_clocks_skip_or_repeat_is_a_real_instant(
        zone: str, starts_at: datetime, reminder_hour: str, expected: datetime) -> None:
    prefs = ReminderPrefs(kinds=("day",), reminder_hour=reminder_hour, work_days=EVERY_DAY,
                          quiet_start="00:00", quiet_end="00:00")
    assert moments_for(starts_at, zone, prefs) == {"day": expected}


def test_a_quiet_end_the_clocks_skip_still_opens_the_window() -> None:
    # Quiet 23:00-01:30 in London; on 29 March 01:30 is skipped, so the window opens at 02:30 BST.
    prefs = ReminderPrefs(kinds=("day",), reminder_hour="00:30", quiet_start="23:00",
                          quiet_end="01:30", work_days=EVERY_DAY)
    assert moments_for(utc(3, 30, 12), prefs=prefs) == {"day": utc(3, 29, 1, 30)}


def test_the_hour_before_is_an_hour_of_real_time_across_the_change() -> None:
    # 02:30 BST on 29 March is 01:30 UTC; an hour earlier is 00:30 GMT on the wall clock.
    prefs = ReminderPrefs(kinds=("hour",), work_days=EVERY_DAY)
    assert moments_for(utc(3, 29, 1, 30), prefs=prefs, going=True) == {"hour": utc(3, 29, 0, 30)}


# --- other zones ----------------------------------------------------------------------------

def test_kolkata_half_hour_offset() -> None:
    # Monday 12 January 14:00 IST is 08:30 UTC; 10:00 IST is 04:30 UTC.
    due = moments_for(utc(1, 12, 8, 30), KOLKATA, going=True)
    assert due == {"week": utc(1, 5, 4, 30), "day": utc(1, 9, 4, 30),
                   "hour": utc(1, 12, 7, 30), "now": utc(1, 12, 8, 20)}


def test_kolkata_early_session_waits_for_eight_ist() -> None:
    # 08:30 IST is 03:00 UTC; the hour-before at 07:30 IST waits until 08:00 IST, 02:30 UTC.
    prefs = ReminderPrefs(kinds=("hour",))
    assert moments_for(utc(1, 12, 3), KOLKATA, prefs) == {"hour": utc(1, 12, 2, 30)}


def test_times_given_with_another_offset_come_back_in_utc() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    starts_at = datetime(2026, 1, 12, 14, 0, tzinfo=ist)
    moments = reminder_moments(starts_at, starts_at + timedelta(hours=1), KOLKATA,
                               ReminderPrefs(kinds=("hour",)), going=True)
    assert moments == [Moment("hour", utc(1, 12, 7, 30), expires_at=utc(1, 12, 8, 30))]
    assert moments[0].due_at.tzinfo is UTC


# --- refusals -------------------------------------------------------------------------------

def with_time(field: str, text: str) -> ReminderPrefs:
    changes: dict[str, Any] = {field: text}
    return replace(ReminderPrefs(), **changes)


NAIVE = datetime(2026, 1, 13, 14, 0)  # noqa: DTZ001  (the mistake under test)


@pytest.mark.parametrize(("starts_at", "ends_at", "zone", "prefs", "match"), [
    pytest.param(NAIVE, utc(1, 13, 15), LONDON, ReminderPrefs(), "starts_at", id="naive-start"),
    pytest.param(utc(1, 13, 14), NAIVE, LONDON, ReminderPrefs(), "ends_at", id="naive-end"),
    pytest.param(utc(1, 13, 14), utc(1, 13, 14), LONDON, ReminderPrefs(), "after", id="no-length"),
    pytest.param(utc(1, 13, 14), utc(1, 13, 13), LONDON, ReminderPrefs(), "after", id="ends-first"),
    pytest.param(utc(1, 13, 14), utc(1, 13, 15), LONDON, ReminderPrefs(kinds=("day", "month")),
                 "month", id="unknown-kind"),
    pytest.param(utc(1, 13, 14), utc(1, 13, 15), "Mars/Olympus", ReminderPrefs(), "Mars",
                 id="unknown-zone"),
    pytest.param(utc(1, 13, 14), utc(1, 13, 15), LONDON, ReminderPrefs(work_days=(0, 7)), "work days",
                 id="work-day-seven"),
    *(pytest.param(utc(1, 13, 14), utc(1, 13, 15), LONDON, with_time(field, text), "HH:MM",
                   id=f"{field}-{text}")
      for field in ("reminder_hour", "quiet_start", "quiet_end")
      for text in ("9:00", "24:00", "10:60", "10:00:00", "1000", "ten", "")),
])
def test_bad_input_is_refused(starts_at: datetime, ends_at: datetime, zone: str,
                              prefs: ReminderPrefs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        reminder_moments(starts_at, ends_at, zone, prefs, going=True)


def test_in_quiet_hours_refuses_a_naive_moment_and_a_bad_window() -> None:
    with pytest.raises(ValueError, match="moment"):
        in_quiet_hours(NAIVE, LONDON, ReminderPrefs())
    with pytest.raises(ValueError, match="HH:MM"):
        in_quiet_hours(utc(1, 13, 14), LONDON, ReminderPrefs(quiet_end="8am"))
