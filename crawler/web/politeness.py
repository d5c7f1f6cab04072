"""Politeness, all of it: how many requests go where, how fast, and when a host must wait.

`Limits` derives every count (in flight overall and per host, scheduler workers and queue per
host) from the config, for the pool, the fetcher's connector and the scheduler alike.

One slot per host key, built one way: it owns the host's request rate (asyncio-throttle), its
in-flight cap (a semaphore) and a pause that Retry-Afters in a row set for the whole host.
Every request, redirect hops and retries included, goes through `HostPool.permit(host)`.

What a server asks for is read here too: `retry_after_seconds` (Retry-After on a 429 or 503),
`retry_after_wait` (how long the URL that got it waits) and `HostSlot.retry_after` (when the
whole host pauses).

Adaptive politeness (AIMD, as TCP does it): a host that throttles us (a 429, with or without
Retry-After, or a 503 with one) has its rate multiplied by `SLOWDOWN_FACTOR` for the rest of the
run, never below `RATE_FLOOR` (a run must still end). A throttle lowers the rate when not alone:
`THROTTLES_NEEDED` of the host's last `THROTTLE_WINDOW` answers were first refusals of their URLs (a
retry refused again is no news; counted, a page's retries would weigh more the slower we go). The
window is long and the count a quarter of it, so that the few pages with limits of their own, which
can come together, do not add up to one. A page with a limit of its own (refused now and then among
answered pages, however slowly we come) is that page's trouble, and its URL's retry waits for it; a
host that limits us refuses a share of whatever comes, and slowing down is what helps. Refusals of
requests sent before that slow-down say nothing about the new rate: within one window of the old
rate, further throttles do not lower it again. Ordinary answers bring it back up by `RECOVERY_SHARE`
of the host's ceiling, at most once per `RECOVERY_STEP_S`: time and answers both, so that a host is
not sped up while we send it nothing, and the climb from the floor takes as long at any rate
(counting answers alone, a host at the floor would take hours). Never above `HostSlot.ceiling`: the
configured rate and robots.txt's. `HostPool.throttled_hosts` tells the report what happened.

asyncio-throttle's waiters poll; so that a busy host never has many pollers, only the task holding
the slot's `gate` lock waits on the throttler, and the others wait on the lock (woken, not polling).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asyncio_throttle.throttler import Throttler

from crawler.config import PolitenessConfig
from crawler.web.hosts import HostRules
from crawler.web.urls import HostKey

RETRY_AFTER_STATUSES = frozenset({429, 503})  # the answers whose Retry-After we honour
# Adaptive politeness (see above). Halving backs off at once from any overshoot; small steps
# back up, seconds apart, mean a host that limits us below our rate refuses us only now and then.
SLOWDOWN_FACTOR = 0.5  # a throttle multiplies the host's rate by this
RATE_FLOOR = 1 / 60  # requests per second: the slowest a throttled host gets
RECOVERY_SHARE = 0.1  # one step back up adds this share of the host's ceiling
RECOVERY_STEP_S = 5.0  # seconds: at most one step up per this long without a throttle
THROTTLE_WINDOW = 32  # answers: the host's recent answers a throttle is weighed against
THROTTLES_NEEDED = 8  # first refusals among them that lower the rate (a quarter)
REFUSED_URLS_KEPT = 64  # refused URLs remembered per host, to tell a retry from a new refusal
_DELTA_SECONDS = re.compile(r"^\d+(\.\d+)?$")  # RFC 9110 says whole seconds; accept "1.5" too


@dataclass(frozen=True, slots=True)
class Limits:
    """Every count that politeness sets, derived from the config in this one place."""

    in_flight: int  # all hosts together: the pool's global cap and the connector's `limit`
    # the most any one host may have in flight (its `hosts:` entry may allow more than the
    # general setting): the connector's `limit_per_host`; each slot's semaphore caps its own host
    in_flight_per_host: int
    # More workers than in-flight slots: a worker waiting out a retry's backoff must not leave
    # the host idle (the slot's semaphore still caps what is in flight).
    workers_per_host: int
    queue_per_host: int  # jobs the scheduler holds for one host before the feed waits

    @classmethod
    def of(cls, config: PolitenessConfig, rules: HostRules | None = None) -> Limits:
        per_host = config.concurrency_per_host
        if rules is not None:
            per_host = max(per_host, rules.largest_concurrency())
        return cls(
            in_flight=config.max_in_flight,
            in_flight_per_host=per_host,
            workers_per_host=per_host * 3,
            queue_per_host=config.queue_per_host,
        )


# ---------------------------------------------------------------------------------------------
# What the server asks for


def parse_retry_after(
    value: str | None, *, cap: float, now: datetime | None = None
) -> float | None:
    """Retry-After as seconds to wait (delta-seconds or HTTP-date), capped; None if unreadable."""
    if not value:
        return None
    text = value.strip()
    if _DELTA_SECONDS.match(text):
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - (now or datetime.now(UTC))).total_seconds()
        except (TypeError, ValueError, IndexError, OverflowError):  # not a date we can read
            return None
    return min(max(seconds, 0.0), cap)


def retry_after_seconds(status: int, value: str | None, *, cap: float) -> float | None:
    """The wait an answer asks for: its Retry-After, read on a 429 or 503 only; else None."""
    if status not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(value, cap=cap)


def retry_after_wait(seconds: float) -> float:
    """How long the URL that got a Retry-After waits before its retry: a little more, with
    jitter, so that pages limited together do not retry in lockstep."""
    return seconds * random.uniform(1.0, 1.2)


# ---------------------------------------------------------------------------------------------
# Slots


class PreciseThrottler(Throttler):
    """asyncio-throttle's sliding window, sleeping until the window frees instead of polling.

    Each entry of the window is a mutable token: `acquire` stamps it with the time the permit
    was granted, and `Permit.mark_sent` moves the stamp to the moment the request actually left
    (after a TCP connect, say). Counting send times, not grant times, is what keeps a server's
    one-second window within the rate. The window is also a little longer than the period
    (`margin_s`) to absorb the jitter between our send and the server's receive.

    Within a window, grants are at least `spacing` apart: half the average interval, so a
    window's requests spread over its first half instead of leaving as one burst. A burst of 40
    hosts x 20 requests at the same instant is what makes a busy server (or a busy measuring
    log) see them late, bunched against the next window's.
    """

    def __init__(self, rate_limit: int, period: float = 1.0, margin_s: float = 0.05) -> None:
        super().__init__(rate_limit=rate_limit, period=period + margin_s, retry_interval=0.005)
        self._tokens: deque[list[float]] = deque()
        self.margin_s = margin_s
        self.spacing = self.period / rate_limit / 2
        self._next_grant = 0.0

    @classmethod
    def for_rate(cls, rate_per_second: float, margin_s: float) -> PreciseThrottler:
        return cls(*_window(rate_per_second), margin_s=margin_s)

    def set_rate(self, rate_per_second: float, *, one_at_a_time: bool = False) -> None:
        """From now on, at most this rate. The grants already in the window still count, so a
        lower rate holds at once and a higher one only frees what the window allows.
        `one_at_a_time`: every two grants at least 1/rate apart (a Crawl-delay is an interval,
        not a count per second: 2/s must not become two at once, then a second's wait)."""
        count, period = (1, 1 / rate_per_second) if one_at_a_time else _window(rate_per_second)
        self.rate_limit, self.period = count, period + self.margin_s
        self.spacing = self.period / count / 2

    def flush(self) -> None:
        now = time.monotonic()
        while self._tokens and now - self._tokens[0][0] > self.period:
            self._tokens.popleft()

    async def acquire(self) -> list[float]:
        while True:
            self.flush()
            now = time.monotonic()
            if now < self._next_grant:
                await asyncio.sleep(self._next_grant - now)
                continue
            if len(self._tokens) < self.rate_limit:
                break
            # stamps moved by mark_sent may leave the deque slightly unsorted: waiting on the
            # head is then conservative, and the loop checks again
            wait = self._tokens[0][0] + self.period - now
            await asyncio.sleep(max(wait, self.retry_interval))
        token = [now]
        self._tokens.append(token)
        self._next_grant = now + self.spacing
        return token


class Permit:
    """Held while one request is in flight."""

    __slots__ = ("_token",)

    def __init__(self, token: list[float]) -> None:
        self._token = token

    def mark_sent(self) -> None:
        """The request's headers are on the wire: count it from now."""
        self._token[0] = max(self._token[0], time.monotonic())


def _window(rate_per_second: float) -> tuple[int, float]:
    """A whole number of requests per period of at least a second: 0.5/s becomes 1 per 2 s,
    20/s stays 20 per 1 s, 3.6/s is 3 per 1 s. A shorter period (3 per 0.83 s) would let two of
    its windows fall in one second of the server's: 6 where 4 are allowed."""
    if rate_per_second >= 1:
        return int(rate_per_second + 1e-9), 1.0  # 3.9999999999999996 after steps is 4
    return 1, 1 / rate_per_second


@dataclass
class HostSlot:
    key: HostKey
    throttler: PreciseThrottler
    in_flight: asyncio.Semaphore
    configured_rate: float  # requests per second the config allows this host
    rate: float = 0.0  # the rate in force now (never above `ceiling`)
    robots_interval: float | None = None  # seconds between requests robots.txt asks for
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    paused_until: float = 0.0  # monotonic time before which nothing is sent to this host
    requests: int = 0
    last_retry_after: float = -1e9  # monotonic time of the last Retry-After from this host
    answered_since_retry_after: bool = True
    slowdowns: int = 0  # times a throttle lowered the rate
    lowest_rate: float = 0.0  # the lowest rate in force this run
    hold_until: float = -1e9  # monotonic time until which a throttle lowers the rate no more
    stepped_at: float = -1e9  # monotonic time of the last slow-down or step back up
    recent_throttles: deque[bool] = field(  # the last answers: True for a throttle
        default_factory=lambda: deque(maxlen=THROTTLE_WINDOW)
    )
    refused_urls: deque[str] = field(  # the URLs of the last throttles: a retry is no news
        default_factory=lambda: deque(maxlen=REFUSED_URLS_KEPT)
    )

    def __post_init__(self) -> None:
        self.rate = self.rate or self.configured_rate
        self.lowest_rate = self.lowest_rate or self.rate

    @property
    def ceiling(self) -> float:
        """The most this host ever gets: its configured rate, and robots.txt's Crawl-delay."""
        if self.robots_interval:
            return min(self.configured_rate, 1 / self.robots_interval)
        return self.configured_rate

    def set_rate(self, rate: float) -> None:
        """Requests per second from now on, at most the ceiling."""
        self.rate = min(rate, self.ceiling)
        self.lowest_rate = min(self.lowest_rate, self.rate)
        self.throttler.set_rate(self.rate, one_at_a_time=self.robots_interval is not None)

    def obey_robots(self, interval_s: float) -> None:
        """robots.txt asks for at least `interval_s` seconds between requests."""
        self.robots_interval = interval_s
        self.set_rate(self.rate)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def retry_after(self, seconds: float | None, url: str | None = None) -> None:
        """A throttle from this host: a Retry-After of `seconds`, or a 429 that named no time
        (None), for `url`. Throttles of many URLs lower the host's rate (`slow_down`); a URL
        refused again (its retry) tells nothing new. The URL that got it waits (the fetcher's
        retry does); the whole host pauses only when a second Retry-After comes within that
        time with no ordinary answer in between: one rate-limited page is about that page,
        several in a row are about us."""
        now = time.monotonic()
        if url is None or url not in self.refused_urls:
            if url is not None:
                self.refused_urls.append(url)
            self.recent_throttles.append(True)
            if self._throttled_often():
                self.slow_down(now)
        if seconds is not None:
            recent = now - self.last_retry_after <= max(seconds, 1.0)
            if recent and not self.answered_since_retry_after:
                self.pause(seconds)
            self.last_retry_after = now
        self.answered_since_retry_after = False

    def _throttled_often(self) -> bool:
        """Whether the host's recent throttles are about us, not about one page."""
        return sum(self.recent_throttles) >= THROTTLES_NEEDED

    def slow_down(self, now: float) -> None:
        """Multiplicative decrease. The requests sent in the last window of the rate before
        it may still be refused: until that window has passed, no further decrease."""
        if now < self.hold_until:
            return
        before = self.rate
        self.set_rate(max(before * SLOWDOWN_FACTOR, min(RATE_FLOOR, self.ceiling)))
        self.slowdowns += 1
        self.stepped_at = now
        self.hold_until = now + max(1.0, 1 / before)

    def answered(self) -> None:
        """An ordinary answer: additive increase, one step per `RECOVERY_STEP_S` at most."""
        self.answered_since_retry_after = True
        self.recent_throttles.append(False)
        if self.slowdowns and self.rate < self.ceiling:
            now = time.monotonic()
            if now - self.stepped_at >= RECOVERY_STEP_S:
                self.set_rate(self.rate + self.ceiling * RECOVERY_SHARE)
                self.stepped_at = now


class HostPool:
    """Creates slots lazily; holds the global in-flight cap."""

    def __init__(self, config: PolitenessConfig, rules: HostRules | None = None) -> None:
        self._config = config
        self._rules = rules  # per-host rate and concurrency (config.yaml's hosts:)
        self.limits = Limits.of(config, rules)
        self._slots: dict[HostKey, HostSlot] = {}
        self._global = asyncio.Semaphore(self.limits.in_flight)
        self.requests = 0

    def slot(self, key: HostKey) -> HostSlot:
        slot = self._slots.get(key)
        if slot is None:
            rate, concurrency = self._config.rate_per_host, self._config.concurrency_per_host
            if self._rules is not None:
                settings = self._rules.for_host(key)
                rate, concurrency = settings.rate, settings.concurrency
            slot = HostSlot(
                key=key,
                throttler=PreciseThrottler.for_rate(rate, self._config.jitter_margin_s),
                in_flight=asyncio.Semaphore(concurrency),
                configured_rate=rate,
            )
            self._slots[key] = slot
        return slot

    def retry_after(self, key: HostKey, seconds: float | None, url: str | None = None) -> None:
        """This host throttled us (`url`): a Retry-After, or a 429 without one (None)."""
        self.slot(key).retry_after(seconds, url)

    def answered(self, key: HostKey) -> None:
        """An ordinary answer (no throttle) from this host."""
        self.slot(key).answered()

    @asynccontextmanager
    async def permit(self, key: HostKey) -> AsyncIterator[Permit]:
        """Hold this while one request to `key` is in flight; send it on entry."""
        slot = self.slot(key)
        async with slot.in_flight, self._global:
            async with slot.gate:
                while (wait := slot.paused_until - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                token = await slot.throttler.acquire()
            slot.requests += 1
            self.requests += 1
            yield Permit(token)

    def requests_by_host(self) -> dict[HostKey, int]:
        return {k: s.requests for k, s in self._slots.items() if s.requests}

    def throttled_hosts(self) -> dict[HostKey, dict[str, float]]:
        """The hosts that slowed us down: their configured rate, the rate they ended at, the
        lowest one and how many slow-downs."""
        return {
            key: {
                "configured_rate": _rate(slot.configured_rate),
                "ended_rate": _rate(slot.rate),
                "lowest_rate": _rate(slot.lowest_rate),
                "slowdowns": slot.slowdowns,
            }
            for key, slot in self._slots.items()
            if slot.slowdowns
        }

    def host_settings(self) -> dict[HostKey, str]:
        """The hosts asked that a `hosts:` entry applied to: host -> its pattern."""
        if self._rules is None:
            return {}
        patterns = {k: self._rules.pattern_for(k) for k, s in self._slots.items() if s.requests}
        return {k: p for k, p in patterns.items() if p is not None}

    def host_counters(self, before: Mapping[str, Any]) -> dict[str, Any]:
        """The run's per-host counters (HOST_COUNTERS): this pool's, merged with those of the
        part of the run before a --resume (`before`: that part's counters)."""
        requests = Counter(before.get("requests_by_host", {}))
        requests.update(self.requests_by_host())
        throttled = dict(before.get("throttled_hosts", {}))
        for key, now in self.throttled_hosts().items():
            was = throttled.get(key)
            if was is not None:  # the configured and ended rates are this part's
                now["lowest_rate"] = min(now["lowest_rate"], was["lowest_rate"])
                now["slowdowns"] += was["slowdowns"]
            throttled[key] = now
        return {
            "requests_by_host": dict(sorted(requests.items())),
            "throttled_hosts": dict(sorted(throttled.items())),
            "host_settings": dict(
                sorted({**before.get("host_settings", {}), **self.host_settings()}.items())
            ),
        }


# The run counters a HostPool keeps (HostPool.host_counters), merged across a --resume.
HOST_COUNTERS = ("requests_by_host", "throttled_hosts", "host_settings")


def _rate(rate: float) -> float:
    return round(rate, 4)
