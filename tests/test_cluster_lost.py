"""A `--cluster` run whose Dask scheduler goes away ends, never hangs: killed, it ends at once as
a run `--resume` continues (exit 2, one line); frozen, within `LOST_AFTER_S`; and SIGTERM ends a
run on a frozen scheduler within the grace period and the bound on the way out. A cluster with
no worker is lost after the bound, and one with none at the start is an operator error.

The scheduler and its worker are `dask scheduler` and `dask worker` processes, so that a test can
kill or freeze the scheduler; the crawl is the real command against the simulated web, in
processes of their own too (tests/test_cluster.py's parts).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from servers import free_port
from test_cluster import (
    ROOT,
    SimProcess,
    _cli,
    _healthy,
    _run,
    _start,
    _stored_at_least,
    _stored_once,
)

from crawler.cluster import session
from crawler.cluster.liveness import CLOSE_WITHIN_S, CONNECTION_CLOSED, LOST_AFTER_S, watch
from crawler.config import ConfigError
from crawler.crawl import Crawl

distributed = pytest.importorskip("distributed")

GRACE_S: float = inspect.signature(Crawl).parameters["grace_s"].default
SLACK_S = 10.0  # a busy 2-core machine: starting Python, judging, writing the reports


class DaskProcesses:
    """`dask scheduler` and one `dask worker` (no nanny: a killed worker stays dead) on loopback,
    each in its own process."""

    def __init__(self, folder: Path) -> None:
        self.address = f"tcp://127.0.0.1:{free_port('127.0.0.1')}"
        self._folder = folder
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> DaskProcesses:
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = self._spawn("scheduler", "--host", "127.0.0.1", "--port", port)
        self.worker = self._spawn("worker", self.address, "--nthreads", "4", "--no-nanny")
        with distributed.Client(self.address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        return self

    def _spawn(self, role: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self._folder / f"dask-{role}-{len(self._procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "dask", role, *args, "--no-dashboard"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        log.close()
        self._procs.append(proc)
        return proc

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.kill()  # a frozen (SIGSTOPped) process too
            proc.wait(timeout=30)


def _run_state(state: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
        (found,) = db.execute("SELECT state FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    return str(found)


def _lost_line(address: str, reason: str) -> str:
    return (
        f"linkcheck: error: lost the Dask cluster at {address}: {reason};"
        " `linkcheck run --resume` continues the run"
    )


def _ended_as_lost(code: int | None, err: str, address: str, reason: str) -> None:
    assert code == 2, err[-3000:]
    assert err.strip().splitlines()[-1] == _lost_line(address, reason), err[-3000:]
    assert "Traceback" not in err


@pytest.mark.slow
async def test_a_killed_scheduler_ends_the_run_at_once_and_resume_refetches_nothing_stored(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.sqlite"
    with SimProcess(tmp_path, hosts=6, first=200, latency_ms=30) as web:
        cards = tmp_path / "cards"
        truth = _healthy(cards, 60, web, seed=11)
        total = sum(truth.unique_urls_by_host.values())
        with DaskProcesses(tmp_path) as dask:
            proc = await _start(_cli(tmp_path, cards, "--cluster", dask.address))
            await _stored_at_least(state, 30, proc)
            received = len(_stored_once(state))
            dask.scheduler.kill()
            killed = time.monotonic()
            _, err = await asyncio.wait_for(proc.communicate(), LOST_AFTER_S + 60)
            took = time.monotonic() - killed
        _ended_as_lost(
            proc.returncode, err.decode(), dask.address, "the connection to the scheduler closed"
        )
        assert took < LOST_AFTER_S  # a closed connection is noticed at once, not at the bound
        first_part = _stored_once(state)
        assert received <= len(first_part) < total  # what came before the kill is kept
        assert set(first_part.values()) == {1}
        assert _run_state(state) == "failed"  # what --resume continues
        web.start()  # the dead cluster's worker is gone: what follows is the resumed run's
        before = len(web.log)
        with DaskProcesses(tmp_path) as fresh:
            code, out, err_ = await _run(
                _cli(tmp_path, cards, "--cluster", fresh.address, "--resume")
            )
    assert code == 0, err_[-3000:]
    assert f"{len(truth.cards)} ok" in out
    stored = _stored_once(state)
    assert len(stored) == total and set(stored.values()) == {1}
    again = {f"http://{r.host}:{web.port}{r.path}" for r in web.log[before:]}
    assert again and not (again & set(first_part))  # nothing stored was fetched again


@pytest.mark.slow
async def test_sigterm_on_a_frozen_scheduler_ends_within_the_grace_and_the_bound(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.sqlite"
    with (
        SimProcess(tmp_path, hosts=4, first=210, latency_ms=30) as web,
        DaskProcesses(tmp_path) as dask,
    ):
        _healthy(tmp_path / "cards", 60, web, seed=12)
        proc = await _start(_cli(tmp_path, tmp_path / "cards", "--cluster", dask.address))
        await _stored_at_least(state, 20, proc)
        dask.scheduler.send_signal(signal.SIGSTOP)  # alive, listening, answering nothing
        await asyncio.sleep(1)  # the coordinator's calls are now waiting on it
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        took = time.monotonic() - signalled
    assert proc.returncode == 143, err.decode()[-3000:]
    assert took < GRACE_S + CLOSE_WITHIN_S + SLACK_S
    assert "Traceback" not in err.decode()
    assert (tmp_path / "out" / "report.partial.json").is_file()
    assert _run_state(state) == "interrupted"


@pytest.mark.slow
async def test_a_frozen_scheduler_ends_the_run_within_the_bound(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with (
        SimProcess(tmp_path, hosts=4, first=220, latency_ms=30) as web,
        DaskProcesses(tmp_path) as dask,
    ):
        _healthy(tmp_path / "cards", 60, web, seed=13)
        proc = await _start(_cli(tmp_path, tmp_path / "cards", "--cluster", dask.address))
        await _stored_at_least(state, 20, proc)
        received = len(_stored_once(state))
        dask.scheduler.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        _, err = await asyncio.wait_for(proc.communicate(), LOST_AFTER_S + 60)
        took = time.monotonic() - frozen
    reason = f"the scheduler did not answer for {LOST_AFTER_S:.0f} s"
    _ended_as_lost(proc.returncode, err.decode(), dask.address, reason)
    assert LOST_AFTER_S - 3 < took < LOST_AFTER_S + CLOSE_WITHIN_S + SLACK_S
    assert len(_stored_once(state)) >= received
    assert _run_state(state) == "failed"


# -- the watch and the first worker, in this process, against a real scheduler without workers --


def _scheduler() -> Any:
    """A real scheduler in this process, on loopback, that no worker joins."""
    return distributed.Scheduler(host="127.0.0.1", port=0, dashboard=False)


async def test_a_cluster_without_a_worker_is_lost_after_the_bound() -> None:
    async with (
        _scheduler() as scheduler,
        distributed.Client(scheduler.address, asynchronous=True) as client,
    ):
        started = time.monotonic()
        reason = await asyncio.wait_for(watch(client, lost_after_s=1.0), 30)
    assert reason == "no Dask worker for 1 s"
    assert 1.0 < time.monotonic() - started < 10


async def test_a_cluster_whose_scheduler_closed_is_lost_at_once() -> None:
    async with _scheduler() as scheduler:
        # timeout: how long the client tries to reconnect before it closes
        client = await distributed.Client(scheduler.address, asynchronous=True, timeout=2)
        watching = asyncio.ensure_future(watch(client, lost_after_s=60.0))
        await asyncio.sleep(0.5)
        assert not watching.done()  # a healthy scheduler is not lost
        await scheduler.close()
        closed = time.monotonic()
        reason = await asyncio.wait_for(watching, 30)
        took = time.monotonic() - closed
        await client.close()
    assert reason == CONNECTION_CLOSED
    assert took < 2


async def test_no_worker_at_the_start_is_an_operator_error_naming_the_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session, "LOST_AFTER_S", 1.0)
    async with (
        _scheduler() as scheduler,
        distributed.Client(scheduler.address, asynchronous=True) as client,
    ):
        with pytest.raises(ConfigError) as raised:
            await session._threads(client, scheduler.address)
    assert f"no worker of the Dask cluster at {scheduler.address}" in str(raised.value)
    assert "was ready within 1 s" in str(raised.value)
