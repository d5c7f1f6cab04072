"""Rot behind a 200, for page URLs: soft 404s, redirects to the home page, the AMP cache's
soft redirect. Runs right after a page is fetched, with the body still in hand.

Soft 404 (after Bar-Yossef et al. 2004): a page that says "not found" in its title or heading is
one outright; otherwise a probe URL in the same directory with a random last segment is fetched,
once per (host, directory) and cached (the last PROBE_CACHE_SIZE directories), through the same
politeness slot; if the probe also gets a 200 that ends on the same page or is near-identical, the
original is a soft 404.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from urllib.parse import urljoin, urlsplit

from crawler.judge.amp import silent_redirect
from crawler.judge.drift import DRIFT_THRESHOLD, title_similarity
from crawler.judge.home import is_site_root, redirect_to_home
from crawler.judge.html import first_h1, meta_refresh_target, visible_text_tokens
from crawler.judge.soft404 import (
    PageSample,
    not_found_title,
    probe_key,
    probe_url,
    soft_404_verdict,
)
from crawler.model import Finding, Hop, Kind, LinkKind, UrlOutcome
from crawler.web.urls import WEB_SCHEMES

CheckFn = Callable[[str, LinkKind], Awaitable[UrlOutcome]]
# Directories whose probe answer is kept. Date folders (/2024/05/12/) make one key per host and
# day, so an unbounded cache grows with the corpus; pages of one directory are close together in
# a host's queue, so a miss after eviction costs one more probe, not a wrong verdict.
PROBE_CACHE_SIZE = 4096


def _joined(base: str, target: str) -> str | None:
    """`target` resolved against `base` when that is a web page's URL, else None (a refresh to
    javascript:, data:, or a URL no parser accepts sends no reader to the home page)."""
    try:
        joined = urljoin(base, target)
        scheme = urlsplit(joined).scheme.lower()
    except ValueError:
        return None
    return joined if scheme in WEB_SCHEMES else None


class PageRotChecker:
    def __init__(
        self, check: CheckFn, *, seed: int | None = None, cache_size: int = PROBE_CACHE_SIZE
    ) -> None:
        self._check = check
        self._rng = random.Random(seed)
        # least recently used first; a probe in flight may be evicted: its waiters hold it
        self._probes: OrderedDict[tuple[str, str], asyncio.Future[PageSample | None]] = (
            OrderedDict()
        )
        self._cache_size = max(1, cache_size)
        self.probes_sent = 0

    async def examine(self, outcome: UrlOutcome, card_title: str | None) -> None:
        """Add soft_404 / redirect_to_home findings to a healthy page's outcome, in place."""
        body, headers = outcome.body, outcome.response_headers or {}
        outcome.body = outcome.response_headers = None  # never kept past this point
        if outcome.link_kind is not LinkKind.PAGE or body is None or outcome.findings_severe():
            return
        if outcome.http_status is None or not 200 <= outcome.http_status < 300:
            return
        home = self._home_redirect(outcome, body, headers)
        if home is not None:
            # the home page is not the story's new address: no "moved permanently" to suggest
            outcome.findings = [f for f in outcome.findings if f.kind is not Kind.MOVED_PERMANENTLY]
            outcome.findings.append(Finding(Kind.REDIRECT_TO_HOME, home))
            return
        if is_site_root(outcome.url):
            return  # the site root is never a soft 404
        # a card titled like an error page ("Not Found", an album): titles prove nothing either
        # way, so the probe decides (soft_404_verdict's rule); it must be sent
        card_says_not_found = card_title is not None and not_found_title(card_title)
        if (
            card_title
            and outcome.title
            and not card_says_not_found
            and title_similarity(card_title, outcome.title) >= (DRIFT_THRESHOLD)
        ):
            return  # still the card's story: a gone page does not carry its headline
        h1 = first_h1(body, outcome.content_type)
        page = PageSample(
            outcome.final_url, outcome.http_status, outcome.title, (), h1, outcome.url
        )
        probe = None
        if card_says_not_found or not not_found_title(outcome.title, h1):
            probe = await self._probe(outcome.url)
            if probe is None or probe.status is None or not 200 <= probe.status < 300:
                probe_says_truth = True
            else:
                probe_says_truth = False
                page = PageSample(
                    outcome.final_url, outcome.http_status, outcome.title,
                    tuple(visible_text_tokens(body, outcome.content_type)), h1, outcome.url,
                )  # fmt: skip
            if probe_says_truth and probe is not None:
                return  # the host answers a random URL with 404/410: its 200 is real
        soft, detail = soft_404_verdict(page, probe, card_title=card_title)
        if soft:
            outcome.findings.append(Finding(Kind.SOFT_404, detail))

    def _home_redirect(
        self, outcome: UrlOutcome, body: bytes, headers: dict[str, str]
    ) -> str | None:
        detail = redirect_to_home(outcome.url, outcome.final_url, outcome.redirects)
        if detail:
            return detail
        refresh = meta_refresh_target(body, outcome.content_type)
        target = _joined(outcome.final_url or outcome.url, refresh) if refresh else None
        if target:
            hops = [*outcome.redirects, Hop(outcome.final_url or outcome.url, 200, target)]
            detail = redirect_to_home(outcome.url, target, hops)
            if detail:
                return f"{detail} (by a meta refresh)"
        silent = silent_redirect(outcome.http_status, headers)
        if silent is not None:
            return silent.detail
        return None

    async def _probe(self, url: str) -> PageSample | None:
        key = probe_key(url)
        future = self._probes.get(key)
        if future is not None:
            self._probes.move_to_end(key)
        else:
            future = asyncio.get_running_loop().create_future()
            self._probes[key] = future
            if len(self._probes) > self._cache_size:
                self._probes.popitem(last=False)
            try:
                future.set_result(await self._fetch_probe(url))
            except BaseException as exc:  # cancelled mid-probe: waiters must not hang
                future.set_result(None)
                if isinstance(exc, asyncio.CancelledError):
                    raise
        return await future

    async def _fetch_probe(self, url: str) -> PageSample | None:
        target = probe_url(url, self._rng)
        self.probes_sent += 1
        result = await self._check(target, LinkKind.PAGE)
        body, result.body, result.response_headers = result.body, None, None
        tokens = tuple(visible_text_tokens(body, result.content_type)) if body else ()
        return PageSample(
            result.final_url, result.http_status, result.title, tokens,
            first_h1(body, result.content_type) if body else None, target,
        )  # fmt: skip
