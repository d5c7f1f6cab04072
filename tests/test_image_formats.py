"""The image formats cards really use (SVG, WebP, AVIF, GIF, ICO, BMP besides PNG and JPEG), and
SVGs built to hurt: each gets its verdict quickly, with bounded memory."""

from __future__ import annotations

import gzip
import io
import struct
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image, features
from pngbytes import ADAM7, idat, ihdr, png
from quickrun import crawl, quick_config
from servers import ok, open_fetcher, serve

from crawler.judge.images import check as image
from crawler.judge.images.check import inspect_image
from crawler.judge.images.png import pixel_data_problem
from crawler.judge.images.svg import MAX_DEPTH, SvgImage, svg_size
from crawler.model import Finding, ImageInfo, Kind, LinkKind

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'
SVG11_DOCTYPE = (
    '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"'
    ' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
)


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Not flat: a gradient, so that every format has real data to compress."""
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90).resize(size), gradient)
    ).convert(mode)


def inspect(body: bytes, content_type: str | None, **kw: object) -> ImageInfo | Finding | None:
    options: dict[str, object] = {"complete": True, "max_pixels": 80_000_000, **kw}
    return inspect_image(body, content_type=content_type, **options)  # type: ignore[arg-type]


def svg(attributes: str, inner: str = "<rect width='1' height='1'/>", prolog: str = "") -> bytes:
    return f"{prolog}<svg {SVG_NS} {attributes}>{inner}</svg>".encode()


def kind_of(result: object) -> Kind:
    assert isinstance(result, Finding), result
    return result.kind


# -- raster formats -----------------------------------------------------------------------------


def test_webp() -> None:
    assert inspect(encode(picture((320, 200)), "WEBP"), "image/webp") == ImageInfo(320, 200, "WEBP")


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF support")
def test_avif() -> None:
    body = encode(picture((64, 48)), "AVIF", quality=50, speed=10)
    assert inspect(body, "image/avif") == ImageInfo(64, 48, "AVIF")


def test_avif_without_pillow_support_is_check_failed_not_broken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pillow before 11.2 has no AVIF plugin: an AVIF is then unverified, not "not an image"
    body = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(64)
    monkeypatch.delitem(Image.OPEN, "AVIF", raising=False)
    monkeypatch.setattr(image, "_HEADER_FORMATS", ("JPEG", "PNG"))
    finding = inspect(body, "image/avif")
    assert kind_of(finding) is Kind.CHECK_FAILED
    assert "AVIF" in finding.detail  # type: ignore[union-attr]


def test_gif() -> None:
    body = encode(picture((50, 40), "P"), "GIF")
    assert inspect(body, "image/gif") == ImageInfo(50, 40, "GIF")


def test_animated_gif_reports_its_canvas() -> None:
    frames = [picture((60, 30)).rotate(angle).convert("P") for angle in (0, 90, 180)]
    body = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(body)).n_frames == 3
    assert inspect(body, "image/gif") == ImageInfo(60, 30, "GIF")


def test_truncated_gif_is_corrupt() -> None:
    body = encode(Image.effect_noise((200, 200), 80).convert("P"), "GIF")
    assert kind_of(inspect(body[: len(body) // 2], "image/gif")) is Kind.IMAGE_CORRUPT


def test_ico_reports_its_largest_image() -> None:
    body = encode(picture((64, 64)), "ICO", sizes=[(16, 16), (32, 32), (64, 64)])
    assert inspect(body, "image/x-icon") == ImageInfo(64, 64, "ICO")
    assert inspect(body, "image/vnd.microsoft.icon") == ImageInfo(64, 64, "ICO")


def ico_wrapping_png(png: bytes, directory_size: int = 16) -> bytes:
    """An ICO whose directory claims directory_size^2 but whose one image is `png`."""
    entry = struct.pack("<BBBBHHII", directory_size, directory_size, 0, 0, 1, 32, len(png), 22)
    return b"\x00\x00\x01\x00\x01\x00" + entry + png


def test_ico_whose_embedded_png_is_huge_is_refused_before_pillow_decodes_it() -> None:
    # Pillow decodes an ICO's image inside Image.open: the real size must be read before that
    png = png_header_only(20_000, 20_000)
    finding = inspect(ico_wrapping_png(png), "image/x-icon", max_pixels=10_000_000)
    assert kind_of(finding) is Kind.IMAGE_TOO_LARGE
    assert "20000x20000 ICO" in finding.detail  # type: ignore[union-attr]


def test_bmp() -> None:
    assert inspect(encode(picture((30, 20)), "BMP"), "image/bmp") == ImageInfo(30, 20, "BMP")


def test_a_format_browsers_do_not_draw_is_not_an_image() -> None:
    finding = inspect(encode(picture((30, 20)), "TIFF"), "image/tiff")
    assert kind_of(finding) is Kind.NOT_AN_IMAGE
    assert "image/tiff" in finding.detail  # type: ignore[union-attr]


# -- SVG: the size ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "size"),
    [
        ('width="600" height="350"', (600, 350)),
        ('width="600px" height="350px"', (600, 350)),
        ('width="600 px" viewBox="0 0 60 35"', (60, 35)),  # "600 px" is not a CSS length
        ('width=" 600.4 " height="349.6"', (600, 350)),
        ('width="1in" height="72pt"', (96, 96)),
        ('viewBox="0 0 120 60"', (120, 60)),
        ('viewBox="-10,-10,120,60"', (120, 60)),
        ('width="100%" height="100%" viewBox="0 0 120 60"', (120, 60)),
        ('width="2em" height="1em" viewBox="0 0 120 60"', (120, 60)),
        ('width="240" viewBox="0 0 120 60"', (240, 120)),  # the other side from the ratio
        ('height="30" viewBox="0 0 120 60"', (60, 30)),
        ('width="240" height="100%" viewBox="0 0 120 60"', (240, 120)),
    ],
)
def test_svg_size_from_width_height_or_viewbox(attributes: str, size: tuple[int, int]) -> None:
    result = inspect(svg(attributes), "image/svg+xml")
    assert result == ImageInfo(size[0], size[1], "SVG")


@pytest.mark.parametrize(
    "attributes",
    [
        "",
        'width="100%" height="100%"',
        'width="600"',
        'viewBox="0 0 0 10"',
        'viewBox="nope"',
        'width="1e999" height="1e999"',
        'viewBox="0 0 nan 5"',
    ],
)
def test_svg_with_no_intrinsic_size_is_an_image_of_unknown_size(attributes: str) -> None:
    # None: a sound image with no size to compare, so no dimension check happens
    assert inspect(svg(attributes), "image/svg+xml") is None


def test_svg_size_never_overflows_an_integer_column() -> None:
    assert svg_size({"viewBox": "0 0 1e300 1"}) == SvgImage(None, None)
    assert svg_size({"width": "99999999999", "height": "1"}) == SvgImage(None, None)


def test_svg_with_the_svg11_doctype_and_comments() -> None:
    body = svg(
        'width="24" height="24"',
        prolog=f'<?xml version="1.0"?>\n<!-- Inkscape -->\n{SVG11_DOCTYPE}\n',
    )
    assert inspect(body, "image/svg+xml") == ImageInfo(24, 24, "SVG")


def test_svgz() -> None:
    body = gzip.compress(svg('width="48" height="32"'))
    assert inspect(body, "image/svg+xml") == ImageInfo(48, 32, "SVG")


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", None])
def test_svg_served_as_another_image_type_is_not_drawn(content_type: str | None) -> None:
    # browsers sniff PNG served as image/jpeg, but draw an SVG only as image/svg+xml
    for body in (svg('width="8" height="8"'), gzip.compress(svg('width="8" height="8"'))):
        finding = inspect(body, content_type)
        assert kind_of(finding) is Kind.NOT_AN_IMAGE
        assert "only when it is served as image/svg+xml" in finding.detail  # type: ignore[union-attr]


def test_svg_served_as_xml_text_is_not_an_image() -> None:
    finding = inspect(svg('width="8" height="8"'), "text/xml")
    assert kind_of(finding) is Kind.NOT_AN_IMAGE
    assert "looks like XML/SVG" in finding.detail  # type: ignore[union-attr]


def test_svg_without_its_namespace_is_not_drawn() -> None:
    finding = inspect(b'<svg width="8" height="8"/>', "image/svg+xml")
    assert kind_of(finding) is Kind.IMAGE_CORRUPT
    assert "xmlns" in finding.detail  # type: ignore[union-attr]


def test_xhtml_is_not_an_svg() -> None:
    body = b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><p>login</p></html>'
    finding = inspect(body, "image/jpeg")
    assert kind_of(finding) is Kind.NOT_AN_IMAGE
    assert "root is <{http://www.w3.org/1999/xhtml}html>" in finding.detail  # type: ignore[union-attr]
    assert "image/jpeg" in finding.detail  # type: ignore[union-attr]


def test_truncated_svg_is_corrupt() -> None:
    body = svg('width="8" height="8"', inner="<g>" * 10 + "<rect/>")
    finding = inspect(body[:-6], "image/svg+xml")
    assert kind_of(finding) is Kind.IMAGE_CORRUPT
    assert "does not parse" in finding.detail  # type: ignore[union-attr]


def test_svg_cut_at_the_byte_cap_reports_the_size_its_root_declares() -> None:
    body = svg('width="640" height="480"', inner="<rect/>" * 1000)
    finding = inspect(body[:300], "image/svg+xml", complete=False)
    assert finding == Finding(
        Kind.IMAGE_TOO_LARGE, "image larger than 300 bytes; header says 640x480 SVG"
    )


# -- SVG: hostile -------------------------------------------------------------------------------


def doctype(subset: str, inner: str = "") -> bytes:
    """An SVG whose DOCTYPE has this internal subset."""
    return f'<?xml version="1.0"?><!DOCTYPE svg [{subset}]><svg {SVG_NS}>{inner}</svg>'.encode()


LAUGHS = '<!ENTITY lol0 "lol">' + "".join(
    f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
)
HOSTILE_SVGS = {
    "billion laughs": (doctype(LAUGHS, "&lol9;"), "lol0"),
    "external entity": (doctype('<!ENTITY x SYSTEM "file:///etc/passwd">', "&x;"), "/etc/passwd"),
    "parameter entity": (doctype('<!ENTITY % p SYSTEM "http://127.0.0.1/x"> %p;'), "127.0.0.1"),
    "DTD default attributes": (doctype('<!ATTLIST svg width CDATA "9999">'), "default attributes"),
    "deep nesting": (svg("", inner="<g>" * 100_000 + "</g>" * 100_000), f"{MAX_DEPTH} levels"),
    "deep nesting, gzipped": (
        gzip.compress(svg("", inner="<g>" * 1_000_000 + "</g>" * 1_000_000)),
        f"{MAX_DEPTH} levels",
    ),
}


@pytest.mark.parametrize("name", HOSTILE_SVGS)
def test_hostile_svg_is_refused_with_a_clear_detail(name: str) -> None:
    body, words = HOSTILE_SVGS[name]
    finding = inspect(body, "image/svg+xml")
    assert kind_of(finding) is Kind.IMAGE_CORRUPT
    assert "SVG refused" in finding.detail and words in finding.detail  # type: ignore[union-attr]


@pytest.mark.parametrize("name", HOSTILE_SVGS)
def test_hostile_svg_costs_little_memory(name: str) -> None:
    body = HOSTILE_SVGS[name][0]
    tracemalloc.start()
    try:
        inspect(body, "image/svg+xml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000


def test_a_refusal_detail_is_bounded_whatever_the_document_names() -> None:
    body = doctype(f'<!ENTITY x SYSTEM "http://example.com/{"a" * 100_000}">', "&x;")
    finding = inspect(body, "image/svg+xml")
    assert kind_of(finding) is Kind.IMAGE_CORRUPT
    assert len(finding.detail) < 300  # type: ignore[union-attr]


def test_svgz_bomb_stops_at_the_byte_cap() -> None:
    inflated = svg('width="1" height="1"') + b" " * 50_000_000
    finding = inspect(gzip.compress(inflated, 9), "image/svg+xml", max_bytes=1_000_000)
    assert finding == Finding(
        Kind.IMAGE_TOO_LARGE, "SVG refused: SVGZ inflates to more than 1000000 bytes"
    )


def test_an_undefined_entity_is_corrupt() -> None:
    finding = inspect(svg("", inner="&nbsp;"), "image/svg+xml")
    assert kind_of(finding) is Kind.IMAGE_CORRUPT


async def test_50_mb_of_nesting_is_refused_from_its_first_bytes() -> None:
    body = svg("", inner="<g>" * 7_000_000 + "</g>" * 7_000_000)
    async with (
        serve({"/deep.svg": ok(body, content_type="image/svg+xml")}) as server,
        open_fetcher(max_image_bytes=10_000_000, timeout=20.0) as fetcher,
    ):
        outcome = await fetcher.check(server.url("/deep.svg"), LinkKind.IMAGE)
    assert [f.kind for f in outcome.findings] == [Kind.IMAGE_CORRUPT]
    assert f"nested deeper than {MAX_DEPTH} levels" in outcome.findings[0].detail


# -- SVG through the fetcher and into the store -------------------------------------------------


async def test_svg_served_as_image_svg_xml() -> None:
    routes = {
        "/logo.svg": ok(svg('width="120" height="40"'), content_type="image/svg+xml"),
        "/logo.svgz": ok(gzip.compress(svg('viewBox="0 0 60 20"')), content_type="image/svg+xml"),
        "/any.svg": ok(svg(""), content_type="image/svg+xml; charset=utf-8"),
    }
    async with serve(routes) as server, open_fetcher() as fetcher:
        logo = await fetcher.check(server.url("/logo.svg"), LinkKind.IMAGE)
        svgz = await fetcher.check(server.url("/logo.svgz"), LinkKind.IMAGE)
        unsized = await fetcher.check(server.url("/any.svg"), LinkKind.IMAGE)
    assert (logo.findings, logo.image) == ([], ImageInfo(120, 40, "SVG"))
    assert (svgz.findings, svgz.image) == ([], ImageInfo(60, 20, "SVG"))
    assert (unsized.findings, unsized.image) == ([], None)


def write_card(folder: Path, name: str, page: str, image: str, width: int, height: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f"---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: {page}\n"
        f"images:\n  - url: {image}\n    width: {width}\n    height: {height}\n---\n"
    )


async def test_an_svg_of_unknown_size_gets_no_dimension_check(tmp_path: Path) -> None:
    routes = {
        "/sized.svg": ok(svg('width="120" height="40"'), content_type="image/svg+xml"),
        "/unsized.svg": ok(svg(""), content_type="image/svg+xml"),
        "/{name}": lambda request: ok(f"<title>{request.match_info['name']}</title>")(request),
    }
    async with serve(routes) as server:
        cards = tmp_path / "cards"
        write_card(cards, "fits", server.url("/fits"), server.url("/sized.svg"), 120, 40)
        write_card(cards, "wrong", server.url("/wrong"), server.url("/sized.svg?x"), 600, 350)
        write_card(cards, "unknown", server.url("/unknown"), server.url("/unsized.svg"), 600, 350)
        _, report = await crawl(quick_config(tmp_path))
    status = {card["path"].rsplit("/", 1)[-1]: card["status"] for card in report["cards"]}
    assert status == {"fits.md": "ok", "wrong.md": "rotted", "unknown.md": "ok"}
    urls = {u["url"].rsplit("/", 1)[-1]: u for u in report["urls"]}
    assert urls["unsized.svg"]["image"] is None  # stored without a size: nothing to compare
    assert urls["sized.svg"]["image"]["width"] == 120


# -- PNG: the streamed check agrees with Pillow's full decode -----------------------------------


def png_header_only(width: int, height: int) -> bytes:
    return encode(Image.new("L", (1, 1)), "PNG").replace(
        struct.pack(">II", 1, 1), struct.pack(">II", width, height), 1
    )


def interlaced_png(width: int, height: int) -> bytes:
    """An Adam7 RGB PNG, built by hand (Pillow does not write interlaced PNGs)."""
    raw = b""
    for x0, y0, dx, dy in ADAM7:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            raw += (b"\x00" + bytes(range(3 * columns)) * 1)[: 1 + 3 * columns] * rows
    return png(ihdr(width, height, colour=2, interlace=1), idat(raw))


def pillow_decodes(body: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(body)) as img:
            img.load()
    except Exception:
        return False
    return True


@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "RGB", "RGBA", "I;16"])
def test_streamed_png_check_accepts_every_mode(mode: str) -> None:
    body = encode(picture((37, 23)).convert(mode), "PNG")
    assert pixel_data_problem(body) is None


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (9, 9), (17, 5)])
def test_streamed_png_check_reads_interlaced_rows(size: tuple[int, int]) -> None:
    body = interlaced_png(*size)
    assert pillow_decodes(body)
    assert pixel_data_problem(body) is None


def test_streamed_png_check_agrees_with_pillow_at_every_cut() -> None:
    body = encode(Image.effect_noise((64, 64), 90).convert("RGB"), "PNG", compress_level=1)
    for cut in range(40, len(body), 97):
        assert (pixel_data_problem(body[:cut]) is None) == pillow_decodes(body[:cut]), cut


def test_streamed_png_check_finds_a_bad_filter_byte() -> None:
    raw = (b"\x00" + b"\x10" * 8) * 7 + b"\x07" + b"\x10" * 8  # the last row: filter 7
    body = png(ihdr(8, 8), idat(raw))
    assert not pillow_decodes(body)
    assert pixel_data_problem(body) == "a row has an unknown filter type"


def test_streamed_png_check_finds_a_corrupt_stream() -> None:
    body = bytearray(encode(Image.effect_noise((64, 64), 90).convert("L"), "PNG"))
    start = body.index(b"IDAT") + 40
    body[start : start + 30] = bytes(30)
    assert not pillow_decodes(bytes(body))
    assert pixel_data_problem(bytes(body)) is not None


def test_streamed_png_check_accepts_a_missing_iend_like_pillow() -> None:
    body = encode(picture((20, 20)), "PNG")
    cut = body[: body.rindex(b"IEND") - 4]
    assert pillow_decodes(cut)
    assert pixel_data_problem(cut) is None
