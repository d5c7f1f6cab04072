"""One run at a time per store: an advisory lock file beside the SQLite file.

`flock` is released by the kernel when its holder dies (even by kill -9), so a stale lock from a
dead process is taken over without any guessing; the file's text names the holder for the
message a second run prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from crawler.store.opening import StoreError
from crawler.store.writes import utc_now


class StoreLocked(StoreError):
    """Another live process holds the store."""


# The lock files this process holds, by descriptor. flock belongs to the open file, which a
# forked child (the card reader) shares: a child still alive after its run was killed with -9
# would keep the store locked. So a child lets go of them the moment it is forked.
_HELD: set[int] = set()


def _let_go_in_child() -> None:
    if not _HELD:
        return
    devnull = os.open(os.devnull, os.O_RDONLY)
    for fd in _HELD:
        os.dup2(devnull, fd)  # the number stays valid for the inherited file object
    os.close(devnull)
    _HELD.clear()


os.register_at_fork(after_in_child=_let_go_in_child)


class RunLock:
    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        self.path = store_path.with_name(store_path.name + ".lock")
        self._handle: IO[str] | None = None
        self.took_over: dict[str, Any] | None = None  # the dead holder, when there was one

    def acquire(self) -> None:
        handle = self._open()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(handle)
            handle.close()
            raise StoreLocked(
                self.store_path,
                f"another linkcheck run holds it: {describe(holder)}; wait for it or stop it",
            ) from None
        previous = _read(handle)
        if previous.get("pid"):
            self.took_over = previous  # its holder died without unlocking: the lock was stale
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": utc_now(),
            "command": "linkcheck run",
        }
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(holder))
            handle.flush()
        except OSError as exc:  # a full or read-only disk: the store could not be written either
            handle.close()
            raise StoreError(
                self.store_path, f"cannot write its lock file {self.path.name}: {exc.strerror}"
            ) from exc
        self._handle = handle
        _HELD.add(handle.fileno())

    def _open(self) -> IO[str]:
        """The lock file, made if missing; an error names the store and says what to do."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return open(self.path, "a+", encoding="utf-8")  # held for the run
        except (FileExistsError, NotADirectoryError) as exc:
            raise StoreError(
                self.store_path, "a part of its path is a file, not a folder: give another --state"
            ) from exc
        except IsADirectoryError as exc:
            raise StoreError(self.store_path, f"{self.path} is a directory: remove it") from exc
        except OSError as exc:
            raise StoreError(
                self.store_path,
                f"cannot make its lock file {self.path.name} beside it ({exc.strerror}):"
                " a run writes in the store's folder; fix the permissions or give another --state",
            ) from exc

    def live_holder(self) -> dict[str, Any] | None:
        """The live run holding the store, or None. Takes nothing and makes no file, for the
        commands that only read the store."""
        try:
            handle = open(self.path, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError:
            return None  # no lock file: no run has held this store
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read(handle) or {}
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None

    def release(self) -> None:
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.flush()
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        _HELD.discard(self._handle.fileno())
        self._handle.close()
        self._handle = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def describe(holder: dict[str, Any]) -> str:
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')},"
        f" started {holder.get('started_at', '?')} ({holder.get('command', 'linkcheck')})"
    )


def _read(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        value = json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
