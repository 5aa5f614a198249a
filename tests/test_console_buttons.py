"""In the terminal, buttons are numbered: typing the number presses the button just shown,
including a reminder's, which has no question waiting behind it."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from adapters.console.chat import ConsoleNotifier
from assistant.events import UserChose
from assistant.messages import Card, Fact, Option, Outgoing, Question, Reply, Text

REMINDER = Reply((Card("Reminder: Spring series", (Fact("When", "Thursday 13:00"),),
                       (Option("I'll attend", "act:going:7"), Option("Can't make it", "act:not_going:7"))),))


def shown(reply: Reply, tmp_path: Path) -> ConsoleNotifier:
    notifier = ConsoleNotifier(io.StringIO(), tmp_path)
    asyncio.run(notifier.send(Outgoing(1, "console:amira", {}, reply)))
    return notifier


def test_a_number_presses_the_reminder_button_just_shown(tmp_path: Path) -> None:
    notifier = shown(REMINDER, tmp_path)
    assert notifier.pressed("2") == UserChose("act:not_going:7")
    assert notifier.pressed(" 1 \n") == UserChose("act:going:7")


def test_numbers_out_of_range_and_words_stay_text(tmp_path: Path) -> None:
    notifier = shown(REMINDER, tmp_path)
    assert notifier.pressed("3") is None
    assert notifier.pressed("0") is None
    assert notifier.pressed("going") is None


def test_the_last_list_printed_wins_and_plain_text_clears_it(tmp_path: Path) -> None:
    notifier = shown(REMINDER, tmp_path)
    asyncio.run(notifier.send(Outgoing(2, "console:amira", {}, Reply((Question(
        "Which series?", (Option("Spring", "add_session:series:n1:3"),)),)))))
    assert notifier.pressed("1") == UserChose("add_session:series:n1:3")
    asyncio.run(notifier.send(Outgoing(3, "console:amira", {}, Reply((Text("How long is it?"),)))))
    assert notifier.pressed("1") is None  # "60" answers the question, it presses nothing


def test_a_question_with_several_answers_keeps_typed_lists_as_text(tmp_path: Path) -> None:
    notifier = shown(Reply((Question("Which reminders?", (Option("1 day", "r:k:n:day"),), many=True),)),
                     tmp_path)
    assert notifier.pressed("1") is None
