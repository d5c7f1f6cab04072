"""The one aiohttp session every request goes through: the address guard's resolver (around
aiodns, with aiohttp's DNS cache), connector caps that match the host pool's, no cookies, no
proxies from the environment, no silent re-sends, and a request class that tells each request's
permit when its headers leave."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

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
        request_class=StampedRequest,
    )
    # aiohttp silently re-sends a GET once after a reset on a kept-alive connection; that
    # request would bypass the host's throttle and the retry policy, so switch it off.
    session._retry_connection = False
    return session


# The permit of the request the current task is sending (see Sending), read at send time.
_PERMIT: ContextVar[Permit | None] = ContextVar("linkcheck_permit", default=None)


class Sending:
    """`with Sending(permit):` the current task's request goes out under `permit`."""

    __slots__ = ("_permit", "_token")

    def __init__(self, permit: Permit) -> None:
        self._permit = permit
        self._token: Token[Permit | None] | None = None

    def __enter__(self) -> None:
        self._token = _PERMIT.set(self._permit)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _PERMIT.reset(self._token)


class StampedRequest(aiohttp.ClientRequest):
    """Tells the sending task's permit when the request has left (see politeness.Permit).

    The stamp is taken once aiohttp has written the headers: at the end of `send` for a request
    without a body (`send` writes them itself), at the end of `write_bytes` for one with a body
    (a task of its own, which inherits the sending task's context). A stamp taken as `send`
    started counted a request from before it left; on a worker process busy with 16 event
    loops, by long enough for a server's one-second window to see more than the rate."""

    async def send(self, conn: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        response = await super().send(conn)
        _mark_sent()
        return response

    async def write_bytes(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().write_bytes(*args, **kwargs)
        finally:
            _mark_sent()


def _mark_sent() -> None:
    permit = _PERMIT.get()
    if permit is not None:
        permit.mark_sent()  # never moves a stamp back: a second call is harmless
