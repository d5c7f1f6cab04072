"""The one aiohttp session every request goes through: the address guard's resolver (around
aiodns, with aiohttp's DNS cache), connector caps that match the host pool's, no cookies, no
proxies from the environment, no silent re-sends, and a trace that tells each request's permit
when its headers left."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
from aiohttp.resolver import AsyncResolver

from crawler.config import FetchConfig
from crawler.web.addresses import GuardedResolver
from crawler.web.politeness import Limits, Permit

DNS_CACHE_S = 300  # an answer is reused this long (aiohttp's cache, in the connector)


def guarded_resolver(config: FetchConfig) -> GuardedResolver:
    """Pins and the address guard around aiodns (c-ares: no thread per lookup). A lookup ends
    within half the request's timeout at most, so that it fails as a dns_error before the
    request's own deadline could call it a timeout; c-ares asks twice in that time."""
    lookup_timeout = min(config.dns_timeout, config.timeout / 2)
    inner = AsyncResolver(
        nameservers=config.nameservers or None, timeout=lookup_timeout / 2, tries=2
    )
    return GuardedResolver(
        config.resolve,
        allow_private=config.allow_private,
        inner=inner,
        lookup_timeout=lookup_timeout,
    )


def open_session(
    config: FetchConfig, limits: Limits, resolver: GuardedResolver
) -> aiohttp.ClientSession:
    """A session whose connections obey `limits` and resolve through `resolver`."""
    connector = aiohttp.TCPConnector(
        resolver=resolver,
        limit=limits.in_flight,
        limit_per_host=limits.in_flight_per_host,
        use_dns_cache=True,
        ttl_dns_cache=DNS_CACHE_S,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        # The total deadline is asyncio.timeout around request + body; aiohttp only bounds
        # the connect.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=config.connect_timeout),
        headers={"User-Agent": config.user_agent},
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        trace_configs=[_send_times()],
    )
    # aiohttp silently re-sends a GET once after a reset on a kept-alive connection; that
    # request would bypass the host's throttle and the retry policy, so switch it off.
    session._retry_connection = False
    return session


def _send_times() -> aiohttp.TraceConfig:
    """Tell each request's permit when its headers actually left (see politeness.Permit)."""

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
