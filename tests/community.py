"""People, series and sessions made directly in the store, for tests about what comes after
registration (the registration conversation has its own tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from assistant.model import ConsentRecord, Series, Session
from assistant.ports import Store
from assistant.services.schedule import Actor, add_series, add_session

OPERATOR = Actor("cli", None)


def open_networks(store: Store, now: datetime) -> None:
    """Two plain open networks, for tests that want no demo data around."""
    with store.transaction() as uow:
        for slug, name in (("care-homes", "Care Homes ECHO"),
                           ("palliative-essentials", "Palliative Care Essentials ECHO")):
            uow.networks.add(slug, name, ("Registered nurse",), "open", "v1",
                             {"en": "Agreement.", "fr": "Accord."}, now)


def member(store: Store, now: datetime, user: str, *, network: str = "care-homes",
           role: str = "participant", zone: str = "Europe/London", language: str = "en",
           platform: str = "console", address: dict[str, Any] | None = None,
           identity: str | None = None) -> int:
    """A registered, consented person reachable at `platform:user` (or this identity);
    returns their id."""
    identity = identity or f"{platform}:{user}"
    with store.transaction() as uow:
        uow.people.arrive(identity, address or {"user": user}, now)
        person = uow.people.register(identity, {
            "full_name": f"{user.title()} Test", "email": f"{user}@example.org",
            "profession": "Registered nurse", "organisation": "Test Care Home",
            "care_setting": "hospice", "region": "EH6", "country": "GB", "time_zone": zone,
            "language": language}, now)
        uow.memberships.join(person.id, network, role, "active", now)
        info = next(n for n in uow.networks.all() if n.slug == network)
        uow.consents.record(person.id, ConsentRecord(network, info.consent_version,
                                                     info.consent_hash[language], language,
                                                     "given", now), "test")
    return person.id


def series(store: Store, now: datetime, *, network: str = "care-homes", name: str = "spring",
           capacity: int | None = None, state: str = "open", approval: bool = False,
           zone: str = "Europe/London") -> Series:
    with store.transaction() as uow:
        made = add_series(uow, OPERATOR, network, {
            "name": name, "title": f"{name.title()} series", "capacity": capacity,
            "state": state, "requires_approval": approval, "time_zone": zone,
            "join_url": "https://zoom.example/j/123"}, now)
    assert isinstance(made, Series), made
    return made


def session(store: Store, now: datetime, of: Series, starts_at: datetime,
            minutes: int = 60, **details: Any) -> Session:
    with store.transaction() as uow:
        made = add_session(uow, OPERATOR, of, starts_at, minutes, now,
                           {"topic": "Pain at the end of life", "expert": "Dr Rao", **details})
    assert isinstance(made, Session), made
    return made


def enrol(store: Store, now: datetime, of: Series, person_id: int, status: str = "registered") -> None:
    with store.transaction() as uow:
        uow.enrolments.set(of.id, person_id, status, now, new_turn=True)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
