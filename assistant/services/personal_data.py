"""A person's own data: export all of it, or delete it."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from typing import Any

from assistant.messages import File, Part, Text
from assistant.model import Case
from assistant.ports import UnitOfWork
from assistant.runtime import DialogState
from assistant.services.context import Refused, ServiceContext
from assistant.services.sessions import give_up_places


def export_my_data(ctx: ServiceContext) -> list[Part] | Refused:
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    uow = ctx.uow
    identities = uow.people.identities(person.id)
    document = {
        "exported_at": ctx.now.isoformat(),
        "profile": person.profile(),
        "registered_at": person.registered_at.isoformat(),
        "identities": identities,
        "memberships": [{"network": m.network, "role": m.role, "status": m.status,
                         "since": m.since.isoformat()} for m in uow.memberships.of(person.id)],
        "session_places": [{"series": series_id, "status": status} for series_id, status
                           in sorted(uow.enrolments.of_person(person.id).items())],
        "rsvps": [{"session": session_id, "answer": answer} for session_id, answer
                  in sorted(uow.rsvps.of_person(person.id).items())],
        "consent_history": [{"network": c.network, "version": c.version,
                             "text_sha256": c.text_hash, "language": c.language,
                             "decision": c.decision, "at": c.at.isoformat()}
                            for c in uow.consents.history(person.id)],
        "attendance": [{"session": a.session_id, "present": a.present, "minutes": a.minutes,
                        "source": a.source, "adjusted": a.adjusted, "reason": a.reason,
                        "at": a.marked_at.isoformat()} for a in uow.attendance.of_person(person.id)],
        "evaluations": [{"session": e.session_id, "satisfaction": e.satisfaction,
                         "relevance": e.relevance, "confidence": e.confidence,
                         "would_recommend": e.recommend, "comment": e.comment,
                         "at": e.answered_at.isoformat()}
                        for e in uow.evaluations.of_person(person.id)],
        "cases": [_case(uow, record.case) for record in uow.cases.of_author(person.id)],
        "conversations": [_conversation(state) for identity in identities
                          for state in uow.conversations.all_of(identity)],
        "reminder_preferences": asdict(uow.reminder_preferences.of([person.id])[person.id]),
        "suggestions": [{"network": s.network, "kind": s.kind, "content": dict(s.content),
                         "state": s.state, "at": s.created_at.isoformat()}
                        for s in uow.suggestions.of_person(person.id)],
        "poll_votes": [{"poll": poll_id, "choice": choice, "at": at.isoformat()}
                       for poll_id, choice, at in uow.polls.votes_of_person(person.id)],
        "opening_alerts": [{"series": series_id, "kind": kind, "at": at.isoformat()}
                           for series_id, kind, at in uow.series_alerts.of_person(person.id)],
        "invitations_shared": [{"code": code, "series": series_id, "at": at.isoformat()}
                               for code, series_id, at in uow.invitations.of_person(person.id)],
    }
    uow.audit.record(ctx.now, ctx.actor.identity, "data.exported", f"person:{person.id}")
    content = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    name = f"spoke-my-data-{ctx.now:%Y-%m-%d}.json"
    return [Text(ctx.t("data.export.ready")),
            File(name, "application/json", content, caption=ctx.t("data.export.caption")),
            Text(ctx.t("data.export.warning"))]


def delete_my_data(ctx: ServiceContext) -> list[Part] | Refused:
    """Personal data goes; an anonymous row with a random pseudonym keeps counts right
    (attendance, evaluation scores, votes), and the audit trail names that row, not them."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    identities = ctx.uow.people.identities(person.id)
    for membership in ctx.uow.memberships.of(person.id):
        ctx.uow.memberships.leave(person.id, membership.network, ctx.now)
    give_up_places(ctx, person.id, None)
    ctx.uow.rsvps.forget(person.id)
    ctx.uow.reminder_preferences.forget(person.id)
    ctx.uow.series_alerts.forget(person.id)
    ctx.uow.evaluations.forget_comments(person.id)
    ctx.uow.suggestions.forget_words(person.id)
    ctx.uow.attendance.pseudonymise(identities, f"person:{person.id}")
    ctx.uow.audit.pseudonymise(identities, f"person:{person.id}")
    ctx.uow.people.forget(person.id, secrets.token_hex(8), ctx.now)
    ctx.uow.outbox.forget(identities)
    for identity in identities:
        ctx.uow.conversations.delete_all(identity)
    ctx.uow.audit.record(ctx.now, "person:deleted", "data.deleted", f"person:{person.id}")
    return [Text(ctx.t("data.delete.done"))]


def _conversation(state: DialogState) -> dict[str, Any]:
    """A conversation under way or put aside (a case draft, a form half filled): the answers
    so far."""
    return {"conversation": state.dialog, "paused": state.paused,
            "waiting_for": state.pending_step, "answers": dict(state.answers)}


def _case(uow: UnitOfWork, case: Case) -> dict[str, Any]:
    """One's own case as submitted, with the recommendations and replies about it."""
    return {"id": case.id, "reference": case.reference, "network": case.network,
            "state": case.state, "session": case.session_id,
            "submitted_at": case.submitted_at.isoformat() if case.submitted_at else None,
            "content": {k: list(v) if isinstance(v, tuple) else v
                        for k, v in asdict(case.content).items()},
            "follow_ups": [{"kind": f.kind, "content": dict(f.content),
                            "at": f.created_at.isoformat()} for f in uow.follow_ups.of_case(case.id)]}
