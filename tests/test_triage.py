"""What to fix first, without a browser: who causes the broken and rotted cards (counted in
cards, not URLs), kinds worst first in report.json and on the page, the fix `linkcheck fix`
would make in each card's row, the trend's one-run sentence and a footer naming only files that
are there. The page itself is checked in Chromium by tests/test_triage_browser.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from crawler.fix.corrections import NeedsPerson, plan_card
from crawler.judge.judging import judge_cards
from crawler.model import CardRecord, Disposition, Finding, Kind, Link, LinkKind, UrlOutcome
from crawler.report.csv_junit import write_csv_report, write_junit_report
from crawler.report.html_overview import status_changes
from crawler.report.html_report import write_html_report
from crawler.report.json_report import write_json_report
from crawler.report.triage import Culprit, fix_first, kinds_by_severity
from crawler.store.database import Store


def _outcome(url: str, status: int, kind: Kind | None = None, **extra: Any) -> UrlOutcome:
    link_kind = LinkKind.IMAGE if "/img/" in url else LinkKind.PAGE
    findings = [Finding(kind, f"HTTP {status}")] if kind else []
    return UrlOutcome(url, link_kind, http_status=status, attempts=1, findings=findings, **extra)


def _card(path: str, provider: str | None, *links: tuple[str, str]) -> CardRecord:
    return CardRecord(
        path=path,
        disposition=Disposition.CHECKED,
        title=path,
        provider=provider,
        published="2021-05-01T00:00:00+00:00",
        links=[
            Link(field, url, LinkKind.IMAGE if "/img/" in url else LinkKind.PAGE)
            for field, url in links
        ],
    )


def _run(store: Store, cards: list[CardRecord], outcomes: list[UrlOutcome]) -> int:
    run_id = store.begin_run(cards_root="cards", since=None, until=None, config={})
    for card in cards:
        store.add_card(run_id, card)
    for outcome in outcomes:
        store.add_url_result(run_id, outcome.url.split("/")[2], outcome)
    store.end_run(run_id, state="finished", counters={"cards_found": len(cards)})
    judge_cards(store, run_id)
    return run_id


SHARED_IMAGE = "https://cdn.test/img/dead.jpg"


def seed(store: Store) -> int:
    """cdn.test has one dead image shared by three cards; many.test has three dead pages, all in
    one card; mixed.test breaks one card and rots another; warn.test only warns."""
    cards = [
        _card("a.md", "Alpha", ("webUrl", "https://ok.test/a"), ("images[0].url", SHARED_IMAGE)),
        _card("b.md", "Alpha", ("webUrl", "https://ok.test/b"), ("images[0].url", SHARED_IMAGE)),
        _card("c.md", None, ("webUrl", "https://ok.test/c"), ("images[0].url", SHARED_IMAGE)),
        _card(
            "d.md",
            "Beta",
            ("webUrl", "https://many.test/1"),
            ("ampWebUrl", "https://many.test/2"),
            ("originalUrl", "https://many.test/3"),
        ),
        _card(
            "e.md",
            "Beta",
            ("webUrl", "https://mixed.test/gone"),
            ("images[0].url", "https://mixed.test/img/wrong.jpg"),
        ),
        _card("f.md", "Gamma", ("webUrl", "https://mixed.test/soft")),
        _card("g.md", "Gamma", ("webUrl", "https://warn.test/moved")),
    ]
    outcomes = [
        *(_outcome(f"https://ok.test/{p}", 200) for p in "abc"),
        _outcome(SHARED_IMAGE, 404, Kind.NOT_FOUND),
        *(_outcome(f"https://many.test/{n}", 500, Kind.SERVER_ERROR) for n in (1, 2, 3)),
        _outcome("https://mixed.test/gone", 410, Kind.GONE),
        _outcome("https://mixed.test/img/wrong.jpg", 200, Kind.IMAGE_DIMENSION_MISMATCH),
        _outcome("https://mixed.test/soft", 200, Kind.SOFT_404),
        _outcome(
            "https://warn.test/moved",
            200,
            Kind.MOVED_PERMANENTLY,
            final_url="https://warn.test/new",  # the judge suggests it for the card
        ),
    ]
    return _run(store, cards, outcomes)


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Store, int]:
    store = Store(tmp_path / "state.sqlite")
    return store, seed(store)


def test_hosts_and_providers_are_ranked_by_the_cards_they_break(
    seeded: tuple[Store, int],
) -> None:
    store, run_id = seeded
    ranked = fix_first(store, run_id)
    assert ranked.hosts == [
        Culprit("cdn.test", broken=3, rotted=0),  # one URL, three cards
        Culprit("mixed.test", broken=1, rotted=1),  # e.md broken there (its rot not twice)
        Culprit("many.test", broken=1, rotted=0),  # three URLs, one card
    ]  # warn.test only warns, ok.test is fine: neither is charged
    assert ranked.providers == [
        Culprit("Alpha", broken=2, rotted=0),
        Culprit("Beta", broken=2, rotted=0),
        Culprit("", broken=1, rotted=0),  # c.md names no provider
        Culprit("Gamma", broken=0, rotted=1),
    ]


def test_kinds_are_listed_worst_severity_first_then_by_cards() -> None:
    counts = {
        "bot_blocked": 32,
        "moved_permanently": 4,
        "soft_404": 3,
        "not_found": 2,
        "timeout": 2,
        "card_parse_error": 1,
        "a_kind_from_the_future": 9,
    }
    assert [kind for kind, _ in kinds_by_severity(counts)] == [
        "card_parse_error",  # invalid
        "not_found",  # broken, by cards then by name
        "timeout",
        "soft_404",  # rotted
        "bot_blocked",  # warnings, by cards
        "a_kind_from_the_future",  # a kind this version does not know counts as a warning
        "moved_permanently",
    ]


def test_report_json_lists_kinds_worst_first(seeded: tuple[Store, int], tmp_path: Path) -> None:
    store, run_id = seeded
    report = json.loads(write_json_report(store, run_id, tmp_path / "out").read_text())
    assert list(report["summary"]["by_kind"].items()) == [
        ("not_found", 3),  # broken, the most cards first, then by name
        ("gone", 1),
        ("server_error", 1),
        ("image_dimension_mismatch", 1),  # rotted
        ("soft_404", 1),
        ("moved_permanently", 1),  # warning
    ]


def _page(store: Store, run_id: int, out: Path) -> str:
    return write_html_report(store, run_id, out).read_text(encoding="utf-8")


def _blob_rows(page: str) -> dict[str, dict[str, Any]]:
    match = re.search(r'id="dashboard-data">(.*?)</script>', page, re.S)
    assert match
    return {row["p"]: row for row in json.loads(match.group(1))["rows"]}


def test_fix_first_tops_the_page_with_links_that_filter_the_table(
    seeded: tuple[Store, int], tmp_path: Path
) -> None:
    store, run_id = seeded
    page = _page(store, run_id, tmp_path / "out")
    assert page.index('id="fix-first"') < page.index('id="problems"') < page.index('id="trend"')
    hosts = re.findall(r'<a class="view-link mono" href="([^"]+)" data-cards="(\d+)">', page)
    assert hosts == [
        ("#host=cdn.test&amp;severity=failing", "3"),
        ("#host=mixed.test&amp;severity=failing", "2"),
        ("#host=many.test&amp;severity=failing", "1"),
    ]
    assert '<a class="view-link" href="#provider=%28none%29&amp;severity=failing"' in page
    kinds = re.findall(r'data-kind="(\w+)"', page)
    assert kinds[-1] == "moved_permanently" and kinds.index("not_found") < kinds.index("soft_404")
    groups = re.findall(r'<tbody class="sev-group" data-severity="(\w+)">', page)
    assert groups == ["broken", "rotted", "warning"]


def test_each_card_row_carries_the_fix_or_why_a_person_is_needed(
    seeded: tuple[Store, int], tmp_path: Path
) -> None:
    store, run_id = seeded
    rows = _blob_rows(_page(store, run_id, tmp_path / "out"))
    moved = rows["g.md"]
    assert moved["fx"] == [
        {
            "i": 0,
            "f": "webUrl",
            "d": ["-webUrl: https://warn.test/moved", "+webUrl: https://warn.test/new"],
        }
    ]
    # no safe correction for dead pages without an archived copy: the plan `linkcheck fix`
    # makes says why, reason for reason
    report = json.loads(write_json_report(store, run_id, tmp_path / "out").read_text())
    card = next(c for c in report["cards"] if c["path"] == "d.md")
    plan = plan_card(card["problems"])
    assert plan and all(isinstance(step, NeedsPerson) for step in plan)
    assert [step["r"] for step in rows["d.md"]["fx"]] == [
        step.reason for step in plan if isinstance(step, NeedsPerson)
    ]


def test_one_run_gets_a_sentence_and_two_get_the_chart(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    first = seed(store)
    page = _page(store, first, tmp_path / "one")
    assert "One run so far: the trend appears after the next run." in page
    assert 'class="chart"' not in page
    second = seed(store)
    page = _page(store, second, tmp_path / "two")
    assert "One run so far" not in page
    assert page.count('class="dot-broken"') == 2


def test_the_footer_names_only_the_files_beside_the_page(
    seeded: tuple[Store, int], tmp_path: Path
) -> None:
    store, run_id = seeded
    out = tmp_path / "out"

    def footer() -> list[str]:
        page = _page(store, run_id, out)
        foot = page[page.index('<footer class="wrap foot">') :]
        return re.findall(r'<code class="beside">([^<]+)</code>', foot[: foot.index("</footer>")])

    assert footer() == []  # only the page itself so far
    write_json_report(store, run_id, out)
    assert footer() == ["report.json"]
    write_csv_report(store, run_id, out)
    write_junit_report(store, run_id, out)
    assert footer() == ["report.json", "problems.csv", "report.junit.xml"]


def test_a_fixed_card_lists_its_kinds_worst_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    card = _card("x.md", "P", ("webUrl", "https://x.test/a"), ("images[0].url", IMAGE))
    _run(
        store,
        [card],
        [
            _outcome("https://x.test/a", 500, Kind.SERVER_ERROR),
            _outcome(IMAGE, 200, Kind.IMAGE_DIMENSION_MISMATCH),
        ],
    )
    second = _run(store, [card], [_outcome("https://x.test/a", 200), _outcome(IMAGE, 200)])
    [fixed] = status_changes(store, second)["fixed"]
    assert fixed["kinds"] == ["server_error", "image_dimension_mismatch"]  # not by name


IMAGE = "https://x.test/img/pic.jpg"
