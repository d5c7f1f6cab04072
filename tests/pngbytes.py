"""PNG files built byte by byte for the image tests, from the PNG specification (not from the
code under test): the signature, chunks with their CRC, IHDR, IDAT and the Adam7 passes."""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Adam7: (first column, first row, column step, row step) of each of the seven passes
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def ihdr(width: int, height: int, depth: int = 8, colour: int = 0, interlace: int = 0) -> bytes:
    return struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)


def png(header: bytes, *chunks: bytes) -> bytes:
    """A PNG file: the signature, IHDR with `header`, the chunks given, IEND."""
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + b"".join(chunks) + png_chunk(b"IEND", b"")


def idat(raw: bytes) -> bytes:
    return png_chunk(b"IDAT", zlib.compress(raw))
