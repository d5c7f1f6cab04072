"""Per-host settings in the fetch: each hop is sent with ITS host's headers and timeout, so a
Cookie or Authorization never follows a redirect to another host (lychee #1298), and a short
timeout for one host is that host's only. Proved at real loopback servers, with the Fetcher and
with a whole `linkcheck run` against the simulated web's pages behind a credential."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from quickrun import crawl, quick_config
from servers import fast_fetch_config, ok, redirect, serve, slow

from crawler.config import Config, FetchConfig, HostConfig, PolitenessConfig
from crawler.model import Kind, LinkKind
from crawler.sim.headlines import card_title
from crawler.sim.server import SimWeb
from crawler.sim.wire import RequestRecord
from crawler.web.answer import Answer
from crawler.web.fetch import Fetcher
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool

PAGE = LinkKind.PAGE
A, B = "127.0.0.2", "127.0.0.3"
SECRETS = {"Cookie": "session=s3cret", "Authorization": "Bearer t0ken"}


def fetcher_for(fetch: FetchConfig, hosts: dict[str, HostConfig]) -> Fetcher:
    config = Config(fetch=fetch, hosts=hosts)
    rules = HostRules(config)
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=8), rules)
    return Fetcher(fetch, pool, rules)


async def test_a_hosts_headers_go_to_it_on_every_hop_and_never_to_another_host() -> None:
    """A -> B -> A: both of A's hops carry A's cookie and authorization, B's hop carries B's own
    header and neither secret; the check's validator goes along on every hop, as it always did."""
    fetch = fast_fetch_config()
    hosts = {A: HostConfig(headers=SECRETS), B: HostConfig(headers={"X-Team": "b"})}
    back: dict[str, str] = {}  # B's redirect target, known once A listens

    async def to_a(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": back["url"]})

    async with (
        serve({"/hop": to_a}, B) as b,
        serve({"/go": redirect(b.url("/hop")), "/home": ok()}, A) as a,
        fetcher_for(fetch, hosts) as fetcher,
    ):
        back["url"] = a.url("/home")
        outcome = await fetcher.check(a.url("/go"), PAGE, {"If-None-Match": '"v1"'})
    assert outcome.findings == [] and outcome.http_status == 200
    assert [h.status for h in outcome.redirects] == [302, 302]
    assert a.paths() == ["/go", "/home"]
    for seen in a.requests:
        assert seen.headers["Cookie"] == "session=s3cret"
        assert seen.headers["Authorization"] == "Bearer t0ken"
        assert seen.headers["If-None-Match"] == '"v1"'
        assert "X-Team" not in seen.headers
    (hop,) = b.requests
    assert "Cookie" not in hop.headers and "Authorization" not in hop.headers
    assert hop.headers["X-Team"] == "b" and hop.headers["If-None-Match"] == '"v1"'
    assert hop.headers["User-Agent"] == fetch.user_agent  # a host's headers add, never replace


async def test_without_host_settings_the_fetch_sends_what_it_always_did() -> None:
    fetch = fast_fetch_config()
    async with serve({"/": ok()}, A) as a, fetcher_for(fetch, {}) as fetcher:
        outcome = await fetcher.check(a.url("/"), PAGE, {"If-Modified-Since": "yesterday"})
    assert outcome.findings == []
    (seen,) = a.requests
    assert seen.headers["If-Modified-Since"] == "yesterday"
    assert "Cookie" not in seen.headers and "Authorization" not in seen.headers


async def test_a_hosts_own_timeout_applies_to_it_only() -> None:
    """Both servers take 0.6 s; A's entry allows 0.25 s, the general timeout 2 s."""
    fetch = fast_fetch_config(retries=0)
    routes = {"/": slow(0.6)}
    async with (
        serve(routes, A) as a,
        serve(routes, B) as b,
        fetcher_for(fetch, {A: HostConfig(timeout=0.25)}) as fetcher,
    ):
        short = await fetcher.check(a.url("/"), PAGE)
        general = await fetcher.check(b.url("/"), PAGE)
    assert [f.kind for f in short.findings] == [Kind.TIMEOUT]
    assert short.findings[0].detail == "no complete answer within 0.25 s"
    assert general.findings == [] and general.http_status == 200


async def test_a_redirect_to_a_host_with_a_short_timeout_times_out_there() -> None:
    fetch = fast_fetch_config(retries=0)
    async with (
        serve({"/": slow(0.6)}, A) as a,
        serve({"/go": redirect(a.url("/"))}, B) as b,
        fetcher_for(fetch, {A: HostConfig(timeout=0.25)}) as fetcher,
    ):
        outcome = await fetcher.check(b.url("/go"), PAGE)
    assert [f.kind for f in outcome.findings] == [Kind.TIMEOUT]
    assert [h.status for h in outcome.redirects] == [302]


# -- the simulated web's pages behind a credential, and a whole run -----------------------------


async def test_the_simulated_credential_pages_and_what_the_log_says(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    async with SimWeb(1, first=20, latency_ms=0, log_path=log) as sim, aiohttp.ClientSession() as s:

        async def status(path: str, **headers: str) -> int:
            async with s.get(sim.url(0, path), headers=headers) as resp:
                return resp.status

        assert await status("/needs-cookie/session=ok/x") == 403
        assert await status("/needs-cookie/session=ok/x", Cookie="a=1; session=ok") == 200
        assert await status("/needs-cookie/session=ok/x", Cookie="session=no") == 403
        assert await status("/needs-auth/tok/x") == 403
        assert await status("/needs-auth/tok/x", Authorization="Bearer other") == 403
        assert await status("/needs-auth/tok/x", Authorization="Bearer tok") == 200
        sim.flush_log()
    assert [r.credentials for r in sim.log] == [
        (),
        ("Cookie",),
        ("Cookie",),
        (),
        ("Authorization",),
        ("Authorization",),
    ]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert "credentials" not in lines[0]  # the common case stays out of a long log
    assert lines[1]["credentials"] == ["Cookie"]
    assert "a=1" not in log.read_text() and "Bearer" not in log.read_text()  # names, not values
    assert [RequestRecord.from_json(line) for line in lines] == sim.log


def card(folder: Path, name: str, url: str, title: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f'---\ntitle: "{title}"\npublishedDateTime: 2020-03-04T05:06:07Z\nwebUrl: {url}\n---\n'
    )


async def test_a_run_sends_a_hosts_cookie_to_it_alone(tmp_path: Path) -> None:
    """Two simulated hosts serve the same page behind a cookie; config.yaml gives the cookie to
    the first only, and to a third host whose page redirects to the second."""
    cards = tmp_path / "cards"
    story = "story-1"
    async with SimWeb(2, first=20, latency_ms=0) as sim:
        first, second = sim.host_ips
        page = f"/needs-cookie/session=ok/{story}"
        async with serve({"/go": redirect(sim.url(1, page))}, A) as away:
            card(cards, "own", sim.url(0, page), card_title(story))
            card(cards, "other", sim.url(1, page), card_title(story))
            card(cards, "moved", away.url("/go"), card_title(story))
            config = quick_config(tmp_path, rot={"soft_404_probe": False})
            cookie = {"Cookie": "pref=dark; session=ok"}
            config.hosts = {first: HostConfig(headers=cookie), A: HostConfig(headers=cookie)}
            result, report = await crawl(config)
    problems = {c["path"]: [p["kind"] for p in c["problems"]] for c in report["cards"]}
    assert problems == {"own.md": [], "other.md": ["client_error"], "moved.md": ["client_error"]}
    assert away.requests[0].headers["Cookie"] == "pref=dark; session=ok"
    credentials = {(r.host, r.path): r.credentials for r in sim.log if r.path == page}
    assert credentials == {(first, page): ("Cookie",), (second, page): ()}
    assert result.counters["host_settings"] == {A: A, first: first}
    assert report["run"]["config"]["hosts"][first]["headers"] == {"Cookie": "***"}
    assert "pref=dark" not in json.dumps(report)


async def test_a_hosts_headers_never_go_out_in_clear_text_after_an_https_hop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """https://a -> http://a (a downgrade on the same host): the second hop goes without A's
    cookie and authorization; an http card URL keeps them (the operator chose that)."""
    sent: list[tuple[str, bool]] = []

    async def attempt(
        self: Fetcher,
        url: str,
        parsed: object,
        key: str,
        link_kind: LinkKind,
        headers: object,
        *,
        own_headers: bool = True,
    ) -> Answer:
        sent.append((url, own_headers))
        moved = url.startswith("https:")
        location = ("http://a.test/plain",) if moved else ()
        status = 302 if moved else 200
        return Answer(url, status, "", CIMultiDictProxy(CIMultiDict()), b"", None, location)

    monkeypatch.setattr(Fetcher, "_attempt", attempt)
    fetcher = fetcher_for(fast_fetch_config(), {"a.test": HostConfig(headers=SECRETS)})
    async with fetcher:
        await fetcher.check("https://a.test/secure", PAGE)
        await fetcher.check("http://a.test/card", PAGE)
    assert sent == [
        ("https://a.test/secure", True),
        ("http://a.test/plain", False),
        ("http://a.test/card", True),
    ]
