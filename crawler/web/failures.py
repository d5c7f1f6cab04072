"""The error boundary of a request: every exception that connecting, sending or reading can
raise becomes a `Failure` value here, and only here (`failure_for`)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError

from crawler.model import Kind
from crawler.text import preview
from crawler.web.addresses import BlockedAddressError

DETAIL_CHARS = 200  # a finding's detail about an exception: enough to say what, never a dump

# Failures that may heal by themselves: worth another attempt.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientConnectorError,
    aiohttp.ClientOSError,
    aiohttp.ClientPayloadError,
    ConnectionError,  # ConnectionResetError, BrokenPipeError, ...
)


@dataclass(frozen=True, slots=True)
class Failure:
    """A request that brought back no response."""

    kind: Kind
    detail: str
    transient: bool


def failure_for(exc: Exception, *, timeout: float) -> Failure:
    """Map an exception from one request (connect, send, read) to a finding kind."""
    blocked = _in_chain(exc, BlockedAddressError)
    if blocked is not None:
        return Failure(Kind.BLOCKED_ADDRESS, str(blocked), transient=False)
    if isinstance(exc, aiohttp.InvalidURL):
        return Failure(Kind.INVALID_URL, f"invalid URL: {exc}", transient=False)
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return Failure(Kind.DNS_ERROR, f"DNS lookup failed: {_os_message(exc)}", transient=False)
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch) or _in_chain(
        exc, ssl.SSLError
    ):
        return Failure(Kind.TLS_ERROR, f"TLS error: {exc}", transient=False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Failure(Kind.TIMEOUT, f"no connection within the connect timeout: {exc}", True)
    if isinstance(exc, TimeoutError):  # asyncio.timeout's deadline and aiohttp's read timeouts
        return Failure(Kind.TIMEOUT, f"no complete answer within {timeout:g} s", transient=True)
    return _malformed(exc) or _network_or_bug(exc)


def _network_or_bug(exc: Exception) -> Failure:
    if isinstance(exc, _CONNECTION_ERRORS):
        return Failure(Kind.CONNECTION_ERROR, preview(_describe(exc), DETAIL_CHARS), True)
    if isinstance(exc, aiohttp.ClientError | OSError | EOFError):
        # Unknown network trouble: reported, but not retried (more likely a malformed answer
        # than a blip).
        return Failure(Kind.CONNECTION_ERROR, preview(_describe(exc), DETAIL_CHARS), False)
    # Not the network's doing: linkcheck failed on this answer. The caller logs the traceback.
    return Failure(Kind.CHECK_FAILED, internal_error(exc), transient=False)


def internal_error(exc: BaseException) -> str:
    """The detail of a CHECK_FAILED finding: short; the traceback goes to the log."""
    return preview(f"linkcheck could not check this URL: {_describe(exc)}", DETAIL_CHARS)


def _malformed(exc: BaseException) -> Failure | None:
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
        return Failure(Kind.CONNECTION_ERROR, f"the body could not be read: {what}", cut)
    return Failure(Kind.CONNECTION_ERROR, f"malformed HTTP answer: {what}", transient=False)


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


def _os_message(exc: BaseException) -> str:
    cause = _in_chain(exc, socket.gaierror) or getattr(exc, "os_error", None) or exc
    return str(cause.strerror if isinstance(cause, OSError) and cause.strerror else cause)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
