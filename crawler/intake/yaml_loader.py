"""YAML within budgets: libyaml's parser with a lean constructor, and a counting composer that
refuses an alias bomb, a huge document or deep nesting before anything is built.

Errors are exceptions here (PyYAML's own, and OverBudget); front_matter.py turns them into a
card's Problem.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crawler.intake.budgets import MAX_NUMBER_CHARS, MAX_YAML_DEPTH, MAX_YAML_NODES
from crawler.intake.links import show

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


class OverBudget(Exception):
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
            raise OverBudget(_TOO_DEEP)
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
            raise OverBudget(_TOO_DEEP)
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
                raise OverBudget("front matter has an alias inside its own anchor (recursive)")
            self._count(size or 1)  # an undefined alias: the composer says so
            return Composer.compose_node(self, parent, index)
        collection = not isinstance(event, ScalarEvent)
        if collection:
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise OverBudget(_TOO_DEEP)
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
            raise OverBudget(
                f"front matter has more than {MAX_YAML_NODES:,} YAML nodes after alias expansion"
            )


def _can_skip_counting(text: str) -> bool:
    """Without aliases the densest YAML ('{a,a}', '?\n?\n') holds one node per character, so a
    text without '*' of under half the node budget is within it: libyaml composes it in C."""
    return 2 * len(text) + 1 <= MAX_YAML_NODES and "*" not in text


def load_yaml(text: str) -> Any:
    if _can_skip_counting(text):
        return _load_with(_CardLoader(text))
    with _gc_paused():
        return _load_with(_BudgetedLoader(text))


def _load_with(loader: Any) -> Any:
    try:
        return loader.get_single_data()
    except RecursionError:  # a backstop: depth is checked, but PyYAML's fallbacks recurse too
        raise OverBudget(_TOO_DEEP) from None
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
