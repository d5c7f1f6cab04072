"""A simulated web: one aiohttp server, one event loop, many loopback "hosts" on one port.

Each address 127.0.0.{first}..127.0.0.{first+n-1} is one host. What a URL does is encoded in
its path, so the server keeps no state but per-URL attempt counters (for the flaky and
rate-limited paths) and the throttling hosts' windows. Every answer first waits `latency_ms`;
HEAD (and anything but GET) gets a 405, because HEAD lies on the real web and the crawler must
not rely on it.

URL scheme (`<id>` is any text, it only makes URLs unique; `/old/<anything below>` behaves like
`<anything below>` and exists so a test can assert that filtered cards cost no request). Every
article page's <title> (and <h1>) is the headline of the card with that id,
`crawler.sim.headlines.card_title(<id>)`: the server keeps no state, the generator derives each
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
    /throttle/<rate>/<id>             200 while this host's /throttle/<rate>/ URLs come no faster
                                      than <rate> per second, else 429 + Retry-After: 1
    /throttle-bare/<rate>/<id>        the same, its 429 without Retry-After
    /needs-cookie/<name=value>/<id>   200 only when a Cookie header holds name=value, else 403
    /needs-auth/<token>/<id>          200 only with Authorization: Bearer <token>, else 403
                                      (crawler.sim.throttling; the request log names the
                                      credential headers each request carried, not their values)
    /logo/<name>.png                  50x50 PNG (shared by many cards)

Rot behind a 200, and its healthy look-alikes. A "probe" is a last segment of exactly 25
lowercase letters (crawler.judge.soft404.probe_url); no card id has that shape.

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
                                      (drift_title(<id>) + " | Example News"); probe: 404
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

Bot walls, and their healthy look-alikes (crawler.sim.botwalls; <vendor> is cloudflare,
cloudflare-legacy, cloudflare-block, vercel, awswaf, akamai, datadome, perimeterx, imperva,
linkedin for walls; cloudflare, akamai, imperva, datadome, perimeterx, vercel for look-alikes):

    /botwall/<vendor>/<status>/<id>   the vendor's challenge or denial page and headers, as
                                      <status>: 403, 429, 503, 202, 405 or 999
    /cdnpage/<vendor>/<id>            200 the card's article with the vendor's headers and the
                                      script its real pages carry

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

robots.txt: every host answers /robots.txt with a 404 (no rules), unless SimWeb's `robots` maps
its address to a `RobotsFile` (crawler.sim.robots_sites): rules (Allow, Disallow, wildcards,
groups for "linkcheck" and "*"), a Crawl-delay, a 4xx or 5xx, redirects (on the host, and to
another host's file), or an oversized file with rules beyond 500 KiB. For example:

    SimWeb(hosts=3, robots={"127.0.0.21": RobotsFile("User-agent: *\nDisallow: /status/")})

TLS (for real-form AMP cache URLs, `https://127-0-0-X.cdn.ampproject.org/c/...`): with a
`TlsSite`, one more listener on (ip, port), usually 443, answers the same paths over HTTPS for
any Host header. `make_certificates` writes a throwaway CA and a certificate for
*.cdn.ampproject.org; the client must trust the CA (e.g. SSL_CERT_FILE) and pin the names to the
TLS address (linkcheck `--resolve NAME:IP`), so no name is ever looked up.

Library (crawler.sim.server, crawler.sim.tls; the routes are crawler.sim.routes,
crawler.sim.rot_routes and crawler.sim.throttling):

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
import json
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

from crawler.sim.loopback import loopback_ips
from crawler.sim.server import SimWeb
from crawler.sim.tls import TlsSite


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
