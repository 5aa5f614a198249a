"""Series meant for some professions or care settings: `sessions` shows first what is meant for
the reader; others register with a kind note, or ask the team, as the series says; and the
command line sets who a series is for."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.i18n import translate
from assistant.model import Series
from assistant.ports import Store
from assistant.services.schedule import Actor, add_series, set_audience
from storage.repositories import SqlStore
from storage.tables import OutboxRow
from tests.command_line import Spoke, in_process
from tests.community import OPERATOR, member, session
from tests.conftest import url_of
from tests.harness import ChatHarness

OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
THURSDAY = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)
PROFESSIONS = ("Registered nurse", "GP", "Care assistant")


@pytest.fixture
def store(suite_store: SqlStore, clock: FakeClock) -> SqlStore:
    with suite_store.transaction() as uow:
        uow.networks.add("care-homes", "Care Homes ECHO", PROFESSIONS, "open", "v1",
                         {"en": "Agreement.", "fr": "Accord."}, clock.now())
    return suite_store


def person(store: Store, clock: FakeClock, user: str, profession: str, setting: str,
           language: str = "en", role: str = "participant") -> int:
    made = member(store, clock.now(), user, language=language, role=role)
    with store.transaction() as uow:
        uow.people.update(made, {"profession": profession, "care_setting": setting})
    return made


def targeted(store: Store, clock: FakeClock, name: str, day: int, **values: Any) -> Series:
    with store.transaction() as uow:
        made = add_series(uow, OPERATOR, "care-homes", {
            "name": name, "title": f"{name.title()} series", "time_zone": "Europe/London",
            **values}, clock.now())
    assert isinstance(made, Series), made
    session(store, clock.now(), made, THURSDAY.replace(day=day))
    return made


def press(chat: ChatHarness, ref: str) -> ChatHarness:
    result = chat.send(UserChose(ref))
    assert result.incident is None, chat.text
    return chat


def titles(chat: ChatHarness) -> list[str]:
    return [o.ref for o in chat.options() if o.ref.startswith("act:join:")]


def status(store: Store, of: Series, person_id: int) -> str | None:
    with store.transaction() as uow:
        return uow.enrolments.status(of.id, person_id)


# --- the listing ------------------------------------------------------------------------------

def test_what_is_meant_for_the_reader_comes_first_then_the_rest_by_date(store, clock):
    person(store, clock, "amira", "Registered nurse", "hospice")
    person(store, clock, "greg", "GP", "primary_care")
    general = targeted(store, clock, "general", 5)
    nurses = targeted(store, clock, "nurses", 12, audience_professions=["Registered nurse"])
    homes = targeted(store, clock, "homes", 19, audience_settings=["primary_care"])

    amira = ChatHarness(store, clock, user="amira")
    amira.say("sessions")
    assert titles(amira) == [f"act:join:{nurses.id}", f"act:join:{general.id}",
                             f"act:join:{homes.id}"]
    assert translate("audience.yours", "en", audience="Registered nurse") in amira.text

    greg = ChatHarness(store, clock, user="greg")
    greg.say("sessions")  # a setting matches as well as a profession
    assert titles(greg) == [f"act:join:{homes.id}", f"act:join:{general.id}",
                            f"act:join:{nurses.id}"]
    assert translate("audience.others.note", "en", audience="Registered nurse") in greg.text


@pytest.mark.parametrize("language", ["en", "fr"])
def test_someone_outside_the_audience_registers_with_a_kind_note(store, clock, language):
    greg = person(store, clock, "greg", "GP", "primary_care", language=language)
    nurses = targeted(store, clock, "nurses", 12, audience_professions=["Registered nurse"],
                      audience_settings=["hospice"])
    chat = press(ChatHarness(store, clock, user="greg"), f"act:join:{nurses.id}")

    names = translate("fields.care_setting.hospice", language)
    chat.expect_said("sessions.joined.registered", language, series="Nurses series")
    chat.expect_said("audience.note", language, audience=f"Registered nurse "
                     f"{'and' if language == 'en' else 'et'} {names}")
    assert status(store, nurses, greg) == "registered"


def test_people_in_the_audience_get_no_note(store, clock):
    person(store, clock, "amira", "registered NURSE", "home_care")  # case does not matter
    nurses = targeted(store, clock, "nurses", 12, audience_professions=["Registered nurse"])
    chat = press(ChatHarness(store, clock, user="amira"), f"act:join:{nurses.id}")
    chat.expect_said("sessions.joined.registered", series="Nurses series")
    assert "meant mainly" not in chat.text


def test_under_approval_others_ask_the_team_and_the_audience_registers_at_once(store, clock):
    fay = person(store, clock, "fay", "Registered nurse", "hospice", role="facilitator")
    amira = person(store, clock, "amira", "Registered nurse", "hospice")
    greg = person(store, clock, "greg", "GP", "primary_care")
    nurses = targeted(store, clock, "nurses", 12, audience_professions=["Registered nurse"],
                      others="approval")

    listing = ChatHarness(store, clock, user="greg")
    listing.say("sessions")
    assert translate("audience.others.approval", "en", audience="Registered nurse") in listing.text
    assert not [o for o in listing.options() if o.ref.startswith("act:attend:")]
    [one] = store_sessions(store, nurses)
    press(listing, f"act:attend:{one}")  # the button was not offered: refused on the server
    listing.expect_said("sessions.one_session.not_offered", series="Nurses series")

    chat = press(ChatHarness(store, clock, user="greg"), f"act:join:{nurses.id}")
    chat.expect_said("audience.asked_team", series="Nurses series", audience="Registered nurse")
    assert status(store, nurses, greg) == "pending_approval"
    with store.engine.connect() as connection:
        asked = connection.execute(select(OUTBOX.c.person_id).where(
            OUTBOX.c.dedupe_key.startswith("approval_requested:"))).scalars().all()
    assert asked == [fay]

    press(ChatHarness(store, clock, user="amira"), f"act:join:{nurses.id}")
    assert status(store, nurses, amira) == "registered"

    team = ChatHarness(store, clock, user="fay")
    team.say("approvals")
    team.pick("sessions.approvals.approve")
    assert status(store, nurses, greg) == "registered"


def store_sessions(store: Store, of: Series) -> list[int]:
    with store.transaction() as uow:
        return [s.id for s in uow.schedule.sessions_of(of.id)]


def test_a_series_for_everyone_shows_no_audience(store, clock):
    person(store, clock, "amira", "Registered nurse", "hospice")
    targeted(store, clock, "general", 5)
    chat = ChatHarness(store, clock, user="amira")
    chat.say("sessions")
    assert translate("audience.label", "en") not in chat.text


def test_only_the_team_changes_who_a_series_is_for(store, clock):
    amira = person(store, clock, "amira", "Registered nurse", "hospice")
    general = targeted(store, clock, "general", 5)
    with store.transaction() as uow:
        refused: Any = set_audience(uow, Actor("console:amira", amira), general,
                                    {"others": "approval"}, clock.now())
        assert refused.message == "schedule.not_allowed"
        unknown: Any = set_audience(uow, OPERATOR, general,
                                    {"audience_professions": ["Surgeon"]}, clock.now())
        assert unknown.message == "audience.unknown_profession"
        odd: Any = set_audience(uow, OPERATOR, general, {"others": "maybe"}, clock.now())
        assert odd.message == "audience.bad_others"
        changed: Any = set_audience(uow, OPERATOR, general,
                                    {"audience_professions": ["gp"], "others": "approval"},
                                    clock.now())
        assert (changed.audience_professions, changed.others) == (("GP",), "approval")


# --- the command line -------------------------------------------------------------------------

@pytest.fixture
def spoke(store: SqlStore, tmp_path: Path, clock: FakeClock,
          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Spoke:
    return in_process(url_of(store), clock, tmp_path, capsys, monkeypatch)


def named(store: Store, name: str) -> Series:
    with store.transaction() as uow:
        found = uow.schedule.series_named("care-homes", name)
    assert found is not None
    return found


def test_series_add_takes_the_audience_in_the_networks_spelling(store, spoke):
    ran = spoke("admin", "series", "add", "--network", "care-homes", "--name", "nurses",
                "--title", "For nurses", "--for-professions", "registered nurse, GP",
                "--for-settings", "hospice,care_home_nursing", "--others", "approval")
    assert ran.code == 0, ran.err
    made = named(store, "nurses")
    assert (made.audience_professions, made.audience_settings, made.others) == (
        ("Registered nurse", "GP"), ("hospice", "care_home_nursing"), "approval")


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--for-professions", "Surgeon", "no profession called Surgeon"),
    ("--for-settings", "spaceship", "Care settings must be among"),
])
def test_series_add_refuses_an_audience_it_cannot_match(store, spoke, option, value, said):
    ran = spoke("admin", "series", "add", "--network", "care-homes", "--name", "odd",
                "--title", "Odd", option, value)
    assert ran.code != 0 and said in ran.err
    with store.transaction() as uow:
        assert uow.schedule.series_named("care-homes", "odd") is None


def test_series_update_changes_the_audience_and_the_state(store, spoke):
    assert spoke("admin", "series", "add", "--network", "care-homes", "--name", "later",
                 "--title", "Later", "--state", "opening-soon").code == 0
    ran = spoke("admin", "series", "update", "later", "--network", "care-homes",
                "--for-settings", "hospice", "--others", "approval", "--state", "open")
    assert ran.code == 0, ran.err
    assert "open, meant for hospice (others: approval)" in ran.out
    cleared = spoke("admin", "series", "update", "later", "--network", "care-homes",
                    "--for-settings", "")
    assert "meant for everyone" in cleared.out
    made = named(store, "later")
    assert (made.state, made.audience_settings, made.others) == ("open", (), "approval")
    nothing = spoke("admin", "series", "update", "later", "--network", "care-homes")
    assert nothing.code == 1 and "nothing to change" in nothing.err

