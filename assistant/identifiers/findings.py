"""What the checker reports, and how a finding is shown without showing it.

Detectors return `Hit`s (a kind, a span and what led to it); the checker keeps one hit per
stretch of text and turns each into a `Finding`, which carries the masked form the author
sees and the placeholder "replace" puts in. Nothing here keeps or logs the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HEALTH_NUMBER_KINDS: Final = ("nhs_number", "chi_number", "bc_phn", "ohip", "ramq")
KINDS: Final = (
    *HEALTH_NUMBER_KINDS,
    "postcode", "date", "date_of_birth", "age_over_89", "phone", "email", "address", "name",
    "record_number",
)
# A number laid out like a phone that also passes a health-number check: reported once.
PHONE_OR_HEALTH_NUMBER: Final = "phone_or_health_number"
_NUMBER_KINDS: Final = frozenset({"nhs_number", "chi_number", "bc_phn", "ohip", "phone", "record_number"})
MESSAGE_IDS: Final = tuple(f"identifiers.kind.{kind}" for kind in (*KINDS, PHONE_OR_HEALTH_NUMBER))

_PLACEHOLDERS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "nhs_number": "[NHS number]", "chi_number": "[CHI number]", "bc_phn": "[health number]",
        "ohip": "[health card number]", "ramq": "[health insurance number]",
        "postcode": "[postcode]", "date": "[date]", "date_of_birth": "[date]",
        "age_over_89": "90+", "phone": "[phone]", "email": "[email]", "address": "[address]",
        "name": "[name]", "record_number": "[record number]", PHONE_OR_HEALTH_NUMBER: "[number]",
    },
    "fr": {
        "nhs_number": "[numéro NHS]", "chi_number": "[numéro CHI]", "bc_phn": "[numéro de santé]",
        "ohip": "[numéro de carte Santé]", "ramq": "[numéro d'assurance maladie]",
        "postcode": "[code postal]", "date": "[date]", "date_of_birth": "[date]",
        "age_over_89": "90+", "phone": "[téléphone]", "email": "[courriel]", "address": "[adresse]",
        "name": "[nom]", "record_number": "[numéro de dossier]", PHONE_OR_HEALTH_NUMBER: "[numéro]",
    },
}


@dataclass(frozen=True)
class Finding:
    """Something in the text that could identify a person.

    `masked` is what the author is shown (the cue word, if one led to it, and the value with
    all but its first character or three hidden), never the whole value. `confirmed` means a
    health number that passes its check (checksum, or RAMQ's date) in its usual layout or
    beside its name. `blocks_submit` is the domain's "certain" tier: confirmed health numbers,
    e-mail addresses, valid phone numbers, full postcodes, dates of birth and death; the rest
    ("likely") may be kept with a reason. `message_id` names the catalogue's words for it.
    """

    kind: str
    start: int
    end: int
    masked: str
    confirmed: bool
    placeholder: str
    blocks_submit: bool
    message_id: str


@dataclass(frozen=True)
class Hit:
    """A detector's candidate, before overlaps are settled.

    `cue` is the non-identifying word that led to it ("NHS", "daughter", "DOB"), shown
    beside the masked value; `named` says a context word named the kind (a health number's
    own word, a phone word), which outranks layout and checksum."""

    kind: str
    start: int
    end: int
    confirmed: bool = False
    certain: bool = False
    cue: str = ""
    named: bool = False
    ambiguous: bool = False   # phone or health number


def placeholder(kind: str, language: str) -> str:
    return _PLACEHOLDERS["fr" if language == "fr" else "en"][kind]


def mask(value: str, keep: int = 1) -> str:
    """Letters and digits after the first `keep` become "*"; spaces and punctuation stay, so
    the author can see where it was. At least one character is always hidden."""
    significant = sum(char.isalnum() for char in value)
    keep = max(0, min(keep, significant - 1))
    shown, out = 0, []
    for char in value:
        if char.isalnum():
            out.append(char if shown < keep else "*")
            shown += 1
        else:
            out.append(char)
    return "".join(out)


def masked_value(kind: str, value: str) -> str:
    if kind == "email":
        local, _, domain = value.partition("@")
        labels = domain.split(".")
        return f"{mask(local)}@{'.'.join('*' * len(label) for label in labels[:-1])}.{labels[-1]}"
    if kind == "postcode":
        # The outward code (EH6, K1A) is what registration keeps: it may be shown.
        return f"{value[:-3]}***"        # the inward code is always the last three
    # Long numbers show their first three digits (999 *** ****), as the NHS does; words,
    # dates and the letters of a RAMQ number (from the patient's name) show one character.
    digits = sum(char.isdigit() for char in value)
    return mask(value, keep=3 if kind in _NUMBER_KINDS and digits >= 8 else 1)
