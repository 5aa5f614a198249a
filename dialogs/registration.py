"""Registration: a greeting, the profile one question at a time, networks, consent, review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from assistant.i18n import Translator
from assistant.messages import Part, Text
from assistant.runtime import Answers, Choice, Choose, Dialog, Review, Say, StepContext
from assistant.services.consent import agreement_token, consent_text
from assistant.services.context import Refused, ServiceContext
from assistant.services.invitations import join_by_code
from assistant.services.membership import joinable
from assistant.services.registration import register
from dialogs.fields import PROFILE_STEPS, profile_from

NOT_NOW = "not_now"


def network_choices(ctx: StepContext) -> list[Choice]:
    return [Choice(n.slug, ctx.t(f"registration.networks.state.{n.state}", network=n.name),
                   literal=True)
            for n in ctx.directory.networks
            if joinable(n) and n.slug not in ctx.directory.memberships]


def _networks_prompt(ctx: StepContext) -> str:
    prompt = ctx.t("registration.networks.ask")
    closed = [n.name for n in ctx.directory.networks if n.state == "closed"]
    if closed:
        prompt += "\n" + ctx.t("registration.networks.closed", networks=ctx.t.list(closed))
    return prompt


def chosen_networks(ctx: StepContext, key: str = "networks") -> list:  # type: ignore[type-arg]
    slugs = ctx.answers.get(key) or []
    return [n for n in (ctx.directory.network(s) for s in slugs) if n is not None]


def consent_prompt(ctx: StepContext) -> str:
    sections = [f"*{n.name}* ({ctx.t('consent.version', version=n.consent_version)})\n"
                f"{consent_text(n, ctx.language)}" for n in chosen_networks(ctx)]
    return "\n\n".join([ctx.t("consent.intro"), *sections, ctx.t("consent.ask")])


def consent_choices(ctx: StepContext) -> list[Choice]:
    token = agreement_token(chosen_networks(ctx), ctx.language)
    return [Choice(token, "consent.agree"), Choice(NOT_NOW, "consent.not_now")]


def _finish(answers: Answers, ctx: ServiceContext) -> Sequence[Part]:
    result = register(profile_from(answers), list(answers.get("networks") or []),
                      answers.get("consent"), ctx)
    if isinstance(result, Refused):
        return [Text(ctx.t(result.message))]
    person = ctx.uow.people.by_identity(ctx.actor.identity)
    if answers.get("_invitation") and person is not None:
        # Came with a colleague's invitation: the place follows at once, no code to retype.
        joined = join_by_code(replace(ctx, person=person, t=Translator(person.language)),
                              str(answers["_invitation"]))
        if isinstance(joined, list):
            return [*result, *joined]
    return result


REGISTRATION = Dialog(
    name="registration",
    version=1,
    steps=(
        Say("welcome", "registration.welcome"),
        Choose("begin", "registration.begin.ask",
               options=(Choice("yes", "registration.begin.yes"),
                        Choice(NOT_NOW, "registration.begin.not_now")),
               pause_on={NOT_NOW: "registration.begin.later"}, help="registration.begin.help",
               reviewed=False),
        *PROFILE_STEPS,
        Choose("networks", _networks_prompt, options=network_choices, many=True,
               help="registration.networks.help", skippable=True),
        Choose("consent", consent_prompt, options=consent_choices,
               when=lambda answers: bool(answers.get("networks")),
               pause_on={NOT_NOW: "consent.later"}, help="consent.help", depends_on=("networks",),
               show=lambda value, ctx: ctx.t("consent.agreed")),
    ),
    review=Review("registration.review.title", submit="registration.review.submit"),
    cancelled="registration.cancelled",
    finish=_finish,
)
