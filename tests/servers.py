"""Local HTTP servers for tests: real sockets on loopback, never the internet.

`serve(routes, host="127.0.0.2")` starts an aiohttp app on a free port of one loopback IP
(127.0.0.0/8 gives as many distinct hosts as a test needs) and records every request that
reaches it: arrival time (monotonic), the IP it arrived at, method, path, headers, and the most
requests that were ever in flight at once, per IP.

Handler factories below cover the behaviours link checks meet in the wild: plain answers,
redirects, flaky and rate-limited hosts, slow, trickling and endless bodies, connection resets.
Every route accepts any method (the recorder sees HEADs too); a factory decides what a method gets.

Usage:

    async with serve({"/": ok("hello")}) as server:
        outcome = await fetcher.check(server.url("/"), LinkKind.PAGE)
        assert server.methods() == ["GET"]
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from crawler.config import FetchConfig, PolitenessConfig
from crawler.judge.http import AnswerChecker
from crawler.web.fetch import Fetcher
from crawler.web.politeness import HostPool

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class SeenRequest:
    at: float  # time.monotonic() when the request reached the app
    host: str  # the local IP it arrived at
    method: str
    path: str
    headers: dict[str, str]


@dataclass(slots=True)
class Recorder:
    """Shared by the servers of one test when it wants a single timeline."""

    requests: list[SeenRequest] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        host = str(sockname[0]) if sockname else "?"
        self.requests.append(
            SeenRequest(time.monotonic(), host, request.method, request.path, dict(request.headers))
        )
        self.in_flight[host] += 1
        self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])
        try:
            return await handler(request)
        finally:
            self.in_flight[host] -= 1


@dataclass(slots=True)
class LocalServer:
    host: str
    port: int
    recorder: Recorder

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        """`host` replaces the IP in the URL (a pinned name), the port stays."""
        return f"http://{host or self.host}:{self.port}{path}"

    @property
    def requests(self) -> list[SeenRequest]:
        return [r for r in self.recorder.requests if r.host == self.host]

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    @property
    def max_in_flight(self) -> int:
        return self.recorder.max_in_flight[self.host]


def make_app(routes: Mapping[str, Handler], recorder: Recorder) -> web.Application:
    app = web.Application(middlewares=[recorder.middleware])
    for path, handler in routes.items():
        app.router.add_route("*", path, _as_coroutine(handler))
    return app


def _as_coroutine(handler: Callable[[web.Request], Any]) -> Handler:
    """aiohttp deprecates plain-function handlers; tests like short lambdas, so wrap them."""
    if inspect.iscoroutinefunction(handler):
        return handler

    async def call(request: web.Request) -> web.StreamResponse:
        answer = handler(request)
        return await answer if inspect.isawaitable(answer) else answer  # type: ignore[no-any-return]

    return call


@asynccontextmanager
async def serve(
    routes: Mapping[str, Handler],
    host: str = "127.0.0.2",
    *,
    port: int = 0,
    recorder: Recorder | None = None,
) -> AsyncIterator[LocalServer]:
    """Run `routes` on host:port (a free port by default) for the duration of the block."""
    recorder = recorder or Recorder()
    runner = web.AppRunner(
        make_app(routes, recorder),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=0.1,  # endless handlers must not hold the test's teardown
        handler_cancellation=True,  # a handler stops when its client goes away
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield LocalServer(host=host, port=site.port, recorder=recorder)
    finally:
        await runner.cleanup()


def free_port(host: str = "127.0.0.2") -> int:
    """A port nothing listens on (bound then released), for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------------------
# Handler factories


def ok(
    body: bytes | str = b"<html><head><title>ok</title></head></html>",
    *,
    content_type: str = "text/html; charset=utf-8",
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> Handler:
    data = body.encode() if isinstance(body, str) else body

    async def handler(request: web.Request) -> web.StreamResponse:
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=data, headers={"Content-Type": content_type, **(headers or {})})

    return handler


def status(code: int, *, headers: Mapping[str, str] | None = None, body: bytes = b"") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, body=body, headers=dict(headers or {}))

    return handler


def redirect(location: str, code: int = 302) -> Handler:
    return status(code, headers={"Location": location})


def sequence(*handlers: Handler) -> Handler:
    """The n-th request gets the n-th handler; the last one answers all the rest."""
    queue = list(handlers)

    async def handler(request: web.Request) -> web.StreamResponse:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        return await current(request)

    return handler


def by_method(methods: Mapping[str, Handler], default: Handler) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await methods.get(request.method, default)(request)

    return handler


def slow(seconds: float, then: Handler | None = None) -> Handler:
    """Sleeps before answering (headers included)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await (then or ok())(request)

    return handler


def trickle(interval: float = 0.2, byte: bytes = b"x", content_type: str = "text/html") -> Handler:
    """Headers at once, then one byte every `interval`, forever."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        while True:
            await response.write(byte)
            await asyncio.sleep(interval)

    return handler


def endless(chunk: int = 64 * 1024, content_type: str = "text/html") -> Handler:
    """A body that never ends, as fast as the client reads it."""
    data = b"a" * chunk

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        while True:
            await response.write(data)

    return handler


def reset() -> Handler:
    """Drops the connection with a TCP RST before answering anything."""

    async def handler(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        raise asyncio.CancelledError  # nothing may be written after the abort

    return handler


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The most events in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# ---------------------------------------------------------------------------------------------
# A fetcher wired for tests: loopback allowed, short timeouts, near-zero backoff.


def fast_fetch_config(**overrides: Any) -> FetchConfig:
    values: dict[str, Any] = {
        "timeout": 2.0,
        "connect_timeout": 1.0,
        "retries": 2,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "retry_after_cap": 5.0,
        "allow_private": True,
    }
    values.update(overrides)
    return FetchConfig(**values)


@asynccontextmanager
async def open_fetcher(
    config: FetchConfig | None = None, pool: HostPool | None = None, **overrides: Any
) -> AsyncIterator[AnswerChecker]:
    """A Fetcher on fast_fetch_config(**overrides) and a roomy HostPool, unless given, with the
    judge of its answers: `.check(url, kind)` is what a crawl learns of one URL before page rot."""
    pool = pool or HostPool(PolitenessConfig(rate_per_host=1000, concurrency_per_host=8))
    config = config or fast_fetch_config(**overrides)
    async with Fetcher(config, pool) as fetcher:
        yield AnswerChecker(fetcher, config)
