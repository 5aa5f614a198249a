"""A network's Slack channel, over real HTTP: chosen by a facilitator's mention, announced in
with chat.postMessage (public, buttons, nothing personal), and a press on its buttons answered
in the presser's DM while the channel gets nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from assistant.i18n import translate
from assistant.messages import Reply, Text
from assistant.model import Series, Session
from tests.community import enrol, member, series, session
from tests.slack_fixtures import AMIRA, Spoke, find_option, text_of
from tests.slack_mock import Call
from tests.slack_signing import (
    FORM,
    TEAM_ID,
    app_mention,
    block_actions,
    dm_channel_id,
    event_callback,
    form_body,
    json_body,
)

FAY, NEWCOMER, CHANNEL = "U0FAY", "U0NEW", "C0ECHO"
CHANNEL_IDENTITY = f"slack:{TEAM_ID}/{CHANNEL}"
STARTS = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)


def en(message_id: str, **args: object) -> str:
    return translate(message_id, "en", **args)


def person(spoke: Spoke, user: str, role: str = "participant") -> int:
    spoke.api.add_user(user, real_name=f"{user} Test", tz="Europe/London", locale="en-GB")
    return member(spoke.store, spoke.clock.now(), user, identity=f"slack:{TEAM_ID}/{user}",
                  role=role, address={"team": TEAM_ID, "user": user,
                                      "channel": dm_channel_id(user)})


def spring(spoke: Spoke) -> tuple[Series, Session]:
    made = series(spoke.store, spoke.clock.now())
    return made, session(spoke.store, spoke.clock.now(), made, STARTS)


async def mention(spoke: Spoke, user: str, text: str) -> Call:
    """@Spoke in the channel; the answer comes in the DM."""
    response = await spoke.post(json_body(event_callback(app_mention(user, text, CHANNEL))))
    assert response.status == 200
    return await spoke.api.next_call("chat.postMessage")


async def press(spoke: Spoke, message: dict[str, Any], label: str, user: str) -> None:
    """Press a button on a message stored in the channel, as Slack sends it."""
    action_id, value, _ = find_option(message["blocks"], label)
    block = next(b["block_id"] for b in message["blocks"]
                 if any(e.get("action_id") == action_id for e in b.get("elements", [])))
    body = form_body(block_actions(user, TEAM_ID, action_id, value, channel=CHANNEL,
                                   message=message, block_id=block))
    assert (await spoke.post(body, FORM)).status == 200
    await spoke.settle()


async def announce_spring(spoke: Spoke) -> dict[str, Any]:
    """Fay announces the spring series; returns the post as stored in the channel."""
    asked = await spoke.dm("announce", user=FAY)
    assert en("announce.target.ask") in text_of(asked)
    assert (await spoke.click(asked, "Series: Spring series", user=FAY)).status == 200
    preview = await spoke.api.next_call("chat.postMessage")
    assert en("announce.preview.intro") in text_of(preview)
    assert (await spoke.click(preview, "Yes", user=FAY)).status == 200
    await spoke.settle()
    done = spoke.api.last("chat.postMessage", channel=dm_channel_id(FAY))
    assert en("announce.sent", title="Spring series", network="Care Homes ECHO") in text_of(done)
    [post] = spoke.api.history(CHANNEL)
    return post


async def test_a_facilitators_mention_makes_it_the_networks_channel(spoke: Spoke) -> None:
    person(spoke, FAY, role="facilitator")
    spoke.api.add_channel(CHANNEL)
    answer = await mention(spoke, FAY, "use this channel")
    assert answer["channel"] == dm_channel_id(FAY)  # the answer is private
    assert en("announce.channel.set", network="Care Homes ECHO") in text_of(answer)
    with spoke.store.transaction() as uow:
        assert uow.networks.channel("care-homes") == (
            CHANNEL_IDENTITY, {"team": TEAM_ID, "channel": CHANNEL})
        kept = uow.people.address_of(f"slack:{TEAM_ID}/{FAY}")  # hers, not the channel's
        assert kept.get("channel") != CHANNEL and "_origin" not in kept
    assert spoke.api.history(CHANNEL) == []


async def test_a_participants_mention_is_refused_in_their_dm(spoke: Spoke) -> None:
    person(spoke, AMIRA)
    spoke.api.add_channel(CHANNEL)
    answer = await mention(spoke, AMIRA, "use this channel")
    assert answer["channel"] == dm_channel_id(AMIRA)
    assert en("announce.channel.team_only") in text_of(answer)
    with spoke.store.transaction() as uow:
        assert uow.networks.channel("care-homes") is None
    assert spoke.api.history(CHANNEL) == []


async def test_an_announcement_is_posted_to_the_channel_with_its_buttons_and_no_one_named(
        spoke: Spoke) -> None:
    person(spoke, FAY, role="facilitator")
    amira = person(spoke, AMIRA)
    made, first = spring(spoke)
    enrol(spoke.store, spoke.clock.now(), made, amira)  # a registrant: never named in public
    spoke.api.add_channel(CHANNEL)
    await mention(spoke, FAY, "use this channel")
    post = await announce_spring(spoke)

    posted = spoke.api.last("chat.postMessage", channel=CHANNEL)
    assert find_option(posted["blocks"], "Register")[1] == f"act:join:{made.id}"
    assert find_option(posted["blocks"], "Add to calendar")[1] == f"act:calendar:{first.id}"
    assert "Thursday 12 June, 13:00–14:00 (United Kingdom Time)" in str(posted["blocks"])
    public = f"{posted['text']} {posted['blocks']}"
    for private in ("zoom.example", "Amira", "Test", "U0AMA", "U0FAY", "@example.org"):
        assert private not in public
    assert post["metadata"]["event_type"] == "spoke_outbox"
    await spoke.settle()
    assert len(spoke.api.history(CHANNEL)) == 1  # once


async def test_register_pressed_in_the_channel_is_answered_in_the_dm_only(spoke: Spoke) -> None:
    person(spoke, FAY, role="facilitator")
    amira = person(spoke, AMIRA)
    made, _ = spring(spoke)
    spoke.api.add_channel(CHANNEL)
    await mention(spoke, FAY, "use this channel")
    post = await announce_spring(spoke)
    before = len(spoke.api.calls("chat.postMessage"))

    await press(spoke, post, "Register", AMIRA)
    answer = spoke.api.calls("chat.postMessage")[before]
    assert answer["channel"] == dm_channel_id(AMIRA)
    assert en("sessions.joined.registered", series="Spring series") in text_of(answer)
    with spoke.store.transaction() as uow:
        assert uow.enrolments.status(made.id, amira) == "registered"
    assert spoke.api.history(CHANNEL) == [post]  # untouched: no reply, no "✓ Register"
    assert all(c["channel"] != CHANNEL for c in spoke.api.calls("chat.update"))
    assert all(c["channel"] != CHANNEL for c in spoke.api.calls("chat.postMessage")[before:])

    await press(spoke, post, "Add to calendar", AMIRA)
    assert (await spoke.api.uploaded_file()).startswith(b"BEGIN:VCALENDAR")
    assert all(u.channel != CHANNEL for u in spoke.api.uploaded_files())
    assert spoke.api.history(CHANNEL) == [post]


async def test_someone_not_registered_pressing_register_hears_about_it_in_their_dm(
        spoke: Spoke) -> None:
    person(spoke, FAY, role="facilitator")
    spring(spoke)
    spoke.api.add_user(NEWCOMER, real_name="New Person", tz="Europe/London", locale="en-GB")
    spoke.api.add_channel(CHANNEL)
    await mention(spoke, FAY, "use this channel")
    post = await announce_spring(spoke)
    before = len(spoke.api.calls("chat.postMessage"))
    await press(spoke, post, "Register", NEWCOMER)
    answer = spoke.api.calls("chat.postMessage")[before]
    assert answer["channel"] == dm_channel_id(NEWCOMER)
    assert "register" in text_of(answer).lower()
    assert spoke.api.history(CHANNEL) == [post]


async def test_a_forged_series_pressed_in_the_channel_is_refused_in_the_dm(spoke: Spoke) -> None:
    amira = person(spoke, AMIRA)  # care-homes only
    spoke.api.add_channel(CHANNEL)
    elsewhere = series(spoke.store, spoke.clock.now(), name="elsewhere",
                       network="palliative-essentials")
    body = form_body(block_actions(AMIRA, TEAM_ID, "spoke:c1:0", f"act:join:{elsewhere.id}",
                                   channel=CHANNEL))
    assert (await spoke.post(body, FORM)).status == 200
    await spoke.settle()
    answer = await spoke.api.next_call("chat.postMessage")
    assert answer["channel"] == dm_channel_id(AMIRA)
    assert en("sessions.not_yours") in text_of(answer)
    with spoke.store.transaction() as uow:
        assert uow.enrolments.status(elsewhere.id, amira) is None
    assert spoke.api.history(CHANNEL) == []


async def test_a_private_reply_addressed_to_a_channel_goes_to_the_dm_instead(
        spoke: Spoke) -> None:
    person(spoke, AMIRA)
    spoke.api.add_channel(CHANNEL)
    with spoke.store.transaction() as uow:
        uow.outbox.add(f"slack:{TEAM_ID}/{AMIRA}", {"team": TEAM_ID, "user": AMIRA,
                                                    "channel": CHANNEL},
                       Reply((Text("Your place is confirmed"),)), "private:1", spoke.clock.now())
        uow.outbox.add(CHANNEL_IDENTITY, {"team": TEAM_ID, "channel": CHANNEL},
                       Reply((Text("Nobody to send it to"),)), "private:2", spoke.clock.now())
    await spoke.settle()
    assert [m["text"] for m in spoke.api.posted(dm_channel_id(AMIRA))] == ["Your place is confirmed"]
    assert spoke.api.history(CHANNEL) == []
    spoke.clock.advance(hours=1)
    await spoke.settle()
    assert spoke.api.history(CHANNEL) == []  # unreachable, not retried into the channel
