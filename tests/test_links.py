"""crawler.intake.links: URL classification, normalisation and the URL-bearing fields of a card."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from crawler.intake.links import (
    UrlForm,
    classify_url,
    extract_links,
    resolve_relative,
)
from crawler.model import Kind, Link, LinkKind, Problem, Severity
from crawler.web.urls import host_key, normalise_url

# The image URL of the real Engadget card: a thumbnail proxy whose query carries a URL encoded
# twice over (%2C, %252C, %253A...). Any re-encoding would check a different URL.
THUMBNAIL = (
    "https://o.aolcdn.com/images/dims?thumbnail=600%2C350&quality=80&image_uri=https%3A%2F%2Fo"
    ".aolcdn.com%2Fimages%2Fdims%3Fcrop%3D4860%252C3281%252C0%252C496%26quality%3D85%26format%3D"
    "jpg%26resize%3D1600%252C1080%26image_uri%3Dhttps%253A%252F%252Fs.yimg.com%252Fos%252Fcreatr"
    "-images%252F2020-02%252Fe54aedf0-4c27-11ea-a9fe-866995234731%26client%3Da1acac3e1b3290917d92"
    "%26signature%3D391ffea25021c6719cf6fee9e9c0546ae4d25dff&client=amp-blogside-v2&signature=8eb"
    "6abcd4b8196a3f78f1a49f795c0cd964de258"
)
LOGO = "/assets/images/organizations/engadget.com-50x50.jpg"
BASE = "https://everyday-cc.github.io/ai"


def links_of(fm: dict[str, Any], **kwargs: Any) -> tuple[list[Link], list[Problem]]:
    kwargs.setdefault("base_url", None)
    kwargs.setdefault("include_related", False)
    return extract_links(fm, **kwargs)


def only_problem(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


# ---------------------------------------------------------------------------------------------
# normalise_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Engadget.COM/2020/x/", "https://www.engadget.com/2020/x/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),  # not the default for http
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com?x=1", "https://example.com/?x=1"),
        ("https://example.com#top", "https://example.com/"),
        ("https://example.com:/a", "https://example.com/a"),  # empty port
        ("https://User:Pw@Example.com/a", "https://User:Pw@example.com/a"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        # path and query stay byte for byte: case, escapes, odd but legal characters
        (
            "https://example.com/A/%7Euser/?Q=%2f&q=%2F",
            "https://example.com/A/%7Euser/?Q=%2f&q=%2F",
        ),
        ("https://example.com/a//b/./c/../d", "https://example.com/a//b/./c/../d"),
        ("https://example.com/path?", "https://example.com/path?"),
        ("https://technode.com/2020/05/屏幕快照.png", "https://technode.com/2020/05/屏幕快照.png"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


def test_normalise_keeps_the_nested_percent_encoding_of_the_thumbnail_exactly() -> None:
    assert normalise_url(THUMBNAIL) == THUMBNAIL
    assert normalise_url(THUMBNAIL.replace("https://o.aolcdn.com", "HTTPS://O.AOLCDN.COM:443")) == (
        THUMBNAIL
    )


def test_normalise_is_idempotent() -> None:
    for url in ("HTTP://A.b:80", "https://x.y/p?q#f", THUMBNAIL):
        once = normalise_url(url)
        assert normalise_url(once) == once


# ---------------------------------------------------------------------------------------------
# classify_url


@pytest.mark.parametrize(
    ("raw", "form"),
    [
        ("https://www.engadget.com/2020/02/12/x/", UrlForm.ABSOLUTE),
        ("HTTP://EXAMPLE.COM", UrlForm.ABSOLUTE),
        ("http://localhost:8080/x", UrlForm.ABSOLUTE),
        ("https://[::1]/x", UrlForm.ABSOLUTE),
        (THUMBNAIL, UrlForm.ABSOLUTE),
        ("https://www.irishtimes.com/news/gardaí-move", UrlForm.ABSOLUTE),  # as browsers do
        ("//cdn.example.com/x.jpg", UrlForm.PROTOCOL_RELATIVE),
        (LOGO, UrlForm.RELATIVE),
        ("assets/x.png", UrlForm.RELATIVE),
        ("../x.png", UrlForm.RELATIVE),
        ("x.jpg?w=1", UrlForm.RELATIVE),
    ],
)
def test_classify_valid(raw: str, form: UrlForm) -> None:
    assert classify_url(raw) == (form, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("mailto:news@example.com", "scheme 'mailto:' is not http or https"),
        ("javascript:alert(1)", "scheme 'javascript:' is not http or https"),
        ("ftp://example.com/x", "scheme 'ftp:' is not http or https"),
        ("htp:/x", "scheme 'htp:' is not http or https"),
        ("data:image/png;base64,AAAA", "scheme 'data:' is not http or https"),
        ("http://", "it has no host"),
        ("https:///path", "it has no host"),
        ("http://:80/x", "it has no host"),
        ("http:/x", "'http:' must be followed by '//' and a host"),
        ("https:example.com", "'https:' must be followed by '//' and a host"),
        ("https://example.com:99999/", "the port '99999' is not a number from 0 to 65535"),
        ("https://example.com:8o/", "the port '8o' is not a number from 0 to 65535"),
        ("https://exa<mple.com/", "the host 'exa<mple.com' contains '<'"),
        ("https://[::1/x", "the IPv6 host '[::1' has no closing ']'"),
        ("//", "it has no host"),
        (
            "www.example.com/story",
            "it has no scheme (did you mean 'https://www.example.com/story'?)",
        ),
        ("https://apnews.com/PR Newswire/f5b8", "it contains a space (U+0020) at position 21"),
        ("https://x.com/a\tb", "it contains a control character (U+0009) at position 15"),
        ("https://x.com/a\x97b", "it contains a control character (U+0097) at position 15"),
        ("https://x.com/a\u2028/", "it contains a line separator (U+2028) at position 15"),
        ("https://x.com/a\u202fb", "it contains a narrow no-break space (U+202F) at position 15"),
        ("", "it is empty"),
    ],
)
def test_classify_invalid_says_why(raw: str, reason: str) -> None:
    form, why = classify_url(raw)
    assert form is UrlForm.INVALID
    assert why is not None and why.startswith(reason), why


def test_resolve_relative_keeps_the_sites_baseurl_like_jekyll_absolute_url() -> None:
    expected = "https://everyday-cc.github.io/ai/assets/images/organizations/engadget.com-50x50.jpg"
    assert resolve_relative(LOGO, BASE) == expected
    assert resolve_relative(LOGO, BASE + "/") == expected
    assert resolve_relative(LOGO.lstrip("/"), BASE) == expected
    assert resolve_relative("../up.png", BASE + "/") == "https://everyday-cc.github.io/up.png"
    assert resolve_relative("/x.png", "https://example.com") == "https://example.com/x.png"


# ---------------------------------------------------------------------------------------------
# extract_links: which fields, in which order


def engadget_like() -> dict[str, Any]:
    return {
        "title": "Why Clearview AI is a threat to us all",
        "webUrl": "https://www.engadget.com/2020/02/12/clearview/",
        "ampWebUrl": "https://www.engadget.com/amp/2020/02/12/clearview/",
        "cdnAmpWebUrl": "https://www-engadget-com.cdn.ampproject.org/c/s/www.engadget.com/amp/x/",
        "provider": {
            "name": "Engadget",
            "domain": "engadget.com",
            "images": [{"url": LOGO, "width": 50, "height": 50}],
        },
        "images": [{"url": THUMBNAIL, "width": 600, "height": 350, "title": "x"}],
    }


def test_fields_in_order_with_declared_dimensions() -> None:
    links, problems = links_of(engadget_like(), base_url=BASE)
    assert problems == []
    assert [(link.field, link.kind) for link in links] == [
        ("webUrl", LinkKind.PAGE),
        ("ampWebUrl", LinkKind.PAGE),
        ("cdnAmpWebUrl", LinkKind.PAGE),
        ("images[0].url", LinkKind.IMAGE),
        ("provider.images[0].url", LinkKind.IMAGE),
    ]
    assert links[3] == Link("images[0].url", THUMBNAIL, LinkKind.IMAGE, 600, 350)
    assert links[4].url == BASE + LOGO
    assert (links[4].declared_width, links[4].declared_height) == (50, 50)
    assert (links[0].declared_width, links[0].declared_height) == (None, None)


def test_relative_logo_without_base_url_is_a_warning_and_no_link() -> None:
    links, problems = links_of(engadget_like())
    assert [link.field for link in links] == [
        "webUrl",
        "ampWebUrl",
        "cdnAmpWebUrl",
        "images[0].url",
    ]
    problem = only_problem(problems)
    assert problem.kind is Kind.RELATIVE_URL_UNRESOLVED
    assert problem.severity is Severity.WARNING
    assert problem.field == "provider.images[0].url"
    assert problem.url == LOGO
    assert LOGO in problem.detail
    assert "no base_url is configured (set links.base_url or --base-url)" in problem.detail


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (None, "https://cdn.example.com/x.jpg"),
        ("http://example.org/", "http://cdn.example.com/x.jpg"),
    ],
)
def test_protocol_relative_takes_https_or_the_base_urls_scheme(
    base_url: str | None, expected: str
) -> None:
    fm = {"webUrl": "https://a.example/", "images": [{"url": "//CDN.example.com/x.jpg"}]}
    links, problems = links_of(fm, base_url=base_url)
    assert problems == []
    assert links[1] == Link("images[0].url", expected, LinkKind.IMAGE)


@pytest.mark.parametrize(
    "original",
    [
        "https://www.engadget.com/2020/02/12/clearview/",
        "HTTPS://WWW.ENGADGET.COM:443/2020/02/12/clearview/#comments",
        "  https://www.engadget.com/2020/02/12/clearview/",
    ],
)
def test_original_url_same_as_web_url_is_not_duplicated(original: str) -> None:
    fm = {"webUrl": "https://www.engadget.com/2020/02/12/clearview/", "originalUrl": original}
    links, _ = links_of(fm)
    assert [link.field for link in links] == ["webUrl"]


def test_original_url_that_differs_is_checked_after_web_url() -> None:
    fm = {"ampWebUrl": "https://a.example/amp", "webUrl": "https://a.example/x"}
    fm["originalUrl"] = "https://youtube.com/watch?v=6NPtZSMH0h4"
    links, _ = links_of(fm)
    assert [link.field for link in links] == ["webUrl", "originalUrl", "ampWebUrl"]


def test_video_with_original_url_and_no_web_url() -> None:
    links, problems = links_of({"originalUrl": "https://youtube.com/watch?v=m8_wjf1PkAc"})
    assert problems == []
    assert links == [Link("originalUrl", "https://youtube.com/watch?v=m8_wjf1PkAc", LinkKind.PAGE)]


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_or_null_optional_url_fields_are_simply_absent(empty: Any) -> None:
    fm = {"webUrl": "https://a.example/", "ampWebUrl": empty, "cdnAmpWebUrl": empty}
    fm["images"] = None
    fm["provider"] = None
    links, problems = links_of(fm)
    assert [link.field for link in links] == ["webUrl"]
    assert problems == []


def test_the_input_is_not_modified() -> None:
    fm = engadget_like()
    before = copy.deepcopy(fm)
    links_of(fm, base_url=BASE, include_related=True)
    assert fm == before


# ---------------------------------------------------------------------------------------------
# extract_links: related cards


def with_related() -> dict[str, Any]:
    fm = engadget_like()
    fm["related"] = [
        {
            "title": "Pure Storage extends public cloud block storage to Microsoft Azure",
            "webUrl": "https://www.zdnet.com/article/pure-storage/",
            "ampWebUrl": "https://www.zdnet.com/google-amp/article/pure-storage/",
            "provider": {"name": "ZDNet", "domain": "zdnet.com"},
            "images": [
                {"url": "https://www.zdnet.com/a/hub/i/r/x.jpg", "width": 1200, "height": 675}
            ],
        },
        {"title": "No image", "webUrl": "https://www.cio.com/resources/216876/x", "quality": 17},
        {"title": "Hand-written", "url": "https://example.com/story", "webUrl": ""},
        {
            "webUrl": "https://b.example/",
            "provider": {"images": [{"url": "https://b.example/logo.png", "width": 50}]},
        },
    ]
    return fm


def test_related_only_with_include_related() -> None:
    plain, _ = links_of(with_related())
    assert not any(link.field.startswith("related") for link in plain)
    links, problems = links_of(with_related(), include_related=True)
    assert problems[1:] == []  # [0] is the relative logo of the card itself
    assert [link.field for link in links if link.field.startswith("related")] == [
        "related[0].webUrl",
        "related[0].ampWebUrl",
        "related[0].images[0].url",
        "related[1].webUrl",
        "related[2].url",
        "related[3].webUrl",
        "related[3].provider.images[0].url",
    ]
    image = next(link for link in links if link.field == "related[0].images[0].url")
    assert (image.kind, image.declared_width, image.declared_height) == (LinkKind.IMAGE, 1200, 675)
    logo = next(link for link in links if link.field == "related[3].provider.images[0].url")
    assert (logo.declared_width, logo.declared_height) == (50, None)


def test_related_problems_name_the_item() -> None:
    fm = {"webUrl": "https://a.example/", "related": ["just a title", {"webUrl": "javascript:x"}]}
    _, problems = links_of(fm, include_related=True)
    assert [(p.kind, p.field) for p in problems] == [
        (Kind.CARD_INVALID_FIELD, "related[0]"),
        (Kind.INVALID_URL, "related[1].webUrl"),
    ]
    _, problems = links_of({"related": "none"}, include_related=True)
    assert only_problem(problems).detail == "related must be a list of cards, got 'none'"


# ---------------------------------------------------------------------------------------------
# extract_links: what is wrong, and how precisely it is said


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("htp:/x", "scheme 'htp:' is not http or https"),
        ("javascript:alert(1)", "scheme 'javascript:' is not http or https"),
        ("http://", "it has no host"),
    ],
)
def test_invalid_url_problem(raw: str, reason: str) -> None:
    links, problems = links_of({"webUrl": raw})
    assert links == []
    problem = only_problem(problems)
    assert (problem.kind, problem.field, problem.url) == (Kind.INVALID_URL, "webUrl", raw)
    assert problem.severity is Severity.INVALID
    assert problem.detail.startswith(f"webUrl {raw!r} is not a valid URL: {reason}")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("http://[abc]/x", "the host '[abc]' is not an IP address in brackets ('abc' does not"),
        ("//[abc]/x", "the host '[abc]' is not an IP address in brackets"),
        ("http://[1.2.3.4]/x", "the host '[1.2.3.4]' is not an IP address in brackets"),
        ("http://[vz.x]/x", "the host '[vz.x]' is not an IP address in brackets"),
        ("http://a]b/x", "square brackets may only enclose an IPv6 host"),
        ("http://user[@example.com/x", "square brackets may only enclose an IPv6 host"),
        ("http://[x@[::1]/", "square brackets may only enclose an IPv6 host"),
    ],
)
def test_brackets_the_host_key_cannot_split_are_an_invalid_url(raw: str, reason: str) -> None:
    """The scheduler keys every URL's host with urllib, which refuses these: a card holding one
    once crashed the run."""
    links, problems = links_of({"webUrl": raw})
    assert links == []
    problem = only_problem(problems)
    assert (problem.kind, problem.field, problem.url) == (Kind.INVALID_URL, "webUrl", raw)
    assert problem.detail.startswith(f"webUrl {raw!r} is not a valid URL: {reason}"), problem.detail


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://[V1.x]/x", "http://[v1.x]/x"),  # urllib wants a lower-case v: as normalised
        ("http://[::1]@example.com/x", "http://[::1]@example.com/x"),
    ],
)
def test_brackets_the_host_key_can_split_stay_valid(raw: str, url: str) -> None:
    links, problems = links_of({"webUrl": raw})
    assert problems == [] and [link.url for link in links] == [url]
    assert host_key(url)  # the scheduler can key it


def test_a_space_inside_a_url_is_invalid_and_the_detail_shows_where() -> None:
    raw = (
        "https://www.automation.com/en-us/articles/may-2021/senseye-pdm-now-microsoft-azure-"
        "marketplace?listname=Automation & Control News & Articles"
    )
    problem = only_problem(links_of({"webUrl": raw})[1])
    assert problem.kind is Kind.INVALID_URL
    assert "'https://www.automation.com/en-us/articles/may-2021/senseye-pdm-now-microsoft-...'" in (
        problem.detail
    )  # the value, cut to about 80 characters
    assert (
        "space (U+0020) at position 114, in 'place?listname=Automation & Control News & Article'"
        in (problem.detail)
    )  # and where the space is, since the value shown stops before it


def test_surrounding_whitespace_is_dropped_with_a_warning() -> None:
    raw = "http://s21.q4cdn.com/616071541/files/images/newsroom/NEWSROOM-Livery-1200x628.jpg\t"
    links, problems = links_of({"webUrl": "https://a.example/", "images": [{"url": raw}]})
    assert links[1].url == raw.strip()
    problem = only_problem(problems)
    assert (problem.kind, problem.severity) == (Kind.CARD_CONTROL_CHARACTER, Severity.WARNING)
    assert problem.field == "images[0].url"
    assert "ends with a control character (U+0009)" in problem.detail


JPG = "https://a.example/x.jpg"
WRONG_TYPES: list[tuple[dict[str, Any], str, str]] = [
    ({"webUrl": 42}, "webUrl", "webUrl must be a URL in quotes, got 42"),
    ({"ampWebUrl": [JPG]}, "ampWebUrl", f"ampWebUrl must be a URL in quotes, got [{JPG!r}]"),
    ({"images": JPG}, "images", f"images must be a list of images (- url: ...), got {JPG!r}"),
    ({"images": {"url": JPG}}, "images", "images must be a list of images"),
    (
        {"images": [JPG]},
        "images[0]",
        f"images[0] must be a mapping with url, width and height, got {JPG!r}",
    ),
    (
        {"images": [{"url": JPG, "width": "600px"}]},
        "images[0].width",
        "images[0].width must be a whole number, got '600px'",
    ),
    (
        {"images": [{"url": JPG, "height": 350.5}]},
        "images[0].height",
        "images[0].height must be a whole number, got 350.5",
    ),
    (
        {"images": [{"url": JPG, "width": True}]},
        "images[0].width",
        "images[0].width must be a whole number, got True",
    ),
    (
        {"images": [{"url": JPG, "width": 0}]},
        "images[0].width",
        "images[0].width must be a positive whole number, got 0",
    ),
    (
        {"provider": "Engadget"},
        "provider",
        "provider must be a mapping (name, domain, images), got 'Engadget'",
    ),
    ({"provider": {"images": {"url": JPG}}}, "provider.images", "provider.images must be a list"),
    (
        {"provider": {"images": [{"url": 5}]}},
        "provider.images[0].url",
        "provider.images[0].url must be a URL in quotes, got 5",
    ),
]


@pytest.mark.parametrize(("fm", "field", "detail"), WRONG_TYPES)
def test_wrong_typed_fields(fm: dict[str, Any], field: str, detail: str) -> None:
    problem = only_problem(links_of(fm)[1])
    assert (problem.kind, problem.field) == (Kind.CARD_INVALID_FIELD, field)
    assert problem.detail.startswith(detail), problem.detail


def test_an_image_without_url_is_a_missing_field() -> None:
    problem = only_problem(links_of({"images": [{"width": 600, "height": 350}]})[1])
    assert (problem.kind, problem.field) == (Kind.CARD_MISSING_FIELD, "images[0].url")


def test_wrong_dimensions_still_check_the_image_and_report_once() -> None:
    links, problems = links_of({"images": [{"url": JPG, "width": "600px", "height": 350}]})
    assert links == [Link("images[0].url", JPG, LinkKind.IMAGE, None, 350)]
    assert [p.field for p in problems] == ["images[0].width"]


def test_long_values_are_cut_to_about_80_characters() -> None:
    raw = "javascript:" + "x" * 500
    problem = only_problem(links_of({"webUrl": raw})[1])
    assert len(problem.detail) < 200
    assert problem.url == raw  # the problem still carries the whole value
