"""How report.html copes with a big corpus: 100,000 cards, 20,000 of them with problems.

Builds a synthetic store (rows written straight to SQLite, no crawl: a few seconds), writes
report.html, opens it from file:// in headless Chromium (Debian's /usr/bin/chromium through
Playwright) and prints: the time to write the page, its size, the time to the first render of the
problem table, and the time for a filter and a search to apply (the target for both: 2 s).
Prints the figures only; it asserts nothing.

    .venv/bin/python -m benchmarks.dashboard_bench [--cards 100000] [--problems 20000]
        [--out benchmarks/out/dashboard]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crawler.model import Kind
from crawler.report.html_report import write_html_report
from crawler.store.database import Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip
PROVIDERS = [f"Provider {chr(65 + i)}" for i in range(14)]
WORDS = (
    "cloud", "model", "network", "platform", "sensor", "robot", "portal", "database", "browser",
    "chip", "startup", "camera", "assistant", "pipeline", "dashboard", "engine", "runtime",
    "service", "toolkit", "framework", "satellite", "battery",
)  # fmt: skip
# (kind, field) of the synthetic problems, drawn with these weights
PROBLEMS: list[tuple[Kind, str, int]] = [
    (Kind.NOT_FOUND, "webUrl", 30),
    (Kind.GONE, "webUrl", 8),
    (Kind.SERVER_ERROR, "webUrl", 8),
    (Kind.TIMEOUT, "ampWebUrl", 6),
    (Kind.DNS_ERROR, "webUrl", 5),
    (Kind.NOT_AN_IMAGE, "images[0].url", 4),
    (Kind.IMAGE_DIMENSION_MISMATCH, "images[0].url", 14),
    (Kind.SOFT_404, "webUrl", 4),
    (Kind.REDIRECT_TO_HOME, "webUrl", 4),
    (Kind.MOVED_PERMANENTLY, "webUrl", 12),
    (Kind.RATE_LIMITED, "cdnAmpWebUrl", 3),
    (Kind.CARD_MISSING_FIELD, "publishedDateTime", 2),
]
STATUS_OF_HTTP = {Kind.NOT_FOUND: 404, Kind.GONE: 410, Kind.SERVER_ERROR: 500}


def build_store(path: Path, n_cards: int, n_problems: int, seed: int = 1) -> int:
    """Two finished runs of n_cards cards; the second has n_problems cards with problems."""
    rng = random.Random(seed)
    store = Store(path)
    db = store.db
    hosts = [f"news{i:03d}.example" for i in range(250)]
    weights = [w for _, _, w in PROBLEMS]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous = _run(store, start - timedelta(days=7))
    run_id = _run(store, start)
    failing = set(rng.sample(range(n_cards), n_problems))
    cards: list[tuple[Any, ...]] = []
    before: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    urls: list[tuple[Any, ...]] = []
    now = start.isoformat()
    for i in range(n_cards):
        host = hosts[i % len(hosts)] if rng.random() < 0.8 else rng.choice(hosts[:20])
        card_path = (
            f"site-{i % 40:02d}/_news/2021-{i % 12 + 1:02d}-{i % 28 + 1:02d}-card-{i:06d}.md"
        )
        title = (
            f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} meets the {rng.choice(WORDS)}"
        )
        provider = rng.choice(PROVIDERS)
        published = (start - timedelta(days=rng.randrange(1500))).isoformat()
        web = f"https://{host}/news/{i}"
        image = f"https://img.{host}/{i}.jpg"
        amp = f"https://{host}/amp/{i}"
        problems: list[dict[str, Any]] = []
        status = "ok"
        statuses = {web: "ok", image: "ok", amp: "ok"}
        if i in failing:
            for _ in range(1 if rng.random() < 0.8 else 2):
                kind, field, _w = rng.choices(PROBLEMS, weights)[0]
                problems.append(_problem(kind, field, web, image, amp, i))
                if problems[-1]["url"] in statuses:
                    statuses[problems[-1]["url"]] = kind.severity.label
            status = max(Kind(p["kind"]).severity for p in problems).label
        problems_json = json.dumps(problems)
        streak = (now, 1, "new") if status in ("rotted", "broken") else (None, None, None)
        cards.append(
            (run_id, card_path, "checked", title, published, provider, "[]", status, problems_json,
             *streak)
        )  # fmt: skip
        was = status if rng.random() < 0.95 else "ok"
        before.append(
            (previous, card_path, "checked", title, published, provider, "[]", was,
             problems_json if was != "ok" else "[]", None, None, None)
        )  # fmt: skip
        links += [
            (run_id, card_path, 0, "webUrl", web, "page", None, None),
            (run_id, card_path, 1, "ampWebUrl", amp, "page", None, None),
            (run_id, card_path, 2, "images[0].url", image, "image", 1200, 630),
        ]
        for url, link_kind in ((web, "page"), (amp, "page"), (image, "image")):
            is_image = link_kind == "image"
            real = (600, 400) if statuses[url] == "rotted" else (1200, 630)
            width, height = real if is_image else (None, None)
            content_type = "image/jpeg" if is_image else "text/html"
            urls.append(
                (run_id, url, urlhost(url), link_kind, statuses[url], None, "[]", 200, None, "[]",
                 1, 12.5, content_type, 1000, width, height, "JPEG" if is_image else None, None,
                 None, None, now, None)
            )  # fmt: skip
    with db:
        db.execute("BEGIN")
        card_sql = (
            "INSERT INTO cards (run_id, path, disposition, title, published, provider,"
            " card_problems, status, problems, first_failed_at, consecutive_failures, trend)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        db.executemany(card_sql, cards)
        db.executemany(card_sql, before)
        db.executemany("INSERT INTO card_links VALUES (?, ?, ?, ?, ?, ?, ?, ?)", links)
        db.executemany(
            "INSERT INTO url_results (run_id, url, host, link_kind, status, kind, findings,"
            " http_status, final_url, redirects, attempts, elapsed_ms, content_type, bytes_read,"
            " image_width, image_height, image_format, title, etag, last_modified, checked_at,"
            " reused_from) VALUES (" + ", ".join("?" * 22) + ")",
            urls,
        )
    counters = {"cards_found": n_cards, "cards_checked": n_cards, "requests_made": len(urls)}
    for run in (previous, run_id):
        store.end_run(run, state="finished", counters=counters)
    store.close()
    return run_id


def urlhost(url: str) -> str:
    return url.split("/")[2]


def _run(store: Store, started: datetime) -> int:
    run_id = store.begin_run(cards_root="cards", since="2020-01-01", until=None, config={})
    store.db.execute("UPDATE runs SET started_at = ? WHERE id = ?", (started.isoformat(), run_id))
    return run_id


def _problem(kind: Kind, field: str, web: str, image: str, amp: str, i: int) -> dict[str, Any]:
    url = {"webUrl": web, "images[0].url": image, "ampWebUrl": amp}.get(field, web)
    detail = {
        Kind.IMAGE_DIMENSION_MISMATCH: "declared 1200x630, real 600x400",
        Kind.MOVED_PERMANENTLY: f"moved permanently to {web}-moved",
        Kind.CARD_MISSING_FIELD: "publishedDateTime is missing",
    }.get(kind, kind.value.replace("_", " "))
    return {
        "field": field,
        "url": None if kind is Kind.CARD_MISSING_FIELD else url,
        "kind": kind.value,
        "severity": kind.severity.label,
        "http_status": STATUS_OF_HTTP.get(kind, 200 if kind.severity.label != "broken" else None),
        "detail": detail,
        "final_url": f"{web}-moved" if kind is Kind.MOVED_PERMANENTLY else None,
    }


def _first_render(page: Any, url: str) -> dict[str, float]:
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector("#rows tr[data-index]", timeout=60_000)
    wall = time.perf_counter() - started
    steps = json.loads(page.get_attribute("html", "data-timings") or "{}")
    return {
        "wall_s": wall,  # from Playwright's goto to the first row in the DOM
        "in_page_s": steps.get("ready", 0) / 1e3,  # from the navigation start, by the page clock
        "script_start_s": steps.get("start", 0) / 1e3,  # the HTML (and the JSON) parsed
        "json_parse_s": (steps.get("parsed", 0) - steps.get("start", 0)) / 1e3,
        "prepare_s": (steps.get("prepared", 0) - steps.get("parsed", 0)) / 1e3,
        "table_s": (steps.get("ready", 0) - steps.get("prepared", 0)) / 1e3,
    }


def measure_browser(html: Path) -> dict[str, Any]:
    """A cold load (the browser's first page), a warm one, then filter, search, sort, detail."""
    from playwright.sync_api import sync_playwright

    url = html.resolve().as_uri()
    figures: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        figures["cold"] = _first_render(page, url)
        page.close()
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        figures["warm"] = _first_render(page, url)
        figures["rows"] = int(page.get_attribute("#count", "data-count") or 0)

        def timed(action: str) -> float:
            before = page.get_attribute("#table", "data-renders")
            t0 = time.perf_counter()
            page.evaluate(action)
            page.wait_for_function(
                "b => document.getElementById('table').dataset.renders !== b", arg=before
            )
            return time.perf_counter() - t0

        figures["filter_s"] = timed(
            "(() => { const s = document.getElementById('f-kind'); s.value = 'not_found';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        figures["filtered_rows"] = int(page.get_attribute("#count", "data-count") or 0)
        figures["search_s"] = timed(
            "(() => { const q = document.getElementById('q'); q.value = 'cloud engine';"
            " q.dispatchEvent(new Event('input')); })()"
        )  # includes the 120 ms the search box waits for typing to pause
        figures["searched_rows"] = int(page.get_attribute("#count", "data-count") or 0)
        figures["sort_s"] = timed("document.querySelector('th[data-key=published] button').click()")
        figures["reset_s"] = timed("document.getElementById('reset').click()")
        figures["last_page_s"] = timed(
            "(() => { location.hash = '#page=' + 1e9; })()"
        )  # hashchange: the fragment drives the view
        t0 = time.perf_counter()
        page.locator("#rows tr[data-index]").first.click()
        page.wait_for_selector("dialog#detail[open]")
        figures["open_detail_s"] = time.perf_counter() - t0
        figures["js_heap_mb"] = page.evaluate("performance.memory.usedJSHeapSize") / 2**20
        browser.close()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard_bench")
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--problems", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/dashboard"))
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    t0 = time.perf_counter()
    run_id = build_store(args.out / "state.sqlite", args.cards, args.problems)
    built = time.perf_counter() - t0
    store = Store(args.out / "state.sqlite")
    t0 = time.perf_counter()
    html = write_html_report(store, run_id, args.out)
    written = time.perf_counter() - t0
    store.close()
    print(f"store: {args.cards:,} cards, {args.problems:,} with problems, built in {built:.1f} s")
    print(f"report.html: written in {written:.2f} s, {html.stat().st_size / 2**20:.1f} MiB")
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: no browser figures (apt-get install chromium)")
        return 0
    try:
        figures = measure_browser(html)
    except ImportError:
        print("playwright is not installed: no browser figures (pip install playwright)")
        return 0
    print(f"rows in the table: {figures['rows']:,}")
    for name in ("cold", "warm"):
        f = figures[name]
        print(
            f"first render of the table, {name} browser: {f['wall_s']:.2f} s"
            f" ({f['in_page_s']:.2f} s by the page clock: HTML and JSON parsed at"
            f" {f['script_start_s']:.2f} s, JSON.parse {f['json_parse_s']:.2f} s, rows prepared"
            f" {f['prepare_s']:.2f} s, controls and first page {f['table_s']:.2f} s)  [target 2 s]"
        )
    both = figures["filter_s"] + figures["search_s"]
    print(
        f"filter kind=not_found: {figures['filter_s']:.3f} s ({figures['filtered_rows']:,} rows);"
        f" then search 'cloud engine': {figures['search_s']:.3f} s, with the 0.12 s pause for"
        f" typing ({figures['searched_rows']:,} rows); both: {both:.2f} s  [target 2 s]"
    )
    print(
        f"sort by published: {figures['sort_s']:.3f} s; reset: {figures['reset_s']:.3f} s;"
        f" last page by fragment: {figures['last_page_s']:.3f} s;"
        f" open a detail: {figures['open_detail_s']:.3f} s; JS heap {figures['js_heap_mb']:.0f} MiB"
    )
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
