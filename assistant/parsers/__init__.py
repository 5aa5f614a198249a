"""Parsers for registration answers: pure `(text, ctx) -> Valid | Invalid` functions."""

from assistant.parsers.country import country, country_name
from assistant.parsers.email import work_email
from assistant.parsers.region import region
from assistant.parsers.text import full_name, one_line
from assistant.parsers.time_zone import time_zone

__all__ = [
    "country",
    "country_name",
    "full_name",
    "one_line",
    "region",
    "time_zone",
    "work_email",
]
