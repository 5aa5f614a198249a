""""Tell me when registration opens": a list per series, and one message per subscriber.

The message is planned when the series opens, in the transaction that opens it, with a
dedupe key per series and person, and the subscriber is marked as told in that same
transaction: a restart, a second replica or opening the series twice adds nothing.

A seat freed in a full series needs no list of its own: joining a full series puts one on
its waiting list, and `promote_waiting` (reminders.py) gives a freed seat to the first
waiting and tells them ("place_offered").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from assistant.i18n import Translator
from assistant.messages import Card, Fact, Option, Part, Reply, Text
from assistant.model import Series
from assistant.ports import Contact, UnitOfWork
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import describe_time, notify_person

OPENING = "opening"  # the alert kind stored in series_alert
OPENED = "series_opened"  # the outbox recipe
DATES_SHOWN = 3


def notify_when_open(ctx: ServiceContext, series_id: int) -> list[Part] | Refused:
    """The "Tell me when registration opens" button on an opening-soon series."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    series = ctx.uow.schedule.series(series_id)
    if series is None or not _member(ctx.uow, person.id, series.network):
        return _refuse(ctx, f"series:{series_id}")
    if series.state == "closed":
        return Refused("sessions.series_closed", {"series": series.title})
    if series.state != "opening_soon":
        return [Text(ctx.t("alerts.already_open", series=series.title)),
                Card(series.title, (), (Option(ctx.t(f"sessions.action.join.{series.state}"),
                                               f"act:join:{series.id}"),))]
    if not ctx.uow.series_alerts.subscribe(series.id, person.id, OPENING, ctx.now):
        return [Text(ctx.t("alerts.already_listed", series=series.title)), _stop_card(ctx, series)]
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "alert.subscribed", f"series:{series.id}")
    return [Text(ctx.t("alerts.listed", series=series.title)), _stop_card(ctx, series)]


def stop_notifying(ctx: ServiceContext, series_id: int) -> list[Part] | Refused:
    """"Don't tell me": off the list, while the series has not opened yet."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    series = ctx.uow.schedule.series(series_id)
    if series is None or not _member(ctx.uow, person.id, series.network):
        return _refuse(ctx, f"series:{series_id}")
    if not ctx.uow.series_alerts.unsubscribe(series.id, person.id, OPENING):
        return [Text(ctx.t("alerts.not_listed", series=series.title))]
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "alert.unsubscribed", f"series:{series.id}")
    return [Text(ctx.t("alerts.unlisted", series=series.title))]


def opening_soon_parts(ctx: ServiceContext, series: Series) -> list[Part]:
    """What someone asking for a place in a series that has not opened yet is told."""
    return [Text(ctx.t("sessions.series_opening_soon", series=series.title)),
            Card(series.title, *opening_card_extras(ctx, series))]


def opening_card_extras(ctx: ServiceContext, series: Series
                        ) -> tuple[tuple[Fact, ...], tuple[Option, ...]]:
    """The fact and button an opening-soon series shows in a listing: on the list or not."""
    person = ctx.person
    if person is not None and ctx.uow.series_alerts.subscribed(series.id, person.id, OPENING):
        return ((Fact(ctx.t("alerts.label"), ctx.t("alerts.on_the_list")),),
                (Option(ctx.t("alerts.action.stop"), f"act:notify_open_off:{series.id}"),))
    return (), (Option(ctx.t("alerts.action.notify"), f"act:notify_open:{series.id}"),)


def announce_opening(uow: UnitOfWork, series: Series, now: datetime) -> int:
    """Plan one "registration is open" message per waiting subscriber and mark them told,
    in the caller's transaction. Returns how many messages were planned."""
    waiting = uow.series_alerts.waiting(series.id, OPENING)
    planned = sum(notify_person(uow, person_id, OPENED, str(series.id), now,
                                {"series": series.id})
                  for person_id in waiting)
    # Everyone waiting is told now, or never (deleted since): nobody stays on the list.
    uow.series_alerts.mark_notified(series.id, waiting, OPENING, now)
    if waiting:
        uow.audit.record(now, "spoke", "alert.announced", f"series:{series.id}",
                         {"subscribers": len(waiting), "planned": planned})
    return planned


def write_series_opened(uow: UnitOfWork, recipe: Mapping[str, Any], contact: Contact,
                        t: Translator, now: datetime) -> Reply | str:
    """The message, written as it goes: the series as it is then, in the reader's language
    and zone; dropped if it closed again, the reader already has a place, or left."""
    series = uow.schedule.series(int(recipe["series"]))
    if series is None or series.state not in ("open", "full"):
        return "withdrawn"
    if uow.enrolments.status(series.id, contact.person_id) is not None:
        return "withdrawn"  # found their own way in meanwhile
    if not _member(uow, contact.person_id, series.network):
        return "withdrawn"
    names = {n.slug: n.name for n in uow.networks.all()}
    facts = [Fact(t("sessions.network"), names.get(series.network, series.network))]
    coming = uow.schedule.upcoming([series.id], now, DATES_SHOWN)
    facts += [Fact(t("sessions.next") if n == 0 else t("alerts.then"),
                   describe_time(s, contact.time_zone, t)) for n, s in enumerate(coming)]
    if series.description:
        facts.append(Fact(t("sessions.about"), series.description))
    return Reply((Text(t(f"alerts.opened.{series.state}", series=series.title)),
                  Card(series.title, tuple(facts),
                       (Option(t(f"sessions.action.join.{series.state}"),
                               f"act:join:{series.id}"),))))


def _stop_card(ctx: ServiceContext, series: Series) -> Card:
    return Card(series.title, (), (Option(ctx.t("alerts.action.stop"),
                                          f"act:notify_open_off:{series.id}"),))


def _member(uow: UnitOfWork, person_id: int, network: str) -> bool:
    return any(m.network == network and m.status == "active" for m in uow.memberships.of(person_id))


def _refuse(ctx: ServiceContext, subject: str) -> Refused:
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", subject,
                         {"reason": "sessions.not_yours"})
    return Refused("sessions.not_yours")
