"""report.html in a real headless Chromium, built from a real crawl of the simulated web.

Two runs of `linkcheck run` over a few hundred generated cards (a few fixed and a few broken in
between, so the page has new and fixed cards and a two-point trend), plus hand-written cards whose
title and provider are markup. The page is opened from file:// and compared with report.json.

Screenshots go to test-output/screenshots/ at the repository root (gitignored).
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed (pip install playwright; the browser is Debian's chromium)",
)
from dashboards import CHROMIUM, SCREENSHOTS, chromium, linkcheck, simulated_web
from playwright.sync_api import Browser, Page

from crawler.report.csv_junit import write_csv_report, write_junit_report
from crawler.report.html_report import write_html_report
from crawler.sim.gencards import generate
from crawler.sim.truth import GroundTruth
from crawler.store.database import Store

XSS_TITLE = "<img src=x onerror=alert(1)>"
SCRIPT_TITLE = "</script><script>window.__pwned = 1; alert(2)</script>"
JS_URL = "javascript:alert(3)"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]

HAND_CARD = """\
---
category: news
title: "{title}"
publishedDateTime: 2021-06-01T10:00:00Z
webUrl: "http://{ip}:{port}/status/404/{id}"
ampWebUrl: "{amp}"
provider:
  name: "{provider}"
images:
  - url: "http://{ip}:{port}/img/300x200.jpg?id={id}"
    width: 640
    height: 360
---
"""


@dataclass
class Corpus:
    html: Path
    report: dict[str, Any]
    previous: dict[str, Any]
    out: Path
    xss_path: str
    script_path: str

    @property
    def url(self) -> str:
        return self.html.as_uri()

    def problem_cards(self) -> list[dict[str, Any]]:
        return [c for c in self.report["cards"] if c["status"] != "ok"]


def _edit_between_runs(cards: Path, truth: GroundTruth) -> None:
    """Fix three broken cards and break three healthy ones."""
    fixed = sorted(p for p, t in truth.cards.items() if t.behaviour == "http_404")[:3]
    broken = sorted(p for p, t in truth.cards.items() if t.behaviour == "healthy")[:3]
    for path in fixed:
        card = cards / path
        card.write_text(card.read_text().replace("/status/404/", "/ok/"))
    for path in broken:
        card = cards / path
        card.write_text(re.sub(r'(webUrl: "http://[^/]+)/ok/', r"\1/status/410/", card.read_text()))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    tmp = tmp_path_factory.mktemp("dashboard")
    # the simulated web stays up for the module: thumbnails load in the screenshots
    with simulated_web(hosts=6, first=140) as (port, ips):
        cards = tmp / "cards"
        truth = generate(
            cards, 300, hosts=ips, port=port, seed=21, timeout=1.0, slow_seconds=2.0, retries=1
        )
        hand = cards / "site-00" / "_news"
        xss = hand / "2021-06-01-xss.md"
        xss.write_text(
            HAND_CARD.format(
                title=XSS_TITLE,
                provider="<b>Evil</b> & Co",
                ip=ips[0],
                port=port,
                id="xss",
                amp=JS_URL,
            )
        )
        script = hand / "2021-06-01-script.md"
        script.write_text(
            HAND_CARD.format(
                title=SCRIPT_TITLE.replace('"', '\\"'),
                provider="Script Kiddie",
                ip=ips[0],
                port=port,
                id="script",
                amp=f"http://{ips[0]}:{port}/amp/script",
            )
        )
        args = [
            "run", "--cards", str(cards), "--out", str(tmp / "out"),
            "--state", str(tmp / "state.sqlite"), "--no-progress", "--log-format", "json",
            "--allow-private", "--no-archive", "--rate-per-host", "200",
            "--concurrency-per-host", "8",
            "--since", "2020", "--timeout", "1", "--retries", "1", "--fail-on", "never",
        ]  # fmt: skip
        linkcheck(*args)
        previous = json.loads((tmp / "out" / "report.json").read_text())
        _edit_between_runs(cards, truth)
        linkcheck(*args)
        report = json.loads((tmp / "out" / "report.json").read_text())
        store = Store(tmp / "state.sqlite")
        try:
            run_id = report["run"]["id"]
            html = write_html_report(store, run_id, tmp / "out")
            write_csv_report(store, run_id, tmp / "out")
            write_junit_report(store, run_id, tmp / "out")
        finally:
            store.close()
        yield Corpus(
            html=html,
            report=report,
            previous=previous,
            out=tmp / "out",
            xss_path=xss.relative_to(cards).as_posix(),
            script_path=script.relative_to(cards).as_posix(),
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@dataclass
class Tab:
    page: Page
    corpus: Corpus
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, fragment: str = "") -> Tab:
        self.page.goto(self.corpus.url + fragment)
        self.page.wait_for_selector("html[data-ready]")
        return self

    def count(self) -> int:
        return int(self.page.get_attribute("#count", "data-count") or -1)

    def paths(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#rows tr[data-index] .path", "cells => cells.map(c => c.textContent)"
        )

    def column(self, name: str) -> list[str]:
        return self.page.eval_on_selector_all(
            f"#rows tr[data-index] td.col-{name}", "cells => cells.map(c => c.textContent)"
        )

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith("file://")]

    def wait_render(self, before: str | None) -> None:
        self.page.wait_for_function(
            "before => document.getElementById('table').dataset.renders !== before", arg=before
        )

    def renders(self) -> str | None:
        return self.page.get_attribute("#table", "data-renders")


@pytest.fixture
def tab(browser: Browser, corpus: Corpus) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    state = Tab(page, corpus)
    page.on("request", lambda r: state.requests.append(r.url))
    page.on("console", lambda m: state.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: state.errors.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        state.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield state
    context.close()


# -- what the page should show, computed from report.json ------------------------------------


def _host_lookup(report: dict[str, Any]) -> Callable[[str | None], str]:
    hosts = {u["url"]: u["host"] for u in report["urls"]}

    def host(url: str | None) -> str:
        if not url:
            return ""
        if url in hosts:
            return str(hosts[url])
        try:
            return (urlsplit(url).hostname or "").lower()
        except ValueError:
            return ""

    return host


def expected_paths(corpus: Corpus, **filters: str) -> set[str]:
    """The cards a filtered view holds: card-level filters on the card, kind/host/field on one
    problem that matches all three, search terms all in title, path, provider or a problem URL."""
    host_of = _host_lookup(corpus.report)
    terms = filters.get("q", "").lower().split()
    out = set()
    for card in corpus.problem_cards():
        if filters.get("status") and card["status"] != filters["status"]:
            continue
        if filters.get("provider") and (card["provider"] or "(none)") != filters["provider"]:
            continue
        kind, host, fld = filters.get("kind"), filters.get("host"), filters.get("field")
        if (kind or host or fld) and not any(
            (not kind or p["kind"] == kind)
            and (not host or host_of(p["url"]) == host)
            and (not fld or (p["field"] or "(card)") == fld)
            for p in card["problems"]
        ):
            continue
        hay = "\n".join(
            [card["title"] or "", card["path"], card["provider"] or ""]
            + [p["url"] for p in card["problems"] if p["url"]]
        ).lower()
        if not all(t in hay for t in terms):
            continue
        out.add(card["path"])
    return out


def _most_common(values: list[Any]) -> Any:
    return Counter(values).most_common(1)[0][0]


# -- the tests ----------------------------------------------------------------------------------


def test_loads_from_file_with_no_error_and_no_outside_request(tab: Tab) -> None:
    tab.open()
    assert tab.page.title().startswith("linkcheck")
    assert tab.errors == []
    assert tab.requests == [tab.corpus.url]
    assert tab.dialogs == []
    # the page's own CSP is in force: an injected inline script would not run
    csp = tab.page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content") or ""
    assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    assert len(tab.paths()) == min(100, len(tab.corpus.problem_cards()))


def test_counts_match_report_json(tab: Tab) -> None:
    tab.open()
    report = tab.corpus.report
    for status, n in report["summary"]["by_status"].items():
        shown = tab.page.text_content(f'.tile-count[data-status="{status}"]') or ""
        assert int(shown.replace(",", "")) == n, status
    assert tab.count() == len(tab.corpus.problem_cards())
    # new and fixed since the previous run, card by card
    before = {c["path"]: c["status"] for c in tab.corpus.previous["cards"]}
    now = {c["path"]: c["status"] for c in report["cards"]}
    new = {p for p, s in now.items() if s != "ok" and before.get(p, "ok") == "ok"}
    fixed = {p for p, s in now.items() if s == "ok" and before.get(p, "ok") != "ok"}
    assert len(new) >= 3 and len(fixed) >= 3
    assert int(tab.page.get_attribute("#new-count", "data-count") or -1) == len(new)
    assert int(tab.page.get_attribute("#fixed-count", "data-count") or -1) == len(fixed)
    tab.page.select_option("#f-change", "new")
    assert set(tab.paths()) == new
    # the trend chart has one point per run for each of broken and rotted
    assert tab.page.locator("svg.chart circle.dot-broken").count() == 2
    assert tab.page.locator("#by-host tbody tr").count() == len(report["summary"]["by_host"])


@pytest.mark.parametrize("name", ["status", "kind", "provider", "host", "field"])
def test_each_filter_narrows_the_table(tab: Tab, name: str) -> None:
    tab.open("#size=1000")
    corpus = tab.corpus
    host_of = _host_lookup(corpus.report)
    cards = corpus.problem_cards()
    values = {
        "status": [c["status"] for c in cards if c["status"] != "broken"] or ["broken"],
        "kind": [p["kind"] for c in cards for p in c["problems"]],
        "provider": [c["provider"] or "(none)" for c in cards],
        "host": [host_of(p["url"]) for c in cards for p in c["problems"] if host_of(p["url"])],
        "field": [p["field"] or "(card)" for c in cards for p in c["problems"]],
    }[name]
    value = _most_common(values)
    before = tab.renders()
    tab.page.select_option(f"#f-{name}", value)
    tab.wait_render(before)
    want = expected_paths(corpus, **{name: value})
    assert 0 < len(want) < len(cards)
    assert tab.count() == len(want)
    assert set(tab.paths()) == want
    assert f"{name}=" in tab.page.evaluate("location.hash")


def test_filters_combine_and_search_narrows(tab: Tab) -> None:
    tab.open("#size=1000")
    corpus = tab.corpus
    cards = corpus.problem_cards()
    word = _most_common(
        [w for c in cards for w in (c["title"] or "").lower().split() if len(w) > 4]
    )
    for query in (word, "/status/404", f"{word} site-0"):
        before = tab.renders()
        tab.page.fill("#q", query)
        tab.wait_render(before)
        want = expected_paths(corpus, q=query)
        assert 0 < len(want) < len(cards), query
        assert set(tab.paths()) == want, query
    before = tab.renders()
    tab.page.select_option("#f-status", "broken")
    tab.wait_render(before)
    want = expected_paths(corpus, q=f"{word} site-0", status="broken")
    assert set(tab.paths()) == want and tab.count() == len(want)
    # the view is in the fragment: a reload restores it
    tab.page.reload()
    tab.page.wait_for_selector("html[data-ready]")
    assert tab.page.input_value("#q") == f"{word} site-0"
    assert set(tab.paths()) == want


def test_fragment_restores_a_filter_and_follows_hashchange(tab: Tab) -> None:
    tab.open("#status=broken&kind=not_found&size=1000")
    want = expected_paths(tab.corpus, status="broken", kind="not_found")
    assert want
    assert tab.page.input_value("#f-status") == "broken"
    assert tab.page.input_value("#f-kind") == "not_found"
    assert set(tab.paths()) == want
    before = tab.renders()
    tab.page.evaluate("location.hash = '#field=images%5B0%5D.url&size=1000'")
    tab.wait_render(before)
    assert tab.page.input_value("#f-status") == ""
    assert set(tab.paths()) == expected_paths(tab.corpus, field="images[0].url")


def test_sorting_by_a_column_header(tab: Tab) -> None:
    tab.open("#size=1000")
    header = tab.page.locator('th[data-key="published"]')
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    days = [d for d in tab.column("published") if d]
    assert days == sorted(days, reverse=True) and len(days) > 10
    header.locator("button").press("Enter")  # keyboard too
    assert header.get_attribute("aria-sort") == "ascending"
    days = [d for d in tab.column("published") if d]
    assert days == sorted(days)
    tab.page.locator('th[data-key="title"] button').click()
    titles = [t.lower() for t in tab.page.eval_on_selector_all(
        "#rows tr[data-index] .title", "cells => cells.map(c => c.textContent)"
    )]  # fmt: skip
    assert titles == sorted(titles)
    assert "sort=title" in tab.page.evaluate("location.hash")


def test_markup_in_card_fields_stays_text(tab: Tab) -> None:
    corpus = tab.corpus
    tab.open("#q=" + "site-00/_news/2021-06-01")
    assert set(tab.paths()) >= {corpus.xss_path, corpus.script_path}
    titles = tab.page.eval_on_selector_all(
        "#rows tr[data-index] .title", "cells => cells.map(c => c.textContent)"
    )
    assert XSS_TITLE in titles and SCRIPT_TITLE in titles
    assert "<b>Evil</b> & Co" in tab.column("provider")
    assert tab.page.locator('img[src="x"]').count() == 0
    assert tab.page.locator("b", has_text="Evil").count() == 0
    row = tab.page.locator("#rows tr[data-index]", has_text=XSS_TITLE)
    row.click()
    tab.page.wait_for_selector("dialog#detail[open]")
    assert tab.page.text_content("#detail-title") == XSS_TITLE
    # a javascript: URL is shown, as text: only http(s) URLs become links
    assert JS_URL in (tab.page.text_content("#detail-body") or "")
    hrefs = tab.page.eval_on_selector_all("a[href]", "as => as.map(a => a.protocol)")
    assert set(hrefs) <= {"http:", "https:", "file:"}
    tab.page.keyboard.press("Escape")
    tab.page.wait_for_selector("dialog#detail:not([open])", state="attached")
    assert tab.dialogs == []
    assert tab.page.evaluate("window.__pwned") is None
    assert tab.errors == []
    # the blob holds the titles, escaped so that no `</script>` ends the element early
    page = corpus.html.read_text(encoding="utf-8")
    assert SCRIPT_TITLE not in page and "\\u003c/script\\u003e" in page


def test_detail_shows_problems_and_only_then_loads_the_thumbnail(tab: Tab) -> None:
    corpus = tab.corpus
    card = next(
        c
        for c in corpus.problem_cards()
        if any(p["kind"] == "image_dimension_mismatch" for p in c["problems"])
    )
    tab.open("#q=" + card["path"])
    tab.page.screenshot(path=str(_shot("dashboard-before-detail.png")))
    assert tab.outside_requests() == []
    row = tab.page.locator("#rows tr[data-index]").first
    row.focus()
    tab.page.keyboard.press("Enter")  # the keyboard opens it
    tab.page.wait_for_selector("dialog#detail[open]")
    body = tab.page.text_content("#detail-body") or ""
    for problem in card["problems"]:
        assert problem["kind"] in body
    assert card["path"] in body
    assert "Set width/height to 300 x 200" in body  # the fix, with the real size
    image = next(p["url"] for p in card["problems"] if p["kind"] == "image_dimension_mismatch")
    tab.page.wait_for_function(
        "() => { const i = document.querySelector('#detail-body img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert image in tab.outside_requests()
    images = {u["url"] for u in corpus.report["urls"] if u["link_kind"] == "image"}
    assert set(tab.outside_requests()) <= images  # only the card's images, nothing else
    boxes = tab.page.eval_on_selector_all(
        "#detail-body .sizes > figure > div",
        "bs => bs.map(b => [b.getBoundingClientRect().width, b.getBoundingClientRect().height])",
    )
    (dw, dh), (rw, rh) = boxes[:2]  # the declared frame, then the real image, to one scale
    declared_w, declared_h = _declared_size(card)
    assert abs(dw / dh - declared_w / declared_h) < 0.05
    assert abs(rw / rh - 300 / 200) < 0.05  # the real image at its real aspect ratio
    assert abs(dw / rw - declared_w / 300) < 0.05
    links = tab.page.eval_on_selector_all(
        "#detail-body a", "as => as.map(a => [a.protocol, a.target, a.rel])"
    )
    assert links and all(
        p in ("http:", "https:") and t == "_blank" and r == "noopener noreferrer"
        for p, t, r in links
    )
    tab.page.screenshot(path=str(_shot("dashboard-detail.png")))
    tab.page.keyboard.press("Escape")
    tab.page.wait_for_selector("dialog#detail:not([open])", state="attached")
    assert tab.page.evaluate("document.activeElement.dataset.index") is not None
    assert tab.errors == []


def _declared_size(card: dict[str, Any]) -> tuple[int, int]:
    problem = next(p for p in card["problems"] if p["kind"] == "image_dimension_mismatch")
    match = re.search(r"declared (\d+)x(\d+)", problem["detail"])
    assert match
    return int(match.group(1)), int(match.group(2))


def test_csv_download_builds_the_filtered_rows(tab: Tab) -> None:
    tab.open("#status=broken&size=1000")
    with tab.page.expect_download() as info:
        tab.page.click("#csv")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    cards = [c for c in tab.corpus.problem_cards() if c["status"] == "broken"]
    assert len(rows) == sum(len(c["problems"]) for c in cards)
    assert {r["path"] for r in rows} == {c["path"] for c in cards}
    assert tab.outside_requests() == [] or all(
        u.startswith("blob:") for u in tab.outside_requests()
    )


def test_screenshots_light_dark_and_phone(browser: Browser, corpus: Corpus) -> None:
    for name, options in {
        "dashboard-light.png": {"viewport": {"width": 1366, "height": 900}},
        "dashboard-dark.png": {"viewport": {"width": 1366, "height": 900}, "color_scheme": "dark"},
        "dashboard-phone.png": {
            "viewport": {"width": 390, "height": 844},
            "device_scale_factor": 2,
            "is_mobile": True,
            "has_touch": True,
        },
    }.items():
        context = browser.new_context(**options)  # type: ignore[arg-type]
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(corpus.url)
        page.wait_for_selector("html[data-ready]")
        page.screenshot(path=str(_shot(name)), full_page=True)
        if name == "dashboard-phone.png":
            # nothing sticks out sideways on a phone
            assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
            page.locator("#rows tr[data-index]").first.click()
            page.wait_for_selector("dialog#detail[open]")
            page.screenshot(path=str(_shot("dashboard-phone-detail.png")))
        assert errors == []
        context.close()


def _shot(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    path.unlink(missing_ok=True)
    return path


def test_problem_csv_and_junit_of_the_real_run(corpus: Corpus) -> None:
    rows = list(csv.DictReader((corpus.out / "problems.csv").read_text().splitlines()))
    assert len(rows) == sum(len(c["problems"]) for c in corpus.report["cards"])
    root = ET.parse(corpus.out / "report.junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(corpus.report["cards"])
    failing = [c for c in corpus.report["cards"] if c["status"] in ("rotted", "broken", "invalid")]
    assert len(root.findall(".//testcase/failure")) == len(failing)
