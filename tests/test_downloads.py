"""Calendar files on Teams: a signed, expiring link served by `spoke serve`, since a bot
cannot attach files in every Teams chat."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from icalendar import Calendar

from adapters.teams.translate import REF
from assistant.clock import FakeClock
from assistant.downloads import DownloadLinks
from assistant.housekeeping import forget_expired_downloads
from assistant.messages import File
from storage.repositories import SqlStore
from tests.community import enrol, series, session
from tests.teams_activities import card_submit
from tests.teams_fixtures import IDENTITY, TeamsSpoke, serve_teams

PUBLIC_URL = "https://spoke.example.org"
CALENDAR = File("echo.ics", "text/calendar", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")


def links(store: SqlStore, clock: FakeClock) -> DownloadLinks:
    return DownloadLinks(store, clock, PUBLIC_URL, b"a key every replica shares")


def parts(link: str) -> tuple[str, str, str]:
    found = re.search(r"/files/([^/]+)/[^?]+\?expires=(\d+)&sig=([0-9a-f]+)$", link)
    assert found, link
    return found.group(1), found.group(2), found.group(3)


def test_a_link_opens_its_file_until_it_expires(suite_store: SqlStore, clock: FakeClock) -> None:
    offered = links(suite_store, clock)
    link = offered.offer(CALENDAR)
    assert link.startswith(f"{PUBLIC_URL}/files/") and "/echo.ics?" in link
    assert offered.open(*parts(link)) == File("echo.ics", "text/calendar", CALENDAR.content)
    clock.advance(days=3, seconds=1)
    assert offered.open(*parts(link)) is None
    assert forget_expired_downloads(suite_store, clock) == 1


@pytest.mark.parametrize("tamper", ["token", "expires", "signature", "other_key"])
def test_an_altered_or_forged_link_opens_nothing(suite_store: SqlStore, clock: FakeClock,
                                                 tamper: str) -> None:
    offered = links(suite_store, clock)
    token, expires, signature = parts(offered.offer(CALENDAR))
    if tamper == "token":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif tamper == "expires":
        expires = str(int(expires) + 86400)  # stretching the link breaks its signature
    elif tamper == "signature":
        signature = "0" * 64
    else:
        offered = DownloadLinks(suite_store, clock, PUBLIC_URL, b"somebody else's key")
    assert offered.open(token, expires, signature) is None


@pytest.fixture
async def teams_with_links(suite_store: SqlStore, clock: FakeClock,
                           tmp_path: Path) -> AsyncIterator[TeamsSpoke]:
    async with serve_teams(suite_store, clock, tmp_path, secret_key="a key every replica shares",
                           public_url=PUBLIC_URL) as spoke:
        yield spoke


async def test_add_to_calendar_on_teams_sends_a_link_that_downloads_the_ics(
        teams_with_links: TeamsSpoke) -> None:
    teams = teams_with_links
    await teams.say("hello")  # Teams taught Spoke where to reach this person
    now = teams.clock.now()
    with teams.store.transaction() as uow:
        person = uow.people.register(IDENTITY, {
            "full_name": "Amira Test", "email": "amira@example.org", "time_zone": "Europe/London",
            "language": "en"}, now)
        uow.memberships.join(person.id, "care-homes", "participant", "active", now)
        uow.conversations.delete_all(IDENTITY)
    spring = series(teams.store, now)
    meeting = session(teams.store, now, spring, datetime(2025, 6, 5, 12, 0, tzinfo=UTC))
    enrol(teams.store, now, spring, person.id)

    response = await teams.post(dict(card_submit({REF: f"act:calendar:{meeting.id}"},
                                                 service_url=teams.connector.service_url)))
    assert response.status == 200
    answer = (await teams.connector.next_activity()).activity
    open_url = [action for block in answer["attachments"][0]["content"]["body"]
                if block.get("type") == "ActionSet" for action in block["actions"]
                if action["type"] == "Action.OpenUrl"]
    assert len(open_url) == 1 and open_url[0]["title"] == f"echo-session-{meeting.id}.ics"
    link = open_url[0]["url"]
    assert link.startswith(f"{PUBLIC_URL}/files/")

    local = teams.base + link.removeprefix(PUBLIC_URL)
    download = await teams.http.get(local)
    assert download.status == 200
    assert download.headers["Content-Type"].startswith("text/calendar")
    assert "attachment" in download.headers["Content-Disposition"]
    event = next(iter(Calendar.from_ical(await download.read()).walk("VEVENT")))
    assert str(event["UID"]) == meeting.uid
    assert event.decoded("DTSTART").astimezone(UTC) == meeting.starts_at

    forged = await teams.http.get(local.replace("sig=", "sig=0"))
    assert forged.status == 404
    teams.clock.advance(days=3, minutes=1)
    expired = await teams.http.get(local)
    assert expired.status == 404


def test_without_a_public_address_the_file_is_described_not_linked() -> None:
    from adapters.teams.render import render
    from assistant.messages import Reply

    described = render(Reply((CALENDAR,)))
    assert "Action.OpenUrl" not in str(described) and "echo.ics" in str(described)
    link = f"{PUBLIC_URL}/files/t/echo.ics?expires=1&sig=00"
    linked = render(Reply((CALENDAR,)), {0: link})
    assert link in str(linked) and "Action.OpenUrl" in str(linked)
