"""Card files in, CardRecords out: parsed in a worker process, streamed in chunks.

YAML parsing is the costliest CPU work of a run; doing it in a second process lets it use the
machine's other core while the event loop fetches. Only a few chunks are in flight at a time,
so a corpus of a million cards is never held in memory.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from itertools import islice
from pathlib import Path

from crawler.cards import CardOptions, find_card_files, load_card
from crawler.models import CardRecord


def load_chunk(paths: list[Path], root: Path, options: CardOptions) -> list[CardRecord]:
    return [load_card(path, root, options) for path in paths]


def _chunks(paths: Iterable[Path], size: int) -> Iterator[list[Path]]:
    iterator = iter(paths)
    while chunk := list(islice(iterator, size)):
        yield chunk


def make_executor() -> Executor:
    # fork: the child needs nothing but the parser, and starts in milliseconds
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))


async def stream_cards(
    root: Path,
    glob: str,
    options: CardOptions,
    *,
    chunk_size: int = 200,
    look_ahead: int = 3,
    executor: Executor | None = None,
) -> AsyncIterator[CardRecord]:
    loop = asyncio.get_running_loop()
    own = executor is None
    pool = executor or make_executor()
    pending: deque[asyncio.Future[list[CardRecord]]] = deque()
    try:
        for chunk in _chunks(find_card_files(root, glob), chunk_size):
            pending.append(loop.run_in_executor(pool, load_chunk, chunk, root, options))
            if len(pending) >= look_ahead:
                for record in await pending.popleft():
                    yield record
        while pending:
            for record in await pending.popleft():
                yield record
    finally:
        for future in pending:
            future.cancel()
        if own:
            pool.shutdown(wait=False, cancel_futures=True)
