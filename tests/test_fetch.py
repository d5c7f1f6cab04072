"""The fetcher against real local servers on 127.0.0.x: statuses, retries, redirects, limits.

Nothing here leaves the machine: every URL is a loopback IP or a name pinned to one, `.invalid`
names are answered by the resolver itself (RFC 6761), and the one test that needs a "public"
address fakes the socket layer (see test_redirect_hop_to_a_private_address_is_blocked).
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import time
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohappyeyeballs
import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_reqrep import ConnectionKey
from servers import (
    Handler,
    by_method,
    endless,
    free_port,
    max_in_window,
    ok,
    open_fetcher,
    redirect,
    reset,
    sequence,
    serve,
    status,
    trickle,
)

import crawler.web.addresses
import crawler.web.retries
import crawler.web.session
from crawler.config import PolitenessConfig
from crawler.judge.html import page_title
from crawler.judge.http import status_finding
from crawler.model import Finding, Hop, Kind, LinkKind
from crawler.web.failures import failure_for
from crawler.web.politeness import HostPool, parse_retry_after
from crawler.web.urls import host_key

PAGE = LinkKind.PAGE


def kinds(findings: Sequence[Finding]) -> list[Kind]:
    return [f.kind for f in findings]


# -- plain statuses -----------------------------------------------------------------------------


async def test_200_is_ok_and_recorded() -> None:
    page = ok(
        "<html><head><title> Big &amp; \n small </title></head></html>",
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"},
    )
    async with serve({"/a": page}) as server, open_fetcher() as fetcher:
        outcome = await fetcher.check(server.url("/a"), PAGE)
    assert outcome.findings == []
    assert outcome.http_status == 200
    assert outcome.final_url == server.url("/a")
    assert outcome.attempts == 1 and outcome.redirects == []
    assert outcome.title == "Big & small"
    assert outcome.content_type == "text/html; charset=utf-8"
    assert outcome.bytes_read > 0 and outcome.elapsed_ms > 0
    assert (outcome.etag, outcome.last_modified) == ('"v1"', "Wed, 21 Oct 2015 07:28:00 GMT")
    [seen] = server.requests
    assert (seen.method, seen.path) == ("GET", "/a")
    # the User-Agent names linkcheck and says how to give a contact when none is set
    assert seen.headers["User-Agent"] == (
        "linkcheck/0.1.0 (+contact URL not set: set fetch.contact_url in config.yaml)"
    )


@pytest.mark.parametrize(
    ("code", "kind", "detail"),
    [
        (404, Kind.NOT_FOUND, "HTTP 404 Not Found"),
        (410, Kind.GONE, "HTTP 410 Gone"),
        (403, Kind.CLIENT_ERROR, "HTTP 403 Forbidden"),
        (500, Kind.SERVER_ERROR, "HTTP 500 Internal Server Error"),
    ],
)
async def test_error_statuses_are_not_retried(code: int, kind: Kind, detail: str) -> None:
    async with serve({"/": status(code)}) as server, open_fetcher() as fetcher:
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert outcome.findings == [Finding(kind, detail)]
    assert outcome.http_status == code
    assert outcome.attempts == 1 and len(server.requests) == 1


async def test_head_refused_while_get_works() -> None:
    handler = by_method({"HEAD": status(405)}, default=ok())
    async with serve({"/": handler}) as server, open_fetcher() as fetcher:
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert outcome.findings == []
    assert server.methods() == ["GET"]


async def test_conditional_request_304_is_ok() -> None:
    async def etagged(request: web.Request) -> web.StreamResponse:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(text="new", headers={"ETag": '"v2"'})

    async with serve({"/": etagged}) as server, open_fetcher() as fetcher:
        outcome = await fetcher.check(
            server.url("/"), PAGE, extra_headers={"If-None-Match": '"v1"'}
        )
    assert (outcome.findings, outcome.http_status, outcome.etag) == ([], 304, '"v1"')


async def test_pinned_name_reaches_the_pinned_address() -> None:
    async with serve({"/": ok()}) as server, open_fetcher(resolve={"site.test": "127.0.0.2"}) as f:
        outcome = await f.check(server.url("/", host="site.test"), PAGE)
    assert outcome.findings == []
    assert server.requests[0].headers["Host"] == f"site.test:{server.port}"


# -- retries ------------------------------------------------------------------------------------


async def test_503_then_200_is_ok_after_one_retry() -> None:
    async with serve({"/": sequence(status(503), ok())}) as server, open_fetcher() as fetcher:
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert outcome.findings == [] and outcome.http_status == 200
    assert outcome.attempts == 2 and len(server.requests) == 2


async def test_429_retry_after_is_honoured() -> None:
    limited = status(429, headers={"Retry-After": "1"})
    async with serve({"/": sequence(limited, ok())}) as server, open_fetcher() as fetcher:
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert outcome.findings == [] and outcome.attempts == 2
    first, second = server.requests
    assert second.at - first.at >= 0.95  # waited for Retry-After, not the 10 ms backoff


class RetryAfterSpy:
    """Counts the Retry-Afters the fetcher reports to its pool; a test waits on the count
    instead of sleeping until an answer has surely been read."""

    def __init__(self, pool: HostPool) -> None:
        self.count = 0
        self._changed = asyncio.Event()
        self._real = pool.retry_after
        pool.retry_after = self  # type: ignore[method-assign]

    def __call__(self, key: str, seconds: float, url: str | None = None) -> None:
        self._real(key, seconds, url)
        self.count += 1
        self._changed.set()

    async def reach(self, count: int) -> None:
        async with asyncio.timeout(30):  # a hang guard, not a measure of speed
            while self.count < count:
                self._changed.clear()
                await self._changed.wait()


async def test_one_retry_after_delays_only_its_url() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=4))
    spy = RetryAfterSpy(pool)
    routes = {"/limited": sequence(status(503, headers={"Retry-After": "1"}), ok()), "/b": ok()}
    async with serve(routes) as server, open_fetcher(pool=pool) as fetcher:
        first = asyncio.create_task(fetcher.check(server.url("/limited"), PAGE))
        await spy.reach(1)  # the 503 has been read
        other = await fetcher.check(server.url("/b"), PAGE)
        assert (await first).findings == []
    assert other.findings == []
    assert server.paths() == ["/limited", "/b", "/limited"]  # one limited page is about itself
    limited = [r.at for r in server.requests if r.path == "/limited"]
    assert limited[1] - limited[0] >= 0.95  # its retry waited for the Retry-After


async def test_retry_afters_in_a_row_pause_the_whole_host() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=4))
    spy = RetryAfterSpy(pool)
    busy = {"Retry-After": "1"}
    routes = {
        "/x": sequence(status(429, headers=busy), ok()),
        "/y": sequence(status(429, headers=busy), ok()),
        "/b": ok(),
    }
    async with serve(routes) as server, open_fetcher(pool=pool) as fetcher:
        both = asyncio.gather(
            fetcher.check(server.url("/x"), PAGE), fetcher.check(server.url("/y"), PAGE)
        )
        await spy.reach(2)  # both 429s have been read
        other = await fetcher.check(server.url("/b"), PAGE)
        await both
    assert other.findings == []
    second_429 = sorted(r.at for r in server.requests if r.path in ("/x", "/y"))[1]
    sent_b = next(r.at for r in server.requests if r.path == "/b")
    assert sent_b - second_429 >= 0.95  # several in a row are about us: the host pauses


async def test_an_ordinary_answer_between_retry_afters_keeps_the_host_going() -> None:
    """429, then a 200 from the same host, then another 429: the 200 shows the host serves us,
    so the second Retry-After is about its own page and the host does not pause."""
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=4))
    limited = status(429, headers={"Retry-After": "5"})
    routes = {"/x": limited, "/b": ok(), "/y": limited}
    async with serve(routes) as server, open_fetcher(pool=pool, retries=0) as fetcher:
        for path in ("/x", "/b", "/y"):
            await fetcher.check(server.url(path), PAGE)
        key = host_key(server.url("/"))
        assert pool.slot(key).paused_until == 0.0
        assert await granted_before(pool, key, 0.5)
        await fetcher.check(server.url("/x"), PAGE)  # right after /y's: two in a row
        assert pool.slot(key).paused_until > time.monotonic() + 4
        assert not await granted_before(pool, key, 0.5)


async def granted_before(pool: HostPool, key: str, seconds: float) -> bool:
    """Does a permit for `key` come before a `seconds` timer started at the same moment? Both
    are timers of one event loop: the answer does not depend on how busy the machine is."""

    async def take() -> None:
        async with pool.permit(key):
            pass

    permit = asyncio.create_task(take())
    timer = asyncio.create_task(asyncio.sleep(seconds))
    done, _ = await asyncio.wait({permit, timer}, return_when=asyncio.FIRST_COMPLETED)
    for task in (permit, timer):
        task.cancel()
    await asyncio.gather(permit, timer, return_exceptions=True)
    return permit in done


async def test_permit_is_not_held_while_waiting_to_retry() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=1))
    routes = {"/flaky": sequence(status(502), ok()), "/b": ok()}
    async with (
        serve(routes) as server,
        open_fetcher(pool=pool, backoff_base=0.5, backoff_max=1) as f,
    ):
        flaky = asyncio.create_task(f.check(server.url("/flaky"), PAGE))
        while not server.requests:
            await asyncio.sleep(0.01)
        other = await f.check(server.url("/b"), PAGE)
        assert (await flaky).attempts == 2
    assert other.findings == []
    assert server.paths() == ["/flaky", "/b", "/flaky"]  # /b went out during the backoff


# The first attempt is made outside tenacity (a fast path for the common case); these pin down
# that a retried hop still sees tenacity's semantics from its very first attempt.


async def test_retries_back_off_from_the_first_attempt(
    monkeypatch: pytest.MonkeyPatch, debug_logs: list[MutableMapping[str, Any]]
) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: a)  # no jitter (fetch uses random.uniform)
    routes = {"/": sequence(status(503), status(503), ok())}
    async with (
        serve(routes) as server,
        open_fetcher(retries=2, backoff_base=0.2, backoff_max=5) as fetcher,
    ):
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert outcome.findings == [] and outcome.attempts == 3 and len(server.requests) == 3
    first, second, third = (r.at for r in server.requests)
    assert second - first >= 0.19  # attempt 1's backoff: base * 2^0
    assert third - second >= 0.39  # attempt 2's: base * 2^1
    retries = [e for e in debug_logs if e["event"] == "retrying"]
    # the planned waits, exactly (a stopwatch could only bound them from below)
    assert [(e["attempt"], e["reason"], e["wait_s"]) for e in retries] == [
        (1, "HTTP 503 Service Unavailable", 0.2),
        (2, "HTTP 503 Service Unavailable", 0.4),
    ]


async def test_out_of_retries_the_last_answer_stands() -> None:
    async with serve({"/": status(503)}) as server, open_fetcher(retries=2) as fetcher:
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert outcome.findings == [Finding(Kind.SERVER_ERROR, "HTTP 503 Service Unavailable")]
    assert outcome.attempts == 3 and len(server.requests) == 3


async def test_no_retries_configured_means_one_attempt() -> None:
    async with serve({"/": status(503)}) as server, open_fetcher(retries=0) as fetcher:
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert outcome.findings == [Finding(Kind.SERVER_ERROR, "HTTP 503 Service Unavailable")]
    assert outcome.attempts == 1 and len(server.requests) == 1


async def test_a_redirect_target_is_retried_on_its_own() -> None:
    routes = {"/a": redirect("/b", 301), "/b": sequence(status(502), ok())}
    async with serve(routes) as server, open_fetcher() as fetcher:
        outcome = await fetcher.check(server.url("/a"), PAGE)
    assert outcome.http_status == 200 and outcome.final_url == server.url("/b")
    assert kinds(outcome.findings) == [Kind.MOVED_PERMANENTLY]
    assert outcome.attempts == 2 and server.paths() == ["/a", "/b", "/b"]


async def test_a_successful_first_attempt_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_wait(*args: Any, **kwargs: Any) -> float:
        raise AssertionError("a healthy answer must not ask for a backoff")

    monkeypatch.setattr(crawler.web.retries, "backoff_seconds", no_wait)
    async with serve({"/": ok(), "/gone": status(404)}) as server, open_fetcher() as fetcher:
        healthy = await fetcher.check(server.url("/"), PAGE)
        gone = await fetcher.check(server.url("/gone"), PAGE)
    assert healthy.findings == [] and healthy.attempts == 1
    assert kinds(gone.findings) == [Kind.NOT_FOUND] and gone.attempts == 1
    assert len(server.requests) == 2


async def test_429_forever_is_rate_limited() -> None:
    async with (
        serve({"/": status(429, headers={"Retry-After": "0"})}) as server,
        open_fetcher(retries=2) as fetcher,
    ):
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert outcome.findings == [Finding(Kind.RATE_LIMITED, "HTTP 429 Too Many Requests")]
    assert outcome.attempts == 3 and len(server.requests) == 3


async def test_connection_reset_after_retries() -> None:
    async with serve({"/": reset()}) as server, open_fetcher(retries=2) as fetcher:
        outcome = await fetcher.check(server.url("/"), PAGE)
    assert kinds(outcome.findings) == [Kind.CONNECTION_ERROR]
    assert outcome.attempts == 3 and len(server.requests) >= 3


async def test_connection_refused() -> None:
    url = f"http://127.0.0.2:{free_port()}/"
    async with open_fetcher(retries=1) as fetcher:
        outcome = await fetcher.check(url, PAGE)
    assert kinds(outcome.findings) == [Kind.CONNECTION_ERROR]
    assert outcome.attempts == 2 and outcome.http_status is None


async def test_tls_failure_is_not_retried() -> None:
    async with serve({"/": ok()}) as server, open_fetcher(retries=2) as fetcher:
        # a plain-HTTP server answers the TLS ClientHello with garbage: the handshake fails
        outcome = await fetcher.check(server.url("/").replace("http:", "https:"), PAGE)
    assert kinds(outcome.findings) == [Kind.TLS_ERROR] and outcome.attempts == 1


async def test_dns_failure_is_not_retried() -> None:
    async with open_fetcher(retries=2) as fetcher:
        outcome = await fetcher.check("http://nothing.invalid/", PAGE)
    assert kinds(outcome.findings) == [Kind.DNS_ERROR] and outcome.attempts == 1


class FailingDNS(AbstractResolver):
    """What the system resolver does for an unknown name, without asking the network."""

    lookups = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        FailingDNS.lookups += 1
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_dns_failure_from_the_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crawler.web.session, "AsyncResolver", FailingDNS)
    FailingDNS.lookups = 0
    async with open_fetcher(retries=2) as fetcher:
        outcome = await fetcher.check("http://unknown-name.example/", PAGE)
    assert outcome.findings == [
        Finding(Kind.DNS_ERROR, "DNS lookup failed: Name or service not known")
    ]
    assert FailingDNS.lookups == 1


# -- time limits --------------------------------------------------------------------------------


def never_answers(answered: asyncio.Event) -> Handler:
    """Holds the request until the test says so: only a timeout can end the client's wait."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await answered.wait()
        return web.Response(text="too late")

    return handler


async def test_a_server_that_never_answers_times_out() -> None:
    answered = asyncio.Event()
    async with (
        serve({"/": never_answers(answered)}) as server,
        open_fetcher(timeout=0.3, retries=0) as fetcher,
    ):
        async with asyncio.timeout(30):  # a hang guard: the check ends only by its timeout
            outcome = await fetcher.check(server.url("/"), PAGE)
        assert not answered.is_set()
        answered.set()
    assert outcome.findings == [Finding(Kind.TIMEOUT, "no complete answer within 0.3 s")]
    assert outcome.elapsed_ms >= 300 and outcome.http_status is None


async def test_trickling_body_times_out_on_the_total_deadline() -> None:
    """A byte every 0.1 s never lets a per-read timeout fire: only a deadline on the whole
    request ends a body that never ends."""
    async with serve({"/": trickle(0.1)}) as server, open_fetcher(timeout=0.5, retries=0) as f:
        async with asyncio.timeout(30):  # a hang guard
            outcome = await f.check(server.url("/"), PAGE)
    assert outcome.findings == [Finding(Kind.TIMEOUT, "no complete answer within 0.5 s")]
    assert outcome.elapsed_ms >= 500


async def test_endless_fast_body_is_read_up_to_the_cap() -> None:
    async with serve({"/": endless()}) as server, open_fetcher(max_page_bytes=100_000) as f:
        outcome = await f.check(server.url("/"), PAGE)
    assert outcome.findings == []
    assert outcome.bytes_read == 100_000


# -- redirects ----------------------------------------------------------------------------------


async def test_301_is_ok_but_moved() -> None:
    async with serve({"/old": redirect("/new", 301), "/new": ok()}) as server, open_fetcher() as f:
        outcome = await f.check(server.url("/old"), PAGE)
    new = server.url("/new")
    assert outcome.findings == [Finding(Kind.MOVED_PERMANENTLY, f"moved permanently to {new}")]
    assert outcome.final_url == new and outcome.http_status == 200
    assert outcome.redirects == [Hop(server.url("/old"), 301, new)]


async def test_chain_of_302s_records_every_hop() -> None:
    async with serve({"/d": ok()}, "127.0.0.3") as other:
        d = other.url("/d", host="site.test")
        routes = {"/a": redirect("/b"), "/b": redirect("c", 307), "/c": redirect(d, 303)}
        async with serve(routes) as first, open_fetcher(resolve={"site.test": "127.0.0.3"}) as f:
            outcome = await f.check(first.url("/a"), PAGE)
    assert outcome.findings == []  # temporary redirects are fine
    assert outcome.redirects == [
        Hop(first.url("/a"), 302, first.url("/b")),
        Hop(first.url("/b"), 307, first.url("/c")),  # relative Location, resolved
        Hop(first.url("/c"), 303, d),  # to another host
    ]
    assert (outcome.final_url, outcome.http_status) == (d, 200)
    assert other.paths() == ["/d"]


async def test_redirect_loop() -> None:
    async with serve({"/a": redirect("/b"), "/b": redirect("/a")}) as server, open_fetcher() as f:
        outcome = await f.check(server.url("/a"), PAGE)
    loop = f"redirect loop: {server.url('/b')} redirects back to {server.url('/a')}"
    assert outcome.findings == [Finding(Kind.REDIRECT_LOOP, loop)]
    assert [h.url for h in outcome.redirects] == [server.url("/a"), server.url("/b")]
    assert server.paths() == ["/a", "/b"]


async def test_a_loop_that_never_comes_back_to_the_first_url() -> None:
    """a -> b -> c -> b: the loop is b <-> c; it is caught when c points back at b."""
    routes = {"/a": redirect("/b"), "/b": redirect("/c"), "/c": redirect("/b")}
    async with serve(routes) as server, open_fetcher(max_redirects=20) as f:
        outcome = await f.check(server.url("/a"), PAGE)
    loop = f"redirect loop: {server.url('/c')} redirects back to {server.url('/b')}"
    assert outcome.findings == [Finding(Kind.REDIRECT_LOOP, loop)]
    assert server.paths() == ["/a", "/b", "/c"]


async def test_a_self_redirect_that_only_adds_a_fragment_is_a_loop() -> None:
    """/a -> /a#1 -> /a#2 ...: a fragment is never sent, so each hop requests /a again. It is
    a loop at the first hop, not followed until too_many_redirects."""
    count = 0

    async def new_fragment(request: web.Request) -> web.StreamResponse:
        nonlocal count
        count += 1
        return web.Response(status=302, headers={"Location": f"/a#{count}"})

    async with serve({"/a": new_fragment}) as server, open_fetcher(max_redirects=20) as f:
        outcome = await f.check(server.url("/a"), PAGE)
    loop = f"redirect loop: {server.url('/a')} redirects back to {server.url('/a#1')}"
    assert outcome.findings == [Finding(Kind.REDIRECT_LOOP, loop)]
    assert server.paths() == ["/a"] and len(outcome.redirects) == 1


async def test_a_redirect_to_the_card_url_without_its_fragment_is_a_loop() -> None:
    async with serve({"/a": redirect("/a")}) as server, open_fetcher(max_redirects=20) as f:
        outcome = await f.check(server.url("/a#comments"), PAGE)
    assert kinds(outcome.findings) == [Kind.REDIRECT_LOOP]
    assert server.paths() == ["/a"]


async def test_a_redirect_to_itself_with_an_empty_query_and_a_fragment_is_a_loop() -> None:
    """/a -> http://host/a?#x (absolute, so taken as written) requests /a again: a loop at the
    first hop. Pins the loop key (urldefrag, which re-spells a URL whose fragment it drops);
    keying by urls.strip_fragment would see '/a?' as new and follow one more hop."""

    async def to_itself(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": f"http://{request.host}/a?#x"})

    async with serve({"/a": to_itself}) as server, open_fetcher(max_redirects=20) as f:
        outcome = await f.check(server.url("/a"), PAGE)
    loop = f"redirect loop: {server.url('/a')} redirects back to {server.url('/a?#x')}"
    assert outcome.findings == [Finding(Kind.REDIRECT_LOOP, loop)]
    assert server.paths() == ["/a"]


async def test_too_many_redirects() -> None:
    routes = {f"/{i}": redirect(f"/{i + 1}") for i in range(10)}
    async with serve(routes) as server, open_fetcher(max_redirects=3) as fetcher:
        outcome = await fetcher.check(server.url("/0"), PAGE)
    assert outcome.findings == [Finding(Kind.TOO_MANY_REDIRECTS, "more than 3 redirects")]
    assert len(outcome.redirects) == 4 and server.paths() == ["/0", "/1", "/2", "/3"]


async def test_redirect_to_a_non_http_scheme() -> None:
    async with serve({"/": redirect("ftp://files.example/x")}) as server, open_fetcher() as f:
        outcome = await f.check(server.url("/"), PAGE)
    assert outcome.findings == [
        Finding(Kind.CLIENT_ERROR, "redirects to ftp://files.example/x: not an http(s) URL")
    ]


async def test_invalid_urls_are_never_requested() -> None:
    async with open_fetcher() as fetcher:
        bad = await fetcher.check("http://[::1/", PAGE)
        ftp = await fetcher.check("ftp://files.example/x", PAGE)
    assert kinds(bad.findings) == [Kind.INVALID_URL]
    assert ftp.findings == [Finding(Kind.INVALID_URL, "ftp://files.example/x: not an http(s) URL")]


# -- the address guard --------------------------------------------------------------------------


async def test_loopback_is_blocked_by_default() -> None:
    async with (
        serve({"/": ok()}) as server,
        open_fetcher(allow_private=False, resolve={"site.test": "127.0.0.2"}) as fetcher,
    ):
        literal = await fetcher.check(server.url("/"), PAGE)
        pinned = await fetcher.check(server.url("/", host="site.test"), PAGE)
    assert literal.findings == [
        Finding(
            Kind.BLOCKED_ADDRESS, "127.0.0.2 is a loopback address; use --allow-private to allow it"
        )
    ]
    assert pinned.findings == literal.findings
    assert pinned.attempts == 1  # not retried
    assert server.requests == []


async def test_ipv6_loopback_literal_is_blocked() -> None:
    async with open_fetcher(allow_private=False) as fetcher:
        outcome = await fetcher.check("http://[::1]:9/", PAGE)
    assert kinds(outcome.findings) == [Kind.BLOCKED_ADDRESS]
    assert "::1 is a loopback address" in outcome.findings[0].detail


PUBLIC_IP = "93.184.216.34"  # never contacted: the fake socket layer below carries it to loopback


async def test_redirect_hop_to_a_private_address_is_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A public first hop redirecting inward must be stopped on the redirect hop.

    Why this shape: the first hop needs a *public* address (else it is blocked itself), and tests
    may never reach one. So a pin says public.test is 93.184.216.34 (the guard sees a public
    address, as it would in the wild) and a fake socket layer, standing in for the internet at the
    one place aiohttp opens sockets, carries connections for that address to our loopback server.
    The fetcher runs unmodified with allow_private=False: no test-only switch, and the fake refuses
    any other destination, so a guard failure would show as a connection, not pass silently.
    """
    dialled: list[str] = []
    real_start = aiohappyeyeballs.start_connection

    async def fake_internet(addr_infos: Sequence[Any], **kwargs: Any) -> socket.socket:
        host, port = addr_infos[0][4][:2]
        dialled.append(host)
        if host != PUBLIC_IP:
            raise OSError(f"the fake internet only routes {PUBLIC_IP}, not {host}")
        routed = [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.2", port))]
        return await real_start(routed, **kwargs)

    monkeypatch.setattr(aiohappyeyeballs, "start_connection", fake_internet)
    async with serve({"/": ok()}, "127.0.0.3") as inside:
        routes = {
            "/to-literal": redirect(inside.url("/")),
            "/to-name": redirect(inside.url("/", host="inside.test")),
        }
        pins = {"public.test": PUBLIC_IP, "inside.test": "127.0.0.3"}
        async with serve(routes) as outside, open_fetcher(allow_private=False, resolve=pins) as f:
            literal = await f.check(outside.url("/to-literal", host="public.test"), PAGE)
            named = await f.check(outside.url("/to-name", host="public.test"), PAGE)
    for outcome in (literal, named):
        assert kinds(outcome.findings) == [Kind.BLOCKED_ADDRESS]
        assert "127.0.0.3 is a loopback address" in outcome.findings[0].detail
        assert [h.status for h in outcome.redirects] == [302]
    assert outside.paths() == ["/to-literal", "/to-name"]
    assert inside.requests == [] and set(dialled) == {PUBLIC_IP}


# -- politeness ---------------------------------------------------------------------------------


async def test_host_pool_limits_what_the_server_sees() -> None:
    pool = HostPool(PolitenessConfig(rate_per_host=5, concurrency_per_host=2))
    async with serve({"/{n}": ok(delay=0.3)}) as server, open_fetcher(pool=pool) as fetcher:
        outcomes = await asyncio.gather(
            *(fetcher.check(server.url(f"/{n}"), PAGE) for n in range(30))
        )
    assert all(o.findings == [] for o in outcomes)
    assert len(server.requests) == 30
    assert max_in_window(r.at for r in server.requests) <= 5
    assert server.max_in_flight <= 2


class SlowDNS(AbstractResolver):
    """Answers every name with 127.0.0.2, after `delay` seconds: a connect that takes a while
    after the permit was granted. Records when it answered."""

    delay = 0.4
    answered_at: ClassVar[list[float]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        await asyncio.sleep(self.delay)
        SlowDNS.answered_at.append(time.monotonic())
        return [
            ResolveResult(
                hostname=host, host="127.0.0.2", port=port, family=socket.AF_INET, proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]  # fmt: skip

    async def close(self) -> None:
        pass


async def test_the_host_window_counts_each_request_from_when_its_headers_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fetcher tells the pool when a request actually left (after a slow lookup), so the
    host's rate window holds send times, not the earlier grant times."""
    monkeypatch.setattr(crawler.web.session, "AsyncResolver", SlowDNS)
    SlowDNS.answered_at = []
    pool = HostPool(PolitenessConfig(rate_per_host=2, concurrency_per_host=2))
    async with serve({"/{n}": ok()}) as server, open_fetcher(pool=pool) as fetcher:
        granted = time.monotonic()
        outcomes = await asyncio.gather(
            *(fetcher.check(server.url(f"/{n}", host="slow.test"), PAGE) for n in range(2))
        )
    assert all(o.findings == [] for o in outcomes)
    assert SlowDNS.answered_at and SlowDNS.answered_at[0] - granted >= 0.39
    stamps = [token[0] for token in pool.slot("slow.test").throttler._tokens]
    assert len(stamps) == 2
    assert min(stamps) >= SlowDNS.answered_at[0]  # sent after the lookup, counted from then


# -- pure pieces --------------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", cap=60) == 3.0
    assert parse_retry_after("600", cap=60) == 60.0
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", cap=60, now=now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", cap=60, now=now) == 0.0
    assert parse_retry_after("soon", cap=60) is None
    assert parse_retry_after(None, cap=60) is None


def test_status_findings() -> None:
    assert status_finding(200, "OK") is None
    assert status_finding(304, "Not Modified") is None
    assert status_finding(429, "Too Many Requests") == Finding(
        Kind.RATE_LIMITED, "HTTP 429 Too Many Requests"
    )
    assert status_finding(302, "Found") == Finding(
        Kind.SERVER_ERROR, "HTTP 302 Found without a Location to follow"
    )
    assert status_finding(599, "") == Finding(Kind.SERVER_ERROR, "HTTP 599")


def test_error_boundary() -> None:
    key = ConnectionKey("h.test", 443, True, True, None, None, None)
    tls = aiohttp.ClientConnectorSSLError(key, ssl.SSLError(1, "bad handshake"))
    cases: list[tuple[Exception, Kind, bool]] = [
        (tls, Kind.TLS_ERROR, False),
        (aiohttp.ClientOSError(1, "x"), Kind.CONNECTION_ERROR, True),
        (aiohttp.ServerDisconnectedError(), Kind.CONNECTION_ERROR, True),
        (aiohttp.ClientPayloadError("cut"), Kind.CONNECTION_ERROR, True),
        (ConnectionResetError(), Kind.CONNECTION_ERROR, True),
        (TimeoutError(), Kind.TIMEOUT, True),
        (aiohttp.ServerTimeoutError(), Kind.TIMEOUT, True),
        (socket.gaierror(-2, "Name or service not known"), Kind.DNS_ERROR, False),
        (aiohttp.InvalidURL("http://[x"), Kind.INVALID_URL, False),
        (crawler.web.addresses.BlockedAddressError("h", "10.0.0.1"), Kind.BLOCKED_ADDRESS, False),
        (ValueError("odd"), Kind.CHECK_FAILED, False),  # linkcheck's own failure, not the net
    ]
    for exc, kind, transient in cases:
        failure = failure_for(exc, timeout=1)
        assert (failure.kind, failure.transient) == (kind, transient), exc
    assert failure_for(ValueError("odd"), timeout=1).detail == (
        "linkcheck could not check this URL: ValueError: odd"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "title"),
    [
        (b"<html><head><title>Plain</title>", "text/html", "Plain"),
        (b"<TITLE lang=en>\n  A &amp; B\t&#233;t\xc3\xa9 </TITLE>", None, "A & B \u00e9t\u00e9"),
        (
            "<title>caf\u00e9</title>".encode("latin-1"),
            "text/html; charset=ISO-8859-1",
            "caf\u00e9",
        ),
        (
            b'<meta charset="windows-1252"><title>\x93quoted\x94</title>',
            "text/html",
            "\u201cquoted\u201d",
        ),
        ("<title>wide</title>".encode("utf-16"), "text/html", "wide"),
        (b"<title>   </title>", "text/html", None),
        (b"<html>no title</html>", "text/html", None),
        (b"<title>bad \xff bytes</title>", "text/html; charset=nonsense", "bad \ufffd bytes"),
    ],
)
def test_page_title(body: bytes, content_type: str | None, title: str | None) -> None:
    assert page_title(body, content_type) == title


def test_page_title_looks_only_at_the_head() -> None:
    assert page_title(b" " * 70_000 + b"<title>late</title>", "text/html") is None
