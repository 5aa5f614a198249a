"""After a session: the team's follow-up to everyone who registered, the network's
recommendations to a case's presenter, and the presenter's reply.

Every conversation ends in a service that checks the team (or the presenter) again: the
buttons that start them name a session, a case or a follow-up by number, and anyone can
forge one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from assistant.messages import Part, Text
from assistant.model import FollowUp
from assistant.parsers import one_line
from assistant.parsers.session_time import session_start
from assistant.parsing import Flagged, Invalid, Valid
from assistant.runtime import Answers, Ask, Choice, Choose, Confirm, Dialog, StepContext
from assistant.runtime.words import fold
from assistant.services.context import Refused, ServiceContext
from assistant.services.follow_ups import (
    SUMMARY_LIMIT,
    TEASER_LIMIT,
    Heading,
    list_follow_ups,
    preview,
    recent_team_sessions,
    resend_to_newcomers,
    send_follow_up,
    show_follow_up,
)
from assistant.services.recommendations import (
    RECOMMENDATIONS_LIMIT,
    REPLY_LIMIT,
    ask_follow_up_slot,
    recommendations_card,
    send_recommendations,
    send_reply,
    start_recommendations,
    start_reply,
)
from assistant.services.sessions import team_networks
from assistant.turns import Routed, StartDialog
from dialogs.case_presentation import flag_identifiers
from dialogs.command import Acted, Command

NOW_WORDS = frozenset({"now", "send now", "right now", "straight away", "maintenant",
                       "tout de suite", "envoyer maintenant"})
LINK_LIMIT = 500


# --- what people type ------------------------------------------------------------------------


def paragraph(longest: int) -> Callable[[str, StepContext], Valid[str] | Invalid]:
    """A few lines of text, line breaks kept (a summary, numbered recommendations)."""

    def parse(text: str, ctx: StepContext) -> Valid[str] | Invalid:
        lines = [" ".join(line.split()) for line in text.strip().splitlines()]
        kept = "\n".join(line for n, line in enumerate(lines)
                         if line or (n and lines[n - 1]))  # one blank line at most
        if not kept:
            return Invalid("parse.text.empty")
        if not kept.replace("\n", "").isprintable():
            return Invalid("parse.text.control")
        if len(kept) > longest:
            return Invalid("parse.text.too_long", {"max": longest})
        return Valid(kept)

    return parse


def _summary(text: str, ctx: StepContext) -> Valid[str] | Invalid | Flagged:
    """Everyone who registered reads the summary: nothing in it may identify a patient."""
    result = paragraph(SUMMARY_LIMIT)(text, ctx)
    return result if isinstance(result, Invalid) else flag_identifiers(result.value, ctx)


def _link(text: str) -> str | Invalid:
    url = text.strip().strip("<>")
    if len(url) > LINK_LIMIT:
        return Invalid("follow_up.link.too_long", {"max": LINK_LIMIT})
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return Invalid("follow_up.link.not_a_link", {"typed": url[:80]})
    # A name before "@" only misleads ("https://zoom.us@example.org" opens example.org).
    if parts.scheme.lower() not in ("https", "http") or "." not in host.strip(".") \
            or "@" in parts.netloc or not url.isprintable():
        return Invalid("follow_up.link.not_a_link", {"typed": url[:80]})
    return url


def _links(text: str, ctx: StepContext) -> Valid[list[str]] | Invalid:
    """Links to slides, articles, guidelines: one per line (or separated by spaces)."""
    links: list[str] = []
    for word in text.split():
        link = _link(word)
        if isinstance(link, Invalid):
            return link
        if link not in links:
            links.append(link)
    if not links:
        return Invalid("parse.text.empty")
    if len(links) > 10:
        return Invalid("follow_up.resources.too_many", {"max": 10})
    return Valid(links)


def _recording(text: str, ctx: StepContext) -> Valid[str] | Invalid:
    link = _link(text)
    return link if isinstance(link, Invalid) else Valid(link)


def _when(text: str, ctx: StepContext) -> Valid[str] | Invalid:
    """"now", or a moment in the writer's zone ("tomorrow at 9"), confirmed back."""
    if fold(text).strip(" .!") in NOW_WORDS:
        return Valid("now")
    return session_start(text, ctx)


def _show_when(value: Any, ctx: StepContext) -> str:
    if value == "now":
        return ctx.t("follow_up.when.now")
    return ctx.t.datetime(datetime.fromisoformat(str(value)), ctx.time_zone or "UTC")


def _show_links(value: Any, ctx: StepContext) -> str:
    return "\n".join(value) if isinstance(value, list) else str(value)


# --- the follow-up ---------------------------------------------------------------------------


def _sessions(ctx: StepContext) -> list[Choice]:
    return [Choice(str(s["id"]), s["label"], literal=True) for s in ctx.answers.get("_sessions", [])]


def _has_channel(answers: Answers) -> bool:
    return any(str(s["id"]) == str(answers.get("session")) and s.get("channel")
               for s in answers.get("_sessions", []))


def _content(answers: Answers) -> dict[str, Any]:
    return {"summary": answers.get("summary") or "", "resources": answers.get("resources") or [],
            "recording": answers.get("recording") or "", "teaser": answers.get("teaser") or ""}


def _preview(ctx: StepContext) -> str:
    chosen = next((s for s in ctx.answers.get("_sessions", [])
                   if str(s["id"]) == str(ctx.answers.get("session"))), None)
    if chosen is None:
        return ctx.t("follow_up.send.ask")
    parts = preview(_content(ctx.answers), int(chosen["id"]), Heading.from_json(chosen["heading"]),
                    ctx.t)
    return "\n\n".join([*(part.fallback_text() for part in parts), ctx.t("follow_up.send.ask")])


def _finish_follow_up(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    if not answers.get("send"):
        return [Text(ctx.t("follow_up.not_sent"))]
    when = answers.get("when")
    send_at = None if when in (None, "now") else datetime.fromisoformat(str(when))
    key = f"{ctx.actor.identity}:follow_up:{answers.get('_started', '')}"
    return _shown(send_follow_up(ctx, int(answers["session"]), _content(answers), send_at, key,
                                 to_channel=bool(answers.get("channel"))), ctx)


_CONTENT = ("session", "summary", "resources", "recording", "teaser", "when")

FOLLOW_UP = Dialog(
    name="follow_up",
    version=1,
    steps=(
        Choose("session", "follow_up.session.ask", options=_sessions),
        Ask("summary", "follow_up.summary.ask", parse=_summary, long=True,
            help="follow_up.summary.help"),
        Ask("resources", "follow_up.resources.ask", parse=_links, long=True, skippable=True,
            show=_show_links, help="follow_up.resources.help"),
        Ask("recording", "follow_up.recording.ask", parse=_recording, skippable=True),
        Ask("teaser", "follow_up.teaser.ask", parse=one_line(TEASER_LIMIT), skippable=True,
            help="follow_up.teaser.help"),
        Ask("when", "follow_up.when.ask", parse=_when, show=_show_when, help="follow_up.when.help"),
        Confirm("channel", "follow_up.channel.ask", when=_has_channel, help="follow_up.channel.help",
                depends_on=("session",)),
        Confirm("send", _preview, depends_on=_CONTENT, reviewed=False),
    ),
    cancelled="follow_up.cancelled",
    finish=_finish_follow_up,
)


def _follow_up(ctx: ServiceContext) -> Routed:
    if not team_networks(ctx):
        return [Text(ctx.t("follow_up.team_only"))]
    sessions = recent_team_sessions(ctx)
    if not sessions:
        return [Text(ctx.t("follow_up.no_sessions"))]
    return StartDialog("follow_up", preset={"_sessions": sessions, "_started": ctx.now.isoformat()})


# --- recommendations to the presenter, and the reply -----------------------------------------


def _recommendations_preview(ctx: StepContext) -> str:
    draft = FollowUp(id=0, session_id=0, kind="recommendations", case_id=None, author_id=0,
                     content={"text": ctx.answers.get("text") or "",
                              "resources": ctx.answers.get("resources") or []},
                     send_at=ctx.now, created_at=ctx.now)
    card = recommendations_card(draft, ctx.t("recommend.preview.case"), ctx.t, with_actions=False)
    return "\n\n".join((ctx.t("recommend.preview.intro"), card.fallback_text(),
                        ctx.t("recommend.send.ask")))


def _finish_recommendations(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    if not answers.get("send"):
        return [Text(ctx.t("recommend.not_sent"))]
    key = f"{ctx.actor.identity}:recommendations:{answers['_case']}:{answers.get('_started', '')}"
    return _shown(send_recommendations(ctx, int(answers["_case"]), str(answers["text"]),
                                       list(answers.get("resources") or []), key), ctx)


RECOMMENDATIONS = Dialog(
    name="recommendations",
    version=1,
    steps=(
        Ask("text", "recommend.text.ask", parse=paragraph(RECOMMENDATIONS_LIMIT), long=True,
            help="recommend.text.help"),
        Ask("resources", "recommend.resources.ask", parse=_links, long=True, skippable=True,
            show=_show_links),
        Confirm("send", _recommendations_preview, depends_on=("text", "resources"),
                reviewed=False),
    ),
    cancelled="recommend.cancelled",
    finish=_finish_recommendations,
)


def _finish_reply(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    key = f"{ctx.actor.identity}:reply:{answers['_follow_up']}:{answers.get('_started', '')}"
    return _shown(send_reply(ctx, int(answers["_follow_up"]), str(answers["text"]), key), ctx)


RECOMMENDATION_REPLY = Dialog(
    name="recommendation_reply",
    version=1,
    steps=(Ask("text", "recommend.reply.ask", parse=paragraph(REPLY_LIMIT), long=True),),
    cancelled="recommend.reply.cancelled",
    finish=_finish_reply,
)


def _shown(result: Sequence[Part] | Refused, ctx: ServiceContext) -> list[Part]:
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return list(result)


def _listed(ctx: ServiceContext) -> Routed:
    return _shown(list_follow_ups(ctx), ctx)


DIALOGS: tuple[Dialog, ...] = (FOLLOW_UP, RECOMMENDATIONS, RECOMMENDATION_REPLY)
ACTIONS: dict[str, Callable[[ServiceContext, int], Acted]] = {
    "follow_up_show": show_follow_up,
    "follow_up_resend": resend_to_newcomers,
    "case_recommend": start_recommendations,
    "recommendation_reply": start_reply,
    "follow_up_slot": ask_follow_up_slot,
}
COMMANDS: tuple[Command, ...] = (
    Command("follow_up", frozenset({"follow up", "follow-up", "followup", "send follow up",
                                    "suivi", "faire un suivi", "envoyer un suivi"}), _follow_up),
    Command("follow_ups", frozenset({"follow ups", "follow-ups", "followups", "my follow ups",
                                     "suivis", "mes suivis"}), _listed),
)
