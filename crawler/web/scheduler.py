"""Per-host queues and workers: many hosts progress in parallel, none parks thousands of tasks.

Each host has a short queue in memory (pages first, see `Job.rank`; each kind first in, first
out) and at most `workers_per_host` worker tasks pulling from it, created when work arrives and
gone when the host has nothing left. URLs beyond a host's `queue_per_host` wait in a `Spill` on
disk and are pulled back as the queue drains, so the card reader never has to stop: every host
gets its first URL as soon as a card names it, and memory is bounded by hosts x queue length,
not by the corpus. Politeness itself (rate, in-flight caps, pauses) lives in `HostPool`; the
scheduler only decides which URL goes next.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from crawler.model import Job, UrlOutcome
from crawler.web.spill import Spill
from crawler.web.urls import HostKey, host_key

log = structlog.get_logger(__name__)

CheckFn = Callable[[Job], Awaitable[UrlOutcome]]
ResultFn = Callable[[HostKey, UrlOutcome], None]


class HostQueue:
    """One host's jobs in memory: pages before the rest, each kind first in, first out."""

    __slots__ = ("_by_rank",)

    def __init__(self) -> None:
        self._by_rank: tuple[deque[Job], deque[Job]] = (deque(), deque())

    def __len__(self) -> int:
        return len(self._by_rank[0]) + len(self._by_rank[1])

    def append(self, job: Job) -> None:
        self._by_rank[job.rank].append(job)

    def extend(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.append(job)

    def popleft(self) -> Job | None:
        for queue in self._by_rank:
            if queue:
                return queue.popleft()
        return None


class Scheduler:
    def __init__(
        self,
        check: CheckFn,
        on_result: ResultFn,
        *,
        workers_per_host: int,
        queue_per_host: int = 1000,
        spill: Spill | None = None,
    ) -> None:
        self._check = check
        self._on_result = on_result
        self._workers_per_host = workers_per_host
        self._queue_per_host = max(1, queue_per_host)
        self._spill = spill if spill is not None else Spill()
        self._queues: dict[HostKey, HostQueue] = {}
        self._workers: dict[HostKey, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.queued = 0  # submitted, not started (in memory or spilled)
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False

    # -- feeding -----------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if self._stopping:
            return
        key = host_key(job.url)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = HostQueue()
        # behind anything already spilled for this host, so each host keeps its order
        if len(queue) < self._queue_per_host and not self._spill.waiting(key):
            queue.append(job)
        else:
            self._spill.push(key, job)
        self.queued += 1
        self._idle.clear()
        self._spawn(key)

    def _spawn(self, key: HostKey) -> None:
        running = self._workers.get(key, 0)
        waiting = len(self._queues[key]) + self._spill.waiting(key)
        wanted = min(self._workers_per_host, running + waiting)
        for _ in range(wanted - running):
            task = asyncio.create_task(self._work(key), name=f"host:{key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._workers[key] = max(running, wanted)

    def _next(self, key: HostKey, queue: HostQueue) -> Job | None:
        if len(queue) <= self._queue_per_host // 2 and self._spill.waiting(key):
            queue.extend(self._spill.take(key, self._queue_per_host - len(queue)))
        return queue.popleft()

    async def _work(self, key: HostKey) -> None:
        queue = self._queues[key]
        try:
            while not self._stopping and (job := self._next(key, queue)) is not None:
                self.queued -= 1
                self.in_flight += 1
                try:
                    outcome = await self._check(job)
                finally:
                    self.in_flight -= 1
                self._on_result(key, outcome)
        finally:
            self._workers[key] -= 1
            if self._workers[key] == 0:
                del self._workers[key]
                if not queue and not self._spill.waiting(key):
                    del self._queues[key]  # idle slots are collected
            if self.in_flight == 0 and (self.queued == 0 or self._stopping):
                self._idle.set()

    # -- ending ------------------------------------------------------------------------------
    async def drain(self) -> None:
        """Wait until every submitted URL has a result (or the scheduler was stopped)."""
        await self._idle.wait()

    def stop(self) -> None:
        """Start no new request; requests in flight go on."""
        self._stopping = True
        if self.in_flight == 0:
            self._idle.set()

    async def finish_in_flight(self, grace_s: float) -> int:
        """After stop(): give in-flight requests `grace_s` seconds, then cancel the rest.

        Returns how many were cancelled (their URLs stay unchecked and are checked on --resume).
        """
        tasks = list(self._tasks)
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)

    def close(self) -> None:
        """Drop what is still waiting (stopped or failed runs: --resume reads the cards again)."""
        self._spill.close()
