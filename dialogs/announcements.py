"""Announcements in the network's channel: `announce` for the team (a series or a coming
session, previewed, then posted), and "use this channel", said to Spoke in that channel.

Everything ends in a service that checks the team again: the buttons that start an
announcement name a series or session by number, and anyone can forge one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assistant.messages import Part, Text
from assistant.runtime import Answers, Choice, Choose, Confirm, Dialog, StepContext
from assistant.services.announcements import (
    Channel,
    Target,
    announce,
    announce_choice,
    announce_targets,
    set_network_channel,
    team_channels,
    use_this_channel,
)
from assistant.services.context import Refused, ServiceContext
from assistant.services.sessions import team_networks
from assistant.turns import Routed, StartDialog
from dialogs.command import Acted, Command

# --- announce --------------------------------------------------------------------------------


def _targets(ctx: StepContext) -> list[Choice]:
    return [Choice(str(t["value"]), str(t["label"]), literal=True)
            for t in ctx.answers.get("_targets", [])]


def _preview(ctx: StepContext) -> str:
    """The post exactly as the channel will read it, then the question."""
    chosen = next((t for t in ctx.answers.get("_targets", [])
                   if t["value"] == ctx.answers.get("target")), None)
    if chosen is None:
        return ctx.t("announce.send.ask")
    return "\n\n".join((ctx.t("announce.preview.intro"), str(chosen["preview"]),
                        ctx.t("announce.send.ask")))


def _finish_announce(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    if not answers.get("send"):
        return [Text(ctx.t("announce.not_sent"))]
    target = Target.parse(answers.get("target"))
    if target is None:  # only offered values reach here; a stored state may be older
        return [Text(ctx.t("announce.not_yours"))]
    return _shown(announce(ctx, target), ctx)


ANNOUNCE = Dialog(
    name="announce",
    version=1,
    steps=(
        Choose("target", "announce.target.ask", options=_targets, help="announce.target.help",
               label="announce.target.label"),
        Confirm("send", _preview, depends_on=("target",), reviewed=False),
    ),
    cancelled="announce.cancelled",
    finish=_finish_announce,
)


def _announce(ctx: ServiceContext) -> Routed:
    if not team_networks(ctx):
        return [Text(ctx.t("announce.team_only"))]
    if not team_channels(ctx):
        return [Text(ctx.t("announce.no_channel"))]
    targets = announce_targets(ctx)
    if not targets:
        return [Text(ctx.t("announce.nothing"))]
    return StartDialog("announce", preset={"_targets": targets})


def _announce_one(kind: str) -> Callable[[ServiceContext, int], Acted]:
    """A team's button on a series or session ("Announce in the channel"): straight to the
    preview of that one."""

    def start(ctx: ServiceContext, number: int) -> Acted:
        target = Target(kind, number)
        choice = announce_choice(ctx, target)
        if isinstance(choice, Refused):
            return choice
        return StartDialog("announce", preset={"_targets": [choice], "target": target.ref})

    return start


# --- use this channel ------------------------------------------------------------------------


def _networks(ctx: StepContext) -> list[Choice]:
    return [Choice(str(slug), str(name), literal=True)
            for slug, name in ctx.answers.get("_networks", [])]


def _finish_channel(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    channel = Channel(str(answers["_identity"]), dict(answers["_address"]))
    return _shown(set_network_channel(ctx, str(answers["network"]), channel), ctx)


USE_CHANNEL = Dialog(
    name="announce_channel",
    version=1,
    steps=(Choose("network", "announce.channel.network.ask", options=_networks,
                  label="announce.channel.network.label"),),
    cancelled="announce.channel.cancelled",
    finish=_finish_channel,
)


def _use_this_channel(ctx: ServiceContext) -> Routed:
    used = use_this_channel(ctx)
    return used if isinstance(used, StartDialog) else _shown(used, ctx)


def _shown(result: Sequence[Part] | Refused, ctx: ServiceContext) -> list[Part]:
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return list(result)


DIALOGS: tuple[Dialog, ...] = (ANNOUNCE, USE_CHANNEL)
ACTIONS: dict[str, Callable[[ServiceContext, int], Acted]] = {
    "announce_series": _announce_one("series"),
    "announce_session": _announce_one("session"),
}
COMMANDS: tuple[Command, ...] = (
    Command("announce", frozenset({"announce", "announcement", "announce a series",
                                   "announce a session", "post an announcement", "annoncer",
                                   "annonce", "annoncer une serie", "annoncer une seance",
                                   "publier une annonce"}), _announce),
    Command("use_channel", frozenset({"use this channel", "use this channel for announcements",
                                      "announce here", "utiliser ce canal",
                                      "utiliser ce canal pour les annonces", "annoncer ici",
                                      "utilise ce canal"}), _use_this_channel),
)
