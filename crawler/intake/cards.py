"""Finding card files, parsing their front matter, date/unpublished filters, card validation.

`load_card` turns one file into a CardRecord and never raises: whatever is wrong with a card is a
Problem on its record, so one bad file never stops a run over a million.
"""

from __future__ import annotations

import fnmatch
import gc
import os
import re
import stat
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from itertools import islice
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler
from yaml.composer import Composer
from yaml.events import AliasEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crawler.config import Config
from crawler.intake.links import describe_char, extract_links, is_absent, show
from crawler.model import CardRecord, Disposition, Kind, Problem, Severity
from crawler.text import preview, safe_text

# Budgets for one card file: what a hostile file can cost is bounded by these, whatever it holds.
# The largest of 2,000 real cards is a 143 KB file (all front matter) of 5,195 YAML nodes, nested
# 6 deep: each budget leaves a wide margin above that.
MAX_CARD_BYTES = 2 * 1024 * 1024  # a file is read up to this plus one byte, never whole
MAX_FRONT_MATTER_BYTES = 1024 * 1024
MAX_YAML_NODES = 50_000  # counted with every alias expanded: a 1 KB alias bomb is refused
MAX_YAML_DEPTH = 64  # nesting levels; the reader recurses on them
MAX_NUMBER_CHARS = 1_000  # a longer int or float is refused (its conversion is superlinear)


class CardsFolderError(ValueError):
    """The cards folder (or the glob) cannot be used: reported in one line, exit code 2."""


@dataclass(frozen=True, slots=True)
class CardOptions:
    since: datetime | None = None  # inclusive, timezone-aware
    until: datetime | None = None  # exclusive, timezone-aware
    include_unpublished: bool = False
    include_related: bool = False
    base_url: str | None = None

    def __post_init__(self) -> None:
        # Bounds are compared with aware datetimes: a naive bound means UTC, as in parse_bound.
        for name in ("since", "until"):
            bound = getattr(self, name)
            if bound is not None and bound.utcoffset() is None:
                object.__setattr__(self, name, bound.replace(tzinfo=UTC))

    @classmethod
    def from_config(cls, config: Config) -> CardOptions:
        cards = config.cards
        return cls(
            since=cards.since,
            until=cards.until,
            include_unpublished=cards.include_unpublished,
            include_related=cards.include_related,
            base_url=config.links.base_url,
        )


# ---------------------------------------------------------------------------------------------
# Finding card files


class _Glob:
    """A relative glob matched one path segment at a time, so a walk can prune directories.

    States are indexes into the segments; '**' matches zero or more directories. As with glob.glob,
    a wildcard does not match a hidden name (.git, .DS_Store): only a segment that starts with '.'
    does.
    """

    def __init__(self, pattern: str) -> None:
        parts = [p for p in pattern.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts or pattern.startswith("/") or ".." in parts:
            raise CardsFolderError(
                f"cards glob must be a relative pattern inside the cards folder, not {pattern!r}"
            )
        if parts[-1] == "**":
            parts.append("*")  # files at any depth, since only files are cards
        self.parts = parts
        self.matchers: list[Callable[[str], re.Match[str] | None] | None] = [
            None if p == "**" else re.compile(fnmatch.translate(p)).match for p in parts
        ]

    def closure(self, states: frozenset[int]) -> frozenset[int]:
        out = set(states)
        for state in sorted(states):
            while state < len(self.parts) and self.parts[state] == "**":
                state += 1
                out.add(state)
        return frozenset(out)

    def _matches(self, state: int, name: str) -> bool:
        matcher = self.matchers[state]
        if matcher is None:
            return False
        if name.startswith(".") and not self.parts[state].startswith("."):
            return False
        return matcher(name) is not None

    def file_matches(self, states: frozenset[int], name: str) -> bool:
        last = len(self.parts) - 1
        return last in states and self._matches(last, name)

    def descend(self, states: frozenset[int], name: str) -> frozenset[int]:
        """States after entering directory `name`; empty means nothing below can match."""
        out: set[int] = set()
        for state in states:
            if state >= len(self.parts) - 1:
                continue  # the last segment names files, not directories
            if self.parts[state] == "**":
                if not name.startswith("."):
                    out.add(state)
            elif self._matches(state, name):
                out.add(state + 1)
        return self.closure(frozenset(out))


def find_card_files(root: Path, glob: str = "**/*.md") -> Iterator[Path]:
    """Card files under root matching glob, streamed in a stable order.

    The files directly in root first (sorted by name), then the top-level folders in turn, one
    file from each: cards are grouped by site, and each site's links point at its own hosts, so
    this gives every host work from the first seconds of a run instead of after the folders
    before it. Within a folder: its files sorted by name, then its subfolders depth-first.
    Hidden names are skipped unless the glob names them; a directory is entered once even if
    symlinks lead to it twice. Anything else whose name matches is a card file, even if it is not
    a regular file, so that it is reported rather than silently skipped.
    """
    if not root.exists():
        raise CardsFolderError(f"cards folder not found: {root}")
    if not root.is_dir():
        raise CardsFolderError(f"cards folder is not a directory: {root}")
    pattern = _Glob(glob)
    return _interleaved(root, pattern, pattern.closure(frozenset({0})))


INTERLEAVED_FOLDERS = 64  # top-level folders open at once (each holds its listing in memory)


def _interleaved(root: Path, pattern: _Glob, states: frozenset[int]) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()
    files, subdirs = _listing(root, pattern, states, seen)
    yield from files
    waiting = iter(subdirs)
    walkers = deque(
        _walk(folder, pattern, below, seen)
        for folder, below in islice(waiting, INTERLEAVED_FOLDERS)
    )
    while walkers:
        walker = walkers.popleft()
        path = next(walker, None)
        if path is None:  # this folder is done: open the next one
            walkers.extend(_walk(f, pattern, below, seen) for f, below in islice(waiting, 1))
            continue
        yield path
        walkers.append(walker)


def _walk(
    directory: Path, pattern: _Glob, states: frozenset[int], seen: set[tuple[int, int]]
) -> Iterator[Path]:
    files, subdirs = _listing(directory, pattern, states, seen)
    yield from files
    for subdir, below in subdirs:
        yield from _walk(subdir, pattern, below, seen)


def _listing(
    directory: Path, pattern: _Glob, states: frozenset[int], seen: set[tuple[int, int]]
) -> tuple[list[Path], list[tuple[Path, frozenset[int]]]]:
    """A directory's matching files and the subdirectories worth entering, sorted by name."""
    try:
        info = directory.stat()
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        where = safe_text(str(directory))
        raise CardsFolderError(f"cannot read cards folder {where}: {exc.strerror}") from exc
    if (info.st_dev, info.st_ino) in seen:
        return [], []
    seen.add((info.st_dev, info.st_ino))
    files: list[Path] = []
    subdirs: list[tuple[Path, frozenset[int]]] = []
    for entry in entries:
        if _is_dir(entry):
            below = pattern.descend(states, entry.name)
            if below:
                subdirs.append((Path(entry.path), below))
        elif pattern.file_matches(states, entry.name):
            # Not only regular files: a FIFO, a broken link or a link loop named like a card is
            # reported invalid with its reason (load_card reads regular files only).
            files.append(Path(entry.path))
    return files, subdirs


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop: is_dir() raises ELOOP; load_card reports the file
        return False


# ---------------------------------------------------------------------------------------------
# YAML: libyaml's parser with a lean constructor, and `related` skipped when it is not checked


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")
)
_LoaderBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Plain scalars repeat across cards (every key, 'news', 'article', 'true'): resolve each once.
# Only short ones are kept, so hostile cards cannot fill the worker's memory with their values.
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_MAX = 4096
_PLAIN_TAGS_LONGEST = 64
_TOO_DEEP = f"front matter is nested more than {MAX_YAML_DEPTH} levels deep"


class _OverBudget(Exception):
    """The front matter exceeds a budget: a parse problem, never retried on the full text."""


class _CardLoader(_LoaderBase):  # type: ignore[misc]
    """SafeLoader semantics, built faster: plain dicts, lists and strings skip the generic
    constructor machinery (the bulk of PyYAML's time); anything else falls back to it."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)
        if not implicit[0] or len(value) > MAX_NUMBER_CHARS:
            return _STR_TAG  # quoted, or too long for a number or a date: no regex runs on it
        tag = _PLAIN_TAGS.get(value)
        if tag is None:
            tag = _STR_TAG
            for candidate, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                if regexp.match(value):
                    tag = candidate
                    break
            if len(_PLAIN_TAGS) < _PLAIN_TAGS_MAX and len(value) <= _PLAIN_TAGS_LONGEST:
                _PLAIN_TAGS[value] = tag
        return tag

    def construct_document(self, node: Node) -> Any:
        self._built: dict[int, Any] = {}  # aliases share a node: build it once
        return self._build(node, 1)

    def _build(self, node: Node, depth: int) -> Any:
        cls, tag = node.__class__, node.tag
        if cls is ScalarNode:
            if tag == _STR_TAG:
                return node.value
            if tag in _SCALAR_TAGS:
                return self.yaml_constructors[tag](self, node)
        elif cls is MappingNode and tag == _MAP_TAG:
            return self._build_mapping(node, depth)
        elif cls is SequenceNode and tag == _SEQ_TAG:
            return self._build_sequence(node, depth)
        return self.construct_object(node, deep=True)

    def _build_mapping(self, node: Node, depth: int) -> Any:
        known = self._built.get(id(node))
        if known is not None:
            return known
        if depth > MAX_YAML_DEPTH:
            raise _OverBudget(_TOO_DEEP)
        if any(key.tag == _MERGE_TAG for key, _ in node.value):
            return self.construct_object(node, deep=True)  # '<<' merge keys: the full rules
        out: dict[Any, Any] = {}
        self._built[id(node)] = out
        for key_node, value_node in node.value:
            key = self._build(key_node, depth + 1)
            try:
                out[key] = self._build(value_node, depth + 1)
            except TypeError as exc:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found unhashable key ({exc})",
                    key_node.start_mark,
                ) from exc
        return out

    def _build_sequence(self, node: Node, depth: int) -> Any:
        known = self._built.get(id(node))
        if known is not None:
            return known
        if depth > MAX_YAML_DEPTH:
            raise _OverBudget(_TOO_DEEP)
        out: list[Any] = []
        self._built[id(node)] = out
        out.extend(self._build(child, depth + 1) for child in node.value)
        return out

    def construct_lenient_timestamp(self, node: Node) -> Any:
        """2020-02-30 (or year 0, or an explicit !!timestamp on any text) looks like a date to
        YAML but is not one: keep the text, so the card says 'publishedDateTime is not a date'
        instead of failing to parse at all."""
        if isinstance(node.value, str) and self.timestamp_regexp.match(node.value) is None:
            return node.value
        try:
            return self.construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return node.value

    def construct_bounded_int(self, node: Node) -> Any:
        return _number(node, lambda: self.construct_yaml_int(node))

    def construct_bounded_float(self, node: Node) -> Any:
        return _number(node, lambda: self.construct_yaml_float(node))


def _number(node: Node, construct: Callable[[], Any]) -> Any:
    """An int or float, refused when too long (base-60 and decimal conversions grow faster than
    the text) or not a number at all (an explicit '!!int' on any text)."""
    if isinstance(node.value, str) and len(node.value) > MAX_NUMBER_CHARS:
        problem = f"a number of {len(node.value):,} characters is too long"
        raise _constructor_error(f"{problem} (at most {MAX_NUMBER_CHARS:,})", node)
    try:
        return construct()
    except (ValueError, IndexError) as exc:  # PyYAML reads '!!int ""' as value[0]
        raise _constructor_error(f"{show(node.value)} is not a number", node) from exc


def _constructor_error(problem: str, node: Node) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


_CardLoader.add_constructor("tag:yaml.org,2002:timestamp", _CardLoader.construct_lenient_timestamp)
_CardLoader.add_constructor("tag:yaml.org,2002:int", _CardLoader.construct_bounded_int)
_CardLoader.add_constructor("tag:yaml.org,2002:float", _CardLoader.construct_bounded_float)


class _BudgetedLoader(_CardLoader):
    """_CardLoader composing in Python, counting nodes as they are made with every alias expanded,
    and the nesting depth: an alias bomb or a huge document is refused when it crosses the budget,
    before anything is built. PyYAML's own composer does the work; only the counting is added."""

    get_single_node = Composer.get_single_node
    compose_document = Composer.compose_document
    compose_scalar_node = Composer.compose_scalar_node
    compose_sequence_node = Composer.compose_sequence_node
    compose_mapping_node = Composer.compose_mapping_node

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.anchors: dict[Any, Node] = {}
        self._nodes = 0
        self._depth = 0
        self._sizes: dict[Any, int] = {}  # anchor -> its node count, aliases expanded

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            size = self._sizes.get(event.anchor)
            if size is None and event.anchor in self.anchors:
                raise _OverBudget("front matter has an alias inside its own anchor (recursive)")
            self._count(size or 1)  # an undefined alias: the composer says so
            return Composer.compose_node(self, parent, index)
        collection = not isinstance(event, ScalarEvent)
        if collection:
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise _OverBudget(_TOO_DEEP)
        before = self._nodes
        self._count(1)
        node = Composer.compose_node(self, parent, index)
        if collection:
            self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self._nodes - before
        return node

    def _count(self, nodes: int) -> None:
        self._nodes += nodes
        if self._nodes > MAX_YAML_NODES:
            raise _OverBudget(
                f"front matter has more than {MAX_YAML_NODES:,} YAML nodes after alias expansion"
            )


def _can_skip_counting(text: str) -> bool:
    """Without aliases the densest YAML ('{a,a}', '?\n?\n') holds one node per character, so a
    text without '*' of under half the node budget is within it: libyaml composes it in C."""
    return 2 * len(text) + 1 <= MAX_YAML_NODES and "*" not in text


def _load_yaml(text: str) -> Any:
    if _can_skip_counting(text):
        return _load_with(_CardLoader(text))
    with _gc_paused():
        return _load_with(_BudgetedLoader(text))


def _load_with(loader: Any) -> Any:
    try:
        return loader.get_single_data()
    except RecursionError:  # a backstop: depth is checked, but PyYAML's fallbacks recurse too
        raise _OverBudget(_TOO_DEEP) from None
    finally:
        loader.dispose()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Tens of thousands of nodes, none of them garbage yet: the cyclic collector would scan
    them again and again (it triples the time to reach the node budget). Refcounting frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    it holds 84% of the corpus' bytes and building it would cut the loading rate by six. The
    price: a YAML error inside it is only reported with include_related. Any error in the
    remainder falls back to a full parse, whose answer (and error position) is authoritative.
    """
    if not include_related:
        rest = _without_related(fm)
        if rest is not None:
            try:
                return _load_yaml(rest)
            except yaml.YAMLError:
                pass
    return _load_yaml(fm)


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
            raise _OverBudget(
                f"front matter is {size:,} bytes, more than the {MAX_FRONT_MATTER_BYTES:,} allowed"
            )


_HANDLERS = {flag: _CardHandler(include_related=flag) for flag in (False, True)}
_FM_FIRST_LINE = 2  # the YAML starts on the line after the opening ---


# ---------------------------------------------------------------------------------------------
# Bytes -> text


_BOM = b"\xef\xbb\xbf"
# Bytes that are never a YAML-rejected character, for a fast "is anything wrong?" check.
_C0_DEL = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_NOT_C0_DEL = bytes(sorted(set(range(256)) - set(_C0_DEL)))
# C1 controls (but NEL) and U+FFFE/U+FFFF as UTF-8; two patterns, since each with a literal
# first byte is searched ten times faster than one alternation.
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x84\x86-\x9f]")
_NONCHAR_UTF8 = re.compile(rb"\xef\xbf[\xbe\xbf]")
# What PyYAML's reader rejects: C0 but tab/LF/CR, DEL, C1 but NEL, and the non-characters.
_YAML_REJECTS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
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
    for match in islice(_YAML_REJECTS.finditer(text), _MAX_CONTROL_PROBLEMS):
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - text.rfind("\n", 0, match.start())
        where = f"line {line}, column {column}"
        key = _top_level_key(text, match.start())
        detail = f"dropped {describe_char(match.group())} at {where}" + (
            f" (in {key})" if key else ""
        )
        problems.append(Problem(Kind.CARD_CONTROL_CHARACTER, detail, field=key))
    kept, found = _YAML_REJECTS.subn("", text)  # counted, not listed: a file may be all NULs
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


def _parse(text: str, include_related: bool) -> dict[str, Any] | Problem:
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
    except _OverBudget as exc:
        return _parse_problem(str(exc))
    return dict(metadata)


def _parse_problem(detail: str) -> Problem:
    return Problem(Kind.CARD_PARSE_ERROR, detail)


# ---------------------------------------------------------------------------------------------
# Fields


def _parse_datetime(value: Any) -> datetime | str:
    """A timezone-aware datetime, or the reason it is not one."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            reason = str(exc)
            return "" if reason.startswith("Invalid isoformat") else preview(reason)
    else:
        return ""
    moment = moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)  # 0001-01-01T00:00+01:00 is a datetime, but not one in UTC
    except OverflowError:
        return "out of range in UTC"
    return moment


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class _Card:
    """The checks on one parsed card, accumulating Problems on its record."""

    def __init__(self, record: CardRecord, fm: Mapping[str, Any]) -> None:
        self.record = record
        self.fm = fm
        self.moment: datetime | None = None

    def problem(self, kind: Kind, field: str, detail: str) -> None:
        self.record.problems.append(Problem(kind=kind, detail=detail, field=field))

    def title(self) -> None:
        value = self.fm.get("title")
        if value is None:
            self.problem(Kind.CARD_MISSING_FIELD, "title", "title is missing")
        elif not isinstance(value, str):
            self.problem(Kind.CARD_INVALID_FIELD, "title", f"title must be text, got {show(value)}")
        elif not value.strip():
            self.problem(Kind.CARD_INVALID_FIELD, "title", "title is empty")
        else:
            self.record.title = value

    def published_date(self) -> None:
        value = self.fm.get("publishedDateTime")
        if value is None:
            detail = "publishedDateTime is missing (e.g. publishedDateTime: 2020-02-12T15:30:00Z)"
            self.problem(Kind.CARD_MISSING_FIELD, "publishedDateTime", detail)
            return
        parsed = _parse_datetime(value)
        if isinstance(parsed, str):
            reason = f" ({parsed})" if parsed else ""
            detail = (
                f"publishedDateTime is not a date: {show(value)}{reason};"
                " expected ISO 8601 like 2020-02-12T15:30:00Z"
            )
            self.problem(Kind.CARD_INVALID_FIELD, "publishedDateTime", detail)
            return
        self.moment = parsed
        self.record.published = _iso(parsed)

    def published_flag(self) -> bool | None:
        """True/False, None when absent (published), or None with a problem when not a bool."""
        value = self.fm.get("published")
        if value is None or isinstance(value, bool):
            return value
        detail = f"published must be true or false, got {show(value)}"
        self.problem(Kind.CARD_INVALID_FIELD, "published", detail)
        return None

    def provider(self) -> None:
        value = self.fm.get("provider")
        if not isinstance(value, Mapping):
            return  # absent, or reported by extract_links, which walks provider.images
        for name in ("name", "domain"):
            item = value.get(name)
            if item is not None and not isinstance(item, str):
                detail = f"provider.{name} must be text, got {show(item)}"
                self.problem(Kind.CARD_INVALID_FIELD, f"provider.{name}", detail)
            elif item and self.record.provider is None:
                self.record.provider = item

    def page_url_present(self) -> None:
        if is_absent(self.fm.get("webUrl")) and is_absent(self.fm.get("originalUrl")):
            self.problem(Kind.CARD_MISSING_FIELD, "webUrl", "neither webUrl nor originalUrl is set")


def _filter_reason(moment: datetime, options: CardOptions) -> str | None:
    if options.since is not None and moment < options.since:
        return f"published {_when(moment, options.since)}, before --since {_bound(options.since)}"
    if options.until is not None and moment >= options.until:
        return (
            f"published {_when(moment, options.until)}, on or after --until {_bound(options.until)}"
        )
    return None


def _bound(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.date().isoformat() if utc.time() == time() else utc.isoformat()


def _when(moment: datetime, bound: datetime) -> str:
    """The card's day, or its exact time when the day alone would not explain the filter."""
    day, bound_day = moment.astimezone(UTC).date(), bound.astimezone(UTC).date()
    return day.isoformat() if day != bound_day else _iso(moment)


# ---------------------------------------------------------------------------------------------
# One card file


def load_card(path: Path, root: Path, options: CardOptions) -> CardRecord:
    """Read, parse, filter and validate one card file. Never raises."""
    record = CardRecord(path=card_path(path, root), disposition=Disposition.INVALID)
    try:
        _load_into(record, path, options)
    except Exception as exc:  # a bug or an odd file must cost one card, not the run
        record.disposition = Disposition.INVALID
        record.links = []
        detail = f"could not read the card: {type(exc).__name__}: {preview(str(exc))}"
        record.problems.append(Problem(Kind.CARD_PARSE_ERROR, detail))
    return record


def iter_cards(root: Path, options: CardOptions, glob: str = "**/*.md") -> Iterator[CardRecord]:
    """Every card file under root, loaded, in find_card_files order."""
    for path in find_card_files(root, glob):
        yield load_card(path, root, options)


def card_path(path: Path, root: Path) -> str:
    """The card's path as reported: relative to root, posix, and valid text even when the file
    name is not UTF-8 (its bytes are shown as \\xNN)."""
    return safe_text(_relative(path, root))


def _relative(path: Path, root: Path) -> str:
    text, prefix = str(path), os.path.join(str(root), "")
    if text.startswith(prefix):  # the usual case, without pathlib's slower relative_to
        return text[len(prefix) :].replace(os.sep, "/")
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _load_into(record: CardRecord, path: Path, options: CardOptions) -> None:
    data = _read(path)
    if isinstance(data, Problem):
        record.problems.append(data)
        return
    text = _decode(data)
    if isinstance(text, Problem):
        record.problems.append(text)
        return
    if _has_rejected_characters(data):
        text, warnings = _drop_control_characters(text)
        record.problems.extend(warnings)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    fm = _parse(text, include_related=options.include_related)
    if isinstance(fm, Problem):
        record.problems.append(fm)
        return
    _judge(record, fm, options)


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
            return _parse_problem(f"cannot read file: it is {kind}, not a regular file")
        if info.st_size > MAX_CARD_BYTES:
            return _too_large()
        data = _read_at_most(fd, info.st_size + 1, MAX_CARD_BYTES + 1)
    except OSError as exc:
        return _read_problem(exc)
    finally:
        os.close(fd)
    return _too_large() if len(data) > MAX_CARD_BYTES else data  # it grew, or stat said 0


def _too_large() -> Problem:
    return _parse_problem(f"the file is larger than the {MAX_CARD_BYTES:,} bytes allowed")


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
    return _parse_problem(f"cannot read file: {preview(exc.strerror or str(exc))}")


def _judge(record: CardRecord, fm: Mapping[str, Any], options: CardOptions) -> None:
    card = _Card(record, fm)
    card.title()
    card.published_date()
    card.provider()
    if card.moment is not None:
        reason = _filter_reason(card.moment, options)
        if reason is not None:
            _filtered(record, reason)
            return
    flag = card.published_flag()
    if flag is False and not options.include_unpublished and card.moment is not None:
        _filtered(record, "published: false")
        return
    card.page_url_present()
    links, problems = extract_links(
        fm, base_url=options.base_url, include_related=options.include_related
    )
    record.problems.extend(problems)
    if any(p.severity is Severity.INVALID for p in record.problems):
        record.disposition = Disposition.INVALID
        return
    record.disposition = Disposition.CHECKED
    record.links = links


def _filtered(record: CardRecord, reason: str) -> None:
    """Out of the run's scope: no links, no problems, no request."""
    record.disposition = Disposition.FILTERED
    record.filter_reason = reason
    record.problems = []
