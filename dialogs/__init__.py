"""The conversations Spoke holds. `PLAYBOOK` is what bootstrap hands to the turn handler."""

from __future__ import annotations

from collections.abc import Mapping

from assistant.events import Event
from assistant.messages import Part
from assistant.runtime import Dialog
from assistant.services.context import ServiceContext
from assistant.turns import Routed, StartDialog
from dialogs import commands
from dialogs.account import CONSENT, DELETE_MY_DATA, LANGUAGE, NETWORKS, PROFILE
from dialogs.buttons import act
from dialogs.case_presentation import CASE_PRESENTATION
from dialogs.case_review import RETURN_CASE
from dialogs.features import MODULES
from dialogs.registration import REGISTRATION
from dialogs.sessions import ADD_SESSION, CHANGE_SESSION, REMINDERS

DIALOGS: tuple[Dialog, ...] = (REGISTRATION, PROFILE, NETWORKS, CONSENT, LANGUAGE, DELETE_MY_DATA,
                               REMINDERS, ADD_SESSION, CHANGE_SESSION, CASE_PRESENTATION,
                               RETURN_CASE,
                               *(dialog for module in MODULES for dialog in module.DIALOGS))


class Playbook:
    def __init__(self, dialogs: tuple[Dialog, ...] = DIALOGS) -> None:
        names = [d.name for d in dialogs]
        if len(set(names)) != len(names):
            raise ValueError(f"two dialogs share a name: {sorted(names)}")
        self._dialogs: Mapping[str, Dialog] = {d.name: d for d in dialogs}

    def dialog(self, name: str) -> Dialog:
        return self._dialogs[name]

    def knows(self, name: str) -> bool:
        return name in self._dialogs

    def route(self, event: Event, ctx: ServiceContext) -> Routed:
        return commands.route(event, ctx)

    def act(self, ref: str, ctx: ServiceContext) -> list[Part] | StartDialog:
        return act(ref, ctx)


PLAYBOOK = Playbook()
