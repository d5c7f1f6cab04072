"""Text that is safe to store, log and report, whatever bytes it came from.

aiohttp decodes header bytes that are not UTF-8 (a Latin-1 reason phrase, ETag, Location...) as
lone surrogates, and file names that are not UTF-8 arrive the same way from the OS. SQLite, JSON
encoders and files refuse surrogates, so every string from outside passes through `safe_text`
at its boundary: undecodable bytes become visible `\\xNN` escapes instead of an exception.
"""

from __future__ import annotations

import reprlib
from typing import Any

PREVIEW_CHARS = 120


def safe_text(text: str) -> str:
    """`text` with every lone surrogate replaced by a visible escape of the byte it stood for."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape") if _only_escapes(text) else None
        if raw is not None:
            return raw.decode("utf-8", "backslashreplace")
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _only_escapes(text: str) -> bool:
    """Every surrogate is one that surrogateescape made (U+DC80..U+DCFF): a byte it stood for."""
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def safe_optional(text: str | None) -> str | None:
    return None if text is None else safe_text(text)


_PREVIEW = reprlib.Repr()
_PREVIEW.maxlevel = 2
_PREVIEW.maxdict = 4
_PREVIEW.maxlist = 4
_PREVIEW.maxtuple = 4
_PREVIEW.maxset = 4
_PREVIEW.maxstring = PREVIEW_CHARS
_PREVIEW.maxother = PREVIEW_CHARS
_PREVIEW.maxlong = 40


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A short, bounded description of any value, for a problem's text.

    Never builds the whole repr: a YAML alias bomb is a tiny document whose repr is gigabytes.
    """
    text = value if isinstance(value, str) else _PREVIEW.repr(value)
    text = safe_text(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


__all__ = ["PREVIEW_CHARS", "preview", "safe_optional", "safe_text"]
