"""Bot walls are not rot (crawler/judge/botwall.py), and accepted statuses (`hosts:` accept_status):
the signature table row by row and vendor by vendor, the look-alikes that must stay healthy,
hostile bodies, how the judge ends on a wall or an accepted status, and what the fetcher reads
of a wall's body. Streaks over real runs and a run over the simulated web are in
tests/test_botwall_runs.py."""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from servers import fast_fetch_config, open_fetcher, redirect, serve, status

from crawler.config import PolitenessConfig
from crawler.config_loader import load_config
from crawler.judge.archive_copy import wants_archive
from crawler.judge.botwall import SIGNATURES, VENDORS, Signature, bot_wall
from crawler.judge.http import AnswerChecker
from crawler.judge.pagerot import PageRotChecker
from crawler.judge.urlcheck import page_rot_step
from crawler.model import Finding, Hop, Job, Kind, LinkKind, UrlOutcome
from crawler.sim.botwalls import LOOKALIKES, WALLS
from crawler.sim.pages import page_html
from crawler.web.answer import WALL_BODY_CAP, WALL_STATUSES
from crawler.web.fetch import Fetcher
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool

PAGE = LinkKind.PAGE
# the simulated web's walls, and the vendor the table must name for each
SIM_VENDOR = {
    "cloudflare": "Cloudflare", "cloudflare-legacy": "Cloudflare", "cloudflare-block": "Cloudflare",
    "vercel": "Vercel", "awswaf": "AWS WAF", "akamai": "Akamai", "datadome": "DataDome",
    "perimeterx": "PerimeterX", "imperva": "Imperva", "linkedin": "Bot protection",
}  # fmt: skip
AKAMAI = {"Server": "AkamaiGHost"}
AKAMAI_PAGE = b"<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY>Reference #18</BODY></HTML>"


def blocked(finding: Finding | None) -> str:
    assert finding is not None and finding.kind is Kind.BOT_BLOCKED, finding
    return finding.detail


# -- the table, row by row and vendor by vendor ------------------------------------------------


def _showing(signature: Signature) -> tuple[int, dict[str, str], bytes]:
    """An answer that shows exactly the signature's signals: on a 200 for a decisive one (a
    decisive signal counts on any status), on a 403 otherwise."""
    status, headers, body = (200 if signature.decisive else 403), {}, b"<p>nothing here</p>"
    for signal in signature.signals:
        if signal.where == "status":
            status = int(signal.text)
        elif signal.where == "header":
            headers[signal.name.title()] = f"x {signal.text} y" if signal.text else "1"
        elif signal.where == "title":
            body += f"<title>{signal.text}</title>".encode()
        else:
            body += f"<script>{signal.text}</script>".encode()
    return status, headers, body


@pytest.mark.parametrize(
    "signature",
    SIGNATURES,
    ids=[
        f"{s.vendor}-{'+'.join(':'.join(filter(None, (g.name, g.text))) for g in s.signals)}"
        for s in SIGNATURES
    ],
)
def test_every_signature_is_seen_from_its_own_signals(signature: Signature) -> None:
    status, headers, body = _showing(signature)
    detail = blocked(bot_wall(status, headers, body, "text/html"))
    assert detail.startswith(f"{signature.vendor} {signature.wall}: ")
    for signal in signature.signals:
        assert (signal.text or signal.name) in detail
    if not signature.decisive:
        assert f"HTTP {status}" in detail
        assert bot_wall(200, headers, body, "text/html") is None  # never on a page


@pytest.mark.parametrize("status", [403, 503])
@pytest.mark.parametrize("vendor", sorted(v for v in WALLS if v != "linkedin"))
def test_each_vendors_wall_as_a_403_and_a_503(vendor: str, status: int) -> None:
    wall = WALLS[vendor]
    detail = blocked(bot_wall(status, wall.headers, wall.body, "text/html"))
    assert detail.startswith(SIM_VENDOR[vendor] + " ")


def test_every_vendor_of_the_table_has_a_wall_in_the_simulated_web() -> None:
    assert set(SIM_VENDOR) == set(WALLS)
    assert set(SIM_VENDOR.values()) == set(VENDORS)
    assert blocked(bot_wall(999, {}, WALLS["linkedin"].body)) == "Bot protection denial: HTTP 999"


@pytest.mark.parametrize("vendor", sorted(LOOKALIKES))
def test_a_200_page_with_real_content_is_never_a_wall_whatever_it_names(vendor: str) -> None:
    lookalike = LOOKALIKES[vendor]
    article = page_html("Council approves the budget").replace(
        b"</body>", lookalike.body + b"</body>"
    )
    assert bot_wall(200, lookalike.headers, article, "text/html") is None
    assert bot_wall(304, lookalike.headers, b"", None) is None


def test_walls_answer_with_these_statuses() -> None:
    assert {403, 429, 503, 999} == WALL_STATUSES


def test_the_detail_names_the_vendor_and_the_evidence() -> None:
    cf = bot_wall(403, {"Server": "cloudflare", "CF-Mitigated": "challenge"}, b"")
    assert blocked(cf) == "Cloudflare challenge: cf-mitigated: challenge"
    akamai = bot_wall(403, AKAMAI, AKAMAI_PAGE)
    assert blocked(akamai) == (
        "Akamai denial: HTTP 403, server: AkamaiGHost, 'Access Denied' in the page"
    )
    legacy = bot_wall(503, {"server": "cloudflare"}, b"<title>\n Just a moment...</title>")
    assert blocked(legacy) == (
        "Cloudflare challenge: HTTP 503, server: cloudflare, title 'Just a moment...'"
    )


@pytest.mark.parametrize("status", [200, 202, 204, 301, 404, 405, 500, 999])
def test_decisive_signals_count_on_any_status(status: int) -> None:
    assert blocked(bot_wall(status, {"x-amzn-waf-action": "captcha"}, b"")).startswith("AWS WAF")
    assert blocked(bot_wall(status, {"X-Vercel-Mitigated": "challenge"}, b"")).startswith("Vercel")
    assert blocked(bot_wall(status, {"cf-mitigated": "challenge"}, b"")).startswith("Cloudflare")
    assert blocked(bot_wall(status, {"X-DD-B": "2"}, b"")).startswith("DataDome")


@pytest.mark.parametrize("status", [200, 202, 400, 401, 404, 410, 500, 502, 504])
def test_weak_signals_count_only_on_a_walls_status(status: int) -> None:
    assert bot_wall(status, AKAMAI, AKAMAI_PAGE) is None
    assert bot_wall(status, {"X-DataDome": "protected"}, b"captcha-delivery.com") is None
    assert bot_wall(status, {"cf-mitigated": "no"}, b"") is None  # a value it does not hold


@pytest.mark.parametrize("code", [403, 429, 503])
def test_a_plain_denial_is_no_wall(code: int) -> None:
    nginx = b"<html><head><title>403 Forbidden</title></head><body><center>nginx</center></body>"
    assert bot_wall(code, {"Server": "nginx"}, nginx) is None
    assert bot_wall(code, AKAMAI, b"<title>Not Found</title>") is None  # Akamai, no denial
    assert bot_wall(code, {"Server": "cloudflare"}, b"<title>Just a moment</title>") is None
    assert bot_wall(code, None, None) is None


@pytest.mark.parametrize(
    "headers",
    [{"X-DataDome": "protected"}, {"X-Iinfo": "9-123 NNNN"}, {"X-CDN": "Imperva"}],
)
def test_a_vendor_header_alone_makes_a_wall_of_a_403_only(headers: dict[str, str]) -> None:
    """Those headers come on every answer of a protected site: an outage's 503 or a 429 that
    carries one (and no wall's page) is still the site failing, not a wall."""
    outage = b"<html><head><title>503 Service Unavailable</title></head></html>"
    assert "block: HTTP 403, x-" in blocked(bot_wall(403, headers, b"<title>Forbidden</title>"))
    assert bot_wall(503, headers, outage) is None
    assert bot_wall(429, headers, b"") is None


# -- hostile bodies -----------------------------------------------------------------------------


def test_only_a_prefix_of_the_body_is_looked_at() -> None:
    filler = b"<p>" + b"x" * (WALL_BODY_CAP + 10) + b"</p>"
    assert bot_wall(403, {}, filler + b"px-captcha") is None
    assert blocked(bot_wall(403, {}, b"px-captcha" + filler)).startswith("PerimeterX")
    huge = random.Random(1).randbytes(8 * 1024 * 1024)
    assert bot_wall(403, {}, huge, "text/html; charset=utf-8") is None


@pytest.mark.parametrize(
    ("body", "content_type", "vendor"),
    [
        (b"<title>Just a moment...\xff\xfe</title>", "text/html", None),  # broken UTF-8
        (b"\x00\x80<title>Just a moment...</title>\x00\xc3", None, "Cloudflare"),
        ("\ufeff<title>Just a moment...</title>".encode("utf-16-le"), None, "Cloudflare"),
        (b"<title>Just a moment...</title>", "text/html; charset=rot13", "Cloudflare"),
        (b"<title>Just a moment...</title>", "text/html; charset=\udcff", "Cloudflare"),
        (b"\x00" * 5000 + b"/CDN-CGI/Challenge-Platform/", "image/png", "Cloudflare"),
        (b"<title" * 20000, "text/html", None),
    ],
)
def test_hostile_bodies(body: bytes, content_type: str | None, vendor: str | None) -> None:
    found = bot_wall(503, {"Server": "cloudflare"}, body, content_type)
    if vendor is None:
        assert found is None
    else:
        assert blocked(found).startswith(vendor)


@given(
    status=st.sampled_from([200, 202, 403, 404, 429, 503, 999]),
    headers=st.dictionaries(
        st.sampled_from(["server", "Server", "cf-mitigated", "x-cdn", "x-iinfo", "x-datadome"]),
        st.text(max_size=200),
    ),
    body=st.binary(max_size=4096),
    content_type=st.none() | st.text(max_size=60),
)
def test_any_answer_is_judged_without_raising(
    status: int, headers: dict[str, str], body: bytes, content_type: str | None
) -> None:
    found = bot_wall(status, headers, body, content_type)
    assert found is None or (found.kind is Kind.BOT_BLOCKED and len(found.detail) < 400)


# -- the judge ----------------------------------------------------------------------------------


def checker(config: Any = None) -> AnswerChecker:
    """A judge whose fetcher is never entered: judge() looks only at the outcome."""
    fetch = fast_fetch_config()
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=8))
    return AnswerChecker(Fetcher(fetch, pool), fetch, HostRules(config) if config else None)


def fetched(status: int, headers: dict[str, str], body: bytes, *hops: Hop) -> UrlOutcome:
    outcome = UrlOutcome(url="http://a.test/story", link_kind=PAGE, http_status=status)
    outcome.http_reason, outcome.body, outcome.response_headers = "R", body, headers
    outcome.final_url, outcome.redirects = "http://a.test/story", list(hops)
    outcome.content_type = "text/html"
    return outcome


@pytest.mark.parametrize("code", [403, 429, 503, 999])
async def test_a_wall_is_bot_blocked_and_nothing_more(code: int) -> None:
    outcome = fetched(code, AKAMAI, AKAMAI_PAGE, Hop("http://a.test/old", 301, "/story"))
    if code == 999:
        outcome.response_headers = {}
    await checker().judge(outcome)
    # no client_error, rate_limited or server_error; no moved_permanently on the way
    assert [f.kind for f in outcome.findings] == [Kind.BOT_BLOCKED]
    assert (outcome.body, outcome.response_headers, outcome.title) == (None, None, None)


async def test_a_walls_answer_runs_no_page_rot_and_asks_no_archive() -> None:
    # a 2xx wall titled like an error page: had its body been kept, page rot would call it a
    # soft 404 (or send a probe, which this fetcher, never entered, could not)
    outcome = fetched(202, {"x-amzn-waf-action": "challenge"}, b"<title>Not Found</title>")
    answers = checker()
    rot = PageRotChecker(answers.check)
    await answers.judge(outcome)
    await page_rot_step(rot).run(outcome, Job(outcome.url, PAGE, card_title="Council approves"))
    assert [f.kind for f in outcome.findings] == [Kind.BOT_BLOCKED]
    assert rot.probes_sent == 0 and not wants_archive(outcome, "Council approves")


# -- on the wire --------------------------------------------------------------------------------


def akamai_wall(code: int = 403) -> Any:
    return status(code, headers=AKAMAI, body=AKAMAI_PAGE)


async def test_a_wall_at_the_end_of_a_redirect_chain_counts_the_same() -> None:
    routes = {"/old": redirect("/story", 301), "/story": akamai_wall()}
    async with serve(routes, host="127.0.0.71") as server, open_fetcher() as f:
        outcome = await f.check(server.url("/old"), PAGE)
    assert [hop.status for hop in outcome.redirects] == [301]
    assert outcome.final_url == server.url("/story")
    assert [f.kind for f in outcome.findings] == [Kind.BOT_BLOCKED]


@pytest.mark.parametrize("code", [429, 503])
async def test_a_wall_that_asks_for_a_retry_is_retried_then_bot_blocked(code: int) -> None:
    async with serve({"/": akamai_wall(code)}, host="127.0.0.72") as server:
        async with open_fetcher(retries=2) as f:
            outcome = await f.check(server.url("/"), PAGE)
        assert len(server.recorder.requests) == 3  # the politeness of retrying stays
    assert outcome.attempts == 3
    assert [f.kind for f in outcome.findings] == [Kind.BOT_BLOCKED]


async def test_a_walls_status_has_only_a_prefix_of_its_body_read() -> None:
    big = AKAMAI_PAGE + b"x" * (4 * WALL_BODY_CAP)
    routes = {
        "/403": status(403, headers=AKAMAI, body=big),
        "/404": status(404, headers=AKAMAI, body=big),
        "/200": status(200, body=big),
    }
    async with serve(routes, host="127.0.0.73") as server, open_fetcher(retries=0) as f:
        read = {path: (await f.check(server.url(path), PAGE)).bytes_read for path in routes}
    assert read == {"/403": WALL_BODY_CAP, "/404": 0, "/200": len(big)}


async def test_a_walls_body_that_breaks_off_leaves_its_status() -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=403, headers={**AKAMAI, "Content-Length": "90000"})
        await response.prepare(request)
        await response.write(AKAMAI_PAGE)
        assert request.transport is not None
        request.transport.close()  # the rest never comes
        return response

    async with serve({"/": broken}, host="127.0.0.74") as server, open_fetcher(retries=0) as f:
        outcome = await f.check(server.url("/"), PAGE)
    assert outcome.findings == [Finding(Kind.CLIENT_ERROR, "HTTP 403 Forbidden")]


# -- accepted statuses --------------------------------------------------------------------------

ACCEPTING, OTHER = "127.0.0.75", "127.0.0.76"


def accepting_config() -> Any:
    return load_config(None, {"hosts": {ACCEPTING: {"accept_status": [403, 500]}}})


async def test_an_accepted_status_is_healthy_on_its_host_and_fails_on_another() -> None:
    config = accepting_config()
    plain = {"/403": status(403, body=b"Forbidden"), "/500": status(500), "/404": status(404)}
    fetch = fast_fetch_config(retries=0)
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=8))
    async with (
        serve(plain, host=ACCEPTING) as mine,
        serve({**plain, "/to-mine": redirect(mine.url("/403"))}, host=OTHER) as other,
        Fetcher(fetch, pool) as fetcher,
    ):
        answers = AnswerChecker(fetcher, fetch, HostRules(config))
        kinds = {}
        for name, url in {
            "mine 403": mine.url("/403"), "mine 500": mine.url("/500"),
            "mine 404": mine.url("/404"), "other 403": other.url("/403"),
            "other 500": other.url("/500"), "other to mine": other.url("/to-mine"),
        }.items():  # fmt: skip
            kinds[name] = [f.kind for f in (await answers.check(url, PAGE)).findings]
    assert kinds == {
        "mine 403": [], "mine 500": [], "mine 404": [Kind.NOT_FOUND],
        "other 403": [Kind.CLIENT_ERROR], "other 500": [Kind.SERVER_ERROR],
        "other to mine": [],  # the final URL's host decides
    }  # fmt: skip


async def test_an_accepted_status_wins_over_a_wall_and_runs_no_page_rot_or_archive() -> None:
    outcome = fetched(403, AKAMAI, AKAMAI_PAGE)
    outcome.final_url = outcome.url = f"http://{ACCEPTING}/story"
    answers = checker(accepting_config())
    rot = PageRotChecker(answers.check)
    assert answers.accepted(outcome)
    await answers.judge(outcome)
    assert outcome.findings == [] and outcome.body is None and outcome.title is None
    await page_rot_step(rot).run(outcome, Job(outcome.url, PAGE, card_title="Council"))
    assert rot.probes_sent == 0 and not wants_archive(outcome, "Council")
    healthy = fetched(200, {}, b"<title>Council</title>")
    healthy.final_url = healthy.url = outcome.url
    assert not answers.accepted(healthy)  # a 2xx keeps every check it had
