"""People, their platform identities, memberships and consent events."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from assistant.model import ConsentRecord, Membership, ParticipantRow, Person
from assistant.ports import Arrival, Contact
from storage.tables import ConsentEventRow, IdentityRow, MembershipRow, NetworkRow, PersonRow

PERSON = PersonRow.__table__  # type: ignore[attr-defined]
IDENTITY = IdentityRow.__table__  # type: ignore[attr-defined]
MEMBERSHIP = MembershipRow.__table__  # type: ignore[attr-defined]
CONSENT = ConsentEventRow.__table__  # type: ignore[attr-defined]
NETWORK = NetworkRow.__table__  # type: ignore[attr-defined]


class SqlPeople:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def arrive(self, identity: str, address: dict[str, Any], at: datetime) -> Arrival:
        statement = _arrive_statement(self._conn.dialect.name, keep_address=not address)
        seen = self._conn.execute(statement, {"identity": identity, "address": address,
                                              "last_seen_at": at}).one()
        person = self._by_id(seen.person_id) if seen.person_id is not None else None
        return Arrival(person, person.language if person else seen.language)

    def arrival(self, identity: str) -> Arrival:
        row = self._conn.execute(_ARRIVAL, {"identity": identity}).first()
        if row is None:
            return Arrival(None, None)
        person = _person(row) if row.id is not None and row.deleted_at is None else None
        return Arrival(person, person.language if person else row.identity_language)

    def by_identity(self, identity: str) -> Person | None:
        return self.arrival(identity).person

    def address_of(self, identity: str) -> dict[str, Any]:
        address = self._conn.execute(select(IDENTITY.c.address).where(
            IDENTITY.c.identity == identity)).scalar()
        return dict(address or {})

    def set_identity_language(self, identity: str, language: str) -> None:
        self._conn.execute(update(IDENTITY).where(IDENTITY.c.identity == identity)
                           .values(language=language))

    def register(self, identity: str, profile: dict[str, str], at: datetime) -> Person:
        person_id = self._conn.execute(
            insert(PERSON).values(registered_at=at, **profile).returning(PERSON.c.id)).scalar_one()
        self._conn.execute(update(IDENTITY).where(IDENTITY.c.identity == identity)
                           .values(person_id=person_id, language=profile.get("language")))
        return self._get(person_id)

    def update(self, person_id: int, changes: dict[str, str]) -> Person:
        self._conn.execute(update(PERSON).where(PERSON.c.id == person_id).values(**changes))
        return self._get(person_id)

    def find(self, reference: str) -> Person | None:
        condition = or_(IDENTITY.c.identity == reference,
                        func.lower(PERSON.c.email) == reference.lower())
        if reference.isdecimal():
            condition = or_(condition, PERSON.c.id == int(reference))
        row = self._conn.execute(
            select(PERSON).outerjoin(IDENTITY, IDENTITY.c.person_id == PERSON.c.id)
            .where(condition, PERSON.c.deleted_at.is_(None)).limit(1)).first()
        return _person(row) if row else None

    def identities(self, person_id: int) -> list[str]:
        return list(self._conn.execute(
            select(IDENTITY.c.identity).where(IDENTITY.c.person_id == person_id)).scalars())

    def forget(self, person_id: int, pseudonym: str, at: datetime) -> None:
        self._conn.execute(update(PERSON).where(PERSON.c.id == person_id).values(
            full_name="", email="", profession="", organisation="", care_setting="",
            region="", country="", time_zone="UTC", deleted_at=at, pseudonym=pseudonym))
        # The platform ids go too: someone who writes again is a stranger, met afresh.
        self._conn.execute(delete(IDENTITY).where(IDENTITY.c.person_id == person_id))

    def get(self, person_id: int) -> Person | None:
        return self._by_id(person_id)

    def contacts(self, person_ids: Sequence[int]) -> dict[int, Contact]:
        contacts: dict[int, Contact] = {}
        for chunk in _chunks(list(person_ids), 500):
            rows = self._conn.execute(
                select(PERSON.c.id, PERSON.c.language, PERSON.c.time_zone, IDENTITY.c.identity,
                       IDENTITY.c.address, IDENTITY.c.last_seen_at)
                .join(IDENTITY, IDENTITY.c.person_id == PERSON.c.id)
                .where(PERSON.c.id.in_(chunk), PERSON.c.deleted_at.is_(None))
                .order_by(IDENTITY.c.last_seen_at))
            for row in rows:  # the most recently seen identity wins
                contacts[row.id] = Contact(row.id, row.identity, dict(row.address or {}),
                                           row.language, row.time_zone or "UTC")
        return contacts

    def with_role(self, network: str, roles: Sequence[str]) -> list[int]:
        return list(self._conn.execute(
            select(MEMBERSHIP.c.person_id).join(NETWORK, NETWORK.c.id == MEMBERSHIP.c.network_id)
            .where(NETWORK.c.slug == network, MEMBERSHIP.c.role.in_(list(roles)),
                   MEMBERSHIP.c.status == "active")).scalars())

    def _get(self, person_id: int) -> Person:
        return _person(self._conn.execute(_PERSON_BY_ID, {"person_id": person_id}).one())

    def _by_id(self, person_id: int) -> Person | None:
        row = self._conn.execute(_PERSON_BY_ID, {"person_id": person_id}).first()
        return _person(row) if row is not None and row.deleted_at is None else None


class SqlMemberships:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def of(self, person_id: int) -> list[Membership]:
        rows = self._conn.execute(
            select(NETWORK.c.slug, MEMBERSHIP.c.role, MEMBERSHIP.c.status, MEMBERSHIP.c.since)
            .join(NETWORK, NETWORK.c.id == MEMBERSHIP.c.network_id)
            .where(MEMBERSHIP.c.person_id == person_id, MEMBERSHIP.c.status != "left")
            .order_by(NETWORK.c.name))
        return [Membership(r.slug, r.role, r.status, r.since) for r in rows]

    def join(self, person_id: int, network: str, role: str, status: str, at: datetime) -> None:
        network_id = _network_id(self._conn, network)
        existing = self._conn.execute(select(MEMBERSHIP.c.id).where(
            MEMBERSHIP.c.person_id == person_id, MEMBERSHIP.c.network_id == network_id,
            MEMBERSHIP.c.role == role)).scalar()
        if existing is None:
            self._conn.execute(insert(MEMBERSHIP).values(
                person_id=person_id, network_id=network_id, role=role, status=status, since=at))
        else:
            self._conn.execute(update(MEMBERSHIP).where(MEMBERSHIP.c.id == existing)
                               .values(status=status, since=at, left_at=None))

    def leave(self, person_id: int, network: str, at: datetime) -> None:
        self._conn.execute(update(MEMBERSHIP).where(
            MEMBERSHIP.c.person_id == person_id,
            MEMBERSHIP.c.network_id == _network_id(self._conn, network),
        ).values(status="left", left_at=at))

    def participants(self, network: str) -> list[ParticipantRow]:
        rows = self._conn.execute(
            select(PERSON, MEMBERSHIP.c.role, MEMBERSHIP.c.status)
            .join(MEMBERSHIP, MEMBERSHIP.c.person_id == PERSON.c.id)
            .where(MEMBERSHIP.c.network_id == _network_id(self._conn, network),
                   MEMBERSHIP.c.status != "left", PERSON.c.deleted_at.is_(None))
            .order_by(PERSON.c.full_name))
        return [ParticipantRow(r.full_name, r.email, r.profession, r.organisation, r.region,
                               r.country, r.role, r.status) for r in rows]


class SqlConsents:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, person_id: int, record: ConsentRecord, evidence: str) -> None:
        self._conn.execute(insert(CONSENT).values(
            person_id=person_id, network_id=_network_id(self._conn, record.network),
            version=record.version, text_hash=record.text_hash, language=record.language,
            decision=record.decision, at=record.at, evidence=evidence))

    def history(self, person_id: int) -> list[ConsentRecord]:
        rows = self._conn.execute(
            select(NETWORK.c.slug, CONSENT).join(NETWORK, NETWORK.c.id == CONSENT.c.network_id)
            .where(CONSENT.c.person_id == person_id).order_by(CONSENT.c.at, CONSENT.c.id))
        return [ConsentRecord(r.slug, r.version, r.text_hash, r.language, r.decision, r.at)
                for r in rows]


# Built once: statements executed with separate parameters hit SQLAlchemy's compiled cache
# instead of coercing values on every turn (the bench showed that as the largest cost).
_PERSON_BY_ID = select(PERSON).where(PERSON.c.id == bindparam("person_id"))
_ARRIVAL = (select(PERSON, IDENTITY.c.language.label("identity_language"))
            .select_from(IDENTITY.outerjoin(PERSON, PERSON.c.id == IDENTITY.c.person_id))
            .where(IDENTITY.c.identity == bindparam("identity")))


@functools.cache
def _arrive_statement(dialect: str, *, keep_address: bool) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE ... RETURNING: one round trip that records the
    identity, refreshes its address (unless this event carried none) and says who it is.

    The new address is merged over the saved one: an event from a channel knows the team
    and user but not the direct-message channel a direct message taught us, and must not
    make us forget it."""
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(IDENTITY).values(identity=bindparam("identity"),
                                         address=bindparam("address"),
                                         last_seen_at=bindparam("last_seen_at"))
    refreshed: dict[str, Any] = {"last_seen_at": statement.excluded.last_seen_at}
    if not keep_address:
        if dialect == "postgresql":
            refreshed["address"] = IDENTITY.c.address.op("||")(statement.excluded.address)
        else:
            refreshed["address"] = func.json_patch(IDENTITY.c.address, statement.excluded.address)
    return statement.on_conflict_do_update(index_elements=["identity"], set_=refreshed).returning(
        IDENTITY.c.person_id, IDENTITY.c.language)


T = TypeVar("T")


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _network_id(conn: Connection, slug: str) -> int:
    network_id = conn.execute(select(NETWORK.c.id).where(NETWORK.c.slug == slug)).scalar()
    if network_id is None:
        raise LookupError(f"no network {slug!r}")
    return int(network_id)


def _person(row: Row[Any]) -> Person:
    return Person(id=row.id, full_name=row.full_name, email=row.email, profession=row.profession,
                  organisation=row.organisation, care_setting=row.care_setting, region=row.region,
                  country=row.country, time_zone=row.time_zone, language=row.language,
                  registered_at=row.registered_at)
