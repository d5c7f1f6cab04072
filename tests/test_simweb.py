"""The benchmark's foundation: the simulated web, the card generator and the politeness analysis."""

from __future__ import annotations

import asyncio
import html
import io
import json
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import frontmatter
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image, UnidentifiedImageError
from yarl import URL

from crawler.judge.drift import DRIFT_THRESHOLD, content_drift, title_similarity
from crawler.judge.html import first_h1, meta_refresh_target, page_title, visible_text_tokens
from crawler.judge.soft404 import not_found_title
from crawler.model import Kind, Severity
from crawler.web.archive import ArchiveClient

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not part of the installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import politeness  # noqa: E402
from benchmarks.politeness import analyse, max_in_window, read_log  # noqa: E402
from crawler.sim.amp_cache import AMP_CACHE_NAMES  # noqa: E402
from crawler.sim.archive import archive_has_snapshot, wayback_answer  # noqa: E402
from crawler.sim.behaviours import (  # noqa: E402
    AMP_CACHE_BEHAVIOURS,
    BEHAVIOURS,
    LOOKALIKE_BEHAVIOURS,
    OLD,
    ROT_BEHAVIOURS,
    default_mix,
    parse_mix,
    rot_mix,
)
from crawler.sim.gencards import generate  # noqa: E402
from crawler.sim.headlines import card_title, drift_title  # noqa: E402
from crawler.sim.images import image_bytes, truncated_jpeg  # noqa: E402
from crawler.sim.pages import SITE_NAME  # noqa: E402
from crawler.sim.server import SimWeb  # noqa: E402
from crawler.sim.tls import TlsSite, make_certificates  # noqa: E402
from crawler.sim.truth import GroundTruth  # noqa: E402
from crawler.sim.wire import RequestRecord  # noqa: E402

IPS = ["127.0.0.20", "127.0.0.21", "127.0.0.22"]


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[SimWeb]:
    async with SimWeb(IPS, port=0, latency_ms=2, log_path=tmp_path / "requests.jsonl") as sim:
        yield sim


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client:
        yield client


async def get(
    session: aiohttp.ClientSession, url: str, *, follow: bool = False
) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url, allow_redirects=follow) as response:
        return response.status, dict(response.headers), await response.read()


# ---------------------------------------------------------------------------------------------
# The server


async def test_every_host_answers_on_one_port(web: SimWeb, session: aiohttp.ClientSession) -> None:
    assert web.host_ips == IPS
    assert web.port > 0
    for i, ip in enumerate(IPS):
        assert web.base_url(i) == f"http://{ip}:{web.port}"
        status, headers, body = await get(session, web.url(i, f"/ok/page-{i}"))
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
        assert f"<title>{card_title(f'page-{i}')}</title>".encode() in body
    assert [r.host for r in web.log] == IPS  # the local address each request arrived on


async def test_statuses_and_head(web: SimWeb, session: aiohttp.ClientSession) -> None:
    for code in (404, 410, 500):
        status, _, body = await get(session, web.url(0, f"/status/{code}/x"))
        assert status == code
        assert b"<title>" in body
    for path in ("/amp/x", "/c/s/127.0.0.20/amp/x", "/old/ok/x", "/old/img/10x10.png?id=o"):
        assert (await get(session, web.url(1, path)))[0] == 200
    assert (await get(session, web.url(1, "/no/such/behaviour")))[0] == 404
    async with session.head(web.url(0, "/ok/x")) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "GET"
    async with session.post(web.url(0, "/ok/x")) as response:
        assert response.status == 405


async def test_flaky_and_rate_limited(web: SimWeb, session: aiohttp.ClientSession) -> None:
    url = web.url(0, "/flaky503/2/f")
    assert [(await get(session, url))[0] for _ in range(3)] == [503, 503, 200]
    # the counter is per URL: the same path on another host starts afresh
    assert (await get(session, web.url(1, "/flaky503/2/f")))[0] == 503

    url = web.url(0, "/ratelimit/1/r")
    status, headers, _ = await get(session, url)
    assert (status, headers["Retry-After"]) == (429, "1")
    assert (await get(session, url))[0] == 200

    forever = [await get(session, web.url(2, "/ratelimit-forever/r")) for _ in range(3)]
    assert {(s, h["Retry-After"]) for s, h, _ in forever} == {(429, "1")}

    web.reset_counters()
    assert (await get(session, web.url(0, "/flaky503/2/f")))[0] == 503


async def test_redirects(web: SimWeb, session: aiohttp.ClientSession) -> None:
    status, headers, _ = await get(session, web.url(1, "/redirect/301/m"))
    assert status == 301
    assert headers["Location"] == f"http://127.0.0.21:{web.port}/ok/m-moved"
    assert (await get(session, web.url(1, "/redirect/308/m")))[0] == 308

    async with session.get(web.url(0, "/chain/3/c")) as response:
        assert response.status == 200
        assert [h.status for h in response.history] == [302, 302, 302]
        assert response.url.path == "/chain/0/c"

    status, headers, _ = await get(session, web.url(0, "/loop/l"))
    assert (status, headers["Location"]) == (302, "/loop/l/b")
    status, headers, _ = await get(session, web.url(0, "/loop/l/b"))
    assert (status, headers["Location"]) == (302, "/loop/l")
    with pytest.raises(aiohttp.TooManyRedirects):
        async with session.get(web.url(0, "/loop/l"), max_redirects=5):
            pass


async def logged(web: SimWeb, prefix: str) -> None:
    """Wait until the server has logged a request to `prefix` (it logs when the handler ends)."""
    async with asyncio.timeout(30):  # a hang guard, not a measure of speed
        while not web.requests_matching(prefix):
            await asyncio.sleep(0.01)


async def test_slow_and_reset(web: SimWeb, session: aiohttp.ClientSession) -> None:
    started = time.perf_counter()
    assert (await get(session, web.url(0, "/slow/0.2/s")))[0] == 200
    assert time.perf_counter() - started >= 0.2
    with pytest.raises(TimeoutError):
        async with session.get(web.url(0, "/slow/3/s"), timeout=aiohttp.ClientTimeout(total=0.1)):
            pass

    # raw socket: exactly one request, answered by a TCP reset and not one byte
    reader, writer = await asyncio.open_connection(IPS[1], web.port)
    writer.write(f"GET /reset/raw HTTP/1.1\r\nHost: {IPS[1]}\r\n\r\n".encode())
    await writer.drain()
    with pytest.raises(ConnectionResetError):
        assert await reader.read() == b""  # (an orderly close would end here, and fail)
    writer.close()
    await logged(web, "/reset/raw")
    assert [(r.status, r.bytes) for r in web.requests_matching("/reset/raw")] == [(0, 0)]

    # aiohttp sees a connection error; note that it silently re-sends an idempotent request
    # once after ClientOSError/ServerDisconnectedError, so the server may see the GET twice
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(session, web.url(1, "/reset/x"))
    await logged(web, "/reset/x")
    resets = web.requests_matching("/reset/x")
    assert len(resets) in (1, 2)
    assert {(r.status, r.bytes) for r in resets} == {(0, 0)}
    assert (await get(session, web.url(1, "/ok/after-reset")))[0] == 200  # still serving


async def test_images(web: SimWeb, session: aiohttp.ClientSession) -> None:
    for path, size, fmt in (
        ("/img/600x350.jpg?id=a", (600, 350), "JPEG"),
        ("/img/800x450.png?id=b", (800, 450), "PNG"),
        ("/logo/simtimes.png", (50, 50), "PNG"),
    ):
        status, headers, body = await get(session, web.url(2, path))
        assert status == 200
        assert headers["Content-Type"] == f"image/{fmt.lower()}"
        with Image.open(io.BytesIO(body)) as image:
            image.load()
            assert (image.size, image.format) == (size, fmt)
        assert len(body) < 10_000  # solid colour: small files

    status, headers, body = await get(session, web.url(2, "/html-as-image/x.jpg"))
    assert (status, headers["Content-Type"]) == (200, "image/jpeg")
    assert body.startswith(b"<!doctype html>")
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(body))

    status, _, body = await get(session, web.url(2, "/truncated/600x350.jpg?id=t"))
    assert status == 200
    assert len(body) < len(image_bytes(600, 350, "jpg"))
    with Image.open(io.BytesIO(body)) as image:  # the header is intact ...
        assert image.size == (600, 350)
        with pytest.raises(OSError, match="truncated"):  # ... the scan is not
            image.load()


@pytest.mark.parametrize(("width", "height"), [(600, 350), (1200, 630), (400, 300), (8, 8)])
def test_truncated_jpeg_always_opens_and_never_decodes(width: int, height: int) -> None:
    with Image.open(io.BytesIO(truncated_jpeg(width, height))) as image:
        assert image.size == (width, height)
        with pytest.raises(OSError):
            image.load()


async def test_endless_page(web: SimWeb, session: aiohttp.ClientSession) -> None:
    read = 0
    async with session.get(web.url(0, "/endless/e")) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        first = await response.content.read(200)
        assert f"<title>{card_title('e')}</title>".encode() in first
        read = len(first)
        while read < 3_000_000:
            read += len(await response.content.read(1 << 16))
    await logged(web, "/endless/")  # the handler notices the client went away and stops
    (record,) = web.requests_matching("/endless/")
    assert record.status == 200
    assert record.bytes >= 3_000_000
    assert (await get(session, web.url(0, "/ok/still-alive")))[0] == 200


async def test_log_and_concurrency(tmp_path: Path) -> None:
    log_path = tmp_path / "log" / "requests.jsonl"
    async with SimWeb(IPS, port=0, latency_ms=20, log_path=log_path) as sim:
        async with aiohttp.ClientSession() as client:
            before = time.time()
            await asyncio.gather(*(get(client, sim.url(0, f"/slow/0.2/{i}")) for i in range(5)))
            await get(client, sim.url(1, "/status/404/n"))
            async with client.head(sim.url(2, "/ok/h")):
                pass
        assert sim.max_inflight == {"127.0.0.20": 5, "127.0.0.21": 1, "127.0.0.22": 1}
        records = list(sim.log)
    assert len(records) == 7
    slow = [r for r in records if r.path.startswith("/slow/")]
    assert {(r.host, r.method, r.status) for r in slow} == {("127.0.0.20", "GET", 200)}
    assert all(before <= r.t <= r.t + 0.2 <= time.time() for r in slow)
    assert all(r.duration is not None and r.duration >= 0.21 for r in slow)  # latency + sleep
    assert sorted(r.inflight or 0 for r in slow) == [1, 2, 3, 4, 5]
    (head,) = [r for r in records if r.method == "HEAD"]
    assert (head.host, head.status, head.path) == ("127.0.0.22", 405, "/ok/h")
    assert any(r.status == 404 and r.bytes > 0 for r in records)
    assert read_log(log_path) == records  # the file is complete once the server stopped


def test_rejects_non_loopback_addresses() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        SimWeb(["10.0.0.1"])
    with pytest.raises(ValueError):
        SimWeb(300, first=10)


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    log_path = tmp_path / "cli.jsonl"
    command = [sys.executable, "-m", "crawler.sim.simweb", "--hosts", "2", "--first", "23"]
    command += ["--port", "0", "--latency-ms", "0", "--log", str(log_path)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["event"] == "ready"
        assert ready["hosts"] == ["127.0.0.23", "127.0.0.24"]

        async def hit() -> list[int]:
            async with aiohttp.ClientSession() as client:
                return [
                    (await get(client, f"http://{ip}:{ready['port']}/ok/cli"))[0]
                    for ip in ready["hosts"]
                ]

        assert asyncio.run(hit()) == [200, 200]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert json.loads(stderr.strip().splitlines()[-1])["requests"] == 2
    assert [(r.host, r.path) for r in read_log(log_path)] == [
        ("127.0.0.23", "/ok/cli"),
        ("127.0.0.24", "/ok/cli"),
    ]


# ---------------------------------------------------------------------------------------------
# The card generator


def _meta(path: Path) -> dict[str, Any]:
    """A card's front matter, parsed by python-frontmatter (PyYAML underneath)."""
    return dict(frontmatter.load(path).metadata)


def _card_urls(meta: dict[str, Any]) -> list[str]:
    urls = [
        str(meta[k]) for k in ("webUrl", "ampWebUrl", "cdnAmpWebUrl", "originalUrl") if k in meta
    ]
    provider = meta["provider"]
    images = meta["images"]
    assert isinstance(provider, dict) and isinstance(images, list)
    urls += [img["url"] for img in provider["images"]] + [img["url"] for img in images]
    return urls


def test_behaviour_table_matches_the_vocabulary() -> None:
    for behaviour in BEHAVIOURS.values():
        if behaviour.kind is None:
            assert behaviour.status == "ok"
        else:
            assert Kind(behaviour.kind).severity.label == behaviour.status


def test_generate_50_cards(tmp_path: Path) -> None:
    out = tmp_path / "cards"
    truth = generate(out, 50, hosts=IPS, port=8800, seed=7)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.md"))
    assert files == sorted(truth.cards)
    assert GroundTruth.load(out / "expected.json") == truth
    data = json.loads((out / "expected.json").read_text())
    assert set(data) == {"run_settings", "counts", "unique_urls_by_host", "cards"}
    assert data["run_settings"]["since"] == "2020"
    assert data["run_settings"]["slow_seconds"] > data["run_settings"]["timeout"]

    since = datetime(2020, 1, 1, tzinfo=UTC)
    seen: dict[str, str] = {}
    filtered = 0
    for rel, card in truth.cards.items():
        assert rel.split("/")[1] == "_news"
        meta = _meta(out / rel)
        assert meta["published"] is True
        assert meta["type"] == "article"
        published = meta["publishedDateTime"]
        assert isinstance(published, datetime)  # unquoted, as in the real cards
        urls = _card_urls(meta)
        assert {(URL(u).scheme, URL(u).host, URL(u).port) for u in urls} <= {
            ("http", ip, 8800) for ip in IPS
        }
        assert meta["provider"]["images"][0]["width"] == 50
        assert meta["images"][0]["width"] > 0
        if card.filtered:
            filtered += 1
            assert (card.behaviour, card.status, card.kind) == (OLD, None, None)
            assert published < since
            assert all("/old/" in u for u in urls)
        else:
            assert published >= since
            assert card.behaviour in BEHAVIOURS
            assert card.status == BEHAVIOURS[card.behaviour].status
            assert card.kind == BEHAVIOURS[card.behaviour].kind
            assert not any("/old/" in u for u in urls)
            if card.field == "webUrl":
                assert meta["webUrl"] == card.url
            elif card.field == "images[0].url":
                assert meta["images"][0]["url"] == card.url
            else:
                assert card.behaviour == "healthy"
        for url in set(urls):
            if "/logo/" not in url:  # only provider logos are shared between cards
                assert seen.setdefault(url, rel) == rel, url
    assert filtered == 5  # old_share 0.1 of 50
    assert truth.counts()["by_behaviour"]["healthy"] == round(45 * 0.7)
    logos = {u for rel in truth.cards for u in _card_urls(_meta(out / rel))}
    assert 1 < len({u for u in logos if "/logo/" in u}) <= 12  # a handful, shared

    # deterministic with the seed
    again = generate(tmp_path / "again", 50, hosts=IPS, port=8800, seed=7)
    assert again == truth
    assert (out / files[0]).read_text() == (tmp_path / "again" / files[0]).read_text()


def test_generate_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown behaviours"):
        generate(tmp_path, 5, hosts=IPS, port=1, seed=1, mix={"nonsense": 1.0})
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        generate(tmp_path, 5, hosts=["192.168.1.1"], port=1, seed=1)
    with pytest.raises(ValueError, match="slow_seconds"):
        generate(tmp_path, 5, hosts=IPS, port=1, seed=1, timeout=5, slow_seconds=1)


def test_gencards_cli(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "crawler.sim.gencards", "--cards", "30", "--hosts", "3"]
    command += ["--first", "20", "--port", "8800", "--out", str(tmp_path), "--seed", "3"]
    command += ["--mix", "healthy=1,http_404=1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout)
    assert summary["cards"] == 30
    assert summary["by_behaviour"] == {"healthy": 14, "http_404": 13, "old": 3}
    assert len(list(tmp_path.rglob("*.md"))) == 30


# An independent oracle: fetch each card's links the way the expectations assume (GET, redirects
# by hand, retries of 503/429/timeouts/resets, capped page reads, full image decodes) and check
# that the server and the ground truth agree on every behaviour.


async def _probe(
    client: aiohttp.ClientSession, url: str, declared: tuple[int, int] | None, timeout: float
) -> Kind | None:
    seen = {url}
    moved = False
    while True:
        kind: Kind | None = None
        for _attempt in range(3):  # retries = 2
            try:
                async with client.get(
                    url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)
                ) as response:
                    status, location = response.status, response.headers.get("Location")
                    body = await response.content.read(1_000_000)
            except TimeoutError:
                kind = Kind.TIMEOUT
                continue
            except aiohttp.ClientConnectionError:
                kind = Kind.CONNECTION_ERROR
                continue
            kind = None
            if status not in (429, 503):
                break
        else:
            if kind is not None:
                return kind
        if status == 429:
            return Kind.RATE_LIMITED
        if status in (301, 302, 303, 307, 308):
            assert location is not None
            url = str(URL(url).join(URL(location)))
            if url in seen:
                return Kind.REDIRECT_LOOP
            seen.add(url)
            moved = moved or status in (301, 308)
            continue
        if status >= 400:
            return {404: Kind.NOT_FOUND, 410: Kind.GONE}.get(status, Kind.SERVER_ERROR)
        if declared is not None:
            try:
                with Image.open(io.BytesIO(body)) as image:
                    image.load()
                    if image.size != declared:
                        return Kind.IMAGE_DIMENSION_MISMATCH
            except UnidentifiedImageError:
                return Kind.NOT_AN_IMAGE
            except OSError:
                return Kind.IMAGE_CORRUPT
        return Kind.MOVED_PERMANENTLY if moved else None


# Only the slow pages may time out: the others answer at once, however busy the machine, and a
# short timeout would turn a late answer into a false TIMEOUT.
TIMEOUT, SLOW = 1.0, 5.0


async def test_ground_truth_agrees_with_the_server(web: SimWeb, tmp_path: Path) -> None:
    out = tmp_path / "cards"
    mix = dict.fromkeys(default_mix(), 1.0)  # the rot behaviours: see below
    truth = generate(
        out,
        40,
        hosts=web.host_ips,
        port=web.port,
        seed=11,
        mix=mix,
        timeout=TIMEOUT,
        slow_seconds=SLOW,
    )
    checked = {rel: c for rel, c in truth.cards.items() if not c.filtered}
    assert {c.behaviour for c in checked.values()} == set(mix)  # 36 cards, 18 behaviours

    async def card_verdict(client: aiohttp.ClientSession, rel: str) -> tuple[str, str | None]:
        meta = _meta(out / rel)
        links: list[tuple[str, tuple[int, int] | None]] = [
            (str(meta[k]), None) for k in ("webUrl", "ampWebUrl", "cdnAmpWebUrl") if k in meta
        ]
        for image in [*meta["provider"]["images"], *meta["images"]]:
            links.append((image["url"], (image["width"], image["height"])))
        kinds = [await _probe(client, url, size, TIMEOUT) for url, size in links]
        found = [k for k in kinds if k is not None]
        worst = max((k.severity for k in found), default=Severity.OK)
        return worst.label, (str(max(found, key=lambda k: k.severity)) if found else None)

    async with aiohttp.ClientSession() as client:
        verdicts = await asyncio.gather(*(card_verdict(client, rel) for rel in checked))
    for (rel, card), (status, kind) in zip(checked.items(), verdicts, strict=True):
        assert (status, kind) == (card.status, card.kind), (rel, card.behaviour)
    assert web.requests_matching("/old/") == []  # filtered cards cost no request
    hosts_seen = {r.host for r in web.log}
    assert hosts_seen == set(IPS)


# ---------------------------------------------------------------------------------------------
# Politeness analysis


def _rec(host: str, t: float, path: str = "/p", inflight: int | None = None) -> RequestRecord:
    return RequestRecord(t, host, "GET", path, 200, 100, inflight=inflight)


def test_max_in_window_is_exact() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([5.0]) == 1
    assert max_in_window([0.0, 1.0, 2.0]) == 1  # exactly one second apart: never together
    assert max_in_window([0.0, 0.1, 0.2, 0.99, 1.0, 1.5, 3.0]) == 4
    assert max_in_window([2.0, 2.0, 2.0]) == 3
    assert max_in_window([0.0, 0.4, 0.8, 1.2], window=0.5) == 2
    rng = random.Random(1)
    for _ in range(50):
        times = [rng.uniform(0, 5) for _ in range(rng.randint(1, 40))]
        brute = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
        assert max_in_window(times) == brute


def test_analyse_a_synthetic_log(tmp_path: Path) -> None:
    records = [
        *(_rec("127.0.0.20", t, f"/a/{i}", 1) for i, t in enumerate([0.0, 0.1, 0.2, 0.99, 1.0])),
        _rec("127.0.0.20", 1.5, "/a/0", 2),  # a retry: same path
        *(_rec("127.0.0.21", 0.5, f"/b/{i}", i + 1) for i in range(3)),
        *(_rec("127.0.0.22", t, f"/c/{t}") for t in (0.0, 1.0, 2.0)),
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    report = analyse(read_log(path), rate=2.0)
    a, b, c = (report.hosts[ip] for ip in IPS)
    assert (a.requests, a.unique_paths, a.max_in_window, a.max_concurrency) == (6, 5, 4, 2)
    assert (b.requests, b.max_in_window, b.max_concurrency) == (3, 3, 3)
    assert (c.max_in_window, c.max_concurrency) == (1, None)  # no inflight, no durations
    assert report.total_requests == 12
    assert report.total_bytes == 1200
    assert (report.max_in_window, report.busiest_host, report.max_concurrency) == (4, IPS[0], 3)
    assert report.span == pytest.approx(2.0)
    assert report.t_star == pytest.approx(5 / 2.0)  # 5 unique URLs on the busiest host, 2/s
    assert analyse(records, rate=5.0, unique_urls_by_host={"x": 50}).t_star == 10.0
    assert analyse([]).max_in_window == 0

    # concurrency from durations when the log has no inflight counts
    timed = [RequestRecord(t, "h", "GET", "/", 200, 0, duration=d) for t, d in [(0, 1), (0.5, 1)]]
    timed.append(RequestRecord(1.0, "h", "GET", "/", 200, 0, duration=0.1))
    assert analyse(timed).hosts["h"].max_concurrency == 2

    assert politeness.main([str(path), "--rate", "4"]) == 0
    assert politeness.main([str(path), "--rate", "3"]) == 1  # 4 requests in one second


def test_benchmarks_do_not_leave_loopback() -> None:
    """Belt and braces: nothing in benchmarks/ names an address outside 127.0.0.0/8."""
    for source in (ROOT / "benchmarks").glob("*.py"):
        for ip in re.findall(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", source.read_text()):
            assert ip.startswith("127."), (source.name, ip)


# ---------------------------------------------------------------------------------------------
# Rot behind a 200: titles, the rot paths and their look-alikes, the archive, TLS, rot_mix

PROBE = "abcdefghijklmnopqrstuvwxy"  # 25 lowercase letters, like soft404.probe_url's


def _title(body: bytes) -> str | None:
    return page_title(body, "text/html")


def test_default_mix_is_unchanged_and_rot_mix_is_separate() -> None:
    classic = [
        "healthy", "http_404", "http_410", "http_500", "flaky503", "ratelimit",
        "ratelimit_forever", "slow", "reset", "redirect_301", "chain", "loop", "image_jpeg",
        "image_png", "image_wrong_size", "html_as_image", "truncated_image", "endless",
    ]  # fmt: skip
    mix = default_mix()
    assert list(mix) == classic
    assert mix["healthy"] == 0.7
    assert mix["http_404"] == pytest.approx(0.3 / 17)
    rot = rot_mix()
    assert set(rot) == {"healthy", *ROT_BEHAVIOURS, *LOOKALIKE_BEHAVIOURS}
    assert set(rot) & set(mix) == {"healthy"}
    assert rot["healthy"] == 0.6 and sum(rot.values()) == pytest.approx(1.0)
    assert len({w for name, w in rot.items() if name != "healthy"}) == 1  # evenly
    assert parse_mix("rot") == rot and parse_mix("default") == mix
    expected = {
        "soft404": ("rotted", "soft_404"), "soft404title": ("rotted", "soft_404"),
        "gonehome": ("rotted", "redirect_to_home"), "metahome": ("rotted", "redirect_to_home"),
        "gonesection": ("rotted", "redirect_to_home"), "drift": ("rotted", "content_drift"),
        "amp_retired": ("warning", "amp_retired"),
        "amp_cache_mismatch": ("warning", "amp_cache_mismatch"),
        "real404site": ("ok", None), "spa": ("ok", None), "suffixed": ("ok", None),
        "moved_deep": ("warning", "moved_permanently"), "amp_cache_ok": ("ok", None),
    }  # fmt: skip
    assert {n: (BEHAVIOURS[n].status, BEHAVIOURS[n].kind) for n in expected} == expected


def test_titles_are_a_function_of_the_id() -> None:
    ids = [f"s1c{i:06d}" for i in range(3000)]
    titles = [card_title(i) for i in ids]
    assert titles == [card_title(i) for i in ids]  # deterministic
    assert len(set(titles)) > 2500  # and varied
    for card_id, title in zip(ids, titles, strict=True):
        other = drift_title(card_id)
        assert title_similarity(title, other) == 0.0
        assert title_similarity(title, f"{other} | {SITE_NAME}") < DRIFT_THRESHOLD
        assert not not_found_title(title) and not not_found_title(other)
        assert title_similarity(title, f"{title} | {SITE_NAME}") == 1.0


async def test_healthy_pages_serve_the_cards_own_title(
    web: SimWeb, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Every page a healthy (or merely moved) card ends on carries the card's title, so that no
    healthy card looks like content drift."""
    out = tmp_path / "cards"
    names = ["healthy", "flaky503", "ratelimit", "redirect_301", "chain", "endless"]
    names += ["real404site", "spa", "suffixed", "moved_deep", "amp_retired"]
    truth = generate(
        out, 44, hosts=web.host_ips, port=web.port, seed=5, old_share=0.0,
        mix=dict.fromkeys(names, 1.0), timeout=0.5, slow_seconds=1.0,
    )  # fmt: skip
    assert {c.behaviour for c in truth.cards.values()} == set(names)
    for rel, card in truth.cards.items():
        meta = _meta(out / rel)
        for name in ("webUrl", "ampWebUrl", "cdnAmpWebUrl"):
            for _attempt in range(2):  # flaky503 and ratelimit answer 503/429 once
                async with session.get(str(meta[name])) as response:
                    body = await response.content.read(4096)
                    if response.status == 200:
                        break
            assert response.status == 200, (card.behaviour, name)
            title = _title(body)
            assert title is not None
            assert title_similarity(str(meta["title"]), title) == 1.0, (card.behaviour, title)
            assert content_drift(str(meta["title"]), title) is None


async def test_rot_paths(web: SimWeb, session: aiohttp.ClientSession) -> None:
    base = web.base_url(0)
    status, _, home = await get(session, base + "/")
    assert (status, _title(home)) == (200, SITE_NAME)
    status, _, section = await get(session, base + "/news/")
    assert (status, _title(section)) == (200, f"News | {SITE_NAME}")

    # soft 404: the same bytes for an id and for a probe; nothing says "not found" in title/h1
    _, _, page = await get(session, base + "/soft404/s1c000001")
    status, _, probe = await get(session, base + f"/soft404/{PROBE}")
    assert status == 200 and page == probe and b"couldn't find that page" in page
    assert _title(page) == SITE_NAME and not not_found_title(_title(page), first_h1(page))
    status, _, titled = await get(session, base + "/soft404title/s1c000001")
    assert status == 200 and not_found_title(_title(titled))
    assert (await get(session, base + f"/soft404title/{PROBE}"))[2] == titled

    for path, code, target in (
        ("/gonehome/s1c000002", 301, "/"),
        ("/old/gonehome/s1c000002", 301, "/old/"),
        (f"/gonehome/{PROBE}", 301, "/"),
        ("/news/gonesection/s1c000003", 302, "/news/"),
        ("/amp-retired/s1c000004", 301, "/ok/s1c000004"),
        ("/old/amp-retired/s1c000004", 301, "/old/ok/s1c000004"),
        ("/moved-deep/s1c000005", 301, "/articles/2020/s1c000005-new-slug"),
    ):
        status, headers, _ = await get(session, base + path)
        assert (status, headers["Location"]) == (code, target), path
    status, _, meta = await get(session, base + "/metahome/s1c000006")
    assert status == 200 and meta_refresh_target(meta) == "/"

    # drift: another story's title; the site tells the truth about missing pages
    status, _, drifted = await get(session, base + "/drift/s1c000007")
    assert status == 200
    assert content_drift(card_title("s1c000007"), _title(drifted)) is not None
    # look-alikes
    for path in ("/real404site/s1c000008", "/articles/2020/s1c000008-new-slug"):
        status, _, body = await get(session, base + path)
        assert (status, _title(body)) == (200, card_title("s1c000008")), path
    for head in ("drift", "real404site", "suffixed", "articles/2020"):
        status, _, body = await get(session, base + f"/{head}/{PROBE}")
        assert status == 404 and not_found_title(_title(body)), head
    status, _, suffixed = await get(session, base + "/suffixed/s1c000009")
    assert _title(suffixed) == f"{card_title('s1c000009')} | {SITE_NAME}"
    _, _, shell = await get(session, base + "/spa/s1c000010")
    status, _, shell_probe = await get(session, base + f"/spa/{PROBE}")
    assert status == 200 and _title(shell) == card_title("s1c000010")
    assert _title(shell_probe) == SITE_NAME
    assert visible_text_tokens(shell) != visible_text_tokens(shell_probe)  # only the title
    assert shell.replace(card_title("s1c000010").encode(), b"") == shell_probe.replace(
        SITE_NAME.encode(), b""
    )
    # the AMP cache form on any host, the id from the last segment
    status, _, cached = await get(session, web.url(1, "/c/127.0.0.20/amp/s1c000011"))
    assert (status, _title(cached)) == (200, card_title("s1c000011"))


async def test_wayback_endpoint(web: SimWeb, session: aiohttp.ClientSession) -> None:
    urls = [f"http://127.0.0.20:8800/status/404/s1c{i:06d}" for i in range(400)]
    missing = [u for u in urls if not archive_has_snapshot(u)]
    assert 0.08 < len(missing) / len(urls) < 0.22  # ARCHIVE_MISS_PERCENT = 15
    endpoint = web.base_url(2)
    client = ArchiveClient(session, endpoint, timeout=5)
    published = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    present = next(u for u in urls if archive_has_snapshot(u))
    answer = await client.lookup(present, published)
    assert answer.found and answer.error is None
    assert answer.archive_url is not None and answer.archive_timestamp is not None
    assert answer.archive_url.startswith(f"{endpoint}/web/")
    when = datetime.fromisoformat(answer.archive_timestamp.replace("Z", "+00:00"))
    assert abs(when - published) <= timedelta(days=2)  # the closest snapshot
    status, _, body = await get(session, answer.archive_url)
    assert (status, _title(body)) == (200, card_title(present.rpartition("/")[2]))
    none = await client.lookup(missing[0], published)
    assert (none.found, none.error) == (False, None)
    status, _, raw = await get(session, f"{endpoint}/wayback/available?url={missing[0]}")
    assert status == 200 and json.loads(raw)["archived_snapshots"] == {}
    # deterministic: the same URL, the same answer
    again = await client.lookup(present, published)
    assert again == answer
    assert wayback_answer(None, None, endpoint)["archived_snapshots"] == {}


async def test_archived_copy_shows_the_story(web: SimWeb, session: aiohttp.ClientSession) -> None:
    story = f"http://{IPS[0]}:{web.port}/gonehome/s1c000042"
    status, _, body = await get(session, web.url(1, f"/web/20210101000000/{story}"))
    assert (status, _title(body)) == (200, card_title("s1c000042"))


class _Pinned(AbstractResolver):
    """Every name resolves to one loopback address: no DNS query leaves the machine."""

    def __init__(self, ip: str) -> None:
        self.ip = ip

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=self.ip,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_tls_listener_serves_amp_cache_names(tmp_path: Path) -> None:
    files = make_certificates(tmp_path / "certs", AMP_CACHE_NAMES)
    tls = TlsSite("127.0.0.25", 0, files.cert, files.key)
    async with SimWeb(IPS, port=0, latency_ms=0, tls=tls) as sim:
        assert sim.tls_port and sim.tls_port != sim.port
        trusted = ssl.create_default_context(cafile=str(files.ca))
        connector = aiohttp.TCPConnector(resolver=_Pinned("127.0.0.25"), ssl=trusted)
        async with aiohttp.ClientSession(connector=connector) as client:
            for host in ("127-0-0-20.cdn.ampproject.org", "cdn.ampproject.org"):
                url = f"https://{host}:{sim.tls_port}/c/127.0.0.20/amp/s1c000001"
                async with client.get(url) as response:
                    assert response.status == 200
                    assert _title(await response.read()) == card_title("s1c000001")
        # an untrusted client is refused: the certificate is really checked
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=_Pinned("127.0.0.25"))
        ) as client:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await client.get(f"https://cdn.ampproject.org:{sim.tls_port}/c/x/amp/y")
    assert {r.host for r in sim.log} == {"127.0.0.25"}


def test_generate_rot_mix_with_amp_cache_rules(tmp_path: Path) -> None:
    out = tmp_path / "cards"
    truth = generate(
        out, 140, hosts=IPS, port=8800, seed=3, old_share=0.0, mix=rot_mix(), amp_cache_rules=True
    )
    counts = truth.counts()["by_behaviour"]
    assert counts["healthy"] == 84 and set(counts) == set(rot_mix())
    cache_hosts = set(truth.run_settings["amp_cache_hosts"])
    assert truth.run_settings["amp_cache_rules"] is True
    assert cache_hosts <= {"cdn.ampproject.org"} | {
        f"{ip.replace('.', '-')}.cdn.ampproject.org" for ip in IPS
    }
    data = json.loads((out / "expected.json").read_text())
    assert set(data) == {"run_settings", "counts", "unique_urls_by_host", "cards"}
    assert set(data["unique_urls_by_host"]) == set(IPS)
    for rel, card in truth.cards.items():
        meta = _meta(out / rel)
        assert meta["title"] == card_title(str(meta["webUrl"]).rpartition("/")[2])
        if card.behaviour not in AMP_CACHE_BEHAVIOURS:
            assert "cdnAmpWebUrl" not in meta
            urls = _card_urls(meta)
            assert {URL(u).host for u in urls} <= set(IPS)
            continue
        cdn, amp = str(meta["cdnAmpWebUrl"]), str(meta["ampWebUrl"])
        assert (card.field, card.url) == ("cdnAmpWebUrl", cdn)
        assert URL(cdn).scheme == "https" and URL(cdn).host in cache_hosts
        if card.behaviour == "amp_cache_ok":
            assert cdn == _cache_url(amp)
        else:
            assert cdn != _cache_url(amp)
    page = {
        "soft404": "/soft404/", "gonesection": "/news/gonesection/", "drift": "/drift/",
        "moved_deep": "/moved-deep/", "spa": "/spa/",
    }  # fmt: skip
    for card in truth.cards.values():
        if card.behaviour in page:
            assert card.field == "webUrl" and card.url and page[card.behaviour] in card.url
        if card.behaviour == "amp_retired":
            assert card.field == "ampWebUrl" and card.url and "/amp-retired/" in card.url


def test_generate_amp_cases_without_amp_cache_rules_stay_on_loopback(tmp_path: Path) -> None:
    """The demo passes every behaviour without amp_cache_rules: no name may need a lookup."""
    mix = dict.fromkeys(BEHAVIOURS, 1.0)
    truth = generate(tmp_path, 70, hosts=IPS, port=8800, seed=9, old_share=0.0, mix=mix)
    assert "amp_cache_hosts" not in truth.run_settings
    for rel, card in truth.cards.items():
        meta = _meta(tmp_path / rel)
        assert {URL(u).host for u in _card_urls(meta)} <= set(IPS)
        if card.behaviour == "amp_cache_mismatch":
            assert "/ok/" in str(meta["cdnAmpWebUrl"])


def test_gencards_cli_rot_mix(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "crawler.sim.gencards", "--cards", "60", "--hosts", "3"]
    command += ["--first", "20", "--port", "8800", "--out", str(tmp_path), "--mix", "rot"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout)
    assert summary["by_behaviour"]["healthy"] == 32  # 60 % of the 54 new cards
    assert summary["amp_cache_hosts"]
    again = subprocess.run(
        [*command[:-2], "--mix", "rot", "--no-amp-cache-rules", "--out", str(tmp_path / "b")],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "amp_cache_hosts" not in json.loads(again.stdout)
    bad = subprocess.run(
        [*command[:-2], "--mix", "nonsense=1"], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown behaviours" in bad.stderr


# The rot ground truth, checked against how the simulated web was built, not against linkcheck's
# detectors: each behaviour put its card's link on a known path (gencards), and the server answers
# that path the way the behaviour says (the table in crawler/sim/simweb.py). The facts checked are
# plain ones: statuses, Location headers, titles equal to the generator's own title functions,
# a probe's answer byte for byte, and the AMP cache URL spelled out from its published form.

_TITLE = re.compile(rb"<title>(.*?)</title>", re.S | re.I)


def _plain_title(body: bytes) -> str | None:
    found = _TITLE.search(body)
    return html.unescape(found.group(1).decode()).strip() if found else None


def _cache_url(amp: str) -> str:
    """The Google AMP Cache URL of an http AMP page on an IPv4 host, spelled out: the host's
    dots become hyphens in the cache subdomain, "/c/" (no "/s": not https), the port dropped."""
    parts = URL(amp)
    host = parts.host or ""
    return f"https://{host.replace('.', '-')}.cdn.ampproject.org/c/{host}{parts.path}"


async def _answer(client: aiohttp.ClientSession, url: str) -> tuple[int, str | None, bytes]:
    async with client.get(url, allow_redirects=False) as response:
        return response.status, response.headers.get("Location"), await response.read()


def _sibling(url: str, segment: str = PROBE) -> str:
    """The same folder, another last segment (what a soft-404 probe asks for)."""
    return url.rsplit("/", 1)[0] + "/" + segment


async def _behaviour_facts(
    client: aiohttp.ClientSession, behaviour: str, card_id: str, meta: dict[str, Any]
) -> None:
    web_url, amp = str(meta["webUrl"]), str(meta["ampWebUrl"])
    title = card_title(card_id)
    status, location, body = await _answer(client, web_url)
    probe = await _answer(client, _sibling(web_url))
    page_path = URL(web_url).path
    match behaviour:
        case "healthy" | "amp_cache_ok" | "amp_cache_mismatch" | "amp_retired":
            assert (page_path, status, _plain_title(body)) == (f"/ok/{card_id}", 200, title)
        case "soft404":
            assert page_path == f"/soft404/{card_id}" and status == 200
            assert _plain_title(body) == SITE_NAME and b"couldn't find that page" in body
            assert probe == (200, None, body)  # a random sibling gets the very same bytes
        case "soft404title":
            assert page_path == f"/soft404title/{card_id}" and status == 200
            assert _plain_title(body) == f"Page not found | {SITE_NAME}"
            assert probe == (200, None, body)
        case "gonehome":
            assert (page_path, status, location) == (f"/gonehome/{card_id}", 301, "/")
        case "metahome":
            assert page_path == f"/metahome/{card_id}" and status == 200
            assert b'<meta http-equiv="refresh" content="0; url=/">' in body
        case "gonesection":
            assert (page_path, status, location) == (f"/news/gonesection/{card_id}", 302, "/news/")
        case "drift":
            assert page_path == f"/drift/{card_id}" and status == 200
            assert _plain_title(body) == f"{drift_title(card_id)} | {SITE_NAME}"
            assert probe[0] == 404
        case "real404site":
            assert page_path == f"/real404site/{card_id}"
            assert (status, _plain_title(body)) == (200, title)
            assert probe[0] == 404
        case "spa":
            assert (page_path, status, _plain_title(body)) == (f"/spa/{card_id}", 200, title)
            assert probe[0] == 200 and _plain_title(probe[2]) == SITE_NAME
        case "suffixed":
            assert page_path == f"/suffixed/{card_id}" and status == 200
            assert _plain_title(body) == f"{title} | {SITE_NAME}"
        case "moved_deep":
            target = f"/articles/2020/{card_id}-new-slug"
            assert (page_path, status, location) == (f"/moved-deep/{card_id}", 301, target)
            moved = await _answer(client, str(URL(web_url).with_path(target)))
            assert (moved[0], _plain_title(moved[2])) == (200, title)
        case _:
            raise AssertionError(f"no facts written down for {behaviour}")
    amp_status, amp_location, amp_body = await _answer(client, amp)
    if behaviour == "amp_retired":
        assert URL(amp).path == f"/amp-retired/{card_id}"
        assert (amp_status, amp_location) == (301, f"/ok/{card_id}")  # to the card's webUrl
    else:
        assert (amp_status, _plain_title(amp_body)) == (200, title)
    cdn = meta.get("cdnAmpWebUrl")
    if behaviour == "amp_cache_ok":
        assert cdn == _cache_url(amp)
    elif behaviour == "amp_cache_mismatch":
        assert cdn is not None and str(cdn) != _cache_url(amp)
        assert URL(str(cdn)).host in {"cdn.ampproject.org", URL(_cache_url(amp)).host}
    else:
        assert cdn is None


async def test_each_rot_card_gets_what_its_behaviour_was_built_to_serve(
    web: SimWeb, tmp_path: Path
) -> None:
    out = tmp_path / "cards"
    mix = dict.fromkeys(rot_mix(), 1.0)
    truth = generate(
        out, 56, hosts=web.host_ips, port=web.port, seed=13, old_share=0.0, mix=mix,
        amp_cache_rules=True,
    )  # fmt: skip
    assert {c.behaviour for c in truth.cards.values()} == set(mix)  # 4 cards per behaviour
    async with aiohttp.ClientSession() as client:  # no cdnAmpWebUrl is fetched: offline rules
        for rel, card in truth.cards.items():
            meta = _meta(out / rel)
            card_id = str(meta["webUrl"]).rpartition("/")[2]
            await _behaviour_facts(client, card.behaviour, card_id, meta)
            expected = BEHAVIOURS[card.behaviour]
            assert (card.status, card.kind) == (expected.status, expected.kind)
    assert not [r for r in web.log if r.host not in IPS]
