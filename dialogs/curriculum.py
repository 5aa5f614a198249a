"""The co-created curriculum in chat: members' "suggest a topic" and "propose a series", the
team's "suggestions" (merge, make it a session, close, start a poll), votes and "poll results".

What members write is read by others, so every answer passes the identifier checker before it
is kept; the services check it once more, and check membership or the team on every call:
the buttons name a suggestion, a poll or a network by number, and anyone can forge one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from assistant.messages import Part, Text
from assistant.parsers import one_line
from assistant.parsing import Flagged, Invalid, Valid
from assistant.runtime import Answers, Ask, Choice, Choose, Confirm, Dialog, Reopen, Review, StepContext
from assistant.services.context import Refused, ServiceContext
from assistant.services.curriculum import (
    REASON_LIMIT,
    SERIES_FIELDS,
    TOPIC_LIMIT,
    TOPIC_MIN,
    close_suggestion,
    member_networks,
    merge,
    merge_targets,
    network_name,
    not_a_member,
    propose_series,
    schedule_suggestion,
    suggest,
    team_suggestions,
)
from assistant.services.polls import (
    DAYS_MAX,
    DEFAULT_DAYS,
    OPTIONS_MAX,
    OPTIONS_MIN,
    QUESTION_LIMIT,
    close_poll,
    latest_results,
    poll_preset,
    results,
    start_poll,
    team_poll_card,
    vote,
)
from assistant.services.sessions import team_networks
from assistant.turns import Routed, StartDialog
from dialogs.case_presentation import flag_identifiers
from dialogs.command import Acted, Command
from dialogs.sessions import team_series_preset


def _shown(result: Sequence[Part] | Refused, ctx: ServiceContext) -> list[Part]:
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return list(result)


def checked(longest: int, shortest: int = 1) -> Callable[[str, StepContext],
                                                         Valid[str] | Invalid | Flagged]:
    """One line of `shortest` to `longest` characters, checked for identifiers: the team,
    and perhaps every voter, will read it."""
    limit = one_line(longest)

    def parse(text: str, ctx: StepContext) -> Valid[str] | Invalid | Flagged:
        result = limit(text, ctx)
        if isinstance(result, Invalid):
            return result
        if len(result.value) < shortest:
            return Invalid("curriculum.text.too_short", {"min": shortest})
        return flag_identifiers(result.value, ctx, "curriculum.check.found",
                                "curriculum.check.found_in_form")

    return parse


def _networks(ctx: StepContext) -> list[Choice]:
    return [Choice(str(n["slug"]), str(n["name"]), literal=True)
            for n in ctx.answers.get("_networks", [])]


def _network_preset(ctx: ServiceContext) -> dict[str, Any]:
    """The reader's networks to choose from, or the only one chosen already."""
    networks = member_networks(ctx)
    preset: dict[str, Any] = {"_networks": [{"slug": slug, "name": network_name(ctx, slug)}
                                            for slug in networks]}
    if len(networks) == 1:
        preset["network"] = networks[0]
    return preset


def _reopened(result: Sequence[Part] | Refused, ctx: ServiceContext) -> Sequence[Part] | Reopen:
    """A text the service still found identifying is asked again; nothing else is lost."""
    if isinstance(result, Refused) and result.message == "curriculum.identifiers":
        field = str((result.args or {}).get("field", ""))
        return Reopen((Text(ctx.t(result.message)),), ask_again=(field,))
    return _shown(result, ctx)


# --- suggest a topic ---------------------------------------------------------------------------


def _topic_prompt(ctx: StepContext) -> str:
    return ctx.t(f"curriculum.topic.ask.{ctx.answers.get('kind') or 'topic'}")


def _finish_suggest(answers: Answers, ctx: ServiceContext) -> Sequence[Part] | Reopen:
    return _reopened(suggest(ctx, str(answers["network"]), str(answers["kind"]),
                             str(answers["topic"]), answers.get("reason")), ctx)


SUGGEST_TOPIC = Dialog(
    name="suggest_topic",
    version=1,
    steps=(
        Choose("network", "curriculum.network.ask", options=_networks,
               label="curriculum.network.label"),
        Choose("kind", "curriculum.kind.ask", help="curriculum.kind.help",
               options=(Choice("topic", "curriculum.kind.topic"),
                        Choice("case_theme", "curriculum.kind.case_theme")),
               label="curriculum.kind.label"),
        Ask("topic", _topic_prompt, parse=checked(TOPIC_LIMIT, TOPIC_MIN),
            help="curriculum.topic.help", label="curriculum.topic.label"),
        Ask("reason", "curriculum.reason.ask", parse=checked(REASON_LIMIT), skippable=True,
            long=True, label="curriculum.reason.label"),
    ),
    cancelled="curriculum.suggest.cancelled",
    finish=_finish_suggest,
)


def _suggest(ctx: ServiceContext) -> Routed:
    if not member_networks(ctx):
        return not_a_member(ctx)
    return StartDialog("suggest_topic", preset=_network_preset(ctx))


# --- propose a series --------------------------------------------------------------------------


def _finish_propose(answers: Answers, ctx: ServiceContext) -> Sequence[Part] | Reopen:
    fields = {key: str(answers.get(key) or "") for key in SERIES_FIELDS}
    return _reopened(propose_series(ctx, str(answers["network"]), fields), ctx)


PROPOSE_SERIES = Dialog(
    name="propose_series",
    version=1,
    steps=(
        Choose("network", "curriculum.network.ask", options=_networks,
               label="curriculum.network.label"),
        *(Ask(key, f"curriculum.propose.{key}.ask", parse=checked(limit), long=key == "why",
              help="curriculum.propose.help", label=f"curriculum.propose.{key}.label")
          for key, limit in SERIES_FIELDS.items()),
    ),
    review=Review("curriculum.propose.review", submit="curriculum.propose.send"),
    cancelled="curriculum.propose.cancelled",
    finish=_finish_propose,
)


def _propose(ctx: ServiceContext) -> Routed:
    if not member_networks(ctx):
        return not_a_member(ctx)
    return StartDialog("propose_series", preset=_network_preset(ctx))


# --- the team's suggestions ----------------------------------------------------------------------


def _suggestions(ctx: ServiceContext) -> Routed:
    networks = sorted(team_networks(ctx))
    if not networks:
        return [Text(ctx.t("curriculum.team_only_list"))]
    parts: list[Part] = []
    for network in networks:
        parts += _shown(team_suggestions(ctx, network), ctx)
        card = team_poll_card(ctx, network)
        if card is not None:
            parts.append(card)
    return parts


def _targets(ctx: StepContext) -> list[Choice]:
    return [Choice(str(s["id"]), str(s["label"]), literal=True)
            for s in ctx.answers.get("_targets", [])]


def _finish_merge(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    return _shown(merge(ctx, int(answers["_suggestion"]), int(answers["target"])), ctx)


SUGGESTION_MERGE = Dialog(
    name="suggestion_merge",
    version=1,
    steps=(Choose("target", "curriculum.merge.ask", options=_targets,
                  label="curriculum.merge.label"),),
    cancelled="curriculum.merge.cancelled",
    finish=_finish_merge,
)


def _merge(ctx: ServiceContext, suggestion_id: int) -> Acted:
    targets = merge_targets(ctx, suggestion_id)
    if isinstance(targets, Refused):
        return targets
    return StartDialog("suggestion_merge", preset={"_suggestion": suggestion_id,
                                                   "_targets": targets})


def _make_session(ctx: ServiceContext, suggestion_id: int) -> Acted:
    """"Make it a session": the team's usual "add a session", its topic written already."""
    found = schedule_suggestion(ctx, suggestion_id)
    if isinstance(found, Refused):
        return found
    series = [s for s in team_series_preset(ctx)
              if (one := ctx.uow.schedule.series(int(s["id"]))) and one.network == found.network]
    if not series:
        return Refused("curriculum.session.no_series")
    topic = str(found.content.get("topic") or "")
    return StartDialog("add_session", preset={"_series": series, "topic": topic},
                       lead=(Text(ctx.t("curriculum.session.marked", topic=topic)),))


# --- polls ---------------------------------------------------------------------------------------


def _poll_suggestions(ctx: StepContext) -> list[Choice]:
    return [Choice(str(s["id"]), str(s["label"]), literal=True)
            for s in ctx.answers.get("_suggestions", [])]


def _question(text: str, ctx: StepContext) -> Valid[str] | Invalid:
    return one_line(QUESTION_LIMIT)(text, ctx)


def _days(text: str, ctx: StepContext) -> Valid[int] | Invalid:
    words = text.split()
    if not words or not words[0].isdecimal() or not 1 <= int(words[0]) <= DAYS_MAX:
        return Invalid("curriculum.poll.days.range", {"max": DAYS_MAX})
    return Valid(int(words[0]))


def _poll_preview(ctx: StepContext) -> str:
    chosen = {str(v) for v in ctx.answers.get("options") or []}
    labels = [str(s["label"]) for s in ctx.answers.get("_suggestions", []) if str(s["id"]) in chosen]
    lines = [ctx.t("curriculum.poll.preview", network=ctx.answers.get("_network_name", ""),
                   question=ctx.answers.get("question", ""), days=ctx.answers.get("days", ""))]
    lines += [f"{n}. {label}" for n, label in enumerate(labels, start=1)]
    lines.append(ctx.t("curriculum.poll.send.ask"))
    return "\n".join(lines)


def _finish_poll(answers: Answers, ctx: ServiceContext) -> Sequence[Part] | Reopen:
    if not answers.get("send"):
        return [Text(ctx.t("curriculum.poll.not_sent"))]
    result = start_poll(ctx, str(answers["_network"]), str(answers["question"]),
                        [int(v) for v in answers.get("options") or []], int(answers["days"]))
    if isinstance(result, Refused) and result.message == "curriculum.poll.options.count":
        return Reopen((Text(ctx.t(result.message, **(result.args or {}))),),
                      ask_again=("options", "send"))
    return _shown(result, ctx)


POLL_START = Dialog(
    name="poll_start",
    version=1,
    steps=(
        Ask("question", "curriculum.poll.question.ask", parse=_question,
            suggest=lambda ctx: ctx.t("curriculum.poll.question.default"),
            label="curriculum.poll.question.label"),
        Choose("options", lambda ctx: ctx.t("curriculum.poll.options.ask", min=OPTIONS_MIN,
                                            max=OPTIONS_MAX),
               options=_poll_suggestions, many=True, help="curriculum.poll.options.help",
               label="curriculum.poll.options.label"),
        Ask("days", "curriculum.poll.days.ask", parse=_days, suggest=lambda ctx: str(DEFAULT_DAYS),
            label="curriculum.poll.days.label"),
        Confirm("send", _poll_preview, depends_on=("question", "options", "days"), reviewed=False),
    ),
    cancelled="curriculum.poll.cancelled",
    finish=_finish_poll,
)


def _start_poll(ctx: ServiceContext, network_number: int) -> Acted:
    preset = poll_preset(ctx, network_number)
    if isinstance(preset, Refused):
        return preset
    return StartDialog("poll_start", preset=preset)


def _poll_results(ctx: ServiceContext) -> Routed:
    return latest_results(ctx)


DIALOGS: tuple[Dialog, ...] = (SUGGEST_TOPIC, PROPOSE_SERIES, SUGGESTION_MERGE, POLL_START)
ACTIONS: dict[str, Callable[[ServiceContext, int], Acted]] = {
    "suggestion_merge": _merge,
    "suggestion_session": _make_session,
    "suggestion_close": close_suggestion,
    "poll_start": _start_poll,
    "poll_close": close_poll,
    "poll_results": results,
    "vote": vote,
}
COMMANDS: tuple[Command, ...] = (
    Command("suggest_topic", frozenset({
        "suggest a topic", "suggest", "suggestion", "suggest topic", "suggest a case theme",
        "propose a topic", "proposer un sujet", "suggerer", "suggerer un sujet",
        "suggerer un theme", "proposer un theme"}), _suggest, needs_registration=False),
    Command("suggestions", frozenset({
        "suggestions", "topic suggestions", "see suggestions", "les suggestions",
        "voir les suggestions", "sujets proposes"}), _suggestions),
    Command("propose_series", frozenset({
        "propose a series", "propose series", "series proposal", "suggest a series",
        "proposer une serie", "proposition de serie", "suggerer une serie"}),
            _propose, needs_registration=False),
    Command("poll_results", frozenset({
        "poll results", "poll", "polls", "vote results", "results of the poll",
        "resultats du sondage", "sondage", "sondages", "resultats du vote"}), _poll_results),
)
