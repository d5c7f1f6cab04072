"""The simulated web's server: one aiohttp application listening on many loopback addresses,
one port, plus an optional TLS listener; the request log; and the soak's faults (resets, Latin-1
heads, silent hosts), drawn per request from a seeded generator.

What each path answers is crawler.sim.routes'; the URL table is in crawler/sim/simweb.py.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict, deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from aiohttp import web

from crawler.sim.exchange import Exchange
from crawler.sim.faults import reset_connection, send_latin1
from crawler.sim.loopback import bind_all, is_loopback_v4, listening_socket, loopback_ips
from crawler.sim.robots_sites import RobotsFile, robots_route
from crawler.sim.routes import dispatch
from crawler.sim.tls import TlsSite, server_ssl_context
from crawler.sim.wire import RequestRecord, credential_names


class SimWeb:
    """The simulated web; use as `async with SimWeb(...) as web:` or `start()` / `stop()`."""

    def __init__(
        self,
        hosts: int | Sequence[str] = 3,
        *,
        first: int = 10,
        port: int = 0,
        latency_ms: float = 20.0,
        log_path: Path | None = None,
        keep_log: bool = True,
        tls: TlsSite | None = None,
        reset_percent: float = 0.0,
        latin1_percent: float = 0.0,
        silent_hosts: Sequence[str] = (),
        seed: int = 0,
        robots: Mapping[str, RobotsFile] | None = None,
    ) -> None:
        ips = loopback_ips(hosts, first) if isinstance(hosts, int) else list(hosts)
        if not ips:
            raise ValueError("SimWeb needs at least one host")
        self.host_ips: list[str] = [_require_loopback(ip) for ip in ips]
        if not set(silent_hosts) <= set(self.host_ips):
            raise ValueError("silent hosts must be among the hosts")
        self.robots: dict[str, RobotsFile] = dict(robots or {})  # host -> its /robots.txt
        if not set(self.robots) <= set(self.host_ips):
            raise ValueError("hosts given a robots.txt must be among the hosts")
        for share in (reset_percent, latin1_percent):
            if not 0.0 <= share <= 100.0:
                raise ValueError("a fault share is a percentage, 0 to 100")
        self.reset_percent = reset_percent
        self.latin1_percent = latin1_percent
        self.silent_hosts: frozenset[str] = frozenset(silent_hosts)
        self._faults = random.Random(seed)
        self.faults: Counter[str] = Counter()  # how many of each fault were served
        self._silent_servers: list[asyncio.Server] = []
        self._silent_writers: set[asyncio.StreamWriter] = set()
        self.port: int = port
        if tls is not None:
            _require_loopback(tls.ip)
        self.tls = tls
        self.tls_port: int | None = None  # the TLS listener's port, once started
        self.latency: float = latency_ms / 1000.0
        self.log_path = log_path
        self.keep_log = keep_log
        self.log: list[RequestRecord] = []
        self.inflight: dict[str, int] = defaultdict(int)
        self.max_inflight: dict[str, int] = defaultdict(int)
        self.attempts: dict[tuple[str, str], int] = defaultdict(int)
        self.arrivals: dict[tuple[str, str], deque[float]] = {}  # throttling hosts' windows
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._log_file: IO[str] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("SimWeb already started")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,  # a client that goes away cancels its handler
            shutdown_timeout=0.5,
        )
        await runner.setup()
        try:
            self.port, socks = bind_all(self.host_ips, self.port)
            for ip, sock in zip(self.host_ips, socks, strict=True):
                if ip in self.silent_hosts:
                    self._silent_servers.append(await asyncio.start_server(self._silent, sock=sock))
                else:
                    await web.SockSite(runner, sock).start()
            if self.tls is not None:
                context = server_ssl_context(self.tls)
                tls_sock = listening_socket(self.tls.ip, self.tls.port)
                self.tls_port = int(tls_sock.getsockname()[1])
                await web.SockSite(runner, tls_sock, ssl_context=context).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("w", encoding="utf-8", buffering=1 << 16)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        for server in self._silent_servers:
            server.close()
        for writer in list(self._silent_writers):
            writer.close()
        self._silent_servers.clear()
        log_file, self._log_file = self._log_file, None
        if log_file is not None:
            log_file.close()

    async def __aenter__(self) -> SimWeb:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- helpers for callers --------------------------------------------------------------------

    def base_url(self, i: int) -> str:
        """http://127.0.0.X:PORT for the i-th host (0-based)."""
        return f"http://{self.host_ips[i]}:{self.port}"

    def url(self, i: int, path: str) -> str:
        return self.base_url(i) + (path if path.startswith("/") else "/" + path)

    def flush_log(self) -> None:
        if self._log_file is not None:
            self._log_file.flush()

    def reset_counters(self) -> None:
        """Forget attempt counters (flaky/ratelimit URLs fail again) and concurrency maxima."""
        self.attempts.clear()
        self.arrivals.clear()
        self.max_inflight.clear()

    def requests_matching(self, prefix: str) -> list[RequestRecord]:
        return [r for r in self.log if r.path.startswith(prefix)]

    # -- request handling -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrival = time.time()
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        host = str(sockname[0]) if sockname else (request.url.host or "?")
        self.inflight[host] += 1
        inflight = self.inflight[host]
        self.max_inflight[host] = max(self.max_inflight[host], inflight)
        self.requests += 1
        x = Exchange(request, host, self.port, self.attempts, self.arrivals)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            if request.method != "GET":
                return x.answer(
                    web.Response(
                        status=405,
                        body=b"method not allowed\n",
                        content_type="text/plain",
                        headers={"Allow": "GET"},
                    )
                )
            if self._draw(self.reset_percent):
                self.faults["reset"] += 1
                await reset_connection(request)  # never returns normally
            robots_txt = robots_route(x, self.robots)
            response = robots_txt if robots_txt is not None else await dispatch(x)
            if isinstance(response, web.Response) and self._draw(self.latin1_percent):
                self.faults["latin1"] += 1
                await send_latin1(request, response)  # never returns normally
            return response
        finally:
            self.inflight[host] -= 1
            self._record(
                RequestRecord(
                    t=arrival,
                    host=host,
                    method=request.method,
                    path=request.path_qs,
                    status=x.status,
                    bytes=x.sent,
                    inflight=inflight,
                    duration=round(time.time() - arrival, 6),
                    credentials=credential_names(request.headers),
                )
            )

    def _draw(self, percent: float) -> bool:
        """True for `percent` % of calls (no draw at all when the fault is off)."""
        return percent > 0 and self._faults.random() * 100.0 < percent

    async def _silent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A host that never answers: each request head is read and logged, nothing is sent."""
        host = str(writer.get_extra_info("sockname")[0])
        self._silent_writers.add(writer)
        self.inflight[host] += 1  # one request per connection: no answer, so no second one
        self.max_inflight[host] = max(self.max_inflight[host], self.inflight[host])
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                method, _, rest = head.decode("latin-1").partition(" ")
                self.requests += 1
                self.faults["silent"] += 1
                self._record(
                    RequestRecord(
                        t=time.time(),
                        host=host,
                        method=method,
                        path=rest.partition(" ")[0],
                        status=0,
                        bytes=0,
                        inflight=self.inflight[host],
                    )
                )
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # the client gave up
        finally:
            self.inflight[host] -= 1
            self._silent_writers.discard(writer)
            writer.close()

    def _record(self, record: RequestRecord) -> None:
        if self.keep_log:
            self.log.append(record)
        if self._log_file is not None:
            self._log_file.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")


def _require_loopback(ip: str) -> str:
    if not is_loopback_v4(ip):
        raise ValueError(f"simweb only listens on 127.0.0.0/8, not {ip}")
    return ip
