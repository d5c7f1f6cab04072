"""What a URL of the simulated web does: its path says it (the table in crawler/sim/simweb.py).

The server keeps no state but per-URL attempt counters (and the throttling hosts' windows), so
that any process serving the same paths gives the same answers. The rot routes (soft 404s,
redirects home, drift, the archive) are rot_routes'; the throttling host and the pages behind a
credential are throttling's; bot walls and their look-alikes are botwalls'; everything else,
pages, HTTP failures and images, is here.
"""

from __future__ import annotations

import asyncio
import re
from http import HTTPStatus
from typing import Final

from aiohttp import web

from crawler.sim.botwalls import botwall_route
from crawler.sim.exchange import Exchange
from crawler.sim.faults import reset_connection
from crawler.sim.images import LOGO_SIZE, MAX_IMAGE_SIDE, image_bytes, truncated_jpeg
from crawler.sim.pages import ENDLESS_BODY, endless_head, page_html, story_title
from crawler.sim.rot_routes import rot_route
from crawler.sim.throttling import demanding_route

MAX_SLOW_SECONDS: Final = 600.0

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})\.(jpg|jpeg|png)$")
_REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})


async def dispatch(x: Exchange) -> web.StreamResponse:
    """The answer to a GET, by its path; a 404 page for any path that is no route."""
    parts = x.request.path.strip("/").split("/")
    prefix = ""
    if parts and parts[0] == "old":  # filtered cards: same behaviours, recognisable path
        parts, prefix = parts[1:], "/old"
    head, rest = (parts[0], parts[1:]) if parts else ("", [])
    response = await _page_route(x, head, rest)
    if response is None:
        response = _image_route(x, head, rest)
    if response is None:
        response = rot_route(x, head, rest, prefix)
    if response is None:
        response = demanding_route(x, head, rest)
    if response is None:
        response = botwall_route(x, head, rest)
    return response if response is not None else x.page("404 Not Found", status=404)


async def _page_route(x: Exchange, head: str, rest: list[str]) -> web.StreamResponse | None:
    """Article pages, and the HTTP failures on the way to one."""
    tail = "/".join(rest[1:])
    if head in ("ok", "amp") and rest:
        return x.page(story_title("/".join(rest)))
    if head == "c" and rest:  # AMP cache paths: /c/s/<origin host>/<path of the AMP page>
        return x.page(story_title(rest[-1]))
    if head == "status" and len(rest) >= 1 and rest[0].isdigit():
        code = int(rest[0])
        if 200 <= code <= 599 and not 300 <= code < 400:
            return x.page(f"{code} {_reason(code)}", status=code)
    if head == "flaky503" and len(rest) >= 2 and rest[0].isdigit():
        if x.attempt() <= int(rest[0]):
            return x.page("503 Service Unavailable", status=503)
        return x.page(story_title(tail))
    if head == "ratelimit" and len(rest) >= 2 and rest[0].isdigit():
        return x.too_many() if x.attempt() <= int(rest[0]) else x.page(story_title(tail))
    if head == "ratelimit-forever" and rest:
        return x.too_many()
    if head == "slow" and len(rest) >= 2:
        seconds = _float(rest[0])
        if seconds is not None and 0 <= seconds <= MAX_SLOW_SECONDS:
            await asyncio.sleep(seconds)
            return x.page(story_title(tail))
    if head == "reset" and rest:
        await reset_connection(x.request)  # never returns normally
        raise AssertionError("unreachable")
    if head == "endless" and rest:
        return await _endless(x, story_title("/".join(rest)))
    return _redirect_route(x, head, rest)


def _redirect_route(x: Exchange, head: str, rest: list[str]) -> web.Response | None:
    if head == "redirect" and len(rest) >= 2 and rest[0].isdigit():
        code = int(rest[0])
        if code in _REDIRECT_CODES:
            target = f"http://{x.host}:{x.port}/ok/{'/'.join(rest[1:])}-moved"
            return x.redirect(code, target)
    if head == "chain" and len(rest) >= 2 and rest[0].isdigit():
        k = int(rest[0])
        tail = "/".join(rest[1:])
        if k == 0:
            return x.page(story_title(tail))
        return x.redirect(302, f"/chain/{k - 1}/{tail}")
    if head == "loop" and len(rest) == 1:
        return x.redirect(302, f"/loop/{rest[0]}/b")
    if head == "loop" and len(rest) == 2 and rest[1] == "b":
        return x.redirect(302, f"/loop/{rest[0]}")
    return None


def _image_route(x: Exchange, head: str, rest: list[str]) -> web.Response | None:
    if head in ("img", "truncated") and len(rest) == 1 and (size := _SIZE.match(rest[0])):
        width, height, fmt = int(size[1]), int(size[2]), size[3]
        if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
            return None
        if head == "img":
            return x.image(image_bytes(width, height, fmt), fmt)
        if fmt != "png":
            return x.image(truncated_jpeg(width, height), "jpg")
    if head == "html-as-image" and rest:
        body = page_html("This is not an image")
        return x.answer(web.Response(body=body, content_type="image/jpeg"))
    if head == "logo" and len(rest) == 1 and rest[0].endswith(".png"):
        return x.image(image_bytes(LOGO_SIZE, LOGO_SIZE, "png"), "png")
    return None


async def _endless(x: Exchange, title: str) -> web.StreamResponse:
    """HTML chunks forever, until the client goes away (its bytes counted as they are sent)."""
    response = web.StreamResponse(status=200)
    response.content_type = "text/html"
    response.enable_chunked_encoding()
    await response.prepare(x.request)
    x.status = 200
    head = endless_head(title)
    try:
        await response.write(head)
        x.sent += len(head)
        while True:
            await response.write(ENDLESS_BODY)
            x.sent += len(ENDLESS_BODY)
            await asyncio.sleep(0)  # a fast reader never makes write() wait: let others run
    except ConnectionError:
        pass  # the client went away; aiohttp's write_eof fails quietly after this
    return response


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Status"


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
