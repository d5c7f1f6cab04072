"""Soft rot detectors: each rot next to the healthy page that looks like it.

Pure functions first, then soft 404 end to end: a page and its probe fetched from local
servers (127.0.0.x), as a caller would wire it.
"""

from __future__ import annotations

import re
from pathlib import Path
from random import Random

import aiohttp
import pytest
from aiohttp import web
from servers import ok, redirect, serve, status

from crawler.judge.drift import DRIFT_THRESHOLD, content_drift, title_similarity
from crawler.judge.home import is_site_root, redirect_to_home
from crawler.judge.html import first_h1, meta_refresh_target, page_title, visible_text_tokens
from crawler.judge.soft404 import (
    NEAR_IDENTICAL,
    PageSample,
    not_found_title,
    probe_key,
    probe_url,
    soft_404_verdict,
    token_similarity,
)
from crawler.model import Hop

NAV = " ".join(f"<a href='/s{i}'>Section {i}</a>" for i in range(30))
FOOTER = "<footer>Copyright Example News. All rights reserved. Privacy Terms Contact</footer>"
ARTICLE_TEXT = (
    "The city council voted on Tuesday to extend the emergency rental assistance programme by "
    "six months, after a long debate about how the money should reach tenants who fell behind "
    "during the pandemic. Officials said applications would reopen next week."
)
CARD_TITLE = "Council extends emergency rental assistance by six months"


def page(title: str, body: str, h1: str | None = None) -> bytes:
    heading = f"<h1>{h1}</h1>" if h1 else ""
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        f"<script>var tracking = {{id: 'UA-1'}};</script><style>body{{color:red}}</style></head>"
        f"<body><nav>{NAV}</nav>{heading}<main>{body}</main>{FOOTER}</body></html>"
    ).encode()


ARTICLE = page(f"{CARD_TITLE} | Example News", f"<p>{ARTICLE_TEXT}</p>", h1=CARD_TITLE)
TEMPLATE_404 = page(
    "Example News", "<p>Sorry, we could not find what you were looking for. Try the search.</p>"
)
HOME = page("Example News: local news, weather and sport", "<p>Top stories today ...</p>")


def sample(url: str, status_code: int, body: bytes, final_url: str | None = None) -> PageSample:
    return PageSample(
        final_url=final_url or url,
        status=status_code,
        title=page_title(body, "text/html"),
        tokens=visible_text_tokens(body, "text/html"),
        h1=first_h1(body, "text/html"),
        url=url,
    )


# -- visible text ---------------------------------------------------------------------------------


def test_visible_text_tokens_skip_scripts_and_styles_and_lowercase() -> None:
    tokens = visible_text_tokens(ARTICLE, "text/html")
    assert "tracking" not in tokens and "color" not in tokens
    assert tokens[:3] == ["council", "extends", "emergency"]  # the <title> comes first
    assert "pandemic" in tokens


def test_visible_text_tokens_decode_the_declared_charset() -> None:
    body = "<html><head><meta charset='windows-1252'></head><body>Café Zürich</body></html>"
    assert visible_text_tokens(body.encode("cp1252")) == ["café", "zürich"]


def test_first_h1() -> None:
    assert first_h1(ARTICLE) == CARD_TITLE
    assert first_h1(b"<p>no heading</p>") is None


def test_token_similarity_extremes() -> None:
    words = ["a", "b", "c", "d", "e", "f"]
    assert token_similarity(words, words) == 1.0
    assert token_similarity(words, ["u", "v", "w", "x", "y", "z"]) == 0.0
    assert token_similarity([], []) == 1.0
    assert token_similarity(words, []) == 0.0


def test_an_article_and_its_sites_404_template_share_words_but_not_shingles() -> None:
    article = visible_text_tokens(ARTICLE)
    template = visible_text_tokens(TEMPLATE_404)
    assert len(set(article) & set(template)) > 20  # navigation and footer
    assert token_similarity(article, template) < 0.6


# -- probes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shape"),
    [
        ("https://ex.com/news/2020/05/some-story/", r"^https://ex\.com/news/2020/05/[a-z]{25}/$"),
        ("https://ex.com/news/2020/05/some-story", r"^https://ex\.com/news/2020/05/[a-z]{25}$"),
        ("https://ex.com/a/story.html?utm_source=x#top", r"^https://ex\.com/a/[a-z]{25}\.html$"),
        ("https://ex.com/article.php?id=5", r"^https://ex\.com/[a-z]{25}\.php$"),
        ("https://ex.com/?p=123", r"^https://ex\.com/[a-z]{25}$"),
        ("https://ex.com", r"^https://ex\.com/[a-z]{25}$"),
    ],
)
def test_probe_url_shape(url: str, shape: str) -> None:
    assert re.match(shape, probe_url(url, Random(1)))


def test_probe_url_is_random_but_reproducible() -> None:
    url = "https://ex.com/news/story"
    assert probe_url(url, Random(7)) == probe_url(url, Random(7))
    assert probe_url(url, Random(7)) != probe_url(url, Random(8))


def test_probe_key_groups_a_folder() -> None:
    assert probe_key("https://Ex.com/news/2020/a-story/") == ("ex.com", "/news/2020/")
    assert probe_key("https://ex.com/news/2020/b-story") == ("ex.com", "/news/2020/")
    assert probe_key("https://ex.com:8443/x") == ("ex.com:8443", "/")


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("https://ex.com", True),
        ("https://ex.com/", True),
        ("https://ex.com/index.html", True),
        ("https://ex.com/en-us/", True),
        ("https://ex.com/?utm_source=feed&utm_medium=rss", True),
        ("https://ex.com/?p=123", False),
        ("https://ex.com/news/", False),
        ("https://ex.com/2020/05/story", False),
    ],
)
def test_is_site_root(url: str, root: bool) -> None:
    assert is_site_root(url) is root


# -- not-found titles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "404",
        "404 Not Found",
        "Error 404",
        "404 - Page not found",
        "Page Not Found | Example News",
        "Page not found – Example News",
        "Oops! That page can’t be found.",
        "Not Found",
        "Sorry, this content is no longer available",
        "The page you were looking for doesn't exist",
        "Nothing found for Council Rental Assistance",
        "Page introuvable",
        "Erreur 404 - Page non trouvée",
        "Seite nicht gefunden",
        "Página no encontrada",
        "Pagina non trovata - Corriere",
        "Pagina niet gevonden",
        "Página não encontrada",
        "Страница не найдена",
        "ページが見つかりません",
        "お探しのページは見つかりませんでした",
        "找不到页面",
        "页面不存在 - 新浪网",
        "페이지를 찾을 수 없습니다",
        "Sayfa bulunamadı",
    ],
)
def test_not_found_titles(title: str) -> None:
    assert not_found_title(title)


@pytest.mark.parametrize(
    "title",
    [
        "404 errors explained: how to fix broken links",
        "How to fix a 404 not found error in WordPress",
        "Why the vaccine was not found in time",
        "Lost and found: the story of a missing painting",
        "Gone Girl review",
        "Council extends emergency rental assistance by six months",
        "Example News",
        None,
        "",
    ],
)
def test_titles_that_are_not_not_found(title: str | None) -> None:
    assert not not_found_title(title)


def test_the_h1_counts_too() -> None:
    assert not_found_title("Example News", "Page not found")
    assert not not_found_title("Example News", "Council extends rental assistance")


# -- soft 404 verdicts, pure ----------------------------------------------------------------------

URL = "https://news.example.com/local/2020/05/council-extends-rental-assistance/"
PROBE = "https://news.example.com/local/2020/05/qwertyuiopasdfghjklzxcvbn/"


def test_a_site_that_answers_every_path_with_its_home_page_is_a_soft_404() -> None:
    verdict = soft_404_verdict(sample(URL, 200, HOME), sample(PROBE, 200, HOME))
    assert verdict[0] is True
    assert "similarity 1.00" in verdict[1]


def test_the_same_with_the_card_title_given() -> None:
    verdict = soft_404_verdict(
        sample(URL, 200, HOME), sample(PROBE, 200, HOME), card_title=CARD_TITLE
    )
    assert verdict[0] is True


def test_a_healthy_article_whose_host_returns_real_404s() -> None:
    verdict = soft_404_verdict(sample(URL, 200, ARTICLE), sample(PROBE, 404, TEMPLATE_404))
    assert verdict == (False, "a random URL in the same folder gets HTTP 404: the 200 is real")


def test_a_removed_article_on_a_host_that_returns_real_404s_but_a_200_not_found_page() -> None:
    gone = page("Page not found | Example News", "<p>This story is no longer available.</p>")
    verdict = soft_404_verdict(
        sample(URL, 200, gone), sample(PROBE, 404, TEMPLATE_404), card_title=CARD_TITLE
    )
    assert verdict == (True, "the page says it is not found: 'Page not found | Example News'")


def test_a_healthy_article_on_a_site_with_a_200_template_for_missing_pages() -> None:
    verdict = soft_404_verdict(sample(URL, 200, ARTICLE), sample(PROBE, 200, TEMPLATE_404))
    assert verdict[0] is False
    assert verdict[1].startswith("differs from a random URL's answer")


def test_a_removed_article_served_as_that_200_template_even_when_it_echoes_the_path() -> None:
    def echo(path: str) -> bytes:
        return page("Example News", f"<p>Sorry, we could not find {path}. Try the search.</p>")

    verdict = soft_404_verdict(
        sample(URL, 200, echo("/local/2020/05/council-extends-rental-assistance/")),
        sample(PROBE, 200, echo("/local/2020/05/qwertyuiopasdfghjklzxcvbn/")),
    )
    assert verdict[0] is True


def test_both_redirecting_to_the_same_page_is_a_soft_404() -> None:
    final = "https://news.example.com/local/"
    verdict = soft_404_verdict(
        sample(URL, 200, HOME, final_url=final), sample(PROBE, 200, HOME, final_url=final)
    )
    assert verdict[0] is True
    assert "ends on the same page https://news.example.com/local/" in verdict[1]


def test_the_site_root_is_never_a_soft_404() -> None:
    root = "https://news.example.com/"
    assert soft_404_verdict(sample(root, 200, HOME), sample(PROBE, 200, HOME))[0] is False


def test_no_probe_or_an_inconclusive_probe() -> None:
    assert soft_404_verdict(sample(URL, 200, HOME), None) == (False, "no probe to compare with")
    verdict = soft_404_verdict(sample(URL, 200, HOME), sample(PROBE, 403, b"denied"))
    assert verdict == (False, "probe inconclusive (HTTP 403)")


def test_a_non_2xx_page_is_not_judged_here() -> None:
    assert soft_404_verdict(sample(URL, 404, HOME), sample(PROBE, 200, HOME))[0] is False


# One-page apps: the server sends the same shell for every path and the browser renders the
# content. Over HTTP, the article and a random URL look the same. Decision (see
# soft_404_verdict): trust the page when it still carries the card's headline, or, without a
# card title, when the server at least sets a per-route title that is not a not-found title;
# flag it when even the title is the same (then nothing tells the article from a missing page).

SHELL = "<div id='root'></div><script src='/app.js'></script><noscript>Enable JavaScript</noscript>"


def test_an_app_shell_with_identical_answers_is_flagged_and_says_why() -> None:
    shell = page("Example App", SHELL)
    verdict = soft_404_verdict(sample(URL, 200, shell), sample(PROBE, 200, shell))
    assert verdict[0] is True
    assert "app shell" in verdict[1]


def test_an_app_shell_article_whose_title_matches_the_card_is_healthy() -> None:
    article = page(f"{CARD_TITLE} - Example App", SHELL)
    probe = page("Example App", SHELL)
    verdict = soft_404_verdict(
        sample(URL, 200, article), sample(PROBE, 200, probe), card_title=CARD_TITLE
    )
    assert verdict[0] is False
    assert "still matches the card" in verdict[1]


def test_an_app_shell_with_per_route_titles_is_healthy_without_a_card_title() -> None:
    # a shell with a lot of static text (cookie notice, footer links): the bodies are
    # near-identical, only the server-set title tells the routes apart
    notice = " ".join(
        f"<p>Cookie notice paragraph {i} about consent and settings.</p>" for i in range(40)
    )
    article = page(f"{CARD_TITLE} - Example App", SHELL + notice)
    probe = page("Example App", SHELL + notice)
    verdict = soft_404_verdict(sample(URL, 200, article), sample(PROBE, 200, probe))
    assert verdict[0] is False
    assert "app shell" in verdict[1]
    # a small shell: the title alone already makes the bodies differ enough
    small = soft_404_verdict(
        sample(URL, 200, page(f"{CARD_TITLE} - Example App", SHELL)),
        sample(PROBE, 200, page("Example App", SHELL)),
    )
    assert small[0] is False


def test_an_app_shell_whose_route_title_says_not_found_is_a_soft_404() -> None:
    gone = page("Not found - Example App", SHELL)
    probe = page("Example App", SHELL)
    assert soft_404_verdict(sample(URL, 200, gone), sample(PROBE, 200, probe))[0] is True


def test_a_site_that_routes_by_id_and_ignores_the_slug() -> None:
    # /story/12345/<anything> is the same article: the probe gets it too
    url = "https://ex.com/story/12345/council-extends-rental-assistance"
    probe = "https://ex.com/story/12345/qwertyuiopasdfghjklzxcvbn"
    verdict = soft_404_verdict(
        sample(url, 200, ARTICLE), sample(probe, 200, ARTICLE), card_title=CARD_TITLE
    )
    assert verdict[0] is False


# A card whose own title is a not-found phrase (an album called "Not Found"): titles are then no
# evidence either way, so neither the page's "not found" title nor its match with the card's
# title decides; the probe does.


@pytest.mark.parametrize("title", ["Not Found", "Not Found | Music Weekly", "Error 404"])
def test_a_card_titled_not_found_on_a_page_titled_so_is_not_a_soft_404(title: str) -> None:
    album = page(title, ARTICLE_TEXT)
    verdict = soft_404_verdict(
        sample(URL, 200, album), sample(PROBE, 404, TEMPLATE_404), card_title="Not Found"
    )
    assert verdict == (
        False, "a random URL in the same folder gets HTTP 404: the 200 is real"
    )  # fmt: skip


def test_a_card_titled_not_found_is_still_judged_by_the_probe() -> None:
    """Its page, titled "Not Found" like the card, is the site's catch-all template (a random
    URL gets the same): a soft 404, although the page's title matches the card's."""
    template = page("Not Found", "<p>Sorry, we could not find that page.</p>")
    verdict = soft_404_verdict(
        sample(URL, 200, template), sample(PROBE, 200, template), card_title="Not Found"
    )
    assert verdict[0] is True and "same answer as a random URL" in verdict[1]


def test_threshold_default() -> None:
    assert NEAR_IDENTICAL == 0.95


# -- soft 404 end to end: a page and its probe from local servers --------------------------------


async def fetch_sample(session: aiohttp.ClientSession, url: str) -> PageSample:
    async with session.get(url, allow_redirects=True) as resp:
        body = await resp.read()
        content_type = resp.headers.get("Content-Type")
        return PageSample(
            final_url=str(resp.url),
            status=resp.status,
            title=page_title(body, content_type),
            tokens=visible_text_tokens(body, content_type),
            h1=first_h1(body, content_type),
            url=url,
        )


async def judge(base: str, path: str, card_title: str | None = CARD_TITLE) -> tuple[bool, str]:
    async with aiohttp.ClientSession() as session:
        url = base + path
        return soft_404_verdict(
            await fetch_sample(session, url),
            await fetch_sample(session, probe_url(url, Random(3))),
            card_title=card_title,
        )


ARTICLE_PATH = "/local/2020/05/council-extends-rental-assistance/"


async def test_live_soft_404_host_that_serves_home_for_any_path() -> None:
    async with serve({"/{tail:.*}": ok(HOME)}, host="127.0.0.31") as server:
        verdict = await judge(server.url(""), ARTICLE_PATH)
    assert verdict[0] is True


async def test_live_soft_404_host_that_redirects_any_missing_path_home() -> None:
    routes = {"/": ok(HOME), "/{tail:.+}": redirect("/")}
    async with serve(routes, host="127.0.0.32") as server:
        verdict = await judge(server.url(""), ARTICLE_PATH)
    assert verdict[0] is True and "ends on the same page" in verdict[1]


async def test_live_healthy_article_on_a_host_with_real_404s() -> None:
    routes = {ARTICLE_PATH: ok(ARTICLE), "/{tail:.*}": status(404, body=TEMPLATE_404)}
    async with serve(routes, host="127.0.0.33") as server:
        verdict = await judge(server.url(""), ARTICLE_PATH, card_title=None)
    assert verdict[0] is False and "HTTP 404" in verdict[1]


async def test_live_healthy_article_on_an_app_shell() -> None:
    async def shell(request: web.Request) -> web.StreamResponse:
        is_article = request.path == ARTICLE_PATH
        title = f"{CARD_TITLE} | Example App" if is_article else "Example App"
        return web.Response(body=page(title, SHELL), content_type="text/html")

    async with serve({"/{tail:.*}": shell}, host="127.0.0.34") as server:
        verdict = await judge(server.url(""), ARTICLE_PATH)
    assert verdict[0] is False


# -- redirect to home -----------------------------------------------------------------------------

DEEP = "https://news.example.com/local/2020/05/council-extends-rental-assistance/"


def hops(*urls: str) -> list[Hop]:
    return [Hop(url=u, status=301, location="") for u in urls]


@pytest.mark.parametrize(
    ("original", "final", "says"),
    [
        (DEEP, "https://news.example.com/", "home page"),
        (DEEP, "https://news.example.com/?utm_source=redirect", "home page"),
        (DEEP, "https://www.newowner.com/", "home page of www.newowner.com"),
        (DEEP, "https://news.example.com/en-us/", "home page"),
        (DEEP, "https://news.example.com/local/", "section page"),
        (DEEP, "https://news.example.com/local/2020/05/", "section page"),
        (DEEP, "https://news.example.com/news", "section page"),
        ("https://ex.com/?p=12345", "https://ex.com/", "home page"),
        ("https://ex.com/a-very-long-article-slug-here", "https://ex.com/", "home page"),
    ],
)
def test_redirects_to_home(original: str, final: str, says: str) -> None:
    detail = redirect_to_home(original, final, hops(original))
    assert detail is not None and says in detail and final in detail
    assert "after 1 redirect" in detail


@pytest.mark.parametrize(
    ("original", "final"),
    [
        (DEEP, DEEP),  # no redirect
        (DEEP, "https://news.example.com/2020/05/council-extends-rental-assistance-to-2021/"),
        (DEEP, "https://news.example.com/local/story/98765/"),  # another deep URL
        ("https://ex.com/amp/2020/05/some-story/", "https://ex.com/2020/05/some-story/"),
        ("https://ex.com/news/some-story/amp/", "https://ex.com/news/some-story/"),  # AMP retired
        (DEEP, "https://news.example.com/login?return=/local/2020/05/x"),  # a login gate
        (DEEP, "https://consent.example.com/gdpr/"),
        (DEEP, f"https://news.example.com/account?next={DEEP}"),
        ("https://ex.com/about", "https://ex.com/"),  # not an article URL
        ("https://ex.com/", "https://www.ex.com/"),
        (DEEP, None),
    ],
)
def test_not_redirects_to_home(original: str, final: str | None) -> None:
    assert redirect_to_home(original, final, hops(original)) is None


# -- meta refresh ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "target"),
    [
        ('<meta http-equiv="refresh" content="0; url=https://ex.com/">', "https://ex.com/"),
        ("<META HTTP-EQUIV='Refresh' CONTENT='0;URL=/home'>", "/home"),
        ('<meta content="5; URL=\'/next\'" http-equiv="refresh">', "/next"),
        ('<meta http-equiv="refresh" content="0;https://ex.com/x">', "https://ex.com/x"),
        ('<meta http-equiv="refresh" content="0; url=/a?b=1&amp;c=2">', "/a?b=1&c=2"),
        ('<meta http-equiv="refresh" content="300">', None),  # a news page reloading itself
        ('<noscript><meta http-equiv="refresh" content="0; url=/nojs"></noscript>', None),
        ('<!-- <meta http-equiv="refresh" content="0; url=/old"> -->', None),
        ('<meta name="description" content="0; url=/x">', None),
        ("<p>no refresh</p>", None),
    ],
)
def test_meta_refresh_target(html: str, target: str | None) -> None:
    assert meta_refresh_target(f"<html><head>{html}</head></html>".encode()) == target


# -- content drift --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page_title",
    [
        CARD_TITLE,
        f"{CARD_TITLE} | Example News",
        f"{CARD_TITLE} - Example News",
        f"{CARD_TITLE} — Example News",
        f"Example News: {CARD_TITLE}",
        CARD_TITLE.upper(),
        "Council extends emergency rental assistance by six more months",  # lightly edited
        "Council extends emergency rental assistance...",  # truncated
    ],
)
def test_same_story_is_not_drift(page_title: str) -> None:
    assert title_similarity(CARD_TITLE, page_title, "Example News") >= DRIFT_THRESHOLD
    assert content_drift(CARD_TITLE, page_title, "Example News") is None


@pytest.mark.parametrize(
    "page_title",
    [
        "Example News: local news, weather and sport",
        "Police investigate break-in at downtown jewellery store | Example News",
        "Subscribe to Example News",
        "Council meeting agenda",
    ],
)
def test_another_story_is_drift(page_title: str) -> None:
    detail = content_drift(CARD_TITLE, page_title, "Example News")
    assert detail is not None and "similarity" in detail


def test_the_provider_hint_strips_a_site_name_without_separators() -> None:
    card = "Microsoft launches new Azure region in Qatar"
    page_title = "Microsoft launches new Azure region in Qatar Example Times"
    assert title_similarity(card, page_title, "Example Times") == 1.0
    assert title_similarity(card, page_title) < 1.0


def test_a_colon_in_the_headline_is_not_a_site_prefix_to_trust_blindly() -> None:
    # two stories on one topic: stripping "Coronavirus:" from both must not make them equal
    a = "Coronavirus: schools in Ohio to stay closed until autumn"
    b = "Coronavirus: Sweden reports record number of new cases"
    assert title_similarity(a, b) < DRIFT_THRESHOLD


def test_no_page_title_is_no_verdict() -> None:
    assert content_drift(CARD_TITLE, None) is None
    assert content_drift(CARD_TITLE, "") is None


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cards-corpus"


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the real-cards corpus is not there: {CORPUS}")
def test_drift_threshold_is_what_the_corpus_benchmark_chooses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks.drift_threshold import build_pairs, evaluate, load_cards

    chosen, rows = evaluate(build_pairs(load_cards(CORPUS), seed=20240607))
    assert chosen == DRIFT_THRESHOLD
    by_t = {round(row[0], 2): row for row in rows}
    _, precision, _, recall_random, _, same_flagged = by_t[DRIFT_THRESHOLD]
    assert same_flagged == 0 and precision == 1.0
    assert recall_random >= 0.99
    assert "same story:" in capsys.readouterr().out
