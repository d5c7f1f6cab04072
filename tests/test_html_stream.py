"""report.html is streamed: the same page as the in-memory rendering it replaced, written row by
row, so that memory does not grow with the number of cards that fail."""

from __future__ import annotations

import json
import os
import re
import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_html_report import _card, _page, _run, seed

import crawler.report.html_report as html_report
from benchmarks.dashboard_bench import build_store
from crawler.models import Link, LinkKind
from crawler.report.html_report import (
    ARCHIVE_HINT,
    FIX_HINTS,
    URL_FIELDS,
    render_html,
    script_json,
    status_changes,
    write_html_report,
)
from crawler.report.json_report import run_section
from crawler.store import Store
from crawler.verdicts import STATUS_LABELS, Kind

# -- the in-memory algorithm the page was built with before it was streamed (236afe3), kept as
# the reference the streamed blob must equal byte for byte ----------------------------------

_RANK = {label: i for i, label in enumerate(STATUS_LABELS)}
_EXTRAS = {
    "trend": "tr",
    "first_failed_at": "ff",
    "consecutive_failures": "cf",
    "archive_url": "ar",
}


def _ref_host_of(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _ref_optional(row: Any, name: str) -> Any:
    return row[name] if name in row.keys() else None  # noqa: SIM118


class _RefUrls:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.found: list[dict[str, Any]] = []
        self.hosts: dict[str, int] = {}

    def ref(self, url: str) -> int:
        if url not in self.index:
            self.index[url] = len(self.found)
            self.found.append({"u": url})
        return self.index[url]

    def fill(self, store: Store, run_id: int) -> None:
        for url, i in self.index.items():
            rows = store.rows(
                "SELECT host, http_status, final_url, redirects, attempts, image_width,"
                " image_height FROM url_results WHERE run_id = ? AND url = ?",
                (run_id, url),
            )
            for row in rows:
                hops = [
                    [h["status"], h["url"], h["location"]] for h in json.loads(row["redirects"])
                ]
                self.found[i].update(
                    h=row["host"], c=row["http_status"], f=row["final_url"], a=row["attempts"],
                    r=hops or None, w=row["image_width"], ht=row["image_height"],
                )  # fmt: skip

    def entries(self) -> list[list[Any]]:
        out = []
        for entry in self.found:
            host = entry.get("h") or _ref_host_of(entry["u"])
            if host is not None:
                entry["h"] = self.hosts.setdefault(host, len(self.hosts))
            values = [entry.get(name) for name in URL_FIELDS]
            while values and values[-1] is None:
                values.pop()
            out.append(values)
        return out


def _ref_problem(problem: dict[str, Any], urls: _RefUrls) -> dict[str, Any]:
    out: dict[str, Any] = {
        "f": problem.get("field"),
        "k": problem.get("kind"),
        "s": problem.get("severity"),
        "x": problem.get("detail") or "",
    }
    if problem.get("url"):
        out["u"] = urls.ref(str(problem["url"]))
    out["c"] = problem.get("http_status")
    out["fu"] = problem.get("final_url")
    for key, short in _EXTRAS.items():
        if problem.get(key) is not None:
            out[short] = problem[key]
    return out


def _ref_row(card: Any, images: list[Any], urls: _RefUrls, new: set[str]) -> dict[str, Any]:
    problems = json.loads(card["problems"] or "[]")
    problems.sort(key=lambda p: -_RANK.get(p.get("severity"), 0))
    row: dict[str, Any] = {
        "p": card["path"], "t": card["title"], "v": card["provider"], "d": card["published"],
        "s": card["status"], "pr": [_ref_problem(p, urls) for p in problems],
    }  # fmt: skip
    for column, short in (("first_failed_at", "ff"), ("trend", "tr")):
        if _ref_optional(card, column) is not None:
            row[short] = card[column]
    if _ref_optional(card, "consecutive_failures"):
        row["cf"] = card["consecutive_failures"]
    if card["path"] in new:
        row["n"] = 1
    if images:
        row["im"] = [
            [i["field"], urls.ref(i["url"]), i["declared_width"], i["declared_height"]]
            for i in images
        ]
    return row


def _reference_blob(store: Store, run_id: int) -> dict[str, Any]:
    new = status_changes(store, run_id)["new"]
    urls = _RefUrls()
    rows = []
    for card in store.rows(
        "SELECT * FROM cards WHERE run_id = ? AND status IS NOT NULL AND status != 'ok'"
        " ORDER BY path",
        (run_id,),
    ):
        images = store.rows(
            "SELECT field, url, declared_width, declared_height FROM card_links WHERE run_id = ?"
            " AND path = ? AND link_kind = 'image' ORDER BY ord",
            (run_id, card["path"]),
        )
        rows.append(_ref_row(card, images, urls, new))
    urls.fill(store, run_id)
    for row in rows:
        for problem in row["pr"]:
            known = urls.found[problem["u"]] if "u" in problem else {}
            for short, name in (("c", "c"), ("fu", "f")):
                if problem[short] == known.get(name):
                    del problem[short]
            for short in ("tr", "ff", "cf"):
                if short in problem and problem[short] == row.get(short):
                    del problem[short]
    entries = urls.entries()
    run = run_section(store, run_id)
    return {
        "url_fields": list(URL_FIELDS),
        "hosts": list(urls.hosts),
        "urls": entries,
        "rows": rows,
        "run": {k: run[k] for k in ("id", "state", "started_at", "cards_root")},
        "statuses": list(STATUS_LABELS),
        "previous_run": status_changes(store, run_id)["previous_run"],
        "hints": {kind: list(texts) for kind, texts in FIX_HINTS.items()},
        "archive_hint": ARCHIVE_HINT,
    }


# -- helpers --------------------------------------------------------------------------------

_BLOB = re.compile(r'<script type="application/json" id="dashboard-data">(.*?)</script>', re.S)


def _blob_text(page: str) -> str:
    match = _BLOB.search(page)
    assert match, "the data blob is missing"
    return match.group(1)


def _undated(page: str) -> str:
    return re.sub(r"Generated [^<]*? by linkcheck", "Generated by linkcheck", page)


def _shared_urls_store(path: Path) -> tuple[Store, int]:
    """Cards sharing URLs (one image on three cards, one page on two) and a URL with no result:
    the URL table numbers each once, in the order the rows first name it."""
    store = Store(path)
    image = "https://cdn.test/shared.jpg"
    shared_image = [Link("images[0].url", image, LinkKind.IMAGE, 10, 10)]
    run_id = _run(
        store,
        [
            _card("a.md", "A", "https://x.test/gone", links=list(shared_image)),
            _card("b.md", "B & <b>", "https://x.test/gone", links=list(shared_image)),
            _card("c.md", "C", "https://y.test/none", links=list(shared_image)),
            _card("d.md", "D", "https://z.test/ok"),
        ],
        [
            _page("https://x.test/gone", 410, Kind.GONE),
            _page("https://z.test/ok", 200),
            _page(image, 404, Kind.NOT_FOUND),
        ],  # y.test/none has no result: its host comes from the URL
    )
    return store, run_id


# -- tests ----------------------------------------------------------------------------------


def test_the_blob_is_byte_for_byte_the_in_memory_one(tmp_path: Path) -> None:
    stores: list[tuple[Store, int]] = []
    seeded = Store(tmp_path / "seeded.sqlite")
    stores += [(seeded, run_id) for run_id in seed(seeded)]
    stores.append(_shared_urls_store(tmp_path / "shared.sqlite"))
    generated = build_store(tmp_path / "generated.sqlite", n_cards=1200, n_problems=400, seed=7)
    stores.append((Store(tmp_path / "generated.sqlite"), generated))
    for i, (store, run_id) in enumerate(stores):
        page = write_html_report(store, run_id, tmp_path / f"out{i}").read_text("utf-8")
        assert _blob_text(page) == str(script_json(_reference_blob(store, run_id)))
        assert _undated(render_html(store, run_id)) == _undated(page)  # the same, in memory


def test_the_page_is_written_like_any_new_file(tmp_path: Path) -> None:
    store, run_id = _shared_urls_store(tmp_path / "s.sqlite")
    path = write_html_report(store, run_id, tmp_path / "out")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no spool left behind


def test_a_failure_midway_keeps_the_previous_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = _shared_urls_store(tmp_path / "s.sqlite")
    path = write_html_report(store, run_id, tmp_path / "out")
    before = path.read_bytes()
    real = html_report._problem_rows

    def failing(*args: Any) -> Iterator[tuple[Any, list[Any]]]:
        rows = real(*args)
        yield next(rows)
        raise RuntimeError("store went away")

    monkeypatch.setattr(html_report, "_problem_rows", failing)
    with pytest.raises(RuntimeError, match="store went away"):
        write_html_report(store, run_id, tmp_path / "out")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


# -- memory: rows from a fake source, made on the fly, so that only the writer can keep them ---


class _Pulls:
    """How many rows were pulled, and the Python heap in use at the 100th pull and its most at a
    later one (kept as three numbers, so that recording does not itself grow the heap)."""

    def __init__(self) -> None:
        self.count = 0
        self.at_100 = 0
        self.most_after = 0

    def record(self) -> None:
        self.count += 1
        in_use = tracemalloc.get_traced_memory()[0]
        if self.count == 100:
            self.at_100 = in_use
        if self.count >= 100:
            self.most_after = max(self.most_after, in_use)


def _fake_rows(n: int, pulls: _Pulls) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """n failing cards, each with its own page and image (on 8 hosts) and a long title; each
    pull is recorded before the card is made."""
    for i in range(n):
        pulls.record()
        host = f"h{i % 8}.test"
        problems = [
            {"field": "webUrl", "url": f"https://{host}/news/{i}", "kind": "not_found",
             "severity": "broken", "detail": "HTTP 404", "http_status": 404},
            {"field": "images[0].url", "url": f"https://img.{host}/{i}.jpg",
             "kind": "image_dimension_mismatch", "severity": "warning",
             "detail": "declared 1200x630, real 600x400", "http_status": 200},
        ]  # fmt: skip
        card = {
            "path": f"site/_news/card-{i:06d}.md",
            "title": f"Card number {i} about a subject worth a rather long title " * 3,
            "provider": f"Provider {i % 5}",
            "published": "2021-05-01T00:00:00+00:00",
            "status": "broken",
            "problems": json.dumps(problems),
            "previous_status": None,
        }
        image = {"field": "images[0].url", "url": problems[1]["url"], "declared_width": 1200,
                 "declared_height": 630}  # fmt: skip
        yield card, [image]


def _traced_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int) -> tuple[_Pulls, int]:
    """Write a page of n fake rows; the pulls, and the heap's peak while writing (beyond what
    was in use at the start)."""
    store = Store(tmp_path / f"s{n}.sqlite")
    run_id = _run(store, [_card("a.md", "A", "https://a.test/")], [_page("https://a.test/", 200)])
    pulls = _Pulls()
    monkeypatch.setattr(html_report, "_problem_rows", lambda *_: _fake_rows(n, pulls))
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        path = write_html_report(store, run_id, tmp_path / f"out{n}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(json.loads(_blob_text(path.read_text("utf-8")))["rows"]) == n
    return pulls, peak - start


def test_rows_are_written_as_they_are_pulled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pulls, _peak = _traced_write(tmp_path, monkeypatch, 3000)
    assert pulls.count == 3000  # pulled once each
    # Kept in memory, 2,900 rows would be ~8 MB by the last pull; written out, nothing grows.
    growth = pulls.most_after - pulls.at_100
    assert growth < 256 * 1024, f"{growth:,} bytes more in use after 2,900 more rows"


def test_the_peak_does_not_grow_with_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the URL table too: 4,000 more rows name 8,000 more URLs
    _, small = _traced_write(tmp_path, monkeypatch, 1000)
    _, big = _traced_write(tmp_path, monkeypatch, 5000)
    assert big - small < 512 * 1024, f"peak {small:,} bytes for 1,000 rows, {big:,} for 5,000"
