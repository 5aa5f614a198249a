"""Announcements in a network's channel, through the core: which channel (said in it, or set
from the command line), the team's `announce` with its preview, one public post per version,
written as it goes, and refusals of anyone else or any forged number."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import Actor, Event, UserChose, UserSaid
from assistant.i18n import translate
from assistant.model import Series, Session
from assistant.outbox import Sender
from assistant.ports import Store
from assistant.services.announcements import RECIPE, write_announcement
from assistant.services.schedule import reschedule
from storage.repositories import SqlStore
from storage.tables import AuditRow, OutboxRow
from tests.command_line import in_process
from tests.community import OPERATOR, member, open_networks, series, session
from tests.harness import ChatHarness
from tests.inbox import Inbox, refs

AUDIT, OUTBOX = AuditRow.__table__, OutboxRow.__table__  # type: ignore[attr-defined]
CHANNEL = "console:#care-homes"  # a console "channel": the core only needs the same platform
CHANNEL_ADDRESS = {"channel": "care-homes-room"}
STARTS = datetime(2025, 6, 12, 12, 0, tzinfo=UTC)  # Thursday 12 June, 13:00 in London


class Network:
    """Care Homes ECHO: Fay facilitates, Amira takes part; a spring series with two coming
    sessions; Palliative Essentials has a series of its own."""

    def __init__(self, store: Store, clock: FakeClock, fay_language: str = "en") -> None:
        now = clock.now()
        open_networks(store, now)
        self.fay = member(store, now, "fay", role="facilitator", language=fay_language)
        self.amira = member(store, now, "amira")
        self.spring: Series = series(store, now)
        self.first: Session = session(store, now, self.spring, STARTS)
        self.second: Session = session(store, now, self.spring, STARTS + timedelta(days=7),
                                       topic="Breathlessness")
        self.elsewhere: Series = series(store, now, name="essentials",
                                        network="palliative-essentials")


def with_channel(store: Store) -> None:
    with store.transaction() as uow:
        uow.networks.set_channel("care-homes", CHANNEL, CHANNEL_ADDRESS)


def said_in_channel(chat: ChatHarness, text: str, origin: str = CHANNEL) -> None:
    """A message typed in a channel: the adapter names the channel under `_origin`."""
    assert chat.turns is not None
    chat.last = chat.turns.handle_now(Event(
        f"test:channel:{chat.user}:{text}:{origin}", Actor(chat.identity), UserSaid(text),
        address={"user": chat.user, "_origin": {"identity": origin,
                                                "address": dict(CHANNEL_ADDRESS)}}))


def deliver(store: Store, clock: FakeClock) -> Inbox:
    inbox = Inbox()
    asyncio.run(Sender(store, inbox, clock, worker="w").deliver_due())
    return inbox


def refused(store: SqlStore) -> list[tuple[str, str]]:
    with store.engine.connect() as connection:
        return [(row.subject, row.detail.get("reason")) for row in connection.execute(
            select(AUDIT.c.subject, AUDIT.c.detail).where(AUDIT.c.action == "action.refused"))]


def announce(chat: ChatHarness, label: str) -> None:
    chat.say("announce")
    chat.expect_question("target")
    chat.pick(label)
    chat.expect_question("send")


# --- which channel ---------------------------------------------------------------------------


def test_a_facilitator_saying_use_this_channel_in_it_sets_the_networks_channel(
        store_on: SqlStore, clock: FakeClock) -> None:
    Network(store_on, clock)
    fay = ChatHarness(store_on, clock, user="fay")
    said_in_channel(fay, "use this channel")
    fay.expect_said("announce.channel.set", network="Care Homes ECHO")
    with store_on.transaction() as uow:
        assert uow.networks.channel("care-homes") == (CHANNEL, CHANNEL_ADDRESS)
        assert uow.people.address_of("console:fay") == {"user": "fay"}  # the channel isn't hers
    with store_on.engine.connect() as connection:
        assert connection.execute(select(AUDIT.c.subject).where(
            AUDIT.c.action == "network.channel_set")).scalars().all() == ["network:care-homes"]


def test_a_participant_saying_it_is_refused_and_nothing_changes(store_on: SqlStore,
                                                                clock: FakeClock) -> None:
    Network(store_on, clock)
    amira = ChatHarness(store_on, clock, user="amira")
    said_in_channel(amira, "utiliser ce canal")
    amira.expect_said("announce.channel.team_only")
    with store_on.transaction() as uow:
        assert uow.networks.channel("care-homes") is None
    assert refused(store_on) == [(CHANNEL, "announce.channel.team_only")]


def test_said_in_a_private_chat_it_explains_where_to_say_it(store_on: SqlStore,
                                                            clock: FakeClock) -> None:
    Network(store_on, clock)
    fay = ChatHarness(store_on, clock, user="fay")
    fay.say("use this channel")
    fay.expect_said("announce.channel.mention_needed")
    with store_on.transaction() as uow:
        assert uow.networks.channel("care-homes") is None


def test_a_channel_of_another_platform_is_not_taken(store_on: SqlStore,
                                                    clock: FakeClock) -> None:
    Network(store_on, clock)
    fay = ChatHarness(store_on, clock, user="fay")
    said_in_channel(fay, "use this channel", origin="slack:T1/C0FORGED")
    fay.expect_said("announce.channel.mention_needed")
    with store_on.transaction() as uow:
        assert uow.networks.channel("care-homes") is None


def test_a_facilitator_of_two_networks_chooses_which(store_on: SqlStore,
                                                     clock: FakeClock) -> None:
    Network(store_on, clock)
    with store_on.transaction() as uow:
        fay = uow.people.by_identity("console:fay")
        assert fay is not None
        uow.memberships.join(fay.id, "palliative-essentials", "facilitator", "active", clock.now())
    chat = ChatHarness(store_on, clock, user="fay")
    said_in_channel(chat, "use this channel")
    chat.expect_question("network")
    assert [o.label for o in chat.options()] == ["Care Homes ECHO",
                                                 "Palliative Care Essentials ECHO"]
    chat.pick("Palliative Care Essentials ECHO")
    chat.expect_said("announce.channel.set", network="Palliative Care Essentials ECHO")
    with store_on.transaction() as uow:
        assert uow.networks.channel("palliative-essentials") == (CHANNEL, CHANNEL_ADDRESS)
        assert uow.networks.channel("care-homes") is None


# --- announcing ------------------------------------------------------------------------------


def test_a_series_is_previewed_then_posted_once_publicly_with_its_two_buttons(
        store_on: SqlStore, clock: FakeClock) -> None:
    world = Network(store_on, clock)
    with_channel(store_on)
    fay = ChatHarness(store_on, clock, user="fay")
    announce(fay, "Series: Spring series")
    assert "Thursday 12 June, 13:00–14:00 (United Kingdom Time)" in fay.text  # the preview
    fay.say("yes")
    fay.expect_said("announce.sent", title="Spring series", network="Care Homes ECHO")

    inbox = deliver(store_on, clock)
    [post] = inbox.of(CHANNEL)
    assert post.address == CHANNEL_ADDRESS and post.reply.private is False
    assert refs(post) == [f"act:join:{world.spring.id}", f"act:calendar:{world.first.id}"]
    text = post.reply.fallback_text()
    assert translate("announce.post.series.open", "en", network="Care Homes ECHO") in text
    assert "Thursday 19 June, 13:00–14:00 (United Kingdom Time)" in text
    assert "zoom.example" not in text  # the link is for registered people, in private
    assert "Fay" not in text and "Amira" not in text and "Test" not in text

    fay.say("announce")
    fay.pick("Series: Spring series")
    fay.say("yes")
    fay.expect_said("announce.already", title="Spring series")
    assert deliver(store_on, clock).of(CHANNEL) == []


def test_a_session_is_announced_again_only_once_it_changed(store_on: SqlStore,
                                                           clock: FakeClock) -> None:
    world = Network(store_on, clock)
    with_channel(store_on)
    fay = ChatHarness(store_on, clock, user="fay")
    label = "Spring series: Breathlessness, Thursday 19 June, 13:00"
    announce(fay, label)
    fay.say("yes")
    [post] = deliver(store_on, clock).of(CHANNEL)
    assert refs(post) == [f"act:join:{world.spring.id}", f"act:calendar:{world.second.id}"]
    assert "Breathlessness" in post.reply.fallback_text()

    with store_on.transaction() as uow:
        moved = reschedule(uow, OPERATOR, world.second, STARTS + timedelta(days=8), 60,
                           clock.now())
        assert isinstance(moved, Session)
    announce(fay, "Spring series: Breathlessness, Friday 20 June, 13:00")
    fay.say("yes")
    [again] = deliver(store_on, clock).of(CHANNEL)
    assert "Friday 20 June, 13:00–14:00 (United Kingdom Time)" in again.reply.fallback_text()


def test_a_french_facilitator_previews_and_posts_in_french(store_on: SqlStore,
                                                          clock: FakeClock) -> None:
    Network(store_on, clock, fay_language="fr")
    with_channel(store_on)
    fay = ChatHarness(store_on, clock, user="fay")
    fay.say("annoncer")
    fay.expect_question("target")
    assert translate("announce.target.ask", "fr") in fay.text
    fay.pick("Série : Spring series")
    assert translate("announce.preview.intro", "fr") in fay.text
    fay.say("oui")
    fay.expect_said("announce.sent", "fr", title="Spring series", network="Care Homes ECHO")
    [post] = deliver(store_on, clock).of(CHANNEL)
    text = post.reply.fallback_text()
    assert translate("announce.post.series.open", "fr", network="Care Homes ECHO") in text
    assert "jeudi 12 juin, 13 h 00 à 14 h 00 (heure : Royaume-Uni)" in text
    assert [o.label for o in post.reply.parts[1].actions] == ["S'inscrire", "Ajouter au calendrier"]


def test_without_a_channel_the_team_is_told_how_to_set_one(store_on: SqlStore,
                                                           clock: FakeClock) -> None:
    Network(store_on, clock)
    fay = ChatHarness(store_on, clock, user="fay")
    fay.say("announce")
    fay.expect_said("announce.no_channel")
    assert fay.pending is None


def test_announce_is_for_the_team_only(store_on: SqlStore, clock: FakeClock) -> None:
    Network(store_on, clock)
    with_channel(store_on)
    amira = ChatHarness(store_on, clock, user="amira")
    amira.say("announce")
    amira.expect_said("announce.team_only")
    assert amira.pending is None


def test_forged_announce_buttons_are_refused_and_audited(store_on: SqlStore,
                                                         clock: FakeClock) -> None:
    world = Network(store_on, clock)
    with_channel(store_on)
    with store_on.transaction() as uow:
        uow.networks.set_channel("palliative-essentials", "console:#other", {"channel": "x"})
    fay = ChatHarness(store_on, clock, user="fay")
    for ref in (f"act:announce_series:{world.elsewhere.id}", "act:announce_session:99999"):
        fay.send(UserChose(ref))
        fay.expect_said("announce.not_yours")
        assert fay.pending is None
    amira = ChatHarness(store_on, clock, user="amira")
    amira.send(UserChose(f"act:announce_series:{world.spring.id}"))
    amira.expect_said("announce.not_yours")
    assert refused(store_on) == [(f"series:{world.elsewhere.id}", "announce.not_yours"),
                                     ("session:99999", "announce.not_yours"),
                                     (f"series:{world.spring.id}", "announce.not_yours")]
    assert deliver(store_on, clock).of(CHANNEL) == []


def test_the_teams_own_button_goes_straight_to_the_preview(store_on: SqlStore,
                                                           clock: FakeClock) -> None:
    world = Network(store_on, clock)
    with_channel(store_on)
    fay = ChatHarness(store_on, clock, user="fay")
    fay.send(UserChose(f"act:announce_session:{world.first.id}"))
    fay.expect_question("send")
    assert "Pain at the end of life" in fay.text
    fay.say("no")
    fay.expect_said("announce.not_sent")
    assert deliver(store_on, clock).of(CHANNEL) == []


# --- written as it goes ----------------------------------------------------------------------


def test_the_post_is_dropped_when_the_channel_changed_or_the_session_began(
        store_on: SqlStore, clock: FakeClock) -> None:
    world = Network(store_on, clock)
    with_channel(store_on)
    recipe = {"what": RECIPE, "kind": "session", "id": world.first.id, "network": "care-homes",
              "channel": CHANNEL, "language": "en", "sequence": world.first.sequence}
    with store_on.transaction() as uow:
        written = write_announcement(uow, recipe, clock.now())
        assert not isinstance(written, str) and written.private is False
        assert write_announcement(uow, {**recipe, "sequence": 99}, clock.now()) == "withdrawn"
        assert write_announcement(uow, recipe, STARTS + timedelta(minutes=1)) == "expired"
        assert write_announcement(uow, {**recipe, "id": world.elsewhere.id, "kind": "series"},
                                  clock.now()) == "withdrawn"  # not this network's series
        uow.networks.set_channel("care-homes", "console:#elsewhere", {"channel": "y"})
        assert write_announcement(uow, recipe, clock.now()) == "withdrawn"


def test_a_planned_post_waits_for_nothing_and_goes_once(store_on: SqlStore,
                                                        clock: FakeClock) -> None:
    Network(store_on, clock)
    with_channel(store_on)
    fay = ChatHarness(store_on, clock, user="fay")
    announce(fay, "Series: Spring series")
    fay.say("yes")
    assert len(deliver(store_on, clock).of(CHANNEL)) == 1
    assert deliver(store_on, clock).of(CHANNEL) == []  # a second round sends nothing more
    with store_on.engine.connect() as connection:
        rows = connection.execute(select(OUTBOX.c.person_id, OUTBOX.c.status).where(
            OUTBOX.c.identity == CHANNEL)).all()
    assert [tuple(row) for row in rows] == [(None, "sent")]


# --- from the command line -------------------------------------------------------------------


@pytest.fixture
def spoke(tmp_path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    from storage.engine import make_engine
    from storage.migrate import upgrade
    from tests.conftest import TEST_SEALER

    upgrade(url)
    store = SqlStore(make_engine(url), TEST_SEALER)
    open_networks(store, clock.now())
    store.close()
    run = in_process(url, clock, tmp_path, capsys, monkeypatch)
    return run, url


def test_the_hub_sets_shows_and_clears_a_channel_from_the_command_line(spoke: Any) -> None:
    run, _ = spoke
    done = run("admin", "network", "channel", "care-homes", "--slack-channel", "T0SPOKE/C0ECHO")
    assert done.code == 0 and "slack:T0SPOKE/C0ECHO" in done.out
    assert "slack:T0SPOKE/C0ECHO" in run("admin", "network", "channel", "care-homes").out
    teams = run("admin", "network", "channel", "palliative-essentials", "--teams-conversation",
                "19:abc123@thread.tacv2;messageid=17", "--service-url",
                "https://connector.example.org/emea/", "--tenant",
                "72f988bf-0000-4000-8000-00000000cafe")
    assert teams.code == 0 and "teams:19:abc123@thread.tacv2" in teams.out
    cleared = run("admin", "network", "channel", "care-homes", "--clear")
    assert cleared.code == 0
    assert "no channel" in run("admin", "network", "channel", "care-homes").out


@pytest.mark.parametrize(("argv", "complaint"), [
    (("nowhere", "--slack-channel", "T1AB/C1AB"), "no network"),
    (("care-homes", "--slack-channel", "T0SPOKE/D0AMA"), "TEAM/CHANNEL"),
    (("care-homes", "--slack-channel", "C0ECHO"), "TEAM/CHANNEL"),
    (("care-homes", "--teams-conversation", "19:abc@thread.tacv2"), "--service-url"),
    (("care-homes", "--teams-conversation", "19:abc@thread.tacv2", "--tenant",
      "72f988bf-0000-4000-8000-00000000cafe", "--service-url", "http://evil.example/"), "https"),
    (("care-homes", "--service-url", "https://x.example/"), "go with --teams-conversation"),
])
def test_bad_channels_are_refused_and_nothing_changes(spoke: Any, argv: tuple[str, ...],
                                                      complaint: str) -> None:
    run, url = spoke
    result = run("admin", "network", "channel", *argv)
    assert result.code == 1 and complaint in result.err
    from storage.engine import make_engine
    from tests.conftest import TEST_SEALER

    store = SqlStore(make_engine(url), TEST_SEALER)
    with store.transaction() as uow:
        assert uow.networks.channel("care-homes") is None
    store.close()
