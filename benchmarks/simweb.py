"""A simulated web: one aiohttp server, one event loop, many loopback "hosts" on one port.

Each address 127.0.0.{first}..127.0.0.{first+n-1} is one host. What a URL does is encoded in
its path, so the server keeps no state but per-URL attempt counters (for the flaky and
rate-limited paths). Every answer first waits `latency_ms`; HEAD (and anything but GET) gets a
405, because HEAD lies on the real web and the crawler must not rely on it.

URL scheme (`<id>` is any text, it only makes URLs unique; `/old/<anything below>` behaves like
`<anything below>` and exists so a test can assert that filtered cards cost no request):

    /ok/<id>, /amp/<id>, /c/s/<...>   200 HTML page with a <title>
    /status/<code>/<id>               that status with a small HTML body (404, 410, 500, ...)
    /flaky503/<n>/<id>                503 for the first n requests of that URL, then 200
    /ratelimit/<n>/<id>               429 + Retry-After: 1 for the first n requests, then 200
    /ratelimit-forever/<id>           429 + Retry-After: 1, always
    /slow/<seconds>/<id>              sleeps, then 200
    /reset/<id>                       closes the connection abruptly (RST), no answer
    /redirect/<301|302|303|307|308>/<id>  -> absolute http://<same host>/ok/<id>-moved
    /chain/<k>/<id>                   302 -> /chain/<k-1>/<id> ... /chain/0/<id> is a page
    /loop/<id>                        302 -> /loop/<id>/b, which 302s back to /loop/<id>
    /img/<w>x<h>.<jpg|png>?id=...     a real image of that size (solid colour, JPEG quality 60)
    /html-as-image/<id>.jpg           an HTML body served as Content-Type: image/jpeg
    /truncated/<w>x<h>.jpg?id=...     the first half of a real JPEG (header intact, scan cut)
    /endless/<id>                     200 text/html, chunks forever until the client goes away
    /logo/<name>.png                  50x50 PNG (shared by many cards)
    anything else                     404

Library:

    async with SimWeb(hosts=3, first=20, port=0, latency_ms=20, log_path=None) as web:
        web.port, web.host_ips, web.base_url(0), web.log, web.max_inflight

CLI (runs until SIGINT/SIGTERM, prints one JSON "ready" line with the port on stdout):

    python -m benchmarks.simweb --hosts 40 --first 10 --port 8800 --latency-ms 20 \
        --log out/requests.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import io
import ipaddress
import json
import re
import signal
import socket
import struct
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from aiohttp import web
from PIL import Image

from benchmarks.politeness import RequestRecord

RETRY_AFTER_SECONDS: Final = 1
MAX_SLOW_SECONDS: Final = 600.0
MAX_IMAGE_SIDE: Final = 4096
ENDLESS_CHUNK: Final = 64 * 1024
LOGO_SIZE: Final = 50

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})\.(jpg|jpeg|png)$")
_REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})


# ---------------------------------------------------------------------------------------------
# Bodies


def page_html(title: str, paragraphs: int = 3) -> bytes:
    """A small but plausible article page."""
    text = "".join(
        f"<p>Paragraph {i + 1} of the simulated article. "
        "It exists so the page has a body of a realistic shape.</p>\n"
        for i in range(paragraphs)
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body><article><h1>{title}</h1>\n{text}"
        "</article></body></html>\n"
    ).encode()


def _colour(width: int, height: int) -> tuple[int, int, int]:
    return ((width * 37) % 200 + 30, (height * 53) % 200 + 30, ((width + height) * 11) % 200 + 30)


@functools.lru_cache(maxsize=256)
def image_bytes(width: int, height: int, fmt: str) -> bytes:
    """A solid-colour image of exactly width x height, encoded once per (size, format)."""
    image = Image.new("RGB", (width, height), _colour(width, height))
    buffer = io.BytesIO()
    if fmt in ("jpg", "jpeg"):
        image.save(buffer, format="JPEG", quality=60)
    elif fmt == "png":
        image.save(buffer, format="PNG", optimize=False)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buffer.getvalue()


def _scan_start(data: bytes) -> int:
    """Offset of the first byte of entropy-coded data in a JPEG (just after the SOS header)."""
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("not a well-formed JPEG")
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xDA:  # start of scan
            return int(pos + 2 + length)
        pos += 2 + length
    raise ValueError("JPEG without a scan")


@functools.lru_cache(maxsize=64)
def truncated_jpeg(width: int, height: int) -> bytes:
    """The first half of a real JPEG, but never cut before its headers are complete.

    Pillow opens it (the size is readable) and fails to decode it: "image file is truncated".
    """
    data = image_bytes(width, height, "jpg")
    cut = max(len(data) // 2, _scan_start(data) + 1)
    return data[: min(cut, len(data) - 2)]  # always drop the end-of-image marker


_ENDLESS_HEAD: Final = (
    b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
    b"<title>Endless page</title></head>\n<body>\n"
)
_ENDLESS_BODY: Final = (b"<p>" + b"endless " * 126 + b"</p>\n") * (ENDLESS_CHUNK // 1016)


# ---------------------------------------------------------------------------------------------
# The server


class _Outcome:
    """What a handler answered, for the log."""

    __slots__ = ("bytes", "status")

    def __init__(self) -> None:
        self.status = 0
        self.bytes = 0


def loopback_ips(n: int, first: int = 10) -> list[str]:
    """127.0.0.{first} .. 127.0.0.{first+n-1}."""
    if n < 1 or first < 1 or first + n - 1 > 254:
        raise ValueError(f"cannot place {n} hosts from 127.0.0.{first} (last octet 1..254)")
    return [f"127.0.0.{first + i}" for i in range(n)]


def _require_loopback(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"simweb only listens on 127.0.0.0/8, not {ip}")
    return ip


def _listening_socket(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_all(ips: Sequence[str], port: int, attempts: int = 20) -> tuple[int, list[socket.socket]]:
    """Listening sockets on every ip, all on one port.

    With port 0 the kernel picks a free port for the first address; the others reuse it. If
    another process holds that port on one of the other addresses, everything is closed and a
    fresh port is tried (up to `attempts` times).
    """
    for _ in range(attempts if port == 0 else 1):
        socks: list[socket.socket] = []
        try:
            first = _listening_socket(ips[0], port)
            socks.append(first)
            chosen = int(first.getsockname()[1])
            for ip in ips[1:]:
                socks.append(_listening_socket(ip, chosen))
            return chosen, socks
        except OSError as exc:
            for sock in socks:
                sock.close()
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no port free on all of {len(ips)} addresses")


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
    ) -> None:
        ips = loopback_ips(hosts, first) if isinstance(hosts, int) else list(hosts)
        if not ips:
            raise ValueError("SimWeb needs at least one host")
        self.host_ips: list[str] = [_require_loopback(ip) for ip in ips]
        self.port: int = port
        self.latency: float = latency_ms / 1000.0
        self.log_path = log_path
        self.keep_log = keep_log
        self.log: list[RequestRecord] = []
        self.inflight: dict[str, int] = defaultdict(int)
        self.max_inflight: dict[str, int] = defaultdict(int)
        self.attempts: dict[tuple[str, str], int] = defaultdict(int)
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
            for sock in socks:
                await web.SockSite(runner, sock).start()
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
        outcome = _Outcome()
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            if request.method != "GET":
                return self._answer(
                    outcome,
                    web.Response(
                        status=405,
                        body=b"method not allowed\n",
                        content_type="text/plain",
                        headers={"Allow": "GET"},
                    ),
                )
            return await self._dispatch(request, host, outcome)
        finally:
            self.inflight[host] -= 1
            self._record(
                RequestRecord(
                    t=arrival,
                    host=host,
                    method=request.method,
                    path=request.path_qs,
                    status=outcome.status,
                    bytes=outcome.bytes,
                    inflight=inflight,
                    duration=round(time.time() - arrival, 6),
                )
            )

    def _record(self, record: RequestRecord) -> None:
        if self.keep_log:
            self.log.append(record)
        if self._log_file is not None:
            self._log_file.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")

    @staticmethod
    def _answer(outcome: _Outcome, response: web.Response) -> web.Response:
        outcome.status = response.status
        body = response.body
        outcome.bytes = len(body) if isinstance(body, bytes | bytearray) else 0
        return response

    def _page(self, outcome: _Outcome, title: str, status: int = 200) -> web.Response:
        return self._answer(
            outcome, web.Response(status=status, body=page_html(title), content_type="text/html")
        )

    async def _dispatch(
        self, request: web.Request, host: str, outcome: _Outcome
    ) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        if parts and parts[0] == "old":  # filtered cards: same behaviours, recognisable path
            parts = parts[1:]
        head, rest = (parts[0], parts[1:]) if parts else ("", [])
        key = (host, request.path_qs)
        html = "text/html"

        if head in ("ok", "amp", "c") and rest:
            return self._page(outcome, "Simulated article " + "/".join(rest))

        if head == "status" and len(rest) >= 1 and rest[0].isdigit():
            code = int(rest[0])
            if 200 <= code <= 599 and not 300 <= code < 400:
                return self._page(outcome, f"{code} {_reason(code)}", status=code)

        if head == "flaky503" and len(rest) >= 2 and rest[0].isdigit():
            self.attempts[key] += 1
            if self.attempts[key] <= int(rest[0]):
                return self._page(outcome, "503 Service Unavailable", status=503)
            return self._page(outcome, "Recovered article " + "/".join(rest[1:]))

        if head == "ratelimit" and len(rest) >= 2 and rest[0].isdigit():
            self.attempts[key] += 1
            if self.attempts[key] <= int(rest[0]):
                return self._too_many(outcome)
            return self._page(outcome, "Patient article " + "/".join(rest[1:]))

        if head == "ratelimit-forever" and rest:
            return self._too_many(outcome)

        if head == "slow" and len(rest) >= 2:
            seconds = _float(rest[0])
            if seconds is not None and 0 <= seconds <= MAX_SLOW_SECONDS:
                await asyncio.sleep(seconds)
                return self._page(outcome, "Slow article " + "/".join(rest[1:]))

        if head == "reset" and rest:
            await _reset(request)  # never returns normally
            raise AssertionError("unreachable")

        if head == "redirect" and len(rest) >= 2 and rest[0].isdigit():
            code = int(rest[0])
            if code in _REDIRECT_CODES:
                target = f"http://{host}:{self.port}/ok/{'/'.join(rest[1:])}-moved"
                return self._redirect(outcome, code, target)

        if head == "chain" and len(rest) >= 2 and rest[0].isdigit():
            k = int(rest[0])
            tail = "/".join(rest[1:])
            if k == 0:
                return self._page(outcome, "End of chain " + tail)
            return self._redirect(outcome, 302, f"/chain/{k - 1}/{tail}")

        if head == "loop" and len(rest) == 1:
            return self._redirect(outcome, 302, f"/loop/{rest[0]}/b")
        if head == "loop" and len(rest) == 2 and rest[1] == "b":
            return self._redirect(outcome, 302, f"/loop/{rest[0]}")

        if head == "img" and len(rest) == 1 and (size := _SIZE.match(rest[0])):
            width, height, fmt = int(size[1]), int(size[2]), size[3]
            if 1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE:
                return self._image(outcome, image_bytes(width, height, fmt), fmt)

        if head == "truncated" and len(rest) == 1 and (size := _SIZE.match(rest[0])):
            width, height, fmt = int(size[1]), int(size[2]), size[3]
            if fmt != "png" and 1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE:
                return self._image(outcome, truncated_jpeg(width, height), "jpg")

        if head == "html-as-image" and rest:
            body = page_html("This is not an image")
            return self._answer(outcome, web.Response(body=body, content_type="image/jpeg"))

        if head == "logo" and len(rest) == 1 and rest[0].endswith(".png"):
            return self._image(outcome, image_bytes(LOGO_SIZE, LOGO_SIZE, "png"), "png")

        if head == "endless" and rest:
            return await self._endless(request, outcome)

        return self._answer(
            outcome, web.Response(status=404, body=page_html("404 Not Found"), content_type=html)
        )

    def _too_many(self, outcome: _Outcome) -> web.Response:
        return self._answer(
            outcome,
            web.Response(
                status=429,
                body=page_html("429 Too Many Requests"),
                content_type="text/html",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ),
        )

    def _redirect(self, outcome: _Outcome, code: int, location: str) -> web.Response:
        return self._answer(
            outcome,
            web.Response(
                status=code,
                body=f"moved to {location}\n".encode(),
                content_type="text/plain",
                headers={"Location": location},
            ),
        )

    def _image(self, outcome: _Outcome, body: bytes, fmt: str) -> web.Response:
        content_type = "image/png" if fmt == "png" else "image/jpeg"
        return self._answer(outcome, web.Response(body=body, content_type=content_type))

    async def _endless(self, request: web.Request, outcome: _Outcome) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = "text/html"
        response.enable_chunked_encoding()
        await response.prepare(request)
        outcome.status = 200
        try:
            await response.write(_ENDLESS_HEAD)
            outcome.bytes += len(_ENDLESS_HEAD)
            while True:
                await response.write(_ENDLESS_BODY)
                outcome.bytes += len(_ENDLESS_BODY)
                await asyncio.sleep(0)  # a fast reader never makes write() wait: let others run
        except ConnectionError:
            pass  # the client went away; aiohttp's write_eof fails quietly after this
        return response


def _reason(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Status"


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


async def _reset(request: web.Request) -> None:
    """Close the connection with a TCP RST, answering nothing; wait to be cancelled."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # connection_lost cancels this handler (handler_cancellation=True)
    await asyncio.sleep(3600)


# ---------------------------------------------------------------------------------------------
# CLI


async def _serve(args: argparse.Namespace) -> None:
    web_ = SimWeb(
        args.hosts,
        first=args.first,
        port=args.port,
        latency_ms=args.latency_ms,
        log_path=args.log,
        keep_log=False,
    )
    await web_.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready = {
        "event": "ready",
        "port": web_.port,
        "hosts": web_.host_ips,
        "latency_ms": args.latency_ms,
        "log": str(args.log) if args.log else None,
    }
    print(json.dumps(ready), flush=True)
    try:
        await stop.wait()
    finally:
        await web_.stop()
        summary = {
            "event": "stopped",
            "requests": web_.requests,
            "max_inflight": dict(web_.max_inflight),
        }
        print(json.dumps(summary), file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.simweb",
        description="Serve a simulated web on many loopback addresses, one port.",
    )
    parser.add_argument("--hosts", type=int, default=40, help="number of hosts (addresses)")
    parser.add_argument("--first", type=int, default=10, help="last octet of the first address")
    parser.add_argument("--port", type=int, default=8800, help="port for every host; 0 = free")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="delay before answers")
    parser.add_argument("--log", type=Path, default=None, help="JSON-lines request log")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except (OSError, ValueError) as exc:
        print(f"simweb: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
