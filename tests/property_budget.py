"""The budgets of the property-based suites (tests/test_*properties.py): one place for the Hypothesis profiles.

``edgeopt`` (the default): 40 examples per property, derandomized, so that the suite is the same on every run;
``nightly`` (``HYPOTHESIS_PROFILE=nightly``): 1,000 random examples. No deadline (a solve may take a while on a
busy machine) and no example database (runs leave no files).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                      HealthCheck.large_base_example])
settings.register_profile("edgeopt", max_examples=40, derandomize=True, **_COMMON)
settings.register_profile("nightly", max_examples=1000, derandomize=False, **_COMMON)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "edgeopt"))


def budget(share: float = 1.0) -> settings:
    """The profile's settings with ``share`` of its examples (the slower properties run fewer)."""
    return settings(PROFILE, max_examples=max(1, round(PROFILE.max_examples * share)))
