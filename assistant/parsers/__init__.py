"""Parsers for registration answers: pure `(text, ctx) -> Valid | Invalid` functions."""

from assistant.parsers.country import country, country_name
from assistant.parsers.email import work_email
from assistant.parsers.region import region
from assistant.parsers.text import full_name, one_line
from assistant.parsers.time_zone import time_zone


def warm_up() -> None:
    """Build the city and country indexes ahead of the first question that needs them
    (about a second and a half): the terminal and servers call this in the background."""
    from assistant.parsers.country import _lookup
    from assistant.parsers.time_zone import _cities, _iana_zones

    _lookup()
    _iana_zones()
    _cities()


__all__ = [
    "country",
    "country_name",
    "full_name",
    "one_line",
    "region",
    "time_zone",
    "warm_up",
    "work_email",
]
