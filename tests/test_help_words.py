"""Every command the help names (between asterisks) is one Spoke understands, in both
languages: help that suggests a word Spoke then refuses is worse than no help."""

from __future__ import annotations

import re

import pytest

from assistant.i18n import translate
from assistant.runtime.words import fold
from dialogs.commands import BY_WORD

HELP_TEXTS = ("help.newcomer", "help.registered", "help.team")


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("message_id", HELP_TEXTS)
def test_every_command_in_the_help_is_understood(language: str, message_id: str) -> None:
    named = re.findall(r"\*([^*]+)\*", translate(message_id, language))
    assert named, "the help names no command"
    unknown = [word for word in named if fold(word) not in BY_WORD]
    assert unknown == []
