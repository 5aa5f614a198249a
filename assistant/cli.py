"""`spoke`: the operator's command line. Front-ends (`spoke chat`, later `spoke serve`) plug in
through the `spoke.frontends` entry point, so the core never imports an adapter."""

from __future__ import annotations

import argparse
import csv
import re
import sys
import zoneinfo
from calendar import monthrange
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from assistant import cli_support
from assistant.bootstrap import App, MissingSecret, build_app, migrate
from assistant.cli_after_session import add_commands
from assistant.cli_channels import add_channel_commands
from assistant.cli_library import add_library_commands
from assistant.cli_support import CommandError
from assistant.clock import Clock
from assistant.config import Settings
from assistant.i18n import translate
from assistant.model import CASE_STATES, NETWORK_STATES, RECURRENCES, ROLES, SERIES_STATES, Series, Session
from assistant.ports import Unavailable, UnitOfWork
from assistant.services.context import Refused
from assistant.services.schedule import (
    Actor,
    add_series,
    add_session,
    cancel_session,
    reschedule,
)

if TYPE_CHECKING:
    from assistant.session_import import SessionRow

OPERATOR = Actor("cli", None)  # the operator may do anything


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """`clock` is for tests (the system clock otherwise)."""
    settings = Settings.from_env()
    from assistant.logs import configure

    configure(settings.log_level)
    parser = _parser(settings, clock)
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (CommandError, MissingSecret) as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 1
    except Unavailable:
        print("error: the database cannot be used now (unreachable, full or read-only); "
              "try again later", file=sys.stderr)
        return 1


def _parser(settings: Settings, clock: Clock | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spoke", description="Spoke, the ECHO chat assistant.")
    commands = parser.add_subparsers(title="commands")

    def open_app() -> App:
        return build_app(settings, clock)

    def with_app(command: Callable[[App, argparse.Namespace], int]
                 ) -> Callable[[argparse.Namespace], int]:
        def run(args: argparse.Namespace) -> int:
            app = open_app()
            try:
                return command(app, args)
            finally:
                app.close()  # tests run many commands in one process
        return run

    db = commands.add_parser("db", help="database").add_subparsers(title="db commands")
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.set_defaults(run=lambda _args: migrate(settings.database_url))

    demo = commands.add_parser("demo", help="demo data").add_subparsers(title="demo commands")
    seed = demo.add_parser("seed", help="add the demo networks (idempotent)")
    seed.set_defaults(run=lambda _args: _seed(open_app()))

    admin = commands.add_parser("admin", help="hub administration").add_subparsers(
        title="admin commands")
    network = admin.add_parser("network", help="networks").add_subparsers(title="network commands")
    add = network.add_parser("add", help="add a network")
    add.add_argument("slug")
    add.add_argument("--name", required=True)
    add.add_argument("--professions", default="", help='comma-separated, e.g. "Nurse, GP"')
    add.add_argument("--state", default="open",
                     choices=[s.replace("_", "-") for s in NETWORK_STATES])
    add.add_argument("--consent-version", default="v1")
    add.add_argument("--consent-file-en", type=argparse.FileType("r", encoding="utf-8"))
    add.add_argument("--consent-file-fr", type=argparse.FileType("r", encoding="utf-8"))
    add.set_defaults(run=lambda args: _add_network(open_app(), args))

    grant = admin.add_parser("grant", help="give someone a role in a network")
    grant.add_argument("role", choices=["facilitator", "hub-admin"])
    grant.add_argument("--network", required=True)
    grant.add_argument("--user", required=True, help="identity (console:amira), e-mail or id")
    grant.set_defaults(run=lambda args: _grant(open_app(), args))

    listing = admin.add_parser("list", help="lists").add_subparsers(title="list commands")
    participants = listing.add_parser("participants", help="a network's members")
    participants.add_argument("--network", required=True)
    participants.add_argument("--csv", action="store_true", help="CSV on standard output")
    participants.set_defaults(run=lambda args: _list_participants(open_app(), args))

    _series_commands(admin, with_app)
    _session_commands(admin, with_app)
    _case_commands(admin, with_app)
    add_commands(admin, with_app)  # attendance imports, rules and iECHO exports
    add_channel_commands(admin, with_app)  # where a network's announcements are posted
    add_library_commands(admin, with_app)  # the members' library: add, remove, list

    for frontend in entry_points(group="spoke.frontends"):
        frontend.load()(commands, open_app)
    return parser


def _seed(app: App) -> int:
    from assistant.demo import seed

    added = seed(app.store, app.clock.now())
    print(f"demo data added: {', '.join(added)}" if added else "demo data already there")
    return 0


def _slug_ok(slug: str) -> bool:
    return bool(slug) and len(slug) <= 60 and all(c.isascii() and (c.islower() or c.isdigit() or c == "-")
                                                   for c in slug) and slug[0].isalnum()


def _add_network(app: App, args: argparse.Namespace) -> int:
    if not _slug_ok(args.slug):
        raise CommandError("a network slug uses lower-case letters, digits and dashes")
    professions = [p.strip() for p in args.professions.split(",") if p.strip()]
    from assistant.demo import CONSENT

    consent = dict(CONSENT)
    for language, handle in (("en", args.consent_file_en), ("fr", args.consent_file_fr)):
        if handle is not None:
            consent[language] = handle.read().strip()
    with app.store.transaction() as uow:
        if any(n.slug == args.slug for n in uow.networks.all()):
            raise CommandError(f"network {args.slug!r} already exists")
        uow.networks.add(args.slug.lower(), args.name, professions, args.state.replace("-", "_"),
                         args.consent_version, consent, app.clock.now())
        uow.audit.record(app.clock.now(), "cli", "network.added", f"network:{args.slug}")
    print(f"network {args.slug} added")
    return 0


def _grant(app: App, args: argparse.Namespace) -> int:
    role = args.role.replace("-", "_")
    assert role in ROLES
    with app.store.transaction() as uow:
        if not any(n.slug == args.network for n in uow.networks.all()):
            raise CommandError(f"no network {args.network!r}")
        person = uow.people.find(args.user)
        if person is None:
            raise CommandError(f"no registered person {args.user!r}")
        uow.memberships.join(person.id, args.network, role, "active", app.clock.now())
        uow.audit.record(app.clock.now(), "cli", "role.granted", f"person:{person.id}",
                         {"role": role, "network": args.network})
    print(f"{args.role} granted in {args.network}")
    return 0


def _list_participants(app: App, args: argparse.Namespace) -> int:
    with app.store.transaction() as uow:
        if not any(n.slug == args.network for n in uow.networks.all()):
            raise CommandError(f"no network {args.network!r}")
        rows = uow.memberships.participants(args.network)
    header = ["Name", "Email", "Role", "Status", "Profession", "Organisation", "Region", "Country"]
    table = [[r.full_name, r.email, r.role, r.status, r.profession, r.organisation, r.region,
              r.country] for r in rows]
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(table)
    else:
        for row in table:
            print("  ".join(row[:4]))
        print(f"{len(table)} member(s)")
    return 0


# --- series and sessions ---------------------------------------------------------------------

Command = Callable[[App, argparse.Namespace], int]
Wrap = Callable[[Command], Callable[[argparse.Namespace], int]]
_STARTS = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{1,2}:\d{2})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
# The columns' sizes (storage/tables.py): PostgreSQL refuses longer text with an error.
_LONGEST = {"name": 80, "title": 160, "description": 2000, "join_url": 500, "topic": 200,
            "expert": 200, "agenda": 4000}
_STEP = {"weekly": 7, "fortnightly": 14}
_T = TypeVar("_T")


def _series_commands(admin: argparse._SubParsersAction,  # type: ignore[type-arg]
                     with_app: Wrap) -> None:
    series = admin.add_parser("series", help="series of sessions").add_subparsers(
        title="series commands")
    add = series.add_parser("add", help="add a series, and with --first its sessions")
    add.add_argument("--network", required=True)
    add.add_argument("--name", required=True, help='short handle, e.g. "care-homes-2027"')
    add.add_argument("--title", required=True)
    add.add_argument("--description", default="")
    add.add_argument("--recurrence", default="none", help=" | ".join(RECURRENCES))
    add.add_argument("--time", help="the sessions' usual start, HH:MM wall-clock time in --tz")
    add.add_argument("--tz", default="UTC", help="e.g. Europe/London (default UTC)")
    add.add_argument("--duration", default="60", help="minutes (default 60)")
    add.add_argument("--join-url", default="", help="https:// link to the meeting")
    add.add_argument("--capacity", help="places (default: no limit)")
    add.add_argument("--state", default="open", help=" | ".join(SERIES_STATES))
    add.add_argument("--approval", action="store_true", help="places need a facilitator's yes")
    add.add_argument("--first", help="date of the first session, YYYY-MM-DD: creates --count "
                                     "sessions at --time (monthly: same day of the month, "
                                     "skipping months without that day)")
    add.add_argument("--count", help="how many sessions to create with --first (1-52)")
    _audience_arguments(add)
    add.set_defaults(run=with_app(_add_series))

    for verb, state, told in (("open", "open", "; subscribers are told once"),
                              ("close", "closed", "")):
        change = series.add_parser(verb, help=f"{verb} a series' registration{told}")
        change.add_argument("name", metavar="NAME", help="the series' name")
        change.add_argument("--network", required=True)
        change.set_defaults(run=with_app(_to_state(state)))

    update = series.add_parser("update", help="change a series' state or who it is meant for")
    update.add_argument("name", metavar="NAME", help="the series' name")
    update.add_argument("--network", required=True)
    update.add_argument("--state", choices=[s.replace("_", "-") for s in SERIES_STATES])
    _audience_arguments(update)
    update.set_defaults(run=with_app(_update_series))


def _audience_arguments(parser: argparse.ArgumentParser) -> None:
    from assistant.model import CARE_SETTINGS

    parser.add_argument("--for-professions", metavar="LIST",
                        help='comma-separated, from the network\'s list, e.g. "Registered nurse, '
                             'GP" ("" for everyone)')
    parser.add_argument("--for-settings", metavar="LIST",
                        help=f"comma-separated care settings: {', '.join(CARE_SETTINGS)}")
    parser.add_argument("--others", choices=["note", "approval"],
                        help="people outside the audience: register with a note (default), or "
                             "ask the facilitators' approval")


def _session_commands(admin: argparse._SubParsersAction,  # type: ignore[type-arg]
                      with_app: Wrap) -> None:
    session = admin.add_parser("session", help="sessions").add_subparsers(
        title="session commands")
    add = session.add_parser("add", help="add one session to a series")
    add.add_argument("--network", required=True)
    add.add_argument("--series", required=True, help="the series' name")
    add.add_argument("--starts", required=True, help='"YYYY-MM-DD HH:MM", wall-clock in --tz')
    add.add_argument("--tz", required=True, help="e.g. Europe/London")
    add.add_argument("--duration", required=True, help="minutes")
    add.add_argument("--join-url", default="", help="https:// link, if not the series' own")
    add.add_argument("--topic", default="")
    add.add_argument("--expert", default="")
    add.add_argument("--agenda", default="")
    add.add_argument("--materials", nargs="+", default=[], metavar="URL")
    add.set_defaults(run=with_app(_add_one_session))

    load = session.add_parser("import", help="sessions from a CSV or .ics file")
    load.add_argument("file", metavar="FILE")
    load.add_argument("--network", required=True)
    load.add_argument("--series", help="the series of an .ics file's events (a CSV file names "
                                       "each row's series in its series column)")
    load.add_argument("--tz", help="zone of times given without one (default: the series')")
    load.add_argument("--skip-bad", action="store_true",
                      help="import the good rows even when some are refused")
    load.set_defaults(run=with_app(_import_sessions))

    move = session.add_parser("move", help="move a session; registered people are told")
    move.add_argument("session_id", metavar="SESSION_ID")
    move.add_argument("--starts", required=True, help='"YYYY-MM-DD HH:MM", wall-clock in --tz')
    move.add_argument("--tz", required=True)
    move.set_defaults(run=with_app(_move_session))

    cancel = session.add_parser("cancel", help="cancel a session; registered people are told")
    cancel.add_argument("session_id", metavar="SESSION_ID")
    cancel.set_defaults(run=with_app(_cancel_session))

    listing = session.add_parser("list", help="a network's coming sessions")
    listing.add_argument("--network", required=True)
    listing.set_defaults(run=with_app(_list_sessions))


def _add_series(app: App, args: argparse.Namespace) -> int:
    zone = cli_support.zone(args.tz)
    recurrence = args.recurrence.replace("-", "_")
    default_time = _clock_time(args.time, "--time") if args.time else None
    values: dict[str, Any] = {
        "name": args.name.strip(), "title": args.title.strip(),
        "description": args.description.strip(), "recurrence": recurrence,
        "default_time": f"{default_time:%H:%M}" if default_time else "12:00", "time_zone": zone,
        "duration_minutes": cli_support.whole_number(args.duration, "--duration"),
        "join_url": args.join_url.strip(),
        "capacity": cli_support.whole_number(args.capacity, "--capacity") if args.capacity else None,
        "state": args.state.replace("-", "_"), "requires_approval": args.approval,
        **_audience(args)}
    _check_lengths(values)
    days = _session_days(args, recurrence)
    if days and default_time is None:
        raise CommandError("--first needs --time HH:MM, the sessions' start")
    starts = [_wall_clock(day, default_time, zone) for day in days] if default_time else []
    now = app.clock.now()
    with app.store.transaction() as uow:  # all or nothing: a refused session undoes the series
        series = _accepted(add_series(uow, OPERATOR, args.network, values, now))
        sessions = [_accepted(add_session(uow, OPERATOR, series, moment, series.duration_minutes,
                                          now, {"time_zone": zone}))
                    for moment in starts]
    print(f"series {series.name} added to {series.network} (id {series.id})")
    for made in sessions:
        print(f"session {made.id}: {_when(made.starts_at, zone)}")
    return 0


def _audience(args: argparse.Namespace) -> dict[str, Any]:
    """The audience options given (left out: unchanged, or everyone for a new series)."""
    values: dict[str, Any] = {}
    for option, key in (("for_professions", "audience_professions"),
                        ("for_settings", "audience_settings")):
        text = getattr(args, option)
        if text is not None:
            values[key] = [item.strip() for item in text.split(",") if item.strip()]
    if args.others is not None:
        values["others"] = args.others
    return values


def _to_state(state: str) -> Command:
    def run(app: App, args: argparse.Namespace) -> int:
        return _series_state(app, args, state)
    return run


def _series_state(app: App, args: argparse.Namespace, state: str) -> int:
    from assistant.services.schedule import set_series_state

    now = app.clock.now()
    with app.store.transaction() as uow:
        series = cli_support.series(uow, args.network, args.name)
        waiting = len(uow.series_alerts.waiting(series.id, "opening"))
        changed = _accepted(set_series_state(uow, OPERATOR, series, state, now))
    told = f"; {waiting} waiting subscriber(s) will be told" if state == "open" and waiting else ""
    print(f"series {changed.name} is {changed.state.replace('_', ' ')}{told}")
    return 0


def _update_series(app: App, args: argparse.Namespace) -> int:
    from assistant.services.schedule import set_audience, set_series_state

    audience = _audience(args)
    if args.state is None and not audience:
        raise CommandError("nothing to change: give --state, --for-professions, --for-settings "
                           "or --others")
    now = app.clock.now()
    with app.store.transaction() as uow:  # all or nothing
        series = cli_support.series(uow, args.network, args.name)
        if audience:
            series = _accepted(set_audience(uow, OPERATOR, series, audience, now))
        if args.state is not None:
            series = _accepted(set_series_state(uow, OPERATOR, series,
                                                args.state.replace("-", "_"), now))
    everyone = [*series.audience_professions, *series.audience_settings]
    print(f"series {series.name}: {series.state.replace('_', ' ')}, meant for "
          f"{', '.join(everyone) if everyone else 'everyone'} (others: {series.others})")
    return 0


def _session_days(args: argparse.Namespace, recurrence: str) -> list[date]:
    """The dates --first and --count ask for: weekly +7 days, fortnightly +14, monthly the
    same day of the month (months without that day, a 31st or a 30 February, are skipped)."""
    if args.first is None:
        if args.count is not None:
            raise CommandError("--count needs --first, the date of the first session")
        return []
    first = _date(args.first, "--first")
    count = cli_support.whole_number(args.count, "--count") if args.count is not None else 1
    if not 1 <= count <= 52:
        raise CommandError("--count must be from 1 to 52")
    if recurrence not in RECURRENCES:
        return []  # the service refuses the recurrence itself
    if recurrence == "none" and count > 1:
        raise CommandError("a series without --recurrence has one session: use --count 1")
    if recurrence in _STEP:
        return [first + timedelta(days=_STEP[recurrence] * n) for n in range(count)]
    days: list[date] = []
    year, month = first.year, first.month
    while len(days) < count:
        if first.day <= monthrange(year, month)[1]:  # else no 31st (or 29th...) this month
            days.append(date(year, month, first.day))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return days


def _add_one_session(app: App, args: argparse.Namespace) -> int:
    zone = cli_support.zone(args.tz)
    starts_at = _starts(args.starts, zone)
    minutes = cli_support.whole_number(args.duration, "--duration")
    details: dict[str, Any] = {
        "time_zone": zone, "join_url": args.join_url.strip(), "topic": args.topic.strip(),
        "expert": args.expert.strip(), "agenda": args.agenda.strip(),
        "materials": [link.strip() for link in args.materials]}
    _check_lengths(details)
    for link in details["materials"]:
        if not link.startswith("https://"):
            raise CommandError(f"{translate('schedule.bad_url', 'en')} ({link})")
    now = app.clock.now()
    with app.store.transaction() as uow:
        series = cli_support.series(uow, args.network, args.series)
        made = _accepted(add_session(uow, OPERATOR, series, starts_at, minutes, now, details))
    print(f"session {made.id} added to {series.name}: {_when(made.starts_at, zone)}")
    return 0


def _move_session(app: App, args: argparse.Namespace) -> int:
    zone = cli_support.zone(args.tz)
    starts_at = _starts(args.starts, zone)
    now = app.clock.now()
    with app.store.transaction() as uow:
        session = cli_support.session(uow, args.session_id)
        minutes = int((session.ends_at - session.starts_at) / timedelta(minutes=1))
        moved = _accepted(reschedule(uow, OPERATOR, session, starts_at, minutes, now))
    print(f"session {moved.id} moved to {_when(moved.starts_at, zone)}; "
          "everyone registered is being told")
    return 0


def _cancel_session(app: App, args: argparse.Namespace) -> int:
    now = app.clock.now()
    with app.store.transaction() as uow:
        session = cli_support.session(uow, args.session_id)
        _accepted(cancel_session(uow, OPERATOR, session, now))
    print(f"session {session.id} cancelled; everyone registered is being told")
    return 0


def _list_sessions(app: App, args: argparse.Namespace) -> int:
    now = app.clock.now()
    with app.store.transaction() as uow:
        cli_support.network(uow, args.network)
        rows: list[tuple[Session, Series, int]] = []
        for series in uow.schedule.series_of([args.network]):
            registered = uow.enrolments.count(series.id, ("registered",))
            rows.extend((session, series, registered)
                        for session in uow.schedule.sessions_of(series.id)
                        if session.ends_at > now)
    rows.sort(key=lambda row: (row[0].starts_at, row[0].id))
    for session, series, registered in rows:
        local = session.starts_at.astimezone(zoneinfo.ZoneInfo(series.time_zone))
        print(f"{session.id}  {series.name}  {local:%Y-%m-%d %H:%M} {series.time_zone}  "
              f"{session.state}  {registered} registered")
    print(f"{len(rows)} coming session(s)")
    return 0


# --- case presentations ----------------------------------------------------------------------

def _case_commands(admin: argparse._SubParsersAction,  # type: ignore[type-arg]
                   with_app: Wrap) -> None:
    from assistant.case_export import FORMATS

    case = admin.add_parser("case", help="case presentations").add_subparsers(
        title="case commands")
    export = case.add_parser("export", help="a case as a file: the de-identified part to share "
                                            "on screen, or the full record for the hub")
    export.add_argument("case_id", metavar="CASE_ID")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--part", default="deidentified", choices=["deidentified", "full"])
    export.add_argument("--output", metavar="FILE",
                        help="default: case-<reference or id>-<part>.<format> here")
    export.add_argument("--lang", default="en", choices=["en", "fr"])
    export.add_argument("--tz", default="UTC", help="zone of the session time in the full "
                                                    "record (default UTC)")
    export.add_argument("--force", action="store_true", help="replace an existing file")
    export.set_defaults(run=with_app(_export_case))

    listing = case.add_parser("list", help="a network's cases: numbers and states, no case text")
    listing.add_argument("--network", required=True)
    listing.add_argument("--state", choices=[s for s in CASE_STATES if s != "draft"])
    listing.set_defaults(run=with_app(_list_cases))


def _export_case(app: App, args: argparse.Namespace) -> int:
    """The operator may export any case; the export is audited, never its content."""
    from assistant.case_export import export_bytes, export_name
    from assistant.events import Actor as Speaker
    from assistant.events import Hints
    from assistant.i18n import Translator
    from assistant.runtime import Directory
    from assistant.services.cases import _network_name, _session_when
    from assistant.services.context import ServiceContext

    number = cli_support.whole_number(args.case_id, "CASE_ID")
    zone = cli_support.zone(args.tz)
    t = Translator(args.lang)
    now = app.clock.now()
    with app.store.transaction() as uow:
        record = uow.cases.get(number)
        if record is None:
            raise CommandError(f"there is no case {number}")
        case = record.case
        ctx = ServiceContext(uow=uow, actor=Speaker("cli"), now=now, t=t,
                             hints=Hints(time_zone=zone),
                             directory=Directory(networks=uow.networks.all), person=None,
                             address={})
        full = args.part == "full"
        content = export_bytes(
            case, args.format, args.part, t,
            presenter=uow.people.get(case.author_id) if full else None,
            session_when=_session_when(ctx, case, zone, t) if full else "",
            network_name=_network_name(ctx, case.network))
        path = Path(args.output or export_name(case, args.part, args.format))
        try:
            with open(path, "wb" if args.force else "xb") as handle:
                handle.write(content)
        except FileExistsError:
            raise CommandError(f"{path} already exists: --force replaces it") from None
        except OSError as error:
            raise CommandError(f"cannot write {path}: {error.strerror}") from None
        uow.audit.record(now, "cli", "case.exported", f"case:{case.id}",
                         {"part": args.part, "format": args.format})
    print(f"case {case.id} ({args.part}) written to {path}")
    return 0


def _list_cases(app: App, args: argparse.Namespace) -> int:
    """Numbers, references, states and dates only: case text stays out of terminals and logs."""
    states = [args.state] if args.state else [s for s in CASE_STATES if s != "draft"]
    with app.store.transaction() as uow:
        cli_support.network(uow, args.network)
        records = uow.cases.for_networks([args.network], states)
    for record in records:
        case = record.case
        submitted = f"{case.submitted_at:%Y-%m-%d}" if case.submitted_at else "-"
        print(f"{case.id}  {case.reference or '-'}  {case.state}  {submitted}")
    print(f"{len(records)} case(s)")
    return 0


# --- importing -------------------------------------------------------------------------------

def _import_sessions(app: App, args: argparse.Namespace) -> int:
    try:
        with open(args.file, "rb") as handle:
            content = handle.read()
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror}") from None
    calendar = _is_calendar(content, args.file)
    if calendar and not args.series:
        raise CommandError("an .ics file's events need a series: say which with --series")
    if not calendar and args.series:
        raise CommandError("a CSV file names each row's series in its series column; "
                           "--series is for .ics files")
    zone = cli_support.zone(args.tz) if args.tz else None
    now = app.clock.now()

    def where(line: int) -> str:
        if line == 0:
            return f"{args.file}:"
        return f"{args.file}: event {line}:" if calendar else f"{args.file}:{line}:"

    with app.store.transaction() as uow:  # all the sessions, or (refused) none of them
        cli_support.network(uow, args.network)
        fixed = cli_support.series(uow, args.network, args.series) if args.series else None
        rows, problems = _read_rows(uow, content, args.file, args.network, zone, fixed)
        existing = _uids(uow) if any(row.uid for row, _ in rows) else set()
        imported: list[Session] = []
        skipped: list[tuple[int, str]] = []
        for row, series in rows:
            if row.uid and row.uid in existing:
                skipped.append((row.line, f"already imported (UID {row.uid})"))
                continue
            made = add_session(uow, OPERATOR, series, row.starts_at,
                               int((row.ends_at - row.starts_at) / timedelta(minutes=1)), now,
                               {"time_zone": row.time_zone, "topic": row.topic,
                                "expert": row.expert, "agenda": row.agenda,
                                "materials": list(row.materials), "join_url": row.join_url,
                                "uid": row.uid})
            if isinstance(made, Refused):
                problems.append((row.line, _english(made)))
                continue
            imported.append(made)
            existing.add(made.uid)  # the same UID twice in one file: the second is skipped
        for line, message in sorted(problems, key=lambda problem: problem[0]):
            print(f"{where(line)} {message}", file=sys.stderr)
        for line, message in skipped:
            print(f"{where(line)} {message}")
        if problems and not (args.skip_bad and imported):
            raise CommandError(f"{len(problems)} problem(s) in {args.file}: nothing imported"
                               + ("" if args.skip_bad else " (--skip-bad imports the good rows)"))
    print(f"{len(imported)} session(s) imported"
          + (f", {len(skipped)} already there" if skipped else "")
          + (f", {len(problems)} refused" if problems else ""))
    return 0


def _read_rows(uow: UnitOfWork, content: bytes, filename: str, network: str, zone: str | None,
               fixed: Series | None) -> tuple[list[tuple[SessionRow, Series]], list[tuple[int, str]]]:
    """The file's sessions, each read in its series' zone and length unless --tz or the row
    says otherwise, with the problems by line."""
    from assistant.session_import import read_sessions

    def read(zone: str, minutes: int) -> tuple[dict[int, SessionRow], list[tuple[int, str]]]:
        result = read_sessions(content, filename, default_zone=zone, default_duration=minutes)
        return ({row.line: row for row in result.rows},
                [(error.line, translate(error.message, "en", **error.args))
                 for error in result.errors])

    if fixed is not None:
        rows, problems = read(zone or fixed.time_zone, fixed.duration_minutes)
        return [(row, fixed) for row in rows.values()], problems
    # A first reading finds each row's series. UTC has no clock changes, so what it refuses
    # is refused in any zone.
    first, problems = read(zone or "UTC", 60)
    named: dict[str, Series | None] = {}
    readings: dict[tuple[str, int], tuple[dict[int, SessionRow], list[tuple[int, str]]]] = {}
    found: list[tuple[SessionRow, Series]] = []
    for line, row in first.items():
        if row.series.casefold() not in named:
            named[row.series.casefold()] = uow.schedule.series_named(network, row.series)
        series = named[row.series.casefold()]
        if series is None:
            problems.append((line, f'there is no series "{row.series}" in {network}'))
            continue
        defaults = (zone or series.time_zone, series.duration_minutes)
        if defaults not in readings:
            readings[defaults] = read(*defaults)
        again, refused = readings[defaults]
        if line in again:
            found.append((again[line], series))
        else:
            problems.extend(problem for problem in refused if problem[0] == line)
    return found, problems


def _is_calendar(content: bytes, filename: str) -> bool:
    """As `read_sessions` tells an .ics file from a CSV one."""
    start = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].upper()
    return filename.lower().endswith(".ics") or start == b"BEGIN:VCALENDAR"


def _uids(uow: UnitOfWork) -> set[str]:
    """Every session's UID, in any network: they are unique across the hub."""
    everything = uow.schedule.series_of([n.slug for n in uow.networks.all()])
    return {session.uid for series in everything for session in uow.schedule.sessions_of(series.id)}


# --- shared by the schedule commands ---------------------------------------------------------

def _accepted(result: _T | Refused) -> _T:
    if isinstance(result, Refused):
        raise CommandError(_english(result))
    return result


def _english(refusal: Refused) -> str:
    return translate(refusal.message, "en", **(refusal.args or {}))












def _date(text: str, option: str) -> date:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass  # 2027-02-30
    raise CommandError(f"{option} takes a date written YYYY-MM-DD, not {text!r}")


def _clock_time(text: str, option: str) -> time:
    match = _CLOCK.fullmatch(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise CommandError(f"{option} takes a time written HH:MM, not {text!r}")
    return time(int(match[1]), int(match[2]))


def _starts(text: str, zone: str) -> datetime:
    """`--starts "2027-03-18 12:30"`, strictly: no guessing at other spellings."""
    match = _STARTS.fullmatch(text.strip())
    if match is None:
        raise CommandError(f'--starts takes "YYYY-MM-DD HH:MM", not {text!r}')
    return _wall_clock(_date(match[1], "--starts"), _clock_time(match[2], "--starts"), zone)


def _wall_clock(day: date, at: time, zone_name: str) -> datetime:
    """The UTC moment of a wall-clock time; refused when the clocks skip it or pass it twice
    that day, rather than guessed an hour out."""
    zone = zoneinfo.ZoneInfo(zone_name)
    local = datetime.combine(day, at, tzinfo=zone)
    shown = f"{day.isoformat()} {at:%H:%M}"
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise CommandError(translate("import.nonexistent_time", "en", value=shown, zone=zone_name))
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        raise CommandError(translate("import.ambiguous_time", "en", value=shown, zone=zone_name))
    return local.astimezone(UTC)


def _when(moment: datetime, zone: str) -> str:
    """"2027-01-14 12:00 America/Toronto (2027-01-14 17:00 UTC)"."""
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {zone} ({moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


def _check_lengths(values: dict[str, Any]) -> None:
    for name, longest in _LONGEST.items():
        if len(str(values.get(name, ""))) > longest:
            raise CommandError(f"--{name.replace('_', '-')} is too long "
                               f"(at most {longest} characters)")


if __name__ == "__main__":
    sys.exit(main())
