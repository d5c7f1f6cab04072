"""Opening the store file, and SQLite's errors said as the operator's: what is wrong with the
file or the machine, and what to do, in one line (exit code 2, never a traceback)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from crawler.text import preview, safe_text


class StoreError(Exception):
    """The store cannot be used (`path: reason`): one line and exit code 2, never a traceback.

    A store that is not ours, damaged or from a newer linkcheck is refused, never replaced."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{safe_text(str(path))}: {reason}")
        self.path = path
        self.reason = reason


BUSY_TIMEOUT_MS = 5000  # how long to wait for another connection's write before giving up

# SQLite's answers that say the file or the machine is at fault, not linkcheck (base codes; an
# extended one, such as SQLITE_IOERR_SHORT_READ, starts with its base name)
_ENVIRONMENT = {
    "SQLITE_NOTADB": "not an SQLite database: move it aside or give another --state"
    " (linkcheck never replaces it)",
    "SQLITE_CORRUPT": "the database is damaged: restore it from a backup, or move it aside"
    " to start a new store (linkcheck never replaces it)",
    "SQLITE_BUSY": "another program holds a write lock on it: close that program, then try again",
    "SQLITE_LOCKED": "another program holds a lock on it: close that program, then try again",
    "SQLITE_READONLY": "cannot write to it (a read-only file, folder or disk): fix the"
    " permissions or give another --state",
    "SQLITE_FULL": "the disk is full: free some space, then try again",
    "SQLITE_IOERR": "disk I/O error",
    "SQLITE_PERM": "permission denied",
    "SQLITE_AUTH": "permission denied",
    "SQLITE_CANTOPEN": "cannot open it",  # the reason is looked for: see _why_not_open
}


def environment_error(exc: sqlite3.Error) -> bool:
    """The error is the file's or the machine's (see _ENVIRONMENT), not a bug in linkcheck."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return any(name.startswith(base) for base in _ENVIRONMENT)


def store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """SQLite's error as a StoreError: what is wrong with the file and what to do."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = next((b for b in _ENVIRONMENT if name.startswith(b)), None)
    if base == "SQLITE_CANTOPEN":
        return StoreError(path, _why_not_open(path))
    if base is None:
        return StoreError(path, f"{safe_text(str(exc))} ({name or type(exc).__name__})")
    reason = _ENVIRONMENT[base]
    if base == "SQLITE_IOERR":
        reason += f" ({name})"
    return StoreError(path, reason)


def _why_not_open(path: Path) -> str:
    folder = path.parent
    if path.is_dir():
        return "is a directory, not a store file: give --state a file path"
    if not folder.is_dir():
        return f"{safe_text(str(folder))} is not a folder: give --state a path in a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"cannot write in its folder {safe_text(str(folder))} (SQLite keeps -wal and -shm"
            " files beside the store): fix the permissions or give another --state"
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return "permission denied: fix the file's permissions or give another --state"
    return "cannot open it (SQLite: unable to open database file)"


def check_store_path(path: Path) -> None:
    """A path that can never be a store (a directory), refused before anything is made."""
    if path.is_dir():
        raise StoreError(path, _why_not_open(path))


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the store file, its folder made if missing."""
    check_store_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StoreError(path, f"cannot make its folder: {reason}") from exc
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise store_error(path, exc) from exc
    return db


def check_usable(path: Path, db: sqlite3.Connection) -> None:
    """Before a run's first request: is the file sound, and can the run write to it? Damage
    (every page is read), a read-only file or disk, or a write lock held by another program
    fail now rather than in the middle of the crawl."""
    try:
        problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.Error as exc:
        raise store_error(path, exc) from exc
    if problem != "ok":
        reason = _ENVIRONMENT["SQLITE_CORRUPT"]
        raise StoreError(path, f"{reason} (SQLite: {preview(str(problem), 80)})")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(f"PRAGMA user_version={int(version)}")  # a write, rolled back
        finally:
            if db.in_transaction:  # SQLite rolls back by itself on some errors
                db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise store_error(path, exc) from exc
