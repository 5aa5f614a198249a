"""The members' library items, opening-soon alerts, suggestions (sealed), polls and votes,
and invitations shared with colleagues."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from assistant.model import LibraryItem, Poll, PollOption, Suggestion
from assistant.sealing import Sealer
from storage.repositories.people import _network_id
from storage.tables import (
    EnrolmentRow,
    InvitationRow,
    LibraryItemRow,
    NetworkRow,
    PollRow,
    PollVoteRow,
    SeriesAlertRow,
    SeriesRow,
    SuggestionRow,
)

LIBRARY = LibraryItemRow.__table__  # type: ignore[attr-defined]
ALERT = SeriesAlertRow.__table__  # type: ignore[attr-defined]
SUGGESTION = SuggestionRow.__table__  # type: ignore[attr-defined]
POLL = PollRow.__table__  # type: ignore[attr-defined]
VOTE = PollVoteRow.__table__  # type: ignore[attr-defined]
INVITATION = InvitationRow.__table__  # type: ignore[attr-defined]
ENROLMENT = EnrolmentRow.__table__  # type: ignore[attr-defined]
SERIES = SeriesRow.__table__  # type: ignore[attr-defined]
NETWORK = NetworkRow.__table__  # type: ignore[attr-defined]


class SqlLibrary:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, session_id: int, kind: str, url: str, title: str, added_by: str,
            at: datetime) -> LibraryItem:
        item_id = self._conn.execute(insert(LIBRARY).values(
            session_id=session_id, kind=kind, url=url, title=title, added_by=added_by,
            added_at=at).returning(LIBRARY.c.id)).scalar_one()
        found = self.get(item_id)
        assert found is not None
        return found

    def get(self, item_id: int) -> LibraryItem | None:
        row = self._conn.execute(select(LIBRARY).where(LIBRARY.c.id == item_id,
                                                       LIBRARY.c.removed_at.is_(None))).first()
        return _item(row) if row else None

    def remove(self, item_id: int, at: datetime) -> bool:
        return bool(self._conn.execute(update(LIBRARY).where(
            LIBRARY.c.id == item_id, LIBRARY.c.removed_at.is_(None)).values(removed_at=at))
            .rowcount)

    def of_sessions(self, session_ids: Sequence[int]) -> list[LibraryItem]:
        if not session_ids:
            return []
        rows = self._conn.execute(select(LIBRARY).where(
            LIBRARY.c.session_id.in_(list(session_ids)), LIBRARY.c.removed_at.is_(None))
            .order_by(LIBRARY.c.id))
        return [_item(row) for row in rows]


class SqlSeriesAlerts:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def subscribe(self, series_id: int, person_id: int, kind: str, at: datetime) -> bool:
        if self.subscribed(series_id, person_id, kind):
            return False
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(ALERT).values(series_id=series_id, person_id=person_id,
                                                        kind=kind, created_at=at))
            return True
        except IntegrityError:
            return False  # asked twice at once

    def subscribed(self, series_id: int, person_id: int, kind: str) -> bool:
        return self._conn.execute(select(ALERT.c.id).where(
            ALERT.c.series_id == series_id, ALERT.c.person_id == person_id,
            ALERT.c.kind == kind, ALERT.c.notified_at.is_(None))).first() is not None

    def of_person(self, person_id: int) -> list[tuple[int, str, datetime]]:
        rows = self._conn.execute(select(ALERT.c.series_id, ALERT.c.kind, ALERT.c.created_at)
                                  .where(ALERT.c.person_id == person_id).order_by(ALERT.c.id))
        return [(int(row.series_id), str(row.kind), row.created_at) for row in rows]

    def unsubscribe(self, series_id: int, person_id: int, kind: str) -> bool:
        return bool(self._conn.execute(delete(ALERT).where(
            ALERT.c.series_id == series_id, ALERT.c.person_id == person_id,
            ALERT.c.kind == kind, ALERT.c.notified_at.is_(None))).rowcount)

    def waiting(self, series_id: int, kind: str) -> list[int]:
        """Subscribers not yet told, first come first."""
        return list(self._conn.execute(select(ALERT.c.person_id).where(
            ALERT.c.series_id == series_id, ALERT.c.kind == kind,
            ALERT.c.notified_at.is_(None)).order_by(ALERT.c.id)).scalars())

    def mark_notified(self, series_id: int, person_ids: Sequence[int], kind: str,
                      at: datetime) -> None:
        if person_ids:
            self._conn.execute(update(ALERT).where(
                ALERT.c.series_id == series_id, ALERT.c.kind == kind,
                ALERT.c.person_id.in_(list(person_ids))).values(notified_at=at))

    def forget(self, person_id: int) -> None:
        self._conn.execute(delete(ALERT).where(ALERT.c.person_id == person_id))


class SqlSuggestions:
    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self._conn = conn
        self._seal: Callable[[Any], Any] = sealer.seal if sealer else (lambda value: value)
        self._open: Callable[[Any], Any] = sealer.open if sealer else (lambda value: value)

    def add(self, network: str, person_id: int, kind: str, content: Mapping[str, Any],
            at: datetime) -> Suggestion:
        suggestion_id = self._conn.execute(insert(SUGGESTION).values(
            network_id=_network_id(self._conn, network), person_id=person_id, kind=kind,
            content=self._seal(dict(content)), state="open", created_at=at)
            .returning(SUGGESTION.c.id)).scalar_one()
        found = self.get(suggestion_id)
        assert found is not None
        return found

    def forget_words(self, person_id: int) -> None:
        rows = self._conn.execute(select(SUGGESTION.c.id, SUGGESTION.c.kind, SUGGESTION.c.content)
                                  .where(SUGGESTION.c.person_id == person_id)).all()
        for row in rows:
            key = "title" if row.kind == "series" else "topic"
            kept = {key: self._open(row.content).get(key, "")}
            self._conn.execute(update(SUGGESTION).where(SUGGESTION.c.id == row.id)
                               .values(content=self._seal(kept)))

    def get(self, suggestion_id: int) -> Suggestion | None:
        row = self._conn.execute(_WITH_NETWORK.where(SUGGESTION.c.id == suggestion_id)).first()
        return self._suggestion(row) if row else None

    def of_network(self, network: str, states: Sequence[str],
                   kinds: Sequence[str]) -> list[Suggestion]:
        rows = self._conn.execute(_WITH_NETWORK.where(
            NETWORK.c.slug == network, SUGGESTION.c.state.in_(list(states)),
            SUGGESTION.c.kind.in_(list(kinds))).order_by(SUGGESTION.c.id))
        return [self._suggestion(row) for row in rows]

    def of_person(self, person_id: int) -> list[Suggestion]:
        rows = self._conn.execute(_WITH_NETWORK.where(SUGGESTION.c.person_id == person_id)
                                  .order_by(SUGGESTION.c.id))
        return [self._suggestion(row) for row in rows]

    def set_state(self, suggestion_id: int, state: str, merged_into: int | None = None) -> None:
        self._conn.execute(update(SUGGESTION).where(SUGGESTION.c.id == suggestion_id).values(
            state=state, merged_into=merged_into))

    def _suggestion(self, row: Row[Any]) -> Suggestion:
        return Suggestion(id=row.id, network=row.network, person_id=row.person_id,
                          kind=row.kind, content=dict(self._open(row.content)), state=row.state,
                          merged_into=row.merged_into, created_at=row.created_at)


_WITH_NETWORK = select(SUGGESTION, NETWORK.c.slug.label("network")).join(
    NETWORK, NETWORK.c.id == SUGGESTION.c.network_id)
_POLL_WITH_NETWORK = select(POLL, NETWORK.c.slug.label("network")).join(
    NETWORK, NETWORK.c.id == POLL.c.network_id)


class SqlPolls:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, network: str, question: str, options: Sequence[PollOption], created_by: int,
            at: datetime, closes_at: datetime | None) -> Poll:
        poll_id = self._conn.execute(insert(POLL).values(
            network_id=_network_id(self._conn, network), question=question,
            options=[{"label": o.label, "suggestion": o.suggestion} for o in options],
            state="open", created_by=created_by, created_at=at, closes_at=closes_at)
            .returning(POLL.c.id)).scalar_one()
        found = self.get(poll_id)
        assert found is not None
        return found

    def get(self, poll_id: int) -> Poll | None:
        row = self._conn.execute(_POLL_WITH_NETWORK.where(POLL.c.id == poll_id)).first()
        return _poll(row) if row else None

    def of_network(self, network: str, states: Sequence[str]) -> list[Poll]:
        rows = self._conn.execute(_POLL_WITH_NETWORK.where(
            NETWORK.c.slug == network, POLL.c.state.in_(list(states))).order_by(POLL.c.id))
        return [_poll(row) for row in rows]

    def close(self, poll_id: int) -> None:
        self._conn.execute(update(POLL).where(POLL.c.id == poll_id).values(state="closed"))

    def vote(self, poll_id: int, person_id: int, choice: int, at: datetime) -> str:
        """"new", "changed" or "same": a second vote replaces the first."""
        before = self.vote_of(poll_id, person_id)
        if before is None:
            try:
                with self._conn.begin_nested():
                    self._conn.execute(insert(VOTE).values(poll_id=poll_id, person_id=person_id,
                                                           choice=choice, at=at))
                return "new"
            except IntegrityError:
                before = self.vote_of(poll_id, person_id)  # the other device's vote came first
        if before == choice:
            return "same"
        self._conn.execute(update(VOTE).where(VOTE.c.poll_id == poll_id,
                                              VOTE.c.person_id == person_id)
                           .values(choice=choice, at=at))
        return "changed"

    def vote_of(self, poll_id: int, person_id: int) -> int | None:
        found = self._conn.execute(select(VOTE.c.choice).where(
            VOTE.c.poll_id == poll_id, VOTE.c.person_id == person_id)).scalar()
        return int(found) if found is not None else None

    def votes_of_person(self, person_id: int) -> list[tuple[int, int, datetime]]:
        rows = self._conn.execute(select(VOTE.c.poll_id, VOTE.c.choice, VOTE.c.at)
                                  .where(VOTE.c.person_id == person_id).order_by(VOTE.c.id))
        return [(int(row.poll_id), int(row.choice), row.at) for row in rows]

    def counts(self, poll_id: int) -> dict[int, int]:
        rows = self._conn.execute(select(VOTE.c.choice, func.count()).where(
            VOTE.c.poll_id == poll_id).group_by(VOTE.c.choice))
        return {int(choice): int(count) for choice, count in rows}


class SqlInvitations:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, code: str, series_id: int, person_id: int, at: datetime) -> None:
        self._conn.execute(insert(INVITATION).values(code=code, series_id=series_id,
                                                     person_id=person_id, created_at=at))

    def of_person(self, person_id: int) -> list[tuple[str, int, datetime]]:
        rows = self._conn.execute(select(INVITATION.c.code, INVITATION.c.series_id,
                                         INVITATION.c.created_at)
                                  .where(INVITATION.c.person_id == person_id)
                                  .order_by(INVITATION.c.created_at, INVITATION.c.code))
        return [(str(row.code), int(row.series_id), row.created_at) for row in rows]

    def get(self, code: str) -> tuple[int, int] | None:
        """(series id, who shared it)."""
        row = self._conn.execute(select(INVITATION.c.series_id, INVITATION.c.person_id)
                                 .where(INVITATION.c.code == code)).first()
        return (int(row.series_id), int(row.person_id)) if row else None

    def of(self, series_id: int, person_id: int) -> str | None:
        return self._conn.execute(select(INVITATION.c.code).where(
            INVITATION.c.series_id == series_id, INVITATION.c.person_id == person_id)).scalar()

    def credit(self, series_id: int, person_id: int, code: str) -> None:
        """The person's place in the series came through this invitation."""
        self._conn.execute(update(ENROLMENT).where(
            ENROLMENT.c.series_id == series_id, ENROLMENT.c.person_id == person_id)
            .values(invitation=code))

    def counts(self, network: str) -> dict[int, int]:
        """Series id -> places that came through an invitation, for the network's reports."""
        rows = self._conn.execute(
            select(ENROLMENT.c.series_id, func.count()).join(SERIES, SERIES.c.id == ENROLMENT.c.series_id)
            .join(NETWORK, NETWORK.c.id == SERIES.c.network_id)
            .where(NETWORK.c.slug == network, ENROLMENT.c.invitation.is_not(None),
                   ENROLMENT.c.status != "cancelled")
            .group_by(ENROLMENT.c.series_id))
        return {int(series_id): int(count) for series_id, count in rows}


def _item(row: Row[Any]) -> LibraryItem:
    return LibraryItem(id=row.id, session_id=row.session_id, kind=row.kind, url=row.url,
                       title=row.title, added_by=row.added_by, added_at=row.added_at)


def _poll(row: Row[Any]) -> Poll:
    return Poll(id=row.id, network=row.network, question=row.question,
                options=tuple(PollOption(str(o["label"]), o.get("suggestion"))
                              for o in row.options),
                state=row.state, created_by=row.created_by, created_at=row.created_at,
                closes_at=row.closes_at)
