"""Translations and locale-aware formatting, from Babel PO catalogues.

Message ids read `dialog.step.purpose`; every `*.po` file under
`assistant/locale/<language>/LC_MESSAGES/` is merged into that language's catalogue. PO files
are read directly (no compile step), once per process: they are read-only data.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
_LOCALE_DIR = Path(__file__).parent / "locale"
_BABEL_LOCALES = {"en": "en_GB", "fr": "fr_CA"}

log = logging.getLogger(__name__)


@functools.cache
def catalogue(language: str) -> Mapping[str, str]:
    from babel.messages.pofile import read_po  # lazy: keeps `spoke chat` start-up quick

    messages: dict[str, str] = {}
    for path in sorted((_LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id and isinstance(message.id, str) and message.string:
                    messages[message.id] = str(message.string)
    return messages


def normalise_language(language: str | None) -> str:
    """`fr-CA`, `fr_FR` and `French` all become `fr`; anything unknown becomes English."""
    if not language:
        return DEFAULT_LANGUAGE
    code = language.replace("_", "-").split("-")[0].lower()[:2]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Translator:
    language: str

    def __call__(self, message_id: str, /, **args: Any) -> str:
        return translate(message_id, self.language, **args)

    def datetime(self, moment: datetime, zone: str, style: str = "weekday_time") -> str:
        return format_moment(moment, zone, self.language, style)

    def zone_name(self, zone: str) -> str:
        """"United Kingdom Time", "Canada (Toronto)": what readers call their zone."""
        from babel.dates import get_timezone_location

        if zone in ("UTC", "Etc/UTC"):
            return "UTC"
        # fr_CA's CLDR pattern says "heure avancée" (summer time) all year: use plain French.
        locale = "fr" if self.language == "fr" else _BABEL_LOCALES[self.language]
        try:
            return str(get_timezone_location(zone, locale=locale))
        except LookupError:
            return zone

    def list(self, items: Sequence[str]) -> str:
        from babel.lists import format_list

        return format_list(list(items), locale=_BABEL_LOCALES[self.language]) if items else ""


def translate(message_id: str, language: str, /, **args: Any) -> str:
    text = catalogue(language).get(message_id)
    if text is None and language != DEFAULT_LANGUAGE:
        text = catalogue(DEFAULT_LANGUAGE).get(message_id)
    if text is None:
        log.error("missing translation", extra={"event": "i18n.missing", "message_id": message_id})
        return message_id
    return text.format(**args) if args else text


_PATTERNS = {
    # "Monday 23 November, 15:04" / "lundi 23 novembre, 15 h 04"
    "weekday_time": {"en": "EEEE d MMMM, HH:mm", "fr": "EEEE d MMMM, HH 'h' mm"},
    "date": {"en": "EEEE d MMMM y", "fr": "EEEE d MMMM y"},
    "time": {"en": "HH:mm", "fr": "HH 'h' mm"},
}


def format_moment(moment: datetime, zone: str, language: str, style: str = "weekday_time") -> str:
    from babel.dates import format_datetime

    local = moment.astimezone(ZoneInfo(zone))
    return format_datetime(local, _PATTERNS[style][language], locale=_BABEL_LOCALES[language])
