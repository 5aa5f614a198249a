"""Joining and leaving networks. Every call re-checks the network and the person on the
server: a button payload can name any network."""

from __future__ import annotations

from assistant.messages import Part, Text
from assistant.runtime import NetworkInfo
from assistant.services.consent import record_consent, withdraw_consent
from assistant.services.context import Refused, ServiceContext
from assistant.services.sessions import give_up_places

STATUS_FOR_STATE = {"open": "active", "full": "waitlisted", "opening_soon": "interested"}


def joinable(network: NetworkInfo) -> bool:
    return network.state in STATUS_FOR_STATE


def join_networks(ctx: ServiceContext, person_id: int, slugs: list[str], consent_token: str,
                  language: str) -> list[Part] | Refused:
    networks = [ctx.directory.network(slug) for slug in slugs]
    found = [n for n in networks if n is not None]
    if len(found) != len(slugs) or not all(joinable(n) for n in found):
        return Refused("networks.not_joinable")
    refused = record_consent(ctx, person_id, found, consent_token, language)
    if refused is not None:
        return refused
    lines: list[Part] = []
    for network in found:
        status = STATUS_FOR_STATE[network.state]
        ctx.uow.memberships.join(person_id, network.slug, "participant", status, ctx.now)
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "membership.joined",
                             f"network:{network.slug}", {"status": status})
        lines.append(Text(ctx.t(f"networks.joined.{status}", network=network.name)))
    return lines


def leave_network(ctx: ServiceContext, person_id: int, slug: str) -> list[Part] | Refused:
    network = ctx.directory.network(slug)
    if network is None or slug not in ctx.directory.memberships:
        return Refused("networks.not_a_member")
    ctx.uow.memberships.leave(person_id, slug, ctx.now)
    give_up_places(ctx, person_id, slug)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "membership.left", f"network:{slug}")
    return [Text(ctx.t("networks.left", network=network.name))]


def withdraw_from(ctx: ServiceContext, person_id: int, slug: str) -> list[Part] | Refused:
    """Withdrawing consent ends taking part: no reminders from the next send on."""
    network = ctx.directory.network(slug)
    if network is None or slug not in ctx.directory.consents:
        return Refused("consent.not_given")
    withdraw_consent(ctx, person_id, network)
    if slug in ctx.directory.memberships:
        ctx.uow.memberships.leave(person_id, slug, ctx.now)
    give_up_places(ctx, person_id, slug)  # no reminders from the next send on
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "consent.withdrawn", f"network:{slug}")
    return [Text(ctx.t("consent.withdrawn", network=network.name))]
