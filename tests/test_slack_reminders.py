"""A session reminder in Slack, over real HTTP: planned, written in the reader's zone, posted
to the mock with its buttons; the buttons answer the RSVP and send the calendar file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar

from assistant.i18n import translate
from tests.community import enrol, member, series, session
from tests.slack_fixtures import AMIRA, Spoke, find_option
from tests.slack_signing import FORM, TEAM_ID, block_actions, dm_channel_id, form_body

IDENTITY = f"slack:{TEAM_ID}/{AMIRA}"


def _block_of(message: dict[str, Any], action_id: str) -> str:
    blocks = message["blocks"] if isinstance(message["blocks"], list) else json.loads(message["blocks"])
    return next(block["block_id"] for block in blocks
                if any(e.get("action_id") == action_id for e in block.get("elements", [])))


def en(message_id: str, **args: object) -> str:
    return translate(message_id, "en", **args)


async def test_a_reminder_reaches_slack_and_its_buttons_work(spoke: Spoke) -> None:
    now = spoke.clock.now()  # Monday 2 June 2025, 09:00 UTC
    person = member(spoke.store, now, AMIRA, identity=IDENTITY,
                    address={"team": TEAM_ID, "user": AMIRA, "channel": dm_channel_id(AMIRA)})
    spring = series(spoke.store, now)
    meeting = session(spoke.store, now, spring, datetime(2025, 6, 5, 12, 0, tzinfo=UTC))
    enrol(spoke.store, now, spring, person)
    assert spoke.serving.sender is not None

    spoke.clock.set(datetime(2025, 6, 4, 9, 0, 30, tzinfo=UTC))  # Wednesday 10:00 in London
    await spoke.serving.sender.plan_reminders()
    await spoke.serving.sender.deliver_due()  # (the server's own pump may be first: either way)
    reminder = await spoke.api.next_call("chat.postMessage")
    assert reminder["channel"] == dm_channel_id(AMIRA)
    assert "Reminder: Spring series: Pain at the end of life" in str(reminder["blocks"])
    assert "Thursday 5 June, 13:00–14:00 (United Kingdom Time)" in str(reminder["blocks"])
    await spoke.serving.sender.deliver_due()
    assert len(spoke.api.posted(dm_channel_id(AMIRA))) == 1  # once

    stored = spoke.api.history(dm_channel_id(AMIRA))[-1]
    action_id, value, _ = find_option(reminder["blocks"], "I'll attend")
    body = form_body(block_actions(AMIRA, TEAM_ID, action_id, value, channel=dm_channel_id(AMIRA),
                                   message=stored, block_id=_block_of(stored, action_id)))
    assert (await spoke.post(body, FORM)).status == 200
    await spoke.settle()
    answer = await spoke.api.next_call("chat.postMessage")
    assert en("sessions.rsvp.going", when="Thursday 5 June, 13:00–14:00 (United Kingdom Time)") \
        in answer["text"]
    with spoke.store.transaction() as uow:
        assert uow.rsvps.answer(meeting.id, person) == "going"
    # The reminder keeps its buttons (people change their minds) and shows the last choice.
    updated = await spoke.api.next_call("chat.update")
    assert updated["ts"] == stored["ts"]
    assert find_option(updated["blocks"], "Add to calendar")
    assert "✓ I'll attend" in str(updated["blocks"])

    assert (await spoke.click(reminder, "Add to calendar", user=AMIRA)).status == 200
    await spoke.settle()
    content = await spoke.api.uploaded_file()
    event = next(iter(Calendar.from_ical(content).walk("VEVENT")))
    assert str(event["UID"]) == meeting.uid


async def test_a_forged_button_for_someone_elses_session_changes_nothing(spoke: Spoke) -> None:
    now = spoke.clock.now()
    person = member(spoke.store, now, AMIRA, identity=IDENTITY,
                    address={"team": TEAM_ID, "user": AMIRA, "channel": dm_channel_id(AMIRA)})
    closed_circle = series(spoke.store, now, name="closed-circle")
    meeting = session(spoke.store, now, closed_circle, datetime(2025, 6, 5, 12, 0, tzinfo=UTC))
    body = form_body(block_actions(AMIRA, TEAM_ID, "spoke:0", f"act:going:{meeting.id}",
                                   channel=dm_channel_id(AMIRA)))
    assert (await spoke.post(body, FORM)).status == 200
    await spoke.settle()
    refused = await spoke.api.next_call("chat.postMessage")
    assert en("sessions.not_yours") in refused["text"]
    with spoke.store.transaction() as uow:
        assert uow.rsvps.answer(meeting.id, person) is None
