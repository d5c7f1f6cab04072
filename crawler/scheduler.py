"""Per-host queues and workers: many hosts progress in parallel, none parks thousands of tasks.

Each host has a FIFO queue and at most `workers_per_host` worker tasks pulling from it, created
when work arrives and gone when the queue is empty. A slow host only slows its own workers.
Politeness itself (rate, in-flight caps, pauses) lives in `HostPool`; the scheduler only decides
which URL goes next.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from crawler.hosts import HostKey, host_key
from crawler.models import LinkKind, UrlOutcome

log = structlog.get_logger(__name__)

CheckFn = Callable[[str, LinkKind], Awaitable[UrlOutcome]]
ResultFn = Callable[[HostKey, UrlOutcome], None]


class Scheduler:
    def __init__(
        self,
        check: CheckFn,
        on_result: ResultFn,
        *,
        workers_per_host: int,
        max_queued: int = 50_000,
    ) -> None:
        self._check = check
        self._on_result = on_result
        self._workers_per_host = workers_per_host
        self._queues: dict[HostKey, deque[tuple[str, LinkKind]]] = {}
        self._workers: dict[HostKey, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._max_queued = max_queued
        self.queued = 0  # submitted, not started
        self.in_flight = 0
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False

    # -- feeding -----------------------------------------------------------------------------
    def submit(self, url: str, link_kind: LinkKind) -> None:
        if self._stopping:
            return
        key = host_key(url)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append((url, link_kind))
        self.queued += 1
        self._idle.clear()
        if self.queued >= self._max_queued:
            self._room.clear()
        self._spawn(key)

    async def wait_for_room(self) -> None:
        """Back-pressure for the card reader: hold it while too many URLs wait."""
        await self._room.wait()

    def _spawn(self, key: HostKey) -> None:
        running = self._workers.get(key, 0)
        wanted = min(self._workers_per_host, running + len(self._queues[key]))
        for _ in range(wanted - running):
            task = asyncio.create_task(self._work(key), name=f"host:{key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._workers[key] = max(running, wanted)

    async def _work(self, key: HostKey) -> None:
        queue = self._queues[key]
        try:
            while queue and not self._stopping:
                url, link_kind = queue.popleft()
                self.queued -= 1
                if self.queued < self._max_queued // 2:
                    self._room.set()
                self.in_flight += 1
                try:
                    outcome = await self._check(url, link_kind)
                finally:
                    self.in_flight -= 1
                self._on_result(key, outcome)
        finally:
            self._workers[key] -= 1
            if self._workers[key] == 0:
                del self._workers[key]
                if not queue:
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
        self._room.set()
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

    @property
    def hosts_active(self) -> int:
        return len(self._workers)
