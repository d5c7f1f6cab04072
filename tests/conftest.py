"""Hypothesis profiles: no per-example deadline anywhere (a busy 2-core machine is not a bug),
and in CI a fixed, derandomised search, so a run there is repeatable; locally every run explores
new examples. HYPOTHESIS_PROFILE=ci selects the CI profile (.ci/run sets it). structlog is reset
after each test; `debug_logs` captures every log line of one."""

import logging
import os
from collections.abc import Iterator, MutableMapping
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
import structlog.testing
from clocks import FakeClock
from hypothesis import HealthCheck, settings

import crawler.web.politeness

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


@pytest.fixture
def debug_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every log line, debug included, whatever level an earlier test configured."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """crawler.web.politeness's time.monotonic, moved by hand (`clock.now += 5`)."""
    fake = FakeClock()
    monkeypatch.setattr(crawler.web.politeness, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake
