"""The store, card verdicts and report.json, without the network."""

import json
import os
import stat
from pathlib import Path

import jsonschema
import pytest

from crawler.judge.judging import judge_cards
from crawler.model import (
    CardRecord,
    Disposition,
    Finding,
    Hop,
    ImageInfo,
    Kind,
    Link,
    LinkKind,
    Problem,
    UrlOutcome,
)
from crawler.report.json_report import write_json_report
from crawler.report.schema import SCHEMA_PATH, report_schema
from crawler.store import reports
from crawler.store.database import Store
from crawler.store.schema import SCHEMA_VERSION


def _seed(store: Store) -> int:
    run_id = store.begin_run(
        cards_root="cards", since="2020-01-01T00:00:00+00:00", until=None, config={"x": 1}
    )
    logo = "https://cdn.test/logo.png"
    store.add_card(
        run_id,
        CardRecord(
            path="a/ok.md",
            disposition=Disposition.CHECKED,
            title="Fine",
            provider="P",
            published="2020-01-02T00:00:00+00:00",
            links=[
                Link("webUrl", "https://a.test/1", LinkKind.PAGE),
                Link("provider.images[0].url", logo, LinkKind.IMAGE, 50, 50),
            ],
        ),
    )
    store.add_card(
        run_id,
        CardRecord(
            path="b/bad.md",
            disposition=Disposition.CHECKED,
            title="<b>Bad</b>",
            provider="Q",
            links=[
                Link("webUrl", "https://b.test/gone", LinkKind.PAGE),
                Link("images[0].url", "https://cdn.test/pic.jpg", LinkKind.IMAGE, 600, 350),
                Link("provider.images[0].url", logo, LinkKind.IMAGE, 50, 50),
            ],
            problems=[
                Problem(
                    Kind.RELATIVE_URL_UNRESOLVED, "no base URL", field="provider.x", url="/x.png"
                )
            ],
        ),
    )
    store.add_card(
        run_id,
        CardRecord(
            path="c/invalid.md",
            disposition=Disposition.INVALID,
            title="Broken date",
            problems=[
                Problem(
                    Kind.CARD_INVALID_FIELD,
                    "publishedDateTime is not a date: 'x'",
                    field="publishedDateTime",
                )
            ],
        ),
    )
    store.add_url_result(
        run_id,
        "a.test",
        UrlOutcome(
            "https://a.test/1",
            LinkKind.PAGE,
            http_status=200,
            attempts=1,
            final_url="https://a.test/new",
            redirects=[Hop("https://a.test/1", 301, "https://a.test/new")],
            findings=[Finding(Kind.MOVED_PERMANENTLY, "moved permanently to https://a.test/new")],
        ),
    )
    store.add_url_result(
        run_id,
        "cdn.test",
        UrlOutcome(
            logo, LinkKind.IMAGE, http_status=200, attempts=1, image=ImageInfo(50, 50, "PNG")
        ),
    )
    store.add_url_result(
        run_id,
        "b.test",
        UrlOutcome(
            "https://b.test/gone",
            LinkKind.PAGE,
            http_status=410,
            attempts=1,
            findings=[Finding(Kind.GONE, "HTTP 410 Gone")],
        ),
    )
    store.add_url_result(
        run_id,
        "cdn.test",
        UrlOutcome(
            "https://cdn.test/pic.jpg",
            LinkKind.IMAGE,
            http_status=200,
            attempts=2,
            image=ImageInfo(1200, 630, "JPEG"),
        ),
    )
    store.end_run(
        run_id,
        state="finished",
        counters={
            "cards_found": 4,
            "cards_checked": 2,
            "cards_invalid": 1,
            "cards_filtered_out": 1,
            "urls_unique": 4,
            "requests_made": 5,
        },
    )
    judge_cards(store, run_id)
    return run_id


def test_store_migrates_and_records_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    Store(tmp_path / "s.sqlite").close()  # reopening does not migrate twice


def test_verdicts_are_worst_severity(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _seed(store)
    cards = {r.path: r for r in reports.cards(store, run_id)}
    assert cards["a/ok.md"].status == "warning"
    assert cards["b/bad.md"].status == "broken"
    assert cards["c/invalid.md"].status == "invalid"
    bad = json.loads(cards["b/bad.md"].problems or "[]")
    kinds = {p["kind"]: p for p in bad}
    assert set(kinds) == {"relative_url_unresolved", "gone", "image_dimension_mismatch"}
    assert kinds["image_dimension_mismatch"]["detail"] == "declared 600x350, real 1200x630"
    assert kinds["image_dimension_mismatch"]["field"] == "images[0].url"


def test_the_schema_kinds_are_the_models() -> None:
    """The schema file lists no kind: they are filled from Kind as it is loaded."""
    kind = report_schema()["$defs"]["kind"]
    for member in Kind:
        jsonschema.validate(member.value, kind)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("no_such_kind", kind)
    assert "enum" not in json.loads(SCHEMA_PATH.read_text())["$defs"]["kind"]


def test_report_matches_schema_and_counts(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _seed(store)
    path = write_json_report(store, run_id, tmp_path / "out")
    report = json.loads(path.read_text())
    jsonschema.validate(report, report_schema())
    assert report["summary"]["by_status"] == {
        "ok": 0,
        "unchecked": 0,
        "warning": 1,
        "rotted": 0,
        "broken": 1,
        "invalid": 1,
    }
    assert report["summary"]["by_kind"]["gone"] == 1
    assert report["summary"]["by_host"]["cdn.test"]["urls"] == 2
    assert [c["path"] for c in report["cards"]] == ["a/ok.md", "b/bad.md", "c/invalid.md"]
    assert len(report["urls"]) == 4
    moved = next(u for u in report["urls"] if u["url"] == "https://a.test/1")
    assert moved["redirects"] == [
        {"url": "https://a.test/1", "status": 301, "location": "https://a.test/new"}
    ]
    assert not list((tmp_path / "out").glob(".*tmp"))  # the temp file was renamed away


def test_outcome_round_trips_through_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _seed(store)
    row = next(r for r in reports.url_results(store, run_id) if r.url == "https://cdn.test/pic.jpg")
    outcome = row.as_outcome()
    assert outcome.image == ImageInfo(1200, 630, "JPEG")
    assert outcome.attempts == 2


def test_reports_are_readable_like_any_new_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    path = write_json_report(store, _seed(store), tmp_path / "out")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
