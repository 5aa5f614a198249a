"""The SQL store on SQLite and PostgreSQL: redelivery dedupe, optimistic dialog state,
UTC times, people and their consent, and the SQLite settings that keep writers apart."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import StatementError

from assistant.model import ConsentRecord, Membership, ParticipantRow, Person
from assistant.ports import StaleState, Unavailable
from assistant.runtime import DialogState, NetworkInfo
from storage.engine import make_engine
from storage.repositories import SqlStore, SqlUnitOfWork
from storage.tables import IdentityRow, PersonRow, ProcessedEventRow
from tests.conftest import TEST_SEALER

T = TypeVar("T")

KEY = "slack:T1/D1"
AMIRA = "slack:T1/U1"
CONSENT_EN = "I agree that Pain ECHO may keep my name and e-mail for the sessions."
CONSENT_FR = "J'accepte que Pain ECHO conserve mon nom et mon e-mail pour les séances."
AMIRA_PROFILE = {
    "full_name": "Amira Haddad", "email": "Amira.Haddad@example.org", "profession": "nurse",
    "organisation": "Hôpital Saint-Louis", "care_setting": "hospital", "region": "Île-de-France",
    "country": "FR", "time_zone": "Europe/Paris", "language": "fr",
}
BEN_PROFILE = {**AMIRA_PROFILE, "full_name": "Ben Adeyemi", "email": "ben@example.org",
               "country": "GB", "time_zone": "Europe/London", "language": "en"}


class Boom(Exception):
    pass


# --- helpers ---------------------------------------------------------------------------------

def in_transaction(store: SqlStore, work: Callable[[SqlUnitOfWork], T]) -> T:
    with store.transaction() as uow:
        return work(uow)


def new_state(dialog: str = "registration", **fields: Any) -> DialogState:
    return DialogState(dialog=dialog, dialog_version=2, **fields)


def save(store: SqlStore, state: DialogState, at: datetime, key: str = KEY) -> DialogState:
    return in_transaction(store, lambda uow: uow.conversations.save(key, state, at))


def load(store: SqlStore, dialog: str = "registration", key: str = KEY) -> DialogState | None:
    return in_transaction(store, lambda uow: uow.conversations.load(key, dialog))


def active(store: SqlStore, key: str = KEY) -> DialogState | None:
    return in_transaction(store, lambda uow: uow.conversations.active(key))


def table_row(store: SqlStore, table: Any, *where: Any) -> RowMapping | None:
    with store.engine.connect() as connection:
        return connection.execute(select(table).where(*where)).mappings().first()


def delivery_ids(store: SqlStore) -> set[str]:
    with store.engine.connect() as connection:
        return set(connection.execute(select(ProcessedEventRow.__table__.c.delivery_id)).scalars())


def count(store: SqlStore, table: Any) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def identity_row(store: SqlStore, identity: str) -> RowMapping:
    row = table_row(store, IdentityRow.__table__, IdentityRow.__table__.c.identity == identity)
    assert row is not None, identity
    return row


def add_network(uow: SqlUnitOfWork, at: datetime, slug: str = "pain-echo",
                name: str = "Pain ECHO") -> NetworkInfo:
    return uow.networks.add(slug, name, ("nurse", "gp"), "open", "2025-05",
                            {"en": CONSENT_EN, "fr": CONSENT_FR}, at)


def register(uow: SqlUnitOfWork, identity: str, profile: dict[str, str], at: datetime) -> Person:
    uow.people.arrive(identity, {"team": "T1", "user": identity[-2:], "channel": "D1"}, at)
    return uow.people.register(identity, profile, at)


def race(attempts: list[Callable[[], None]]) -> list[str]:
    """Run the attempts in threads released together; 'won' or 'stale' for each."""
    start = threading.Barrier(len(attempts))

    def run(attempt: Callable[[], None]) -> str:
        start.wait()
        try:
            attempt()
        except StaleState:
            return "stale"
        return "won"

    with ThreadPoolExecutor(len(attempts)) as pool:
        return sorted(pool.map(run, attempts))


# --- processed events (inbound dedupe) -------------------------------------------------------

def test_a_delivery_is_accepted_once_then_recognised_as_a_redelivery(store_on, clock):
    with store_on.transaction() as uow:
        assert uow.processed.add("Ev1", clock.now()) is True
        assert uow.processed.add("Ev1", clock.now()) is False
        assert uow.processed.add("Ev2", clock.now()) is True
    with store_on.transaction() as uow:
        assert uow.processed.add("Ev1", clock.now()) is False
        assert uow.processed.add("Ev2", clock.now()) is False
    assert count(store_on, ProcessedEventRow.__table__) == 2


def test_a_rolled_back_turn_leaves_its_delivery_unrecorded(store_on, clock):
    def turn_that_fails(uow: SqlUnitOfWork) -> None:
        assert uow.processed.add("Ev1", clock.now()) is True
        raise Boom

    with pytest.raises(Boom):
        in_transaction(store_on, turn_that_fails)
    assert count(store_on, ProcessedEventRow.__table__) == 0
    assert in_transaction(store_on, lambda uow: uow.processed.add("Ev1", clock.now())) is True


def test_purging_forgets_only_deliveries_older_than_the_cut_off(store_on, clock):
    in_transaction(store_on, lambda uow: uow.processed.add("old", clock.now()))
    in_transaction(store_on, lambda uow: uow.processed.add("new", clock.advance(minutes=61)))
    purged = in_transaction(store_on, lambda uow: uow.processed.purge(clock.now() - timedelta(hours=1)))
    assert purged == 1
    assert delivery_ids(store_on) == {"new"}


# --- conversation state ----------------------------------------------------------------------

EVERY_FIELD = new_state(
    answers={
        "full_name": "Zoë Ōkubo-Nguyễn 🩺",
        "professions": ["nurse", "gp"],
        "availability": {"days": ["mon", "thu"], "window": {"from": "08:00", "to": "12:30"},
                         "flexible": True, "notes": None, "weight": 1.5},
        "country": "FR",
    },
    history=("full_name", "professions", "availability", "country"),
    pending_step="email",
    asked=37,
    attempts=2,
    proposed={"value": "zoe@example.org"},
    previous={"organisation": "Hôpital Saint-Louis", "region": {"code": "FR-IDF"}},
    paused=False,
)


def test_a_new_conversation_is_saved_at_revision_one(store_on, clock):
    saved = save(store_on, new_state(), clock.now())
    assert saved.revision == 1
    assert load(store_on) == saved


def test_every_field_of_a_dialog_state_survives_a_round_trip(store_on, clock):
    saved = save(store_on, EVERY_FIELD, clock.now())
    assert saved == replace(EVERY_FIELD, revision=1)
    assert load(store_on) == saved
    assert active(store_on) == saved


def test_an_update_from_the_current_revision_is_saved_and_bumps_it(store_on, clock):
    first = save(store_on, new_state(), clock.now())
    second = save(store_on, first.with_answer("email", "amira@example.org"), clock.advance(seconds=5))
    assert second.revision == 2
    stored = load(store_on)
    assert stored is not None
    assert stored.revision == 2 and stored.answers == {"email": "amira@example.org"}
    third = save(store_on, replace(stored, pending_step="country", asked=3), clock.advance(seconds=5))
    assert third.revision == 3 and load(store_on) == third


def test_a_stale_revision_is_refused_and_the_newer_state_kept(store_on, clock):
    seen = save(store_on, new_state(), clock.now())
    save(store_on, seen.with_answer("email", "first@example.org"), clock.now())
    with pytest.raises(StaleState):
        save(store_on, seen.with_answer("email", "second@example.org"), clock.now())
    stored = load(store_on)
    assert stored is not None
    assert stored.revision == 2 and stored.answers == {"email": "first@example.org"}


def test_a_second_new_state_for_the_same_dialog_is_refused(store_on, clock):
    first = save(store_on, new_state(answers={"who": "first"}), clock.now())
    with pytest.raises(StaleState):
        save(store_on, new_state(answers={"who": "second"}), clock.now())
    assert load(store_on) == first


def test_a_refused_insert_leaves_the_rest_of_the_transaction_usable(store_on, clock):
    save(store_on, new_state(), clock.now())
    with store_on.transaction() as uow:
        assert uow.processed.add("Ev1", clock.now())
        with pytest.raises(StaleState):
            uow.conversations.save(KEY, new_state(), clock.now())
        uow.conversations.save(KEY, new_state(dialog="profile"), clock.now())
    assert count(store_on, ProcessedEventRow.__table__) == 1
    assert load(store_on, "profile") is not None


def test_the_same_dialog_in_another_conversation_is_separate(store_on, clock):
    save(store_on, new_state(answers={"who": "amira"}), clock.now(), key="slack:T1/D1")
    save(store_on, new_state(answers={"who": "ben"}), clock.now(), key="slack:T1/D2")
    assert load(store_on, key="slack:T1/D1").answers == {"who": "amira"}
    assert load(store_on, key="slack:T1/D2").answers == {"who": "ben"}


def test_deleting_with_a_stale_revision_is_refused_and_keeps_the_state(store_on, clock):
    seen = save(store_on, new_state(), clock.now())
    save(store_on, seen.with_answer("email", "amira@example.org"), clock.now())
    with pytest.raises(StaleState):
        in_transaction(store_on, lambda uow: uow.conversations.delete(KEY, "registration", seen.revision))
    assert load(store_on) is not None
    in_transaction(store_on, lambda uow: uow.conversations.delete(KEY, "registration", 2))
    assert load(store_on) is None


def test_delete_all_clears_every_dialog_of_one_conversation_only(store_on, clock):
    save(store_on, new_state(), clock.now())
    save(store_on, new_state(dialog="profile", paused=True), clock.now())
    save(store_on, new_state(), clock.now(), key="slack:T1/D2")
    in_transaction(store_on, lambda uow: uow.conversations.delete_all(KEY))
    assert load(store_on) is None and load(store_on, "profile") is None
    assert load(store_on, key="slack:T1/D2") is not None


def test_a_paused_dialog_is_loaded_but_not_active(store_on, clock):
    paused = save(store_on, new_state(paused=True, pending_step="email"), clock.now())
    assert active(store_on) is None
    assert load(store_on) == paused and paused.paused is True


def test_active_is_the_unpaused_dialog_beside_a_paused_one(store_on, clock):
    save(store_on, new_state(paused=True), clock.now())
    help_dialog = save(store_on, new_state(dialog="help"), clock.advance(seconds=1))
    assert active(store_on) == help_dialog


def test_active_is_the_most_recently_saved_unpaused_dialog(store_on, clock):
    save(store_on, new_state(dialog="help"), clock.now())
    registration = save(store_on, new_state(), clock.advance(seconds=1))
    assert active(store_on) == registration


@pytest.mark.parametrize("seen_revision", [0, 1], ids=["new", "existing"])
def test_two_turns_racing_from_the_same_revision_exactly_one_wins(store_on, clock, seen_revision):
    for round_number in range(10):
        key = f"slack:T1/race{round_number}"
        seen = new_state()
        if seen_revision:
            seen = save(store_on, seen, clock.now(), key=key)

        def attempt(answer: str, seen: DialogState = seen, key: str = key) -> Callable[[], None]:
            return lambda: save(store_on, seen.with_answer("who", answer), clock.now(), key=key)

        assert race([attempt("left"), attempt("right")]) == ["stale", "won"]
        stored = load(store_on, key=key)
        assert stored is not None
        assert stored.revision == seen_revision + 1
        assert stored.answers["who"] in {"left", "right"}


# --- UTC times -------------------------------------------------------------------------------

def test_a_naive_datetime_is_refused(store_on):
    naive = datetime(2025, 6, 2, 9, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        in_transaction(store_on, lambda uow: uow.processed.add("Ev1", naive))
    assert count(store_on, ProcessedEventRow.__table__) == 0


def test_an_aware_time_in_another_zone_comes_back_as_the_same_instant_in_utc(store_on):
    in_paris = datetime(2025, 6, 2, 11, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Paris"))
    with store_on.transaction() as uow:
        uow.people.arrive(AMIRA, {"user": "U1"}, in_paris)
        person = uow.people.register(AMIRA, AMIRA_PROFILE, in_paris)
    assert person.registered_at == datetime(2025, 6, 2, 9, 30, 15, 123456, tzinfo=UTC)
    assert person.registered_at.tzinfo == UTC
    stored = identity_row(store_on, AMIRA)
    assert stored["last_seen_at"] == in_paris and stored["last_seen_at"].tzinfo == UTC


def test_times_given_in_different_zones_are_compared_as_instants(store_on):
    # 10:00 in Tokyo is 01:00 UTC: earlier than 08:00 in New York (12:00 UTC), whatever the
    # wall clocks say.
    tokyo = datetime(2025, 6, 2, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    new_york = datetime(2025, 6, 2, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    with store_on.transaction() as uow:
        uow.processed.add("tokyo", tokyo)
        uow.processed.add("new-york", new_york)
    cut_off = datetime(2025, 6, 2, 9, 0, tzinfo=ZoneInfo("Europe/London"))  # 08:00 UTC
    assert in_transaction(store_on, lambda uow: uow.processed.purge(cut_off)) == 1
    assert delivery_ids(store_on) == {"new-york"}


# --- networks, people, memberships, consents -------------------------------------------------

def test_a_network_hashes_each_language_of_its_consent_text(store_on, clock):
    network = in_transaction(store_on, lambda uow: add_network(uow, clock.now()))
    assert network.consent_text == {"en": CONSENT_EN, "fr": CONSENT_FR}
    assert network.consent_hash == {
        "en": hashlib.sha256(CONSENT_EN.encode("utf-8")).hexdigest(),
        "fr": hashlib.sha256(CONSENT_FR.encode("utf-8")).hexdigest(),
    }
    assert (network.slug, network.name, network.state) == ("pain-echo", "Pain ECHO", "open")
    assert network.professions == ("nurse", "gp") and network.consent_version == "2025-05"
    assert in_transaction(store_on, lambda uow: uow.networks.all()) == [network]


def test_networks_are_listed_by_name_and_their_state_can_change(store_on, clock):
    with store_on.transaction() as uow:
        add_network(uow, clock.now(), "pain-echo", "Pain ECHO")
        add_network(uow, clock.now(), "dementia-echo", "Dementia ECHO")
        uow.networks.set_state("pain-echo", "full")
    networks = in_transaction(store_on, lambda uow: uow.networks.all())
    assert [(n.slug, n.state) for n in networks] == [("dementia-echo", "open"), ("pain-echo", "full")]


def test_a_registered_person_is_found_by_identity(store_on, clock):
    person = in_transaction(store_on, lambda uow: register(uow, AMIRA, AMIRA_PROFILE, clock.now()))
    assert person.profile() == AMIRA_PROFILE
    assert person.registered_at == clock.now()
    with store_on.transaction() as uow:
        assert uow.people.by_identity(AMIRA) == person
        assert uow.people.arrival(AMIRA).language == "fr"
        assert uow.people.identities(person.id) == [AMIRA]
        assert uow.people.by_identity("slack:T1/U9") is None


def test_an_identity_seen_but_not_registered_has_no_person(store_on, clock):
    with store_on.transaction() as uow:
        uow.people.arrive(AMIRA, {"user": "U1"}, clock.now())
        assert uow.people.by_identity(AMIRA) is None


def test_find_accepts_an_identity_or_an_email_in_any_case(store_on, clock):
    with store_on.transaction() as uow:
        amira = register(uow, AMIRA, AMIRA_PROFILE, clock.now())
        register(uow, "slack:T1/U2", BEN_PROFILE, clock.now())
    for reference in (AMIRA, "Amira.Haddad@example.org", "amira.haddad@example.org",
                      "AMIRA.HADDAD@EXAMPLE.ORG"):
        assert in_transaction(store_on, lambda uow, ref=reference: uow.people.find(ref)) == amira, reference


def test_find_accepts_a_numeric_id_and_misses_unknown_references(store_on, clock):
    with store_on.transaction() as uow:
        register(uow, AMIRA, AMIRA_PROFILE, clock.now())
        ben = register(uow, "slack:T1/U2", BEN_PROFILE, clock.now())
    with store_on.transaction() as uow:
        assert uow.people.find(str(ben.id)) == ben
        assert uow.people.find("nobody@example.org") is None
        assert uow.people.find("slack:T1/U9") is None
        assert uow.people.find("987654") is None


def test_arriving_says_who_is_writing_and_in_which_language(store_on, clock):
    with store_on.transaction() as uow:
        first = uow.people.arrive(AMIRA, {"user": "U1"}, clock.now())
        assert (first.person, first.language) == (None, None)
        uow.people.set_identity_language(AMIRA, "fr")
        assert uow.people.arrive(AMIRA, {"user": "U1"}, clock.now()).language == "fr"
        person = uow.people.register(AMIRA, AMIRA_PROFILE, clock.now())
        again = uow.people.arrive(AMIRA, {"user": "U1"}, clock.now())
    assert again.person == person and again.language == AMIRA_PROFILE["language"]


def test_touching_an_identity_refreshes_its_address(store_on, clock):
    with store_on.transaction() as uow:
        uow.people.arrive(AMIRA, {"team": "T1", "channel": "D1"}, clock.now())
    later = clock.advance(days=3)
    with store_on.transaction() as uow:
        uow.people.arrive(AMIRA, {"team": "T1", "channel": "D7"}, later)
    stored = identity_row(store_on, AMIRA)
    assert stored["address"] == {"team": "T1", "channel": "D7"} and stored["last_seen_at"] == later


def test_touching_an_identity_without_an_address_keeps_the_saved_one(store_on, clock):
    with store_on.transaction() as uow:
        uow.people.arrive(AMIRA, {"team": "T1", "channel": "D1"}, clock.now())
    with store_on.transaction() as uow:
        uow.people.arrive(AMIRA, {}, clock.advance(days=1))
    assert identity_row(store_on, AMIRA)["address"] == {"team": "T1", "channel": "D1"}


def test_a_profile_update_is_returned_and_stored(store_on, clock):
    person = in_transaction(store_on, lambda uow: register(uow, AMIRA, AMIRA_PROFILE, clock.now()))
    changed = in_transaction(store_on, lambda uow: uow.people.update(
        person.id, {"organisation": "Hôpital Necker", "region": "Paris"}))
    assert changed.organisation == "Hôpital Necker" and changed.region == "Paris"
    assert in_transaction(store_on, lambda uow: uow.people.by_identity(AMIRA)) == changed


def test_memberships_are_joined_listed_by_network_name_and_left(store_on, clock):
    joined_at = clock.now()
    with store_on.transaction() as uow:
        add_network(uow, joined_at, "pain-echo", "Pain ECHO")
        add_network(uow, joined_at, "dementia-echo", "Dementia ECHO")
        amira = register(uow, AMIRA, AMIRA_PROFILE, joined_at)
        uow.memberships.join(amira.id, "pain-echo", "participant", "active", joined_at)
        uow.memberships.join(amira.id, "dementia-echo", "participant", "waitlisted", joined_at)
    assert in_transaction(store_on, lambda uow: uow.memberships.of(amira.id)) == [
        Membership("dementia-echo", "participant", "waitlisted", joined_at),
        Membership("pain-echo", "participant", "active", joined_at),
    ]
    in_transaction(store_on, lambda uow: uow.memberships.leave(amira.id, "pain-echo", clock.advance(days=1)))
    assert in_transaction(store_on, lambda uow: uow.memberships.of(amira.id)) == [
        Membership("dementia-echo", "participant", "waitlisted", joined_at),
    ]
    rejoined_at = clock.advance(days=1)
    in_transaction(store_on, lambda uow: uow.memberships.join(
        amira.id, "pain-echo", "participant", "active", rejoined_at))
    assert Membership("pain-echo", "participant", "active", rejoined_at) in in_transaction(
        store_on, lambda uow: uow.memberships.of(amira.id))


def test_joining_an_unknown_network_is_refused(store_on, clock):
    amira = in_transaction(store_on, lambda uow: register(uow, AMIRA, AMIRA_PROFILE, clock.now()))
    with pytest.raises(LookupError):
        in_transaction(store_on, lambda uow: uow.memberships.join(
            amira.id, "no-such-echo", "participant", "active", clock.now()))
    assert in_transaction(store_on, lambda uow: uow.memberships.of(amira.id)) == []


def test_participants_are_the_current_members_of_one_network_by_name(store_on, clock):
    with store_on.transaction() as uow:
        add_network(uow, clock.now(), "pain-echo", "Pain ECHO")
        add_network(uow, clock.now(), "dementia-echo", "Dementia ECHO")
        amira = register(uow, AMIRA, AMIRA_PROFILE, clock.now())
        ben = register(uow, "slack:T1/U2", BEN_PROFILE, clock.now())
        carla = register(uow, "slack:T1/U3", {**BEN_PROFILE, "full_name": "Carla Diaz",
                                               "email": "carla@example.org"}, clock.now())
        uow.memberships.join(ben.id, "pain-echo", "facilitator", "active", clock.now())
        uow.memberships.join(amira.id, "pain-echo", "participant", "waitlisted", clock.now())
        uow.memberships.join(carla.id, "pain-echo", "participant", "active", clock.now())
        uow.memberships.join(carla.id, "dementia-echo", "participant", "active", clock.now())
        uow.memberships.leave(carla.id, "pain-echo", clock.now())
    rows = in_transaction(store_on, lambda uow: uow.memberships.participants("pain-echo"))
    assert rows == [
        ParticipantRow("Amira Haddad", "Amira.Haddad@example.org", "nurse", "Hôpital Saint-Louis",
                       "Île-de-France", "FR", "participant", "waitlisted"),
        ParticipantRow("Ben Adeyemi", "ben@example.org", "nurse", "Hôpital Saint-Louis",
                       "Île-de-France", "GB", "facilitator", "active"),
    ]
    assert [r.full_name for r in in_transaction(
        store_on, lambda uow: uow.memberships.participants("dementia-echo"))] == ["Carla Diaz"]


def test_consent_history_is_kept_in_the_order_it_happened(store_on, clock):
    with store_on.transaction() as uow:
        network = add_network(uow, clock.now())
        amira = register(uow, AMIRA, AMIRA_PROFILE, clock.now())
    given = ConsentRecord("pain-echo", "2025-05", network.consent_hash["fr"], "fr", "given",
                          clock.advance(minutes=1))
    withdrawn = replace(given, decision="withdrawn", at=clock.advance(days=30))
    given_again = replace(given, language="en", text_hash=network.consent_hash["en"],
                          at=clock.advance(days=2))
    with store_on.transaction() as uow:
        uow.consents.record(amira.id, given, evidence="slack:Ev1")
        uow.consents.record(amira.id, given_again, evidence="slack:Ev3")  # recorded late
        uow.consents.record(amira.id, withdrawn, evidence="slack:Ev2")
    assert in_transaction(store_on, lambda uow: uow.consents.history(amira.id)) == [
        given, withdrawn, given_again]


def test_forgetting_a_person_blanks_their_data_and_removes_their_identities(store_on, clock):
    with store_on.transaction() as uow:
        add_network(uow, clock.now())
        amira = register(uow, AMIRA, AMIRA_PROFILE, clock.now())
        ben = register(uow, "slack:T1/U2", BEN_PROFILE, clock.now())
        uow.memberships.join(amira.id, "pain-echo", "participant", "active", clock.now())
        uow.memberships.join(ben.id, "pain-echo", "participant", "active", clock.now())
    forgotten_at = clock.advance(days=10)
    in_transaction(store_on, lambda uow: uow.people.forget(amira.id, "anon-7f3a", forgotten_at))

    with store_on.transaction() as uow:
        assert uow.people.by_identity(AMIRA) is None
        assert uow.people.find(AMIRA) is None
        assert uow.people.find("amira.haddad@example.org") is None
        assert uow.people.find(str(amira.id)) is None
        assert uow.people.identities(amira.id) == []
        assert uow.people.arrival(AMIRA).language is None
        assert [p.full_name for p in uow.memberships.participants("pain-echo")] == ["Ben Adeyemi"]
        assert uow.people.by_identity("slack:T1/U2") == ben
    person = PersonRow.__table__
    row = table_row(store_on, person, person.c.id == amira.id)
    assert row is not None
    assert row["pseudonym"] == "anon-7f3a" and row["deleted_at"] == forgotten_at
    for field in ("full_name", "email", "profession", "organisation", "care_setting", "region",
                  "country"):
        assert row[field] == "", field
    assert table_row(store_on, IdentityRow.__table__,  # the platform id goes with the rest
                     IdentityRow.__table__.c.identity == AMIRA) is None


def test_a_forgotten_identity_can_register_again_as_someone_new(store_on, clock):
    old = in_transaction(store_on, lambda uow: register(uow, AMIRA, AMIRA_PROFILE, clock.now()))
    in_transaction(store_on, lambda uow: uow.people.forget(old.id, "anon-1", clock.now()))
    new = in_transaction(store_on, lambda uow: register(uow, AMIRA, AMIRA_PROFILE, clock.now()))
    assert new.id != old.id
    assert in_transaction(store_on, lambda uow: uow.people.by_identity(AMIRA)) == new


# --- availability ----------------------------------------------------------------------------

def test_an_unreachable_server_is_reported_as_unavailable():
    store = SqlStore(make_engine("postgresql+psycopg://spoke@127.0.0.1:1/spoke?connect_timeout=2"))
    try:
        assert store.ping() is False
        with pytest.raises(Unavailable), store.transaction():
            pass
    finally:
        store.close()


def test_a_reachable_store_answers_ping(store_on):
    assert store_on.ping() is True


# --- SQLite settings -------------------------------------------------------------------------

def test_the_sqlite_file_database_runs_in_wal_mode_with_a_busy_timeout(sqlite_store):
    with sqlite_store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_two_sqlite_writers_take_turns_instead_of_failing_with_database_is_locked(sqlite_store, clock):
    """Each transaction reads then writes, the pattern a deferred BEGIN turns into
    "database is locked"; with BEGIN IMMEDIATE the writers queue and no update is lost."""
    save(sqlite_store, new_state(answers={"count": 0}), clock.now())
    replicas = [SqlStore(make_engine(str(sqlite_store.engine.url)), TEST_SEALER) for _ in range(2)]
    rounds = 25
    start = threading.Barrier(len(replicas))

    def bump_counter(store: SqlStore, name: str) -> None:
        start.wait()
        for n in range(rounds):
            with store.transaction() as uow:
                state = uow.conversations.load(KEY, "registration")
                assert state is not None
                counted = {**state.answers, "count": state.answers["count"] + 1}
                uow.conversations.save(KEY, replace(state, answers=counted), clock.now())
                uow.processed.add(f"{name}-{n}", clock.now())

    try:
        with ThreadPoolExecutor(len(replicas)) as pool:
            done = [pool.submit(bump_counter, store, f"w{i}") for i, store in enumerate(replicas)]
            for future in done:
                future.result()  # re-raises "database is locked" or StaleState
    finally:
        for store in replicas:
            store.close()
    stored = load(sqlite_store)
    assert stored is not None
    assert stored.answers["count"] == len(replicas) * rounds
    assert stored.revision == 1 + len(replicas) * rounds
    assert count(sqlite_store, ProcessedEventRow.__table__) == len(replicas) * rounds


def test_a_new_address_is_merged_over_the_saved_one(store_on, clock):
    with store_on.transaction() as uow:
        uow.people.arrive(AMIRA, {"team": "T1", "user": "U1", "channel": "D1"}, clock.now())
    with store_on.transaction() as uow:  # a mention in a channel: no direct-message channel
        uow.people.arrive(AMIRA, {"team": "T1", "user": "U1", "locale": "fr-CA"}, clock.now())
    assert identity_row(store_on, AMIRA)["address"] == {
        "team": "T1", "user": "U1", "channel": "D1", "locale": "fr-CA"}


def test_a_mistaken_statement_is_a_bug_not_an_outage(suite_store):
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError, ProgrammingError

    # SQLite calls it an OperationalError, PostgreSQL a ProgrammingError: neither is Unavailable.
    with pytest.raises((OperationalError, ProgrammingError)), suite_store.transaction() as uow:
        uow.outbox._conn.execute(text("SELECT * FROM no_such_table"))
