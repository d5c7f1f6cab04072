"""The merge-join of two streams ordered by the same key (a card path): each parent with its
children, in one pass and without holding either stream in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

P = TypeVar("P")
C = TypeVar("C")


def merge_join(
    parents: Iterable[P],
    children: Iterable[C],
    parent_key: Callable[[P], str],
    child_key: Callable[[C], str],
) -> Iterator[tuple[P, list[C]]]:
    """Each parent with the children of the same key. Both streams are ordered by key; a child
    whose key no parent has is skipped."""
    rest = iter(children)
    pending = next(rest, None)
    for parent in parents:
        key = parent_key(parent)
        own: list[C] = []
        while pending is not None and child_key(pending) < key:
            pending = next(rest, None)
        while pending is not None and child_key(pending) == key:
            own.append(pending)
            pending = next(rest, None)
        yield parent, own
