"""The co-created curriculum: members suggest topics and case themes (checked for identifiers,
within length limits) and propose series that reach the hub admins only; the team lists the
suggestions, merges duplicates, closes them or makes one a session; forged team buttons are
refused and audited."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import Actor, Hints, UserChose
from assistant.i18n import Translator, translate
from assistant.messages import Card, Outgoing, Reply
from assistant.model import Suggestion
from assistant.outbox import Sender
from assistant.ports import Store, UnitOfWork
from assistant.runtime import Directory
from assistant.services.context import Refused, ServiceContext
from assistant.services.curriculum import suggest, write_series_proposal
from assistant.services.polls import write_poll
from storage.repositories import SqlStore
from storage.tables import AuditRow
from tests.community import member, open_networks, series
from tests.harness import ChatHarness
from tests.inbox import Inbox

AUDIT = AuditRow.__table__  # type: ignore[attr-defined]
NETWORK = "Care Homes ECHO"
BREATH = "Managing breathlessness at night"


class Hub:
    """Care Homes ECHO: Fay facilitates, Hana is its hub admin; Amira and Ben are members,
    René reads French; Bea is also in Palliative Care Essentials, whose facilitator is Omar
    (and which has no hub admin); Lena left Care Homes."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        open_networks(store, now)
        self.store, self.clock = store, clock
        self.fay = member(store, now, "fay", role="facilitator")
        self.hana = member(store, now, "hana", role="hub_admin")
        self.amira = member(store, now, "amira")
        self.ben = member(store, now, "ben")
        self.rene = member(store, now, "rene", language="fr", zone="America/Montreal")
        self.bea = member(store, now, "bea")
        self.omar = member(store, now, "omar", network="palliative-essentials", role="facilitator")
        self.lena = member(store, now, "lena")
        with store.transaction() as uow:
            uow.memberships.join(self.bea, "palliative-essentials", "participant", "active", now)
            uow.memberships.leave(self.lena, "care-homes", now)

    def chat(self, user: str, language: str = "en") -> ChatHarness:
        return ChatHarness(self.store, self.clock, user=user, hints=Hints(language=language))

    def suggestion(self, person: int, topic: str, network: str = "care-homes",
                   kind: str = "topic") -> Suggestion:
        with self.store.transaction() as uow:
            return uow.suggestions.add(network, person, kind, {"topic": topic, "reason": ""},
                                       self.clock.now())

    def get(self, suggestion_id: int) -> Suggestion:
        with self.store.transaction() as uow:
            found = uow.suggestions.get(suggestion_id)
        assert found is not None
        return found

    def of(self, person: int) -> list[Suggestion]:
        with self.store.transaction() as uow:
            return uow.suggestions.of_person(person)


def context(uow: UnitOfWork, person_id: int, identity: str, now: datetime,
            language: str = "en") -> ServiceContext:
    return ServiceContext(uow, Actor(identity), now, Translator(language), Hints(),
                          Directory(networks=uow.networks.all), uow.people.get(person_id), {})


def press(person: ChatHarness, ref: str) -> ChatHarness:
    result = person.send(UserChose(ref))
    assert result.incident is None, person.text
    return person


def audited(store: SqlStore, action: str) -> list[dict[str, Any]]:
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(
            select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id))]


Writer = Any
WRITERS: Mapping[str, Writer] = {"poll": write_poll, "series_proposal": write_series_proposal}


def deliver(store: Store, clock: FakeClock) -> Inbox:
    inbox = Inbox()
    asyncio.run(Sender(store, inbox, clock, worker="w").deliver_due())
    return inbox


def proposals(inbox: Inbox) -> list[Outgoing]:
    """What the outbox sent about series proposals (the proposer's own replies go there too)."""
    notice = translate("curriculum.propose.notice", "en")
    return [m for m in inbox.got if notice in m.reply.fallback_text()]


def cards(person: ChatHarness) -> list[Card]:
    return [p for p in person.parts if isinstance(p, Card)]


# --- members suggest -----------------------------------------------------------------------------


def test_a_member_suggests_a_topic_and_is_thanked(store_on: SqlStore, clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    amira = hub.chat("amira")

    amira.say("suggest a topic")
    amira.expect_question("kind")  # one network: no need to ask which
    amira.pick("curriculum.kind.topic")
    amira.expect_question("topic")
    amira.expect_said("curriculum.topic.ask.topic")
    amira.say(f"  {BREATH}  ")
    amira.expect_question("reason")
    amira.say("Our night staff feel unsure when to call.")
    amira.expect_said("curriculum.suggest.thanks.topic", topic=BREATH, network=NETWORK)

    [stored] = hub.of(hub.amira)
    assert (stored.network, stored.kind, stored.state) == ("care-homes", "topic", "open")
    assert stored.content == {"topic": BREATH, "reason": "Our night staff feel unsure when to call."}
    [added] = audited(store_on, "suggestion.added")
    assert added["detail"] == {"kind": "topic", "network": "care-homes"}
    assert BREATH not in str(added["detail"])  # the text stays out of the log


def test_a_french_member_suggests_a_case_theme_without_a_reason(suite_store: SqlStore,
                                                               clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    rene = hub.chat("rene", "fr")

    rene.say("Proposer un sujet")
    rene.expect_said("curriculum.kind.ask", "fr")
    rene.pick(translate("curriculum.kind.case_theme", "fr"))
    rene.expect_said("curriculum.topic.ask.case_theme", "fr")
    rene.say("Résidents qui refusent de manger")
    rene.expect_question("reason")
    rene.say("passer")
    rene.expect_said("curriculum.suggest.thanks.case_theme", "fr",
                     topic="Résidents qui refusent de manger", network=NETWORK)
    [stored] = hub.of(hub.rene)
    assert (stored.kind, stored.content["reason"]) == ("case_theme", "")


def test_a_member_of_two_networks_chooses_one(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    bea = hub.chat("bea")
    bea.say("suggest")
    bea.expect_question("network")
    bea.pick("Palliative Care Essentials ECHO")
    bea.pick("curriculum.kind.topic")
    bea.say("Talking about sedation with families")
    bea.say("skip")
    assert [s.network for s in hub.of(hub.bea)] == ["palliative-essentials"]


def test_an_nhs_number_in_a_suggestion_is_flagged_and_never_stored(suite_store: SqlStore,
                                                                   clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    amira = hub.chat("amira")
    amira.say("suggest a topic")
    amira.pick("curriculum.kind.topic")
    amira.say("Pain plan for NHS 999 765 4323 at home")

    amira.expect_question("topic")
    assert amira.tr("curriculum.check.found", found="")[:40] in amira.text
    assert "999 765 4323" not in amira.text  # shown masked, never echoed
    labels = [o.label for o in amira.options()]
    assert amira.tr("runtime.flag.keep") not in labels  # a valid NHS number is certain
    assert hub.of(hub.amira) == []

    amira.pick("runtime.flag.edit")
    amira.say("Pain plans at home")
    amira.say("Families ask about it. NHS 999 765 4323")  # the reason is checked too
    amira.expect_question("reason")
    assert "999 765 4323" not in amira.text
    amira.pick("runtime.flag.edit")
    amira.say("Families ask about it.")
    amira.expect_said("curriculum.suggest.thanks.topic", topic="Pain plans at home",
                      network=NETWORK)
    assert [s.content for s in hub.of(hub.amira)] == [
        {"topic": "Pain plans at home", "reason": "Families ask about it."}]


def test_the_service_refuses_a_certain_identifier_too(suite_store: SqlStore,
                                                      clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    with suite_store.transaction() as uow:
        ctx = context(uow, hub.amira, "console:amira", clock.now())
        assert suggest(ctx, "care-homes", "topic", "NHS 999 765 4323 care plan", None) == Refused(
            "curriculum.identifiers", {"field": "topic"})
        assert suggest(ctx, "care-homes", "topic", "Pain", None).message == "curriculum.suggest.length"
        assert suggest(ctx, "care-homes", "gossip", "Pain at night", None).message == (
            "curriculum.suggest.kind_unknown")
        # A network that is not the member's own: refused and audited.
        assert suggest(ctx, "palliative-essentials", "topic", "Pain at night", None) == Refused(
            "curriculum.not_yours")
    assert hub.of(hub.amira) == []
    [refused] = audited(suite_store, "action.refused")
    assert refused["subject"] == "network:palliative-essentials"


def test_length_limits_ask_again_with_the_reason(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    amira = hub.chat("amira")
    amira.say("suggest a topic")
    amira.pick("curriculum.kind.topic")

    amira.say("Pain")
    amira.expect_said("curriculum.text.too_short", min=5)
    amira.expect_question("topic")
    amira.say("x" * 201)
    amira.expect_said("parse.text.too_long", max=200)
    amira.expect_question("topic")
    amira.say("y" * 200)
    amira.expect_question("reason")
    amira.say("z" * 501)
    amira.expect_said("parse.text.too_long", max=500)
    amira.expect_question("reason")
    amira.say("z" * 500)
    assert [len(s.content["topic"]) for s in hub.of(hub.amira)] == [200]


def test_people_outside_the_networks_get_an_explanation(suite_store: SqlStore,
                                                        clock: FakeClock) -> None:
    Hub(suite_store, clock)
    lena = ChatHarness(suite_store, clock, user="lena")
    lena.say("suggest a topic")
    lena.expect_said("curriculum.not_member")
    assert lena.state() is None
    stranger = ChatHarness(suite_store, clock, user="zed")
    stranger.say("propose a series")
    stranger.expect_said("curriculum.newcomer")
    ben = ChatHarness(suite_store, clock, user="ben")
    ben.say("suggestions")  # the team's list, asked for by a participant
    ben.expect_said("curriculum.team_only_list")


# --- the team ------------------------------------------------------------------------------------


def test_the_team_merges_duplicates_and_sees_them_counted(store_on: SqlStore,
                                                          clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    breath = hub.suggestion(hub.amira, BREATH)
    night = hub.suggestion(hub.ben, "Breathless residents at night")
    again = hub.suggestion(hub.rene, "Essoufflement la nuit")
    mouth = hub.suggestion(hub.ben, "Mouth care", kind="case_theme")
    fay = hub.chat("fay")

    fay.say("suggestions")
    fay.expect_said("curriculum.suggestions.heading", network=NETWORK, count=4)
    assert [c.title for c in cards(fay)][:4] == [
        BREATH, "Breathless residents at night", "Essoufflement la nuit", "Mouth care"]
    assert "Amira Test" in fay.text  # the team sees who suggested it

    press(fay, f"act:suggestion_merge:{night.id}")
    fay.expect_question("target")
    assert "Breathless residents at night" not in [o.label for o in fay.options()]
    fay.pick(BREATH)
    fay.expect_said("curriculum.merged", topic="Breathless residents at night", target=BREATH,
                    count=2)
    assert (hub.get(night.id).state, hub.get(night.id).merged_into) == ("merged", breath.id)

    # Merging the merged-into one carries its duplicates along.
    press(fay, f"act:suggestion_merge:{breath.id}")
    fay.pick("Essoufflement la nuit")
    assert hub.get(breath.id).merged_into == again.id
    assert hub.get(night.id).merged_into == again.id

    fay.say("suggestions")
    fay.expect_said("curriculum.suggestions.heading", network=NETWORK, count=2)
    first = cards(fay)[0]
    assert first.title == "Essoufflement la nuit"  # the most asked for comes first
    assert {f.label: f.value for f in first.facts}["Duplicates merged in"] == "2"
    assert BREATH not in [c.title for c in cards(fay)]
    assert f"act:suggestion_merge:{mouth.id}" in [o.ref for o in fay.options()]

    # A merged suggestion cannot be merged again.
    press(fay, f"act:suggestion_merge:{night.id}")
    fay.expect_said("curriculum.already.merged", topic="Breathless residents at night")


def test_make_it_a_session_marks_it_and_opens_add_session_with_the_topic(
        suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    spring = series(suite_store, clock.now())
    series(suite_store, clock.now(), network="palliative-essentials", name="winter")
    breath = hub.suggestion(hub.amira, BREATH)
    fay = hub.chat("fay")

    press(fay, f"act:suggestion_session:{breath.id}")
    fay.expect_said("curriculum.session.marked", topic=BREATH)
    fay.expect_question("series")
    assert fay.answers["topic"] == BREATH
    assert [o.label for o in fay.options()] == [f"{spring.title} ({NETWORK})"]
    assert hub.get(breath.id).state == "scheduled"
    assert audited(suite_store, "suggestion.scheduled")[0]["subject"] == f"suggestion:{breath.id}"


def test_the_team_closes_a_suggestion(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    breath = hub.suggestion(hub.amira, BREATH)
    fay = hub.chat("fay")
    press(fay, f"act:suggestion_close:{breath.id}")
    fay.expect_said("curriculum.closed", topic=BREATH)
    assert hub.get(breath.id).state == "closed"
    fay.say("suggestions")
    fay.expect_said("curriculum.suggestions.none", network=NETWORK)


def test_team_buttons_forged_by_others_are_refused_and_audited(store_on: SqlStore,
                                                               clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    breath = hub.suggestion(hub.amira, BREATH)
    other = hub.suggestion(hub.ben, "Mouth care")
    with store_on.transaction() as uow:
        care_homes = next(n.id for n in uow.networks.all() if n.slug == "care-homes")
    amira, omar = hub.chat("amira"), hub.chat("omar")  # a participant; another network's team
    forged = [f"act:suggestion_merge:{breath.id}", f"act:suggestion_session:{breath.id}",
              f"act:suggestion_close:{breath.id}", f"act:poll_start:{care_homes}"]
    for person in (amira, omar):
        for ref in forged:
            press(person, ref)
            person.expect_said("curriculum.team_only")
            assert person.state() is None  # no conversation started either
    assert {hub.get(breath.id).state, hub.get(other.id).state} == {"open"}
    refused = audited(store_on, "action.refused")
    assert len(refused) == 8
    assert {r["actor"] for r in refused} == {"console:amira", "console:omar"}
    assert {r["detail"]["action"] for r in refused} == {
        "suggestion_merge", "suggestion_session", "suggestion_close", "poll_start"}


# --- series proposals -----------------------------------------------------------------------------


PROPOSAL = ("Dementia and distress", "Care home nurses and carers",
            "Distress at night is our most common call.", "The old age psychiatry team")


def test_a_series_proposal_reaches_the_hub_admins_only(store_on: SqlStore,
                                                       clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    amira = hub.chat("amira")
    amira.say("propose a series")
    for step, answer in zip(("title", "audience", "why", "teachers"), PROPOSAL, strict=True):
        amira.expect_question(step)
        amira.say(answer)
    amira.expect_said("curriculum.propose.review")
    amira.pick("curriculum.propose.send")
    amira.expect_said("curriculum.propose.thanks", title=PROPOSAL[0], network=NETWORK)
    [stored] = hub.of(hub.amira)
    assert (stored.kind, stored.content["why"]) == ("series", PROPOSAL[2])

    sent = proposals(deliver(store_on, clock))
    assert [m.identity for m in sent] == ["console:hana"]  # not Fay, not the members
    text = sent[0].reply.fallback_text()
    assert translate("curriculum.propose.notice", "en") in text
    assert all(answer in text for answer in PROPOSAL) and "Amira Test" in text
    assert proposals(deliver(store_on, clock)) == []  # exactly once


def test_without_a_hub_admin_the_facilitators_get_the_proposal(suite_store: SqlStore,
                                                               clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    bea = hub.chat("bea")
    bea.say("proposer une série")
    bea.pick("Palliative Care Essentials ECHO")
    for answer in PROPOSAL:
        bea.say(answer)
    bea.pick("curriculum.propose.send")
    assert [m.identity for m in proposals(deliver(suite_store, clock))] == ["console:omar"]


def test_a_proposal_with_an_identifier_is_flagged(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    amira = hub.chat("amira")
    amira.say("propose a series")
    amira.say(PROPOSAL[0])
    amira.say(PROPOSAL[1])
    amira.say("Like the resident with NHS 999 765 4323.")
    amira.expect_question("why")
    assert "999 765 4323" not in amira.text
    assert hub.of(hub.amira) == []


def test_a_proposal_is_withdrawn_for_someone_no_longer_on_the_team(suite_store: SqlStore,
                                                                   clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    with suite_store.transaction() as uow:
        made = uow.suggestions.add("care-homes", hub.amira, "series", dict(zip(
            ("title", "audience", "why", "teachers"), PROPOSAL, strict=True)), clock.now())
        hana = uow.people.contacts([hub.hana])[hub.hana]
        recipe = {"what": "series_proposal", "suggestion": made.id, "person": hub.hana}
        written = write_series_proposal(uow, recipe, hana, Translator("fr"), clock.now())
        assert isinstance(written, Reply)
        assert translate("curriculum.propose.notice", "fr") in written.fallback_text()
        uow.memberships.leave(hub.hana, "care-homes", clock.now())
        assert write_series_proposal(uow, recipe, hana, Translator("en"), clock.now()) == "withdrawn"
