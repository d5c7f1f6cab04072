"""problems.csv and report.junit.xml from a seeded store: they parse, with the right counts."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

from crawler.judge.judging import judge_cards
from crawler.model import (
    CardRecord,
    Disposition,
    Finding,
    ImageInfo,
    Kind,
    Link,
    LinkKind,
    Problem,
    UrlOutcome,
)
from crawler.report.csv_junit import (
    CSV_COLUMNS,
    csv_cell,
    folder_of,
    write_csv_report,
    write_junit_report,
)
from crawler.store.database import Store

AWKWARD_TITLE = 'Commas, "quotes"\nand a new line'
CONTROL_TITLE = "Bell\x07 and escape\x1b in a title"


def _seed(store: Store) -> int:
    run_id = store.begin_run(cards_root="cards", since=None, until=None, config={})
    cards = [
        CardRecord("a/ok.md", Disposition.CHECKED, "Fine", "2021-01-01T00:00:00+00:00", "P",
                   [Link("webUrl", "https://a.test/ok", LinkKind.PAGE)]),
        CardRecord("a/b/broken.md", Disposition.CHECKED, AWKWARD_TITLE, None, "Q",
                   [Link("webUrl", "https://a.test/404", LinkKind.PAGE),
                    Link("images[0].url", "https://cdn.test/i.jpg", LinkKind.IMAGE, 600, 350)]),
        CardRecord("rotted.md", Disposition.CHECKED, "=HYPERLINK(\"http://x\")", None, None,
                   [Link("images[0].url", "https://cdn.test/i.jpg", LinkKind.IMAGE, 640, 360)]),
        CardRecord("w/warn.md", Disposition.CHECKED, CONTROL_TITLE, None, "R",
                   [Link("webUrl", "https://a.test/moved", LinkKind.PAGE)]),
        CardRecord("w/invalid.md", Disposition.INVALID, None,
                   problems=[Problem(Kind.CARD_MISSING_FIELD, "title is missing", "title")]),
    ]  # fmt: skip
    for card in cards:
        store.add_card(run_id, card)
    outcomes = [
        UrlOutcome("https://a.test/ok", LinkKind.PAGE, http_status=200, attempts=1),
        UrlOutcome("https://a.test/404", LinkKind.PAGE, http_status=404, attempts=1,
                   findings=[Finding(Kind.NOT_FOUND, "HTTP 404 Not Found")]),
        UrlOutcome("https://a.test/moved", LinkKind.PAGE, http_status=200, attempts=1,
                   final_url="https://a.test/new",
                   findings=[Finding(Kind.MOVED_PERMANENTLY, "moved to https://a.test/new")]),
        UrlOutcome("https://cdn.test/i.jpg", LinkKind.IMAGE, http_status=200, attempts=1,
                   image=ImageInfo(600, 350, "JPEG")),
    ]  # fmt: skip
    for outcome in outcomes:
        store.add_url_result(run_id, outcome.url.split("/")[2], outcome)
    store.end_run(run_id, state="finished", counters={"cards_found": 5, "cards_checked": 4})
    judge_cards(store, run_id)
    return run_id


def test_problems_csv_one_line_per_problem(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _seed(store)
    path = write_csv_report(store, run_id, tmp_path / "out")
    assert path.name == "problems.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    lines = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert [(r["path"], r["kind"]) for r in lines] == [
        ("a/b/broken.md", "not_found"),
        ("rotted.md", "image_dimension_mismatch"),
        ("w/invalid.md", "card_missing_field"),
        ("w/warn.md", "moved_permanently"),
    ]
    broken = lines[0]
    assert broken["title"] == AWKWARD_TITLE  # quoted, and read back whole
    assert broken["status"] == "broken" and broken["severity"] == "broken"
    assert broken["http_status"] == "404" and broken["url"] == "https://a.test/404"
    assert broken["field"] == "webUrl" and broken["provider"] == "Q"
    assert lines[1]["title"] == '\'=HYPERLINK("http://x")'  # no formula in a spreadsheet
    assert lines[1]["detail"] == "declared 640x360, real 600x350"
    assert lines[3]["final_url"] == "https://a.test/new"
    assert not list(path.parent.glob(".*tmp"))


def test_csv_cell() -> None:
    assert csv_cell(None) == "" and csv_cell(404) == "404"
    assert csv_cell("-1") == "'-1" and csv_cell("@x") == "'@x" and csv_cell("a=b") == "a=b"


def test_junit_one_case_per_card_failures_for_rotted_broken_invalid(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _seed(store)
    path = write_junit_report(store, run_id, tmp_path / "out")
    assert path.name == "report.junit.xml"
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"a/ok.md", "a/b/broken.md", "rotted.md", "w/warn.md", "w/invalid.md"}
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "3", "0")
    assert root.get("tests") == "5" and root.get("failures") == "3"
    assert cases["a/b/broken.md"].get("classname") == "a/b"
    assert cases["rotted.md"].get("classname") == "."
    failed = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failed == {"a/b/broken.md", "rotted.md", "w/invalid.md"}
    failure = cases["a/b/broken.md"].find("failure")
    assert failure is not None and failure.get("type") == "broken"
    message = failure.get("message") or ""
    assert "not_found" in message and "https://a.test/404" in message and "HTTP 404" in message
    assert AWKWARD_TITLE in (failure.text or "")
    assert not suite.findall(".//skipped") and not suite.findall(".//error")
    warn = cases["w/warn.md"]
    assert warn.find("failure") is None
    assert "moved_permanently" in (warn.findtext("system-out") or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["state"] == "finished" and props["cards_root"] == "cards"


def test_junit_survives_control_characters(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.begin_run(cards_root="cards", since=None, until=None, config={})
    store.add_card(
        run_id,
        CardRecord("x.md", Disposition.INVALID, CONTROL_TITLE,
                   problems=[Problem(Kind.CARD_CONTROL_CHARACTER, "title has \x07", "title"),
                             Problem(Kind.CARD_INVALID_FIELD, "bad \x1b date", "published")]),
    )  # fmt: skip
    store.end_run(run_id, state="finished", counters={})
    judge_cards(store, run_id)
    root = ET.parse(write_junit_report(store, run_id, tmp_path)).getroot()
    failure = root.find(".//failure")
    assert failure is not None
    assert "Bell\\x07 and escape\\x1b in a title" in (failure.text or "")
    assert "bad \\x1b date" in (failure.get("message") or "")


def test_folder_of() -> None:
    assert folder_of("site-01/_news/x.md") == "site-01/_news"
    assert folder_of("x.md") == "."
