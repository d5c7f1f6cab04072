"""History and the nightly crawl: several runs over one store, against a local server whose
behaviour changes between runs; max-age reuse; conditional requests; SIGTERM; kill -9 + resume."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web
from quickrun import crawl, quick_config
from servers import serve

from crawler.config import Config

ROOT = Path(__file__).resolve().parents[1]


def write_card(folder: Path, name: str, url: str, *, image: str | None = None) -> None:
    images = f"images:\n  - url: {image}\n    width: 4\n    height: 3\n" if image else ""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f"---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: {url}\n{images}---\n"
    )


def config_for(tmp: Path, **recheck: object) -> Config:
    return quick_config(tmp, rot={"min_runs": 3, "min_days": 0.0}, recheck=recheck)


class Switchable:
    """A page whose answer the test changes between runs."""

    def __init__(self) -> None:
        self.status = 200

    async def handle(self, request: web.Request) -> web.Response:
        if self.status == 200:
            # the card's title is its file name (see write_card): the page still is that story
            title = request.path.strip("/").split("/")[-1]
            return web.Response(text=f"<title>{title}</title>", content_type="text/html")
        return web.Response(status=self.status)


async def test_rot_over_runs_new_ongoing_persistent_fixed(tmp_path: Path) -> None:
    page = Switchable()
    async with serve({"/story": page.handle, "/steady": Switchable().handle}) as server:
        write_card(tmp_path / "cards", "story", server.url("/story"))
        write_card(tmp_path / "cards", "steady", server.url("/steady"))
        config = config_for(tmp_path, max_age="0s")  # every run checks again
        trends = []
        for status in (200, 404, 404, 404, 200):
            page.status = status
            _, report = await crawl(config)
            card = next(c for c in report["cards"] if c["path"] == "story.md")
            trends.append((card["status"], card["trend"], card["consecutive_failures"]))
            if status == 404:
                problem = card["problems"][0]
                assert problem["kind"] == "not_found" and problem["trend"] == card["trend"]
                url = next(u for u in report["urls"] if u["url"] == server.url("/story"))
                assert url["trend"] == card["trend"]
        assert trends == [
            ("ok", None, 0),
            ("broken", "new", 1),
            ("broken", "ongoing", 2),
            ("broken", "persistent", 3),
            ("ok", "fixed", 0),
        ]
        assert report["changes"]["fixed"] == [
            {"path": "story.md", "field": "webUrl", "kind": "not_found", "severity": "broken",
             "url": server.url("/story")}
        ]  # fmt: skip
        assert report["changes"]["new"] == []


async def test_flapping_url(tmp_path: Path) -> None:
    page = Switchable()
    async with serve({"/story": page.handle}) as server:
        write_card(tmp_path / "cards", "story", server.url("/story"))
        config = config_for(tmp_path, max_age="0s")
        for status in (404, 200, 404):
            page.status = status
            _, report = await crawl(config)
        assert report["cards"][0]["trend"] == "flapping"
        assert len(report["changes"]["new"]) == 1  # failing again since the previous run


async def test_max_age_reuses_healthy_results_and_rechecks_failures(tmp_path: Path) -> None:
    async with serve({"/fine": Switchable().handle, "/gone": web_status(410).handle}) as server:
        write_card(tmp_path / "cards", "fine", server.url("/fine"))
        write_card(tmp_path / "cards", "gone", server.url("/gone"))
        config = config_for(tmp_path)  # default max-age 7d
        await crawl(config)
        assert Counter(server.paths()) == {"/robots.txt": 1, "/fine": 1, "/gone": 1}
        result, report = await crawl(config)
        # the healthy URL is not fetched again; the failed one always is (robots.txt's 404
        # comes from the store)
        assert Counter(server.paths()) == {"/robots.txt": 1, "/fine": 1, "/gone": 2}
        fine = next(u for u in report["urls"] if u["url"].endswith("/fine"))
        assert fine["reused_from"] == 1 and fine["status"] == "ok"
        assert result.counters["urls_reused"] == 1
        assert {c["path"]: c["status"] for c in report["cards"]} == {
            "fine.md": "ok", "gone.md": "broken"}  # fmt: skip
        config.recheck.full = True  # --full ignores the store, its robots.txt too
        await crawl(config)
        assert Counter(server.paths()) == {"/robots.txt": 2, "/fine": 2, "/gone": 3}


def web_status(code: int) -> Switchable:
    handler = Switchable()
    handler.status = code
    return handler


async def test_conditional_requests_answered_304(tmp_path: Path) -> None:
    png = _png(4, 3)
    seen_validators: list[tuple[str | None, str | None]] = []

    async def image(request: web.Request) -> web.Response:
        inm, ims = request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since")
        seen_validators.append((inm, ims))
        if inm == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(
            body=png, content_type="image/png",
            headers={"ETag": '"v1"', "Last-Modified": "Wed, 01 Jan 2020 00:00:00 GMT"},
        )  # fmt: skip

    async with serve({"/story": Switchable().handle, "/pic.png": image}) as server:
        write_card(tmp_path / "cards", "story", server.url("/story"), image=server.url("/pic.png"))
        config = config_for(tmp_path, max_age="0s")
        await crawl(config)
        _, report = await crawl(config)
    assert seen_validators == [
        (None, None),
        ('"v1"', "Wed, 01 Jan 2020 00:00:00 GMT"),
    ]
    pic = next(u for u in report["urls"] if u["url"].endswith("/pic.png"))
    assert pic["http_status"] == 304 and pic["status"] == "ok"
    assert pic["image"] == {"width": 4, "height": 3, "format": "PNG"}  # known from the last check
    assert report["cards"][0]["status"] == "ok"


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "PNG")
    return out.getvalue()


# -- signals and resume, with the real command in its own process ------------------------------


def cli(tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "crawler.cli", "run", "--cards", str(tmp / "cards"),
        "--out", str(tmp / "out"), "--state", str(tmp / "state.sqlite"), "--no-progress",
        "--log-format", "json", "--allow-private", "--no-archive", "--rate-per-host", "20",
        "--concurrency-per-host", "2", "--timeout", "5", "--retries", "0", *extra,
    ]  # fmt: skip


class SlowPages:
    """Card pages that take 0.15 s each; `seen` is set once `after` requests have arrived, so a
    test signals the child when it is surely crawling, not after a guess at how long that takes."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.count = 0
        self.seen = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.count += 1
        if self.count >= self.after:
            self.seen.set()
        await asyncio.sleep(0.15)
        title = f"c{int(request.match_info['n']):02}"  # the card's title (see write_card)
        return web.Response(text=f"<title>{title}</title>", content_type="text/html")


async def crawling(proc: asyncio.subprocess.Process, pages: SlowPages) -> None:
    """Wait until the child has made `pages.after` requests; fail if it exits first."""
    seen = asyncio.create_task(pages.seen.wait())
    exited = asyncio.create_task(proc.wait())
    done, _ = await asyncio.wait({seen, exited}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    seen.cancel()
    if exited in done:
        _, err = await proc.communicate()
        raise AssertionError(f"the run ended before crawling: {err.decode()[-2000:]}")
    exited.cancel()
    assert seen in done, "no request within a minute"


async def start(args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_signal_writes_a_partial_report(tmp_path: Path, signum: int, code: int) -> None:
    pages = SlowPages(after=3)
    async with serve({"/p/{n}": pages.handle}) as server:
        for n in range(60):
            write_card(tmp_path / "cards", f"c{n:02}", server.url(f"/p/{n}"))
        proc = await start(cli(tmp_path))
        await crawling(proc, pages)
        proc.send_signal(signum)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == code, err.decode()
        requested = len([r for r in server.requests if r.path != "/robots.txt"])
    report = json.loads((tmp_path / "out" / "report.partial.json").read_text())
    assert report["run"]["state"] == "interrupted"
    assert 0 < report["run"]["urls_checked"] < 60
    assert report["run"]["urls_checked"] == requested  # in-flight requests were let finish
    assert report["run"]["links_unchecked"] == 60 - requested


async def test_kill_9_then_resume_checks_every_url_once(tmp_path: Path) -> None:
    pages = SlowPages(after=20)
    async with serve({"/p/{n}": pages.handle}) as server:
        for n in range(80):
            write_card(tmp_path / "cards", f"c{n:02}", server.url(f"/p/{n}"))
        proc = await start(cli(tmp_path))
        await crawling(proc, pages)
        proc.kill()
        await proc.wait()
        first = Counter(server.paths())
        assert 0 < len(first) < 80
        # a second run is not blocked: the dead run's lock is taken over
        proc = await start(cli(tmp_path, "--resume"))
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        total = Counter(server.paths())
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["run"]["state"] == "finished" and report["run"]["id"] == 1
    assert len(report["cards"]) == 80 and all(c["status"] == "ok" for c in report["cards"])
    assert sorted(u["url"] for u in report["urls"]) == sorted(
        server.url(f"/p/{n}") for n in range(80)
    )
    twice = [path for path, n in total.items() if n > 1]
    # only what was in flight at the kill (the host's concurrency, 2) and what arrived in the
    # last flush interval (0.1 s at 20 requests/s: 2) was sent again
    assert len(twice) <= 4 and all(total[p] == 2 for p in twice)
    assert report["run"]["requests_made"] >= 80
