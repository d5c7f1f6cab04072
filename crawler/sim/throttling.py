"""Demanding hosts of the simulated web: one that refuses requests coming faster than a rate it
keeps, and pages that answer only a request with the right credential header.

    /throttle/<rate>/<id>        200 the card's article while this host's /throttle/<rate>/ URLs
                                 are asked no faster than <rate> per second (a sliding window of
                                 a second, or of one request for a rate below one); faster: 429
                                 with Retry-After: 1. A refused request takes no place in the
                                 window, so a client that slows down is served again at once.
    /throttle-bare/<rate>/<id>   the same, its 429 without Retry-After
    /needs-cookie/<pair>/<id>    200 when a Cookie header holds <pair> (`session=ok`), else 403
    /needs-auth/<token>/<id>     200 with `Authorization: Bearer <token>`, else 403

The request log notes which credential headers each request carried, never their values
(crawler.sim.wire.credential_names), for every path: a test reads there that a Cookie reached
its own host and no other.
"""

from __future__ import annotations

import time
from collections import deque
from http.cookies import CookieError, SimpleCookie

from aiohttp import web

from crawler.sim.exchange import Exchange
from crawler.sim.pages import story_title

_THROTTLES = ("throttle", "throttle-bare")


def demanding_route(x: Exchange, head: str, rest: list[str]) -> web.Response | None:
    """The throttling host and the credential pages; None when the path is neither."""
    if len(rest) < 2:
        return None
    kept, tail = rest[0], "/".join(rest[1:])
    if head in _THROTTLES:
        rate = _rate(kept)
        if rate is None:
            return None
        if too_fast(x.arrivals, (x.host, f"{head}/{kept}"), rate, time.monotonic()):
            return x.too_many(retry_after=head == "throttle")
        return x.page(story_title(tail))
    if head == "needs-cookie":
        allowed = kept in _cookie_pairs(x.request.headers.getall("Cookie", []))
    elif head == "needs-auth":
        allowed = x.request.headers.get("Authorization") == f"Bearer {kept}"
    else:
        return None
    return x.page(story_title(tail)) if allowed else x.page("403 Forbidden", status=403)


def too_fast(
    arrivals: dict[tuple[str, str], deque[float]], key: tuple[str, str], rate: float, now: float
) -> bool:
    """Does a request at `now` come faster than `rate` per second allows? It is counted when it
    does not: the window holds the times of the requests that were served."""
    window = max(1.0, 1 / rate)
    allowed = max(1, int(rate * window))
    served = arrivals.setdefault(key, deque())
    while served and now - served[0] >= window:
        served.popleft()
    if len(served) >= allowed:
        return True
    served.append(now)
    return False


def _rate(text: str) -> float | None:
    try:
        rate = float(text)
    except ValueError:
        return None
    return rate if 0 < rate <= 1000 else None


def _cookie_pairs(values: list[str]) -> set[str]:
    pairs: set[str] = set()
    for value in values:
        cookie = SimpleCookie()
        try:
            cookie.load(value)
        except CookieError:
            continue
        pairs.update(f"{name}={morsel.value}" for name, morsel in cookie.items())
    return pairs
