"""What an image check costs: a card needs the proof that the pixels decode, never the pixels.

A JPEG is decoded at libjpeg's smallest scale and a PNG's data stream inflated and its rows
checked, even when a full decode would fit the budget, and they still fail where a full decode
fails (truncated, corrupt). A small image is checked in the event loop, a large one in a thread.
"""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image, ImageFile, JpegImagePlugin, PngImagePlugin

from crawler.config import FetchConfig
from crawler.judge.http import INLINE_BODY_BYTES, ImageCheck, small_decode
from crawler.judge.images.check import inspect_image
from crawler.model import Finding, ImageInfo, Kind


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def noise(size: tuple[int, int]) -> Image.Image:
    """The same noisy picture every time: what a damaged body breaks must not vary by run."""
    pixels = random.Random(7).randbytes(size[0] * size[1] * 3)
    return Image.frombytes("RGB", size, pixels)


def inspect(body: bytes, content_type: str) -> ImageInfo | Finding | None:
    return inspect_image(
        body, content_type=content_type, complete=True, max_pixels=50_000_000,
        max_decode_bytes=256_000_000,
    )  # fmt: skip


def test_a_jpeg_that_fits_the_budget_is_decoded_at_the_smallest_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[int, int]] = []
    real = JpegImagePlugin.JpegImageFile.draft

    def draft(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: Any) -> Any:
        asked.append(size)
        return real(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    body = encode(noise((800, 600)), "JPEG")
    assert inspect(body, "image/jpeg") == ImageInfo(800, 600, "JPEG")
    assert asked == [(1, 1)]


def test_a_png_that_fits_the_budget_is_inflated_not_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_load(self: Image.Image) -> None:
        raise AssertionError("a PNG was decoded in full")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_load)
    body = encode(noise((300, 200)), "PNG")
    assert inspect(body, "image/png") == ImageInfo(300, 200, "PNG")


def full_decode_fails(body: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(body)) as img:
            img.load()
    except Exception:
        return True
    return False


def xor_middle(body: bytes) -> bytes:
    middle = len(body) // 2
    return (
        body[:middle] + bytes(x ^ 0x5A for x in body[middle : middle + 300]) + body[middle + 300 :]
    )


def zero_middle(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes(300) + body[middle + 300 :]


def eoi_middle(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + b"\xff\xd9" + body[middle + 2 :]


def truncated(body: bytes) -> bytes:
    return body[: len(body) // 2]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("damage", [truncated, xor_middle, zero_middle, eoi_middle])
def test_the_reduced_decode_fails_exactly_where_a_full_decode_fails(
    fmt: str, damage: Callable[[bytes], bytes]
) -> None:
    body = damage(encode(noise((400, 300)), fmt))
    found = inspect(body, f"image/{fmt.lower()}")
    corrupt = isinstance(found, Finding) and found.kind is Kind.IMAGE_CORRUPT
    assert corrupt == full_decode_fails(body), found
    if damage in (truncated, xor_middle):  # these always break the data
        assert corrupt
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_small_means_a_small_body_and_a_small_decode() -> None:
    assert small_decode(4_000, 3_000_000)
    assert not small_decode(INLINE_BODY_BYTES + 1, 3_000_000)  # much to read
    assert not small_decode(4_000, 64_000_000)  # a tiny PNG may inflate to a huge image
    assert not small_decode(4_000, 0)  # never decoded (an SVG is parsed): the thread as before


async def test_a_small_image_is_checked_in_the_loop_a_large_one_in_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: list[object] = []
    real = asyncio.to_thread

    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        handed.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    images = ImageCheck(FetchConfig())
    small = encode(Image.new("RGB", (640, 360), (200, 30, 30)), "JPEG")
    large = encode(noise((1000, 800)), "PNG", compress_level=1)
    assert len(small) <= INLINE_BODY_BYTES < len(large)
    assert await images.inspect(small, "image/jpeg") == ImageInfo(640, 360, "JPEG")
    assert handed == []
    assert await images.inspect(large, "image/png") == ImageInfo(1000, 800, "PNG")
    assert len(handed) == 1
    assert images.budget.in_use == 0
