"""Card files in, CardRecords out: parsed in a worker process, streamed in chunks.

YAML parsing is the costliest CPU work of a run; doing it in a second process lets it use the
machine's other core while the event loop fetches. Only a few chunks are in flight at a time,
so a corpus of a million cards is never held in memory.

A card that kills the worker (a crash in a C library, the OOM killer) must not kill the run: the
pool is restarted, the chunk being read is read again one card at a time, and a card that kills
the reader on its own is reported invalid while every other card is read normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from crawler.config import CardsConfig, LinksConfig
from crawler.intake.cards import card_path, load_card
from crawler.intake.files import find_card_files
from crawler.model import CardRecord, Disposition, Kind, Problem

CRASHED = "reading this card crashed the card reader"


def load_chunk(
    paths: list[Path], root: Path, cards: CardsConfig, links: LinksConfig
) -> list[CardRecord]:
    return [load_card(path, root, cards, links) for path in paths]


def _chunks(paths: Iterable[Path], size: int) -> Iterator[list[Path]]:
    iterator = iter(paths)
    while chunk := list(islice(iterator, size)):
        yield chunk


def make_executor() -> Executor:
    # fork: the child needs nothing but the parser, and starts in milliseconds
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """The card reader must not outlive a run killed with -9: it would wait for work forever.
    Linux kills it when its parent dies (elsewhere it stays the parent's to stop)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def crashed_record(path: Path, root: Path) -> CardRecord:
    return CardRecord(
        path=card_path(path, root),
        disposition=Disposition.INVALID,
        problems=[Problem(Kind.CARD_PARSE_ERROR, CRASHED)],
    )


@dataclass(slots=True)
class _Pending:
    chunk: list[Path]
    future: asyncio.Future[list[CardRecord]]
    generation: int  # the pool it was sent to


class _Reader:
    """The worker pool, restarted when a card kills it."""

    def __init__(
        self, root: Path, cards: CardsConfig, links: LinksConfig, executor: Executor | None
    ) -> None:
        self.root = root
        self.settings = (cards, links)
        self.own = executor is None
        self.pool = executor or make_executor()
        self.generation = 0
        self.restarts = 0

    def submit(self, chunk: list[Path]) -> _Pending:
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self.pool, load_chunk, chunk, self.root, *self.settings)
        except BrokenProcessPool as exc:  # the worker died before its chunk was awaited
            future = loop.create_future()
            future.set_exception(exc)
        return _Pending(chunk, future, self.generation)

    async def result(self, pending: _Pending) -> list[CardRecord]:
        try:
            return await pending.future
        except BrokenProcessPool:
            pass
        if pending.generation != self.generation:
            # Sent to a pool that another chunk's crash broke: innocent, read it again whole.
            return await self.result(self.submit(pending.chunk))
        # With one worker taking chunks in order, the chunk awaited first is the one being read.
        self.restart()
        return [await self._one(path) for path in pending.chunk]

    async def _one(self, path: Path) -> CardRecord:
        pending = self.submit([path])
        try:
            (record,) = await pending.future
        except BrokenProcessPool:
            self.restart()
            return crashed_record(path, self.root)
        return record

    def restart(self) -> None:
        self.close()
        self.pool = make_executor()
        self.own = True
        self.generation += 1
        self.restarts += 1

    def close(self) -> None:
        if self.own:
            self.pool.shutdown(wait=False, cancel_futures=True)


async def stream_cards(
    root: Path,
    glob: str,
    cards: CardsConfig,
    links: LinksConfig,
    *,
    chunk_size: int = 200,
    look_ahead: int = 3,
    executor: Executor | None = None,
) -> AsyncIterator[CardRecord]:
    reader = _Reader(root, cards, links, executor)
    pending: deque[_Pending] = deque()
    try:
        for chunk in _chunks(find_card_files(root, glob), chunk_size):
            pending.append(reader.submit(chunk))
            if len(pending) >= look_ahead:
                for record in await reader.result(pending.popleft()):
                    yield record
        while pending:
            for record in await reader.result(pending.popleft()):
                yield record
    finally:
        for waiting in pending:
            if not waiting.future.cancel() and not waiting.future.cancelled():
                waiting.future.exception()  # retrieved, so asyncio does not log it as lost
        reader.close()
