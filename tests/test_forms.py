"""Forms: several answers at once where the front-end can show one (a Slack modal), checked
by the same parsers as the one-question-at-a-time conversation."""

from __future__ import annotations

import pytest

from assistant.events import FormSubmitted, UserChose
from assistant.messages import Form
from storage.repositories import SqlStore
from tests.harness import ChatHarness, seeded
from tests.test_registration import SCRIPT, follow, registered

VALID = {"full_name": "Amira Haddad", "email": "amira@example.org", "organisation": "St Columba's",
         "region": "EH6 8QX", "country": "Scotland", "time_zone": "Glasgow"}


@pytest.fixture
def member(suite_store: SqlStore, clock) -> ChatHarness:
    chat = ChatHarness(seeded(suite_store, clock), clock,
                       capabilities=frozenset({"forms", "inline_form_errors"}))
    follow(chat, SCRIPT)
    chat.say("yes")
    return chat


def open_form(chat: ChatHarness) -> Form:
    chat.say("profile")
    chat.pick("Several at once, in a form")
    forms = [p for p in chat.parts if isinstance(p, Form)]
    assert len(forms) == 1
    return forms[0]


def test_the_form_is_prefilled_with_the_current_profile(member: ChatHarness) -> None:
    form = open_form(member)
    values = {f.key: f.value for f in form.fields}
    assert values["email"] == "Amira@example.org" and values["region"] == "EH6"
    assert [f.label for f in form.fields][:2] == ["Name", "E-mail"]
    assert form.submit == "Save"


def test_a_form_with_errors_reports_each_field_and_saves_nothing(member: ChatHarness) -> None:
    form = open_form(member)
    result = member.send(FormSubmitted(form.ref, {**VALID, "email": "nope", "time_zone": "EST",
                                                   "organisation": " "}))
    assert result.form_errors == {
        "email": member.tr("parse.email.no_at"),
        "time_zone": member.tr("parse.time_zone.abbreviation"),
        "organisation": member.tr("runtime.empty")}
    assert result.replies == ()  # the errors go back on the form, not into the chat
    person, _, _ = registered(member)
    assert person is not None and person.email == "Amira@example.org"
    member.expect_question("details")


def test_a_valid_form_saves_every_field_at_once(member: ChatHarness) -> None:
    form = open_form(member)
    result = member.send(FormSubmitted(form.ref, {**VALID, "email": "a.h@example.org",
                                                   "time_zone": "Toronto"}))
    assert result.form_errors is None
    member.expect_said("profile.saved")
    person, _, _ = registered(member)
    assert person is not None
    assert (person.email, person.region, person.time_zone) == ("a.h@example.org", "EH6",
                                                               "America/Toronto")
    assert member.state() is None


def test_typing_while_a_form_is_open_points_to_the_form(member: ChatHarness) -> None:
    open_form(member)
    member.say("amira@example.org")
    member.expect_said("runtime.form.use_form")
    member.pick("Open the form")
    assert any(isinstance(p, Form) for p in member.parts)


def test_a_stale_form_changes_nothing(member: ChatHarness) -> None:
    form = open_form(member)
    stale = form.ref.replace(form.ref.split(":")[2], "zz")
    result = member.send(FormSubmitted(stale, {**VALID, "email": "x@example.org"}))
    assert result.form_errors is None
    member.expect_said("runtime.stale")
    assert registered(member)[0].email == "Amira@example.org"  # type: ignore[union-attr]


def test_a_front_end_without_forms_is_not_offered_one(suite_store: SqlStore, clock) -> None:
    chat = ChatHarness(seeded(suite_store, clock), clock)
    follow(chat, SCRIPT)
    chat.say("yes")
    chat.say("profile")
    assert "Several at once, in a form" not in [o.label for o in chat.options()]
    state = chat.state()
    assert state is not None
    chat.send(UserChose(f"profile:field:{state.nonce}:form"))
    chat.expect_said("runtime.stale")


def test_without_inline_errors_the_form_comes_back_with_each_error(suite_store: SqlStore,
                                                                    clock) -> None:
    chat = ChatHarness(seeded(suite_store, clock), clock, capabilities=frozenset({"forms"}))
    follow(chat, SCRIPT)
    chat.say("yes")
    form = open_form(chat)
    result = chat.send(FormSubmitted(form.ref, {**VALID, "email": "nope"}))
    assert result.form_errors == {"email": chat.tr("parse.email.no_at")}
    [again] = [p for p in chat.parts if isinstance(p, Form)]
    fields = {f.key: f for f in again.fields}
    assert fields["email"].value == "nope" and fields["email"].error == chat.tr("parse.email.no_at")
    assert fields["organisation"].error is None and fields["organisation"].value == "St Columba's"
