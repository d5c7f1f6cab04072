"""robots.txt before every request (RFC 9309): the gate `Fetcher.check` asks before each hop.

One robots.txt per origin (scheme, host, port), fetched at most once a run: the URLs of an origin
that come while it is fetched wait for that one fetch. It is requested with the fetcher's own
attempt (its session, address guard and the host's politeness slot), its redirect walk and retry
policy, at most `robots.max_redirects` redirects (one to another host goes through that host's
slot), its body read as a page's (up to `fetch.max_page_bytes`) and parsed up to
`robots.max_bytes`. A host whose `hosts:` entry says `robots: false` is not asked ("off"). What
robots.txt answered decides for every URL of the origin (`RobotsGate.decide`, a `Decision`):

    2xx                                 its rules (crawler.web.robots_rules): a URL they disallow
                                        is not fetched, robots_disallowed with the rule
    4xx, too many redirects, a          no rules: everything is allowed
      redirect that cannot be followed
    5xx or 429 after the usual          robots_unavailable for every URL of the origin this run,
      retries, or a redirect target      none fetched (a 429 is the site asking us to back off,
      that could not be reached          so it is not taken as "no robots.txt")
    no HTTP answer (DNS, connect, TLS,  every URL of the origin gets that failure's kind without
      timeout)                          being fetched: RFC 9309 takes an unreachable robots.txt
                                        as a full disallow, and the host is down anyway (the
                                        address guard's refusal passes on as it is)

A 2xx or 4xx answer is kept (`RobotsCache`, the store's, handed in by the conductor) for at most
`robots.cache_hours` and reused by later runs; a 5xx or unreachable one is asked again next run;
`--full` reads no cached answer. A Crawl-delay or Request-rate (the longer interval of the two)
becomes a lower bound on the host's request interval, capped at `robots.max_crawl_delay_s`, set
before the host's first URL request (`HostSlot.obey_robots`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from yarl import URL

from crawler.config import Config
from crawler.model import Kind, LinkKind, UrlOutcome
from crawler.web.answer import Result, status_text
from crawler.web.failures import Failure, internal_error
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool
from crawler.web.redirects import follow
from crawler.web.retries import with_retries
from crawler.web.robots_rules import RobotsRules, decode
from crawler.web.urls import host_key

log = structlog.get_logger(__name__)

MAX_CACHE_HOURS = 24.0  # RFC 9309: a cached robots.txt is not used for more than 24 hours

# One request as the fetcher makes it (guard, permit, deadline, capped body), never raising.
AttemptFn = Callable[[str, URL], Awaitable[Result]]


class CachedRobots(Protocol):
    """A robots.txt answer kept from an earlier run: its status, and the rules that applied to
    linkcheck (RobotsRules.text; empty for a 4xx)."""

    @property
    def http_status(self) -> int: ...
    @property
    def rules(self) -> str: ...


class RobotsCache(Protocol):
    """Where robots.txt answers are kept between runs (the store: the web stage cannot import
    it, so the conductor hands it in)."""

    def robots_answer(self, origin: str, *, max_age_s: float) -> CachedRobots | None: ...
    def save_robots_answer(self, origin: str, http_status: int, rules: str) -> None: ...


# -- decisions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Allowed:
    """Fetch it."""


@dataclass(frozen=True, slots=True)
class Disallowed:
    robots_url: str
    rule: str  # as the file spells it: "Disallow: /private/"


@dataclass(frozen=True, slots=True)
class Unavailable:
    robots_url: str
    answer: str  # what it answered: "HTTP 503 Service Unavailable"


@dataclass(frozen=True, slots=True)
class Unreachable:
    robots_url: str
    failure: Failure  # why no answer came


Decision = Allowed | Disallowed | Unavailable | Unreachable
ALLOWED = Allowed()


def refusal(decision: Decision, url: str, *, redirected: bool) -> Failure | None:
    """The hop's result when robots.txt keeps `url` from being fetched; None: fetch it.
    A `redirected` hop is named, since the card's URL is not the one refused."""
    hop = f"redirects to {url}, " if redirected else ""
    match decision:
        case Disallowed(robots_url, rule):
            detail = f"{hop}disallowed by {robots_url}: {rule}"
            return Failure(Kind.ROBOTS_DISALLOWED, detail, transient=False)
        case Unavailable(robots_url, answer):
            detail = f"{hop}not fetched: {robots_url} answered {answer}, so nothing on the site is"
            return Failure(Kind.ROBOTS_UNAVAILABLE, f"{detail} fetched this run", transient=False)
        case Unreachable(robots_url, failure) if failure.kind is Kind.BLOCKED_ADDRESS:
            return failure  # the address guard's own refusal: the URL would get just that
        case Unreachable(robots_url, failure):
            detail = f"{hop}not fetched: fetching {robots_url} failed: {failure.detail}"
            return Failure(failure.kind, detail, transient=False)
    return None


# -- one origin's robots.txt -----------------------------------------------------------------------


@dataclass(slots=True)
class _Site:
    robots_url: str
    outcome: str  # rules | missing | unavailable | unreachable | off
    http_status: int | None = None
    rules: RobotsRules | None = None
    refused: Unavailable | Unreachable | None = None  # every URL of the origin, when set
    cached: bool = False
    asked_s: float | None = None  # the interval robots.txt asked for
    interval_s: float | None = None  # the one applied (capped)
    not_fetched: int = 0  # URLs (and redirect targets) robots.txt kept from being fetched

    def counters(self) -> dict[str, Any]:
        return {
            "url": self.robots_url,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "crawl_delay_s": self.asked_s,
            "interval_s": self.interval_s,
            "disallowed": self.not_fetched,
            "cached": self.cached,
        }


def _from_status(robots_url: str, status: int, rules: RobotsRules, *, cached: bool) -> _Site:
    if 200 <= status < 300:
        return _Site(robots_url, "rules", status, rules, cached=cached)
    return _Site(robots_url, "missing", status, RobotsRules([]), cached=cached)


class RobotsGate:
    """The robots.txt of every origin a run requests, each fetched once; `decide` per URL."""

    def __init__(
        self,
        config: Config,
        pool: HostPool,
        cache: RobotsCache | None,
        rules: HostRules | None = None,
    ) -> None:
        self._config = config.robots
        self._fetch_config = config.fetch
        self._hosts = rules if rules is not None else HostRules(config)  # robots: per host
        self._pool = pool
        self._cache = cache
        self._read_cache = cache is not None and not config.recheck.full
        self._sites: dict[str, _Site] = {}
        self._loading: dict[str, asyncio.Lock] = {}

    async def refusal_for(
        self, url: str, parsed: URL, attempt: AttemptFn, *, redirected: bool
    ) -> Failure | None:
        """What the fetcher's hop asks: None to fetch `url`, else the hop's result."""
        return refusal(await self.decide(url, parsed, attempt), url, redirected=redirected)

    async def decide(self, url: str, parsed: URL, attempt: AttemptFn) -> Decision:
        """May `url` (`parsed`: the same URL, parsed) be fetched? Its origin's robots.txt is
        fetched first, once, with `attempt`."""
        site = await self._site(str(parsed.origin()), attempt)
        decision: Decision = ALLOWED
        if site.refused is not None:
            decision = site.refused
        elif site.rules is not None and (rule := site.rules.disallowing_rule(url)) is not None:
            decision = Disallowed(site.robots_url, rule)
        if decision is not ALLOWED:
            site.not_fetched += 1
        return decision

    def counters(self) -> dict[str, dict[str, Any]]:
        """Each consulted origin's robots.txt for the report, keyed by host (by origin when a
        host was asked under several)."""
        hosts: dict[str, list[str]] = {}
        for origin in sorted(self._sites):
            hosts.setdefault(host_key(origin), []).append(origin)
        return {
            (host if len(origins) == 1 else origin): self._sites[origin].counters()
            for host, origins in hosts.items()
            for origin in origins
        }

    async def _site(self, origin: str, attempt: AttemptFn) -> _Site:
        site = self._sites.get(origin)
        if site is None:
            # single flight: the first URL of an origin fetches, the others wait for it; if that
            # one is cancelled (a stop), the next takes over
            async with self._loading.setdefault(origin, asyncio.Lock()):
                site = self._sites.get(origin)
                if site is None:
                    site = self._sites[origin] = await self._load(origin, attempt)
                    self._loading.pop(origin, None)
        return site

    async def _load(self, origin: str, attempt: AttemptFn) -> _Site:
        robots_url = origin + "/robots.txt"
        key = host_key(robots_url)
        if not self._hosts.for_host(key).robots:
            return _Site(robots_url, "off")
        site = self._cached(origin, robots_url)
        if site is None:
            try:
                site = self._judged(robots_url, await self._fetch(robots_url, attempt))
            except Exception as exc:  # a bug: the origin's URLs say so, the run goes on
                log.exception("robots_txt_failed", url=robots_url)
                failure = Failure(Kind.CHECK_FAILED, internal_error(exc), transient=False)
                site = _Site(robots_url, "unreachable", refused=Unreachable(robots_url, failure))
            self._save(origin, site)
        if site.rules is not None and (asked := site.rules.interval_s()) is not None:
            site.asked_s = asked
            site.interval_s = min(asked, self._config.max_crawl_delay_s)
            slot = self._pool.slot(key)
            if site.interval_s > (slot.robots_interval or 0.0):
                slot.obey_robots(site.interval_s)
        log.debug("robots_txt", url=robots_url, outcome=site.outcome, status=site.http_status)
        return site

    async def _fetch(self, robots_url: str, attempt: AttemptFn) -> UrlOutcome:
        outcome = UrlOutcome(url=robots_url, link_kind=LinkKind.PAGE)

        async def hop(url: str, parsed: URL) -> tuple[Result, int]:
            return await with_retries(lambda: attempt(url, parsed), url, self._fetch_config)

        await follow(outcome, hop, self._config.max_redirects)
        return outcome

    def _judged(self, robots_url: str, outcome: UrlOutcome) -> _Site:
        """What the walk to robots.txt ended with (see the module's table)."""
        status = outcome.http_status
        if status is None:  # no HTTP answer at the end of the walk
            kind, detail = (
                (outcome.findings[-1].kind, outcome.findings[-1].detail)
                if outcome.findings
                else (Kind.CHECK_FAILED, "no answer")
            )
            if outcome.redirects:  # the origin answered; where it sent us did not
                answer = f"a redirect to {outcome.final_url}, which failed: {detail}"
                return _Site(robots_url, "unavailable", refused=Unavailable(robots_url, answer))
            failure = Failure(kind, detail, transient=False)
            return _Site(robots_url, "unreachable", refused=Unreachable(robots_url, failure))
        if status >= 500 or status == 429:
            answer = status_text(status, outcome.http_reason or "")
            return _Site(robots_url, "unavailable", status, refused=Unavailable(robots_url, answer))
        body = outcome.body or b""
        limit = min(self._config.max_bytes, self._fetch_config.max_page_bytes)
        text = decode(body[: self._config.max_bytes], cut=len(body) >= limit)
        return _from_status(robots_url, status, RobotsRules.of(text), cached=False)

    def _cached(self, origin: str, robots_url: str) -> _Site | None:
        if self._cache is None or not self._read_cache:
            return None
        max_age_s = min(self._config.cache_hours, MAX_CACHE_HOURS) * 3600
        try:
            entry = self._cache.robots_answer(origin, max_age_s=max_age_s)
        except Exception:  # a cache that cannot be read costs one request, never the URL
            log.exception("robots_cache_unreadable", origin=origin)
            return None
        if entry is None:
            return None
        rules = RobotsRules(entry.rules.split("\n") if entry.rules else [])
        return _from_status(robots_url, entry.http_status, rules, cached=True)

    def _save(self, origin: str, site: _Site) -> None:
        """Keep a 2xx or 4xx answer for later runs; a 5xx or no answer is asked again."""
        if self._cache is None or site.outcome not in ("rules", "missing") or site.rules is None:
            return
        try:
            self._cache.save_robots_answer(origin, site.http_status or 0, site.rules.text)
        except Exception:
            log.exception("robots_cache_unwritable", origin=origin)


def robots_gate(
    config: Config, pool: HostPool, cache: RobotsCache | None, rules: HostRules | None = None
) -> RobotsGate | None:
    """The run's gate; None when no host reads robots.txt (--no-robots, and no `hosts:` entry
    turning it back on)."""
    if config.robots.enabled or any(h.robots for h in config.hosts.values()):
        return RobotsGate(config, pool, cache, rules)
    return None


__all__ = [
    "ALLOWED",
    "Allowed",
    "CachedRobots",
    "Decision",
    "Disallowed",
    "RobotsCache",
    "RobotsGate",
    "Unavailable",
    "Unreachable",
    "refusal",
    "robots_gate",
]
