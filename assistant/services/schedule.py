"""The hub's side of the calendar: series and sessions, created and changed.

Used by the facilitators' chat dialogs and by `spoke admin`. A change of time or link and a
cancellation withdraw what was queued for the old version and tell everyone registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.model import CARE_SETTINGS, RECURRENCES, SERIES_STATES, Series, Session
from assistant.ports import UnitOfWork
from assistant.services.alerts import announce_opening
from assistant.services.context import Refused
from assistant.services.reminders import (
    notify_registered,
    plan_session,
    promote_waiting,
    subject_of,
)

MIN_DURATION, MAX_DURATION = 10, 480
OTHERS = ("note", "approval")  # what people outside a series' audience get


@dataclass(frozen=True)
class Actor:
    """Who is changing the schedule: `person_id` None for the command line (the operator)."""

    reference: str  # for the audit log: `slack:T1/U1`, `cli`
    person_id: int | None


def may_schedule(uow: UnitOfWork, actor: Actor, network: str) -> bool:
    """Facilitators and hub admins of that network; the command line operator always."""
    if actor.person_id is None:
        return True
    return any(m.network == network and m.role in ("facilitator", "hub_admin")
               and m.status == "active" for m in uow.memberships.of(actor.person_id))


def add_series(uow: UnitOfWork, actor: Actor, network: str, values: Mapping[str, Any],
               now: datetime) -> Series | Refused:
    if not any(n.slug == network for n in uow.networks.all()):
        return Refused("schedule.unknown_network", {"network": network})
    if not may_schedule(uow, actor, network):
        return _refused(uow, actor, now, f"network:{network}")
    problem = _check_series(values)
    if problem is not None:
        return problem
    audience = _check_audience(uow, network, values)
    if isinstance(audience, Refused):
        return audience
    if uow.schedule.series_named(network, str(values["name"])) is not None:
        return Refused("schedule.series_exists", {"name": values["name"]})
    series = uow.schedule.add_series(network, {**values, **audience}, now)
    uow.audit.record(now, actor.reference, "series.added", f"series:{series.id}")
    return series


def _check_series(values: Mapping[str, Any]) -> Refused | None:
    if not str(values.get("name", "")).strip() or not str(values.get("title", "")).strip():
        return Refused("schedule.name_needed")
    if values.get("recurrence", "none") not in RECURRENCES:
        return Refused("schedule.bad_recurrence", {"choices": ", ".join(RECURRENCES)})
    if values.get("state", "open") not in SERIES_STATES:
        return Refused("schedule.bad_state", {"choices": ", ".join(SERIES_STATES)})
    if not _known_zone(str(values.get("time_zone", "UTC"))):
        return Refused("schedule.bad_zone", {"zone": values.get("time_zone")})
    duration = int(values.get("duration_minutes", 60))
    if not MIN_DURATION <= duration <= MAX_DURATION:
        return Refused("schedule.bad_duration", {"low": MIN_DURATION, "high": MAX_DURATION})
    capacity = values.get("capacity")
    if capacity is not None and int(capacity) < 1:
        return Refused("schedule.bad_capacity")
    url = str(values.get("join_url", ""))
    if url and not url.startswith("https://"):
        return Refused("schedule.bad_url")
    return None


def _check_audience(uow: UnitOfWork, network: str, values: Mapping[str, Any]
                    ) -> dict[str, Any] | Refused:
    """Who a series is meant for, spelt as people's profiles spell it: professions from the
    network's own list, care settings as codes. Only the keys present are returned."""
    found: dict[str, Any] = {}
    if "audience_professions" in values:
        known = {p.casefold(): p for n in uow.networks.all() if n.slug == network
                 for p in n.professions}
        asked = [str(p).strip() for p in values["audience_professions"] or () if str(p).strip()]
        unknown = [p for p in asked if p.casefold() not in known]
        if unknown:
            return Refused("audience.unknown_profession", {"professions": ", ".join(unknown),
                                                           "choices": ", ".join(known.values())})
        found["audience_professions"] = list(dict.fromkeys(known[p.casefold()] for p in asked))
    if "audience_settings" in values:
        settings = [str(s).strip().lower() for s in values["audience_settings"] or ()
                    if str(s).strip()]
        if any(s not in CARE_SETTINGS for s in settings):
            return Refused("audience.unknown_setting", {"choices": ", ".join(CARE_SETTINGS)})
        found["audience_settings"] = list(dict.fromkeys(settings))
    if "others" in values:
        if values["others"] not in OTHERS:
            return Refused("audience.bad_others", {"choices": ", ".join(OTHERS)})
        found["others"] = values["others"]
    return found


def set_audience(uow: UnitOfWork, actor: Actor, series: Series, changes: Mapping[str, Any],
                 now: datetime) -> Series | Refused:
    """Change who a series is meant for (`audience_professions`, `audience_settings`,
    `others`). Places already given stay; what others get applies to new requests."""
    if not may_schedule(uow, actor, series.network):
        return _refused(uow, actor, now, f"series:{series.id}")
    audience = _check_audience(uow, series.network, changes)
    if isinstance(audience, Refused):
        return audience
    if not audience:
        return series
    updated = uow.schedule.update_series(series.id, audience)
    uow.audit.record(now, actor.reference, "series.audience", f"series:{series.id}",
                     {"professions": len(updated.audience_professions),
                      "settings": list(updated.audience_settings), "others": updated.others})
    return updated


def set_series_state(uow: UnitOfWork, actor: Actor, series: Series, state: str,
                     now: datetime) -> Series | Refused:
    """Open, close, mark full or "opening soon". Opening gives the room to whoever waits
    (in order), and tells each "tell me when it opens" subscriber, once."""
    if not may_schedule(uow, actor, series.network):
        return _refused(uow, actor, now, f"series:{series.id}")
    if state not in SERIES_STATES:
        return Refused("schedule.bad_state", {"choices": ", ".join(SERIES_STATES)})
    held = uow.schedule.hold_series(series.id) or series
    updated = held if held.state == state else uow.schedule.update_series(held.id, {"state": state})
    if held.state != state:
        uow.audit.record(now, actor.reference, "series.state", f"series:{series.id}",
                         {"from": held.state, "to": state})
    if state == "open":
        # A "full" series with no number promotes one person per call: opening frees them all.
        while promote_waiting(uow, updated, now) and updated.capacity is None:
            pass
        announce_opening(uow, updated, now)  # idempotent: the told are marked in this transaction
    return updated


def set_capacity(uow: UnitOfWork, actor: Actor, series: Series, capacity: int | None,
                 now: datetime) -> Series | Refused:
    """More places go to the waiting list first, in order; fewer than are taken is refused."""
    if not may_schedule(uow, actor, series.network):
        return _refused(uow, actor, now, f"series:{series.id}")
    uow.schedule.hold_series(series.id)
    taken = uow.enrolments.count(series.id, ("registered",))
    if capacity is not None and capacity < taken:
        return Refused("schedule.capacity_below_registered", {"taken": taken})
    updated = uow.schedule.update_series(series.id, {"capacity": capacity})
    uow.audit.record(now, actor.reference, "series.capacity", f"series:{series.id}",
                     {"capacity": capacity})
    promote_waiting(uow, updated, now)
    return updated


def add_session(uow: UnitOfWork, actor: Actor, series: Series, starts_at: datetime,
                duration_minutes: int, now: datetime, details: Mapping[str, Any] | None = None
                ) -> Session | Refused:
    """A new session of a series; nobody is told yet (it shows in `sessions`, and its
    reminders are planned when it comes within reach)."""
    if not may_schedule(uow, actor, series.network):
        return _refused(uow, actor, now, f"series:{series.id}")
    details = dict(details or {})
    problem = _check_time(starts_at, duration_minutes, now) or _check_lengths(details)
    if problem is None and details.get("join_url") and not str(details["join_url"]).startswith("https://"):
        problem = Refused("schedule.bad_url")
    if problem is not None:
        return problem
    session = uow.schedule.add_session(series.id, {
        "starts_at": starts_at, "ends_at": starts_at + timedelta(minutes=duration_minutes),
        "time_zone": str(details.pop("time_zone", None) or series.time_zone),
        "topic": str(details.pop("topic", "") or ""), "expert": str(details.pop("expert", "") or ""),
        "agenda": str(details.pop("agenda", "") or ""),
        "materials": list(details.pop("materials", ()) or ()),
        "join_url": str(details.pop("join_url", "") or ""),
        "uid": str(details.pop("uid", "") or ""),
    }, now)
    uow.audit.record(now, actor.reference, "session.added", f"session:{session.id}")
    return session


# The longest each stored text may be (the table's columns).
_MAX_LENGTHS = {"topic": 200, "expert": 200, "agenda": 4000, "join_url": 500, "uid": 200}


def _check_lengths(details: Mapping[str, Any]) -> Refused | None:
    for key, longest in _MAX_LENGTHS.items():
        if len(str(details.get(key) or "")) > longest:
            return Refused("parse.text.too_long", {"max": longest})
    materials = list(details.get("materials") or ())
    if any(not str(link).startswith("https://") or len(str(link)) > 500 for link in materials):
        return Refused("schedule.bad_url")
    return None


def _check_time(starts_at: datetime, duration_minutes: int, now: datetime) -> Refused | None:
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must be aware")
    if starts_at <= now:
        return Refused("schedule.in_the_past")
    if not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        return Refused("schedule.bad_duration", {"low": MIN_DURATION, "high": MAX_DURATION})
    return None


def reschedule(uow: UnitOfWork, actor: Actor, session: Session, starts_at: datetime,
               duration_minutes: int, now: datetime) -> Session | Refused:
    """Move a session: a new version, reminders for the old time withdrawn, everyone
    registered told the old and new time (with a new calendar entry, same UID)."""
    series = uow.schedule.series(session.series_id)
    if series is None or not may_schedule(uow, actor, series.network):
        return _refused(uow, actor, now, f"session:{session.id}")
    if session.state != "scheduled":
        return Refused("schedule.not_scheduled")
    problem = _check_time(starts_at, duration_minutes, now)
    if problem is not None:
        return problem
    old = session.starts_at
    moved = uow.schedule.update_session(session.id, {
        "starts_at": starts_at, "ends_at": starts_at + timedelta(minutes=duration_minutes)},
        now, new_version=True)
    uow.rsvps.clear_declined(session.id)  # a new time may suit them: the notice asks
    _withdraw_all(uow, moved)
    notify_registered(uow, moved, "session_changed", now, {"old_starts_at": old.isoformat()})
    uow.audit.record(now, actor.reference, "session.moved", f"session:{session.id}",
                     {"from": old.isoformat(), "to": starts_at.isoformat()})
    return moved


def change_link(uow: UnitOfWork, actor: Actor, session: Session, join_url: str,
                now: datetime) -> Session | Refused:
    series = uow.schedule.series(session.series_id)
    if series is None or not may_schedule(uow, actor, series.network):
        return _refused(uow, actor, now, f"session:{session.id}")
    if session.state != "scheduled":
        return Refused("schedule.not_scheduled")
    if not join_url.startswith("https://") or len(join_url) > 500:
        return Refused("schedule.bad_url")
    changed = uow.schedule.update_session(session.id, {"join_url": join_url}, now, new_version=True)
    _withdraw_all(uow, changed)
    notify_registered(uow, changed, "link_changed", now)
    uow.audit.record(now, actor.reference, "session.link_changed", f"session:{session.id}")
    return changed


def cancel_session(uow: UnitOfWork, actor: Actor, session: Session, now: datetime
                   ) -> Session | Refused:
    series = uow.schedule.series(session.series_id)
    if series is None or not may_schedule(uow, actor, series.network):
        return _refused(uow, actor, now, f"session:{session.id}")
    if session.state != "scheduled":
        return Refused("schedule.not_scheduled")
    cancelled = uow.schedule.update_session(session.id, {"state": "cancelled"}, now,
                                            new_version=True)
    _withdraw_all(uow, cancelled)
    notify_registered(uow, cancelled, "session_cancelled", now)
    uow.audit.record(now, actor.reference, "session.cancelled", f"session:{session.id}")
    return cancelled


def _withdraw_all(uow: UnitOfWork, session: Session) -> None:
    """Reminders and notices queued for the old version go; the planner plans the new one
    (at once when it is already within reach)."""
    uow.outbox.withdraw(subject_of(session))
    uow.outbox.withdraw(f"notice:{session.id}")


def plan_now_if_near(uow: UnitOfWork, session: Session, now: datetime) -> None:
    """Sessions soon enough to have reminders due get them planned in the same transaction."""
    from assistant.services.reminders import PLANNING_HORIZON

    if session.state == "scheduled" and session.starts_at <= now + PLANNING_HORIZON:
        plan_session(uow, session, now)
        uow.schedule.mark_planned(session.id, session.sequence)


def _known_zone(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _refused(uow: UnitOfWork, actor: Actor, now: datetime, subject: str) -> Refused:
    uow.audit.record(now, actor.reference, "action.refused", subject, {"reason": "not_team"})
    return Refused("schedule.not_allowed")
