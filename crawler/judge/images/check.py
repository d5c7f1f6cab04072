"""Is this body the image a card promises? Pure and CPU-bound: call it via asyncio.to_thread
(crawler.judge.http checks a small one in the event loop).

Pillow decodes with the GIL released, so a thread keeps the event loop moving. The formats are
the ones browsers draw: JPEG, PNG, GIF (animated too: its first frame is decoded), WebP, AVIF,
BMP, ICO (its largest image) and SVG (parsed, never rasterised: see svg.py). Anything else
Pillow could read (TIFF, PSD, EPS...) is not an image a card can show, and Pillow's plugins for
those never see the body. `decode_cost` tells, from the header alone, what decoding will take, so
that the caller can hold it in a DecodeBudget (pixels.py) before handing the body to a thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from crawler.judge.images import ico
from crawler.judge.images.pixels import (
    Decode,
    DecodePlan,
    Header,
    header_of,
    megabytes,
    plan_decode,
)
from crawler.judge.images.png import pixel_data_problem
from crawler.judge.images.svg import SvgProblem, inspect_svg, looks_like_svg
from crawler.model import Finding, ImageInfo, Kind

# Served with these (or with no Content-Type at all), a valid image body is fine.
_GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)
WEB_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP", "ICO")
DEFAULT_MAX_BYTES = 10_000_000  # an SVGZ never inflates beyond this (fetch.max_image_bytes)
# A card needs none of a PNG's text metadata: Pillow's default lets 64 MB of it inflate.
PngImagePlugin.MAX_TEXT_MEMORY = 4 * PngImagePlugin.MAX_TEXT_CHUNK

Image.init()
# ICO decodes its largest image inside Image.open: it is opened only once its sizes are known.
_HEADER_FORMATS = tuple(f for f in WEB_FORMATS if f in Image.OPEN and f != "ICO")
_DECODE_FORMATS = tuple(f for f in WEB_FORMATS if f in Image.OPEN)


def _media_type(content_type: str | None) -> str | None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media or None


def _sniff(body: bytes) -> str:
    """A short description of what the body looks like, for a finding's detail."""
    if not body:
        return "the body is empty"
    head = body[:512].lstrip().lower()
    looks = ""
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        looks = " (looks like HTML)"
    elif head.startswith((b"<?xml", b"<svg")):
        looks = " (looks like XML/SVG)"
    elif head.startswith((b"{", b"[")):
        looks = " (looks like JSON)"
    return f"body starts with {body[:16]!r}{looks}"


def _not_an_image(media: str | None, body: bytes, why: str = "") -> Finding:
    served = media or "no content type"
    return Finding(Kind.NOT_AN_IMAGE, f"not a recognisable image ({served}); {why}{_sniff(body)}")


def _served_as_non_image(media: str | None) -> bool:
    return media is not None and not media.startswith("image/") and media not in _GENERIC_TYPES


# -- headers ------------------------------------------------------------------------------------


def _header_without_bomb_check(body: bytes, formats: Sequence[str]) -> Header | None:
    """The declared size, read by Pillow's format plugins directly.

    Image.open refuses (DecompressionBombError) before telling the size; the plugin factories
    only parse the header, which is all a report needs.
    """
    prefix = body[:16]
    for fmt in formats:
        factory, accept = Image.OPEN[fmt]
        accepted = accept(prefix) if accept is not None else True
        if isinstance(accepted, str) or not accepted:
            continue
        try:
            with factory(io.BytesIO(body), "") as img:
                return Header(img.size[0], img.size[1], img.format, img.mode)
        except Exception:  # this plugin cannot read it: try the next one
            continue
    return None


def _too_many_pixels(header: Header, max_pixels: int) -> Finding:
    return Finding(
        Kind.IMAGE_TOO_LARGE,
        f"image of {header.pixels} pixels is over the {max_pixels}-pixel limit;"
        f" header says {header.describe()}",
    )


def _bomb(body: bytes, max_pixels: int) -> Finding:
    """Pillow refused the image as a decompression bomb."""
    header = _header_without_bomb_check(body, _HEADER_FORMATS)
    if header is not None:
        return _too_many_pixels(header, max_pixels)
    return Finding(Kind.IMAGE_TOO_LARGE, "image over Pillow's decompression-bomb limit")


def _ico_header(body: bytes) -> Header | Finding:
    sizes = ico.frame_sizes(body)
    if sizes is None:
        return Finding(Kind.IMAGE_CORRUPT, "ICO directory or image headers unreadable")
    width, height = max(sizes, key=lambda size: size[0] * size[1])
    return Header(width, height, "ICO", "RGBA")


def _is_avif(body: bytes) -> bool:
    return body[4:8] == b"ftyp" and (b"avif" in body[8:64] or b"avis" in body[8:64])


def read_header(body: bytes, media: str | None, max_pixels: int) -> Header | Finding:
    """What the image's header declares, decoding no pixel: cheap enough for the event loop."""
    if ico.is_ico(body):
        return _ico_header(body)
    try:
        with Image.open(io.BytesIO(body), formats=_HEADER_FORMATS) as img:
            return header_of(img)
    except _BOMB_ERRORS:
        return _bomb(body, max_pixels)
    except UnidentifiedImageError:
        if _is_avif(body) and "AVIF" not in Image.OPEN:
            return Finding(Kind.CHECK_FAILED, "an AVIF image, and this Pillow cannot read AVIF")
        return _not_an_image(media, body)
    except Exception as exc:  # a recognised format whose header is broken
        return Finding(Kind.IMAGE_CORRUPT, f"image header unreadable: {type(exc).__name__}: {exc}")


def decode_cost(
    body: bytes, *, content_type: str | None, max_pixels: int, max_decode_bytes: int
) -> int:
    """Bytes of the decode budget `inspect_image` needs for `body`, from its header alone.

    0 for what is never decoded: not an image, unreadable, over the pixel limit, or an SVG (its
    streamed parse holds a few slices of text, never pixels).
    """
    media = _media_type(content_type)
    if _served_as_non_image(media) or looks_like_svg(body, media):
        return 0
    header = read_header(body, media, max_pixels)
    if isinstance(header, Finding) or header.pixels > max_pixels:
        return 0
    return plan_decode(header, max_decode_bytes).cost


# -- decoding -----------------------------------------------------------------------------------


def _load(img: Image.Image, body: bytes, plan: DecodePlan) -> str | None:
    """Decode `img` the planned way; why it does not decode, or None. May raise (Pillow does).

    A card needs the proof that the pixels decode, never the pixels: even when a full decode
    fits the budget, a PNG is only inflated and its rows checked (png.py) and a JPEG decoded at
    the smallest scale, which reads every coefficient all the same (truncation and corrupt data
    fail as in a full decode) at a fraction of the work."""
    if plan.how is Decode.STREAM or (plan.how is Decode.FULL and img.format == "PNG"):
        return pixel_data_problem(body)
    if plan.how is Decode.DRAFT:
        wanted = (max(1, img.size[0] // plan.scale), max(1, img.size[1] // plan.scale))
        if img.draft(img.mode, wanted) is None:  # cannot be reduced: never decode it in full
            raise _Unreduced
    elif plan.how is Decode.FULL and img.format == "JPEG":
        img.draft(img.mode, (1, 1))  # the smallest scale libjpeg offers; None: a full decode
    img.load()
    return None


class _Unreduced(Exception):
    """A JPEG that libjpeg cannot decode at a reduced scale."""


def _over_budget(header: Header, plan: DecodePlan, budget: int | None) -> Finding:
    return Finding(
        Kind.IMAGE_TOO_LARGE,
        f"decoding {header.describe()} takes {megabytes(plan.full_cost)}, more than the whole"
        f" image decode budget of {megabytes(budget or 0)} (fetch.image_decode_budget_bytes)",
    )


def _decode(
    body: bytes, header: Header, plan: DecodePlan, budget: int | None
) -> ImageInfo | Finding:
    try:
        img = Image.open(io.BytesIO(body), formats=_DECODE_FORMATS)  # ICO decodes here
    except _BOMB_ERRORS:  # only when max_pixels is set above Pillow's own limit
        return Finding(
            Kind.IMAGE_TOO_LARGE, f"{header.describe()} is over Pillow's decompression-bomb limit"
        )
    except Exception as exc:
        return Finding(Kind.IMAGE_CORRUPT, f"{header.describe()} does not decode: {exc}")
    with img:
        info = ImageInfo(width=img.size[0], height=img.size[1], format=img.format)
        try:
            problem = _load(img, body, plan)
        except _Unreduced:
            return _over_budget(header, plan, budget)
        except Exception as exc:  # truncated or corrupt data: Pillow raises many kinds
            problem = str(exc)
    if problem is not None:
        return Finding(Kind.IMAGE_CORRUPT, f"{header.describe()} does not decode: {problem}")
    return info


def _inspect_raster(
    body: bytes, media: str | None, complete: bool, max_pixels: int, budget: int | None
) -> ImageInfo | Finding:
    header = read_header(body, media, max_pixels)
    if isinstance(header, Finding):
        return header
    if not complete:
        return Finding(
            Kind.IMAGE_TOO_LARGE,
            f"image larger than {len(body)} bytes; header says {header.describe()}",
        )
    if header.pixels > max_pixels:  # checked before any decode: never decode a bomb
        return _too_many_pixels(header, max_pixels)
    plan = plan_decode(header, budget)
    if plan.how is Decode.REFUSE:
        return _over_budget(header, plan, budget)
    return _decode(body, header, plan, budget)


def _svg_finding(found: SvgProblem, media: str | None, body: bytes, complete: bool) -> Finding:
    if found.too_large:
        return Finding(Kind.IMAGE_TOO_LARGE, found.detail)
    if found.refused:  # hostile, whatever the body's size
        return Finding(Kind.IMAGE_CORRUPT, found.detail)
    if not found.is_svg:
        return _not_an_image(media, body, f"{found.detail}; ")
    if not complete:  # cut at the byte cap: the cut is the problem, not the SVG
        return Finding(Kind.IMAGE_TOO_LARGE, f"image larger than {len(body)} bytes; {found.detail}")
    return Finding(Kind.IMAGE_CORRUPT, found.detail)


def _inspect_svg(
    body: bytes, media: str | None, complete: bool, max_bytes: int
) -> ImageInfo | Finding | None:
    served_as_svg = media == "image/svg+xml"
    found = inspect_svg(body, served_as_svg=served_as_svg, complete=complete, max_bytes=max_bytes)
    if isinstance(found, SvgProblem):
        return _svg_finding(found, media, body, complete)
    sized = found.width is not None and found.height is not None
    if not served_as_svg:  # browsers sniff raster formats, never SVG (it may hold scripts)
        return Finding(
            Kind.NOT_AN_IMAGE,
            f"an SVG served as {media or 'no content type'}: browsers draw an SVG only when it"
            " is served as image/svg+xml",
        )
    if not complete:
        size = f"{found.width}x{found.height} SVG" if sized else "an SVG of no intrinsic size"
        return Finding(
            Kind.IMAGE_TOO_LARGE, f"image larger than {len(body)} bytes; header says {size}"
        )
    if found.width is None or found.height is None:
        return None
    return ImageInfo(width=found.width, height=found.height, format="SVG")


def inspect_image(
    body: bytes,
    *,
    content_type: str | None,
    complete: bool,
    max_pixels: int,
    max_decode_bytes: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImageInfo | Finding | None:
    """Decode `body`; an ImageInfo when it is a sound image, else the Finding.

    None: a sound image with no intrinsic size (an SVG with neither width/height nor viewBox);
    nothing to compare with a card's declared size, so its result stores no size.
    `complete=False` means `body` is only the first bytes of a larger resource (the fetch was cut
    at its byte cap): the image is then reported too large, with the size its header declares.
    `max_decode_bytes` is the decode budget: an image whose full decode would need more is
    decoded in a reduced way (JPEG, PNG) or reported too large, never decoded in full.
    """
    media = _media_type(content_type)
    if _served_as_non_image(media):
        return Finding(Kind.NOT_AN_IMAGE, f"served as {media}, not an image; {_sniff(body)}")
    if looks_like_svg(body, media):
        return _inspect_svg(body, media, complete, max_bytes)
    return _inspect_raster(body, media, complete, max_pixels, max_decode_bytes)
