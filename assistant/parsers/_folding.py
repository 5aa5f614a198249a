"""Comparing names the way a reader types them: case, accents and punctuation ignored."""

from __future__ import annotations

import re
import unicodedata

_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_NOT_LETTERS = re.compile(r"[\W_]+")
_NOT_LATIN = re.compile("[^\x00-\u024f\u0300-\u036f\u1e00-\u1eff\u2018-\u201f]")


def fold(text: str) -> str:
    """The key two spellings share when a reader would call them the same: "Montréal",
    "MONTREAL" and "montreal" fold alike, as do "Royaume-Uni" and "royaume uni"."""
    if not text.isascii():
        text = _COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", text))
    return _NOT_LETTERS.sub(" ", text.casefold()).strip()


def is_latin(text: str) -> bool:
    """Whether an English or French keyboard could type it (accents and curly quotes allowed)."""
    return not _NOT_LATIN.search(text)
