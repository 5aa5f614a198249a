"""The conversation modules that each declare their `DIALOGS`, button `ACTIONS` and typed
`COMMANDS`; the playbook, the button router and the command router merge them."""

from __future__ import annotations

from dialogs import after_session, announcements, attendance, curriculum, evaluation, library

MODULES = (after_session, attendance, evaluation, library, curriculum, announcements)
