"""One HTTP response read into facts: status, header text that can be stored, every Location,
Retry-After, and a body read only up to its cap (`read_answer`); the final one kept on the
outcome for the judge (`record`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from crawler.model import UrlOutcome
from crawler.text import safe_text
from crawler.web.failures import Failure
from crawler.web.politeness import retry_after_seconds

_CHUNK = 64 * 1024
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# The statuses bot protection answers with (crawler/judge/botwall.py): of these, only a prefix
# of the body is read, enough to show a challenge page's markers, never the rest.
WALL_STATUSES: frozenset[int] = frozenset({403, 429, 503, 999})
WALL_BODY_CAP = 32 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response, its body read only as far as the check needs."""

    url: str
    status: int
    reason: str  # text safe to store (safe_text), as every header value below
    headers: CIMultiDictProxy[str]
    body: bytes = b""
    retry_after: float | None = None  # seconds, already capped
    locations: tuple[str, ...] = ()  # every Location, undecodable bytes percent-encoded


# What one request of a hop brought back: a response, or why there was none.
Result = Answer | Failure


def status_text(status: int, reason: str) -> str:
    """How a status line is told in a finding: "HTTP 404 Not Found"."""
    return f"HTTP {status} {reason}".rstrip()


async def read_answer(
    url: str, resp: aiohttp.ClientResponse, *, body_cap: int, retry_after_cap: float
) -> Answer:
    """The response's facts; a 2xx body up to `body_cap` bytes, a bot wall's status's up to
    WALL_BODY_CAP; no other body. Releases the response."""
    try:
        body = b""
        if 200 <= resp.status < 300:
            body = await read_capped(resp, body_cap)
        elif resp.status in WALL_STATUSES:
            body = await read_evidence(resp, min(body_cap, WALL_BODY_CAP))
        retry_after = retry_after_seconds(
            resp.status, resp.headers.get("Retry-After"), cap=retry_after_cap
        )
        reason = safe_text(resp.reason or _phrase(resp.status))
        locations = tuple(location_text(v) for v in resp.headers.getall("Location", ()))
        return Answer(
            url, resp.status, reason, safe_headers(resp.headers), body, retry_after, locations
        )
    finally:
        # Keep-alive only when the whole body has arrived; never drain the rest of a big one.
        if resp.content.is_eof():
            resp.release()
        else:
            resp.close()


async def read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
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


async def read_evidence(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """At most `cap` bytes of a body that is only evidence (a bot wall's page): the status is the
    answer, so a body that breaks off costs it nothing, it is just not evidence."""
    try:
        return await read_capped(resp, cap)
    except (aiohttp.ClientError, OSError, EOFError):
        return b""


def location_text(raw: str) -> str:
    """A Location value as sent, with the bytes that were not UTF-8 (aiohttp hands them over
    as lone surrogates) percent-encoded, as browsers do: /caf\\xe9 -> /caf%E9."""
    return _UNDECODABLE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", raw).strip()


def safe_headers(headers: CIMultiDictProxy[str]) -> CIMultiDictProxy[str]:
    """The headers as text that can be stored: a byte that was not UTF-8 becomes \\xNN."""
    return CIMultiDictProxy(CIMultiDict((safe_text(k), safe_text(v)) for k, v in headers.items()))


def record(outcome: UrlOutcome, answer: Answer) -> None:
    """The final answer's facts, kept on the outcome for the judge."""
    headers = answer.headers
    outcome.content_type = headers.get("Content-Type")
    outcome.etag = headers.get("ETag")
    outcome.last_modified = headers.get("Last-Modified")
    outcome.bytes_read = len(answer.body)
    outcome.http_reason = answer.reason
    outcome.body = answer.body  # dropped by the judge before the outcome is stored
    outcome.response_headers = dict(headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
