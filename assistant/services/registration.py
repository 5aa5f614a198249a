"""Registering a person: profile, memberships and consent, in the turn's transaction."""

from __future__ import annotations

from collections.abc import Mapping

from assistant.i18n import Translator, normalise_language
from assistant.messages import Part, Text
from assistant.services.context import Refused, ServiceContext
from assistant.services.membership import join_networks

PROFILE_KEYS = ("full_name", "email", "profession", "organisation", "care_setting", "region",
                "country", "time_zone", "language")


def register(profile: Mapping[str, str], networks: list[str], consent_token: str | None,
             ctx: ServiceContext) -> list[Part] | Refused:
    if ctx.person is not None:
        return Refused("registration.already")
    missing = [key for key in PROFILE_KEYS if not profile.get(key)]
    if missing:
        return Refused("registration.incomplete")
    language = normalise_language(profile["language"])
    person = ctx.uow.people.register(ctx.actor.identity, dict(profile), ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "person.registered", f"person:{person.id}")
    t = Translator(language)
    parts: list[Part] = [Text(t("registration.done", name=person.full_name.split()[0]))]
    if networks:
        # Consent was read in the language of the conversation, which may differ.
        joined = join_networks(_in(ctx, t), person.id, networks, consent_token or "",
                               ctx.t.language)
        if isinstance(joined, Refused):
            parts.append(Text(t(joined.message)))
        else:
            parts += joined
    parts.append(Text(t("registration.next")))
    return parts


def _in(ctx: ServiceContext, t: Translator) -> ServiceContext:
    from dataclasses import replace

    return replace(ctx, t=t)

