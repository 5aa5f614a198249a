"""People's names, found by what comes next to them: a title ("Mrs Smith", "Dr. Patel",
"M. Tremblay", "la Dre Gagnon"), a family or care relation ("her daughter Sarah", "son fils
Pierre", "Margaret's husband", "Sarah (daughter)") or "named" / "s'appelle".

The bare words ("the patient's daughter", "sa fille") are not names. A name nobody
introduces ("John brought her in") is not found: the dialog's prompts ask for none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from assistant.identifiers.findings import Hit

_UP: Final = "A-ZÀ-ÖØ-ÞŒ"
_LOW: Final = "a-zß-öø-ÿœ"
# Sarah, O'Neill, McDonald, Nguyen-Tremblay, Marie-Claude, Côté; "J." only before a surname.
# Inner capitals only after the prefixes names have (McDonald, MacLeod, DeSouza, LeBlanc), so
# that "FaceTimes" and "WhatsApps" are not names.
_WORD: Final = (rf"(?:[{_UP}]['’][{_UP}][{_LOW}]+|(?:Mc|Mac|De|Di|Da|Le|La|Van|Fitz)[{_UP}][{_LOW}]+"
                rf"|[{_UP}][{_LOW}]+)(?:['’-][{_UP}]?[{_LOW}]+)*")
_INITIAL: Final = rf"[{_UP}]\."
_CAPS: Final = rf"[{_UP}]{{4,}}"                     # "Dr SMITH", after a title only
# Surname particles: Ó Ceallaigh, Nic Aoidh, van der Berg, de Souza, Le Blanc, St. John.
_PARTICLE: Final = r"(?:Ó|Ní|Nic|Mac|Ua|van der|van|von|de la|de|De|Di|Da|Du|Le|La|St\.?)\s+"
_FULL_NAME: Final = (rf"(?:{_INITIAL}\s?)?(?:{_PARTICLE})?{_WORD}"
                     rf"(?:\s+(?:{_INITIAL}\s?)?(?:{_PARTICLE})?{_WORD}){{0,2}}")

_TITLES: Final = (r"Mrs|Mr|Ms|Miss|Mx|Dr|Dre|Prof|Pr|Sister|Nurse|Father|Rev|Revd|Docteure?|"
                  r"Madame|Monsieur|Mademoiselle|Mme|Mlle|Sœur|Soeur")
_TITLED: Final = re.compile(
    rf"(?<![\w.])(?P<cue>(?:{_TITLES})\.?|M\.)\s+(?P<name>{_FULL_NAME}|{_CAPS})(?![\w'’])")

_EN_RELATIONS: Final = (
    r"daughter|son|wife|husband|partner|mother|father|mum|mom|dad|brother|sister|niece|nephew|"
    r"granddaughter|grandson|grandmother|grandfather|grandchild|granny|grandma|grandpa|aunt|"
    r"uncle|cousin|friend|neighbour|neighbor|carer|caregiver|fianc[ée]e?|spouse|stepdaughter|"
    r"stepson|stepmother|stepfather|next of kin|NOK|goddaughter|godson|nurse|key ?worker")
_FR_RELATIONS: Final = (
    r"fille|fils|épouse|femme|mari|conjointe?|compagne|compagnon|mère|père|frère|sœur|soeur|"
    r"nièce|neveu|petite-fille|petit-fils|grand-mère|grand-père|tante|oncle|cousine?|amie?|"
    r"voisine?|proche aidante?|aidante?|belle-fille|beau-fils|belle-mère|beau-père|bru|gendre|"
    r"filleule?")
_FR_DETERMINERS: Final = r"sa|son|ses|leur|leurs|la|le|les|ma|mon|notre|votre|une?"
# One or two names after the cue: "her daughters Anne and Claire", "ses fils Marc et Luc".
_NAME_AFTER: Final = (rf"\s*(?:,|:|\()?\s*(?P<name>(?:{_WORD})(?:\s+{_WORD})?)(?![\w'’])"
                      rf"(?:\s+(?:and|et|&)\s+(?P<name2>{_WORD}(?:\s+{_WORD})?)(?![\w'’]))?")
_EN_RELATED: Final = re.compile(
    rf"(?<![\w-])(?P<cue>(?i:{_EN_RELATIONS})(?:s|-in-law)?){_NAME_AFTER}")
_EN_RELATED_NO_SON: Final = re.compile(
    rf"(?<![\w-])(?P<cue>(?i:{_EN_RELATIONS.replace('|son|', '|')})(?:s|-in-law)?){_NAME_AFTER}")
# French relation words may carry an adjective: "son fils aîné, Marc", "sa fille cadette Julie".
_FR_RELATED: Final = re.compile(
    rf"(?<![\w-])(?i:{_FR_DETERMINERS})\s+(?P<cue>(?i:{_FR_RELATIONS})s?"
    rf"(?:\s+(?:aînée?s?|cadette?s?|unique))?){_NAME_AFTER}")
# "Margaret's husband", "Sarah (daughter)", "named Joe", "s'appelle Lucie".
_BEFORE_RELATION: Final = re.compile(
    rf"(?<![\w'’-])(?P<name>{_WORD})(?:['’]s\s+|\s+\((?:her|his|their|sa|son)?\s*)"
    rf"(?P<cue>(?i:{_EN_RELATIONS}|{_FR_RELATIONS}))\b")
_CALLED: Final = re.compile(
    rf"(?P<cue>\b(?i:named|name is|s['’]appelle|prénommée?))\s+(?P<name>{_WORD}(?:\s+{_WORD})?)(?![\w'’])")

# Capitalised words that are not names: sentence openers, days, months, services.
_NOT_NAME_LIST: Final = """
    The A An He She They It His Her Hers Their This That These Those Then There Here We I You
    In On At For With And But Or Not No Yes If When While After Before Since During Today
    Yesterday Tomorrow Who Whom Whose What Which Also Both Each Every All Some Has Had Is Was
    Are Were Would Can Could Might Should Must Lives Living Visits Visited Came Says
    Said Feels Felt Reports Reported Wants Wanted Patient Patients Mother Father Son Daughter
    Le La Les Un Une Des Il Elle Ils Elles Nous Vous Je Ce Cette Ces Son Sa Ses Leur Leurs Mais
    Et Ou Puis Depuis Après Avant Pendant Chez Dans Sur Avec Pour Par Aussi Qui Que Est Était
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday Mondays Tuesdays Wednesdays
    Thursdays Fridays Saturdays Sundays Weekends Lundi Mardi Mercredi Jeudi
    Vendredi Samedi Dimanche January February March July September October
    November December Janvier Février Mars Avril Mai Juin Juillet Août Septembre Octobre
    Novembre Décembre Christmas Easter Noël Pâques Hospital Hospice Home Care Ward Unit
    Emergency Ambulance Palliative Community District Nursing Nurse Doctor Team Service
    Services Social Health Trust Council Mental Hospitalier Urgence Urgences Soins Hôpital
    Centre Maison CLSC CHSLD Muslim Jewish Catholic Hindu Sikh Buddhist English
    French Polish Punjabi Urdu Arabic Spanish Italian Portuguese Cree Inuit Ojibwe Mohawk
    Canadian Scottish Welsh Irish British Français Française Anglais Anglaise Québécois
    Québécoise Ontario Quebec Québec Canada Scotland England Wales Alberta Manitoba
    Mr Mrs Ms Miss Mx Dr Dre Prof Pr Sister Rev Mme Mlle Madame Monsieur Docteur Docteure
    Practitioner Specialist Consultant Manager Lead Assistant Associate Educator Prescriber
    Advisor Adviser Registrar Practice Partner Coordinator Navigator Power Lasting Attorney
    Googled Googles Skype Skypes Skyped Zooms Zoomed FaceTime FaceTimes FaceTimed WhatsApp
    WhatsApps WhatsApped
"""
_NOT_NAMES: Final = frozenset(_NOT_NAME_LIST.split())


def find(text: str, language: str) -> Iterator[Hit]:
    if not any(char.isupper() for char in text):
        return
    for match in _TITLED.finditer(text):
        yield from _name(match, "name", "cue")
    for pattern in (_EN_RELATED_NO_SON if language == "fr" else _EN_RELATED, _FR_RELATED):
        for match in pattern.finditer(text):
            yield from _name(match, "name", "cue")
            if match["name2"]:
                yield from _name(match, "name2", "cue")
    for match in _CALLED.finditer(text):
        yield from _name(match, "name", "cue")
    for match in _BEFORE_RELATION.finditer(text):
        yield from _name(match, "name", "cue")


def _name(match: re.Match[str], group: str, cue_group: str) -> Iterator[Hit]:
    tokens = list(re.finditer(r"\S+", match[group]))
    # Trim words that are not names from the end ("Mr Brown Has" -> "Mr Brown").
    while tokens and tokens[-1].group().strip(".") in _NOT_NAMES:
        tokens.pop()
    if not tokens or tokens[0].group().strip(".") in _NOT_NAMES:
        return
    if len(tokens) == 1 and tokens[0].group().endswith("."):
        return                                   # an initial alone
    start = match.start(group)
    yield Hit("name", start, start + tokens[-1].end(), cue=" ".join(match[cue_group].split()))
