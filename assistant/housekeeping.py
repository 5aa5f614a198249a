"""Periodic tidying that every replica may run safely at the same time."""

from __future__ import annotations

from datetime import timedelta

from assistant.clock import Clock
from assistant.ports import Store
from assistant.services import draft_care
from assistant.services.recommendations import nudge_missing_recommendations

# Platforms redeliver within minutes (Slack: 3 retries; Teams: seconds), so an hour of
# delivery ids is enough to recognise every redelivery.
KEEP_DELIVERY_IDS = timedelta(hours=1)


def forget_old_deliveries(store: Store, clock: Clock, keep: timedelta = KEEP_DELIVERY_IDS) -> int:
    with store.transaction() as uow:
        return uow.processed.purge(clock.now() - keep)


def forget_expired_downloads(store: Store, clock: Clock) -> int:
    """Files offered by link are deleted once their links expire."""
    with store.transaction() as uow:
        return uow.downloads.purge(clock.now())


def care_for_drafts(store: Store, clock: Clock) -> draft_care.DraftCare:
    """Nudges for drafts meant for a near session, warnings then deletion for abandoned
    drafts, and cases kept past their time purged (DOMAIN.md §4-§5)."""
    return draft_care.care_for_drafts(store, clock.now())


def remind_about_recommendations(store: Store, clock: Clock) -> int:
    """Presented cases whose recommendations are late: the team hears once (DOMAIN.md §7)."""
    with store.transaction() as uow:
        return nudge_missing_recommendations(uow, clock.now())
