"""`linkcheck run` end to end, as a user runs it: a real process, a simulated web on loopback,
a real SQLite file and report.json checked against its schema and the ground truth."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from servers import ok, serve

from benchmarks.compare import server_priority
from benchmarks.politeness import max_in_window, read_log
from crawler.report.schema import report_schema
from crawler.sim.gencards import generate
from crawler.sim.server import SimWeb

LINKCHECK = [sys.executable, "-m", "crawler.cli"]


async def run_linkcheck(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *LINKCHECK,
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    out, err = await proc.communicate()
    code = await proc.wait()  # the exit code itself (communicate() has already reaped it)
    return code, out.decode(), err.decode()


def run_args(cards: Path, tmp: Path, *extra: str, guard: bool = False) -> list[str]:
    """Flags for a quick run on loopback (the address guard lifted unless `guard`); later flags
    in `extra` win."""
    return [
        "run", "--cards", str(cards), "--out", str(tmp / "out"),
        "--state", str(tmp / "state.sqlite"), "--no-progress", "--log-format", "json",
        *([] if guard else ["--allow-private"]), "--no-archive", "--rate-per-host", "200",
        "--concurrency-per-host", "8", *extra,
    ]  # fmt: skip


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for something another process does (not a guess at how long it takes)."""
    async with asyncio.timeout(60):  # a hang guard, far beyond any wait here
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


@asynccontextmanager
async def simweb_process(
    hosts: int, first: int, latency_ms: int, log_path: Path
) -> AsyncIterator[tuple[int, list[str]]]:
    """The simulated web in its own process, as in the benchmark: what it logs is not skewed
    by this test process's own work (GC pauses, the client side of other tests); and at a higher
    priority, as remote servers would not share our cores."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crawler.sim.simweb", "--hosts", str(hosts), "--first", str(first),
        "--port", "0", "--latency-ms", str(latency_ms), "--log", str(log_path),
        stdout=asyncio.subprocess.PIPE, preexec_fn=server_priority,
    )  # fmt: skip
    assert proc.stdout is not None
    ready = json.loads(await proc.stdout.readline())
    try:
        yield ready["port"], ready["hosts"]
    finally:
        proc.terminate()
        await proc.wait()


def accuracy(
    report: dict[str, Any], expected: dict[str, Any]
) -> tuple[int, Counter[str], dict[str, tuple[Any, ...]]]:
    got = {c["path"]: c for c in report["cards"]}
    right, misses = 0, Counter[str]()
    examples: dict[str, tuple[Any, ...]] = {}
    for path, truth in expected["cards"].items():
        if truth["filtered"]:
            assert path not in got, f"filtered card {path} is in the report"
            continue
        card = got.get(path)
        if card and card["status"] == truth["status"]:
            right += 1
        else:
            misses[truth["behaviour"]] += 1
            examples[truth["behaviour"]] = (path, card and card["status"], truth["status"])
    return right, misses, examples


@pytest.mark.slow
async def test_generated_corpus_every_status_right_and_polite(tmp_path: Path) -> None:
    """1,000 generated cards on 20 hosts: every card's status right, no host above its rate.

    The timeout leaves a loaded machine room: a healthy answer that a busy CPU delays past it
    would be a false timeout; the slow route outlasts it by far, so it still times out."""
    rate, concurrency = 20, 4
    log_path = tmp_path / "requests.jsonl"
    async with simweb_process(20, 40, 5, log_path) as (port, ips):
        generate(
            tmp_path / "cards", 1000, hosts=ips, port=port, seed=7,
            timeout=5.0, slow_seconds=15.0, retries=1,
        )  # fmt: skip
        code, _out, err = await run_linkcheck(
            *run_args(
                tmp_path / "cards", tmp_path, "--since", "2020", "--timeout", "5",
                "--retries", "1", "--rate-per-host", str(rate),
                "--concurrency-per-host", str(concurrency), "--fail-on", "never",
            )
        )  # fmt: skip
        assert code == 0, err
    log = read_log(log_path)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    expected = json.loads((tmp_path / "cards" / "expected.json").read_text())
    right, misses, examples = accuracy(report, expected)
    checked = sum(1 for t in expected["cards"].values() if not t["filtered"])
    assert not misses, examples
    assert right == checked == report["run"]["cards_checked"]
    run = report["run"]
    assert run["cards_found"] == 1000 == run["cards_checked"] + run["cards_filtered_out"]
    assert run["requests_made"] == len(log)  # every request counted, none hidden
    assert not [r for r in log if r.path.startswith("/old/")]  # filtered cards cost nothing
    logos = Counter(r.path for r in log if r.path.startswith("/logo/"))
    assert logos and set(logos.values()) == {1}  # shared by hundreds of cards, fetched once each
    by_host: dict[str, list[float]] = {}
    for record in log:
        by_host.setdefault(record.host, []).append(record.t)
    assert len(by_host) == 20
    assert max(max_in_window(times) for times in by_host.values()) <= rate
    assert max(r.inflight or 0 for r in log) <= concurrency
    # many hosts in parallel, not one after the other: every host had its first request before
    # any host had its last
    assert max(min(t) for t in by_host.values()) < min(max(t) for t in by_host.values())


async def test_since_costs_no_request_and_exit_codes(tmp_path: Path) -> None:
    async with SimWeb(hosts=2, first=60, latency_ms=0) as web:
        generate(
            tmp_path / "cards", 40, hosts=web.host_ips, port=web.port, seed=3, old_share=0.5,
            mix={"healthy": 0.5, "http_404": 0.5}, timeout=1.0, slow_seconds=3.0,
        )  # fmt: skip
        code, _, err = await run_linkcheck(
            *run_args(tmp_path / "cards", tmp_path, "--since", "2020")
        )
        assert code == 1, err  # broken cards found, --fail-on broken by default
        assert not [r for r in web.log if r.path.startswith("/old/")]
        code, _, _ = await run_linkcheck(
            *run_args(tmp_path / "cards", tmp_path, "--since", "2020", "--fail-on", "never")
        )
        assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["run"]["cards_filtered_out"] > 0
    assert report["summary"]["by_status"]["broken"] > 0


async def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    code, _, err = await run_linkcheck("run", "--cards", str(tmp_path / "missing"))
    assert code == 2
    assert err.strip().splitlines() == [
        f"linkcheck: error: cards folder not found: {tmp_path / 'missing'}"
        " (set --cards or cards.path)"
    ]
    code, _, err = await run_linkcheck("run", "--since", "yesterday")
    assert code == 2 and "not a year or ISO date" in err and "Traceback" not in err
    code, _, err = await run_linkcheck("run", "--fail-on", "sometimes")
    assert code == 2 and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("fetch:\n  timout: 3\n")
    code, _, err = await run_linkcheck("run", "--config", str(bad))
    assert code == 2 and "unknown config key fetch.timout" in err
    code, _, err = await run_linkcheck("run", "--resolve", "no-colon")
    assert code == 2 and "Traceback" not in err


async def test_second_run_on_same_store_exits_2_naming_the_first(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        await release.wait()  # the first run stays in flight until the second has been refused
        return web.Response(text="<title>held</title>", content_type="text/html")

    async with serve({"/story": held}) as server:
        write_card(tmp_path / "cards", "held", server.url("/story"))
        args = run_args(tmp_path / "cards", tmp_path, "--timeout", "60", "--retries", "0")
        first = asyncio.create_task(run_linkcheck(*args))
        # the first run holds the store's lock before it sends anything: a request is proof
        await until(
            lambda: bool(server.requests) or first.done(), "the first run never sent a request"
        )
        assert not first.done(), "the first run ended before the second started"
        code, _, err = await run_linkcheck(*args)
        release.set()
        first_code, _, first_err = await first
    assert code == 2, err
    assert "another linkcheck run holds" in err and "pid" in err
    assert first_code == 0, first_err
    # the first run's robots.txt and page; the refused run sent nothing
    assert server.paths() == ["/robots.txt", "/story"]


def write_card(folder: Path, name: str, url: str) -> None:
    """A card titled `name` whose webUrl is `url`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f"---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: {url}\n---\n"
    )


async def test_the_address_guard_blocks_loopback_names_with_no_request_made(
    tmp_path: Path,
) -> None:
    """No --allow-private: `localhost` (the system resolver's answer) and a name pinned to a
    loopback address are blocked before any connection, whatever the URL looks like."""
    async with (
        serve({"/story": ok()}, "127.0.0.1") as local,
        serve({"/story": ok()}, "127.0.0.5") as pinned,
    ):
        cards = tmp_path / "cards"
        write_card(cards, "localhost", local.url("/story", host="localhost"))
        write_card(cards, "pinned", pinned.url("/story", host="news.example"))
        write_card(cards, "literal", pinned.url("/story"))
        code, _, err = await run_linkcheck(
            *run_args(cards, tmp_path, "--resolve", "news.example:127.0.0.5", guard=True)
        )
        assert code == 0, err  # a blocked address is a warning, below --fail-on broken
        assert local.requests == [] and pinned.requests == []
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    found = {c["path"]: [(p["kind"], p["detail"]) for p in c["problems"]] for c in report["cards"]}
    blocked = "is a loopback address; use --allow-private to allow it"
    # the resolver may list ::1 or 127.0.0.1 first for localhost: either is named
    [(kind, detail)] = found.pop("localhost.md")
    assert kind == "blocked_address"
    assert detail in (f"127.0.0.1 {blocked}", f"::1 {blocked}")
    assert found == {
        "pinned.md": [("blocked_address", f"127.0.0.5 {blocked}")],
        "literal.md": [("blocked_address", f"127.0.0.5 {blocked}")],
    }
    assert {c["status"] for c in report["cards"]} == {"warning"}


async def test_report_rebuilt_from_store_without_requests(tmp_path: Path) -> None:
    async with SimWeb(hosts=2, first=80, latency_ms=0) as web:
        generate(tmp_path / "cards", 30, hosts=web.host_ips, port=web.port, seed=5,
                 timeout=1.0, slow_seconds=2.0)  # fmt: skip
        await run_linkcheck(*run_args(tmp_path / "cards", tmp_path, "--timeout", "1"))
        requests_after_run = len(web.log)
        code, _out, err = await run_linkcheck(
            "report", "--state", str(tmp_path / "state.sqlite"), "--out", str(tmp_path / "again")
        )
        assert code == 0, err
        assert len(web.log) == requests_after_run
    first = json.loads((tmp_path / "out" / "report.json").read_text())
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert first == again


@pytest.mark.slow
async def test_second_nightly_run_makes_a_fifth_of_the_requests(tmp_path: Path) -> None:
    """Two consecutive runs over 1,000 generated cards: healthy URLs are reused (max-age),
    failures are checked again, and the second report is complete."""
    log_path = tmp_path / "requests.jsonl"
    async with simweb_process(20, 90, 0, log_path) as (port, ips):
        generate(
            tmp_path / "cards", 1000, hosts=ips, port=port, seed=11,
            timeout=1.0, slow_seconds=3.0, retries=1,
        )  # fmt: skip
        args = run_args(tmp_path / "cards", tmp_path, "--since", "2020", "--timeout", "1",
                        "--retries", "1", "--fail-on", "never")  # fmt: skip
        code, _, err = await run_linkcheck(*args)
        assert code == 0, err
        first = json.loads((tmp_path / "out" / "report.json").read_text())
        code, _, err = await run_linkcheck(*args)
        assert code == 0, err
        second = json.loads((tmp_path / "out" / "report.json").read_text())
    assert second["run"]["requests_made"] * 5 <= first["run"]["requests_made"]
    assert len(second["cards"]) == len(first["cards"]) == first["run"]["cards_checked"]
    assert len(second["urls"]) == len(first["urls"])
    reused = sum(1 for u in second["urls"] if u["reused_from"] == first["run"]["id"])
    healthy = {"ok"}, {"moved_permanently", "image_too_large"}  # not unverified warnings
    assert reused == sum(
        1 for u in first["urls"] if u["status"] in healthy[0] or u["kind"] in healthy[1]
    )
    print(
        f"first run {first['run']['requests_made']} requests, second"
        f" {second['run']['requests_made']} ({reused} results reused)"
    )
