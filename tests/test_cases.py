"""Case presentations after the draft: submitting (required fields, limits, the identifier
check, idempotence), the review state machine, who may do what (checked on every call and
audited when refused), references, notices in each reader's language and zone, sealing at rest
and the Markdown export. Services run on the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.clock import FakeClock
from assistant.events import Actor, Hints
from assistant.i18n import Translator, catalogue, translate
from assistant.messages import Card, File, Question, Reply, Text, reply_from_json
from assistant.model import CASE_STATES, Case, CaseContent
from assistant.ports import StaleState, Store
from assistant.runtime import Directory
from assistant.services import cases
from assistant.services.cases import (
    TRANSITIONS,
    Refused,
    accept_case,
    case_for_editing,
    case_markdown,
    cases_to_review,
    check_content,
    confirm_withdraw,
    export_case,
    mark_presented,
    mark_recommendations_sent,
    my_cases,
    network_code,
    offer_sessions,
    return_case,
    schedule_case,
    schedule_from_ref,
    show_case,
    start_review,
    submit_case,
    update_submitted_case,
    withdraw_case,
)
from assistant.services.context import ServiceContext
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.repositories import SqlStore
from storage.tables import AuditRow, CasePresentationRow, OutboxRow
from tests.community import member, series, session
from tests.conftest import TEST_SEALER

AUDIT, OUTBOX = AuditRow.__table__, OutboxRow.__table__
CASE = CasePresentationRow.__table__
# The clock fixture starts on Monday 2 June 2025, 09:00 UTC (10:00 in London, 05:00 in Toronto).
THURSDAY_1PM = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)  # 13:00 in London, 08:00 in Toronto

CONTENT = CaseContent(
    questions=("How can we ease her breathlessness at night?",
               "When should we involve the community palliative team?"),
    case_type="patient", presenter_setting="hospice",
    summary="A woman in her 80s with advanced heart failure in a nursing home",
    care_setting="care_home_nursing", symptoms="Breathless at rest, anxious at night",
    tried="Fan, oral morphine 2.5 mg PRN, repositioning", age_band="80-89", sex="female",
    diagnosis="Heart failure, CKD 4; two admissions in three months", acp_status="discussed",
    acp_notes="Prefers to stay in the home", overrides=("summary:name",))
SERVICE_ISSUE = CaseContent(
    questions=("How do other homes arrange out-of-hours syringe driver checks?",),
    case_type="service_issue", presenter_setting="care_home_nursing",
    summary="Out-of-hours cover for syringe drivers in a small nursing home",
    care_setting="care_home_nursing", symptoms="Night staff unsure who to call",
    tried="A laminated flow chart by the phone")

T_EN, T_FR = Translator("en"), Translator("fr")


def en(message_id: str, **args: Any) -> str:
    return translate(message_id, "en", **args)


# --- a hub with two networks and its people --------------------------------------------------

@dataclass(frozen=True)
class Hub:
    store: SqlStore
    clock: FakeClock
    amira: int     # participant, presents the case (London, English)
    bruno: int     # another participant of the same network
    fatima: int    # facilitator of care-homes (Toronto, French)
    henri: int     # hub admin of care-homes
    olga: int      # facilitator of the other network
    session_id: int
    other_session_id: int  # in palliative-essentials

    def run(self, who: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a service as `console:WHO` (registered or not), in one transaction."""
        with self.store.transaction() as uow:
            person = uow.people.by_identity(f"console:{who}")
            ctx = ServiceContext(uow=uow, actor=Actor(f"console:{who}"), now=self.clock.now(),
                                 t=Translator(person.language if person else "en"),
                                 hints=Hints(), directory=Directory(networks=uow.networks.all),
                                 person=person, address={})
            return action(ctx, *args, **kwargs)

    def submit(self, content: CaseContent = CONTENT, key: str = "draft-1", who: str = "amira",
               network: str = "care-homes", session_id: int | None = -1) -> Case:
        chosen = self.session_id if session_id == -1 else session_id
        made = self.run(who, submit_case, content, network, None, chosen, key)
        assert isinstance(made, Case), made
        return made

    def case(self, case_id: int) -> Case:
        with self.store.transaction() as uow:
            record = uow.cases.get(case_id)
        assert record is not None
        return record.case


def open_networks(store: Store, now: datetime) -> None:
    with store.transaction() as uow:
        for slug, name in (("care-homes", "Care Homes ECHO"),
                           ("palliative-essentials", "Palliative Care Essentials ECHO")):
            uow.networks.add(slug, name, ("Registered nurse",), "open", "v1",
                             {"en": "Agreement.", "fr": "Accord."}, now)


def make_hub(store: SqlStore, clock: FakeClock) -> Hub:
    now = clock.now()
    open_networks(store, now)
    people = {
        "amira": member(store, now, "amira"),
        "bruno": member(store, now, "bruno"),
        "fatima": member(store, now, "fatima", role="facilitator", zone="America/Toronto",
                         language="fr"),
        "henri": member(store, now, "henri", role="hub_admin"),
        "olga": member(store, now, "olga", role="facilitator", network="palliative-essentials"),
    }
    spring = series(store, now)
    other = series(store, now, network="palliative-essentials", name="essentials")
    return Hub(store, clock, session_id=session(store, now, spring, THURSDAY_1PM).id,
               other_session_id=session(store, now, other, THURSDAY_1PM).id, **people)


@pytest.fixture
def hub(store_on: SqlStore, clock: FakeClock) -> Hub:
    return make_hub(store_on, clock)


@pytest.fixture
def quick(suite_store: SqlStore, clock: FakeClock) -> Hub:
    """The same hub on SQLite only, for behaviour that does not depend on the engine."""
    return make_hub(suite_store, clock)


def audit(store: SqlStore, subject_prefix: str = "case:") -> list[tuple[str, str, str, dict[str, Any]]]:
    with store.engine.connect() as connection:
        return [(r.actor, r.action, r.subject, r.detail) for r in connection.execute(
            select(AUDIT).where(AUDIT.c.subject.startswith(subject_prefix)).order_by(AUDIT.c.id))]


def transitions(store: SqlStore, case_id: int) -> list[tuple[str, str, str]]:
    return [(action, detail["from"], detail["to"])
            for _, action, subject, detail in audit(store, f"case:{case_id}")
            if subject == f"case:{case_id}" and action.startswith("case.") and "from" in detail]


def notices(store: SqlStore) -> list[tuple[str, str, datetime, Reply]]:
    """(dedupe key, identity, due, reply) of every case notice queued."""
    with store.engine.connect() as connection:
        rows = connection.execute(select(OUTBOX).where(OUTBOX.c.dedupe_key.startswith("case:"))
                                  .order_by(OUTBOX.c.id))
        # Stored sealed: opened with the tests' key, as the sender opens them.
        return [(r.dedupe_key, r.identity, r.due_at, reply_from_json(TEST_SEALER.open(r.payload)))
                for r in rows]


def refs(reply: Reply) -> list[str]:
    return [o.ref for p in reply.parts if isinstance(p, Card) for o in p.actions]


def text_of(parts: Any) -> str:
    return Reply(tuple(parts)).fallback_text()


# --- what a case needs ------------------------------------------------------------------------

def test_a_patient_case_names_every_missing_patient_field() -> None:
    bare = replace(CONTENT, age_band="", sex="", diagnosis="", acp_status="")
    refused = check_content(bare, T_EN)
    assert refused == Refused("cases.submit.missing", {
        "fields": ["age_band", "sex", "diagnosis", "acp_status"],
        "names": "Age band, Sex, Diagnosis and trajectory and Advance care planning"})
    assert en(refused.message, **refused.args) == (
        "A few things are still needed before the case can go: Age band, Sex, Diagnosis and "
        "trajectory and Advance care planning.")


def test_a_service_issue_needs_no_patient_fields_and_keeps_none() -> None:
    with_patient_bits = replace(SERVICE_ISSUE, age_band="90+", diagnosis="Dementia")
    checked = check_content(with_patient_bits, T_EN)
    assert isinstance(checked, CaseContent)
    assert (checked.age_band, checked.diagnosis, checked.sex) == ("", "", "")
    assert checked.summary == SERVICE_ISSUE.summary


def test_fields_every_case_needs_are_named_in_template_order_in_french() -> None:
    bare = replace(SERVICE_ISSUE, questions=("  ",), summary="", tried=" ")
    refused = check_content(bare, T_FR)
    assert isinstance(refused, Refused) and refused.args is not None
    assert refused.args["fields"] == ["questions", "summary", "tried"]
    assert refused.args["names"] == "Questions pour le réseau, Résumé et Ce qui a été essayé"


@pytest.mark.parametrize(("change", "message", "args"), [
    ({"summary": "x" * 161}, "cases.submit.too_long",
     {"field": "Summary", "max": 160, "fields": ["summary"]}),
    ({"tried": "x" * 601}, "cases.submit.too_long",
     {"field": "What has been tried", "max": 600, "fields": ["tried"]}),
    ({"questions": ("q" * 301,)}, "cases.submit.too_long",
     {"field": "Questions for the network", "max": 300, "fields": ["questions"]}),
    ({"questions": ("a?", "b?", "c?", "d?")}, "cases.submit.too_many_questions",
     {"max": 3, "fields": ["questions"]}),
    ({"age_band": "85"}, "cases.submit.bad_choice", {"field": "Age band", "fields": ["age_band"]}),
    ({"case_type": "gossip"}, "cases.submit.bad_choice", {"field": "Case type", "fields": ["case_type"]}),
    ({"symptoms": "Pain. NHS 999 765 4323"}, "cases.submit.identifiers",
     {"fields": ["symptoms"], "names": "Main symptoms and concerns"}),
], ids=["summary", "tried", "question", "four questions", "age band", "case type", "NHS number"])
def test_limits_choices_and_certain_identifiers_stop_a_submission(change, message, args) -> None:
    assert check_content(replace(CONTENT, **change), T_EN) == Refused(message, args)


def test_answers_at_their_limits_pass_trimmed() -> None:
    at_limit = replace(CONTENT, summary="  " + "s" * 160 + " ", questions=("q" * 300, "", "ok?"))
    checked = check_content(at_limit, T_EN)
    assert isinstance(checked, CaseContent)
    assert checked.summary == "s" * 160 and checked.questions == ("q" * 300, "ok?")


# --- submitting -------------------------------------------------------------------------------

def test_a_submitted_case_is_stored_audited_without_text_and_sent_to_the_team(hub: Hub) -> None:
    case = hub.submit()

    assert (case.state, case.network, case.session_id, case.reference) == (
        "submitted", "care-homes", hub.session_id, None)
    assert case.content == CONTENT and case.submitted_at == hub.clock.now()
    [(actor, action, subject, detail)] = audit(hub.store)
    assert (actor, action, subject) == ("console:amira", "case.submitted", f"case:{case.id}")
    assert detail == {"from": "draft", "to": "submitted", "type": "patient", "overrides": 1}
    assert {identity for _, identity, _, _ in notices(hub.store)} == {"console:fatima",
                                                                     "console:henri"}


def test_submitting_twice_makes_one_case_and_one_notice_each(hub: Hub) -> None:
    first = hub.submit()
    second = hub.submit()

    assert second == first
    with hub.store.engine.connect() as connection:
        assert connection.execute(select(CASE.c.id)).scalars().all() == [first.id]
    assert [a for _, a, _, _ in audit(hub.store)] == ["case.submitted"]
    assert len(notices(hub.store)) == 2


def test_the_same_draft_key_from_someone_else_is_refused_and_audited(quick: Hub) -> None:
    case = quick.submit()
    refused = quick.run("bruno", submit_case, CONTENT, "care-homes", None, None, "draft-1")
    assert refused == Refused("cases.not_yours")
    assert audit(quick.store)[-1] == ("console:bruno", "action.refused", f"case:{case.id}",
                                      {"reason": "cases.not_yours", "action": "submit"})


def test_only_members_submit_and_only_to_their_networks_coming_sessions(quick: Hub) -> None:
    assert quick.run("olga", submit_case, CONTENT, "care-homes", None, None, "k1") == Refused(
        "cases.submit.not_member", {"network": "care-homes"})
    # A session of another network is a forged choice: refused and audited.
    assert quick.run("amira", submit_case, CONTENT, "care-homes", None,
                     quick.other_session_id, "k2") == Refused("cases.not_yours")
    assert audit(quick.store, "session:")[-1] == (
        "console:amira", "action.refused", f"session:{quick.other_session_id}",
        {"reason": "cases.not_yours", "action": "choose_session"})
    quick.clock.advance(days=4)  # the session has started
    assert quick.run("amira", submit_case, CONTENT, "care-homes", None, quick.session_id,
                     "k3") == Refused("cases.submit.session_closed")
    # "Any session" is always possible.
    assert quick.submit(key="k4", session_id=None).session_id is None


def test_a_missing_field_stops_the_submission_before_anything_is_stored(quick: Hub) -> None:
    refused = quick.run("amira", submit_case, replace(CONTENT, tried=""), "care-homes", None,
                        None, "k1")
    assert isinstance(refused, Refused) and refused.args is not None
    assert refused.args["fields"] == ["tried"]
    assert audit(quick.store) == [] and notices(quick.store) == []


# --- the state machine ------------------------------------------------------------------------

EXPECTED_SOURCES = {
    "submit": {"draft"}, "resubmit": {"returned"}, "update": {"submitted"},
    "start_review": {"submitted"}, "return": {"submitted"}, "accept": {"submitted"},
    "schedule": {"accepted", "scheduled"}, "present": {"scheduled"},
    "send_recommendations": {"presented"},
    "withdraw": {"submitted", "returned", "accepted", "scheduled"},
}


@pytest.mark.parametrize("state", CASE_STATES)
def test_the_transition_table_allows_exactly_the_lifecycle(state: str) -> None:
    allowed = {action for action in TRANSITIONS if cases.allowed(state, action)}
    assert allowed == {action for action, sources in EXPECTED_SOURCES.items() if state in sources}
    assert not allowed or state not in ("recommendations_sent", "withdrawn")


def test_a_case_goes_from_submission_to_recommendations_with_every_step_audited(hub: Hub) -> None:
    case = hub.submit()

    opened = hub.run("henri", start_review, case.id)
    assert text_of(opened).startswith(en("cases.review.started"))
    assert refs(Reply(tuple(opened))) == [  # open now: no "Open" button any more
        f"act:case_accept:{case.id}", f"act:case_return:{case.id}", f"act:case_schedule:{case.id}"]
    assert hub.run("fatima", start_review, case.id)[0] != Text(en("cases.review.started"))
    accepted = hub.run("fatima", accept_case, case.id)
    assert text_of(accepted).startswith("C'est accepté, sous la référence CH-2025-001.")
    scheduled = hub.run("henri", schedule_case, case.id, hub.session_id)
    assert text_of(scheduled) == en("cases.scheduled.done", reference="CH-2025-001",
                                    series="Spring series",
                                    when="Thursday 5 June, 13:00–14:00 (United Kingdom Time)")
    hub.run("henri", mark_presented, case.id)
    hub.run("fatima", mark_recommendations_sent, case.id)

    assert hub.case(case.id).state == "recommendations_sent"
    assert transitions(hub.store, case.id) == [
        ("case.submitted", "draft", "submitted"),
        ("case.review_started", "submitted", "submitted"),
        ("case.accepted", "submitted", "accepted"),
        ("case.scheduled", "accepted", "scheduled"),
        ("case.presented", "scheduled", "presented"),
        ("case.recommendations_sent", "presented", "recommendations_sent")]
    actors = [actor for actor, action, _, _ in audit(hub.store) if action.startswith("case.")]
    assert actors == ["console:amira", "console:henri", "console:fatima", "console:henri",
                      "console:henri", "console:fatima"]


@pytest.mark.parametrize(("steps", "who", "action", "message", "state"), [
    (["return"], "henri", "accept", "cases.cannot.accept", "returned"),
    ([], "henri", "present", "cases.cannot.present", "submitted"),
    (["accept"], "henri", "return", "cases.cannot.return", "accepted"),
    (["accept"], "henri", "accept", "cases.already", "accepted"),
    (["accept", "schedule", "present"], "amira", "withdraw", "cases.cannot.withdraw", "presented"),
    (["withdraw"], "amira", "withdraw", "cases.already", "withdrawn"),
    ([], "henri", "send_recommendations", "cases.cannot.send_recommendations", "submitted"),
    (["return"], "henri", "schedule", "cases.cannot.schedule", "returned"),
])
def test_moves_the_lifecycle_does_not_allow_are_refused_with_the_state(
        quick: Hub, steps: list[str], who: str, action: str, message: str, state: str) -> None:
    case = quick.submit()
    for step in steps:
        assert not isinstance(_do(quick, "henri" if step != "withdraw" else "amira", step,
                                  case.id), Refused), step
    before = audit(quick.store)

    refused = _do(quick, who, action, case.id)

    assert refused == Refused(message, {"state": en(f"cases.state.{state}")})
    assert quick.case(case.id).state == state
    assert audit(quick.store) == before  # a refused move changes nothing


def _do(hub: Hub, who: str, action: str, case_id: int) -> Any:
    calls: dict[str, Callable[[], Any]] = {
        "show": lambda: hub.run(who, show_case, case_id),
        "start_review": lambda: hub.run(who, start_review, case_id),
        "accept": lambda: hub.run(who, accept_case, case_id),
        "return": lambda: hub.run(who, return_case, case_id, "Please add the medications.",
                                  ["medications"]),
        "schedule": lambda: hub.run(who, schedule_case, case_id, hub.session_id),
        "present": lambda: hub.run(who, mark_presented, case_id),
        "send_recommendations": lambda: hub.run(who, mark_recommendations_sent, case_id),
        "withdraw": lambda: hub.run(who, withdraw_case, case_id),
        "update": lambda: hub.run(who, update_submitted_case, case_id,
                                  replace(CONTENT, summary="A man in his 70s at home"), None,
                                  None),
        "export": lambda: hub.run(who, export_case, case_id, "full"),
    }
    return calls[action]()


# --- who may do what --------------------------------------------------------------------------

ACTORS = ("amira", "bruno", "fatima", "henri", "olga", "anonymous")
MAY = {
    # action: who may
    "show": {"amira", "fatima", "henri"},
    "export": {"amira", "fatima", "henri"},
    "update": {"amira"},
    "withdraw": {"amira"},
    "start_review": {"fatima", "henri"},
    "accept": {"fatima", "henri"},
    "return": {"fatima", "henri"},
    "schedule": {"fatima", "henri"},
}


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("action", sorted(MAY))
def test_every_action_is_checked_on_the_server(hub: Hub, who: str, action: str) -> None:
    case = hub.submit()

    result = _do(hub, who, action, case.id)

    if who in MAY[action]:
        assert not isinstance(result, Refused), result
        return
    assert result == Refused("cases.not_yours")
    assert hub.case(case.id).state == "submitted"
    audited = "export_full" if action == "export" else action
    assert audit(hub.store)[-1] == (f"console:{who}", "action.refused", f"case:{case.id}",
                                    {"reason": "cases.not_yours", "action": audited})


@pytest.mark.parametrize("who", ["amira", "fatima", "henri"])
@pytest.mark.parametrize("action", ["show", "accept", "withdraw", "export"])
def test_a_case_number_that_does_not_exist_reads_like_someone_elses(
        quick: Hub, who: str, action: str) -> None:
    quick.submit()
    assert _do(quick, who, action, 987654) == Refused("cases.not_yours")
    assert audit(quick.store)[-1][1:3] == ("action.refused", "case:987654")


def test_a_facilitator_cannot_schedule_into_another_networks_session(quick: Hub) -> None:
    case = quick.submit()
    refused = quick.run("fatima", schedule_case, case.id, quick.other_session_id)
    assert refused == Refused("cases.not_yours")
    assert audit(quick.store, "session:")[-1][1:] == (
        "action.refused", f"session:{quick.other_session_id}",
        {"reason": "cases.not_yours", "action": "schedule"})
    assert quick.case(case.id).state == "submitted"


def test_a_forged_schedule_button_is_refused(quick: Hub) -> None:
    case = quick.submit()
    assert quick.run("fatima", schedule_from_ref, f"act:case_slot:{case.id}:x") == Refused(
        "cases.not_yours")
    assert audit(quick.store, "button")[-1][1:] == ("action.refused", "button",
                                                    {"reason": "unknown"})
    done = quick.run("fatima", schedule_from_ref, f"act:case_slot:{case.id}:{quick.session_id}")
    assert not isinstance(done, Refused) and quick.case(case.id).state == "scheduled"


def test_a_withdrawn_case_is_no_longer_shown_to_the_team(quick: Hub) -> None:
    case = quick.submit()
    quick.run("amira", withdraw_case, case.id)
    assert quick.run("henri", show_case, case.id) == Refused("cases.not_yours")
    assert en("cases.state.withdrawn") in text_of(quick.run("amira", show_case, case.id))


# --- references -------------------------------------------------------------------------------

@pytest.mark.parametrize(("slug", "code"), [("care-homes", "CH"), ("palliative-essentials", "PE"),
                                            ("acp", "A"), ("homeless-and-inclusion-health", "HAIH")])
def test_the_network_code_is_the_first_letter_of_each_word(slug: str, code: str) -> None:
    assert network_code(slug) == code


def test_references_count_per_network_and_per_year(hub: Hub) -> None:
    pe_author = member(hub.store, hub.clock.now(), "pia", network="palliative-essentials")
    assert pe_author
    first, second = hub.submit(key="a"), hub.submit(key="b")
    elsewhere = hub.submit(who="pia", key="c", network="palliative-essentials", session_id=None)

    for case, who in ((first, "henri"), (elsewhere, "olga"), (second, "fatima")):
        hub.run(who, accept_case, case.id)
    hub.clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    next_year = hub.submit(key="d", session_id=None)
    hub.run("henri", accept_case, next_year.id)

    assert [hub.case(c.id).reference for c in (first, second, elsewhere, next_year)] == [
        "CH-2025-001", "CH-2025-002", "PE-2025-001", "CH-2026-001"]
    assert audit(hub.store, f"case:{first.id}")[-1][3] == {
        "from": "submitted", "to": "accepted", "reference": "CH-2025-001"}


# --- returned, then sent again ----------------------------------------------------------------

def test_a_returned_case_goes_back_to_its_author_and_returns_under_the_same_number(hub: Hub) -> None:
    case = hub.submit()
    hub.run("henri", start_review, case.id)

    done = hub.run("henri", return_case, case.id, "Please add the medications and doses.",
                   ["medications", "summary", "medications"])

    assert text_of(done) == en("cases.returned.done")
    returned = hub.case(case.id)
    assert (returned.state, returned.returned_reason, returned.returned_fields) == (
        "returned", "Please add the medications and doses.", ("summary", "medications"))
    assert audit(hub.store)[-1][1:] == ("case.returned", f"case:{case.id}", {
        "from": "submitted", "to": "returned", "fields": ["summary", "medications"]})
    _, identity, _, reply = notices(hub.store)[-1]
    assert identity == "console:amira"
    assert en("cases.notice.returned", network="Care Homes ECHO",
              reason="Please add the medications and doses.") in reply.fallback_text()
    assert en("cases.notice.returned_fields",
              fields="Summary and Relevant medications") in reply.fallback_text()
    assert refs(reply) == [f"act:case_edit:{case.id}", f"act:case_show:{case.id}",
                           f"act:case_withdraw:{case.id}"]
    assert case_for_editing_ok(hub, case.id)

    again = hub.submit(replace(CONTENT, medications="Morphine 2.5 mg SC PRN"))

    assert (again.id, again.state, again.returned_reason, again.returned_fields) == (
        case.id, "submitted", "", ())
    assert audit(hub.store)[-1][1:] == ("case.resubmitted", f"case:{case.id}", {
        "from": "returned", "to": "submitted", "changed": ["medications"]})
    # Not opened yet: the author may edit again, and the team heard it is back.
    assert case_for_editing_ok(hub, case.id)
    leads = [r.parts[0] for key, identity, _, r in notices(hub.store) if identity == "console:henri"]
    assert leads[-1] == Text(en("cases.notice.resubmitted", title=f"Case {case.id}",
                                network="Care Homes ECHO"))


def case_for_editing_ok(hub: Hub, case_id: int) -> bool:
    return isinstance(hub.run("amira", case_for_editing, case_id), Case)


def test_a_return_needs_a_reason_and_known_fields(quick: Hub) -> None:
    case = quick.submit()
    assert quick.run("henri", return_case, case.id, "   ", []) == Refused("cases.return.reason_needed")
    assert quick.run("henri", return_case, case.id, "x" * 501, []) == Refused(
        "cases.return.reason_too_long", {"max": 500})
    assert quick.run("henri", return_case, case.id, "Why?", ["nhs_number"]) == Refused(
        "cases.return.unknown_field", {"field": "nhs_number"})
    assert quick.case(case.id).state == "submitted"


# --- editing after submission -----------------------------------------------------------------

def test_the_author_may_edit_until_the_team_opens_the_case(hub: Hub) -> None:
    case = hub.submit()
    changed = replace(CONTENT, summary="A woman in her 90s with heart failure in a nursing home")

    updated = hub.run("amira", update_submitted_case, case.id, changed, None, None)

    assert isinstance(updated, Case) and updated.content.summary == changed.summary
    assert updated.session_id is None  # "any session" now
    assert audit(hub.store)[-1][1:] == ("case.updated", f"case:{case.id}", {
        "from": "submitted", "to": "submitted", "changed": ["summary", "session"]})
    # The reviewer sees the change: the new version, with the buttons.
    *_, reply = [n for n in notices(hub.store) if n[1] == "console:henri"][-1]
    assert reply.parts[0] == Text(en("cases.notice.updated", title=f"Case {case.id}",
                                     network="Care Homes ECHO"))
    assert changed.summary in reply.fallback_text()

    hub.run("fatima", start_review, case.id)

    assert hub.run("amira", update_submitted_case, case.id, CONTENT, None, None) == Refused(
        "cases.edit.review_started")
    assert hub.run("amira", submit_case, CONTENT, "care-homes", None, None, "draft-1") == Refused(
        "cases.edit.review_started")
    assert hub.run("amira", case_for_editing, case.id) == Refused("cases.edit.review_started")
    assert hub.case(case.id).content.summary == changed.summary


def test_an_unchanged_edit_records_nothing(quick: Hub) -> None:
    case = quick.submit()
    same = quick.run("amira", update_submitted_case, case.id, CONTENT, None, quick.session_id)
    assert same == case
    assert [a for _, a, _, _ in audit(quick.store)] == ["case.submitted"]


def test_a_case_stays_in_its_network(quick: Hub) -> None:
    member(quick.store, quick.clock.now(), "amira", network="palliative-essentials",
           identity="console:amira-2")
    quick.submit()
    assert quick.run("amira", submit_case, CONTENT, "palliative-essentials", None, None,
                     "draft-1") == Refused("cases.edit.network_fixed")


def test_a_stale_write_is_refused_by_the_repository(store_on: SqlStore, clock: FakeClock) -> None:
    hub = make_hub(store_on, clock)
    case = hub.submit()
    with store_on.transaction() as uow:
        record = uow.cases.get(case.id)
        assert record is not None
        uow.cases.update(case.id, {"state": "accepted"}, record.revision, clock.now())
        with pytest.raises(StaleState):
            uow.cases.update(case.id, {"state": "returned"}, record.revision, clock.now())
        with pytest.raises(StaleState):  # the same draft submitted by another turn meanwhile
            uow.cases.add(hub.amira, "care-homes", None, None, CONTENT, record.draft_key,
                          clock.now())


# --- notices ----------------------------------------------------------------------------------

def test_the_team_hears_of_a_new_case_in_their_own_language_with_the_buttons(hub: Hub) -> None:
    case = hub.submit()

    by_reader = {identity: (due, reply) for _, identity, due, reply in notices(hub.store)}

    assert set(by_reader) == {"console:fatima", "console:henri"}  # not the author, not olga
    due, french = by_reader["console:fatima"]
    assert due == datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # 08:00 in Toronto, after quiet hours
    assert french.parts[:2] == (
        Text("Un nouveau cas pour Care Homes ECHO attend votre examen : Cas d'une personne soignée."),
        Text("Vérifié par Spoke, 1 dérogation."))
    questions, body, team_card = french.parts[2:]
    assert isinstance(questions, Card) and questions.title == "Questions pour le réseau"
    assert [f.value for f in questions.facts] == list(CONTENT.questions)
    assert isinstance(body, Card)
    assert [f.label for f in body.facts] == [
        "Résumé", "Tranche d'âge", "Sexe", "Milieu de soins", "Diagnostic et évolution",
        "Principaux symptômes et préoccupations", "Planification préalable des soins",
        "Notes sur la planification préalable des soins", "Ce qui a été essayé"]
    assert ("Sexe", "Femme") in [(f.label, f.value) for f in body.facts]
    assert isinstance(team_card, Card)
    assert ("Séance", "Spring series: jeudi 5 juin, 08 h 00 à 09 h 00 (heure : Canada (Toronto))") in [
        (f.label, f.value) for f in team_card.facts]
    assert [(o.label, o.ref) for o in team_card.actions] == [
        ("Ouvrir", f"act:case_open:{case.id}"), ("Accepter", f"act:case_accept:{case.id}"),
        ("Retourner avec une raison", f"act:case_return:{case.id}"),
        ("Programmer", f"act:case_schedule:{case.id}")]
    due, english = by_reader["console:henri"]
    assert due == hub.clock.now()
    assert english.parts[0] == Text(
        "A new case for Care Homes ECHO is waiting for review: Patient case.")
    assert english.parts[1] == Text("Checked by Spoke, 1 override.")


def test_the_presenter_hears_of_acceptance_and_the_session_in_their_zone(hub: Hub) -> None:
    with hub.store.transaction() as uow:
        uow.people.update(hub.amira, {"language": "fr", "time_zone": "America/Toronto"})
    case = hub.submit()
    hub.run("henri", schedule_case, case.id, hub.session_id)  # accepts on the way

    to_amira = [r for _, identity, _, r in notices(hub.store) if identity == "console:amira"]
    assert [r.fallback_text() for r in to_amira] == [
        translate("cases.notice.accepted", "fr", network="Care Homes ECHO",
                  reference="CH-2025-001"),
        translate("cases.notice.scheduled", "fr", reference="CH-2025-001",
                  series="Spring series",
                  when="jeudi 5 juin, 08 h 00 à 09 h 00 (heure : Canada (Toronto))")]
    assert transitions(hub.store, case.id)[1:] == [("case.accepted", "submitted", "accepted"),
                                                   ("case.scheduled", "accepted", "scheduled")]


def test_withdrawing_asks_first_and_then_tells_the_team(quick: Hub) -> None:
    case = quick.submit()
    [card] = quick.run("amira", confirm_withdraw, case.id)
    assert isinstance(card, Card) and [o.ref for o in card.actions] == [
        f"act:case_withdraw_confirmed:{case.id}", f"act:case_show:{case.id}"]
    assert quick.case(case.id).state == "submitted"  # asking changes nothing

    assert text_of(quick.run("amira", withdraw_case, case.id)) == en(
        "cases.withdrawn.done", title=f"Case {case.id}")

    last = {identity: reply for _, identity, _, reply in notices(quick.store)}
    assert last["console:henri"].parts == (Text(en(
        "cases.notice.withdrawn", title=f"Case {case.id}", network="Care Homes ECHO")),)


def test_the_schedule_button_offers_the_networks_coming_sessions_preferred_first(quick: Hub) -> None:
    later = session(quick.store, quick.clock.now(), _series_of(quick), THURSDAY_1PM - timedelta(days=1))
    case = quick.submit()
    [question] = quick.run("henri", offer_sessions, case.id)
    assert isinstance(question, Question)
    assert [o.ref for o in question.options] == [f"act:case_slot:{case.id}:{quick.session_id}",
                                                 f"act:case_slot:{case.id}:{later.id}"]
    assert question.options[0].label == "Spring series: Thursday 5 June, 13:00–14:00 (United Kingdom Time)"


def _series_of(hub: Hub) -> Any:
    with hub.store.transaction() as uow:
        found = uow.schedule.series_named("care-homes", "spring")
    assert found is not None
    return found


# --- lists ------------------------------------------------------------------------------------

def test_authors_see_their_cases_and_the_team_sees_what_waits(quick: Hub) -> None:
    first = quick.submit(key="a")
    second = quick.submit(SERVICE_ISSUE, key="b")
    quick.run("henri", accept_case, first.id)

    mine = quick.run("amira", my_cases)
    assert mine[0] == Text(en("cases.mine.intro"))
    assert [c.title for c in mine[1:]] == [f"Case {second.id}", "Case CH-2025-001"]
    assert ("Status", "accepted") in [(f.label, f.value) for f in mine[2].facts]
    assert [o.ref for o in mine[1].actions] == [f"act:case_show:{second.id}",
                                                f"act:case_edit:{second.id}",
                                                f"act:case_withdraw:{second.id}"]
    assert quick.run("bruno", my_cases) == [Text(en("cases.mine.none"))]

    waiting = quick.run("henri", cases_to_review)
    assert waiting[0] == Text(en("cases.review.intro", count=2))
    assert [c.title for c in waiting[1:]] == [f"Case {second.id}", "Case CH-2025-001"]
    assert [o.ref for o in waiting[2].actions] == [f"act:case_schedule:{first.id}",
                                                   f"act:case_export:{first.id}",
                                                   f"act:case_export_pdf:{first.id}"]
    assert quick.run("olga", cases_to_review) == [Text(en("cases.review.none"))]
    assert quick.run("bruno", cases_to_review) == Refused("cases.team_only")


# --- sealed at rest ---------------------------------------------------------------------------

def test_the_case_row_holds_only_sealed_text(hub: Hub) -> None:
    case = hub.submit()
    hub.run("henri", return_case, case.id, "Please remove the ward name", ["summary"])
    with hub.store.engine.connect() as connection:
        row = connection.execute(select(CASE.c.content, CASE.c.returned)).one()
    assert set(row.content) == {"sealed"} and set(row.returned) == {"sealed"}
    assert TEST_SEALER.open(row.returned) == {"reason": "Please remove the ward name",
                                              "fields": ["summary"]}
    assert "heart failure" not in str(row.content) and "ward" not in str(row.returned)


@pytest.fixture
def file_store(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[SqlStore, Path]]:
    url = f"sqlite:///{tmp_path / 'spoke.db'}"
    upgrade(url)
    store = SqlStore(make_engine(url), TEST_SEALER)
    yield store, tmp_path
    store.close()


def _raw(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.glob("spoke.db*"))


def test_the_database_file_holds_no_case_text(file_store: tuple[SqlStore, Path],
                                              clock: FakeClock) -> None:
    store, folder = file_store
    now = clock.now()
    open_networks(store, now)
    # Nobody to notify in this network: only the case table holds the case.
    author = member(store, now, "amira", network="palliative-essentials")
    assert author
    hub = Hub(store, clock, amira=author, bruno=0, fatima=0, henri=0, olga=0, session_id=0,
              other_session_id=0)
    case = hub.submit(network="palliative-essentials", session_id=None)
    with store.transaction() as uow:
        record = uow.cases.get(case.id)
        assert record is not None
        uow.cases.update(case.id, {"state": "returned",
                                   "returned": ("Remove the Skye croft", ("summary",))},
                         record.revision, now)
    assert hub.case(case.id).returned_reason == "Remove the Skye croft"
    store.close()
    raw = _raw(folder)
    for words in (b"breathlessness", b"heart failure", b"morphine", b"Skye", b"nursing home"):
        assert words not in raw, words


def test_the_database_file_holds_no_case_text_even_in_queued_notices(
        file_store: tuple[SqlStore, Path], clock: FakeClock) -> None:
    store, folder = file_store
    hub = make_hub(store, clock)
    hub.submit()
    store.close()
    assert b"heart failure" not in _raw(folder)


# --- export -----------------------------------------------------------------------------------

def test_the_deidentified_markdown_leaves_out_who_presents_and_from_where(quick: Hub) -> None:
    case = quick.submit()
    quick.run("henri", accept_case, case.id)
    [file] = quick.run("henri", export_case, case.id)
    assert isinstance(file, File)
    assert (file.name, file.media_type) == ("case-CH-2025-001-deidentified.md", "text/markdown")
    text = file.content.decode("utf-8")

    assert text.startswith("# Case CH-2025-001\n\n*Patient case* · Care Homes ECHO\n\n"
                           "## Questions for the network\n\n"
                           "1. How can we ease her breathlessness at night?\n"
                           "2. When should we involve the community palliative team?\n")
    assert "- **Summary:** A woman in her 80s with advanced heart failure in a nursing home" in text
    assert "- **Care setting:** Care home (nursing)" in text
    assert text.index("Questions for the network") < text.index("Summary")
    for hidden in ("Amira", "Test Care Home", "Hospice", "Presenter", "Spring series",
                   "For the hub team only"):
        assert hidden not in text, hidden


def test_the_full_markdown_adds_the_identified_part(quick: Hub) -> None:
    case = quick.submit()
    [file] = quick.run("fatima", export_case, case.id, "full")
    assert isinstance(file, File) and file.name == f"case-{case.id}-full.md"
    text = file.content.decode("utf-8")
    assert "## Réservé à l'équipe du hub" in text
    assert "- **Présenté par:** Amira Test, Registered nurse, Test Care Home" in text
    assert "- **Milieu de la personne qui présente:** Établissement de soins palliatifs" in text
    assert "- **Vérification des identifiants:** Vérifié par Spoke, 1 dérogation." in text
    assert audit(quick.store)[-1][1:] == ("case.exported", f"case:{case.id}",
                                          {"part": "full", "format": "md"})


def test_markdown_is_pure_and_skips_empty_fields() -> None:
    case = Case(id=7, author_id=1, network="care-homes", series_id=None, session_id=None,
                state="submitted", reference=None, content=SERVICE_ISSUE, returned_reason="",
                returned_fields=(), submitted_at=None, updated_at=datetime(2025, 6, 2, tzinfo=UTC))
    text = case_markdown(case, "deidentified", T_EN)
    assert text == ("# Case 7\n\n*Service issue or situation*\n\n## Questions for the network\n\n"
                    "1. How do other homes arrange out-of-hours syringe driver checks?\n\n"
                    "## The case\n\n"
                    "- **Summary:** Out-of-hours cover for syringe drivers in a small nursing home\n"
                    "- **Care setting:** Care home (nursing)\n"
                    "- **Main symptoms and concerns:** Night staff unsure who to call\n"
                    "- **What has been tried:** A laminated flow chart by the phone\n")


# --- the catalogue ----------------------------------------------------------------------------

def test_every_message_the_case_service_can_show_is_in_both_catalogues() -> None:
    source = Path(cases.__file__).read_text(encoding="utf-8")
    ids = set(re.findall(r'"(cases\.[a-z_.]+[a-z_])"', source))
    ids |= {f"cases.field.{name}" for name in cases.RETURNABLE_FIELDS}
    ids |= {f"cases.state.{state}" for state in (*CASE_STATES, "in_review")}
    ids |= {f"cases.cannot.{action}" for action in TRANSITIONS}
    ids |= {f"cases.type.{kind}" for kind in cases.CHOICES["case_type"]}
    ids |= {f"cases.sex.{sex}" for sex in cases.CHOICES["sex"]}
    ids |= {f"cases.acp.{status}" for status in cases.CHOICES["acp_status"]}
    ids |= {f"cases.checked.{key}" for key in ("none", "one", "many")}
    ids |= {f"cases.export.caption.{part}" for part in ("deidentified", "full")}
    for language in ("en", "fr"):
        assert sorted(ids - catalogue(language).keys()) == [], language
