"""Whether the Dask cluster of a run is still there, from what Dask gives: the client's status
(the connection to the scheduler), a bounded round trip to the scheduler (`Client.nthreads`),
and the workers that round trip names.

A cluster is lost when the client's connection to the scheduler closes (Dask then cancels
every future of the client, and a scheduler it reconnects to holds none of the run's queues or
fences), when the scheduler has not answered for `LOST_AFTER_S` (frozen, or the network gone
quiet), or when it has had no worker for `LOST_AFTER_S`. The run then ends as one `--resume`
continues: what was stored stays, the rest is checked again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog

from crawler.config import ConfigError
from crawler.text import safe_text

# The default of Dask's own unresponsive-connection timeout (distributed.comm.timeouts.tcp): a
# scheduler silent for that long answers nobody, and a shorter bound would end healthy runs.
LOST_AFTER_S = 30.0
PROBE_EVERY_S = 2.0  # a round trip to the scheduler this often (one small message each way)
WATCH_EVERY_S = 0.25  # the client's status is read this often
CLOSE_WITHIN_S = 10.0  # the Dask calls on the way out, together (a frozen scheduler answers none)

log = structlog.get_logger(__name__)

CONNECTION_CLOSED = "the connection to the scheduler closed"

T = TypeVar("T")


class ClusterLost(ConfigError):
    """The run's Dask cluster went away mid-run: the operator's to fix (exit 2), in one line."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(
            f"lost the Dask cluster at {safe_text(address)}: {safe_text(reason)};"
            " `linkcheck run --resume` continues the run"
        )


def unreachable(exc: BaseException) -> bool:
    """Whether a failed Dask call failed for want of the scheduler (Dask's CommClosedError is
    an OSError), not for a bug."""
    return isinstance(exc, OSError | TimeoutError)


def unreached(exc: BaseException) -> str:
    """Why, when a Dask call could not reach the scheduler: the error's first line, without the
    connection Dask names first ("in <TCP ...>: Stream is closed")."""
    lines = str(exc).strip().splitlines()
    detail = re.sub(r"^in <[^>]*>: ", "", lines[0]) if lines else type(exc).__name__
    return f"the scheduler could not be reached ({detail})"


async def watch(client: Any, *, lost_after_s: float = LOST_AFTER_S) -> str:
    """Returns why the cluster is lost, once it is; runs as long as it is not."""
    answered = workers_seen = time.monotonic()
    probe: asyncio.Future[dict[str, int]] | None = None
    probed = 0.0
    try:
        while True:
            if client.status != "running":
                return CONNECTION_CLOSED
            now = time.monotonic()
            if probe is None and now - probed >= PROBE_EVERY_S:
                probe, probed = asyncio.ensure_future(client.nthreads()), now
            if probe is not None and probe.done():
                try:
                    workers = probe.result()
                except Exception as exc:
                    if unreachable(exc):
                        return unreached(exc)
                    raise
                probe, answered = None, now
                if workers:
                    workers_seen = now
            if now - answered > lost_after_s:
                return f"the scheduler did not answer for {lost_after_s:.0f} s"
            if now - workers_seen > lost_after_s:
                return f"no Dask worker for {lost_after_s:.0f} s"
            await asyncio.sleep(WATCH_EVERY_S)
    finally:
        if probe is not None:
            probe.cancel()


async def within(what: str, call: Awaitable[T], deadline: float) -> T | None:
    """A Dask call on the way out, given until `deadline` (time.monotonic()); None when it did
    not end by then or failed: the run is ending, whatever the cluster says."""
    try:
        return await asyncio.wait_for(call, max(0.0, deadline - time.monotonic()))
    except Exception as exc:
        log.warning("cluster_call_abandoned", call=what, error=repr(exc))
        return None


def quiet_dask_logs() -> None:
    """Once the run is ending or its cluster lost, Dask's own reports of the connection it is
    closing (tracebacks of cancelled reconnects) are noise beside the run's one line."""
    names = [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    for name in ("distributed", *names):  # Dask's config gives some of them a level of their own
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
