"""Issue 11, point 1: an interrupted run never replaces the last complete reports.

The real `linkcheck run` in its own process, against a loopback server: a complete run finds
every page broken; the pages are mended and a second run is stopped by a signal once the server
has seen its first request (an event, never a sleep). Its reports go beside the complete ones,
its unfinished cards are `unchecked`, only re-checked URLs are fixed, trends stay filled in, the
complete dashboard links to the partial one; `--resume` then writes the complete reports.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp import web
from servers import serve

from crawler.config import RotConfig
from crawler.judge.judging import judge_cards
from crawler.model import (
    FAILING,
    UNCHECKED,
    CardRecord,
    Disposition,
    Finding,
    Kind,
    Link,
    LinkKind,
    UrlOutcome,
)
from crawler.report.html_report import write_html_report
from crawler.report.json_report import changes_section, write_json_report
from crawler.report.schema import report_schema
from crawler.store import reports
from crawler.store.database import Store

ROOT = Path(__file__).resolve().parents[1]
CARDS = 24


def write_cards(folder: Path, url_of: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(CARDS):
        (folder / f"c{n:02}.md").write_text(
            f"---\ntitle: c{n:02}\npublishedDateTime: 2021-01-01T00:00:00Z\n"
            f"webUrl: {url_of(f'/p/{n}')}\n---\n"
        )


def cli(tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "crawler.cli", "run", "--cards", str(tmp / "cards"),
        "--out", str(tmp / "out"), "--state", str(tmp / "state.sqlite"), "--no-progress",
        "--log-format", "json", "--allow-private", "--no-archive",
        "--concurrency-per-host", "2", "--rate-per-host", "50", "--timeout", "5", "--retries", "0",
        *extra,
    ]  # fmt: skip


async def run_cli(args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


class Pages:
    """Every page broken (404) until mended; once mended, each request waits at the gate, and
    `seen` is set when the first one arrives: the test signals the run then, and opens the gate
    so that what is in flight finishes within the grace period."""

    def __init__(self) -> None:
        self.mended = False
        self.seen = asyncio.Event()
        self.gate = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if not self.mended:
            return web.Response(status=404)
        self.seen.set()
        await self.gate.wait()
        title = f"c{int(request.match_info['n']):02}"
        return web.Response(text=f"<title>{title}</title>", content_type="text/html")


async def first_request(proc: asyncio.subprocess.Process, pages: Pages) -> None:
    """Wait for the server's first request of the run; fail if the run exits before."""
    seen = asyncio.create_task(pages.seen.wait())
    exited = asyncio.create_task(proc.wait())
    done, _ = await asyncio.wait({seen, exited}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    seen.cancel()
    exited.cancel()
    assert seen in done, "the run made no request (or ended first)"


def read(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    jsonschema.validate(report, report_schema())
    return report


def without_banner(page: str) -> str:
    start = page.index('<div id="partial-link">') + len('<div id="partial-link">')
    return page[:start] + page[page.index("</div>", start) :]


async def test_an_interrupted_run_keeps_the_complete_reports_and_resume_completes_them(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    pages = Pages()
    async with serve({"/p/{n}": pages.handle}) as server:
        write_cards(tmp_path / "cards", server.url)
        proc = await run_cli(cli(tmp_path))
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1, err.decode()  # every card broken
        complete_json = (out / "report.json").read_bytes()
        complete_html = (out / "report.html").read_text()

        pages.mended = True
        proc = await run_cli(cli(tmp_path))
        await first_request(proc, pages)
        proc.send_signal(signal.SIGTERM)
        pages.gate.set()
        stdout, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 143, err.decode()
        assert "report.partial.json" in stdout.decode()

        partial = read(out / "report.partial.json")
        # 1. the complete reports stay: report.json untouched, report.html only gains its banner
        assert (out / "report.json").read_bytes() == complete_json
        banner_page = (out / "report.html").read_text()
        assert without_banner(banner_page) == complete_html
        assert 'href="report.partial.html"' in banner_page and "#2" in banner_page
        assert 'href="report.partial.html"' not in complete_html
        assert "unchecked" in (out / "report.partial.html").read_text()

        # 2. unfinished cards are unchecked, counted, never ok
        assert partial["run"]["state"] == "interrupted"
        healthy = {u["url"] for u in partial["urls"] if u["status"] not in FAILING}
        assert 0 < len(healthy) < CARDS
        statuses = {c["path"]: c["status"] for c in partial["cards"]}
        unchecked = [c for c in partial["cards"] if c["status"] == UNCHECKED]
        assert len(unchecked) == len(partial["cards"]) - len(healthy)
        assert partial["summary"]["by_status"][UNCHECKED] == len(unchecked)
        assert partial["summary"]["by_status"]["ok"] == len(healthy)
        checked_paths = {f"c{int(url.rsplit('/', 1)[1]):02}.md" for url in healthy}
        assert {p for p, s in statuses.items() if s == "ok"} == checked_paths

        # 3. fixed: only problems whose URL this run checked again and found healthy
        fixed = partial["changes"]["fixed"]
        assert {f["url"] for f in fixed} == healthy
        assert all(f["kind"] == "not_found" for f in fixed)
        assert partial["changes"]["new"] == []

        # 4. trends and streaks are filled in: the mended cards are fixed, the others keep
        # the streak the complete run left
        for card in partial["cards"]:
            if card["status"] == "ok":
                assert card["trend"] == "fixed"
            else:
                assert card["consecutive_failures"] == 1
                assert card["first_failed_at"] is not None
        assert all(u["trend"] == "fixed" for u in partial["urls"])

        # --resume completes the run: the complete reports, the partial ones superseded
        proc = await run_cli(cli(tmp_path, "--resume"))
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
    final = read(out / "report.json")
    assert (final["run"]["id"], final["run"]["state"]) == (2, "finished")
    assert final["summary"]["by_status"]["ok"] == CARDS
    assert final["summary"]["by_status"][UNCHECKED] == 0
    assert all(c["trend"] == "fixed" for c in final["cards"])
    assert len(final["changes"]["fixed"]) == CARDS
    assert not (out / "report.partial.json").exists()
    assert not (out / "report.partial.html").exists()
    assert 'href="report.partial.html"' not in (out / "report.html").read_text()


def _card(path: str, url: str) -> CardRecord:
    links = [Link("webUrl", url, LinkKind.PAGE)]
    return CardRecord(path=path, disposition=Disposition.CHECKED, title=path, links=links)


def _result(store: Store, run_id: int, url: str, status: int) -> None:
    findings = [Finding(Kind.NOT_FOUND, "HTTP 404")] if status == 404 else []
    outcome = UrlOutcome(url, LinkKind.PAGE, http_status=status, attempts=1, findings=findings)
    store.add_url_result(run_id, "a.test", outcome)


def two_runs(tmp_path: Path) -> tuple[Store, int, int]:
    """A finished run where a, b and c are broken, then an interrupted one: a's URL is healthy
    again, b's was not reached, c names another URL (healthy)."""
    store = Store(tmp_path / "s.sqlite")
    first = store.begin_run(cards_root="cards", since=None, until=None, config={})
    for name in "abc":
        store.add_card(first, _card(f"{name}.md", f"https://a.test/{name}"))
        _result(store, first, f"https://a.test/{name}", 404)
    judge_cards(store, first, rules=RotConfig(), at="2024-01-01T00:00:00+00:00")
    store.end_run(first, state="finished", counters={})
    second = store.begin_run(cards_root="cards", since=None, until=None, config={})
    store.add_card(second, _card("a.md", "https://a.test/a"))
    store.add_card(second, _card("b.md", "https://a.test/b"))
    store.add_card(second, _card("c.md", "https://a.test/c2"))
    _result(store, second, "https://a.test/a", 200)
    _result(store, second, "https://a.test/c2", 200)
    at = "2024-01-02T00:00:00+00:00"
    judge_cards(store, second, rules=RotConfig(), at=at, partial=True)
    store.end_run(second, state="interrupted", counters={})
    return store, first, second


def test_fixed_means_checked_again_and_healthy_or_no_longer_named(tmp_path: Path) -> None:
    store, first, second = two_runs(tmp_path)
    changes = changes_section(store, second)
    assert [(c["path"], c["url"]) for c in changes["fixed"]] == [
        ("a.md", "https://a.test/a"),
        ("c.md", "https://a.test/c"),
    ]
    statuses = {card.path: card.status for card in reports.cards(store, second)}
    assert statuses == {"a.md": "ok", "b.md": UNCHECKED, "c.md": "ok"}
    # the partial run recorded no history: the card states are still the first run's
    states = store.db.execute("SELECT DISTINCT last_run_id FROM card_state").fetchall()
    assert [tuple(row) for row in states] == [(first,)]
    store.close()


def test_a_complete_dashboard_written_later_links_to_the_newer_partial_one(tmp_path: Path) -> None:
    """`linkcheck report --run 1` after an interrupted run 2: the banner is rendered in."""
    store, first, second = two_runs(tmp_path)
    out = tmp_path / "out"
    assert write_html_report(store, second, out).name == "report.partial.html"
    assert write_json_report(store, second, out).name == "report.partial.json"
    page = write_html_report(store, first, out).read_text()
    assert 'href="report.partial.html"' in page and "#2" in page
    store.close()
