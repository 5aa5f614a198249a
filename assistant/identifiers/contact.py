"""Ways to reach a person: phone numbers, e-mail addresses, full postcodes, street addresses.

Phones go through `phonenumbers` for the UK, Canada, the US and France. A number valid for
one of them is certain; one that is only the right length is reported ("likely") when a
phone word comes before it or it is written the way phones are (07700 900123, (514) 555-0123,
06 12 34 56 78, +44 ...), so that a drug code (NDC 0002-3227-30) or a count is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from assistant.identifiers import _context
from assistant.identifiers.findings import Hit

_REGIONS: Final = ("GB", "CA", "US", "FR")
# A phone has at least ten digits with its trunk or country code; fewer are dates, doses, counts.
_MIN_DIGITS: Final = 10
# Where a phone could be: digits with the separators phones use. The matcher, the slow part,
# reads only these stretches, not the whole draft.
_STRETCH: Final = re.compile(r"\+?\(?\d[\d\s().+/-]{8,28}\d")
_PHONE_WORDS: Final = re.compile(
    r"(?i:\b(?:tel|tél|phone|telephone|téléphone|mobile|cell|cellulaire|portable|call|"
    r"appeler|joindre|fax|contact|number|numéro)\b|☎)")
_NOT_A_PHONE: Final = re.compile(
    r"(?i:\b(?:NDC|DIN|lot|batch|SNOMED(?: CT)?|ICD(?:-10)?|CIM(?:-10)?|code|ref(?:erence)?|"
    r"order|commande)\b)[\s:#n°o.]*$")
_PHONE_SHAPES: Final = (
    re.compile(r"\+\s?\d.*"),                                        # international
    re.compile(r"0[1-37-9]\d{2,3}\s?\d{3}\s?\d{3,4}|0[1-37-9]\d{9}"),  # UK, trunk 0
    re.compile(r"(?:1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"),  # North America
    re.compile(r"0[1-9](?:[\s.]?\d{2}){4}"),                         # France, in pairs
)

_EMAIL: Final = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")

# UK postcode areas (Royal Mail), then the district, then the inward code. The outward code
# alone ("EH6") is what registration keeps and is not reported.
_UK_AREA_LIST: Final = (
    "AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT "
    "DY E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA "
    "LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE "
    "SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV "
    "YO ZE")
_UK_AREA: Final = "|".join(sorted(_UK_AREA_LIST.split(), key=len, reverse=True))
_UK_POSTCODE: Final = rf"(?:{_UK_AREA})[0-9][0-9A-Z]? ?[0-9][ABD-HJLNP-UW-Z]{{2}}|GIR ?0AA"
# Canada Post never uses D, F, I, O, Q, U; W and Z never lead.
_CA_POSTCODE: Final = r"[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z][ -]?[0-9][ABCEGHJ-NPRSTV-Z][0-9]"
_POSTCODE: Final = re.compile(rf"(?<![\w-])(?:{_UK_POSTCODE}|{_CA_POSTCODE})(?![\w-])")
_POSTCODE_ANY_CASE: Final = re.compile(_POSTCODE.pattern, re.IGNORECASE)
# Lower-case codes count too, but "B12 1st dose" is vitamin B12, not Birmingham.
_ORDINAL_INWARD: Final = re.compile(r"(?i)(?:1st|2nd|3rd|[4-9]th)$")

_UP: Final = "A-ZÀ-ÖØ-ÞŒ"
_LOW: Final = "a-zß-öø-ÿœ"
_EN_STREET_TYPES: Final = (
    "Street|Road|Avenue|Lane|Drive|Close|Crescent|Way|Place|Terrace|Gardens|Court|Walk|Row|"
    "Square|Boulevard|Grove|Mews|Wynd|Brae|Parade|Hill|Park|View|Rise|Green|Circle|Highway|"
    "Trail|Loan|Vennel|Quay|Wharf|Gate"
    # abbreviations, which may take a full stop ("45 Elm St.")
    "|(?:St|Rd|Ave|Ln|Cres|Pl|Terr|Gdns|Ct|Sq|Blvd|Hwy)\\.?")
_EN_ADDRESS: Final = re.compile(
    rf"(?<![\w.,/-])(?:(?:Flat|Apt\.?|Apartment|Unit|Suite)\s+\d+[A-Z]?,?\s+)?"
    rf"(?P<number>\d{{1,5}}[A-Za-z]?(?:[-–]\d{{1,5}}[A-Za-z]?)?),?\s+"
    rf"(?P<first>[{_UP}][{_LOW}'’]+|\d{{1,3}}(?:st|nd|rd|th)|St\.?)"
    rf"(?:[\s-]+(?:[{_UP}][{_LOW}'’]+|St\.?)){{0,3}}?"
    rf"\s+(?:{_EN_STREET_TYPES})(?![\w-])")
# "6 Minute Walk Test" is a test, "2 Week Wait" a pathway: not places.
_NOT_STREET_NAME_LIST: Final = (
    "Minute Minutes Hour Hours Day Days Week Weeks Month Months Year Years Metre Metres Meter "
    "Meters Mile Miles Times Point Star Level Stage Grade Step Tablet Tablets")
_NOT_STREET_NAMES: Final = frozenset(_NOT_STREET_NAME_LIST.split())
_FR_STREET_TYPES: Final = (
    "rue|avenue|av\\.|boulevard|boul\\.|bd|chemin|ch\\.|place|impasse|allée|route|rang|côte|"
    "montée|quai|promenade|ruelle|square|croissant|terrasse|sentier")   # not "cours": 2 cours de yoga
_FR_NAME: Final = rf"[{_UP}0-9][\w'’]*"
_FR_ADDRESS: Final = re.compile(
    rf"(?<![\w.,/-])\d{{1,5}}(?:\s?(?:bis|ter|[A-Da-d]))?,?\s+(?i:{_FR_STREET_TYPES})\s+"
    rf"(?:(?:de\s+la|de\s+l['’]|des|du|de|d['’]|la|le|les|l['’])\s*)?{_FR_NAME}"
    rf"(?:(?:[\s-]+(?:de\s+la|des|du|de|la|le))?[\s-]+(?!(?:Il|Elle|Le|La|Les|On)\b){_FR_NAME}){{0,3}}"
    # Quebec's numbered streets: "250, 3e Avenue", "1020, 8e Rue"
    rf"|(?<![\w.,/-])\d{{1,5}},?\s+\d{{1,3}}(?:e|re|ième)\s+(?:Avenue|Rue|Rang|avenue|rue|rang)\b")


def find(text: str) -> Iterator[Hit]:
    if "@" in text:
        yield from _emails(text)
    if any(char.isdigit() for char in text):
        yield from _phones(text)
        yield from _postcodes(text)
        yield from _addresses(text)


def _emails(text: str) -> Iterator[Hit]:
    for match in _EMAIL.finditer(text):
        yield Hit("email", match.start(), match.end(), certain=True)


def _phones(text: str) -> Iterator[Hit]:
    stretches = [m for m in _STRETCH.finditer(text) if sum(c.isdigit() for c in m.group()) >= _MIN_DIGITS]
    if not stretches:
        return
    import phonenumbers  # lazy: a fifth of a second at first use

    found: dict[tuple[int, int], bool] = {}
    for stretch in stretches:
        for region in _REGIONS:
            matches = phonenumbers.PhoneNumberMatcher(stretch.group(), region,
                                                      leniency=phonenumbers.Leniency.POSSIBLE)
            for match in matches:
                if sum(char.isdigit() for char in match.raw_string) < _MIN_DIGITS:
                    continue
                span = (stretch.start() + match.start, stretch.start() + match.end)
                found[span] = found.get(span, False) or phonenumbers.is_valid_number(match.number)
    for (start, end), valid in sorted(found.items()):
        lead = _context.before(text, start)
        if _NOT_A_PHONE.search(lead):
            continue
        raw = text[start:end]
        named = bool(_PHONE_WORDS.search(lead))
        if valid or named or any(shape.fullmatch(raw) for shape in _PHONE_SHAPES):
            yield Hit("phone", start, end, certain=valid, named=named)


def _postcodes(text: str) -> Iterator[Hit]:
    for match in _POSTCODE_ANY_CASE.finditer(text):
        code = match.group()
        if code != code.upper() and (code != code.lower() or _ORDINAL_INWARD.search(code)):
            continue                             # mixed case, or "b12 1st"
        yield Hit("postcode", match.start(), match.end(), certain=True)


def _addresses(text: str) -> Iterator[Hit]:
    for match in _EN_ADDRESS.finditer(text):
        if match["first"] not in _NOT_STREET_NAMES:
            yield Hit("address", match.start(), match.end())
    for match in _FR_ADDRESS.finditer(text):
        yield Hit("address", match.start(), match.end())
