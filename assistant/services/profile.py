"""Changing one's profile and language."""

from __future__ import annotations

from collections.abc import Mapping

from assistant.i18n import Translator, normalise_language
from assistant.messages import Part, Text
from assistant.services.context import Refused, ServiceContext
from assistant.services.reminders import replan_person


def update_profile(changes: Mapping[str, str], ctx: ServiceContext) -> list[Part] | Refused:
    if ctx.person is None:
        return Refused("profile.not_registered")
    if not changes:
        return [Text(ctx.t("profile.unchanged"))]
    ctx.uow.people.update(ctx.person.id, dict(changes))
    if "time_zone" in changes:
        # Reminders go at the reader's local hours: plan them again in the new zone.
        for series_id, status in ctx.uow.enrolments.of_person(ctx.person.id).items():
            if status == "registered":
                replan_person(ctx.uow, ctx.person.id, series_id, ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "person.updated", f"person:{ctx.person.id}",
                         {"fields": sorted(changes)})
    t = Translator(normalise_language(changes.get("language") or ctx.t.language))
    return [Text(t("profile.saved"))]


def set_language(language: str, ctx: ServiceContext) -> list[Part]:
    language = normalise_language(language)
    if ctx.person is not None:
        ctx.uow.people.update(ctx.person.id, {"language": language})
    ctx.uow.people.set_identity_language(ctx.actor.identity, language)
    return [Text(Translator(language)("language.saved"))]
