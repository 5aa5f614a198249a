"""The case review workflow end to end through the Slack mock (issue #7): a presenter drafts a
case by DMs and button clicks and submits it; the facilitator gets the notice in their DM,
returns it with a reason; the presenter corrects the named part and resubmits; the facilitator
accepts. Signed requests in, Web API calls out, the outbox driven as in production."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from assistant.i18n import translate
from tests.community import member, series, session
from tests.slack_fixtures import Spoke, find_option
from tests.slack_mock import Call
from tests.slack_signing import (
    FORM,
    TEAM_ID,
    block_actions,
    dm_channel_id,
    dm_event,
    form_body,
    json_body,
)

PRESENTER, FACILITATOR, BYSTANDER = "U0AMA", "U0FAY", "U0BEN"
QUESTION = "How can we ease her breathlessness at night?"


def en(message_id: str, **args: object) -> str:
    return translate(message_id, "en", **args)


def identity(user: str) -> str:
    return f"slack:{TEAM_ID}/{user}"


def slack_member(spoke: Spoke, name: str, user: str, role: str = "participant") -> int:
    spoke.api.add_user(user, real_name=f"{name.title()} Test", tz="Europe/London", locale="en-GB")
    return member(spoke.store, spoke.clock.now(), name, role=role, identity=identity(user),
                  address={"team": TEAM_ID, "user": user, "channel": dm_channel_id(user)})


def blocks_text(call: Call | dict[str, Any]) -> str:
    blocks = call.get("blocks")
    shown = blocks if isinstance(blocks, str) else json.dumps(blocks, ensure_ascii=False)
    return f"{call.get('text') or ''}\n{shown}"


def refs(call: Call | dict[str, Any]) -> list[str]:
    blocks = call["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return [element["value"] for block in blocks for element in block.get("elements", [])
            if element.get("type") == "button"]


class Person:
    """One Slack user's DM with Spoke: what they type and press, and what comes back."""

    def __init__(self, spoke: Spoke, user: str, mailbox: Mailbox) -> None:
        self.spoke, self.user, self.mailbox = spoke, user, mailbox
        self.last: Call | None = None

    @property
    def channel(self) -> str:
        return dm_channel_id(self.user)

    async def say(self, text: str) -> Call:
        assert (await self.spoke.post(json_body(dm_event(self.user, text)))).status == 200
        return await self.answer()

    async def pick(self, label: str, posted: Call | None = None) -> Call:
        """Press a button by its label (or a catalogue id's English) in the last message."""
        shown = en(label) if label.count(".") >= 2 and " " not in label else label
        assert (await self.spoke.click(posted or self.last, shown, user=self.user)).status == 200  # type: ignore[arg-type]
        return await self.answer()

    async def answer(self) -> Call:
        self.last = await self.mailbox.next(self.channel)
        return self.last


class Mailbox:
    """chat.postMessage calls sorted by DM channel: replies and notices may interleave."""

    def __init__(self, spoke: Spoke) -> None:
        self.spoke = spoke
        self.waiting: dict[str, list[Call]] = {}

    async def next(self, channel: str) -> Call:
        for _ in range(100):
            if self.waiting.get(channel):
                return self.waiting[channel].pop(0)
            try:
                call = await self.spoke.api.next_call("chat.postMessage", timeout=0.2)
            except (AssertionError, TimeoutError):
                assert self.spoke.serving.sender is not None
                await self.spoke.serving.sender.deliver_due()
                continue
            self.waiting.setdefault(str(call["channel"]), []).append(call)
        raise AssertionError(f"nothing posted to {channel}")


async def draft_and_submit(amira: Person) -> None:
    await amira.say("case")
    await amira.say(QUESTION)
    for label in ("case.case_type.patient", "fields.care_setting.care_home_nursing",
                  "case.session.any"):
        await amira.pick(label)
    await amira.say("A woman in her 80s with advanced heart failure")
    for label in ("case.age_band.80-89", "case.sex.female", "fields.care_setting.care_home_nursing",
                  "case.how.chat"):  # Slack could show a modal; this presenter answers in the DM
        await amira.pick(label)
    await amira.say("Heart failure and CKD; two admissions in three months")
    await amira.say("Breathless at night, frightened, wants to stay in the home")
    await amira.say("skip")
    await amira.say("skip")
    await amira.pick("case.acp_status.discussed")
    await amira.say("skip")
    await amira.say("Oxygen at night: no change. A fan helps a little.")
    preview = await amira.say("skip")
    assert "A woman in her 80s with advanced heart failure" in blocks_text(preview)
    await declare_and_send(amira)


async def declare_and_send(amira: Person) -> Call:
    for label in ("case.preview.ready", "case.declare.deidentified.yes",
                  "case.declare.consent_policy.yes", "case.declare.responsibility.yes"):
        await amira.pick(label)
    return await amira.say("yes")


def state_of(spoke: Spoke, case_id: int) -> str:
    with spoke.store.transaction() as uow:
        record = uow.cases.get(case_id)
        assert record is not None
        return record.case.state


async def test_a_case_is_reviewed_end_to_end_in_slack(spoke: Spoke) -> None:
    now = spoke.clock.now()
    slack_member(spoke, "amira", PRESENTER)
    slack_member(spoke, "fay", FACILITATOR, role="facilitator")
    slack_member(spoke, "ben", BYSTANDER)
    spring = series(spoke.store, now, name="spring")
    session(spoke.store, now, spring, datetime(2025, 6, 12, 12, 0, tzinfo=UTC))
    mailbox = Mailbox(spoke)
    amira, fay, ben = (Person(spoke, user, mailbox) for user in (PRESENTER, FACILITATOR, BYSTANDER))

    await draft_and_submit(amira)
    with spoke.store.transaction() as uow:
        assert uow.conversations.active(identity(PRESENTER)) is None  # the draft became a case
    notice = await fay.answer()
    assert QUESTION in blocks_text(notice)
    assert "Amira Test" in blocks_text(notice)  # the hub team sees who presents
    for label in ("cases.action.open", "cases.action.accept", "cases.action.return",
                  "cases.action.schedule"):
        find_option(notice["blocks"], en(label))
    case_id = int(next(r for r in refs(notice) if r.startswith("act:case_accept:")).split(":")[-1])
    assert state_of(spoke, case_id) == "submitted"

    # Someone else's forged Accept changes nothing and shows nothing of the case.
    forged = form_body(block_actions(BYSTANDER, TEAM_ID, "spoke:0", f"act:case_accept:{case_id}",
                                     channel=dm_channel_id(BYSTANDER)))
    assert (await spoke.post(forged, FORM)).status == 200
    refused = await ben.answer()
    assert en("cases.not_yours") in blocks_text(refused)
    assert "breathlessness" not in blocks_text(refused) and "Heart failure" not in blocks_text(refused)
    assert state_of(spoke, case_id) == "submitted"

    # Returned with a reason and the part to change.
    asked_reason = await fay.pick("cases.action.return", notice)
    assert en("case.return.reason.ask") in blocks_text(asked_reason)
    asked_fields = await fay.say("Please say what was tried for breathlessness in more detail")
    assert en("case.return.fields.ask") in blocks_text(asked_fields)
    await fay.say("tried")
    assert state_of(spoke, case_id) == "returned"

    returned = await amira.answer()
    assert "Please say what was tried" in blocks_text(returned)
    find_option(returned["blocks"], en("cases.action.edit"))
    asked = await amira.pick("cases.action.edit", returned)
    assert "tried" in blocks_text(asked).lower()  # only the part the team named is asked again
    await amira.say("Oxygen at night: no change. Fan and sitting up: some relief. Morphine 1 mg: helped.")
    for label in ("case.preview.ready", "case.declare.deidentified.yes",
                  "case.declare.consent_policy.yes", "case.declare.responsibility.yes"):
        await amira.pick(label)
    await amira.say("no")
    assert state_of(spoke, case_id) == "submitted"

    again = await fay.answer()
    accept = next(r for r in refs(again) if r.startswith("act:case_accept:"))
    assert accept == f"act:case_accept:{case_id}"  # the same case, resubmitted
    accepted = await fay.pick("cases.action.accept", again)
    with spoke.store.transaction() as uow:
        record = uow.cases.get(case_id)
    assert record is not None and record.case.state == "accepted"
    reference = record.case.reference
    assert reference is not None and reference.startswith("CH-2025-")
    assert reference[len("CH-2025-"):].isdigit() and len(reference) == len("CH-2025-001")
    assert reference in blocks_text(accepted)
    assert "Morphine 1 mg" in record.case.content.tried

    # The facilitator's DMs carry the case, never the presenter's contact details (none typed).
    await spoke.settle()
    to_fay = "\n".join(blocks_text(call) for call in spoke.api.calls("chat.postMessage")
                       if call["channel"] == dm_channel_id(FACILITATOR))
    assert QUESTION in to_fay
    for identifier in ("amira@example.org", "EH6", PRESENTER):
        assert identifier not in to_fay, identifier

    # A late forged Accept by the bystander still changes nothing.
    assert (await spoke.post(forged, FORM)).status == 200
    await spoke.settle()
    assert state_of(spoke, case_id) == "accepted"
