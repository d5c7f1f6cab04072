"""The soak benchmark's parts: the simulated web's faults (random resets, silent hosts, Latin-1
heads), the per-second samples and their charts, and one small soak end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from benchmarks.politeness import read_log
from benchmarks.soak import (
    CHART_POINTS,
    Sample,
    cards_for,
    downsample,
    flatness,
    main,
    mermaid_chart,
    read_sample,
    read_samples,
    server_faults,
    write_samples,
)
from crawler.sim.server import SimWeb

ROOT = Path(__file__).resolve().parents[1]
IPS = ["127.0.0.160", "127.0.0.161"]


async def raw_get(ip: str, port: int, path: str, *, wait: float | None = None) -> bytes:
    """One GET on its own connection; everything the server sends until it closes (or `wait`)."""
    reader, writer = await asyncio.open_connection(ip, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    try:
        async with asyncio.timeout(wait):
            return await reader.read()
    finally:
        writer.close()


# -- faults of the simulated web ----------------------------------------------------------------


async def test_reset_percent_resets_about_that_share_of_requests() -> None:
    async with SimWeb(IPS[:1], latency_ms=0, reset_percent=30, seed=3) as web:
        failed = 0
        async with aiohttp.ClientSession() as client:
            for i in range(200):
                try:
                    async with client.get(web.url(0, f"/ok/r{i}")) as response:
                        await response.read()
                except aiohttp.ClientConnectionError:
                    failed += 1
        await asyncio.sleep(0)
    assert 40 <= web.faults["reset"] <= 80  # 30 % of 200, give or take a binomial spread
    # aiohttp may send a reset GET once more on a new connection: failures <= resets
    assert 0 < failed <= web.faults["reset"]
    assert sum(1 for r in web.log if r.status == 0) == web.faults["reset"]


async def test_no_fault_draws_when_faults_are_off() -> None:
    async with SimWeb(IPS[:1], latency_ms=0) as web:
        body = await raw_get(IPS[0], web.port, "/status/404/x")
    assert body.startswith(b"HTTP/1.1 404 Not Found\r\n") and b"ETag" not in body
    assert not web.faults


async def test_latin1_answers_carry_latin1_reason_and_etag() -> None:
    async with SimWeb(IPS[:1], latency_ms=0, latin1_percent=100) as web:
        missing = await raw_get(IPS[0], web.port, "/status/404/x")
        page = await raw_get(IPS[0], web.port, "/ok/x")
    head, _, body = missing.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Non trouv\xe9\r\n")  # one byte, not UTF-8's two
    assert b'\r\nETag: "\xe9t\xe9-' in head and b"\r\nConnection: close" in head
    assert b"<title>404 Not Found</title>" in body
    head, _, body = page.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b'ETag: "\xe9t\xe9-' in head
    assert f"Content-Length: {len(body)}".encode() in head  # framed, then closed
    assert [r.status for r in web.log] == [404, 200] and web.faults["latin1"] == 2


async def test_silent_hosts_accept_read_and_never_answer() -> None:
    async with SimWeb(IPS, latency_ms=0, silent_hosts=[IPS[1]]) as web:
        with pytest.raises(TimeoutError):
            await raw_get(IPS[1], web.port, "/ok/x", wait=0.3)  # connected, then nothing
        assert (await raw_get(IPS[0], web.port, "/ok/y")).startswith(b"HTTP/1.1 200 OK")
        await asyncio.sleep(0)
    silent = [r for r in web.log if r.host == IPS[1]]
    assert [(r.method, r.path, r.status, r.bytes) for r in silent] == [("GET", "/ok/x", 0, 0)]
    assert web.faults["silent"] == 1 and web.max_inflight[IPS[1]] == 1
    with pytest.raises(ValueError, match="among the hosts"):
        SimWeb(IPS[:1], silent_hosts=[IPS[1]])


def test_cli_faults_silence_the_last_hosts_and_report_counts(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "crawler.sim.simweb", "--hosts", "2", "--first", "162"]
    command += ["--port", "0", "--latency-ms", "0", "--silent-hosts", "1"]
    command += ["--reset-percent", "100", "--log", str(tmp_path / "log.jsonl")]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["silent"] == ["127.0.0.163"]
        reset = asyncio.run(raw_get("127.0.0.162", ready["port"], "/ok/z", wait=5))
        assert reset == b""  # every request reset
    except ConnectionResetError:
        pass
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    (tmp_path / "err").write_text(stderr)
    assert server_faults(tmp_path / "err") == {"reset": 1}
    assert [r.status for r in read_log(tmp_path / "log.jsonl")] == [0]


# -- samples, figures, charts ------------------------------------------------------------------


def test_a_sample_reads_rss_and_open_files_from_proc() -> None:
    sample = read_sample(os.getpid(), 1.25)
    assert sample is not None and sample.t == 1.2
    assert sample.rss_mb > 1 and sample.fds >= 3 and sample.tree_rss_mb >= sample.rss_mb
    assert read_sample(2**22 + 1, 0) is None  # no such process


def test_downsample_keeps_every_peak() -> None:
    values = [1.0] * 1000
    values[537] = 9.0
    short = downsample(values)
    assert len(short) == CHART_POINTS and max(short) == 9.0
    assert downsample([3.0, 1.0]) == [3.0, 1.0]


def test_mermaid_chart_is_one_xychart_block() -> None:
    samples = [Sample(float(t), 50.0 + t % 3, 20 + t % 5, 80.0) for t in range(1, 301)]
    chart = mermaid_chart("RSS", "MB", samples, "rss_mb")
    lines = chart.splitlines()
    assert lines[:2] == ["```mermaid", "xychart-beta"] and lines[-1] == "```"
    assert '    x-axis "seconds since start" 0 --> 300' in lines
    assert '    y-axis "MB" 0 --> 70' in lines  # 52 with headroom, rounded up to tens
    (line,) = [x for x in lines if x.strip().startswith("line [")]
    assert len(line.split(",")) == CHART_POINTS
    assert mermaid_chart("empty", "MB", [], "rss_mb") == ""


def test_samples_round_trip_and_flatness(tmp_path: Path) -> None:
    samples = [Sample(float(t), 40.0 + t, t, 60.0) for t in range(1, 11)]
    write_samples(tmp_path / "s.csv", samples)
    assert read_samples(tmp_path / "s.csv") == samples
    levels = flatness(samples, "rss_mb")
    assert (levels["first"], levels["last"], levels["max"], levels["p50_time"]) == (
        41.0, 50.0, 50.0, 46.0)  # fmt: skip


def test_cards_for_a_number_of_urls() -> None:
    assert cards_for(100_000) == 37_038  # 3 URLs a checked card, 10 % of cards filtered
    assert cards_for(0) == 0


@pytest.mark.slow
def test_a_small_soak_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "soak"
    code = main(
        ["--urls", "240", "--hosts", "5", "--first", "170", "--silent-percent", "20",
         "--timeout", "0.5", "--rate", "50", "--out", str(out)]
    )  # fmt: skip
    report = json.loads((out / "soak.json").read_text())
    assert code == 0, report
    assert report["state"] == "finished" and report["missing"] == 0
    assert report["results"] == report["urls"] >= 240
    assert report["silent_host_urls"] == report["silent_host_urls_timeout"] > 0
    assert report["faults_served"]["silent"] > 0
    assert report["max_in_window"] <= 50
    assert report["samples"] >= 1 and (out / "charts.md").read_text().count("xychart-beta") == 2
