"""Commands that take words after them ("library pain")."""

from __future__ import annotations

from dialogs.command import Command


def _nothing(ctx: object) -> list[object]:
    return []


def test_the_words_after_a_command_are_handed_over_as_typed() -> None:
    library = Command("library", frozenset({"library", "bibliotheque", "search library"}),
                      _nothing, run_with=lambda ctx, words: [words])  # type: ignore[arg-type,return-value]
    assert library.rest_of("Library  Pain relief") == "Pain relief"
    assert library.rest_of("Bibliothèque douleur") == "douleur"
    assert library.rest_of("search library breathlessness") == "breathlessness"
    assert library.rest_of("library") is None  # the bare word is the plain command
    assert library.rest_of("libraries pain") is None


def test_commands_without_words_never_take_any() -> None:
    sessions = Command("sessions", frozenset({"sessions"}), _nothing)
    assert sessions.rest_of("sessions next week") is None
