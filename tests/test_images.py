"""Image checks: inspect_image on its own, then through the fetcher against a local server."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from quickrun import crawl, quick_config
from servers import ok, open_fetcher, serve

from crawler.judge.images.check import inspect_image
from crawler.judge.verdicts import dimension_detail, link_problems
from crawler.model import Finding, ImageInfo, Kind, LinkKind

HTML = b"<!DOCTYPE html><html><head><title>Oops</title></head><body>login</body></html>"
MAX_PIXELS = 80_000_000


def encode(size: tuple[int, int], fmt: str, *, noise: bool = False) -> bytes:
    if noise:  # incompressible, so that cutting the file loses pixel data
        img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        img = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: a decompression bomb's calling card."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def inspect(body: bytes, content_type: str | None = "image/jpeg", **kw: object) -> object:
    options: dict[str, object] = {"complete": True, "max_pixels": MAX_PIXELS, **kw}
    return inspect_image(body, content_type=content_type, **options)  # type: ignore[arg-type]


# -- inspect_image, pure ------------------------------------------------------------------------


def test_jpeg_of_the_declared_size() -> None:
    info = inspect(encode((600, 350), "JPEG"))
    assert info == ImageInfo(600, 350, "JPEG")
    assert isinstance(info, ImageInfo)
    assert dimension_detail(600, 350, info.width, info.height) is None


def test_png() -> None:
    assert inspect(encode((32, 16), "PNG"), "image/png") == ImageInfo(32, 16, "PNG")


def test_wrong_size_is_described() -> None:
    info = inspect(encode((1200, 630), "JPEG"))
    assert isinstance(info, ImageInfo)
    assert dimension_detail(600, 350, info.width, info.height) == "declared 600x350, real 1200x630"
    assert dimension_detail(None, 350, info.width, info.height) is None
    assert dimension_detail(600, None, info.width, info.height) is None


@pytest.mark.parametrize(
    ("real", "detail"),
    [
        ((600, 351), "declared 600x350, real 600x351"),  # the height alone
        ((601, 350), "declared 600x350, real 601x350"),  # the width alone
        ((350, 600), "declared 600x350, real 350x600"),  # both (turned on its side)
        ((600, 350), None),
    ],
)
def test_a_size_differing_in_either_dimension_is_a_mismatch(
    real: tuple[int, int], detail: str | None
) -> None:
    info = inspect(encode(real, "PNG"), "image/png")
    assert isinstance(info, ImageInfo)
    assert dimension_detail(600, 350, info.width, info.height) == detail


def _image_link(declared: tuple[int, int], real: tuple[int, int]) -> dict[str, object]:
    """A card's image link joined with its URL's stored result, as judging reads it."""
    return {
        "field": "images[0].url", "url": "http://img.test/a.png", "url_status": "ok",
        "http_status": 200, "final_url": "http://img.test/a.png", "findings": "[]",
        "declared_width": declared[0], "declared_height": declared[1],
        "image_width": real[0], "image_height": real[1],
    }  # fmt: skip


@pytest.mark.parametrize("real", [(600, 351), (601, 350), (601, 351)])
def test_a_stored_image_differing_in_either_dimension_is_rotted(real: tuple[int, int]) -> None:
    problems = link_problems(_image_link((600, 350), real))
    assert [(p["kind"], p["severity"]) for p in problems] == [
        ("image_dimension_mismatch", "rotted")
    ]
    assert problems[0]["detail"] == f"declared 600x350, real {real[0]}x{real[1]}"
    assert link_problems(_image_link((600, 350), (600, 350))) == []


async def test_a_card_whose_image_is_only_taller_than_declared_is_rotted(tmp_path: Path) -> None:
    """The whole way: fetched, decoded, stored, judged, reported."""
    taller = encode((600, 351), "PNG")
    async with serve({"/story": ok(), "/pic.png": ok(taller, content_type="image/png")}) as server:
        cards = tmp_path / "cards"
        cards.mkdir()
        (cards / "card.md").write_text(
            "---\ntitle: ok\npublishedDateTime: 2021-01-01T00:00:00Z\n"
            f"webUrl: {server.url('/story')}\n"
            f"images:\n  - url: {server.url('/pic.png')}\n    width: 600\n    height: 350\n---\n"
        )
        _, report = await crawl(quick_config(tmp_path))
    [card] = report["cards"]
    assert card["status"] == "rotted"
    assert [(p["field"], p["kind"], p["detail"]) for p in card["problems"]] == [
        ("images[0].url", "image_dimension_mismatch", "declared 600x350, real 600x351")
    ]


@pytest.mark.parametrize("content_type", ["application/octet-stream", None, "IMAGE/PNG; q=1"])
def test_generic_or_missing_content_type_is_fine(content_type: str | None) -> None:
    assert inspect(encode((8, 8), "PNG"), content_type) == ImageInfo(8, 8, "PNG")


def test_html_served_as_jpeg() -> None:
    finding = inspect(HTML, "image/jpeg")
    assert isinstance(finding, Finding)
    assert finding.kind is Kind.NOT_AN_IMAGE
    assert "image/jpeg" in finding.detail and "looks like HTML" in finding.detail
    assert "<!DOCTYPE" in finding.detail  # the first bytes, for whoever reads the report


def test_html_served_as_html() -> None:
    finding = inspect(HTML, "text/html; charset=utf-8")
    assert isinstance(finding, Finding)
    assert finding.kind is Kind.NOT_AN_IMAGE
    assert "served as text/html" in finding.detail


def test_a_real_image_with_a_text_content_type_is_not_an_image() -> None:
    finding = inspect(encode((8, 8), "PNG"), "text/plain")
    assert isinstance(finding, Finding) and finding.kind is Kind.NOT_AN_IMAGE


def test_empty_body() -> None:
    finding = inspect(b"", "image/png")
    assert isinstance(finding, Finding) and finding.kind is Kind.NOT_AN_IMAGE
    assert "empty" in finding.detail


def test_truncated_jpeg_is_corrupt() -> None:
    body = encode((256, 256), "JPEG", noise=True)
    finding = inspect(body[: len(body) // 2])
    assert isinstance(finding, Finding)
    assert finding.kind is Kind.IMAGE_CORRUPT
    assert "256x256 JPEG" in finding.detail


def test_incomplete_body_reports_the_header_size() -> None:
    body = encode((4000, 3000), "JPEG")
    finding = inspect(body[:1000], complete=False)
    assert finding == Finding(
        Kind.IMAGE_TOO_LARGE, "image larger than 1000 bytes; header says 4000x3000 JPEG"
    )


def test_too_many_pixels_is_refused_before_decoding() -> None:
    finding = inspect(encode((64, 64), "PNG"), "image/png", max_pixels=1000)
    assert isinstance(finding, Finding)
    assert finding.kind is Kind.IMAGE_TOO_LARGE
    assert "4096 pixels" in finding.detail and "64x64 PNG" in finding.detail


def test_decompression_bomb_header_is_guarded() -> None:
    # 9000x9000 is under Pillow's own limit but over ours: our check, before load(), refuses it
    finding = inspect(png_declaring(9000, 9000), "image/png")
    assert isinstance(finding, Finding)
    assert finding.kind is Kind.IMAGE_TOO_LARGE
    assert "9000x9000 PNG" in finding.detail


def test_huge_decompression_bomb_still_reports_its_header() -> None:
    # 100000x100000 trips Pillow's DecompressionBombError inside Image.open
    finding = inspect(png_declaring(100_000, 100_000), "image/png")
    assert isinstance(finding, Finding)
    assert finding.kind is Kind.IMAGE_TOO_LARGE
    assert "100000x100000 PNG" in finding.detail


# -- through the fetcher ------------------------------------------------------------------------


async def test_fetched_images() -> None:
    jpeg, png = encode((600, 350), "JPEG"), encode((40, 20), "PNG")
    routes = {
        "/a.jpg": ok(jpeg, content_type="image/jpeg"),
        "/b.png": ok(png, content_type="application/octet-stream"),
        "/login.jpg": ok(HTML, content_type="image/jpeg"),
        "/page": ok(HTML, content_type="text/html"),
        "/cut.jpg": ok(encode((300, 300), "JPEG", noise=True)[:5000], content_type="image/jpeg"),
    }
    async with serve(routes) as server, open_fetcher() as fetcher:
        a = await fetcher.check(server.url("/a.jpg"), LinkKind.IMAGE)
        b = await fetcher.check(server.url("/b.png"), LinkKind.IMAGE)
        login = await fetcher.check(server.url("/login.jpg"), LinkKind.IMAGE)
        page = await fetcher.check(server.url("/page"), LinkKind.IMAGE)
        cut = await fetcher.check(server.url("/cut.jpg"), LinkKind.IMAGE)
    assert (a.findings, a.image, a.bytes_read) == ([], ImageInfo(600, 350, "JPEG"), len(jpeg))
    assert a.content_type == "image/jpeg"
    assert (b.findings, b.image) == ([], ImageInfo(40, 20, "PNG"))
    assert [f.kind for f in login.findings] == [Kind.NOT_AN_IMAGE] and login.image is None
    assert [f.kind for f in page.findings] == [Kind.NOT_AN_IMAGE]
    assert [f.kind for f in cut.findings] == [Kind.IMAGE_CORRUPT]


async def test_fetched_image_over_the_byte_cap() -> None:
    big = encode((4000, 3000), "JPEG")
    assert len(big) > 20_000
    async with (
        serve({"/big.jpg": ok(big, content_type="image/jpeg")}) as server,
        open_fetcher(max_image_bytes=20_000) as fetcher,
    ):
        outcome = await fetcher.check(server.url("/big.jpg"), LinkKind.IMAGE)
    assert outcome.findings == [
        Finding(Kind.IMAGE_TOO_LARGE, "image larger than 20000 bytes; header says 4000x3000 JPEG")
    ]
    assert outcome.bytes_read == 20_001  # one byte past the cap tells "larger"
    assert outcome.http_status == 200


async def test_fetched_bomb_is_guarded() -> None:
    async with (
        serve(
            {"/bomb.png": ok(png_declaring(100_000, 100_000), content_type="image/png")}
        ) as server,
        open_fetcher() as fetcher,
    ):
        outcome = await fetcher.check(server.url("/bomb.png"), LinkKind.IMAGE)
    assert [f.kind for f in outcome.findings] == [Kind.IMAGE_TOO_LARGE]
    assert "100000x100000 PNG" in outcome.findings[0].detail
