"""`--workers N` and `--cluster ADDRESS`: a Dask cluster for one run, and the crawl's engine on it.

`--workers N` starts a `LocalCluster` of N worker processes on this machine, gone with the run;
`--cluster tcp://HOST:8786` connects to a running scheduler (`dask scheduler`, `dask worker`),
whose workers must have linkcheck installed. An address that cannot be reached is the operator's
to fix (exit 2). Imported only when one of the flags is given: a plain run never loads Dask.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from crawler.config import Config, ConfigError
from crawler.store.database import Store
from crawler.text import safe_text
from crawler.web.politeness import HostPool
from crawler.web.scheduler import ResultFn, Scheduler

# Partitions one worker process runs at once, each in its own thread and event loop: a partition
# holds only some hosts, and the crawl is I/O-bound, so one at a time would leave a core idle.
THREADS_PER_WORKER = 16
PARTITIONS_PER_THREAD = 1  # with 2+ workers, still many more partitions than workers
MIN_PARTITIONS = 16
CONNECT_TIMEOUT_S = 10.0

EngineFn = Callable[[int, HostPool, dict[str, Any], ResultFn], Scheduler]


def check_cluster_flags(workers: int | None, address: str | None) -> None:
    """Before anything runs: the flags make sense, and Dask is installed."""
    if workers is not None and address is not None:
        raise ConfigError("--workers and --cluster exclude each other: give one")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    if address is not None and "://" not in address:
        raise ConfigError(
            f"--cluster wants a scheduler address such as tcp://HOST:8786,"
            f" not {safe_text(address)!r}"
        )
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ConfigError("--workers and --cluster need Dask: pip install -e '.[cluster]'") from exc


@asynccontextmanager
async def cluster_engine(
    config: Config, store: Store, *, workers: int | None, address: str | None
) -> AsyncIterator[EngineFn]:
    """The engine factory the crawl calls in place of its one-process scheduler."""
    from distributed import Client, LocalCluster

    from crawler.cluster.conductor import ClusterRun, ClusterScheduler

    local: Any = None
    if address is None:
        local = await LocalCluster(
            n_workers=workers or 1,
            processes=True,
            threads_per_worker=THREADS_PER_WORKER,
            dashboard_address=None,
            asynchronous=True,
        )
        address = local.scheduler_address
    try:
        client = await _connect(Client, address)
    except BaseException:
        if local is not None:
            await local.close()
        raise
    threads = sum((await client.nthreads()).values())
    partitions = max(MIN_PARTITIONS, threads * PARTITIONS_PER_THREAD)
    run = ClusterRun(client, f"linkcheck-{uuid.uuid4().hex[:12]}", partitions, config, store)
    made: list[ClusterScheduler] = []

    def engine(
        run_id: int, pool: HostPool, counters: dict[str, Any], on_result: ResultFn
    ) -> Scheduler:
        scheduler = ClusterScheduler(run, run_id, pool, counters, on_result)
        made.append(scheduler)
        return scheduler

    try:
        yield engine
    finally:
        for scheduler in made:
            await scheduler.aclose()
        await client.close()
        if local is not None:
            await local.close()


async def _connect(client_type: Any, address: str) -> Any:
    """A client of the cluster at `address`; an operator error when it cannot be reached."""
    try:
        return await asyncio.wait_for(
            client_type(address, asynchronous=True, timeout=CONNECT_TIMEOUT_S),
            CONNECT_TIMEOUT_S * 2,
        )
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"cannot reach the Dask cluster at {safe_text(address)}: {safe_text(reason)}"
        ) from exc
