"""CSV exports for iECHO: participants, attendance at held sessions and evaluation answers, in
iECHO's columns; the pseudonymised variant; and `spoke admin export ...` end to end."""

from __future__ import annotations

import csv
import io
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.clock import FakeClock
from assistant.exports import (
    ATTENDANCE_COLUMNS,
    EVALUATION_COLUMNS,
    PARTICIPANT_COLUMNS,
    Export,
    attendance,
    evaluations,
    participant_id,
    participant_key,
    participants,
)
from assistant.model import AttendanceRecord, AttendanceRules, EvaluationAnswer, Series, Session
from assistant.services.schedule import cancel_session
from storage.repositories import SqlStore
from tests.command_line import Spoke, in_process
from tests.community import OPERATOR, enrol, member, open_networks, series, session
from tests.conftest import url_of

KEY = participant_key("a key for the tests")  # what the command line derives from its secret
JUNE = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)  # Thursdays at 13:00 in London
LATER = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
PEOPLE = {"fiona": "Fiona Mackay", "amira": "Amira Haddad", "bernard": "Bernard Okafor",
          "chloe": "Chloé Tremblay", "deepa": "Deepa Rao", "gus": "Gus Van der Berg",
          "eve": "Eve Adams", "hana": "Hana Sato"}


@dataclass(frozen=True)
class Hub:
    store: SqlStore
    ids: dict[str, int]
    spring: Series
    autumn: Series
    sessions: dict[str, Session]


@pytest.fixture
def hub(store_on: SqlStore, clock: FakeClock) -> Hub:
    """Spring: two held sessions, one cancelled, one to come. Autumn: one held in Toronto."""
    store, now = store_on, clock.now()
    open_networks(store, now)
    ids = {}
    for user, name in PEOPLE.items():
        network = "palliative-essentials" if user == "hana" else "care-homes"
        ids[user] = member(store, now, user, network=network,
                           role="facilitator" if user == "fiona" else "participant")
        with store.transaction() as uow:
            uow.people.update(ids[user], {"full_name": name})
    with store.transaction() as uow:  # Eve is waiting for a place in the network
        uow.memberships.join(ids["eve"], "care-homes", "participant", "waitlisted", now)
    spring, autumn = series(store, now), series(store, now, name="autumn")
    made = {"s1": session(store, now, spring, JUNE),
            "s2": session(store, now, spring, JUNE + timedelta(days=7), topic="Breathlessness"),
            "s3": session(store, now, spring, JUNE + timedelta(days=14)),
            "s4": session(store, now, spring, JUNE + timedelta(days=35)),
            # 22:00 on the 26th in Toronto is already the 27th in UTC.
            "a1": session(store, now, autumn, datetime(2025, 6, 27, 2, 0, tzinfo=UTC), topic="",
                          time_zone="America/Toronto")}
    with store.transaction() as uow:
        cancelled = cancel_session(uow, OPERATOR, made["s3"], now)
        assert isinstance(cancelled, Session)
    for user in ("amira", "bernard"):
        enrol(store, now, spring, ids[user])
    enrol(store, now, autumn, ids["gus"])
    clock.set(LATER)
    s1, s2, a1 = made["s1"].id, made["s2"].id, made["a1"].id
    with store.transaction() as uow:
        uow.rsvps.set(s1, ids["chloe"], "going", now)
        for record in (
                AttendanceRecord(s1, ids["amira"], True, 45, "zoom", "import:june.csv", LATER),
                AttendanceRecord(s1, ids["bernard"], True, 20, "zoom", "import:june.csv", LATER),
                AttendanceRecord(s2, ids["amira"], True, None, "adjustment", "console:fiona",
                                 LATER, adjusted=True, reason="Joined by phone; Zoom lost her"),
                AttendanceRecord(s2, ids["deepa"], True, None, "button", "console:deepa", LATER),
                AttendanceRecord(a1, ids["gus"], True, None, "roll_call", "console:fiona", LATER)):
            assert uow.attendance.mark(record)
        for who, at, answers in (
                ("amira", s1, (5, 4, 4, "yes", "I will ask about pain earlier.")),
                ("bernard", s1, (3, 3, 2, "not_sure", "")),
                ("deepa", s2, (4, 5, 5, "no", '=HYPERLINK("https://example.org","more")'))):
            assert uow.evaluations.answer(EvaluationAnswer(at, ids[who], *answers, LATER))
    return Hub(store, ids, spring, autumn, made)


def table(export: Export) -> list[dict[str, str]]:
    """The file as Excel would read it back."""
    content = export.csv_bytes()
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == export.columns
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def pid(hub: Hub, user: str) -> str:
    return participant_id(KEY, hub.ids[user])


# --- participants ------------------------------------------------------------------------------

def test_participants_are_the_network_s_active_members_in_iecho_columns(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        export = participants(uow, "care-homes", None, KEY)
    assert export.columns == (
        "First Name", "Last Name", "Email", "Status", "Title", "Organisation", "Care Setting",
        "Region", "Country", "Role", "Network", "Series")
    rows = table(export)
    # Not Eve (waitlisted), not Hana (another network); by last name.
    assert [(r["First Name"], r["Last Name"]) for r in rows] == [
        ("Gus Van der", "Berg"), ("Amira", "Haddad"), ("Fiona", "Mackay"), ("Bernard", "Okafor"),
        ("Deepa", "Rao"), ("Chloé", "Tremblay")]
    amira = rows[1]
    assert amira == {"First Name": "Amira", "Last Name": "Haddad", "Email": "amira@example.org",
                     "Status": "Active", "Title": "Registered nurse",
                     "Organisation": "Test Care Home", "Care Setting": "Hospice",
                     "Region": "EH6", "Country": "GB", "Role": "Attendee",
                     "Network": "Care Homes ECHO", "Series": "Spring series"}
    assert {r["First Name"]: r["Role"] for r in rows}["Fiona"] == "Org Team"
    assert {r["First Name"]: r["Series"] for r in rows}["Gus Van der"] == "Autumn series"


def test_participants_of_one_series_are_those_registered_for_it(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        rows = table(participants(uow, "care-homes", hub.spring, KEY))
    assert [r["Email"] for r in rows] == ["amira@example.org", "bernard@example.org"]


# --- attendance --------------------------------------------------------------------------------

def test_attendance_has_a_row_per_person_per_held_session(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        export = attendance(uow, "care-homes", None, LATER, KEY)
    assert export.columns == (
        "First Name", "Last Name", "Email", "Status", "Title", "Organisation", "Care Setting",
        "Region", "Country", "Role", "Network", "Series", "Session Date", "Session Title",
        "Attended", "Minutes", "Attendance Source", "Adjusted", "Adjustment Reason",
        "Attendance Marked By")
    rows = table(export)
    # The cancelled session and the one to come have no rows; Chloé said she was going to the
    # first; Deepa is not registered but pressed "I'm here" at the second.
    assert [(r["Session Date"], r["First Name"]) for r in rows] == [
        ("2025-06-05", "Amira"), ("2025-06-05", "Bernard"), ("2025-06-05", "Chloé"),
        ("2025-06-12", "Amira"), ("2025-06-12", "Bernard"), ("2025-06-12", "Deepa"),
        ("2025-06-26", "Gus Van der")]
    facts = [(r["Attended"], r["Minutes"], r["Attendance Source"], r["Adjusted"],
              r["Adjustment Reason"], r["Attendance Marked By"]) for r in rows]
    assert facts == [
        ("Yes", "45", "zoom", "No", "", "import:june.csv"),  # 45 of 60 minutes: over half
        ("No", "20", "zoom", "No", "", "import:june.csv"),
        ("No", "", "", "No", "", ""),  # going, but nothing marked
        ("Yes", "", "adjustment", "Yes", "Joined by phone; Zoom lost her", "Fiona Mackay"),
        ("No", "", "", "No", "", ""),
        ("Yes", "", "button", "No", "", "Deepa Rao"),
        ("Yes", "", "roll_call", "No", "", "Fiona Mackay")]
    assert [r["Session Title"] for r in rows][::3] == [
        "Pain at the end of life", "Breathlessness", "Autumn series"]  # a1 has no topic
    assert {r["Series"] for r in rows} == {"Spring series", "Autumn series"}


def test_attended_follows_the_network_s_rules(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        uow.networks.set_attendance_rules("care-homes", AttendanceRules(15, "minutes", 80))
        rows = table(attendance(uow, "care-homes", hub.spring, LATER, KEY))
    assert [(r["First Name"], r["Attended"]) for r in rows][:2] == [("Amira", "Yes"),
                                                                     ("Bernard", "Yes")]


def test_one_series_and_a_moment_before_some_sessions_ended(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        spring = table(attendance(uow, "care-homes", hub.spring, LATER, KEY))
        early = table(attendance(uow, "care-homes", None, JUNE + timedelta(days=1), KEY))
    assert len(spring) == 6
    assert {r["Series"] for r in spring} == {"Spring series"}
    assert {r["Session Date"] for r in early} == {"2025-06-05"}


# --- pseudonymised -----------------------------------------------------------------------------

def test_the_pseudonymised_variant_has_ids_instead_of_names_and_emails(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        named = table(attendance(uow, "care-homes", None, LATER, KEY))
        export = attendance(uow, "care-homes", None, LATER, KEY, pseudonymised=True)
        again = attendance(uow, "care-homes", None, LATER, KEY, pseudonymised=True)
        members = table(participants(uow, "care-homes", None, KEY, pseudonymised=True))
        other_key = attendance(uow, "care-homes", None, LATER, participant_key("another hub"),
                               pseudonymised=True)
    assert export.columns == ("Participant ID", *ATTENDANCE_COLUMNS[3:])
    text = export.csv_bytes().decode("utf-8-sig")
    for user, name in PEOPLE.items():
        assert f"{user}@example.org" not in text
        assert all(part not in text for part in name.split() if len(part) > 3)
    rows = table(export)
    assert len(rows) == len(named)
    assert export.csv_bytes() == again.csv_bytes()  # stable
    ids = {r["Participant ID"] for r in rows}
    assert ids == {pid(hub, u) for u in ("amira", "bernard", "chloe", "deepa", "gus")}
    assert all(len(i) == 19 and i.startswith("SP-") for i in ids)
    assert {r["Participant ID"] for r in table(other_key)}.isdisjoint(ids)
    # The same person has the same ID in both files; whoever marked attendance too.
    assert pid(hub, "amira") in {r["Participant ID"] for r in members}
    assert members[0].keys() == {"Participant ID", *PARTICIPANT_COLUMNS[3:]}
    assert {r["Attendance Marked By"] for r in rows} == {
        "", "import:june.csv", pid(hub, "fiona"), pid(hub, "deepa")}


def test_a_deleted_person_appears_under_their_pseudonym_only(hub: Hub) -> None:
    bernard = hub.ids["bernard"]
    with hub.store.transaction() as uow:  # as "delete my data" does
        uow.enrolments.cancel_all(bernard, None, LATER)
        uow.people.forget(bernard, "anon-5e1f", LATER)
    with hub.store.transaction() as uow:
        named = attendance(uow, "care-homes", None, LATER, KEY)
        pseudonymised = attendance(uow, "care-homes", None, LATER, KEY, pseudonymised=True)
    for export in (named, pseudonymised):
        text = export.csv_bytes().decode("utf-8-sig")
        assert "Bernard" not in text and "Okafor" not in text and "bernard@" not in text
        [row] = [r for r in table(export) if pid(hub, "bernard") in r.values()]
        assert (row["Session Date"], row["Minutes"], row["Attended"]) == ("2025-06-05", "20", "No")
        assert row["Status"] == row["Title"] == row["Organisation"] == ""
    assert len(table(named)) == 6  # his place in spring went with his data: no row on the 12th


# --- evaluations -------------------------------------------------------------------------------

def test_evaluations_have_one_row_per_answer_and_nothing_about_who(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        export = evaluations(uow, "care-homes", None)
        autumn = evaluations(uow, "care-homes", hub.autumn)
    assert export.columns == EVALUATION_COLUMNS == (
        "Network", "Series", "Session Date", "Session Title", "Satisfaction", "Relevance",
        "Confidence", "Would Recommend", "Comment")
    rows = table(export)
    assert [(r["Session Date"], r["Satisfaction"], r["Would Recommend"], r["Comment"])
            for r in rows] == [
        ("2025-06-05", "3", "Not sure", ""),  # by content, not by who answered first
        ("2025-06-05", "5", "Yes", "I will ask about pain earlier."),
        ("2025-06-12", "4", "No", "'=HYPERLINK(\"https://example.org\",\"more\")")]  # not a formula
    text = export.csv_bytes().decode("utf-8-sig")
    for user, name in PEOPLE.items():
        assert name not in text and f"{user}@" not in text
        assert participant_id(KEY, hub.ids[user]) not in text
    assert autumn.rows == ()


# --- the command line --------------------------------------------------------------------------

@pytest.fixture
def spoke(hub: Hub, clock: FakeClock, tmp_path: Path,
          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Spoke:
    return in_process(url_of(hub.store), clock, tmp_path, capsys, monkeypatch)


def read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_export_command_writes_the_file_for_the_owner_only(spoke: Spoke, hub: Hub,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "attendance.csv"
    ran = spoke("admin", "export", "attendance", "--network", "care-homes", "--out", str(out))
    assert (ran.code, ran.out.strip()) == (0, f"7 row(s) written to {out}")
    assert len(read(out)) == 7
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = spoke("admin", "export", "attendance", "--network", "care-homes", "--out", str(out))
    assert again.code == 1
    assert "already exists: --force replaces it" in again.err
    forced = spoke("admin", "export", "attendance", "--network", "care-homes", "--series",
                   "spring", "--pseudonymised", "--out", str(out), "--force")
    assert forced.code == 0, forced.err
    rows = read(out)
    assert len(rows) == 6
    # The command's key comes from the server's secret (SPOKE_SECRET_KEY in these tests).
    assert {r["Participant ID"] for r in rows} == {
        pid(hub, u) for u in ("amira", "bernard", "chloe", "deepa")}


def test_each_export_kind_and_its_audit(spoke: Spoke, hub: Hub, tmp_path: Path) -> None:
    for kind, count in (("participants", 6), ("evaluations", 3)):
        out = tmp_path / f"{kind}.csv"
        ran = spoke("admin", "export", kind, "--network", "care-homes", "--out", str(out))
        assert (ran.code, ran.out.strip()) == (0, f"{count} row(s) written to {out}")
        assert len(read(out)) == count
    from sqlalchemy import select

    from storage.tables import AuditRow

    audit = AuditRow.__table__  # type: ignore[attr-defined]
    with hub.store.engine.connect() as conn:
        details = [row.detail for row in conn.execute(
            select(audit).where(audit.c.action == "export.written").order_by(audit.c.id))]
    assert details == [
        {"kind": "participants", "series": None, "pseudonymised": False, "rows": 6},
        {"kind": "evaluations", "series": None, "pseudonymised": False, "rows": 3}]


def test_an_unknown_network_or_series_is_refused_and_nothing_written(
        spoke: Spoke, hub: Hub, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    nowhere = spoke("admin", "export", "participants", "--network", "nowhere", "--out", str(out))
    assert (nowhere.code, nowhere.err.strip()) == (1, "error: There is no network nowhere.")
    no_series = spoke("admin", "export", "attendance", "--network", "care-homes", "--series",
                      "winter", "--out", str(out))
    assert (no_series.code, no_series.err.strip()) == (
        1, 'error: there is no series "winter" in care-homes')
    assert not out.exists()
