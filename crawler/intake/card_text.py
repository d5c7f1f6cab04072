"""A card file's text: read without blocking and within MAX_CARD_BYTES, decoded as UTF-8, and
rid of the characters YAML refuses (each one a warning on the card)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from crawler.intake.budgets import MAX_CARD_BYTES
from crawler.intake.links import describe_char
from crawler.model import Kind, Problem
from crawler.text import preview


class CardText(NamedTuple):
    text: str | None
    problems: list[Problem]
    sha256: str | None = None  # of the bytes read: `linkcheck fix` edits no file changed since


def read_card_text(path: Path) -> CardText:
    """The card's text with LF line ends, the problems found reading it, and its bytes' SHA-256;
    no text when the file cannot be read or is not UTF-8 (its last problem says why)."""
    data = _read(path)
    if isinstance(data, Problem):
        return CardText(None, [data])
    digest = hashlib.sha256(data).hexdigest()
    text = _decode(data)
    if isinstance(text, Problem):
        return CardText(None, [text], digest)
    warnings: list[Problem] = []
    if _has_rejected_characters(data):
        text, warnings = _drop_control_characters(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return CardText(text, warnings, digest)


_BOM = b"\xef\xbb\xbf"
# Bytes that are never a YAML-rejected character, for a fast "is anything wrong?" check.
_C0_DEL = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_NOT_C0_DEL = bytes(sorted(set(range(256)) - set(_C0_DEL)))
# C1 controls (but NEL) and U+FFFE/U+FFFF as UTF-8; two patterns, since one with a literal first
# byte is searched much faster than an alternation.
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x84\x86-\x9f]")
_NONCHAR_UTF8 = re.compile(rb"\xef\xbf[\xbe\xbf]")
# What PyYAML's reader rejects: C0 but tab/LF/CR, DEL, C1 but NEL, and the non-characters.
YAML_REJECTS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
_MAX_CONTROL_PROBLEMS = 10


def _decode(data: bytes) -> str | Problem:
    offset = 0
    if data.startswith(_BOM):
        data, offset = data[3:], 3
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        utf16 = " (it is UTF-16)" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ""
        detail = (
            f"not UTF-8{utf16}: invalid byte 0x{data[exc.start]:02x} at offset"
            f" {exc.start + offset} (line {line}); save the file as UTF-8"
        )
        return Problem(Kind.CARD_PARSE_ERROR, detail)


def _has_rejected_characters(data: bytes) -> bool:
    """A fast screen on the raw bytes: most cards have nothing to drop."""
    if data.translate(None, _NOT_C0_DEL):
        return True
    if data.isascii():
        return False
    return _C1_UTF8.search(data) is not None or _NONCHAR_UTF8.search(data) is not None


def _drop_control_characters(text: str) -> tuple[str, list[Problem]]:
    """Remove what YAML would refuse to read, with one warning per character (capped)."""
    problems: list[Problem] = []
    for match in islice(YAML_REJECTS.finditer(text), _MAX_CONTROL_PROBLEMS):
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - text.rfind("\n", 0, match.start())
        where = f"line {line}, column {column}"
        key = _top_level_key(text, match.start())
        detail = f"dropped {describe_char(match.group())} at {where}" + (
            f" (in {key})" if key else ""
        )
        problems.append(Problem(Kind.CARD_CONTROL_CHARACTER, detail, field=key))
    kept, found = YAML_REJECTS.subn("", text)  # counted, not listed: a file may be all NULs
    if found > _MAX_CONTROL_PROBLEMS:
        more = found - _MAX_CONTROL_PROBLEMS
        problems.append(
            Problem(Kind.CARD_CONTROL_CHARACTER, f"dropped {more} more control characters")
        )
    return kept, problems


def _top_level_key(text: str, position: int) -> str | None:
    """The front-matter key whose value holds `position`: the nearest unindented 'key:' above."""
    start = text.rfind("\n", 0, position) + 1
    while True:
        end = text.find("\n", start)
        key, colon, _ = text[start : end if end >= 0 else len(text)].partition(":")
        if colon and key.strip() and key[0] not in " \t#-":
            return preview(key.strip())
        if start == 0:
            return None
        start = text.rfind("\n", 0, start - 1) + 1


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_FILE_TYPES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _read(path: Path) -> bytes | Problem:
    """The file's bytes, if it is a regular file of at most MAX_CARD_BYTES.

    Opened without blocking (a FIFO would wait for a writer forever) and read up to the cap plus
    one byte, so a huge file, or one that grows while it is read, costs no more than the cap.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        return _read_problem(exc)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _FILE_TYPES if test(info.st_mode)), "special")
            return _unreadable(f"cannot read file: it is {kind}, not a regular file")
        if info.st_size > MAX_CARD_BYTES:
            return _too_large()
        data = _read_at_most(fd, info.st_size + 1, MAX_CARD_BYTES + 1)
    except OSError as exc:
        return _read_problem(exc)
    finally:
        os.close(fd)
    return _too_large() if len(data) > MAX_CARD_BYTES else data  # it grew, or stat said 0


def _too_large() -> Problem:
    return _unreadable(f"the file is larger than the {MAX_CARD_BYTES:,} bytes allowed")


def _read_at_most(fd: int, first: int, limit: int) -> bytes:
    """Up to `limit` bytes; `first` (the size stat gave, plus one) is asked for in one read."""
    chunks: list[bytes] = []
    total, want = 0, min(first, limit)
    while want > 0:
        chunk = os.read(fd, want)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = limit - total
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_problem(exc: OSError) -> Problem:
    return _unreadable(f"cannot read file: {preview(exc.strerror or str(exc))}")


def _unreadable(detail: str) -> Problem:
    return Problem(Kind.CARD_PARSE_ERROR, detail)
