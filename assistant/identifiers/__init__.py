"""The identifier checker: what in a case's text could identify a patient.

Pure and deterministic: no I/O, no network, no model, no logging (flagged text must never
reach a log). It runs on every answer of the case-drafting dialog and on the whole draft at
submit. DOMAIN.md §6 says what it enforces; bench/phi.py measures it on a labelled corpus.

    findings = find_identifiers("Her daughter Sarah visits. NHS 999 765 4323.", "en")
    [f.masked for f in findings]      # ['daughter S****', 'NHS 999 *** ****']
    replace_with_placeholders(text, findings)
    # 'Her daughter [name] visits. NHS [NHS number].'
"""

from assistant.identifiers.checker import find_identifiers, replace_with_placeholders
from assistant.identifiers.findings import KINDS, MESSAGE_IDS, Finding
from assistant.identifiers.health_numbers import (
    bc_phn_check_digit,
    is_bc_phn,
    is_chi_number,
    is_nhs_number,
    is_ohip_number,
    is_ramq_number,
    luhn_valid,
    nhs_check_digit,
)

__all__ = [
    "KINDS",
    "MESSAGE_IDS",
    "Finding",
    "bc_phn_check_digit",
    "find_identifiers",
    "is_bc_phn",
    "is_chi_number",
    "is_nhs_number",
    "is_ohip_number",
    "is_ramq_number",
    "luhn_valid",
    "nhs_check_digit",
    "replace_with_placeholders",
]
