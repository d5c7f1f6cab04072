"""HTML reading: what a page says about itself (title, visible text, first h1, a meta
refresh), read without an HTML parser.

Also the one place that decides how a page's bytes become text (`choose_charset`,
`decode_text`, `decode_html`): a server may name any charset, including Python codecs that are
not text encodings at all (`rot13`, `base64`, `zlib`); those count as unknown, as in a browser.
Every pattern here runs in linear time: a hostile page cannot make a regex backtrack over it.
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from crawler.text import safe_text

_HEAD_BYTES = 64 * 1024
_MAX_TEXT_BYTES = 512 * 1024  # what the visible text is read from
_WORD = re.compile(r"\w+")
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


def decode_html(body: bytes, content_type: str | None = None, limit: int = _MAX_TEXT_BYTES) -> str:
    """The first `limit` bytes of an HTML body as valid text, in the charset it declares."""
    head = body[:limit]
    return decode_text(head, choose_charset(head[:_HEAD_BYTES], content_type))


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


# ---------------------------------------------------------------------------------------------
# Visible text
#
# A small tokenizer of our own rather than html.parser: on some malformed markup ("<a<a<a..."
# without a '>') the standard parser re-scans the rest of the page for every '<', and one
# 500 KB page took minutes of the event loop. Every pattern below consumes what it matches, so
# a page is read in one pass whatever it holds.

_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"  # a comment; an unclosed one runs to the end, as in a browser
    r"|<[!?][^>]*>?"  # doctype, CDATA, processing instruction
    r"|<(/?)([A-Za-z][^\t\n\r\f />\x00]*)([^>]*)>?",  # a start or end tag, attributes and all
    re.DOTALL,
)
# script and style hold raw text up to their end tag: nothing inside is markup
_RAW_TEXT_END = {
    name: re.compile(rf"</{name}\b[^>]*>?", re.IGNORECASE) for name in ("script", "style")
}
_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})


@dataclass(slots=True)
class _Text:
    """The text a reader sees (outside script, style and other never-rendered elements), in
    pieces, and the text of the first h1."""

    parts: list[str]
    h1: str | None = None


def _read_text(text: str) -> _Text:
    found = _Text([])
    hidden = 0
    h1_parts: list[str] | None = None
    pos = 0
    while True:
        tag = _MARKUP.search(text, pos)
        data = text[pos : tag.start() if tag else len(text)]
        if data and not hidden:
            data = html.unescape(data)
            found.parts.append(data)
            if h1_parts is not None:
                h1_parts.append(data)
        if tag is None:
            break
        pos = tag.end()
        closing, name, rest = tag.group(1), tag.group(2), tag.group(3) or ""
        if name is None:
            continue  # a comment, a doctype
        name = name.lower()
        if not closing and name in _RAW_TEXT_END:
            end = _RAW_TEXT_END[name].search(text, pos)
            if end is None:
                break  # an unclosed script hides the rest of the page
            pos = end.end()
            continue
        if name in _HIDDEN:
            if not closing and not rest.endswith("/"):
                hidden += 1
            elif closing and hidden:
                hidden -= 1
        elif name == "h1" and not closing and found.h1 is None and h1_parts is None:
            h1_parts = []
        elif name == "h1" and closing and h1_parts is not None:
            found.h1 = _SPACE.sub(" ", "".join(h1_parts)).strip() or None
            h1_parts = None
    return found


def _parse(body: bytes, content_type: str | None) -> _Text:
    return _read_text(decode_html(body, content_type))


def visible_text_tokens(html_body: bytes, content_type: str | None = None) -> list[str]:
    """Lowercase word tokens of the text a reader sees (title included; script, style,
    noscript, template, svg, iframe and object left out), from the first 512 KB.

    Words are Unicode `\\w+` runs, casefolded; scripts written without spaces (Chinese,
    Japanese) give one token per run, which is coarse but stable for comparing two pages.
    """
    return [t.casefold() for t in _WORD.findall(" ".join(_parse(html_body, content_type).parts))]


def first_h1(html_body: bytes, content_type: str | None = None) -> str | None:
    """The text of the page's first <h1>, for not_found_title."""
    return _parse(html_body, content_type).h1


# ---------------------------------------------------------------------------------------------
# Meta refresh

# Linear on any page: a candidate <meta stops at the next '<' or '>', a quoted value at the next
# quote, '<' or '>', and an unclosed comment or noscript runs to the end (as in a browser).
_META_REFRESH = re.compile(
    r"<meta\b(?=[^<>]*\bhttp-equiv\s*=\s*[\"']?\s*refresh\b)[^<>]*\bcontent\s*=\s*"
    r"(?:\"([^\"<>]*)\"|'([^'<>]*)'|([^\s<>]+))",
    re.IGNORECASE,
)
_NOSCRIPT = re.compile(r"<noscript\b.*?(?:</noscript\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_REFRESH_DELAY = re.compile(r"\d*(?:\.\d*)?\s*[;,]?\s*(?:url\s*=\s*)?", re.IGNORECASE)
_WEB_SCHEMES = frozenset({"", "http", "https"})


def _refresh_url(content: str) -> str:
    """The URL part of a refresh's content ("5; URL='/next'" -> "/next"), or ""."""
    text = content.strip()
    delay = _REFRESH_DELAY.match(text)  # it matches the empty string: never None
    rest = text[delay.end() :] if delay else text
    if len(rest) >= 2 and rest[0] in "\"'" and rest.endswith(rest[0]):
        rest = rest[1:-1]
    elif rest[:1] in ('"', "'"):
        rest = rest[1:]
    return rest.strip()


def _web_target(target: str) -> bool:
    """A target a browser would load as a page: relative, or http(s). Not javascript:, data:,
    mailto:... (those send no one to a home page)."""
    try:
        return urlsplit(target).scheme.lower() in _WEB_SCHEMES
    except ValueError:
        return False


def meta_refresh_target(html_body: bytes, content_type: str | None = None) -> str | None:
    """The URL of a `<meta http-equiv="refresh" content="0; url=...">` in the page's first 64 KB,
    as written (resolve it against the page URL), or None.

    A refresh without a URL (a news page reloading itself every few minutes) is None; so is one
    inside <noscript> (only browsers without JavaScript follow it) or in a comment, and one to a
    URL that is no web page (javascript:, data:, mailto:...).
    """
    text = decode_html(html_body, content_type, limit=_HEAD_BYTES)
    text = _NOSCRIPT.sub(" ", _COMMENT.sub(" ", text))
    for found in _META_REFRESH.finditer(text):
        content = html.unescape(next(g for g in found.groups() if g is not None))
        target = _refresh_url(content)
        if target:
            return target if _web_target(target) else None
    return None
