"""The declarative dialog runtime: steps a dialog declares, and the engine that runs them."""

from assistant.runtime.engine import Outcome, advance, next_step, resume, start
from assistant.runtime.state import REVIEW, DialogState
from assistant.runtime.steps import (
    Answers,
    Ask,
    Choice,
    Choose,
    Confirm,
    Dialog,
    Directory,
    Fill,
    NetworkInfo,
    Reopen,
    Review,
    Say,
    Step,
    StepContext,
    Sub,
)

__all__ = [
    "REVIEW", "Answers", "Ask", "Choice", "Choose", "Confirm", "Dialog", "DialogState",
    "Directory", "Fill", "NetworkInfo", "Outcome", "Reopen", "Review", "Say", "Step", "StepContext", "Sub",
    "advance", "next_step", "resume", "start",
]
