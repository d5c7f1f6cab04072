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

from crawler.store import utc_now


class StoreLocked(RuntimeError):
    """Another live process holds the store."""


class RunLock:
    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self._handle: IO[str] | None = None
        self.took_over: dict[str, Any] | None = None  # the dead holder, when there was one

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(handle)
            handle.close()
            raise StoreLocked(
                f"another linkcheck run holds {self.path.with_suffix('')}:"
                f" pid {holder.get('pid', '?')}"
                f" on {holder.get('host', '?')}, started {holder.get('started_at', '?')}"
                f" ({holder.get('command', 'linkcheck')}); wait for it or stop it"
            ) from None
        previous = _read(handle)
        if previous.get("pid"):
            self.took_over = previous  # its holder died without unlocking: the lock was stale
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started_at": utc_now(),
                    "command": "linkcheck run",
                }
            )
        )
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.flush()
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
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


def _read(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        value = json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
