"""The demo network `spoke demo seed` creates: enough to try every part of registration."""

from __future__ import annotations

from datetime import datetime

from assistant.ports import Store

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


def seed(store: Store, now: datetime) -> list[str]:
    """Adds the demo networks that are missing; running it twice changes nothing."""
    added: list[str] = []
    with store.transaction() as uow:
        existing = {n.slug for n in uow.networks.all()}
        for slug, name, state, professions in NETWORKS:
            if slug not in existing:
                uow.networks.add(slug, name, professions, state, CONSENT_VERSION, dict(CONSENT), now)
                added.append(slug)
    return added
