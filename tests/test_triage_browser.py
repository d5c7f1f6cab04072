"""The dashboard as a maintainer triages with it, in a real headless Chromium at a desk (1280 px)
and on a phone (390 px), built from two real runs of `linkcheck run` over the simulated web (with
its archive, so some broken pages have a copy to link).

"Fix first" leads the page: hosts and providers ranked by the broken and rotted cards they cause,
each one click (and one shareable fragment) from the table filtered to exactly those cards; kinds
worst first. A card's detail shows the edit `linkcheck fix` would make, or why a person is needed.
One run gets a sentence, two a chart. On a phone the kinds and the status stay visible and no
table row is cut by its box; the footer names only the files that are there.

Screenshots go to test-output/screenshots/triage-*.png (gitignored), for a reviewer to open.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed (pip install playwright; the browser is Debian's chromium)",
)
from dashboards import CHROMIUM, SCREENSHOTS, chromium, linkcheck, simulated_web
from playwright.sync_api import Browser, Page

from crawler.fix.corrections import Correction, NeedsPerson, plan_card
from crawler.model import Kind
from crawler.report.html_report import write_html_report
from crawler.sim.gencards import generate
from crawler.sim.truth import GroundTruth
from crawler.store.database import Store

DESK = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]


@dataclass
class Runs:
    page: Path  # the second run's report.html (two runs: a chart)
    one_run: Path  # the first run's page (one run: a sentence)
    report: dict[str, Any]


def _break_some(cards: Path, truth: GroundTruth) -> None:
    """Three healthy cards break between the runs: new problems for the second."""
    for path in sorted(p for p, t in truth.cards.items() if t.behaviour == "healthy")[:3]:
        card = cards / path
        card.write_text(re.sub(r'(webUrl: "http://[^/]+)/ok/', r"\1/status/404/", card.read_text()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("triage")
    with simulated_web(hosts=5, first=160) as (port, ips):
        cards = tmp / "cards"
        truth = generate(
            cards, 240, hosts=ips, port=port, seed=14, timeout=1.0, slow_seconds=2.0, retries=1
        )
        args = [
            "run", "--cards", str(cards), "--out", str(tmp / "out"),
            "--state", str(tmp / "state.sqlite"), "--no-progress", "--log-format", "json",
            "--allow-private", "--archive-endpoint", f"http://{ips[0]}:{port}",
            "--rate-per-host", "200", "--concurrency-per-host", "8", "--since", "2020",
            "--timeout", "1", "--retries", "1", "--fail-on", "never",
        ]  # fmt: skip
        linkcheck(*args)
        _break_some(cards, truth)
        linkcheck(*args)
        store = Store(tmp / "state.sqlite")
        try:
            one_run = write_html_report(store, 1, tmp / "first")
        finally:
            store.close()
        report = json.loads((tmp / "out" / "report.json").read_text())
        yield Runs(tmp / "out" / "report.html", one_run, report)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(params=["desk", "phone"])
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(**(DESK if request.param == "desk" else PHONE))  # type: ignore[arg-type]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    assert errors == []
    context.close()


def _open(page: Page, path: Path, fragment: str = "") -> None:
    page.goto(path.as_uri() + fragment)
    page.wait_for_selector("html[data-ready]")


def _shot(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    path.unlink(missing_ok=True)
    return str(path)


def _width(page: Page) -> int:
    return int(page.evaluate("window.innerWidth"))


# -- what the page should say, from report.json alone -------------------------------------------


def _culprits(report: dict[str, Any], key: str) -> dict[str, dict[str, bool]]:
    """host or provider -> {card path: broken there (else rotted)}, for broken/rotted problems."""
    host_of = {u["url"]: u["host"] for u in report["urls"]}
    out: dict[str, dict[str, bool]] = {}
    for card in report["cards"]:
        for problem in card["problems"]:
            if problem["severity"] not in ("broken", "rotted"):
                continue
            name = host_of.get(problem["url"]) if key == "host" else card["provider"] or "(none)"
            if name is None:
                continue
            cards = out.setdefault(name, {})
            cards[card["path"]] = cards.get(card["path"], False) or problem["severity"] == "broken"
    return out


def _ranked(report: dict[str, Any], key: str) -> list[tuple[str, int, int]]:
    rows = [
        (name, sum(c.values()), len(c) - sum(c.values()))
        for name, c in _culprits(report, key).items()
    ]
    return sorted(rows, key=lambda r: (-(r[1] + r[2]), -r[1], r[0]))


def _shown_paths(page: Page) -> set[str]:
    return set(
        page.eval_on_selector_all("#rows tr[data-index] .path", "c => c.map(x => x.textContent)")
    )


# Every table row the page shows, checked against the nearest box that could clip it (a scroll
# box, an overflow: hidden one, else <main>): a row partly outside is cut in half.
ROWS_CUT = """() => {
  const cut = [];
  for (const tr of document.querySelectorAll("main tr")) {
    const row = tr.getBoundingClientRect();
    if (!tr.getClientRects().length || !row.width || !row.height) continue;
    let box = tr.parentElement;
    while (box.tagName !== "MAIN") {
      const s = getComputedStyle(box);
      if (s.overflowX !== "visible" || s.overflowY !== "visible") break;
      box = box.parentElement;
    }
    const b = box.getBoundingClientRect();
    if (row.top < b.top - 1 || row.bottom > b.bottom + 1 || row.left < b.left - 1
        || row.right > b.right + 1) {
      cut.push((tr.closest("[id]") || box).id + ": " + tr.textContent.trim().slice(0, 40));
    }
  }
  return cut;
}"""


# -- the tests ----------------------------------------------------------------------------------


def test_fix_first_leads_and_ranks_by_the_broken_and_rotted_cards(runs: Runs, page: Page) -> None:
    _open(page, runs.page)
    top = {
        sel: page.locator(sel).bounding_box()["y"]  # type: ignore[index]
        for sel in ("#fix-first", "#problems", "#trend", "#by-host")
    }
    assert top["#fix-first"] < top["#problems"] < top["#trend"] < top["#by-host"]
    for key, table in (("host", "#fix-hosts"), ("provider", "#fix-providers")):
        shown = page.eval_on_selector_all(
            f"{table} tbody tr",
            "rows => rows.map(r => Array.from(r.cells, c => c.textContent.trim()))",
        )
        got = [(name, int(broken), int(rotted)) for name, broken, rotted, _ in shown]
        assert got == _ranked(runs.report, key)[:10], key
    name = "desk" if _width(page) > 500 else "phone"
    page.screenshot(path=_shot(f"triage-{name}.png"), full_page=True)


def test_kinds_are_listed_worst_first_then_by_cards(runs: Runs, page: Page) -> None:
    _open(page, runs.page)
    kinds = page.eval_on_selector_all("#kinds a.view-link", "a => a.map(x => x.textContent)")
    assert kinds == list(runs.report["summary"]["by_kind"])  # report.json lists them alike
    ranks = [(-Kind(k).severity, -runs.report["summary"]["by_kind"][k], k) for k in kinds]
    assert ranks == sorted(ranks)
    broken = [k for k in kinds if Kind(k).severity.label == "broken"]
    assert broken and kinds.index("moved_permanently") > max(map(kinds.index, broken))
    # the kind filter's options in the same order
    options = page.eval_on_selector_all(
        "#f-kind option[value]:not([value=''])", "o => o.map(x => x.value)"
    )
    assert options == [k for k in kinds if k in options]


@pytest.mark.parametrize("key", ["host", "provider"])
def test_one_click_shows_exactly_the_cards_a_culprit_breaks(
    runs: Runs, page: Page, key: str
) -> None:
    _open(page, runs.page, "#size=1000")
    culprits = _culprits(runs.report, key)
    links = page.locator(f"#fix-{key}s a.view-link")
    for i in range(min(3, links.count())):
        link = links.nth(i)
        name, cards = link.text_content() or "", int(link.get_attribute("data-cards") or -1)
        link.click()
        page.wait_for_function(
            "n => document.getElementById('count').dataset.count == n", arg=cards
        )
        assert _shown_paths(page) == set(culprits[name]) and len(culprits[name]) == cards
        fragment = page.evaluate("location.hash")
        assert "severity=failing" in fragment and f"{key}=" in fragment
        assert page.input_value(f"#f-{key}") == name
        # the fragment is the view: opened afresh, it shows the same cards
        _open(page, runs.page, fragment)
        assert int(page.get_attribute("#count", "data-count") or -1) == cards


def _card_with(report: dict[str, Any], want: type[Correction | NeedsPerson]) -> dict[str, Any]:
    for card in report["cards"]:
        if card["status"] != "ok" and any(isinstance(s, want) for s in plan_card(card["problems"])):
            return card
    raise AssertionError(f"no card whose plan has a {want.__name__}")


@pytest.mark.parametrize("moved", [True, False], ids=["moved", "archived"])
def test_the_detail_shows_the_fix_as_a_coloured_diff(runs: Runs, page: Page, moved: bool) -> None:
    def fits(card: dict[str, Any]) -> bool:
        kinds = {p["kind"] for p in card["problems"]}
        steps = [s for s in plan_card(card["problems"]) if isinstance(s, Correction)]
        wanted = [s for s in steps if (s.added_field is None) == moved]
        return bool(wanted) and ("moved_permanently" in kinds) == moved

    card = next(c for c in runs.report["cards"] if fits(c))
    _open(page, runs.page, "#card=" + card["path"])
    page.wait_for_selector("dialog#detail[open]")
    lines = page.eval_on_selector_all(
        "#detail-body .fix[data-fix=correction] pre.diff span",
        "s => s.map(x => [x.className, x.textContent])",
    )
    want = [
        line
        for step in plan_card(card["problems"])
        if isinstance(step, Correction)
        for line in step.diff_lines()
    ]
    assert [text for _, text in lines] == want
    assert {cls for cls, _ in lines} == ({"del", "add"} if moved else {"add"})
    assert all(cls == ("add" if text[0] == "+" else "del") for cls, text in lines)
    colours = page.eval_on_selector_all(
        "#detail-body pre.diff span",
        "s => s.map(x => [x.className, getComputedStyle(x).color, getComputedStyle(x).fontFamily])",
    )
    red, green = ({colour for cls, colour, _ in colours if cls == name} for name in ("del", "add"))
    assert green and not red & green and all("mono" in font for *_, font in colours)
    if moved:
        name = "desk" if _width(page) > 500 else "phone"
        page.screenshot(path=_shot(f"triage-{name}-detail-fix.png"))


def test_the_detail_says_why_a_person_is_needed(runs: Runs, page: Page) -> None:
    card = _card_with(runs.report, NeedsPerson)
    _open(page, runs.page, "#card=" + card["path"])
    page.wait_for_selector("dialog#detail[open]")
    shown = page.eval_on_selector_all(
        "#detail-body .fix[data-fix=person]", "f => f.map(x => x.textContent)"
    )
    reasons = [s.reason for s in plan_card(card["problems"]) if isinstance(s, NeedsPerson)]
    assert shown == [f"Needs a person: {reason}" for reason in reasons]


def test_one_run_is_a_sentence_and_two_are_a_chart(runs: Runs, page: Page) -> None:
    _open(page, runs.one_run)
    assert page.locator("#trend svg.chart").count() == 0
    sentence = page.text_content("#trend-one") or ""
    assert sentence.startswith("One run so far: the trend appears after the next run.")
    page.locator("#trend").screenshot(path=_shot(f"triage-one-run-{_width(page)}.png"))
    _open(page, runs.page)
    assert page.locator("#trend svg.chart circle.dot-broken").count() == 2
    assert page.locator("#trend-one").count() == 0


def test_kinds_and_status_stay_visible_and_no_row_is_cut(runs: Runs, page: Page) -> None:
    _open(page, runs.page, "#size=250")
    width = _width(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    kinds_of = {c["path"]: {p["kind"] for p in c["problems"]} for c in runs.report["cards"]}
    cells = page.eval_on_selector_all(
        "#rows tr[data-index]",
        """rows => rows.map(r => {
          const box = (sel) => r.querySelector(sel).getBoundingClientRect();
          const seen = (b) => b.width > 0 && b.height > 0 && b.left >= 0 && b.right <= innerWidth;
          return [r.querySelector('.path').textContent, seen(box('td.col-status')),
                  seen(box('td.col-kinds')),
                  Array.from(r.querySelectorAll('td.col-kinds .chip'), c => c.textContent)];
        })""",
    )
    assert len(cells) == sum(c["status"] != "ok" for c in runs.report["cards"]) > 30
    for path, status_seen, kinds_seen, chips in cells:
        assert status_seen and kinds_seen, path
        assert set(chips) == kinds_of[path]
    assert page.evaluate(ROWS_CUT) == []


def test_the_footer_names_only_the_files_beside_the_page(runs: Runs, page: Page) -> None:
    _open(page, runs.page)
    named = page.eval_on_selector_all(".foot code.beside", "c => c.map(x => x.textContent)")
    beside = {p.name for p in runs.page.parent.iterdir()}
    assert named == ["report.json"] and set(named) <= beside
    assert "problems.csv" not in (page.text_content(".foot") or "")
