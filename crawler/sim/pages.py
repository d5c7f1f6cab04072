"""The simulated web's bodies: an article page, and the "Example News" site's templates (home,
section, soft 404, meta refresh home, app shell) that the rot routes serve."""

from __future__ import annotations

import html
import re
from typing import Final

from crawler.sim.headlines import card_title

SITE_NAME: Final = "Example News"  # the site name in the rot templates' titles
ENDLESS_CHUNK: Final = 64 * 1024

_PROBE = re.compile(r"^[a-z]{25}$")  # crawler.judge.soft404.probe_url's last segment
_STORY_SUFFIXES: Final = ("-moved", "-new-slug")  # redirect targets that keep the card's story


def page_html(title: str, paragraphs: int = 3, heading: str | None = None) -> bytes:
    """A small but plausible article page (`heading`, the <h1>, defaults to the title)."""
    text = "".join(
        f"<p>Paragraph {i + 1} of the simulated article. "
        "It exists so the page has a body of a realistic shape.</p>\n"
        for i in range(paragraphs)
    )
    h1 = title if heading is None else heading
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body><article><h1>{h1}</h1>\n{text}"
        "</article></body></html>\n"
    ).encode()


def is_probe(segment: str) -> bool:
    """Is this last path segment a soft-404 probe's (25 random lowercase letters)?"""
    return bool(_PROBE.match(segment))


def story_title(key: str) -> str:
    """The headline served for an article id (a redirect target's suffix removed)."""
    for suffix in _STORY_SUFFIXES:
        key = key.removesuffix(suffix)
    return card_title(key)


def site_page(title: str, main: str, head_extra: str = "") -> bytes:
    """A page of the "Example News" site template: header, navigation, main, footer."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{head_extra}</head>\n<body>\n"
        f'<header><a href="/" class="logo">{SITE_NAME}</a>\n<nav><a href="/news/">News</a> '
        '<a href="/business/">Business</a> <a href="/sport/">Sport</a> '
        '<a href="/weather/">Weather</a></nav>\n'
        '<form action="/search"><input name="q" placeholder="Search"></form></header>\n'
        f"<main>\n{main}\n</main>\n"
        f"<footer>Contact us. Privacy policy. Terms of use. Copyright {SITE_NAME}.</footer>\n"
        "</body></html>\n"
    ).encode()


_SORRY: Final = (
    "<p>It may have been moved or deleted, or the address may be mistyped. Try the search box "
    'above, or start again from our <a href="/">home page</a>.</p>\n'
    "<h3>Most read</h3><ul><li>Weather warning for the weekend</li>"
    "<li>Markets close higher</li><li>Local team wins the cup</li></ul>"
)
SOFT_404_PAGE: Final = site_page(
    SITE_NAME, "<h2>Sorry, we couldn't find that page</h2>\n" + _SORRY
)  # no <h1>, and a site-name title: nothing in it says "not found" where a checker looks
SOFT_404_TITLED_PAGE: Final = site_page(
    f"Page not found | {SITE_NAME}", "<h1>Page not found</h1>\n" + _SORRY
)
REAL_404_PAGE: Final = SOFT_404_TITLED_PAGE  # what real404site and the article sites send, as 404
HOME_PAGE: Final = site_page(
    SITE_NAME,
    f"<h1>{SITE_NAME}</h1>\n<h2>Top stories</h2>\n<ul><li>Weather warning for the weekend</li>"
    "<li>Markets close higher</li><li>Local team wins the cup</li></ul>",
)
SECTION_PAGE: Final = site_page(
    f"News | {SITE_NAME}",
    "<h1>News</h1>\n<ul><li>Council approves the budget</li><li>Trains run late again</li>"
    "<li>New bridge opens in May</li></ul>",
)


def meta_home_page(target: str) -> bytes:
    """A 200 that sends the browser home with a meta refresh."""
    refresh = f'<meta http-equiv="refresh" content="0; url={html.escape(target)}">'
    return site_page(
        SITE_NAME,
        f'<p>Redirecting you to our <a href="{html.escape(target)}">home page</a>.</p>',
        refresh,
    )


def spa_shell(title: str) -> bytes:
    """A one-page app's shell: the same body for every route, rendered in the browser."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<script src="/spa/static/app.js" defer></script></head>\n'
        '<body><div id="root"></div>'
        "<noscript>You need to enable JavaScript to run this app.</noscript></body></html>\n"
    ).encode()


def endless_head(title: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body>\n"
    ).encode()


ENDLESS_BODY: Final = (b"<p>" + b"endless " * 126 + b"</p>\n") * (ENDLESS_CHUNK // 1016)
