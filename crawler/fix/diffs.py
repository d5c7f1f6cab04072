"""Unified diffs of card edits, as `git apply` reads them: lines split at LF only (a CR, a
U+2028 or a form feed inside a line stays in it), and a last line without a line end marked."""

from __future__ import annotations

import difflib
import re

NO_NEWLINE = "\\ No newline at end of file\n"
_LINES = re.compile(r"[^\n]*\n|[^\n]+$")
_COLOURS = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m"}
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """The diff of one file, `a/PATH` -> `b/PATH` (PATH as given, with / separators); empty
    when nothing changes."""
    old, new = _LINES.findall(before), _LINES.findall(after)
    lines = list(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", n=context))
    if not lines:
        return ""
    out: list[str] = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        elif line.startswith(("---", "+++")):
            out.append(line + "\n")  # difflib's header lines end without one when given none
        else:
            out.append(line + "\n" + NO_NEWLINE)
    return "".join(out)


def coloured(diff: str) -> str:
    """The diff for a terminal: removals red, additions green, hunk heads cyan, files bold."""
    shown: list[str] = []
    for line in _LINES.findall(diff):
        if line.startswith(("--- ", "+++ ")):
            shown.append(_BOLD + line.rstrip("\n") + _RESET + "\n")
        elif line[:1] in _COLOURS:
            ending = "\n" if line.endswith("\n") else ""
            shown.append(_COLOURS[line[0]] + line.removesuffix("\n") + _RESET + ending)
        else:
            shown.append(line)
    return "".join(shown)
