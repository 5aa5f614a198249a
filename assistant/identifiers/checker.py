"""Running every detector over a text and settling what they found into one list.

Where detectors overlap, one finding stays, by rank: a health number with its word or its
checksum, then e-mail, date of birth, record number, phone, postcode, address, date, age,
name; a longer span wins within a rank. A number laid out like a valid phone that also
passes a health-number check (and has no word saying which) is reported once, as "a phone or
health number".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Final

from assistant.identifiers import contact, dates, health_numbers, names, records
from assistant.identifiers.findings import (
    HEALTH_NUMBER_KINDS,
    PHONE_OR_HEALTH_NUMBER,
    Finding,
    Hit,
    masked_value,
    placeholder,
)

_RANK: Final = {kind: rank for rank, kind in enumerate((
    "health_number", "email", "date_of_birth", "record_number", "phone", "postcode", "address",
    "date", "age_over_89", "name"))}


def find_identifiers(text: str, language: str = "en") -> list[Finding]:
    """Everything in `text` that could identify a person, in order of position.
    `language` ("en" or "fr") picks the placeholders and how "son" is read."""
    language = "fr" if language.lower().startswith("fr") else "en"
    hits = [*health_numbers.find(text), *contact.find(text), *dates.find(text),
            *records.find(text), *names.find(text, language)]
    kept = _settle(_merge_phone_or_health(hits, text))
    return [_finding(hit, text, language) for hit in sorted(kept, key=lambda hit: hit.start)]


def replace_with_placeholders(text: str, findings: Sequence[Finding]) -> str:
    """The text with each finding's span replaced by its placeholder ("her daughter [name]").
    Findings may be any subset of what `find_identifiers` returned for this same text."""
    pieces: list[str] = []
    position = 0
    for finding in sorted(findings, key=lambda finding: (finding.start, -finding.end)):
        if finding.start < position or finding.end > len(text):
            continue                              # overlaps one already replaced
        pieces += [text[position:finding.start], finding.placeholder]
        position = finding.end
    pieces.append(text[position:])
    return "".join(pieces)


def _merge_phone_or_health(hits: list[Hit], text: str) -> list[Hit]:
    """A valid phone, written as phones are, whose ten digits also pass a health-number check:
    one finding, "a phone or health number", not two. Written as health numbers are
    (999 765 4323), it stays a health number; beside a phone word, a phone."""
    merged: list[Hit] = []
    for hit in hits:
        written = text[hit.start:hit.end]
        if (hit.kind == "phone" and hit.certain and not hit.named
                and not health_numbers.in_own_layout(written)
                and health_numbers.passes_a_check(written)):
            hit = replace(hit, confirmed=True, ambiguous=True)
        merged.append(hit)
    return merged


def _settle(hits: Iterable[Hit]) -> list[Hit]:
    def rank(hit: Hit) -> tuple[int, int, bool, int]:
        kind = "health_number" if hit.kind in HEALTH_NUMBER_KINDS or hit.ambiguous else hit.kind
        return (_RANK[kind], hit.start - hit.end, not hit.ambiguous, hit.start)

    kept: list[Hit] = []
    for hit in sorted(hits, key=rank):
        if not any(_overlap(hit, other) for other in kept):
            kept.append(hit)
    return kept


def _overlap(one: Hit, other: Hit) -> bool:
    return one.start < other.end and other.start < one.end


def _finding(hit: Hit, text: str, language: str) -> Finding:
    value = masked_value(hit.kind, text[hit.start:hit.end])
    kind_id = PHONE_OR_HEALTH_NUMBER if hit.ambiguous else hit.kind
    return Finding(
        kind=hit.kind, start=hit.start, end=hit.end,
        masked=f"{hit.cue} {value}" if hit.cue else value,
        confirmed=hit.confirmed, placeholder=placeholder(kind_id, language),
        blocks_submit=hit.certain or hit.confirmed,
        message_id=f"identifiers.kind.{kind_id}",
    )
