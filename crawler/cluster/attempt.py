"""What goes between the coordinator and a worker, as plain picklable values.

An `Attempt` is one try at some jobs of one partition. Its `token` is unique in the run: the
partition's fence (a Dask Variable named by `fence_name`) holds the token of the attempt that may
send requests and whose results are taken; any other attempt of that partition is stale, stops
itself, and what it sends is dropped. Results come back in `Batch`es on the run's Dask Queue
(`queue_name`), the last one of an attempt carrying its `Summary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crawler.config import Config
from crawler.model import Job, UrlOutcome

FENCED = -1  # a fence holding this stops every attempt of its partition (the run is stopping)


@dataclass(frozen=True, slots=True)
class Attempt:
    run: str  # the run's name on the cluster, unique: every Dask name below starts with it
    partition: int
    token: int
    jobs: tuple[Job, ...]
    validators: dict[str, dict[str, str]]  # url -> conditional request headers (revalidation)
    robots: dict[str, tuple[int, str]]  # origin -> robots.txt answer known to the store
    config: Config
    start_delay_s: float = 0.0  # so that a host's rate holds across two attempts
    # more jobs may come on the attempt's own queue (`jobs_name`) while cards are read; a None
    # there closes it
    open: bool = False


@dataclass(slots=True)
class Summary:
    """What an attempt's worker knows at its end, for the run's counters."""

    requests: int = 0
    requests_by_host: dict[str, int] = field(default_factory=dict)
    throttled_hosts: dict[str, dict[str, float]] = field(default_factory=dict)
    robots: dict[str, dict[str, Any]] = field(default_factory=dict)
    fenced: bool = False  # it stopped because it was no longer the current attempt


@dataclass(slots=True)
class Batch:
    partition: int
    token: int
    outcomes: list[tuple[str, UrlOutcome]]  # (host key, outcome)
    robots: list[tuple[str, int, str]]  # robots.txt answers fetched: (origin, status, rules)
    summary: Summary | None = None  # the attempt's last batch


def fence_name(run: str, partition: int) -> str:
    return f"{run}-fence-{partition}"


def claim_name(run: str, token: int) -> str:
    return f"{run}-claim-{token}"


def queue_name(run: str) -> str:
    return f"{run}-results"


def jobs_name(run: str, token: int) -> str:
    return f"{run}-jobs-{token}"


# One message on an attempt's job queue: (jobs, their validators), or None: no more jobs.
MoreJobs = tuple[list[Job], dict[str, dict[str, str]]] | None
