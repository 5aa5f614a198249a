"""Files and photos sent to Spoke are refused, with the reason, in the reader's language
(issue #7): nothing of them is stored or forwarded, and the pending question is asked again,
unchanged. Words sent together with a file are not read either: the reader is asked to send
them again on their own (a caption is where a name or a bed number would be)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel

from adapters.slack.translate import from_event
from adapters.teams.translate import translate as from_activity
from assistant.events import FileOffered, Hints, UserSaid
from assistant.i18n import translate
from assistant.sealing import SEALED
from storage.repositories import SqlStore
from tests.community import member
from tests.conftest import TEST_SEALER
from tests.slack_fixtures import AMIRA, Spoke, find_option, text_of
from tests.slack_signing import TEAM_ID, dm_channel_id, dm_message, event_callback, json_body
from tests.teams_activities import personal_message
from tests.teams_fixtures import TeamsSpoke, card_text, submit_value

FILE_ID, FILE_NAME = "F07SCAN0001", "mrs-jones-discharge-letter.jpg"
FILE_URL = f"https://127.0.0.1:9/files-pri/{TEAM_ID}-{FILE_ID}/{FILE_NAME}"
CAPTION = "Her NHS number is on the top right"
TEAMS_URL = "https://127.0.0.1:9/v3/attachments/0-wuk-d4-7f3a/views/original"
TEAMS_FILE = "ward-7-handover.pdf"


def en(message_id: str, **args: object) -> str:
    return translate(message_id, "en", **args)


def shared_file(user: str = AMIRA, text: str = "") -> dict[str, Any]:
    """A DM with a file, as Slack sends it: subtype file_share and the file's details."""
    message = dm_message(user, text)
    message |= {"subtype": "file_share", "upload": True, "display_as_bot": False, "files": [{
        "id": FILE_ID, "name": FILE_NAME, "title": FILE_NAME, "mimetype": "image/jpeg",
        "filetype": "jpg", "user": user, "size": 48213, "url_private": FILE_URL,
        "url_private_download": FILE_URL + "?download=1",
        "permalink": f"https://spoke-test.slack.com/files/{user}/{FILE_ID}/{FILE_NAME}"}]}
    if not text:
        message.pop("blocks")
    return event_callback(message)


def stored_text(store: SqlStore) -> str:
    """Every row of every table, sealed columns opened: what the database knows."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if isinstance(value, dict) and set(value) == {SEALED}:
            walk(TEST_SEALER.open(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            found.append(str(value))

    with store.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for cell in row:
                    walk(cell)
    return "\n".join(found)


def assert_nothing_kept(store: SqlStore, *needles: str, present: str = dm_channel_id(AMIRA)) -> None:
    everything = stored_text(store)
    assert present in everything  # the scan does read what was kept (an address)
    for needle in needles:
        assert needle not in everything, needle


# --- Slack ------------------------------------------------------------------------------


async def test_a_file_shared_in_slack_is_refused_and_the_question_asked_again(spoke: Spoke) -> None:
    welcome = await spoke.dm("hello")
    register = find_option(welcome["blocks"], "Register")

    assert (await spoke.post(json_body(shared_file()))).status == 200
    refused = await spoke.api.next_call("chat.postMessage")
    assert refused["channel"] == dm_channel_id(AMIRA)
    assert en("attachments.refused") in text_of(refused)
    assert en("attachments.refused_with_text") not in text_of(refused)
    assert find_option(refused["blocks"], "Register") == register  # the same question, unchanged

    # The question still works: the old button goes on with registration.
    assert (await spoke.click(welcome, "Register")).status == 200
    assert find_option((await spoke.api.next_call("chat.postMessage"))["blocks"], "Use Amira Haddad")
    await spoke.settle()
    assert not any(FILE_NAME in json.dumps(call.get("blocks")) for call in spoke.api.calls())
    assert not spoke.api.calls("files.getUploadURLExternal")  # nothing forwarded anywhere
    assert_nothing_kept(spoke.store, FILE_ID, FILE_NAME, FILE_URL, "files.slack.com")


async def test_words_sent_with_a_file_are_not_read_either(spoke: Spoke) -> None:
    await spoke.dm("hello")
    assert (await spoke.post(json_body(shared_file(text=CAPTION)))).status == 200
    refused = await spoke.api.next_call("chat.postMessage")
    assert en("attachments.refused_with_text") in text_of(refused)
    assert CAPTION not in text_of(refused)
    await spoke.settle()
    assert_nothing_kept(spoke.store, CAPTION, FILE_ID, FILE_NAME, FILE_URL)


async def test_a_file_with_no_question_waiting_brings_the_refusal_and_the_menu(spoke: Spoke) -> None:
    member(spoke.store, spoke.clock.now(), AMIRA, identity=f"slack:{TEAM_ID}/{AMIRA}",
           language="fr",
           address={"team": TEAM_ID, "user": AMIRA, "channel": dm_channel_id(AMIRA)})
    assert (await spoke.post(json_body(shared_file()))).status == 200
    refused = await spoke.api.next_call("chat.postMessage")
    assert translate("attachments.refused", "fr") in text_of(refused)  # in the reader's language
    assert translate("help.registered", "fr").split(":")[0] in text_of(refused)
    await spoke.settle()
    assert_nothing_kept(spoke.store, FILE_ID, FILE_NAME, FILE_URL)


def test_slack_events_with_files_become_file_offered_and_keep_nothing() -> None:
    plain = event_callback(dm_message(AMIRA, "hello"))
    assert isinstance(from_event(plain, Hints()).action, UserSaid)  # type: ignore[union-attr]
    event = from_event(shared_file(text=CAPTION), Hints())
    assert event is not None and event.action == FileOffered(with_text=True)
    assert FILE_NAME not in repr(event) and CAPTION not in repr(event)
    # Files without the subtype (older clients) are refused the same way.
    bare = dm_message(AMIRA, "")
    bare["files"] = [{"id": FILE_ID, "name": FILE_NAME}]
    assert from_event(event_callback(bare), Hints()).action == FileOffered()  # type: ignore[union-attr]
    # Other subtypes (edits, deletions, bots) are still not answered.
    edited = dm_message(AMIRA, "hello") | {"subtype": "message_changed"}
    assert from_event(event_callback(edited), Hints()) is None


# --- Teams ------------------------------------------------------------------------------


def photo(teams: TeamsSpoke, text: str | None = None) -> dict[str, Any]:
    """A photo pasted into the 1:1 chat: an image attachment and the HTML that shows it."""
    activity = teams.message(text)
    html = (f'<p>{text or ""}</p><div><span><img height="250" src="{TEAMS_URL}" width="250" '
            'itemscope="" itemtype="http://schema.skype.com/AMSImage"></span></div>')
    activity["attachments"] = [{"contentType": "image/*", "contentUrl": TEAMS_URL},
                               {"contentType": "text/html", "content": html}]
    return activity


def uploaded_file(teams: TeamsSpoke) -> dict[str, Any]:
    activity = teams.message(None)
    activity["attachments"] = [{
        "contentType": "application/vnd.microsoft.teams.file.download.info",
        "contentUrl": f"https://contoso.sharepoint.com/personal/ama/Documents/{TEAMS_FILE}",
        "name": TEAMS_FILE,
        "content": {"downloadUrl": f"https://contoso.sharepoint.com/download.aspx?f={TEAMS_FILE}",
                    "uniqueId": "1150d938-8870-4044-9f2c-5bbdebc7c8a2", "fileType": "pdf"}}]
    return activity


async def test_a_photo_sent_in_teams_is_refused_and_the_question_asked_again(teams: TeamsSpoke) -> None:
    welcome = await teams.say("hello")
    register = submit_value(welcome, "Register")

    assert (await teams.post(photo(teams))).status == 200
    refused = (await teams.connector.next_activity()).activity
    assert en("attachments.refused") in card_text(refused)
    assert submit_value(refused, "Register") == register  # the same question, unchanged

    assert (await teams.post(uploaded_file(teams))).status == 200
    again = (await teams.connector.next_activity()).activity
    assert en("attachments.refused") in card_text(again)
    assert submit_value(again, "Register") == register

    assert (await teams.post(photo(teams, CAPTION))).status == 200
    with_words = (await teams.connector.next_activity()).activity
    assert en("attachments.refused_with_text") in card_text(with_words)
    assert CAPTION not in card_text(with_words)
    await teams.settle()
    assert_nothing_kept(teams.store, TEAMS_URL, TEAMS_FILE, "sharepoint", CAPTION,
                        present=teams.connector.service_url)


def test_teams_text_emoji_and_card_submits_are_not_taken_for_files() -> None:
    typed = personal_message("hello")  # its text comes with a text/html attachment too
    assert isinstance(from_activity(typed, Hints()).event.action, UserSaid)  # type: ignore[union-attr]
    emoji = personal_message("thanks")
    emoji["attachments"] = [{"contentType": "text/html", "content":
                             '<p>thanks <img alt="smile" itemtype="http://schema.skype.com/Emoji" '
                             'src="https://statics.teams.cdn.office.net/evergreen-assets/smile.png"></p>'}]
    assert isinstance(from_activity(emoji, Hints()).event.action, UserSaid)  # type: ignore[union-attr]
    submit = personal_message(None, value={"spoke_ref": "registration:begin:abc:yes"})
    assert not isinstance(from_activity(submit, Hints()).event.action,  # type: ignore[union-attr]
                          FileOffered)
