"""Adaptive politeness: a host that throttles us (429, or 503 with Retry-After: at least two and a
quarter of its last answers) has its rate halved for the rest of the run, and ordinary answers bring
it back slowly, never above its ceiling (configured rate, robots.txt). The rules on a fake clock;
the fetcher telling the pool; the simulated throttling host; and whole runs against it, measured in
the server's log."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from pathlib import Path

import aiohttp
import pytest
from clocks import FakeClock
from quickrun import crawl, quick_config
from servers import max_in_window, ok, open_fetcher, sequence, serve, status

import crawler.web.politeness
from crawler.config import Config, HostConfig, PolitenessConfig
from crawler.model import LinkKind
from crawler.sim.headlines import card_title
from crawler.sim.server import SimWeb
from crawler.sim.throttling import too_fast
from crawler.web.hosts import HostRules
from crawler.web.politeness import (
    RATE_FLOOR,
    RECOVERY_STEP_S,
    THROTTLE_WINDOW,
    THROTTLES_NEEDED,
    HostPool,
    HostSlot,
)

PAGE = LinkKind.PAGE


def pool_at(rate: float) -> HostPool:
    return HostPool(PolitenessConfig(rate_per_host=rate, concurrency_per_host=2))


def throttle_us(pool: HostPool, key: str) -> None:
    """Throttles in a row, enough to count: a host that limits us, not pages with limits of
    their own."""
    for _ in range(THROTTLES_NEEDED):
        pool.retry_after(key, None)


def test_one_throttled_page_among_answered_ones_lowers_nothing(clock: FakeClock) -> None:
    pool = pool_at(8)
    slot = pool.slot("h.test")
    for _ in range(10):  # one page in eight has a limit of its own
        for _ in range(7):
            pool.answered("h.test")
        pool.retry_after("h.test", 1.0)
        clock.now += 2
    assert (slot.rate, slot.slowdowns) == (8.0, 0)
    assert (sum(slot.recent_throttles), len(slot.recent_throttles)) == (4, THROTTLE_WINDOW)
    for _ in range(THROTTLES_NEEDED - 4 - 1):
        pool.retry_after("h.test", None)
    assert slot.slowdowns == 0  # one short of a quarter of the window
    pool.retry_after("h.test", None)
    assert (slot.rate, slot.slowdowns) == (4.0, 1)


def test_a_page_refused_at_every_retry_is_no_news(clock: FakeClock) -> None:
    pool = pool_at(8)
    slot = pool.slot("h.test")
    for _ in range(10):  # however slowly the answers come between its retries
        pool.answered("h.test")
        pool.retry_after("h.test", 1.0, "http://h.test/limited")
        clock.now += 2
    assert (slot.rate, slot.slowdowns) == (8.0, 0)
    pool.retry_after("h.test", 1.0, "http://h.test/other")  # another page: news
    assert slot.slowdowns == 0  # two refusals among the last 12 answers
    assert (sum(slot.recent_throttles), len(slot.recent_throttles)) == (2, 12)


def test_a_host_refusing_a_quarter_of_what_comes_is_slowed(clock: FakeClock) -> None:
    pool = pool_at(4)
    slot = pool.slot("h.test")
    for _ in range(THROTTLE_WINDOW // 4):  # it keeps 3 of every 4
        assert slot.slowdowns == 0
        for _ in range(3):
            pool.answered("h.test")
        pool.retry_after("h.test", 1.0)
        clock.now += 1
    assert (slot.rate, slot.slowdowns) == (2.0, 1)


# -- the rules, on a fake clock ------------------------------------------------------------------


def test_a_throttle_halves_the_rate_once_per_window_of_the_old_rate(clock: FakeClock) -> None:
    pool = pool_at(8)
    slot = pool.slot("h.test")
    for _ in range(THROTTLES_NEEDED - 1):
        pool.retry_after("h.test", 1.0)
    assert (slot.rate, slot.slowdowns) == (8.0, 0)  # a few alone may be pages' own limits
    pool.retry_after("h.test", 1.0)
    assert (slot.rate, slot.slowdowns) == (4.0, 1)
    assert (slot.throttler.rate_limit, slot.throttler.period) == (4, 1.0 + slot.throttler.margin_s)
    clock.now += 0.99
    pool.retry_after("h.test", None)
    assert (slot.rate, slot.slowdowns) == (4.0, 1)
    clock.now += 0.01
    pool.retry_after("h.test", None)
    assert (slot.rate, slot.slowdowns) == (2.0, 2)
    clock.now += 1
    pool.retry_after("h.test", None)
    clock.now += 1
    pool.retry_after("h.test", None)
    assert slot.rate == 0.5
    clock.now += 1
    pool.retry_after("h.test", None)
    assert slot.rate == 0.25
    clock.now += 1.5  # from below one request a second, the old rate's window is longer
    pool.retry_after("h.test", None)
    assert slot.rate == 0.25
    clock.now += 0.5
    pool.retry_after("h.test", None)
    assert slot.rate == 0.125 and slot.lowest_rate == 0.125
    assert (slot.throttler.rate_limit, slot.throttler.period) == (1, 8.0 + slot.throttler.margin_s)


def test_the_rate_never_falls_below_the_floor(clock: FakeClock) -> None:
    pool = pool_at(8)
    for _ in range(20):
        pool.retry_after("h.test", None)
        clock.now += 120
    assert pool.slot("h.test").rate == RATE_FLOOR
    slow = pool_at(RATE_FLOOR / 2)  # configured slower than the floor: kept, never raised
    slow.retry_after("s.test", None)
    assert slow.slot("s.test").rate == RATE_FLOOR / 2


def test_a_429_without_retry_after_slows_the_host_but_pauses_nothing(clock: FakeClock) -> None:
    pool = pool_at(8)
    for _ in range(THROTTLES_NEEDED):
        pool.retry_after("h.test", None)
        clock.now += 0.1
    slot = pool.slot("h.test")
    assert slot.paused_until == 0.0 and slot.rate == 4.0
    pool.retry_after("h.test", 5)  # Retry-After pauses keep their own rule
    clock.now += 0.5
    pool.retry_after("h.test", 5)
    assert slot.paused_until == clock.now + 5


def test_ordinary_answers_bring_the_rate_back_in_steps_up_to_the_configured_rate(
    clock: FakeClock,
) -> None:
    pool = pool_at(10)
    slot = pool.slot("h.test")
    throttle_us(pool, "h.test")
    assert slot.rate == 5.0
    clock.now += RECOVERY_STEP_S - 0.01
    pool.answered("h.test")
    assert slot.rate == 5.0  # too soon after the slow-down
    seen = []
    for _ in range(8):
        clock.now += RECOVERY_STEP_S
        pool.answered("h.test")
        pool.answered("h.test")  # one step per period, however many answers
        seen.append(round(slot.rate, 6))
    assert seen == [6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 10.0, 10.0]
    assert slot.throttler.rate_limit == 10
    clock.now += 3600  # time alone, without answers, raises nothing either
    assert slot.rate == 10.0
    assert pool.throttled_hosts() == {
        "h.test": {"configured_rate": 10.0, "ended_rate": 10.0, "lowest_rate": 5.0, "slowdowns": 1}
    }


def test_recovery_stops_at_robots_txts_rate(clock: FakeClock) -> None:
    pool = pool_at(10)
    slot = pool.slot("h.test")
    slot.obey_robots(0.5)  # at most 2 a second
    throttle_us(pool, "h.test")
    assert slot.rate == 1.0
    for _ in range(20):
        clock.now += RECOVERY_STEP_S
        pool.answered("h.test")
        assert slot.rate <= slot.ceiling == 2.0
    assert slot.rate == pytest.approx(2.0)


def test_a_host_that_never_throttled_keeps_its_rate_and_is_not_listed(clock: FakeClock) -> None:
    pool = pool_at(10)
    slot = pool.slot("h.test")
    slot.obey_robots(1.0)
    for _ in range(5):
        clock.now += RECOVERY_STEP_S
        pool.answered("h.test")
    assert slot.rate == 1.0
    assert pool.throttled_hosts() == {}


def test_the_run_counters_merge_with_those_before_a_resume(clock: FakeClock) -> None:
    config = Config(hosts={"*.news.test": HostConfig(rate=8)})
    pool = HostPool(config.politeness, HostRules(config))

    async def ask(key: str) -> None:
        async with pool.permit(key):
            pass

    for key in ("a.news.test", "b.test"):
        asyncio.run(ask(key))
    throttle_us(pool, "a.news.test")  # 8 -> 4
    before = {
        "requests_by_host": {"a.news.test": 3, "old.test": 2},
        "throttled_hosts": {
            "a.news.test": {
                "configured_rate": 8,
                "ended_rate": 3,
                "lowest_rate": 1,
                "slowdowns": 4,
            },
            "old.test": {"configured_rate": 2, "ended_rate": 2, "lowest_rate": 1, "slowdowns": 1},
        },
        "host_settings": {"c.news.test": "*.news.test"},
    }
    merged = pool.host_counters(before)
    assert merged["requests_by_host"] == {"a.news.test": 4, "b.test": 1, "old.test": 2}
    assert merged["throttled_hosts"] == {
        "a.news.test": {"configured_rate": 8, "ended_rate": 4, "lowest_rate": 1, "slowdowns": 5},
        "old.test": {"configured_rate": 2, "ended_rate": 2, "lowest_rate": 1, "slowdowns": 1},
    }
    assert merged["host_settings"] == {"a.news.test": "*.news.test", "c.news.test": "*.news.test"}
    assert pool.host_counters({})["throttled_hosts"] == pool.throttled_hosts()


# -- the fetcher tells the pool ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "retry_after", "slowed"),
    [
        (429, None, True),
        (429, "0", True),
        (503, "0", True),
        (503, None, False),  # a server in trouble, retried with backoff: no sign of our rate
        (500, "0", False),  # Retry-After is read on a 429 or 503 only
        (404, None, False),
    ],
)
async def test_what_counts_as_a_throttle(code: int, retry_after: str | None, slowed: bool) -> None:
    pool = pool_at(100)
    answer = status(code, headers={"Retry-After": retry_after} if retry_after else None)
    async with (
        serve({f"/{n}": sequence(answer, ok()) for n in range(THROTTLES_NEEDED)}) as server,
        open_fetcher(pool=pool, retries=1) as fetcher,
    ):
        for n in range(THROTTLES_NEEDED):  # many pages refused: not pages' own limits
            await fetcher.check(server.url(f"/{n}"), PAGE)
    slot = pool.slot(server.host)
    assert slot.slowdowns == int(slowed)
    assert slot.rate == (50.0 if slowed else 100.0)


# -- the simulated throttling host ---------------------------------------------------------------


def test_the_simulated_limit_counts_only_what_it_served() -> None:
    arrivals: dict[tuple[str, str], deque[float]] = {}
    key = ("h", "throttle/2")
    assert [too_fast(arrivals, key, 2, t) for t in (0.0, 0.1, 0.2, 0.9)] == [
        False, False, True, True
    ]  # fmt: skip
    assert too_fast(arrivals, key, 2, 1.0) is False  # the first left the window
    assert too_fast(arrivals, key, 2, 1.05) is True
    assert too_fast(arrivals, key, 2, 1.1) is False
    half = ("h", "throttle/0.5")  # below one a second: one per two seconds
    assert [too_fast(arrivals, half, 0.5, t) for t in (0.0, 1.9, 2.0)] == [False, True, False]


async def test_the_simulated_host_refuses_what_comes_too_fast() -> None:
    async with SimWeb(1, first=20, latency_ms=0) as sim, aiohttp.ClientSession() as session:

        async def burst(path: str) -> list[tuple[int, str | None]]:
            async def one(n: int) -> tuple[int, str | None]:
                async with session.get(sim.url(0, f"{path}/{n}")) as resp:
                    return resp.status, resp.headers.get("Retry-After")

            return list(await asyncio.gather(*(one(n) for n in range(5))))

        told = await burst("/throttle/2")
        bare = await burst("/throttle-bare/2")
        other = await burst("/throttle/3")  # another limit, a window of its own
    assert sorted(told) == [(200, None)] * 2 + [(429, "1")] * 3
    assert sorted(bare) == [(200, None)] * 2 + [(429, None)] * 3
    assert sorted(s for s, _ in other) == [200] * 3 + [429] * 2


# -- whole runs against the throttling host, measured in its log ---------------------------------


async def throttled_run(
    tmp_path: Path, path: str, urls: int, rate: float
) -> tuple[dict[str, object], dict[str, object], SimWeb]:
    cards = tmp_path / "cards"
    cards.mkdir()
    async with SimWeb(1, first=20, latency_ms=5) as sim:
        for n in range(urls):
            story = f"story-{n}"
            url = sim.url(0, f"{path}/{story}")
            (cards / f"{story}.md").write_text(
                f'---\ntitle: "{card_title(story)}"\npublishedDateTime: 2020-03-04T05:06:07Z\n'
                f"webUrl: {url}\n---\n"
            )
        config = quick_config(
            tmp_path,
            politeness={"rate_per_host": rate, "concurrency_per_host": 4},
            fetch={"retries": 6, "backoff_base": 0.3, "backoff_max": 1.5},
            rot={"soft_404_probe": False},
        )
        result, report = await crawl(config)
    return result.counters, report, sim


def every_url_answered(report: dict[str, object]) -> bool:
    cards = report["cards"]
    assert isinstance(cards, list)
    return all(card["problems"] == [] for card in cards)


@pytest.mark.parametrize("path", ["/throttle/2", "/throttle-bare/2"])
async def test_a_throttling_host_slows_the_run_down_and_every_url_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Configured 8/s, the host keeps 2/s (with and without Retry-After). No recovery in this
    run, so what the server saw after the slow-downs is the rate they ended at."""
    monkeypatch.setattr(crawler.web.politeness, "RECOVERY_STEP_S", 3600.0)
    counters, report, sim = await throttled_run(tmp_path, path, urls=32, rate=8)
    assert every_url_answered(report)  # no rate_limited: each was answered at the lower rate
    ip = sim.host_ips[0]
    throttled = counters["throttled_hosts"]
    assert isinstance(throttled, dict)
    assert set(throttled) == {ip}
    entry = throttled[ip]
    assert entry["configured_rate"] == 8.0 and entry["slowdowns"] >= 2
    assert entry["ended_rate"] == entry["lowest_rate"] <= 2.0
    pages = [r for r in sim.log if r.path.startswith(path)]
    refused = [r for r in pages if r.status == 429]
    assert refused and sorted(r.status for r in pages).count(200) == 32
    first, last = refused[0].t, refused[-1].t
    assert max_in_window(r.t for r in pages if r.t <= first) > 2  # we came faster at first
    calm = [r.t for r in pages if r.t > last]  # after the last refusal, at the ended rate
    assert max_in_window(calm) <= max(1, int(entry["ended_rate"]))


async def test_the_rate_recovers_between_throttles_but_never_above_the_configured_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured 4/s, the host keeps 3/s: down on a 429, up again in steps while answers are
    normal, down again when it overshoots; the server never sees more than 4 a second."""
    monkeypatch.setattr(crawler.web.politeness, "RECOVERY_STEP_S", 0.3)
    rates: list[float] = []
    set_rate = HostSlot.set_rate

    def recording(slot: HostSlot, rate: float) -> None:
        set_rate(slot, rate)
        rates.append(slot.rate)

    monkeypatch.setattr(HostSlot, "set_rate", recording)
    counters, report, sim = await throttled_run(tmp_path, "/throttle/3", urls=64, rate=4)
    assert every_url_answered(report)
    entry = counters["throttled_hosts"][sim.host_ips[0]]  # type: ignore[index]
    assert entry["configured_rate"] == 4.0 and entry["lowest_rate"] < 4.0
    assert entry["lowest_rate"] <= entry["ended_rate"] <= 4.0
    assert rates[0] == 2.0  # the first slow-down
    assert any(later > earlier for earlier, later in itertools.pairwise(rates))  # recovered
    assert max(rates) <= 4.0
    pages = [r.t for r in sim.log if r.path.startswith("/throttle/")]
    assert max_in_window(pages) <= 4


async def test_a_sub_second_crawl_delay_is_a_gap_between_every_two_requests() -> None:
    """Crawl-delay 0.3 is at most one request per 0.3 s, not "three a second" sent at once."""
    pool = HostPool(PolitenessConfig(rate_per_host=100, concurrency_per_host=8, jitter_margin_s=0))
    pool.slot("h.test").obey_robots(0.3)
    granted = []
    for _ in range(5):
        async with pool.permit("h.test"):
            granted.append(asyncio.get_running_loop().time())
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert min(gaps) >= 0.3 - 0.01, gaps
