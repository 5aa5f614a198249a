"""Free text answers: one tidy line, and a person's full name."""

from __future__ import annotations

import unicodedata

from assistant.parsing import Invalid, ParseContext, Parser, Valid

# Bidi overrides and isolates can make a name display as something else in a chat or an export.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _has_control_character(text: str) -> bool:
    return any(
        unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS for char in text
    )


def one_line(max_len: int) -> Parser[str]:
    """A parser for a single line of at most `max_len` characters, whitespace tidied."""

    def parse_one_line(text: str, ctx: ParseContext) -> Valid[str] | Invalid:
        # Pasted answers often carry newlines or double spaces; they mean nothing here.
        cleaned = " ".join(text.split())
        if not cleaned:
            return Invalid("parse.text.empty")
        if _has_control_character(cleaned):
            return Invalid("parse.text.control")
        if len(cleaned) > max_len:
            return Invalid("parse.text.too_long", {"max": max_len})
        return Valid(cleaned)

    return parse_one_line


_name_line = one_line(max_len=120)


def full_name(text: str, ctx: ParseContext) -> Valid[str] | Invalid:
    """A person's full name as they write it: 2 to 120 characters with at least one letter."""
    result = _name_line(text, ctx)
    if isinstance(result, Invalid):
        return result
    if len(result.value) < 2:
        return Invalid("parse.full_name.too_short")
    if not any(char.isalpha() for char in result.value):
        return Invalid("parse.full_name.no_letter")
    return result
