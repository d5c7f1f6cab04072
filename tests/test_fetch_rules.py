"""The fetcher's rules, checked one piece at a time with plain values: how an exception, a status,
a Retry-After, a Location and a redirect chain are judged, how a hop is retried and waited for,
and how a final answer fills the outcome and is judged.

Most tests here need no server: the layer below the rule (the walk's hop, `Fetcher._attempt`,
`Fetcher._request`, the redirect walk itself) is replaced by a scripted stand-in, so each rule is
checked exactly and fast. The few that need real sockets use the loopback servers of
tests/servers.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import ssl
from collections.abc import Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, TypeVar

import aiohttp
import pytest
import structlog
import structlog.testing
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.http_exceptions import (
    BadHttpMessage,
    ContentEncodingError,
    HttpProcessingError,
    TransferEncodingError,
)
from multidict import CIMultiDict, CIMultiDictProxy
from servers import fast_fetch_config, ok, open_fetcher, serve, status
from tenacity import Future
from yarl import URL

import crawler.judge.http
import crawler.web.failures
import crawler.web.fetch
import crawler.web.retries
from crawler.config import PolitenessConfig
from crawler.judge.http import AnswerChecker, ImageCheck, status_finding
from crawler.model import Finding, Hop, ImageInfo, Kind, LinkKind, UrlOutcome
from crawler.web.addresses import BlockedAddressError, GuardedResolver
from crawler.web.answer import (
    Answer,
    Result,
    _phrase,
    location_text,
    read_capped,
    safe_headers,
    status_text,
)
from crawler.web.failures import (
    Failure,
    _describe,
    _in_chain,
    _malformed,
    _os_message,
    failure_for,
    internal_error,
)
from crawler.web.fetch import Fetcher
from crawler.web.politeness import HostPool, Permit, parse_retry_after
from crawler.web.redirects import HopFn, _blame, parse_url, redirect_problem, redirect_target
from crawler.web.redirects import follow as follow_redirects
from crawler.web.retries import _last_result, _reason_of, _should_retry, _wait, backoff_seconds
from crawler.web.session import Sending, StampedRequest
from crawler.web.urls import HostKey, host_key

PAGE = LinkKind.PAGE
IMAGE = LinkKind.IMAGE
DNS_KEY = ConnectionKey("h.test", 80, False, True, None, None, None)


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def answer(
    url: str = "http://a.test/",
    code: int = 200,
    *,
    reason: str = "OK",
    body: bytes = b"",
    retry_after: float | None = None,
    locations: tuple[str, ...] = (),
    head: tuple[tuple[str, str], ...] = (),
) -> Answer:
    return Answer(url, code, reason, headers(*head), body, retry_after, locations)


E = TypeVar("E", bound=BaseException)


def with_cause(exc: E, cause: BaseException) -> E:
    exc.__cause__ = cause
    return exc


def pool() -> HostPool:
    return HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=8))


def fetcher(**overrides: Any) -> Fetcher:
    """A Fetcher never entered: no session, for the methods that do not need one."""
    return Fetcher(fast_fetch_config(**overrides), pool())


# -- the error boundary -------------------------------------------------------------------------


def test_a_kind_is_found_in_the_exception_or_along_its_causes() -> None:
    inner = KeyError("k")
    middle = with_cause(ValueError("v"), inner)
    outer = with_cause(RuntimeError("r"), middle)
    assert _in_chain(outer, RuntimeError) is outer
    assert _in_chain(outer, ValueError) is middle
    assert _in_chain(outer, KeyError) is inner
    assert _in_chain(outer, TypeError) is None


def test_a_cycle_of_causes_ends_the_search() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert _in_chain(a, KeyError) is None


def test_a_blocked_address_anywhere_in_the_chain_is_blocked_not_a_dns_error() -> None:
    blocked = BlockedAddressError("inside.test", "10.0.0.1")
    exc = with_cause(aiohttp.ClientConnectorDNSError(DNS_KEY, OSError(1, "x")), blocked)
    failure = failure_for(exc, timeout=1)
    assert failure == Failure(Kind.BLOCKED_ADDRESS, str(blocked), transient=False)
    assert failure.detail.startswith("10.0.0.1 is a private address")


def test_an_invalid_url_names_itself() -> None:
    assert failure_for(aiohttp.InvalidURL("http://[x"), timeout=1) == Failure(
        Kind.INVALID_URL, "invalid URL: http://[x", transient=False
    )


def test_a_failed_lookup_says_what_the_resolver_said() -> None:
    system = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    wrapped = aiohttp.ClientConnectorDNSError(DNS_KEY, system)
    expected = Failure(Kind.DNS_ERROR, "DNS lookup failed: Name or service not known", False)
    assert failure_for(system, timeout=1) == expected
    assert failure_for(wrapped, timeout=1) == expected


def test_the_resolvers_words_come_from_the_lookup_error_first() -> None:
    system = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    # the chain's gaierror wins over the connector's own os_error
    chained = with_cause(
        aiohttp.ClientConnectorDNSError(DNS_KEY, OSError(5, "other words")), system
    )
    assert _os_message(chained) == "Temporary failure in name resolution"
    assert _os_message(aiohttp.ClientConnectorDNSError(DNS_KEY, OSError(5, "os words"))) == (
        "os words"
    )
    assert _os_message(socket.gaierror("no strerror")) == "no strerror"
    # the connector's own text names host and port; what its os_error says is the reason
    assert _os_message(aiohttp.ClientConnectorDNSError(DNS_KEY, OSError("odd answer"))) == (
        "odd answer"
    )
    assert _os_message(ValueError("plain")) == "plain"


def test_tls_trouble_is_a_tls_error_however_it_is_wrapped() -> None:
    handshake = ssl.SSLError(1, "bad handshake")
    cases: list[Exception] = [
        aiohttp.ClientConnectorSSLError(DNS_KEY, handshake),
        aiohttp.ServerFingerprintMismatch(b"want", b"got", "h.test", 443),
        handshake,
    ]
    wrapped = with_cause(aiohttp.ClientOSError(1, "wrapped"), handshake)
    cases.append(wrapped)
    for exc in cases:
        assert failure_for(exc, timeout=1) == Failure(Kind.TLS_ERROR, f"TLS error: {exc}", False)


def test_no_connection_in_time_and_no_answer_in_time_are_told_apart() -> None:
    connect = aiohttp.ConnectionTimeoutError("Connection timeout to host h.test")
    assert failure_for(connect, timeout=1) == Failure(
        Kind.TIMEOUT,
        "no connection within the connect timeout: Connection timeout to host h.test",
        transient=True,
    )
    for exc in (TimeoutError(), aiohttp.SocketTimeoutError("read")):
        assert failure_for(exc, timeout=1.5) == Failure(
            Kind.TIMEOUT, "no complete answer within 1.5 s", transient=True
        )
    assert failure_for(TimeoutError(), timeout=20.0).detail == "no complete answer within 20 s"


def test_connection_errors_are_retried_and_described_in_short() -> None:
    for exc in (
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "reset"),
        aiohttp.ClientPayloadError("cut"),
        ConnectionResetError(104, "Connection reset by peer"),
        BrokenPipeError(),
    ):
        assert failure_for(exc, timeout=1) == Failure(
            Kind.CONNECTION_ERROR, _describe(exc), transient=True
        ), exc
    long = aiohttp.ServerDisconnectedError("x" * 500)
    detail = failure_for(long, timeout=1).detail
    assert len(detail) == crawler.web.failures.DETAIL_CHARS and detail.endswith("…")
    assert detail.startswith("ServerDisconnectedError: xxx")


def test_other_network_trouble_is_reported_but_not_retried() -> None:
    for exc in (aiohttp.ClientError("odd"), OSError("odd"), EOFError("odd")):
        assert failure_for(exc, timeout=1) == Failure(
            Kind.CONNECTION_ERROR, f"{type(exc).__name__}: odd", transient=False
        ), exc
    long = failure_for(EOFError("e" * 500), timeout=1).detail
    assert long == "EOFError: " + "e" * (crawler.web.failures.DETAIL_CHARS - 11) + "…"


def test_linkcheck_failing_on_an_answer_is_check_failed() -> None:
    assert failure_for(KeyError("k"), timeout=1) == Failure(
        Kind.CHECK_FAILED, "linkcheck could not check this URL: KeyError: 'k'", transient=False
    )


def test_an_exception_is_described_by_its_type_and_its_text() -> None:
    assert _describe(ValueError("odd")) == "ValueError: odd"
    assert _describe(ValueError()) == "ValueError"
    assert internal_error(ValueError()) == "linkcheck could not check this URL: ValueError"
    long = internal_error(ValueError("y" * 500))
    assert len(long) == crawler.web.failures.DETAIL_CHARS and long.endswith("…")


def test_a_malformed_answer_is_said_in_the_parsers_words() -> None:
    caret = BadHttpMessage("Invalid header value char:\n\n  b'X: \\x01'\n      ^")
    exc = with_cause(aiohttp.ClientResponseError(None, (), message="bad"), caret)  # type: ignore[arg-type]
    assert failure_for(exc, timeout=1) == Failure(
        Kind.CONNECTION_ERROR,
        "malformed HTTP answer: Invalid header value char: b'X: \\x01'",
        transient=False,
    )
    colon = BadHttpMessage("Data after `Connection: close`:  ")
    assert _malformed(colon) == Failure(
        Kind.CONNECTION_ERROR, "malformed HTTP answer: Data after `Connection: close`", False
    )
    assert _malformed(ValueError("no parser here")) is None
    upper = BadHttpMessage("Invalid method encountered: X")
    assert _malformed(upper) == Failure(
        Kind.CONNECTION_ERROR, "malformed HTTP answer: Invalid method encountered: X", False
    )


def test_a_malformed_answer_without_words_is_described_by_its_cause() -> None:
    silent = with_cause(HttpProcessingError(message=""), ValueError("inner trouble"))
    assert _malformed(silent) == Failure(
        Kind.CONNECTION_ERROR, "malformed HTTP answer: ValueError: inner trouble", False
    )
    alone = HttpProcessingError(message="")
    assert _malformed(alone) == Failure(
        Kind.CONNECTION_ERROR, f"malformed HTTP answer: {_describe(alone)}", False
    )
    long = BadHttpMessage("z" * 500)
    detail = _malformed(long)
    assert detail is not None
    assert detail.detail == "malformed HTTP answer: " + "z" * 199 + "…"


def test_a_body_cut_short_is_retried_and_one_that_cannot_be_decoded_is_not() -> None:
    cut = with_cause(aiohttp.ClientPayloadError("payload"), TransferEncodingError("Not enough"))
    assert failure_for(cut, timeout=1) == Failure(
        Kind.CONNECTION_ERROR, "the body could not be read: Not enough", transient=True
    )
    garbled = with_cause(
        aiohttp.ClientPayloadError("payload"), ContentEncodingError("Can not decode br")
    )
    assert failure_for(garbled, timeout=1) == Failure(
        Kind.CONNECTION_ERROR, "the body could not be read: Can not decode br", transient=False
    )


# -- Retry-After --------------------------------------------------------------------------------


NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("3", cap=60) == 3.0
    assert parse_retry_after(" 7 ", cap=60) == 7.0
    assert parse_retry_after("1.5", cap=60) == 1.5
    assert parse_retry_after("0", cap=60) == 0.0
    assert parse_retry_after("600", cap=60) == 60.0


def test_retry_after_that_is_neither_seconds_nor_a_date_is_unreadable() -> None:
    for value in ("soon", "3s", "x3", "1.", "-1", "3 4", "Mon, 32 Jan 2024 12:00:00 GMT"):
        assert parse_retry_after(value, cap=60) is None, value
    assert parse_retry_after("", cap=60) is None
    assert parse_retry_after(None, cap=60) is None
    assert parse_retry_after("Mon, 01 Jan 99999 12:00:00 GMT", cap=60) is None


def test_retry_after_as_a_date() -> None:
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", cap=60, now=NOW) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 +0100", cap=9e9, now=NOW) == 0.0
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 -0100", cap=9e9, now=NOW) == 3630.0
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", cap=60, now=NOW) == 0.0
    assert parse_retry_after("Mon, 01 Jan 2024 13:00:00 GMT", cap=60, now=NOW) == 60.0


def test_a_date_without_a_zone_is_read_as_utc() -> None:
    # "-0000" means "no zone said": email.utils gives a naive datetime
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 -0000", cap=60, now=NOW) == 30.0


def test_a_date_is_measured_from_now_by_default() -> None:
    assert parse_retry_after("Fri, 01 Jan 9999 00:00:00 GMT", cap=42) == 42.0
    assert parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT", cap=42) == 0.0


# -- statuses -----------------------------------------------------------------------------------


def test_a_status_text_drops_an_empty_reason() -> None:
    assert status_text(599, "") == "HTTP 599"
    assert status_text(404, "Not Found") == "HTTP 404 Not Found"


@pytest.mark.parametrize("code", [200, 204, 299, 304])
def test_healthy_statuses_have_no_finding(code: int) -> None:
    assert status_finding(code, "R") is None


@pytest.mark.parametrize(
    ("code", "finding"),
    [
        (99, Finding(Kind.SERVER_ERROR, "HTTP 99 R: not an HTTP status code (100-599)")),
        (600, Finding(Kind.SERVER_ERROR, "HTTP 600 R: not an HTTP status code (100-599)")),
        (100, Finding(Kind.SERVER_ERROR, "HTTP 100 R: an interim answer, and no final one")),
        (199, Finding(Kind.SERVER_ERROR, "HTTP 199 R: an interim answer, and no final one")),
        (300, Finding(Kind.SERVER_ERROR, "HTTP 300 R without a Location to follow")),
        (301, Finding(Kind.SERVER_ERROR, "HTTP 301 R without a Location to follow")),
        (399, Finding(Kind.SERVER_ERROR, "HTTP 399 R without a Location to follow")),
        (400, Finding(Kind.CLIENT_ERROR, "HTTP 400 R")),
        (404, Finding(Kind.NOT_FOUND, "HTTP 404 R")),
        (410, Finding(Kind.GONE, "HTTP 410 R")),
        (429, Finding(Kind.RATE_LIMITED, "HTTP 429 R")),
        (499, Finding(Kind.CLIENT_ERROR, "HTTP 499 R")),
        (500, Finding(Kind.SERVER_ERROR, "HTTP 500 R")),
        (599, Finding(Kind.SERVER_ERROR, "HTTP 599 R")),
    ],
)
def test_each_final_status_gets_its_finding(code: int, finding: Finding) -> None:
    assert status_finding(code, "R") == finding


def test_a_missing_reason_is_the_standard_phrase() -> None:
    assert _phrase(404) == "Not Found"
    assert _phrase(599) == ""


# -- URLs and redirects -------------------------------------------------------------------------


def test_what_cannot_be_requested_says_why() -> None:
    assert parse_url("http://[::1/") == "not a valid URL (Invalid IPv6 URL)"
    assert parse_url("ftp://files.test/x") == "not an http(s) URL"
    assert parse_url("http:///x") == "a URL without a host"
    assert parse_url("http://a^b/") == "not a valid host name ('a^b')"
    assert parse_url("http://a|b.test/") == "not a valid host name ('a|b.test')"
    long = parse_url("http://a^" + "b" * 200 + "/")
    assert isinstance(long, str) and len(long) == len("not a valid host name ('')") + 80


def test_why_a_url_cannot_be_parsed_is_cut_short() -> None:
    why = parse_url("http://" + "a" * 100 + "\U000e0001.test/")  # yarl quotes the whole host
    assert isinstance(why, str) and why.startswith("not a valid URL (Host 'aaa")
    assert len(why) == len("not a valid URL ()") + 80 and why.endswith("…)")


def test_an_ipv6_host_with_a_zone_is_not_taken_for_a_bad_host_name() -> None:
    assert parse_url("http://[fe80::1%25eth0]/") == URL("http://[fe80::1%25eth0]/")


def test_a_requestable_url_is_parsed_once() -> None:
    assert parse_url("HTTP://Ex.test/p") == URL("http://ex.test/p")
    assert parse_url("https://[::1]:8/") == URL("https://[::1]:8/")  # colons, but an IPv6 host


def test_a_location_keeps_what_it_said_and_percent_encodes_what_was_not_utf8() -> None:
    assert location_text(" /caf\udce9/\udc80x ") == "/caf%E9/%80x"
    assert location_text("/plain") == "/plain"


def test_header_bytes_that_were_not_utf8_are_kept_as_visible_escapes() -> None:
    safe = safe_headers(headers(("X-Caf\udce9", "caf\udce9"), ("X-Caf\udce9", "two")))
    assert list(safe.items()) == [("X-Caf\\xe9", "caf\\xe9"), ("X-Caf\\xe9", "two")]


def redirect_to(*locations: str, code: int = 302) -> Answer:
    return answer("http://a.test/p/q", code, reason="Found", locations=locations)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_each_redirect_status_is_followed(code: int) -> None:
    assert redirect_target(redirect_to("/x", code=code)) == "http://a.test/x"


@pytest.mark.parametrize("code", [200, 300, 304, 305, 404])
def test_other_statuses_are_not_followed_even_with_a_location(code: int) -> None:
    assert redirect_target(redirect_to("/x", code=code)) is None


def test_a_redirect_without_a_location_is_judged_by_its_status() -> None:
    assert redirect_target(redirect_to()) is None
    assert redirect_target(redirect_to("", "")) is None


def test_a_location_is_joined_to_the_url_that_sent_it() -> None:
    assert redirect_target(redirect_to("r")) == "http://a.test/p/r"
    assert redirect_target(redirect_to("//b.test/y")) == "http://b.test/y"
    assert redirect_target(redirect_to("https://b.test/z")) == "https://b.test/z"
    assert redirect_target(redirect_to("http:/x")) == "http://a.test/x"  # no authority: relative
    assert redirect_target(redirect_to("http:x//y")) == "http://a.test/p/x/y"


def test_a_location_with_an_empty_authority_is_taken_as_is() -> None:
    assert redirect_target(redirect_to("http:///x")) == "http:///x"


def test_the_same_location_twice_is_one_target() -> None:
    assert redirect_target(redirect_to("/x", "", "/x")) == "http://a.test/x"


def test_different_locations_are_the_servers_error() -> None:
    many = redirect_to("/1", "/2", "/3", "/4")
    assert redirect_target(many) == Finding(
        Kind.SERVER_ERROR, "HTTP 302 Found with 4 different Location headers: /1, /2, /3"
    )
    long = redirect_target(redirect_to("/" + "a" * 100, "/b"))
    assert isinstance(long, Finding)
    assert long.detail.endswith(": /" + "a" * 78 + "…, /b")


def test_a_location_that_cannot_be_split_blames_the_server() -> None:
    assert redirect_target(redirect_to("http://[::1")) == Finding(
        Kind.CLIENT_ERROR, "redirects to http://[::1: Invalid IPv6 URL"
    )
    long = redirect_target(redirect_to("http://[::1" + "x" * 200))
    assert isinstance(long, Finding)
    assert long.detail.startswith("redirects to http://[::1" + "x" * (120 - 12) + "…: ")


def test_a_redirect_to_what_cannot_be_requested_is_a_client_error() -> None:
    target = "ftp://files.test/" + "x" * 200
    problem = redirect_problem("http://a.test/", target, parse_url(target), set(), 1, 10)
    assert problem == Finding(
        Kind.CLIENT_ERROR, f"redirects to {target[:119]}…: not an http(s) URL"
    )


def test_a_redirect_back_to_a_url_already_asked_is_a_loop() -> None:
    seen = {"http://a.test/1", "http://a.test/2"}
    for target in ("http://a.test/1", "http://a.test/2#part"):
        assert redirect_problem(
            "http://a.test/3", target, parse_url(target), seen, 2, 10
        ) == Finding(
            Kind.REDIRECT_LOOP, f"redirect loop: http://a.test/3 redirects back to {target}"
        )
    new = "http://a.test/4"
    assert redirect_problem("http://a.test/3", new, parse_url(new), seen, 2, 10) is None


def test_up_to_the_limit_of_redirects_are_followed() -> None:
    new = "http://a.test/n"
    assert redirect_problem("http://a.test/", new, parse_url(new), set(), 3, 3) is None
    assert redirect_problem("http://a.test/", new, parse_url(new), set(), 4, 3) == Finding(
        Kind.TOO_MANY_REDIRECTS, "more than 3 redirects"
    )


def test_an_unrequestable_url_blames_the_card_only_when_it_is_the_cards_own() -> None:
    invalid = Failure(Kind.INVALID_URL, "invalid URL: x", transient=False)
    hops = [
        Hop("http://a.test/", 302, "http://b.test/"),
        Hop("http://b.test/", 302, "ftp:" + "y" * 200),
    ]
    assert _blame(invalid, []) == Finding(Kind.INVALID_URL, "invalid URL: x")
    assert _blame(invalid, hops) == Finding(
        Kind.CLIENT_ERROR, f"redirects to ftp:{'y' * 115}…: invalid URL: x"
    )
    timeout = Failure(Kind.TIMEOUT, "slow", transient=True)
    assert _blame(timeout, hops) == Finding(Kind.TIMEOUT, "slow")


# -- retries ------------------------------------------------------------------------------------


def fixed_jitter(monkeypatch: pytest.MonkeyPatch, asked: list[tuple[float, float]]) -> None:
    """random.uniform returns its upper bound and records what it was asked for."""

    def uniform(a: float, b: float) -> float:
        asked.append((a, b))
        return b

    monkeypatch.setattr(random, "uniform", uniform)


def test_backoff_doubles_per_attempt_with_up_to_one_base_of_jitter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[float, float]] = []
    fixed_jitter(monkeypatch, asked)
    assert [backoff_seconds(n, base=0.5, cap=30) for n in (1, 2, 3)] == [1.0, 1.5, 2.5]
    assert asked == [(0, 0.5)] * 3
    assert backoff_seconds(10, base=0.5, cap=30) == 30


def test_only_what_may_heal_is_retried() -> None:
    for code in (429, 502, 503, 504):
        assert _should_retry(answer(code=code)), code
    for code in (200, 404, 500, 501):
        assert not _should_retry(answer(code=code)), code
    assert _should_retry(Failure(Kind.TIMEOUT, "t", transient=True))
    assert not _should_retry(Failure(Kind.DNS_ERROR, "d", transient=False))


def test_a_retry_is_logged_with_its_reason() -> None:
    assert _reason_of(answer(code=503, reason="Service Unavailable")) == (
        "HTTP 503 Service Unavailable"
    )
    assert _reason_of(Failure(Kind.TIMEOUT, "slow", True)) == "timeout: slow"


def done(result: Result | BaseException | None, attempt: int = 1) -> SimpleNamespace:
    """A tenacity retry state after `attempt` attempts ending in `result`."""
    outcome: Future | None = None
    if result is not None:
        outcome = Future(attempt)
        if isinstance(result, BaseException):
            outcome.set_exception(result)
        else:
            outcome.set_result(result)
    return SimpleNamespace(outcome=outcome, attempt_number=attempt)


def waiting(**overrides: Any) -> Callable[[SimpleNamespace], float]:
    """The retry wait under fast_fetch_config(**overrides), for a stand-in retry state."""
    config = fast_fetch_config(**overrides)
    return lambda state: _wait(state, config)  # type: ignore[arg-type]


def test_a_retry_waits_for_the_servers_retry_after_with_a_little_jitter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[float, float]] = []
    fixed_jitter(monkeypatch, asked)
    wait = waiting(backoff_base=0.5, backoff_max=30)
    assert wait(done(answer(code=429, retry_after=10.0))) == pytest.approx(12.0)
    assert asked == [(1.0, 1.2)]
    assert wait(done(answer(code=429, retry_after=0.0))) == 0.0


def test_a_retry_after_a_timeout_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed_jitter(monkeypatch, [])
    wait = waiting(backoff_base=0.5, backoff_max=30)
    assert wait(done(Failure(Kind.TIMEOUT, "t", True), 3)) == 0.0


def test_other_retries_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed_jitter(monkeypatch, [])
    wait = waiting(backoff_base=0.5, backoff_max=2.2)
    cases: list[Result | BaseException | None] = [
        answer(code=503),  # no Retry-After
        Failure(Kind.CONNECTION_ERROR, "reset", True),
        RuntimeError("raised"),
        None,
    ]
    for result in cases:
        assert wait(done(result, 2)) == 1.5, result
        assert wait(done(result, 3)) == 2.2, result


def test_out_of_attempts_the_last_result_stands() -> None:
    last = answer(code=503)
    assert _last_result(done(last, 3)) is last  # type: ignore[arg-type]


Script = Mapping[str, list[Result]]


class ScriptedAttempts:
    """Stands in for `Fetcher._attempt`: each URL's results in turn, every call recorded."""

    def __init__(self, script: Script) -> None:
        self.script = {url: list(results) for url, results in script.items()}
        self.calls: list[tuple[str, URL, HostKey, LinkKind, dict[str, str]]] = []

    async def __call__(
        self,
        url: str,
        parsed: URL,
        key: HostKey,
        link_kind: LinkKind,
        headers: Mapping[str, str],
        *,
        own_headers: bool = True,
    ) -> Result:
        self.calls.append((url, parsed, key, link_kind, dict(headers)))
        return self.script[url].pop(0)


def scripted(
    monkeypatch: pytest.MonkeyPatch, script: Script, **overrides: Any
) -> tuple[Fetcher, ScriptedAttempts]:
    f = fetcher(**overrides)
    attempts = ScriptedAttempts(script)
    monkeypatch.setattr(f, "_attempt", attempts)
    monkeypatch.setattr(crawler.web.retries, "backoff_seconds", lambda *a, **k: 0.0)  # no waiting
    return f, attempts


class OneHop:
    """Stands in for the redirect walk (`follow`): the outcome's URL requested as one hop, and
    what that hop brought back, (result, tries), kept."""

    def __init__(self) -> None:
        self.results: list[tuple[Result, int]] = []

    async def __call__(self, outcome: UrlOutcome, hop: HopFn, max_redirects: int) -> None:
        parsed = parse_url(outcome.url)
        assert isinstance(parsed, URL)
        self.results.append(await hop(outcome.url, parsed))


async def hop(
    monkeypatch: pytest.MonkeyPatch,
    f: Fetcher,
    url: str,
    link_kind: LinkKind,
    headers: Mapping[str, str],
) -> tuple[Result, int]:
    """`f.check(url, link_kind, headers)` walked as one hop: its attempts, retried."""
    walk = OneHop()
    monkeypatch.setattr(crawler.web.fetch, "follow", walk)
    async with f:
        await f.check(url, link_kind, headers)
    [result] = walk.results
    return result


URL_A = "http://a.test/x"


async def test_a_first_answer_not_worth_retrying_is_the_hops_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for first in (answer(code=200), answer(code=404), Failure(Kind.DNS_ERROR, "d", False)):
        f, attempts = scripted(monkeypatch, {URL_A: [first]})
        assert await hop(monkeypatch, f, URL_A, PAGE, {"X": "1"}) == (first, 1)
        assert attempts.calls == [(URL_A, URL(URL_A), host_key(URL_A), PAGE, {"X": "1"})]


async def test_a_hop_is_tried_again_until_it_heals(monkeypatch: pytest.MonkeyPatch) -> None:
    healed = answer(code=200)
    script: Script = {URL_A: [answer(code=503), Failure(Kind.TIMEOUT, "t", True), healed]}
    f, attempts = scripted(monkeypatch, script, retries=5)
    assert await hop(monkeypatch, f, URL_A, IMAGE, {"X": "1"}) == (healed, 3)
    assert attempts.calls == [(URL_A, URL(URL_A), host_key(URL_A), IMAGE, {"X": "1"})] * 3


async def test_a_hop_is_tried_once_more_per_retry_and_the_last_answer_stands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = [answer(code=503, reason=str(n)) for n in range(5)]
    f, attempts = scripted(monkeypatch, {URL_A: list(busy)}, retries=2)
    assert await hop(monkeypatch, f, URL_A, PAGE, {}) == (busy[2], 3)
    assert len(attempts.calls) == 3


async def test_no_retries_configured_means_one_attempt_even_for_a_transient_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = answer(code=503)
    f, attempts = scripted(monkeypatch, {URL_A: [busy, answer()]}, retries=0)
    assert await hop(monkeypatch, f, URL_A, PAGE, {}) == (busy, 1)
    assert len(attempts.calls) == 1


async def test_each_retry_is_logged_with_its_attempt_reason_and_planned_wait(
    monkeypatch: pytest.MonkeyPatch, debug_logs: list[MutableMapping[str, Any]]
) -> None:
    script: Script = {
        URL_A: [
            answer(code=429, reason="Too Many Requests", retry_after=0.0101),
            Failure(Kind.TIMEOUT, "slow", True),
            answer(),
        ]
    }
    f, _ = scripted(monkeypatch, script, retries=2)
    fixed_jitter(monkeypatch, [])
    await hop(monkeypatch, f, URL_A, PAGE, {})
    retries = [e for e in debug_logs if e["event"] == "retrying"]
    assert [(e["url"], e["attempt"], e["reason"], e["wait_s"]) for e in retries] == [
        (URL_A, 1, "HTTP 429 Too Many Requests", 0.012),  # 0.01212, to the ms
        (URL_A, 2, "timeout: slow", 0.0),
    ]
    assert all(e["log_level"] == "debug" for e in retries)


# -- one attempt --------------------------------------------------------------------------------


class ScriptedRequest:
    """Stands in for `Fetcher._request`: answers (or raises) what it is given."""

    def __init__(self, result: Answer | BaseException | None) -> None:
        self.result = result
        self.calls: list[tuple[str, URL, LinkKind, dict[str, str], Permit]] = []

    async def __call__(
        self, url: str, parsed: URL, link_kind: LinkKind, headers: Mapping[str, str], permit: Permit
    ) -> Answer:
        self.calls.append((url, parsed, link_kind, dict(headers), permit))
        if self.result is None:
            await asyncio.Event().wait()  # never answers: only the deadline ends it
        if isinstance(self.result, BaseException):
            raise self.result
        assert self.result is not None
        return self.result


class PoolSpy:
    def __init__(self, pool: HostPool) -> None:
        self.calls: list[tuple[str, ...] | tuple[str, str, float]] = []
        real_retry_after, real_answered = pool.retry_after, pool.answered

        def retry_after(key: HostKey, seconds: float, url: str | None = None) -> None:
            self.calls.append(("retry_after", key, seconds))
            real_retry_after(key, seconds, url)

        def answered(key: HostKey) -> None:
            self.calls.append(("answered", key))
            real_answered(key)

        pool.retry_after = retry_after  # type: ignore[method-assign]
        pool.answered = answered  # type: ignore[method-assign]


def attempting(
    monkeypatch: pytest.MonkeyPatch, result: Answer | BaseException | None, **overrides: Any
) -> tuple[Fetcher, ScriptedRequest, PoolSpy]:
    f = fetcher(**overrides)
    request = ScriptedRequest(result)
    monkeypatch.setattr(f, "_request", request)
    return f, request, PoolSpy(f._pool)


async def attempt(f: Fetcher, url: str, link_kind: LinkKind = PAGE) -> Result:
    parsed = parse_url(url)
    assert isinstance(parsed, URL)
    return await f._attempt(url, parsed, host_key(url), link_kind, {"X": "1"})


async def test_an_attempt_hands_its_request_a_permit_and_reports_an_ordinary_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fine = answer()
    f, request, spy = attempting(monkeypatch, fine)
    assert await attempt(f, "http://127.0.0.2:9/x", IMAGE) is fine
    [(url, parsed, kind, sent, permit)] = request.calls
    assert (url, parsed, kind, sent) == (
        "http://127.0.0.2:9/x",
        URL("http://127.0.0.2:9/x"),
        IMAGE,
        {"X": "1"},
    )
    assert isinstance(permit, Permit)
    assert spy.calls == [("answered", "127.0.0.2")]


async def test_an_attempt_reports_a_retry_after_to_the_hosts_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limited = answer(code=429, retry_after=3.0)
    f, _, spy = attempting(monkeypatch, limited)
    assert await attempt(f, "http://127.0.0.2:9/x") is limited
    assert spy.calls == [("retry_after", "127.0.0.2", 3.0)]


async def test_a_private_literal_address_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    f, request, spy = attempting(monkeypatch, answer(), allow_private=False)
    assert await attempt(f, "http://127.0.0.2:9/x") == Failure(
        Kind.BLOCKED_ADDRESS,
        "127.0.0.2 is a loopback address; use --allow-private to allow it",
        transient=False,
    )
    assert request.calls == [] and spy.calls == []


async def test_an_attempt_that_raises_becomes_its_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    f, _, spy = attempting(monkeypatch, TimeoutError(), timeout=0.25)
    assert await attempt(f, "http://127.0.0.2:9/x") == Failure(
        Kind.TIMEOUT, "no complete answer within 0.25 s", transient=True
    )
    assert spy.calls == []


async def test_an_attempt_ends_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    f, _, _ = attempting(monkeypatch, None, timeout=0.05)
    async with asyncio.timeout(30):  # a hang guard
        failure = await attempt(f, "http://127.0.0.2:9/x")
    assert failure == Failure(Kind.TIMEOUT, "no complete answer within 0.05 s", transient=True)


async def test_only_linkcheck_failing_logs_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    f, _, _ = attempting(monkeypatch, KeyError("bug"))
    with structlog.testing.capture_logs() as logs:
        failure = await attempt(f, "http://127.0.0.2:9/x")
    assert isinstance(failure, Failure) and failure.kind is Kind.CHECK_FAILED
    assert [(e["event"], e["url"], e["log_level"], e.get("exc_info")) for e in logs] == [
        ("check_failed", "http://127.0.0.2:9/x", "error", True)
    ]
    f, _, _ = attempting(monkeypatch, ConnectionResetError())
    with structlog.testing.capture_logs() as logs:
        await attempt(f, "http://127.0.0.2:9/x")
    assert logs == []


# -- following a chain --------------------------------------------------------------------------


class ScriptedHops:
    """Stands in for the fetcher's hop (its attempts, retried): each URL's (result, tries),
    every call recorded."""

    def __init__(self, script: Mapping[str, tuple[Result, int]]) -> None:
        self.script = script
        self.calls: list[tuple[str, URL]] = []

    async def __call__(self, url: str, parsed: URL) -> tuple[Result, int]:
        self.calls.append((url, parsed))
        return self.script[url]


async def follow(
    url: str,
    script: Mapping[str, tuple[Result, int]],
    link_kind: LinkKind = PAGE,
    **overrides: Any,
) -> tuple[UrlOutcome, ScriptedHops]:
    hops = ScriptedHops(script)
    outcome = UrlOutcome(url=url, link_kind=link_kind)
    await follow_redirects(outcome, hops, fast_fetch_config(**overrides).max_redirects)
    return outcome, hops


def moved(url: str, to: str, code: int = 302) -> Answer:
    return answer(url, code, reason="Moved", locations=(to,))


async def test_a_chain_is_followed_hop_by_hop_to_its_final_answer() -> None:
    script = {
        "http://a.test/1": (moved("http://a.test/1", "/2", 301), 1),
        "http://a.test/2": (moved("http://a.test/2", "http://b.test/3"), 3),
        "http://b.test/3": (answer("http://b.test/3", 200, body=b"<title>T</title>"), 2),
    }
    outcome, hops = await follow("http://a.test/1", script, IMAGE)
    assert outcome.redirects == [
        Hop("http://a.test/1", 301, "http://a.test/2"),
        Hop("http://a.test/2", 302, "http://b.test/3"),
    ]
    assert (outcome.final_url, outcome.http_status, outcome.attempts) == (
        "http://b.test/3", 200, 3,
    )  # fmt: skip
    assert hops.calls == [(u, URL(u)) for u in script]


async def test_the_cards_own_url_that_cannot_be_requested_is_invalid() -> None:
    outcome, hops = await follow("ftp://files.test/x", {})
    assert outcome.findings == [Finding(Kind.INVALID_URL, "ftp://files.test/x: not an http(s) URL")]
    assert hops.calls == [] and outcome.final_url is None


async def test_a_hop_that_fails_leaves_no_status_and_blames_the_redirect() -> None:
    script: Mapping[str, tuple[Result, int]] = {
        "http://a.test/1": (moved("http://a.test/1", "http://b.test/2"), 1),
        "http://b.test/2": (Failure(Kind.INVALID_URL, "invalid URL: x", False), 1),
    }
    outcome, _ = await follow("http://a.test/1", script)
    assert outcome.http_status is None and outcome.final_url == "http://b.test/2"
    assert outcome.findings == [
        Finding(Kind.CLIENT_ERROR, "redirects to http://b.test/2: invalid URL: x")
    ]
    assert outcome.attempts == 1


async def test_a_redirect_with_no_single_target_ends_the_chain_with_its_status() -> None:
    two = answer("http://a.test/1", 302, reason="Found", locations=("/x", "/y"))
    outcome, hops = await follow("http://a.test/1", {"http://a.test/1": (two, 1)})
    assert outcome.findings == [
        Finding(Kind.SERVER_ERROR, "HTTP 302 Found with 2 different Location headers: /x, /y")
    ]
    assert outcome.http_status == 302 and outcome.redirects == [] and len(hops.calls) == 1


async def test_a_loop_is_caught_on_any_url_seen_before_without_its_fragment() -> None:
    script = {
        "http://a.test/1#card": (moved("http://a.test/1#card", "/2#top"), 1),
        "http://a.test/2#top": (moved("http://a.test/2", "/3"), 1),
        "http://a.test/3": (moved("http://a.test/3", "/2"), 1),
    }
    outcome, hops = await follow("http://a.test/1#card", script, max_redirects=20)
    assert outcome.findings == [
        Finding(
            Kind.REDIRECT_LOOP, "redirect loop: http://a.test/3 redirects back to http://a.test/2"
        )
    ]
    assert len(hops.calls) == 3 and outcome.http_status == 302


async def test_the_chain_stops_after_the_configured_number_of_redirects() -> None:
    script = {f"http://a.test/{n}": (moved(f"http://a.test/{n}", f"/{n + 1}"), 1) for n in range(9)}
    outcome, hops = await follow("http://a.test/0", script, max_redirects=2)
    assert outcome.findings == [Finding(Kind.TOO_MANY_REDIRECTS, "more than 2 redirects")]
    assert len(hops.calls) == 3 and len(outcome.redirects) == 3


# -- the final answer ---------------------------------------------------------------------------


PAGE_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("ETag", '"v1"'),
    ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
)


async def judged(
    final: Answer, link_kind: LinkKind = PAGE, redirects: tuple[int, ...] = (), **overrides: Any
) -> UrlOutcome:
    """`final` at the end of a walk from http://a.test/0 through redirects with the statuses
    `redirects` (none: `final` is the card's own URL's answer), recorded on the outcome as the
    walk records it, then judged."""
    urls = [f"http://a.test/{n}" for n in range(len(redirects))] + [final.url]
    script: dict[str, tuple[Result, int]] = {
        urls[n]: (moved(urls[n], urls[n + 1], code), 1) for n, code in enumerate(redirects)
    }
    script[final.url] = (final, 1)
    config = fast_fetch_config(**overrides)
    outcome = UrlOutcome(url=urls[0], link_kind=link_kind)
    await follow_redirects(outcome, ScriptedHops(script), config.max_redirects)
    assert [hop.status for hop in outcome.redirects] == list(redirects)
    await AnswerChecker(Fetcher(config, pool()), config).judge(outcome)
    return outcome


async def test_a_healthy_page_is_recorded_with_its_title_body_and_headers() -> None:
    body = b"<html><title>Hello</title></html>"
    outcome = await judged(answer(body=body, head=PAGE_HEADERS))
    assert outcome.findings == []
    assert (outcome.content_type, outcome.etag, outcome.last_modified) == (
        "text/html; charset=utf-8", '"v1"', "Wed, 21 Oct 2015 07:28:00 GMT",
    )  # fmt: skip
    assert (outcome.bytes_read, outcome.title, outcome.body) == (len(body), "Hello", body)
    assert outcome.response_headers == dict(PAGE_HEADERS)


async def test_a_failing_status_is_recorded_and_nothing_more_is_looked_at() -> None:
    outcome = await judged(
        answer(code=404, reason="Not Found", body=b"<title>x</title>", head=PAGE_HEADERS),
        IMAGE,
        (301,),
    )
    assert outcome.findings == [Finding(Kind.NOT_FOUND, "HTTP 404 Not Found")]
    assert (outcome.etag, outcome.bytes_read) == ('"v1"', 16)  # headers still kept
    assert (outcome.title, outcome.body, outcome.image) == (None, None, None)


@pytest.mark.parametrize("code", [301, 308])
async def test_a_permanent_redirect_anywhere_in_the_chain_is_a_move(code: int) -> None:
    outcome = await judged(answer("http://a.test/new"), redirects=(302, code, 307))
    assert outcome.findings == [
        Finding(Kind.MOVED_PERMANENTLY, "moved permanently to http://a.test/new")
    ]


async def test_temporary_redirects_are_no_move() -> None:
    outcome = await judged(answer("http://a.test/new"), redirects=(302, 303, 307))
    assert outcome.findings == []


async def test_not_modified_has_nothing_new_to_look_at() -> None:
    outcome = await judged(answer(code=304, body=b"<title>x</title>"), redirects=(301,))
    assert [f.kind for f in outcome.findings] == [Kind.MOVED_PERMANENTLY]
    assert (outcome.title, outcome.body, outcome.response_headers) == (None, None, None)


async def test_an_image_answer_is_inspected_not_read_as_a_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results: list[ImageInfo | Finding | None] = [
        ImageInfo(3, 2, "PNG"), Finding(Kind.NOT_AN_IMAGE, "no"),
    ]  # fmt: skip
    seen: list[tuple[bytes, str | None]] = []

    async def inspect(self: ImageCheck, body: bytes, content_type: str | None) -> Any:
        seen.append((body, content_type))
        return results.pop(0)

    monkeypatch.setattr(ImageCheck, "inspect", inspect)
    png = answer(body=b"png", head=(("Content-Type", "image/png"),))
    sound = await judged(png, IMAGE)
    assert (sound.image, sound.findings, sound.title, sound.body) == (
        ImageInfo(3, 2, "PNG"), [], None, None,
    )  # fmt: skip
    broken = await judged(png, IMAGE)
    assert (broken.image, broken.findings) == (None, [Finding(Kind.NOT_AN_IMAGE, "no")])
    assert seen == [(b"png", "image/png")] * 2


def image_check(**overrides: Any) -> ImageCheck:
    return ImageCheck(fast_fetch_config(**overrides))


class InspectSpy:
    """Stands in for decode_cost and inspect_image; records what each was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, images: ImageCheck) -> None:
        self.costs: list[tuple[bytes, dict[str, Any]]] = []
        self.inspected: list[tuple[bytes, dict[str, Any], int]] = []

        def decode_cost(body: bytes, **kwargs: Any) -> int:
            self.costs.append((body, kwargs))
            return 1234

        def inspect_image(body: bytes, **kwargs: Any) -> ImageInfo:
            self.inspected.append((body, kwargs, images.budget.in_use))
            return ImageInfo(1, 1, "PNG")

        monkeypatch.setattr(crawler.judge.http, "decode_cost", decode_cost)
        monkeypatch.setattr(crawler.judge.http, "inspect_image", inspect_image)


async def test_a_complete_image_is_decoded_holding_its_cost_in_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = image_check(max_image_bytes=10, max_image_pixels=99, image_decode_budget_bytes=5000)
    spy = InspectSpy(monkeypatch, images)
    assert await images.inspect(b"0123456789", "image/png") == ImageInfo(1, 1, "PNG")
    budget = {"max_pixels": 99, "max_decode_bytes": 5000}
    assert spy.costs == [(b"0123456789", {"content_type": "image/png", **budget})]
    assert spy.inspected == [
        (
            b"0123456789",
            {"content_type": "image/png", "complete": True, "max_bytes": 10, **budget},
            1234,
        )
    ]
    assert images.budget.in_use == 0


async def test_an_image_past_its_byte_cap_is_cut_and_never_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = image_check(max_image_bytes=10, max_image_pixels=99, image_decode_budget_bytes=5000)
    spy = InspectSpy(monkeypatch, images)
    await images.inspect(b"0123456789X", None)
    assert spy.costs == []
    [(body, kwargs, held)] = spy.inspected
    assert (body, kwargs["complete"], kwargs["content_type"], held) == (
        b"0123456789",
        False,
        None,
        0,
    )


def test_an_image_is_read_one_byte_past_its_cap_and_a_page_up_to_its_own() -> None:
    f = fetcher(max_image_bytes=10, max_page_bytes=20)
    assert (f._body_cap(IMAGE), f._body_cap(PAGE)) == (11, 20)


class Stream:
    """A response body handed over in pieces; records each read's size."""

    def __init__(self, body: bytes, piece: int) -> None:
        self.body, self.piece = body, piece
        self.asked: list[int] = []

    async def read(self, n: int) -> bytes:
        self.asked.append(n)
        chunk, self.body = self.body[: min(n, self.piece)], self.body[min(n, self.piece) :]
        return chunk


async def test_a_body_is_read_in_chunks_up_to_its_cap() -> None:
    stream = Stream(b"x" * 200_000, piece=100_000)
    body = await read_capped(SimpleNamespace(content=stream), 150_000)  # type: ignore[arg-type]
    assert body == b"x" * 150_000
    assert stream.asked == [65536, 65536, 150_000 - 2 * 65536]


async def test_a_body_shorter_than_the_cap_is_read_to_its_end() -> None:
    stream = Stream(b"abc", piece=2)
    assert await read_capped(SimpleNamespace(content=stream), 10) == b"abc"  # type: ignore[arg-type]
    assert stream.asked == [10, 8, 7]
    exact = Stream(b"abcd", piece=4)
    assert await read_capped(SimpleNamespace(content=exact), 4) == b"abcd"  # type: ignore[arg-type]
    assert exact.asked == [4]


# -- the session --------------------------------------------------------------------------------


def test_decodes_run_on_at_most_four_slots_and_the_configured_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for cpus, slots in ((None, 1), (2, 2), (16, 4)):
        monkeypatch.setattr(os, "cpu_count", lambda c=cpus: c)
        budget = image_check(image_decode_budget_bytes=777).budget
        assert (budget.capacity, budget._free_slots) == (777, slots)


async def test_the_session_is_set_up_as_the_politeness_and_fetch_config_say() -> None:
    politeness = HostPool(PolitenessConfig(max_in_flight=7, concurrency_per_host=3))
    config = fast_fetch_config(contact_url="https://ops.example/bot", connect_timeout=4.5)
    async with Fetcher(config, politeness) as f:
        session = f.session
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert (connector.limit, connector.limit_per_host) == (7, 3)
        assert connector.use_dns_cache and connector._cached_hosts._ttl == 300
        assert connector._resolver is f._resolver
        assert session.timeout == aiohttp.ClientTimeout(total=None, sock_connect=4.5)
        assert session.headers["User-Agent"] == "linkcheck/0.1.0 (+https://ops.example/bot)"
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        assert session.trust_env is False
        assert session._retry_connection is False  # no silent re-send around the throttle
        # the send time reaches the permit through the request class, not a per-request trace
        assert session.trace_configs == [] and session._request_class is StampedRequest
    assert session.closed


async def test_the_guarded_resolver_obeys_allow_private() -> None:
    pins = {"inside.test": "127.0.0.3"}
    for allow in (True, False):
        async with Fetcher(fast_fetch_config(allow_private=allow, resolve=pins), pool()) as f:
            resolver = f._resolver
            assert resolver is not None
            if allow:
                [found] = await resolver.resolve("inside.test", 80)
                assert found["host"] == "127.0.0.3"
            else:
                with pytest.raises(BlockedAddressError):
                    await resolver.resolve("inside.test", 80)


async def test_a_fetcher_outside_its_block_has_no_session() -> None:
    f = fetcher()
    with pytest.raises(RuntimeError, match=r"^Fetcher used outside `async with`$"):
        f.session  # noqa: B018
    with pytest.raises(RuntimeError, match=r"^use Fetcher as 'async with Fetcher\(\.\.\.\) as "):
        await f.check("http://a.test/", PAGE)
    async with f:
        assert f.session is not None
    with pytest.raises(RuntimeError):
        f.session  # noqa: B018
    assert f._resolver is None


async def test_a_bug_in_a_check_is_its_finding_and_a_logged_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(outcome: UrlOutcome, hop: HopFn, max_redirects: int) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(crawler.web.fetch, "follow", broken)
    async with open_fetcher() as f:
        with structlog.testing.capture_logs() as logs:
            outcome = await f.check("http://a.test/\udce9", PAGE)
    assert outcome.findings == [
        Finding(Kind.CHECK_FAILED, "linkcheck could not check this URL: KeyError: 'bug'")
    ]
    assert [(e["event"], e["url"], e["log_level"]) for e in logs] == [
        ("check_failed", "http://a.test/\\xe9", "error")
    ]


async def test_a_check_reports_its_time_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 100.01234, 200.0, 200.0])
    monkeypatch.setattr(crawler.web.fetch, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    f, attempts = scripted(monkeypatch, {URL_A: [answer(), answer()]})
    monkeypatch.setattr(crawler.web.fetch, "follow", OneHop())
    async with f:
        outcome = await f.check(URL_A, PAGE)
        await f.check(URL_A, PAGE, {"If-None-Match": "x"})
    assert outcome.elapsed_ms == 12.3
    assert [headers for *_, headers in attempts.calls] == [{}, {"If-None-Match": "x"}]


# -- on the wire (loopback servers) -------------------------------------------------------------


async def test_a_body_is_read_only_for_a_2xx_or_a_bot_walls_status() -> None:
    body = b"<title>x</title>"
    codes = (200, 299, 300, 403, 404, 500)  # 403: its prefix, for crawler/judge/botwall.py
    routes = {f"/{code}": status(code, body=body) for code in codes}
    async with serve(routes) as server, open_fetcher(retries=0) as f:
        read = {c: (await f.check(server.url(f"/{c}"), PAGE)).bytes_read for c in codes}
    assert read == {200: len(body), 299: len(body), 300: 0, 403: len(body), 404: 0, 500: 0}


async def test_a_reason_the_server_gives_is_kept() -> None:
    async def nope(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, reason="Nope")

    async with serve({"/": nope}) as server, open_fetcher() as f:
        outcome = await f.check(server.url("/"), PAGE)
    assert outcome.findings == [Finding(Kind.NOT_FOUND, "HTTP 404 Nope")]


async def test_an_answer_without_a_reason_gets_the_standard_phrase() -> None:
    async def bare(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, reason="")  # "HTTP/1.1 404 " on the wire

    async with serve({"/": bare}) as server, open_fetcher() as f:
        outcome = await f.check(server.url("/"), PAGE)
    assert outcome.findings == [Finding(Kind.NOT_FOUND, "HTTP 404 Not Found")]


async def test_a_retry_after_from_the_wire_is_capped_before_the_pool_hears_it() -> None:
    hosts = pool()
    spy = PoolSpy(hosts)
    routes = {
        "/429": status(429, headers={"Retry-After": "100"}),
        "/500": status(500, headers={"Retry-After": "100"}),
    }
    async with serve(routes) as server, open_fetcher(pool=hosts, retries=0, retry_after_cap=5) as f:
        await f.check(server.url("/429"), PAGE)
        await f.check(server.url("/500"), PAGE)  # a Retry-After only counts on 429 and 503
    key = host_key(server.url("/"))
    assert spy.calls == [("retry_after", key, 5.0), ("answered", key)]


async def test_a_connection_is_kept_only_after_a_whole_body() -> None:
    ports: list[int] = []

    async def page(request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        ports.append(peer[1] if peer else -1)
        size = 5_000_000 if request.path in ("/1", "/2") else 3000  # far more than one read
        return web.Response(body=b"x" * size, content_type="text/html")

    async with serve({"/{n}": page}) as server, open_fetcher(max_page_bytes=1000) as small:
        await small.check(server.url("/1"), PAGE)  # cut at 1000 bytes: the rest is never read
        await small.check(server.url("/2"), PAGE)
    async with serve({"/{n}": page}) as server, open_fetcher() as whole:
        await whole.check(server.url("/3"), PAGE)
        await whole.check(server.url("/4"), PAGE)
    assert ports[0] != ports[1]  # a cut body closed its connection
    assert ports[2] == ports[3]  # a whole one went back to the pool and was used again


async def test_a_pages_title_is_read_in_the_charset_its_content_type_names() -> None:
    body = "<title>\u041f\u0440\u0438\u0432\u0435\u0442</title>".encode("koi8-r")
    outcome = await judged(answer(body=body, head=(("Content-Type", "text/html; charset=koi8-r"),)))
    assert outcome.title == "\u041f\u0440\u0438\u0432\u0435\u0442"


async def test_an_image_is_read_up_to_the_image_cap_and_a_page_up_to_the_page_cap() -> None:
    body = b"\x89PNG" + b"x" * 96
    routes = {"/img": ok(body, content_type="image/png")}
    async with serve(routes) as server, open_fetcher(max_page_bytes=10, max_image_bytes=60) as f:
        image = await f.check(server.url("/img"), IMAGE)
        page = await f.check(server.url("/img"), PAGE)
    assert (image.bytes_read, page.bytes_read) == (61, 10)


async def test_each_request_tells_its_permit_when_its_headers_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[Permit] = []
    monkeypatch.setattr(Permit, "mark_sent", lambda self: sent.append(self))
    routes = {"/a": ok(), "/b": status(404)}
    async with serve(routes) as server, open_fetcher() as f:
        await f.check(server.url("/a"), PAGE)
        await f.check(server.url("/b"), PAGE)
    assert len(sent) == 2 and sent[0] is not sent[1]


async def test_only_a_request_sent_under_a_permit_stamps_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The permit is stamped when the headers leave, and only within `Sending`: a later request
    of the same task (another client of the session) leaves it alone."""
    sent: list[Permit] = []
    monkeypatch.setattr(Permit, "mark_sent", lambda self: sent.append(self))
    permit = Permit([0.0])
    async with serve({"/a": ok()}) as server, Fetcher(fast_fetch_config(), pool()) as f:
        with Sending(permit):
            async with f.session.get(server.url("/a")) as resp:
                assert resp.status == 200
        async with f.session.get(server.url("/a")) as resp:
            assert resp.status == 200
    assert sent == [permit]


async def test_a_permit_is_stamped_only_after_the_request_is_on_the_wire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counting a request from before its headers were written would let a server's one-second
    window see more than the rate when the event loop is slow to write them."""
    events: list[str] = []
    writer = aiohttp.http_writer.StreamWriter
    for name in ("_write", "_writelines"):  # to the transport: one buffer, or several at once
        original = getattr(writer, name)

        def recorded(self: Any, chunks: Any, original: Any = original) -> None:
            if isinstance(self.protocol, ResponseHandler):  # the client's, not the server's
                events.append("write")
            original(self, chunks)

        monkeypatch.setattr(writer, name, recorded)
    monkeypatch.setattr(Permit, "mark_sent", lambda self: events.append("stamp"))
    async with serve({"/a": ok()}) as server, Fetcher(fast_fetch_config(), pool()) as f:
        with Sending(Permit([0.0])):
            async with f.session.get(server.url("/a")) as resp:
                assert resp.status == 200
        assert events[-1] == "stamp" and "write" in events[:-1]  # no body: written in send
        events.clear()
        with Sending(Permit([0.0])):
            async with f.session.post(server.url("/a"), data=b"x" * 100_000) as resp:
                await resp.read()
    # with a body the headers go out with it, from the body's writer, which stamps last (a
    # stamp only ever moves later: the one `send` made before it is overtaken)
    assert events[-1] == "stamp" and "write" in events[:-1]


async def test_one_retry_configured_means_one_more_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    healed = answer()
    f, attempts = scripted(monkeypatch, {URL_A: [answer(code=502), healed]}, retries=1)
    assert await hop(monkeypatch, f, URL_A, PAGE, {}) == (healed, 2)
    assert len(attempts.calls) == 2


async def test_a_hop_with_nothing_to_retry_builds_no_retry_controller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path: tenacity is set up only for a first result worth another attempt."""

    def no_controller(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a retry controller was built")

    monkeypatch.setattr(crawler.web.retries, "AsyncRetrying", no_controller)
    for first, retries in ((answer(), 2), (answer(code=404), 2), (answer(code=503), 0)):
        f, _ = scripted(monkeypatch, {URL_A: [first]}, retries=retries)
        assert await hop(monkeypatch, f, URL_A, PAGE, {}) == (first, 1)


async def test_a_redirect_back_to_the_cards_own_url_is_a_loop() -> None:
    script = {
        "http://a.test/1#card": (moved("http://a.test/1#card", "/2"), 1),
        "http://a.test/2": (moved("http://a.test/2", "/1"), 1),
    }
    outcome, hops = await follow("http://a.test/1#card", script, max_redirects=20)
    assert outcome.findings == [
        Finding(
            Kind.REDIRECT_LOOP, "redirect loop: http://a.test/2 redirects back to http://a.test/1"
        )
    ]
    assert len(hops.calls) == 2


async def test_a_redirect_to_what_cannot_be_requested_is_not_followed() -> None:
    script = {"http://a.test/1": (moved("http://a.test/1", "ftp://files.test/x"), 1)}
    outcome, hops = await follow("http://a.test/1", script)
    assert outcome.findings == [
        Finding(Kind.CLIENT_ERROR, "redirects to ftp://files.test/x: not an http(s) URL")
    ]
    assert len(hops.calls) == 1 and outcome.redirects == [
        Hop("http://a.test/1", 302, "ftp://files.test/x")
    ]


async def test_an_attempt_takes_its_permit_from_its_own_hosts_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    f, _, _ = attempting(monkeypatch, answer())
    await attempt(f, "http://127.0.0.2:9/x")
    await attempt(f, "http://127.0.0.3:9/y")
    assert f._pool.requests_by_host() == {"127.0.0.2": 1, "127.0.0.3": 1}


async def test_leaving_the_block_closes_the_session_and_the_resolver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed: list[object] = []
    real_close = GuardedResolver.close

    async def close(self: GuardedResolver) -> None:
        closed.append(self)
        await real_close(self)

    monkeypatch.setattr(GuardedResolver, "close", close)
    async with Fetcher(fast_fetch_config(), pool()) as f:
        session, resolver = f.session, f._resolver
    assert session.closed and closed == [resolver]


async def test_a_redirect_on_the_wire_is_followed_to_its_location() -> None:
    routes = {"/old": status(301, headers={"Location": "/new"}), "/new": ok()}
    async with serve(routes) as server, open_fetcher() as f:
        outcome = await f.check(server.url("/old"), PAGE)
    assert outcome.redirects == [Hop(server.url("/old"), 301, server.url("/new"))]
    assert (outcome.final_url, outcome.http_status) == (server.url("/new"), 200)


async def test_a_checks_extra_headers_go_out_with_its_request() -> None:
    async with (
        serve({"/": ok()}) as server,
        open_fetcher(contact_url="mailto:ops@example.org") as f,
    ):
        await f.check(server.url("/"), PAGE, {"If-None-Match": '"v1"'})
    [seen] = server.requests
    assert (seen.headers["If-None-Match"], seen.headers["User-Agent"]) == (
        '"v1"',
        "linkcheck/0.1.0 (+mailto:ops@example.org)",
    )


async def test_each_redirect_hop_waits_for_its_own_hosts_slot() -> None:
    hosts = pool()
    async with serve({"/new": ok()}, host="127.0.0.3") as there:
        routes = {"/old": status(302, headers={"Location": there.url("/new")})}
        async with serve(routes, host="127.0.0.2") as here, open_fetcher(pool=hosts) as f:
            outcome = await f.check(here.url("/old"), PAGE)
    assert (outcome.final_url, outcome.http_status) == (there.url("/new"), 200)
    assert (here.paths(), there.paths()) == (["/old"], ["/new"])
    assert hosts.requests_by_host() == {"127.0.0.2": 1, "127.0.0.3": 1}
