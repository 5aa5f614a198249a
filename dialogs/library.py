"""The members' library in chat: "library" (also "library <words>" to search and "library
<series>" for one series), its buttons, and the team's "library add".

The services check membership, or the team, again on every call: the buttons name a
session, a series or an item by number, and anyone can forge one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assistant.messages import Part, Text
from assistant.model import LIBRARY_KINDS
from assistant.parsing import Invalid, Valid
from assistant.runtime import Answers, Ask, Choice, Choose, Dialog, Review, StepContext
from assistant.services.context import Refused, ServiceContext
from assistant.services.library import (
    TITLE_LIMIT,
    add_choices,
    add_item,
    check_link,
    member_networks,
    more,
    not_a_member,
    remove_item,
    search,
    series_named,
    show_network,
    show_series,
    whole_library,
)
from assistant.services.sessions import team_networks
from assistant.turns import Routed, StartDialog
from dialogs.case_presentation import checked
from dialogs.command import Acted, Command


def _shown(result: Sequence[Part] | Refused, ctx: ServiceContext) -> list[Part]:
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return list(result)


# --- reading -----------------------------------------------------------------------------------


def _library(ctx: ServiceContext) -> Routed:
    networks = member_networks(ctx)
    if not networks:
        return not_a_member(ctx)
    if len(networks) == 1:
        return _shown(show_network(ctx, networks[0]), ctx)
    names = {n.slug: n.name for n in ctx.directory.networks}
    return StartDialog("library_network", preset={
        "_networks": [{"slug": slug, "name": names.get(slug, slug)} for slug in networks]})


def _library_with(ctx: ServiceContext, words: str) -> Routed:
    """"library pain" searches; "library spring" (a series' name) lists that series."""
    if not member_networks(ctx):
        return not_a_member(ctx)
    series = series_named(ctx, words)
    return _shown(show_series(ctx, series.id) if series else search(ctx, words), ctx)


def _networks(ctx: StepContext) -> list[Choice]:
    return [Choice(str(n["slug"]), str(n["name"]), literal=True)
            for n in ctx.answers.get("_networks", [])]


def _finish_network(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    return _shown(show_network(ctx, str(answers["network"])), ctx)


LIBRARY_NETWORK = Dialog(
    name="library_network",
    version=1,
    steps=(Choose("network", "library.network.ask", options=_networks,
                  label="library.network.label"),),
    cancelled="library.cancelled",
    finish=_finish_network,
)


# --- the team adds a link ----------------------------------------------------------------------


def _sessions(ctx: StepContext) -> list[Choice]:
    return [Choice(str(s["id"]), str(s["label"]), literal=True)
            for s in ctx.answers.get("_sessions", [])]


def _url(text: str, ctx: StepContext) -> Valid[str] | Invalid:
    link = check_link(text)
    return Invalid(link.message, link.args or {}) if isinstance(link, Refused) else Valid(link)


def _finish_add(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    return _shown(add_item(ctx, int(answers["session"]), str(answers["kind"]), str(answers["url"]),
                           str(answers.get("title") or "")), ctx)


LIBRARY_ADD = Dialog(
    name="library_add",
    version=1,
    steps=(
        Choose("session", "library.add.session.ask", options=_sessions,
               label="library.add.session.label"),
        Choose("kind", "library.add.kind.ask",
               options=tuple(Choice(kind, f"library.kind.{kind}") for kind in LIBRARY_KINDS),
               label="library.add.kind.label"),
        Ask("url", "library.add.url.ask", parse=_url, help="library.add.url.help",
            label="library.add.url.label"),
        # Every member reads the title: nothing in it may identify a patient.
        Ask("title", "library.add.title.ask", parse=checked(TITLE_LIMIT), skippable=True,
            label="library.add.title.label"),
    ),
    review=Review("library.add.review", submit="library.add.save"),
    cancelled="library.add.cancelled",
    finish=_finish_add,
)


def _add(ctx: ServiceContext) -> Routed:
    if not team_networks(ctx):
        return [Text(ctx.t("library.team_only"))]
    choices = add_choices(ctx)
    if isinstance(choices, Refused) or not choices:
        return [Text(ctx.t("library.add.no_sessions"))]
    return StartDialog("library_add", preset={"_sessions": choices})


def _add_for(ctx: ServiceContext, session_id: int) -> Acted:
    """"Add a link" on a library card: that session chosen already."""
    choices = add_choices(ctx, session_id)  # refuses, and audits, anyone outside the team
    if isinstance(choices, Refused):
        return choices
    return StartDialog("library_add", preset={"_sessions": choices, "session": str(session_id)})


def _more(action: str) -> Callable[[ServiceContext, int], Acted]:
    return lambda ctx, session_id: more(ctx, session_id, action)


DIALOGS: tuple[Dialog, ...] = (LIBRARY_NETWORK, LIBRARY_ADD)
ACTIONS: dict[str, Callable[[ServiceContext, int], Acted]] = {
    "library_more": _more("library_more"),
    "library_series_more": _more("library_series_more"),
    "library_search_more": _more("library_search_more"),
    "library_series": lambda ctx, series_id: show_series(ctx, series_id),
    "library_all": whole_library,
    "library_add": _add_for,
    "library_remove": remove_item,
}
COMMANDS: tuple[Command, ...] = (
    Command("library", frozenset({"library", "the library", "search library", "recordings",
                                  "bibliotheque", "la bibliotheque", "enregistrements",
                                  "chercher dans la bibliotheque"}),
            _library, needs_registration=False, run_with=_library_with),
    Command("library_add", frozenset({"library add", "add to library", "add to the library",
                                      "add a recording", "ajouter a la bibliotheque",
                                      "bibliotheque ajouter", "ajouter un enregistrement"}), _add),
)
