"""Fetch one URL the polite way and say what is wrong with it, as a value.

`Fetcher.check` follows redirects by hand (so every hop is guarded, throttled and recorded),
retries only what may heal by itself, reads at most a capped body within one deadline, and maps
every failure to a Kind at one boundary (`failure_for`). It never raises, except CancelledError.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from types import SimpleNamespace, TracebackType
from typing import Self
from urllib.parse import urldefrag, urljoin, urlsplit

import aiohttp
import structlog
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt
from yarl import URL

from crawler.config import FetchConfig
from crawler.judge.html import page_title
from crawler.judge.images.check import decode_cost, inspect_image
from crawler.judge.images.pixels import DecodeBudget
from crawler.model import Finding, Hop, ImageInfo, Kind, LinkKind, UrlOutcome
from crawler.text import preview, safe_text
from crawler.web.addresses import BlockedAddressError, GuardedResolver, literal_address_problem
from crawler.web.politeness import HostKey, HostPool, Permit, host_key

log = structlog.get_logger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_SCHEMES = frozenset({"http", "https"})
_CHUNK = 64 * 1024
_DELTA_SECONDS = re.compile(r"^\d+(\.\d+)?$")  # RFC 9110 says whole seconds; accept "1.5" too

# Failures that may heal by themselves: worth another attempt.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientConnectorError,
    aiohttp.ClientOSError,
    aiohttp.ClientPayloadError,
    ConnectionError,  # ConnectionResetError, BrokenPipeError, ...
)


@dataclass(frozen=True, slots=True)
class _Answer:
    """One HTTP response, its body read only as far as the check needs."""

    url: str
    status: int
    reason: str  # text safe to store (safe_text), as every header value below
    headers: CIMultiDictProxy[str]
    body: bytes = b""
    retry_after: float | None = None  # seconds, already capped
    locations: tuple[str, ...] = ()  # every Location, undecodable bytes percent-encoded


@dataclass(frozen=True, slots=True)
class _Failure:
    """A request that brought back no response."""

    kind: Kind
    detail: str
    transient: bool


_Result = _Answer | _Failure


# ---------------------------------------------------------------------------------------------
# The error boundary: every exception a request can raise becomes a _Failure here, and only here.


def _in_chain(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc` or one of its causes of type `kind` (aiohttp wraps OS and TLS errors, `from`)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def failure_for(exc: Exception, *, timeout: float) -> _Failure:
    """Map an exception from one request (connect, send, read) to a finding kind."""
    blocked = _in_chain(exc, BlockedAddressError)
    if blocked is not None:
        return _Failure(Kind.BLOCKED_ADDRESS, str(blocked), transient=False)
    if isinstance(exc, aiohttp.InvalidURL):
        return _Failure(Kind.INVALID_URL, f"invalid URL: {exc}", transient=False)
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return _Failure(Kind.DNS_ERROR, f"DNS lookup failed: {_os_message(exc)}", transient=False)
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch) or _in_chain(
        exc, ssl.SSLError
    ):
        return _Failure(Kind.TLS_ERROR, f"TLS error: {exc}", transient=False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return _Failure(Kind.TIMEOUT, f"no connection within the connect timeout: {exc}", True)
    if isinstance(exc, TimeoutError):  # asyncio.timeout's deadline and aiohttp's read timeouts
        return _Failure(Kind.TIMEOUT, f"no complete answer within {timeout:g} s", transient=True)
    malformed = _malformed(exc)
    if malformed is not None:
        return malformed
    if isinstance(exc, _CONNECTION_ERRORS):
        return _Failure(Kind.CONNECTION_ERROR, preview(_describe(exc), DETAIL_CHARS), True)
    if isinstance(exc, aiohttp.ClientError | OSError | EOFError):
        # Unknown network trouble: reported, but not retried (more likely a malformed answer
        # than a blip).
        return _Failure(Kind.CONNECTION_ERROR, preview(_describe(exc), DETAIL_CHARS), False)
    # Not the network's doing: linkcheck failed on this answer. The caller logs the traceback.
    return _Failure(Kind.CHECK_FAILED, internal_error(exc), transient=False)


DETAIL_CHARS = 200  # a finding's detail about an exception: enough to say what, never a dump


def internal_error(exc: BaseException) -> str:
    """The detail of a CHECK_FAILED finding: short; the traceback goes to the log."""
    return preview(f"linkcheck could not check this URL: {_describe(exc)}", DETAIL_CHARS)


def _malformed(exc: BaseException) -> _Failure | None:
    """aiohttp refused the answer's bytes (status line, headers, framing, encoding): the
    server's fault, said in its parser's words ("Duplicate Content-Length", ...)."""
    cause = _in_chain(exc, HttpProcessingError)
    if cause is None:
        return None
    assert isinstance(cause, HttpProcessingError)
    what = " ".join(str(cause.message or "").split()).removesuffix(" ^").rstrip(": ")
    what = preview(what or _describe(cause.__cause__ or cause), DETAIL_CHARS)
    if isinstance(exc, aiohttp.ClientPayloadError):
        # a body cut short may be a blip worth another try; one that cannot be decoded is not
        cut = not isinstance(cause, ContentEncodingError)
        return _Failure(Kind.CONNECTION_ERROR, f"the body could not be read: {what}", cut)
    return _Failure(Kind.CONNECTION_ERROR, f"malformed HTTP answer: {what}", transient=False)


def _os_message(exc: BaseException) -> str:
    cause = _in_chain(exc, socket.gaierror) or getattr(exc, "os_error", None) or exc
    return str(cause.strerror if isinstance(cause, OSError) and cause.strerror else cause)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Pure helpers


def parse_retry_after(
    value: str | None, *, cap: float, now: datetime | None = None
) -> float | None:
    """Retry-After as seconds to wait (delta-seconds or HTTP-date), capped; None if unreadable."""
    if not value:
        return None
    text = value.strip()
    if _DELTA_SECONDS.match(text):
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - (now or datetime.now(UTC))).total_seconds()
        except (TypeError, ValueError, IndexError, OverflowError):  # not a date we can read
            return None
    return min(max(seconds, 0.0), cap)


def _status_text(status: int, reason: str) -> str:
    return f"HTTP {status} {reason}".rstrip()


def status_finding(status: int, reason: str) -> Finding | None:
    """The finding for a final (non-followed) status; None when healthy (2xx, 304)."""
    if 200 <= status < 300 or status == 304:
        return None
    text = _status_text(status, reason)
    if not 100 <= status <= 599:
        return Finding(Kind.SERVER_ERROR, f"{text}: not an HTTP status code (100-599)")
    if status < 200:  # aiohttp skips 100-103 and hands over what follows: this one came alone
        return Finding(Kind.SERVER_ERROR, f"{text}: an interim answer, and no final one")
    if status == 404:
        return Finding(Kind.NOT_FOUND, text)
    if status == 410:
        return Finding(Kind.GONE, text)
    if status == 429:  # still limited after every retry: the host is busy, not the link broken
        return Finding(Kind.RATE_LIMITED, text)
    if 400 <= status < 500:
        return Finding(Kind.CLIENT_ERROR, text)
    if 300 <= status < 400:  # a redirect we could not follow (300, or no Location)
        return Finding(Kind.SERVER_ERROR, f"{text} without a Location to follow")
    return Finding(Kind.SERVER_ERROR, text)


def _parse_url(url: str) -> URL | str:
    """`url` parsed, or why it cannot be requested at all ("not an http(s) URL", ...).

    Parsed once per hop: the same URL object goes to the address guard and to aiohttp.
    """
    try:
        parsed = URL(url)
        host = parsed.host  # decoded here (IDNA): a broken label raises now, not mid-request
    except (ValueError, TypeError) as exc:  # UnicodeError is a ValueError
        return f"not a valid URL ({preview(str(exc), 80)})"
    if parsed.scheme not in _SCHEMES:
        return "not an http(s) URL"
    if not host:
        return "a URL without a host"
    if ":" not in host and _FORBIDDEN_HOST.search(host):  # (an IPv6 host has its colons)
        return f"not a valid host name ({preview(host, 80)!r})"
    return parsed


# What no host name may hold (WHATWG URL's forbidden host code points): a browser refuses
# these, so a redirect to one is the server's mistake rather than a name to look up.
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20\x7f#%/<>?@\\^|\[\]]")
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _location_text(raw: str) -> str:
    """A Location value as sent, with the bytes that were not UTF-8 (aiohttp hands them over
    as lone surrogates) percent-encoded, as browsers do: /caf\\xe9 -> /caf%E9."""
    return _UNDECODABLE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", raw).strip()


def _redirect_target(answer: _Answer) -> str | Finding | None:
    """Where a redirect goes; a finding when it names no single, joinable target; None when
    it is no redirect (a 3xx without a Location is judged by its status)."""
    if answer.status not in _REDIRECTS:
        return None
    targets = list(dict.fromkeys(loc for loc in answer.locations if loc))
    if not targets:
        return None
    if len(targets) > 1:  # browsers refuse such an answer too
        shown = ", ".join(preview(t, 80) for t in targets[:3])
        detail = f"{_status_text(answer.status, answer.reason)} with {len(targets)} different"
        return Finding(Kind.SERVER_ERROR, f"{detail} Location headers: {shown}")
    location = targets[0]
    try:
        scheme = urlsplit(location).scheme
        if scheme and location[len(scheme) + 1 :].startswith("//"):
            # with its own authority: taken as is, so "http:///x" is a URL without a host (urljoin
            # would quietly lend it ours); "http:/x" stays relative, as in a browser
            return location
        return urljoin(answer.url, location)
    except ValueError as exc:  # "http://[::1": urljoin cannot even split it
        return Finding(Kind.CLIENT_ERROR, f"redirects to {preview(location, 120)}: {exc}")


def _redirect_problem(
    source: str, target: str, parsed: URL | str, seen: set[str], hops: int, max_redirects: int
) -> Finding | None:
    """A redirect (source -> target, the `hops`-th; `parsed` is `_parse_url(target)`) that must
    not be followed.

    A redirect to a non-http(s) or unparsable URL is the server's mistake, not the card's:
    it is a CLIENT_ERROR (the link cannot be followed), never INVALID_URL (which blames the card).
    """
    if isinstance(parsed, str):
        return Finding(Kind.CLIENT_ERROR, f"redirects to {preview(target, 120)}: {parsed}")
    if urldefrag(target).url in seen:
        return Finding(Kind.REDIRECT_LOOP, f"redirect loop: {source} redirects back to {target}")
    if hops > max_redirects:
        return Finding(Kind.TOO_MANY_REDIRECTS, f"more than {max_redirects} redirects")
    return None


def _blame(failure: _Failure, redirects: list[Hop]) -> Finding:
    """A failed hop's finding. A URL that aiohttp refuses (INVALID_URL) blames the card only
    when it is the card's own URL: a redirect to one is the server's mistake."""
    if failure.kind is Kind.INVALID_URL and redirects:
        target = preview(redirects[-1].location, 120)
        return Finding(Kind.CLIENT_ERROR, f"redirects to {target}: {failure.detail}")
    return Finding(failure.kind, failure.detail)


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1) plus up to `base`, at most `cap`.

    The jitter spreads the retries of many URLs that failed together (one host blipped).
    """
    return min(cap, base * 2.0 ** (attempt - 1) + random.uniform(0, base))


def _reason_of(result: _Result) -> str:
    if isinstance(result, _Failure):
        return f"{result.kind}: {result.detail}"
    return _status_text(result.status, result.reason)


def _should_retry(result: _Result) -> bool:
    if isinstance(result, _Failure):
        return result.transient
    return result.status in _TRANSIENT_STATUSES


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """At most `cap` bytes of the body: a fast endless body stops here, not in memory."""
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = await resp.content.read(min(cap - size, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# The fetcher


def _send_times() -> aiohttp.TraceConfig:
    """Tell each request's permit when its headers actually left (see hosts.Permit)."""

    async def on_headers_sent(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        permit = context.trace_request_ctx
        if isinstance(permit, Permit):
            permit.mark_sent()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_headers_sent)
    return trace


class Fetcher:
    """Owns one aiohttp session; `check` one URL at a time, from as many tasks as you like."""

    def __init__(self, fetch_config: FetchConfig, pool: HostPool) -> None:
        self._config = fetch_config
        self._pool = pool
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None
        # Decoded images in memory at once, all decodes together: bytes, and decodes per core.
        self._decoding = DecodeBudget(
            fetch_config.image_decode_budget_bytes, slots=min(4, os.cpu_count() or 1)
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        """The guarded session, for other clients that must obey the same address rules."""
        if self._session is None:
            raise RuntimeError("Fetcher used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        politeness = self._pool.config  # the connector's caps match the pool's
        self._resolver = GuardedResolver(
            self._config.resolve, allow_private=self._config.allow_private
        )
        connector = aiohttp.TCPConnector(
            resolver=self._resolver,
            limit=politeness.max_in_flight,
            limit_per_host=politeness.concurrency_per_host,
            use_dns_cache=True,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # The total deadline is asyncio.timeout around request + body; aiohttp only bounds
            # the connect.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._config.connect_timeout),
            headers={"User-Agent": self._config.user_agent},
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            trace_configs=[_send_times()],
        )
        # aiohttp silently re-sends a GET once after a reset on a kept-alive connection; that
        # request would bypass the host's throttle and the retry policy, so switch it off.
        self._session._retry_connection = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
        if self._resolver is not None:
            await self._resolver.close()
        self._session = self._resolver = None

    # -- the public check ---------------------------------------------------------------------

    async def check(
        self, url: str, link_kind: LinkKind, extra_headers: Mapping[str, str] | None = None
    ) -> UrlOutcome:
        """Check one URL; every problem is a finding on the returned outcome."""
        if self._session is None:
            raise RuntimeError("use Fetcher as 'async with Fetcher(...) as fetcher'")
        started = time.monotonic()
        outcome = UrlOutcome(url=url, link_kind=link_kind)
        try:
            await self._follow(outcome, dict(extra_headers or {}))
        except Exception as exc:  # a bug must not take the run down: report it on this URL
            log.exception("check_failed", url=safe_text(url))
            outcome.findings.append(Finding(Kind.CHECK_FAILED, internal_error(exc)))
        outcome.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return outcome

    async def _follow(self, outcome: UrlOutcome, headers: dict[str, str]) -> None:
        """Request hop after hop until a final answer, recording each redirect."""
        url = outcome.url
        parsed = _parse_url(url)
        if isinstance(parsed, str):
            outcome.findings.append(Finding(Kind.INVALID_URL, f"{url}: {parsed}"))
            return
        seen = {urldefrag(url).url}  # a fragment is never sent: /a#x and /a are one request
        while True:
            outcome.final_url = url  # the last URL we tried to request
            result, tries = await self._hop(url, parsed, outcome.link_kind, headers)
            outcome.attempts = max(outcome.attempts, tries)
            if isinstance(result, _Failure):
                outcome.http_status = None  # no final response (an earlier hop's is not it)
                outcome.findings.append(_blame(result, outcome.redirects))
                return
            outcome.http_status = result.status
            target = _redirect_target(result)
            if target is None:
                await self._judge(outcome, result)
                return
            if isinstance(target, Finding):
                outcome.findings.append(target)
                return
            outcome.redirects.append(Hop(url=url, status=result.status, location=target))
            target_parsed = _parse_url(target)
            stop = _redirect_problem(
                url, target, target_parsed, seen, len(outcome.redirects), self._config.max_redirects
            )
            if stop is not None:
                outcome.findings.append(stop)
                return
            assert not isinstance(target_parsed, str)  # _redirect_problem stops on those
            seen.add(urldefrag(target).url)
            url, parsed = target, target_parsed

    # -- one hop, with retries ----------------------------------------------------------------

    async def _hop(
        self, url: str, parsed: URL, link_kind: LinkKind, headers: Mapping[str, str]
    ) -> tuple[_Result, int]:
        """One URL of the chain, retried while the failure is transient; (result, tries)."""
        key = host_key(url)  # once per hop, not per attempt
        # Fast path: most hops succeed (or fail for good) at once, and building a tenacity
        # controller for each cost ~4 % of a run's CPU. Only a result worth retrying enters it.
        first = await self._attempt(url, parsed, key, link_kind, headers)
        if not _should_retry(first) or self._config.retries == 0:
            return first, 1
        tries = 1
        replay: _Result | None = first

        async def attempt() -> _Result:
            # tenacity's first "attempt" hands back the request already made, so that its
            # attempt count, wait (backoff or Retry-After), stop and logging see exactly what
            # they would have seen had it made that request itself
            nonlocal tries, replay
            if replay is not None:
                done, replay = replay, None
                return done
            tries += 1
            return await self._attempt(url, parsed, key, link_kind, headers)

        def log_retry(state: RetryCallState) -> None:
            result = state.outcome.result() if state.outcome is not None else None
            log.debug(
                "retrying",
                url=url,
                attempt=state.attempt_number,
                reason=_reason_of(result) if result is not None else "?",
                wait_s=round(state.upcoming_sleep, 3),
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._config.retries + 1),
            wait=self._wait,
            retry=retry_if_result(_should_retry),
            before_sleep=log_retry,
            retry_error_callback=_last_result,
            reraise=True,  # attempt() maps errors to values: an exception here is a bug
        )
        result: _Result = await retrying(attempt)
        return result, tries

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gave one (already capped), else backoff with jitter."""
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            result = outcome.result()
            if isinstance(result, _Answer) and result.retry_after is not None:
                # a little jitter, so that pages limited together do not retry in lockstep
                return result.retry_after * random.uniform(1.0, 1.2)
            if isinstance(result, _Failure) and result.kind is Kind.TIMEOUT:
                return 0.0  # the server already had the whole timeout: no reason to wait more
        return backoff_seconds(
            state.attempt_number, base=self._config.backoff_base, cap=self._config.backoff_max
        )

    async def _attempt(
        self, url: str, parsed: URL, key: HostKey, link_kind: LinkKind, headers: Mapping[str, str]
    ) -> _Result:
        """One request: guard, permit, deadline, response, capped body. Never raises."""
        blocked = literal_address_problem(
            parsed.host or "", allow_private=self._config.allow_private
        )
        if blocked is not None:  # aiohttp skips the resolver for IP literals: guard them here
            return _Failure(Kind.BLOCKED_ADDRESS, blocked, transient=False)
        try:
            async with self._pool.permit(key) as permit, asyncio.timeout(self._config.timeout):
                answer = await self._request(url, parsed, link_kind, headers, permit)
        except Exception as exc:
            failure = failure_for(exc, timeout=self._config.timeout)
            if failure.kind is Kind.CHECK_FAILED:
                log.exception("check_failed", url=safe_text(url))
            return failure
        if answer.retry_after is not None:
            self._pool.retry_after(key, answer.retry_after)
        else:
            self._pool.answered(key)
        return answer

    async def _request(
        self,
        url: str,
        parsed: URL,
        link_kind: LinkKind,
        headers: Mapping[str, str],
        permit: Permit,
    ) -> _Answer:
        assert self._session is not None
        # the parsed URL, not the string: aiohttp would parse the same text again
        resp = await self._session.get(
            parsed, headers=headers, allow_redirects=False, trace_request_ctx=permit
        )
        try:
            body = b""
            if 200 <= resp.status < 300:
                body = await _read_capped(resp, self._body_cap(link_kind))
            retry_after = None
            if resp.status in _RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(
                    resp.headers.get("Retry-After"), cap=self._config.retry_after_cap
                )
            reason = safe_text(resp.reason or _phrase(resp.status))
            locations = tuple(_location_text(v) for v in resp.headers.getall("Location", ()))
            return _Answer(
                url, resp.status, reason, _safe_headers(resp.headers), body, retry_after, locations
            )
        finally:
            # Keep-alive only when the whole body has arrived; never drain the rest of a big one.
            if resp.content.is_eof():
                resp.release()
            else:
                resp.close()

    def _body_cap(self, link_kind: LinkKind) -> int:
        if link_kind is LinkKind.IMAGE:
            return self._config.max_image_bytes + 1  # one more byte tells "larger than the cap"
        return self._config.max_page_bytes

    # -- the final answer ---------------------------------------------------------------------

    async def _judge(self, outcome: UrlOutcome, answer: _Answer) -> None:
        headers = answer.headers
        outcome.content_type = headers.get("Content-Type")
        outcome.etag = headers.get("ETag")
        outcome.last_modified = headers.get("Last-Modified")
        outcome.bytes_read = len(answer.body)
        finding = status_finding(answer.status, answer.reason)
        if finding is not None:
            outcome.findings.append(finding)
            return
        if any(hop.status in _PERMANENT for hop in outcome.redirects):
            outcome.findings.append(
                Finding(Kind.MOVED_PERMANENTLY, f"moved permanently to {answer.url}")
            )
        if answer.status == 304:  # not modified: nothing new to look at
            return
        if outcome.link_kind is LinkKind.IMAGE:
            image = await self._inspect(answer.body, outcome.content_type)
            if isinstance(image, Finding):
                outcome.findings.append(image)
            else:
                outcome.image = image
        else:
            outcome.title = page_title(answer.body, outcome.content_type)
            outcome.body = answer.body  # for the rot checks; dropped before it is stored
            outcome.response_headers = dict(headers)

    async def _inspect(self, body: bytes, content_type: str | None) -> ImageInfo | Finding | None:
        """The image check; None is a sound image of no intrinsic size (an SVG without one).

        What the decode will hold is read from the header here, in the event loop, and held in
        the decode budget before the body goes to a thread: decodes in flight never hold more.
        """
        limit = self._config.max_image_bytes
        complete = len(body) <= limit
        body = body if complete else body[:limit]
        budget = self._decoding
        cost = 0
        if complete:  # a cut body is only reported too large: nothing is decoded
            cost = decode_cost(
                body,
                content_type=content_type,
                max_pixels=self._config.max_image_pixels,
                max_decode_bytes=budget.capacity,
            )
        async with budget.hold(cost):
            return await asyncio.to_thread(
                inspect_image,
                body,
                content_type=content_type,
                complete=complete,
                max_pixels=self._config.max_image_pixels,
                max_decode_bytes=budget.capacity,
                max_bytes=limit,
            )


def _safe_headers(headers: CIMultiDictProxy[str]) -> CIMultiDictProxy[str]:
    """The headers as text that can be stored: a byte that was not UTF-8 becomes \\xNN."""
    return CIMultiDictProxy(CIMultiDict((safe_text(k), safe_text(v)) for k, v in headers.items()))


def _last_result(state: RetryCallState) -> _Result:
    """Out of attempts: the last answer stands (a 503 stays a SERVER_ERROR, a 429 RATE_LIMITED)."""
    assert state.outcome is not None
    result: _Result = state.outcome.result()
    return result


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


__all__ = ["Fetcher", "backoff_seconds", "failure_for", "parse_retry_after", "status_finding"]
