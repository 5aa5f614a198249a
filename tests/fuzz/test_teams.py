"""Teams over real HTTP: activities with a valid Bot Framework token and garbled bodies,
against `spoke serve` on port 0 and the Bot Framework mocks (tests/teams_fixtures.py).

Missing fields, wrong types, garbled card `value`s and invoke `action.data`, huge text,
unknown activity types: the answer is never a 500, an error body never holds a traceback,
no turn fails, and a refused activity stores nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import fuzz
from tests.fuzz.http import (
    assert_answered_well,
    counts,
    edits,
    json_values,
    mutate,
    texts,
    watching_failures,
)
from tests.teams_activities import (
    bot_added,
    card_execute_invoke,
    card_submit,
    channel_mention,
    personal_message,
)
from tests.teams_fixtures import TeamsSpoke

pytestmark = pytest.mark.slow

PATHS = [["type"], ["id"], ["text"], ["value"], ["name"], ["from"], ["from", "id"],
         ["from", "aadObjectId"], ["from", "name"], ["recipient"], ["recipient", "id"],
         ["conversation"], ["conversation", "id"], ["conversation", "conversationType"],
         ["conversation", "tenantId"], ["channelData"], ["channelData", "tenant"],
         ["channelData", "tenant", "id"], ["channelData", "channel"], ["entities"], ["attachments"],
         ["locale"], ["localTimezone"], ["membersAdded"], ["replyToId"], ["textFormat"],
         ["value", "action"], ["value", "action", "data"], ["value", "spoke_ref"],
         ["value", "spoke_form"], ["channelId"], ["attachments", "0"], ["attachments", "0", "contentType"],
         ["attachments", "0", "content"], ["entities", "0"], ["entities", "0", "mentioned"],
         ["membersAdded", "0"], ["membersAdded", "0", "id"], ["serviceUrl"]]
REF_LIKE = st.sampled_from(["registration:begin:0:yes", "act:join:1", "act:join:99999999999999999999",
                            ":::", "registration:__review__:x:__submit__", ""]) | st.text(max_size=40)
card_values = st.one_of(
    st.fixed_dictionaries({"spoke_ref": REF_LIKE | json_values}),
    st.fixed_dictionaries({"spoke_form": REF_LIKE | json_values},
                          optional={"full_name": texts | json_values, "email": texts, "answer": texts,
                                    "time_zone": st.sampled_from(["Europe/London", "Mars/Base", ""])}),
    json_values)
# Where the activity says replies go: the connector mock, a closed loopback port, or text no
# HTTP client can send to. Never a name that would need a DNS lookup.
SERVICE_URLS = ["mock", "mock", "http://127.0.0.1:9/", "", "not a url", "ftp:nowhere"]


@st.composite
def activities(draw: st.DrawFn, service_url: str) -> dict[str, Any]:
    fields = {"service_url": service_url,
              "locale": draw(st.sampled_from(["en-GB", "fr-CA", "", "xx", "de-DE"])),
              "local_timezone": draw(st.sampled_from(["Europe/London", "America/Toronto", "Etc/GMT+5"]))}
    base = draw(st.sampled_from(["message", "submit", "invoke", "added", "mention", "other"]))
    if base == "message":
        activity = personal_message(draw(texts), **fields)
    elif base == "submit":
        activity = card_submit({}, **fields)
        activity["value"] = draw(card_values)
    elif base == "invoke":
        activity = card_execute_invoke("spoke", {}, **fields)
        activity["value"]["action"]["data"] = draw(card_values)
    elif base == "added":
        activity = bot_added(scope=draw(st.sampled_from(["personal", "team"])), service_url=service_url)
    elif base == "mention":
        activity = channel_mention(draw(texts), **fields)
    else:
        activity = personal_message(draw(texts), **fields)
        activity["type"] = draw(st.sampled_from(["messageReaction", "typing", "event", "invoke",
                                                 "installationUpdate", "", "MESSAGE"]))
        activity["name"] = draw(st.sampled_from(["adaptiveCard/action", "task/fetch", "x"]))
    if "localTimezone" in activity:  # a zone the builders cannot use, as Teams might send it
        activity["localTimezone"] = draw(st.sampled_from([activity["localTimezone"], "Mars/Base", "EST",
                                                          "", "../../etc/passwd"]))
    return mutate(activity, draw(edits(PATHS)))


@fuzz(120)
@given(data=st.data())
async def test_validly_signed_activities_with_garbled_bodies(teams: TeamsSpoke, data: st.DataObject) -> None:
    url = data.draw(st.sampled_from(SERVICE_URLS), label="serviceUrl")
    activity = data.draw(activities(teams.connector.service_url if url == "mock" else url),
                         label="activity")
    # The channel's token vouches for the serviceUrl the activity names, whatever it is.
    headers = {"Content-Type": "application/json",
               **teams.identity.authorization({"serviceUrl": activity.get("serviceUrl")})}
    with watching_failures() as failures:
        before = counts(teams.store)
        response = await teams.http.post(f"{teams.base}/api/messages", data=json.dumps(activity),
                                         headers=headers)
        body = await response.text()
        assert_answered_well(response.status, body)
        if response.status != 200:
            assert counts(teams.store) == before, f"a refused activity ({response.status}) stored rows"
        assert not (found := failures.take()), found


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
async def test_a_number_json_has_not_is_refused_and_poisons_no_later_turn(teams: TeamsSpoke,
                                                                          constant: str) -> None:
    # Python's json reads these; stored in a person's address, the database's JSON functions
    # refused that row ever after, failing every later turn of theirs.
    activity = teams.message("hello")
    body = json.dumps(activity).replace('"Ama Mensah"', constant)
    headers = {"Content-Type": "application/json", **teams.identity.authorization(activity)}
    before = counts(teams.store)
    response = await teams.http.post(f"{teams.base}/api/messages", data=body, headers=headers)
    assert response.status == 400 and json.loads(await response.text()) == {"error": "malformed"}
    assert counts(teams.store) == before
    answer = await teams.say("hello")
    assert answer["type"] == "message"
