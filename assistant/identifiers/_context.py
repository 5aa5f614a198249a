"""Looking just before or after a span for the words that say what it is."""

from __future__ import annotations

import re

# Where a sentence or clause ends: a cue word beyond it says nothing about what follows.
# "No." and "n°." before a number are abbreviations, not ends ("NHS no. 999 ...").
_BREAK = re.compile(r"[!?;\n]|(?<!\bno)(?<!\bNo)(?<!\bNO)(?<!n°)\.\s+(?=[^\d\s])")


def before(text: str, start: int, width: int = 40) -> str:
    """Up to `width` characters before `start`, cut at the last sentence or clause end."""
    window = text[max(0, start - width):start]
    ends = [found.end() for found in _BREAK.finditer(window)]
    return window[ends[-1]:] if ends else window


def after(text: str, end: int, width: int = 25) -> str:
    window = text[end:end + width]
    first = _BREAK.search(window)
    return window[:first.start()] if first else window
