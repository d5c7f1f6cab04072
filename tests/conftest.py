"""Hypothesis profiles: no per-example deadline anywhere (a busy 2-core machine is not a bug),
and in CI a fixed, derandomised search, so a run there is repeatable; locally every run explores
new examples. HYPOTHESIS_PROFILE=ci selects the CI profile (.ci/run sets it). structlog is reset
after each test."""

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
settings.register_profile("ci", settings.get_profile("dev"), derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """A test that runs the CLI configures structlog to print to the stderr pytest gave that test,
    which pytest closes afterwards; a later test logging through that configuration would write to
    a closed file. Each test starts from structlog's defaults, as each real process does."""
    yield
    structlog.reset_defaults()
