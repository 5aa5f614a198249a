"""After registration: profile, networks, consent, language, export and deletion."""

from __future__ import annotations

import json

import pytest

from assistant.events import UserChose
from assistant.messages import File
from storage.repositories import SqlStore
from tests.harness import ChatHarness, seeded
from tests.test_registration import SCRIPT, follow, registered


@pytest.fixture
def member(suite_store: SqlStore, clock) -> ChatHarness:
    chat = ChatHarness(seeded(suite_store, clock), clock)
    follow(chat, SCRIPT)
    chat.say("yes")
    assert registered(chat)[0] is not None
    return chat


def test_a_returning_member_is_welcomed_by_name_with_the_menu(member: ChatHarness) -> None:
    member.restart().start()
    member.expect_said("welcome.back", name="Amira")
    member.expect_said("help.registered")


def test_help_lists_what_a_member_can_do(member: ChatHarness) -> None:
    member.say("help")
    member.expect_said("help.intro")
    member.expect_said("help.registered")


def test_an_unknown_message_says_so_and_shows_the_menu(member: ChatHarness) -> None:
    member.say("what's the weather")
    member.expect_said("commands.unknown")
    member.expect_said("help.registered")


def test_cancel_with_nothing_in_progress(member: ChatHarness) -> None:
    member.say("annuler")
    member.expect_said("runtime.nothing_to_cancel")


def test_profile_shows_the_details_and_changes_one_field(member: ChatHarness) -> None:
    member.say("profile")
    member.expect_said("profile.title")
    assert "Amira@example.org" in member.text and "United Kingdom" in member.text
    member.expect_question("field")
    member.say("e-mail")
    member.expect_question("email")
    member.say("nope")
    member.expect_said("parse.email.no_at")
    member.say("amira.h@example.org")
    member.expect_said("profile.saved")
    person, _, _ = registered(member)
    assert person is not None and person.email == "amira.h@example.org"
    assert person.full_name == "Amira Haddad"  # nothing else touched


def test_profile_change_of_time_zone_is_confirmed(member: ChatHarness) -> None:
    member.say("profil")
    member.pick("Time zone")
    member.say("Vancouver")
    member.say("yes")
    person, _, _ = registered(member)
    assert person is not None and person.time_zone == "America/Vancouver"


def test_profile_with_nothing_to_change(member: ChatHarness) -> None:
    member.say("profile")
    member.pick("Nothing, thanks")
    member.expect_said("profile.unchanged")
    assert member.state() is None


def test_profile_edit_can_be_cancelled(member: ChatHarness) -> None:
    member.say("profile")
    member.pick("Organisation")
    member.say("cancel")
    member.expect_said("profile.cancelled")
    person, _, _ = registered(member)
    assert person is not None and person.organisation == "St Columba's Hospice"


def test_joining_another_network_asks_for_its_consent(member: ChatHarness) -> None:
    member.say("networks")
    member.pick("Join the waiting list for Palliative Care Essentials ECHO")
    member.expect_question("consent")
    member.expect_said("consent.intro")
    member.pick("I agree")
    member.expect_said("networks.joined.waitlisted", network="Palliative Care Essentials ECHO")
    _, memberships, consents = registered(member)
    assert ("palliative-essentials", "waitlisted") in {(m.network, m.status) for m in memberships}
    assert [c.network for c in consents] == ["care-homes", "palliative-essentials"]


def test_declining_consent_joins_nothing(member: ChatHarness) -> None:
    member.say("networks")
    member.pick("Hear when Anticipatory Care Planning ECHO opens")
    member.pick("Not now")
    member.expect_said("networks.unchanged")
    _, memberships, _ = registered(member)
    assert [m.network for m in memberships] == ["care-homes"]


def test_leaving_a_network_is_confirmed_first(member: ChatHarness) -> None:
    member.say("réseaux")
    member.pick("Leave Care Homes ECHO")
    member.expect_question("confirm_leave")
    member.say("no")
    member.expect_said("networks.unchanged")
    assert [m.network for m in registered(member)[1]] == ["care-homes"]
    member.say("networks")
    member.pick("Leave Care Homes ECHO")
    member.say("yes")
    member.expect_said("networks.left", network="Care Homes ECHO")
    assert registered(member)[1] == []


def test_a_forged_leave_for_a_network_one_is_not_in_is_refused(member: ChatHarness) -> None:
    member.say("networks")
    state = member.state()
    assert state is not None
    member.send(UserChose(f"networks:action:{state.nonce}:leave:covid-care"))
    member.expect_said("runtime.stale")
    assert [m.network for m in registered(member)[1]] == ["care-homes"]


def test_consent_shows_what_was_agreed_and_can_be_withdrawn(member: ChatHarness) -> None:
    member.say("consent")
    member.expect_said("consent.title")
    assert "v2025-03" in member.text
    member.pick("Withdraw for Care Homes ECHO")
    member.expect_question("sure")
    member.say("yes")
    member.expect_said("consent.withdrawn", network="Care Homes ECHO")
    _, memberships, consents = registered(member)
    assert memberships == []
    assert [c.decision for c in consents] == ["given", "withdrawn"]
    member.say("consent")
    member.expect_said("consent.none")


def test_keeping_consent_changes_nothing(member: ChatHarness) -> None:
    member.say("consent")
    member.pick("No, keep it")
    member.expect_said("consent.unchanged")
    assert [c.decision for c in registered(member)[2]] == ["given"]


def test_language_switches_to_french_and_back(member: ChatHarness) -> None:
    member.say("language")
    member.pick("Français")
    member.expect_said("language.saved", "fr")
    member.say("aide")
    member.expect_said("help.registered", "fr")
    member.say("langue")
    member.say("English")
    member.expect_said("language.saved")
    person, _, _ = registered(member)
    assert person is not None and person.language == "en"


def test_a_newcomer_can_choose_french_before_registering(suite_store: SqlStore, clock) -> None:
    chat = ChatHarness(seeded(suite_store, clock), clock)
    chat.start()
    chat.say("Not now")
    chat.say("langue")
    chat.say("2")
    chat.expect_said("language.saved", "fr")
    chat.say("s'inscrire")
    chat.expect_question("begin")
    chat.expect_said("registration.begin.ask", "fr")


def test_member_commands_need_registration_first(suite_store: SqlStore, clock) -> None:
    chat = ChatHarness(seeded(suite_store, clock), clock)
    chat.start()
    chat.say("Not now")
    for command in ("profile", "networks", "consent", "export my data", "delete my data"):
        chat.say(command)
        chat.expect_said("commands.register_first")


def test_export_my_data_is_a_json_file_of_everything_held(member: ChatHarness) -> None:
    member.say("export my data")
    files = [p for p in member.parts if isinstance(p, File)]
    assert len(files) == 1 and files[0].media_type == "application/json"
    document = json.loads(files[0].content)
    assert document["profile"]["email"] == "Amira@example.org"
    assert document["identities"] == ["console:amira"]
    assert document["memberships"][0]["network"] == "care-homes"
    assert document["consent_history"][0]["decision"] == "given"
    member.expect_said("data.export.warning")


def test_delete_my_data_is_confirmed_then_removes_personal_data(member: ChatHarness) -> None:
    member.say("delete my data")
    member.expect_question("sure")
    member.say("no")
    member.expect_said("data.delete.kept")
    assert registered(member)[0] is not None
    member.say("supprimer mes données")
    member.say("yes")
    member.expect_said("data.delete.done")
    assert registered(member)[0] is None
    with member.store.transaction() as uow:
        assert uow.people.find("Amira@example.org") is None
    member.say("hello")  # a stranger again: registration starts afresh
    member.expect_question("begin")
