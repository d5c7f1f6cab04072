"""`linkcheck run` and robots.txt, end to end: a real process against the simulated web, whose
request log proves what was and was not requested."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from test_e2e import run_args, run_linkcheck, write_card

from crawler.sim.robots_sites import RobotsFile
from crawler.sim.server import SimWeb
from crawler.sim.wire import RequestRecord

IPS = ["127.0.0.181", "127.0.0.182", "127.0.0.183", "127.0.0.184"]
RULES, DELAY, DOWN, NONE = IPS
FILES = {
    # our group, not "*": /ok/ disallowed but for /ok/a, and where /redirect/ leads
    RULES: RobotsFile(
        "User-agent: *\nDisallow: /\n\nUser-agent: LinkCheck\nDisallow: /ok/\nAllow: /ok/a\n"
        "Disallow: /*-moved$\n"
    ),
    DELAY: RobotsFile("User-agent: *\nCrawl-delay: 1\n"),
    DOWN: RobotsFile(status=503),
    # NONE: the sim's 404
}
CARDS = {
    RULES: ["/ok/a", "/ok/b", "/redirect/302/d"],
    DELAY: ["/ok/1", "/ok/2", "/ok/3"],
    DOWN: ["/ok/x", "/ok/y"],
    NONE: ["/ok/z"],
}
NEVER_FETCHED = {(RULES, "/ok/b"), (RULES, "/ok/d-moved"), (DOWN, "/ok/x"), (DOWN, "/ok/y")}


def write_cards(web: SimWeb, folder: Path) -> None:
    for host, paths in CARDS.items():
        for path in paths:
            name = f"{host}{path}".replace("/", "-").replace(".", "-")
            write_card(folder, name, f"http://{host}:{web.port}{path}")


def robots_counters(state: Path) -> dict[str, Any]:
    with sqlite3.connect(state) as db:
        row = db.execute("SELECT counters FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    robots: dict[str, Any] = json.loads(row[0])["robots"]
    return robots


def requested(log: list[RequestRecord]) -> set[tuple[str, str]]:
    return {(r.host, r.path) for r in log}


async def test_a_run_obeys_robots_txt_and_no_robots_fetches_everything(tmp_path: Path) -> None:
    async with SimWeb(IPS, latency_ms=0, robots=FILES) as web:
        write_cards(web, tmp_path / "cards")
        args = run_args(tmp_path / "cards", tmp_path, "--retries", "0", "--fail-on", "never")
        code, _, err = await run_linkcheck(*args)
        assert code == 0, err
        first = list(web.log)
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        counters = robots_counters(tmp_path / "state.sqlite")

        # the second run on the store: the rules come from it, the 503 is asked again
        web.log.clear()
        code, _, err = await run_linkcheck(*args)
        assert code == 0, err
        again = list(web.log)
        counters_again = robots_counters(tmp_path / "state.sqlite")

        web.log.clear()
        code, _, err = await run_linkcheck(
            *run_args(tmp_path / "cards", tmp_path / "own", "--retries", "0", "--no-robots"),
            "--fail-on",
            "never",
        )
        unguarded = list(web.log)

    # no disallowed URL was requested, each robots.txt once, the rest as usual
    robots_txt = Counter(r.host for r in first if r.path == "/robots.txt")
    assert robots_txt == Counter(IPS)
    assert not requested(first) & NEVER_FETCHED
    assert requested(first) >= {(RULES, "/ok/a"), (RULES, "/redirect/302/d")}
    assert [r.path for r in first if r.host == DOWN] == ["/robots.txt"]

    # Crawl-delay: 1 held between every two requests the host saw
    times = [r.t for r in first if r.host == DELAY]
    # robots.txt, three URLs and the soft 404 probe
    assert len(times) >= 4 and min(b - a for a, b in itertools.pairwise(times)) >= 0.95, times

    # the verdicts, with the rule in the detail
    problems = {
        u["url"].split(str(web.port), 1)[1]: (u["kind"], u["status"])
        for u in report["urls"]
        if u["url"].startswith(f"http://{RULES}") or u["url"].startswith(f"http://{DOWN}")
    }
    assert problems == {
        "/ok/a": (None, "ok"),
        "/ok/b": ("robots_disallowed", "warning"),
        "/redirect/302/d": ("robots_disallowed", "warning"),
        "/ok/x": ("robots_unavailable", "warning"),
        "/ok/y": ("robots_unavailable", "warning"),
    }
    details = [p["detail"] for c in report["cards"] for p in c["problems"]]
    assert any(d.endswith("/robots.txt: Disallow: /ok/") for d in details), details
    moved = f"redirects to http://{RULES}:{web.port}/ok/d-moved, disallowed by"
    assert any(d.startswith(moved) and d.endswith("Disallow: /*-moved$") for d in details)

    assert {host: c["outcome"] for host, c in counters.items()} == {
        RULES: "rules",
        DELAY: "rules",
        DOWN: "unavailable",
        NONE: "missing",
    }
    # /ok/b, the redirect's target, and /ok/a's soft 404 probe (/ok/<probe>): none requested
    assert counters[RULES]["disallowed"] == 3 and counters[DOWN]["disallowed"] == 2
    assert (counters[DELAY]["crawl_delay_s"], counters[DELAY]["interval_s"]) == (1.0, 1.0)
    assert counters[DOWN]["http_status"] == 503

    # second run: the disallowed URLs were checked again, with the store's robots.txt
    assert [r.host for r in again if r.path == "/robots.txt"] == [DOWN]
    assert counters_again[RULES]["cached"] is True and counters_again[RULES]["disallowed"] == 2
    assert not requested(again) & NEVER_FETCHED

    # --no-robots: every URL, no robots.txt
    assert code == 0, err
    assert not [r for r in unguarded if r.path == "/robots.txt"]
    assert requested(unguarded) >= NEVER_FETCHED
    assert robots_counters(tmp_path / "own" / "state.sqlite") == {}
