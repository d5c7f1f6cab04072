"""`--workers N` and `--cluster ADDRESS`: a Dask cluster for one run, and the crawl's engine on it.

`--workers N` starts a `LocalCluster` of N worker processes on this machine, gone with the run;
`--cluster tcp://HOST:8786` connects to a running scheduler (`dask scheduler`, `dask worker`),
whose workers must have linkcheck installed. An address that cannot be reached is the operator's
to fix (exit 2). Imported only when one of the flags is given: a plain run never loads Dask.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from crawler.cluster.liveness import CLOSE_WITHIN_S, LOST_AFTER_S, quiet_dask_logs, within
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
# Dask's statistical profiler reads every worker thread's frames from its own thread 100 times a
# second. Under 16 threads running event loops it read garbage (dask/distributed#8163) and a
# worker stopped answering its scheduler for minutes; it also costs CPU. Our workers run without
# it, and a worker silent for a minute (Dask's default: 5) is restarted and its partitions re-run.
CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.worker-ttl": "60s",
}

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
        import publicsuffixlist  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"--workers and --cluster need the 'cluster' extra ({exc.name} is missing):"
            " pip install -e '.[cluster]'"
        ) from exc


@asynccontextmanager
async def cluster_engine(
    config: Config, store: Store, *, workers: int | None, address: str | None
) -> AsyncIterator[EngineFn]:
    """The engine factory the crawl calls in place of its one-process scheduler. On the way
    out every Dask call is bounded (liveness.CLOSE_WITHIN_S): the scheduler may be gone."""
    import dask
    from distributed import Client, LocalCluster

    from crawler.cluster.conductor import ClusterRun, ClusterScheduler

    local: Any = None
    if address is None:
        # read by the scheduler as it starts, and handed by each nanny to its worker
        with dask.config.set(CLUSTER_CONFIG):
            local = await LocalCluster(
                n_workers=workers or 1,
                processes=True,
                threads_per_worker=THREADS_PER_WORKER,
                dashboard_address=None,
                asynchronous=True,
            )
        address = local.scheduler_address
    client: Any = None
    made: list[ClusterScheduler] = []
    try:
        client = await _connect(Client, address)
        threads = await _threads(client, address)
        partitions = max(MIN_PARTITIONS, threads * PARTITIONS_PER_THREAD)
        name = f"linkcheck-{uuid.uuid4().hex[:12]}"
        run = ClusterRun(client, name, partitions, config, store, address)

        def engine(
            run_id: int, pool: HostPool, counters: dict[str, Any], on_result: ResultFn
        ) -> Scheduler:
            scheduler = ClusterScheduler(run, run_id, pool, counters, on_result)
            made.append(scheduler)
            return scheduler

        yield engine
    finally:
        deadline = time.monotonic() + CLOSE_WITHIN_S
        for scheduler in made:
            await scheduler.aclose(deadline)
        quiet_dask_logs()
        if client is not None:
            await within("close the client", client.close(), deadline)
        if local is not None:  # its own bound: its worker processes are this machine's
            await within(
                "close the local cluster", local.close(), time.monotonic() + CLOSE_WITHIN_S
            )


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


async def _threads(client: Any, address: str) -> int:
    """The cluster's worker threads, once it has a worker: an operator error when none is ready
    within LOST_AFTER_S, the time a run goes on without one."""
    try:
        await asyncio.wait_for(client.wait_for_workers(1), LOST_AFTER_S)
        nthreads = await asyncio.wait_for(client.nthreads(), LOST_AFTER_S)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"no worker of the Dask cluster at {safe_text(address)} was ready within"
            f" {LOST_AFTER_S:.0f} s (is `dask worker {safe_text(address)}` running?)"
        ) from exc
    return sum(nthreads.values())
