"""A work email address, checked by `email_validator` without any network lookup."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from assistant.parsing import Invalid, ParseContext, Valid


def work_email(text: str, ctx: ParseContext) -> Valid[str] | Invalid:
    """A syntactically valid address, normalised (domain lower-cased) so it matches
    attendance reports. Refusals carry no arguments: the address is not echoed back."""
    address = text.strip()
    if not address:
        return Invalid("parse.text.empty")
    if "@" not in address:
        return Invalid("parse.email.no_at")
    try:
        # Deliverability needs DNS: a blocking network call a pure parser must not make.
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return Invalid("parse.email.invalid")
    return Valid(checked.normalized)
