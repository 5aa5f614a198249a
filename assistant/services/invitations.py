""""Share with your team": a short invitation to forward, and the code that brings a colleague
to the series.

ECHO spreads by colleagues bringing colleagues. A member gets one code per series (the same
one each time they ask), to paste into an e-mail or a team chat; a colleague who messages Spoke
"join CODE" is shown the series and, once registered and a member of its network, gets a
place that is credited to the invitation and counted in the network's reports. The code only
says which series: it gives no access to anything a stranger could not ask for anyway.
"""

from __future__ import annotations

import re
import secrets
import unicodedata

from assistant.messages import Card, Fact, Option, Part, Text
from assistant.model import Series
from assistant.ports import UnitOfWork
from assistant.services.alerts import opening_soon_parts
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import describe_time
from assistant.services.sessions import audience_fact, join_series
from assistant.turns import StartDialog

# Read aloud and typed again by hand: no 0/O or 1/I/L. 31**8 (about 8.5e11) codes per prefix.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
RANDOM_LENGTH = 8
PREFIX_LENGTH = 6  # a word of the series' name, so people recognise what they paste
LONGEST_CODE = 16  # the column
DATES_SHOWN = 3
_SEPARATORS = re.compile(r"[\s\-–—_.]+")


def share_series(ctx: ServiceContext, series_id: int) -> list[Part] | Refused:
    """The "Share with your team" button: the invitation text, with the reader's own code."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    series = ctx.uow.schedule.series(series_id)
    if series is None or not _member(ctx.uow, person.id, series.network):
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", f"series:{series_id}",
                             {"reason": "sessions.not_yours", "action": "share"})
        return Refused("sessions.not_yours")
    if series.state == "closed":
        return Refused("invite.closed", {"series": series.title})
    code = invitation_code(ctx, series)
    return [Text(ctx.t("invite.forward")), Text(invitation_text(ctx, series, code))]


def shareable(ctx: ServiceContext) -> list[Part]:
    """The `share` command: straight to the invitation when there is one series to share,
    else the series of the reader's networks, theirs first, each with its button."""
    person = ctx.person
    if person is None:
        return [Text(ctx.t("profile.not_registered"))]
    networks = sorted({m.network for m in ctx.uow.memberships.of(person.id) if m.status == "active"})
    mine = ctx.uow.enrolments.of_person(person.id)
    series = sorted((s for s in ctx.uow.schedule.series_of(networks) if s.state != "closed"),
                    key=lambda s: 0 if mine.get(s.id) == "registered" else 1)
    if not series:
        return [Text(ctx.t("invite.nothing_to_share"))]
    if len(series) == 1:
        shared = share_series(ctx, series[0].id)
        return [Text(ctx.t(shared.message))] if isinstance(shared, Refused) else shared
    return [Text(ctx.t("invite.pick")),
            *(Card(s.title, (), (Option(ctx.t("invite.action.share"), f"act:share:{s.id}"),))
              for s in series)]


def invitation_code(ctx: ServiceContext, series: Series) -> str:
    """The code the reader shares for this series: the same one every time they ask."""
    assert ctx.person is not None
    existing = ctx.uow.invitations.of(series.id, ctx.person.id)
    if existing is not None:
        return existing
    code = _new_code(series)
    while ctx.uow.invitations.get(code) is not None:  # vanishingly rare; never two owners
        code = _new_code(series)
    ctx.uow.invitations.add(code, series.id, ctx.person.id, ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "invitation.created", f"series:{series.id}")
    return code


def invitation_text(ctx: ServiceContext, series: Series, code: str) -> str:
    """What a colleague reads in the forwarded message: the series, its dates, ECHO in one
    line, and how to join. Times in the sharer's zone, named."""
    coming = ctx.uow.schedule.upcoming([series.id], ctx.now, DATES_SHOWN + 1)
    dates = [describe_time(s, ctx.time_zone, ctx.t) for s in coming[:DATES_SHOWN]]
    if len(coming) > DATES_SHOWN:
        dates.append(ctx.t("invite.more_dates"))
    when = ("\n".join(f"• {d}" for d in dates) if dates
            else ctx.t(f"invite.dates.{'soon' if series.state == 'opening_soon' else 'later'}"))
    return ctx.t("invite.text", series=series.title, network=_network_name(ctx.uow, series),
                 dates=when, code=code)


def join_by_code(ctx: ServiceContext, typed: str) -> list[Part] | StartDialog:
    """"join CODE": the series, then a place once the reader is registered and a member of
    its network (a newcomer registers first and types the code again)."""
    code = normalise_code(typed)
    found = ctx.uow.invitations.get(code) if code else None
    series = ctx.uow.schedule.series(found[0]) if found else None
    if found is None or series is None:
        # Audited without what was typed: repeated guesses show in the log, words never do.
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "invitation.unknown", "invitation")
        return [Text(ctx.t("invite.unknown"))]
    if series.state == "closed":
        return [Text(ctx.t("invite.closed", series=series.title))]
    card = series_card(ctx, series)
    person = ctx.person
    if person is None:
        return StartDialog("registration", preset={"_invitation": code}, lead=(
            Text(ctx.t("invite.welcome", series=series.title)), card,
            Text(ctx.t("invite.register_first", code=code,
                       network=_network_name(ctx.uow, series)))))
    if not _member(ctx.uow, person.id, series.network):
        return [card, Text(ctx.t("invite.join_network_first",
                                 network=_network_name(ctx.uow, series), code=code))]
    if series.state == "opening_soon":
        return opening_soon_parts(ctx, series)
    current = ctx.uow.enrolments.status(series.id, person.id)
    if current is not None:
        return [Text(ctx.t(f"sessions.already.{current}", series=series.title))]
    joined = join_series(ctx, series.id)
    if isinstance(joined, Refused):
        return [Text(ctx.t(joined.message, **(joined.args or {})))]
    sharer = found[1]
    if sharer != person.id and ctx.uow.enrolments.status(series.id, person.id) is not None:
        ctx.uow.invitations.credit(series.id, person.id, code)
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "invitation.used", f"series:{series.id}")
    return [Text(ctx.t("invite.welcome", series=series.title)), *joined]


def series_card(ctx: ServiceContext, series: Series) -> Card:
    """A series as someone invited to it sees it, before any place: when, where, for whom."""
    facts = [Fact(ctx.t("sessions.network"), _network_name(ctx.uow, series)),
             Fact(ctx.t("sessions.series_state"), ctx.t(f"sessions.state.{series.state}"))]
    coming = ctx.uow.schedule.upcoming([series.id], ctx.now, DATES_SHOWN)
    facts += [Fact(ctx.t("sessions.next") if n == 0 else ctx.t("alerts.then"),
                   describe_time(s, ctx.time_zone, ctx.t)) for n, s in enumerate(coming)]
    if series.description:
        facts.append(Fact(ctx.t("sessions.about"), series.description))
    audience = audience_fact(ctx, series)
    if audience is not None:
        facts.append(audience)
    return Card(series.title, tuple(facts))


def invitation_counts(uow: UnitOfWork, network: str) -> dict[str, int]:
    """Series title -> current places that came through an invitation, for the reports."""
    titles = {s.id: s.title for s in uow.schedule.series_of([network])}
    counts: dict[str, int] = {}
    for series_id, places in uow.invitations.counts(network).items():
        title = titles.get(series_id, str(series_id))
        counts[title] = counts.get(title, 0) + places
    return counts


def normalise_code(typed: str) -> str:
    """"spring 7f3k q9wd", "SPRING-7F3KQ9WD." and the like, as codes are stored; "" when it
    cannot be one."""
    words = [w for w in _SEPARATORS.split(typed.strip().strip("*\"'«»“”:;,.!?()").upper()) if w]
    code = f"{words[0]}-{''.join(words[1:])}" if len(words) > 1 else "".join(words)
    plain = code.replace("-", "")
    return code if len(code) <= LONGEST_CODE and plain.isascii() and plain.isalnum() else ""


def _new_code(series: Series) -> str:
    letters = unicodedata.normalize("NFKD", series.name).upper()
    prefix = "".join(c for c in letters if "A" <= c <= "Z")[:PREFIX_LENGTH]
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{prefix}-{body}" if prefix else body


def _member(uow: UnitOfWork, person_id: int, network: str) -> bool:
    return any(m.network == network and m.status == "active" for m in uow.memberships.of(person_id))


def _network_name(uow: UnitOfWork, series: Series) -> str:
    return next((n.name for n in uow.networks.all() if n.slug == series.network), series.network)
