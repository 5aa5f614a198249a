"""Hospital and record numbers: a number after a word that says what it is ("MRN 1234567",
"hospital number 00123456", "dossier n° 445566", "chart #88991", "NHS no. 12345678").

The number needs at least four digits; letters may lead it (RXH-001234). "Chart" and
"dossier" need a number sign too, so "fluid chart 1500 ml" and "dossier 2024" are not one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from assistant.identifiers.findings import Hit

_CUES: Final = (
    r"\bMRN\b|\bmedical record (?:number|no\b\.?)|\bhospital (?:number|no\b\.?|n°|#)|"
    r"\bhosp\.? (?:no\b\.?|#)|\bunit (?:number|no\b\.?)|\bpatient (?:ID|number|no\b\.?)|"
    r"\brecord (?:number|no\b\.?|#)|\bchart (?:number|no\b\.?)|\bchart\s*#|"
    r"\bcase (?:number|no\b\.?)|\b(?:NHS|CHI|PHN|OHIP|RAMQ) (?:number|no\b\.?)|"
    r"\bhealth card (?:number|no\b\.?)|\bdossier\s*(?:n°|nº|no\b\.?|num[ée]ro|#)|"
    r"\b(?:n°|nº|no\b\.?|num[ée]ro)\s*(?:de\s+)?dossier|\bnum[ée]ro\s+d['’]h[ôo]pital|"
    r"\bnum[ée]ro\s+de\s+patient|\bNIP\b")
_RECORD: Final = re.compile(
    rf"(?P<cue>(?i:{_CUES}))\s*(?:[:#]|n°|nº|is|est)?\s*(?:[:#]\s*)?"
    r"(?P<value>(?=[A-Z]{0,4}[- ]?\d(?:[ -]?\d){3})[A-Z]{0,4}[- ]?\d(?:[ -]?\d)*[A-Z]?)"
    r"(?![\w.,]\d|\w|\s*(?:mg|ml|mL|mmol|%|kg|g\b|L\b))")


def find(text: str) -> Iterator[Hit]:
    if not any(char.isdigit() for char in text):
        return
    for match in _RECORD.finditer(text):
        yield Hit("record_number", match.start("value"), match.end("value"),
                  cue=" ".join(match["cue"].split()))
