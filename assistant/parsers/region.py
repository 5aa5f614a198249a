"""Where a member works: a region's name, or only the first part of a postcode.

The domain keeps UK members to the outward code ("EH6") and Canadians to the forward
sortation area ("K1A"): enough for regional reports, too coarse to find a home.
"""

from __future__ import annotations

import re

from assistant.parsing import Invalid, ParseContext, Valid

# The Royal Mail outward code: letters Q, V, X never lead; I, J, Z never come second; only
# some letters may end an A9A or AA9A district (W1A, SW1A). GIR 0AA is the one exception.
_UK_OUTWARD = (
    r"[A-PR-UWYZ](?:[0-9][0-9]?|[A-HK-Y][0-9][0-9]?|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
)
_UK_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"
# Canada Post never uses D, F, I, O, Q, U (they misread as digits); W and Z never lead.
_CA_FSA = r"[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z]"
_CA_LDU = r"[0-9][ABCEGHJ-NPRSTV-Z][0-9]"

_FIRST_PART = re.compile(rf"{_UK_OUTWARD}|{_CA_FSA}")
_FULL_CODE = re.compile(
    rf"(?P<first>{_UK_OUTWARD}) ?{_UK_INWARD}|(?P<fsa>{_CA_FSA}) ?{_CA_LDU}|(?P<gir>GIR) ?0AA"
)
_NAME_PUNCTUATION = frozenset(" -'’.")
_NAME_MAX = 60


def region(text: str, ctx: ParseContext) -> Valid[str] | Invalid:
    """A postcode's first part, upper-cased; a full code cut to its first part (and
    confirmed); or a region's name as typed."""
    cleaned = " ".join(text.split())
    if not cleaned:
        return Invalid("parse.text.empty")
    if any(char.isdigit() for char in cleaned):
        return _postcode(cleaned.upper())
    return _region_name(cleaned)


def _postcode(code: str) -> Valid[str] | Invalid:
    if _FIRST_PART.fullmatch(code):
        return Valid(code)
    full = _FULL_CODE.fullmatch(code)
    if full is None:
        return Invalid("parse.region.bad_postcode")
    kept = full["first"] or full["fsa"] or full["gir"]
    return Valid(kept, confirm="parse.region.kept_outward", confirm_args={"kept": kept})


def _region_name(name: str) -> Valid[str] | Invalid:
    if len(name) > _NAME_MAX:
        return Invalid("parse.text.too_long", {"max": _NAME_MAX})
    letters = sum(char.isalpha() for char in name)
    if letters < 2 or any(not char.isalpha() and char not in _NAME_PUNCTUATION for char in name):
        return Invalid("parse.region.invalid")
    return Valid(name)
