"""Polls on the network's suggestions: the team offers 2 to 5 open topics, every active member
gets one message with a button per topic, votes once (voting again changes the vote), and
sees the counts, never names; the team also gets a chart.

A vote button carries one number, `poll * SLOTS + option`: only a claim, decoded and checked
here on every press (the poll exists and is open, the reader is an active member of its
network, the option exists). Refusals are audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from assistant.i18n import Translator
from assistant.messages import Card, Fact, File, Option, Part, Reply, Text
from assistant.model import ROLES, Poll, PollOption
from assistant.ports import Contact, UnitOfWork
from assistant.services.context import Refused, ServiceContext
from assistant.services.curriculum import (
    is_member,
    member_networks,
    network_name,
    not_a_member,
    open_topics,
    plan_notices,
    refuse,
    title_of,
)
from assistant.services.sessions import team_networks

OPTIONS_MIN, OPTIONS_MAX = 2, 5
SLOTS = 10  # a vote button's number: poll * SLOTS + option (options <= OPTIONS_MAX < SLOTS)
DEFAULT_DAYS, DAYS_MAX = 7, 30
QUESTION_LIMIT = 200
BUTTON_LABEL = 70  # Slack shows 75 characters on a button
OPEN_SHOWN = 3


def vote_number(poll_id: int, option: int) -> int:
    return poll_id * SLOTS + option


def question_of(poll: Poll, t: Translator) -> str:
    """The stored question, or the usual one in the reader's own language (stored empty)."""
    return poll.question or t("curriculum.poll.question.default")


def is_closed(poll: Poll, now: datetime) -> bool:
    return poll.state != "open" or (poll.closes_at is not None and now >= poll.closes_at)


def _network_slug(ctx: ServiceContext, network_id: int) -> str | None:
    return next((n.slug for n in ctx.directory.networks if n.id == network_id), None)


def network_id(ctx: ServiceContext, slug: str) -> int:
    return next((n.id for n in ctx.directory.networks if n.slug == slug), 0)


# --- the team starts and closes a poll ---------------------------------------------------------


def poll_preset(ctx: ServiceContext, network_number: int) -> dict[str, Any] | Refused:
    """What the "Start a poll" conversation offers: the network's open topics."""
    slug = _network_slug(ctx, network_number)
    if slug is None or slug not in team_networks(ctx):
        return refuse(ctx, f"network:{network_number}", "poll_start", "curriculum.team_only")
    topics = open_topics(ctx, slug)
    if len(topics) < OPTIONS_MIN:
        return Refused("curriculum.poll.too_few", {"network": network_name(ctx, slug)})
    return {"_network": slug, "_network_name": network_name(ctx, slug),
            "_suggestions": [{"id": s.id, "label": title_of(s)} for s in topics]}


def start_poll(ctx: ServiceContext, network: str, question: str, suggestion_ids: Sequence[int],
               days: int) -> list[Part] | Refused:
    """Open the poll and plan one message per active member of the network."""
    person = ctx.person
    if person is None or network not in team_networks(ctx):
        return refuse(ctx, f"network:{network}", "poll_start", "curriculum.team_only")
    wanted = list(dict.fromkeys(suggestion_ids))
    if not OPTIONS_MIN <= len(wanted) <= OPTIONS_MAX:
        return Refused("curriculum.poll.options.count", {"min": OPTIONS_MIN, "max": OPTIONS_MAX})
    topics = {s.id: s for s in open_topics(ctx, network)}
    if any(i not in topics for i in wanted):
        return Refused("curriculum.poll.options.changed")
    question = " ".join(question.split())
    if len(question) > QUESTION_LIMIT or not 1 <= days <= DAYS_MAX:
        return Refused("curriculum.poll.incomplete")
    if question == ctx.t("curriculum.poll.question.default"):
        question = ""  # each voter reads the usual question in their own language
    closes_at = ctx.now + timedelta(days=days)
    poll = ctx.uow.polls.add(network, question,
                             [PollOption(title_of(topics[i]), i) for i in wanted],
                             person.id, ctx.now, closes_at)
    members = ctx.uow.people.with_role(network, ROLES)
    told = plan_notices(ctx.uow, members, "poll", f"{poll.id}", ctx.now, {"poll": poll.id},
                        expires_at=closes_at)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "poll.started", f"poll:{poll.id}",
                         {"network": network, "options": len(wanted), "members": told})
    return [Text(ctx.t("curriculum.poll.started", count=told, network=network_name(ctx, network),
                       when=_closes(poll, ctx.t, ctx.time_zone)))]


def close_poll(ctx: ServiceContext, poll_id: int) -> list[Part] | Refused:
    poll = ctx.uow.polls.get(poll_id)
    if poll is None or poll.network not in team_networks(ctx):
        return refuse(ctx, f"poll:{poll_id}", "poll_close", "curriculum.team_only")
    if poll.state == "open":
        ctx.uow.polls.close(poll.id)
        ctx.uow.outbox.withdraw(f"poll:{poll.id}")  # not yet sent: no longer worth sending
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "poll.closed", f"poll:{poll.id}")
    shown = results(ctx, poll.id)
    if isinstance(shown, Refused):
        return shown
    return [Text(ctx.t("curriculum.poll.closed_now", question=question_of(poll, ctx.t))), *shown]


def team_poll_card(ctx: ServiceContext, network: str) -> Card | None:
    """Under the team's suggestions: the open polls, and "Start a poll" when there is enough
    to vote on."""
    polls = [p for p in ctx.uow.polls.of_network(network, ("open",)) if not is_closed(p, ctx.now)]
    can_start = len(open_topics(ctx, network)) >= OPTIONS_MIN
    if not polls and not can_start:
        return None
    facts = tuple(Fact(question_of(p, ctx.t), ctx.t("curriculum.poll.closes_on", when=_closes(
        p, ctx.t, ctx.time_zone))) for p in polls[-OPEN_SHOWN:])
    actions: list[Option] = []
    if can_start:
        actions.append(Option(ctx.t("curriculum.action.poll"),
                              f"act:poll_start:{network_id(ctx, network)}"))
    for poll in polls[-OPEN_SHOWN:]:
        actions += [Option(ctx.t("curriculum.action.results"), f"act:poll_results:{poll.id}"),
                    Option(ctx.t("curriculum.action.close_poll"), f"act:poll_close:{poll.id}")]
    return Card(ctx.t("curriculum.poll.card", network=network_name(ctx, network)), facts,
                tuple(actions))


# --- members vote and read -----------------------------------------------------------------------


def vote(ctx: ServiceContext, number: int) -> list[Part] | Refused:
    poll_id, option = divmod(number, SLOTS)
    person = ctx.person
    poll = ctx.uow.polls.get(poll_id)
    if person is None or poll is None or not is_member(ctx.uow, person.id, poll.network) \
            or option >= len(poll.options):
        return refuse(ctx, f"poll:{poll_id}", "vote", "curriculum.poll.not_yours")
    if is_closed(poll, ctx.now):
        return refuse(ctx, f"poll:{poll_id}", "vote", "curriculum.poll.closed")
    outcome = ctx.uow.polls.vote(poll.id, person.id, option, ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "poll.voted", f"poll:{poll.id}",
                         {"outcome": outcome})  # which option stays in the vote, not the log
    return [Text(ctx.t(f"curriculum.vote.{outcome}", option=poll.options[option].label)),
            Card(question_of(poll, ctx.t), (), (
                Option(ctx.t("curriculum.action.results"), f"act:poll_results:{poll.id}"),))]


def results(ctx: ServiceContext, poll_id: int) -> list[Part] | Refused:
    """Counts per option for the network's members; the team also gets them as a chart."""
    person = ctx.person
    poll = ctx.uow.polls.get(poll_id)
    if person is None or poll is None or not is_member(ctx.uow, person.id, poll.network):
        return refuse(ctx, f"poll:{poll_id}", "poll_results", "curriculum.poll.not_yours")
    counts = ctx.uow.polls.counts(poll.id)
    votes = [counts.get(n, 0) for n in range(len(poll.options))]
    mine = ctx.uow.polls.vote_of(poll.id, person.id)
    question = question_of(poll, ctx.t)
    state = (ctx.t("curriculum.results.closed") if is_closed(poll, ctx.now) else
             ctx.t("curriculum.results.open", when=_closes(poll, ctx.t, ctx.time_zone)))
    facts = [Fact(o.label, str(v)) for o, v in zip(poll.options, votes, strict=True)]
    if mine is not None and mine < len(poll.options):
        facts.append(Fact(ctx.t("curriculum.results.yours"), poll.options[mine].label))
    team = poll.network in team_networks(ctx)
    actions: tuple[Option, ...] = ()
    if team and not is_closed(poll, ctx.now):
        actions = (Option(ctx.t("curriculum.action.close_poll"), f"act:poll_close:{poll.id}"),)
    parts: list[Part] = [Text(ctx.t("curriculum.results.heading", total=sum(votes), state=state,
                                    network=network_name(ctx, poll.network))),
                         Card(question, tuple(facts), actions)]
    if team:
        from assistant.charts import PollChartLabels, poll_chart  # matplotlib loads slowly

        chart = poll_chart([o.label for o in poll.options], votes, PollChartLabels(
            title=question, votes_axis=ctx.t("curriculum.chart.votes")))
        parts.append(File(f"poll-{poll.id}.png", "image/png", chart,
                          caption=ctx.t("curriculum.chart.caption")))
    return parts


def latest_results(ctx: ServiceContext) -> list[Part]:
    """"poll results": the newest poll of each of the reader's networks."""
    networks = member_networks(ctx)
    if not networks:
        return not_a_member(ctx)
    parts: list[Part] = []
    for network in networks:
        polls = ctx.uow.polls.of_network(network, ("open", "closed"))
        if polls:
            shown = results(ctx, polls[-1].id)
            parts += [] if isinstance(shown, Refused) else shown
    return parts or [Text(ctx.t("curriculum.results.none"))]


def _closes(poll: Poll, t: Translator, zone: str) -> str:
    if poll.closes_at is None:
        return t("curriculum.poll.no_end")
    return f"{t.datetime(poll.closes_at, zone)} ({t.zone_name(zone)})"


# --- written when it goes ----------------------------------------------------------------------


def write_poll(uow: UnitOfWork, recipe: Mapping[str, Any], contact: Contact, t: Translator,
               now: datetime) -> Reply | str:
    """The poll, to one member: dropped once it closed or they left the network."""
    poll = uow.polls.get(int(recipe["poll"]))
    if poll is None or is_closed(poll, now) or not is_member(uow, contact.person_id, poll.network):
        return "withdrawn"
    names = {n.slug: n.name for n in uow.networks.all()}
    name = names.get(poll.network, poll.network)
    facts = [Fact(t("curriculum.fact.network"), name),
             Fact(t("curriculum.poll.closes"), _closes(poll, t, contact.time_zone))]
    if any(len(o.label) > BUTTON_LABEL for o in poll.options):  # the buttons show less
        facts += [Fact(str(n), o.label) for n, o in enumerate(poll.options, start=1)]
    actions = [Option(_short(o.label), f"act:vote:{vote_number(poll.id, n)}")
               for n, o in enumerate(poll.options)]
    actions.append(Option(t("curriculum.action.results"), f"act:poll_results:{poll.id}"))
    return Reply((Text(t("curriculum.poll.message", network=name)),
                  Card(question_of(poll, t), tuple(facts), tuple(actions))))


def _short(text: str) -> str:
    return text if len(text) <= BUTTON_LABEL else text[:BUTTON_LABEL - 1].rstrip() + "…"
