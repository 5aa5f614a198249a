"""Recognising what people type: commands in English and French, yes/no, option labels."""

from __future__ import annotations

import re
import unicodedata

COMMANDS: dict[str, frozenset[str]] = {
    "help": frozenset({"help", "aide", "?", "what can you do", "que peux-tu faire"}),
    "cancel": frozenset({"cancel", "annuler", "stop", "arreter"}),
    "back": frozenset({"back", "retour", "go back", "revenir"}),
    "skip": frozenset({"skip", "passer"}),
    "review": frozenset({"review", "revoir", "summary", "resume"}),
}
CHANGE_PREFIXES = ("change ", "edit ", "modifier ", "changer ")
YES = frozenset({"yes", "y", "yeah", "yep", "ok", "okay", "sure", "correct", "right", "confirm",
                 "submit", "oui", "o", "d'accord", "daccord", "exact", "confirmer", "envoyer",
                 "valider", "that's right", "c'est ca"})
NO = frozenset({"no", "n", "nope", "not right", "wrong", "non", "pas vraiment"})


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching: "Réseaux " -> "reseaux"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if not plain.isascii():
        # "٣", "３" and "፫" are the digit 3 (a button's number); "፩" and "²" pass isdigit()
        # but int() refuses them, so every digit is made ASCII here.
        plain = "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in plain)
    plain = plain.replace("’", "'")
    return re.sub(r"\s+", " ", plain).strip(" .!")


def command_in(text: str) -> str | None:
    folded = fold(text)
    for name, words in COMMANDS.items():
        if folded in words:
            return name
    return None


def change_target(text: str) -> str | None:
    folded = fold(text)
    for prefix in CHANGE_PREFIXES:
        if folded.startswith(prefix):
            return folded[len(prefix):].strip() or None
    return None


def yes_or_no(text: str) -> bool | None:
    folded = fold(text)
    if folded in YES:
        return True
    if folded in NO:
        return False
    return None


def split_many(text: str) -> list[str]:
    parts = re.split(r"\s*(?:,|;|\band\b|\bet\b|&)\s*", fold(text))
    return [part for part in parts if part]
