"""What Spoke does with a message when no question is waiting: the commands people type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assistant.events import (
    ConversationStarted,
    Event,
    FileOffered,
    FormSubmitted,
    HomeOpened,
    UserChose,
    UserSaid,
)
from assistant.messages import Card, Fact, Part, Text
from assistant.runtime.engine import refused_file
from assistant.runtime.words import command_in, fold
from assistant.services.cases import cases_to_review, my_cases
from assistant.services.context import Refused, ServiceContext
from assistant.services.personal_data import export_my_data
from assistant.services.sessions import (
    my_next_sessions,
    requests_to_approve,
    team_networks,
    upcoming_sessions,
)
from assistant.turns import HomePage, Routed, StartDialog
from dialogs.account import consent_card, profile_card
from dialogs.case_presentation import draft_preset
from dialogs.command import Command
from dialogs.features import MODULES
from dialogs.sessions import INVITATION_COMMANDS, team_series_preset, team_sessions_preset


def _help(ctx: ServiceContext) -> Routed:
    key = "help.registered" if ctx.person else "help.newcomer"
    parts = [Text(ctx.t("help.intro")), Text(ctx.t(key))]
    if ctx.person is not None and team_networks(ctx):
        parts.append(Text(ctx.t("help.team")))
    return parts


def _register(ctx: ServiceContext) -> Routed:
    if ctx.person is not None:
        return [Text(ctx.t("registration.already")), profile_card(ctx)]
    return StartDialog("registration")


def _profile(ctx: ServiceContext) -> Routed:
    return StartDialog("profile", lead=(profile_card(ctx),))


def _consent(ctx: ServiceContext) -> Routed:
    if not ctx.directory.consents:
        return [Text(ctx.t("consent.none"))]
    return StartDialog("consent", lead=(consent_card(ctx),))


def _export(ctx: ServiceContext) -> Routed:
    result = export_my_data(ctx)
    return [Text(ctx.t(result.message))] if isinstance(result, Refused) else result


def _sessions(ctx: ServiceContext) -> Routed:
    result = upcoming_sessions(ctx)
    return [Text(ctx.t(result.message))] if isinstance(result, Refused) else result


def _case(ctx: ServiceContext) -> Routed:
    """Start a case presentation, or pick up the draft put aside."""
    preset = draft_preset(ctx)
    if preset is None:
        return [Text(ctx.t("case.no_network"))]
    return StartDialog("case", preset=preset)


def _my_cases(ctx: ServiceContext) -> Routed:
    result = my_cases(ctx)
    return [Text(ctx.t(result.message, **(result.args or {})))] if isinstance(result, Refused) else result


def _cases_to_review(ctx: ServiceContext) -> Routed:
    result = cases_to_review(ctx)
    return [Text(ctx.t(result.message, **(result.args or {})))] if isinstance(result, Refused) else result


def _discard_case(ctx: ServiceContext) -> Routed:
    draft = ctx.uow.conversations.load(ctx.actor.identity, "case")
    if draft is None:
        return [Text(ctx.t("case.no_draft"))]
    ctx.uow.conversations.delete(ctx.actor.identity, "case", draft.revision)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "case.draft_discarded", "case:draft")
    return [Text(ctx.t("case.discarded"))]


def _approvals(ctx: ServiceContext) -> Routed:
    result = requests_to_approve(ctx)
    return [Text(ctx.t(result.message))] if isinstance(result, Refused) else result


def _add_session(ctx: ServiceContext) -> Routed:
    if not team_networks(ctx):
        return [Text(ctx.t("schedule.team_only"))]
    series = team_series_preset(ctx)
    if not series:
        return [Text(ctx.t("schedule.no_series"))]
    return StartDialog("add_session", preset={"_series": series})


def _change_session(ctx: ServiceContext) -> Routed:
    if not team_networks(ctx):
        return [Text(ctx.t("schedule.team_only"))]
    sessions = team_sessions_preset(ctx)
    if not sessions:
        return [Text(ctx.t("schedule.no_sessions"))]
    return StartDialog("change_session", preset={"_sessions": sessions})


COMMANDS: tuple[Command, ...] = (
    # Before `register`: "join CODE" takes an invitation, a bare "join" still registers.
    *INVITATION_COMMANDS,
    Command("help", frozenset({"help", "aide", "?", "menu", "commands", "commandes"}), _help, False),
    Command("register", frozenset({"register", "sign up", "join", "s'inscrire", "inscription",
                                   "inscrire", "start", "commencer"}), _register, False),
    Command("language", frozenset({"language", "langue", "english", "francais"}),
            lambda ctx: StartDialog("language"), False),
    Command("profile", frozenset({"profile", "profil", "my profile", "mon profil"}), _profile),
    Command("networks", frozenset({"networks", "network", "reseaux", "reseau"}),
            lambda ctx: StartDialog("networks")),
    Command("consent", frozenset({"consent", "consentement", "withdraw consent",
                                  "retirer mon consentement"}), _consent),
    Command("export", frozenset({"export my data", "export", "my data", "exporter mes donnees",
                                 "mes donnees"}), _export),
    Command("delete", frozenset({"delete my data", "supprimer mes donnees", "delete me"}),
            lambda ctx: StartDialog("delete_my_data")),
    Command("sessions", frozenset({"sessions", "session", "seances", "seance", "my sessions",
                                   "mes seances", "calendar", "calendrier", "agenda"}), _sessions),
    Command("case", frozenset({"case", "cas", "present a case", "new case", "my draft",
                               "presenter un cas", "nouveau cas", "mon brouillon"}), _case),
    Command("my_cases", frozenset({"my cases", "mes cas"}), _my_cases),
    Command("review_cases", frozenset({"review cases", "cases to review", "cases",
                                       "cas a examiner", "examiner les cas"}), _cases_to_review),
    Command("discard_case", frozenset({"discard case", "delete draft", "supprimer le cas",
                                       "supprimer mon brouillon"}), _discard_case),
    Command("approvals", frozenset({"approvals", "requests", "approbations", "demandes"}),
            _approvals),
    Command("reminders", frozenset({"reminders", "reminder", "rappels", "rappel",
                                    "notifications"}), lambda ctx: StartDialog("reminders")),
    Command("add_session", frozenset({"add session", "add a session", "new session",
                                      "ajouter une seance", "nouvelle seance"}), _add_session),
    Command("change_session", frozenset({"change session", "move session", "cancel session",
                                         "reschedule", "modifier une seance", "deplacer une seance",
                                         "annuler une seance"}), _change_session),
    *(command for module in MODULES for command in module.COMMANDS),
)
BY_WORD: Mapping[str, Command] = {word: c for c in COMMANDS for word in c.words}


def route(event: Event, ctx: ServiceContext) -> Routed:
    action = event.action
    if isinstance(action, ConversationStarted):
        return _greet(ctx)
    if isinstance(action, HomeOpened):
        return home_page(ctx)
    if isinstance(action, FileOffered):
        return [Text(ctx.t(refused_file(action.with_text))), *_menu(ctx)]
    if isinstance(action, UserChose | FormSubmitted):
        # A button from a conversation that has ended (or a forged one): change nothing.
        return [Text(ctx.t("runtime.stale_idle")), *_menu(ctx)]
    assert isinstance(action, UserSaid)
    command = BY_WORD.get(fold(action.text))
    if command is None:
        with_words = _with_words(action.text)
        if with_words is not None:
            command, rest = with_words
            if command.needs_registration and ctx.person is None:
                return [Text(ctx.t("commands.register_first"))]
            assert command.run_with is not None
            return command.run_with(ctx, rest)
    if command is None:
        if ctx.person is None:
            return StartDialog("registration")
        if command_in(action.text) in ("cancel", "back", "skip"):  # with no question waiting
            return [Text(ctx.t("runtime.nothing_to_cancel")), *_menu(ctx)]
        return [Text(ctx.t("commands.unknown")), *_menu(ctx)]
    if command.needs_registration and ctx.person is None:
        return [Text(ctx.t("commands.register_first"))]
    return command.run(ctx)


def _with_words(text: str) -> tuple[Command, str] | None:
    """A command followed by its words ("library pain"), if any command takes words."""
    for command in COMMANDS:
        rest = command.rest_of(text)
        if rest:
            return command, rest
    return None


def _greet(ctx: ServiceContext) -> Routed:
    if ctx.person is None:
        return StartDialog("registration")
    return [Text(ctx.t("welcome.back", name=ctx.person.full_name.split()[0])), *_menu(ctx)]


def _menu(ctx: ServiceContext) -> Sequence[Part]:
    return [Text(ctx.t("help.registered" if ctx.person else "help.newcomer"))]


def home_page(ctx: ServiceContext) -> HomePage:
    """Where someone stands, and what they can do next, without starting a conversation."""
    if ctx.person is None:
        return HomePage((Text(ctx.t("home.newcomer")), Text(ctx.t("help.newcomer"))))
    networks = []
    for slug, status in sorted(ctx.directory.memberships.items()):
        network = ctx.directory.network(slug)
        networks.append(Fact(network.name if network else slug, ctx.t(f"home.status.{status}")))
    standing = Card(ctx.t("home.title", name=ctx.person.full_name), tuple(networks))
    if not networks:
        return HomePage((standing, Text(ctx.t("home.no_networks")), Text(ctx.t("help.registered"))))
    return HomePage((standing, *my_next_sessions(ctx), Text(ctx.t("help.registered"))))
