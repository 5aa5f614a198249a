"""Importing attendance from Zoom and Teams reports: matching people by e-mail, then by name,
never creating anyone, keeping facilitators' adjustments, and `spoke admin attendance ...`
end to end. The sample meeting is Thursday 12 June 2025, 13:00-14:00 in London."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from assistant.attendance_reports import read_report
from assistant.clock import FakeClock
from assistant.model import AttendanceRecord, AttendanceRules, Session
from assistant.ports import Store
from assistant.services.attendance_import import (
    ImportResult,
    NotImportable,
    import_attendance,
)
from assistant.services.schedule import cancel_session
from storage.repositories import SqlStore
from storage.tables import AuditRow, PersonRow
from tests.command_line import Spoke, in_process
from tests.community import OPERATOR, member, open_networks, series, session
from tests.conftest import url_of

DATA = Path(__file__).parent / "data"
AUDIT, PERSON = AuditRow.__table__, PersonRow.__table__  # type: ignore[attr-defined]
STARTS = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)
AFTER = STARTS + timedelta(hours=20)  # the next morning
# Who the hub has registered (Jo Bloggs and the iPhone in the reports are not among them).
PEOPLE = {"fiona": ("Fiona Mackay", "fiona.mackay@example.org", "facilitator"),
          "amira": ("Amira Haddad", "amira.haddad@example.org", "participant"),
          "bernard": ("Bernard Okafor", "bernard.okafor@example.org", "participant"),
          "chloe": ("Chloé Tremblay", "c.tremblay@example.org", "participant"),
          "deepa": ("Deepa Rao", "deepa.rao@example.org", "participant")}
# Minutes between 12:45 and 14:30 (a quarter of an hour early to half an hour late): Fiona
# opened the room at 12:41 but counts from 12:45.
EXPECTED = {"fiona": 83, "amira": 69, "bernard": 42, "chloe": 55, "deepa": 50}


def person(store: Store, now: datetime, user: str, full_name: str, email: str,
           network: str = "care-homes", role: str = "participant") -> int:
    person_id = member(store, now, user, network=network, role=role)
    with store.transaction() as uow:
        uow.people.update(person_id, {"full_name": full_name, "email": email})
    return person_id


@pytest.fixture
def hub(store_on: SqlStore, clock: FakeClock) -> tuple[SqlStore, Session, dict[str, int]]:
    """The network, its members and the session, made before it; the clock then moves on."""
    now = clock.now()
    open_networks(store_on, now)
    ids = {user: person(store_on, now, user, name, email, role=role)
           for user, (name, email, role) in PEOPLE.items()}
    held = session(store_on, now, series(store_on, now), STARTS)
    clock.set(AFTER)
    return store_on, held, ids


def run_import(store: Store, held: Session, sample: str, now: datetime, **options: Any) -> ImportResult:
    report = read_report((DATA / sample).read_bytes(), "Europe/London")
    with store.transaction() as uow:
        return import_attendance(uow, held, report, f"import:{sample}", now, **options)


def marked(store: Store, held: Session) -> dict[int, AttendanceRecord]:
    with store.transaction() as uow:
        return uow.attendance.of_session(held.id)


def people_count(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PERSON)).scalar_one())


def audit_rows(store: SqlStore, action: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(
            select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id))]


# --- matching --------------------------------------------------------------------------------

@pytest.mark.parametrize(("sample", "source"), [("zoom_participants.csv", "zoom"),
                                                ("zoom_participants_with_summary.csv", "zoom"),
                                                ("teams_attendance.csv", "teams")])
def test_a_report_marks_everyone_it_can_match_with_their_minutes(
        hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock, sample: str,
        source: str) -> None:
    store, held, ids = hub
    result = run_import(store, held, sample, clock.now())
    assert result.source == source
    assert {m.person_id: m.minutes for m in result.matched} == {
        ids[user]: minutes for user, minutes in EXPECTED.items()}
    # Deepa's report e-mail differs in case from hers; Chloé came as a guest, with no e-mail.
    assert {m.person_id: m.by for m in result.matched}[ids["chloe"]] == "name"
    assert {m.person_id: m.by for m in result.matched}[ids["deepa"]] == "email"
    records = marked(store, held)
    assert set(records) == set(ids.values())
    amira = records[ids["amira"]]
    assert (amira.present, amira.minutes, amira.source, amira.marked_by, amira.marked_at,
            amira.adjusted) == (True, 69, source, f"import:{sample}", clock.now(), False)
    with store.transaction() as uow:  # over the default threshold, half the session's hour
        rules = uow.networks.attendance_rules("care-homes")
    assert {user: rules.attended(records[ids[user]], 60) for user in ids} == {
        "fiona": True, "amira": True, "bernard": True, "chloe": True, "deepa": True}


def test_unknown_people_are_listed_as_written_and_never_created(
        hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock) -> None:
    store, held, _ids = hub
    before = people_count(store)
    result = run_import(store, held, "zoom_participants.csv", clock.now())
    assert [(u.lines, u.name, u.email, u.minutes, u.reason) for u in result.unmatched] == [
        ((8,), "Jo Bloggs", "jo.bloggs@personal.example.org", 45, "unknown"),
        ((10,), "iPhone", "", 3, "unknown")]
    assert people_count(store) == before
    with store.transaction() as uow:
        assert uow.people.find("jo.bloggs@personal.example.org") is None
    assert len(marked(store, held)) == len(PEOPLE)


def test_a_name_two_members_share_is_left_for_a_facilitator(
        hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock) -> None:
    store, held, ids = hub
    other = person(store, clock.now(), "chloe2", "Chloe TREMBLAY", "chloe.t@example.org")
    result = run_import(store, held, "zoom_participants.csv", clock.now())
    chloe = next(u for u in result.unmatched if u.name == "Chloé Tremblay")
    assert (chloe.lines, chloe.reason, chloe.minutes) == ((6,), "ambiguous", 55)
    records = marked(store, held)
    assert ids["chloe"] not in records
    assert other not in records


def test_a_name_is_matched_only_among_the_network_s_members(
        store_on: SqlStore, clock: FakeClock) -> None:
    open_networks(store_on, clock.now())
    elsewhere = person(store_on, clock.now(), "chloe", "Chloé Tremblay", "c.t@example.org",
                       network="palliative-essentials")
    held = session(store_on, clock.now(), series(store_on, clock.now()), STARTS)
    clock.set(AFTER)
    result = run_import(store_on, held, "zoom_participants.csv", clock.now())
    assert result.matched == ()
    assert "Chloé Tremblay" in [u.name for u in result.unmatched]
    assert elsewhere not in marked(store_on, held)


def test_the_same_person_under_two_names_is_one_record_with_their_time_counted_once(
        hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock) -> None:
    """Bernard's laptop (his work e-mail) and his phone (a personal e-mail, found by name)."""
    store, held, ids = hub
    content = ("Name (Original Name),User Email,Join Time,Leave Time\n"
               "Bernard Okafor,bernard.okafor@example.org,06/12/2025 01:00 PM,06/12/2025 01:30 PM\n"
               "Bernard Okafor,b.okafor@home.example.org,06/12/2025 01:20 PM,06/12/2025 01:50 PM\n")
    with store.transaction() as uow:
        result = import_attendance(uow, held, read_report(content.encode(), "Europe/London"),
                                   "import:mixed.csv", clock.now())
    assert [(m.person_id, m.minutes, m.lines) for m in result.matched] == [(ids["bernard"], 50, (2, 3))]
    assert marked(store, held)[ids["bernard"]].minutes == 50


def test_a_facilitator_s_adjustment_is_kept(hub: tuple[SqlStore, Session, dict[str, int]],
                                            clock: FakeClock) -> None:
    store, held, ids = hub
    adjusted = AttendanceRecord(held.id, ids["amira"], present=False, minutes=None,
                                source="adjustment", marked_by="console:fiona",
                                marked_at=clock.now(), adjusted=True,
                                reason="Her camera was on but she was called to a resident")
    with store.transaction() as uow:
        assert uow.attendance.mark(adjusted)
    result = run_import(store, held, "zoom_participants.csv", clock.now())
    assert [k.person_id for k in result.kept] == [ids["amira"]]
    assert ids["amira"] not in [m.person_id for m in result.matched]
    assert marked(store, held)[ids["amira"]] == adjusted
    assert audit_rows(store, "attendance.imported")[-1]["detail"]["kept"] == 1


def test_a_dry_run_says_the_same_and_writes_nothing(
        hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock) -> None:
    store, held, _ids = hub
    dry = run_import(store, held, "teams_attendance.csv", clock.now(), dry_run=True)
    assert dry.dry_run
    assert marked(store, held) == {}
    assert audit_rows(store, "attendance.imported") == []
    real = run_import(store, held, "teams_attendance.csv", clock.now())
    assert (dry.matched, dry.unmatched, dry.kept) == (real.matched, real.unmatched, real.kept)
    assert len(marked(store, held)) == len(real.matched) == len(PEOPLE)


def test_the_audit_log_has_counts_and_no_names(
        hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock) -> None:
    store, held, _ids = hub
    run_import(store, held, "zoom_participants.csv", clock.now())
    [row] = audit_rows(store, "attendance.imported")
    assert (row["actor"], row["subject"]) == ("cli", f"session:{held.id}")
    assert row["detail"] == {"source": "zoom", "matched": 5, "kept": 0, "unmatched": 2, "errors": 0}
    logged = json.dumps(row, default=str).casefold()
    written = (DATA / "zoom_participants.csv").read_text(encoding="utf-8").casefold()
    names = [line.split(",")[0] for line in written.splitlines()[1:]]
    assert not [n for n in names if n.split(" (")[0] in logged]
    assert "@" not in logged


def test_time_outside_the_session_is_not_attendance(
        hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock) -> None:
    store, held, ids = hub
    content = ("Name (Original Name),User Email,Join Time,Leave Time\n"
               "Amira Haddad,amira.haddad@example.org,06/12/2025 11:00 AM,06/12/2025 12:30 PM\n"
               "Deepa Rao,deepa.rao@example.org,06/12/2025 02:20 PM,06/12/2025 03:00 PM\n")
    with store.transaction() as uow:
        result = import_attendance(uow, held, read_report(content.encode(), "Europe/London"),
                                   "import:early.csv", clock.now())
    assert [(u.name, u.reason, u.minutes) for u in result.unmatched] == [
        ("Amira Haddad", "outside", 90)]
    assert [(m.person_id, m.minutes) for m in result.matched] == [(ids["deepa"], 10)]


def test_a_cancelled_or_future_session_takes_no_attendance(
        hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock) -> None:
    store, held, _ids = hub
    report = read_report((DATA / "zoom_participants.csv").read_bytes(), "Europe/London")
    with store.transaction() as uow, pytest.raises(NotImportable, match="not started"):
        import_attendance(uow, held, report, "import:x", STARTS - timedelta(days=1))
    with store.transaction() as uow:
        cancelled = cancel_session(uow, OPERATOR, held, STARTS - timedelta(days=1))
        assert isinstance(cancelled, Session)
    with store.transaction() as uow, pytest.raises(NotImportable, match="cancelled"):
        import_attendance(uow, cancelled, report, "import:x", clock.now())
    assert marked(store, held) == {}


# --- the command line ------------------------------------------------------------------------

@pytest.fixture
def spoke(hub: tuple[SqlStore, Session, dict[str, int]], clock: FakeClock,
          tmp_path: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> Spoke:
    return in_process(url_of(hub[0]), clock, tmp_path, capsys, monkeypatch)


def test_the_command_imports_a_report_and_says_what_it_did(
        spoke: Spoke, hub: tuple[SqlStore, Session, dict[str, int]]) -> None:
    store, held, ids = hub
    ran = spoke("admin", "attendance", "import", str(held.id), str(DATA / "zoom_participants.csv"))
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0] == f"zoom report for session {held.id} (2025-06-12 13:00 Europe/London)"
    assert "matched 5 (1 by name)" in lines
    assert "unmatched 2: match them by hand" in lines
    assert ("  line 8: Jo Bloggs <jo.bloggs@personal.example.org>, 45 min: nobody registered "
            "has this e-mail, and no member this name") in lines
    assert "  line 10: iPhone, 3 min: nobody registered has this e-mail, and no member this name" \
        in lines
    assert "kept adjustments 0" in lines
    assert "errors 0" in lines
    assert {p: r.minutes for p, r in marked(store, held).items()} == {
        ids[user]: minutes for user, minutes in EXPECTED.items()}
    assert marked(store, held)[ids["amira"]].marked_by == "import:zoom_participants.csv"


def test_a_report_with_a_bad_row_imports_nothing_unless_told_to_skip_it(
        spoke: Spoke, hub: tuple[SqlStore, Session, dict[str, int]], tmp_path: Path) -> None:
    store, held, ids = hub
    lines = (DATA / "zoom_participants.csv").read_text(encoding="utf-8").splitlines()
    lines.insert(3, "Bernard Okafor,bernard.okafor@example.org,yesterday,06/12/2025 01:40 PM,42,No,Y")
    bad = tmp_path / "zoom with a bad row.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = spoke("admin", "attendance", "import", str(held.id), str(bad))
    assert refused.code == 1
    assert f"{bad}:4: cannot read the join time 'yesterday'" in refused.err
    assert "1 problem(s)" in refused.err and "nothing imported" in refused.err
    assert marked(store, held) == {}
    skipped = spoke("admin", "attendance", "import", str(held.id), str(bad), "--skip-bad")
    assert skipped.code == 0, skipped.err
    assert "errors 1 (skipped: line 4)" in skipped.out.splitlines()
    assert set(marked(store, held)) == set(ids.values())


def test_a_dry_run_from_the_command_line_writes_nothing(
        spoke: Spoke, hub: tuple[SqlStore, Session, dict[str, int]]) -> None:
    store, held, _ids = hub
    ran = spoke("admin", "attendance", "import", str(held.id), str(DATA / "teams_attendance.csv"),
                "--dry-run")
    assert ran.code == 0, ran.err
    assert ran.out.startswith(f"teams report for session {held.id}")
    assert "matched 5 (1 by name)" in ran.out
    assert ran.out.rstrip().endswith("dry run: nothing was written")
    assert marked(store, held) == {}


def test_the_wrong_zone_or_session_or_file_is_refused(
        spoke: Spoke, hub: tuple[SqlStore, Session, dict[str, int]], tmp_path: Path) -> None:
    store, held, _ids = hub
    sessions = tmp_path / "sessions.csv"
    sessions.write_text("series,date,start\nspring,2025-06-19,13:00\n", encoding="utf-8")
    zoom = str(DATA / "zoom_participants.csv")
    # Read in Toronto the times fall five hours after the session.
    wrong_zone = spoke("admin", "attendance", "import", str(held.id), zoom, "--zone", "America/Toronto")
    assert wrong_zone.code == 1
    assert "nobody in" in wrong_zone.err and "(--zone)" in wrong_zone.err
    assert spoke("admin", "attendance", "import", "999", zoom).err.strip() == \
        "error: there is no session 999"
    not_a_report = spoke("admin", "attendance", "import", str(held.id), str(sessions))
    assert not_a_report.code == 1
    assert "not a Zoom participants report or a Teams attendance report" in not_a_report.err
    missing = spoke("admin", "attendance", "import", str(held.id), "nowhere.csv")
    assert (missing.code, missing.err.strip()) == (
        1, "error: cannot read nowhere.csv: No such file or directory")
    assert spoke("admin", "attendance", "import", str(held.id), zoom, "--zone", "Mars").code == 1
    assert marked(store, held) == {}
    assert audit_rows(store, "attendance.imported") == []


def test_the_network_s_attendance_rules_are_shown_changed_and_checked(
        spoke: Spoke, hub: tuple[SqlStore, Session, dict[str, int]]) -> None:
    store, _held, _ids = hub
    shown = spoke("admin", "attendance", "rules", "--network", "care-homes")
    assert (shown.code, shown.out.strip()) == (0, (
        "care-homes: a session counts as attended from 50% of its minutes; "
        "a certificate takes 80% of a series' held sessions"))
    changed = spoke("admin", "attendance", "rules", "--network", "care-homes",
                    "--threshold", "45", "--unit", "minutes", "--certificate", "60")
    assert changed.code == 0, changed.err
    assert "from 45 minutes" in changed.out and "takes 60%" in changed.out
    with store.transaction() as uow:
        assert uow.networks.attendance_rules("care-homes") == AttendanceRules(45, "minutes", 60)
    [row] = audit_rows(store, "attendance.rules_changed")
    assert row["detail"] == {"threshold": 45, "unit": "minutes", "certificate_share": 60}
    for options, says in ((["--unit", "percent", "--threshold", "150"], "between 1 and 100"),
                          (["--threshold", "600"], "between 1 and 480"),
                          (["--certificate", "0"], "between 1 and 100"),
                          (["--threshold", "half"], "whole number")):
        refused = spoke("admin", "attendance", "rules", "--network", "care-homes", *options)
        assert refused.code == 1
        assert says in refused.err
    assert spoke("admin", "attendance", "rules", "--network", "nowhere").code == 1
    with store.transaction() as uow:
        assert uow.networks.attendance_rules("care-homes") == AttendanceRules(45, "minutes", 60)
