"""A YAML scalar written back the way the card wrote it: plain, single- or double-quoted, in the
value's own style when the new value is safe in it, else with the least quoting that is.

Whether a spelling is safe is not guessed from rules: each candidate is read back by the same
YAML library the cards are read with, and only one that reads back as exactly the value is used.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

PLAIN, SINGLE, DOUBLE = "plain", "single", "double"
_FALLBACKS = {PLAIN: (PLAIN, SINGLE, DOUBLE), SINGLE: (SINGLE, DOUBLE), DOUBLE: (DOUBLE,)}
# libyaml and PyYAML's own reader differ at the edges (a tab inside a plain scalar): a spelling
# must read back the same in both, whichever a tool reading the card uses.
_LOADERS: tuple[Any, ...] = tuple(
    loader for loader in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", None)) if loader
)
# What YAML lets stand in a quoted scalar as it is (PyYAML's reader's printable set), less the
# line breaks, which a single-line scalar cannot hold.
_UNPRINTABLE = re.compile(
    "[^\x09\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    "\x00": "\\0",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


def style_of(node_style: str | None) -> str | None:
    """A node's style as PyYAML gives it ('"', "'", '' or None for plain); None for a block
    scalar (| or >), which is not rewritten."""
    if node_style in (None, ""):
        return PLAIN
    return {'"': DOUBLE, "'": SINGLE}.get(node_style)


def render(value: str, style: str, *, flow: bool = False) -> str:
    """`value` as a one-line YAML scalar in `style` if it reads back as exactly `value` there
    (a block mapping's value, or a flow mapping's with `flow`), else in the next safer style."""
    for candidate in _FALLBACKS[style]:
        text = _spell(value, candidate)
        if text is not None and reads_back(text, value, flow=flow):
            return text
    raise AssertionError(f"no YAML spelling reads back as {value!r}")  # double quotes always do


def reads_back(text: str, value: str, *, flow: bool = False) -> bool:
    document = f"{{k: {text}}}" if flow else f"k: {text}"
    try:
        return all(yaml.load(document, Loader=loader) == {"k": value} for loader in _LOADERS)
    except yaml.YAMLError:
        return False


def _spell(value: str, style: str) -> str | None:
    if style == PLAIN:
        one_line = value and value == value.strip() and not _UNPRINTABLE.search(value)
        return value if one_line else None
    if style == SINGLE:
        return None if _UNPRINTABLE.search(value) else "'" + value.replace("'", "''") + "'"
    return '"' + "".join(_escaped(c) for c in value) + '"'


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if not _UNPRINTABLE.match(char):
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
