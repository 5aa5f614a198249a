"""The facilitators' report: words for every platform, a PNG chart and a CSV of the same
per-session aggregates, for the network's team only (buttons naming a network are forgeable),
with no person in any of it and "not recorded" where nobody took attendance."""

from __future__ import annotations

import csv
import io
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.messages import File, Question, Text
from assistant.model import AttendanceRecord, EvaluationAnswer, Session
from assistant.services.reports import CSV_COLUMNS, network_number
from storage.repositories import SqlStore
from storage.tables import AuditRow
from tests.community import enrol, member, open_networks, series, session
from tests.harness import ChatHarness

AUDIT = AuditRow.__table__
FIRST = datetime(2025, 5, 12, 12, 0, tzinfo=UTC)  # Mondays, 13:00 in London
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCORES = ((5, 4, 4, "yes", "Zinc cream first."), (4, 5, 3, "yes", ""),
          (3, 4, 2, "not_sure", "ask about breathlessness"))


class Hub:
    """Care Homes ECHO with three held sessions (one without attendance, one evaluated), one
    cancelled and one to come. Fay facilitates (English), Flore too (French); Hana is hub
    admin of both networks; Gus facilitates the other network; Amira, Ben and Cara attend."""

    def __init__(self, store: SqlStore, clock: FakeClock) -> None:
        now = FIRST - timedelta(days=7)  # when it was all set up
        open_networks(store, now)
        self.store, self.clock = store, clock
        self.fay = member(store, now, "fay", role="facilitator")
        self.flore = member(store, now, "flore", role="facilitator", language="fr",
                            zone="America/Montreal")
        self.hana = member(store, now, "hana", role="hub_admin")
        with store.transaction() as uow:
            uow.memberships.join(self.hana, "palliative-essentials", "hub_admin", "active", now)
        self.gus = member(store, now, "gus", role="facilitator", network="palliative-essentials")
        self.people = [member(store, now, name) for name in ("amira", "ben", "cara")]
        self.spring = series(store, now)
        self.other = series(store, now, network="palliative-essentials", name="autumn")
        for person in self.people:
            enrol(store, now, self.spring, person)
        self.sessions: list[Session] = [
            session(store, now, self.spring, FIRST + timedelta(weeks=n), topic=topic)
            for n, topic in enumerate(("Pain", "Falls", "Delirium", "Cancelled", "To come"))]
        clock.advance(days=1)  # Tuesday 3 June: three held, one cancelled, one to come
        first, _falls, delirium, cancelled, _coming = self.sessions
        with store.transaction() as uow:
            uow.schedule.update_session(cancelled.id, {"state": "cancelled"}, clock.now(),
                                        new_version=True)
            for person, minutes in zip(self.people, (60, 45, 10), strict=True):  # 50% needed
                uow.attendance.mark(AttendanceRecord(first.id, person, True, minutes, "zoom",
                                                     "import:zoom.csv", clock.now()))
            for person in self.people:
                uow.attendance.mark(AttendanceRecord(delirium.id, person, True, None, "button",
                                                     "console:x", clock.now()))
            for person, (s, r, c, recommend, comment) in zip(self.people, SCORES, strict=True):
                uow.evaluations.answer(EvaluationAnswer(delirium.id, person, s, r, c, recommend,
                                                        comment, clock.now()))
            uow.evaluations.answer(EvaluationAnswer(first.id, self.people[0], 2, 2, 2, "no",
                                                    "Too fast for me.", clock.now()))

    def chat(self, user: str) -> ChatHarness:
        return ChatHarness(self.store, self.clock, user=user)

    def number(self, slug: str = "care-homes") -> int:
        with self.store.transaction() as uow:
            found = network_number(uow, slug)
        assert found is not None
        return found


@pytest.fixture
def hub(suite_store: SqlStore, clock: FakeClock) -> Hub:
    return Hub(suite_store, clock)


def files(chat: ChatHarness) -> dict[str, File]:
    return {part.media_type: part for part in chat.parts if isinstance(part, File)}


def audit(store: SqlStore, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with store.engine.connect() as connection:
        return [(r.actor, r.subject, r.detail) for r in connection.execute(
            select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id))]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --- the report -----------------------------------------------------------------------------------


def test_the_text_summary_reads_without_images_and_names_nobody(store_on: SqlStore,
                                                               clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    fay = hub.chat("fay")
    fay.say("report")
    [summary] = fay.texts()
    lines = summary.splitlines()
    assert lines[0] == fay.tr("reports.title.many", network="Care Homes ECHO", count=3,
                              zone="United Kingdom Time")
    # Oldest first, in Fay's zone; the cancelled session and the one to come are left out.
    assert [line for line in lines if " · " in line and "/5" not in line] == [
        "Monday 12 May 2025 · Spring series: Pain", "Monday 19 May 2025 · Spring series: Falls",
        "Monday 26 May 2025 · Spring series: Delirium"]
    assert "Cancelled" not in summary and "To come" not in summary
    # 60 and 45 of 60 minutes count, 10 does not; the second session had no roll call at all.
    assert fay.tr("reports.line.attendance", attended=2, registered=3) in lines
    assert fay.tr("reports.line.not_recorded", registered=3) in lines
    assert fay.tr("reports.line.attendance", attended=3, registered=3) in lines
    assert fay.tr("reports.line.scores", count=3, satisfaction="4.0", relevance="4.3",
                  confidence="3.0", yes=67) in lines
    # Below three answers: the count only, never the lone answer or its comment.
    assert fay.tr("reports.line.few", count=1, min=3) in lines
    assert fay.tr("reports.line.few", count=0, min=3) in lines
    assert "Too fast" not in summary
    comments = lines[lines.index(fay.tr("reports.line.comments")) + 1:]
    assert comments == ["  – ask about breathlessness", "  – Zinc cream first."]
    for name in ("Amira", "Ben", "Cara", "example.org"):
        assert name not in summary
    assert audit(store_on, "report.viewed") == [("console:fay", "network:care-homes",
                                                 {"sessions": 3})]


def test_the_chart_is_a_png_that_decodes(hub: Hub) -> None:
    from matplotlib.image import imread

    fay = hub.chat("fay")
    fay.say("reports")
    chart = files(fay)["image/png"]
    assert chart.name.endswith(".png") and chart.caption == fay.tr("reports.chart.caption")
    width, height = png_size(chart.content)
    assert width > 0 and height > 0
    pixels = imread(io.BytesIO(chart.content), format="png")
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0.05  # something is drawn on it, not a blank canvas


def test_the_csv_holds_the_same_aggregates_and_no_person(hub: Hub) -> None:
    fay = hub.chat("fay")
    fay.say("report")
    sheet = files(fay)["text/csv"]
    assert sheet.name.endswith(".csv") and sheet.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    table = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [(r["Session Date"], r["Session Title"], r["Registered"], r["Attended"],
             r["Responses"]) for r in table] == [
        ("2025-05-12", "Pain", "3", "2", "1"), ("2025-05-19", "Falls", "3", "not recorded", "0"),
        ("2025-05-26", "Delirium", "3", "3", "3")]
    assert [(r["Satisfaction"], r["Relevance"], r["Confidence"], r["Would Recommend Yes %"],
             r["Would Recommend Not Sure %"]) for r in table] == [
        ("", "", "", "", ""), ("", "", "", "", ""), ("4.0", "4.3", "3.0", "67", "33")]
    assert {r["Network"] for r in table} == {"Care Homes ECHO"}
    text = sheet.content.decode("utf-8-sig")
    for person_data in ("Amira", "amira", "example.org", "Zinc", "Too fast"):
        assert person_data not in text


def test_a_french_facilitator_reads_it_in_french_in_her_zone(hub: Hub) -> None:
    flore = hub.chat("flore")
    flore.say("rapport")
    [summary] = flore.texts()
    assert summary.splitlines()[0] == flore.tr(
        "reports.title.many", "fr", network="Care Homes ECHO", count=3,
        zone="heure : Canada (Toronto)")
    assert "lundi 12 mai 2025 · Spring series: Pain" in summary
    assert flore.tr("reports.line.not_recorded", "fr", registered=3) in summary
    assert flore.tr("reports.line.scores", "fr", count=3, satisfaction="4,0", relevance="4,3",
                    confidence="3,0", yes=67) in summary
    assert files(flore)["image/png"].caption == flore.tr("reports.chart.caption", "fr")
    png_size(files(flore)["image/png"].content)


def test_a_hub_admin_of_two_networks_picks_one(hub: Hub) -> None:
    hana = hub.chat("hana")
    hana.say("statistics")
    [question] = [p for p in hana.parts if isinstance(p, Question)]
    assert question.prompt == hana.tr("reports.which_network")
    assert [(o.label, o.ref) for o in question.options] == [
        ("Care Homes ECHO", f"act:report:{hub.number()}"),
        ("Palliative Care Essentials ECHO", f"act:report:{hub.number('palliative-essentials')}")]
    hana.pick("Palliative Care Essentials ECHO")
    hana.expect_said("reports.no_sessions", network="Palliative Care Essentials ECHO")
    hana.say("statistics")
    hana.pick("Care Homes ECHO")
    assert any(isinstance(p, File) for p in hana.parts)
    assert "Spring series: Delirium" in hana.texts()[0]


# --- who may see it ---------------------------------------------------------------------------------


def test_participants_and_other_teams_are_refused_even_with_forged_buttons(hub: Hub) -> None:
    amira = hub.chat("amira")
    amira.say("report")
    amira.expect_said("reports.team_only")
    gus = hub.chat("gus")
    gus.say("report")  # his own network: nothing held yet, and nothing of Care Homes
    gus.expect_said("reports.no_sessions", network="Palliative Care Essentials ECHO")
    for chat in (amira, gus):
        for number in (hub.number(), 987654):
            chat.send(UserChose(f"act:report:{number}"))
            chat.expect_said("reports.not_allowed")
            assert not any(isinstance(p, File) for p in chat.parts)
            assert "Delirium" not in chat.text
    refused = audit(hub.store, "action.refused")
    assert [(actor, subject, detail["action"]) for actor, subject, detail in refused] == [
        ("console:amira", f"network:{hub.number()}", "report"),
        ("console:amira", "network:987654", "report"),
        ("console:gus", f"network:{hub.number()}", "report"),
        ("console:gus", "network:987654", "report")]
    assert audit(hub.store, "report.viewed") == []
    fay = hub.chat("fay")
    fay.send(UserChose(f"act:report:{hub.number()}"))
    assert "Spring series: Delirium" in fay.texts()[0]


def test_a_team_member_who_left_is_refused(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        uow.memberships.leave(hub.fay, "care-homes", hub.clock.now())
    fay = hub.chat("fay")
    fay.send(UserChose(f"act:report:{hub.number()}"))
    fay.expect_said("reports.not_allowed")


def test_loading_the_conversations_does_not_load_matplotlib() -> None:
    """Start-up stays quick: only a report pays for the charting library."""
    probe = "import sys, dialogs; print('matplotlib' in sys.modules)"
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert ran.stdout.strip() == "False"


def test_every_chart_word_comes_from_the_catalogue(hub: Hub) -> None:
    """The labels are translated, so the English and French charts differ."""
    fay, flore = hub.chat("fay"), hub.chat("flore")
    fay.say("report")
    flore.say("rapport")
    assert files(fay)["image/png"].content != files(flore)["image/png"].content
    assert all(isinstance(p, Text | File) for p in fay.parts)


def test_places_that_came_through_invitations_are_counted(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        uow.invitations.add("SPRING-ABCDEFGH", hub.spring.id, hub.people[0], hub.clock.now())
        uow.invitations.credit(hub.spring.id, hub.people[1], "SPRING-ABCDEFGH")
    fay = hub.chat("fay")
    fay.say("report")
    fay.expect_said("reports.invitations", places="Spring series: 1")
    gus = hub.chat("gus")  # the other network's report says nothing about it
    gus.say("report")
    assert "Spring series: 1" not in gus.text
