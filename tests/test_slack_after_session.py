"""After a session, in Slack over real HTTP: the follow-up reaches an attendee's DM with the
survey button, the survey runs from it, and the facilitator's `report` uploads its chart."""

from __future__ import annotations

from datetime import UTC, datetime

from assistant.model import AttendanceRecord
from tests.community import enrol, member, series, session
from tests.slack_fixtures import AMIRA, Spoke, find_option, text_of
from tests.slack_signing import TEAM_ID, dm_channel_id

FAY = "U0FAY"


def _identity(user: str) -> str:
    return f"slack:{TEAM_ID}/{user}"


async def test_a_follow_up_reaches_the_attendee_and_the_survey_runs_from_it(spoke: Spoke) -> None:
    now = spoke.clock.now()  # Monday 2 June 2025, 09:00 UTC
    amira = member(spoke.store, now, AMIRA, identity=_identity(AMIRA),
                   address={"team": TEAM_ID, "user": AMIRA, "channel": dm_channel_id(AMIRA)})
    spoke.api.add_user(FAY, real_name="Fay Test", tz="Europe/London", locale="en-GB")
    member(spoke.store, now, FAY, identity=_identity(FAY), role="facilitator",
           address={"team": TEAM_ID, "user": FAY, "channel": dm_channel_id(FAY)})
    spring = series(spoke.store, now)
    held = session(spoke.store, now, spring, datetime(2025, 6, 2, 12, 0, tzinfo=UTC))
    enrol(spoke.store, now, spring, amira)
    spoke.clock.set(datetime(2025, 6, 2, 14, 0, tzinfo=UTC))
    with spoke.store.transaction() as uow:
        uow.attendance.mark(AttendanceRecord(held.id, amira, True, None, "button",
                                             _identity(AMIRA), spoke.clock.now()))

    for typed in ("follow up", "1", "Opioid conversion and when to call the palliative team.",
                  "skip", "https://example.org/recordings/42", "skip", "now", "yes"):
        await spoke.dm(typed, user=FAY)
        await spoke.settle()
    assert spoke.serving.sender is not None
    await spoke.serving.sender.deliver_due()
    to_fay = spoke.api.posted(dm_channel_id(FAY))
    assert any("everyone registered gets it (1)" in str(posted) for posted in to_fay)
    follow_up = next(call for call in spoke.api.calls("chat.postMessage")
                     if call.args.get("channel") == dm_channel_id(AMIRA))
    assert "Thank you for joining" in text_of(follow_up)
    assert "https://example.org/recordings/42" in str(follow_up.args["blocks"])
    assert "Opioid conversion" not in str(spoke.api.posted(dm_channel_id("C0CHANNEL")))

    assert (await spoke.click(follow_up, "Rate this session", user=AMIRA)).status == 200
    await spoke.settle()
    question = spoke.api.calls("chat.postMessage")[-1]
    assert question.args["channel"] == dm_channel_id(AMIRA)
    assert find_option(question.args["blocks"], "5 · Very satisfied")
    assert all(call.ok for call in spoke.api.calls("chat.postMessage"))


async def test_the_facilitators_report_uploads_a_png_chart(spoke: Spoke) -> None:
    now = spoke.clock.now()
    amira = member(spoke.store, now, AMIRA, identity=_identity(AMIRA),
                   address={"team": TEAM_ID, "user": AMIRA, "channel": dm_channel_id(AMIRA)})
    spoke.api.add_user(FAY, real_name="Fay Test", tz="Europe/London", locale="en-GB")
    member(spoke.store, now, FAY, identity=_identity(FAY), role="facilitator",
           address={"team": TEAM_ID, "user": FAY, "channel": dm_channel_id(FAY)})
    spring = series(spoke.store, now)
    held = session(spoke.store, now, spring, datetime(2025, 6, 2, 12, 0, tzinfo=UTC))
    enrol(spoke.store, now, spring, amira)
    spoke.clock.set(datetime(2025, 6, 3, 9, 0, tzinfo=UTC))
    with spoke.store.transaction() as uow:
        uow.attendance.mark(AttendanceRecord(held.id, amira, True, 50, "zoom", "import:z.csv",
                                             spoke.clock.now()))

    await spoke.dm("report", user=FAY)
    await spoke.settle()
    uploads = [await spoke.api.uploaded_file(), await spoke.api.uploaded_file()]
    assert any(content.startswith(b"\x89PNG\r\n\x1a\n") for content in uploads)
    assert any(b"Session Date" in content for content in uploads)
    assert "Amira" not in b"".join(uploads).decode("utf-8", "replace")
