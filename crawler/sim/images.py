"""The simulated web's images: solid-colour JPEGs and PNGs of any size, and truncated JPEGs."""

from __future__ import annotations

import functools
import io
import struct
from typing import Final

from PIL import Image

MAX_IMAGE_SIDE: Final = 4096
LOGO_SIZE: Final = 50


def _colour(width: int, height: int) -> tuple[int, int, int]:
    return ((width * 37) % 200 + 30, (height * 53) % 200 + 30, ((width + height) * 11) % 200 + 30)


@functools.lru_cache(maxsize=256)
def image_bytes(width: int, height: int, fmt: str) -> bytes:
    """A solid-colour image of exactly width x height, encoded once per (size, format)."""
    image = Image.new("RGB", (width, height), _colour(width, height))
    buffer = io.BytesIO()
    if fmt in ("jpg", "jpeg"):
        image.save(buffer, format="JPEG", quality=60)
    elif fmt == "png":
        image.save(buffer, format="PNG", optimize=False)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buffer.getvalue()


def _scan_start(data: bytes) -> int:
    """Offset of the first byte of entropy-coded data in a JPEG (just after the SOS header)."""
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("not a well-formed JPEG")
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xDA:  # start of scan
            return int(pos + 2 + length)
        pos += 2 + length
    raise ValueError("JPEG without a scan")


@functools.lru_cache(maxsize=64)
def truncated_jpeg(width: int, height: int) -> bytes:
    """The first half of a real JPEG, but never cut before its headers are complete.

    Pillow opens it (the size is readable) and fails to decode it: "image file is truncated".
    """
    data = image_bytes(width, height, "jpg")
    cut = max(len(data) // 2, _scan_start(data) + 1)
    return data[: min(cut, len(data) - 2)]  # always drop the end-of-image marker
