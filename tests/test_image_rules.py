"""The image checks' rules, each pinned with plain values: the exact finding for each way a body
fails, the ICO and PNG header arithmetic, the SVG size's edges, and the decode plan's sums.

The expected values are worked out by hand from the formats' specifications (PNG, ICO/BMP, SVG
lengths) and from the rule each function states, not read back from the code.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import struct
import tracemalloc
import zlib

import pytest
from PIL import Image, JpegImagePlugin
from pngbytes import ADAM7, PNG_SIGNATURE, idat, ihdr, png, png_chunk

from crawler.judge.images import check as image
from crawler.judge.images import ico
from crawler.judge.images.check import (
    _bomb,
    _header_without_bomb_check,
    _is_avif,
    decode_cost,
    inspect_image,
)
from crawler.judge.images.check import read_header as image_read_header
from crawler.judge.images.pixels import (
    Decode,
    DecodeBudget,
    DecodePlan,
    Header,
    bytes_per_pixel,
    decoded_bytes,
    header_of,
    megabytes,
    plan_decode,
)
from crawler.judge.images.png import pixel_data_problem
from crawler.judge.images.svg import MAX_DEPTH, SvgImage, svg_size
from crawler.model import Finding, ImageInfo, Kind

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'
MAX_PIXELS = 80_000_000


def inspect(body: bytes, content_type: str | None, **kw: object) -> ImageInfo | Finding | None:
    options: dict[str, object] = {"complete": True, "max_pixels": MAX_PIXELS, **kw}
    return inspect_image(body, content_type=content_type, **options)  # type: ignore[arg-type]


def encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


# -- what a body that is not an image is said to look like --------------------------------------


def test_a_non_image_body_is_described_by_its_first_16_bytes_and_its_look() -> None:
    def detail(body: bytes) -> str:
        found = inspect(body, "text/html")
        assert isinstance(found, Finding) and found.kind is Kind.NOT_AN_IMAGE
        return found.detail

    served = "served as text/html, not an image; body starts with "
    assert detail(b"") == "served as text/html, not an image; the body is empty"
    assert detail(b"  \n<HTML><p>hello world</p>") == (
        served + r"b'  \n<HTML><p>hell' (looks like HTML)"
    )
    assert detail(b"<head><title>x") == served + "b'<head><title>x' (looks like HTML)"
    assert detail(b"<BODY>x") == served + "b'<BODY>x' (looks like HTML)"
    assert detail(b"<?XML version='1.0'?>") == served + 'b"<?XML version=\'1" (looks like XML/SVG)'
    assert detail(b"<svg/>") == served + "b'<svg/>' (looks like XML/SVG)"
    assert detail(b'{"a": 1}') == served + "b'{\"a\": 1}' (looks like JSON)"
    assert detail(b"[1, 2]") == served + "b'[1, 2]' (looks like JSON)"
    assert detail(b"plain text") == served + "b'plain text'"


def test_only_the_first_512_bytes_are_looked_at() -> None:
    found = inspect(b" " * 512 + b"{}", "text/plain")
    assert found == Finding(
        Kind.NOT_AN_IMAGE,
        "served as text/plain, not an image; body starts with b'" + " " * 16 + "'",
    )


def test_an_unrecognisable_body_names_what_it_was_served_as() -> None:
    assert inspect(b"junk", "image/png") == Finding(
        Kind.NOT_AN_IMAGE, "not a recognisable image (image/png); body starts with b'junk'"
    )
    assert inspect(b"junk", None) == Finding(
        Kind.NOT_AN_IMAGE, "not a recognisable image (no content type); body starts with b'junk'"
    )


# -- headers read without Pillow's bomb check ---------------------------------------------------


def test_a_bomb_is_reported_with_the_size_its_header_declares() -> None:
    body = png(ihdr(100_000, 50_000), idat(b"\x00" * 1024))
    assert inspect(body, "image/png") == Finding(
        Kind.IMAGE_TOO_LARGE,
        "image of 5000000000 pixels is over the 80000000-pixel limit; header says 100000x50000 PNG",
    )
    assert _header_without_bomb_check(body, ("JPEG", "PNG")) == Header(100_000, 50_000, "PNG", "L")


def test_a_bomb_whose_header_no_plugin_reads_is_still_too_large() -> None:
    assert _bomb(b"junk", 100) == Finding(
        Kind.IMAGE_TOO_LARGE, "image over Pillow's decompression-bomb limit"
    )


def test_an_avif_is_told_by_its_file_type_box() -> None:
    box = b"\x00\x00\x00\x1cftyp"
    assert _is_avif(box + b"avif" + bytes(20))
    assert _is_avif(box + b"avis" + bytes(20))  # an AVIF image sequence
    assert _is_avif(box + bytes(52) + b"avif")  # a compatible brand, last in the first 64 bytes
    assert _is_avif(box + bytes(52) + b"avis")
    assert not _is_avif(box + bytes(53) + b"avif")  # past the first 64 bytes
    assert not _is_avif(box + bytes(53) + b"avis")
    assert not _is_avif(box + b"heic" + bytes(20))  # a HEIF photo is not an AVIF
    assert not _is_avif(b"\x00\x00\x00\x1cmoov" + b"avif")
    assert not _is_avif(box[:-1] + b"xavif")  # a brand must start after the box type


# -- ICO: the sizes inside ----------------------------------------------------------------------


def ico_file(*frames: bytes, offsets: list[int] | None = None) -> bytes:
    """An ICO holding `frames` (each a PNG or a bitmap header), its directory first."""
    start = 6 + 16 * len(frames)
    entries, at = b"", start
    for index, frame in enumerate(frames):
        offset = offsets[index] if offsets is not None else at
        entries += struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(frame), offset)
        at += len(frame)
    return ico.MAGIC + struct.pack("<H", len(frames)) + entries + b"".join(frames)


def png_head(width: int, height: int) -> bytes:
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr(width, height))


def bitmap_info(width: int, height: int) -> bytes:
    """A BITMAPINFOHEADER (40 bytes): the height counts the image and its AND mask."""
    return struct.pack("<IiiHHIIiiII", 40, width, height, 1, 32, 0, 0, 0, 0, 0, 0)


def bitmap_core(width: int, height: int) -> bytes:
    """An OS/2 BITMAPCOREHEADER (12 bytes): unsigned 16-bit sides."""
    return struct.pack("<IHHHH", 12, width, height, 1, 24)


def test_an_ico_bitmap_frame_counts_half_its_height() -> None:
    assert ico.frame_sizes(ico_file(bitmap_info(48, 64))) == [(48, 32)]
    assert ico.frame_sizes(ico_file(bitmap_info(-48, -64))) == [(48, 32)]  # top-down rows
    assert ico.frame_sizes(ico_file(bitmap_core(40_000, 60_000))) == [(40_000, 30_000)]
    assert ico.frame_sizes(ico_file(bitmap_core(48, 64))) == [(48, 32)]


def test_an_ico_frame_size_is_a_whole_number_of_pixels() -> None:
    found = inspect(ico_file(bitmap_info(48, 65)), "image/x-icon", max_pixels=100)
    assert found == Finding(
        Kind.IMAGE_TOO_LARGE,
        "image of 1536 pixels is over the 100-pixel limit; header says 48x32 ICO",
    )


def test_an_ico_png_frame_is_read_unsigned() -> None:
    assert ico.frame_sizes(ico_file(png_head(3_000_000_000, 7))) == [(3_000_000_000, 7)]


def test_an_ico_frame_header_cut_short_is_unreadable() -> None:
    core = bitmap_core(16, 32)
    assert ico.frame_sizes(ico_file(core)) == [(16, 16)]  # exactly 12 bytes: enough
    assert ico.frame_sizes(ico_file(core[:11])) is None
    assert ico.frame_sizes(ico_file(png_head(16, 16)[:23])) is None
    assert ico.frame_sizes(ico.MAGIC + b"\x01") is None  # not even a count
    assert ico.frame_sizes(ico.MAGIC + b"\x01\x00" + bytes(15)) is None  # a short entry
    assert ico.frame_sizes(ico.MAGIC + b"\x00\x00") is None  # no image at all
    assert ico.frame_sizes(b"\x00\x00\x02\x00\x01\x00" + bytes(16)) is None  # a cursor


def test_an_ico_frame_offset_is_unsigned() -> None:
    frame = bitmap_info(16, 32)
    length = 6 + 16 + len(frame)
    # an offset near 2**32 points past the end, not back from it
    assert ico.frame_sizes(ico_file(frame, offsets=[2**32 - length])) is None


def test_an_ico_directory_count_is_unsigned() -> None:
    frame = png_head(16, 16)
    count = 40_000
    start = 6 + 16 * count
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(frame), start)
    body = ico.MAGIC + struct.pack("<H", count) + entry * count + frame
    assert ico.frame_sizes(body) == [(16, 16)] * count


def test_an_ico_header_is_its_largest_frame_by_area() -> None:
    # by width (60x5), by height (10x50) or by ratio another frame would win
    body = ico_file(png_head(10, 50), png_head(40, 20), png_head(60, 5))
    assert image_read_header(body, "image/x-icon", MAX_PIXELS) == Header(40, 20, "ICO", "RGBA")


def test_an_ico_whose_directory_is_unreadable_is_corrupt() -> None:
    assert inspect(ico.MAGIC + b"\x01\x00", "image/x-icon") == Finding(
        Kind.IMAGE_CORRUPT, "ICO directory or image headers unreadable"
    )


# -- SVG: the size's edges ----------------------------------------------------------------------


def test_an_svg_length_under_one_pixel_draws_one_pixel() -> None:
    assert svg_size({"width": "0.5", "height": "0.4"}) == SvgImage(1, 1)
    assert svg_size({"viewBox": "0 0 0.5 0.4"}) == SvgImage(1, 1)


def test_a_zero_svg_length_says_nothing_about_the_size() -> None:
    assert svg_size({"width": "0", "height": "10", "viewBox": "0 0 20 10"}) == SvgImage(20, 10)
    assert svg_size({"viewBox": "0 0 10 0"}) == SvgImage(None, None)


def test_the_largest_svg_side_is_the_largest_integer_column() -> None:
    most = 2**31 - 1
    assert svg_size({"width": str(most), "height": "1"}) == SvgImage(most, 1)
    assert svg_size({"viewBox": f"0 0 {most} 1"}) == SvgImage(most, 1)
    assert svg_size({"viewBox": f"0 0 1 {most}"}) == SvgImage(1, most)


def test_an_svg_whose_area_overflows_has_no_size() -> None:
    # width from the ratio: 1e9 * 1e9 / 1e-290 = 1e308, finite; its area is not
    attrib = {"height": "1000000000", "viewBox": "0 0 1000000000 1e-290"}
    assert svg_size(attrib) == SvgImage(None, None)


def svg(attributes: str, inner: str) -> bytes:
    return f"<svg {SVG_NS} {attributes}>{inner}</svg>".encode()


def test_svg_depth_counts_open_elements_not_elements_seen() -> None:
    siblings = svg('width="8" height="8"', "<g/>" * (MAX_DEPTH * 2))
    assert inspect(siblings, "image/svg+xml") == ImageInfo(8, 8, "SVG")
    deep = svg('width="8" height="8"', "<g><rect/>" * MAX_DEPTH + "</g>" * MAX_DEPTH)
    assert inspect(deep, "image/svg+xml") == Finding(
        Kind.IMAGE_CORRUPT, f"SVG refused: elements nested deeper than {MAX_DEPTH} levels"
    )


def test_an_svgz_inflating_to_exactly_the_byte_cap_is_fine() -> None:
    plain = svg('width="8" height="8"', "<g/>" * 100)
    body = gzip.compress(plain)
    assert inspect(body, "image/svg+xml", max_bytes=len(plain)) == ImageInfo(8, 8, "SVG")
    assert inspect(body, "image/svg+xml", max_bytes=len(plain) - 1) == Finding(
        Kind.IMAGE_TOO_LARGE, f"SVG refused: SVGZ inflates to more than {len(plain) - 1} bytes"
    )


def test_an_svg_refusal_or_parse_error_is_named_exactly() -> None:
    dtd = b'<?xml version="1.0"?><!DOCTYPE svg [%s]><svg ' + SVG_NS.encode() + b"/>"
    attlist = dtd.replace(b"%s", b'<!ATTLIST svg width CDATA "9999">')
    assert inspect(attlist, "image/svg+xml") == Finding(
        Kind.IMAGE_CORRUPT, "SVG refused: its DTD declares default attributes"
    )
    entity = dtd.replace(b"%s", b'<!ENTITY x SYSTEM "file:///etc/passwd">')
    assert inspect(entity, "image/svg+xml") == Finding(
        Kind.IMAGE_CORRUPT,
        "SVG refused: EntitiesForbidden:"
        " EntitiesForbidden(name='x', system_id='file:///etc/passwd', public_id=None)",
    )
    assert inspect(svg("", "<g>"), "image/svg+xml") == Finding(
        Kind.IMAGE_CORRUPT, "SVG does not parse: mismatched tag: line 1, column 46"
    )


# -- PNG: the streamed check --------------------------------------------------------------------


def rows(count: int, width: int, filter_byte: int = 0) -> bytes:
    """`count` rows of an 8-bit greyscale image, each its filter byte and `width` samples."""
    return (bytes([filter_byte]) + bytes(i % 256 for i in range(width))) * count


def test_a_png_without_its_header_chunk_first_is_refused() -> None:
    assert pixel_data_problem(PNG_SIGNATURE) == "no IHDR chunk"
    assert (
        pixel_data_problem(PNG_SIGNATURE + png_chunk(b"IHDR", ihdr(8, 8)[:12])) == "no IHDR chunk"
    )
    text_first = PNG_SIGNATURE + png_chunk(b"tEXt", b"Comment\x00" + b"x" * 20) + idat(rows(8, 8))
    assert pixel_data_problem(text_first) == "no IHDR chunk"
    assert pixel_data_problem(b"GIF89a") == "not a PNG"


def test_a_png_header_longer_than_13_bytes_is_read_by_its_first_13() -> None:
    body = png(ihdr(8, 8) + b"\x00", idat(rows(8, 8)))
    assert pixel_data_problem(body) is None


def test_an_unknown_colour_type_or_bit_depth_is_named() -> None:
    assert pixel_data_problem(png(ihdr(8, 8, colour=5))) == (
        "unknown PNG colour type 5 or bit depth 8"
    )
    for depth in (3, 5):
        assert pixel_data_problem(png(ihdr(8, 8, depth=depth))) == (
            f"unknown PNG colour type 0 or bit depth {depth}"
        )


def test_two_and_four_bit_greyscale_rows_are_a_quarter_and_half_as_long() -> None:
    # 8 pixels: 2 bytes at 2 bits, 4 bytes at 4 bits, each row after its filter byte
    assert pixel_data_problem(png(ihdr(8, 2, depth=2), idat(b"\x00\x11\x22" * 2))) is None
    assert pixel_data_problem(png(ihdr(8, 2, depth=4), idat(b"\x00\x11\x22\x33\x44" * 2))) is None
    assert pixel_data_problem(png(ihdr(8, 2, depth=4), idat(bytes(6)))) == (
        "image data ends after 6 of 10 bytes (truncated)"
    )


def test_a_png_with_rows_missing_at_a_row_boundary_is_truncated() -> None:
    body = png(ihdr(8, 8), idat(rows(4, 8)))
    assert pixel_data_problem(body) == "image data ends after 36 of 72 bytes (truncated)"


def test_image_data_split_by_another_chunk_ends_at_that_chunk() -> None:
    # Pillow stops at the first chunk after the image data: the second IDAT is never read
    stream = zlib.compress(rows(8, 8), 0)  # stored: every byte of it is needed
    text = png_chunk(b"tEXt", b"Comment\x00hi")
    body = png(ihdr(8, 8), png_chunk(b"IDAT", stream[:20]), text, png_chunk(b"IDAT", stream[20:]))
    found = pixel_data_problem(body)
    assert found is not None and found.endswith("of 72 bytes (truncated)")


def test_a_chunk_length_past_the_end_takes_the_rest_of_the_body() -> None:
    body = bytearray(png(ihdr(8, 8), idat(rows(8, 8))))
    at = body.index(b"IDAT") - 4
    body[at : at + 4] = struct.pack(">I", 0xFFFFFFFF)  # read unsigned: far past the end
    assert pixel_data_problem(bytes(body)) is None


def test_a_huge_declared_height_is_unsigned_and_truncated() -> None:
    body = png(ihdr(1, 2**31), idat(rows(1, 1)))
    assert pixel_data_problem(body) == (f"image data ends after 2 of {2 * 2**31} bytes (truncated)")


def interlaced_rows(width: int, height: int, last_filter: int = 0) -> bytes:
    """Greyscale Adam7 data by hand: every row's filter byte 0 but the very last one's."""
    passes = []
    for x0, y0, dx, dy in ADAM7:
        columns, count = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and count > 0:
            passes.append((count, columns))
    *first, (count, columns) = passes
    body = b"".join(rows(n, c) for n, c in first) + rows(count - 1, columns)
    return body + rows(1, columns, filter_byte=last_filter)


def test_an_interlaced_png_with_rows_missing_is_truncated() -> None:
    raw = interlaced_rows(17, 5)
    size = len(raw)
    body = png(ihdr(17, 5, interlace=1), idat(raw[:-10]))
    assert pixel_data_problem(body) == (
        f"image data ends after {size - 10} of {size} bytes (truncated)"
    )
    assert pixel_data_problem(png(ihdr(17, 5, interlace=1), idat(raw))) is None


def test_an_interlaced_png_one_row_high_checks_its_last_pass() -> None:
    # one row: the passes starting on rows 2 and 4 are empty and must be skipped
    raw = interlaced_rows(8, 1, last_filter=9)
    assert pixel_data_problem(png(ihdr(8, 1, interlace=1), idat(raw))) == (
        "a row has an unknown filter type"
    )


def test_an_interlaced_png_of_no_pixels_has_no_rows_to_check() -> None:
    assert pixel_data_problem(png(ihdr(0, 0, interlace=1), idat(b""))) is None


# -- raster findings, exactly -------------------------------------------------------------------


def test_a_header_at_the_pixel_limit_is_decoded_and_one_over_is_refused() -> None:
    body = encode(Image.new("L", (64, 64)), "PNG")
    assert inspect(body, "image/png", max_pixels=4096) == ImageInfo(64, 64, "PNG")
    assert inspect(body, "image/png", max_pixels=4095) == Finding(
        Kind.IMAGE_TOO_LARGE,
        "image of 4096 pixels is over the 4095-pixel limit; header says 64x64 PNG",
    )
    cost = decode_cost(body, content_type="image/png", max_pixels=4096, max_decode_bytes=10**9)
    assert cost == 4096
    assert decode_cost(body, content_type="image/png", max_pixels=4095, max_decode_bytes=10**9) == 0


def test_a_raster_body_served_as_a_non_image_or_as_svg_costs_nothing() -> None:
    body = encode(Image.new("L", (64, 64)), "PNG")
    for content_type in ("text/html", "image/svg+xml"):
        cost = decode_cost(
            body, content_type=content_type, max_pixels=MAX_PIXELS, max_decode_bytes=10**9
        )
        assert cost == 0


def test_a_streamed_png_costs_at_most_its_budget() -> None:
    body = encode(Image.new("L", (1000, 1000)), "PNG")
    cost = decode_cost(
        body, content_type="image/png", max_pixels=MAX_PIXELS, max_decode_bytes=500_000
    )
    assert cost == 500_000


def test_an_image_above_the_budget_with_no_reduced_decode_names_both_sizes() -> None:
    body = encode(Image.new("RGB", (400, 300)), "WEBP")
    assert inspect(body, "image/webp", max_decode_bytes=1_000_000) == Finding(
        Kind.IMAGE_TOO_LARGE,
        "decoding 400x300 WEBP takes 1.9 MB, more than the whole image decode budget of 1.0 MB"
        " (fetch.image_decode_budget_bytes)",
    )


def test_a_jpeg_libjpeg_cannot_reduce_is_over_budget_not_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = encode(Image.new("RGB", (800, 600)), "JPEG")
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", lambda *args: None)
    assert inspect(body, "image/jpeg", max_decode_bytes=1_000_000) == Finding(
        Kind.IMAGE_TOO_LARGE,
        "decoding 800x600 JPEG takes 1.9 MB, more than the whole image decode budget of 1.0 MB"
        " (fetch.image_decode_budget_bytes)",
    )


def test_a_draft_decode_asks_libjpeg_for_the_planned_fraction_of_each_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, tuple[int, int]]] = []
    real = JpegImagePlugin.JpegImageFile.draft

    def draft(self: JpegImagePlugin.JpegImageFile, mode: str, size: tuple[int, int]) -> object:
        asked.append((mode, size))
        return real(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    tall = encode(Image.new("RGB", (12, 800)), "JPEG")
    wide = encode(Image.new("RGB", (800, 12)), "JPEG")
    # full decodes take 38,400 bytes; at 1/8 each side is rounded up: 2 x 100 x 4 = 800
    assert inspect(tall, "image/jpeg", max_decode_bytes=1000) == ImageInfo(12, 800, "JPEG")
    assert inspect(wide, "image/jpeg", max_decode_bytes=1000) == ImageInfo(800, 12, "JPEG")
    assert asked == [("RGB", (1, 100)), ("RGB", (100, 1))]


def test_a_truncated_png_decoded_in_full_says_why() -> None:
    body = encode(Image.effect_noise((64, 64), 90).convert("L"), "PNG")
    found = inspect(body[: len(body) // 2], "image/png")
    assert isinstance(found, Finding) and found.kind is Kind.IMAGE_CORRUPT
    assert found.detail.startswith("64x64 PNG does not decode: ")
    assert "truncated" in found.detail.lower()


def test_a_broken_header_of_a_known_format_is_corrupt_and_says_why() -> None:
    body = PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR"  # the header chunk cut short
    assert inspect(body, "image/png") == Finding(
        Kind.IMAGE_CORRUPT, "image header unreadable: OSError: Truncated File Read"
    )


def test_an_ico_whose_frame_does_not_open_is_corrupt() -> None:
    found = inspect(ico_file(png_head(16, 16)), "image/x-icon")
    assert isinstance(found, Finding) and found.kind is Kind.IMAGE_CORRUPT
    assert found.detail.startswith("16x16 ICO does not decode: cannot identify image file")


def test_an_unreadable_avif_is_unverified_only_where_pillow_lacks_avif(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    avif = b"\x00\x00\x00\x1cftypavif" + bytes(40)
    assert isinstance(inspect(avif, "image/avif"), Finding)
    if "AVIF" in Image.OPEN:  # this Pillow reads AVIF: a body it cannot read is not an image
        assert kind_of(inspect(avif, "image/avif")) is Kind.NOT_AN_IMAGE
    monkeypatch.delitem(Image.OPEN, "AVIF", raising=False)
    monkeypatch.setattr(image, "_HEADER_FORMATS", ("JPEG", "PNG"))  # as before Pillow 11.2
    assert inspect(avif, "image/avif") == Finding(
        Kind.CHECK_FAILED, "an AVIF image, and this Pillow cannot read AVIF"
    )
    assert kind_of(inspect(b"junk", "image/avif")) is Kind.NOT_AN_IMAGE


def kind_of(found: object) -> Kind:
    assert isinstance(found, Finding), found
    return found.kind


# -- SVG findings, exactly ----------------------------------------------------------------------


def test_an_svg_served_as_another_type_names_that_type() -> None:
    body = svg('width="8" height="8"', "")
    rule = "browsers draw an SVG only when it is served as image/svg+xml"
    assert inspect(body, None) == Finding(
        Kind.NOT_AN_IMAGE, f"an SVG served as no content type: {rule}"
    )
    assert inspect(body, "application/octet-stream") == Finding(
        Kind.NOT_AN_IMAGE, f"an SVG served as application/octet-stream: {rule}"
    )


def test_an_svg_cut_at_the_byte_cap_without_a_full_size_says_so() -> None:
    body = svg('width="640"', "<rect/>" * 100)
    assert inspect(body[:200], "image/svg+xml", complete=False) == Finding(
        Kind.IMAGE_TOO_LARGE, "image larger than 200 bytes; header says an SVG of no intrinsic size"
    )


def test_an_svg_cut_before_its_root_is_too_large_with_the_parse_error() -> None:
    body = svg('width="640"', "")
    assert inspect(body[:40], "image/svg+xml", complete=False) == Finding(
        Kind.IMAGE_TOO_LARGE,
        "image larger than 40 bytes; SVG does not parse: unclosed token: line 1, column 0",
    )


def test_xml_with_no_element_served_as_svg_is_a_corrupt_svg() -> None:
    assert inspect(b'<?xml version="1.0"?>', "image/svg+xml") == Finding(
        Kind.IMAGE_CORRUPT, "SVG does not parse: no element found: line 1, column 21"
    )


def test_xml_that_is_not_svg_is_described_with_its_root_and_first_bytes() -> None:
    body = b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><p>x</p></html>'
    assert inspect(body, "image/jpeg") == Finding(
        Kind.NOT_AN_IMAGE,
        "not a recognisable image (image/jpeg); XML whose root is"
        " <{http://www.w3.org/1999/xhtml}html>, not <svg>;"
        " body starts with b'<?xml version=\"1' (looks like XML/SVG)",
    )


# -- the decode plan's sums ---------------------------------------------------------------------


def progressive(size: tuple[int, int], mode: str, subsampling: int = 0) -> Image.Image:
    body = io.BytesIO()
    Image.new(mode, size).save(body, "JPEG", progressive=True, subsampling=subsampling)
    return Image.open(io.BytesIO(body.getvalue()))


def test_a_progressive_jpegs_coefficients_follow_its_chroma_subsampling() -> None:
    # 2 bytes per coefficient; per pixel: Y 1 + each chroma 1 (4:4:4), 1/2 (4:2:2), 1/4 (4:2:0)
    pixels = 320 * 240
    assert header_of(progressive((320, 240), "RGB", 0)).coefficient_bytes == pixels * 3 * 2
    assert header_of(progressive((320, 240), "RGB", 1)).coefficient_bytes == pixels * 2 * 2
    assert header_of(progressive((320, 240), "RGB", 2)).coefficient_bytes == pixels * 3
    assert header_of(progressive((320, 240), "L")).coefficient_bytes == pixels * 2


def test_either_progressive_marker_counts_and_no_layers_means_one() -> None:
    for kept in ("progressive", "progression"):
        img = progressive((320, 240), "L")
        img.info = {kept: 1}
        assert header_of(img).coefficient_bytes == 320 * 240 * 2
    img = progressive((320, 240), "L")
    delattr(img, "layer")
    assert header_of(img).coefficient_bytes == 320 * 240 * 2


def test_decoded_sides_round_up_at_a_reduced_scale() -> None:
    assert decoded_bytes(Header(10, 10, "PNG", "L"), 4) == 9
    assert decoded_bytes(Header(10, 10, None, "L")) == 100
    assert bytes_per_pixel("not a mode") == 4


def test_a_jpeg_draft_is_the_largest_scale_that_keeps_a_pixel() -> None:
    # 6x6 RGB: 144 bytes in full; libjpeg scales by 8, 4, 2 or 1
    assert plan_decode(Header(6, 6, "JPEG", "RGB"), 16) == DecodePlan(Decode.DRAFT, 16, 144, 4)
    assert plan_decode(Header(3, 3, "JPEG", "RGB"), 16) == DecodePlan(Decode.DRAFT, 16, 36, 2)
    assert plan_decode(Header(6, 6, "MPO", "RGB"), 16) == DecodePlan(Decode.DRAFT, 16, 144, 4)
    assert plan_decode(Header(6, 6, "GIF", "RGB"), 16) == DecodePlan(Decode.REFUSE, 0, 144)


def test_megabytes_are_millions_of_bytes() -> None:
    assert megabytes(1_050_000) == "1.1 MB"
    assert Header(100, 50, None, "L").describe() == "100x50 image"


def test_a_decode_budget_needs_a_byte_and_a_slot() -> None:
    for capacity, slots in ((0, 1), (1, 0), (0, 0)):
        with pytest.raises(
            ValueError, match=r"^a decode budget needs at least one byte and one slot$"
        ):
            DecodeBudget(capacity, slots=slots)
    smallest = DecodeBudget(1, slots=1)
    assert (smallest.capacity, smallest.peak, smallest.in_use) == (1, 0, 0)


async def test_a_decode_that_fills_the_budget_exactly_goes_in() -> None:
    budget = DecodeBudget(100, slots=2)
    async with budget.hold(50), budget.hold(50):
        assert (budget.in_use, budget.peak, budget.waiting) == (100, 100, 0)


def test_a_bad_filter_byte_past_the_first_inflated_slice_is_found() -> None:
    # 1000 x 400 greyscale: 400 KB of rows, more than one 256 KiB slice; the last row is bad
    body = png(ihdr(1000, 400), idat(rows(399, 1000) + rows(1, 1000, filter_byte=7)))
    assert pixel_data_problem(body) == "a row has an unknown filter type"


def test_the_streamed_check_inflates_no_further_than_the_rows() -> None:
    # 30 MB of data after the rows, in the same stream and a second IDAT: never inflated
    stream = zlib.compress(rows(100, 100) + bytes(30_000_000), 9)
    half = len(stream) // 2
    body = png(ihdr(100, 100), png_chunk(b"IDAT", stream[:half]), png_chunk(b"IDAT", stream[half:]))
    tracemalloc.start()
    try:
        assert pixel_data_problem(body) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000


def test_svg_nesting_of_exactly_the_depth_limit_is_drawn() -> None:
    def nested(levels: int) -> bytes:  # the root counts as one level
        return svg('width="8" height="8"', "<g>" * (levels - 1) + "</g>" * (levels - 1))

    assert inspect(nested(MAX_DEPTH), "image/svg+xml") == ImageInfo(8, 8, "SVG")
    assert kind_of(inspect(nested(MAX_DEPTH + 1), "image/svg+xml")) is Kind.IMAGE_CORRUPT


def test_an_svg_is_recognised_after_a_byte_order_mark_or_leading_space() -> None:
    body = svg('width="8" height="8"', "")
    wrong = "an SVG served as no content type: browsers draw an SVG only when it is served as"
    for prefixed in (b"\xef\xbb\xbf" + body, b"  \n" + body, b" " * 252 + body):
        found = inspect(prefixed, None)
        assert isinstance(found, Finding) and found.detail.startswith(wrong), prefixed[:8]
    found = inspect(b" " * 253 + body, None)  # "<svg" ends past the first 256 bytes
    assert isinstance(found, Finding)
    assert found.detail.startswith("not a recognisable image (no content type)")


def test_a_cut_svg_served_as_another_type_is_corrupt_only_if_its_root_is_svg() -> None:
    cut_svg = svg('width="8" height="8"', "<g>")
    assert kind_of(inspect(cut_svg, "application/octet-stream")) is Kind.IMAGE_CORRUPT
    cut_xhtml = b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><p>'
    assert kind_of(inspect(cut_xhtml, "application/octet-stream")) is Kind.NOT_AN_IMAGE
    no_root = b'<?xml version="1.0"?><'
    assert kind_of(inspect(no_root, "application/octet-stream")) is Kind.NOT_AN_IMAGE


def test_a_body_served_as_svg_is_parsed_as_svg_whatever_it_looks_like() -> None:
    body = encode(Image.new("L", (8, 8)), "PNG")
    found = inspect(body, "image/svg+xml")
    assert isinstance(found, Finding) and found.kind is Kind.IMAGE_CORRUPT
    assert found.detail.startswith("SVG does not parse: ")


def test_only_the_media_type_before_the_first_parameter_counts() -> None:
    assert inspect(b"junk", "IMAGE/PNG; q=1; x=2") == Finding(
        Kind.NOT_AN_IMAGE, "not a recognisable image (image/png); body starts with b'junk'"
    )


async def test_every_slot_comes_back_once_its_decode_ends() -> None:
    budget = DecodeBudget(100, slots=2)
    async with budget.hold(10), budget.hold(10):
        pass
    gate = asyncio.Event()

    async def decode() -> None:
        async with budget.hold(10):
            await gate.wait()

    tasks = [asyncio.create_task(decode()) for _ in range(3)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert (budget.in_use, budget.waiting) == (20, 1)  # two slots again, and only two
    gate.set()
    await asyncio.gather(*tasks)
    assert budget.in_use == 0


def test_a_bad_filter_byte_after_a_row_that_straddles_two_slices_is_found() -> None:
    # 999 x 600 greyscale: 1000-byte rows, 600 KB in three 256 KiB (262144-byte) slices. Row 262
    # starts at 262000 and runs into the second slice, whose first filter byte is at 856 (row
    # 263): the second slice starts rows 263 to 524, so row 525 is the first the third starts.
    good = rows(525, 999)
    assert len(good) - 2 * 262_144 == 712  # row 525's filter byte is 712 bytes into slice three
    body = png(ihdr(999, 600), idat(good + rows(1, 999, filter_byte=5) + rows(74, 999)))
    assert pixel_data_problem(body) == "a row has an unknown filter type"


def test_an_ico_frame_over_pillows_own_pixel_limit_is_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # max_pixels above Pillow's limit: Pillow refuses the frame itself when ICO opens it. Its
    # limit is lowered here so that a 64x64 frame (4096 pixels, over twice 1000) is a "bomb".
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    body = ico_file(encode(Image.new("RGBA", (64, 64)), "PNG"))
    assert inspect(body, "image/x-icon") == Finding(
        Kind.IMAGE_TOO_LARGE, "64x64 ICO is over Pillow's decompression-bomb limit"
    )


async def test_a_waiter_granted_and_cancelled_in_the_same_step_gives_its_grant_back() -> None:
    budget = DecodeBudget(100, slots=1)
    entered = False

    async def decode() -> None:
        nonlocal entered
        async with budget.hold(60):
            entered = True

    async with budget.hold(100):
        waiter = asyncio.create_task(decode())
        await asyncio.sleep(0)  # the waiter is queued behind the holder
        assert budget.waiting == 1
    # the release granted the waiter its 60 bytes and slot; it is cancelled before it runs
    assert (budget.in_use, budget.waiting) == (60, 0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not entered
    assert (budget.in_use, budget.waiting) == (0, 0)
    async with budget.hold(100):  # the slot came back too
        assert budget.in_use == 100


async def test_a_release_skips_a_cancelled_head_and_wakes_the_waiter_behind_it() -> None:
    budget = DecodeBudget(100, slots=1)
    entered: list[str] = []
    gate = asyncio.Event()

    async def decode(name: str) -> None:
        async with budget.hold(100):
            entered.append(name)
            await gate.wait()

    async with budget.hold(100):
        head = asyncio.create_task(decode("head"))
        behind = asyncio.create_task(decode("behind"))
        await asyncio.sleep(0)  # both are queued, the head first
        assert budget.waiting == 2
        head.cancel()  # cancelled, but still queued until it runs: the release comes first
    assert budget.in_use == 100  # the release went past the cancelled head to the one behind
    for _ in range(3):
        await asyncio.sleep(0)
    assert head.cancelled()
    assert (entered, budget.in_use, budget.waiting) == (["behind"], 100, 0)
    gate.set()
    await behind
    assert budget.in_use == 0
