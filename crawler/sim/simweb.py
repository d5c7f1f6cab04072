"""A simulated web: one aiohttp server, one event loop, many loopback "hosts" on one port.

Each address 127.0.0.{first}..127.0.0.{first+n-1} is one host. What a URL does is encoded in
its path, so the server keeps no state but per-URL attempt counters (for the flaky and
rate-limited paths). Every answer first waits `latency_ms`; HEAD (and anything but GET) gets a
405, because HEAD lies on the real web and the crawler must not rely on it.

URL scheme (`<id>` is any text, it only makes URLs unique; `/old/<anything below>` behaves like
`<anything below>` and exists so a test can assert that filtered cards cost no request). Every
article page's <title> (and <h1>) is the headline of the card with that id,
`crawler.sim.gencards.card_title(<id>)`: the server keeps no state, the generator derives each
card's title from its id the same way.

    /ok/<id>, /amp/<id>, /c/<...>     200 HTML article page; /c/ (AMP cache paths, /c/s/<host>/...)
                                      takes the id from the last segment
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

Rot behind a 200, and its healthy look-alikes. A "probe" is a last segment of exactly 25
lowercase letters (crawler.judge.softrot.probe_url); no card id has that shape.

    /                                 200 the site's home page, titled "Example News"
    /news/                            200 a section page, "News | Example News"
    /soft404/<anything>               200 one generic template, titled "Example News", saying
                                      "Sorry, we couldn't find that page" in an <h2>: the same
                                      bytes for any path, probes included (only a probe shows it)
    /soft404title/<anything>          200 the same template titled "Page not found | Example News"
    /gonehome/<anything>              301 -> / (the home page)
    /metahome/<anything>              200 with <meta http-equiv="refresh" content="0; url=/">
    /news/gonesection/<anything>      302 -> /news/
    /drift/<id>                       200 an article titled with another story's headline
                                      (gencards.drift_title(<id>) + " | Example News"); probe: 404
    /amp-retired/<id>                 301 -> /ok/<id> (the card's canonical webUrl)
    /real404site/<id>                 200 the card's article; probe: 404 "Page not found"
    /spa/<anything>                   200 one app shell (empty <div id="root">, a script) for
                                      any path, titled with the card's headline (a probe gets the
                                      app's generic title, "Example News")
    /suffixed/<id>                    200 titled "<card's headline> | Example News"
    /moved-deep/<id>                  301 -> /articles/2020/<id>-new-slug
    /articles/<...>/<id>-new-slug     200 the card's article; probe: 404
    /wayback/available?url=U&timestamp=YYYYMMDDhhmmss
                                      the Wayback availability API: a 200 snapshot
                                      http://<this host>/web/<ts>/<U> for most URLs,
                                      {"archived_snapshots": {}} for ARCHIVE_MISS_PERCENT % of them
                                      (by a hash of U: archive_has_snapshot)
    /web/<ts>/<url>                   200 the archived copy (the card's article)
    anything else                     404

Redirects and refreshes keep the /old/ prefix of the URL they answer.

Faults for a soak (off by default; the same on every path, drawn per request from a seeded
generator, so a run is reproducible for one request order):

    reset_percent=5      that share of GET requests get a TCP reset instead of their answer
    latin1_percent=2     that share of answers are sent as raw bytes with Latin-1 in the head: a
                         404's reason phrase is "Non trouvé", every one has ETag: "été-<n>"
                         (aiohttp's writer only sends UTF-8), then the connection is closed
    silent_hosts=[ip]    these hosts accept connections, read the requests (logged, status 0)
                         and never send a byte, until the client gives up

TLS (for real-form AMP cache URLs, `https://127-0-0-X.cdn.ampproject.org/c/...`): with a
`TlsSite`, one more listener on (ip, port), usually 443, answers the same paths over HTTPS for
any Host header. `make_certificates` writes a throwaway CA and a certificate for
*.cdn.ampproject.org; the client must trust the CA (e.g. SSL_CERT_FILE) and pin the names to the
TLS address (linkcheck `--resolve NAME:IP`), so no name is ever looked up.

Library:

    async with SimWeb(hosts=3, first=20, port=0, latency_ms=20, log_path=None) as web:
        web.port, web.host_ips, web.base_url(0), web.log, web.max_inflight

    files = make_certificates(tmp, ["cdn.ampproject.org", "*.cdn.ampproject.org"])
    async with SimWeb(hosts=3, first=20, tls=TlsSite("127.0.0.23", 443, files.cert, files.key)):
        ...

CLI (runs until SIGINT/SIGTERM, prints one JSON "ready" line with the port on stdout):

    python -m crawler.sim.simweb --hosts 40 --first 10 --port 8800 --latency-ms 20 \
        --log out/requests.jsonl [--tls-ip 127.0.0.50 --tls-port 443 --tls-cert C --tls-key K] \
        [--reset-percent 5 --latin1-percent 2 --silent-hosts 2 --seed 1]

`--silent-hosts N` makes the last N hosts of the range silent; the ready line lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import hashlib
import html
import io
import ipaddress
import json
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Final
from urllib.parse import urlsplit

from aiohttp import web
from PIL import Image

from crawler.sim.gencards import card_title, drift_title
from crawler.sim.wire import RequestRecord, message

RETRY_AFTER_SECONDS: Final = 1
MAX_SLOW_SECONDS: Final = 600.0
MAX_IMAGE_SIDE: Final = 4096
ENDLESS_CHUNK: Final = 64 * 1024
LOGO_SIZE: Final = 50

AMP_CACHE_NAMES: Final = ("cdn.ampproject.org", "*.cdn.ampproject.org")  # for make_certificates
SITE_NAME: Final = "Example News"  # the site name in the rot templates' titles
ARCHIVE_MISS_PERCENT: Final = 15  # share of URLs the fake Wayback API has no snapshot of
LATIN1_REASONS: Final = {404: "Non trouvé"}  # a French server's reason phrases, in Latin-1

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})\.(jpg|jpeg|png)$")
_REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})
_PROBE = re.compile(r"^[a-z]{25}$")  # crawler.judge.softrot.probe_url's last segment
_STORY_SUFFIXES: Final = ("-moved", "-new-slug")  # redirect targets that keep the card's story
_WAYBACK_TIMESTAMP = re.compile(r"^\d{14}$")


# ---------------------------------------------------------------------------------------------
# Bodies


def page_html(title: str, paragraphs: int = 3, heading: str | None = None) -> bytes:
    """A small but plausible article page (`heading`, the <h1>, defaults to the title)."""
    text = "".join(
        f"<p>Paragraph {i + 1} of the simulated article. "
        "It exists so the page has a body of a realistic shape.</p>\n"
        for i in range(paragraphs)
    )
    h1 = title if heading is None else heading
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body><article><h1>{h1}</h1>\n{text}"
        "</article></body></html>\n"
    ).encode()


def is_probe(segment: str) -> bool:
    """Is this last path segment a soft-404 probe's (25 random lowercase letters)?"""
    return bool(_PROBE.match(segment))


def story_title(key: str) -> str:
    """The headline served for an article id (a redirect target's suffix removed)."""
    for suffix in _STORY_SUFFIXES:
        key = key.removesuffix(suffix)
    return card_title(key)


def site_page(title: str, main: str, head_extra: str = "") -> bytes:
    """A page of the "Example News" site template: header, navigation, main, footer."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{head_extra}</head>\n<body>\n"
        f'<header><a href="/" class="logo">{SITE_NAME}</a>\n<nav><a href="/news/">News</a> '
        '<a href="/business/">Business</a> <a href="/sport/">Sport</a> '
        '<a href="/weather/">Weather</a></nav>\n'
        '<form action="/search"><input name="q" placeholder="Search"></form></header>\n'
        f"<main>\n{main}\n</main>\n"
        f"<footer>Contact us. Privacy policy. Terms of use. Copyright {SITE_NAME}.</footer>\n"
        "</body></html>\n"
    ).encode()


_SORRY: Final = (
    "<p>It may have been moved or deleted, or the address may be mistyped. Try the search box "
    'above, or start again from our <a href="/">home page</a>.</p>\n'
    "<h3>Most read</h3><ul><li>Weather warning for the weekend</li>"
    "<li>Markets close higher</li><li>Local team wins the cup</li></ul>"
)
SOFT_404_PAGE: Final = site_page(
    SITE_NAME, "<h2>Sorry, we couldn't find that page</h2>\n" + _SORRY
)  # no <h1>, and a site-name title: nothing in it says "not found" where a checker looks
SOFT_404_TITLED_PAGE: Final = site_page(
    f"Page not found | {SITE_NAME}", "<h1>Page not found</h1>\n" + _SORRY
)
REAL_404_PAGE: Final = SOFT_404_TITLED_PAGE  # what real404site and the article sites send, as 404
HOME_PAGE: Final = site_page(
    SITE_NAME,
    f"<h1>{SITE_NAME}</h1>\n<h2>Top stories</h2>\n<ul><li>Weather warning for the weekend</li>"
    "<li>Markets close higher</li><li>Local team wins the cup</li></ul>",
)
SECTION_PAGE: Final = site_page(
    f"News | {SITE_NAME}",
    "<h1>News</h1>\n<ul><li>Council approves the budget</li><li>Trains run late again</li>"
    "<li>New bridge opens in May</li></ul>",
)


def meta_home_page(target: str) -> bytes:
    """A 200 that sends the browser home with a meta refresh."""
    refresh = f'<meta http-equiv="refresh" content="0; url={html.escape(target)}">'
    return site_page(
        SITE_NAME,
        f'<p>Redirecting you to our <a href="{html.escape(target)}">home page</a>.</p>',
        refresh,
    )


def spa_shell(title: str) -> bytes:
    """A one-page app's shell: the same body for every route, rendered in the browser."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<script src="/spa/static/app.js" defer></script></head>\n'
        '<body><div id="root"></div>'
        "<noscript>You need to enable JavaScript to run this app.</noscript></body></html>\n"
    ).encode()


# ---------------------------------------------------------------------------------------------
# The fake Wayback availability API


def _url_hash(url: str) -> bytes:
    return hashlib.sha256(f"archive:{url}".encode()).digest()


def archive_has_snapshot(url: str) -> bool:
    """Does the fake archive have a snapshot of `url`? (100 - ARCHIVE_MISS_PERCENT) % do."""
    return int.from_bytes(_url_hash(url)[:2], "big") % 100 >= ARCHIVE_MISS_PERCENT


def archive_timestamp(url: str, requested: str | None) -> str:
    """The closest snapshot's YYYYMMDDhhmmss: within two days of the requested one (or in 2021)."""
    d = _url_hash(url)
    base = datetime(2021, 1, 1, tzinfo=UTC)
    if requested and _WAYBACK_TIMESTAMP.match(requested):
        with contextlib.suppress(ValueError):  # 14 digits that are no date: keep 2021
            base = datetime.strptime(requested, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    moment = base + timedelta(hours=d[2] % 96 - 48, minutes=d[3] % 60, seconds=d[4] % 60)
    return moment.strftime("%Y%m%d%H%M%S")


def wayback_answer(url: str | None, requested: str | None, origin: str) -> dict[str, object]:
    """The availability API's JSON for `url`; snapshots live at `origin`/web/<ts>/<url>."""
    answer: dict[str, object] = {"url": url or "", "archived_snapshots": {}}
    if url and archive_has_snapshot(url):
        ts = archive_timestamp(url, requested)
        answer["archived_snapshots"] = {
            "closest": {
                "status": "200",
                "available": True,
                "url": f"{origin}/web/{ts}/{url}",
                "timestamp": ts,
            }
        }
    if requested:
        answer["timestamp"] = requested
    return answer


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


def _endless_head(title: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body>\n"
    ).encode()


_ENDLESS_BODY: Final = (b"<p>" + b"endless " * 126 + b"</p>\n") * (ENDLESS_CHUNK // 1016)


# ---------------------------------------------------------------------------------------------
# TLS


@dataclass(frozen=True, slots=True)
class TlsSite:
    """One HTTPS listener: the same answers as the plain ones, for any Host header."""

    ip: str
    port: int  # 443 for real-form URLs (they carry no port); 0 picks a free one
    cert: Path  # PEM certificate chain
    key: Path  # PEM private key


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path  # the throwaway CA's certificate: what a client must trust
    cert: Path  # the server certificate, signed by the CA
    key: Path  # its private key


def make_certificates(directory: Path, names: Sequence[str], days: int = 7) -> TlsFiles:
    """A throwaway CA and a server certificate for `names` (DNS names, `*.` wildcards allowed),
    written with the openssl command line into `directory`. Raises RuntimeError without it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed: cannot make TLS certificates")
    if not names:
        raise ValueError("a certificate needs at least one name")
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca_key, csr, ext = directory / "ca.key", directory / "server.csr", directory / "server.ext"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
        f"subjectAltName={','.join(f'DNS:{n}' for n in names)}\n",
        encoding="utf-8",
    )
    commands = [
        [openssl, "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(files.ca),
         "-days", str(days), "-subj", "/CN=simweb throwaway CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-addext", "subjectKeyIdentifier=hash"],
        [openssl, "req", *ec, "-keyout", str(files.key), "-out", str(csr),
         "-subj", f"/CN={names[0].removeprefix('*.')}"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(files.ca), "-CAkey", str(ca_key),
         "-set_serial", str(int.from_bytes(hashlib.sha256(str(directory).encode()).digest()[:8])),
         "-days", str(days), "-out", str(files.cert), "-extfile", str(ext)],
    ]  # fmt: skip
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:3])} failed: {done.stderr.strip()[-500:]}")
    return files


def server_ssl_context(site: TlsSite) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(site.cert, site.key)
    return context


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
        tls: TlsSite | None = None,
        reset_percent: float = 0.0,
        latin1_percent: float = 0.0,
        silent_hosts: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        ips = loopback_ips(hosts, first) if isinstance(hosts, int) else list(hosts)
        if not ips:
            raise ValueError("SimWeb needs at least one host")
        self.host_ips: list[str] = [_require_loopback(ip) for ip in ips]
        if not set(silent_hosts) <= set(self.host_ips):
            raise ValueError("silent hosts must be among the hosts")
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
                tls_sock = _listening_socket(self.tls.ip, self.tls.port)
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
            if self._draw(self.reset_percent):
                self.faults["reset"] += 1
                await _reset(request)  # never returns normally
            response = await self._dispatch(request, host, outcome)
            if isinstance(response, web.Response) and self._draw(self.latin1_percent):
                self.faults["latin1"] += 1
                await _send_latin1(request, response)  # never returns normally
            return response
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
        prefix = ""
        if parts and parts[0] == "old":  # filtered cards: same behaviours, recognisable path
            parts, prefix = parts[1:], "/old"
        head, rest = (parts[0], parts[1:]) if parts else ("", [])
        key = (host, request.path_qs)

        if head in ("ok", "amp") and rest:
            return self._page(outcome, story_title("/".join(rest)))
        if head == "c" and rest:  # AMP cache paths: /c/s/<origin host>/<path of the AMP page>
            return self._page(outcome, story_title(rest[-1]))

        if head == "status" and len(rest) >= 1 and rest[0].isdigit():
            code = int(rest[0])
            if 200 <= code <= 599 and not 300 <= code < 400:
                return self._page(outcome, f"{code} {_reason(code)}", status=code)

        if head == "flaky503" and len(rest) >= 2 and rest[0].isdigit():
            self.attempts[key] += 1
            if self.attempts[key] <= int(rest[0]):
                return self._page(outcome, "503 Service Unavailable", status=503)
            return self._page(outcome, story_title("/".join(rest[1:])))

        if head == "ratelimit" and len(rest) >= 2 and rest[0].isdigit():
            self.attempts[key] += 1
            if self.attempts[key] <= int(rest[0]):
                return self._too_many(outcome)
            return self._page(outcome, story_title("/".join(rest[1:])))

        if head == "ratelimit-forever" and rest:
            return self._too_many(outcome)

        if head == "slow" and len(rest) >= 2:
            seconds = _float(rest[0])
            if seconds is not None and 0 <= seconds <= MAX_SLOW_SECONDS:
                await asyncio.sleep(seconds)
                return self._page(outcome, story_title("/".join(rest[1:])))

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
                return self._page(outcome, story_title(tail))
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
            return await self._endless(request, outcome, story_title("/".join(rest)))

        rot = self._rot(request, host, outcome, head, rest, prefix)
        if rot is not None:
            return rot

        return self._answer(
            outcome,
            web.Response(status=404, body=page_html("404 Not Found"), content_type="text/html"),
        )

    def _rot(
        self,
        request: web.Request,
        host: str,
        outcome: _Outcome,
        head: str,
        rest: list[str],
        prefix: str,
    ) -> web.Response | None:
        """Soft rot and its look-alikes, the archive; None when the path is none of them."""
        last = rest[-1] if rest else ""
        if head == "" and not rest:
            return self._html(outcome, HOME_PAGE)
        if head == "news" and not rest:
            return self._html(outcome, SECTION_PAGE)
        if head == "news" and len(rest) >= 2 and rest[0] == "gonesection":
            return self._redirect(outcome, 302, f"{prefix}/news/")
        if head == "soft404" and rest:
            return self._html(outcome, SOFT_404_PAGE)
        if head == "soft404title" and rest:
            return self._html(outcome, SOFT_404_TITLED_PAGE)
        if head == "gonehome" and rest:
            return self._redirect(outcome, 301, f"{prefix}/")
        if head == "metahome" and rest:
            return self._html(outcome, meta_home_page(f"{prefix}/"))
        if head == "spa" and rest:
            title = SITE_NAME if is_probe(last) else story_title("/".join(rest))
            return self._html(outcome, spa_shell(title))
        if head == "amp-retired" and len(rest) == 1:
            return self._redirect(outcome, 301, f"{prefix}/ok/{last}")
        if head == "moved-deep" and len(rest) == 1:
            return self._redirect(outcome, 301, f"{prefix}/articles/2020/{last}-new-slug")
        if head in ("drift", "real404site", "suffixed", "articles") and rest and is_probe(last):
            return self._html(outcome, REAL_404_PAGE, status=404)
        if head == "drift" and len(rest) == 1:
            other = drift_title(last)
            return self._html(outcome, page_html(f"{other} | {SITE_NAME}", heading=other))
        if head in ("real404site", "articles") and rest:
            return self._page(outcome, story_title(last))
        if head == "suffixed" and len(rest) == 1:
            title = story_title(last)
            return self._html(outcome, page_html(f"{title} | {SITE_NAME}", heading=title))
        if head == "wayback" and rest == ["available"]:
            origin = f"http://{request.host or f'{host}:{self.port}'}"
            answer = wayback_answer(
                request.query.get("url"), request.query.get("timestamp"), origin
            )
            return self._answer(outcome, web.json_response(answer))
        if head == "web" and len(rest) >= 2 and _WAYBACK_TIMESTAMP.match(rest[0]):
            archived = request.path.split("/", 3 + bool(prefix))[-1]  # /[old/]web/<ts>/<url>
            segments = [s for s in urlsplit(archived).path.split("/") if s]
            title = story_title(segments[-1]) if segments else SITE_NAME
            return self._page(outcome, title)
        return None

    def _html(self, outcome: _Outcome, body: bytes, status: int = 200) -> web.Response:
        return self._answer(
            outcome, web.Response(status=status, body=body, content_type="text/html")
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

    async def _endless(
        self, request: web.Request, outcome: _Outcome, title: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = "text/html"
        response.enable_chunked_encoding()
        await response.prepare(request)
        outcome.status = 200
        head = _endless_head(title)
        try:
            await response.write(head)
            outcome.bytes += len(head)
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


def latin1_head_bytes(response: web.Response, etag: int) -> bytes:
    """The whole answer as raw bytes, with a Latin-1 reason phrase (for a 404) and ETag."""
    body = response.body if isinstance(response.body, bytes) else b""
    reason = LATIN1_REASONS.get(response.status, response.reason)
    headers = [f"{name}: {value}".encode("latin-1") for name, value in response.headers.items()]
    headers += [
        b'ETag: "\xe9t\xe9-%d"' % etag,
        b"Content-Length: %d" % len(body),
        b"Connection: close",
    ]
    return message(f"HTTP/1.1 {response.status} {reason}".encode("latin-1"), headers, body)


async def _send_latin1(request: web.Request, response: web.Response) -> None:
    """Send `response` as raw bytes with Latin-1 in its head, close, wait to be cancelled."""
    transport = request.transport
    if transport is not None:
        transport.write(latin1_head_bytes(response, len(request.path)))
        transport.close()  # after the buffered answer is sent
    # connection_lost cancels this handler (handler_cancellation=True)
    await asyncio.sleep(3600)


# ---------------------------------------------------------------------------------------------
# CLI


async def _serve(args: argparse.Namespace) -> None:
    tls = None
    if args.tls_ip is not None:
        tls = TlsSite(args.tls_ip, args.tls_port, args.tls_cert, args.tls_key)
    web_ = SimWeb(
        args.hosts,
        first=args.first,
        port=args.port,
        latency_ms=args.latency_ms,
        log_path=args.log,
        keep_log=False,
        tls=tls,
        reset_percent=args.reset_percent,
        latin1_percent=args.latin1_percent,
        silent_hosts=loopback_ips(args.hosts, args.first)[args.hosts - args.silent_hosts :]
        if args.silent_hosts
        else (),
        seed=args.seed,
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
        "tls": {"ip": tls.ip, "port": web_.tls_port} if tls is not None else None,
        "silent": sorted(web_.silent_hosts),
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
            "faults": dict(web_.faults),
        }
        print(json.dumps(summary), file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.sim.simweb",
        description="Serve a simulated web on many loopback addresses, one port.",
    )
    parser.add_argument("--hosts", type=int, default=40, help="number of hosts (addresses)")
    parser.add_argument("--first", type=int, default=10, help="last octet of the first address")
    parser.add_argument("--port", type=int, default=8800, help="port for every host; 0 = free")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="delay before answers")
    parser.add_argument("--log", type=Path, default=None, help="JSON-lines request log")
    parser.add_argument("--tls-ip", default=None, help="also serve HTTPS on this address")
    parser.add_argument("--tls-port", type=int, default=443, help="port of the HTTPS listener")
    parser.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate chain")
    parser.add_argument("--tls-key", type=Path, default=None, help="PEM private key")
    parser.add_argument(
        "--reset-percent", type=float, default=0.0, help="share of GETs answered by a reset"
    )
    parser.add_argument(
        "--latin1-percent", type=float, default=0.0, help="share of answers with Latin-1 heads"
    )
    parser.add_argument(
        "--silent-hosts", type=int, default=0, help="the last N hosts accept and never answer"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    args = parser.parse_args(argv)
    if not 0 <= args.silent_hosts <= args.hosts:
        parser.error("--silent-hosts must be between 0 and --hosts")
    if args.tls_ip is not None and (args.tls_cert is None or args.tls_key is None):
        parser.error("--tls-ip needs --tls-cert and --tls-key")
    try:
        asyncio.run(_serve(args))
    except (OSError, ValueError, ssl.SSLError) as exc:
        print(f"simweb: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
