"""A card's front matter: the YAML between its --- lines, parsed into a mapping or a Problem.

python-frontmatter splits the file; the YAML is read by yaml_loader within the budgets. When
related cards are not checked, the `related:` entry is cut out unread.
"""

from __future__ import annotations

import re
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from crawler.intake.budgets import MAX_FRONT_MATTER_BYTES
from crawler.intake.yaml_loader import OverBudget, load_yaml
from crawler.model import Kind, Problem
from crawler.text import preview

# The end of a top-level entry: the next line that is not indented, a comment or a "- " item.
_NEXT_TOP_LEVEL = re.compile(r"\n(?=[^ \t#\n\-]|-[^ \t\n])")


def _without_related(fm: str) -> str | None:
    """The front matter minus its top-level `related:` entry; None if it has none."""
    start = 0 if fm.startswith("related:") else fm.find("\nrelated:") + 1
    if start == 0 and not fm.startswith("related:"):
        return None
    if fm[start + 8 : start + 9] not in ("", " ", "\t", "\n"):
        return None  # 'related:x' is some other key
    following = _NEXT_TOP_LEVEL.search(fm, start + 8)
    return fm[:start] + fm[following.start() + 1 :] if following else fm[:start]


def _load_front_matter(fm: str, include_related: bool) -> Any:
    """Parse the YAML; raises yaml.YAMLError with marks relative to `fm`.

    When related cards are not checked, the `related:` entry is cut out before parsing, unread:
    it holds most of a corpus' bytes, and building it would dominate the loading time. The
    price: a YAML error inside it is only reported with include_related. Any error in the
    remainder falls back to a full parse, whose answer (and error position) is authoritative.
    """
    if not include_related:
        rest = _without_related(fm)
        if rest is not None:
            try:
                return load_yaml(rest)
            except yaml.YAMLError:
                pass
    return load_yaml(fm)


class _NoFrontMatter(Exception):
    pass


class _Unclosed(Exception):
    pass


class _NotAMapping(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


# A line of three or more dashes, like python-frontmatter's YAMLHandler.FM_BOUNDARY.
_BOUNDARY = re.compile(r"-{3,}[ \t\f\v]*(?:\n|\Z)")


class _CardHandler(YAMLHandler):
    """python-frontmatter's YAML handler, made strict and fast.

    `frontmatter.parse` silently returns {} for a file with no front matter, an unclosed one, or
    one that is not a mapping; a card checker must say which, so those raise here instead.
    """

    def __init__(self, include_related: bool) -> None:
        super().__init__()
        self.include_related = include_related

    def split(self, text: str) -> tuple[str, str]:
        opening = _BOUNDARY.match(text)
        if opening is None:
            raise _NoFrontMatter
        position = opening.end() - 1  # the closing line may follow at once: empty front matter
        while True:
            newline = text.find("\n---", position)
            if newline < 0:
                raise _Unclosed
            closing = _BOUNDARY.match(text, newline + 1)
            if closing is not None:
                return text[opening.end() : newline + 1], text[closing.end() :]
            position = newline + 1

    def load(self, fm: str, **kwargs: object) -> Any:
        _check_front_matter_size(fm)
        data = _load_front_matter(fm, self.include_related)
        if not isinstance(data, dict):
            raise _NotAMapping(data)
        return data


def _check_front_matter_size(fm: str) -> None:
    # A character is at most 4 bytes in UTF-8: only a long text needs encoding to be measured.
    if 4 * len(fm) > MAX_FRONT_MATTER_BYTES:
        size = len(fm.encode("utf-8"))
        if size > MAX_FRONT_MATTER_BYTES:
            raise OverBudget(
                f"front matter is {size:,} bytes, more than the {MAX_FRONT_MATTER_BYTES:,} allowed"
            )


_HANDLERS = {flag: _CardHandler(include_related=flag) for flag in (False, True)}
_FM_FIRST_LINE = 2  # the YAML starts on the line after the opening ---


def _yaml_error_detail(exc: yaml.YAMLError) -> str:
    """'YAML error at line 12, column 5: <problem> (<context> at line 11, column 3)'."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"YAML error: {preview(str(exc))}"
    mark = exc.problem_mark
    detail = (
        f"YAML error at line {mark.line + _FM_FIRST_LINE}, column {mark.column + 1}:"
        f" {preview(exc.problem)}"  # it may quote the card: an alias, a tag, a key
    )
    if exc.context:
        context = exc.context_mark
        where = ""
        if context is not None:
            where = f" at line {context.line + _FM_FIRST_LINE}, column {context.column + 1}"
        detail += f" ({preview(exc.context)}{where})"
    return detail


def opens_front_matter(text: str) -> bool:
    """Whether the text tries to open a front matter block: its first non-blank line is ---.

    A file that does not is no card (a README or notes beside the cards) and is skipped; one that
    does, however broken, is a card to fix."""
    return _BOUNDARY.match(text.lstrip()) is not None


def parse_front_matter(text: str, include_related: bool) -> dict[str, Any] | Problem:
    """The mapping between the card's --- lines, or the CARD_PARSE_ERROR saying what is wrong."""
    if _BOUNDARY.match(text) is None:  # checked here: frontmatter.parse strips leading blanks
        return _parse_problem("no YAML front matter (file must start with ---)")
    try:
        metadata, _ = frontmatter.parse(text, handler=_HANDLERS[include_related])
    except _NoFrontMatter:
        return _parse_problem("no YAML front matter (file must start with ---)")
    except _Unclosed:
        return _parse_problem("front matter is not closed (no --- line after the YAML)")
    except _NotAMapping as exc:
        what = "empty" if exc.value is None else f"a {type(exc.value).__name__}, not a mapping"
        return _parse_problem(f"front matter is {what}: it must be 'key: value' lines")
    except yaml.YAMLError as exc:
        return _parse_problem(_yaml_error_detail(exc))
    except OverBudget as exc:
        return _parse_problem(str(exc))
    return dict(metadata)


def _parse_problem(detail: str) -> Problem:
    return Problem(Kind.CARD_PARSE_ERROR, detail)
