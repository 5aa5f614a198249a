"""Polls on the network's suggestions: the team starts one in chat, each active member gets one
message with a button per option (in their language), votes once and may change the vote;
members see counts, the team also a chart; forged vote buttons are refused and audited."""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image

from assistant.clock import FakeClock
from assistant.i18n import Translator, translate
from assistant.messages import Card, File, Outgoing, Reply
from assistant.model import Poll, PollOption, Suggestion
from assistant.ports import Store
from assistant.services.polls import start_poll, vote_number, write_poll
from storage.repositories import SqlStore
from tests.harness import ChatHarness
from tests.inbox import refs
from tests.test_curriculum import BREATH, NETWORK, Hub, audited, context, deliver, press

TOPICS = (BREATH, "Mouth care in the last days", "Talking to families about dying")


class Polled(Hub):
    """The hub with three open topics (Amira's, Ben's, René's)."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        super().__init__(store, clock)
        self.topics: list[Suggestion] = [
            self.suggestion(person, topic)
            for person, topic in zip((self.amira, self.ben, self.rene), TOPICS, strict=True)]
        with store.transaction() as uow:
            self.network_id = next(n.id for n in uow.networks.all() if n.slug == "care-homes")

    def poll(self, days: int = 7, question: str = "Which topic next?") -> Poll:
        with self.store.transaction() as uow:
            ctx = context(uow, self.fay, "console:fay", self.clock.now())
            started = start_poll(ctx, "care-homes", question, [s.id for s in self.topics], days)
            assert isinstance(started, list), started
            [poll] = uow.polls.of_network("care-homes", ("open",))
        return poll

    def counts(self, poll: Poll) -> dict[int, int]:
        with self.store.transaction() as uow:
            return uow.polls.counts(poll.id)


def vote(person: ChatHarness, poll: Poll, option: int) -> ChatHarness:
    return press(person, f"act:vote:{vote_number(poll.id, option)}")


def polls_sent(outgoing: list[Outgoing]) -> list[Outgoing]:
    return [m for m in outgoing if any(r.startswith("act:vote:") for r in refs(m))]


# --- the team starts a poll ------------------------------------------------------------------------


def test_the_team_starts_a_poll_and_every_member_gets_one_message(store_on: SqlStore,
                                                                  clock: FakeClock) -> None:
    hub = Polled(store_on, clock)
    fay = hub.chat("fay")
    fay.say("suggestions")
    start = f"act:poll_start:{hub.network_id}"
    assert start in [o.ref for o in fay.options()]

    press(fay, start)
    fay.expect_question("question")
    fay.pick(fay.tr("runtime.use_suggestion", value=fay.tr("curriculum.poll.question.default")))
    fay.expect_question("options")
    fay.say("1, 3")
    fay.expect_question("days")
    fay.say("7")
    fay.expect_question("send")
    assert BREATH in fay.text and TOPICS[1] not in fay.text  # the preview lists the two
    fay.say("yes")
    fay.expect_said("curriculum.poll.started", count=6, network=NETWORK,
                    when="Monday 9 June, 10:00 (United Kingdom Time)")  # Fay's own zone

    with store_on.transaction() as uow:
        [poll] = uow.polls.of_network("care-homes", ("open",))
    assert poll.options == (PollOption(BREATH, hub.topics[0].id),
                            PollOption(TOPICS[2], hub.topics[2].id))
    assert poll.closes_at == clock.now() + timedelta(days=7)

    sent = polls_sent(deliver(store_on, clock).got)
    # Every active member once: not the other network's Omar, not Lena who left; René's waits
    # for the end of his quiet hours (05:00 in Montreal).
    assert sorted(m.identity for m in sent) == sorted(
        f"console:{u}" for u in ("fay", "hana", "amira", "ben", "bea"))
    amira = next(m for m in sent if m.identity == "console:amira")
    assert refs(amira) == [f"act:vote:{poll.id * 10}", f"act:vote:{poll.id * 10 + 1}",
                           f"act:poll_results:{poll.id}"]
    card = next(p for p in amira.reply.parts if isinstance(p, Card))
    assert card.title == "What should we cover next?"
    assert [o.label for o in card.actions][:2] == [BREATH, TOPICS[2]]

    clock.advance(hours=4)
    [rene] = polls_sent(deliver(store_on, clock).got)
    assert rene.identity == "console:rene"
    text = rene.reply.fallback_text()
    assert translate("curriculum.poll.question.default", "fr") in text  # the usual question, in French
    assert "lundi 9 juin, 05 h 00" in text  # closing in his own zone
    assert polls_sent(deliver(store_on, clock).got) == []  # exactly once


def test_a_poll_needs_two_to_five_options(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Polled(suite_store, clock)
    fay = hub.chat("fay")
    press(fay, f"act:poll_start:{hub.network_id}")
    fay.say("What next?")
    fay.say("2")
    fay.say("14")
    fay.say("yes")
    fay.expect_said("curriculum.poll.options.count", min=2, max=5)
    fay.expect_question("options")
    fay.say("2, 3")
    fay.expect_question("send")  # asked again: the options changed
    fay.say("yes")
    with suite_store.transaction() as uow:
        [poll] = uow.polls.of_network("care-homes", ("open",))
    assert [o.label for o in poll.options] == list(TOPICS[1:])


def test_days_out_of_range_are_asked_again(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Polled(suite_store, clock)
    fay = hub.chat("fay")
    press(fay, f"act:poll_start:{hub.network_id}")
    fay.say("What next?")
    fay.say("1, 2")
    for typed in ("0", "45", "next week"):
        fay.say(typed)
        fay.expect_said("curriculum.poll.days.range", max=30)
        fay.expect_question("days")


def test_with_fewer_than_two_topics_there_is_no_poll(suite_store: SqlStore,
                                                     clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    hub.suggestion(hub.amira, BREATH)
    with suite_store.transaction() as uow:
        network = next(n.id for n in uow.networks.all() if n.slug == "care-homes")
    fay = hub.chat("fay")
    press(fay, f"act:poll_start:{network}")
    fay.expect_said("curriculum.poll.too_few", network=NETWORK)
    assert fay.state() is None


# --- voting ------------------------------------------------------------------------------------------


def test_one_vote_per_member_and_a_second_vote_changes_it(store_on: SqlStore,
                                                          clock: FakeClock) -> None:
    hub = Polled(store_on, clock)
    poll = hub.poll()
    amira, ben, rene = hub.chat("amira"), hub.chat("ben"), hub.chat("rene", "fr")

    vote(amira, poll, 0).expect_said("curriculum.vote.new", option=BREATH)
    vote(amira, poll, 1).expect_said("curriculum.vote.changed", option=TOPICS[1])
    vote(ben, poll, 1).expect_said("curriculum.vote.new", option=TOPICS[1])
    vote(ben, poll, 1).expect_said("curriculum.vote.same", option=TOPICS[1])
    vote(rene, poll, 2).expect_said("curriculum.vote.new", "fr", option=TOPICS[2])
    assert hub.counts(poll) == {1: 2, 2: 1}
    assert [r["detail"]["outcome"] for r in audited(store_on, "poll.voted")] == [
        "new", "changed", "new", "same", "new"]


def test_members_see_counts_without_names_and_the_team_gets_a_chart(store_on: SqlStore,
                                                                     clock: FakeClock) -> None:
    hub = Polled(store_on, clock)
    poll = hub.poll()
    amira, ben, fay = hub.chat("amira"), hub.chat("ben"), hub.chat("fay")
    vote(amira, poll, 0)
    vote(ben, poll, 0)
    vote(fay, poll, 2)

    press(amira, f"act:poll_results:{poll.id}")
    amira.expect_said("curriculum.results.heading", network=NETWORK, total=3,
                      state=amira.tr("curriculum.results.open",
                                     when="Monday 9 June, 10:00 (United Kingdom Time)"))
    [card] = [p for p in amira.parts if isinstance(p, Card)]
    assert {f.label: f.value for f in card.facts} == {
        BREATH: "2", TOPICS[1]: "0", TOPICS[2]: "1", "Your vote": BREATH}
    assert not any(isinstance(p, File) for p in amira.parts)
    assert "Test" not in amira.text  # nobody's name
    assert card.actions == ()  # no closing for a participant

    fay.say("poll results")
    [chart] = [p for p in fay.parts if isinstance(p, File)]
    assert chart.media_type == "image/png"
    image = Image.open(io.BytesIO(chart.content))
    image.verify()
    assert image.format == "PNG" and image.size[0] > 400
    assert f"act:poll_close:{poll.id}" in [o.ref for o in fay.options()]


def test_french_results_read_french(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Polled(suite_store, clock)
    hub.poll(question="")
    rene = hub.chat("rene", "fr")
    rene.say("sondage")
    assert translate("curriculum.poll.question.default", "fr") in rene.text
    rene.expect_said("curriculum.results.heading", "fr", network=NETWORK, total=0,
                     state=translate("curriculum.results.open", "fr",
                                     when="lundi 9 juin, 05 h 00 (heure : Canada (Toronto))"))
    assert translate("curriculum.poll.question.default", "fr") in rene.text
    assert not any(isinstance(p, File) for p in rene.parts)  # a participant: counts, no chart


def test_closing_a_poll_stops_votes_kindly_and_withdraws_unsent_messages(
        suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Polled(suite_store, clock)
    poll = hub.poll()
    amira, fay = hub.chat("amira"), hub.chat("fay")
    vote(amira, poll, 0)

    press(fay, f"act:poll_close:{poll.id}")
    fay.expect_said("curriculum.poll.closed_now", question="Which topic next?")
    fay.expect_said("curriculum.results.closed")
    vote(amira, poll, 1).expect_said("curriculum.poll.closed")
    assert hub.counts(poll) == {0: 1}
    assert polls_sent(deliver(suite_store, clock).got) == []  # none left to send
    with suite_store.transaction() as uow:
        contact = uow.people.contacts([hub.ben])[hub.ben]
        assert write_poll(uow, {"poll": poll.id}, contact, Translator("en"), clock.now()) == (
            "withdrawn")
    assert audited(suite_store, "action.refused")[-1]["detail"] == {
        "reason": "curriculum.poll.closed", "action": "vote"}


def test_votes_after_the_closing_time_are_refused(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Polled(suite_store, clock)
    poll = hub.poll(days=2)
    clock.advance(hours=48)
    vote(hub.chat("amira"), poll, 0).expect_said("curriculum.poll.closed")
    assert hub.counts(poll) == {}


def test_forged_vote_references_are_refused_and_audited(store_on: SqlStore,
                                                        clock: FakeClock) -> None:
    hub = Polled(store_on, clock)
    poll = hub.poll()
    omar, lena, amira = hub.chat("omar"), hub.chat("lena"), hub.chat("amira")
    attempts = [(omar, vote_number(poll.id, 0)),        # another network's facilitator
                (lena, vote_number(poll.id, 0)),        # left the network
                (amira, vote_number(poll.id, 3)),       # three options: 0, 1, 2
                (amira, vote_number(poll.id, 9)),
                (amira, vote_number(poll.id + 1, 0))]   # no such poll
    for person, number in attempts:
        press(person, f"act:vote:{number}").expect_said("curriculum.poll.not_yours")
    assert hub.counts(poll) == {}
    refused = audited(store_on, "action.refused")
    assert [(r["actor"], r["subject"]) for r in refused] == [
        ("console:omar", f"poll:{poll.id}"), ("console:lena", f"poll:{poll.id}"),
        ("console:amira", f"poll:{poll.id}"), ("console:amira", f"poll:{poll.id}"),
        ("console:amira", f"poll:{poll.id + 1}")]
    # Results of another network's poll are not shown either.
    press(omar, f"act:poll_results:{poll.id}").expect_said("curriculum.poll.not_yours")
    assert "Which topic next?" not in omar.text


def test_team_poll_buttons_forged_by_a_participant_are_refused(suite_store: SqlStore,
                                                               clock: FakeClock) -> None:
    hub = Polled(suite_store, clock)
    poll = hub.poll()
    amira = hub.chat("amira")
    press(amira, f"act:poll_close:{poll.id}").expect_said("curriculum.team_only")
    with suite_store.transaction() as uow:
        still = uow.polls.get(poll.id)
    assert still is not None and still.state == "open"
    assert audited(suite_store, "action.refused")[-1]["detail"]["action"] == "poll_close"


def test_the_poll_message_is_withdrawn_for_someone_who_left(suite_store: SqlStore,
                                                            clock: FakeClock) -> None:
    hub = Polled(suite_store, clock)
    poll = hub.poll()
    with suite_store.transaction() as uow:
        contact = uow.people.contacts([hub.ben])[hub.ben]
        written = write_poll(uow, {"poll": poll.id}, contact, Translator("fr"), clock.now())
        assert isinstance(written, Reply)
        assert translate("curriculum.poll.message", "fr", network=NETWORK) in written.fallback_text()
        uow.memberships.leave(hub.ben, "care-homes", clock.now())
        assert write_poll(uow, {"poll": poll.id}, contact, Translator("en"), clock.now()) == (
            "withdrawn")


def test_poll_results_for_people_without_polls_or_networks(suite_store: SqlStore,
                                                           clock: FakeClock) -> None:
    Hub(suite_store, clock)
    amira = ChatHarness(suite_store, clock, user="amira")
    amira.say("poll results")
    amira.expect_said("curriculum.results.none")
    lena = ChatHarness(suite_store, clock, user="lena")
    lena.say("polls")
    lena.expect_said("curriculum.not_member")
