"""The coordinator's side: the crawl's jobs grouped into partitions, each partition tried on
the cluster one attempt at a time, the results taken from the current attempt only, and written
by this process alone (through the same recorder as a one-process crawl).

`ClusterScheduler` stands in for the one-process `Scheduler` (the crawl feeds it and drains it
the same way). A partition's first job starts its attempt; the jobs that come while cards are
read go to the running attempt on its own Dask Queue, at every tick, and the end of the cards
closes it. When an attempt is lost (its worker died, or
Dask ran it again elsewhere), its partition's fence moves to a new attempt that carries only the
jobs without a stored result. Two attempts of one partition never overlap: the next starts once
the last one's requests are a politeness window behind (`_window`), and a stale one stops
itself at the next reading of its fence.

A cluster lost mid-run (crawler/cluster/liveness.py) stops the scheduler at once: no attempt is
started, what it still waits for stays unchecked, and `submit` and `drain` raise `ClusterLost`,
which ends the run as one `--resume` continues.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import structlog
from distributed import Client, Queue, Variable
from yarl import URL

from crawler.cluster.attempt import (
    FENCED,
    Attempt,
    Batch,
    MoreJobs,
    Summary,
    fence_name,
    jobs_name,
    queue_name,
)
from crawler.cluster.liveness import (
    CONNECTION_CLOSED,
    ClusterLost,
    quiet_dask_logs,
    unreachable,
    unreached,
    watch,
    within,
)
from crawler.cluster.partitions import partition_of
from crawler.cluster.worker import LINK_EVERY_S, run_attempt
from crawler.config import Config
from crawler.judge import reuse
from crawler.model import Job, UrlOutcome
from crawler.store.database import Store
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool
from crawler.web.robots import MAX_CACHE_HOURS
from crawler.web.scheduler import ResultFn, Scheduler
from crawler.web.urls import host_key

log = structlog.get_logger(__name__)

RECEIVE_IDLE_S = 0.02  # the result queue is read again this long after it was found empty


@dataclass(slots=True)
class _Running:
    token: int
    jobs: dict[str, Job]  # url -> job, those without a result taken yet
    open: bool  # takes more jobs on its queue
    future: Any = None
    queue: Any = None  # its job queue, once used


@dataclass(slots=True)
class ClusterRun:
    """What every scheduler of one run on one cluster shares."""

    client: Client
    name: str  # unique per run: the prefix of every Dask name
    partitions: int
    config: Config
    store: Store
    address: str  # the scheduler's, for the line that says the cluster was lost
    stale_batches: int = 0
    attempts_lost: int = 0
    tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


async def _never(job: Job) -> UrlOutcome:  # pragma: no cover - the checks run on the workers
    raise AssertionError("a cluster crawl checks nothing in this process")


class ClusterScheduler(Scheduler):
    def __init__(
        self,
        cluster: ClusterRun,
        run_id: int,
        pool: HostPool,
        counters: dict[str, Any],
        on_result: ResultFn,
    ) -> None:
        super().__init__(_never, on_result, workers_per_host=1)
        self.cluster = cluster
        self._run_id = run_id
        self._pool = pool
        self._counters = counters
        self._rules = HostRules(cluster.config)
        self._queue = Queue(queue_name(cluster.name), client=cluster.client)
        self._pending: dict[int, list[Job]] = defaultdict(list)
        self._running: dict[int, _Running] = {}
        self._ended: dict[int, float] = {}  # partition -> when its last attempt ended
        self._intervals: dict[str, float] = {}  # host -> robots.txt's interval, once known
        self._feeding = True
        self._receiver: asyncio.Task[None] | None = None
        self._streamer: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._gone: ClusterLost | None = None
        self._closing = False  # aclose(): what its cancelled tasks raise says nothing
        self._attempts: set[asyncio.Task[None]] = set()

    # -- feeding -----------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if self._gone is not None:
            raise self._gone  # the cards are not read to the end for nothing
        if self._stopping:
            return
        if self._receiver is None:
            self._receiver = asyncio.create_task(self._receive(), name="cluster:results")
            self._streamer = asyncio.create_task(self._stream(), name="cluster:jobs")
            self._watcher = asyncio.create_task(self._watch(), name="cluster:liveness")
            for task in (self._receiver, self._streamer, self._watcher):
                task.add_done_callback(self._failed)
        partition = partition_of(job.url, self.cluster.partitions)
        self._pending[partition].append(job)
        self.queued += 1
        self._idle.clear()
        if partition not in self._running:
            self._launch(partition)

    async def drain(self) -> None:
        self._feeding = False  # the next tick of _stream closes the open attempts
        for partition in list(self._pending):
            if partition not in self._running:
                self._launch(partition)
        self._settle()
        await self._idle.wait()
        if self._gone is not None:
            raise self._gone  # exit 2, and --resume goes on from what is stored
        if self._failure is not None:
            raise self._failure  # a bug: exit 3, and --resume goes on from what is stored
        if self._watcher is not None:
            self._watcher.cancel()  # every result is in: the cluster is no longer needed

    def _failed(self, task: asyncio.Task[None]) -> None:
        """The coordinator's own tasks never end on their own but by an error: the run stops.
        A Dask call that could not reach the scheduler means the cluster is lost, not a bug."""
        if task.cancelled() or (exc := task.exception()) is None or self._closing:
            return
        if self.cluster.client.status != "running":
            self._lose(CONNECTION_CLOSED)
            return
        if unreachable(exc):
            self._lose(unreached(exc))
            return
        log.error("cluster_coordinator_failed", task=task.get_name(), error=repr(exc))
        self._failure = exc
        self._stopping = True
        self._idle.set()

    async def _watch(self) -> None:
        self._lose(await watch(self.cluster.client))

    def _lose(self, reason: str) -> None:
        """The cluster is gone: nothing more is sent to it nor awaited from it."""
        if self._gone is not None:
            return
        quiet_dask_logs()
        self._gone = ClusterLost(self.cluster.address, reason)
        log.error("cluster_lost", address=self.cluster.address, reason=reason)
        self._stopping = True
        current = asyncio.current_task()
        for task in (self._receiver, self._streamer, *self._attempts):
            if task is not None and task is not current:
                task.cancel()
        self._idle.set()

    async def _stream(self) -> None:
        """Every tick: the jobs that came go to their partition's open attempt; once the cards
        are all read, each open attempt is told that no more will come."""
        while True:
            await asyncio.sleep(LINK_EVERY_S)
            closing = not self._feeding
            for partition, running in list(self._running.items()):
                if not running.open:
                    continue
                jobs = self._pending.pop(partition, [])
                running.jobs.update((job.url, job) for job in jobs)
                if running.queue is None:
                    name = jobs_name(self.cluster.name, running.token)
                    running.queue = await Queue(name, client=self.cluster.client)  # made
                queue = running.queue
                if jobs:
                    more: MoreJobs = (jobs, self._validators(jobs))
                    await queue.put(pickle.dumps(more))
                if closing:
                    running.open = False
                    await queue.put(pickle.dumps(None))
            if closing:
                return

    # -- attempts ----------------------------------------------------------------------------
    def _launch(self, partition: int, *, after_loss: bool = False) -> None:
        jobs = self._pending.pop(partition, [])
        if not jobs or self._stopping:
            return
        token = next(self.cluster.tokens)
        running = _Running(token, {job.url: job for job in jobs}, open=self._feeding)
        self._running[partition] = running
        delay = self._delay(partition, jobs, after_loss=after_loss)
        self._track(asyncio.create_task(self._attempt(partition, running, jobs, delay)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)
        task.add_done_callback(self._failed)

    async def _attempt(
        self, partition: int, running: _Running, jobs: list[Job], delay: float
    ) -> None:
        cluster, token = self.cluster, running.token
        attempt = Attempt(
            cluster.name,
            partition,
            token,
            tuple(jobs),
            self._validators(jobs),
            self._robots(jobs),
            cluster.config,
            delay,
            open=running.open,
        )
        # the fence moves first: a stale attempt of this partition stops at its next reading
        await Variable(fence_name(cluster.name, partition), client=cluster.client).set(token)
        future = cluster.client.submit(
            run_attempt, attempt, key=f"{cluster.name}-attempt-{token}", pure=False
        )
        running.future = future
        try:
            ended = await future
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # KilledWorker, a worker lost for good, a bug in the task
            if cluster.client.status != "running":  # Dask cancelled it: the scheduler is gone
                self._lose(CONNECTION_CLOSED)
                return
            ended = f"lost ({type(exc).__name__}: {exc})"
        if ended not in ("done", "fenced"):
            self._lost(partition, token, ended)

    def _lost(self, partition: int, token: int, why: str) -> None:
        """The attempt's worker died: the jobs it did not send back go to a new attempt."""
        running = self._running.get(partition)
        if running is None or running.token != token:
            return  # its summary came first: it ended, nothing is lost
        del self._running[partition]
        self.cluster.attempts_lost += 1
        log.warning("attempt_lost", partition=partition, why=why, jobs=len(running.jobs))
        self._pending[partition][:0] = running.jobs.values()
        self._ended[partition] = time.monotonic()
        self._launch(partition, after_loss=True)
        self._settle()

    def _delay(self, partition: int, jobs: list[Job], *, after_loss: bool) -> float:
        """How long the attempt waits before its first request: a politeness window after the
        partition's last attempt ended (and, after a loss, time for a stale attempt still
        running somewhere to read its fence and stop)."""
        ended = self._ended.get(partition)
        if ended is None:
            return 0.0
        window = self._window(jobs) + (2 * LINK_EVERY_S if after_loss else 0.0)
        return max(0.0, window - (time.monotonic() - ended))

    def _window(self, jobs: list[Job]) -> float:
        """The longest rate window among the jobs' hosts (the throttler's: a second, or the
        interval of a slower rate or of robots.txt's Crawl-delay)."""
        longest = 1.0
        for host in {host_key(job.url) for job in jobs}:
            rate = self._rules.for_host(host).rate
            longest = max(longest, 1 / rate, self._intervals.get(host, 0.0))
        return longest + self.cluster.config.politeness.jitter_margin_s

    def _validators(self, jobs: list[Job]) -> dict[str, dict[str, str]]:
        found = {}
        for job in jobs:
            if job.revalidate and (headers := reuse.validators_of(self._previous(job))):
                found[job.url] = headers
        return found

    def _previous(self, job: Job) -> Any:
        return self.cluster.store.latest_result(job.url, before_run=self._run_id)

    def _robots(self, jobs: list[Job]) -> dict[str, tuple[int, str]]:
        """The robots.txt answers the store has for the jobs' origins (this run's included)."""
        config = self.cluster.config
        if config.recheck.full:
            return {}
        max_age_s = min(config.robots.cache_hours, MAX_CACHE_HOURS) * 3600
        known = {}
        for origin in {str(URL(job.url).origin()) for job in jobs}:
            entry = self.cluster.store.robots_answer(origin, max_age_s=max_age_s)
            if entry is not None:
                known[origin] = (entry.http_status, entry.rules)
        return known

    # -- results -----------------------------------------------------------------------------
    async def _receive(self) -> None:
        await self._queue  # made on the scheduler before the first read
        while True:
            batches = await self._queue.get(batch=True)
            if not batches:
                await asyncio.sleep(RECEIVE_IDLE_S)
            for batch in batches:  # from this run's own workers (attempt.py's names)
                self._take(pickle.loads(batch))

    def _take(self, batch: Batch) -> None:
        running = self._running.get(batch.partition)
        if running is None or running.token != batch.token:
            self.cluster.stale_batches += 1  # a stale attempt's: its jobs went to another
            return
        for origin, status, rules in batch.robots:
            self.cluster.store.save_robots_answer(origin, status, rules)
        for host, outcome in batch.outcomes:
            job = running.jobs.pop(outcome.url, None)
            if job is None:
                continue  # never counted twice
            if job.revalidate:
                outcome = reuse.settled(outcome, self._previous(job))
            self.queued -= 1
            self._on_result(host, outcome)
        if batch.summary is not None:
            self._end(batch.partition, running, batch.summary)

    def _end(self, partition: int, running: _Running, summary: Summary) -> None:
        del self._running[partition]
        self._ended[partition] = time.monotonic()
        self._merge(summary)
        if running.jobs:  # fenced by a stop: what it did not do stays unchecked (--resume)
            self._pending[partition][:0] = running.jobs.values()
        if self._pending.get(partition):
            self._launch(partition)
        self._settle()

    def _merge(self, summary: Summary) -> None:
        """The attempt's counters into the run's: its requests into the pool, whose counters
        the crawl reports; robots.txt's per host, the first attempt's kept."""
        pool = self._pool
        pool.requests += summary.requests
        for host, n in summary.requests_by_host.items():
            pool.slot(host).requests += n
        for host, throttled in summary.throttled_hosts.items():
            slot = pool.slot(host)
            slot.slowdowns += int(throttled["slowdowns"])
            slot.lowest_rate = min(slot.lowest_rate, throttled["lowest_rate"])
            slot.rate = throttled["ended_rate"]
        robots = self._counters.setdefault("robots", {})
        for host, consulted in summary.robots.items():
            robots.setdefault(host, consulted)
            if consulted.get("interval_s"):
                self._intervals[host] = float(consulted["interval_s"])

    def _settle(self) -> None:
        waiting = any(self._pending.values())
        if not self._running and (self._stopping or not (waiting or self._feeding)):
            self._idle.set()

    # -- ending ------------------------------------------------------------------------------
    def stop(self) -> None:
        """No new attempt; the running ones are fenced off and stop at their next reading."""
        self._stopping = True
        if self._gone is None:
            for partition in self._running:
                self._track(asyncio.create_task(self._fence(partition)))
        self._settle()

    async def _fence(self, partition: int) -> None:
        cluster = self.cluster
        await Variable(fence_name(cluster.name, partition), client=cluster.client).set(FENCED)

    async def finish_in_flight(self, grace_s: float) -> int:
        """After stop(): the running attempts' last batches, for up to `grace_s` seconds.
        Returns how many jobs had no result (checked on --resume)."""
        deadline = time.monotonic() + grace_s
        while self._running and self._gone is None and time.monotonic() < deadline:
            await asyncio.sleep(RECEIVE_IDLE_S)
        left = sum(len(r.jobs) for r in self._running.values())
        self._running.clear()
        return left

    async def aclose(self, deadline: float) -> None:
        """Stop reading results and cancel what still runs on the cluster, by `deadline`
        (time.monotonic()): a lost or frozen scheduler answers nothing."""
        self._closing = True
        tasks = [t for t in (self._watcher, self._receiver, self._streamer, *self._attempts) if t]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        futures = [r.future for r in self._running.values() if r.future is not None]
        if futures and self._gone is None:
            await within("cancel", self.cluster.client.cancel(futures), deadline)
