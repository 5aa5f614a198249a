"""People, their platform identities, memberships and consent events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, or_, select, update

from assistant.model import ConsentRecord, Membership, ParticipantRow, Person
from storage.repositories._sql import insert_ignoring_duplicates
from storage.tables import ConsentEventRow, IdentityRow, MembershipRow, NetworkRow, PersonRow

PERSON = PersonRow.__table__  # type: ignore[attr-defined]
IDENTITY = IdentityRow.__table__  # type: ignore[attr-defined]
MEMBERSHIP = MembershipRow.__table__  # type: ignore[attr-defined]
CONSENT = ConsentEventRow.__table__  # type: ignore[attr-defined]
NETWORK = NetworkRow.__table__  # type: ignore[attr-defined]


class SqlPeople:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def by_identity(self, identity: str) -> Person | None:
        row = self._conn.execute(
            select(PERSON).join(IDENTITY, IDENTITY.c.person_id == PERSON.c.id)
            .where(IDENTITY.c.identity == identity, PERSON.c.deleted_at.is_(None))).first()
        return _person(row) if row else None

    def language_of(self, identity: str) -> str | None:
        return self._conn.execute(
            select(IDENTITY.c.language).where(IDENTITY.c.identity == identity)).scalar()

    def touch_identity(self, identity: str, address: dict[str, Any], at: datetime) -> None:
        inserted = insert_ignoring_duplicates(self._conn, IDENTITY, {
            "identity": identity, "address": address, "last_seen_at": at}, "identity")
        if not inserted and address:  # refreshed each turn: proactive sends use the newest
            self._conn.execute(update(IDENTITY).where(IDENTITY.c.identity == identity)
                               .values(address=address, last_seen_at=at))

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
        if reference.isdigit():
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
        self._conn.execute(update(IDENTITY).where(IDENTITY.c.person_id == person_id)
                           .values(person_id=None, address={}, language=None))

    def _get(self, person_id: int) -> Person:
        return _person(self._conn.execute(select(PERSON).where(PERSON.c.id == person_id)).one())


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
