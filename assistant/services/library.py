"""The members' library: a network's past sessions with their recordings, slides and
resources, newest first, for the network's active members only.

Every call checks membership again on the server: buttons name a session or a series by
number and anyone can forge one (refusals are audited). "More" carries the last session
shown, so a listing pages on without state; only a word search keeps something between
turns, because a button carries one number and no words: the words wait in the reader's
own paused conversation state (sealed at rest, gone with "delete my data").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from assistant.messages import Card, Fact, Option, Part, Text
from assistant.model import LIBRARY_KINDS, FollowUp, LibraryItem, Series, Session
from assistant.ports import UnitOfWork
from assistant.runtime import DialogState
from assistant.runtime.words import fold
from assistant.services.context import Refused, ServiceContext
from assistant.services.sessions import team_networks

PAGE = 5
CHOICES = 10  # sessions offered when the team adds a link in chat
LINK_LIMIT, TITLE_LIMIT, WORDS_LIMIT, SUMMARY_SHOWN, LABEL_SHOWN = 500, 200, 8, 160, 60
SEARCH_STATE = "library_search"  # never active: it only holds the last search's words
Row = tuple[Session, Series]


@dataclass(frozen=True)
class Scope:
    """What one listing covers; `more` is the button that continues it."""

    networks: tuple[str, ...]
    heading: Text
    more: str
    series_id: int | None = None
    words: tuple[str, ...] = ()


# --- who may read ------------------------------------------------------------------------------


def member_networks(ctx: ServiceContext) -> list[str]:
    """The networks whose library the reader may open: active memberships only."""
    if ctx.person is None:
        return []
    return sorted({m.network for m in ctx.uow.memberships.of(ctx.person.id) if m.status == "active"})


def not_a_member(ctx: ServiceContext) -> list[Part]:
    """Why the library stays closed, and the way in."""
    names = {n.slug: n.name for n in ctx.directory.networks}
    joinable = ctx.t.list([n.name for n in ctx.directory.networks if n.state != "closed"])
    if ctx.person is None:
        return [Text(ctx.t("library.newcomer", networks=joinable))]
    waiting = [names.get(m.network, m.network) for m in ctx.uow.memberships.of(ctx.person.id)
               if m.status in ("waitlisted", "interested")]
    if waiting:
        return [Text(ctx.t("library.waiting", networks=ctx.t.list(waiting)))]
    return [Text(ctx.t("library.not_member", networks=joinable))]


def _refuse(ctx: ServiceContext, subject: str, action: str,
            message: str = "library.not_yours") -> Refused:
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused", subject,
                         {"reason": message, "action": action})
    return Refused(message)


def _session_of(ctx: ServiceContext, session_id: int) -> Row | None:
    session = ctx.uow.schedule.session(session_id)
    series = ctx.uow.schedule.series(session.series_id) if session else None
    return (session, series) if session is not None and series is not None else None


def _name(ctx: ServiceContext, slug: str) -> str:
    network = ctx.directory.network(slug)
    return network.name if network else slug


# --- reading -----------------------------------------------------------------------------------


def show_network(ctx: ServiceContext, network: str, after: Session | None = None) -> list[Part] | Refused:
    if network not in member_networks(ctx):
        return _refuse(ctx, f"network:{network}", "library")
    heading = Text(ctx.t("library.heading.network", network=_name(ctx, network)))
    return _listing(ctx, Scope((network,), heading, "library_more"), after)


def show_series(ctx: ServiceContext, series_id: int, after: Session | None = None) -> list[Part] | Refused:
    series = ctx.uow.schedule.series(series_id)
    if series is None or series.network not in member_networks(ctx):
        return _refuse(ctx, f"series:{series_id}", "library_series")
    heading = Text(ctx.t("library.heading.series", series=series.title,
                         network=_name(ctx, series.network)))
    return _listing(ctx, Scope((series.network,), heading, "library_series_more", series.id), after)


def whole_library(ctx: ServiceContext, series_id: int) -> list[Part] | Refused:
    """"All sessions" under a series' listing: back to its network's whole library."""
    series = ctx.uow.schedule.series(series_id)
    if series is None or series.network not in member_networks(ctx):
        return _refuse(ctx, f"series:{series_id}", "library_all")
    return show_network(ctx, series.network)


def series_named(ctx: ServiceContext, text: str) -> Series | None:
    """"library spring": a series of the reader's networks called so (name or title)."""
    wanted = fold(text)
    return next((s for s in ctx.uow.schedule.series_of(member_networks(ctx))
                 if wanted in (fold(s.name), fold(s.title))), None)


def search(ctx: ServiceContext, text: str) -> list[Part] | Refused:
    """Sessions where every word appears (any case, any accents) in the topic, the expert,
    the series' title or a follow-up's summary, across the reader's networks."""
    words = tuple(dict.fromkeys(fold(w) for w in text.split() if fold(w)))[:WORDS_LIMIT]
    networks = member_networks(ctx)
    if not networks:
        return not_a_member(ctx)
    if not words:  # only punctuation: nothing to look for
        return Refused("library.empty.search")
    heading = Text(ctx.t("library.heading.search", words=" ".join(words)))
    return _listing(ctx, Scope(tuple(networks), heading, "library_search_more", words=words), None)


def more(ctx: ServiceContext, session_id: int, action: str) -> list[Part] | Refused:
    """The next page after session `session_id`, for the kind of listing `action` names."""
    found = _session_of(ctx, session_id)
    networks = member_networks(ctx)
    if found is None or found[1].network not in networks:
        return _refuse(ctx, f"session:{session_id}", action)
    session, series = found
    if action == "library_series_more":
        return show_series(ctx, series.id, after=session)
    if action == "library_more":
        return show_network(ctx, series.network, after=session)
    saved = ctx.uow.conversations.load(ctx.actor.identity, SEARCH_STATE)
    if saved is None or saved.answers.get("last") != session.id:
        return Refused("library.search.stale")  # a newer search replaced this one
    words = tuple(str(w) for w in saved.answers.get("words") or ())
    heading = Text(ctx.t("library.heading.search", words=" ".join(words)))
    return _listing(ctx, Scope(tuple(networks), heading, action, words=words), session)


def _past(ctx: ServiceContext, scope: Scope) -> list[Row]:
    every = ctx.uow.schedule.series_of(list(scope.networks))
    chosen = [s for s in every if scope.series_id in (None, s.id)]
    rows = [(session, one) for one in chosen for session in ctx.uow.schedule.sessions_of(one.id)
            if session.state != "cancelled" and session.ends_at <= ctx.now]
    rows.sort(key=lambda row: (row[0].starts_at, row[0].id), reverse=True)
    return rows


def _listing(ctx: ServiceContext, scope: Scope, after: Session | None) -> list[Part]:
    rows = _past(ctx, scope)
    if after is not None:
        rows = [r for r in rows if (r[0].starts_at, r[0].id) < (after.starts_at, after.id)]
    follow_ups: dict[int, list[FollowUp]] = {}

    def notes(session: Session) -> list[FollowUp]:
        if session.id not in follow_ups:  # one scheduled for later is not out yet
            follow_ups[session.id] = [f for f in ctx.uow.follow_ups.of_session(session.id)
                                      if f.send_at <= ctx.now]
        return follow_ups[session.id]

    page: list[Row] = []
    for session, series in rows:
        if scope.words:
            text = fold(" ".join([session.topic, session.expert, series.title,
                                  *(str(f.content.get("summary") or "") for f in notes(session))]))
            if not all(word in text for word in scope.words):
                continue
        page.append((session, series))
        if len(page) > PAGE:
            break
    has_more, page = len(page) > PAGE, page[:PAGE]
    if scope.words:
        _remember(ctx, scope.words, page[-1][0].id if has_more else None)
    items = ctx.uow.library.of_sessions([s.id for s, _ in page])
    team = team_networks(ctx)
    parts: list[Part] = [scope.heading]
    shown = {network: [0, 0] for network in scope.networks}  # sessions, recordings
    for session, series in page:
        mine = [i for i in items if i.session_id == session.id]
        card, recordings = _card(ctx, session, series, notes(session), mine,
                                 len(scope.networks) > 1, series.network in team)
        parts.append(card)
        shown[series.network][0] += 1
        shown[series.network][1] += recordings
    for network, (count, recordings) in shown.items():
        ctx.uow.audit.record(ctx.now, ctx.actor.identity, "library.viewed", f"network:{network}",
                             {"items": count, "recordings": recordings > 0,
                              "search": bool(scope.words), "page": after is not None})
    if not page:
        key = "library.no_more" if after else "library.empty.search" if scope.words else "library.empty"
        parts.append(Text(ctx.t(key)))
    if has_more:
        parts.append(Card(ctx.t("library.more.title"),
                          actions=(Option(ctx.t("library.more"), f"act:{scope.more}:{page[-1][0].id}"),)))
    if after is None and not scope.words:
        parts += _filters(ctx, scope, rows)
    return parts


def _card(ctx: ServiceContext, session: Session, series: Series, notes: Sequence[FollowUp],
          items: Sequence[LibraryItem], with_network: bool, team: bool) -> tuple[Card, int]:
    links: dict[str, list[str]] = {kind: [] for kind in LIBRARY_KINDS}
    for note in notes:
        if note.content.get("recording"):
            links["recording"].append(str(note.content["recording"]))
        links["resource"] += [str(link) for link in note.content.get("resources") or []]
    for item in items:
        links[item.kind].append(f"{item.title}: {item.url}" if item.title else item.url)
    facts = [Fact(ctx.t("library.fact.date"), ctx.t.datetime(session.starts_at, ctx.time_zone, "date"))]
    if session.topic:
        facts.append(Fact(ctx.t("library.fact.series"), series.title))
    if with_network:
        facts.append(Fact(ctx.t("library.fact.network"), _name(ctx, series.network)))
    if session.expert:
        facts.append(Fact(ctx.t("library.fact.expert"), session.expert))
    summary = next((str(n.content["summary"]) for n in reversed(notes) if n.content.get("summary")), "")
    if summary:
        facts.append(Fact(ctx.t("library.fact.summary"), _short(summary, SUMMARY_SHOWN)))
    for kind in LIBRARY_KINDS:
        if links[kind]:
            facts.append(Fact(ctx.t(f"library.fact.{kind}"), "\n".join(dict.fromkeys(links[kind]))))
    if not any(links.values()):
        facts.append(Fact(ctx.t("library.fact.links"), ctx.t("library.links.none")))
    actions: tuple[Option, ...] = ()
    if team:  # the team corrects the entry where it reads it
        actions = (Option(ctx.t("library.action.add"), f"act:library_add:{session.id}"),
                   *(Option(ctx.t("library.action.remove", what=_what(ctx, i)),
                            f"act:library_remove:{i.id}") for i in items[:3]))
    title = session.topic or series.title
    return Card(title, tuple(facts), actions), len(links["recording"])


def _filters(ctx: ServiceContext, scope: Scope, rows: Sequence[Row]) -> list[Part]:
    if scope.series_id is not None:
        return [Card(ctx.t("library.all.title"), actions=(
            Option(ctx.t("library.all"), f"act:library_all:{scope.series_id}"),))]
    held = list({series.id: series for _, series in rows}.values())
    if len(held) < 2:
        return []
    return [Card(ctx.t("library.filter.title"), actions=tuple(
        Option(_short(s.title, LABEL_SHOWN), f"act:library_series:{s.id}") for s in held[:CHOICES]))]


def _remember(ctx: ServiceContext, words: Sequence[str], last: int | None) -> None:
    key = ctx.actor.identity
    saved = ctx.uow.conversations.load(key, SEARCH_STATE)
    if last is None:  # nothing more to page through: keep no words
        if saved is not None:
            ctx.uow.conversations.delete(key, SEARCH_STATE, saved.revision)
        return
    answers = {"words": list(words), "last": last}
    state = replace(saved, answers=answers, paused=True) if saved else DialogState(
        SEARCH_STATE, 1, answers, paused=True)
    ctx.uow.conversations.save(key, state, ctx.now)


# --- the team's corrections --------------------------------------------------------------------


def check_link(text: str) -> str | Refused:
    """An http(s) link with a real host; a name before "@" only misleads."""
    url = text.strip().strip("<>")
    if len(url) > LINK_LIMIT:
        return Refused("library.link.too_long", {"max": LINK_LIMIT})
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return Refused("library.link.not_a_link", {"typed": url[:80]})
    if parts.scheme.lower() not in ("https", "http") or "." not in host.strip(".") \
            or "@" in parts.netloc or not url.isprintable() or " " in url:
        return Refused("library.link.not_a_link", {"typed": url[:80]})
    return url


def store_item(uow: UnitOfWork, actor: str, session: Session, kind: str, url: str, title: str,
               now: datetime) -> LibraryItem | Refused:
    """Add a link to a session's entry (the caller has checked who may)."""
    if session.state == "cancelled":
        return Refused("library.add.session_cancelled")
    if kind not in LIBRARY_KINDS:
        return Refused("library.add.kind_unknown", {"kinds": ", ".join(LIBRARY_KINDS)})
    link = check_link(url)
    if isinstance(link, Refused):
        return link
    title = " ".join(title.split())
    if len(title) > TITLE_LIMIT:
        return Refused("library.add.title_too_long", {"max": TITLE_LIMIT})
    item = uow.library.add(session.id, kind, link, title, actor, now)
    uow.audit.record(now, actor, "library.item_added", f"session:{session.id}",
                     {"item": item.id, "kind": kind})
    return item


def add_choices(ctx: ServiceContext, session_id: int | None = None) -> list[dict[str, object]] | Refused:
    """The team's newest past sessions as choices for "library add" (with `session_id`
    first when a card's "Add a link" named it)."""
    team = sorted(team_networks(ctx))
    rows = _past(ctx, Scope(tuple(team), Text(""), ""))[:CHOICES]
    if session_id is not None:
        found = _session_of(ctx, session_id)
        if found is None or found[1].network not in team:
            return _refuse(ctx, f"session:{session_id}", "library_add", "library.team_only")
        rows = [found, *(r for r in rows if r[0].id != session_id)]
    return [{"id": s.id, "label": f"{s.topic or series.title} "
                                  f"({ctx.t.datetime(s.starts_at, ctx.time_zone, 'date')})"}
            for s, series in rows]


def add_item(ctx: ServiceContext, session_id: int, kind: str, url: str,
             title: str) -> list[Part] | Refused:
    found = _session_of(ctx, session_id)
    if found is None or found[1].network not in team_networks(ctx):
        return _refuse(ctx, f"session:{session_id}", "library_add", "library.team_only")
    item = store_item(ctx.uow, ctx.actor.identity, found[0], kind, url, title, ctx.now)
    if isinstance(item, Refused):
        return item
    return [Text(ctx.t("library.added", what=_what(ctx, item), session=found[0].topic or found[1].title)),
            Card(found[0].topic or found[1].title, (Fact(ctx.t(f"library.fact.{kind}"), item.url),),
                 (Option(ctx.t("library.action.undo"), f"act:library_remove:{item.id}"),))]


def remove_item(ctx: ServiceContext, item_id: int) -> list[Part] | Refused:
    item = ctx.uow.library.get(item_id)
    found = _session_of(ctx, item.session_id) if item else None
    if item is None or found is None or found[1].network not in team_networks(ctx):
        return _refuse(ctx, f"library_item:{item_id}", "library_remove", "library.team_only")
    ctx.uow.library.remove(item.id, ctx.now)
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "library.item_removed",
                         f"session:{item.session_id}", {"item": item.id, "kind": item.kind})
    return [Text(ctx.t("library.removed", what=_what(ctx, item)))]


def _what(ctx: ServiceContext, item: LibraryItem) -> str:
    return _short(item.title or ctx.t(f"library.kind.{item.kind}"), LABEL_SHOWN)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
