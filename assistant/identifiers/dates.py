"""Exact dates, dates of birth and death, and ages over 89, in English and French.

Found: "12/03/1948", "2024-03-12", "3 March 2024", "March 3rd", "le 1er mars 2024",
"on 12/03". A birth cue before the date ("DOB", "born on", "née le", "date de naissance")
makes it a date of birth; a death cue ("died", "décédé le") makes it certain too.
Not found: a year ("in 2019"), a month and year ("March 2024", except after a birth cue),
durations ("3 weeks", "3/7", "6/12"), relative times ("last Tuesday", "day 3 of admission"),
scores and readings ("7/10", "130/80").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Final

from assistant.identifiers import _context
from assistant.identifiers.findings import Hit

_EN_MONTHS: Final = {
    "January": 1, "February": 2, "March": 3, "April": 4, "May": 5, "June": 6, "July": 7,
    "August": 8, "September": 9, "October": 10, "November": 11, "December": 12,
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "Jun": 6, "Jul": 7, "Aug": 8, "Sept": 9, "Sep": 9,
    "Oct": 10, "Nov": 11, "Dec": 12,
}
_FR_MONTHS: Final = {
    "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6,
    "juillet": 7, "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
    "décembre": 12, "decembre": 12, "janv": 1, "févr": 2, "fevr": 2, "avr": 4, "juil": 7,
    "sept": 9, "oct": 10, "nov": 11, "déc": 12, "dec": 12,
}
# English months are capitalised (so "may" the verb is not one); French ones are written small
# but may start a sentence; abbreviations may be in capitals ("03-MAR-2024") and take a full
# stop, which a full name never does (so "le 12 septembre." keeps its own).
_SHORT_FULL_NAMES: Final = ("May", "June", "July", "mars", "mai", "juin", "août", "aout")
_FULL_MONTHS: Final = {m for m in (*_EN_MONTHS, *_FR_MONTHS) if len(m) > 4 or m in _SHORT_FULL_NAMES}
_ABBREVIATIONS: Final = {m for m in (*_EN_MONTHS, *_FR_MONTHS) if m not in _FULL_MONTHS}


def _either(words: set[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_FULL_FORMS: Final = {*_FULL_MONTHS, *(m.capitalize() for m in _FULL_MONTHS)}
_ABBREVIATED_FORMS: Final = {*_ABBREVIATIONS, *(m.capitalize() for m in _ABBREVIATIONS),
                             *(m.upper() for m in _ABBREVIATIONS)}
_MONTH: Final = rf"(?:(?:{_either(_FULL_FORMS)})|(?:{_either(_ABBREVIATED_FORMS)})\.?)"
_DAY: Final = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th|er|e|ᵉʳ)?"
_YEAR: Final = r"(?:(?:19|20)\d{2}|['’]\d{2})"
_DAY_MONTH: Final = re.compile(
    rf"(?<![\w.,/])(?:the\s+)?{_DAY}(?:\s+of)?[\s-]+{_MONTH}(?:,?[\s-]+{_YEAR})?(?![\w'’])")
_EN_FULL: Final = {m for m in _EN_MONTHS if m in _FULL_MONTHS}
_EN_MONTH: Final = (rf"(?:{_either(_EN_FULL)}|(?:{_either({m for m in _EN_MONTHS if m not in _EN_FULL})}"
                    rf"|{_either({m.upper() for m in _EN_MONTHS if m not in _EN_FULL})})\.?)")
_MONTH_DAY: Final = re.compile(
    rf"(?<![\w]){_EN_MONTH}\s+"
    rf"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?(?:,?\s+{_YEAR})?(?![\w'’%]|\s*(?:mg|ml|mcg|%))")
_NUMERIC: Final = re.compile(
    r"(?<![\w./-])(?P<a>\d{1,2})(?P<sep>[/.])(?P<b>\d{1,2})(?P=sep)(?P<y>(?:19|20)\d{2}|\d{2})"
    r"(?![\w]|[./-]\d)"
    r"|(?<![\w./-])(?P<a2>\d{1,2})-(?P<b2>\d{1,2})-(?P<y2>(?:19|20)\d{2})(?![\w]|[./-]\d)")
_ISO: Final = re.compile(
    r"(?<![\w./-])(?P<y>(?:19|20)\d{2})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?![\w]|[./-]\d)")
# Day and month alone only after a word that makes it a date: UK notes write 3/7 for three
# days, 2/52 for two weeks and 6/12 for six months, so those are left alone.
_DAY_MONTH_NUMERIC: Final = re.compile(
    r"(?i:\b(?:on|since|from|until|till|dated|le|du|au|depuis|jusqu'au))\s+"
    r"(?P<a>\d{1,2})/(?P<b>\d{1,2})(?![\w/]|[.-]\d)")
_SHORTHAND_DENOMINATORS: Final = frozenset({7, 12, 52})

_BIRTH_CUE: Final = re.compile(
    r"(?:\bD\.O\.B\.?|(?i:\bdob\b|\bdate of birth|\bbirth ?date|\bborn(?:\s+on)?|"
    r"\bn[ée]e?(?:\(e\))?\s+le|\bdate de naissance)|\bDDN|\bb\.)"
    r"\s*(?:[:\-–(]\s*)?(?:(?:on|le|the|in|en)\s+)?$")
_DEATH_CUE: Final = re.compile(
    r"(?i:\b(?:died|passed away|date of death|deceased|DOD|d[ée]c[ée]d[ée]e?|d[ée]c[èe]s)"
    r"(?:\s+(?:on|le|the))?)\s*(?:[:\-–]\s*)?$")
_MONTH_YEAR: Final = re.compile(rf"(?<![\w]){_MONTH}\s+{_YEAR}(?![\w])")

_AGE: Final = re.compile(
    r"(?<![\w.,])(?P<n>\d{2,3})(?:\s*|-)(?:years?|yrs?|y)(?:\s*|-)old\b"
    r"|(?<![\w.,])(?P<n2>\d{2,3})\s*(?:yo|y/o|y\.o\.?)(?![\w])"
    r"|(?<![\w.,])(?P<n3>\d{2,3})\s+years?\s+of\s+age\b"
    r"|(?i:\b(?:aged?|âgée?s?(?:\s+de)?|âge)\s*:?\s*)(?P<n4>\d{2,3})(?!\d)"
    r"|(?<![\w.,])(?P<n5>\d{2,3})\s*ans\b"
    r"|\bturned\s+(?P<n6>\d{2,3})\b|(?<![\w.,])(?P<n7>\d{2,3})(?:st|nd|rd|th|e)\s+(?:birthday|anniversaire)"
    # "Mrs Ali, 97, lives alone": an age set off by commas after a name
    r"|(?<=[^\W\d_]),\s(?P<n8>\d{2,3})(?:\s*ans)?,"
    # "She is 104", "whose mother is 94", "He was 90 last birthday": a person, then the number
    r"|\b(?:she|he|mother|father|husband|wife|partner|patient|resident)\s+(?:is|was|turns)\s+"
    r"(?P<n9>\d{2,3})(?![\d.,]\d)",
    re.IGNORECASE)
# "90+", "90 or over", "aged 90-95", "90 ans et plus": a band, which is what the case asks for.
_BAND_AFTER: Final = re.compile(
    r"^(?:\s*\+|\s*[-–]\s*\d|(?:\s*(?:ans|years?))?\s+(?:or|and|et)\s+(?:over|above|older|plus)"
    r"|\s*(?:%|mg|ml|kg|bpm|mmhg|cm|lbs?|mmol|units?))",
    re.IGNORECASE)


def find(text: str) -> Iterator[Hit]:
    if any(char.isdigit() for char in text):
        yield from _dates(text)
        yield from _ages(text)


def _dates(text: str) -> Iterator[Hit]:
    spans: list[tuple[int, int]] = []
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        spans += [match.span() for match in pattern.finditer(text)]
    for match in _NUMERIC.finditer(text):
        a, b = int(match["a"] or match["a2"]), int(match["b"] or match["b2"])
        year = int(match["y"] or match["y2"])
        if _real(a, b, year) or _real(b, a, year):
            spans.append(match.span())
    for match in _ISO.finditer(text):
        if _real(int(match["d"]), int(match["m"]), int(match["y"])):
            spans.append(match.span())
    for match in _DAY_MONTH_NUMERIC.finditer(text):
        a, b = int(match["a"]), int(match["b"])
        if b not in _SHORTHAND_DENOMINATORS and (_real(a, b, 2000) or _real(b, a, 2000)):
            spans.append(match.span("a")[:1] + match.span("b")[1:])
    for start, end in spans:
        lead = _context.before(text, start, width=30)
        birth, death = _BIRTH_CUE.search(lead), _DEATH_CUE.search(lead)
        if birth:
            yield Hit("date_of_birth", start, end, certain=True, cue=birth.group().strip(" :-–("))
        else:
            yield Hit("date", start, end, certain=bool(death),
                      cue=death.group().strip(" :-–") if death else "")
    for match in _MONTH_YEAR.finditer(text):
        birth = _BIRTH_CUE.search(_context.before(text, match.start(), width=30))
        if birth:
            yield Hit("date_of_birth", match.start(), match.end(), certain=True,
                      cue=birth.group().strip(" :-–("))


def _ages(text: str) -> Iterator[Hit]:
    for match in _AGE.finditer(text):
        group = next(name for name in ("n", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9")
                     if match[name])
        if 90 <= int(match[group]) <= 130 and not _BAND_AFTER.match(text[match.end(group):]):
            yield Hit("age_over_89", match.start(group), match.end(group))


def _real(day: int, month: int, year: int) -> bool:
    if year < 100:
        year += 2000
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True
