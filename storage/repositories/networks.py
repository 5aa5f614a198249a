"""Networks: their profession lists, state and consent text."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from assistant.model import AttendanceRules
from assistant.runtime import NetworkInfo
from storage.tables import NetworkRow

NETWORK = NetworkRow.__table__  # type: ignore[attr-defined]


class SqlNetworks:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def all(self) -> list[NetworkInfo]:
        rows = self._conn.execute(select(NETWORK).order_by(NETWORK.c.name))
        return [_info(r) for r in rows]

    def add(self, slug: str, name: str, professions: Sequence[str], state: str,
            consent_version: str, consent_text: dict[str, str], at: datetime) -> NetworkInfo:
        self._conn.execute(insert(NETWORK).values(
            slug=slug, name=name, professions=list(professions), state=state,
            consent_version=consent_version, consent_text=consent_text, created_at=at))
        return _info(self._conn.execute(select(NETWORK).where(NETWORK.c.slug == slug)).one())

    def set_state(self, slug: str, state: str) -> None:
        self._conn.execute(update(NETWORK).where(NETWORK.c.slug == slug).values(state=state))

    def attendance_rules(self, slug: str) -> AttendanceRules:
        row = self._conn.execute(select(
            NETWORK.c.attendance_threshold, NETWORK.c.attendance_unit,
            NETWORK.c.certificate_share).where(NETWORK.c.slug == slug)).first()
        if row is None:
            return AttendanceRules()
        return AttendanceRules(row.attendance_threshold, row.attendance_unit,
                               row.certificate_share)

    def set_attendance_rules(self, slug: str, rules: AttendanceRules) -> None:
        self._conn.execute(update(NETWORK).where(NETWORK.c.slug == slug).values(
            attendance_threshold=rules.threshold, attendance_unit=rules.unit,
            certificate_share=rules.certificate_share))

    def channel(self, slug: str) -> tuple[str, dict[str, Any]] | None:
        row = self._conn.execute(select(NETWORK.c.channel_identity, NETWORK.c.channel_address)
                                 .where(NETWORK.c.slug == slug)).first()
        if row is None or not row.channel_identity:
            return None
        return row.channel_identity, dict(row.channel_address or {})

    def set_channel(self, slug: str, identity: str | None, address: dict[str, Any] | None) -> None:
        self._conn.execute(update(NETWORK).where(NETWORK.c.slug == slug).values(
            channel_identity=identity, channel_address=address))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _info(row: Any) -> NetworkInfo:
    texts = dict(row.consent_text)
    return NetworkInfo(slug=row.slug, name=row.name, state=row.state,
                       professions=tuple(row.professions), consent_version=row.consent_version,
                       consent_text=texts,
                       consent_hash={lang: text_hash(text) for lang, text in texts.items()},
                       id=row.id)
