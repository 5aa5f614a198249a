"""After registration: profile, networks, consent, language and one's own data."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.messages import Card, Fact, Part, Text
from assistant.runtime import Answers, Choice, Choose, Confirm, Dialog, Fill, StepContext
from assistant.services.consent import agreement_token, consent_text
from assistant.services.context import Refused, ServiceContext
from assistant.services.membership import join_networks, joinable, leave_network, withdraw_from
from assistant.services.personal_data import delete_my_data
from assistant.services.profile import set_language, update_profile
from dialogs.fields import EDITABLE, PROFILE_STEPS, editing, languages, profile_from, shown

NOTHING = "nothing"


def _shown(result: Sequence[Part] | Refused, ctx: ServiceContext) -> Sequence[Part]:
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message, **(result.args or {})))]
    return result


def profile_card(ctx: StepContext | ServiceContext) -> Card:
    person = ctx.directory.person or {}
    facts = tuple(Fact(ctx.t(f"fields.{key}.label"), shown(key, str(person.get(key, "")), ctx))  # type: ignore[arg-type]
                  for key in EDITABLE)
    return Card(ctx.t("profile.title"), facts)


# --- profile -------------------------------------------------------------------------------

FORM = "form"
# The free-text fields, which a form edits at once; lists stay one question each.
FORM_FIELDS = ("full_name", "email", "organisation", "region", "country", "time_zone")


def _field_choices(ctx: StepContext) -> list[Choice]:
    choices = [Choice(key, f"fields.{key}.label") for key in EDITABLE]
    if "forms" in ctx.capabilities:
        choices.append(Choice(FORM, "profile.field.form"))
    return [*choices, Choice(NOTHING, "profile.field.nothing")]


def _current_profile(ctx: StepContext) -> dict[str, str]:
    person = ctx.directory.person or {}
    return {key: str(person.get(key, "")) for key in FORM_FIELDS}


def _save_profile(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    if answers.get("field") == NOTHING:
        return [Text(ctx.t("profile.unchanged"))]
    return _shown(update_profile(profile_from(answers), ctx), ctx)


PROFILE = Dialog(
    name="profile",
    version=1,
    steps=(
        Choose("field", "profile.field.ask", options=_field_choices, reviewed=False),
        *editing("field"),
        Fill("details", "runtime.form.title", fields=FORM_FIELDS, prefill=_current_profile,
             when=lambda answers: answers.get("field") == FORM, reviewed=False),
    ),
    cancelled="profile.cancelled",
    finish=_save_profile,
)
assert {s.key for s in PROFILE_STEPS} <= {s.key for s in PROFILE.flat_steps}


# --- networks ------------------------------------------------------------------------------

def _network_actions(ctx: StepContext) -> list[Choice]:
    directory = ctx.directory
    choices = [Choice(f"join:{n.slug}", ctx.t(f"networks.action.join.{n.state}", network=n.name),
                      literal=True)
               for n in directory.networks if joinable(n) and n.slug not in directory.memberships]
    choices += [Choice(f"leave:{n.slug}", ctx.t("networks.action.leave", network=n.name),
                       literal=True)
                for n in directory.networks if n.slug in directory.memberships]
    return [*choices, Choice(NOTHING, "networks.action.nothing")]


def _target(answers: Answers) -> tuple[str, str]:
    verb, _, slug = str(answers.get("action", "")).partition(":")
    return verb, slug


def _join_consent_prompt(ctx: StepContext) -> str:
    network = ctx.directory.network(_target(ctx.answers)[1])
    if network is None:
        return ctx.t("networks.not_joinable")
    return "\n\n".join([ctx.t("consent.intro"),
                        f"*{network.name}* ({ctx.t('consent.version', version=network.consent_version)})",
                        consent_text(network, ctx.language), ctx.t("consent.ask")])


def _join_consent_choices(ctx: StepContext) -> list[Choice]:
    network = ctx.directory.network(_target(ctx.answers)[1])
    networks = [network] if network is not None else []
    return [Choice(agreement_token(networks, ctx.language), "consent.agree"),
            Choice(NOTHING, "consent.not_now")]


def _apply_network_action(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    verb, slug = _target(answers)
    if ctx.person is None:
        return [Text(ctx.t("profile.not_registered"))]
    if verb == "join" and answers.get("consent") not in (None, NOTHING):
        return _shown(join_networks(ctx, ctx.person.id, [slug], str(answers["consent"]),
                                    ctx.t.language), ctx)
    if verb == "leave" and answers.get("confirm_leave"):
        return _shown(leave_network(ctx, ctx.person.id, slug), ctx)
    return [Text(ctx.t("networks.unchanged"))]


NETWORKS = Dialog(
    name="networks",
    version=1,
    steps=(
        Choose("action", "networks.action.ask", options=_network_actions, reviewed=False),
        Choose("consent", _join_consent_prompt, options=_join_consent_choices,
               when=lambda a: _target(a)[0] == "join", help="consent.help"),
        Confirm("confirm_leave", "networks.leave.confirm",
                when=lambda a: _target(a)[0] == "leave"),
    ),
    cancelled="networks.unchanged",
    finish=_apply_network_action,
)


# --- consent -------------------------------------------------------------------------------

def consent_card(ctx: ServiceContext) -> Card:
    facts = []
    for slug, version in sorted(ctx.directory.consents.items()):
        network = ctx.directory.network(slug)
        name = network.name if network else slug
        facts.append(Fact(name, ctx.t("consent.version", version=version)))
    return Card(ctx.t("consent.title"), tuple(facts))


def _withdraw_choices(ctx: StepContext) -> list[Choice]:
    choices = [Choice(slug, ctx.t("consent.withdraw.option", network=n.name), literal=True)
               for slug in sorted(ctx.directory.consents)
               if (n := ctx.directory.network(slug)) is not None]
    return [*choices, Choice(NOTHING, "consent.withdraw.nothing")]


def _withdraw(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    slug = str(answers.get("network"))
    if ctx.person is None or slug == NOTHING or not answers.get("sure"):
        return [Text(ctx.t("consent.unchanged"))]
    return _shown(withdraw_from(ctx, ctx.person.id, slug), ctx)


CONSENT = Dialog(
    name="consent",
    version=1,
    steps=(
        Choose("network", "consent.withdraw.ask", options=_withdraw_choices, reviewed=False),
        Confirm("sure", "consent.withdraw.confirm", when=lambda a: a.get("network") != NOTHING),
    ),
    cancelled="consent.unchanged",
    finish=_withdraw,
)


# --- language and deletion -----------------------------------------------------------------

def _set_language(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    return set_language(str(answers["language"]), ctx)


LANGUAGE = Dialog(
    name="language",
    version=1,
    steps=(Choose("language", "fields.language.ask", options=languages),),
    cancelled="language.unchanged",
    finish=_set_language,
)


def _delete(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    if not answers.get("sure"):
        return [Text(ctx.t("data.delete.kept"))]
    return _shown(delete_my_data(ctx), ctx)


DELETE_MY_DATA = Dialog(
    name="delete_my_data",
    version=1,
    steps=(Confirm("sure", "data.delete.confirm", help="data.delete.help"),),
    cancelled="data.delete.kept",
    finish=_delete,
)

