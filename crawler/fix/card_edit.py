"""A card's corrections made in its own text: only the bytes of the value (or the line of the
key) change; quotes, key order, comments, line ends, the Markdown body and every field linkcheck
does not know stay as they were.

YAML is never written back whole. The front matter is composed (PyYAML's nodes know where each
value starts and ends), the value's own span is replaced, and the result is read again: an edit
is kept only if the card then reads as before with exactly that change. Results are values: a
correction that cannot be made safely comes back with the reason.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crawler.fix.corrections import Correction
from crawler.fix.scalars import DOUBLE, render, style_of
from crawler.intake.card_text import YAML_REJECTS
from crawler.intake.front_matter import parse_front_matter
from crawler.model import Problem

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENING = re.compile(r"\ufeff?-{3,}[ \t\f\v]*(?:\r\n|\r|\n)")
_CLOSING = re.compile(r"(?:^|(?<=\n)|(?<=\r))-{3,}[ \t\f\v]*(?:\r\n|\r|\n|\Z)", re.MULTILINE)
_KEY = r"[^.\[\]]+"
_PATH = re.compile(rf"{_KEY}(?:\[\d+\])*(?:\.{_KEY}(?:\[\d+\])*)*")
_SEGMENT = re.compile(rf"({_KEY})|\[(\d+)\]")
Segment = str | int


@dataclass(slots=True)
class CardEdit:
    """What became of one card's corrections: the new text, and those that could not be made."""

    text: str
    made: list[Correction] = field(default_factory=list)
    refused: list[tuple[Correction, str]] = field(default_factory=list)
    unchanged: list[Correction] = field(default_factory=list)  # nothing to do: already so


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a correction is not made, phrased to follow "cannot edit FIELD: "."""

    reason: str
    absent: bool = False  # the field itself is not there (its mapping is)


@dataclass(frozen=True, slots=True)
class _Splice:
    """Front matter characters [start, end) become `text`."""

    start: int
    end: int
    text: str


def edit_card(text: str, corrections: Sequence[Correction]) -> CardEdit:
    """Make the corrections: all at once, checked by one reading of the result; if that reading
    is not the one expected (or two edits touch one span), each in turn, each checked, each on
    the text the previous one left, so that one bad edit costs only itself."""
    together = _edit_together(text, corrections)
    if together is not None:
        return together
    result = CardEdit(text)
    for correction in corrections:
        alone = _edit_together(result.text, [correction])
        if alone is None:
            result.refused.append((correction, "the edit would change more than that field"))
            continue
        result.text = alone.text
        result.made += alone.made
        result.refused += alone.refused
        result.unchanged += alone.unchanged
    return result


def front_matter_span(text: str) -> tuple[int, int] | Refusal:
    """Where the YAML between the --- lines is in the card's text, or why there is none."""
    opening = _OPENING.match(text)
    if opening is None:
        return Refusal("the file does not start with a --- line")
    closing = _CLOSING.search(text, opening.end())
    if closing is None:
        return Refusal("the front matter is not closed (no --- line after it)")
    return opening.end(), closing.start()


def split_path(field_name: str) -> list[Segment] | None:
    """'related[2].images[0].url' -> ['related', 2, 'images', 0, 'url']; None if not a path
    that ends with a key."""
    if not _PATH.fullmatch(field_name) or field_name.endswith("]"):
        return None
    return [key if key else int(index) for key, index in _SEGMENT.findall(field_name)]


def read_front_matter(text: str) -> dict[str, Any] | Refusal:
    """The card's front matter as the run reads it (crawler/intake): BOM, the characters YAML
    refuses and CR line ends do not count."""
    normal = YAML_REJECTS.sub("", text.removeprefix("\ufeff"))
    normal = normal.replace("\r\n", "\n").replace("\r", "\n")
    parsed = parse_front_matter(normal, include_related=True)
    if isinstance(parsed, Problem):
        return Refusal(parsed.detail)
    return parsed


# ---------------------------------------------------------------------------------------------


def _edit_together(text: str, corrections: Sequence[Correction]) -> CardEdit | None:
    """The corrections made at once; None when the result does not read as expected."""
    result = CardEdit(text)
    span = front_matter_span(text)
    before = read_front_matter(text) if not isinstance(span, Refusal) else span
    root = _compose(text[span[0] : span[1]]) if not isinstance(span, Refusal) else span
    if isinstance(span, Refusal) or isinstance(before, Refusal) or isinstance(root, Refusal):
        trouble = next(r for r in (span, before, root) if isinstance(r, Refusal))
        result.refused = [(c, trouble.reason) for c in corrections]
        return result
    fm = text[span[0] : span[1]]
    expected = copy.deepcopy(before)
    splices: list[tuple[_Splice, Correction]] = []
    for correction in corrections:
        path = split_path(correction.field)
        splice = (
            _splice(fm, root, path, correction)
            if path
            else Refusal("not a field path linkcheck knows")
        )
        if isinstance(splice, Refusal):
            result.refused.append((correction, splice.reason))
        elif splice is None or fm[splice.start : splice.end] == splice.text:
            result.unchanged.append(correction)
        elif correction.added_field and _holds(expected, path, correction.added_field):
            result.unchanged.append(correction)  # added by an earlier correction of this card
        else:
            assert path is not None
            if not _change(expected, path, correction):
                return None
            splices.append((splice, correction))
    splices.sort(key=lambda pair: (pair[0].start, pair[0].end))
    if any(a.end > b.start for (a, _), (b, _) in itertools.pairwise(splices)):
        return None  # two edits in one span: made one by one instead
    new_fm = fm
    for splice, _ in reversed(splices):
        new_fm = new_fm[: splice.start] + splice.text + new_fm[splice.end :]
    new_text = text[: span[0]] + new_fm + text[span[1] :]
    if splices and read_front_matter(new_text) != expected:
        return None
    result.text = new_text
    spliced = {id(correction) for _, correction in splices}
    result.made = [c for c in corrections if id(c) in spliced]
    return result


@dataclass(frozen=True, slots=True)
class _Found:
    mapping: MappingNode
    index: int  # of the (key, value) pair in the mapping
    flow: bool  # inside a flow collection ({...} or [...])

    @property
    def key(self) -> Node:
        key: Node = self.mapping.value[self.index][0]
        return key

    @property
    def value(self) -> Node:
        value: Node = self.mapping.value[self.index][1]
        return value


def _compose(fm: str) -> MappingNode | Refusal:
    masked = YAML_REJECTS.sub("_", fm)  # one character for one: the marks stay where they were
    try:
        root = yaml.compose(masked, Loader=_Loader)
    except yaml.YAMLError as exc:
        return Refusal(f"the front matter does not parse ({type(exc).__name__})")
    if not isinstance(root, MappingNode):
        return Refusal("the front matter is not a mapping")
    return root


def _find(root: MappingNode, path: Sequence[Segment]) -> _Found | Refusal:
    node: Node = root
    flow = False
    found: _Found | None = None
    for depth, segment in enumerate(path):
        flow = flow or bool(getattr(node, "flow_style", False))
        where = _shown(path[:depth]) or "the front matter"
        if isinstance(segment, int):
            if not isinstance(node, SequenceNode) or segment >= len(node.value):
                return Refusal(f"{where} has no item {segment}")
            node = node.value[segment]
            continue
        if not isinstance(node, MappingNode):
            return Refusal(f"{where} is not a mapping")
        indexes = [
            i
            for i, (key, _) in enumerate(node.value)
            if isinstance(key, ScalarNode) and key.value == segment
        ]
        if not indexes:
            return Refusal(f"{where} has no {segment}", absent=depth == len(path) - 1)
        if len(indexes) > 1:
            return Refusal(f"{where} has {segment} twice")
        found = _Found(node, indexes[0], flow or bool(node.flow_style))
        node = found.value
    assert found is not None  # a path ends with a key
    return found


def _shown(path: Sequence[Segment]) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path).lstrip(".")


def _splice(
    fm: str, root: MappingNode, path: Sequence[Segment], correction: Correction
) -> _Splice | Refusal | None:
    """The span the correction replaces, and with what; None when there is nothing to do."""
    if correction.drop:
        return _drop_characters(fm, str(path[0]))
    found = _find(root, path)
    if isinstance(found, Refusal):
        return None if correction.if_present and found.absent else found
    if correction.added_field is not None:
        return _insert(fm, found, correction.added_field, correction.new or "")
    if correction.new is None:
        return _remove(fm, found)
    return _replace(found, correction.new)


def _replace(found: _Found, new: str) -> _Splice | Refusal:
    value = found.value
    style = style_of(value.style) if isinstance(value, ScalarNode) else None
    if style is None:
        return Refusal("its value is not a scalar to rewrite (a list, a mapping, a | or > block)")
    spelled = render(new, style, flow=found.flow)
    return _Splice(value.start_mark.index, value.end_mark.index, spelled)


def _remove(fm: str, found: _Found) -> _Splice | Refusal:
    """The key's whole line(s); for the first key of a list item ("- url: ..."), up to the next
    key, which moves up onto the dash's line."""
    key, value = found.key, found.value
    if found.flow:
        return Refusal("it is inside a { } or [ ] collection")
    if not isinstance(value, ScalarNode):
        return Refusal("its value is not a scalar")
    line_start = _line_start(fm, key.start_mark.index)
    line_end = _line_end(fm, max(key.end_mark.index, value.end_mark.index))
    lead = fm[line_start : key.start_mark.index]
    if not lead.strip(" "):
        return _Splice(line_start, line_end, "")
    if lead.strip(" ") != "-":
        return Refusal("it does not start its line")
    if found.index + 1 >= len(found.mapping.value):
        return Refusal("it is the only key of its list item")
    following = found.mapping.value[found.index + 1][0].start_mark.index
    if fm[line_end:following].strip(" \r\n"):
        return Refusal("a comment follows it")
    return _Splice(key.start_mark.index, following, "")


def _insert(fm: str, found: _Found, name: str, new: str) -> _Splice | Refusal | None:
    """A `name: new` line after the field's, at its indentation, in its value's quoting."""
    if found.flow:
        return Refusal("it is inside a { } or [ ] collection")
    for key, _ in found.mapping.value:
        if isinstance(key, ScalarNode) and key.value == name:
            return None  # already there: a person may have chosen that copy
    value = found.value
    style = (style_of(value.style) if isinstance(value, ScalarNode) else None) or DOUBLE
    at = _line_end(fm, max(found.key.end_mark.index, value.end_mark.index))
    indent = " " * found.key.start_mark.column
    return _Splice(at, at, f"{indent}{name}: {render(new, style)}{_ending(fm, at)}")


def _drop_characters(fm: str, key: str) -> _Splice | Refusal:
    """The characters YAML refuses, dropped from the lines the run attributed to the top-level
    `key` (crawler/intake/card_text.py: from its line to the next unindented `name:` line)."""
    start = end = -1
    position = 0
    for line in re.findall(r"[^\n]*\n|[^\n]+$", fm):
        name, colon, _ = line.partition(":")
        if colon and name.strip() and name[0] not in " \t#-":
            if name.strip() == key and start < 0:
                start = position
            elif start >= 0 and end < 0:
                end = position
        position += len(line)
    if start < 0:
        return Refusal("the character is not in the front matter")
    end = len(fm) if end < 0 else end
    return _Splice(start, end, YAML_REJECTS.sub("", fm[start:end]))


def _line_start(text: str, position: int) -> int:
    return max(text.rfind("\n", 0, position), text.rfind("\r", 0, position)) + 1


def _line_end(text: str, position: int) -> int:
    """Just after the line break that ends the line holding `position` (the text's end if none)."""
    found = re.compile(r"\r\n|\r|\n").search(text, position)
    return found.end() if found else len(text)


def _ending(text: str, line_end: int) -> str:
    if text.endswith("\r\n", 0, line_end):
        return "\r\n"
    return "\r" if text.endswith("\r", 0, line_end) else "\n"


def _holds(data: dict[str, Any], path: Sequence[Segment] | None, name: str) -> bool:
    """Whether the mapping that holds the field at `path` has a key `name`."""
    node: Any = data
    for segment in (path or [])[:-1]:
        try:
            node = node[segment]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(node, dict) and name in node


def _change(data: dict[str, Any], path: Sequence[Segment], correction: Correction) -> bool:
    """Make the correction in the parsed front matter, as it should read after the edit; False
    if the path is not there."""
    if correction.drop:
        return True  # the run read the card without those characters already
    node: Any = data
    for segment in path[:-1]:
        try:
            node = node[segment]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1]
    if not isinstance(node, dict) or (last not in node and not correction.if_present):
        return False
    if correction.added_field is not None:
        node.setdefault(correction.added_field, correction.new)
    elif correction.new is None:
        node.pop(last, None)
    else:
        node[last] = correction.new
    return True
