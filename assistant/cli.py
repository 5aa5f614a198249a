"""`spoke`: the operator's command line. Front-ends (`spoke chat`, later `spoke serve`) plug in
through the `spoke.frontends` entry point, so the core never imports an adapter."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from assistant.bootstrap import App, build_app, migrate
from assistant.config import Settings
from assistant.model import NETWORK_STATES, ROLES


class CommandError(Exception):
    """A refusal to print as `error: ...` with exit status 1."""


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings.from_env()
    from assistant.logs import configure

    configure(settings.log_level)
    parser = _parser(settings)
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except CommandError as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 1


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spoke", description="Spoke, the ECHO chat assistant.")
    commands = parser.add_subparsers(title="commands")

    def open_app() -> App:
        return build_app(settings)

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

    for frontend in entry_points(group="spoke.frontends"):
        frontend.load()(commands, open_app)
    return parser


def _seed(app: App) -> int:
    from assistant.demo import seed

    added = seed(app.store, app.clock.now())
    print(f"demo networks added: {', '.join(added)}" if added else "demo networks already there")
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


if __name__ == "__main__":
    sys.exit(main())
