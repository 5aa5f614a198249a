"""Health numbers: the check-digit rules, and finding the numbers in text.

| Kind | Layout | Check |
| --- | --- | --- |
| NHS (England, Wales, Isle of Man) | 3-3-4, or 10 together | mod 11, weights 10..2; 10 is never valid |
| CHI (Scotland) | 6-4, or 10 together | the NHS check, and digits 1-6 a real DDMMYY |
| BC PHN | 4-3-3 or 10 together, starting 9 | digits 2-9 times 2,4,8,5,10,9,7,3, each mod 11 |
| Ontario (OHIP) | 4-3-3 or 10 together, 1-2 letter version code | Luhn |
| Quebec RAMQ | 4 letters, 4 digits, 4 digits | no check digit: YYMMDD with month + 50 for women |

Checksums alone mislead (about one random 10-digit string in ten passes the NHS check, one
in ten Luhn), so a number counts only in its own layout or beside its own word ("NHS",
"CHI", "PHN", "OHIP", "health card", "RAMQ", "carte soleil"...). Beside its word it is
found whatever its check says, unconfirmed when the check fails (a mistyped number still
identifies); without the word it is found only when the check passes, so that phone numbers
and counts with a bad checksum are not reported as health numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Final

from assistant.identifiers import _context
from assistant.identifiers.findings import Hit

_NHS_WEIGHTS: Final = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_BC_WEIGHTS: Final = (2, 4, 8, 5, 10, 9, 7, 3)


def nhs_check_digit(first_nine: str) -> int | None:
    """The tenth digit an NHS (or CHI) number must end with; None when no number can be valid."""
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 10:
        return None
    return 0 if check == 11 else check


def is_nhs_number(digits: str) -> bool:
    return _ten_digits(digits) and nhs_check_digit(digits[:9]) == int(digits[9])


def is_ddmmyy(six: str) -> bool:
    """Whether six digits are a real day, month and two-digit year (either century)."""
    day, month, year = int(six[:2]), int(six[2:4]), int(six[4:6])
    return _real_date(day, month, year)


def is_chi_number(digits: str) -> bool:
    return is_nhs_number(digits) and is_ddmmyy(digits[:6])


def bc_phn_check_digit(digits_two_to_nine: str) -> int | None:
    total = sum(int(digit) * weight % 11
                for digit, weight in zip(digits_two_to_nine, _BC_WEIGHTS, strict=True))
    check = (11 - total % 11) % 11
    return None if check == 10 else check


def is_bc_phn(digits: str) -> bool:
    return (_ten_digits(digits) and digits[0] == "9"
            and bc_phn_check_digit(digits[1:9]) == int(digits[9]))


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return bool(digits) and digits.isdigit() and total % 10 == 0


def is_ohip_number(digits: str) -> bool:
    return _ten_digits(digits) and luhn_valid(digits)


def is_ramq_number(code: str) -> bool:
    """Four letters (surname, first name), then YYMMDD (month + 50 for women) and two digits."""
    compact = code.replace(" ", "").replace("-", "")
    if not re.fullmatch(r"[A-Za-z]{4}\d{8}", compact):
        return False
    year, month, day = int(compact[4:6]), int(compact[6:8]), int(compact[8:10])
    if month > 50:
        month -= 50
    return _real_date(day, month, year)


def _ten_digits(digits: str) -> bool:
    return len(digits) == 10 and digits.isascii() and digits.isdigit()


def _real_date(day: int, month: int, two_digit_year: int) -> bool:
    for century in (1900, 2000):
        try:
            date(century + two_digit_year, month, day)
        except ValueError:
            continue
        return True
    return False


_CHECKS: Final = {
    "nhs_number": is_nhs_number, "chi_number": is_chi_number, "bc_phn": is_bc_phn,
    "ohip": is_ohip_number,
}
# Words that name a health number, nearest first wins. Abbreviations are matched in capitals
# only ("chi" and "nam" are words); "health card" is Ontario's name for its card.
_NAMING_WORDS: Final = (
    ("nhs_number", re.compile(r"\bNHS\b")),
    ("chi_number", re.compile(r"\bCHI\b|(?i:\bcommunity health index)")),
    ("bc_phn", re.compile(r"\bPHN\b|(?i:\bpersonal health number|\bcare ?card\b|\bBC services card)")),
    ("ohip", re.compile(r"\bOHIP\b|(?i:\bhealth card|\bcarte[ -]sant[ée])")),
    ("ramq", re.compile(r"\bRAMQ\b|\bNAM\b|(?i:\bcarte soleil|\bassurance[ -]maladie)")),
    ("health", re.compile(r"(?i:\bhealth (?:insurance )?(?:number|no\b)|\bnum[ée]ro de sant[ée])")),
)
_NAMED_AFTER: Final = re.compile(r"^\s*\(\s*(NHS|CHI|PHN|OHIP|RAMQ)\b")
# Numbers these words introduce are codes, not people: drug, batch and terminology codes.
_NOT_A_PERSON: Final = re.compile(
    r"(?i:\b(?:NDC|DIN|lot|batch|SNOMED(?: CT)?|ICD(?:-10)?|CIM(?:-10)?|code|ref(?:erence)?|"
    r"order|commande)\b)[\s:#n°o.]*$")
_PHONE_WORDS: Final = re.compile(
    r"(?i:\b(?:tel|tél|phone|telephone|téléphone|mobile|cell|cellulaire|portable|call|"
    r"appeler|joindre|fax|contact)\b)")

# Ten digits in groups split by one kind of separator, maybe a version code; not part of a
# longer number, a decimal or a date.
_TEN_DIGITS: Final = re.compile(
    r"(?<![\w+])(?<!\d[ .,/-])(?P<number>\d(?:[ -]?\d){9})(?![ .,/-]?\d)"
    r"(?:[ -]?(?P<version>[A-Z]{1,2}))?(?!\w)")
_RAMQ: Final = re.compile(r"(?<![\w-])(?P<code>[A-Z]{4}[ -]?\d{4}[ -]?\d{4})(?![\w-])")


def find(text: str) -> Iterator[Hit]:
    if any(char.isdigit() for char in text):
        yield from _ten_digit_numbers(text)
        yield from _ramq_numbers(text)


def _ten_digit_numbers(text: str) -> Iterator[Hit]:
    for match in _TEN_DIGITS.finditer(text):
        number, version = match["number"], match["version"]
        groups = re.split(r"[ -]", number)
        if len(set(re.findall(r"[ -]", number))) > 1:
            continue                       # "999 765-4323": no layout uses two separators
        layout = tuple(len(group) for group in groups)
        digits = "".join(groups)
        lead = _context.before(text, match.start())
        if _NOT_A_PERSON.search(lead):
            continue
        named, cue = _named_kind(lead, _context.after(text, match.end("number")))
        end = match.end() if version else match.end("number")
        if named:
            kind = _kind_for_word(named, digits, layout, version)
            confirmed = _CHECKS[kind](digits)
            yield Hit(kind, match.start(), end, confirmed=confirmed, certain=confirmed, cue=cue,
                      named=True)
        elif not _PHONE_WORDS.search(lead):
            kind_found = _kind_by_layout(digits, layout, version)
            if kind_found:
                yield Hit(kind_found, match.start(), end, confirmed=True, certain=True)


def _named_kind(lead: str, trail: str) -> tuple[str | None, str]:
    nearest: tuple[int, str, str] | None = None
    for kind, pattern in _NAMING_WORDS:
        for word in pattern.finditer(lead):
            if nearest is None or word.end() > nearest[0]:
                nearest = (word.end(), kind, word.group())
    if nearest:
        return nearest[1], nearest[2]
    following = _NAMED_AFTER.match(trail)
    if following:
        return {"NHS": "nhs_number", "CHI": "chi_number", "PHN": "bc_phn", "OHIP": "ohip",
                "RAMQ": "ramq"}[following[1]], following[1]
    return None, ""


def _kind_for_word(word_kind: str, digits: str, layout: tuple[int, ...], version: str | None) -> str:
    """The kind a health-number word names; RAMQ numbers have letters, so ten digits beside
    "assurance maladie" or a general "health number" go by their check, then their layout."""
    if word_kind in _CHECKS:
        return word_kind
    by_check = _kind_by_layout(digits, layout, version) or _kind_by_layout(digits, (10,), version)
    if by_check:
        return by_check
    return "ohip" if version or layout == (4, 3, 3) else "nhs_number"


def _kind_by_layout(digits: str, layout: tuple[int, ...], version: str | None) -> str | None:
    if version:
        return "ohip" if layout in ((4, 3, 3), (10,)) and is_ohip_number(digits) else None
    if layout in ((3, 3, 4), (6, 4), (10,)) and is_nhs_number(digits):
        # CHI numbers start with the birth date; NHS numbers never make a real DDMMYY.
        return "chi_number" if is_ddmmyy(digits[:6]) else "nhs_number"
    if layout in ((4, 3, 3), (10,)):
        if is_bc_phn(digits):
            return "bc_phn"
        if is_ohip_number(digits):
            return "ohip"
    return None


_OWN_LAYOUTS: Final = re.compile(
    r"\d{3} \d{3} \d{4}|\d{6} ?\d{4}|\d{4}([ -])\d{3}\1\d{3}(?:[ -]?[A-Z]{1,2})?")


def in_own_layout(written: str) -> bool:
    """Whether ten digits are written the way health numbers are (999 765 4323, 9997654323,
    150745 1318, 9876 543 218, 2468-135-799-KT), rather than the way phones are
    (416-555-0106, (416) 555-0106)."""
    return bool(_OWN_LAYOUTS.fullmatch(written))


def passes_a_check(written: str) -> bool:
    """Whether ten digits, however written, pass the NHS, BC or Ontario check."""
    digits = "".join(char for char in written if char.isdigit())
    return len(digits) == 10 and not written.lstrip().startswith("+") and (
        is_nhs_number(digits) or is_bc_phn(digits) or is_ohip_number(digits))


def _ramq_numbers(text: str) -> Iterator[Hit]:
    for match in _RAMQ.finditer(text):
        lead = _context.before(text, match.start())
        named, cue = _named_kind(lead, _context.after(text, match.end()))
        valid = is_ramq_number(match["code"])
        if valid or named == "ramq":
            yield Hit("ramq", match.start(), match.end(), confirmed=valid, certain=valid,
                      cue=cue if named == "ramq" else "", named=named == "ramq")
