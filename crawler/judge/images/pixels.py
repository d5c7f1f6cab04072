"""What decoding an image costs in memory, and one budget for every decode in flight.

The cost comes from the header alone: width x height x the bytes Pillow keeps per pixel for the
mode (1 for 1/L/P, 2 for I;16, 4 for every multi-band mode: RGB is stored as RGBX), times the
copies the format's decoder holds at once (measured: libwebp's animation decoder keeps two
canvases and Pillow two more; libavif a YUV and an RGB buffer), plus the coefficient buffer a
progressive JPEG needs for the whole image. An image whose full decode would not fit in the
budget is decoded in a reduced way that still reads every byte of its pixel data (a JPEG at
1/8 scale; a PNG by inflating its data stream row by row, see png.py), or
else refused as too large: it is never decoded in full, and the budget never waits for more
than it has.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, ImageMode, JpegImagePlugin

# Decoder copies of the decoded image held at once, beyond the one Pillow returns.
_DECODER_COPIES = {"WEBP": 4, "AVIF": 3, "ICO": 3}
_JPEG_DRAFT = 8  # libjpeg's largest DCT scaling: it still reads every coefficient
STREAM_BYTES = 1 << 20  # what a streamed PNG check holds at once, with margin


@dataclass(frozen=True, slots=True)
class Header:
    """What an image's header declares, before any pixel is decoded."""

    width: int
    height: int
    format: str | None
    mode: str
    coefficient_bytes: int = 0  # a progressive JPEG's whole-image DCT coefficients

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def describe(self) -> str:
        return f"{self.width}x{self.height} {self.format or 'image'}"


class Decode(StrEnum):
    FULL = "full"
    DRAFT = "draft"  # JPEG decoded at 1/scale: every coefficient is still read
    STREAM = "stream"  # PNG data inflated and checked row by row, never held
    REFUSE = "refuse"  # no reduced decode fits: reported too large


@dataclass(frozen=True, slots=True)
class DecodePlan:
    how: Decode
    cost: int  # bytes held in the budget while decoding (never above the budget)
    full_cost: int  # bytes a full decode would take
    scale: int = 1


def header_of(img: Image.Image) -> Header:
    """The header of an opened (not yet loaded) image."""
    return Header(img.size[0], img.size[1], img.format, img.mode, _coefficient_bytes(img))


def _coefficient_bytes(img: Image.Image) -> int:
    """libjpeg keeps every 16-bit DCT coefficient of a progressive JPEG until its last scan."""
    if not isinstance(img, JpegImagePlugin.JpegImageFile):
        return 0
    if not (img.info.get("progressive") or img.info.get("progression")):
        return 0
    layers = getattr(img, "layer", None) or [("", 1, 1, 0)]
    h_max = max(layer[1] for layer in layers) or 1
    v_max = max(layer[2] for layer in layers) or 1
    share = sum(layer[1] * layer[2] for layer in layers) / (h_max * v_max)
    return int(img.size[0] * img.size[1] * share * 2)


def bytes_per_pixel(mode: str) -> int:
    """Bytes Pillow stores per pixel: multi-band images are padded to 4."""
    try:
        described = ImageMode.getmode(mode)
    except KeyError:
        return 4
    if len(described.bands) > 1:
        return 4
    return int(described.typestr[-1])


def decoded_bytes(header: Header, scale: int = 1) -> int:
    """Memory a decode of `header` at 1/scale takes at its peak."""
    width = -(-header.width // scale)
    height = -(-header.height // scale)
    copies = _DECODER_COPIES.get(header.format or "", 1)
    return width * height * bytes_per_pixel(header.mode) * copies + header.coefficient_bytes


def _draft_scale(width: int, height: int, wanted: int) -> int:
    """The scale Pillow's JpegImageFile.draft picks when asked for 1/wanted of the size."""
    ratio = min(width // max(1, width // wanted), height // max(1, height // wanted))
    return next(s for s in (8, 4, 2, 1) if ratio >= s)


def plan_decode(header: Header, budget: int | None) -> DecodePlan:
    """How to prove `header`'s image decodes within `budget` bytes (None: no budget)."""
    full = decoded_bytes(header)
    if budget is None or full <= budget:
        return DecodePlan(Decode.FULL, full, full)
    if header.format in ("JPEG", "MPO"):  # the pixels are not needed, only the proof they decode
        scale = _draft_scale(header.width, header.height, _JPEG_DRAFT)
        cost = decoded_bytes(header, scale)
        if cost <= budget:
            return DecodePlan(Decode.DRAFT, cost, full, scale)
    if header.format == "PNG":
        return DecodePlan(Decode.STREAM, min(STREAM_BYTES, budget), full)
    return DecodePlan(Decode.REFUSE, 0, full)


def megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


class DecodeBudget:
    """Bytes of decoded images in memory at once, and decodes at once, for all decodes in flight.

    Waiters are served first come, first served: a large decode is not starved by small ones.
    A request above the whole budget is clamped to it (it then runs alone), so nothing can wait
    forever; callers plan their decodes (plan_decode) so that they never ask for more.
    """

    def __init__(self, capacity: int, *, slots: int) -> None:
        if capacity < 1 or slots < 1:
            raise ValueError("a decode budget needs at least one byte and one slot")
        self.capacity = capacity
        self._free = capacity
        self._free_slots = slots
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self.peak = 0  # the most bytes ever held at once

    @property
    def in_use(self) -> int:
        return self.capacity - self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def hold(self, cost: int) -> AsyncIterator[None]:
        """Hold `cost` bytes (and one slot) for the block; released however the block ends."""
        cost = min(max(cost, 0), self.capacity)
        await self._acquire(cost)
        try:
            yield
        finally:
            self._release(cost)

    def _fits(self, cost: int) -> bool:
        return self._free_slots > 0 and cost <= self._free

    def _take(self, cost: int) -> None:
        self._free -= cost
        self._free_slots -= 1
        self.peak = max(self.peak, self.in_use)

    async def _acquire(self, cost: int) -> None:
        if not self._waiters and self._fits(cost):
            self._take(cost)
            return
        entry = (cost, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            await entry[1]
        except asyncio.CancelledError:
            if entry[1].done() and not entry[1].cancelled():
                self._release(cost)  # granted just as the waiter was cancelled: give it back
            elif entry in self._waiters:
                self._waiters.remove(entry)
                self._wake()  # the head may have left: those behind it may fit now
            raise

    def _release(self, cost: int) -> None:
        self._free += cost
        self._free_slots += 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            cost, future = self._waiters[0]
            if future.done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            if not self._fits(cost):
                return
            self._waiters.popleft()
            self._take(cost)
            future.set_result(None)


__all__ = [
    "STREAM_BYTES",
    "Decode",
    "DecodeBudget",
    "DecodePlan",
    "Header",
    "bytes_per_pixel",
    "decoded_bytes",
    "header_of",
    "megabytes",
    "plan_decode",
]
