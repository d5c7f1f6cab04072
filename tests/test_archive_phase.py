"""Archive lookups after the crawl's last fetch (crawler/judge/archive_copy.py): new failures only,
within archive.budget_s, several in flight; what is left is listed as pending and asked by the
next run. Real local servers: a wayback API, one that never answers, a port with nothing on it."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from quickrun import crawl, quick_config
from servers import serve

from crawler.config import Config
from crawler.crawl import Crawl
from crawler.progress import NoProgress
from crawler.store.database import Store

PUBLISHED = "2020-03-04T05:06:07Z"


def card(folder: Path, name: str, url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f'---\ntitle: "Story {name}"\npublishedDateTime: {PUBLISHED}\nwebUrl: {url}\n---\n'
    )


def config_for(tmp: Path, endpoint: str, **archive: Any) -> Config:
    # max_age 0: every run fetches again, as a nightly does with results a day old
    return quick_config(
        tmp,
        archive={"enabled": True, "endpoint": endpoint, **archive},
        recheck={"max_age": "0s"},
    )


def closed_port(host: str) -> str:
    """An address with nothing listening: every connection is refused."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"http://{host}:{port}"


class Wayback:
    """The availability API, answering a snapshot for every URL and counting the questions."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, request: web.Request) -> web.Response:
        self.asked.append(request.query["url"])
        snapshot = {
            "available": True,
            "status": "200",
            "timestamp": "20200304050607",
            "url": f"http://archive.test/web/20200304050607/{request.query['url']}",
        }
        return web.json_response({"archived_snapshots": {"closest": snapshot}})


def site_routes() -> dict[str, Any]:
    return {
        "/gone/{slug}": lambda r: web.Response(status=404),
        "/fine": lambda r: web.Response(text="<title>Story fine</title>", content_type="text/html"),
    }


def pending_in_dashboard(report_dir: Path) -> list[str]:
    html = (report_dir / "report.html").read_text()
    found = re.search(r'"archive_pending":(\[[^\]]*\])', html)
    assert found is not None
    return list(json.loads(found.group(1)))


async def test_an_unreachable_archive_leaves_new_failures_pending_for_the_next_run(
    tmp_path: Path,
) -> None:
    wayback = Wayback()
    async with (
        serve(site_routes(), "127.0.0.2") as site,
        serve({"/wayback/available": wayback}, "127.0.0.3") as archive,
    ):
        dead = [site.url(f"/gone/{n}") for n in range(5)]
        for n, url in enumerate(dead):
            card(tmp_path / "cards", f"dead{n}", url)
        card(tmp_path / "cards", "fine", site.url("/fine"))

        result, report = await crawl(config_for(tmp_path, closed_port("127.0.0.9")))
        assert result.state == "finished"
        assert report["run"]["archive"] == {"looked_up": 0, "cached": 0, "pending": 5}
        marks = {u["url"]: u["archive"] for u in report["urls"]}
        assert marks == {**dict.fromkeys(dead, "pending"), site.url("/fine"): None}
        assert sorted(pending_in_dashboard(tmp_path / "out")) == sorted(dead)

        # the next run asks about them: new failures, nothing cached
        _, report = await crawl(config_for(tmp_path, archive.url("")))
        assert report["run"]["archive"] == {"looked_up": 5, "cached": 0, "pending": 0}
        assert sorted(wayback.asked) == sorted(dead)
        assert all(u["archive"] is None for u in report["urls"])
        copies = {p["archive_url"] for c in report["cards"] for p in c["problems"]}
        assert copies == {f"http://archive.test/web/20200304050607/{url}" for url in dead}
        assert pending_in_dashboard(tmp_path / "out") == []

        # and then the cache answers, without a request
        _, report = await crawl(config_for(tmp_path, archive.url("")))
        assert report["run"]["archive"] == {"looked_up": 0, "cached": 5, "pending": 0}
        assert len(wayback.asked) == 5
        assert all(u["archive_url"] for u in report["urls"] if u["url"] in dead)


async def test_an_archive_that_never_answers_costs_the_budget_not_the_timeouts(
    tmp_path: Path,
) -> None:
    async def never(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async with (
        serve(site_routes(), "127.0.0.2") as site,
        serve({"/wayback/available": never}, "127.0.0.3") as archive,
    ):
        for n in range(12):
            card(tmp_path / "cards", f"dead{n}", site.url(f"/gone/{n}"))
        config = config_for(tmp_path, archive.url(""), timeout=60.0, budget_s=1.0)
        started = time.monotonic()
        result, report = await crawl(config)
        took = time.monotonic() - started
    assert result.state == "finished"
    assert report["run"]["archive"] == {"looked_up": 0, "cached": 0, "pending": 12}
    # the probe sent during the crawl got no answer: nothing more is asked
    assert len(archive.requests) == 1
    # the budget ended the wait for it, not its 60 s timeout
    assert took < 30


async def test_an_interrupted_run_takes_only_cached_answers_and_resume_asks_the_rest(
    tmp_path: Path,
) -> None:
    wayback = Wayback()
    runs: list[Crawl] = []

    async def stopping(request: web.Request) -> web.Response:
        runs[-1].request_stop("test")
        return web.Response(status=404)

    routes = {**site_routes(), "/stop": stopping}
    async with (
        serve(routes, "127.0.0.2") as site,
        serve({"/wayback/available": wayback}, "127.0.0.3") as archive,
    ):
        dead = [site.url(f"/gone/{n}") for n in range(3)]
        for n, url in enumerate(dead):
            card(tmp_path / "cards", f"dead{n}", url)
        card(tmp_path / "cards", "stop", site.url("/stop"))
        config = config_for(tmp_path, archive.url(""))
        store = Store(config.state.path)
        try:
            cached_copy = "http://archive.test/web/20200101000000/cached"
            store.save_archive_answer(dead[0], True, cached_copy, "2020-01-01T00:00:00Z")
            runs.append(Crawl(config, store, NoProgress()))
            first = await runs[-1].run()
            assert first.state == "interrupted"
            # an interrupted run asks nothing after its last fetch: at most the probe was sent
            # while it crawled, about a failure not cached
            assert len(wayback.asked) <= 1 and dead[0] not in wayback.asked
            partial = json.loads(first.report_path.read_text())
            counts = partial["run"]["archive"]
            assert counts["looked_up"] == len(wayback.asked) and counts["cached"] == 1
            stored = {u["url"]: u for u in partial["urls"]}
            assert stored[dead[0]]["archive_url"] == cached_copy
            assert stored[dead[0]]["archive"] is None
            for url, entry in stored.items():
                assert entry["archive"] == (None if url in (dead[0], *wayback.asked) else "pending")

            runs.append(Crawl(config, store, NoProgress(), resume=True))
            resumed = await runs[-1].run()
        finally:
            store.close()
    assert resumed.state == "finished"
    report = json.loads(resumed.report_path.read_text())
    assert report["run"]["archive"]["pending"] == 0
    # every failure of the run, from both parts, except the cached one
    assert sorted(wayback.asked) == sorted([*dead[1:], site.url("/stop")])
    assert all(u["archive_url"] for u in report["urls"])


async def test_a_slow_archive_is_asked_several_at_a_time_within_the_budget(
    tmp_path: Path,
) -> None:
    wayback = Wayback()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return await wayback(request)

    async with (
        serve(site_routes(), "127.0.0.2") as site,
        serve({"/wayback/available": slow}, "127.0.0.3") as archive,
    ):
        for n in range(40):
            card(tmp_path / "cards", f"dead{n}", site.url(f"/gone/{n}"))
        config = config_for(tmp_path, archive.url(""), budget_s=1.0)
        result, report = await crawl(config)
    assert result.state == "finished"
    counts = report["run"]["archive"]
    assert archive.max_in_flight > 1  # several in flight
    assert 0 < counts["looked_up"] < 40 and counts["looked_up"] + counts["pending"] == 40
    pending = [u["url"] for u in report["urls"] if u["archive"] == "pending"]
    assert len(pending) == counts["pending"]
