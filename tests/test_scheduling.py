"""Host slots (rate, in-flight caps, pauses), without sockets: fake requests record what happens.

No assertion here has a wall-clock ceiling: a loaded machine only makes things later, so each
test proves its point with lower bounds, counts and the order of events. Where the rule itself
is about time (the Retry-After window), a fake clock stands in for time.monotonic.
"""

import asyncio
import itertools
import time
from collections import defaultdict
from types import SimpleNamespace

import pytest
from clocks import FakeClock

import crawler.web.politeness
from crawler.config import PolitenessConfig
from crawler.web.politeness import (
    HostPool,
    Limits,
    Permit,
    PreciseThrottler,
    retry_after_seconds,
)
from crawler.web.urls import host_key


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class FakeSleeps:
    """asyncio.sleep for crawler.web.politeness: moves the fake clock by exactly what was asked, and
    records it, so a test can say how long the throttler chose to wait, to the microsecond."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.asked: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.asked.append(round(seconds, 6))
        assert len(self.asked) < 100, f"the throttler keeps waiting: {self.asked[:10]}"
        self.clock.now += seconds
        await real_sleep(0)


real_sleep = asyncio.sleep


@pytest.fixture
def sleeps(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeSleeps:
    fake = FakeSleeps(clock)
    monkeypatch.setattr(crawler.web.politeness, "asyncio", SimpleNamespace(sleep=fake.sleep))
    return fake


async def granted_before(pool: HostPool, key: str, seconds: float) -> bool:
    """Does a permit for `key` come before a `seconds` timer started at the same moment? Both
    are timers of one event loop, so the answer does not depend on how busy the machine is."""
    permit = asyncio.create_task(_take(pool, key))
    timer = asyncio.create_task(asyncio.sleep(seconds))
    done, _ = await asyncio.wait({permit, timer}, return_when=asyncio.FIRST_COMPLETED)
    permit.cancel()
    timer.cancel()
    await asyncio.gather(permit, timer, return_exceptions=True)
    return permit in done


async def _take(pool: HostPool, key: str) -> None:
    async with pool.permit(key):
        pass


def test_host_key_ignores_scheme_port_and_case() -> None:
    assert host_key("https://WWW.Example.com:8443/a") == "www.example.com"
    assert host_key("http://127.0.0.2:9000/") == "127.0.0.2"
    assert host_key("not a url") == ""


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

    await asyncio.gather(*(request(f"h{i % 3}") for i in range(135)))
    for host in ("h0", "h1", "h2"):
        assert len(sent[host]) == 45
        assert max_in_window(sent[host]) <= 20
        assert peak[host] <= 3
    assert pool.requests == 135
    assert pool.requests_by_host() == {"h0": 45, "h1": 45, "h2": 45}
    # the three hosts progressed side by side, not one after the other: every host had sent
    # its first request before any host sent its last
    assert max(times[0] for times in sent.values()) < min(times[-1] for times in sent.values())


async def test_pause_holds_the_whole_host_and_only_that_host() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=100, concurrency_per_host=2))
    pool.retry_after("slow.test", 0.3)
    pool.retry_after("slow.test", 0.3)  # two in a row: the host pauses
    order: list[str] = []
    started = time.monotonic()

    async def request(host: str) -> float:
        async with pool.permit(host):
            order.append(host)
            return time.monotonic() - started

    waited, _ = await asyncio.gather(request("slow.test"), request("other.test"))
    assert waited >= 0.29
    assert order == ["other.test", "slow.test"]  # asked second, served first


def test_a_shorter_pause_never_cuts_a_longer_one(clock: FakeClock) -> None:
    pool = HostPool(PolitenessConfig())
    pool.retry_after("h.test", 10)
    pool.retry_after("h.test", 10)  # two in a row: a 10 s pause
    pool.retry_after("h.test", 1)  # a third, in a row too: a 1 s pause
    assert pool.slot("h.test").paused_until == clock.now + 10


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
    """20 requests wanted at once at 20/s leave at least half an interval apart, and the next
    window still waits for the first to expire."""
    pool = HostPool(PolitenessConfig(rate_per_host=20, concurrency_per_host=20, max_in_flight=100))
    sent: list[float] = []

    async def request() -> None:
        async with pool.permit("burst.test"):
            sent.append(time.monotonic())

    await asyncio.gather(*(request() for _ in range(25)))
    throttler = pool.slot("burst.test").throttler
    spacing = 1.05 / 20 / 2
    assert throttler.spacing == pytest.approx(spacing)
    # the spacing is short enough that a window's 20 fit in its first part (by construction,
    # not by a stopwatch: a busy machine only stretches the gaps)
    assert 19 * throttler.spacing < 0.75 * throttler.period
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps[:19]) >= spacing - 0.002
    assert sent[20] - sent[0] >= 1.05 - 0.002  # the 21st waits for the window
    assert max_in_window(sent, 1.05) <= 20


# -- the window counts sends, not grants ----------------------------------------------------------


async def test_the_rate_window_counts_from_when_a_request_was_sent_not_granted() -> None:
    """A request whose connect is slow leaves later than its permit was granted; the host's
    window (what the server sees) must count it from when it left."""
    pool = HostPool(PolitenessConfig(rate_per_host=2, concurrency_per_host=3, jitter_margin_s=0.05))
    granted: list[float] = []
    sent: list[float] = []

    async def request(connect_s: float) -> None:
        async with pool.permit("slow-connect.test") as permit:
            granted.append(time.monotonic())
            await asyncio.sleep(connect_s)  # the TCP connect, say
            permit.mark_sent()
            sent.append(time.monotonic())

    await asyncio.gather(request(0.4), request(0.4), request(0.0))
    period = 1.05  # 2 per second, plus the margin
    assert sent[0] - granted[0] >= 0.39
    # the third waited for the first request's send time to leave the window, not its grant
    assert granted[2] - sent[0] >= period - 0.002
    assert max_in_window(sent, period) <= 2


def test_mark_sent_moves_the_stamp_to_now_and_never_back(clock: FakeClock) -> None:
    token = [clock.now]
    clock.now += 3
    Permit(token).mark_sent()
    assert token == [clock.now]
    later = [clock.now + 5]
    Permit(later).mark_sent()
    assert later == [clock.now + 5]


async def test_a_window_frees_only_after_its_period(clock: FakeClock) -> None:
    throttler = PreciseThrottler(2, period=1.0, margin_s=0.0)
    await throttler.acquire()
    clock.now += 0.5
    await throttler.acquire()
    clock.now += 0.5  # exactly one period after the first: still inside the window
    throttler.flush()
    assert len(throttler._tokens) == 2
    clock.now += 0.001
    throttler.flush()
    assert len(throttler._tokens) == 1


@pytest.mark.parametrize(
    ("rate", "count", "period"),
    [
        (20.0, 20, 1.0),
        (2.5, 2, 1.0),  # never 2 per 0.8 s: two such windows fit in one second of the server's
        (3.9999999999999996, 4, 1.0),  # what recovery steps of 0.4 add up to
        (1.0, 1, 1.0),
        (0.5, 1, 2.0),
        (0.25, 1, 4.0),
    ],
)
def test_a_rate_becomes_a_whole_number_of_requests_per_period(
    rate: float, count: int, period: float
) -> None:
    throttler = PreciseThrottler.for_rate(rate, margin_s=0.2)
    assert throttler.rate_limit == count
    assert throttler.period == pytest.approx(period + 0.2)  # the margin on top of the period
    assert throttler.spacing == pytest.approx((period + 0.2) / count / 2)


def test_a_throttler_by_default_counts_a_second_and_50_ms() -> None:
    throttler = PreciseThrottler(4)
    assert throttler.period == pytest.approx(1.05)
    assert throttler.spacing == pytest.approx(1.05 / 4 / 2)


def test_requests_by_host_lists_only_hosts_that_were_asked() -> None:
    pool = HostPool(PolitenessConfig())
    assert pool.slot("idle.test").key == "idle.test"
    assert pool.slot("idle.test") is pool.slot("idle.test")  # one slot per host
    assert pool.requests_by_host() == {}
    throttler = pool.slot("idle.test").throttler  # the default rate: 2 a second
    assert (throttler.rate_limit, throttler.period) == (2, pytest.approx(1.05))


# -- how long the throttler waits, exactly (fake clock and sleeps) --------------------------------


async def test_the_first_grant_never_waits_whatever_the_clock_reads(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    clock.now = 0.0  # a clock that starts at zero
    await PreciseThrottler(2, period=1.0, margin_s=0.0).acquire()
    assert sleeps.asked == []


async def test_grants_within_a_window_wait_exactly_the_spacing(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    throttler = PreciseThrottler(4, period=1.0, margin_s=0.0)  # spacing 1/4/2 = 0.125 s
    for _ in range(3):
        await throttler.acquire()
    assert sleeps.asked == [0.125, 0.125]  # no zero-length waits in between


async def test_a_full_window_waits_exactly_until_its_oldest_send_expires(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    throttler = PreciseThrottler(2, period=1.0, margin_s=0.0)
    first = await throttler.acquire()
    clock.now += 0.5
    await throttler.acquire()
    first[0] += 0.1  # mark_sent: the first request left 0.1 s after its grant
    clock.now += 0.1
    await throttler.acquire()
    # at t0 + 0.6: the spacing after the second grant (t0 + 0.75), then until the window frees,
    # 1.0 s after the first *send* (t0 + 1.1, not its grant at t0 + 1.0), then one retry
    # interval, since a stamp must be strictly older than the period to leave
    assert sleeps.asked == [0.15, 0.35, 0.005]


async def test_a_stamp_exactly_one_period_old_still_counts(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    throttler = PreciseThrottler(1, period=1.0, margin_s=0.0)
    await throttler.acquire()
    clock.now += 1.0
    await throttler.acquire()
    assert sleeps.asked == [0.005]  # one retry interval, not a second's wait


# -- Retry-After: one is about a page, two in a row are about us -----------------------------------


def test_two_retry_afters_in_a_row_pause_the_host(clock: FakeClock) -> None:
    pool = HostPool(PolitenessConfig())
    pool.retry_after("h.test", 5)
    assert pool.slot("h.test").paused_until == 0.0  # one is about its page
    clock.now += 0.5
    pool.retry_after("h.test", 5)
    assert pool.slot("h.test").paused_until == clock.now + 5


def test_an_ordinary_answer_between_retry_afters_means_no_pause(clock: FakeClock) -> None:
    pool = HostPool(PolitenessConfig())
    pool.retry_after("h.test", 5)
    pool.answered("h.test")
    clock.now += 0.5
    pool.retry_after("h.test", 5)
    assert pool.slot("h.test").paused_until == 0.0
    clock.now += 0.5
    pool.retry_after("h.test", 5)  # now two in a row again
    assert pool.slot("h.test").paused_until == clock.now + 5


def test_retry_afters_far_apart_are_not_in_a_row(clock: FakeClock) -> None:
    """The second counts only within the first's wait (at least a second)."""
    pool = HostPool(PolitenessConfig())
    pool.retry_after("a.test", 2)
    clock.now += 2  # the edge of the window: still in a row
    pool.retry_after("a.test", 2)
    assert pool.slot("a.test").paused_until == clock.now + 2
    pool.retry_after("b.test", 2)
    clock.now += 2.001
    pool.retry_after("b.test", 2)
    assert pool.slot("b.test").paused_until == 0.0
    pool.retry_after("c.test", 0)  # "Retry-After: 0" still has a one-second window
    clock.now += 1
    pool.retry_after("c.test", 0)
    assert pool.slot("c.test").paused_until == clock.now
    pool.retry_after("d.test", 0)  # ... and not more
    clock.now += 1.5
    pool.retry_after("d.test", 0)
    assert pool.slot("d.test").paused_until == 0.0


def test_retry_afters_are_counted_per_host(clock: FakeClock) -> None:
    pool = HostPool(PolitenessConfig())
    pool.retry_after("a.test", 5)
    pool.retry_after("b.test", 5)
    assert pool.slot("a.test").paused_until == pool.slot("b.test").paused_until == 0.0


async def test_a_paused_host_holds_its_next_request_and_an_answered_one_does_not() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=4))
    pool.retry_after("busy.test", 1)
    pool.retry_after("busy.test", 1)
    assert not await granted_before(pool, "busy.test", 0.5)
    pool.retry_after("fine.test", 1)
    pool.answered("fine.test")
    pool.retry_after("fine.test", 1)
    assert await granted_before(pool, "fine.test", 0.5)


# -- every count politeness sets, from one place ---------------------------------------------------


def test_limits_derive_every_count_from_the_config() -> None:
    config = PolitenessConfig(concurrency_per_host=4, max_in_flight=50, queue_per_host=7)
    assert HostPool(config).limits == Limits(
        in_flight=50, in_flight_per_host=4, workers_per_host=12, queue_per_host=7
    )


def test_retry_after_is_read_on_429_and_503_only() -> None:
    assert retry_after_seconds(429, "3", cap=60) == 3.0
    assert retry_after_seconds(503, "600", cap=60) == 60.0
    assert retry_after_seconds(500, "3", cap=60) is None
    assert retry_after_seconds(200, "3", cap=60) is None
