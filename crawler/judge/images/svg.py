"""Is this body an SVG image, and what size does it draw at?

The XML is parsed with defusedxml, as a stream that keeps no tree: entity declarations (billion
laughs, external entities), external references and default attributes declared in a DTD are
refused; nesting deeper than browsers parse (libxml2's 256 levels) stops the parse; an SVGZ is
inflated a slice at a time, never beyond the image byte cap. So a hostile SVG costs a bounded
amount of memory and is done with quickly.

The size is the root's width and height (px, no unit, or an absolute unit converted at 96 px to
the inch); a percentage, em or ex says nothing about the image itself, so then, or when one is
absent, the viewBox gives the size (or, with one length given, the ratio for the other). With
neither, the SVG has no intrinsic size: `SvgImage(None, None)`.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import XMLParser  # type: ignore[import-untyped]

from crawler.text import preview

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
MAX_DEPTH = 256  # libxml2's default: Chrome does not draw a deeper SVG either
GZIP_MAGIC = b"\x1f\x8b"
_FEED = 64 * 1024
_MAX_SIDE = 2**31 - 1
_STARTS = (b"<?xml", b"<svg", b"<!--", b"<!doctype svg")
_LENGTH = re.compile(
    r"^\s*([+]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(px|in|cm|mm|q|pt|pc)?\s*$", re.IGNORECASE
)
_PX_PER_UNIT = {"px": 1.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4, "q": 96 / 101.6}
_PX_PER_UNIT |= {"pt": 96 / 72, "pc": 16.0}
_VIEWBOX_SPLIT = re.compile(r"[\s,]+")
_SVG_ROOTS = ("svg", f"{{{SVG_NAMESPACE}}}svg")


@dataclass(frozen=True, slots=True)
class SvgImage:
    """A well-formed SVG; its size in px, or None when it has no intrinsic size."""

    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class SvgProblem:
    """Why the body is not a usable SVG. `is_svg`: it is one (corrupt), not something else."""

    detail: str
    is_svg: bool
    too_large: bool = False  # an SVGZ inflating beyond the byte cap
    refused: bool = False  # a construct refused on purpose: hostile, whatever the body's size


def looks_like_svg(body: bytes, media: str | None) -> bool:
    """Served as SVG, gzip-compressed, or text that starts like XML: worth parsing as SVG."""
    if media == "image/svg+xml" or body.startswith(GZIP_MAGIC):
        return True
    head = body[:256].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith(_STARTS)


# -- the size -----------------------------------------------------------------------------------


def _length(value: str | None) -> float | None:
    """An absolute length in px; None for a percentage, em, ex, auto, garbage, zero or less."""
    match = _LENGTH.match(value or "")
    if match is None:
        return None
    number = float(match.group(1)) * _PX_PER_UNIT[(match.group(2) or "px").lower()]
    return number if 0 < number <= _MAX_SIDE else None


def _viewbox(value: str | None) -> tuple[float, float] | None:
    parts = _VIEWBOX_SPLIT.split((value or "").strip())
    if len(parts) != 4:
        return None
    try:
        width, height = float(parts[2]), float(parts[3])
    except ValueError:
        return None
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):  # also refuses nan and inf
        return None
    return width, height


def _side(value: float) -> int:
    return max(1, min(_MAX_SIDE, round(value)))


def svg_size(attrib: dict[str, str]) -> SvgImage:
    """The size an <svg> root with these attributes draws at, as an image."""
    width, height = _length(attrib.get("width")), _length(attrib.get("height"))
    box = _viewbox(attrib.get("viewBox"))
    if width is None and height is None and box is not None:
        width, height = box
    elif box is not None and width is None and height is not None:
        width = height * box[0] / box[1]
    elif box is not None and height is None and width is not None:
        height = width * box[1] / box[0]
    if width is None or height is None or not math.isfinite(width * height):
        return SvgImage(None, None)
    return SvgImage(_side(width), _side(height))


# -- the parse ----------------------------------------------------------------------------------


class _Refused(Exception):
    """Stops the parse: the SVG does something we do not allow."""


class _TooLarge(_Refused):
    """Stops the parse: the SVGZ inflates beyond the byte cap."""


class _RootOnly:
    """A parser target that keeps the root's attributes and the depth, and nothing else."""

    def __init__(self) -> None:
        self.root: tuple[str, dict[str, str]] | None = None
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if self.root is None:
            self.root = (tag, dict(attrib))
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(f"elements nested deeper than {MAX_DEPTH} levels")

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, text: str) -> None:
        return None

    def close(self) -> None:
        return None


def _refuse_attlist(*args: object) -> None:
    raise _Refused("its DTD declares default attributes")


def _plain_slices(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), _FEED):
        yield body[start : start + _FEED]


def _gunzip_slices(body: bytes, max_bytes: int) -> Iterator[bytes]:
    """The inflated SVGZ, a slice at a time; _Refused (too large) past `max_bytes`."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip only
    total = 0
    for chunk in _plain_slices(body):
        pending = chunk
        while pending:
            piece = inflater.decompress(pending, _FEED)
            pending = inflater.unconsumed_tail
            total += len(piece)
            if total > max_bytes:
                raise _TooLarge(f"SVGZ inflates to more than {max_bytes} bytes")
            yield piece
        if inflater.eof:
            return


def _describe(exc: Exception) -> str:
    """The reason, bounded: an entity's name or system id comes from the document."""
    if isinstance(exc, DefusedXmlException):
        return f"SVG refused: {type(exc).__name__}: {preview(str(exc))}"
    if isinstance(exc, _Refused):
        return f"SVG refused: {exc}"
    if isinstance(exc, zlib.error):
        return f"SVGZ does not inflate: {exc}"
    return f"SVG does not parse: {preview(str(exc))}"


def _root_problem(root: tuple[str, dict[str, str]]) -> SvgProblem | None:
    tag = root[0]
    if tag == f"{{{SVG_NAMESPACE}}}svg":
        return None
    if tag == "svg":
        return SvgProblem(
            f'<svg> without xmlns="{SVG_NAMESPACE}": browsers do not draw it', is_svg=True
        )
    return SvgProblem(f"XML whose root is <{preview(tag)}>, not <svg>", is_svg=False)


def inspect_svg(
    body: bytes, *, served_as_svg: bool, complete: bool, max_bytes: int
) -> SvgImage | SvgProblem:
    """Parse `body` (SVG or SVGZ) to its end; `complete=False`: only as far as its root."""
    target = _RootOnly()
    parser = XMLParser(target=target, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    parser.parser.AttlistDeclHandler = _refuse_attlist
    gzipped = body.startswith(GZIP_MAGIC)
    slices = _gunzip_slices(body, max_bytes) if gzipped else _plain_slices(body)
    try:
        for piece in slices:
            parser.feed(piece)
            if target.root is not None and (not complete or _root_problem(target.root)):
                break
        else:
            parser.close()
    except (ParseError, DefusedXmlException, _Refused, zlib.error) as exc:
        is_svg = served_as_svg or (target.root is not None and target.root[0] in _SVG_ROOTS)
        too_large = isinstance(exc, _TooLarge)
        refused = not too_large and isinstance(exc, _Refused | DefusedXmlException)
        return SvgProblem(_describe(exc), is_svg, too_large=too_large, refused=refused)
    if target.root is None:
        return SvgProblem("no root element", is_svg=served_as_svg)
    problem = _root_problem(target.root)
    return problem if problem is not None else svg_size(target.root[1])


__all__ = ["MAX_DEPTH", "SvgImage", "SvgProblem", "inspect_svg", "looks_like_svg", "svg_size"]
