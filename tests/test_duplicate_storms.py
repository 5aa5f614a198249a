"""Duplicates and races over real HTTP (issue #9): storms of Slack retries and Teams duplicate
activities, the same button pressed twice at once, two devices answering the same question at
once. Each gives one effect. The requests really are concurrent: on PostgreSQL (the suite's
second pass) their turns interleave in the database."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from assistant.i18n import translate
from storage.tables import ConversationStateRow, ProcessedEventRow
from tests.slack_fixtures import AMIRA, Spoke, find_option, text_of
from tests.slack_signing import TEAM_ID, block_actions, dm_channel_id, dm_event, form_body, json_body
from tests.teams_fixtures import TeamsSpoke

PEOPLE = [f"U0STORM{n}" for n in range(8)]
COPIES = 6  # the first delivery and five retries, as Slack sends when the ack is slow


def rows(store: Any, table: Any) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table.__table__)).scalar_one())


async def test_a_storm_of_slack_retries_gives_each_person_one_answer(spoke: Spoke) -> None:
    for person in PEOPLE:
        spoke.api.add_user(person, real_name=f"Nurse {person[-1]}", tz="Europe/London")

    async def deliver(person: str, retry: int | None) -> int:
        body = json_body(dm_event(person, "hello", event_id=f"Ev{person}"))
        return (await spoke.post(body, retry_num=retry)).status

    statuses = await asyncio.gather(*(deliver(person, retry) for retry in (None, 1, 2, 3, 4, 5)
                                      for person in PEOPLE))
    await spoke.settle()

    assert statuses == [200] * len(PEOPLE) * COPIES
    answered = Counter(call["channel"] for call in spoke.api.calls("chat.postMessage"))
    assert answered == {dm_channel_id(person): 1 for person in PEOPLE}
    assert rows(spoke.store, ProcessedEventRow) == len(PEOPLE)


async def test_a_storm_of_duplicate_teams_activities_gives_each_person_one_answer(
        teams: TeamsSpoke) -> None:
    people = [f"00000000-0000-4000-8000-0000000000{n:02d}" for n in range(6)]
    for aad in people:
        teams.connector.add_user(aad, name="Ama Mensah", email=f"{aad[-2:]}@example.org")
    activities = [teams.message("hello", user_aad=aad, activity_id=f"17000000{n:05d}")
                  for n, aad in enumerate(people)]

    statuses = await asyncio.gather(*(teams.post(activity) for activity in activities
                                      for _ in range(5)))
    await teams.settle()

    assert [response.status for response in statuses] == [200] * len(people) * 5
    answered = Counter(call.conversation_id for call in teams.connector.activities())
    assert sorted(answered.values()) == [1] * len(people)
    assert rows(teams.store, ProcessedEventRow) == len(people)


async def test_the_same_button_pressed_twice_at_once_starts_registration_once(spoke: Spoke) -> None:
    welcome = await spoke.dm("hello")
    action_id, value, _ = find_option(welcome["blocks"], "Register")

    async def press() -> int:
        body = form_body(block_actions(AMIRA, TEAM_ID, action_id, value, channel=welcome["channel"]))
        return (await spoke.post(body, "application/x-www-form-urlencoded")).status

    assert list(await asyncio.gather(press(), press())) == [200, 200]
    await spoke.settle()

    # The first press starts registration; the second finds its button already used and says
    # where things stand, without starting anything again.
    after = [text_of(call) for call in spoke.api.calls("chat.postMessage")][1:]
    notes = [text for text in after if text.startswith("That button belongs to an earlier question")]
    [asked] = [text for text in after if text not in notes]
    assert asked.startswith(translate("fields.full_name.ask", "en"))
    assert len(notes) <= 1 and all(asked in note for note in notes)
    assert rows(spoke.store, ConversationStateRow) == 1


async def test_two_devices_answering_the_same_question_at_once_lose_nothing(spoke: Spoke) -> None:
    posted = await spoke.dm("hello")
    for label in ("Register", "Use Amira Haddad", "Use amira@nhs.example", "Registered nurse"):
        await spoke.click(posted, label)
        posted = await spoke.api.next_call("chat.postMessage")
    assert translate("fields.organisation.ask", "en").split("?")[0] in text_of(posted)

    phone, laptop = (json_body(dm_event(AMIRA, text, event_id=f"Ev{device}"))
                     for device, text in (("phone", "St Columba's Hospice"), ("laptop", "Hospice")))
    answers = await asyncio.gather(spoke.post(phone), spoke.post(laptop))
    await spoke.settle()

    assert [answer.status for answer in answers] == [200, 200]
    replies = [text_of(call) for call in spoke.api.calls("chat.postMessage")][5:]
    assert len(replies) == 2  # each device's message got its own answer, none was lost
    identity = f"slack:{TEAM_ID}/{AMIRA}"
    with spoke.store.transaction() as uow:
        state = uow.conversations.active(identity)
    assert state is not None
    # Whichever came first answered "organisation"; the other then answered the next question
    # (the care setting): both seen, nothing overwritten.
    assert state.answers["organisation"] in ("St Columba's Hospice", "Hospice")
    assert state.pending_step in ("care_setting", "region")
