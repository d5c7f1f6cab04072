"""The store for one command: opened, turned into one-line errors when SQLite fails for the
file's or the machine's sake, and closed whatever happens."""

from __future__ import annotations

import sqlite3
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from crawler.store.database import Store
from crawler.store.opening import StoreError, environment_error, store_error

log = structlog.get_logger("linkcheck")


def open_existing_store(path: Path) -> Store:
    """The store of `report` and `history`, which never make one."""
    if not path.exists() and not path.is_symlink():
        raise StoreError(path, "no store here: run `linkcheck run` first, or give --state")
    return Store(path)


@contextmanager
def session(store: Store, *, resume_hint: bool = False) -> Iterator[Store]:
    """The store for one command. SQLite failing for the file's or the machine's sake (a full
    disk, another program's lock...) is a StoreError, one line. And the frames an exception
    holds (a generator still reading the store, say) let go before the store is closed, not at
    exit with an "Exception ignored" traceback."""
    try:
        yield store
    except sqlite3.Error as exc:
        _release_frames(exc)
        if not environment_error(exc):
            raise
        error = store_error(store.path, exc)
        damaged = getattr(exc, "sqlite_errorname", "").startswith(
            ("SQLITE_CORRUPT", "SQLITE_NOTADB")
        )
        hint = "; `linkcheck run --resume` continues the run" if resume_hint and not damaged else ""
        raise StoreError(error.path, error.reason + hint) from exc
    except BaseException as exc:
        _release_frames(exc)
        raise
    finally:
        _close(store)


def _release_frames(exc: BaseException) -> None:
    """Clear the locals of every frame in the tracebacks of exc and of the exceptions behind
    it (the code and line numbers stay, for the log)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _close(store: Store) -> None:
    """Close the store; a store that fails again on closing must not hide the first error."""
    try:
        store.close()
    except sqlite3.Error as exc:
        log.warning("store_close_failed", error=str(exc))
