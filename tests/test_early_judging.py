"""Cards judged while the crawl runs (crawler/judge/early.py): a run's verdicts and history are
exactly those of judging every card after the last fetch, and what is set aside is dropped when
the run does not finish or is degraded."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest
from quickrun import crawl, quick_config

import crawler.judge.early
from crawler.config import RotConfig
from crawler.judge.early import EarlyJudge
from crawler.judge.judging import judge_run
from crawler.model import FAILING
from crawler.sim.gencards import generate
from crawler.sim.server import SimWeb
from crawler.store.database import Store
from crawler.store.early import set_aside
from crawler.store.records import CardVerdict

TIME = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00")
MIX = {"healthy": 4.0, "http_404": 1.0, "redirect_301": 1.0, "gonehome": 1.0, "image_png": 1.0}


def card_rows(store: Path) -> dict[str, Any]:
    """Each card's verdict and history as the store keeps them, by run and path; every time
    stamp masked, so that two stores compare."""
    with sqlite3.connect(store) as db:
        cards = db.execute(
            "SELECT run_id, path, status, problems, first_failed_at, consecutive_failures, trend"
            " FROM cards ORDER BY run_id, path"
        ).fetchall()
        states = db.execute("SELECT * FROM card_state ORDER BY path").fetchall()
        left = db.execute("SELECT COUNT(*) FROM early_verdicts").fetchone()[0]
    text = repr({"cards": cards, "states": states, "early_left": left})
    return cast(dict[str, Any], ast.literal_eval(TIME.sub("<time>", text)))


async def two_runs(tmp: Path, sim: SimWeb) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    config = quick_config(tmp, rot={"soft_404_probe": False})
    results = []
    for _ in range(2):  # the second run folds into the first one's history
        result, _report = await crawl(config)
        assert result.state == "finished"
        results.append(result.counters)
    return card_rows(config.state.path), results


async def test_early_verdicts_are_the_verdicts_of_judging_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crawler.judge.early, "PASS_EVERY_S", 0.02)
    async with SimWeb(hosts=3, first=191, latency_ms=30) as sim:
        for name in ("early", "late"):
            generate(
                tmp_path / name / "cards", 120, hosts=sim.host_ips, port=sim.port, seed=5,
                old_share=0.0, mix=MIX, retries=1,
            )  # fmt: skip
        early, early_counters = await two_runs(tmp_path / "early", sim)

        async def never(self: EarlyJudge) -> int:
            return 0

        monkeypatch.setattr(EarlyJudge, "judge_ready", never)
        late, late_counters = await two_runs(tmp_path / "late", sim)
    assert _diff(early["cards"], late["cards"]) == []
    assert _diff(early["states"], late["states"]) == []
    assert early == late
    assert early["early_left"] == 0
    for counters in early_counters:  # most cards are healthy: judged before the last fetch
        assert counters["cards_judged_early"] >= 60
    assert all(counters["cards_judged_early"] == 0 for counters in late_counters)
    statuses = {row[2] for row in early["cards"]}
    assert {"ok", "broken", "rotted", "warning"} <= statuses  # failing ones judged at the end


def _diff(a: list[Any], b: list[Any]) -> list[Any]:
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y][:3]


async def finished_store(tmp: Path) -> tuple[Path, int]:
    """A finished run over a small simulated web: its store, and the run's id."""
    async with SimWeb(hosts=2, first=196, latency_ms=0) as sim:
        generate(
            tmp / "cards", 30, hosts=sim.host_ips, port=sim.port, seed=3, old_share=0.0,
            mix=MIX, retries=1,
        )  # fmt: skip
        config = quick_config(tmp, rot={"soft_404_probe": False})
        result, _report = await crawl(config)
    return config.state.path, result.run_id


def statuses(store: Store, run_id: int) -> dict[str, str]:
    rows = store.db.execute("SELECT path, status FROM cards WHERE run_id = ?", (run_id,))
    return dict(rows.fetchall())


async def test_only_cards_that_do_not_fail_are_set_aside(tmp_path: Path) -> None:
    path, run_id = await finished_store(tmp_path)
    store = Store(path)
    try:
        judged = statuses(store, run_id)
        with store.db as db:  # as before the run's end: no history of it recorded yet
            db.execute("DELETE FROM card_state")
        run = store.run(run_id)
        assert run is not None
        early = EarlyJudge(store, run_id, RotConfig(), at=run.started_at)
        for card_path in judged:
            early.card_stored(card_path)
        kept = await early.judge_ready()
        aside = dict(store.db.execute("SELECT path, status FROM early_verdicts").fetchall())
    finally:
        store.close()
    assert kept == len(aside) == sum(1 for s in judged.values() if s not in FAILING) > 0
    assert aside == {p: s for p, s in judged.items() if s not in FAILING}


@pytest.mark.parametrize("partial", [False, True])
async def test_the_runs_end_takes_what_was_set_aside_only_when_it_finished(
    tmp_path: Path, partial: bool
) -> None:
    """A verdict set aside stands for a finished run; for one that did not finish, every card is
    judged at its end as before, and nothing set aside is left behind."""
    path, run_id = await finished_store(tmp_path)
    store = Store(path)
    try:
        before = statuses(store, run_id)
        card_path = sorted(p for p, s in before.items() if s == "broken")[0]
        set_aside(store, run_id, [CardVerdict(card_path, "ok", "[]", recent="O")])
        run = store.run(run_id)
        assert run is not None
        counters, degraded = judge_run(
            store, run_id, RotConfig(), at=run.started_at, partial=partial
        )
        after = statuses(store, run_id)
        left = store.db.execute("SELECT COUNT(*) FROM early_verdicts").fetchone()[0]
    finally:
        store.close()
    assert not degraded and left == 0
    assert after[card_path] == ("broken" if partial else "ok")
    assert counters.get("cards_judged_early", 0) == (0 if partial else 1)
