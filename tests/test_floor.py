"""benchmarks/floor.py: the bare client and the one with linkcheck's features, on a local server."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from benchmarks import floor
from crawler.sim.images import image_bytes, truncated_jpeg


@pytest.mark.asyncio
async def test_the_checking_client_reads_images_whole_and_checks_each_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bodies = {"/a.jpg": image_bytes(600, 350, "jpg"), "/b.jpg": truncated_jpeg(600, 350)}
    checked: dict[int, bool] = {}

    def inspect(body: bytes, **options: object) -> None:
        checked[len(body)] = bool(options["complete"])

    async def serve(request: web.Request) -> web.Response:
        body = bodies.get(request.path, b"<html>" + b"x" * 100_000)
        return web.Response(body=body, content_type="image/jpeg")

    monkeypatch.setattr(floor, "inspect_image", inspect)
    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    async with TestServer(app, host="127.0.0.1") as server:
        urls = [str(server.make_url(path)) for path in ("/a.jpg", "/b.jpg", "/page")]
        answered = await floor.fetch_all(urls, 5.0, 1024, frozenset(urls[:2]))
    assert answered == 3
    assert checked == {len(bodies["/a.jpg"]): True, len(bodies["/b.jpg"]): True}  # pages: none


def test_linkchecks_start_up_is_measured_in_a_child_process() -> None:
    assert 0 < floor.startup_cpu() < 30
