"""Does a PNG's pixel data decode? Checked without ever holding the pixels.

For a PNG too large to decode within the decode budget. The image data (the consecutive IDAT
chunks) is inflated a slice at a time, every row's filter byte is checked, and the data must
hold every row the header promises: the same faults Pillow's full decode reports (a truncated
or corrupt zlib stream, an unknown filter, missing rows), at a fixed memory cost.
Pillow's `verify()` would not do: it checks chunk CRCs but never inflates the data, and it
fails a PNG whose IEND is missing, which Pillow's decoder (and browsers) accept.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SLICE = 256 * 1024  # inflated bytes looked at per step
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_FILTERS = bytes(range(5))  # None, Sub, Up, Average, Paeth
# Adam7: (first column, first row, column step, row step) of each of the seven passes
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Rows of the raw (filtered) image data: (count, bytes per row with its filter byte)."""

    passes: tuple[tuple[int, int], ...]

    @property
    def size(self) -> int:
        return sum(count * stride for count, stride in self.passes)


def _layout(ihdr: bytes) -> _Layout | str:
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr[:13])
    channels = _CHANNELS.get(colour)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        return f"unknown PNG colour type {colour} or bit depth {depth}"
    bits: int = channels * depth

    def stride(columns: int) -> int:
        return 1 + (columns * bits + 7) // 8

    if not interlace:
        return _Layout(((height, stride(width)),))
    passes = []
    for x0, y0, dx, dy in _ADAM7:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:  # an empty pass has no rows at all, not even filter bytes
            passes.append((rows, stride(columns)))
    return _Layout(tuple(passes))


def _chunks(body: bytes) -> Iterator[tuple[bytes, memoryview]]:
    """(type, data) of each chunk; the last one may be cut short by the end of the body."""
    view = memoryview(body)
    offset = len(SIGNATURE)
    while offset + 8 <= len(body):
        length, kind = struct.unpack(">I4s", view[offset : offset + 8])
        yield kind, view[offset + 8 : offset + 8 + length]
        offset += 12 + length


def _image_data(body: bytes) -> tuple[bytes, Iterator[memoryview]] | str:
    """The IHDR data and the consecutive IDAT chunks' data, as Pillow reads them."""
    chunks = _chunks(body)
    first = next(chunks, None)
    if first is None or first[0] != b"IHDR" or len(first[1]) < 13:
        return "no IHDR chunk"
    ihdr = bytes(first[1])

    def idat() -> Iterator[memoryview]:
        started = False
        for kind, data in chunks:
            if kind == b"IDAT":
                started = True
                yield data
            elif started:  # Pillow stops at the first chunk after the image data
                return

    return ihdr, idat()


def _rows_problem(layout: _Layout, pieces: Iterator[bytes]) -> str | None:
    """Check the filter byte at the start of every row of the inflated `pieces`."""
    passes = iter(layout.passes)
    rows, stride = next(passes, (0, 1))
    start = 0  # where the next filter byte is, in the current piece
    for piece in pieces:
        while rows and start < len(piece):
            count = min(rows, -(-(len(piece) - start) // stride))
            stop = start + (count - 1) * stride + 1
            if piece[start:stop:stride].translate(None, _FILTERS):
                return "a row has an unknown filter type"
            rows -= count
            start += count * stride
            if not rows:
                rows, stride = next(passes, (0, 1))
        start -= len(piece)
    return None


class _Inflater:
    """Inflates at most `expected` bytes, a slice at a time, and counts them."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.found = 0
        self._zlib = zlib.decompressobj()

    def pieces(self, data: Iterator[memoryview]) -> Iterator[bytes]:
        for chunk in data:
            pending: bytes | memoryview = chunk
            while self.found < self.expected:
                piece = self._zlib.decompress(pending, min(_SLICE, self.expected - self.found))
                pending = self._zlib.unconsumed_tail
                if not piece and not pending:  # this chunk is used up
                    break
                self.found += len(piece)
                yield piece
            if self.found >= self.expected or self._zlib.eof:
                return


def pixel_data_problem(body: bytes) -> str | None:
    """None when the PNG's image data decodes to every row its header declares, else why not."""
    if not body.startswith(SIGNATURE):
        return "not a PNG"
    parts = _image_data(body)
    if isinstance(parts, str):
        return parts
    ihdr, data = parts
    layout = _layout(ihdr)
    if isinstance(layout, str):
        return layout
    inflater = _Inflater(layout.size)
    try:
        problem = _rows_problem(layout, inflater.pieces(data))
    except zlib.error as exc:
        return f"image data does not inflate: {exc}"
    if problem is None and inflater.found < inflater.expected:
        problem = f"image data ends after {inflater.found} of {inflater.expected} bytes (truncated)"
    return problem


__all__ = ["SIGNATURE", "pixel_data_problem"]
