"""The network's recommendations to a case's presenter, in writing and in private.

Only the presenter and the network's team ever see them: the message goes to the presenter
alone, and a reply or a request for a follow-up slot goes to the team alone. The text is
sealed at rest with the other follow-ups. When a presented case still has no recommendations
two working days after its session, the team is reminded once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from assistant.i18n import Translator
from assistant.messages import Card, Fact, Option, Part, Reply, Text
from assistant.model import FollowUp
from assistant.ports import Contact, StaleState, UnitOfWork
from assistant.services.cases import (
    TEAM_ROLES,
    advance_case,
    allowed,
    author_case,
    case_title,
    team_case,
)
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import notify_people
from assistant.turns import StartDialog

RECOMMENDATIONS_LIMIT = 3000
REPLY_LIMIT = 1500
# "Recommendations not yet sent" reaches the team this many working days after the session.
NUDGE_AFTER_WORKING_DAYS = 2
_OPEN_FOR_RECOMMENDATIONS = ("presented", "recommendations_sent")


def start_recommendations(ctx: ServiceContext, case_id: int) -> StartDialog | Refused:
    """The team's "Write recommendations" button on a presented case."""
    record = team_case(ctx, case_id, "recommend")
    if isinstance(record, Refused):
        return record
    if record.case.state not in _OPEN_FOR_RECOMMENDATIONS:
        return Refused("recommend.not_presented")
    return StartDialog("recommendations", preset={"_case": case_id,
                                                  "_started": ctx.now.isoformat()})


def send_recommendations(ctx: ServiceContext, case_id: int, text: str,
                         resources: Sequence[str], draft_key: str) -> list[Part] | Refused:
    record = team_case(ctx, case_id, "recommend")
    if isinstance(record, Refused):
        return record
    case = record.case
    if case.state not in _OPEN_FOR_RECOMMENDATIONS or case.session_id is None:
        return Refused("recommend.not_presented")
    person = ctx.person
    assert person is not None  # team_case checked
    if ctx.uow.follow_ups.by_draft_key(draft_key) is not None:
        return [Text(ctx.t("recommend.already_sent"))]
    try:
        follow_up = ctx.uow.follow_ups.add(
            case.session_id, "recommendations", case.id, person.id,
            {"text": text.strip(), "resources": list(resources)}, draft_key, ctx.now, ctx.now)
    except StaleState:
        return [Text(ctx.t("recommend.already_sent"))]
    if allowed(case.state, "send_recommendations"):
        advance_case(ctx, record, "send_recommendations")
    _notify(ctx.uow, [case.author_id], "recommendations", f"{follow_up.id}", ctx.now,
            {"follow_up": follow_up.id})
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "recommendations.sent", f"case:{case.id}",
                         {"follow_up": follow_up.id})
    return [Text(ctx.t("recommend.sent", title=case_title(case, ctx.t)))]


def start_reply(ctx: ServiceContext, follow_up_id: int) -> StartDialog | Refused:
    """The presenter's "Reply" under the recommendations."""
    follow_up = _recommendations_for_author(ctx, follow_up_id, "recommendation_reply")
    if isinstance(follow_up, Refused):
        return follow_up
    return StartDialog("recommendation_reply", preset={"_follow_up": follow_up_id,
                                                       "_started": ctx.now.isoformat()})


def send_reply(ctx: ServiceContext, follow_up_id: int, text: str,
               draft_key: str) -> list[Part] | Refused:
    follow_up = _recommendations_for_author(ctx, follow_up_id, "recommendation_reply")
    if isinstance(follow_up, Refused):
        return follow_up
    assert ctx.person is not None
    assert follow_up.case_id is not None
    record = ctx.uow.cases.get(follow_up.case_id)
    assert record is not None
    try:
        reply = ctx.uow.follow_ups.add(follow_up.session_id, "reply", follow_up.case_id,
                                       ctx.person.id, {"text": text.strip()}, draft_key,
                                       ctx.now, ctx.now)
    except StaleState:
        return [Text(ctx.t("recommend.reply.sent"))]
    team = ctx.uow.people.with_role(record.case.network, TEAM_ROLES)
    _notify(ctx.uow, team, "presenter_reply", f"{reply.id}", ctx.now, {"follow_up": reply.id})
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "recommendations.replied",
                         f"case:{follow_up.case_id}", {"follow_up": reply.id})
    return [Text(ctx.t("recommend.reply.sent"))]


def ask_follow_up_slot(ctx: ServiceContext, case_id: int) -> list[Part] | Refused:
    """The presenter would like to tell the network how things went: the team hears once."""
    record = author_case(ctx, case_id, "follow_up_slot")
    if isinstance(record, Refused):
        return record
    if record.case.state != "recommendations_sent":
        return Refused("recommend.slot.not_yet")
    team = ctx.uow.people.with_role(record.case.network, TEAM_ROLES)
    _notify(ctx.uow, team, "follow_up_slot", f"{case_id}", ctx.now, {"case": case_id})
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "case.follow_up_slot_asked",
                         f"case:{case_id}")
    return [Text(ctx.t("recommend.slot.asked"))]


def nudge_missing_recommendations(uow: UnitOfWork, now: datetime) -> int:
    """Remind each network's team once about presented cases with no recommendations sent
    two working days after their session. Returns how many reminders were planned."""
    networks = [n.slug for n in uow.networks.all()]
    planned = 0
    for record in uow.cases.for_networks(networks, ("presented",)):
        case = record.case
        session = uow.schedule.session(case.session_id) if case.session_id else None
        if session is None or now < working_days_after(session.ends_at, NUDGE_AFTER_WORKING_DAYS):
            continue
        if any(f.kind == "recommendations" for f in uow.follow_ups.of_case(case.id)):
            continue
        team = uow.people.with_role(case.network, TEAM_ROLES)
        planned += _notify(uow, team, "recommendations_due", f"{case.id}", now, {"case": case.id})
    return planned


def working_days_after(moment: datetime, days: int) -> datetime:
    """`moment` plus this many working days (Saturdays and Sundays skipped)."""
    later = moment
    while days > 0:
        later += timedelta(days=1)
        if later.weekday() < 5:
            days -= 1
    return later


# --- written when they go ----------------------------------------------------------------


def write_recommendations(uow: UnitOfWork, recipe: Mapping[str, Any], contact: Contact,
                          t: Translator) -> Reply | str:
    follow_up = uow.follow_ups.get(int(recipe["follow_up"]))
    record = uow.cases.get(follow_up.case_id) if follow_up and follow_up.case_id else None
    if follow_up is None or record is None or record.case.author_id != contact.person_id \
            or record.case.state == "withdrawn":
        return "withdrawn"
    return Reply((recommendations_card(follow_up, case_title(record.case, t), t),))


def recommendations_card(follow_up: FollowUp, title: str, t: Translator,
                         with_actions: bool = True) -> Card:
    facts = [Fact(t("recommend.label"), _numbered(str(follow_up.content["text"])))]
    if follow_up.content.get("resources"):
        facts.append(Fact(t("recommend.resources.label"),
                          "\n".join(follow_up.content["resources"])))
    actions: tuple[Option, ...] = ()
    if with_actions:
        actions = (Option(t("recommend.action.reply"), f"act:recommendation_reply:{follow_up.id}"),
                   Option(t("recommend.action.slot"), f"act:follow_up_slot:{follow_up.case_id}"))
    return Card(t("recommend.title", title=title), tuple(facts), actions)


def write_team_notice(uow: UnitOfWork, recipe: Mapping[str, Any], contact: Contact,
                      t: Translator) -> Reply | str:
    """A presenter's reply, a request for a follow-up slot, or "recommendations not yet sent",
    to one member of the team (who must still be on it)."""
    what = str(recipe["what"])
    if what == "presenter_reply":
        reply = uow.follow_ups.get(int(recipe["follow_up"]))
        case_id = reply.case_id if reply else None
    else:
        reply, case_id = None, int(recipe["case"])
    record = uow.cases.get(case_id) if case_id is not None else None
    if record is None or not any(m.network == record.case.network and m.role in TEAM_ROLES
                                 and m.status == "active"
                                 for m in uow.memberships.of(contact.person_id)):
        return "withdrawn"
    case = record.case
    title = case_title(case, t)
    presenter = uow.people.get(case.author_id)
    name = presenter.full_name if presenter else t("recommend.someone")
    if what == "recommendations_due":
        if case.state != "presented":
            return "withdrawn"  # sent meanwhile
        return Reply((Card(t("recommend.due", title=title), (), (
            Option(t("cases.action.recommend"), f"act:case_recommend:{case.id}"),)),))
    if what == "follow_up_slot":
        return Reply((Card(t("recommend.slot.team", title=title, name=name), (), (
            Option(t("cases.action.show"), f"act:case_show:{case.id}"),)),))
    assert reply is not None
    return Reply((Card(t("recommend.reply.team", title=title, name=name),
                       (Fact(t("recommend.reply.label"), str(reply.content["text"])),), (
        Option(t("cases.action.show"), f"act:case_show:{case.id}"),)),))


def _recommendations_for_author(ctx: ServiceContext, follow_up_id: int,
                                action: str) -> FollowUp | Refused:
    follow_up = ctx.uow.follow_ups.get(follow_up_id)
    if follow_up is None or follow_up.kind != "recommendations" or follow_up.case_id is None:
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused",
                             f"follow_up:{follow_up_id}", {"reason": "cases.not_yours",
                                                           "action": action})
        return Refused("cases.not_yours")
    record = author_case(ctx, follow_up.case_id, action)
    return record if isinstance(record, Refused) else follow_up


def _notify(uow: UnitOfWork, people: Sequence[int], what: str, key: str, now: datetime,
            compose: dict[str, Any]) -> int:
    return notify_people(uow, people, what, key, now, compose)


def _numbered(text: str) -> str:
    """Recommendations one per line, numbered as the presenter will refer to them."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return text.strip()
    return "\n".join(f"{n}. {_unnumbered(line)}" for n, line in enumerate(lines, start=1))


def _unnumbered(line: str) -> str:
    head, dot, rest = line.partition(".")
    if dot and head.strip().isdecimal():
        return rest.strip()
    return line.lstrip("-•* ").strip()
