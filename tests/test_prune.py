"""Retention (`linkcheck prune`, state.keep_runs): stores built by real runs against a loopback
server, pruned, then read again: the latest reports, streaks and first-failed dates, reuse, the
file's size on disk."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from quickrun import crawl, quick_config
from servers import LocalServer, serve

from crawler.cli import main
from crawler.config import Config
from crawler.report.html_overview import trend_points
from crawler.store.database import Store
from crawler.store.lock import RunLock
from crawler.store.prune import store_bytes

PAGES = 150  # healthy pages: enough rows per run for pruning to free whole pages of the file


class Site:
    """Healthy pages titled like their cards, and /story, whose answer the test sets."""

    def __init__(self) -> None:
        self.story_status = 404

    async def handle(self, request: web.Request) -> web.Response:
        name = request.path.strip("/")
        if name == "story" and self.story_status != 200:
            return web.Response(status=self.story_status)
        return web.Response(text=f"<title>{name}</title>", content_type="text/html")


def write_cards(folder: Path, server: LocalServer) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ["story", *(f"p{n}" for n in range(PAGES))]:
        (folder / f"{name}.md").write_text(
            f"---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\n"
            f"webUrl: {server.url('/' + name)}\n---\n"
        )


def config_for(tmp: Path, *, keep_runs: int = 0) -> Config:
    """Healthy results are reused for a week; failing ones are fetched every run."""
    return quick_config(
        tmp,
        rot={"min_runs": 3, "min_days": 0.0, "soft_404_probe": False},
        recheck={"max_age": "7d"},
        state={"keep_runs": keep_runs},
        politeness={"rate_per_host": 2000.0, "concurrency_per_host": 8},
    )


async def store_after_runs(tmp: Path, runs: int, *, keep_runs: int = 0) -> Config:
    """A store that `runs` real crawls of the same cards against one loopback site filled."""
    site = Site()
    async with serve({"/{name}": site.handle}) as server:
        write_cards(tmp / "cards", server)
        config = config_for(tmp, keep_runs=keep_runs)
        for _ in range(runs):
            await crawl(config)
    return config


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def dangling_reuses(path: Path) -> list[tuple[Any, ...]]:
    """Reused results whose source run no longer holds the URL's result."""
    return rows(
        path,
        "SELECT r.run_id, r.url, r.reused_from FROM url_results r WHERE r.reused_from IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM url_results s WHERE s.run_id = r.reused_from"
        " AND s.url = r.url)",
    )


def story_card(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["cards"] if c["path"] == "story.md")


def trend_of(path: Path, run_id: int) -> list[dict[str, Any]]:
    store = Store(path)
    try:
        return trend_points(store, run_id)
    finally:
        store.close()


async def test_prune_keeps_latest_reports_streaks_and_reuse_and_shrinks_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.yaml from the checkout
    site = Site()
    async with serve({"/{name}": site.handle}) as server:
        write_cards(tmp_path / "cards", server)
        config = config_for(tmp_path)
        state = str(config.state.path)
        # run 1 checks every page; runs 2-5 reuse the healthy ones from run 1 and fetch the
        # failing story again each time: a streak that began in run 1
        reports = [(await crawl(config))[1] for _ in range(5)]
        story_url = server.url("/story")
        first_failed = story_card(reports[0])["first_failed_at"]
        assert story_card(reports[-1])["consecutive_failures"] == 5
        chart = trend_of(config.state.path, 5)
        size_before = store_bytes(config.state.path)

        code, out, err = cli(capsys, "prune", "--state", state, "--keep-runs", "1")
        assert (code, err) == (0, "")
        # run 5 is the latest, run 4 what its report compares with: runs 1-3 go
        assert out.startswith("pruned 3 runs (1, 2, 3)")
        assert store_bytes(config.state.path) < size_before
        assert rows(config.state.path, "SELECT DISTINCT run_id FROM cards") == [(4,), (5,)]
        # runs 4 and 5 reuse run 1's healthy results: those rows stay, its story row goes
        kept = rows(config.state.path, "SELECT COUNT(*), MAX(url = ?) FROM url_results"
                    " WHERE run_id = 1", story_url)  # fmt: skip
        assert kept == [(PAGES, 0)]
        assert dangling_reuses(config.state.path) == []

        # the latest reports rebuild identically, the trend chart included
        code, _, err = cli(capsys, "report", "--state", state, "--out", str(tmp_path / "again"))
        assert (code, err) == (0, "")
        again = json.loads((tmp_path / "again" / "report.json").read_text())
        assert again == reports[-1]
        assert trend_of(config.state.path, 5) == chart

        # history still tells the streak, which goes on in the next run
        code, out, _ = cli(capsys, "history", story_url, "--state", state)
        assert code == 0 and out.splitlines()[-1].split()[-1] == "persistent"
        requests_before = len(server.requests)
        _, report = await crawl(config)
        story = story_card(report)
        assert (story["first_failed_at"], story["consecutive_failures"], story["trend"]) == (
            first_failed,
            6,
            "persistent",
        )
        # the healthy pages are still reused from run 1, without a request
        assert set(server.paths()[requests_before:]) == {"/story"}
        reused = {u["reused_from"] for u in report["urls"] if u["url"] != story_url}
        assert reused == {1}
        assert dangling_reuses(config.state.path) == []


async def test_keep_runs_prunes_after_every_finished_run(tmp_path: Path) -> None:
    config = await store_after_runs(tmp_path, 4, keep_runs=2)
    path = config.state.path
    pruned = rows(path, "SELECT id FROM runs WHERE pruned_at IS NOT NULL ORDER BY id")
    assert pruned == [(1,), (2,)]  # after run 4: runs 3 and 4 are the newest two
    assert rows(path, "SELECT DISTINCT run_id FROM cards ORDER BY run_id") == [(3,), (4,)]
    # runs 3 and 4 reuse run 1's healthy results, which stay
    assert rows(path, "SELECT COUNT(*) FROM url_results WHERE run_id = 1") == [(PAGES,)]
    assert dangling_reuses(path) == []
    # the chart still draws every run, the pruned one from its kept counts
    assert [p["run_id"] for p in trend_of(path, 4)] == [1, 2, 3, 4]


def test_prune_of_a_missing_store_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "none" / "state.sqlite"
    code, out, err = cli(capsys, "prune", "--state", str(missing))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "no store here" in err
    assert not missing.parent.exists()  # nothing made


async def test_prune_of_a_store_a_run_holds_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = await store_after_runs(tmp_path, 3)
    with RunLock(config.state.path):
        code, out, err = cli(capsys, "prune", "--state", str(config.state.path), "--keep-runs", "1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "another linkcheck run holds it" in err
    assert rows(config.state.path, "SELECT COUNT(*) FROM runs WHERE pruned_at IS NOT NULL") == [
        (0,)
    ]


async def test_older_than_keeps_recent_runs_whatever_their_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = await store_after_runs(tmp_path, 4)
    state = str(config.state.path)
    db = sqlite3.connect(state)
    with db:  # runs 1 and 2 as if they had run 40 and 20 days ago
        for run_id, days in ((1, 40), (2, 20)):
            then = datetime.now(UTC) - timedelta(days=days)
            db.execute("UPDATE runs SET started_at = ? WHERE id = ?", (then.isoformat(), run_id))
    db.close()
    prune = ["prune", "--state", state, "--keep-runs", "0", "--older-than"]
    code, out, err = cli(capsys, *prune, "30d")
    assert (code, err) == (0, "")
    assert out.startswith("pruned 1 run (1);")
    code, out, err = cli(capsys, *prune, "2w")
    assert out.startswith("pruned 1 run (2);")
    code, out, err = cli(capsys, *prune, "1s")  # 3 is what the latest run, 4, compares with
    assert out.startswith("nothing to prune;")
    code, out, err = cli(capsys, "prune", "--state", state, "--older-than", "soon")
    assert code == 2 and out == "" and err.count("\n") == 1 and "not a duration" in err


async def test_report_of_a_pruned_run_exits_2_in_one_line_and_writes_no_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = await store_after_runs(tmp_path, 3)
    state = str(config.state.path)
    code, out, _ = cli(capsys, "prune", "--state", state, "--keep-runs", "1")
    assert code == 0 and out.startswith("pruned 1 run (1);")
    [(pruned_at,)] = rows(config.state.path, "SELECT pruned_at FROM runs WHERE id = 1")
    out_dir = tmp_path / "pruned-report"
    code, out, err = cli(capsys, "report", "--state", state, "--run", "1", "--out", str(out_dir))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "run 1 was pruned" in err and pruned_at in err
    assert not out_dir.exists()  # no report, not even its folder
    # a kept run still reports
    code, _, err = cli(capsys, "report", "--state", state, "--run", "3", "--out", str(out_dir))
    assert (code, err) == (0, "")
