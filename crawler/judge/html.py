"""What a page says about itself, read cheaply from its first bytes (no HTML parser).

Also the one place that decides how a page's bytes become text (`choose_charset`,
`decode_text`): a server may name any charset, including Python codecs that are not text
encodings at all (`rot13`, `base64`, `zlib`); those count as unknown, as in a browser.
Every pattern here runs in linear time: a hostile page cannot make a regex backtrack over it.
"""

from __future__ import annotations

import codecs
import html
import re

from crawler.text import safe_text

_HEAD_BYTES = 64 * 1024
TITLE_CHARS = 1000  # a title longer than this is not a headline: keep a bounded preview
# `[^<>]*` (not `[^>]*`): a candidate tag ends at the next '<', so thousands of unclosed
# "<title" cost one pass, not one pass each
_TITLE_OPEN = re.compile(rb"<title\b[^<>]*>", re.IGNORECASE)
_TITLE_CLOSE = re.compile(rb"</title\s*>", re.IGNORECASE)
_TITLE_OPEN_TEXT = re.compile(r"<title\b[^<>]*>", re.IGNORECASE)
_TITLE_CLOSE_TEXT = re.compile(r"</title\s*>", re.IGNORECASE)
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">
_META_CHARSET = re.compile(rb"<meta\b[^<>]*?charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # never part of a title
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Text codecs in Python's sense that are no charset: they fail on any error handler but
# "strict" (idna), refuse every byte (undefined) or read markup as escapes or punycode.
_NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"})


def known_charset(name: str | bytes | None) -> str | None:
    """The codec name for a charset label a page may use, or None (unknown, or not a charset).

    Only text encodings count: `rot13`, `base64`, `zlib`, `hex`, `uu`... are Python codecs
    that turn bytes into bytes, and a server naming one has named no charset.
    """
    if not name:
        return None
    text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
    try:
        info = codecs.lookup(text)
    except (LookupError, ValueError):  # unknown; or a NUL or surrogate in the label
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


def choose_charset(head: bytes, content_type: str | None) -> str:
    """BOM, then Content-Type charset, then <meta charset>, then utf-8 (as browsers do)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    param = _CHARSET_PARAM.search(content_type or "")
    from_header = known_charset(param.group(1)) if param else None
    if from_header:
        return from_header
    meta = _META_CHARSET.search(head[:_HEAD_BYTES])
    return known_charset(meta.group(1) if meta else None) or "utf-8"


def decode_text(data: bytes, charset: str) -> str:
    """`data` as valid text in `charset`, undecodable bytes replaced; UTF-8 if the codec fails
    anyway. A lone surrogate that a codec can spell (UTF-7 "+2AA-") becomes a visible escape."""
    try:
        text = data.decode(charset, errors="replace")
    except (UnicodeError, LookupError, ValueError, TypeError):
        text = data.decode("utf-8", errors="replace")
    return safe_text(text)


def _clean(raw: str) -> str | None:
    text = _SPACE.sub(" ", _CONTROL.sub("", html.unescape(raw))).strip()
    if len(text) > TITLE_CHARS:
        text = text[: TITLE_CHARS - 1].rstrip() + "…"
    return safe_text(text) or None


def _title_text(head: str) -> str | None:
    opening = _TITLE_OPEN_TEXT.search(head)
    closing = _TITLE_CLOSE_TEXT.search(head, opening.end()) if opening else None
    if opening is None or closing is None:
        return None
    return head[opening.end() : closing.start()]


def page_title(body: bytes, content_type: str | None) -> str | None:
    """The page's <title> text (unescaped, whitespace collapsed, at most TITLE_CHARS), or None
    when it has none. Always valid text: any byte, any charset label."""
    head = body[:_HEAD_BYTES]
    charset = choose_charset(head, content_type)
    if charset.startswith("utf-16") or charset.startswith("utf-32"):
        # not ASCII-compatible: the byte pattern cannot see the tag, so decode first
        raw = _title_text(decode_text(head, charset))
        return _clean(raw) if raw is not None else None
    opening = _TITLE_OPEN.search(head)
    closing = _TITLE_CLOSE.search(head, opening.end()) if opening else None
    if opening is None or closing is None:
        return None
    return _clean(decode_text(head[opening.end() : closing.start()], charset))
