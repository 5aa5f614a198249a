"""The members' library: a network's past sessions, newest first, with their links, for its
active members only (forged buttons refused and audited), searched by words, filtered by
series, and corrected by the team in chat or with `spoke admin library`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import Actor, Hints, UserChose
from assistant.i18n import Translator, translate
from assistant.messages import Card
from assistant.model import Session
from assistant.ports import Store
from assistant.runtime import Directory
from assistant.services.context import Refused, ServiceContext
from assistant.services.library import search
from storage.repositories import SqlStore
from storage.tables import AuditRow
from tests.command_line import Spoke, in_process
from tests.community import member, open_networks, series, session
from tests.conftest import url_of
from tests.harness import ChatHarness

AUDIT = AuditRow.__table__  # type: ignore[attr-defined]
WEEK = timedelta(days=7)
RECORDING = "https://video.example.org/echo/pain-recording"
SLIDES = "https://example.org/slides/pain.pdf"
TOPICS = ("Pain at the end of life", "Breathlessness", "Délire et agitation", "Mouth care",
          "Constipation", "Hydration near death", "Grief in care homes")


class Hub:
    """Care Homes ECHO on Monday 2 June 2025: seven weekly past sessions of the spring series
    (Pain, a week ago, has a follow-up with a recording and slides), Wound care of the autumn
    series last Thursday night, one cancelled and one coming session. Fay facilitates; Amira
    and René (in French, in Montreal) are members; Bea is also in the Palliative network,
    whose one past session is Omar's; Lena left Care Homes."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        now = clock.now()
        earlier = now - timedelta(days=90)
        open_networks(store, now)
        self.fay = member(store, now, "fay", role="facilitator")
        self.amira = member(store, now, "amira")
        self.rene = member(store, now, "rene", language="fr", zone="America/Montreal")
        self.bea = member(store, now, "bea")
        self.omar = member(store, now, "omar", network="palliative-essentials")
        self.lena = member(store, now, "lena")
        with store.transaction() as uow:
            uow.memberships.join(self.bea, "palliative-essentials", "participant", "active", now)
            uow.memberships.leave(self.lena, "care-homes", now)
        self.spring = series(store, now)
        self.autumn = series(store, now, name="autumn")
        self.winter = series(store, now, network="palliative-essentials", name="winter")
        self.past: list[Session] = [
            session(store, earlier, self.spring, now.replace(hour=12) - (n + 1) * WEEK,
                    topic=topic, expert="Dr Rao" if n == 0 else "Dr Okafor")
            for n, topic in enumerate(TOPICS)]
        # 01:30 UTC on Thursday 29 May is still Wednesday 28 May in Montreal.
        self.wound = session(store, earlier, self.autumn, datetime(2025, 5, 29, 1, 30, tzinfo=UTC),
                             topic="Wound care", expert="Nurse Patel")
        self.cancelled = session(store, earlier, self.spring, now - timedelta(days=2),
                                 topic="Cancelled talk")
        self.coming = session(store, now, self.spring, now + WEEK, topic="Coming soon")
        self.secret = session(store, earlier, self.winter, now - timedelta(days=4),
                              topic="Palliative sedation")
        with store.transaction() as uow:
            uow.schedule.update_session(self.cancelled.id, {"state": "cancelled"}, now, True)
            uow.follow_ups.add(self.past[0].id, "session", None, self.fay, {
                "summary": "Opioid conversion, and when to call the palliative team.",
                "resources": [SLIDES], "recording": RECORDING, "teaser": ""},
                "fay:1", now - 6 * timedelta(days=1), now - 6 * timedelta(days=1))


def chat(store: Store, clock: FakeClock, user: str) -> ChatHarness:
    return ChatHarness(store, clock, user=user)


def titles(person: ChatHarness) -> list[str]:
    return [p.title for p in person.parts if isinstance(p, Card) and p.facts]


def card(person: ChatHarness, title: str) -> Card:
    return next(p for p in person.parts if isinstance(p, Card) and p.title == title)


def refs(person: ChatHarness) -> list[str]:
    return [o.ref for o in person.options()]


def press(person: ChatHarness, ref: str) -> ChatHarness:
    result = person.send(UserChose(ref))
    assert result.incident is None, person.text
    return person


def audited(store: SqlStore, action: str) -> list[dict[str, Any]]:
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(
            select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id))]


# --- members read -----------------------------------------------------------------------------


def test_a_member_sees_past_sessions_newest_first_with_their_links(store_on: SqlStore,
                                                                   clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    amira = chat(store_on, clock, "amira")

    amira.say("library")
    amira.expect_said("library.heading.network", network="Care Homes ECHO")
    assert titles(amira) == ["Wound care", *TOPICS[:4]]  # cancelled and coming ones left out
    pain = card(amira, "Pain at the end of life")
    facts = {f.label: f.value for f in pain.facts}
    assert facts["Date"] == "Monday 26 May 2025"
    assert facts["Series"] == "Spring series" and facts["Speaker"] == "Dr Rao"
    assert facts["Recording"] == RECORDING and facts["Resources"] == SLIDES
    assert facts["Summary"].startswith("Opioid conversion")
    assert {f.label: f.value for f in card(amira, "Mouth care").facts}["Links"] == "None added yet"
    assert pain.actions == ()  # a participant corrects nothing
    assert f"act:library_more:{hub.past[3].id}" in refs(amira)
    assert "Palliative sedation" not in amira.text

    [viewed] = audited(store_on, "library.viewed")
    assert (viewed["actor"], viewed["subject"]) == ("console:amira", "network:care-homes")
    assert viewed["detail"] == {"items": 5, "recordings": True, "search": False, "page": False}


def test_more_continues_to_the_oldest_session(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    amira = chat(suite_store, clock, "amira")
    amira.say("library")

    amira.pick("library.more")
    assert titles(amira) == list(TOPICS[4:])
    assert not any(r.startswith("act:library_more:") for r in refs(amira))
    press(amira, f"act:library_more:{hub.past[-1].id}")  # after the oldest: nothing further
    amira.expect_said("library.no_more")
    assert [row["detail"]["page"] for row in audited(suite_store, "library.viewed")] == [
        False, True, True]
    assert audited(suite_store, "library.viewed")[1]["detail"]["recordings"] is False


def test_french_reader_gets_french_and_dates_in_their_own_zone(suite_store: SqlStore,
                                                               clock: FakeClock) -> None:
    Hub(suite_store, clock)
    rene = chat(suite_store, clock, "rene")

    rene.say("Bibliothèque")
    rene.expect_said("library.heading.network", "fr", network="Care Homes ECHO")
    wound = {f.label: f.value for f in card(rene, "Wound care").facts}
    assert wound["Date"] == "mercredi 28 mai 2025"  # Thursday in London, Wednesday in Montreal
    assert wound["Conférencier ou conférencière"] == "Nurse Patel"
    assert {f.label: f.value for f in card(rene, "Pain at the end of life").facts}[
        "Enregistrement"] == RECORDING
    assert translate("library.more", "fr") in [o.label for o in rene.options()]

    amira = chat(suite_store, clock, "amira")
    amira.say("library")
    assert {f.label: f.value for f in card(amira, "Wound care").facts}["Date"] == \
        "Thursday 29 May 2025"


# --- who may not -----------------------------------------------------------------------------


def forged(hub: Hub) -> list[str]:
    return [f"act:library_more:{hub.past[0].id}", f"act:library_series:{hub.spring.id}",
            f"act:library_series_more:{hub.past[0].id}", f"act:library_all:{hub.spring.id}",
            f"act:library_search_more:{hub.past[0].id}", "act:library_more:99999"]


def test_a_member_of_another_network_is_refused_and_audited(store_on: SqlStore,
                                                            clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    omar = chat(store_on, clock, "omar")
    omar.say("library")
    assert titles(omar) == ["Palliative sedation"]

    for ref in forged(hub):
        press(omar, ref)
        omar.expect_said("library.not_yours")
        assert "Pain at the end of life" not in omar.text and RECORDING not in omar.text
    refused = audited(store_on, "action.refused")
    assert len(refused) == len(forged(hub))
    assert refused[0]["actor"] == "console:omar"
    assert refused[0]["subject"] == f"session:{hub.past[0].id}"
    assert refused[0]["detail"] == {"reason": "library.not_yours", "action": "library_more"}
    assert [row["subject"] for row in audited(store_on, "library.viewed")] == [
        "network:palliative-essentials"]


def test_someone_who_left_the_network_is_shown_the_way_back(suite_store: SqlStore,
                                                           clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    lena = chat(suite_store, clock, "lena")

    lena.say("library")
    lena.expect_said("library.not_member",
                     networks="Care Homes ECHO and Palliative Care Essentials ECHO")
    lena.say("library pain")
    lena.expect_said("library.not_member",
                     networks="Care Homes ECHO and Palliative Care Essentials ECHO")
    press(lena, f"act:library_more:{hub.past[0].id}")
    lena.expect_said("library.not_yours")
    assert RECORDING not in lena.text
    assert audited(suite_store, "library.viewed") == []
    assert len(audited(suite_store, "action.refused")) == 1


def test_a_waitlisted_member_hears_the_library_opens_once_confirmed(suite_store: SqlStore,
                                                                   clock: FakeClock) -> None:
    Hub(suite_store, clock)
    wendy = member(suite_store, clock.now(), "wendy", network="palliative-essentials")
    with suite_store.transaction() as uow:
        uow.memberships.leave(wendy, "palliative-essentials", clock.now())
        uow.memberships.join(wendy, "care-homes", "participant", "waitlisted", clock.now())
    person = chat(suite_store, clock, "wendy")
    person.say("library")
    person.expect_said("library.waiting", networks="Care Homes ECHO")
    assert titles(person) == []


def test_someone_not_registered_gets_an_explanation_and_the_way_in(suite_store: SqlStore,
                                                                   clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    zed = chat(suite_store, clock, "zed")

    for words in ("library", "library pain", "recordings"):
        zed.say(words)
        zed.expect_said("library.newcomer",
                        networks="Care Homes ECHO and Palliative Care Essentials ECHO")
        assert zed.state() is None  # no registration forced on them
    press(zed, f"act:library_more:{hub.past[0].id}")
    zed.expect_said("commands.register_first")
    assert "Pain at the end of life" not in zed.text
    assert audited(suite_store, "library.viewed") == []


# --- search and series ------------------------------------------------------------------------


def test_search_needs_every_word_in_any_case_and_accents(store_on: SqlStore,
                                                        clock: FakeClock) -> None:
    Hub(store_on, clock)
    amira = chat(store_on, clock, "amira")

    amira.say("library DELIRE agitation")
    assert titles(amira) == ["Délire et agitation"]
    amira.say("library opioid")  # in the follow-up's summary
    assert titles(amira) == ["Pain at the end of life"]
    amira.say("library okafor BREATHLESSNESS")  # the expert and the topic
    assert titles(amira) == ["Breathlessness"]
    amira.say("library spring pain")  # the series' title and the topic
    assert titles(amira) == ["Pain at the end of life"]
    amira.say("library pain sedation")  # sedation is another network's
    assert titles(amira) == []
    amira.expect_said("library.empty.search")
    amira.say("library !!")  # no words after all: the whole library
    amira.expect_said("library.heading.network", network="Care Homes ECHO")
    rows = audited(store_on, "library.viewed")
    assert [row["detail"]["search"] for row in rows] == [True] * 5 + [False]
    assert not any("pain" in str(row["detail"]).casefold() for row in rows)  # no words kept


def test_a_search_of_punctuation_only_finds_nothing_to_look_for(suite_store: SqlStore,
                                                                 clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    with suite_store.transaction() as uow:
        ctx = ServiceContext(uow=uow, actor=Actor("console:amira"), now=clock.now(),
                             t=Translator("en"), hints=Hints(),
                             directory=Directory(networks=uow.networks.all),
                             person=uow.people.get(hub.amira), address={})
        assert search(ctx, "! ! !") == Refused("library.empty.search")
        assert uow.conversations.load("console:amira", "library_search") is None


def test_a_search_pages_on_and_an_older_search_says_so(suite_store: SqlStore,
                                                      clock: FakeClock) -> None:
    Hub(suite_store, clock)
    amira = chat(suite_store, clock, "amira")

    amira.say("library series")  # every series' title says "series"
    assert titles(amira) == ["Wound care", *TOPICS[:4]]
    assert amira.state() is None  # the words wait aside: typed commands still work
    more = amira.option("library.more").ref
    assert more.startswith("act:library_search_more:")
    press(amira, more)
    assert titles(amira) == list(TOPICS[4:])
    amira.expect_said("library.heading.search", words="series")
    with suite_store.transaction() as uow:  # nothing left to page through: no words kept
        assert uow.conversations.load("console:amira", "library_search") is None

    amira.say("library series")
    first = amira.option("library.more").ref
    amira.say("library care")  # a newer search: the first one's button is out of date
    press(amira, first)
    amira.expect_said("library.search.stale")
    amira.say("sessions")
    assert "library" not in amira.text.casefold()


def test_the_library_filters_by_series_by_button_or_by_name(store_on: SqlStore,
                                                            clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    amira = chat(store_on, clock, "amira")

    amira.say("library")
    amira.pick("Autumn series")
    amira.expect_said("library.heading.series", series="Autumn series", network="Care Homes ECHO")
    assert titles(amira) == ["Wound care"]
    amira.pick("library.all")
    assert titles(amira) == ["Wound care", *TOPICS[:4]]

    amira.say("library Spring")
    assert titles(amira) == list(TOPICS[:5])
    press(amira, f"act:library_series_more:{hub.past[4].id}")
    assert titles(amira) == list(TOPICS[5:])


def test_with_several_networks_the_reader_chooses_first(suite_store: SqlStore,
                                                       clock: FakeClock) -> None:
    Hub(suite_store, clock)
    bea = chat(suite_store, clock, "bea")

    bea.say("library")
    bea.expect_question("network")
    assert [o.label for o in bea.options()] == ["Care Homes ECHO",
                                                "Palliative Care Essentials ECHO"]
    bea.pick("Palliative Care Essentials ECHO")
    assert titles(bea) == ["Palliative sedation"]
    assert bea.state() is None
    bea.say("library pain")  # a search covers every network of hers, each card says which
    assert titles(bea) == ["Pain at the end of life"]
    assert {f.label: f.value for f in card(bea, "Pain at the end of life").facts}[
        "Network"] == "Care Homes ECHO"


def test_a_follow_up_scheduled_for_later_is_not_in_the_library_yet(suite_store: SqlStore,
                                                                  clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    later = "https://video.example.org/later"
    with suite_store.transaction() as uow:
        uow.follow_ups.add(hub.wound.id, "session", None, hub.fay, {
            "summary": "Dressings.", "resources": [], "recording": later, "teaser": ""},
            "fay:2", clock.now() + timedelta(hours=3), clock.now())
    amira = chat(suite_store, clock, "amira")
    amira.say("library")
    assert later not in amira.text
    clock.advance(hours=4)
    amira.say("library")
    assert later in amira.text


# --- the team corrects ------------------------------------------------------------------------


def test_the_team_adds_a_link_in_chat_and_members_see_it(suite_store: SqlStore,
                                                         clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    fay = chat(suite_store, clock, "fay")

    fay.say("library add")
    fay.expect_question("session")
    assert fay.options()[0].label == "Wound care (Thursday 29 May 2025)"
    fay.pick("Breathlessness (Monday 19 May 2025)")
    fay.expect_question("kind")
    fay.pick("library.kind.slides")
    fay.expect_question("url")
    fay.say("javascript:alert(1)")
    fay.expect_said("library.link.not_a_link", typed="javascript:alert(1)")
    fay.say("https://example.org/slides/breath.pdf")
    fay.expect_question("title")
    fay.say("Slides for NHS 999 765 4323")  # members read it: the checker stops it
    assert fay.pending == "title" and "999 765 4323" not in fay.text
    fay.say("Slides: breathlessness")
    fay.pick("library.add.save")
    fay.expect_said("library.added", what="Slides: breathlessness", session="Breathlessness")
    assert fay.state() is None

    amira = chat(suite_store, clock, "amira")
    amira.say("library")
    assert {f.label: f.value for f in card(amira, "Breathlessness").facts}["Slides"] == \
        "Slides: breathlessness: https://example.org/slides/breath.pdf"
    [added] = audited(suite_store, "library.item_added")
    assert added["actor"] == "console:fay" and added["subject"] == f"session:{hub.past[1].id}"

    fay.say("library")  # the team corrects where it reads
    breath = card(fay, "Breathlessness")
    assert [o.label for o in breath.actions] == ["Add a link", "Remove: Slides: breathlessness"]
    press(fay, breath.actions[1].ref)
    fay.expect_said("library.removed", what="Slides: breathlessness")
    amira.say("library")
    assert "breath.pdf" not in amira.text
    assert len(audited(suite_store, "library.item_removed")) == 1


def test_add_a_link_on_a_card_starts_with_that_session(suite_store: SqlStore,
                                                      clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    fay = chat(suite_store, clock, "fay")
    press(fay, f"act:library_add:{hub.past[6].id}")  # older than the ten offered otherwise
    fay.expect_question("kind")
    fay.pick("library.kind.recording")
    fay.say("https://video.example.org/grief")
    fay.say("skip")
    fay.pick("library.add.save")
    fay.expect_said("library.added", what="Recording", session="Grief in care homes")


def test_only_the_team_adds_or_removes(suite_store: SqlStore, clock: FakeClock) -> None:
    hub = Hub(suite_store, clock)
    with suite_store.transaction() as uow:
        item = uow.library.add(hub.past[0].id, "slides", SLIDES, "", "cli", clock.now())
    amira = chat(suite_store, clock, "amira")
    amira.say("library add")
    amira.expect_said("library.team_only")
    assert amira.state() is None
    for ref in (f"act:library_remove:{item.id}", f"act:library_add:{hub.past[0].id}"):
        press(amira, ref)
        amira.expect_said("library.team_only")
    oscar = member(suite_store, clock.now(), "oscar", network="palliative-essentials",
                   role="facilitator")
    assert oscar
    press(chat(suite_store, clock, "oscar"), f"act:library_remove:{item.id}").expect_said(
        "library.team_only")  # a facilitator of another network
    with suite_store.transaction() as uow:
        assert uow.library.get(item.id) is not None
    assert [row["detail"]["action"] for row in audited(suite_store, "action.refused")] == [
        "library_remove", "library_add", "library_remove"]


# --- spoke admin library ----------------------------------------------------------------------


@pytest.fixture
def spoke(store_on: SqlStore, clock: FakeClock, tmp_path: Path,
          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Spoke:
    return in_process(url_of(store_on), clock, tmp_path, capsys, monkeypatch)


def test_admin_adds_lists_and_removes_items(store_on: SqlStore, spoke: Spoke,
                                            clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    ran = spoke("admin", "library", "add", "--session", str(hub.past[2].id), "--kind", "recording",
                "--url", "https://video.example.org/delire", "--title", "Full recording")
    assert ran.code == 0, ran.err
    assert f"to session {hub.past[2].id}" in ran.out and "Délire et agitation" in ran.out
    item_id = int(ran.out.split()[2])

    amira = chat(store_on, clock, "amira")
    amira.say("library délire")
    assert {f.label: f.value for f in card(amira, "Délire et agitation").facts}["Recording"] == \
        "Full recording: https://video.example.org/delire"

    listed = spoke("admin", "library", "list", "--network", "care-homes")
    assert listed.code == 0, listed.err
    assert f"item {item_id}  recording  https://video.example.org/delire" in listed.out
    assert f"recording  {RECORDING}" in listed.out and "Cancelled talk" not in listed.out
    assert "8 session(s), 1 item(s)" in listed.out

    gone = spoke("admin", "library", "remove", str(item_id))
    assert gone.code == 0 and f"removed item {item_id}" in gone.out
    amira.say("library délire")
    assert "video.example.org/delire" not in amira.text
    again = spoke("admin", "library", "remove", str(item_id))
    assert again.code == 1 and "no library item" in again.err
    assert [r["actor"] for r in audited(store_on, "library.item_added")] == ["cli"]


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--url", "ftp://example.org/file", "doesn't look like a web link"),
    ("--url", "https://zoom.us@example.org/x", "doesn't look like a web link"),
    ("--title", "Case of NHS 999 765 4323", "could identify a person"),
    ("--title", "x" * 201, "longer than 200 characters"),
    ("--session", "99999", "there is no session 99999"),
    ("--session", "two", "takes a whole number"),
])
def test_admin_add_refuses_bad_input(store_on: SqlStore, spoke: Spoke, clock: FakeClock,
                                     option: str, value: str, said: str) -> None:
    hub = Hub(store_on, clock)
    given = {"--session": str(hub.past[0].id), "--url": SLIDES, "--title": "Slides"}
    given[option] = value
    ran = spoke("admin", "library", "add", "--kind", "slides",
                *(word for pair in given.items() for word in pair))
    assert ran.code == 1 and said in ran.err
    with store_on.transaction() as uow:
        assert uow.library.of_sessions([hub.past[0].id]) == []


def test_admin_refuses_a_cancelled_session_and_an_unknown_network(store_on: SqlStore, spoke: Spoke,
                                                                 clock: FakeClock) -> None:
    hub = Hub(store_on, clock)
    ran = spoke("admin", "library", "add", "--session", str(hub.cancelled.id), "--kind", "slides",
                "--url", SLIDES)
    assert ran.code == 1 and "was cancelled" in ran.err
    listed = spoke("admin", "library", "list", "--network", "nowhere")
    assert listed.code == 1 and "no network 'nowhere'" in listed.err
