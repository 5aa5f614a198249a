"""The demo networks `spoke demo seed` creates: enough to try every part of registration,
and a few coming sessions to register for (one series already full)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from assistant.model import Series, Session
from assistant.ports import Store, UnitOfWork
from assistant.services.schedule import Actor, add_series, add_session

CONSENT_VERSION = "v2025-03"
UK_PROFESSIONS = ("Registered nurse", "Nursing associate", "Care assistant", "GP",
                  "Allied health professional", "Care home manager")
CA_PROFESSIONS = ("Registered nurse", "Personal support worker", "Physician", "Social worker",
                  "Pharmacist")

CONSENT = {
    "en": ("The hub keeps your name, contact details, organisation, role, region and the "
           "sessions you attend, for sessions, reminders, certificates, evaluation and reports "
           "to funders. A pseudonymised copy goes to iECHO, hosted in the US by the University "
           "of New Mexico. Sessions are recorded, image and voice, for registered members only. "
           "You can withdraw at any time by typing *consent*; removal from backups can take a "
           "month."),
    "fr": ("Le hub conserve votre nom, vos coordonnées, votre organisation, votre rôle, votre "
           "région et les séances auxquelles vous assistez, pour les séances, les rappels, les "
           "attestations, l'évaluation et les rapports aux bailleurs de fonds. Une copie "
           "pseudonymisée est transmise à iECHO, hébergé aux États-Unis par l'Université du "
           "Nouveau-Mexique. Les séances sont enregistrées (image et voix), réservées aux "
           "membres inscrits. Vous pouvez retirer votre consentement à tout moment en tapant "
           "*consentement*; l'effacement des sauvegardes peut prendre un mois."),
}

NETWORKS = (
    ("care-homes", "Care Homes ECHO", "open", UK_PROFESSIONS),
    ("palliative-essentials", "Palliative Care Essentials ECHO", "full", CA_PROFESSIONS),
    ("advance-care-planning", "Anticipatory Care Planning ECHO", "opening_soon", UK_PROFESSIONS),
    ("covid-care", "Covid-19 Care Homes ECHO", "closed", UK_PROFESSIONS),
)


THURSDAY, WEDNESDAY = 3, 2


@dataclass(frozen=True)
class DemoSeries:
    network: str
    values: dict[str, Any]  # as `add_series` takes them
    weekday: int  # the first session is on the next such day after the seed runs
    sessions: tuple[tuple[str, str], ...]  # (topic, expert), one a week

    @property
    def name(self) -> str:
        return str(self.values["name"])


SERIES = (
    DemoSeries("care-homes", {
        "name": "care-homes-2027", "title": "Care Homes ECHO: end of life care",
        "description": "Weekly case discussions for care home staff, with a short "
                       "teaching session from the hospice team.",
        "recurrence": "weekly", "default_time": "12:30", "time_zone": "Europe/London",
        "duration_minutes": 60, "join_url": "https://zoom.example.org/j/123", "capacity": 30,
        "state": "open", "requires_approval": False},
        THURSDAY, (("Recognising dying", "Dr Nadia Okafor"),
                   ("Pain and breathlessness", "Gareth Lloyd, palliative care nurse specialist"),
                   ("Talking with families", "Dr Isla Fraser"),
                   ("Anticipatory medicines", "Priya Raman, hospice pharmacist"))),
    DemoSeries("palliative-essentials", {
        "name": "essentials-2027", "title": "Palliative Care Essentials: symptoms at home",
        "description": "A short course for community teams. This cohort is full.",
        "recurrence": "weekly", "default_time": "12:00", "time_zone": "America/Toronto",
        "duration_minutes": 60, "join_url": "https://zoom.example.org/j/456", "capacity": 2,
        "state": "full", "requires_approval": False},
        WEDNESDAY, (("Goals of care conversations", "Dr Marie Tremblay"),
                    ("Delirium at home", "Dr Samuel Osei"))),
)
DEMO = Actor("demo", None)


def seed(store: Store, now: datetime) -> list[str]:
    """Adds the demo networks and series that are missing (a series with its sessions, from
    the next week after `now`); returns their names. Running it twice changes nothing."""
    added: list[str] = []
    with store.transaction() as uow:
        existing = {n.slug for n in uow.networks.all()}
        for slug, name, state, professions in NETWORKS:
            if slug not in existing:
                uow.networks.add(slug, name, professions, state, CONSENT_VERSION, dict(CONSENT), now)
                added.append(slug)
        for demo in SERIES:
            if uow.schedule.series_named(demo.network, demo.name) is None:
                _add_series(uow, demo, now)
                added.append(demo.name)
    return added


def _add_series(uow: UnitOfWork, demo: DemoSeries, now: datetime) -> None:
    series = add_series(uow, DEMO, demo.network, demo.values, now)
    assert isinstance(series, Series), series  # fixed demo data: a refusal is a bug here
    zone = ZoneInfo(series.time_zone)
    first = _next(demo.weekday, now.astimezone(zone).date())
    start = time.fromisoformat(series.default_time)
    for week, (topic, expert) in enumerate(demo.sessions):
        # Wall-clock time in the series' zone: 12:30 stays 12:30 across a clock change.
        starts_at = datetime.combine(first + timedelta(weeks=week), start, tzinfo=zone)
        session = add_session(uow, DEMO, series, starts_at.astimezone(UTC),
                              series.duration_minutes, now, {"topic": topic, "expert": expert})
        assert isinstance(session, Session), session


def _next(weekday: int, today: date) -> date:
    """The next such weekday strictly after today (a week on, when today is one)."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
