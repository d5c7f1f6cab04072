"""PageRotChecker on plain values: a page's outcome in hand, a stub check function for its probe
(no server), the findings it adds read back exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from crawler.judge.pagerot import PageRotChecker, _joined
from crawler.model import Finding, Hop, Kind, LinkKind, UrlOutcome

PAGE = LinkKind.PAGE
HOME = "https://news.example.test/"
FOLDER = "https://news.example.test/2024/05/"
URL = FOLDER + "council-extends-rental-assistance"
CARD = "Council extends rental assistance for another year"
HTML = "text/html; charset=utf-8"
UTF16 = "text/html; charset=utf-16-le"

ARTICLE = (
    "<p>The city council voted on Tuesday to keep paying part of the rent of low-income families"
    " until the end of next year, after a long debate about the budget.</p>"
)
SORRY = "<p>Sorry, we could not find what you were looking for. Try the search box instead.</p>"
LATEST = "<p>Today's top story: the harbour bridge reopens after two years of repairs.</p>"
# A one-page app's shell: long enough that a different <title> keeps it near-identical (>= 0.95)
SHELL = (
    "<div id=root><p>Loading the latest stories for you now, one moment please while the app "
    "starts up and fetches the headlines, photos, videos and comments from the newsroom "
    "servers. If nothing shows after a few seconds, this site needs JavaScript to show its "
    "pages: please turn it on in your browser settings and reload, or read our plain edition,"
    " which works without it and carries every story, the weather, the markets and the "
    "letters to the editor, updated each morning at six.</p><p>Subscribers can also download "
    "the daily paper as a file to read offline on a train, a plane or a boat, and share gift "
    "articles with friends and family who do not have an account yet. Our help desk answers "
    "questions about billing, delivery and newsletters on weekdays from nine to five, and the"
    " corrections page lists every change we made to a published story.</p></div>"
)


def html(title: str, text: str) -> str:
    return f"<html><head><title>{title}</title></head><body>{text}</body></html>"


def page(
    url: str = URL,
    *,
    title: str | None = "Example News",
    text: str = SORRY,
    body: bytes | None = None,
    content_type: str = HTML,
    status: int | None = 200,
    final_url: str | None = "",
    redirects: Sequence[Hop] = (),
    headers: dict[str, str] | None = None,
    findings: Sequence[Finding] = (),
    kind: LinkKind = PAGE,
) -> UrlOutcome:
    """A fetched page's outcome as the fetcher hands it over (final URL: the URL itself)."""
    return UrlOutcome(
        url,
        kind,
        findings=list(findings),
        http_status=status,
        final_url=url if final_url == "" else final_url,
        redirects=list(redirects),
        content_type=content_type,
        title=title,
        body=html(title or "", text).encode() if body is None else body,
        response_headers={} if headers is None else headers,
    )


class Host:
    """A check function for probes: every URL gets the same answer; records what it was asked."""

    def __init__(
        self,
        status: int | None = 404,
        *,
        title: str | None = "Example News",
        text: str = SORRY,
        body: bytes | None = None,
        content_type: str = HTML,
        final_url: str | None = None,
        no_body: bool = False,
    ) -> None:
        self.status, self.title, self.content_type, self.final_url = (
            status, title, content_type, final_url
        )  # fmt: skip
        self.body = (
            None if no_body else (html(title or "", text).encode() if body is None else body)
        )
        self.asked: list[tuple[str, LinkKind]] = []
        self.answers: list[UrlOutcome] = []

    async def __call__(self, url: str, kind: LinkKind) -> UrlOutcome:
        self.asked.append((url, kind))
        answer = UrlOutcome(
            url,
            kind,
            http_status=self.status,
            final_url=self.final_url or url,
            content_type=self.content_type,
            title=self.title,
            body=self.body,
            response_headers={"content-type": self.content_type},
        )
        self.answers.append(answer)
        return answer

    @property
    def probe(self) -> str:
        assert len(self.asked) == 1
        return self.asked[0][0]


def catch_all() -> Host:
    """A host that answers any URL with its "sorry" template and a 200."""
    return Host(200)


async def examined(
    outcome: UrlOutcome, card_title: str | None = CARD, host: Host | None = None
) -> list[Finding]:
    await PageRotChecker(host or catch_all(), seed=1).examine(outcome, card_title)
    return outcome.findings


def soft(detail: str) -> list[Finding]:
    return [Finding(Kind.SOFT_404, detail)]


def same_answer(probe: str) -> list[Finding]:
    return soft(
        f"same answer as a random URL ({probe}): similarity 1.00 >= 0.95"
        " (a removed page, or an app shell that only renders in the browser)"
    )


# -- what is examined at all -------------------------------------------------------------------


@pytest.mark.parametrize(
    "outcome",
    [
        page(),  # a soft 404
        page(title=CARD, text=ARTICLE),  # the card's story
        page(kind=LinkKind.IMAGE),
        page(status=500),
        page(findings=[Finding(Kind.CONTENT_DRIFT, "drift")]),
        page(headers={"X-Silent-Redirect": "true"}),
    ],
    ids=["soft-404", "story", "image", "server-error", "rotted", "amp-cache"],
)
async def test_the_body_and_headers_are_never_kept_past_the_examination(
    outcome: UrlOutcome,
) -> None:
    await examined(outcome)
    assert outcome.body is None and outcome.response_headers is None


async def test_only_a_page_is_examined() -> None:
    host = catch_all()
    assert await examined(page(kind=LinkKind.IMAGE, title="Page not found"), host=host) == []
    assert host.asked == []
    assert await examined(page(title="Page not found")) == soft(
        "the page says it is not found: 'Page not found'"
    )


async def test_an_outcome_without_a_body_is_left_alone() -> None:
    outcome = page(final_url=HOME, redirects=[Hop(URL, 302, HOME)])
    outcome.body = None
    assert await examined(outcome) == []


async def test_a_page_already_rotted_gets_no_further_finding() -> None:
    drift = Finding(Kind.CONTENT_DRIFT, "the title changed")
    host = catch_all()
    assert await examined(page(findings=[drift]), host=host) == [drift]
    assert host.asked == []


async def test_a_page_with_only_a_warning_is_still_examined() -> None:
    limited = Finding(Kind.RATE_LIMITED, "slowed down")
    host = catch_all()
    assert await examined(page(findings=[limited]), host=host) == [
        limited,
        *same_answer(host.probe),
    ]


@pytest.mark.parametrize("status", [200, 204, 299])
async def test_a_2xx_answer_is_examined(status: int) -> None:
    outcome = page(title="Page not found", status=status)
    assert await examined(outcome) == soft("the page says it is not found: 'Page not found'")


@pytest.mark.parametrize("status", [None, 199, 300, 304])
async def test_an_answer_other_than_2xx_is_not_examined(status: int | None) -> None:
    host = catch_all()
    outcome = page(title="Page not found", status=status, final_url=HOME)
    assert await examined(outcome, host=host) == []
    assert host.asked == []


# -- redirects to the home page ----------------------------------------------------------------


async def test_a_story_redirected_to_the_home_page_is_not_a_permanent_move() -> None:
    moved = Finding(Kind.MOVED_PERMANENTLY, f"moved to {HOME}")
    limited = Finding(Kind.RATE_LIMITED, "slowed down")
    host = catch_all()
    outcome = page(final_url=HOME, redirects=[Hop(URL, 301, HOME)], findings=[moved, limited])
    assert await examined(outcome, host=host) == [
        limited,
        Finding(
            Kind.REDIRECT_TO_HOME,
            f"the article URL ends on the home page {HOME} after 1 redirect",
        ),
    ]
    assert host.asked == []


def refresh_to(target: str, title: str = "Example News") -> str:
    return html(title, f'<meta http-equiv="refresh" content="0; url={target}">')


async def test_a_meta_refresh_to_the_home_page_is_a_redirect_to_home() -> None:
    host = catch_all()
    outcome = page(body=refresh_to("/").encode())
    assert await examined(outcome, host=host) == [
        Finding(
            Kind.REDIRECT_TO_HOME,
            f"the article URL ends on the home page {HOME} after 1 redirect (by a meta refresh)",
        )
    ]
    assert host.asked == []


async def test_a_meta_refresh_is_resolved_against_the_page_the_redirects_ended_on() -> None:
    # the story moved to another host, whose page refreshes to its own home page
    moved = "https://other.example.test/2024/05/council-extends-rental-assistance"
    outcome = page(body=refresh_to("/").encode(), final_url=moved, redirects=[Hop(URL, 301, moved)])
    assert await examined(outcome) == [
        Finding(
            Kind.REDIRECT_TO_HOME,
            "the article URL ends on the home page of other.example.test"
            " https://other.example.test/ after 2 redirects (by a meta refresh)",
        )
    ]


async def test_a_meta_refresh_without_a_final_url_is_resolved_against_the_url() -> None:
    outcome = page(body=refresh_to("/").encode(), final_url=None)
    assert await examined(outcome) == [
        Finding(
            Kind.REDIRECT_TO_HOME,
            f"the article URL ends on the home page {HOME} after 1 redirect (by a meta refresh)",
        )
    ]


async def test_a_meta_refresh_is_read_in_the_pages_declared_charset() -> None:
    outcome = page(body=refresh_to("/").encode("utf-16-le"), content_type=UTF16)
    assert [f.kind for f in await examined(outcome)] == [Kind.REDIRECT_TO_HOME]


async def test_a_meta_refresh_to_another_story_is_not_a_redirect_to_home() -> None:
    host = catch_all()
    body = refresh_to(FOLDER + "council-extends-rental-assistance-again", title=CARD)
    assert await examined(page(title=CARD, body=body.encode()), host=host) == []
    assert host.asked == []  # its title is still the card's: not probed either


async def test_the_amp_caches_silent_redirect_is_a_redirect_to_home() -> None:
    host = catch_all()
    headers = {
        "X-Silent-Redirect": "true",
        "Location": URL,
        "Warning": '199 - "Failed to validate PCU."',
    }
    outcome = page(title=CARD, text=ARTICLE, headers=headers)
    assert await examined(outcome, host=host) == [
        Finding(
            Kind.REDIRECT_TO_HOME,
            f"the AMP cache no longer serves this page, it sends readers to {URL}"
            ' (199 - "Failed to validate PCU.")',
        )
    ]
    assert host.asked == []


async def test_a_page_whose_headers_were_not_kept_is_examined_all_the_same() -> None:
    outcome = page(title="Page not found")
    outcome.response_headers = None
    assert await examined(outcome) == soft("the page says it is not found: 'Page not found'")


def test_a_refresh_target_is_resolved_only_to_a_web_page() -> None:
    assert _joined(URL, "/") == HOME
    assert _joined(URL, "next-story") == FOLDER + "next-story"
    assert _joined(URL, "HTTPS://Other.example.test/") == "https://Other.example.test/"
    assert _joined(URL, "ftp://files.example.test/") is None
    assert _joined(URL, "javascript:alert(1)") is None
    assert _joined(URL, "http://[::1/") is None  # no parser accepts it


# -- the site root and the card's headline -----------------------------------------------------


@pytest.mark.parametrize("root", [HOME, HOME + "index.html", HOME + "en/"])
async def test_the_site_root_is_neither_probed_nor_a_soft_404(root: str) -> None:
    host = catch_all()
    assert await examined(page(root), host=host) == []
    assert host.asked == []


async def test_a_page_that_still_carries_the_cards_headline_is_not_probed() -> None:
    host = catch_all()
    outcome = page(title=f"{CARD} | Example News", text=SORRY)
    assert await examined(outcome, host=host) == []
    assert host.asked == []


async def test_a_title_at_exactly_the_drift_threshold_is_still_the_cards_story() -> None:
    host = catch_all()  # title_similarity("Harbour bridge", "Harbour tunnel") is 0.5
    assert await examined(page(title="Harbour tunnel"), "Harbour bridge", host) == []
    assert host.asked == []


@pytest.mark.parametrize(
    ("card_title", "page_title"),
    [(None, CARD), ("", CARD), (CARD, None), (CARD, "")],
    ids=["no-card-title", "empty-card-title", "no-page-title", "empty-page-title"],
)
async def test_without_both_titles_the_probe_decides(
    card_title: str | None, page_title: str | None
) -> None:
    host = Host(200, title=page_title)  # a catch-all template that takes the page's title
    assert await examined(page(title=page_title), card_title, host) == same_answer(host.probe)


# -- the page calls itself "not found" ---------------------------------------------------------


async def test_a_page_titled_not_found_is_a_soft_404_without_a_probe() -> None:
    host = catch_all()
    outcome = page(title="Page not found | Example News")
    assert await examined(outcome, host=host) == soft(
        "the page says it is not found: 'Page not found | Example News'"
    )
    assert host.asked == []


async def test_a_page_whose_heading_says_not_found_is_a_soft_404_without_a_probe() -> None:
    host = catch_all()
    text = "<h1>Page not found</h1>" + SORRY
    outcome = page(title="Example News", body=html("Example News", text).encode("utf-16-le"))
    outcome.content_type = UTF16  # the heading is read in the declared charset
    assert await examined(outcome, host=host) == soft(
        "the page says it is not found: 'Page not found'"
    )
    assert host.asked == []


async def test_a_short_page_redirected_home_that_says_not_found_is_a_soft_404() -> None:
    # /about is no article (so no redirect_to_home), and it is no site root although the home
    # page is where it ended: the URL asked for is what the root rule is about
    outcome = page(HOME + "about", title="Page not found", final_url=HOME)
    assert await examined(outcome) == soft("the page says it is not found: 'Page not found'")


# A card whose own title is a not-found phrase ("Not Found", an album): titles are no evidence
# either way (soft_404_verdict's rule), so the page must be probed even though its title matches
# the card's and says "not found".


async def test_a_card_titled_not_found_on_a_catch_all_template_is_a_soft_404() -> None:
    host = Host(200, title="Not Found")
    outcome = page(title="Not Found")
    assert await examined(outcome, "Not Found", host) == same_answer(host.probe)


async def test_a_card_titled_not_found_on_a_page_titled_so_is_real_when_the_probe_gets_404() -> (
    None
):
    host = Host(404, title="Not Found")
    outcome = page(title="Not Found", text=ARTICLE)
    assert await examined(outcome, "Not Found", host) == []
    assert len(host.asked) == 1


# -- the probe's answer ------------------------------------------------------------------------


async def test_a_page_that_a_random_url_also_gets_is_a_soft_404() -> None:
    host = catch_all()
    assert await examined(page(), host=host) == same_answer(host.probe)


@pytest.mark.parametrize("status", [200, 204, 299])
async def test_a_probe_with_a_2xx_answer_is_compared(status: int) -> None:
    host = Host(status)
    assert await examined(page(), host=host) == same_answer(host.probe)


@pytest.mark.parametrize("status", [None, 199, 300, 404, 410, 500])
async def test_a_probe_without_a_2xx_answer_leaves_the_page_alone(status: int | None) -> None:
    host = Host(status)
    assert await examined(page(), host=host) == []
    assert len(host.asked) == 1


async def test_a_random_url_that_ends_on_the_same_page_makes_a_soft_404() -> None:
    # every URL of the folder shows its latest story, this one included
    host = Host(200, text=LATEST, final_url=URL)
    assert await examined(page(), host=host) == soft(
        f"a random URL ({host.probe}) ends on the same page {URL}"
    )


async def test_a_random_url_that_ends_on_the_same_page_counts_without_a_body() -> None:
    host = Host(200, final_url=URL, no_body=True)
    assert await examined(page(), host=host) == soft(
        f"a random URL ({host.probe}) ends on the same page {URL}"
    )


async def test_a_page_unlike_the_random_urls_answer_is_not_a_soft_404() -> None:
    assert await examined(page(title="Harbour news", text=ARTICLE)) == []


async def test_an_app_shell_with_its_own_route_title_is_not_a_soft_404() -> None:
    host = Host(200, title="Example App", text=SHELL)
    outcome = page(title="Council budget 2024", text=SHELL)
    assert await examined(outcome, host=host) == []
    assert len(host.asked) == 1


async def test_an_app_shell_with_identical_titles_is_a_soft_404() -> None:
    host = Host(200, title="Example App", text=SHELL)
    assert await examined(page(title="Example App", text=SHELL), host=host) == same_answer(
        host.probe
    )


def search_page(words: str) -> bytes:
    text = (
        f"<p>Results for {words}: nothing matched. Try the search box or browse the sections.</p>"
    )
    return html("Search | Example News", text).encode()


async def test_the_words_of_the_url_asked_for_are_not_compared() -> None:
    """A missing story is redirected to a search for its slug, and so is a random URL: the pages
    differ only in the words each echoes from the URL it was asked for."""
    asked: list[str] = []

    def search_for(url: str) -> str:
        return HOME + "search?q=" + url.rsplit("/", 1)[1].replace("-", "+")

    async def searching(url: str, kind: LinkKind) -> UrlOutcome:
        asked.append(url)
        words = url.rsplit("/", 1)[1].replace("-", " ")
        return UrlOutcome(
            url, kind, http_status=200, final_url=search_for(url), title="Search | Example News",
            content_type=HTML, body=search_page(words),
        )  # fmt: skip

    outcome = page(
        title="Search | Example News",
        body=search_page("council extends rental assistance"),
        final_url=search_for(URL),
        redirects=[Hop(URL, 302, search_for(URL))],
    )
    await PageRotChecker(searching, seed=1).examine(outcome, CARD)
    assert outcome.findings == same_answer(asked[0])


async def test_the_pages_text_is_read_in_its_declared_charset() -> None:
    outcome = page(body=html("Example News", SORRY).encode("utf-16-le"), content_type=UTF16)
    host = catch_all()  # the same text in UTF-8
    assert await examined(outcome, host=host) == same_answer(host.probe)


async def test_the_probes_text_is_read_in_its_declared_charset() -> None:
    host = Host(200, body=html("Example News", SORRY).encode("utf-16-le"), content_type=UTF16)
    assert await examined(page(), host=host) == same_answer(host.probe)


# -- probing: where, how often, what is kept ---------------------------------------------------


async def test_the_probe_asks_for_a_page_in_the_same_folder() -> None:
    host = catch_all()
    await examined(page(), host=host)
    [(probe, kind)] = host.asked
    assert kind is PAGE
    assert probe.startswith(FOLDER) and probe != URL
    assert len(probe.removeprefix(FOLDER)) == 25


async def test_the_probes_body_and_headers_are_not_kept() -> None:
    host = catch_all()
    await examined(page(), host=host)
    [answer] = host.answers
    assert answer.body is None and answer.response_headers is None


async def test_the_same_seed_picks_the_same_probe_urls() -> None:
    first, second, other = catch_all(), catch_all(), catch_all()
    for host, seed in ((first, 7), (second, 7), (other, 8)):
        await PageRotChecker(host, seed=seed).examine(page(), CARD)
    assert first.asked == second.asked != other.asked


async def test_each_folder_is_probed_once_and_counted() -> None:
    host = Host(404)
    rot = PageRotChecker(host, seed=1)
    assert rot.probes_sent == 0
    for url in (URL, URL + "-again", URL + "-and-again", HOME + "2024/06/other-story"):
        await rot.examine(page(url), CARD)
    assert rot.probes_sent == 2 and len(host.asked) == 2
    for url in (URL + "-once-more", HOME + "2024/06/another-story"):  # both folders were kept
        await rot.examine(page(url), CARD)
    assert rot.probes_sent == 2


def story(folder: int, n: int = 0) -> str:
    return f"{HOME}{folder}/story-number-{n}"


async def test_the_least_recently_used_folder_is_evicted_first() -> None:
    host = Host(404)
    rot = PageRotChecker(host, seed=1, cache_size=2)
    for url in (story(1), story(2), story(1, 1), story(3), story(1, 2)):
        await rot.examine(page(url), CARD)
    assert rot.probes_sent == 3  # folder 1 was used again before folder 3 came: it stayed
    for url in (story(3, 1), story(1, 3)):  # the two kept: folders 3 and 1
        await rot.examine(page(url), CARD)
    assert rot.probes_sent == 3
    await rot.examine(page(story(2, 1)), CARD)  # folder 2 was evicted
    assert rot.probes_sent == 4


@pytest.mark.parametrize("cache_size", [0, 1])
async def test_a_cache_of_at_most_one_keeps_the_last_folder(cache_size: int) -> None:
    rot = PageRotChecker(Host(404), seed=1, cache_size=cache_size)
    for url in (story(1), story(1, 1), story(2), story(1, 2)):
        await rot.examine(page(url), CARD)
    assert rot.probes_sent == 3
    await rot.examine(page(story(1, 3)), CARD)  # the last folder is kept
    assert rot.probes_sent == 3
    await rot.examine(page(story(2, 1)), CARD)  # and only it
    assert rot.probes_sent == 4


async def test_a_probe_that_fails_leaves_the_page_alone_and_is_not_retried() -> None:
    asked: list[str] = []

    async def failing(url: str, kind: LinkKind) -> UrlOutcome:
        asked.append(url)
        raise OSError("the check itself failed")

    rot = PageRotChecker(failing, seed=1)
    first, second = page(), page(URL + "-again")
    await rot.examine(first, CARD)
    await rot.examine(second, CARD)
    assert first.findings == second.findings == []
    assert len(asked) == 1


async def test_a_page_waiting_on_a_cancelled_probe_is_not_left_hanging() -> None:
    asked = asyncio.Event()
    never = asyncio.Event()
    host = catch_all()

    async def stuck(url: str, kind: LinkKind) -> UrlOutcome:
        if asked.is_set():  # a second probe of the folder (a broken cache) fails, never hangs
            return await host(url, kind)
        asked.set()
        await never.wait()
        raise AssertionError("never answered")

    rot = PageRotChecker(stuck, seed=1)
    first, second = page(), page(URL + "-again")  # one folder: the second waits on the probe
    probing = asyncio.create_task(rot.examine(first, CARD))
    await asked.wait()
    waiting = asyncio.create_task(rot.examine(second, CARD))
    await asyncio.sleep(0)  # let it start waiting on the probe in flight
    probing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probing
    await waiting
    assert second.findings == []
    assert rot.probes_sent == 1 and host.asked == []
