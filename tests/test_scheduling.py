"""Host slots and the per-host scheduler, without sockets: fake checks record what happens."""

import asyncio
import time
from collections import defaultdict

from crawler.config import PolitenessConfig
from crawler.hosts import HostPool, host_key
from crawler.models import LinkKind, UrlOutcome
from crawler.scheduler import Scheduler


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


def _outcome(url: str) -> UrlOutcome:
    return UrlOutcome(url=url, link_kind=LinkKind.PAGE, http_status=200, attempts=1)


async def test_scheduler_runs_hosts_in_parallel_with_few_workers() -> None:
    active: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = defaultdict(int)
    results: list[str] = []
    tasks_seen = 0

    async def check(url: str, kind: LinkKind) -> UrlOutcome:
        nonlocal tasks_seen
        host = host_key(url)
        active[host] += 1
        peak[host] = max(peak[host], active[host])
        tasks_seen = max(tasks_seen, len(asyncio.all_tasks()))
        await asyncio.sleep(0.001)
        active[host] -= 1
        return _outcome(url)

    scheduler = Scheduler(check, lambda host, o: results.append(o.url), workers_per_host=2)
    urls = [f"http://big.test/{i}" for i in range(2000)] + [
        f"http://small{i}.test/" for i in range(20)
    ]
    for url in urls:
        scheduler.submit(url, LinkKind.PAGE)
    await scheduler.drain()
    assert sorted(results) == sorted(urls)
    assert peak["big.test"] == 2  # a host with 2,000 URLs never has more than its workers
    assert tasks_seen < 60  # 21 hosts x 2 workers, not 2,020 parked tasks


async def test_scheduler_stop_leaves_queued_urls_unchecked() -> None:
    done: list[str] = []

    async def check(url: str, kind: LinkKind) -> UrlOutcome:
        await asyncio.sleep(0.05)
        return _outcome(url)

    scheduler = Scheduler(check, lambda host, o: done.append(o.url), workers_per_host=1)
    for i in range(50):
        scheduler.submit(f"http://h.test/{i}", LinkKind.PAGE)
    await asyncio.sleep(0.12)
    scheduler.stop()
    cancelled = await scheduler.finish_in_flight(grace_s=1.0)
    await scheduler.drain()
    assert cancelled == 0  # the one in flight finished within the grace period
    assert 2 <= len(done) <= 4


async def test_scheduler_back_pressure() -> None:
    gate = asyncio.Event()

    async def check(url: str, kind: LinkKind) -> UrlOutcome:
        await gate.wait()
        return _outcome(url)

    scheduler = Scheduler(check, lambda host, o: None, workers_per_host=1, max_queued=10)
    for i in range(12):
        scheduler.submit(f"http://h.test/{i}", LinkKind.PAGE)
    await asyncio.sleep(0)
    waiter = asyncio.create_task(scheduler.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiter.done()  # the card reader is held while too many URLs wait
    gate.set()
    await asyncio.wait_for(waiter, 1)
    await scheduler.drain()
