"""Announcements in a network's Slack or Teams channel, and which channel that is.

A channel is shared and has no single reader: the post says only what anyone in it may read
(a title, dates in the hub's zone with the zone named, a short description) and never a name
or a joining link. Its buttons are the ordinary `act:join` and `act:calendar`; the adapters
answer a press in the presser's private chat, where their place and the calendar file belong.

The channel is learnt from a facilitator who mentions Spoke in it ("use this channel"): the
adapter puts where the mention came from under `ORIGIN` in the event's address, a key that
belongs to that delivery only (never kept as the person's own address).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assistant.i18n import Translator, normalise_language
from assistant.messages import Card, Fact, Option, Part, Reply, Text
from assistant.model import Series, Session
from assistant.ports import Planned, UnitOfWork
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import describe_time
from assistant.services.sessions import team_networks
from assistant.turns import StartDialog

ORIGIN = "_origin"  # address key: {"identity": ..., "address": ...} of the channel spoken in
RECIPE = "announcement"  # the outbox recipe, written by `write_announcement`
ANNOUNCEABLE = ("open", "opening_soon", "full")  # a closed series has nothing to offer
DATES_SHOWN = 6
TARGETS_SHOWN = 10
DESCRIPTION_SHOWN = 300


@dataclass(frozen=True)
class Channel:
    identity: str  # `slack:TEAM/CHANNEL`, `teams:<conversation id>`
    address: dict[str, Any]  # what the platform's notifier needs to post there


@dataclass(frozen=True)
class Target:
    """What is announced: a whole series, or one coming session."""

    kind: str  # "series" | "session"
    id: int

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, value: object) -> Target | None:
        kind, _, number = str(value).partition(":")
        if kind not in ("series", "session") or not number.isdecimal() or len(number) > 9:
            return None
        return cls(kind, int(number))


# --- the network's channel -------------------------------------------------------------------


def channel_origin(ctx: ServiceContext) -> Channel | None:
    """The channel this message was typed in, as the adapter saw it (None in a private chat)."""
    origin = ctx.address.get(ORIGIN)
    if not isinstance(origin, Mapping):
        return None
    identity, address = origin.get("identity"), origin.get("address")
    # Built by the reader's own platform adapter; anything else is not a channel of theirs.
    if not isinstance(identity, str) or not isinstance(address, Mapping) \
            or identity.partition(":")[0] != ctx.actor.platform:
        return None
    return Channel(identity, dict(address))


def team_network_names(ctx: ServiceContext) -> list[tuple[str, str]]:
    """(slug, name) of the networks the reader runs, by name."""
    teams = team_networks(ctx)
    return sorted(((n.slug, n.name) for n in ctx.uow.networks.all() if n.slug in teams),
                  key=lambda pair: pair[1])


def set_network_channel(ctx: ServiceContext, network: str, channel: Channel) -> list[Part] | Refused:
    """The network's announcements go to this channel from now on (it replaces any other)."""
    if network not in team_networks(ctx):
        return _refuse(ctx, "announce.channel.team_only", f"network:{network}")
    if channel.identity.partition(":")[0] != ctx.actor.platform:
        return _refuse(ctx, "announce.channel.not_here", f"network:{network}")
    ctx.uow.networks.set_channel(network, channel.identity, channel.address)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "network.channel_set", f"network:{network}",
                         {"channel": channel.identity})
    return [Text(ctx.t("announce.channel.set", network=_network_name(ctx.uow, network)))]


def use_this_channel(ctx: ServiceContext) -> list[Part] | Refused | StartDialog:
    """"use this channel", said to Spoke in a channel: the reader's network (asked which,
    when they run several) announces there from now on."""
    channel = channel_origin(ctx)
    if channel is None:
        return Refused("announce.channel.mention_needed")
    networks = team_network_names(ctx)
    if not networks:
        return _refuse(ctx, "announce.channel.team_only", channel.identity)
    if len(networks) == 1:
        return set_network_channel(ctx, networks[0][0], channel)
    return StartDialog("announce_channel", preset={
        "_identity": channel.identity, "_address": channel.address,
        "_networks": [[slug, name] for slug, name in networks]})


# --- announcing ------------------------------------------------------------------------------


def announce_targets(ctx: ServiceContext) -> list[dict[str, Any]]:
    """The series and coming sessions the reader may announce (networks with a channel only),
    as dialog choices with the preview of each, in the reader's language."""
    listed = [s for s in ctx.uow.schedule.series_of(team_channels(ctx)) if s.state in ANNOUNCEABLE]
    choices = [_choice(ctx, Target("series", series.id), series, None)
               for series in listed[:TARGETS_SHOWN]]
    by_id = {s.id: s for s in listed}
    coming = [s for s in ctx.uow.schedule.upcoming(list(by_id), ctx.now, TARGETS_SHOWN * 2)
              if s.starts_at > ctx.now]
    choices += [_choice(ctx, Target("session", session.id), by_id[session.series_id], session)
                for session in coming[:TARGETS_SHOWN]]
    return choices


def announce_choice(ctx: ServiceContext, target: Target) -> dict[str, Any] | Refused:
    """One series or session to announce, named by a button: checked like the post itself."""
    found = _announceable(ctx, target)
    if isinstance(found, Refused):
        return found
    return _choice(ctx, target, *found)


def team_channels(ctx: ServiceContext) -> list[str]:
    """The reader's team networks that have a channel."""
    return [slug for slug in sorted(team_networks(ctx))
            if ctx.uow.networks.channel(slug) is not None]


def announce(ctx: ServiceContext, target: Target) -> list[Part] | Refused:
    """One post in the network's channel, through the outbox, once per version of what is
    announced (a session's new time or a series' new dates may be announced again)."""
    found = _announceable(ctx, target)
    if isinstance(found, Refused):
        return found
    series, session = found
    channel = ctx.uow.networks.channel(series.network)
    assert channel is not None  # _announceable checked, in this transaction
    identity, address = channel
    key = f"announce:{target.ref}:{_version(ctx.uow, series, session, ctx.now)}:{identity}"
    title = _title(series, session)
    if ctx.uow.outbox.known([key]):
        return [Text(ctx.t("announce.already", title=title))]
    compose: dict[str, Any] = {"what": RECIPE, "kind": target.kind, "id": target.id,
                               "network": series.network, "channel": identity,
                               "language": ctx.language}
    if session is not None:
        compose["sequence"] = session.sequence
    ctx.uow.outbox.plan([Planned(dedupe_key=key, person_id=None, identity=identity,
                                 address=address, subject=f"announce:{target.ref}",
                                 compose=compose, due_at=ctx.now,
                                 expires_at=session.starts_at if session else None)], ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "announcement.planned", target.ref,
                         {"channel": identity})
    return [Text(ctx.t("announce.sent", title=title,
                       network=_network_name(ctx.uow, series.network)))]


def _choice(ctx: ServiceContext, target: Target, series: Series,
            session: Session | None) -> dict[str, Any]:
    if session is None:
        label = ctx.t("announce.target.series", title=series.title)
    else:
        label = ctx.t("announce.target.session", title=_title(series, session),
                      when=ctx.t.datetime(session.starts_at, ctx.time_zone))
    post = announcement(ctx.uow, series, session, ctx.t, ctx.now)
    return {"value": target.ref, "label": label, "preview": post.fallback_text()}


def announcement(uow: UnitOfWork, series: Series, session: Session | None, t: Translator,
                 now: datetime) -> Reply:
    """The post as the channel reads it: public, in the hub's zone, nothing personal."""
    network = _network_name(uow, series.network)
    facts: list[Fact] = []
    if session is None:
        coming = _coming(uow, series, now)
        lead = t(f"announce.post.series.{series.state}", network=network)
        if coming:
            facts.append(Fact(t("announce.post.dates"), "\n".join(
                describe_time(s, s.time_zone or series.time_zone, t) for s in coming)))
        calendar = coming[0] if coming else None
    else:
        lead = t("announce.post.session", network=network)
        facts.append(Fact(t("announce.post.when"),
                          describe_time(session, session.time_zone or series.time_zone, t)))
        calendar = session
    if series.description:
        facts.append(Fact(t("announce.post.about"), _short(series.description)))
    actions = [Option(t(f"announce.action.join.{series.state}"), f"act:join:{series.id}")]
    if calendar is not None:
        actions.append(Option(t("announce.action.calendar"), f"act:calendar:{calendar.id}"))
    return Reply((Text(lead), Card(_title(series, session), tuple(facts), tuple(actions)),
                  Text(t("announce.post.privately"))), private=False)


def write_announcement(uow: UnitOfWork, recipe: Mapping[str, Any], now: datetime) -> Reply | str:
    """The channel's post, written as it goes, in the language of the facilitator who asked;
    dropped if the network's channel changed, or what it announces closed, moved or began."""
    t = Translator(normalise_language(str(recipe.get("language") or "")))
    network = str(recipe.get("network") or "")
    channel = uow.networks.channel(network)
    target = Target.parse(f"{recipe.get('kind')}:{recipe.get('id')}")
    if channel is None or channel[0] != recipe.get("channel") or target is None:
        return "withdrawn"
    found = _resolve(uow, target)
    if found is None:
        return "withdrawn"
    series, session = found
    if series.network != network or series.state not in ANNOUNCEABLE:
        return "withdrawn"
    if session is not None:
        if session.state != "scheduled" or session.sequence != recipe.get("sequence"):
            return "withdrawn"  # moved or cancelled: its reminders and notices say so
        if now >= session.starts_at:
            return "expired"
    return announcement(uow, series, session, t, now)


# --- helpers ---------------------------------------------------------------------------------


def _announceable(ctx: ServiceContext,
                  target: Target) -> tuple[Series, Session | None] | Refused:
    found = _team_target(ctx, target, "announce")
    if isinstance(found, Refused):
        return found
    series, session = found
    if ctx.uow.networks.channel(series.network) is None:
        return Refused("announce.no_channel")
    if series.state not in ANNOUNCEABLE:
        return Refused("announce.series_closed", {"title": series.title})
    if session is not None and (session.state != "scheduled" or session.starts_at <= ctx.now):
        return Refused("announce.session_past", {"title": _title(series, session)})
    return series, session


def _team_target(ctx: ServiceContext, target: Target,
                 action: str) -> tuple[Series, Session | None] | Refused:
    found = _resolve(ctx.uow, target)
    if found is None or found[0].network not in team_networks(ctx):
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", target.ref,
                             {"reason": "announce.not_yours", "action": action})
        return Refused("announce.not_yours")
    return found


def _resolve(uow: UnitOfWork, target: Target) -> tuple[Series, Session | None] | None:
    if target.kind == "series":
        series = uow.schedule.series(target.id)
        return (series, None) if series is not None else None
    session = uow.schedule.session(target.id)
    series = uow.schedule.series(session.series_id) if session is not None else None
    return (series, session) if series is not None else None


def _coming(uow: UnitOfWork, series: Series, now: datetime) -> list[Session]:
    return [s for s in uow.schedule.upcoming([series.id], now, DATES_SHOWN * 2)
            if s.starts_at > now][:DATES_SHOWN]


def _version(uow: UnitOfWork, series: Series, session: Session | None, now: datetime) -> str:
    """A session's sequence; for a series, a digest of what its post shows, so an unchanged
    series is not posted twice and a changed one may be."""
    if session is not None:
        return str(session.sequence)
    shown = [series.title, series.description, series.state,
             [(s.id, s.sequence) for s in _coming(uow, series, now)]]
    return hashlib.sha256(json.dumps(shown).encode()).hexdigest()[:12]


def _title(series: Series, session: Session | None) -> str:
    return f"{series.title}: {session.topic}" if session is not None and session.topic \
        else series.title


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_SHOWN else text[:DESCRIPTION_SHOWN - 1] + "…"


def _network_name(uow: UnitOfWork, slug: str) -> str:
    return next((n.name for n in uow.networks.all() if n.slug == slug), slug)


def _refuse(ctx: ServiceContext, message: str, subject: str) -> Refused:
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", subject,
                         {"reason": message})
    return Refused(message)


__all__ = [
    "ORIGIN",
    "RECIPE",
    "Channel",
    "Target",
    "announce",
    "announce_choice",
    "announce_targets",
    "announcement",
    "channel_origin",
    "set_network_channel",
    "team_channels",
    "team_network_names",
    "use_this_channel",
    "write_announcement",
]
