"""The crawl on a Dask cluster (`--workers N`, `--cluster ADDRESS`): the same verdicts as one
process, each host's rate held at the server across workers, a worker killed mid-run, an
interrupted distributed run resumed, a fenced-off attempt that stops itself, and a plain run that
never loads Dask.

The cluster is a real LocalCluster of 2 worker processes (1 thread each); the crawl is the real
command in its own process against the simulated web on loopback, in a process of its own too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import free_port, max_in_window

from benchmarks.compare import server_priority
from benchmarks.politeness import read_log
from benchmarks.same_report import differences, normalised
from crawler.cluster.partitions import partition_key, partition_of, registrable_domain
from crawler.sim.gencards import generate
from crawler.sim.loopback import loopback_ips
from crawler.sim.truth import GroundTruth
from crawler.sim.wire import RequestRecord

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
RATE = 8  # requests per second per host: low enough that a worker could easily go faster
SETTINGS = (
    "--rate-per-host", str(RATE), "--concurrency-per-host", "2", "--timeout", "1",
    "--retries", "1", "--since", "2020", "--contact-url", "mailto:ops@example.org",
)  # fmt: skip


# -- partitions ---------------------------------------------------------------------------------


def test_a_registrable_domain_comes_from_the_public_suffix_list_an_ip_is_itself() -> None:
    assert registrable_domain("www.example.com") == "example.com"
    assert registrable_domain("img.static.Example.COM.") == "example.com"
    assert registrable_domain("www.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("news.abc.net.au") == "abc.net.au"
    # a wildcard rule (*.kawasaki.jp) and its exception (!city.kawasaki.jp)
    assert registrable_domain("www.city.kawasaki.jp") == "city.kawasaki.jp"
    # sites under a private suffix are different sites, each its own partition
    assert registrable_domain("alice.github.io") == "alice.github.io"
    # one host spelled in Unicode or punycode is one domain
    assert registrable_domain("www.пример.рф") == registrable_domain("xn--e1afmkfd.xn--p1ai")
    assert registrable_domain("co.uk") == "co.uk"  # a public suffix itself
    assert registrable_domain("localhost") == "localhost"
    assert registrable_domain("127.0.0.12") == "127.0.0.12"
    assert registrable_domain("[::1]") == "[::1]"
    assert partition_key("http://a.cdn.example.com:8080/x.png") == "example.com"


def test_every_url_of_a_site_goes_to_one_partition_the_same_in_every_process() -> None:
    site = [f"http://{h}.example.org/p/{i}" for h in ("www", "img", "m") for i in range(20)]
    assert {partition_of(url, 64) for url in site} == {partition_of(site[0], 64)}
    spread = {partition_of(f"http://site{i}.com/", 64) for i in range(400)}
    assert len(spread) > 48  # many sites spread over the partitions
    code = (
        "from crawler.cluster.partitions import partition_of;"
        " print(partition_of('http://x.bbc.co.uk/', 1000))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert int(other.stdout) == partition_of("http://www.bbc.co.uk/a", 1000)  # no salted hash


# -- one process never loads Dask ---------------------------------------------------------------


def test_a_plain_run_does_not_import_dask(tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "a.md").write_text(
        "---\ntitle: A\npublishedDateTime: 2024-01-01T00:00:00Z\n"
        "webUrl: http://127.0.0.1:9/gone\n---\n",
        encoding="utf-8",
    )
    code = (
        "import json, sys\nfrom crawler.cli import main\n"
        f"code = main(['run', '--cards', {str(cards)!r}, '--out', {str(tmp_path / 'out')!r},"
        f" '--state', {str(tmp_path / 's.sqlite')!r}, '--no-progress', '--allow-private',"
        " '--no-archive', '--retries', '0', '--timeout', '1'])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('dask', 'distributed'))]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    code_, dask_modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert code_ == 1  # the link is broken: the run did happen
    assert dask_modules == []


# -- the cluster --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as local:
        yield local


def _cli(base: Path, cards: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "crawler.cli", "run", "--cards", str(cards), "--out",
        str(base / "out"), "--state", str(base / "state.sqlite"), "--no-progress",
        "--log-format", "json", "--allow-private", "--no-archive", *SETTINGS, *extra,
    ]  # fmt: skip


async def _start(args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def _run(args: list[str]) -> tuple[int, str, str]:
    proc = await _start(args)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _report(base: Path) -> Any:
    text = (base / "out" / "report.json").read_text(encoding="utf-8")
    return normalised(json.loads(text.replace(str(base), "/BASE")))


class SimProcess:
    """The simulated web in a process of its own, so that the cluster's scheduler (a thread of
    this process) never delays its clock: `log` is every request it saw, read once it stopped."""

    def __init__(self, folder: Path, hosts: int, first: int, latency_ms: float) -> None:
        self.host_ips = loopback_ips(hosts, first)
        self.port = free_port(self.host_ips[0])
        self.folder = folder
        self.log: list[RequestRecord] = []
        self._args = ["--hosts", str(hosts), "--first", str(first), "--port", str(self.port),
                      "--latency-ms", str(latency_ms)]  # fmt: skip
        self._runs = 0
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """(Again:) a fresh server, its flaky and rate-limited URLs failing as the first time."""
        self.stop()
        self._runs += 1
        self._log_path = self.folder / f"requests-{self._runs}.jsonl"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.sim.simweb", *self._args, "--log", str(self._log_path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=server_priority,
        )  # fmt: skip
        assert self._proc.stdout is not None
        assert json.loads(self._proc.stdout.readline())["event"] == "ready"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            assert proc.stdout is not None
            proc.stdout.close()
            self.log += read_log(self._log_path)

    def __enter__(self) -> SimProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _healthy(cards: Path, n: int, web: SimProcess, *, seed: int) -> GroundTruth:
    """n healthy cards on the simulated web, all in the run's dates; their ground truth."""
    return generate(
        cards, n, hosts=web.host_ips, port=web.port, seed=seed, old_share=0.0,
        mix={"healthy": 1.0}, timeout=1.0, slow_seconds=2.0, retries=1,
    )  # fmt: skip


def _stored_once(state: Path) -> dict[str, int]:
    """Each URL of the store's last run and how many results it has there."""
    with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=30)) as db:
        (run_id,) = db.execute("SELECT MAX(id) FROM runs").fetchone()
        rows = db.execute(
            "SELECT url, COUNT(*) FROM url_results WHERE run_id = ? GROUP BY url", (run_id,)
        ).fetchall()
    return dict(rows)


async def _stored_at_least(state: Path, n: int, proc: asyncio.subprocess.Process) -> None:
    """Wait until the run being watched has stored n results (it is surely crawling)."""
    for _ in range(6000):
        if proc.returncode is not None:
            raise AssertionError("the run ended before it was interrupted")
        if state.exists():
            with contextlib.suppress(sqlite3.OperationalError):  # no table yet
                if sum(_stored_once(state).values()) >= n:
                    return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {n} results stored within two minutes")


def _polite(web: SimProcess, since: float = 0.0) -> dict[str, int]:
    """Each host's most requests in any one-second window, at the server."""
    by_host: dict[str, list[float]] = defaultdict(list)
    for record in web.log:
        if record.t >= since:
            by_host[record.host].append(record.t)
    return {host: max_in_window(times) for host, times in by_host.items()}


@pytest.mark.slow
async def test_a_cluster_run_gives_the_one_process_report_and_holds_each_hosts_rate(
    tmp_path: Path, cluster: Any
) -> None:
    with SimProcess(tmp_path, hosts=6, first=140, latency_ms=5) as web:
        cards = tmp_path / "cards"
        generate(cards, 100, hosts=web.host_ips, port=web.port, seed=4, timeout=1.0,
                 slow_seconds=2.0, retries=1)  # fmt: skip
        one, two = tmp_path / "one", tmp_path / "two"
        code, _, err = await _run(_cli(one, cards))
        assert code == 1, err[-2000:]
        web.start()  # the flaky and rate-limited URLs fail again, as the first time
        start = web.log[-1].t
        code, out, err = await _run(_cli(two, cards, "--cluster", cluster.scheduler_address))
        assert code == 1, err[-2000:]
        assert "report:" in out
    assert list(differences(_report(one), _report(two))) == []
    assert max(_polite(web, since=start).values()) <= RATE
    assert set(_stored_once(two / "state.sqlite").values()) == {1}


@pytest.mark.slow
async def test_a_worker_killed_mid_run_loses_nothing_counts_nothing_twice_and_stays_polite(
    tmp_path: Path, cluster: Any
) -> None:
    with SimProcess(tmp_path, hosts=4, first=150, latency_ms=30) as web:
        cards = tmp_path / "cards"
        truth = _healthy(cards, 120, web, seed=5)
        with distributed.Client(cluster.scheduler_address) as client:
            proc = await _start(_cli(tmp_path, cards, "--cluster", cluster.scheduler_address))
            await _stored_at_least(tmp_path / "state.sqlite", 40, proc)
            pids = client.run(os.getpid)
            os.kill(next(iter(pids.values())), signal.SIGKILL)
            _, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()[-3000:]
    stored = _stored_once(tmp_path / "state.sqlite")
    assert set(stored.values()) == {1}  # nothing counted twice
    assert len(stored) == sum(truth.unique_urls_by_host.values())  # nothing lost
    assert b"attempt_lost" in err  # the kill did hit a running attempt
    assert max(_polite(web).values()) <= RATE  # across the retry too


@pytest.mark.slow
async def test_an_interrupted_cluster_run_resumes_without_refetching_and_max_age_reuses(
    tmp_path: Path, cluster: Any
) -> None:
    with SimProcess(tmp_path, hosts=4, first=160, latency_ms=30) as web:
        cards = tmp_path / "cards"
        truth = _healthy(cards, 100, web, seed=6)
        address = cluster.scheduler_address
        proc = await _start(_cli(tmp_path, cards, "--cluster", address))
        await _stored_at_least(tmp_path / "state.sqlite", 30, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 143, err.decode()[-2000:]
        first_part = set(_stored_once(tmp_path / "state.sqlite"))
        assert 0 < len(first_part) < sum(truth.unique_urls_by_host.values())
        web.start()
        before = len(web.log)
        code, _, err_ = await _run(_cli(tmp_path, cards, "--cluster", address, "--resume"))
        assert code == 0, err_[-2000:]
        web.start()
        after = len(web.log)
        # --max-age on a cluster: the next run reuses every recent healthy result, no request
        code, out, err_ = await _run(_cli(tmp_path, cards, "--cluster", address))
        assert code == 0, err_[-2000:]
    assert f"{len(truth.cards)} ok" in out
    assert web.log[after:] == []
    again = {f"http://{r.host}:{web.port}{r.path}" for r in web.log[before:]}
    stored = _stored_once(tmp_path / "state.sqlite")  # the last run's: all reused
    assert set(stored.values()) == {1}
    assert len(stored) == sum(truth.unique_urls_by_host.values())
    assert not (again & first_part)  # what the first part stored was not fetched again


@pytest.mark.slow
async def test_workers_flag_runs_a_local_cluster_of_its_own(tmp_path: Path) -> None:
    with SimProcess(tmp_path, hosts=3, first=170, latency_ms=5) as web:
        cards = tmp_path / "cards"
        truth = _healthy(cards, 30, web, seed=7)
        code, out, err = await _run(_cli(tmp_path, cards, "--workers", "2"))
    assert code == 0, err[-2000:]
    assert "30 ok" in out
    assert len(_stored_once(tmp_path / "state.sqlite")) == sum(truth.unique_urls_by_host.values())


async def test_the_local_clusters_workers_run_without_dasks_profiler_and_a_short_ttl(
    tmp_path: Path,
) -> None:
    """Dask's profiler reads the frames of threads running event loops from another thread; it
    read garbage there and a worker went silent for minutes (crawler/cluster/session.py)."""
    import dask

    from crawler.cluster.session import cluster_engine
    from crawler.config import Config
    from crawler.store.database import Store
    from crawler.web.politeness import HostPool

    config = Config()
    store = Store(tmp_path / "state.sqlite")
    try:
        async with cluster_engine(config, store, workers=1, address=None) as engine:
            scheduler: Any = engine(1, HostPool(config.politeness), {}, lambda host, outcome: None)
            client = scheduler.cluster.client
            enabled = await client.run(dask.config.get, "distributed.worker.profile.enabled")
            ttl = await client.run_on_scheduler(_worker_ttl)
            scheduler.close()
    finally:
        store.close()
    assert list(enabled.values()) == [False]
    assert ttl == 60  # a silent worker is restarted after a minute, not Dask's default 5


def _worker_ttl(dask_scheduler: Any) -> Any:
    return dask_scheduler.worker_ttl


@pytest.mark.parametrize("module", ["distributed", "publicsuffixlist"])
def test_a_missing_cluster_extra_is_named_in_an_operator_error(
    monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    from crawler.cluster.session import check_cluster_flags
    from crawler.config import ConfigError

    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    with pytest.raises(ConfigError, match=f"{module} is missing.*pip install -e '.\\[cluster\\]'"):
        check_cluster_flags(2, None)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--cluster", "tcp://127.0.0.1:9"], "cannot reach the Dask cluster at tcp://127.0.0.1:9"),
        (["--cluster", "127.0.0.1:9"], "--cluster wants a scheduler address"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--workers", "2", "--cluster", "tcp://127.0.0.1:9"], "exclude each other"),
    ],
)
def test_a_bad_cluster_flag_is_an_operator_error_in_one_line(
    tmp_path: Path, flags: list[str], says: str
) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "a.md").write_text("---\ntitle: A\nwebUrl: http://127.0.0.1:9/\n---\n")
    done = subprocess.run(
        _cli(tmp_path, cards, *flags), capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr


@pytest.mark.slow
def test_a_fenced_off_attempt_stops_its_requests_and_its_results_are_not_sent(
    tmp_path: Path, cluster: Any
) -> None:
    from quickrun import quick_config

    from crawler.cluster.attempt import Attempt, fence_name, queue_name
    from crawler.cluster.worker import LINK_EVERY_S, run_attempt
    from crawler.model import Job, LinkKind

    config = quick_config(tmp_path, politeness={"rate_per_host": 10.0})
    with (
        SimProcess(tmp_path, hosts=1, first=180, latency_ms=20) as web,
        distributed.Client(cluster.scheduler_address) as client,
    ):
        jobs = tuple(
            Job(f"http://{web.host_ips[0]}:{web.port}/ok/f{i}", LinkKind.PAGE) for i in range(200)
        )
        attempt = Attempt("linkcheck-fencetest", 0, 7, jobs, {}, {}, config)
        distributed.Variable(fence_name(attempt.run, 0), client=client).set(7)
        future = client.submit(run_attempt, attempt, pure=False)
        queue = distributed.Queue(queue_name(attempt.run), client=client)
        first = queue.get(timeout=60)  # it is crawling: a batch of results came
        assert first
        distributed.Variable(fence_name(attempt.run, 0), client=client).set(8)  # another's now
        fenced_at = time.time()
        assert future.result(timeout=60) == "fenced"
        batches = [pickle.loads(b) for b in queue.get(batch=True)]
    assert batches and batches[-1].summary is not None and batches[-1].summary.fenced
    assert batches[-1].outcomes == []  # what it checked after the fence is dropped
    late = [r.t for r in web.log if r.t > fenced_at + LINK_EVERY_S + 0.2]
    assert late == []  # at most one tick to read the fence, then no request
    assert len(web.log) < len(jobs)  # it did stop before the end
