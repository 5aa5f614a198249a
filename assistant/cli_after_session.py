"""`spoke admin attendance ...` and `spoke admin export ...`: attendance from Zoom and Teams
reports, the network's attendance rules, and CSV exports for iECHO.

CommandErrors print as `error: ...` with exit status 1, as in assistant/cli.py. This module does
not import that one: under `python -m assistant.cli` it would load a second copy whose
CommandError the running `main` does not catch.
"""

from __future__ import annotations

import argparse
import os
import sys
import zoneinfo
from pathlib import Path

from assistant import cli_support
from assistant.bootstrap import App
from assistant.cli_support import CommandError, Wrap
from assistant.model import AttendanceRules, Session

OPERATOR = "cli"
LARGEST_REPORT = 20 * 1024 * 1024  # a 1,000-person meeting's report is well under 1 MB
_MOST_MINUTES = 480  # as long as a session may be
_WHY_UNMATCHED = {"unknown": "nobody registered has this e-mail, and no member this name",
                  "ambiguous": "more than one member has this name",
                  "outside": "joined and left outside the session's time"}


def add_commands(admin: argparse._SubParsersAction,  # type: ignore[type-arg]
                 with_app: Wrap) -> None:
    attendance = admin.add_parser("attendance", help="attendance at sessions").add_subparsers(
        title="attendance commands")
    load = attendance.add_parser(
        "import", help="attendance from a Zoom participants report or a Teams attendance report "
                       "(people are matched by e-mail, then name; nobody is created)")
    load.add_argument("session_id", metavar="SESSION")
    load.add_argument("file", metavar="FILE")
    load.add_argument("--zone", help="zone of the report's times (default: the session's)")
    load.add_argument("--dry-run", action="store_true", help="show what would happen; write nothing")
    load.add_argument("--skip-bad", action="store_true",
                      help="import the readable rows even when some are not")
    load.set_defaults(run=with_app(_import_attendance))

    rules = attendance.add_parser("rules", help="when a session counts as attended; without "
                                                "options, show the network's rules")
    rules.add_argument("--network", required=True)
    rules.add_argument("--threshold", help="share of the session (percent) or minutes")
    rules.add_argument("--unit", choices=["percent", "minutes"])
    rules.add_argument("--certificate", metavar="PCT",
                       help="share of a series' held sessions that earns a certificate")
    rules.set_defaults(run=with_app(_attendance_rules))

    from assistant.exports import KINDS

    export = admin.add_parser("export", help="CSV for iECHO (UTF-8, opens in Excel)")
    export.add_argument("kind", choices=KINDS)
    export.add_argument("--network", required=True)
    export.add_argument("--series", help="one series (its name), not the whole network")
    export.add_argument("--pseudonymised", action="store_true",
                        help="a Participant ID instead of names and e-mails")
    export.add_argument("--out", required=True, metavar="FILE.csv")
    export.add_argument("--force", action="store_true", help="replace an existing file")
    export.set_defaults(run=with_app(_export))


# --- attendance ------------------------------------------------------------------------------

def _import_attendance(app: App, args: argparse.Namespace) -> int:
    from assistant.attendance_reports import read_report
    from assistant.services.attendance_import import NotImportable, import_attendance

    content = _read(args.file)
    name = Path(args.file).name
    now = app.clock.now()
    with app.store.transaction() as uow:  # every row, or (refused) none
        session = cli_support.session(uow, args.session_id)
        zone = cli_support.zone(args.zone) if args.zone else session.time_zone
        report = read_report(content, zone)
        for line, reason in report.errors:
            print(f"{args.file}:{line}: {reason}" if line else f"{args.file}: {reason}",
                  file=sys.stderr)
        if not report.attendees:
            raise CommandError(f"nothing to import from {args.file}")
        if report.errors and not args.skip_bad:
            raise CommandError(f"{len(report.errors)} problem(s) in {args.file}: nothing imported "
                           "(--skip-bad imports the readable rows)")
        try:
            result = import_attendance(uow, session, report, f"import:{name}", now,
                                       dry_run=args.dry_run, actor=OPERATOR)
        except NotImportable as refusal:
            raise CommandError(str(refusal)) from None
        if not (result.matched or result.kept or any(u.reason != "outside"
                                                     for u in result.unmatched)):
            raise CommandError(f"nobody in {args.file} was there during session {session.id} "
                           f"({_local(session, zone)}): is it the right session, and the "
                           "report's zone (--zone)?")
    by_name = sum(1 for m in result.matched if m.by == "name")
    print(f"{result.source} report for session {session.id} ({_local(session, zone)})")
    print(f"matched {len(result.matched)}" + (f" ({by_name} by name)" if by_name else ""))
    print(f"unmatched {len(result.unmatched)}"
          + (": match them by hand" if result.unmatched else ""))
    for row in result.unmatched:
        email = f" <{row.email}>" if row.email else ""
        print(f"  {_lines(row.lines)}: {row.name}{email}, {row.minutes} min: "
              f"{_WHY_UNMATCHED[row.reason]}")
    print(f"kept adjustments {len(result.kept)}"
          + (" (a facilitator's correction stands)" if result.kept else ""))
    print(f"errors {len(result.errors)}"
          + (f" (skipped: {_lines([line for line, _ in result.errors])})" if result.errors else ""))
    if result.dry_run:
        print("dry run: nothing was written")
    return 0


def _attendance_rules(app: App, args: argparse.Namespace) -> int:
    with app.store.transaction() as uow:
        cli_support.network(uow, args.network)
        rules = uow.networks.attendance_rules(args.network)
        if args.threshold is not None or args.unit or args.certificate is not None:
            rules = AttendanceRules(
                threshold=(cli_support.whole_number(args.threshold, "--threshold")
                           if args.threshold is not None else rules.threshold),
                unit=args.unit or rules.unit,
                certificate_share=(cli_support.whole_number(args.certificate, "--certificate")
                                   if args.certificate is not None else rules.certificate_share))
            _check(rules)
            uow.networks.set_attendance_rules(args.network, rules)
            uow.audit.record(app.clock.now(), OPERATOR, "attendance.rules_changed",
                             f"network:{args.network}",
                             {"threshold": rules.threshold, "unit": rules.unit,
                              "certificate_share": rules.certificate_share})
    counts = (f"{rules.threshold}% of its minutes" if rules.unit == "percent"
              else f"{rules.threshold} minutes")
    print(f"{args.network}: a session counts as attended from {counts}; a certificate takes "
          f"{rules.certificate_share}% of a series' held sessions")
    return 0


def _check(rules: AttendanceRules) -> None:
    if rules.unit == "percent" and not 1 <= rules.threshold <= 100:
        raise CommandError("a threshold in percent is between 1 and 100")
    if rules.unit == "minutes" and not 1 <= rules.threshold <= _MOST_MINUTES:
        raise CommandError(f"a threshold in minutes is between 1 and {_MOST_MINUTES}")
    if not 1 <= rules.certificate_share <= 100:
        raise CommandError("--certificate is a percentage between 1 and 100")


# --- exports ---------------------------------------------------------------------------------

def _export(app: App, args: argparse.Namespace) -> int:
    from assistant import exports

    path = Path(args.out)
    now = app.clock.now()
    with app.store.transaction() as uow:
        cli_support.network(uow, args.network)
        series = cli_support.series(uow, args.network, args.series) if args.series else None
        if args.kind == "evaluations":  # anonymous whatever the option says
            made = exports.evaluations(uow, args.network, series)
        elif args.kind == "participants":
            made = exports.participants(uow, args.network, series, _key(app), args.pseudonymised)
        else:
            made = exports.attendance(uow, args.network, series, now, _key(app),
                                      args.pseudonymised)
        _write(path, made.csv_bytes(), args.force)
        uow.audit.record(now, OPERATOR, "export.written", f"network:{args.network}", {
            "kind": args.kind, "series": series.name if series else None,
            "pseudonymised": bool(args.pseudonymised), "rows": len(made.rows)})
    print(f"{len(made.rows)} row(s) written to {path}")
    return 0


def _key(app: App) -> bytes:
    """From the server's secret, as the sealer gets it (SPOKE_SECRET_KEY, else the key file
    beside an embedded SQLite database)."""
    from assistant.bootstrap import server_secret
    from assistant.exports import participant_key

    return participant_key(server_secret(app.settings))


def _write(path: Path, content: bytes, force: bool) -> None:
    """Readable by its owner only: the file holds personal data."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CommandError(f"{path} already exists: --force replaces it") from None
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


# --- shared ----------------------------------------------------------------------------------

def _read(filename: str) -> bytes:
    try:
        if os.path.getsize(filename) > LARGEST_REPORT:
            raise CommandError(f"{filename} is too large for an attendance report")
        with open(filename, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise CommandError(f"cannot read {filename}: {error.strerror}") from None












def _local(session: Session, zone: str) -> str:
    return f"{session.starts_at.astimezone(zoneinfo.ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"


def _lines(lines: list[int] | tuple[int, ...]) -> str:
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(str(n) for n in lines)
