"""A country, typed as an English or French name or an ISO code, stored as its ISO code."""

from __future__ import annotations

import functools

from babel import Locale

from assistant.parsers._folding import fold
from assistant.parsing import Invalid, ParseContext, Valid

# CLDR lists a few two-letter "territories" that are not places a member can live in.
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"})

# What people call the country they live in, beyond CLDR's official names: the UK's nations
# are countries to their residents, and "UK" is not the ISO code.
_ALIASES = {
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "scotland": "GB",
    "ecosse": "GB",
    "england": "GB",
    "angleterre": "GB",
    "wales": "GB",
    "pays de galles": "GB",
    "northern ireland": "GB",
    "irlande du nord": "GB",
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "united states of america": "US",
    "etats unis d amerique": "US",
}

_LANGUAGES = ("en", "fr")


@functools.cache
def _territory_names(language: str) -> dict[str, str]:
    territories = Locale.parse(language).territories
    return {
        code: name
        for code, name in territories.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    }


@functools.cache
def _lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for language in _LANGUAGES:
        for code, name in _territory_names(language).items():
            table[fold(code)] = code
            table[fold(name)] = code
            # "Myanmar (Burma)": either part alone is how people write it.
            before, _, inside = name.partition("(")
            if inside:
                table.setdefault(fold(before), code)
                table.setdefault(fold(inside), code)
    table.update(_ALIASES)
    return table


def country(text: str, ctx: ParseContext) -> Valid[str] | Invalid:
    """An ISO 3166 alpha-2 code ("GB") from "uk", "Scotland", "Royaume-Uni", "ca"..."""
    key = fold(text)
    if not key:
        return Invalid("parse.text.empty")
    code = _lookup().get(key) or _lookup().get(key.removeprefix("the "))
    if code is None:
        return Invalid("parse.country.unknown")
    return Valid(code)


def country_name(code: str, language: str) -> str:
    """The country's name in the reader's language; the code itself if CLDR has none."""
    return _territory_names(language).get(code.upper(), code)
