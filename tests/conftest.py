"""Hypothesis profiles: no per-example deadline anywhere (a busy 2-core machine is not a bug),
and in CI a fixed, derandomised search, so a run there is repeatable; locally every run explores
new examples. HYPOTHESIS_PROFILE=ci selects the CI profile (.ci/run sets it)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
settings.register_profile("ci", settings.get_profile("dev"), derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
