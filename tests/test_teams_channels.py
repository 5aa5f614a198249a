"""A network's Teams channel, over real HTTP with signed activities: chosen by a facilitator's
mention, announced in with a new channel post (public card, nothing personal), and a press on
its buttons answered in the presser's personal chat while the channel gets nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from assistant.i18n import translate
from assistant.messages import Reply, Text
from assistant.model import Series, Session
from tests.community import enrol, member, series, session
from tests.teams_activities import (
    DEFAULT_APP_ID,
    DEFAULT_CHANNEL_ID,
    DEFAULT_TENANT,
    DEFAULT_USER_AAD,
    bot_account_id,
    card_submit,
    channel_mention,
    next_activity_id,
    personal_conversation_id,
    teams_user_id,
)
from tests.teams_fixtures import TeamsSpoke, card_text, submit_value

FAY_AAD = "0f0f0f0f-0000-4000-8000-0000000000fa"
NEW_AAD = "0e0e0e0e-0000-4000-8000-0000000000ee"
AMA = f"teams:{DEFAULT_TENANT}/{DEFAULT_USER_AAD}"
FAY = f"teams:{DEFAULT_TENANT}/{FAY_AAD}"
CHANNEL_IDENTITY = f"teams:{DEFAULT_CHANNEL_ID}"
STARTS = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)


def en(message_id: str, **args: object) -> str:
    return translate(message_id, "en", **args)


def person(teams: TeamsSpoke, identity: str, aad: str, role: str = "participant") -> int:
    user = teams_user_id(aad)
    teams.connector.add_user(aad, name=f"{aad[:4]} Test")
    return member(teams.store, teams.clock.now(), aad, identity=identity, role=role, address={
        "service_url": teams.connector.service_url, "tenant": DEFAULT_TENANT, "user": user,
        "bot": bot_account_id(), "conversation": personal_conversation_id(user)})


def spring(teams: TeamsSpoke) -> tuple[Series, Session]:
    made = series(teams.store, teams.clock.now())
    return made, session(teams.store, teams.clock.now(), made, STARTS)


def personal(aad: str) -> str:
    return personal_conversation_id(teams_user_id(aad), DEFAULT_APP_ID)


def channel_card_submit(value: dict[str, Any], aad: str, service_url: str,
                        post_id: str) -> dict[str, Any]:
    """What Teams sends when an Action.Submit is pressed on a card in a channel: a message in
    the post's thread, with the data in `value`, no text and no mention of the bot."""
    activity = dict(channel_mention("x", user_aad=aad, service_url=service_url))
    for key in ("text", "textFormat", "attachments"):
        activity.pop(key)
    activity["id"] = next_activity_id()
    activity["entities"] = [e for e in activity["entities"] if e.get("type") != "mention"]
    activity["conversation"] = {**activity["conversation"],
                                "id": f"{DEFAULT_CHANNEL_ID};messageid={post_id}"}
    activity["value"] = dict(value)
    activity["replyToId"] = post_id
    return activity


async def mention(teams: TeamsSpoke, aad: str, text: str) -> dict[str, Any]:
    activity = dict(channel_mention(text, user_aad=aad, service_url=teams.connector.service_url))
    assert (await teams.post(activity)).status == 200
    await teams.settle()
    return teams.connector.activities()[-1].activity


async def click(teams: TeamsSpoke, sent: dict[str, Any], label: str, aad: str) -> None:
    value = submit_value(sent, label)
    response = await teams.post(dict(card_submit(value, user_aad=aad,
                                                 service_url=teams.connector.service_url)))
    assert response.status == 200
    await teams.settle()


def last_in(teams: TeamsSpoke, conversation: str) -> dict[str, Any]:
    return teams.connector.activities(conversation)[-1].activity


async def announce_spring(teams: TeamsSpoke) -> tuple[str, dict[str, Any]]:
    """Fay announces the spring series; returns the post's id and activity in the channel."""
    assert (await teams.post(teams.message("announce", user_aad=FAY_AAD))).status == 200
    await teams.settle()
    asked = last_in(teams, personal(FAY_AAD))
    assert en("announce.target.ask") in card_text(asked)
    await click(teams, asked, "Series: Spring series", FAY_AAD)
    preview = last_in(teams, personal(FAY_AAD))
    assert en("announce.preview.intro") in card_text(preview)
    await click(teams, preview, "Yes", FAY_AAD)
    done = last_in(teams, personal(FAY_AAD))
    assert "will appear in the Care Homes ECHO channel" in card_text(done)
    [post] = teams.connector.activities(DEFAULT_CHANNEL_ID)
    assert post.id is not None
    return post.id, post.activity


async def test_a_facilitators_mention_makes_it_the_networks_channel(teams: TeamsSpoke) -> None:
    person(teams, FAY, FAY_AAD, role="facilitator")
    answer = await mention(teams, FAY_AAD, "use this channel")
    assert teams.connector.activities()[-1].conversation_id == personal(FAY_AAD)
    assert "announcements for Care Homes ECHO will go to that channel" in card_text(answer)
    with teams.store.transaction() as uow:
        identity, address = uow.networks.channel("care-homes") or ("", {})
        assert identity == CHANNEL_IDENTITY
        assert address == {"service_url": teams.connector.service_url, "tenant": DEFAULT_TENANT,
                           "bot": bot_account_id(), "channel": DEFAULT_CHANNEL_ID}
    assert teams.connector.activities(DEFAULT_CHANNEL_ID) == []


async def test_a_participants_mention_is_refused_in_their_personal_chat(teams: TeamsSpoke) -> None:
    person(teams, AMA, DEFAULT_USER_AAD)
    answer = await mention(teams, DEFAULT_USER_AAD, "utiliser ce canal")
    assert teams.connector.activities()[-1].conversation_id == personal(DEFAULT_USER_AAD)
    assert "Only the network" in card_text(answer)
    with teams.store.transaction() as uow:
        assert uow.networks.channel("care-homes") is None


async def test_an_announcement_is_a_new_channel_post_with_buttons_and_no_one_named(
        teams: TeamsSpoke) -> None:
    person(teams, FAY, FAY_AAD, role="facilitator")
    ama = person(teams, AMA, DEFAULT_USER_AAD)
    made, first = spring(teams)
    enrol(teams.store, teams.clock.now(), made, ama)
    await mention(teams, FAY_AAD, "use this channel")
    _, post = await announce_spring(teams)

    assert post["conversation"]["id"] == DEFAULT_CHANNEL_ID
    assert post["channelData"]["channel"]["id"] == DEFAULT_CHANNEL_ID
    assert "recipient" not in post  # nobody's message: the channel's
    assert submit_value(post, "Register") == {"spoke_ref": f"act:join:{made.id}"}
    assert submit_value(post, "Add to calendar") == {"spoke_ref": f"act:calendar:{first.id}"}
    shown = card_text(post)
    assert "Thursday 12 June, 13:00–14:00 (United Kingdom Time)" in shown
    for private in ("zoom.example", "Ama", "Mensah", "Test", "@example.org", DEFAULT_USER_AAD,
                    DEFAULT_USER_AAD.title()):
        assert private not in shown
    await teams.settle()
    assert len(teams.connector.activities(DEFAULT_CHANNEL_ID)) == 1


async def test_register_pressed_in_the_channel_is_answered_in_the_personal_chat(
        teams: TeamsSpoke) -> None:
    person(teams, FAY, FAY_AAD, role="facilitator")
    ama = person(teams, AMA, DEFAULT_USER_AAD)
    made, _ = spring(teams)
    await mention(teams, FAY_AAD, "use this channel")
    post_id, post = await announce_spring(teams)

    pressed = channel_card_submit(submit_value(post, "Register"), DEFAULT_USER_AAD,
                                  teams.connector.service_url, post_id)
    assert (await teams.post(pressed)).status == 200
    await teams.settle()
    answer = last_in(teams, personal(DEFAULT_USER_AAD))
    assert "Spring series" in card_text(answer)
    with teams.store.transaction() as uow:
        assert uow.enrolments.status(made.id, ama) == "registered"
    assert len(teams.connector.activities(DEFAULT_CHANNEL_ID)) == 1
    assert [c for c in teams.connector.calls() if c.kind != "create"
            and (c.conversation_id or "").startswith(DEFAULT_CHANNEL_ID)
            and c.kind != "send"] == []  # no reply in the thread, no update of the post
    # With no personal chat known (stored address from the channel only), it is created.
    newcomer_user = teams_user_id(NEW_AAD)
    teams.connector.add_user(NEW_AAD, name="New Person")
    pressed = channel_card_submit(submit_value(post, "Register"), NEW_AAD,
                                  teams.connector.service_url, post_id)
    assert (await teams.post(pressed)).status == 200
    await teams.settle()
    sent = teams.connector.activities()[-1]
    assert sent.conversation_id == personal_conversation_id(newcomer_user, DEFAULT_APP_ID)
    assert "register" in card_text(sent.activity).lower()
    assert len(teams.connector.activities(DEFAULT_CHANNEL_ID)) == 1


async def test_a_forged_series_pressed_in_the_channel_is_refused_in_private(
        teams: TeamsSpoke) -> None:
    ama = person(teams, AMA, DEFAULT_USER_AAD)  # care-homes only
    elsewhere = series(teams.store, teams.clock.now(), name="elsewhere",
                       network="palliative-essentials")
    pressed = channel_card_submit({"spoke_ref": f"act:join:{elsewhere.id}"}, DEFAULT_USER_AAD,
                                  teams.connector.service_url, "1700000000123")
    assert (await teams.post(pressed)).status == 200
    await teams.settle()
    sent = teams.connector.activities()[-1]
    assert sent.conversation_id == personal(DEFAULT_USER_AAD)
    assert "isn't for you" in card_text(sent.activity)
    with teams.store.transaction() as uow:
        assert uow.enrolments.status(elsewhere.id, ama) is None
    assert teams.connector.activities(DEFAULT_CHANNEL_ID) == []


async def test_an_unsigned_channel_press_is_refused_and_changes_nothing(
        teams: TeamsSpoke) -> None:
    pressed = channel_card_submit({"spoke_ref": "act:join:1"}, DEFAULT_USER_AAD,
                                  teams.connector.service_url, "1700000000124")
    response = await teams.post(pressed, key="rogue")
    assert response.status == 401
    await teams.settle()
    assert teams.connector.calls() == []


async def test_a_private_message_is_never_posted_into_the_channel(teams: TeamsSpoke) -> None:
    with teams.store.transaction() as uow:
        uow.outbox.add(CHANNEL_IDENTITY, {"service_url": teams.connector.service_url,
                                          "tenant": DEFAULT_TENANT, "channel": DEFAULT_CHANNEL_ID},
                       Reply((Text("Your place is confirmed"),)), "private:1", teams.clock.now())
    await teams.settle()
    assert teams.connector.activities(DEFAULT_CHANNEL_ID) == []
