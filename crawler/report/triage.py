"""What to fix first: the hosts and providers behind the most broken and rotted cards, and the
kinds of problem worst first. The dashboard's "Fix first" section, report.json's `by_kind` order
and the Markdown summary's worst hosts all come from here.

A host (or provider) is charged with a card when the card has a broken or rotted problem on it:
cards are what a maintainer edits, so a host with one dead image shared by a hundred cards ranks
above a host with ten dead URLs in one card. Each card counts once per host, as broken when its
worst problem there is broken, else as rotted; the dashboard's filter `host=H&severity=failing`
shows exactly those cards.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crawler.model import FAILING, Kind, Severity
from crawler.store import reports
from crawler.store.database import Store
from crawler.web.urls import host_of

# The dashboard filter's value for "a broken or rotted problem"
FAILING_FILTER = "failing"

_SEVERITY = {kind.value: kind.severity for kind in Kind}


def kind_severity(kind: str) -> Severity:
    """A kind's severity; a kind this version does not know (an older store) is a warning."""
    return _SEVERITY.get(kind, Severity.WARNING)


def kinds_by_severity(by_kind: Mapping[str, int]) -> list[tuple[str, int]]:
    """(kind, cards): the worst severity first (crawler.model's order), then the most cards,
    then by name."""
    return sorted(by_kind.items(), key=lambda kv: (-kind_severity(kv[0]), -kv[1], kv[0]))


@dataclass(frozen=True, slots=True)
class Culprit:
    """A host or provider and the broken and rotted cards it causes."""

    name: str  # "" for cards that name no provider
    broken: int  # cards whose worst problem there is broken
    rotted: int  # cards with a rotted problem there and no broken one

    @property
    def cards(self) -> int:
        return self.broken + self.rotted


@dataclass(frozen=True, slots=True)
class FixFirst:
    """Every host and provider with a broken or rotted card, the most cards first."""

    hosts: list[Culprit]
    providers: list[Culprit]


def fix_first(store: Store, run_id: int) -> FixFirst:
    """The run's cards, streamed once: who causes the broken and rotted ones. Memory grows with
    the hosts and providers, not the cards."""
    hosts: dict[str, list[int]] = {}
    providers: dict[str, list[int]] = {}
    for card in reports.cards(store, run_id):
        if card.status in (None, Severity.OK.label):
            continue
        worst_at: dict[str, bool] = {}  # host -> broken there
        any_broken: bool | None = None
        for problem in json.loads(card.problems or "[]"):
            if problem.get("severity") not in FAILING:
                continue
            broken = problem["severity"] == Severity.BROKEN.label
            any_broken = bool(any_broken) or broken
            host = host_of(problem.get("url"))
            if host is not None:
                worst_at[host] = worst_at.get(host, False) or broken
        for host, broken in worst_at.items():
            _charge(hosts, host, broken)
        if any_broken is not None:
            _charge(providers, card.provider or "", any_broken)
    return FixFirst(_ranked(hosts.items()), _ranked(providers.items()))


def _charge(table: dict[str, list[int]], name: str, broken: bool) -> None:
    counts = table.setdefault(name, [0, 0])
    counts[0 if broken else 1] += 1


def _ranked(counts: Iterable[tuple[str, list[int]]]) -> list[Culprit]:
    culprits = [Culprit(name, broken, rotted) for name, (broken, rotted) in counts]
    return sorted(culprits, key=lambda c: (-c.cards, -c.broken, c.name))
