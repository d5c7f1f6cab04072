"""Host slots (rate, in-flight caps, pauses), without sockets: fake requests record what happens."""

import asyncio
import itertools
import time
from collections import defaultdict

from crawler.config import PolitenessConfig
from crawler.hosts import HostPool, host_key


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_host_key_ignores_scheme_port_and_case() -> None:
    assert host_key("https://WWW.Example.com:8443/a") == "www.example.com"
    assert host_key("http://127.0.0.2:9000/") == "127.0.0.2"


async def test_permit_keeps_rate_and_concurrency_per_host() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=20, concurrency_per_host=3, max_in_flight=100))
    sent: dict[str, list[float]] = defaultdict(list)
    in_flight: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = defaultdict(int)

    async def request(host: str) -> None:
        async with pool.permit(host):
            sent[host].append(time.monotonic())
            in_flight[host] += 1
            peak[host] = max(peak[host], in_flight[host])
            await asyncio.sleep(0.02)
            in_flight[host] -= 1

    started = time.monotonic()
    await asyncio.gather(*(request(f"h{i % 3}") for i in range(135)))
    elapsed = time.monotonic() - started
    for host in ("h0", "h1", "h2"):
        assert len(sent[host]) == 45
        assert max_in_window(sent[host]) <= 20
        assert peak[host] <= 3
    assert pool.requests == 135
    # three hosts progressed in parallel: 45 requests each at 20/s takes ~2 s, not ~6 s
    assert elapsed < 4.0


async def test_pause_holds_the_whole_host() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=100, concurrency_per_host=2))
    pool.pause("slow.test", 0.3)
    started = time.monotonic()
    async with pool.permit("slow.test"):
        waited = time.monotonic() - started
    async with pool.permit("other.test"):
        other = time.monotonic() - started
    assert waited >= 0.29
    assert other < waited + 0.05


async def test_global_cap_limits_all_hosts_together() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=5, max_in_flight=4))
    in_flight = 0
    peak = 0

    async def request(host: str) -> None:
        nonlocal in_flight, peak
        async with pool.permit(host):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(request(f"h{i % 10}") for i in range(60)))
    assert peak == 4


async def test_a_window_of_requests_is_spread_not_one_burst() -> None:
    """20 requests wanted at once at 20/s leave at least half an interval apart (spread over
    about half a second), and the next window still waits for the first to expire."""
    pool = HostPool(PolitenessConfig(rate_per_host=20, concurrency_per_host=20, max_in_flight=100))
    sent: list[float] = []

    async def request() -> None:
        async with pool.permit("burst.test"):
            sent.append(time.monotonic())

    await asyncio.gather(*(request() for _ in range(25)))
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    spacing = 1.05 / 20 / 2
    assert min(gaps[:19]) >= spacing - 0.002
    assert sent[19] - sent[0] < 0.75  # the window's 20 still go within its first part
    assert sent[20] - sent[0] >= 1.05 - 0.002  # the 21st waits for the window
    assert max_in_window(sent) <= 20
