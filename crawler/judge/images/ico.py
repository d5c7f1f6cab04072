"""The real sizes of the images inside an ICO file, read without decoding any of them.

Pillow decodes an ICO's largest image inside Image.open, before a caller can look at its size;
and the directory's sizes (at most 256) may lie: an embedded PNG can be any size. So the sizes
come from each embedded image's own header, before Pillow is allowed near the file.
"""

from __future__ import annotations

import struct

from crawler.judge.images.png import SIGNATURE as PNG_SIGNATURE

MAGIC = b"\x00\x00\x01\x00"


def is_ico(body: bytes) -> bool:
    return body.startswith(MAGIC)


def _frame_size(body: bytes, offset: int) -> tuple[int, int] | None:
    head = body[offset : offset + 24]
    if head.startswith(PNG_SIGNATURE):
        if len(head) < 24:
            return None
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if len(head) < 12:
        return None
    (header_size,) = struct.unpack("<I", head[:4])
    if header_size == 12:  # BITMAPCOREHEADER
        width, height = struct.unpack("<HH", head[4:8])
    else:
        width, height = struct.unpack("<ii", head[4:12])
    return abs(width), abs(height) // 2  # the height counts the AND mask too


def frame_sizes(body: bytes) -> list[tuple[int, int]] | None:
    """(width, height) of every image in the file, as its own header says; None if unreadable."""
    if len(body) < 6 or not is_ico(body):
        return None
    (count,) = struct.unpack("<H", body[4:6])
    sizes = []
    for index in range(count):
        entry = body[6 + 16 * index : 22 + 16 * index]
        if len(entry) < 16:
            return None
        (offset,) = struct.unpack("<I", entry[12:16])
        size = _frame_size(body, offset)
        if size is None:
            return None
        sizes.append(size)
    return sizes or None


__all__ = ["MAGIC", "frame_sizes", "is_ico"]
