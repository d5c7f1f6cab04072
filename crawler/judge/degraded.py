"""Whether a run was degraded: a night without a network is not a night of broken links.

A host is unreachable in a run when none of the URLs the run fetched from it got an HTTP answer
and at least one failed at the network level (`NETWORK_KINDS`). When more than
`rot.degraded_host_share` of the hosts contacted were unreachable, and at least
`rot.degraded_min_hosts` of them, the trouble was on this side: the run is `degraded`. Its
failures still show as they are, but they start or extend no streak (crawler/judge/history.py),
no "new broken" is announced, and the run exits with its own code. A few dead hosts among
healthy ones are just broken.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.config import RotConfig
from crawler.model import Kind
from crawler.store.database import Store
from crawler.store.records import HostReach
from crawler.store.state import host_reach

# Failures that brought back no HTTP answer at all: the name, the connection or the handshake
# failed, or nothing came back in time. Any HTTP answer, even a 5xx, proves the network works.
NETWORK_KINDS = frozenset({Kind.DNS_ERROR, Kind.CONNECTION_ERROR, Kind.TLS_ERROR, Kind.TIMEOUT})


@dataclass(frozen=True, slots=True)
class Reach:
    """How the hosts of one run answered, and what that makes of the run."""

    hosts_contacted: int
    hosts_unreachable: int
    degraded: bool

    def counters(self) -> dict[str, int]:
        """What the run records (report.json's `run` shows them)."""
        return {
            "hosts_contacted": self.hosts_contacted,
            "hosts_unreachable": self.hosts_unreachable,
        }


def judge_reach(hosts: list[HostReach], rules: RotConfig) -> Reach:
    """The decision, from each host's counts."""
    contacted = [h for h in hosts if h.answered or h.network_failed]
    unreachable = sum(1 for h in contacted if not h.answered)
    degraded = (
        unreachable >= rules.degraded_min_hosts
        and unreachable > rules.degraded_host_share * len(contacted)
    )
    return Reach(len(contacted), unreachable, degraded)


def run_reach(store: Store, run_id: int, rules: RotConfig) -> Reach:
    """The decision for a run whose results are in the store."""
    return judge_reach(host_reach(store, run_id, sorted(NETWORK_KINDS)), rules)
