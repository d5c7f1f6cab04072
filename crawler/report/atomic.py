"""Writing a report file whole or not at all: the one atomic-write helper (temp file + rename).

The rename means a reader never sees half a report, and a crash leaves the previous one in
place. A write that fails (full disk, read-only folder, --out a file...) is a ReportWriteError
naming the path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from crawler.text import safe_text


class ReportWriteError(Exception):
    """A report file could not be written (full disk, read-only folder, --out a file...): one
    line naming the path, exit code 2. The previous report at that path is left as it was."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{safe_text(str(path))}: {reason}")
        self.path = path
        self.reason = reason


def _write_error(path: Path, exc: OSError, doing: str) -> ReportWriteError:
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return ReportWriteError(path, f"cannot {doing}: a part of the path is a file, not a folder")
    return ReportWriteError(path, f"cannot {doing}: {exc.strerror or type(exc).__name__}")


def check_output_folder(folder: Path) -> None:
    """--out is a folder linkcheck can write in (made if missing), checked before a run's first
    request: a file, a read-only folder or a full disk fail now, not after the crawl."""
    if folder.exists() and not folder.is_dir():
        raise ReportWriteError(folder, "is a file, not a folder: give --out a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:  # a byte on disk, not just an inode
            probe.write(b"linkcheck")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise _write_error(folder, exc, "write reports there") from exc


@contextmanager
def atomic_writer(path: Path) -> Iterator[IO[str]]:
    """A text file written whole or not at all: a temp file in the same folder, fsync, then
    os.replace. On any failure the temp file is removed and the previous file is untouched; an
    OSError (a full disk...) becomes a ReportWriteError naming the path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc, "write it") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is for everyone to read
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if not isinstance(exc, OSError):
            raise
        error = _write_error(path, exc, "write it")
        if path.is_file():
            raise ReportWriteError(path, f"{error.reason}; the previous one is unchanged") from exc
        raise error from exc
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; a file system that cannot sync a folder is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
