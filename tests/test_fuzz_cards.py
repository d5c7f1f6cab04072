"""Property-based fuzzing of the card loader and the URL code (issue 9): whatever a card file
holds, no exception escapes, every text of the record is valid UTF-8 and problem texts are
bounded. Each crash the fuzzing found is pinned by an @example."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import crawler.intake.yaml_loader as yaml_module
from crawler.config import CardsConfig, LinksConfig
from crawler.intake.budgets import MAX_YAML_NODES
from crawler.intake.cards import load_card
from crawler.intake.links import (
    MAX_URL_CHARS,
    UrlForm,
    classify_url,
    extract_links,
    resolve_relative,
)
from crawler.model import CardRecord, Problem
from crawler.web.urls import normalise_url

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))  # FUZZ_EXAMPLES=5000: a deeper run
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a shared 2-core machine: no per-example time limit
    database=None,  # nothing written into the checkout; failures are pinned with @example
    suppress_health_check=[HealthCheck.too_slow],
)
MAX_DETAIL = 500  # the longest fixed text plus two previews and a field name, with room
INTERNAL_ERROR = "could not read the card: "  # load_card's catch-all: a bug the fuzzing found


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def load_bytes(folder: Path, data: bytes, base_url: str | None = None, **cards: Any) -> CardRecord:
    path = folder / "card.md"
    path.write_bytes(data)
    return load_card(path, folder, CardsConfig(**cards), LinksConfig(base_url))


def texts_of(record: CardRecord) -> list[str]:
    texts = [record.path, record.title, record.published, record.provider, record.filter_reason]
    for problem in record.problems:
        texts += [problem.detail, problem.field, problem.url]
    for link in record.links:
        texts += [link.field, link.url]
    return [text for text in texts if text is not None]


def check_record(record: CardRecord) -> None:
    for text in texts_of(record):
        text.encode("utf-8")
    check_problems(record.problems)


def check_problems(problems: list[Problem]) -> None:
    for problem in problems:
        assert not problem.detail.startswith(INTERNAL_ERROR), problem.detail
        problem.detail.encode("utf-8")
        assert len(problem.detail) <= MAX_DETAIL, problem.detail
        assert problem.url is None or len(problem.url) <= MAX_URL_CHARS


# ---------------------------------------------------------------------------------------------
# The card loader


FRAGMENTS = [
    "---\n",
    "\n",
    "  ",
    "- ",
    ": ",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "!!int ",
    "!!str ",
    "!!timestamp ",
    "!!binary ",
    "!!python/object:os.system ",
    "!x ",
    '"',
    "'",
    "|\n",
    ">\n",
    "#",
    "\\u0000",
    "\\x80",
    "\t",
    "\r",
    "\x00",
    "\x85",
    "\ufeff",
    "title",
    "publishedDateTime",
    "published",
    "webUrl",
    "originalUrl",
    "ampWebUrl",
    "cdnAmpWebUrl",
    "images",
    "provider",
    "related",
    "url",
    "width",
    "height",
    "name",
    "domain",
    "true",
    "null",
    "0",
    "-1",
    "99999999999999999999",
    "0x1F",
    "1:30:00",
    ".inf",
    "2020-02-12T15:30:00Z",
    "2020-02-30",
    "0000-01-01",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "https://example.com/a.jpg",
    "https://EXAMPLE.com:443/x?q#f",
    "//cdn.example.com/x",
    "/assets/x.jpg",
    "www.example.com",
    "javascript:x",
    "http://[::1",
    "http://a:99999/",
    "http://u:p@h/",
]
yamlish = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=60).map("".join)


@FUZZ
@given(data=st.binary(max_size=2_000))
@example(data=b"---\n\xff\xfe\n---\n")
@example(data="\ufeff---\ntitle: x\n---\n".encode("utf-16"))
def test_any_bytes_as_a_card(folder: Path, data: bytes) -> None:
    check_record(load_bytes(folder, data))


@FUZZ
@given(body=yamlish, include_related=st.booleans())
@example(body="!!int ", include_related=False)  # IndexError in PyYAML's int constructor
@example(body="x: !!float abc\n", include_related=False)
@example(body="publishedDateTime: !!timestamp x\n", include_related=False)
@example(body="publishedDateTime: 0001-01-01T00:00:00+01:00\n", include_related=False)
@example(body="images: [{url: u, width: " + "9" * 30 + "}]\n", include_related=False)
@example(body="a: &a [*a]\nimages: *a\n", include_related=False)
@example(body="x: !!int " + "1" + ":0" * 600 + "\n", include_related=False)
@example(body="webUrl: http://[x\nimages: [{url: /x}]\n", include_related=False)
def test_any_yamlish_front_matter(folder: Path, body: str, include_related: bool) -> None:
    data = f"---\n{body}\n---\n".encode("utf-8", "surrogatepass")
    record = load_bytes(folder, data, include_related=include_related, base_url="http://[x/")
    check_record(record)


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(FRAGMENTS)
    | st.dates()
    | st.datetimes(timezones=st.just(UTC))
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FRAGMENTS[34:]) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
cards = st.dictionaries(st.sampled_from(FRAGMENTS[34:]), values, max_size=6)
# Generating nested values is the slow part: fewer of those.
FEWER = settings(FUZZ, max_examples=max(1, EXAMPLES * 3 // 5))


@FEWER
@given(card=cards)
@example(card={"publishedDateTime": datetime(1, 1, 1, tzinfo=UTC), "title": "x"})
@example(card={"publishedDateTime": date(9999, 12, 31), "images": [{"url": "x", "width": 2**70}]})
def test_any_front_matter_values(folder: Path, card: dict[str, Any]) -> None:
    """Every shape of value in every field, as YAML would give it: the judging never raises."""
    data = ("---\n" + yaml.safe_dump(card, allow_unicode=True) + "---\n").encode("utf-8")
    check_record(load_bytes(folder, data, include_related=True, base_url="https://example.org/a"))


@settings(FUZZ, max_examples=60)
@given(text=yamlish.filter(lambda text: "*" not in text))
@example(text="{" + "a," * 50 + "a}")  # the densest YAML found: a node per character
@example(text="?\n" * 50)
def test_the_c_parser_is_only_trusted_within_the_node_budget(text: str) -> None:
    """Text without aliases has at most two YAML nodes per character: the premise that lets a
    short front matter be composed by libyaml without counting (yaml_loader._can_skip_counting)."""
    loader = yaml_module._BudgetedLoader(text)
    try:
        loader.get_single_node()
    except (yaml.YAMLError, yaml_module.OverBudget):
        return
    finally:
        loader.dispose()
    assert loader._nodes <= 2 * len(text) + 1
    assert loader._nodes <= MAX_YAML_NODES


# ---------------------------------------------------------------------------------------------
# URLs


url_parts = st.sampled_from(
    ["http", "https", "HTTP", "ftp", "", ":", "//", "/", "?", "#", "@", "[", "]", "::1", ":80",
     ":443", ":", "%2F", "example.com", "EXAMPLE.COM", "u:p", ".", "..", "\t", " ", "\x00",
     "\u0130", "\u00df", "\ufb00", "\udc80", "\u212a"]
)  # fmt: skip
urlish = st.lists(url_parts | st.text(max_size=3), max_size=12).map("".join)


@FUZZ
@given(raw=urlish | st.text())
@example(raw="http://\u0130.example/")
@example(raw="www.\udc80")  # the suggested URL quoted a lone surrogate
@example(raw="h" * (MAX_URL_CHARS + 1) + "://x")
def test_classify_url_never_raises_and_its_reason_is_bounded(raw: str) -> None:
    form, reason = classify_url(raw)
    assert (form is UrlForm.INVALID) == (reason is not None)
    assert reason is None or (len(reason) <= MAX_DETAIL and reason.encode("utf-8"))


@FUZZ
@given(url=urlish | st.text())
@example(url="HTTP://\u0130/")
@example(url="http://[::1]x/")
@example(url="http://h:/#")
def test_normalise_url_is_idempotent(url: str) -> None:
    once = normalise_url(url)
    assert normalise_url(once) == once


@FUZZ
@given(raw=urlish | st.text(), base=urlish | st.text())
@example(raw="x", base="http://[x")
@example(raw="x", base="http://\uff03/")
def test_resolve_relative_never_raises(raw: str, base: str) -> None:
    assert isinstance(resolve_relative(raw, base), str)


@FEWER
@given(card=cards, urls=st.lists(urlish, max_size=4), base=st.none() | urlish)
@example(card={}, urls=["x"], base="http://[x")
def test_extract_links_never_raises(
    card: dict[str, Any], urls: list[str], base: str | None
) -> None:
    for index, url in enumerate(urls):
        card[("webUrl", "ampWebUrl", "cdnAmpWebUrl", "originalUrl")[index]] = url
    links, problems = extract_links(card, base_url=base, include_related=True)
    check_problems(problems)
    for link in links:
        assert normalise_url(link.url) == link.url
        assert len(link.url) <= 2 * MAX_URL_CHARS + len(base or "")
