"""Rot over time: streaks of failing runs per URL and per card, and the trend they make.

A failure is `new` on its first failing run. One that has failed on at least `min_runs`
consecutive runs spanning at least `min_days` is `persistent`: rot, not a blip. In between it is
`ongoing`. One that alternates between failing and healthy in the recent runs is `flapping`. A
URL or card that fails no more is `fixed`. Only finished runs write history, once each.

A failure in a degraded run (crawler/judge/degraded.py: most hosts unreachable) says more about
the network than about the link: it leaves the history as it was, neither starting nor
extending a streak. A healthy outcome in a degraded run still counts.

An outcome that is only "could not verify" (crawler.model.UNVERIFIED: robots.txt, bot walls) says
nothing about the link at all: it is held the same way, failing or not, so it neither extends a
streak, nor breaks it, nor makes it `fixed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from crawler.config import RotConfig
from crawler.model import UNVERIFIED
from crawler.store.records import StreakState

RECENT_RUNS = 10  # how many past outcomes are kept to tell flapping from a streak


@dataclass(frozen=True, slots=True)
class Streak:
    """The history of one URL or card after a run."""

    first_failed_at: str | None
    last_healthy_at: str | None
    consecutive_failures: int
    recent: str  # oldest first: F failing, O healthy
    trend: str | None  # new | ongoing | persistent | flapping | fixed | None (healthy, no news)


def _transitions(recent: str) -> int:
    return sum(1 for a, b in pairwise(recent) if a != b)


def next_streak(
    previous: StreakState | None,
    *,
    failing: bool,
    at: str,
    rules: RotConfig,
    degraded: bool = False,
    unverified: bool = False,
) -> Streak:
    """Fold one more run's outcome into the history so far (None: no history yet); a failure
    in a `degraded` run, and an `unverified` outcome, are held, not folded in."""
    if unverified or (failing and degraded):
        return _held(previous, at=at, rules=rules)
    before_failures = previous.consecutive_failures if previous else 0
    before_recent = previous.recent if previous else ""
    last_healthy = previous.last_healthy_at if previous else None
    recent = (before_recent + ("F" if failing else "O"))[-RECENT_RUNS:]
    if not failing:
        trend = "fixed" if before_failures else None
        return Streak(None, at, 0, recent, trend)
    consecutive = before_failures + 1
    first = previous.first_failed_at if previous and before_failures else at
    if consecutive == 1 and _transitions(recent) >= 2:
        trend = "flapping"  # failed, recovered, and fails again
    elif consecutive == 1:
        trend = "new"
    elif _lasting(first, consecutive, at, rules):
        trend = "persistent"
    else:
        trend = "ongoing"
    return Streak(first, last_healthy, consecutive, recent, trend)


def unverified(kinds: Iterable[str], *, failing: bool) -> bool:
    """Nothing was learned of the link this run: nothing fails, and something could not be
    verified (a kind of UNVERIFIED among `kinds`)."""
    return not failing and any(kind in UNVERIFIED for kind in kinds)


def _held(previous: StreakState | None, *, at: str, rules: RotConfig) -> Streak:
    """The history unchanged: no streak starts; one under way keeps its count, and its trend
    (never `new`: it began in an earlier run)."""
    if previous is None or not previous.consecutive_failures:
        last_healthy = previous.last_healthy_at if previous else None
        return Streak(None, last_healthy, 0, previous.recent if previous else "", None)
    first, consecutive = previous.first_failed_at, previous.consecutive_failures
    trend = "persistent" if _lasting(first, consecutive, at, rules) else "ongoing"
    return Streak(first, previous.last_healthy_at, consecutive, previous.recent, trend)


def _lasting(first: str | None, consecutive: int, at: str, rules: RotConfig) -> bool:
    """Rot, not a blip: enough failing runs over enough days."""
    return consecutive >= rules.min_runs and _days_between(first, at) >= rules.min_days


def _days_between(start: str | None, end: str) -> float:
    if start is None:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 86400
