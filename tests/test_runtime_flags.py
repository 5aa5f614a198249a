"""An answer that may identify someone: the author replaces, rewrites, or (unless it is
certain) keeps it with a reason that goes to the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.events import Hints, UserChose, UserSaid
from assistant.i18n import Translator, translate
from assistant.messages import Question
from assistant.parsing import Flagged, Invalid, Valid
from assistant.runtime import Ask, Dialog, Directory, Outcome, StepContext, advance, start
from assistant.runtime.engine import OVERRIDES


def context() -> StepContext:
    return StepContext(t=Translator("en"), time_zone="Europe/London",
                       now=datetime(2025, 6, 2, 9, tzinfo=UTC), hints=Hints(),
                       directory=Directory(), answers={})


def checked(text: str, ctx: StepContext) -> Valid[str] | Invalid | Flagged:
    """A stand-in checker: "Mrs Smith" is likely identifying, "NHS 999 765 4323" certain."""
    if "NHS 999 765 4323" in text:
        return Flagged(text, text.replace("NHS 999 765 4323", "[NHS number]"), "runtime.empty",
                       blocking=True, kinds=("nhs_number:certain",))
    if "Mrs Smith" in text:
        return Flagged(text, text.replace("Mrs Smith", "[name]"), "runtime.empty",
                       kinds=("name:likely",))
    return Valid(text)


STORY = Dialog(name="story", version=1, steps=(Ask("summary", "runtime.yes", parse=checked),
                                               Ask("after", "runtime.no")))


def say(outcome: Outcome, text: str) -> Outcome:
    assert outcome.state is not None
    return advance(STORY, outcome.state, UserSaid(text), context())


def click(outcome: Outcome, label_id: str) -> Outcome:
    assert outcome.state is not None
    question = outcome.parts[-1]
    assert isinstance(question, Question)
    option = next(o for o in question.options if o.label == translate(label_id, "en"))
    return advance(STORY, outcome.state, UserChose(option.ref), context())


def labels(outcome: Outcome) -> list[str]:
    question = outcome.parts[-1]
    assert isinstance(question, Question)
    return [o.label for o in question.options]


def test_a_flagged_answer_offers_three_ways_and_is_not_stored_yet() -> None:
    flagged = say(start(STORY, context()), "Mrs Smith, 84, breathless")
    assert labels(flagged) == [translate(k, "en") for k in (
        "runtime.flag.replace", "runtime.flag.edit", "runtime.flag.keep")]
    assert flagged.state is not None and "summary" not in flagged.state.answers
    assert flagged.state.pending_step == "summary"


def test_replacing_stores_the_placeholder_version() -> None:
    done = click(say(start(STORY, context()), "Mrs Smith, 84, breathless"), "runtime.flag.replace")
    assert done.state is not None and done.state.answers["summary"] == "[name], 84, breathless"
    assert done.state.pending_step == "after" and done.overrides == ()


def test_rewriting_checks_the_new_answer_again() -> None:
    again = click(say(start(STORY, context()), "Mrs Smith, 84"), "runtime.flag.edit")
    assert again.state is not None and again.state.pending_step == "summary"
    assert "summary" not in again.state.answers
    retyped = say(again, "A woman in her 80s, breathless")
    assert retyped.state is not None and retyped.state.answers["summary"] == "A woman in her 80s, breathless"


def test_typing_a_new_answer_instead_of_choosing_is_checked_too() -> None:
    flagged = say(start(STORY, context()), "Mrs Smith, 84")
    reflagged = say(flagged, "Mrs Smith again")
    assert reflagged.state is not None and reflagged.state.proposed is not None
    clean = say(reflagged, "A woman in her 80s")
    assert clean.state is not None and clean.state.answers["summary"] == "A woman in her 80s"


def test_not_identifying_asks_a_reason_and_reports_the_override_without_the_text() -> None:
    asked = click(say(start(STORY, context()), "Mrs Smith ward, 84"), "runtime.flag.keep")
    assert asked.parts[-1] == Question(translate("runtime.flag.reason", "en", max=200))
    refused = say(asked, "x" * 201)
    assert translate("runtime.flag.reason_needed", "en", max=200) in [
        getattr(p, "text", "") for p in refused.parts]
    assert refused.state is not None and "summary" not in refused.state.answers
    kept = say(refused, "Smith is the ward's name, not the patient's")
    assert kept.state is not None and kept.state.answers["summary"] == "Mrs Smith ward, 84"
    assert kept.state.answers[OVERRIDES] == [{"step": "summary", "kinds": ["name:likely"]}]
    assert kept.overrides == ({"step": "summary", "kinds": ["name:likely"],
                               "reason": "Smith is the ward's name, not the patient's"},)


def test_a_certain_identifier_cannot_be_kept() -> None:
    flagged = say(start(STORY, context()), "NHS 999 765 4323, 84")
    assert translate("runtime.flag.keep", "en") not in labels(flagged)
    assert flagged.state is not None
    forged = advance(STORY, flagged.state, UserChose(f"story:summary:{flagged.state.nonce}:keep"),
                     context())
    assert forged.state is not None and "summary" not in forged.state.answers
    three = say(flagged, "3")  # there is no third button to type
    assert three.state is not None and "summary" not in three.state.answers
    assert translate("runtime.flag.pick", "en") in [getattr(p, "text", "") for p in three.parts]
    done = say(flagged, "1")
    assert done.state is not None and done.state.answers["summary"] == "[NHS number], 84"


# --- a finish that cannot finish keeps the conversation ------------------------------------

@pytest.mark.toy_dialog
def test_a_refused_finish_keeps_the_answers_and_asks_again_at_the_named_step(suite_store, clock):
    from assistant.events import Actor, Event
    from assistant.messages import Text
    from assistant.runtime import Reopen, Review
    from assistant.turns import StartDialog, TurnHandler

    def submit(answers, ctx):  # type: ignore[no-untyped-def]
        if answers["after"] == "too soon":
            return Reopen((Text("Not yet: the summary needs more."),), ask_again=("summary",))
        return [Text(f"Submitted: {answers['summary']}")]

    dialog = Dialog(name="story", version=1, steps=STORY.steps, finish=submit,
                    review=Review("runtime.review.so_far"))

    class Book:
        def dialog(self, name: str) -> Dialog:
            return dialog

        def knows(self, name: str) -> bool:
            return name == "story"

        def route(self, event, ctx):  # type: ignore[no-untyped-def]
            return StartDialog("story")

        def act(self, ref, ctx):  # type: ignore[no-untyped-def]
            return []

    turns = TurnHandler(suite_store, clock, Book())
    sent = iter(range(100))

    def say_(text: str) -> list[str]:
        result = turns.handle_now(Event(f"d{next(sent)}", Actor("console:amira"), UserSaid(text)))
        return [getattr(p, "text", getattr(p, "prompt", "")) for r in result.replies for p in r.parts]

    say_("start")
    say_("A woman in her 80s")
    say_("too soon")
    said = say_("submit")
    assert said[0] == "Not yet: the summary needs more."
    with suite_store.transaction() as uow:
        state = uow.conversations.active("console:amira")
    assert state is not None and state.pending_step == "summary"
    assert state.answers == {"after": "too soon"}
