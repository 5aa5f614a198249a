"""Bad input (issue #9): property tests and fuzzing of every parser, import and front door.

Every test here uses the one hypothesis profile below, `fuzz(n)`: no deadline (the first
dateparser call and a server's first turn are slow), bounded examples so the folder runs in
well under a minute. For a deeper run, multiply every count:

    SPOKE_FUZZ_SCALE=20 .venv/bin/pytest -q tests/fuzz -p no:cacheprovider
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "spoke-fuzz",
    deadline=None,
    # The HTTP tests reuse one server (a function-scoped fixture) for every example, on
    # purpose: the requests share a database, as they do in production.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    print_blob=True,
)
FUZZ = settings.get_profile("spoke-fuzz")
SCALE = float(os.environ.get("SPOKE_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    """The shared profile with this many examples (times SPOKE_FUZZ_SCALE)."""
    return settings(FUZZ, max_examples=max(1, round(examples * SCALE)))
