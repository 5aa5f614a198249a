"""The runtime's commands work the same in English and in French, with the reader's wording."""

from __future__ import annotations

import pytest

from assistant.events import Hints
from storage.repositories import SqlStore
from tests.harness import ChatHarness, seeded
from tests.test_registration import SCRIPT, follow

WORDS = {
    "en": {"help": "help", "back": "back", "skip": "skip", "review": "review",
           "cancel": "cancel", "change": "change e-mail", "yes": "yes"},
    "fr": {"help": "aide", "back": "retour", "skip": "passer", "review": "revoir",
           "cancel": "annuler", "change": "modifier courriel", "yes": "oui"},
}
LANGUAGES = ["en", "fr"]


@pytest.fixture(params=LANGUAGES)
def chat(request: pytest.FixtureRequest, suite_store: SqlStore, clock) -> ChatHarness:
    chat = ChatHarness(seeded(suite_store, clock), clock, hints=Hints(language=request.param))
    chat.language = request.param  # type: ignore[attr-defined]
    return chat


def words(chat: ChatHarness) -> dict[str, str]:
    return WORDS[chat.language]  # type: ignore[attr-defined]


def test_help(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="region")
    chat.say(words(chat)["help"])
    chat.expect_said("fields.region.help", chat.language)  # type: ignore[attr-defined]
    chat.expect_question("region")


def test_back(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="region")
    chat.say(words(chat)["back"])
    chat.expect_question("care_setting")


def test_skip_refused_on_a_required_question(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="region")
    chat.say(words(chat)["skip"])
    chat.expect_said("runtime.skip.not_allowed", chat.language)  # type: ignore[attr-defined]


def test_review_so_far(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="region")
    chat.say(words(chat)["review"])
    chat.expect_said("runtime.review.so_far", chat.language)  # type: ignore[attr-defined]
    chat.expect_question("region")


def test_cancel(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="region")
    chat.say(words(chat)["cancel"])
    chat.expect_said("registration.cancelled", chat.language)  # type: ignore[attr-defined]
    assert chat.state() is None


def test_change_at_review_then_confirm(chat: ChatHarness) -> None:
    follow(chat, SCRIPT)
    chat.say(words(chat)["change"])
    chat.expect_question("email")
    chat.say("new@example.org")
    chat.expect_question("__review__")
    chat.say(words(chat)["yes"])
    # The script chose English as the preferred language: the confirmation already uses it.
    chat.expect_said("registration.done", "en", name="Amira")
