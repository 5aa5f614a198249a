""""Share with your team": the invitation a member forwards, the code that stays the same, and a
colleague typing "join CODE" (a newcomer after registering, a member at once), credited to the
invitation and counted for the network's reports."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import UserChose
from assistant.i18n import translate
from assistant.model import Series
from assistant.ports import Store
from assistant.services.invitations import (
    ALPHABET,
    invitation_counts,
    normalise_code,
)
from storage.repositories import SqlStore
from storage.tables import AuditRow, EnrolmentRow
from tests.community import enrol, member, open_networks, series, session
from tests.harness import ChatHarness

AUDIT, ENROLMENT = AuditRow.__table__, EnrolmentRow.__table__  # type: ignore[attr-defined]
THURSDAY = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)  # 13:00 in London, 08:00 in Toronto
CODE = re.compile(rf"join ([A-Z]{{1,6}}-[{ALPHABET}]{{8}})")


@pytest.fixture
def store(suite_store: SqlStore, clock: FakeClock) -> SqlStore:
    open_networks(suite_store, clock.now())
    return suite_store


def spring(store: Store, clock: FakeClock, **options: object) -> Series:
    made = series(store, clock.now(), **options)  # type: ignore[arg-type]
    for week in range(4):
        session(store, clock.now(), made, THURSDAY.replace(day=5 + 7 * week))
    return made


def press(chat: ChatHarness, ref: str) -> ChatHarness:
    result = chat.send(UserChose(ref))
    assert result.incident is None, chat.text
    return chat


def shared_code(store: Store, clock: FakeClock, user: str, of: Series) -> str:
    chat = press(ChatHarness(store, clock, user=user), f"act:share:{of.id}")
    found = CODE.search(chat.text)
    assert found, chat.text
    return found.group(1)


def status(store: Store, of: Series, person_id: int) -> str | None:
    with store.transaction() as uow:
        return uow.enrolments.status(of.id, person_id)


def credited(store: SqlStore, person_id: int) -> str | None:
    with store.engine.connect() as connection:
        return connection.execute(select(ENROLMENT.c.invitation).where(
            ENROLMENT.c.person_id == person_id)).scalar()


# --- the invitation ---------------------------------------------------------------------------

def test_the_invitation_names_the_series_its_dates_echo_and_how_to_join(store, clock):
    member(store, clock.now(), "amira")
    made = spring(store, clock)
    chat = press(ChatHarness(store, clock, user="amira"), f"act:share:{made.id}")

    chat.expect_said("invite.forward")
    assert "Join me at *Spring series* (Care Homes ECHO)" in chat.text
    assert "• Thursday 5 June, 13:00–14:00 (United Kingdom Time)" in chat.text
    assert translate("invite.more_dates", "en") in chat.text  # four dates, three shown
    assert "All teach, all learn." in chat.text
    code = CODE.search(chat.text)
    assert code and f"message Spoke and type: join {code.group(1)}" in chat.text

    assert shared_code(store, clock, "amira", made) == code.group(1)  # the same code again


def test_a_french_member_gets_a_french_invitation_in_their_zone(store, clock):
    member(store, clock.now(), "ben", language="fr", zone="America/Toronto")
    made = spring(store, clock)
    chat = press(ChatHarness(store, clock, user="ben"), f"act:share:{made.id}")
    chat.expect_said("invite.forward", "fr")
    assert "Rejoignez-moi à *Spring series*" in chat.text
    assert "jeudi 5 juin" in chat.text and "8 h" in chat.text
    assert "Tout le monde enseigne, tout le monde apprend." in chat.text
    assert CODE.search(chat.text)


def test_each_member_has_their_own_unguessable_code(store, clock):
    member(store, clock.now(), "amira")
    member(store, clock.now(), "ben")
    made = spring(store, clock)
    first, second = (shared_code(store, clock, user, made) for user in ("amira", "ben"))
    assert first != second
    for code in (first, second):
        prefix, _, body = code.partition("-")
        assert prefix == "SPRING"
        assert len(body) == 8 and set(body) <= set(ALPHABET)
        assert not set(body) & set("0O1IL")


def test_sharing_a_series_of_another_network_is_refused_and_audited(store, clock):
    member(store, clock.now(), "amira")  # care-homes only
    elsewhere = series(store, clock.now(), name="elsewhere", network="palliative-essentials")
    chat = ChatHarness(store, clock, user="amira")
    for number in (elsewhere.id, 99999):
        press(chat, f"act:share:{number}")
        assert chat.text == translate("sessions.not_yours", "en")
    with store.engine.connect() as connection:
        refused = connection.execute(select(AUDIT.c.subject).where(
            AUDIT.c.action == "action.refused")).scalars().all()
    assert refused == [f"series:{elsewhere.id}", "series:99999"]
    with store.transaction() as uow:
        assert uow.invitations.of(elsewhere.id, 1) is None


def test_the_share_command_and_the_registration_card_lead_to_the_invitation(store, clock):
    member(store, clock.now(), "amira")
    made = spring(store, clock)
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    chat = ChatHarness(store, clock, user="amira")
    chat.say("share")
    chat.expect_said("invite.pick")
    assert {o.ref for o in chat.options()} == {f"act:share:{made.id}", f"act:share:{autumn.id}"}

    press(chat, f"act:join:{made.id}")
    assert chat.option("invite.action.share").ref == f"act:share:{made.id}"
    chat.say("sessions")
    chat.expect_said("invite.hint")


# --- join CODE --------------------------------------------------------------------------------

def test_a_member_joins_at_once_and_the_place_is_credited(store, clock):
    member(store, clock.now(), "amira")
    dan = member(store, clock.now(), "dan")
    made = spring(store, clock)
    code = shared_code(store, clock, "amira", made)

    chat = ChatHarness(store, clock, user="dan")
    chat.say(f"join {code.lower()}")  # as typed, in any case

    chat.expect_said("invite.welcome", series="Spring series")
    chat.expect_said("sessions.joined.registered", series="Spring series")
    assert status(store, made, dan) == "registered"
    assert credited(store, dan) == code
    with store.transaction() as uow:
        assert invitation_counts(uow, "care-homes") == {"Spring series": 1}


def test_a_newcomer_sees_the_series_registers_and_then_gets_the_place(store, clock):
    member(store, clock.now(), "amira")
    made = spring(store, clock)
    code = shared_code(store, clock, "amira", made)

    chat = ChatHarness(store, clock, user="nina")
    chat.say(f"join {code}")
    chat.expect_said("invite.welcome", series="Spring series")
    chat.expect_said("invite.register_first", code=code, network="Care Homes ECHO")
    assert "Thursday 5 June, 12:00–13:00 (UTC)" in chat.text  # the series, before anything
    assert chat.pending == "begin"  # the registration conversation has started

    chat.say("cancel")  # the registration conversation's part is tested with registration:
    nina = member(store, clock.now(), "nina")  # registered, consented and in the network
    chat.say(f"join {code}")
    chat.expect_said("sessions.joined.registered", series="Spring series")
    assert status(store, made, nina) == "registered"
    assert credited(store, nina) == code


def test_a_registered_person_outside_the_network_is_told_how_to_join_it(store, clock):
    member(store, clock.now(), "amira")
    pia = member(store, clock.now(), "pia", network="palliative-essentials")
    made = spring(store, clock)
    code = shared_code(store, clock, "amira", made)
    chat = ChatHarness(store, clock, user="pia")
    chat.say(f"join {code}")
    chat.expect_said("invite.join_network_first", network="Care Homes ECHO", code=code)
    assert status(store, made, pia) is None


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_unknown_code_gets_a_clear_message(store, clock, language):
    member(store, clock.now(), "dan", language=language)
    chat = ChatHarness(store, clock, user="dan")
    for typed in ("join SPRING-AAAAAAAA", "join hello there friend", "join ???"):
        chat.say(typed)
        assert chat.text == translate("invite.unknown", language)
    with store.engine.connect() as connection:
        assert connection.execute(select(AUDIT.c.subject).where(
            AUDIT.c.action == "invitation.unknown")).scalars().all() == ["invitation"] * 3


def test_join_alone_still_registers_a_newcomer(store, clock):
    chat = ChatHarness(store, clock, user="nina")
    chat.say("join")
    assert chat.pending == "begin"


def test_a_place_one_already_has_is_not_credited_nor_ones_own_code(store, clock):
    amira = member(store, clock.now(), "amira")
    dan = member(store, clock.now(), "dan")
    made = spring(store, clock)
    enrol(store, clock.now(), made, dan)
    code = shared_code(store, clock, "amira", made)

    chat = ChatHarness(store, clock, user="dan")
    chat.say(f"join {code}")
    chat.expect_said("sessions.already.registered", series="Spring series")
    own = ChatHarness(store, clock, user="amira")
    own.say(f"join {code}")
    assert status(store, made, amira) == "registered"
    assert credited(store, dan) is None and credited(store, amira) is None


def test_counts_follow_current_places_per_series(store, clock):
    member(store, clock.now(), "amira")
    made = spring(store, clock, capacity=1)
    autumn = series(store, clock.now(), name="autumn")
    people = {user: member(store, clock.now(), user) for user in ("ben", "cara", "dan")}
    spring_code = shared_code(store, clock, "amira", made)
    autumn_code = shared_code(store, clock, "amira", autumn)
    for user in ("ben", "cara"):  # ben gets the one place, cara the waiting list
        ChatHarness(store, clock, user=user).say(f"join {spring_code}")
    ChatHarness(store, clock, user="dan").say(f"join {autumn_code}")
    assert status(store, made, people["cara"]) == "waitlisted"
    with store.transaction() as uow:
        assert invitation_counts(uow, "care-homes") == {"Spring series": 2, "Autumn series": 1}
        assert invitation_counts(uow, "palliative-essentials") == {}

    press(ChatHarness(store, clock, user="dan"), f"act:cancel_place:{autumn.id}")
    with store.transaction() as uow:
        assert invitation_counts(uow, "care-homes") == {"Spring series": 2}


def test_an_opening_soon_series_offers_the_alert_to_someone_invited(store, clock):
    member(store, clock.now(), "amira")
    dan = member(store, clock.now(), "dan")
    autumn = series(store, clock.now(), name="autumn", state="opening_soon")
    code = shared_code(store, clock, "amira", autumn)
    assert code.startswith("AUTUMN-")
    assert translate("invite.dates.soon", "en") in press(
        ChatHarness(store, clock, user="amira"), f"act:share:{autumn.id}").text
    chat = ChatHarness(store, clock, user="dan")
    chat.say(f"join {code}")
    chat.expect_said("sessions.series_opening_soon", series="Autumn series")
    assert [o.ref for o in chat.options()] == [f"act:notify_open:{autumn.id}"]
    assert status(store, autumn, dan) is None


@pytest.mark.parametrize(("typed", "code"), [
    ("SPRING-7F3KQ9WD", "SPRING-7F3KQ9WD"),
    ("spring 7f3k q9wd", "SPRING-7F3KQ9WD"),
    ("*SPRING-7F3KQ9WD*.", "SPRING-7F3KQ9WD"),
    ("7F3KQ9WD", "7F3KQ9WD"),
    ("hello, is this where I sign up for the whole thing", ""),
    ("", ""),
])
def test_codes_are_read_as_people_type_them(typed, code):
    assert normalise_code(typed) == code


def test_a_newcomer_who_registers_from_the_invitation_gets_the_place_at_once(store, clock):
    from tests.test_registration import SCRIPT

    member(store, clock.now(), "amira")
    made = spring(store, clock)
    code = shared_code(store, clock, "amira", made)
    chat = ChatHarness(store, clock, user="nina")
    chat.say(f"join {code}")
    for step, text in SCRIPT[:-2]:
        chat.expect_question(step)
        chat.say(text)
    chat.expect_question("networks")
    chat.pick("Care Homes ECHO")
    chat.expect_question("consent")
    chat.say("1")
    chat.expect_question("__review__")
    chat.say("yes")
    chat.expect_said("sessions.joined.registered", series="Spring series")
    with store.transaction() as uow:
        nina = uow.people.by_identity("console:nina")
    assert nina is not None
    assert status(store, made, nina.id) == "registered"
    assert credited(store, nina.id) == code
