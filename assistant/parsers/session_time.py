"""When a session starts, how long it lasts, and where to join it.

A facilitator types the start in their own words ("next Thursday at 1pm", "jeudi prochain à
13 h"). dateparser reads it in their wall-clock time, following the rules in PLATFORMS.md
(D1-D4): one language, a naive base, no zones from the text. The profile zone is attached here
with zoneinfo, the value is stored as UTC, and the weekday, date, time and zone are always
confirmed back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from assistant.i18n import format_moment, normalise_language
from assistant.parsing import Invalid, ParseContext, Valid

MAX_START_LENGTH = 100
YEARS_AHEAD = 2
SHORTEST_SESSION, LONGEST_SESSION = 10, 480  # minutes
MAX_URL_LENGTH = 500

_SETTINGS: dict[str, Any] = {
    "PREFER_DATES_FROM": "future",
    "RETURN_AS_TIMEZONE_AWARE": False,
    "DATE_ORDER": "DMY",  # ISO "2027-03-12" is still read year first
}

# D4: "2" from a menu would become the 2nd of this month.
_MENU_ANSWER = re.compile(r"\d{1,4}[.)]?")

# D2: a zone in the text would be a fixed offset ("ET" is wrong half the year) that dateparser
# silently drops ("13:00 JST" comes back as a naive 13:00). It finds abbreviations and offsets
# itself (see _names_a_zone); these are the words and names it does not know.
_ZONE_WORDS = re.compile(
    r"\b(?:gmt|utc|uct)\b"  # also at the start, where dateparser misses "GMT+1 13:00"
    r"|\b(?:africa|america|antarctica|asia|atlantic|australia|europe|indian|pacific|etc)/"
    r"|\b(?:eastern|pacific|central|mountain|atlantic|newfoundland|alaska|hawaii|greenwich|uk"
    r"|british|european|local)\s+(?:standard\s+|daylight\s+|summer\s+)?time\b|\btime\s*zone\b"
    r"|\bheure\s+(?:normale|avancée|d['’]été|locale|de\s+l['’]est|du\s+pacifique|du\s+centre"
    r"|de\s+l['’]atlantique|des\s+rocheuses|de\s+terre-neuve)|\bfuseau\b",
    re.IGNORECASE,
)
# dateparser matches abbreviations in any case, so French "et" and "c'est" are zones to it:
# typed in lower case, only these count, as they are no word in the reader's language.
_ZONES_IN_BOTH = {"bst", "cest", "pst", "pdt", "cst", "cdt", "mst", "mdt", "edt", "akst",
                  "akdt", "hne", "hae", "hnc", "hac", "hnr", "har", "hnp", "hap", "hnt"}
_LOWER_CASE_ZONES = {
    "en": frozenset({*_ZONES_IN_BOTH, "et", "ct", "mt", "pt", "est", "cet", "ist"}),
    "fr": frozenset(_ZONES_IN_BOTH),
}

# Day and month that could be swapped: "03/04/2027", "3.4.27", "3/4". ISO dates start with
# four digits and never match.
_NUMERIC_DATE = re.compile(
    r"(?<![\d/.\-])(?:(\d{1,2})([/.\-])(\d{1,2})\2(?:\d{4}|\d{2})|(\d{1,2})/(\d{1,2}))(?![\d/.\-])"
)

# Rewrites before dateparser, each for a phrase it misreads (checked with dateparser 1.5):
_REWRITES = (
    # French "13 h", "9 h 30", "13h00", "13 heures": it reads "13 h" as thirteen hours from
    # now (Monday 10:00 + 13 h = 23:00) and "à 13 h" after a date as the year 2113.
    (re.compile(r"(?<![\w:.])(\d{1,2})\s*h(?:eures?)?(?:\s*(\d{2}))?(?![\w:])", re.IGNORECASE),
     lambda m: f"{m[1]}:{m[2] or '00'}"),
    # "9.30am", "at 13.00": the time is dropped ("tomorrow at 9.30am" gives tomorrow 10:00).
    (re.compile(r"(?<![\d.])(\d{1,2})\.(\d{2})(?![\d.])"), lambda m: f"{m[1]}:{m[2]}"),
    # "jeudi prochain", "prochain jeudi": nothing is parsed at all. The bare weekday gives the
    # same day as English "next Thursday": the next one after today.
    (re.compile(r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s+prochain\b"
                r"|\bprochain\s+(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\b",
                re.IGNORECASE),
     lambda m: m[1] or m[2]),
    # "tomorrow at midday": unknown word, no result ("noon" works).
    (re.compile(r"\bmidday\b", re.IGNORECASE), lambda m: "noon"),
)

# A time of day, read here too: dateparser drops times it cannot read and keeps the date (it
# gave "tomorrow 10:05" for "tomorrow 25:00"), so its hour and minute must match this one.
_TIME_OF_DAY = re.compile(
    r"(?<![\d:])(?P<hour12>\d{1,2})(?::(?P<minute12>\d{2}))?\s*(?P<meridiem>[ap])\.?m\b\.?"
    r"|(?<![\d:+])(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::\d{2})?(?![\d:])"  # not "+01:00"
    r"|(?<![\w-])(?P<noon>noon|midi)\b",  # not "après-midi", which is no time
    re.IGNORECASE,
)
_FILLER = re.compile(r"\b(?:at|on|à|a|le|vers|around)\b|[@,.\s]", re.IGNORECASE)


def session_start(text: str, ctx: ParseContext) -> Valid[str] | Invalid:
    """When a session starts, as an ISO 8601 UTC string, read in the facilitator's own zone
    (UTC when their profile has none, which the confirmation says)."""
    cleaned = " ".join(text.split())
    if not cleaned:
        return Invalid("parse.text.empty")
    if len(cleaned) > MAX_START_LENGTH or _MENU_ANSWER.fullmatch(cleaned):
        return Invalid("parsers.when.unclear")
    zone = ctx.time_zone or "UTC"
    language = normalise_language(ctx.language)
    for pattern, replacement in _REWRITES:
        cleaned = pattern.sub(replacement, cleaned)
    times = list(_TIME_OF_DAY.finditer(cleaned))
    if len(times) > 1:  # "1pm-2pm", "13:00 à 14:30": only the start is wanted
        return Invalid("parsers.when.range")
    if _names_a_zone(cleaned, language):
        return Invalid("parsers.when.zone_named", {"zone": zone})
    swappable = _swappable_date(cleaned)
    if swappable is not None:
        return Invalid("parsers.when.ambiguous", {"typed": swappable})
    if times and not _FILLER.sub("", cleaned.replace(times[0][0], " ")):
        return Invalid("parsers.when.no_date")

    tz = ZoneInfo(zone)
    wall_now = ctx.now.astimezone(tz).replace(tzinfo=None)  # D3: naive, the reader's wall time
    parsed = _parse(cleaned, language, wall_now)
    if parsed is None:
        return Invalid("parsers.when.unclear")
    if not times:  # "next Thursday": dateparser fills in midnight or the current time
        return Invalid("parsers.when.no_time", {"date": _shown(parsed, language, "date")})
    if (parsed.hour, parsed.minute) != _hour_minute(times[0]):
        return Invalid("parsers.when.unclear")

    if not ctx.now.year - 1 <= parsed.year <= ctx.now.year + YEARS_AHEAD + 1:
        # Refused before converting: 31 December 9999 in Toronto or 1 January 0001 in Tokyo
        # is a moment UTC cannot hold (OverflowError).
        far = {"date": _shown(parsed, language, "date"), "time": _shown(parsed, language, "time"),
               "zone": zone}
        if parsed < wall_now:
            return Invalid("parsers.when.past", far)
        return Invalid("parsers.when.too_far", {**far, "years": YEARS_AHEAD})
    local = parsed.replace(tzinfo=tz)  # in the autumn's repeated hour, the first one (fold=0)
    starts = local.astimezone(UTC)
    if starts.astimezone(tz).replace(tzinfo=None) != parsed:
        # 01:30 on the night the clocks go forward: that wall time never happens.
        return Invalid("parsers.when.nonexistent", {
            "date": _shown(parsed, language, "date"),
            "time": _shown(parsed, language, "time"),
            "zone": zone,
        })
    described = {
        "date": format_moment(starts, zone, language, "date"),  # with the weekday and year
        "time": format_moment(starts, zone, language, "time"),
        "zone": zone,
    }
    if starts <= ctx.now:
        return Invalid("parsers.when.past", described)
    if starts > _years_later(ctx.now, YEARS_AHEAD):
        return Invalid("parsers.when.too_far", {**described, "years": YEARS_AHEAD})
    return Valid(starts.isoformat(), confirm="parsers.when.confirm", confirm_args=described)


def _names_a_zone(text: str, language: str) -> bool:
    from dateparser.timezone_parser import pop_tz_offset_from_string

    if _ZONE_WORDS.search(text):
        return True
    rest = text
    for _ in range(3):  # "lundi et mardi 13:00 JST": "et" comes first and does not count
        rest, name = pop_tz_offset_from_string(rest, as_offset=False)
        if name is None:
            return False
        # as dateparser lists it, between non-letters: "JST", the "Z" of "13:00Z"
        typed_in_capitals = re.search(rf"(?<![^\W\d]){re.escape(name)}(?![^\W\d])", text)
        if (typed_in_capitals or name.lower() in _LOWER_CASE_ZONES[language]
                or any(c.isdigit() for c in name)):
            return True
    return False


def _swappable_date(text: str) -> str | None:
    """A numeric date whose day and month could be read either way ("03/04/2027")."""
    for found in _NUMERIC_DATE.finditer(text):
        day, month = (found[1], found[3]) if found[1] else (found[4], found[5])
        if int(day) <= 12 and int(month) <= 12 and int(day) != int(month):
            return found[0]
    return None


def _parse(text: str, language: str, wall_now: datetime) -> datetime | None:
    import dateparser  # lazy: only facilitators need it; see warm_up for its first parse

    parsed: datetime | None = dateparser.parse(
        text, languages=[language], settings={**_SETTINGS, "RELATIVE_BASE": wall_now}
    )
    return parsed


def _hour_minute(found: re.Match[str]) -> tuple[int, int] | None:
    if found["noon"]:
        return 12, 0
    if found["meridiem"]:
        hour, minute = int(found["hour12"]), int(found["minute12"] or 0)
        if not 1 <= hour <= 12:
            return None  # "13pm"
        return hour % 12 + (12 if found["meridiem"].lower() == "p" else 0), minute
    return int(found["hour"]), int(found["minute"])


def _shown(wall_time: datetime, language: str, style: str) -> str:
    """A naive wall time as it reads, labelled UTC so format_moment shifts nothing (a time
    the clocks skip cannot be placed in its own zone)."""
    return format_moment(wall_time.replace(tzinfo=UTC), "UTC", language, style)


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


@dataclass(frozen=True)
class _WarmUpContext:
    language: str
    time_zone: str | None = "America/Toronto"
    now: datetime = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def warm_up() -> None:
    """The first answer loads dateparser's data and zone patterns and Babel's locales
    (~0.3 s): read one in each language ahead of time, the way a real one is read."""
    session_start("next Thursday at 1pm", _WarmUpContext("en"))
    session_start("jeudi prochain à 13 h", _WarmUpContext("fr"))


# duration_minutes

_AMOUNT = r"\d{1,3}(?:[.,]\d{1,2})?|an?|one|une?|two|deux|three|trois"
_WORDS = {"a": 1, "an": 1, "one": 1, "un": 1, "une": 1, "two": 2, "deux": 2, "three": 3, "trois": 3}
_HOURS = r"(?:h|hrs?|hours?|heures?)"
_MINUTES = r"(?:m|mn|mins?|minutes?)"
_DURATION = re.compile(
    rf"(?P<only_minutes>\d{{1,3}})\s*{_MINUTES}?"
    r"|(?P<clock_hours>\d{1,2}):(?P<clock_minutes>\d{2})"
    rf"|(?P<hours>{_AMOUNT})\s*{_HOURS}\s*(?:(?:and|et)\s*)?"
    rf"(?:(?P<half>a half|demie?)|(?P<minutes>\d{{1,2}})\s*{_MINUTES}?)?"
    r"|(?P<half_hour>half an hour|a half hour|(?:une )?demi-heure)"
)


def duration_minutes(text: str, ctx: ParseContext) -> Valid[int] | Invalid:
    """How long a session lasts, in minutes: "90", "1 h 30", "1.5 hours", "une heure"."""
    cleaned = " ".join(text.split()).lower()
    if not cleaned:
        return Invalid("parse.text.empty")
    found = _DURATION.fullmatch(cleaned)
    minutes = _minutes(found) if found else None
    if minutes is None:
        return Invalid("parsers.duration.unclear")
    if not SHORTEST_SESSION <= minutes <= LONGEST_SESSION:
        return Invalid("parsers.duration.out_of_range",
                       {"min": SHORTEST_SESSION, "max": LONGEST_SESSION})
    return Valid(minutes)


def _minutes(found: re.Match[str]) -> int | None:
    if found["only_minutes"]:
        return int(found["only_minutes"])
    if found["half_hour"]:
        return 30
    if found["clock_hours"]:
        hours, minutes = float(found["clock_hours"]), int(found["clock_minutes"])
    else:
        amount = found["hours"]
        minutes = int(found["minutes"] or 0) + (30 if found["half"] else 0)
        if minutes and not (amount in _WORDS or amount.isdigit()):
            return None  # "1.5 h 30"
        hours = _WORDS.get(amount) or float(amount.replace(",", "."))
    if minutes >= 60:
        return None  # "1 h 75", "1:90"
    return round(hours * 60) + minutes


# join_url


def join_url(text: str, ctx: ParseContext) -> Valid[str] | Invalid:
    """The link participants open to join: https only, as pasted."""
    url = text.strip()
    if not url:
        return Invalid("parse.text.empty")
    if len(url) > MAX_URL_LENGTH:
        return Invalid("parse.text.too_long", {"max": MAX_URL_LENGTH})
    if any(char.isspace() for char in url):
        return Invalid("parsers.join_url.spaces")
    if not url.isprintable():
        return Invalid("parse.text.control")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # "https://[::1" and other broken brackets or ports
        return Invalid("parsers.join_url.not_a_link")
    if parts.scheme.lower() == "http":
        return Invalid("parsers.join_url.not_https")
    # "https://zoom.us@example.org" opens example.org: a name before "@" only misleads.
    if parts.scheme.lower() != "https" or "." not in host.strip(".") or "@" in parts.netloc:
        return Invalid("parsers.join_url.not_a_link")
    return Valid(url)
