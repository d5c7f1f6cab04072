"""What a page says about itself, read cheaply from its first bytes (no HTML parser)."""

from __future__ import annotations

import codecs
import html
import re

_HEAD_BYTES = 64 * 1024
_TITLE = re.compile(rb"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TITLE_TEXT = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">
_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _known(name: str | bytes | None) -> str | None:
    """A charset Python can decode with, or None."""
    if not name:
        return None
    text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
    try:
        return codecs.lookup(text).name
    except LookupError:
        return None


def _charset(head: bytes, content_type: str | None) -> str:
    """BOM, then Content-Type charset, then <meta charset>, then utf-8 (as browsers do)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    param = _CHARSET_PARAM.search(content_type or "")
    from_header = _known(param.group(1)) if param else None
    if from_header:
        return from_header
    meta = _META_CHARSET.search(head)
    return _known(meta.group(1) if meta else None) or "utf-8"


def _clean(raw: str) -> str | None:
    text = _SPACE.sub(" ", html.unescape(raw)).strip()
    return text or None


def page_title(body: bytes, content_type: str | None) -> str | None:
    """The page's <title> text (unescaped, whitespace collapsed), or None when it has none."""
    head = body[:_HEAD_BYTES]
    charset = _charset(head, content_type)
    if charset.startswith("utf-16") or charset.startswith("utf-32"):
        # not ASCII-compatible: the byte pattern cannot see the tag, so decode first
        match = _TITLE_TEXT.search(head.decode(charset, errors="replace"))
        return _clean(match.group(1)) if match else None
    found = _TITLE.search(head)
    if found is None:
        return None
    return _clean(found.group(1).decode(charset, errors="replace"))
