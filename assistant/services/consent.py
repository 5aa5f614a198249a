"""Consent to a network's data-sharing agreement: what was shown, and the record of it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from assistant.model import ConsentRecord
from assistant.runtime import NetworkInfo
from assistant.services.context import Refused, ServiceContext

AGREE = "agree@"


def agreement_token(networks: Sequence[NetworkInfo], language: str) -> str:
    """Names the exact texts shown, so a click on an outdated agreement is refused."""
    shown = "|".join(f"{n.slug}:{n.consent_version}:{_hash(n, language)}" for n in networks)
    return AGREE + hashlib.sha256(shown.encode()).hexdigest()[:12]


def record_consent(ctx: ServiceContext, person_id: int, networks: Sequence[NetworkInfo],
                   token: str, language: str) -> Refused | None:
    """Records one ConsentEvent per network, if `token` names the texts as they are now."""
    if token != agreement_token(networks, language):
        return Refused("consent.changed")
    for network in networks:
        ctx.uow.consents.record(person_id, ConsentRecord(
            network=network.slug, version=network.consent_version,
            text_hash=_hash(network, language), language=language, decision="given",
            at=ctx.now), evidence=f"chat:{ctx.actor.platform}")
    return None


def withdraw_consent(ctx: ServiceContext, person_id: int, network: NetworkInfo) -> None:
    ctx.uow.consents.record(person_id, ConsentRecord(
        network=network.slug, version=network.consent_version,
        text_hash=_hash(network, ctx.t.language), language=ctx.t.language,
        decision="withdrawn", at=ctx.now), evidence=f"chat:{ctx.actor.platform}")


def consent_text(network: NetworkInfo, language: str) -> str:
    return network.consent_text.get(language) or network.consent_text.get("en", "")


def _hash(network: NetworkInfo, language: str) -> str:
    if language in network.consent_hash:
        return network.consent_hash[language]
    return network.consent_hash.get("en", "")
