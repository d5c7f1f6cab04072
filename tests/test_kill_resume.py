"""Nothing lost (issue 9, point 4): `kill -9` of a real `linkcheck run` at ten random points of a
run, each followed by `linkcheck run --resume`, ends exactly where an uninterrupted run does.

The real command in its own process, a real SQLite file, a simulated web on loopback built by the
card generator (its expected.json is the ground truth). The moments are picked from a seeded
generator (KILL_RESUME_SEED to try another) and reached by waiting for events, never by sleeping:
the card reader's process appearing, N requests at the server, the store's history, verdicts or
state, report.json written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from quickrun import crawl, quick_config
from servers import serve
from test_e2e import accuracy
from test_history import Switchable, cli, start, web_status, write_card

from crawler.config import ConfigError
from crawler.crawl import Crawl
from crawler.progress import NoProgress
from crawler.report.schema import report_schema
from crawler.sim.gencards import generate
from crawler.sim.server import SimWeb
from crawler.store.database import Store
from crawler.store.lock import RunLock

SEED = int(os.environ.get("KILL_RESUME_SEED", "9"))
CARDS = 1200  # 90 % filtered (read, never fetched): card reading lasts long enough to hit
OLD_SHARE = 0.9
SETTINGS = (
    "--rate-per-host", "100", "--concurrency-per-host", "4", "--timeout", "0.5",
    "--retries", "1", "--since", "2020",
)  # fmt: skip
POLL_S = 0.002  # how often a waiting test looks for its event


@dataclass(frozen=True, slots=True)
class KillPoint:
    phase: str  # reading | crawl | history | verdicts | report | dashboard
    requests: int = 0  # for reading and crawl: kill once the server saw this many more


class Child:
    """One `linkcheck run` process; its log lines (stderr, JSON) are drained as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[str] = []
        assert proc.stderr is not None
        self._pump = asyncio.create_task(self._drain(proc.stderr))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.log.append(line.decode(errors="replace"))

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def finish(self) -> int:
        assert self.proc.stdout is not None
        await self.proc.stdout.read()
        code = await self.proc.wait()
        await self._pump
        return code


@dataclass(slots=True)
class Scenario:
    folder: Path
    web: SimWeb
    corpus: Path
    codes: list[int] = field(default_factory=list)  # every process's exit code, in order

    @property
    def state(self) -> Path:
        return self.folder / "state.sqlite"

    @property
    def out(self) -> Path:
        return self.folder / "out"

    async def launch(self, *extra: str) -> Child:
        args = cli(self.folder, *SETTINGS, "--cards", str(self.corpus), *extra)
        return Child(await start(args))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """A read of the store the child writes (WAL: it never blocks the writer)."""
        if not self.state.exists():
            return []
        db = sqlite3.connect(f"file:{self.state}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError:  # not made yet: the schema comes with the first run
            return []
        finally:
            db.close()


async def until(child: Child, ready: Callable[[], bool]) -> None:
    """Poll for an event while the child runs; return as soon as either happens."""
    while child.alive and not ready():
        await asyncio.sleep(POLL_S)


def reader_started(child: Child) -> bool:
    """The card reader (a forked worker process) exists."""
    pid = child.proc.pid
    try:
        return any(
            Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            for tid in os.listdir(f"/proc/{pid}/task")
        )
    except OSError:
        return False


async def reach(scenario: Scenario, child: Child, point: KillPoint) -> None:
    seen = scenario.web.requests
    if point.phase == "reading":
        await until(child, lambda: reader_started(child))
    if point.phase in ("reading", "crawl"):
        await until(child, lambda: scenario.web.requests - seen >= point.requests)
        return
    sql = {
        "history": "SELECT 1 FROM url_state LIMIT 1",  # record_url_history has committed
        "verdicts": "SELECT 1 FROM cards WHERE status IS NOT NULL LIMIT 1",  # judge_cards has
        "report": "SELECT 1 FROM runs WHERE state = 'finished'",  # the reports are being written
    }.get(point.phase)
    if sql is not None:
        await until(child, lambda: bool(scenario.query(sql)))
    else:  # dashboard: report.json is written, report.html is being written
        await until(child, lambda: (scenario.out / "report.json").exists())


def leftovers(state: Path) -> list[int]:
    """Processes still running for this store: a card reader that outlived its run."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if str(state).encode() in command:
                found.append(int(entry))
    return found


async def kill_at(scenario: Scenario, child: Child, point: KillPoint) -> None:
    await reach(scenario, child, point)
    with contextlib.suppress(ProcessLookupError):  # it may have just ended by itself
        child.proc.kill()
    await until_gone(scenario.state)  # first: a survivor would hold the child's pipes open
    code = await child.finish()
    scenario.codes.append(code)
    assert code == -signal.SIGKILL, f"{point}: the run ended by itself before the kill ({code})"


async def until_gone(state: Path) -> None:
    for _ in range(5000):  # the card reader dies with its run (the kernel signals it)
        if not leftovers(state):
            return
        await asyncio.sleep(POLL_S)
    survivors = leftovers(state)
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"processes outlived the killed run: {survivors}")


def plan(rng: random.Random, total_requests: int) -> list[tuple[KillPoint, KillPoint | None]]:
    """Ten kill points spread over a run; two resumes are killed too."""
    crawl = [KillPoint("crawl", rng.randrange(5, total_requests - 5)) for _ in range(4)]
    points = [
        KillPoint("reading", rng.randrange(0, 4)),
        KillPoint("reading", rng.randrange(4, 20)),
        *sorted(crawl, key=lambda p: p.requests),
        KillPoint("history"),
        KillPoint("verdicts"),
        KillPoint("report"),
        KillPoint("dashboard"),
    ]
    again = {2: KillPoint("crawl", 3), 6: KillPoint("verdicts")}  # the resume is killed too
    return [(p, again.get(i)) for i, p in enumerate(points)]


def card_view(report: dict[str, Any]) -> dict[str, Any]:
    """What a card's verdict is made of: status, trend and its problems."""
    return {
        c["path"]: (
            c["status"],
            c.get("trend"),
            sorted((p["field"] or "", p["kind"], p["severity"]) for p in c["problems"]),
        )
        for c in report["cards"]
    }


def url_view(report: dict[str, Any]) -> dict[str, Any]:
    return {u["url"]: (u["status"], u["kind"], u["http_status"]) for u in report["urls"]}


def check_complete(scenario: Scenario, reference: dict[str, Any], requests_seen: int) -> None:
    report = json.loads((scenario.out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    run = report["run"]
    assert run["id"] == 1 and run["state"] == "finished"
    assert [r[0] for r in scenario.query("SELECT state FROM runs")] == ["finished"]
    # every URL of the corpus has exactly one result in the run
    expected_urls = set(url_view(reference))
    stored = scenario.query("SELECT url FROM url_results WHERE run_id = 1")
    assert len(stored) == len({u for (u,) in stored}) == len(expected_urls)
    assert {u for (u,) in stored} == expected_urls
    linked = scenario.query("SELECT DISTINCT url FROM card_links WHERE run_id = 1")
    assert {u for (u,) in linked} == expected_urls
    # nothing counted twice
    ref_run = reference["run"]
    for key in ("cards_found", "cards_checked", "cards_invalid", "cards_filtered_out"):
        assert run[key] == ref_run[key], key
    assert run["cards_found"] == CARDS
    assert run["urls_unique"] == run["urls_checked"] == len(expected_urls)
    assert run["links_unchecked"] == 0
    assert run["urls_checked"] <= run["requests_made"] <= requests_seen
    by_host = scenario.query("SELECT counters FROM runs WHERE id = 1")[0][0]
    assert sum(json.loads(by_host)["requests_by_host"].values()) <= run["requests_made"]
    # the same verdicts as the uninterrupted run, and report.json is whole
    assert url_view(report) == url_view(reference)
    assert card_view(report) == card_view(reference)
    assert len(report["cards"]) == run["cards_checked"] + run["cards_invalid"]


async def resume(scenario: Scenario, reference_code: int) -> None:
    child = await scenario.launch("--resume")
    code = await child.finish()
    scenario.codes.append(code)
    assert code == reference_code, "".join(child.log[-5:])


@pytest.mark.slow
async def test_kill_9_at_ten_random_points_then_resume_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    async with SimWeb(hosts=3, first=150, latency_ms=2) as web:
        corpus = tmp_path / "cards"
        truth = generate(
            corpus, CARDS, hosts=web.host_ips, port=web.port, seed=SEED, old_share=OLD_SHARE,
            timeout=0.5, slow_seconds=1.0, retries=1,
        )  # fmt: skip
        # the uninterrupted run: what every interrupted one must end as
        base = Scenario(tmp_path / "reference", web, corpus)
        before = web.requests
        child = await base.launch()
        reference_code = await child.finish()
        total = web.requests - before
        reference = json.loads((base.out / "report.json").read_text())
        _, misses, examples = accuracy(reference, truth.to_json())
        assert not misses, examples
        assert reference_code == 1  # broken cards, --fail-on broken

        for i, (point, again) in enumerate(plan(rng, total)):
            web.reset_counters()  # flaky and rate-limited URLs fail again, as in the reference
            scenario = Scenario(tmp_path / f"kill-{i}", web, corpus)
            before = web.requests
            await kill_at(scenario, await scenario.launch(), point)
            if again is not None:
                await kill_at(scenario, await scenario.launch("--resume"), again)
            await resume(scenario, reference_code)
            context = f"seed {SEED}, point {i}: {point}, then {again}, exit codes {scenario.codes}"
            try:
                check_complete(scenario, reference, web.requests - before)
            except AssertionError as exc:
                raise AssertionError(f"{context}: {exc}") from exc


# -- what a kill -9 leaves behind: the card reader, the lock ------------------------------------

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

HOLD_AND_FORK = """
import os, sys
from pathlib import Path
from crawler.store.lock import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
child = os.fork()
if child == 0:
    os.read(0, 1)  # a child (like the card reader) that lives on: until stdin closes
    os._exit(0)
print(child, flush=True)
os._exit(0)  # the run dies without letting go of its lock, as with kill -9
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, only not yet reaped


def test_a_child_forked_by_a_killed_run_does_not_keep_its_store_locked(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    run = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_FORK, str(state)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    assert run.stdout is not None and run.stdin is not None
    child = int(run.stdout.readline())
    run.wait()
    try:
        assert alive(child)
        lock = RunLock(state)
        lock.acquire()  # the dead run's lock is free, though its child still lives
        assert lock.took_over is not None and lock.took_over["pid"] == run.pid
        lock.release()
    finally:
        run.stdin.close()  # the child reads EOF and ends


READ_AND_DIE = """
import os
from crawler.intake.reader import make_executor
pool = make_executor()
print(pool.submit(os.getpid).result(), flush=True)  # the card reader's pid
os._exit(0)  # the run dies without shutting the reader down, as with kill -9
"""


def test_the_card_reader_dies_with_its_run() -> None:
    run = subprocess.Popen([sys.executable, "-c", READ_AND_DIE], stdout=subprocess.PIPE, env=ENV)
    assert run.stdout is not None
    with run.stdout:  # (not read to the end: a surviving reader would hold it open)
        reader = int(run.stdout.readline())
        run.wait()
    for _ in range(5000):  # the kernel kills it as its parent dies: a moment, not a wait
        if not alive(reader):
            return
        time.sleep(0.002)
    os.kill(reader, signal.SIGKILL)
    raise AssertionError("the card reader outlived its run")


async def test_resume_writes_the_reports_of_a_run_killed_after_it_ended(tmp_path: Path) -> None:
    async with serve({"/story": Switchable().handle}) as server:
        write_card(tmp_path / "cards", "story", server.url("/story"))
        config = quick_config(tmp_path)
        _, finished = await crawl(config)
        # as if killed between the run's end and its reports: finished, not yet reported
        report = config.output.out / "report.json"
        report.unlink()
        store = Store(config.state.path)
        store.db.execute("UPDATE runs SET counters = json_remove(counters, '$.reported')")
        try:
            result = await Crawl(config, store, NoProgress(), resume=True).run()
            assert (result.run_id, result.state) == (1, "finished")
            assert json.loads(report.read_text()) == finished  # the same, rebuilt from the store
            with pytest.raises(ConfigError, match="no interrupted run to resume"):
                await Crawl(config, store, NoProgress(), resume=True).run()  # nothing left
        finally:
            store.close()
        assert server.paths() == ["/robots.txt", "/story"]  # the run's; none made again


async def test_resume_after_the_verdicts_keeps_each_cards_history(tmp_path: Path) -> None:
    async with serve({"/gone": web_status(410).handle}) as server:
        write_card(tmp_path / "cards", "gone", server.url("/gone"))
        config = quick_config(tmp_path)
        _, finished = await crawl(config)
        assert finished["cards"][0]["trend"] == "new"
        # as if killed after the verdicts were stored, before the run was marked finished
        store = Store(config.state.path)
        store.db.execute("UPDATE runs SET state = 'running', finished_at = NULL")
        try:
            result = await Crawl(config, store, NoProgress(), resume=True).run()
            streak = store.db.execute("SELECT consecutive_failures FROM card_state").fetchall()
        finally:
            store.close()
    resumed = json.loads(result.report_path.read_text())
    assert card_view(resumed) == card_view(finished)  # trend "new", not lost
    assert resumed["cards"][0]["consecutive_failures"] == 1
    assert [r[0] for r in streak] == [1]  # folded into the history once, not twice
