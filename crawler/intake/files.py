"""Finding card files: a relative glob under the cards folder, walked in a stable order that
gives every site's hosts work early in a run."""

from __future__ import annotations

import fnmatch
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

from crawler.text import safe_text


class CardsFolderError(ValueError):
    """The cards folder (or the glob) cannot be used: reported in one line, exit code 2."""


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
