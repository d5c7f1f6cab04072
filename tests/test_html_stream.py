"""report.html is streamed: written row by row from the store, so that memory does not grow with
the number of cards that fail.

The rows are checked against the store itself: the written page is parsed as HTML, its data blob
decoded (URL indexes resolved, the values a problem leaves to its URL or card restored) and
compared, card by card and URL by URL, with what plain SQL reads from the same store file. Memory
is measured on real stores of many failing cards, through the real writer and its real queries.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import tracemalloc
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_html_report import _card, _page, _run, seed

import crawler.report.html_data as html_data
from benchmarks.dashboard_bench import build_store
from crawler.model import FIX_HINTS, Kind, Link, LinkKind
from crawler.report.html_report import write_html_report
from crawler.store.database import Store
from crawler.store.records import FailingCard

# -- reading the page -----------------------------------------------------------------------------


class _DataScript(HTMLParser):
    """The text of <script type="application/json" id="dashboard-data">, as a browser sees it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.found: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = dict(attrs)
        self._inside = tag == "script" and given.get("id") == "dashboard-data"
        if self._inside:
            self.found.append("")
            assert given.get("type") == "application/json"

    def handle_endtag(self, tag: str) -> None:
        self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.found[-1] += data


def page_data(page: str) -> dict[str, Any]:
    parser = _DataScript()
    parser.feed(page)
    parser.close()
    assert len(parser.found) == 1, "exactly one data blob"
    data: dict[str, Any] = json.loads(parser.found[0])
    return data


def decoded_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The blob's rows with URL indexes resolved and each problem's omitted values restored
    from its URL's entry (HTTP status, final URL) or its card (trend, streak)."""
    fields = data["url_fields"]
    urls = [dict(zip(fields, entry, strict=False)) for entry in data["urls"]]
    rows = []
    for row in data["rows"]:
        problems = []
        for p in row["pr"]:
            url = urls[p["u"]] if "u" in p else {}
            problems.append(
                {
                    "field": p["f"], "kind": p["k"], "severity": p["s"], "detail": p["x"],
                    "url": url.get("u"),
                    "http_status": p["c"] if "c" in p else url.get("c"),
                    "final_url": p["fu"] if "fu" in p else url.get("f"),
                    "archive_url": p.get("ar"),
                    "trend": p.get("tr", row.get("tr")),
                    "first_failed_at": p.get("ff", row.get("ff")),
                    "consecutive_failures": p.get("cf", row.get("cf")),
                    "explicit": sorted(k for k in ("tr", "ff", "cf") if k in p),
                }
            )  # fmt: skip
        rows.append(
            {
                "path": row["p"], "title": row["t"], "provider": row["v"],
                "published": row["d"], "status": row["s"], "new": row.get("n") == 1,
                "trend": row.get("tr"), "first_failed_at": row.get("ff"),
                "consecutive_failures": row.get("cf"), "problems": problems,
                "images": [[f, urls[i]["u"], w, h] for f, i, w, h in row.get("im", [])],
            }
        )  # fmt: skip
    return rows


# -- what the store says, by plain SQL --------------------------------------------------------


def _db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def store_rows(path: Path, run_id: int) -> list[dict[str, Any]]:
    """Every card of the run that is not ok, by path, as the page must show it."""
    with _db(path) as db:
        previous = db.execute(
            "SELECT max(id) FROM runs WHERE id < ? AND state = 'finished'", (run_id,)
        ).fetchone()[0]
        cards = db.execute(
            "SELECT * FROM cards WHERE run_id = ? AND status IS NOT NULL AND status != 'ok'"
            " ORDER BY path",
            (run_id,),
        ).fetchall()
        out = []
        for card in cards:
            before = db.execute(
                "SELECT status FROM cards WHERE run_id = ? AND path = ?", (previous, card["path"])
            ).fetchone()
            images = db.execute(
                "SELECT field, url, declared_width, declared_height FROM card_links"
                " WHERE run_id = ? AND path = ? AND link_kind = 'image' ORDER BY ord",
                (run_id, card["path"]),
            ).fetchall()
            out.append(
                {
                    "path": card["path"], "title": card["title"], "provider": card["provider"],
                    "published": card["published"], "status": card["status"],
                    "new": previous is not None and (before is None or before[0] == "ok"),
                    "trend": card["trend"], "first_failed_at": card["first_failed_at"],
                    "consecutive_failures": card["consecutive_failures"] or None,
                    "problems": json.loads(card["problems"] or "[]"),
                    "images": [list(i) for i in images],
                }
            )  # fmt: skip
        return out


SEVERITY_ORDER = ["ok", "warning", "rotted", "broken", "invalid"]


def assert_rows_match_the_store(page: str, store_path: Path, run_id: int) -> dict[str, Any]:
    data = page_data(page)
    shown = decoded_rows(data)
    expected = store_rows(store_path, run_id)
    assert [r["path"] for r in shown] == [r["path"] for r in expected]
    for got, want in zip(shown, expected, strict=True):
        card = want["path"]
        for key in ("title", "provider", "published", "status", "new", "images"):
            assert got[key] == want[key], (card, key)
        for key in ("trend", "first_failed_at", "consecutive_failures"):
            assert got[key] == want[key], (card, key)
        # the worst problem first; otherwise in the card's order
        ranked = sorted(
            want["problems"], key=lambda p: -SEVERITY_ORDER.index(p.get("severity", "ok"))
        )
        assert len(got["problems"]) == len(ranked), card
        for shown_p, stored in zip(got["problems"], ranked, strict=True):
            for key in ("field", "kind", "severity", "url", "http_status", "final_url"):
                assert shown_p[key] == stored.get(key), (card, key)
            assert shown_p["detail"] == (stored.get("detail") or ""), card
            assert shown_p["archive_url"] == stored.get("archive_url"), card
            for key, short in (
                ("trend", "tr"), ("first_failed_at", "ff"), ("consecutive_failures", "cf"),
            ):  # fmt: skip
                if key in stored and stored[key] is not None:
                    assert shown_p[key] == stored[key], (card, key)
                else:
                    assert short not in shown_p["explicit"], (card, key)
    assert_url_table_matches_the_store(data, store_path, run_id)
    return data


def assert_url_table_matches_the_store(data: dict[str, Any], store_path: Path, run: int) -> None:
    """Each URL the rows name is listed once, numbered in the order the rows first name it
    (a row's problems, then its images), with its result in this run."""
    named: list[int] = []
    for row in data["rows"]:
        named += [p["u"] for p in row["pr"] if "u" in p] + [i[1] for i in row.get("im", [])]
    first_seen = list(dict.fromkeys(named))
    assert first_seen == list(range(len(data["urls"])))
    listed = [entry[0] for entry in data["urls"]]
    assert len(set(listed)) == len(listed)
    fields = data["url_fields"]
    hosts: list[str] = []
    with _db(store_path) as db:
        for entry in data["urls"]:
            assert entry[-1] is not None  # trailing nulls are dropped
            got = dict(zip(fields, entry, strict=False))
            result = db.execute(
                "SELECT * FROM url_results WHERE run_id = ? AND url = ?", (run, got["u"])
            ).fetchone()
            host = (result["host"] if result else None) or urlsplit(got["u"]).hostname
            if host is None:  # javascript:alert(3), say: no host to list it under
                assert got.get("h") is None
            else:
                if host not in hosts:
                    hosts.append(host)
                assert data["hosts"][got["h"]] == host
            if result is None:
                assert set(got) <= {"u", "h"}
                continue
            hops = [[h["status"], h["url"], h["location"]] for h in json.loads(result["redirects"])]
            assert got.get("c") == result["http_status"] and got.get("f") == result["final_url"]
            assert got.get("a") == result["attempts"] and got.get("r") == (hops or None)
            assert (got.get("w"), got.get("ht")) == (result["image_width"], result["image_height"])
    assert data["hosts"] == hosts  # numbered in the order the table first names them


# -- stores ---------------------------------------------------------------------------------------


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


# -- tests ----------------------------------------------------------------------------------------

# The byte-for-byte comparison with a frozen copy of the in-memory algorithm this writer replaced
# is gone: the copy imported the writer's own field list, hints, change and run sections, so a bug
# there was in both sides, and the checks below (every row and URL against the store) cover what
# it compared, without sharing code with the writer.


def test_every_row_and_url_of_the_page_is_the_stores(tmp_path: Path) -> None:
    seeded = Store(tmp_path / "seeded.sqlite")
    cases = [(seeded, run_id) for run_id in seed(seeded)]
    cases.append(_shared_urls_store(tmp_path / "shared.sqlite"))
    generated = build_store(tmp_path / "generated.sqlite", n_cards=1200, n_problems=400, seed=7)
    cases.append((Store(tmp_path / "generated.sqlite"), generated))
    for i, (store, run_id) in enumerate(cases):
        page = write_html_report(store, run_id, tmp_path / f"out{i}").read_text("utf-8")
        data = assert_rows_match_the_store(page, store.path, run_id)
        assert data["rows"], "each case has failing cards"
        with _db(store.path) as db:
            run = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        assert data["run"] == {k: run[k] for k in ("id", "state", "started_at", "cards_root")}
        assert data["hints"] == {kind: list(texts) for kind, texts in FIX_HINTS.items()}
    generated_rows = page_data(
        (tmp_path / f"out{len(cases) - 1}" / "report.html").read_text("utf-8")
    )["rows"]
    assert len(generated_rows) == 400


def test_a_card_failing_again_is_new_and_one_still_failing_is_not(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    _first, second = seed(store)
    page = write_html_report(store, second, tmp_path / "out").read_text("utf-8")
    rows = {r["path"]: r for r in decoded_rows(page_data(page))}
    assert rows["b/new.md"]["new"] and not rows["a/still.md"]["new"]
    assert "a/fixed.md" not in rows


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
    real = html_data.failing_cards

    def failing(*args: Any) -> Iterator[FailingCard]:
        rows = real(*args)
        yield next(rows)
        raise RuntimeError("store went away")

    monkeypatch.setattr(html_data, "failing_cards", failing)
    with pytest.raises(RuntimeError, match="store went away"):
        write_html_report(store, run_id, tmp_path / "out")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


# -- memory: real stores, the real writer and its queries -----------------------------------------

# What one failing card costs when held in memory (its record, its row dict, its URLs) is
# several hundred bytes; streamed, nothing is kept per card. The bound allows a tenth of that.
BYTES_PER_EXTRA_ROW = 100


def _peak_while_writing(store_path: Path, run_id: int, out: Path) -> int:
    """The Python heap's peak while the page is written, beyond what was in use before."""
    store = Store(store_path)
    try:
        tracemalloc.start()
        try:
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            path = write_html_report(store, run_id, out)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        store.close()
    assert path.stat().st_size > 0
    return peak - start


def test_the_peak_does_not_grow_with_the_failing_cards(tmp_path: Path) -> None:
    small_n, big_n = 500, 2000
    small = build_store(tmp_path / "small.sqlite", n_cards=small_n, n_problems=small_n, seed=3)
    big = build_store(tmp_path / "big.sqlite", n_cards=big_n, n_problems=big_n, seed=3)
    _peak_while_writing(tmp_path / "small.sqlite", small, tmp_path / "warm")  # imports, templates
    small_peak = _peak_while_writing(tmp_path / "small.sqlite", small, tmp_path / "small")
    big_peak = _peak_while_writing(tmp_path / "big.sqlite", big, tmp_path / "big")
    rows = page_data((tmp_path / "big" / "report.html").read_text("utf-8"))["rows"]
    assert len(rows) == big_n  # every card failing, every one written
    allowed = BYTES_PER_EXTRA_ROW * (big_n - small_n)
    growth = big_peak - small_peak
    assert growth < allowed, f"peak {small_peak:,} B for {small_n} rows, {big_peak:,} B for {big_n}"
