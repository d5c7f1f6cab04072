"""The decode budget: bytes of decoded pixels shared by every decode in flight, held from the
header before the thread hand-off; an image above the whole budget is decoded in a reduced way
(JPEG draft, PNG streamed) or refused, never in full, and never waits forever."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from servers import ok, open_fetcher, serve

import crawler.judge.http
from crawler.judge.images.check import decode_cost, inspect_image
from crawler.judge.images.pixels import (
    STREAM_BYTES,
    Decode,
    DecodeBudget,
    Header,
    bytes_per_pixel,
    decoded_bytes,
    plan_decode,
)
from crawler.model import Finding, ImageInfo, Kind, LinkKind

MAX_PIXELS = 80_000_000


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    return Image.effect_noise(size, 60).convert(mode)


def inspect(body: bytes, budget: int | None, content_type: str = "image/png") -> object:
    return inspect_image(
        body,
        content_type=content_type,
        complete=True,
        max_pixels=MAX_PIXELS,
        max_decode_bytes=budget,
    )


async def settle() -> None:
    """Let every ready task run until none is (no time passes)."""
    for _ in range(10):
        await asyncio.sleep(0)


# -- the budget on its own ----------------------------------------------------------------------


async def test_a_decode_waits_until_the_bytes_it_needs_are_free() -> None:
    budget = DecodeBudget(100, slots=4)
    order: list[str] = []

    async def decode(name: str, cost: int, gate: asyncio.Event) -> None:
        async with budget.hold(cost):
            order.append(f"{name} in")
            await gate.wait()
        order.append(f"{name} out")

    first_done, second_done = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(decode("first", 60, first_done))
    second = asyncio.create_task(decode("second", 60, second_done))
    await settle()
    assert order == ["first in"] and budget.in_use == 60 and budget.waiting == 1
    first_done.set()
    await settle()
    assert order == ["first in", "first out", "second in"]
    second_done.set()
    await asyncio.gather(first, second)
    assert budget.in_use == 0 and budget.peak == 60


async def test_waiters_are_served_in_order_so_a_large_decode_is_not_starved() -> None:
    budget = DecodeBudget(100, slots=4)
    gate = asyncio.Event()
    entered: list[int] = []

    async def decode(cost: int) -> None:
        async with budget.hold(cost):
            entered.append(cost)
            await gate.wait()

    tasks = [asyncio.create_task(decode(cost)) for cost in (60, 90, 10)]
    await settle()
    assert entered == [60]  # the 10 would fit, but the 90 came first
    gate.set()
    await asyncio.gather(*tasks)
    assert entered == [60, 90, 10]


async def test_a_request_above_the_whole_budget_runs_alone_instead_of_deadlocking() -> None:
    budget = DecodeBudget(100, slots=4)
    async with budget.hold(10**12):
        assert budget.in_use == 100
    assert budget.in_use == 0


async def test_the_budget_is_released_after_an_exception() -> None:
    budget = DecodeBudget(100, slots=1)
    with pytest.raises(RuntimeError):
        async with budget.hold(70):
            raise RuntimeError("decoder bug")
    assert budget.in_use == 0
    async with budget.hold(100):  # and the slot is back too
        assert budget.in_use == 100


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    budget = DecodeBudget(100, slots=4)
    gate = asyncio.Event()

    async def decode(cost: int) -> None:
        async with budget.hold(cost):
            await gate.wait()

    holder = asyncio.create_task(decode(50))
    blocked = asyncio.create_task(decode(80))  # waits: 50 + 80 > 100
    small = asyncio.create_task(decode(20))  # waits behind it, in order
    await settle()
    assert budget.waiting == 2
    blocked.cancel()
    await settle()
    assert budget.waiting == 0 and budget.in_use == 70  # the small one went in
    gate.set()
    await asyncio.gather(holder, small)
    assert budget.in_use == 0


async def test_slots_cap_decodes_at_once_even_when_they_cost_nothing() -> None:
    budget = DecodeBudget(100, slots=1)
    gate = asyncio.Event()

    async def decode() -> None:
        async with budget.hold(0):
            await gate.wait()

    tasks = [asyncio.create_task(decode()) for _ in range(2)]
    await settle()
    assert budget.waiting == 1
    gate.set()
    await asyncio.gather(*tasks)


# -- the cost model and the plan ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "size"), [("1", 1), ("L", 1), ("P", 1), ("I;16", 2), ("LA", 4), ("RGB", 4)]
)
def test_bytes_per_pixel_is_what_pillow_stores(mode: str, size: int) -> None:
    assert bytes_per_pixel(mode) == size


def test_decode_cost_is_read_from_the_header() -> None:
    rgb = encode(noise((500, 400)), "PNG", compress_level=1)
    grey = encode(noise((500, 400), "L"), "PNG", compress_level=1)
    assert (
        decode_cost(rgb, content_type="image/png", max_pixels=MAX_PIXELS, max_decode_bytes=10**9)
        == 800_000
    )
    assert (
        decode_cost(grey, content_type=None, max_pixels=MAX_PIXELS, max_decode_bytes=10**9)
        == 200_000
    )


def test_a_progressive_jpeg_also_costs_its_coefficients() -> None:
    baseline = encode(noise((400, 400)), "JPEG")
    progressive = encode(noise((400, 400)), "JPEG", progressive=True)
    base = decode_cost(baseline, content_type=None, max_pixels=MAX_PIXELS, max_decode_bytes=10**9)
    prog = decode_cost(
        progressive, content_type=None, max_pixels=MAX_PIXELS, max_decode_bytes=10**9
    )
    assert base == 640_000
    assert prog == base + 400 * 400 * 3  # 4:2:0: 1.5 samples per pixel, 2 bytes each


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/html", b"<html></html>"), ("image/svg+xml", b"<svg/>"), ("image/png", b"junk")],
)
def test_what_is_never_decoded_costs_nothing(content_type: str, body: bytes) -> None:
    assert (
        decode_cost(body, content_type=content_type, max_pixels=MAX_PIXELS, max_decode_bytes=100)
        == 0
    )


def test_a_header_over_the_pixel_limit_costs_nothing() -> None:
    body = encode(noise((100, 100)), "PNG", compress_level=1)
    assert decode_cost(body, content_type=None, max_pixels=1000, max_decode_bytes=10**9) == 0


def test_plans_for_an_image_above_the_whole_budget() -> None:
    def plan(fmt: str, budget: int, coefficients: int = 0) -> tuple[Decode, int]:
        header = Header(4000, 3000, fmt, "RGB", coefficients)
        found = plan_decode(header, budget)
        return found.how, found.scale

    assert plan("JPEG", 48_000_000) == (Decode.FULL, 1)
    assert plan("JPEG", 20_000_000) == (Decode.DRAFT, 8)
    assert plan("JPEG", 1_000_000) == (Decode.DRAFT, 8)
    assert plan("JPEG", 100_000) == (Decode.REFUSE, 1)
    assert plan("JPEG", 40_000_000, coefficients=36_000_000) == (Decode.DRAFT, 8)
    assert plan("JPEG", 30_000_000, coefficients=36_000_000) == (Decode.REFUSE, 1)
    assert plan("PNG", 1_000_000) == (Decode.STREAM, 1)
    assert plan("WEBP", 48_000_000) == (Decode.REFUSE, 1)  # libwebp holds four copies
    assert plan("GIF", 1_000_000) == (Decode.REFUSE, 1)


@given(
    width=st.integers(1, 100_000),
    height=st.integers(1, 100_000),
    fmt=st.sampled_from(["JPEG", "PNG", "GIF", "WEBP", "AVIF", "ICO", "BMP"]),
    mode=st.sampled_from(["1", "L", "P", "RGB", "RGBA", "CMYK", "I;16"]),
    coefficients=st.integers(0, 10**9),
    budget=st.integers(1, 10**9),
)
def test_a_plan_never_holds_more_than_the_budget(
    width: int, height: int, fmt: str, mode: str, coefficients: int, budget: int
) -> None:
    header = Header(width, height, fmt, mode, coefficients if fmt == "JPEG" else 0)
    plan = plan_decode(header, budget)
    assert 0 <= plan.cost <= budget
    assert plan.full_cost == decoded_bytes(header)
    assert (plan.how is Decode.FULL) == (plan.full_cost <= budget)


# -- reduced decodes keep every verdict ---------------------------------------------------------


def test_a_jpeg_above_the_budget_is_decoded_in_draft_and_keeps_its_size() -> None:
    body = encode(noise((800, 600)), "JPEG")
    assert plan_decode(Header(800, 600, "JPEG", "RGB"), 1_000_000).how is Decode.DRAFT
    assert inspect(body, 1_000_000, "image/jpeg") == ImageInfo(800, 600, "JPEG")


def test_a_truncated_jpeg_is_still_corrupt_in_draft() -> None:
    body = encode(noise((800, 600)), "JPEG")
    finding = inspect(body[: len(body) // 2], 1_000_000, "image/jpeg")
    assert isinstance(finding, Finding) and finding.kind is Kind.IMAGE_CORRUPT
    assert "800x600 JPEG" in finding.detail


def test_a_png_above_the_budget_is_streamed_and_keeps_its_size() -> None:
    body = encode(noise((800, 600)), "PNG", compress_level=1)
    assert inspect(body, STREAM_BYTES) == ImageInfo(800, 600, "PNG")


def test_a_truncated_png_is_still_corrupt_when_streamed() -> None:
    body = encode(noise((800, 600)), "PNG", compress_level=1)
    finding = inspect(body[: len(body) // 2], STREAM_BYTES)
    assert isinstance(finding, Finding) and finding.kind is Kind.IMAGE_CORRUPT
    assert "truncated" in finding.detail


def test_a_format_with_no_reduced_decode_above_the_budget_is_too_large() -> None:
    body = encode(noise((400, 300)), "WEBP")
    finding = inspect(body, 1_000_000, "image/webp")
    assert isinstance(finding, Finding) and finding.kind is Kind.IMAGE_TOO_LARGE
    assert "400x300 WEBP takes 1.9 MB" in finding.detail
    assert "fetch.image_decode_budget_bytes" in finding.detail


# -- through the fetcher ------------------------------------------------------------------------


class Decodes:
    """Wraps inspect_image: counts the decodes running at once, and can hold the first one."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started = threading.Event()
        self.second_started = threading.Event()
        self.release_first = threading.Event()
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls += 1
            first = self.calls == 1
            self.running += 1
            self.most = max(self.most, self.running)
            (self.started if first else self.second_started).set()
        try:
            if first:
                assert self.release_first.wait(timeout=30)
            return self.real(*args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


async def wait_for(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


async def test_with_a_small_budget_two_large_decodes_never_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes = Decodes(inspect_image)
    monkeypatch.setattr(crawler.judge.http, "inspect_image", decodes)
    body = encode(
        noise((1000, 1000)), "PNG", compress_level=1
    )  # 4 MB decoded: two do not fit in 6 MB
    routes = {
        "/a.png": ok(body, content_type="image/png"),
        "/b.png": ok(body, content_type="image/png"),
    }
    async with (
        serve(routes) as server,
        open_fetcher(image_decode_budget_bytes=6_000_000) as fetcher,
    ):
        checks = [
            asyncio.create_task(fetcher.check(server.url(path), LinkKind.IMAGE))
            for path in ("/a.png", "/b.png")
        ]
        await asyncio.to_thread(decodes.started.wait, 30)
        await wait_for(lambda: fetcher.images.budget.waiting == 1)  # the second waits for bytes
        assert not decodes.second_started.is_set()
        decodes.release_first.set()
        outcomes = await asyncio.gather(*checks)
    assert [o.image for o in outcomes] == [ImageInfo(1000, 1000, "PNG")] * 2
    assert decodes.most == 1
    assert fetcher.images.budget.peak == 4_000_000 and fetcher.images.budget.in_use == 0


async def test_with_room_in_the_budget_decodes_do_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    # the control for the test above: the same two images, a budget that fits both
    decodes = Decodes(inspect_image)
    monkeypatch.setattr(crawler.judge.http, "inspect_image", decodes)
    body = encode(noise((1000, 1000)), "PNG", compress_level=1)
    routes = {
        "/a.png": ok(body, content_type="image/png"),
        "/b.png": ok(body, content_type="image/png"),
    }
    async with (
        serve(routes) as server,
        open_fetcher(image_decode_budget_bytes=8_000_000) as fetcher,
    ):
        checks = [
            asyncio.create_task(fetcher.check(server.url(path), LinkKind.IMAGE))
            for path in ("/a.png", "/b.png")
        ]
        await asyncio.to_thread(decodes.second_started.wait, 30)
        decodes.release_first.set()
        await asyncio.gather(*checks)
    assert decodes.most == 2 and fetcher.images.budget.peak == 8_000_000


async def test_a_single_image_above_the_whole_budget_does_not_deadlock() -> None:
    png = encode(noise((1000, 750)), "PNG", compress_level=1)
    jpeg = encode(noise((1000, 750)), "JPEG")
    routes = {
        "/big.png": ok(png, content_type="image/png"),
        "/big.jpg": ok(jpeg, content_type="image/jpeg"),
    }
    async with (
        serve(routes) as server,
        open_fetcher(image_decode_budget_bytes=2_000_000) as fetcher,
    ):
        big_png, big_jpeg = await asyncio.gather(
            fetcher.check(server.url("/big.png"), LinkKind.IMAGE),
            fetcher.check(server.url("/big.jpg"), LinkKind.IMAGE),
        )
    assert (big_png.findings, big_png.image) == ([], ImageInfo(1000, 750, "PNG"))
    assert (big_jpeg.findings, big_jpeg.image) == ([], ImageInfo(1000, 750, "JPEG"))
    assert fetcher.images.budget.peak <= 2_000_000


async def test_the_budget_is_released_when_a_decode_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a decoder bug")

    monkeypatch.setattr(crawler.judge.http, "inspect_image", broken)
    body = encode(noise((500, 500)), "PNG", compress_level=1)
    async with open_fetcher(image_decode_budget_bytes=2_000_000) as fetcher:
        with pytest.raises(RuntimeError):  # Fetcher.check reports it on the URL
            await fetcher.images.inspect(body, "image/png")
        assert fetcher.images.budget.peak == 1_000_000
        assert fetcher.images.budget.in_use == 0
