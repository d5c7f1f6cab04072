"""Fetch one URL the polite way and bring back the facts, as a value.

`Fetcher.check` follows redirects by hand (crawler.web.redirects: every hop guarded, throttled
and recorded), retries only what may heal by itself (crawler.web.retries), reads at most a
capped body within one deadline (crawler.web.answer), and maps every failure to a Kind at one
boundary (crawler.web.failures). Before each hop, the robots.txt gate (crawler.web.robots) may
refuse it. It never raises, except CancelledError. What the final answer means (its status, its
body) is for crawler.judge.http to say.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import aiohttp
import structlog
from yarl import URL

from crawler.config import Config, FetchConfig
from crawler.model import Finding, Kind, LinkKind, UrlOutcome
from crawler.text import safe_text
from crawler.web.addresses import GuardedResolver, literal_address_problem
from crawler.web.answer import Answer, Result, read_answer
from crawler.web.failures import Failure, failure_for, internal_error
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool, Permit
from crawler.web.redirects import follow
from crawler.web.retries import with_retries
from crawler.web.robots import RobotsGate
from crawler.web.session import Sending, guarded_resolver, open_session
from crawler.web.urls import HostKey, host_key

log = structlog.get_logger(__name__)


class Fetcher:
    """Owns one aiohttp session; `check` one URL at a time, from as many tasks as you like."""

    def __init__(
        self,
        fetch_config: FetchConfig,
        pool: HostPool,
        rules: HostRules | None = None,
        robots: RobotsGate | None = None,
    ) -> None:
        self._config = fetch_config
        self._pool = pool
        self._robots = robots  # asked before every hop; None: robots.txt is not read
        # each host's timeout and extra headers (config.yaml's hosts:); none: the general ones
        self._rules = rules if rules is not None else HostRules(Config(fetch=fetch_config))
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The guarded session, for other clients that must obey the same address rules."""
        if self._session is None:
            raise RuntimeError("Fetcher used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        self._resolver = guarded_resolver(self._config)
        self._session = open_session(self._config, self._pool.limits, self._resolver)
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

    async def check(
        self, url: str, link_kind: LinkKind, extra_headers: Mapping[str, str] | None = None
    ) -> UrlOutcome:
        """Fetch one URL: what it answered (status, headers, capped body, every hop), and a finding
        for what kept it from answering; crawler.judge.http says what the answer means."""
        if self._session is None:
            raise RuntimeError("use Fetcher as 'async with Fetcher(...) as fetcher'")
        started = time.monotonic()
        outcome = UrlOutcome(url=url, link_kind=link_kind)
        headers = dict(extra_headers or {})

        async def robots_txt(robots_url: str, parsed_robots: URL) -> Result:
            # requested as any page is (guard, permit, deadline), without this URL's headers
            key = host_key(robots_url)
            return await self._attempt(robots_url, parsed_robots, key, LinkKind.PAGE, {})

        async def hop(hop_url: str, parsed: URL) -> tuple[Result, int]:
            if self._robots is not None:  # a refused hop is no request: 0 tries
                redirected = bool(outcome.redirects)
                refused = await self._robots.refusal_for(
                    hop_url, parsed, robots_txt, redirected=redirected
                )
                if refused is not None:
                    return refused, 0
            key = host_key(hop_url)  # once per hop, not per attempt
            # a host's own headers (cookies, authorization) never go out in clear text after
            # an https hop: a redirect down to http is the same host, but anyone may listen
            downgraded = parsed.scheme == "http" and any(
                hop.url.startswith("https:") for hop in outcome.redirects
            )
            return await with_retries(
                lambda: self._attempt(
                    hop_url, parsed, key, link_kind, headers, own_headers=not downgraded
                ),
                hop_url,
                self._config,
            )

        try:
            await follow(outcome, hop, self._config.max_redirects)
        except Exception as exc:  # a bug must not take the run down: report it on this URL
            log.exception("check_failed", url=safe_text(url))
            outcome.findings.append(Finding(Kind.CHECK_FAILED, internal_error(exc)))
        outcome.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return outcome

    async def _attempt(
        self,
        url: str,
        parsed: URL,
        key: HostKey,
        link_kind: LinkKind,
        headers: Mapping[str, str],
        *,
        own_headers: bool = True,
    ) -> Result:
        """One request: guard, permit, deadline, response, capped body. Never raises.

        The host's own timeout and headers apply: a hop to another host gets that host's, so a
        Cookie or Authorization never follows a redirect off its host. The check's own headers
        (validators) go along on every hop, as they always did."""
        host = self._rules.for_host(key)
        if host.headers and own_headers:
            headers = {**host.headers, **headers}
        blocked = literal_address_problem(
            parsed.host or "", allow_private=self._config.allow_private
        )
        if blocked is not None:  # aiohttp skips the resolver for IP literals: guard them here
            return Failure(Kind.BLOCKED_ADDRESS, blocked, transient=False)
        try:
            async with self._pool.permit(key) as permit, asyncio.timeout(host.timeout):
                answer = await self._request(url, parsed, link_kind, headers, permit)
        except Exception as exc:
            failure = failure_for(exc, timeout=host.timeout)
            if failure.kind is Kind.CHECK_FAILED:
                log.exception("check_failed", url=safe_text(url))
            return failure
        if answer.retry_after is not None or answer.status == 429:  # the host throttles us
            self._pool.retry_after(key, answer.retry_after, url)
        else:
            self._pool.answered(key)
        return answer

    async def _request(
        self, url: str, parsed: URL, link_kind: LinkKind, headers: Mapping[str, str], permit: Permit
    ) -> Answer:
        assert self._session is not None
        # the parsed URL, not the string: aiohttp would parse the same text again
        with Sending(permit):  # the permit is stamped when the headers leave
            resp = await self._session.get(parsed, headers=headers, allow_redirects=False)
        return await read_answer(
            url,
            resp,
            body_cap=self._body_cap(link_kind),
            retry_after_cap=self._config.retry_after_cap,
        )

    def _body_cap(self, link_kind: LinkKind) -> int:
        if link_kind is LinkKind.IMAGE:
            return self._config.max_image_bytes + 1  # one more byte tells "larger than the cap"
        return self._config.max_page_bytes


__all__ = ["Fetcher"]
