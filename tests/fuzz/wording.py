"""What a refusal must be: a catalogue id both languages word, with every placeholder filled."""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from assistant.i18n import LANGUAGES, catalogue, format_moment
from assistant.parsing import Invalid, Valid


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def assert_worded(message_id: str, args: Mapping[str, Any] | None = None) -> None:
    """`message_id` is in the English and French catalogues and formats with `args` (the
    runtime shows datetimes with Babel first; the stand-in does the same)."""
    shown = {key: format_moment(value, "UTC", "en") if isinstance(value, datetime) else str(value)
             for key, value in (args or {}).items()}
    for language in LANGUAGES:
        text = catalogue(language).get(message_id)
        assert text, f"{message_id!r} is not in the {language} catalogue"
        missing = placeholders(text) - shown.keys()
        assert not missing, f"{message_id!r} ({language}) needs {missing}, got {sorted(shown)}"
        text.format(**shown)


def assert_a_result(result: object) -> None:
    """A parser's answer: Valid (with a worded confirmation, if any) or a worded Invalid."""
    assert isinstance(result, Valid | Invalid), result
    if isinstance(result, Invalid):
        assert_worded(result.message, result.args)
    elif result.confirm is not None:
        assert_worded(result.confirm, result.confirm_args)
