"""The per-host scheduler and its spill, without sockets: fake checks record what happens."""

import asyncio
from collections import defaultdict

from crawler.model import Job, LinkKind, UrlOutcome
from crawler.web.scheduler import Scheduler
from crawler.web.spill import Spill, UrlSet
from crawler.web.urls import host_key


def _outcome(url: str) -> UrlOutcome:
    return UrlOutcome(url=url, link_kind=LinkKind.PAGE, http_status=200, attempts=1)


def _job(url: str) -> Job:
    return Job(url, LinkKind.PAGE)


async def test_scheduler_runs_hosts_in_parallel_with_few_workers() -> None:
    active: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = defaultdict(int)
    results: list[str] = []
    tasks_seen = 0

    async def check(job: Job) -> UrlOutcome:
        nonlocal tasks_seen
        host = host_key(job.url)
        active[host] += 1
        peak[host] = max(peak[host], active[host])
        tasks_seen = max(tasks_seen, len(asyncio.all_tasks()))
        await asyncio.sleep(0.001)
        active[host] -= 1
        return _outcome(job.url)

    scheduler = Scheduler(check, lambda host, o: results.append(o.url), workers_per_host=2)
    urls = [f"http://big.test/{i}" for i in range(2000)] + [
        f"http://small{i}.test/" for i in range(20)
    ]
    for url in urls:
        scheduler.submit(_job(url))
    await scheduler.drain()
    assert sorted(results) == sorted(urls)
    assert peak["big.test"] == 2  # a host with 2,000 URLs never has more than its workers
    assert tasks_seen < 60  # 21 hosts x 2 workers, not 2,020 parked tasks


async def test_scheduler_stop_lets_in_flight_finish_and_leaves_queued_urls_unchecked() -> None:
    done: list[str] = []
    third_started = asyncio.Event()
    release = asyncio.Event()

    async def check(job: Job) -> UrlOutcome:
        if job.url.endswith("/2"):
            third_started.set()
            await release.wait()  # in flight when the stop comes
        return _outcome(job.url)

    scheduler = Scheduler(check, lambda host, o: done.append(o.url), workers_per_host=1)
    for i in range(50):
        scheduler.submit(_job(f"http://h.test/{i}"))
    await third_started.wait()
    scheduler.stop()
    release.set()
    cancelled = await scheduler.finish_in_flight(grace_s=30.0)
    await scheduler.drain()
    assert cancelled == 0  # the one in flight finished within the grace period
    assert done == ["http://h.test/0", "http://h.test/1", "http://h.test/2"]
    scheduler.close()


async def test_a_check_outliving_the_grace_period_is_cancelled() -> None:
    done: list[str] = []
    started = asyncio.Event()

    async def check(job: Job) -> UrlOutcome:
        started.set()
        await asyncio.Event().wait()  # never answers
        return _outcome(job.url)

    scheduler = Scheduler(check, lambda host, o: done.append(o.url), workers_per_host=1)
    for i in range(5):
        scheduler.submit(_job(f"http://h.test/{i}"))
    await started.wait()
    scheduler.stop()
    assert await scheduler.finish_in_flight(grace_s=0.1) == 1
    await scheduler.drain()
    assert done == []  # its URL stays unchecked, for --resume
    scheduler.close()


async def test_a_busy_host_spills_to_disk_and_keeps_its_order() -> None:
    """Beyond queue_per_host, URLs wait in the spill; each host is still served first in, first
    out, and the jobs come back with everything their check needs."""
    seen: list[Job] = []
    gate = asyncio.Event()

    async def check(job: Job) -> UrlOutcome:
        await gate.wait()
        seen.append(job)
        return _outcome(job.url)

    spill = Spill(batch=7)  # small batches: reads must see rows not yet written
    scheduler = Scheduler(
        check, lambda host, o: None, workers_per_host=1, queue_per_host=10, spill=spill
    )
    jobs = [
        Job(
            f"http://big.test/{i}",
            LinkKind.PAGE,
            f"title {i}",
            "2021-01-02T00:00:00+00:00",
            i % 2 == 0,
        )
        for i in range(100)
    ]
    for job in jobs:
        scheduler.submit(job)
    await asyncio.sleep(0)
    assert scheduler.queued == 99  # one is in its worker's hands
    assert len(spill) == 90  # only 10 were ever held in memory
    gate.set()
    await scheduler.drain()
    assert seen == jobs  # same order, same titles, dates and revalidate flags
    assert len(spill) == 0
    scheduler.close()


async def test_a_host_named_late_starts_at_once_however_much_waits() -> None:
    """The head-of-line case: 5,000 URLs of one host before the first URL of another. The card
    reader never waits, so the second host is served while the first still has thousands."""
    order: list[str] = []

    async def check(job: Job) -> UrlOutcome:
        order.append(host_key(job.url))
        await asyncio.sleep(0)
        return _outcome(job.url)

    scheduler = Scheduler(check, lambda host, o: None, workers_per_host=1, queue_per_host=50)
    for i in range(5000):
        scheduler.submit(_job(f"http://first.test/{i}"))
    scheduler.submit(_job("http://late.test/only"))
    await scheduler.drain()
    assert len(order) == 5001
    assert order.index("late.test") < 10
    scheduler.close()


def test_spill_is_a_fifo_per_host() -> None:
    spill = Spill(batch=3)
    for i in range(5):
        spill.push("a", _job(f"http://a/{i}"))
        spill.push("b", _job(f"http://b/{i}"))
    assert len(spill) == 10 and spill.waiting("a") == 5 and spill.waiting("c") == 0
    assert [j.url for j in spill.take("a", 2)] == ["http://a/0", "http://a/1"]
    assert [j.url for j in spill.take("b", 10)] == [f"http://b/{i}" for i in range(5)]
    spill.push("a", _job("http://a/5"))
    assert [j.url for j in spill.take("a", 10)] == [f"http://a/{i}" for i in range(2, 6)]
    assert len(spill) == 0 and spill.take("a", 10) == []
    spill.close()


def test_url_set_tells_first_sightings() -> None:
    seen = UrlSet()
    assert seen.add("http://a.test/1") and seen.add("http://a.test/2")
    assert not seen.add("http://a.test/1")
    assert seen.add("http://A.test/1")  # exact strings: normalising is the link extractor's job
    assert len(seen) == 3
    seen.close()
    assert len(seen) == 3  # the count outlives the table, for the run's counters


async def test_pages_go_before_images_on_their_host() -> None:
    """Longest job first: pages are what times out and retries, so a host starts them before
    its images, in memory and from the spill alike; each kind keeps its own order."""
    order: list[str] = []

    async def check(job: Job) -> UrlOutcome:
        order.append(job.url)
        return _outcome(job.url)

    for queue_per_host in (100, 2):  # all in memory; mostly spilled
        order.clear()
        scheduler = Scheduler(
            check, lambda host, o: None, workers_per_host=1, queue_per_host=queue_per_host
        )
        for i in range(3):
            scheduler.submit(Job(f"http://h.test/img{i}.jpg", LinkKind.IMAGE))
            scheduler.submit(Job(f"http://h.test/page{i}", LinkKind.PAGE))
        await scheduler.drain()
        scheduler.close()
        pages = [u for u in order if "page" in u]
        images = [u for u in order if "img" in u]
        assert pages == [f"http://h.test/page{i}" for i in range(3)]
        assert images == [f"http://h.test/img{i}.jpg" for i in range(3)]
        assert order.index("http://h.test/page2") < order.index("http://h.test/img1.jpg")


def test_spill_hands_back_pages_first() -> None:
    spill = Spill(batch=2)
    spill.push("h", Job("http://h/a.jpg", LinkKind.IMAGE))
    spill.push("h", Job("http://h/1", LinkKind.PAGE))
    spill.push("h", Job("http://h/b.jpg", LinkKind.IMAGE))
    spill.push("h", Job("http://h/2", LinkKind.PAGE))
    assert [j.url for j in spill.take("h", 3)] == ["http://h/1", "http://h/2", "http://h/a.jpg"]
    assert [j.url for j in spill.take("h", 3)] == ["http://h/b.jpg"]
    assert len(spill) == 0
    spill.close()
