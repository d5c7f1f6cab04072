"""What the store's queries return: typed records, never sqlite3.Row.

A record's fields are named and ordered like the columns it is read from, so that a query
selects `columns(Record)` and builds each record from its row as it is. JSON columns stay JSON
text (`problems`, `findings`, `redirects`): most readers pass them on without looking inside.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from crawler.model import Finding, Hop, ImageInfo, Kind, LinkKind, UrlOutcome


def columns(record: type[tuple[Any, ...]], prefix: str = "") -> str:
    """A NamedTuple's fields as an SQL column list, each with `prefix` (a table alias and dot)."""
    return ", ".join(prefix + name for name in record._fields)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    started_at: str
    finished_at: str | None
    state: str  # running | finished | interrupted | failed
    since: str | None
    until: str | None
    cards_root: str
    config: dict[str, Any]
    counters: dict[str, Any]
    pid: int | None
    requests_made: int = 0
    degraded: bool = False  # most hosts failed at the network level (crawler/judge/degraded.py)
    pruned_at: str | None = None  # when `linkcheck prune` deleted its rows (crawler/store/prune.py)


class RunHead(NamedTuple):
    """A run's identity, as the trend chart names it."""

    id: int
    started_at: str
    state: str


class StoredCard(NamedTuple):
    """One card of a run, its verdict filled once the run is judged."""

    run_id: int
    path: str
    disposition: str  # checked | invalid
    title: str | None
    published: str | None
    provider: str | None
    card_problems: str  # JSON: problems found while reading the card
    status: str | None  # None until judged
    problems: str | None  # JSON: every problem, card and URL level
    first_failed_at: str | None
    consecutive_failures: int | None
    trend: str | None


class UrlResult(NamedTuple):
    """One URL's result in a run (a url_results row)."""

    run_id: int
    url: str
    host: str
    link_kind: str
    status: str
    kind: str | None
    findings: str  # JSON list of {kind, detail}
    http_status: int | None
    final_url: str | None
    redirects: str  # JSON list of {url, status, location}
    attempts: int
    elapsed_ms: float
    content_type: str | None
    bytes_read: int
    image_width: int | None
    image_height: int | None
    image_format: str | None
    title: str | None
    etag: str | None
    last_modified: str | None
    checked_at: str
    reused_from: int | None
    first_failed_at: str | None
    consecutive_failures: int | None
    trend: str | None
    archive_url: str | None
    archive_timestamp: str | None

    def as_outcome(self) -> UrlOutcome:
        """The outcome this result recorded (for a 304: what was learned then still holds)."""
        image = None
        if self.image_width is not None and self.image_height is not None:  # stored together
            image = ImageInfo(self.image_width, self.image_height, self.image_format)
        findings = [Finding(Kind(f["kind"]), f["detail"]) for f in json.loads(self.findings)]
        hops = [Hop(h["url"], h["status"], h["location"]) for h in json.loads(self.redirects)]
        return UrlOutcome(
            url=self.url,
            link_kind=LinkKind(self.link_kind),
            findings=findings,
            http_status=self.http_status,
            final_url=self.final_url,
            redirects=hops,
            attempts=self.attempts,
            elapsed_ms=self.elapsed_ms,
            content_type=self.content_type,
            bytes_read=self.bytes_read,
            image=image,
            title=self.title,
            etag=self.etag,
            last_modified=self.last_modified,
        )


class StreakState(NamedTuple):
    """A URL's or card's history so far (a url_state or card_state row)."""

    first_failed_at: str | None
    last_healthy_at: str | None
    consecutive_failures: int
    recent: str  # the last runs, oldest first: F failing, O healthy
    last_run_id: int | None

    @classmethod
    def of(cls, values: Iterable[Any]) -> StreakState | None:
        """The state from a LEFT JOIN's columns: None when there is no state row yet."""
        state = cls._make(values)
        return state if state.recent is not None else None


class LinkResult(NamedTuple):
    """A card's link joined with its URL's result in the run (url_status None: unchecked)."""

    path: str
    ord: int
    field: str
    url: str
    link_kind: str
    declared_width: int | None
    declared_height: int | None
    url_status: str | None
    findings: str | None
    http_status: int | None
    final_url: str | None
    image_width: int | None
    image_height: int | None
    image_format: str | None
    trend: str | None
    first_failed_at: str | None
    consecutive_failures: int | None
    title: str | None
    archive_url: str | None
    archive_timestamp: str | None


class CardToJudge(NamedTuple):
    card: StoredCard
    state: StreakState | None
    links: list[LinkResult]


@dataclass(frozen=True, slots=True)
class CardVerdict:
    path: str
    status: str
    problems: str  # JSON
    first_failed_at: str | None = None
    last_healthy_at: str | None = None
    consecutive_failures: int | None = None
    trend: str | None = None
    recent: str | None = None  # None: history not recorded (the run did not finish)


class UrlToFold(NamedTuple):
    """A URL result of a run, with the URL's history before the run."""

    url: str
    status: str
    checked_at: str
    reused_from: int | None
    state: StreakState | None
    findings: str = "[]"  # JSON list of {kind, detail}


@dataclass(frozen=True, slots=True)
class UrlHistory:
    """A URL's streak after a run, written to its result and its state."""

    url: str
    first_failed_at: str | None
    consecutive_failures: int
    trend: str | None
    last_healthy_at: str | None = None
    recent: str | None = None  # None: the URL's state is left as it was (a reused result)


class UrlTimelineEntry(NamedTuple):
    run_id: int
    started_at: str
    state: str
    status: str
    kind: str | None
    http_status: int | None
    final_url: str | None
    findings: str
    reused_from: int | None
    checked_at: str
    trend: str | None


class CardTimelineEntry(NamedTuple):
    run_id: int
    started_at: str
    state: str
    status: str | None
    problems: str | None
    trend: str | None


class ArchiveEntry(NamedTuple):
    """A cached answer of the Internet Archive for one URL."""

    found: bool
    archive_url: str | None
    archive_timestamp: str | None


class RobotsEntry(NamedTuple):
    """A cached robots.txt answer of one origin (crawler.web.robots.CachedRobots)."""

    http_status: int
    rules: str  # the lines that applied to linkcheck; empty for a 4xx


class StatusCount(NamedTuple):
    status: str | None  # None: not judged
    cards: int


class KindCount(NamedTuple):
    kind: str
    cards: int


class HostReach(NamedTuple):
    """One host's URLs fetched in a run: how many got an HTTP answer, how many failed before."""

    host: str
    answered: int
    network_failed: int


class HostCount(NamedTuple):
    host: str
    status: str
    urls: int


class BlockedHost(NamedTuple):
    """A host whose bot protection answered instead of its pages in a run."""

    host: str
    urls: int  # URLs of the host that were bot_blocked
    vendors: tuple[str, ...]  # the vendors seen, by name ("Akamai", "Cloudflare")


class ProviderCount(NamedTuple):
    provider: str | None
    status: str  # "ok" for a card not judged
    cards: int


class RunStatusCount(NamedTuple):
    run_id: int
    status: str  # "ok" for a card not judged
    cards: int


class ProblemsThen(NamedTuple):
    """A card's problems in a run and in an earlier one (None: the card was not in it), with
    the URLs the card names in the run and those of them the run found healthy."""

    path: str
    problems: str | None
    previous: str | None
    linked: frozenset[str] = frozenset()
    healthy: frozenset[str] = frozenset()


class StatusChange(NamedTuple):
    """A card failing in a run or in the one before it."""

    path: str
    title: str | None
    now: str
    was: str | None
    was_problems: str | None


class ImageLink(NamedTuple):
    path: str
    field: str
    url: str
    declared_width: int | None
    declared_height: int | None


class FailingCard(NamedTuple):
    """A card that is not ok, its status in the previous run, and its image links."""

    card: StoredCard
    previous_status: str | None
    images: list[ImageLink]


class KnownResult(NamedTuple):
    """A URL's HTTP status and final URL in a run (both None when it has no result)."""

    http_status: int | None
    final_url: str | None


class UrlBrief(NamedTuple):
    """What the dashboard's URL table shows of a URL's result."""

    host: str
    http_status: int | None
    final_url: str | None
    redirects: str  # JSON
    attempts: int
    image_width: int | None
    image_height: int | None
