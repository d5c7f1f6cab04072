"""Property-based fuzzing of everything that reads what a server sends: header values (decoded the
way aiohttp decodes them), Retry-After, status lines, redirect targets, charsets, titles, and
what the rot checks read from a body. No exception escapes; every text that comes out is valid
UTF-8. Example counts are modest: the file runs in seconds.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from crawler.judge.home import redirect_to_home
from crawler.judge.html import (
    TITLE_CHARS,
    choose_charset,
    decode_html,
    decode_text,
    first_h1,
    known_charset,
    meta_refresh_target,
    page_title,
    visible_text_tokens,
)
from crawler.judge.http import status_finding
from crawler.judge.pagerot import PageRotChecker
from crawler.model import Finding, LinkKind, UrlOutcome
from crawler.web.answer import Answer, location_text, safe_headers
from crawler.web.politeness import parse_retry_after
from crawler.web.redirects import parse_url, redirect_target

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid(*texts: str | None) -> bool:
    for text in texts:
        if text is not None:
            text.encode("utf-8")  # raises on a lone surrogate
    return True


def as_aiohttp_decodes(raw: bytes) -> str:
    """A header value as aiohttp hands it over: UTF-8, other bytes as lone surrogates."""
    return raw.decode("utf-8", "surrogateescape")


header_bytes = st.binary(max_size=120).filter(lambda b: b"\r" not in b and b"\n" not in b)
header_text = header_bytes.map(as_aiohttp_decodes)
content_types = st.one_of(
    st.none(),
    header_text,
    st.builds(
        lambda label: f"text/html; charset={label}",
        st.sampled_from(
            ["utf-8", "latin-1", "utf-16", "utf-7", "rot13", "base64", "zlib", "hex", "uu",
             "idna", "punycode", "undefined", "unicode_escape", "cp1252", "x-bogus", ""]
        ),
    ),
)  # fmt: skip
html_fragments = st.sampled_from(
    [b"<title>", b"</title>", b"<h1>", b"</h1>", b"<meta charset=utf-7>", b"<meta charset=rot13>",
     b'<meta http-equiv="refresh" content="0; url=', b"javascript:", b"/", b'">', b"<script>",
     b"</script>", b"<!--", b"-->", b"<noscript>", b"<svg/>", b"&amp;", b"&#xD800;", b"+2AA-",
     b"\xff\xfe", b"\xe9", b"<a", b"<", b">", b" ", b"text", b"\x00"]
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=400),
    st.lists(html_fragments, max_size=40).map(b"".join),
)


@FUZZ
@given(st.lists(st.tuples(header_text, header_text), max_size=8))
def test_header_values_come_out_as_valid_text(pairs: list[tuple[str, str]]) -> None:
    headers = safe_headers(CIMultiDictProxy(CIMultiDict(pairs)))
    assert all(valid(k, v) for k, v in headers.items())
    assert len(headers) == len(pairs)


@FUZZ
@given(header_text)
def test_a_location_keeps_its_undecodable_bytes_as_percent_escapes(raw: str) -> None:
    text = location_text(raw)
    assert valid(text)
    assert "\\x" not in text or "\\x" in raw  # never a visible escape: a URL gets %XX


@FUZZ
@given(st.integers(0, 999), st.lists(header_text, max_size=3))
def test_any_redirect_answer_gives_a_target_a_finding_or_nothing(
    status: int, locations: list[str]
) -> None:
    answer = Answer(
        url="http://h.test/a/b?c=d",
        status=status,
        reason="Found",
        headers=CIMultiDictProxy(CIMultiDict()),
        locations=tuple(location_text(loc) for loc in locations),
    )
    target = redirect_target(answer)
    if isinstance(target, Finding):
        assert valid(target.detail)
    elif target is not None:
        assert valid(target)
        parsed = parse_url(target)  # never raises: a URL or the reason it is none
        assert valid(parsed if isinstance(parsed, str) else str(parsed))


@FUZZ
@given(st.one_of(st.none(), header_text, st.from_regex(r"\A-?\d{1,400}(\.\d*)?\Z")))
def test_retry_after_is_none_or_within_the_cap(value: str | None) -> None:
    seconds = parse_retry_after(value, cap=60.0)
    assert seconds is None or 0.0 <= seconds <= 60.0


@FUZZ
@given(st.integers(-1, 1000), header_text)
def test_any_status_line_gives_a_finding_or_health(status: int, reason: str) -> None:
    finding = status_finding(status, reason)
    healthy = 200 <= status < 300 or status == 304
    assert (finding is None) == healthy


@FUZZ
@given(st.one_of(header_text, st.binary(max_size=30)))
def test_a_charset_label_is_a_text_codec_or_unknown(label: str | bytes) -> None:
    name = known_charset(label)
    if name is not None:
        assert valid(decode_text(b"\xff\xfe<title>x</title>\x00\xe9", name))


@FUZZ
@given(bodies, content_types)
def test_the_title_is_valid_bounded_text_or_none(body: bytes, content_type: str | None) -> None:
    title = page_title(body, content_type)
    assert title is None or (valid(title) and 0 < len(title) <= TITLE_CHARS)
    charset = choose_charset(body, content_type)
    assert valid(decode_text(body, charset))


@FUZZ
@given(bodies, content_types)
def test_what_the_rot_checks_read_from_a_body_is_valid_text(
    body: bytes, content_type: str | None
) -> None:
    assert valid(decode_html(body, content_type), first_h1(body, content_type))
    assert valid(*visible_text_tokens(body, content_type))
    target = meta_refresh_target(body, content_type)
    assert valid(target)


urls = st.one_of(
    st.sampled_from(
        ["https://ex.test/2024/01/a-long-story-slug/", "https://ex.test/", "http://[::1]/x",
         "https://ex.test/news/", "https://ex.test/?p=123"]
    ),
    st.text(max_size=40).map(lambda t: f"https://ex.test/{t}"),
)  # fmt: skip


@FUZZ
@given(urls, st.one_of(st.none(), urls))
def test_redirect_to_home_reads_any_pair_of_urls(original: str, final: str | None) -> None:
    detail = redirect_to_home(original, final, [])
    assert detail is None or valid(detail)


@FUZZ
@given(
    bodies,
    content_types,
    st.dictionaries(header_text, header_text, max_size=4),
    st.sampled_from([200, 203, 204]),
    st.one_of(st.none(), header_text),
)
def test_the_page_rot_check_reads_any_answer(
    body: bytes,
    content_type: str | None,
    headers: dict[str, str],
    status: int,
    title: str | None,
) -> None:
    safe = dict(safe_headers(CIMultiDictProxy(CIMultiDict(headers))).items())
    if title is not None:
        title = page_title(f"<title>{title}</title>".encode(errors="surrogateescape"), None)
    outcome = examine(body, content_type, safe, status, title)
    assert all(valid(f.detail) for f in outcome.findings)


def examine(
    body: bytes, content_type: str | None, headers: dict[str, str], status: int, title: str | None
) -> UrlOutcome:
    async def probe(url: str, kind: LinkKind) -> UrlOutcome:
        return UrlOutcome(
            url, kind, http_status=200, final_url=url, title=title, body=body, content_type=None
        )

    url = "https://news.example.test/2024/01/a-long-story-slug-about-something/"
    outcome = UrlOutcome(
        url,
        LinkKind.PAGE,
        http_status=status,
        final_url=url,
        title=title,
        content_type=content_type,
        body=body,
        response_headers=headers,
    )
    asyncio.run(PageRotChecker(probe, seed=1).examine(outcome, "The card's own headline"))
    return outcome
