"""A person's own data: export all of it, or delete it."""

from __future__ import annotations

import json
import secrets

from assistant.messages import File, Part, Text
from assistant.services.context import Refused, ServiceContext
from assistant.services.sessions import give_up_places


def export_my_data(ctx: ServiceContext) -> list[Part] | Refused:
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    uow = ctx.uow
    document = {
        "exported_at": ctx.now.isoformat(),
        "profile": person.profile(),
        "registered_at": person.registered_at.isoformat(),
        "identities": uow.people.identities(person.id),
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
    }
    uow.audit.record(ctx.now, ctx.actor.identity, "data.exported", f"person:{person.id}")
    content = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    name = f"spoke-my-data-{ctx.now:%Y-%m-%d}.json"
    return [Text(ctx.t("data.export.ready")),
            File(name, "application/json", content, caption=ctx.t("data.export.caption")),
            Text(ctx.t("data.export.warning"))]


def delete_my_data(ctx: ServiceContext) -> list[Part] | Refused:
    """Personal data goes; an anonymous row with a random pseudonym keeps counts right."""
    person = ctx.person
    if person is None:
        return Refused("profile.not_registered")
    identities = ctx.uow.people.identities(person.id)
    for membership in ctx.uow.memberships.of(person.id):
        ctx.uow.memberships.leave(person.id, membership.network, ctx.now)
    give_up_places(ctx, person.id, None)
    ctx.uow.rsvps.forget(person.id)
    ctx.uow.reminder_preferences.forget(person.id)
    ctx.uow.people.forget(person.id, secrets.token_hex(8), ctx.now)
    ctx.uow.outbox.forget(identities)
    for identity in identities:
        ctx.uow.conversations.delete_all(identity)
    ctx.uow.audit.record(ctx.now, "person:deleted", "data.deleted", f"person:{person.id}")
    return [Text(ctx.t("data.delete.done"))]
