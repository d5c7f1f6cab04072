"""Rot behind a 200, its healthy look-alikes, and the archive: the routes a soft-404, redirect-to-
home or drift check must tell apart. A probe (crawler.judge.soft404.probe_url) is a last segment
of 25 lowercase letters; no card id has that shape."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from crawler.sim.archive import WAYBACK_TIMESTAMP, wayback_answer
from crawler.sim.exchange import Exchange
from crawler.sim.headlines import drift_title
from crawler.sim.pages import (
    HOME_PAGE,
    REAL_404_PAGE,
    SECTION_PAGE,
    SITE_NAME,
    SOFT_404_PAGE,
    SOFT_404_TITLED_PAGE,
    is_probe,
    meta_home_page,
    page_html,
    spa_shell,
    story_title,
)


def rot_route(x: Exchange, head: str, rest: list[str], prefix: str) -> web.Response | None:
    """Soft rot and its look-alikes, the archive; None when the path is none of them.
    Redirects and refreshes keep the /old/ `prefix` of the URL they answer."""
    template = _template_route(x, head, rest, prefix)
    if template is not None:
        return template
    last = rest[-1] if rest else ""
    if head in ("drift", "real404site", "suffixed", "articles") and rest and is_probe(last):
        return x.html(REAL_404_PAGE, status=404)
    if head == "drift" and len(rest) == 1:
        other = drift_title(last)
        return x.html(page_html(f"{other} | {SITE_NAME}", heading=other))
    if head in ("real404site", "articles") and rest:
        return x.page(story_title(last))
    if head == "suffixed" and len(rest) == 1:
        title = story_title(last)
        return x.html(page_html(f"{title} | {SITE_NAME}", heading=title))
    return _archive_route(x, head, rest, prefix)


def _template_route(x: Exchange, head: str, rest: list[str], prefix: str) -> web.Response | None:
    """The site's own pages, and the routes that answer with one of them or go to one."""
    last = rest[-1] if rest else ""
    if head == "" and not rest:
        return x.html(HOME_PAGE)
    if head == "news" and not rest:
        return x.html(SECTION_PAGE)
    if head == "news" and len(rest) >= 2 and rest[0] == "gonesection":
        return x.redirect(302, f"{prefix}/news/")
    if head == "soft404" and rest:
        return x.html(SOFT_404_PAGE)
    if head == "soft404title" and rest:
        return x.html(SOFT_404_TITLED_PAGE)
    if head == "gonehome" and rest:
        return x.redirect(301, f"{prefix}/")
    if head == "metahome" and rest:
        return x.html(meta_home_page(f"{prefix}/"))
    if head == "spa" and rest:
        title = SITE_NAME if is_probe(last) else story_title("/".join(rest))
        return x.html(spa_shell(title))
    if head == "amp-retired" and len(rest) == 1:
        return x.redirect(301, f"{prefix}/ok/{last}")
    if head == "moved-deep" and len(rest) == 1:
        return x.redirect(301, f"{prefix}/articles/2020/{last}-new-slug")
    return None


def _archive_route(x: Exchange, head: str, rest: list[str], prefix: str) -> web.Response | None:
    """The Wayback availability API, and the archived copies it points at."""
    request = x.request
    if head == "wayback" and rest == ["available"]:
        origin = f"http://{request.host or f'{x.host}:{x.port}'}"
        answer = wayback_answer(request.query.get("url"), request.query.get("timestamp"), origin)
        return x.answer(web.json_response(answer))
    if head == "web" and len(rest) >= 2 and WAYBACK_TIMESTAMP.match(rest[0]):
        archived = request.path.split("/", 3 + bool(prefix))[-1]  # /[old/]web/<ts>/<url>
        segments = [s for s in urlsplit(archived).path.split("/") if s]
        title = story_title(segments[-1]) if segments else SITE_NAME
        return x.page(title)
    return None
