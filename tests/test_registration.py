"""Registration, as a person would chat it: every branch a user can reach, in both languages."""

from __future__ import annotations

import pytest

from assistant.events import Hints, UserChose, UserSaid
from storage.repositories import SqlStore
from tests.harness import ChatHarness, seeded

# (step the answer is for, what the person types) - numbers pick from the listed options
SCRIPT = [
    ("begin", "1"),
    ("full_name", "Amira Haddad"),
    ("email", "Amira@Example.ORG"),
    ("profession", "registered nurse"),
    ("organisation", "St Columba's Hospice"),
    ("care_setting", "hospice"),
    ("region", "EH6"),
    ("country", "Scotland"),
    ("time_zone", "Glasgow"),
    ("time_zone", "yes"),
    ("language", "English"),
    ("networks", "Care Homes ECHO"),
    ("consent", "1"),  # "I agree", by number so French runs reuse the script
]


@pytest.fixture
def chat(suite_store: SqlStore, clock) -> ChatHarness:
    return ChatHarness(seeded(suite_store, clock), clock)


def follow(chat: ChatHarness, script: list[tuple[str, str]], until: str | None = None) -> None:
    chat.start()
    for step, text in script:
        if step == until:
            return
        chat.expect_question(step)
        chat.say(text)


def registered(chat: ChatHarness):
    with chat.store.transaction() as uow:
        person = uow.people.by_identity(chat.identity)
        if person is None:
            return None, [], []
        return person, uow.memberships.of(person.id), uow.consents.history(person.id)


def test_a_newcomer_is_greeted_with_what_spoke_does(chat: ChatHarness) -> None:
    chat.start()
    chat.expect_said("registration.welcome")
    chat.expect_question("begin")
    assert [o.label for o in chat.options()] == ["Register", "Not now"]


def test_a_full_registration_stores_profile_membership_and_consent(chat: ChatHarness) -> None:
    follow(chat, SCRIPT)
    chat.expect_question("__review__")
    assert "Amira@example.org" in chat.text  # the domain is normalised, not the local part
    assert "Care Homes ECHO" in chat.text
    chat.say("yes")
    chat.expect_said("registration.done", name="Amira")
    chat.expect_said("networks.joined.active", network="Care Homes ECHO")
    person, memberships, consents = registered(chat)
    assert person is not None
    assert (person.full_name, person.email, person.profession) == (
        "Amira Haddad", "Amira@example.org", "Registered nurse")
    assert (person.region, person.country, person.time_zone) == ("EH6", "GB", "Europe/London")
    assert person.care_setting == "hospice" and person.language == "en"
    assert [(m.network, m.status, m.role) for m in memberships] == [
        ("care-homes", "active", "participant")]
    assert [(c.network, c.version, c.decision, c.language) for c in consents] == [
        ("care-homes", "v2025-03", "given", "en")]
    assert len(consents[0].text_hash) == 64
    assert chat.state() is None  # the finished conversation leaves no state behind


def test_buttons_work_as_well_as_typing(chat: ChatHarness) -> None:
    chat.start()
    chat.pick("Register")
    chat.expect_question("full_name")
    chat.say("Amira Haddad")
    chat.say("amira@example.org")
    chat.pick("GP")
    assert chat.answers["profession"] == "GP"


def test_help_explains_the_step_then_asks_it_again(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="profession")
    chat.say("help")
    chat.expect_said("fields.profession.help")
    chat.expect_said("runtime.help.commands")
    chat.expect_question("profession")
    assert chat.answers["email"] == "Amira@example.org"  # nothing lost


def test_an_invalid_answer_is_refused_with_the_reason_and_asked_again(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="email")
    chat.say("amira.example.org")
    chat.expect_said("parse.email.no_at")
    chat.expect_question("email")
    chat.say("amira@example.org")
    chat.expect_question("profession")


def test_three_refusals_bring_the_help(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="email")
    for _ in range(2):
        chat.say("nope")
        assert chat.tr("fields.email.help") not in chat.text
    chat.say("nope")
    chat.expect_said("fields.email.help")


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_line_asks_again(chat: ChatHarness, text: str) -> None:
    follow(chat, SCRIPT, until="organisation")
    chat.say(text)
    chat.expect_said("runtime.empty")
    chat.expect_question("organisation")


def test_over_long_input_is_refused(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="organisation")
    chat.say("x" * 2001)
    chat.expect_said("runtime.too_long", max=2000)
    chat.expect_question("organisation")
    assert "organisation" not in chat.answers


def test_back_reasks_the_previous_question_offering_to_keep_the_answer(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="profession")
    chat.say("back")
    chat.expect_question("email")
    chat.pick(chat.tr("runtime.keep", value="Amira@example.org"))
    chat.expect_question("profession")
    assert chat.answers["email"] == "Amira@example.org"


def test_back_at_the_first_question_says_there_is_nothing_before(chat: ChatHarness) -> None:
    chat.start()
    chat.say("back")
    chat.expect_said("runtime.back.nothing")
    chat.expect_question("begin")


def test_a_required_question_cannot_be_skipped(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="email")
    chat.say("skip")
    chat.expect_said("runtime.skip.not_allowed")
    chat.expect_question("email")


def test_networks_can_be_skipped_and_then_no_consent_is_asked(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="networks")
    chat.say("passer")
    chat.expect_question("__review__")
    chat.say("yes")
    person, memberships, consents = registered(chat)
    assert person is not None and memberships == [] and consents == []


def test_several_networks_at_once_with_their_states(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="networks")
    chat.say("care homes echo, palliative care essentials echo (full: join the waiting list)")
    chat.expect_question("consent")
    assert "Care Homes ECHO" in chat.text and "Palliative Care Essentials ECHO" in chat.text
    chat.say("I agree")
    chat.say("yes")
    _, memberships, consents = registered(chat)
    assert {(m.network, m.status) for m in memberships} == {
        ("care-homes", "active"), ("palliative-essentials", "waitlisted")}
    assert len(consents) == 2


def test_a_closed_network_is_listed_but_cannot_be_joined(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="networks")
    chat.expect_said("registration.networks.closed", networks="Covid-19 Care Homes ECHO")
    assert all("Covid" not in o.label for o in chat.options())
    chat.say("Covid-19 Care Homes ECHO")
    assert chat.tr("runtime.choose.unknown", options="x").split("{")[0][:20] in chat.text
    chat.expect_question("networks")


def test_a_full_postcode_keeps_only_its_first_part_after_asking(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="region")
    chat.say("EH6 8QX")
    chat.expect_said("parse.region.kept_outward", kept="EH6")
    chat.say("no")
    chat.expect_question("region")
    assert "region" not in chat.answers
    chat.say("eh6 8qx")
    chat.pick("Yes")
    assert chat.answers["region"] == "EH6"


def test_the_time_zone_is_confirmed_with_the_local_time(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="time_zone")
    chat.say("Toronto")
    assert "05:00" in chat.text  # 09:00 UTC on 2 June is 05:00 in Toronto
    chat.say("no")
    chat.expect_question("time_zone")
    chat.say("Glasgow")
    assert "10:00" in chat.text
    chat.say("1")
    assert chat.answers["time_zone"] == "Europe/London"


def test_the_platform_profile_is_offered_but_still_confirmed(suite_store, clock) -> None:
    hints = Hints(display_name="Amira Haddad", email="amira@nhs.example", time_zone="Europe/London")
    chat = ChatHarness(seeded(suite_store, clock), clock, hints=hints)
    chat.start()
    chat.say("1")
    chat.pick(chat.tr("runtime.use_suggestion", value="Amira Haddad"))
    assert chat.answers["full_name"] == "Amira Haddad"
    chat.pick(chat.tr("runtime.use_suggestion", value="amira@nhs.example"))
    assert chat.answers["email"] == "amira@nhs.example"


def test_review_lets_one_answer_change_then_returns_to_review(chat: ChatHarness) -> None:
    follow(chat, SCRIPT)
    chat.say("change email")
    chat.expect_question("email")
    chat.say("a.haddad@example.org")
    chat.expect_question("__review__")
    assert "a.haddad@example.org" in chat.text
    chat.pick("Confirm and register")
    person, _, _ = registered(chat)
    assert person is not None and person.email == "a.haddad@example.org"


def test_changing_networks_at_review_asks_for_consent_again(chat: ChatHarness) -> None:
    follow(chat, SCRIPT)
    chat.pick(chat.tr("runtime.review.change", label="Networks"))
    chat.expect_question("networks")
    chat.say("Anticipatory Care Planning ECHO (opening soon)")
    chat.expect_question("consent")
    assert "Anticipatory Care Planning ECHO" in chat.text


def test_changing_the_role_away_from_other_drops_the_other_answer(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="profession")
    chat.say("other")
    chat.expect_question("profession_other")
    chat.say("Chaplain")
    chat.expect_question("organisation")
    chat.say("change role")
    chat.say("GP")
    assert "profession_other" not in chat.answers


def test_an_unknown_change_lists_what_can_be_changed(chat: ChatHarness) -> None:
    follow(chat, SCRIPT)
    chat.say("change shoe size")
    assert "E-mail" in chat.text
    chat.expect_question("__review__")


def test_review_mid_way_shows_answers_so_far(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="organisation")
    chat.say("review")
    chat.expect_said("runtime.review.so_far")
    assert "Amira Haddad" in chat.text
    chat.expect_question("organisation")


def test_cancel_ends_registration_and_saves_nothing(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="organisation")
    chat.say("cancel")
    chat.expect_said("registration.cancelled")
    assert chat.state() is None
    assert registered(chat)[0] is None


def test_not_now_pauses_and_register_resumes_at_the_same_step(chat: ChatHarness) -> None:
    chat.start()
    chat.say("Not now")
    chat.expect_said("registration.begin.later")
    chat.say("help")
    chat.expect_said("help.newcomer")
    chat.say("register")
    chat.expect_question("begin")


def test_not_now_at_consent_keeps_every_answer(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="consent")
    chat.say("not now")
    chat.expect_said("consent.later")
    assert registered(chat)[0] is None
    chat.say("register")
    chat.expect_question("consent")
    assert chat.answers["organisation"] == "St Columba's Hospice"


def test_a_restart_resumes_at_the_same_step(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="care_setting")
    chat.restart().start()
    chat.expect_said("runtime.welcome_back")
    chat.expect_question("care_setting")
    chat.say("hospice")
    chat.expect_question("region")


def test_a_redelivered_event_is_processed_once(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="organisation")
    first = chat.send(UserSaid("St Columba's Hospice"), delivery_id="slack-Ev1")
    again = chat.send(UserSaid("Somewhere else"), delivery_id="slack-Ev1")
    assert first.replies and again.duplicate and not again.replies
    assert chat.answers["organisation"] == "St Columba's Hospice"
    chat.expect_question("care_setting")


def test_an_old_button_is_refused_and_the_current_question_shown(chat: ChatHarness) -> None:
    chat.start()
    old = chat.option("Register").ref
    chat.pick("Register")
    chat.say("Amira Haddad")
    chat.send(UserChose(old))
    chat.expect_said("runtime.stale")
    chat.expect_question("email")
    assert chat.answers["full_name"] == "Amira Haddad"


@pytest.mark.parametrize("forged", [
    "registration:begin:0:yes",            # wrong nonce
    "registration:email:1:yes",            # a step that is not pending
    "profile:field:1:email",               # another dialog
    "registration:profession:9999:GP",     # made up
    "garbage",
])
def test_a_forged_button_changes_nothing(chat: ChatHarness, forged: str) -> None:
    follow(chat, SCRIPT, until="profession")
    before = chat.state()
    chat.send(UserChose(forged))
    chat.expect_said("runtime.stale")
    after = chat.state()
    assert after is not None and before is not None
    assert (after.answers, after.pending_step) == (before.answers, before.pending_step)


def test_a_forged_option_value_for_the_pending_step_is_refused(chat: ChatHarness) -> None:
    follow(chat, SCRIPT, until="networks")
    state = chat.state()
    assert state is not None
    chat.send(UserChose(f"registration:networks:{state.nonce}:covid-care"))
    chat.expect_said("runtime.stale")
    assert "networks" not in chat.answers


def test_registering_twice_is_refused(chat: ChatHarness) -> None:
    follow(chat, SCRIPT)
    chat.say("yes")
    chat.say("register")
    chat.expect_said("registration.already")


def test_french_registration_from_start_to_finish(suite_store, clock) -> None:
    chat = ChatHarness(seeded(suite_store, clock), clock, hints=Hints(language="fr-CA"))
    chat.start()
    chat.expect_said("registration.welcome", "fr")
    french = [("begin", "1"), ("full_name", "Élise Tremblay"), ("email", "elise@exemple.ca"),
              ("profession", "Préposée"), ("profession", "autre"), ("profession_other", "Préposée"),
              ("organisation", "CHSLD Laval"), ("care_setting", "1"), ("region", "H7N 1A1"),
              ("region", "oui"), ("country", "Canada"), ("time_zone", "Montréal"),
              ("time_zone", "oui"), ("language", "français"),
              ("networks", "care homes echo"), ("consent", "j'accepte")]
    for step, text in french:
        chat.expect_question(step)
        chat.say(text)
    chat.expect_question("__review__")
    chat.expect_said("registration.review.title", "fr")
    chat.say("aide")
    chat.expect_said("runtime.review.help", "fr")
    chat.say("modifier courriel")
    chat.expect_question("email")
    chat.say("elise.t@exemple.ca")
    chat.say("oui")
    chat.expect_said("registration.done", "fr", name="Élise")
    person, _memberships, consents = registered(chat)
    assert person is not None
    assert (person.language, person.region, person.country, person.time_zone) == (
        "fr", "H7N", "CA", "America/Toronto")
    assert person.profession == "Préposée" and person.email == "elise.t@exemple.ca"
    assert consents[0].language == "fr"
