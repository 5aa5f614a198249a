"""Parsers for chat answers: pure `(text, ctx) -> Valid | Invalid` functions."""

from assistant.parsers.country import country, country_name
from assistant.parsers.email import work_email
from assistant.parsers.region import region
from assistant.parsers.session_time import duration_minutes, join_url, session_start
from assistant.parsers.text import full_name, one_line
from assistant.parsers.time_zone import time_zone


def warm_up() -> None:
    """Build the city and country indexes and load dateparser's data ahead of the first
    question that needs them (about a second and a half, then ~0.3 s): the terminal and
    servers call this in the background."""
    from assistant.parsers import session_time
    from assistant.parsers.country import _lookup
    from assistant.parsers.time_zone import _cities, _iana_zones

    _lookup()
    _iana_zones()
    _cities()
    session_time.warm_up()
    # Loaded on first use, not at start-up: the identifier checker and calendars.
    import assistant.calendar
    import assistant.identifiers  # noqa: F401


__all__ = [
    "country",
    "country_name",
    "duration_minutes",
    "full_name",
    "join_url",
    "one_line",
    "region",
    "session_start",
    "time_zone",
    "warm_up",
    "work_email",
]
