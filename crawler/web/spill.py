"""URLs a host has no room for yet, parked on disk in the order they are due.

The scheduler keeps a short queue per host in memory; everything beyond it waits here, so the
card reader never has to stop (a stopped reader starves the hosts whose cards come later) and
memory stays bounded by hosts x queue length, whatever the corpus size.

A private temporary SQLite database: it lives in SQLite's page cache until that fills, then on
disk, and disappears when closed. Nothing here needs to survive a crash: `--resume` reads the
cards again and skips what the store already has.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

from crawler.model import Job, LinkKind

_Row = tuple[str, int, str, str, str | None, str | None, int]


def scratch_db(schema: str) -> sqlite3.Connection:
    """A private temporary SQLite database with `schema`: in SQLite's page cache until that
    fills, then in a temporary file, gone on close. Nothing in it needs to survive a crash, so
    it keeps no journal and never syncs."""
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.executescript(f"PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; {schema}")
    return db


class Spill:
    """A queue per host on disk: by `Job.rank`, then first in, first out. Writes are batched:
    one transaction per `batch` jobs."""

    def __init__(self, *, batch: int = 2000) -> None:
        self._db = scratch_db(
            """
            CREATE TABLE pending (
                seq INTEGER PRIMARY KEY,
                host TEXT NOT NULL,
                rank INTEGER NOT NULL,
                url TEXT NOT NULL,
                link_kind TEXT NOT NULL,
                card_title TEXT,
                card_published TEXT,
                revalidate INTEGER NOT NULL
            );
            CREATE INDEX pending_by_host ON pending(host, rank, seq);
            """
        )
        self._batch = batch
        self._unwritten: list[_Row] = []
        self._count: Counter[str] = Counter()

    def __len__(self) -> int:
        return self._count.total()

    def waiting(self, host: str) -> int:
        return self._count[host]

    def push(self, host: str, job: Job) -> None:
        self._unwritten.append(
            (
                host,
                job.rank,
                job.url,
                job.link_kind.value,
                job.card_title,
                job.card_published,
                int(job.revalidate),
            )
        )
        self._count[host] += 1
        if len(self._unwritten) >= self._batch:
            self._write()

    def take(self, host: str, limit: int) -> list[Job]:
        """Up to `limit` of the host's jobs, the most urgent and then the oldest first, removed
        from the spill."""
        if limit <= 0 or not self._count[host]:
            return []
        self._write()
        rows = self._db.execute(
            "SELECT seq, url, link_kind, card_title, card_published, revalidate FROM pending"
            " WHERE host = ? ORDER BY rank, seq LIMIT ?",
            (host, limit),
        ).fetchall()
        if not rows:
            return []
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM pending WHERE seq = ?", [(row[0],) for row in rows])
        self._db.execute("COMMIT")
        self._count[host] -= len(rows)
        if not self._count[host]:
            del self._count[host]
        return [
            Job(url, LinkKind(kind), title, published, bool(again))
            for _, url, kind, title, published, again in rows
        ]

    def close(self) -> None:
        self._unwritten.clear()
        self._count.clear()
        self._db.close()

    def _write(self) -> None:
        if not self._unwritten:
            return
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT INTO pending"
            " (host, rank, url, link_kind, card_title, card_published, revalidate)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            self._unwritten,
        )
        self._db.execute("COMMIT")
        self._unwritten.clear()


class UrlSet:
    """The URLs a run has already seen, on disk: dedupe must not grow memory with the corpus
    (a Python set of 270,000 URLs is ~40 MB). One lookup-and-insert costs about 2 us."""

    def __init__(self) -> None:
        self._db = scratch_db(
            """
            CREATE TABLE seen (url TEXT PRIMARY KEY) WITHOUT ROWID;
            BEGIN;  -- never committed: nothing else reads it, and it is dropped on close
            """
        )
        self._size = 0

    def add(self, url: str) -> bool:
        """Add url; True when it was not there yet."""
        added = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (url,)).rowcount == 1
        self._size += added
        return added

    def __len__(self) -> int:
        return self._size

    def close(self) -> None:
        self._db.close()
