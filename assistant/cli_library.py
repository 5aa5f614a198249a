"""`spoke admin library add|remove|list`: the hub corrects what the members' library shows
for a past session (a recording that arrived late, slides with the wrong link).

CommandErrors print as `error: ...` with exit status 1, as in assistant/cli.py. Like
cli_after_session.py, this module does not import cli.py: under `python -m assistant.cli` it
would load a second copy whose errors the running `main` does not catch.
"""

from __future__ import annotations

import argparse
import zoneinfo

from assistant import cli_support
from assistant.bootstrap import App
from assistant.cli_support import CommandError, Wrap
from assistant.i18n import translate
from assistant.model import LIBRARY_KINDS, Series, Session
from assistant.services.context import Refused
from assistant.services.library import store_item

OPERATOR = "cli"


def add_library_commands(admin: argparse._SubParsersAction,  # type: ignore[type-arg]
                         with_app: Wrap) -> None:
    library = admin.add_parser("library", help="the members' library of past sessions"
                               ).add_subparsers(title="library commands")
    add = library.add_parser("add", help="add a link to a session's library entry")
    add.add_argument("--session", required=True, metavar="ID")
    add.add_argument("--kind", required=True, choices=LIBRARY_KINDS)
    add.add_argument("--url", required=True, help="an https:// (or http://) link")
    add.add_argument("--title", default="", help="a short title members will read")
    add.set_defaults(run=with_app(_add))

    remove = library.add_parser("remove", help="take a link out of the library")
    remove.add_argument("item_id", metavar="ITEM_ID")
    remove.set_defaults(run=with_app(_remove))

    listing = library.add_parser("list", help="a network's past sessions and their links")
    listing.add_argument("--network", required=True)
    listing.set_defaults(run=with_app(_list))


def _add(app: App, args: argparse.Namespace) -> int:
    from assistant.identifiers import find_identifiers

    # Every member reads the title; in chat the checker asks, here it refuses.
    found = find_identifiers(args.title) if args.title else []
    if found:
        kinds = ", ".join(sorted({f.kind for f in found}))
        raise CommandError(f"the title looks like it holds something that could identify a person "
                       f"({kinds}): please leave it out")
    now = app.clock.now()
    with app.store.transaction() as uow:
        session = cli_support.session(uow, args.session)
        series = uow.schedule.series(session.series_id)
        assert series is not None  # a session always belongs to a series
        item = store_item(uow, OPERATOR, session, args.kind, args.url, args.title, now)
        if isinstance(item, Refused):
            raise CommandError(translate(item.message, "en", **(item.args or {})))
    print(f"added item {item.id} ({item.kind}) to session {session.id}: {_describe(session, series)}")
    if session.ends_at > now:
        print("members will see it in the library once the session has ended")
    return 0


def _remove(app: App, args: argparse.Namespace) -> int:
    number = cli_support.whole_number(args.item_id, "ITEM_ID")
    now = app.clock.now()
    with app.store.transaction() as uow:
        item = uow.library.get(number)
        if item is None or not uow.library.remove(number, now):
            raise CommandError(f"there is no library item {number} (or it was removed already)")
        uow.audit.record(now, OPERATOR, "library.item_removed", f"session:{item.session_id}",
                         {"item": item.id, "kind": item.kind})
    print(f"removed item {item.id} ({item.kind}) from session {item.session_id}")
    return 0


def _list(app: App, args: argparse.Namespace) -> int:
    now = app.clock.now()
    with app.store.transaction() as uow:
        if not any(n.slug == args.network for n in uow.networks.all()):
            raise CommandError(f"there is no network {args.network!r}")
        rows = [(session, series) for series in uow.schedule.series_of([args.network])
                for session in uow.schedule.sessions_of(series.id) if session.state != "cancelled"]
        items = uow.library.of_sessions([session.id for session, _ in rows])
        with_items = {item.session_id for item in items}
        rows = [row for row in rows if row[0].ends_at <= now or row[0].id in with_items]
        rows.sort(key=lambda row: (row[0].starts_at, row[0].id), reverse=True)
        notes = {session.id: uow.follow_ups.of_session(session.id) for session, _ in rows}
    for session, series in rows:
        later = "  (not held yet)" if session.ends_at > now else ""
        print(f"session {session.id}  {_describe(session, series)}{later}")
        for item in (i for i in items if i.session_id == session.id):
            title = f'  "{item.title}"' if item.title else ""
            print(f"  item {item.id}  {item.kind}  {item.url}{title}")
        for note in notes[session.id]:
            if note.content.get("recording"):
                print(f"  follow-up {note.id}  recording  {note.content['recording']}")
            for link in note.content.get("resources") or []:
                print(f"  follow-up {note.id}  resource  {link}")
    print(f"{len(rows)} session(s), {len(items)} item(s) added by the team "
          "(follow-up links are changed by a new follow-up)")
    return 0


def _describe(session: Session, series: Series) -> str:
    local = session.starts_at.astimezone(zoneinfo.ZoneInfo(series.time_zone))
    topic = f"  {session.topic}" if session.topic else ""
    return f"{local:%Y-%m-%d %H:%M} {series.time_zone}  {series.name}{topic}"
