"""Choices and answers: the runtime's words (assistant/runtime/words.py) and the engine's
matching of typed text, numbers, clicks and forms against what was offered.

A forged or garbled click must never become an answer that was not offered, typed text must
never raise, and the real dialogs, walked at random, must never fail a turn (an apology with
an incident reference is a traceback the reader gets instead of an answer).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.clock import FakeClock
from assistant.events import Action, FormSubmitted, Hints, UserChose, UserSaid
from assistant.i18n import Translator
from assistant.messages import Card, Question
from assistant.parsers import one_line
from assistant.runtime import (
    REVIEW,
    Ask,
    Choice,
    Choose,
    Confirm,
    Dialog,
    Directory,
    Outcome,
    Review,
    StepContext,
    advance,
    start,
)
from assistant.runtime.words import NO, YES, change_target, command_in, fold, split_many, yes_or_no
from storage.repositories import SqlStore
from tests.fuzz import fuzz
from tests.fuzz.texts import ODD_CHARACTERS, any_answer
from tests.harness import ChatHarness, seeded

# --- words ---------------------------------------------------------------------------------------


@fuzz(300)
@given(text=any_answer)
def test_the_runtime_words_never_raise_and_numbers_fold_to_numbers(text: str) -> None:
    folded = fold(text)
    assert folded == folded.strip(" .!")
    if folded.isdigit():
        # The engine reads a folded number as a button's position: int() must take it
        # ("፩" and "²" are digits to isdigit() but not to int()).
        int(folded)
    command_in(text)
    yes_or_no(text)
    target = change_target(text)
    assert target is None or target == target.strip()
    assert all(part and part == part.strip() for part in split_many(text))


@fuzz(100)
@given(word=st.sampled_from(sorted(YES | NO)),
       dressed=st.sampled_from([str.upper, str.title, lambda w: f"  {w}!", lambda w: f"{w}.",
                                lambda w: w.replace("'", "’"), lambda w: w.replace("a", "à")]))
def test_yes_and_no_are_read_however_they_are_typed(word: str, dressed: Any) -> None:
    assert yes_or_no(dressed(word)) is (word in YES)


@fuzz(100)
@given(digits=st.sampled_from(["٣", "३", "３", "3", "²", "③", "፫"]))
def test_a_number_in_any_script_is_that_number(digits: str) -> None:
    assert fold(digits) in ("2", "3")


# --- the engine, on a dialog made up for the purpose -----------------------------------------------

FRUIT = (Choice("apple", "Apple", literal=True), Choice("banana", "Banana", literal=True),
         Choice("cherry", "Cherry pie", literal=True))
TOY = Dialog(name="toy", version=1, steps=(
    Ask("name", "runtime.yes", parse=one_line(20)),
    Choose("fruit", "runtime.no", options=FRUIT),
    Choose("basket", "runtime.no", options=FRUIT, many=True, skippable=True),
    Confirm("sure", "runtime.yes"),
), review=Review("runtime.review.so_far"))
OFFERED = {choice.value for choice in FRUIT}


def context() -> StepContext:
    return StepContext(t=Translator("en"), time_zone="Europe/London",
                       now=datetime(2026, 3, 2, 9, tzinfo=UTC), hints=Hints(),
                       directory=Directory(), answers={})


def refs(outcome: Outcome) -> list[str]:
    found: list[str] = []
    for part in outcome.parts:
        if isinstance(part, Question):
            found += [option.ref for option in part.options]
        elif isinstance(part, Card):
            found += [option.ref for option in part.actions]
    return found


def an_action(outcome: Outcome) -> st.SearchStrategy[Action]:
    """What a person, a second device or a forger might send next."""
    assert outcome.state is not None
    state = outcome.state
    real = refs(outcome) or ["toy:name:x:y"]
    prefix = f"toy:{state.pending_step}:{state.nonce}:"
    forged = st.one_of(
        st.text(max_size=60),
        st.builds(lambda value: prefix + value,
                  st.sampled_from(["durian", "__skip__", "__keep__", "__suggest__", "__submit__",
                                   "change=", "change=fruit", "change=nothing", "yes", "no", "open",
                                   "", ":", "apple:banana"]) | st.text(max_size=10)),
        st.builds(lambda ref, cut: ref[:cut], st.sampled_from(real), st.integers(0, 40)),
        st.sampled_from(real).map(lambda ref: ref.replace(state.nonce, "0" * len(state.nonce))),
    )
    said = any_answer | st.sampled_from(["1", "2", "3", "4", "0", "-1", "1, 3", "apple and ban",
                                         "che", "Cherry PIE", "change fruit", "review", "back",
                                         "skip", "yes", "non", "99999999999999999999"])
    return st.one_of(
        said.map(UserSaid),
        st.sampled_from(real).map(UserChose),
        forged.map(UserChose),
        st.builds(FormSubmitted, st.sampled_from(real) | forged,
                  st.dictionaries(st.sampled_from(["answer", "name", "fruit", "x"]), any_answer,
                                  max_size=3)),
    )


@pytest.mark.toy_dialog
@fuzz(60)
@given(data=st.data())
def test_no_input_raises_or_answers_with_what_was_not_offered(data: st.DataObject) -> None:
    outcome = start(TOY, context())
    for _ in range(data.draw(st.integers(1, 12), label="turns")):
        if outcome.state is None:
            break
        action = data.draw(an_action(outcome), label="action")
        outcome = advance(TOY, outcome.state, action, context())
        for part in outcome.parts:
            part.fallback_text()
        answers = dict(outcome.finished or (outcome.state.answers if outcome.state else {}))
        assert answers.get("fruit", "apple") in OFFERED, answers
        assert set(answers.get("basket") or []) <= OFFERED, answers
        assert answers.get("sure", True) in (True, False), answers
        name = answers.get("name", "x")
        assert isinstance(name, str) and 0 < len(name) <= 20, answers
        if outcome.state is not None:
            assert outcome.state.pending_step in (None, REVIEW, "name", "fruit", "basket", "sure")


# --- the real dialogs, walked at random ----------------------------------------------------------

_people = itertools.count(1)


@fuzz(60)
@given(data=st.data())
def test_the_real_dialogs_walked_at_random_never_fail_a_turn(sqlite_store: SqlStore,
                                                             data: st.DataObject) -> None:
    clock = FakeClock(at="2026-03-02T09:00:00Z")
    if not getattr(sqlite_store, "_fuzz_seeded", False):
        seeded(sqlite_store, clock)
        sqlite_store._fuzz_seeded = True  # type: ignore[attr-defined]
    chat = ChatHarness(sqlite_store, clock, user=f"fuzz{next(_people)}",
                       hints=data.draw(st.builds(Hints, st.none() | any_answer, st.none() | any_answer,
                                                 st.sampled_from([None, "Mars/Base", "", "EST",
                                                                  "Europe/London", ODD_CHARACTERS]),
                                                 st.none() | any_answer), label="hints"))
    result = chat.say(data.draw(st.sampled_from(["hello", "register", "help", "profile", "sessions",
                                                 "s'inscrire", "aide"]), label="first"))
    assert result.incident is None
    for _ in range(data.draw(st.integers(1, 15), label="turns")):
        options = chat.options()
        if options and data.draw(st.booleans(), label="click"):
            result = chat.send(UserChose(data.draw(st.sampled_from(options), label="option").ref))
        else:
            result = chat.say(data.draw(any_answer, label="typed"))
        assert result.incident is None, f"a turn failed: {chat.text}"
