"""The post-session survey, one question per message, and the team's `report` command.

The survey starts from the "Evaluate" button (`act:evaluate:N`): the service checks that the
presser attended that session and that the survey is still open, and checks it all again on
the last answer. "cancel" keeps nothing; the comment is optional and is checked for anything
that could identify someone, since the team reads it (without the writer's name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assistant.messages import Part, Text
from assistant.parsing import Flagged, Invalid, Valid
from assistant.runtime import Answers, Ask, Choice, Choose, Dialog, Reopen, StepContext
from assistant.runtime.words import fold
from assistant.services.context import Refused, ServiceContext
from assistant.services.evaluation import COMMENT_LIMIT, save_evaluation, start_evaluation
from assistant.services.reports import team_report
from assistant.turns import Routed
from dialogs.case_presentation import flag_identifiers
from dialogs.command import Acted, Command

# What people type when they have nothing to add: the same as "skip".
NOTHING = frozenset({"no", "non", "none", "nothing", "rien", "aucun", "aucune", "n/a", "-"})


def _scale(item: str) -> tuple[Choice, ...]:
    """1 to 5 as buttons, the two ends labelled with what they mean."""
    return (Choice("1", f"evaluation.{item}.lowest"),
            *(Choice(str(n), str(n), literal=True) for n in (2, 3, 4)),
            Choice("5", f"evaluation.{item}.highest"))


RECOMMEND = (Choice("yes", "evaluation.recommend.yes"), Choice("no", "evaluation.recommend.no"),
             Choice("not_sure", "evaluation.recommend.not_sure"))


def _comment(text: str, ctx: StepContext) -> Valid[str | None] | Invalid | Flagged:
    cleaned = " ".join(text.split())
    if fold(cleaned) in NOTHING:
        return Valid(None)
    if not cleaned.isprintable():
        return Invalid("parse.text.control")
    if len(cleaned) > COMMENT_LIMIT:
        return Invalid("parse.text.too_long", {"max": COMMENT_LIMIT})
    return flag_identifiers(cleaned, ctx, "evaluation.comment.found",
                            "evaluation.comment.found_in_form")


def _finish(answers: Answers, ctx: ServiceContext) -> Sequence[Part] | Reopen:
    result = save_evaluation(ctx, int(answers["_session"]), answers)
    if isinstance(result, Refused) and result.message == "evaluation.comment.identifiers":
        return Reopen((Text(ctx.t(result.message)),), ask_again=("comment",))
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return result


EVALUATION = Dialog(
    name="evaluation",
    version=1,
    steps=(
        Choose("satisfaction", "evaluation.satisfaction.ask", options=_scale("satisfaction"),
               help="evaluation.scale.help"),
        Choose("relevance", "evaluation.relevance.ask", options=_scale("relevance"),
               help="evaluation.scale.help"),
        Choose("confidence", "evaluation.confidence.ask", options=_scale("confidence"),
               help="evaluation.scale.help"),
        Choose("recommend", "evaluation.recommend.ask", options=RECOMMEND),
        Ask("comment", "evaluation.comment.ask", parse=_comment, skippable=True, long=True,
            help="evaluation.comment.help"),
    ),
    cancelled="evaluation.cancelled",
    finish=_finish,
)


def _report(ctx: ServiceContext) -> Routed:
    result = team_report(ctx, None)
    return [Text(ctx.t(result.message))] if isinstance(result, Refused) else result


DIALOGS: tuple[Dialog, ...] = (EVALUATION,)
ACTIONS: dict[str, Callable[[ServiceContext, int], Acted]] = {
    "evaluate": start_evaluation,
    "report": team_report,
}
COMMANDS: tuple[Command, ...] = (
    Command("report", frozenset({"report", "reports", "team report", "my report", "statistics",
                                 "stats", "rapport", "rapports", "statistiques",
                                 "rapport d'equipe"}), _report),
)
