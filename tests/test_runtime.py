"""The dialog runtime on its own: pure steps, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from assistant.events import Hints, UserChose, UserSaid
from assistant.i18n import Translator, translate
from assistant.messages import Card, Question
from assistant.parsing import Invalid, Valid
from assistant.runtime import (
    Ask,
    Choice,
    Choose,
    Confirm,
    Dialog,
    Directory,
    Outcome,
    Review,
    Say,
    StepContext,
    Sub,
    advance,
    start,
)


def context(language: str = "en") -> StepContext:
    return StepContext(t=Translator(language), time_zone="Europe/London",
                       now=datetime(2025, 6, 2, 9, tzinfo=UTC), hints=Hints(),
                       directory=Directory(), answers={})


def number(text: str, ctx: StepContext) -> Valid[int] | Invalid:
    return Valid(int(text)) if text.isdigit() else Invalid("runtime.empty")


FRUITS = (Choice("apple", "Apple", literal=True), Choice("banana", "Banana", literal=True),
          Choice("cherry", "Cherry", literal=True))
CONSENT = Dialog(name="consent_part", version=1, steps=(
    Confirm("agree", "runtime.yes"),
    Ask("why", "runtime.no", when=lambda a: a.get("agree") is False),
))
DEMO = Dialog(name="demo", version=2, steps=(
    Say("hello", "runtime.welcome_back"),
    Ask("count", "runtime.yes", parse=number, skippable=True),
    Choose("fruit", "runtime.no", options=FRUITS, many=True),
    Sub("consent", "runtime.yes", dialog=CONSENT),
), review=Review("runtime.review.so_far"), migrations={2: lambda a: {
    **{k: v for k, v in a.items() if k != "amount"}, **({"count": a["amount"]} if "amount" in a else {})}})


def run(dialog: Dialog, *texts: str) -> Outcome:
    outcome = start(dialog, context())
    for text in texts:
        assert outcome.state is not None
        outcome = advance(dialog, outcome.state, UserSaid(text), context())
    return outcome


def test_say_steps_are_shown_and_the_first_question_follows() -> None:
    outcome = run(DEMO)
    assert outcome.state is not None and outcome.state.pending_step == "count"
    assert "Welcome back" in outcome.parts[0].fallback_text()


def test_skip_records_no_answer_for_optional_steps() -> None:
    outcome = run(DEMO, "skip")
    assert outcome.state is not None
    assert outcome.state.answers["count"] is None and outcome.state.pending_step == "fruit"


def test_many_choices_by_number_and_name_with_prefixes() -> None:
    outcome = run(DEMO, "3", "1, ban and cherry")
    assert outcome.state is not None
    assert outcome.state.answers["fruit"] == ["apple", "banana", "cherry"]


@pytest.mark.toy_dialog
def test_a_sub_dialog_stores_its_answers_under_its_key_and_keeps_its_conditions() -> None:
    outcome = run(DEMO, "3", "apple", "no")
    assert outcome.state is not None and outcome.state.pending_step == "consent.why"
    outcome = run(DEMO, "3", "apple", "no", "because")
    assert outcome.state is not None and outcome.state.pending_step == "__review__"
    assert outcome.state.answers["consent.agree"] is False
    assert outcome.state.answers["consent.why"] == "because"


@pytest.mark.toy_dialog
def test_review_submit_finishes_with_all_answers() -> None:
    outcome = run(DEMO, "3", "apple", "yes", "yes")
    assert outcome.state is None
    assert outcome.finished == {"hello": True, "count": 3, "fruit": ["apple"], "consent.agree": True}


@pytest.mark.toy_dialog
def test_review_by_number_picks_the_numbered_action() -> None:
    outcome = run(DEMO, "3", "apple", "yes", "3")   # 1 confirm, 2 count, 3 fruit
    assert outcome.state is not None and outcome.state.pending_step == "fruit"
    card = outcome.parts[-1]
    assert isinstance(card, Question)


@pytest.mark.toy_dialog
def test_a_review_card_offers_a_change_per_answer() -> None:
    outcome = run(DEMO, "3", "apple", "yes")
    card = outcome.parts[-1]
    assert isinstance(card, Card)
    assert [f.value for f in card.facts] == ["3", "Apple", "Yes"]
    assert len(card.actions) == 4


def test_an_old_dialog_version_is_migrated_on_the_next_turn() -> None:
    outcome = start(DEMO, context())
    assert outcome.state is not None
    from dataclasses import replace
    old = replace(outcome.state, dialog_version=1, answers={"hello": True, "amount": 5, "gone": 1})
    outcome = advance(DEMO, old, UserSaid("7"), context())
    assert outcome.state is not None
    # "7" answered the old question; the migration already answered it, so the reader is
    # asked the next question rather than having "7" read as a fruit.
    assert outcome.state.answers == {"hello": True, "count": 5}
    assert outcome.state.pending_step == "fruit"


def test_a_click_counts_only_for_an_option_that_was_offered() -> None:
    outcome = run(DEMO, "3")
    assert outcome.state is not None
    nonce = outcome.state.nonce
    forged = advance(DEMO, outcome.state, UserChose(f"demo:fruit:{nonce}:durian"), context())
    assert forged.state is not None and "fruit" not in forged.state.answers
    real = advance(DEMO, outcome.state, UserChose(f"demo:fruit:{nonce}:banana"), context())
    assert real.state is not None and real.state.answers["fruit"] == ["banana"]


def test_cancel_ends_the_dialog_without_finishing() -> None:
    outcome = run(DEMO, "3", "annuler")
    assert outcome.state is None and outcome.cancelled and outcome.finished is None


@pytest.mark.parametrize("steps", [
    (Ask("a", "x"), Ask("a", "y")),
    (Ask("a", "x"), Sub("s", "x", dialog=Dialog("inner", 1, (Ask("a", "x"),))), Ask("s.a", "z")),
])
def test_a_repeated_step_key_stops_start_up(steps: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="repeats step keys"):
        Dialog("broken", 1, steps)


@pytest.mark.parametrize("key", ["a:b", "__review__"])
def test_reserved_step_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        Dialog("broken", 1, (Ask(key, "x"),))


def test_prompts_follow_the_reader_language() -> None:
    french = start(DEMO, context("fr")).parts[0].fallback_text()
    assert french == translate("runtime.welcome_back", "fr")
    assert french != translate("runtime.welcome_back", "en")
