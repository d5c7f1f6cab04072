"""The robots.txt gate (crawler.web.robots) in front of a real fetcher and the simulated web: what
each answer of robots.txt does to the origin's URLs, redirects and size, one fetch per origin,
Crawl-delay, per-host switches, and the store's cache across runs."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from servers import fast_fetch_config, ok, serve

from crawler.config import Config, HostConfig, PolitenessConfig, RecheckConfig, RobotsConfig
from crawler.model import Kind, LinkKind, UrlOutcome
from crawler.sim.robots_sites import RobotsFile
from crawler.sim.server import SimWeb
from crawler.store.database import Store
from crawler.web.failures import Failure
from crawler.web.fetch import Fetcher
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool
from crawler.web.robots import (
    Disallowed,
    RobotsCache,
    RobotsGate,
    Unavailable,
    Unreachable,
    refusal,
    robots_gate,
)

IPS = ["127.0.0.171", "127.0.0.172", "127.0.0.173"]
NOBODY = "127.0.0.179"  # no server listens there: connections are refused
EVERYTHING = "User-agent: *\nDisallow: /\n"


@dataclass
class Rig:
    fetcher: Fetcher
    gate: RobotsGate
    pool: HostPool

    async def check(self, url: str) -> UrlOutcome:
        return await self.fetcher.check(url, LinkKind.PAGE)

    def kinds(self, outcome: UrlOutcome) -> list[Kind]:
        return [f.kind for f in outcome.findings]


@asynccontextmanager
async def rig(
    cache: RobotsCache | None = None, *, retries: int = 0, full: bool = False, **config: Any
) -> AsyncIterator[Rig]:
    """A fetcher with a gate, as a crawl wires them (`config` sets Config's sections)."""
    whole = Config(
        fetch=fast_fetch_config(retries=retries),
        politeness=PolitenessConfig(rate_per_host=1000, concurrency_per_host=8),
        recheck=RecheckConfig(full=full),
        **config,
    )
    rules = HostRules(whole)
    pool = HostPool(whole.politeness, rules)
    gate = robots_gate(whole, pool, cache, rules)
    assert gate is not None
    async with Fetcher(whole.fetch, pool, rules, gate) as fetcher:
        yield Rig(fetcher, gate, pool)


def paths(web: SimWeb, host: str | None = None) -> list[str]:
    return [r.path for r in web.log if host is None or r.host == host]


# -- what robots.txt answered ---------------------------------------------------------------------


async def test_a_disallowed_url_is_not_fetched_and_the_rule_is_named() -> None:
    robots = RobotsFile("User-agent: *\nDisallow: /status/\nAllow: /status/200/\n")
    async with SimWeb(IPS[:1], latency_ms=0, robots={IPS[0]: robots}) as web, rig() as r:
        refused = await r.check(web.url(0, "/status/404/a"))
        fine = await r.check(web.url(0, "/status/200/b"))
        robots_url = web.url(0, "/robots.txt")
        assert [(f.kind, f.detail) for f in refused.findings] == [
            (Kind.ROBOTS_DISALLOWED, f"disallowed by {robots_url}: Disallow: /status/")
        ]
        assert refused.http_status is None and refused.attempts == 0
        assert fine.findings == [] and fine.http_status == 200
        assert paths(web) == ["/robots.txt", "/status/200/b"]
        assert r.gate.counters() == {
            IPS[0]: {
                "url": robots_url,
                "outcome": "rules",
                "http_status": 200,
                "crawl_delay_s": None,
                "interval_s": None,
                "disallowed": 1,
                "cached": False,
            }
        }


async def test_a_disallowed_redirect_target_stops_the_walk_naming_the_hop() -> None:
    robots = RobotsFile("User-agent: linkcheck\nDisallow: /ok/\n")
    async with SimWeb(IPS[:1], latency_ms=0, robots={IPS[0]: robots}) as web, rig() as r:
        outcome = await r.check(web.url(0, "/redirect/302/x"))
        target = web.url(0, "/ok/x-moved")
        [finding] = outcome.findings
        assert finding.kind is Kind.ROBOTS_DISALLOWED
        assert finding.detail == (
            f"redirects to {target}, disallowed by {web.url(0, '/robots.txt')}: Disallow: /ok/"
        )
        assert [h.location for h in outcome.redirects] == [target]
        assert paths(web) == ["/robots.txt", "/redirect/302/x"]


async def test_a_4xx_robots_txt_allows_everything() -> None:
    files = {IPS[0]: RobotsFile(status=403)}  # IPS[1]: the sim's 404
    async with SimWeb(IPS[:2], latency_ms=0, robots=files) as web, rig() as r:
        for i in (0, 1):
            assert (await r.check(web.url(i, "/ok/a"))).findings == []
        counters = r.gate.counters()
        assert [(c["outcome"], c["http_status"]) for c in counters.values()] == [
            ("missing", 403),
            ("missing", 404),
        ]
        assert paths(web, IPS[0]) == paths(web, IPS[1]) == ["/robots.txt", "/ok/a"]


async def test_a_5xx_robots_txt_makes_the_origin_unavailable_after_the_retries() -> None:
    files = {IPS[0]: RobotsFile(status=503), IPS[1]: RobotsFile(status=500)}
    async with SimWeb(IPS[:2], latency_ms=0, robots=files) as web, rig(retries=2) as r:
        outcomes = [await r.check(web.url(i, f"/ok/{n}")) for i in (0, 1) for n in "ab"]
        assert [r.kinds(o) for o in outcomes] == [[Kind.ROBOTS_UNAVAILABLE]] * 4
        assert outcomes[0].findings[0].detail == (
            f"not fetched: {web.url(0, '/robots.txt')} answered HTTP 503 Service Unavailable,"
            " so nothing on the site is fetched this run"
        )
        assert paths(web, IPS[0]) == ["/robots.txt"] * 3  # 503 is retried, 500 is not
        assert paths(web, IPS[1]) == ["/robots.txt"]
        counters = r.gate.counters()
        assert counters[IPS[0]]["outcome"] == "unavailable"
        assert counters[IPS[0]]["http_status"] == 503 and counters[IPS[0]]["disallowed"] == 2


async def test_an_unreachable_robots_txt_gives_every_url_its_failure_without_a_request() -> None:
    async with SimWeb(IPS[:1], latency_ms=0) as web, rig(retries=1) as r:
        robots_url = f"http://{NOBODY}:{web.port}/robots.txt"
        first = await r.check(f"http://{NOBODY}:{web.port}/ok/a")
        second = await r.check(f"http://{NOBODY}:{web.port}/ok/b")
        for outcome in (first, second):
            [finding] = outcome.findings
            assert finding.kind is Kind.CONNECTION_ERROR
            assert finding.detail.startswith(f"not fetched: fetching {robots_url} failed: ")
        assert r.pool.requests_by_host() == {NOBODY: 2}  # robots.txt and its one retry
        assert r.gate.counters()[NOBODY]["outcome"] == "unreachable"


async def test_five_redirects_are_followed_a_sixth_is_too_many() -> None:
    rules = "User-agent: *\nDisallow: /ok/\n"
    files = {IPS[0]: RobotsFile(rules, redirects=5), IPS[1]: RobotsFile(rules, redirects=6)}
    async with SimWeb(IPS[:2], latency_ms=0, robots=files) as web, rig() as r:
        assert r.kinds(await r.check(web.url(0, "/ok/a"))) == [Kind.ROBOTS_DISALLOWED]
        assert (await r.check(web.url(1, "/ok/a"))).findings == []  # too many: no rules
        hops = [f"/robots-hop/{k}" for k in range(1, 6)]
        assert paths(web, IPS[0]) == ["/robots.txt", *hops]
        assert paths(web, IPS[1]) == ["/robots.txt", *hops, "/ok/a"]
        assert r.gate.counters()[IPS[1]]["outcome"] == "missing"


async def test_a_redirect_to_another_hosts_file_goes_through_that_hosts_slot() -> None:
    files = {IPS[0]: RobotsFile(redirect_host=IPS[1]), IPS[1]: RobotsFile(EVERYTHING)}
    async with SimWeb(IPS[:2], latency_ms=0, robots=files) as web, rig() as r:
        outcome = await r.check(web.url(0, "/ok/a"))
        assert outcome.findings[0].detail.endswith(f"{web.url(0, '/robots.txt')}: Disallow: /")
        assert paths(web, IPS[0]) == ["/robots.txt"]
        assert paths(web, IPS[1]) == ["/robots.txt"]  # asked for the first host's
        assert r.pool.requests_by_host() == {IPS[0]: 1, IPS[1]: 1}


async def test_a_redirect_to_a_host_that_cannot_be_reached_makes_the_origin_unavailable() -> None:
    files = {IPS[0]: RobotsFile(redirect_host=NOBODY)}
    async with SimWeb(IPS[:1], latency_ms=0, robots=files) as web, rig() as r:
        [finding] = (await r.check(web.url(0, "/ok/a"))).findings
        assert finding.kind is Kind.ROBOTS_UNAVAILABLE
        assert (
            f"a redirect to http://{NOBODY}:{web.port}/robots.txt, which failed" in finding.detail
        )


async def test_rules_within_500_kib_are_read_and_those_beyond_the_limit_are_not() -> None:
    late = "#" * 510_000 + "\nDisallow: /late/\n"  # ends past 500 KiB, within max_bytes
    robots = RobotsFile(
        "User-agent: *\nDisallow: /early/\n" + late, pad_to=600_000, beyond="Disallow: /beyond/\n"
    )
    async with SimWeb(IPS[:1], latency_ms=0, robots={IPS[0]: robots}) as web, rig() as r:
        assert len(robots.body) > 600_000
        for path, refused in (("/early/a", True), ("/late/a", True), ("/beyond/a", False)):
            kinds = r.kinds(await r.check(web.url(0, path)))
            assert (kinds == [Kind.ROBOTS_DISALLOWED]) is refused, path
        assert paths(web).count("/robots.txt") == 1


async def test_concurrent_urls_of_one_origin_wait_for_one_fetch() -> None:
    robots = RobotsFile("User-agent: *\nDisallow: /status/\n")
    async with SimWeb(IPS[:1], latency_ms=50, robots={IPS[0]: robots}) as web, rig() as r:
        urls = [web.url(0, f"/ok/{n}") for n in range(10)] + [web.url(0, "/status/404/x")]
        outcomes = await asyncio.gather(*(r.check(u) for u in urls))
        assert [r.kinds(o) for o in outcomes] == [[]] * 10 + [[Kind.ROBOTS_DISALLOWED]]
        assert paths(web).count("/robots.txt") == 1
        assert paths(web)[0] == "/robots.txt"  # before any URL of the origin


async def test_robots_can_be_off_for_one_host() -> None:
    files = {ip: RobotsFile(EVERYTHING) for ip in IPS[:2]}
    hosts = {IPS[0]: HostConfig(robots=False)}
    async with SimWeb(IPS[:2], latency_ms=0, robots=files) as web, rig(hosts=hosts) as r:
        assert (await r.check(web.url(0, "/ok/a"))).findings == []
        assert r.kinds(await r.check(web.url(1, "/ok/a"))) == [Kind.ROBOTS_DISALLOWED]
        assert paths(web, IPS[0]) == ["/ok/a"]
        assert r.gate.counters()[IPS[0]]["outcome"] == "off"


async def test_origins_are_apart_and_counted_by_origin_when_a_host_has_several() -> None:
    robots = {IPS[0]: RobotsFile(EVERYTHING)}
    async with (
        SimWeb(IPS[:1], latency_ms=0, robots=robots) as web,
        serve({"/ok/a": ok()}, IPS[0]) as other,  # the same host, another port: no robots.txt
        rig() as r,
    ):
        assert r.kinds(await r.check(web.url(0, "/ok/a"))) == [Kind.ROBOTS_DISALLOWED]
        assert (await r.check(other.url("/ok/a"))).findings == []
        assert other.paths() == ["/robots.txt", "/ok/a"]
        counters = r.gate.counters()
        assert set(counters) == {web.base_url(0), f"http://{IPS[0]}:{other.port}"}
        assert r.pool.requests_by_host() == {IPS[0]: 3}  # one host, one politeness slot


def test_the_sim_refuses_a_robots_txt_for_a_host_it_does_not_serve() -> None:
    with pytest.raises(ValueError, match="must be among the hosts"):
        SimWeb(IPS[:1], robots={IPS[1]: RobotsFile()})


def test_no_gate_when_robots_are_off_everywhere() -> None:
    pool = HostPool(PolitenessConfig())
    off = Config(robots=RobotsConfig(enabled=False))
    assert robots_gate(off, pool, None) is None
    back_on = Config(robots=RobotsConfig(enabled=False), hosts={"a.test": HostConfig(robots=True)})
    assert robots_gate(back_on, pool, None) is not None


async def test_crawl_delay_spaces_the_hosts_requests_up_to_the_cap() -> None:
    """Measured at the server: robots.txt, then each URL at least the capped delay apart."""
    files = {
        IPS[0]: RobotsFile("User-agent: *\nCrawl-delay: 100\n"),
        IPS[1]: RobotsFile("User-agent: *\nCrawl-delay: 0.5\nRequest-rate: 1/2\n"),
    }
    robots = RobotsConfig(max_crawl_delay_s=1.0)
    async with SimWeb(IPS[:2], latency_ms=0, robots=files) as web, rig(robots=robots) as r:
        await asyncio.gather(*(r.check(web.url(0, f"/ok/{n}")) for n in range(3)))
        await r.check(web.url(1, "/ok/a"))
        times = [rec.t for rec in web.log if rec.host == IPS[0]]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(gaps) == 3 and min(gaps) >= 0.95, gaps
        assert r.pool.slot(IPS[0]).robots_interval == 1.0
        counters = r.gate.counters()
        assert (counters[IPS[0]]["crawl_delay_s"], counters[IPS[0]]["interval_s"]) == (100, 1.0)
        assert (counters[IPS[1]]["crawl_delay_s"], counters[IPS[1]]["interval_s"]) == (2.0, 1.0)


def test_each_decision_becomes_the_hops_result() -> None:
    url, robots = "http://h.test/a", "http://h.test/robots.txt"
    failure = Failure(Kind.DNS_ERROR, "DNS lookup failed: no such name", transient=True)
    said = refusal(Unreachable(robots, failure), url, redirected=True)
    assert said == Failure(
        Kind.DNS_ERROR,
        f"redirects to {url}, not fetched: fetching {robots} failed: DNS lookup failed: no such"
        " name",
        transient=False,
    )
    blocked = Failure(Kind.BLOCKED_ADDRESS, "10.0.0.1 is a private address", transient=False)
    assert refusal(Unreachable(robots, blocked), url, redirected=False) == blocked
    unavailable = refusal(Unavailable(robots, "HTTP 500"), url, redirected=False)
    assert unavailable is not None and unavailable.kind is Kind.ROBOTS_UNAVAILABLE
    disallowed = refusal(Disallowed(robots, "Disallow: /"), url, redirected=False)
    assert disallowed is not None and disallowed.kind is Kind.ROBOTS_DISALLOWED


# -- the store's cache --------------------------------------------------------------------------


def age_cache(path: Path, hours: float) -> None:
    then = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="milliseconds")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE robots_cache SET fetched_at = ?", (then,))


async def test_a_robots_txt_is_reused_for_24_hours_then_fetched_again(tmp_path: Path) -> None:
    files = {
        IPS[0]: RobotsFile("User-agent: *\nDisallow: /status/\nCrawl-delay: 0.2\n"),
        IPS[1]: RobotsFile(status=410),
        IPS[2]: RobotsFile(status=503),
    }
    state = tmp_path / "state.sqlite"
    async with SimWeb(IPS, latency_ms=0, robots=files) as web:

        async def run(**options: Any) -> dict[str, dict[str, Any]]:
            store = Store(state)
            try:
                async with rig(store, **options) as r:
                    for i in range(3):
                        await r.check(web.url(i, "/status/404/x"))
                    assert r.pool.slot(IPS[0]).robots_interval == 0.2  # cached or not
                    return r.gate.counters()
            finally:
                store.close()

        def robots_requests() -> list[str]:
            return [rec.host for rec in web.log if rec.path == "/robots.txt"]

        first = await run()
        assert robots_requests() == IPS and not any(c["cached"] for c in first.values())
        web.log.clear()
        second = await run()
        assert robots_requests() == [IPS[2]]  # a 5xx is asked again, a 2xx or 4xx is not
        assert [second[ip]["cached"] for ip in IPS] == [True, True, False]
        assert second[IPS[0]]["disallowed"] == 1 and second[IPS[0]]["outcome"] == "rules"
        assert (second[IPS[1]]["outcome"], second[IPS[1]]["http_status"]) == ("missing", 410)
        web.log.clear()
        await run(full=True)  # --full reads no cached answer
        assert robots_requests() == IPS
        web.log.clear()
        age_cache(state, 23)
        await run()
        assert robots_requests() == [IPS[2]]
        web.log.clear()
        age_cache(state, 25)
        await run(robots=RobotsConfig(cache_hours=48))  # never more than 24 h, whatever it says
        assert robots_requests() == IPS
