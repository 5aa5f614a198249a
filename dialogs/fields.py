"""The profile questions, shared by registration and "profile" editing.

Each field is asked the same way in both places, so a fix to one prompt or parser fixes
both conversations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from assistant.i18n import LANGUAGES
from assistant.model import CARE_SETTINGS
from assistant.parsers import country, country_name, full_name, one_line, region, time_zone, work_email
from assistant.runtime import Answers, Ask, Choice, Choose, Step, StepContext

OTHER = "other"
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}


def professions(ctx: StepContext) -> list[Choice]:
    """The professions of every network one can join, in the networks' own words."""
    seen: list[str] = []
    for network in ctx.directory.networks:
        if network.state != "closed":
            seen += [p for p in network.professions if p not in seen]
    return [Choice(p, p, literal=True) for p in seen] + [Choice(OTHER, "fields.profession.other")]


def care_settings(ctx: StepContext) -> list[Choice]:
    return [Choice(setting, f"fields.care_setting.{setting}") for setting in CARE_SETTINGS]


def languages(ctx: StepContext) -> list[Choice]:
    return [Choice(code, LANGUAGE_NAMES[code], literal=True) for code in LANGUAGES]


def _is_other(key: str) -> Any:
    return lambda answers: answers.get(key) == OTHER


def _show_country(code: Any, ctx: StepContext) -> str:
    return country_name(str(code), ctx.language)


def _hint_name(ctx: StepContext) -> str | None:
    return ctx.hints.display_name


def _hint_email(ctx: StepContext) -> str | None:
    return ctx.hints.email


def _hint_zone(ctx: StepContext) -> str | None:
    zone = ctx.hints.time_zone
    # A server-style UTC zone says nothing about where the reader is: don't offer it.
    return None if not zone or zone.startswith("Etc/") or zone == "UTC" else zone


_STEPS: tuple[Step, ...] = (
    Ask("full_name", "fields.full_name.ask", parse=full_name, suggest=_hint_name,
        help="fields.full_name.help"),
    Ask("email", "fields.email.ask", parse=work_email, suggest=_hint_email,
        help="fields.email.help"),
    Choose("profession", "fields.profession.ask", options=professions,
           help="fields.profession.help"),
    Ask("profession_other", "fields.profession_other.ask", parse=one_line(max_len=80),
        when=_is_other("profession")),
    Ask("organisation", "fields.organisation.ask", parse=one_line(max_len=120),
        help="fields.organisation.help"),
    Choose("care_setting", "fields.care_setting.ask", options=care_settings,
           help="fields.care_setting.help"),
    Ask("region", "fields.region.ask", parse=region, help="fields.region.help"),
    Ask("country", "fields.country.ask", parse=country, show=_show_country),
    Ask("time_zone", "fields.time_zone.ask", parse=time_zone, suggest=_hint_zone,
        help="fields.time_zone.help"),
    Choose("language", "fields.language.ask", options=languages, help="fields.language.help"),
)
PROFILE_STEPS = tuple(replace(step, label=f"fields.{step.key}.label") for step in _STEPS)
EDITABLE = tuple(step.key for step in PROFILE_STEPS if step.key != "profession_other")


def editing(field_key: str = "field") -> tuple[Step, ...]:
    """The same steps, each asked only when the person chose to change that field."""
    def chosen(key: str, inner: Any) -> Any:
        target = "profession" if key == "profession_other" else key
        return lambda answers: answers.get(field_key) == target and (
            inner is None or inner(answers))
    return tuple(replace(step, when=chosen(step.key, step.when)) for step in PROFILE_STEPS)


def profile_from(answers: Answers) -> dict[str, str]:
    """Answers as stored on the person: "other" professions keep what was typed."""
    profile = {key: answers[key] for key in EDITABLE if key in answers}
    if answers.get("profession") == OTHER and answers.get("profession_other"):
        profile["profession"] = answers["profession_other"]
    return profile


def shown(key: str, value: str, ctx: StepContext) -> str:
    """A stored profile value as the reader should see it."""
    if key == "country" and value:
        return country_name(value, ctx.language)
    if key == "care_setting" and value:
        return ctx.t(f"fields.care_setting.{value}")
    if key == "language":
        return LANGUAGE_NAMES.get(value, value)
    return value

