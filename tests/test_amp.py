"""AMP Cache URLs, offline: amp-toolbox's published vectors, the real cards, retired AMP pages."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from crawler.judge.amp import (
    Serving,
    amp_cache_host,
    amp_cache_url,
    amp_retired,
    check_cdn_amp,
    has_amp_marker,
    hash_label,
    silent_redirect,
)

# -- the reference's vectors ------------------------------------------------------------------
# Copied from ampproject/amp-toolbox, packages/cache-url/spec/AmpUrlSpec.js (commit 5892f0d3,
# "createCurlsSubdomain" and "createCacheUrl" tables, the viewer case from its "supportType"
# test; re-checked against the file as published at commit 153d76b7: the same pairs); the
# algorithm is packages/cache-url/lib/AmpCurlUrlGenerator.js (commit e5a7f425) and
# AmpCacheUrlGenerator.js. The format is described at
# https://developers.google.com/amp/cache/overview ("AMP Cache URL format").

CURLS_VECTORS = [
    ("https://something.com", "something-com"),
    ("https://SOMETHING.COM", "something-com"),
    ("https://hello-world.com", "hello--world-com"),
    ("https://hello--world.com", "hello----world-com"),
    ("https://toplevelnohyphens", "qsgpfjzulvuaxb66z77vlhb5gu2irvcnyp6t67cz6tqo5ae6fysa"),
    ("https://no-dot-domain", "4lxc7wqq7b25walg4rdiil62veijrmqui5z3ept2lyfqqwpowryq"),
    (
        "https://itwasadarkandstormynight.therainfellintorrents.exceptatoccasionalintervalswhenit"
        "wascheckedby.aviolentgustofwindwhichsweptupthestreets.com",
        "dgz4cnrxufaulnwku4ow5biptyqnenjievjht56hd7wqinbdbteq",
    ),
    # Wikipedia's example of an IDN: "bücher.ch" -> "bücher-ch"
    ("https://xn--bcher-kva.ch", "xn--bcher-ch-65a"),
    # wholly right-to-left (Egyptian Ministry of Communications): stays human-readable
    (
        "https://xn--4gbrim.xn----rmckbbajlc6dj7bxne2c.xn--wgbh1c",
        "xn-------i5fvcbaopc6fkc0de0d9jybegt6cd",
    ),
    # a mix of left-to-right and right-to-left cannot be one label: the hash
    (
        "https://hello.xn--4gbrim.xn----rmckbbajlc6dj7bxne2c.xn--wgbh1c",
        "a6h5moukddengbsjm77rvbosevwuduec2blkjva4223o4bgafgla",
    ),
    ("https://en-us.example.com", "0-en--us-example-com-0"),
]

CACHE_URL_VECTORS = [
    ("https://www.example.com", Serving.DOCUMENT, "https://www-example-com.cdn.ampproject.org/c/s/www.example.com"),
    ("http://www.example.com", Serving.DOCUMENT, "https://www-example-com.cdn.ampproject.org/c/www.example.com"),
    (
        "https://www.example.com/index.html",
        Serving.DOCUMENT,
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/index.html",
    ),
    (
        "http://www.example.com/index.html",
        Serving.DOCUMENT,
        "https://www-example-com.cdn.ampproject.org/c/www.example.com/index.html",
    ),
    (
        "https://www.example.com/image.png",
        Serving.IMAGE,
        "https://www-example-com.cdn.ampproject.org/i/s/www.example.com/image.png",
    ),
    (
        "http://www.example.com/image.png",
        Serving.IMAGE,
        "https://www-example-com.cdn.ampproject.org/i/www.example.com/image.png",
    ),
    (
        "https://www.example.com/font.woff2",
        Serving.RESOURCE,
        "https://www-example-com.cdn.ampproject.org/r/s/www.example.com/font.woff2",
    ),
    (
        "http://www.example.com/font.woff2",
        Serving.RESOURCE,
        "https://www-example-com.cdn.ampproject.org/r/www.example.com/font.woff2",
    ),
    (
        "https://example.com/g?value=Hello%20World",
        Serving.DOCUMENT,
        "https://example-com.cdn.ampproject.org/c/s/example.com/g?value=Hello%20World",
    ),
    ("https://點看.com", Serving.DOCUMENT, "https://xn---com-k47jg78q.cdn.ampproject.org/c/s/點看.com"),
    ("https://www.example.com", Serving.VIEWER, "https://www-example-com.cdn.ampproject.org/v/s/www.example.com"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "label"), CURLS_VECTORS)
def test_cache_host_matches_amp_toolbox(url: str, label: str) -> None:
    host = urlsplit(url).hostname
    assert host is not None
    assert amp_cache_host(host) == label


@pytest.mark.parametrize(("url", "serving", "cache_url"), CACHE_URL_VECTORS)
def test_cache_url_matches_amp_toolbox(url: str, serving: Serving, cache_url: str) -> None:
    assert amp_cache_url(url, serving=serving) == cache_url


# The hash labels below are literals, worked out once from the reference's rule (SHA-256 of
# the ASCII host, base32, lowercase, unpadded: what reproduces the published vectors above), not
# from linkcheck's own hash_label.


def test_the_hash_is_52_lowercase_base32_characters() -> None:
    label = hash_label("toplevelnohyphens")
    assert label == "qsgpfjzulvuaxb66z77vlhb5gu2irvcnyp6t67cz6tqo5ae6fysa"  # the published one
    assert re.fullmatch(r"[a-z2-7]{52}", label)


def test_a_unicode_host_gets_the_label_of_its_punycode_spelling() -> None:
    assert amp_cache_host("bücher.ch") == amp_cache_host("xn--bcher-kva.ch") == "xn--bcher-ch-65a"
    mixed = "hello.\u0645\u0635\u0631"  # LTR "hello" + an RTL label (hello.xn--wgbh1c)
    assert amp_cache_host(mixed) == "oi25cmq5ntpisuwr5uh35islkehuoz52izz5bhs22o7f3y6ldooa"


def test_a_long_host_gets_the_hash_and_so_does_a_label_over_63() -> None:
    # 60 characters with dots: eligible, but "-" doubling makes the label 64 long
    host = "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z.example.com"
    assert len(host) <= 63
    assert amp_cache_host(host) == "f6qpyvxjkfkn7yjjkb7iszmptkyyho65hhtdamiu2xz7m47iyeza"


def test_a_host_with_hyphens_at_3_and_4_is_not_human_readable() -> None:
    assert amp_cache_host("ab--cd.example.com") == (
        "ycqfff2c3iuxuob5fl5v5s5guncntm4lwwcqwttdyovrjjtzn5ja"
    )
    assert amp_cache_host("xn--bcher-kva.ch").startswith("xn--")  # xn-- is allowed


def test_an_ip_address_follows_the_same_rules() -> None:
    assert amp_cache_host("192.0.2.1") == "192-0-2-1"  # the reference does not special-case it
    # no dot: the hash (of 2001:db8::1)
    assert amp_cache_host("[2001:db8::1]") == (
        "ll6rt2cw2hay2f6wadp5fnpvgsmsgm4ylyjgykuvcbdrala62u3a"
    )


def test_invalid_input_raises_value_error() -> None:
    with pytest.raises(ValueError, match="punycode"):
        amp_cache_host("xn--99999999999999999.example.com")
    with pytest.raises(ValueError):
        amp_cache_url("ftp://example.com/file")
    with pytest.raises(ValueError):
        amp_cache_host("")


def test_cache_url_drops_the_port_keeps_query_and_fragment() -> None:
    assert amp_cache_url("https://Example.com:8443/a/amp/?x=1#top") == (
        "https://example-com.cdn.ampproject.org/c/s/example.com/a/amp/?x=1#top"
    )


# -- check_cdn_amp ------------------------------------------------------------------------------

ENGADGET_AMP = "https://www.engadget.com/amp/2020/02/12/clearview-ai-police-surveillance-explained/"
ENGADGET_CDN = (
    "https://www-engadget-com.cdn.ampproject.org/c/s/www.engadget.com/amp/2020/02/12/"
    "clearview-ai-police-surveillance-explained/"
)


def test_the_brief_card_matches() -> None:
    assert check_cdn_amp(ENGADGET_AMP, ENGADGET_CDN) is None


@pytest.mark.parametrize(
    "cdn",
    [
        ENGADGET_CDN.replace("https://www-engadget-com", "HTTPS://WWW-ENGADGET-COM"),
        ENGADGET_CDN.replace(".org/", ".org:443/"),
        ENGADGET_CDN.replace("/s/www.engadget.com/", "/s/WWW.Engadget.com/"),
        ENGADGET_CDN + "#comments",
    ],
)
def test_spelling_differences_are_not_a_mismatch(cdn: str) -> None:
    assert check_cdn_amp(ENGADGET_AMP, cdn) is None


def test_a_bare_host_and_a_slash_are_the_same() -> None:
    assert (
        check_cdn_amp(
            "https://example.com", "https://example-com.cdn.ampproject.org/c/s/example.com/"
        )
        is None
    )


@pytest.mark.parametrize(
    "cdn",
    [
        ENGADGET_CDN.replace("/c/s/", "/c/"),  # http form for an https page
        ENGADGET_CDN.replace("www-engadget-com", "www.engadget.com"),  # not encoded
        ENGADGET_CDN.replace("/2020/02/12/", "/2020/02/13/"),  # another page
        "https://cdn.ampproject.org/c/s/www.engadget.com/amp/2020/02/12/"
        "clearview-ai-police-surveillance-explained/",  # the pre-2017 shared-host form
    ],
)
def test_a_wrong_cache_url_is_a_mismatch_with_the_expected_url(cdn: str) -> None:
    detail = check_cdn_amp(ENGADGET_AMP, cdn)
    assert detail == f"expected {ENGADGET_CDN}, card has {cdn}"


def test_hyphen_hosts_in_a_card() -> None:
    amp = "https://en-us.example.com/amp/story"
    assert (
        check_cdn_amp(
            amp, "https://0-en--us-example-com-0.cdn.ampproject.org/c/s/en-us.example.com/amp/story"
        )
        is None
    )
    detail = check_cdn_amp(
        amp, "https://en--us-example-com.cdn.ampproject.org/c/s/en-us.example.com/amp/story"
    )
    assert detail is not None and "0-en--us-example-com-0" in detail


def test_an_underivable_amp_url_is_reported_not_raised() -> None:
    detail = check_cdn_amp("mailto:someone@example.com", "https://x.cdn.ampproject.org/c/s/x")
    assert detail is not None and detail.startswith("cannot derive")


# -- the real cards -----------------------------------------------------------------------------

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cards-corpus"


def _front_matter(path: Path) -> dict[str, object]:
    text = re.sub("[\x80-\x9f]", "", path.read_text(encoding="utf-8", errors="replace"))
    found = re.match(r"\A---\s*\n(.*?)\n---", text.replace("\r\n", "\n"), re.DOTALL)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(found.group(1), Loader=loader) if found else None
    return data if isinstance(data, dict) else {}


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the real-cards corpus is not there: {CORPUS}")
def test_every_real_cdn_amp_url_follows_the_rules() -> None:
    pairs = []
    for path in sorted(CORPUS.glob("*/**/_news/*.md")):
        fm = _front_matter(path)
        amp, cdn = fm.get("ampWebUrl"), fm.get("cdnAmpWebUrl")
        if isinstance(amp, str) and isinstance(cdn, str):
            pairs.append((path.name, amp, cdn))
    # 721 of the 2,000 cards (36%) have both; every one matched when this was written (721/721)
    assert len(pairs) >= 700
    mismatches = [(name, check_cdn_amp(amp, cdn)) for name, amp, cdn in pairs]
    assert [m for m in mismatches if m[1] is not None] == []
    hyphenated = {amp_cache_host(urlsplit(amp).hostname or "") for _, amp, _ in pairs}
    assert any("--" in label for label in hyphenated)  # the corpus exercises "-" doubling


# -- retired AMP --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "marked"),
    [
        ("https://www.neowin.net/amp/some-story/", True),
        ("https://www.itworld.com/article/3545369/story.amp.html", True),
        ("https://thehackernews.com/2021/01/bug.html?amp=1", True),
        ("https://www.bostonglobe.com/2020/04/28/business/x/?outputType=amp", True),
        ("https://www.pratttribune.com/opinion/x?template=ampart", True),
        ("https://www.shacknews.com/article/134585/x?amphtml=1", True),
        ("http://amp.jamaicaobserver.com/news/x", True),
        ("https://www.zdnet.com/google-amp/article/x/", True),
        ("https://www.example.com/news/amplifier-review-2020/", False),
        ("https://champ.gothamist.com/news/x", False),
        ("https://www.example.com/news/sample-story/", False),
    ],
)
def test_amp_markers(url: str, marked: bool) -> None:
    assert has_amp_marker(url) is marked


def test_amp_page_redirecting_to_its_canonical_page_is_retired() -> None:
    amp = "https://www.example.com/amp/2020/05/story/"
    web = "https://www.example.com/2020/05/story/"
    detail = amp_retired(amp, web, web)
    assert detail is not None and "canonical" in detail


def test_amp_page_redirecting_to_a_non_amp_url_is_retired_even_without_web_url() -> None:
    amp = "https://news.example.com/story.html?amp=1"
    detail = amp_retired(amp, "https://news.example.com/story.html")
    assert detail is not None and "non-AMP" in detail


@pytest.mark.parametrize(
    "final",
    [
        "https://www.example.com/amp/2020/05/story/",  # no redirect
        "https://www.example.com/amp/2020/05/story",  # a trailing slash
        "http://www.example.com/amp/2020/05/story/",  # scheme change only
        "https://www.example.com/amp/2021/01/story-moved/",  # a moved AMP page, still AMP
        None,  # never answered
    ],
)
def test_amp_page_that_stays_amp_is_not_retired(final: str | None) -> None:
    amp = "https://www.example.com/amp/2020/05/story/"
    assert amp_retired(amp, final, "https://www.example.com/2020/05/story/") is None


# -- the cache's silent redirect (ampproject/amphtml#36471) -----------------------------------


def test_silent_redirect_is_read_from_the_headers() -> None:
    headers = {
        "Location": "http://www.pacehospital.com/irritable-bowel-syndrome?amp=true",
        "Cache-Control": "private",
        "X-Silent-Redirect": "true",
        "Warning": '199 - "Failed to validate PCU."',
    }
    found = silent_redirect(200, headers)
    assert found is not None
    assert found.location == "http://www.pacehospital.com/irritable-bowel-syndrome?amp=true"
    assert found.reason == '199 - "Failed to validate PCU."'
    assert "Failed to validate PCU" in found.detail


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, {"Content-Type": "text/html"}),  # served from the cache: healthy
        (200, {"x-silent-redirect": "false"}),
        (302, {"x-silent-redirect": "true", "location": "https://example.com/"}),  # a real hop
    ],
)
def test_no_silent_redirect(status: int, headers: dict[str, str]) -> None:
    assert silent_redirect(status, headers) is None
