"""report.html without a browser: written from a seeded store, self-contained, and safe."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from crawler.judge.judging import judge_cards
from crawler.model import (
    FIX_HINTS,
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
from crawler.report.html_data import script_json
from crawler.report.html_overview import (
    host_breakdown,
    provider_breakdown,
    status_changes,
    trend_points,
)
from crawler.report.html_report import TEMPLATES, write_html_report
from crawler.store.database import Store

XSS_TITLE = "<img src=x onerror=alert(1)>"
SCRIPT_TITLE = "</script><script>alert(2)</script><!--"
EVIL_PROVIDER = "<b>Evil</b> & Co"


def _page(url: str, status: int, kind: Kind | None = None, **extra: Any) -> UrlOutcome:
    findings = [Finding(kind, f"HTTP {status}")] if kind else []
    return UrlOutcome(
        url, LinkKind.PAGE, http_status=status, attempts=1, findings=findings, **extra
    )


def _card(path: str, title: str, url: str, provider: str = "P", **extra: Any) -> CardRecord:
    links = [Link("webUrl", url, LinkKind.PAGE), *extra.pop("links", [])]
    return CardRecord(
        path=path,
        disposition=Disposition.CHECKED,
        title=title,
        provider=provider,
        published="2021-05-01T00:00:00+00:00",
        links=links,
        **extra,
    )


def _run(store: Store, cards: list[CardRecord], outcomes: list[UrlOutcome]) -> int:
    run_id = store.begin_run(cards_root="cards", since="2020-01-01", until=None, config={"k": 1})
    for card in cards:
        store.add_card(run_id, card)
    for outcome in outcomes:
        store.add_url_result(run_id, outcome.url.split("/")[2], outcome)
    store.end_run(
        run_id,
        state="finished",
        counters={"cards_found": len(cards), "cards_checked": len(cards), "requests_made": 9},
    )
    judge_cards(store, run_id)
    return run_id


def seed(store: Store) -> tuple[int, int]:
    """Two runs: `a/fixed.md` fails in the first only, `b/new.md` in the second only."""
    first = _run(
        store,
        [
            _card("a/fixed.md", "Fixed", "https://a.test/fixed"),
            _card("a/still.md", "Still", "https://a.test/still"),
            _card("b/new.md", "New", "https://b.test/new"),
        ],
        [
            _page("https://a.test/fixed", 404, Kind.NOT_FOUND),
            _page("https://a.test/still", 500, Kind.SERVER_ERROR),
            _page("https://b.test/new", 200),
        ],
    )
    image = "https://cdn.test/pic.jpg"
    second = _run(
        store,
        [
            _card("a/fixed.md", "Fixed", "https://a.test/fixed"),
            _card("a/still.md", "Still", "https://a.test/still"),
            _card("b/new.md", "New", "https://b.test/new"),
            _card(
                "c/xss.md",
                XSS_TITLE,
                "https://a.test/xss",
                provider=EVIL_PROVIDER,
                links=[Link("images[0].url", image, LinkKind.IMAGE, 600, 350)],
            ),
            _card("c/script.md", SCRIPT_TITLE, "https://b.test/moved"),
            _card(
                "c/js.md",
                "Scripted link",
                "https://a.test/ok",
                problems=[
                    Problem(
                        Kind.INVALID_URL,
                        "scheme 'javascript:' is not http or https",
                        field="ampWebUrl",
                        url="javascript:alert(3)",
                    )
                ],
            ),
        ],
        [
            _page("https://a.test/fixed", 200),
            _page("https://a.test/still", 500, Kind.SERVER_ERROR),
            _page("https://b.test/new", 410, Kind.GONE),
            _page("https://a.test/xss", 404, Kind.NOT_FOUND),
            _page("https://a.test/ok", 200),
            _page(
                "https://b.test/moved",
                200,
                Kind.MOVED_PERMANENTLY,
                final_url="https://b.test/new-home",
                redirects=[Hop("https://b.test/moved", 301, "https://b.test/new-home")],
            ),
            UrlOutcome(image, LinkKind.IMAGE, http_status=200, attempts=1,
                       image=ImageInfo(1200, 630, "JPEG")),
        ],
    )  # fmt: skip
    return first, second


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Store, int, Path]:
    store = Store(tmp_path / "state.sqlite")
    _first, second = seed(store)
    path = write_html_report(store, second, tmp_path / "out")
    return store, second, path


class _Markup(HTMLParser):
    """Every tag and attribute of the markup (script and style contents are not markup)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in, self._attrs = tag, dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append((self._attrs, data))
        elif self._in == "style":
            self.styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None


def _parse(path: Path) -> _Markup:
    parser = _Markup()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _blob(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    match = re.search(
        r'<script type="application/json" id="dashboard-data">(.*?)</script>', text, re.S
    )
    assert match, "the data blob is missing"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def _urls(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The URL table as the page's script reads it."""
    out = []
    for values in data["urls"]:
        entry = {k: v for k, v in zip(data["url_fields"], values, strict=False) if v is not None}
        if "h" in entry:
            entry["h"] = data["hosts"][entry["h"]]
        out.append(entry)
    return out


def test_the_page_is_written_atomically(seeded: tuple[Store, int, Path]) -> None:
    _store, _run_id, path = seeded
    assert path.name == "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    assert not list(path.parent.glob(".*tmp"))


def test_no_outside_request_in_the_markup(seeded: tuple[Store, int, Path]) -> None:
    _store, _run_id, path = seeded
    markup = _parse(path)
    for tag, attrs in markup.tags:
        assert "src" not in attrs, tag  # no script, image or frame from anywhere
        href = attrs.get("href")
        assert href is None or href.startswith("#"), (tag, href)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    assert not [t for t, _ in markup.tags if t in ("link", "iframe", "img", "object", "embed")]
    assert "@import" not in "".join(markup.styles)
    assert "url(" not in "".join(markup.styles)


def test_csp_allows_only_the_inline_script_and_style(seeded: tuple[Store, int, Path]) -> None:
    _store, _run_id, path = seeded
    markup = _parse(path)
    csp = next(
        a["content"]
        for t, a in markup.tags
        if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"
    )
    assert csp is not None
    policy = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "http: https:"
    assert "unsafe" not in csp

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    code = [body for attrs, body in markup.scripts if "type" not in attrs]
    assert len(code) == 1 and policy["script-src"] == digest(code[0])
    assert len(markup.styles) == 1 and policy["style-src"] == digest(markup.styles[0])


def test_markup_in_card_fields_is_escaped(seeded: tuple[Store, int, Path]) -> None:
    _store, _run_id, path = seeded
    text = path.read_text(encoding="utf-8")
    assert XSS_TITLE not in text  # not even inside the JSON blob
    assert "<b>Evil</b>" not in text
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in text  # the provider table, rendered as text
    # only the two real script elements close: a title cannot end the data blob early
    assert text.count("</script>") == 2
    assert text.count("<!--") == 0
    rows = {row["p"]: row for row in _blob(path)["rows"]}
    assert rows["c/xss.md"]["t"] == XSS_TITLE
    assert rows["c/script.md"]["t"] == SCRIPT_TITLE
    assert rows["c/xss.md"]["v"] == EVIL_PROVIDER


def test_script_json_escapes_what_could_end_the_element() -> None:
    text = str(script_json({"t": "</script><!-- & -->", "u": "\u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": "</script><!-- & -->", "u": "\u2028"}


def test_rows_are_the_cards_that_are_not_ok(seeded: tuple[Store, int, Path]) -> None:
    _store, _run_id, path = seeded
    data = _blob(path)
    statuses = {row["p"]: row["s"] for row in data["rows"]}
    assert statuses == {
        "a/still.md": "broken",
        "b/new.md": "broken",
        "c/xss.md": "broken",
        "c/script.md": "warning",
        "c/js.md": "invalid",
    }
    urls = _urls(data)
    xss = next(r for r in data["rows"] if r["p"] == "c/xss.md")
    kinds = {p["k"]: p for p in xss["pr"]}
    assert set(kinds) == {"not_found", "image_dimension_mismatch"}
    assert kinds["not_found"]["s"] == "broken"
    image = urls[kinds["image_dimension_mismatch"]["u"]]
    assert (image["w"], image["ht"], image["h"]) == (1200, 630, "cdn.test")
    assert xss["im"] == [["images[0].url", kinds["image_dimension_mismatch"]["u"], 600, 350]]
    moved = next(r for r in data["rows"] if r["p"] == "c/script.md")["pr"][0]
    assert urls[moved["u"]]["r"] == [[301, "https://b.test/moved", "https://b.test/new-home"]]
    assert urls[moved["u"]]["f"] == "https://b.test/new-home"
    js = next(r for r in data["rows"] if r["p"] == "c/js.md")["pr"][0]
    assert urls[js["u"]] == {"u": "javascript:alert(3)"}  # no host, no result: shown as text
    # a problem does not repeat what its URL's result says
    assert "c" not in moved and "fu" not in moved and kinds["not_found"]["x"] == "HTTP 404"
    # the rows come in the order of their paths
    assert [r["p"] for r in data["rows"]] == sorted(statuses)


def test_new_and_fixed_since_the_previous_run(seeded: tuple[Store, int, Path]) -> None:
    store, run_id, path = seeded
    changes = status_changes(store, run_id)
    assert changes["previous_run"] == run_id - 1
    # c/* did not exist before: failing now, so new too
    new = {"b/new.md", "c/xss.md", "c/script.md", "c/js.md"}
    assert changes["new_n"] == len(new)
    assert [f["path"] for f in changes["fixed"]] == ["a/fixed.md"]
    assert changes["fixed"][0]["was"] == "broken" and changes["fixed"][0]["kinds"] == ["not_found"]
    text = path.read_text(encoding="utf-8")
    assert 'id="new-count" data-count="4"' in text
    assert 'id="fixed-count" data-count="1"' in text
    assert {r["p"] for r in _blob(path)["rows"] if r.get("n")} == new


def test_trend_and_breakdowns(seeded: tuple[Store, int, Path]) -> None:
    store, run_id, path = seeded
    points = trend_points(store, run_id)
    assert [(p["run_id"], p["cards"], p["broken"]) for p in points] == [
        (run_id - 1, 3, 2),
        (run_id, 6, 3),
    ]
    assert points[1]["broken_share"] == 0.5
    text = path.read_text(encoding="utf-8")
    assert text.count('class="dot-broken"') == 2 and text.count('class="dot-rotted"') == 2
    hosts = {h["host"]: h for h in host_breakdown({"a.test": {"urls": 4, "broken": 2}})}
    assert hosts["a.test"]["share"] == 0.5 and hosts["a.test"]["rotted"] == 0
    providers = {p["provider"]: p for p in provider_breakdown(store, run_id)}
    assert providers["P"]["cards"] == 5 and providers["P"]["broken"] == 2
    assert providers[EVIL_PROVIDER]["share"] == 1.0


def test_a_store_with_one_run_and_no_problem(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _run(store, [_card("a.md", "A", "https://a.test/")], [_page("https://a.test/", 200)])
    path = write_html_report(store, run_id, tmp_path)
    assert _blob(path)["rows"] == []
    assert "No earlier finished run to compare with." in path.read_text(encoding="utf-8")


def test_the_script_writes_text_only() -> None:
    script = (TEMPLATES / "dashboard.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "textContent" in script


def test_every_kind_has_a_fix_hint() -> None:
    assert set(FIX_HINTS) == {k.value for k in Kind}
    for template, fallback in FIX_HINTS.values():
        assert "{" not in fallback
        assert set(re.findall(r"\{(\w+)\}", template)) <= {"final_url", "width", "height"}
    assert FIX_HINTS["moved_permanently"][0] == "Replace the URL with {final_url}."
    assert "archived copy" in FIX_HINTS["not_found"][0]
    assert FIX_HINTS["image_dimension_mismatch"][0] == "Set width/height to {width} x {height}."
