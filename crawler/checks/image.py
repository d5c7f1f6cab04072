"""Is this body the image a card promises? Pure and CPU-bound: call it via asyncio.to_thread.

Pillow decodes with the GIL released, so a thread keeps the event loop moving.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from crawler.models import Finding, ImageInfo
from crawler.verdicts import Kind, dimension_detail

# Served with these (or with no Content-Type at all), a valid image body is fine.
_GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


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


def _header(info: tuple[int, int, str | None]) -> str:
    width, height, fmt = info
    return f"{width}x{height} {fmt or 'image'}"


def _header_without_bomb_check(body: bytes) -> tuple[int, int, str | None] | None:
    """The declared size, read by Pillow's format plugins directly.

    Image.open refuses (DecompressionBombError) before telling the size; the plugin factories
    only parse the header, which is all a report needs.
    """
    Image.init()
    prefix = body[:16]
    for fmt in list(Image.ID):
        factory, accept = Image.OPEN[fmt]
        accepted = accept(prefix) if accept is not None else True
        if isinstance(accepted, str) or not accepted:
            continue
        try:
            with factory(io.BytesIO(body), "") as img:
                return img.size[0], img.size[1], img.format
        except Exception:  # this plugin cannot read it: try the next one
            continue
    return None


def _too_many_pixels(header: tuple[int, int, str | None], max_pixels: int) -> Finding:
    pixels = header[0] * header[1]
    return Finding(
        Kind.IMAGE_TOO_LARGE,
        f"image of {pixels} pixels is over the {max_pixels}-pixel limit;"
        f" header says {_header(header)}",
    )


def _bomb(body: bytes, max_pixels: int) -> Finding:
    """Pillow refused the image as a decompression bomb."""
    header = _header_without_bomb_check(body)
    if header is not None:
        return _too_many_pixels(header, max_pixels)
    return Finding(Kind.IMAGE_TOO_LARGE, "image over Pillow's decompression-bomb limit")


def inspect_image(
    body: bytes, *, content_type: str | None, complete: bool, max_pixels: int
) -> ImageInfo | Finding:
    """Decode `body` fully; an ImageInfo when it is a sound image, else the Finding.

    `complete=False` means `body` is only the first bytes of a larger resource (the fetch was cut
    at its byte cap): the image is then reported too large, with the size its header declares.
    """
    media = _media_type(content_type)
    if media is not None and not media.startswith("image/") and media not in _GENERIC_TYPES:
        return Finding(Kind.NOT_AN_IMAGE, f"served as {media}, not an image; {_sniff(body)}")
    try:
        img = Image.open(io.BytesIO(body))
    except _BOMB_ERRORS:
        return _bomb(body, max_pixels)
    except UnidentifiedImageError:
        served = media or "no content type"
        return Finding(Kind.NOT_AN_IMAGE, f"not a recognisable image ({served}); {_sniff(body)}")
    except Exception as exc:  # a recognised format whose header is broken
        return Finding(Kind.IMAGE_CORRUPT, f"image header unreadable: {type(exc).__name__}: {exc}")
    with img:
        info = ImageInfo(width=img.size[0], height=img.size[1], format=img.format)
        header = _header((info.width, info.height, info.format))
        if not complete:
            return Finding(
                Kind.IMAGE_TOO_LARGE, f"image larger than {len(body)} bytes; header says {header}"
            )
        if info.width * info.height > max_pixels:  # checked before load(): never decode a bomb
            return _too_many_pixels((info.width, info.height, info.format), max_pixels)
        try:
            img.load()
        except _BOMB_ERRORS:
            return _bomb(body, max_pixels)
        except Exception as exc:  # truncated or corrupt data: Pillow raises many kinds
            return Finding(Kind.IMAGE_CORRUPT, f"{header} does not decode: {exc}")
    return info


def dimension_problem(
    declared_width: int | None, declared_height: int | None, info: ImageInfo
) -> str | None:
    """'declared 600x350, real 1200x630' when the card's size is not the image's; else None."""
    return dimension_detail(declared_width, declared_height, info.width, info.height)
