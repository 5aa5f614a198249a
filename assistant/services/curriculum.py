"""The co-created curriculum: members suggest topics and case themes or propose a whole
series; the network's team reads the suggestions, merges duplicates, closes them, or turns one
into a session (polls are in `polls.py`).

Others read what members write here (the team, and every voter of a poll), so the text is
checked for identifiers in the conversation and once more here: nothing that certainly
identifies a person is stored. Team actions check the team again on every call: a button
names a suggestion by number, and anyone can forge one (refusals are audited).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from assistant.i18n import Translator
from assistant.messages import Card, Fact, Option, Part, Reply, Text
from assistant.model import Suggestion
from assistant.ports import Contact, UnitOfWork
from assistant.services.cases import TEAM_ROLES
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import notify_people
from assistant.services.sessions import team_networks

TOPIC_KINDS = ("topic", "case_theme")
TOPIC_MIN, TOPIC_LIMIT, REASON_LIMIT = 5, 200, 500
SERIES_FIELDS = {"title": 160, "audience": 300, "why": 800, "teachers": 300}
SHOWN = 10  # suggestions listed per network; the most merged first
LABEL_SHOWN = 60


# --- who may ---------------------------------------------------------------------------------


def member_networks(ctx: ServiceContext) -> list[str]:
    """Networks where the reader is an active member (the team included)."""
    if ctx.person is None:
        return []
    return sorted({m.network for m in ctx.uow.memberships.of(ctx.person.id) if m.status == "active"})


def is_member(uow: UnitOfWork, person_id: int, network: str) -> bool:
    return any(m.network == network and m.status == "active" for m in uow.memberships.of(person_id))


def not_a_member(ctx: ServiceContext) -> list[Part]:
    """Why suggestions and votes are closed to the reader, and the way in."""
    return [Text(ctx.t("curriculum.newcomer" if ctx.person is None else "curriculum.not_member"))]


def network_name(ctx: ServiceContext, slug: str) -> str:
    network = ctx.directory.network(slug)
    return network.name if network else slug


def refuse(ctx: ServiceContext, subject: str, action: str, message: str) -> Refused:
    """Refused and audited: a button or an answer naming someone else's network."""
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", subject,
                         {"reason": message, "action": action})
    return Refused(message)


def identifies(text: str, language: str) -> bool:
    """Whether the text holds something that certainly identifies a person."""
    from assistant.identifiers import find_identifiers  # loaded in the warm-up

    return any(f.blocks_submit for f in find_identifiers(text, language))


def _tidy(text: str | None) -> str:
    return " ".join((text or "").split())


# --- members write -----------------------------------------------------------------------------


def suggest(ctx: ServiceContext, network: str, kind: str, topic: str,
            reason: str | None) -> list[Part] | Refused:
    """Keep a member's topic or case theme (and why) for the network's team."""
    person = ctx.person
    if person is None or network not in member_networks(ctx):
        return refuse(ctx, f"network:{network}", "suggest", "curriculum.not_yours")
    topic, why = _tidy(topic), _tidy(reason)
    if kind not in TOPIC_KINDS:
        return Refused("curriculum.suggest.kind_unknown")
    if not TOPIC_MIN <= len(topic) <= TOPIC_LIMIT or len(why) > REASON_LIMIT:
        return Refused("curriculum.suggest.length", {"min": TOPIC_MIN, "max": TOPIC_LIMIT,
                                                     "reason_max": REASON_LIMIT})
    for key, text in (("topic", topic), ("reason", why)):
        if text and identifies(text, ctx.language):
            return Refused("curriculum.identifiers", {"field": key})
    made = ctx.uow.suggestions.add(network, person.id, kind, {"topic": topic, "reason": why},
                                   ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "suggestion.added", f"suggestion:{made.id}",
                         {"kind": kind, "network": network})
    return [Text(ctx.t(f"curriculum.suggest.thanks.{kind}", topic=topic,
                       network=network_name(ctx, network)))]


def propose_series(ctx: ServiceContext, network: str,
                   fields: Mapping[str, str]) -> list[Part] | Refused:
    """Keep a member's proposal for a new series and send it to the network's hub admins
    (its facilitators when it has no hub admin)."""
    person = ctx.person
    if person is None or network not in member_networks(ctx):
        return refuse(ctx, f"network:{network}", "propose_series", "curriculum.not_yours")
    content = {key: _tidy(fields.get(key)) for key in SERIES_FIELDS}
    if any(not content[key] or len(content[key]) > limit for key, limit in SERIES_FIELDS.items()):
        return Refused("curriculum.propose.incomplete")
    for key, text in content.items():
        if identifies(text, ctx.language):
            return Refused("curriculum.identifiers", {"field": key})
    made = ctx.uow.suggestions.add(network, person.id, "series", content, ctx.now)
    readers = (ctx.uow.people.with_role(network, ["hub_admin"])
               or ctx.uow.people.with_role(network, ["facilitator"]))
    plan_notices(ctx.uow, readers, "series_proposal", f"{made.id}", ctx.now,
                 {"suggestion": made.id})
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "suggestion.added", f"suggestion:{made.id}",
                         {"kind": "series", "network": network, "told": len(readers)})
    return [Text(ctx.t("curriculum.propose.thanks", title=content["title"],
                       network=network_name(ctx, network)))]


def plan_notices(uow: UnitOfWork, people: Sequence[int], what: str, key: str, now: datetime,
                 compose: dict[str, Any], expires_at: datetime | None = None) -> int:
    """One message each, written when it goes; planned twice, it is still sent once."""
    return notify_people(uow, people, what, key, now, compose, expires_at)


# --- the team reads and decides ----------------------------------------------------------------


def team_suggestions(ctx: ServiceContext, network: str) -> list[Part] | Refused:
    """A network's open suggestions for its team, the most merged (most asked for) first."""
    if network not in team_networks(ctx):
        return refuse(ctx, f"network:{network}", "suggestions", "curriculum.team_only")
    every = ("topic", "case_theme", "series")
    open_ = ctx.uow.suggestions.of_network(network, ("open",), every)
    merged = Counter(s.merged_into for s in ctx.uow.suggestions.of_network(
        network, ("merged",), every))
    name = network_name(ctx, network)
    if not open_:
        return [Text(ctx.t("curriculum.suggestions.none", network=name))]
    open_.sort(key=lambda s: (-merged[s.id], s.created_at, s.id))
    topics = [s for s in open_ if s.kind in TOPIC_KINDS]
    parts: list[Part] = [Text(ctx.t("curriculum.suggestions.heading", network=name,
                                    count=len(open_)))]
    parts += [_card(ctx, s, merged[s.id], len(topics) > 1) for s in open_[:SHOWN]]
    if len(open_) > SHOWN:
        parts.append(Text(ctx.t("curriculum.suggestions.more", count=len(open_) - SHOWN)))
    return parts


def open_topics(ctx: ServiceContext, network: str) -> list[Suggestion]:
    """The topics and case themes a poll may offer."""
    return ctx.uow.suggestions.of_network(network, ("open",), TOPIC_KINDS)


def _card(ctx: ServiceContext, suggestion: Suggestion, merged: int, can_merge: bool) -> Card:
    content = suggestion.content
    author = ctx.uow.people.get(suggestion.person_id)
    facts = [Fact(ctx.t("curriculum.fact.kind"), ctx.t(f"curriculum.kind.{suggestion.kind}"))]
    if suggestion.kind == "series":
        facts += [Fact(ctx.t(f"curriculum.propose.{key}.label"), str(content.get(key) or ""))
                  for key in ("audience", "why", "teachers")]
    elif content.get("reason"):
        facts.append(Fact(ctx.t("curriculum.fact.reason"), str(content["reason"])))
    facts += [Fact(ctx.t("curriculum.fact.from"), author.full_name if author else "—"),
              Fact(ctx.t("curriculum.fact.date"),
                   ctx.t.datetime(suggestion.created_at, ctx.time_zone, "date"))]
    if merged:
        facts.append(Fact(ctx.t("curriculum.fact.merged"), str(merged)))
    actions: list[Option] = []
    if suggestion.kind in TOPIC_KINDS:
        if can_merge:
            actions.append(Option(ctx.t("curriculum.action.merge"),
                                  f"act:suggestion_merge:{suggestion.id}"))
        actions.append(Option(ctx.t("curriculum.action.session"),
                              f"act:suggestion_session:{suggestion.id}"))
    actions.append(Option(ctx.t("curriculum.action.close"), f"act:suggestion_close:{suggestion.id}"))
    return Card(title_of(suggestion), tuple(facts), tuple(actions))


def title_of(suggestion: Suggestion) -> str:
    return str(suggestion.content.get("title" if suggestion.kind == "series" else "topic") or "")


def team_suggestion(ctx: ServiceContext, suggestion_id: int, action: str,
                    states: Sequence[str] = ("open",)) -> Suggestion | Refused:
    """A suggestion the reader's team may act on, in one of these states."""
    found = ctx.uow.suggestions.get(suggestion_id)
    if found is None or found.network not in team_networks(ctx):
        return refuse(ctx, f"suggestion:{suggestion_id}", action, "curriculum.team_only")
    if found.state not in states:
        return Refused(f"curriculum.already.{found.state}", {"topic": title_of(found)})
    return found


def merge_targets(ctx: ServiceContext, suggestion_id: int) -> list[dict[str, Any]] | Refused:
    """The other open topics this one may be merged into (for the "Merge into…" choice)."""
    found = team_suggestion(ctx, suggestion_id, "suggestion_merge")
    if isinstance(found, Refused):
        return found
    targets = [{"id": s.id, "label": _short(title_of(s))} for s in open_topics(ctx, found.network)
               if s.id != found.id]
    if found.kind not in TOPIC_KINDS or not targets:
        return Refused("curriculum.merge.nothing")
    return targets


def merge(ctx: ServiceContext, suggestion_id: int, target_id: int) -> list[Part] | Refused:
    """A duplicate goes into another suggestion, with whatever was merged into it before."""
    found = team_suggestion(ctx, suggestion_id, "suggestion_merge")
    if isinstance(found, Refused):
        return found
    target = ctx.uow.suggestions.get(target_id)
    if target is None or target.network != found.network or target.id == found.id \
            or target.kind not in TOPIC_KINDS:
        return refuse(ctx, f"suggestion:{target_id}", "suggestion_merge", "curriculum.team_only")
    if target.state != "open":
        return Refused(f"curriculum.already.{target.state}", {"topic": title_of(target)})
    earlier = [s for s in ctx.uow.suggestions.of_network(found.network, ("merged",), TOPIC_KINDS)
               if s.merged_into == found.id]
    for duplicate in [found, *earlier]:
        ctx.uow.suggestions.set_state(duplicate.id, "merged", target.id)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "suggestion.merged",
                         f"suggestion:{found.id}", {"into": target.id, "moved": len(earlier)})
    return [Text(ctx.t("curriculum.merged", topic=title_of(found), target=title_of(target),
                       count=len(earlier) + 2))]


def schedule_suggestion(ctx: ServiceContext, suggestion_id: int) -> Suggestion | Refused:
    """Marked scheduled as the team starts making it a session (a session dialog cancelled
    half-way leaves it scheduled: pressing again starts over)."""
    found = team_suggestion(ctx, suggestion_id, "suggestion_session", ("open", "scheduled"))
    if isinstance(found, Refused):
        return found
    if found.kind not in TOPIC_KINDS:
        return Refused("curriculum.session.not_a_topic")
    ctx.uow.suggestions.set_state(found.id, "scheduled")
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "suggestion.scheduled",
                         f"suggestion:{found.id}")
    return found


def close_suggestion(ctx: ServiceContext, suggestion_id: int) -> list[Part] | Refused:
    found = team_suggestion(ctx, suggestion_id, "suggestion_close", ("open", "scheduled"))
    if isinstance(found, Refused):
        return found
    ctx.uow.suggestions.set_state(found.id, "closed")
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "suggestion.closed",
                         f"suggestion:{found.id}")
    return [Text(ctx.t("curriculum.closed", topic=title_of(found)))]


# --- written when it goes ----------------------------------------------------------------------


def write_series_proposal(uow: UnitOfWork, recipe: Mapping[str, Any], contact: Contact,
                          t: Translator, now: datetime) -> Reply | str:
    """A member's series proposal, to one of the network's hub admins (or facilitators), who
    must still be on its team; dropped once the team closed it."""
    found = uow.suggestions.get(int(recipe["suggestion"]))
    if found is None or found.kind != "series" or found.state == "closed":
        return "withdrawn"
    if not any(m.network == found.network and m.role in TEAM_ROLES and m.status == "active"
               for m in uow.memberships.of(contact.person_id)):
        return "withdrawn"
    author = uow.people.get(found.person_id)
    names = {n.slug: n.name for n in uow.networks.all()}
    who = f"{author.full_name} ({author.profession}, {author.organisation})" if author else "—"
    facts = (Fact(t("curriculum.fact.network"), names.get(found.network, found.network)),
             *(Fact(t(f"curriculum.propose.{key}.label"), str(found.content.get(key) or ""))
               for key in ("audience", "why", "teachers")),
             Fact(t("curriculum.fact.from"), who),
             Fact(t("curriculum.fact.date"), t.datetime(found.created_at, contact.time_zone, "date")))
    return Reply((Text(t("curriculum.propose.notice")),
                  Card(title_of(found), facts, (
                      Option(t("curriculum.action.close"), f"act:suggestion_close:{found.id}"),)),
                  Text(t("curriculum.propose.notice_more"))))


def _short(text: str, limit: int = LABEL_SHOWN) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
