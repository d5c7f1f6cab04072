"""What a URL's final HTTP answer means: its status, a permanent move, and what its body is (an
image decoded within the decode budget, a page's title).

The fetcher brings back facts; `AnswerChecker.check` fetches and judges them, in this order:
a status the final URL's host is configured to give (`hosts:` accept_status: healthy, nothing
more), a bot wall (crawler.judge.botwall: bot_blocked, nothing more), status (a failing one ends
it), a permanent move, not modified (nothing new to look at), then the body: an image is decoded,
a page is read for its title and kept for the page rot checks. Whatever ends the judging early
drops the body, so no page rot check and no archive look-up follows.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Mapping

import structlog

from crawler.config import FetchConfig
from crawler.judge.botwall import bot_wall
from crawler.judge.html import page_title
from crawler.judge.images.check import decode_cost, inspect_image
from crawler.judge.images.pixels import DecodeBudget
from crawler.model import Finding, ImageInfo, Kind, LinkKind, UrlOutcome
from crawler.text import safe_text
from crawler.web.answer import status_text
from crawler.web.failures import internal_error
from crawler.web.fetch import Fetcher
from crawler.web.hosts import HostRules
from crawler.web.urls import host_of

log = structlog.get_logger(__name__)

_PERMANENT = frozenset({301, 308})


def status_finding(status: int, reason: str) -> Finding | None:
    """The finding for a final (non-followed) status; None when healthy (2xx, 304)."""
    if healthy_status(status):
        return None
    text = status_text(status, reason)
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


def healthy_status(status: int) -> bool:
    return 200 <= status < 300 or status == 304


def moved_permanently(outcome: UrlOutcome) -> Finding | None:
    """A 301 or 308 on the way: the card should name where the chain ends."""
    if any(hop.status in _PERMANENT for hop in outcome.redirects):
        return Finding(Kind.MOVED_PERMANENTLY, f"moved permanently to {outcome.final_url}")
    return None


# A body this small whose decode holds this little (a JPEG decoded at 1/8 scale, a PNG inflated
# row by row) is checked in the event loop: handing it to a thread and back costs about as
# much as the check, and the loop only pauses for a moment.
INLINE_BODY_BYTES = 64 * 1024
INLINE_DECODE_BYTES = 4 * 1024 * 1024


def small_decode(body_bytes: int, cost: int) -> bool:
    """Is this image checked in the event loop rather than in a thread? `cost` is its decode
    budget (decode_cost): 0 for what is never decoded (an SVG, a refused image) is not small."""
    return body_bytes <= INLINE_BODY_BYTES and 0 < cost <= INLINE_DECODE_BYTES


class ImageCheck:
    """Is the body the image a card promises? Decodes run within one budget, in threads but
    for small ones."""

    def __init__(self, config: FetchConfig) -> None:
        self._config = config
        # Decoded images in memory at once, all decodes together: bytes, and decodes per core.
        self.budget = DecodeBudget(
            config.image_decode_budget_bytes, slots=min(4, os.cpu_count() or 1)
        )

    async def inspect(self, body: bytes, content_type: str | None) -> ImageInfo | Finding | None:
        """The image check; None is a sound image of no intrinsic size (an SVG without one).

        What the decode will hold is read from the header here, in the event loop, and held in
        the decode budget before the body goes to a thread: decodes in flight never hold more.
        """
        limit = self._config.max_image_bytes
        complete = len(body) <= limit
        body = body if complete else body[:limit]
        cost = 0
        if complete:  # a cut body is only reported too large: nothing is decoded
            cost = decode_cost(
                body,
                content_type=content_type,
                max_pixels=self._config.max_image_pixels,
                max_decode_bytes=self.budget.capacity,
            )
        inspect = functools.partial(
            inspect_image,
            body,
            content_type=content_type,
            complete=complete,
            max_pixels=self._config.max_image_pixels,
            max_decode_bytes=self.budget.capacity,
            max_bytes=limit,
        )
        async with self.budget.hold(cost):
            if small_decode(len(body), cost):  # a thread hand-off would cost more than it frees
                return inspect()
            return await asyncio.to_thread(inspect)


class AnswerChecker:
    """A URL fetched and its final answer judged; the page's body and headers stay on the
    outcome for the page rot checks (crawler.judge.urlcheck drops them)."""

    def __init__(
        self, fetcher: Fetcher, config: FetchConfig, rules: HostRules | None = None
    ) -> None:
        self._fetcher = fetcher
        self._rules = rules  # None: no host accepts any status
        self.images = ImageCheck(config)

    async def check(
        self, url: str, link_kind: LinkKind, extra_headers: Mapping[str, str] | None = None
    ) -> UrlOutcome:
        """Check one URL; every problem is a finding on the returned outcome."""
        outcome = await self._fetcher.check(url, link_kind, extra_headers)
        try:
            await self.judge(outcome)
        except Exception as exc:  # a bug must not take the run down: report it on this URL
            log.exception("check_failed", url=safe_text(url))
            outcome.findings.append(Finding(Kind.CHECK_FAILED, internal_error(exc)))
        return outcome

    async def judge(self, outcome: UrlOutcome) -> None:
        """The final answer's findings, in order; nothing when no final answer came."""
        if outcome.http_reason is None or outcome.http_status is None:
            return
        if self.accepted(outcome):
            outcome.body = outcome.response_headers = None
            return
        status, headers = outcome.http_status, outcome.response_headers
        ended = bot_wall(status, headers, outcome.body, outcome.content_type)
        ended = ended or status_finding(status, outcome.http_reason)
        if ended is not None:
            outcome.findings.append(ended)
            outcome.body = outcome.response_headers = None
            return
        moved = moved_permanently(outcome)
        if moved is not None:
            outcome.findings.append(moved)
        if outcome.http_status == 304:  # not modified: nothing new to look at
            outcome.body = outcome.response_headers = None
            return
        if outcome.link_kind is LinkKind.IMAGE:
            await self._image(outcome)
        else:
            outcome.title = page_title(outcome.body or b"", outcome.content_type)

    def accepted(self, outcome: UrlOutcome) -> bool:
        """A status that fails elsewhere but that the final URL's host is configured to give
        (`hosts:` accept_status: a 403 a site always gives linkcheck)."""
        status, host = outcome.http_status, host_of(outcome.final_url or outcome.url)
        if self._rules is None or status is None or host is None or healthy_status(status):
            return False
        return status in self._rules.for_host(host).accept_status

    async def _image(self, outcome: UrlOutcome) -> None:
        body, outcome.body, outcome.response_headers = outcome.body or b"", None, None
        image = await self.images.inspect(body, outcome.content_type)
        if isinstance(image, Finding):
            outcome.findings.append(image)
        else:
            outcome.image = image
