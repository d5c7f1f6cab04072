"""The SQLite store: runs, every URL result and every card verdict of every run.

Results are written as they arrive, in batches, so a killed run loses at most what was in flight
and in the last unflushed batch. Reports are built from the store alone, never from memory, which
also keeps a run's memory flat however many cards it reads.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawler.judge.history import FAILING, RotRules, next_streak
from crawler.model import CardRecord, Finding, Hop, ImageInfo, Kind, LinkKind, UrlOutcome
from crawler.text import preview, safe_optional, safe_text

SCHEMA_VERSION = 3

# Each entry migrates the schema from version i to i + 1; append, never edit.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        state TEXT NOT NULL,              -- running | finished | interrupted | failed
        since TEXT,
        until TEXT,
        cards_root TEXT NOT NULL,
        config TEXT NOT NULL,             -- JSON: the effective config
        counters TEXT NOT NULL DEFAULT '{}',  -- JSON: cards_found, requests_made, ...
        pid INTEGER,
        hostname TEXT
    );
    CREATE TABLE cards (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        path TEXT NOT NULL,
        disposition TEXT NOT NULL,        -- checked | invalid
        title TEXT,
        published TEXT,
        provider TEXT,
        card_problems TEXT NOT NULL,      -- JSON: problems found while reading the card
        status TEXT,                      -- filled when verdicts are computed
        problems TEXT,                    -- JSON: every problem, card and URL level
        PRIMARY KEY (run_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE card_links (
        run_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        ord INTEGER NOT NULL,
        field TEXT NOT NULL,
        url TEXT NOT NULL,
        link_kind TEXT NOT NULL,
        declared_width INTEGER,
        declared_height INTEGER,
        PRIMARY KEY (run_id, path, ord)
    ) WITHOUT ROWID;
    CREATE INDEX card_links_url ON card_links(run_id, url);
    CREATE TABLE url_results (
        run_id INTEGER NOT NULL,
        url TEXT NOT NULL,
        host TEXT NOT NULL,
        link_kind TEXT NOT NULL,
        status TEXT NOT NULL,
        kind TEXT,
        findings TEXT NOT NULL,           -- JSON list of {kind, detail}
        http_status INTEGER,
        final_url TEXT,
        redirects TEXT NOT NULL,          -- JSON list of {url, status, location}
        attempts INTEGER NOT NULL,
        elapsed_ms REAL NOT NULL,
        content_type TEXT,
        bytes_read INTEGER NOT NULL,
        image_width INTEGER,
        image_height INTEGER,
        image_format TEXT,
        title TEXT,
        etag TEXT,
        last_modified TEXT,
        checked_at TEXT NOT NULL,
        PRIMARY KEY (run_id, url)
    ) WITHOUT ROWID;
    """,
    # 2: history. A result may be reused from an earlier run (--max-age); trend fields are fixed
    # when the run finishes, so a report rebuilt later is the same as the one the run wrote.
    """
    ALTER TABLE url_results ADD COLUMN reused_from INTEGER;
    ALTER TABLE url_results ADD COLUMN first_failed_at TEXT;
    ALTER TABLE url_results ADD COLUMN consecutive_failures INTEGER;
    ALTER TABLE url_results ADD COLUMN trend TEXT;
    CREATE INDEX url_results_by_url ON url_results(url, run_id);
    ALTER TABLE cards ADD COLUMN first_failed_at TEXT;
    ALTER TABLE cards ADD COLUMN consecutive_failures INTEGER;
    ALTER TABLE cards ADD COLUMN trend TEXT;
    CREATE INDEX cards_by_path ON cards(path, run_id);
    CREATE TABLE url_state (
        url TEXT PRIMARY KEY,
        first_failed_at TEXT,             -- start of the current failing streak
        last_healthy_at TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        recent TEXT NOT NULL DEFAULT '',  -- last runs, oldest first: F failing, O healthy
        last_run_id INTEGER
    ) WITHOUT ROWID;
    ALTER TABLE runs ADD COLUMN requests_made INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE card_state (
        path TEXT PRIMARY KEY,
        first_failed_at TEXT,
        last_healthy_at TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        recent TEXT NOT NULL DEFAULT '',
        last_run_id INTEGER
    ) WITHOUT ROWID;
    """,
    # 3: Internet Archive suggestions for failing pages, and a cache of the archive's answers
    """
    ALTER TABLE url_results ADD COLUMN archive_url TEXT;
    ALTER TABLE url_results ADD COLUMN archive_timestamp TEXT;
    CREATE TABLE archive_cache (
        url TEXT PRIMARY KEY,
        found INTEGER NOT NULL,
        archive_url TEXT,
        archive_timestamp TEXT,
        looked_up_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
]

URL_RESULT_COLUMNS = (
    "run_id, url, host, link_kind, status, kind, findings, http_status, final_url, redirects,"
    " attempts, elapsed_ms, content_type, bytes_read, image_width, image_height, image_format,"
    " title, etag, last_modified, checked_at, reused_from, archive_url, archive_timestamp"
)


def _findings_json(findings: Sequence[Finding]) -> str:
    # most results have none: skip the encoder for the common "[]"
    if not findings:
        return "[]"
    return json.dumps([{"kind": f.kind.value, "detail": safe_text(f.detail)} for f in findings])


def _redirects_json(hops: Sequence[Hop]) -> str:
    if not hops:
        return "[]"
    return json.dumps(
        [
            {"url": safe_text(h.url), "status": h.status, "location": safe_text(h.location)}
            for h in hops
        ]
    )


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class CardVerdict:
    path: str
    status: str
    problems: str  # JSON
    first_failed_at: str | None = None
    last_healthy_at: str | None = None
    consecutive_failures: int | None = None
    trend: str | None = None
    recent: str | None = None  # None: history not recorded (the run did not finish)


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    started_at: str
    finished_at: str | None
    state: str
    since: str | None
    until: str | None
    cards_root: str
    config: dict[str, Any]
    counters: dict[str, Any]
    pid: int | None
    requests_made: int = 0


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


def _connect(path: Path) -> sqlite3.Connection:
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


def _check_identity(path: Path, db: sqlite3.Connection) -> None:
    """A linkcheck store, empty, or refused: newer than this linkcheck, or another program's."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            path,
            f"written by a newer linkcheck (store schema {version}, this one reads up to"
            f" {SCHEMA_VERSION}): upgrade linkcheck, or give another --state",
        )
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if (version == 0 and tables) or (version > 0 and "runs" not in tables):
        shown = ", ".join(preview(t, 40) for t in tables[:3]) or "no runs table"
        raise StoreError(
            path,
            f"an SQLite database, but not a linkcheck store ({shown}): give another --state",
        )


class Store:
    """One SQLite file. Not thread-safe: used from the event loop thread only."""

    def __init__(
        self, path: Path, *, batch_size: int = 500, url_flush_interval_s: float = 0.1
    ) -> None:
        self.path = path
        self.db = _connect(path)
        try:
            _check_identity(path, self.db)  # before anything writes: never alter a foreign file
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except StoreError:
            self.db.close()
            raise
        except sqlite3.Error as exc:
            self.db.close()
            raise store_error(path, exc) from exc
        self._reader: sqlite3.Connection | None = None
        self._batch_size = batch_size
        # URL results are committed within `url_flush_interval_s` of arriving (a small WAL
        # transaction): a run killed with -9 loses the requests in flight and at most that much
        # time's results. One commit per result cost ~10% of a busy run's CPU.
        self._url_flush_interval_s = url_flush_interval_s
        self._first_pending_at: float | None = None
        # the run whose request count is saved with each flush, so that even a run killed
        # with -9 knows how many requests it made: (run id, a callable giving the count)
        self.request_counter: tuple[int, Callable[[], int]] | None = None
        self._pending_cards: list[tuple[Any, ...]] = []
        self._pending_links: list[tuple[Any, ...]] = []
        self._pending_urls: list[tuple[Any, ...]] = []

    # -- schema ------------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for index in range(version, SCHEMA_VERSION):
            self.db.executescript(
                "BEGIN;" + MIGRATIONS[index] + f"PRAGMA user_version={index + 1};COMMIT;"
            )

    def check_usable(self) -> None:
        """Before a run's first request: is the file sound, and can the run write to it? Damage
        (every page is read: about a second per 300 MB), a read-only file or disk, or a write
        lock held by another program fail now rather than in the middle of the crawl."""
        try:
            problem = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc
        if problem != "ok":
            reason = _ENVIRONMENT["SQLITE_CORRUPT"]
            raise StoreError(self.path, f"{reason} (SQLite: {preview(str(problem), 80)})")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(f"PRAGMA user_version={int(version)}")  # a write, rolled back
            finally:
                if self.db.in_transaction:  # SQLite rolls back by itself on some errors
                    self.db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc

    def close(self) -> None:
        self.flush()
        if self._reader is not None:
            self._reader.close()
        self.db.close()

    def reader(self) -> sqlite3.Connection:
        """A second connection for long streaming reads while the first one writes: in WAL mode
        it reads a stable snapshot, so updating rows never disturbs the iteration."""
        self.flush()
        if self._reader is None:
            self._reader = _connect(self.path)
        return self._reader

    # -- runs --------------------------------------------------------------------------------
    def begin_run(
        self, *, cards_root: str, since: str | None, until: str | None, config: dict[str, Any]
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started_at, state, since, until, cards_root, config, pid, hostname)"
            " VALUES (?, 'running', ?, ?, ?, ?, ?, ?)",
            (
                utc_now(),
                since,
                until,
                cards_root,
                json.dumps(config),
                os.getpid(),
                socket.gethostname(),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def end_run(self, run_id: int, *, state: str, counters: dict[str, Any]) -> None:
        self.flush()
        self.db.execute(
            "UPDATE runs SET finished_at = ?, state = ?, counters = ?, requests_made = ?"
            " WHERE id = ?",
            (utc_now(), state, json.dumps(counters), counters.get("requests_made", 0), run_id),
        )

    def reopen_run(self, run_id: int) -> RunRow:
        """--resume: the run goes on under this process."""
        self.db.execute(
            "UPDATE runs SET state = 'running', finished_at = NULL, pid = ?, hostname = ?"
            " WHERE id = ?",
            (os.getpid(), socket.gethostname(), run_id),
        )
        run = self.run(run_id)
        assert run is not None
        return run

    def resumable_run(self) -> RunRow | None:
        """The last run, when it did not finish: interrupted, or `running` under a dead process
        (the caller holds the store lock, so no live process runs it); or finished but killed
        before its reports were all written (see mark_reported)."""
        run = self.run()
        if run is None or (run.state == "finished" and run.counters.get("reported")):
            return None
        return run

    def mark_reported(self, run_id: int) -> None:
        """The run's reports are written: nothing is left for --resume to do."""
        self.db.execute(
            "UPDATE runs SET counters = json_set(counters, '$.reported', json('true'))"
            " WHERE id = ?",
            (run_id,),
        )

    def previous_finished_run(self, run_id: int) -> int | None:
        row = self.db.execute(
            "SELECT id FROM runs WHERE id < ? AND state = 'finished' ORDER BY id DESC LIMIT 1",
            (run_id,),
        ).fetchone()
        return int(row[0]) if row else None

    def runs(self) -> list[RunRow]:
        ids = [r[0] for r in self.db.execute("SELECT id FROM runs ORDER BY id")]
        return [run for i in ids if (run := self.run(i)) is not None]

    def run(self, run_id: int | None = None) -> RunRow | None:
        if run_id is None:
            row = self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        return RunRow(
            id=row["id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            state=row["state"],
            since=row["since"],
            until=row["until"],
            cards_root=row["cards_root"],
            config=json.loads(row["config"]),
            counters=json.loads(row["counters"]),
            pid=row["pid"],
            requests_made=row["requests_made"],
        )

    # -- writes, batched ---------------------------------------------------------------------
    def add_card(self, run_id: int, card: CardRecord) -> None:
        self._pending_cards.append(
            (
                run_id,
                card.path,
                card.disposition.value,
                card.title,
                card.published,
                card.provider,
                json.dumps([_problem_json(p) for p in card.problems]),
            )
        )
        for ord_, link in enumerate(card.links):
            self._pending_links.append(
                (
                    run_id,
                    card.path,
                    ord_,
                    link.field,
                    link.url,
                    link.kind.value,
                    link.declared_width,
                    link.declared_height,
                )
            )
        if len(self._pending_cards) >= self._batch_size:
            self.flush()

    def add_url_result(self, run_id: int, host: str, outcome: UrlOutcome) -> None:
        """Queue one URL's result for the next flush.

        Every text goes through safe_text here, whatever its source already did: one string
        SQLite refuses (a lone surrogate from a header that was not UTF-8) would fail the whole
        batch, and with it the run.
        """
        primary = outcome.primary
        image = outcome.image
        text = safe_optional
        self._pending_urls.append(
            (
                run_id,
                safe_text(outcome.url),
                safe_text(host),
                outcome.link_kind.value,
                outcome.severity.label,
                primary.kind.value if primary else None,
                _findings_json(outcome.findings),
                outcome.http_status,
                text(outcome.final_url),
                _redirects_json(outcome.redirects),
                outcome.attempts,
                round(outcome.elapsed_ms, 1),
                text(outcome.content_type),
                outcome.bytes_read,
                image.width if image else None,
                image.height if image else None,
                text(image.format) if image else None,
                text(outcome.title),
                text(outcome.etag),
                text(outcome.last_modified),
                utc_now(),
                None,
                text(outcome.archive_url),
                text(outcome.archive_timestamp),
            )
        )
        self._flush_urls_if_due()

    def _flush_urls_if_due(self) -> None:
        now = time.monotonic()
        if self._first_pending_at is None:
            self._first_pending_at = now
        if (
            now - self._first_pending_at >= self._url_flush_interval_s
            or len(self._pending_urls) >= self._batch_size
        ):
            self.flush()

    def flush_if_due(self) -> None:
        """Called on a timer: results never wait in memory longer than the flush interval."""
        if self._pending_urls:
            self._flush_urls_if_due()

    def flush(self) -> None:
        if not (self._pending_cards or self._pending_links or self._pending_urls):
            return
        with self.db:  # one transaction
            self.db.execute("BEGIN")
            # a card read again by --resume keeps the verdict and history the run gave it
            self.db.executemany(
                "INSERT INTO cards (run_id, path, disposition, title, published, provider,"
                " card_problems) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, path) DO UPDATE"
                " SET disposition = excluded.disposition, title = excluded.title,"
                " published = excluded.published, provider = excluded.provider,"
                " card_problems = excluded.card_problems",
                self._pending_cards,
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO card_links VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                self._pending_links,
            )
            self.db.executemany(
                f"INSERT OR REPLACE INTO url_results ({URL_RESULT_COLUMNS})"
                f" VALUES ({', '.join('?' * 24)})",
                self._pending_urls,
            )
            if self.request_counter is not None:
                run_id, count = self.request_counter
                self.db.execute("UPDATE runs SET requests_made = ? WHERE id = ?", (count(), run_id))
        self._pending_cards.clear()
        self._pending_links.clear()
        self._pending_urls.clear()
        self._first_pending_at = None

    # -- reuse across runs ----------------------------------------------------------------------
    def latest_result(self, url: str, *, before_run: int) -> sqlite3.Row | None:
        return self.db.execute(  # type: ignore[no-any-return]
            "SELECT * FROM url_results WHERE url = ? AND run_id < ? ORDER BY run_id DESC LIMIT 1",
            (url, before_run),
        ).fetchone()

    def reuse_result(self, run_id: int, row: sqlite3.Row) -> None:
        """Record an earlier healthy result as this run's, marked with the run that checked it."""
        source = row["reused_from"] or row["run_id"]
        values = [row[c.strip()] for c in URL_RESULT_COLUMNS.split(",")]
        values[0], values[21] = run_id, source
        self._pending_urls.append(tuple(values))
        if len(self._pending_urls) >= self._batch_size:
            self.flush()

    def archive_answer(
        self, url: str, *, max_age_s: float
    ) -> tuple[bool, str | None, str | None] | None:
        """A cached archive answer younger than max_age_s: (found, url, timestamp)."""
        row = self.db.execute("SELECT * FROM archive_cache WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        age = (datetime.now(UTC) - datetime.fromisoformat(row["looked_up_at"])).total_seconds()
        if age > max_age_s:
            return None
        return bool(row["found"]), row["archive_url"], row["archive_timestamp"]

    def save_archive_answer(
        self, url: str, found: bool, archive_url: str | None, archive_timestamp: str | None
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO archive_cache VALUES (?, ?, ?, ?, ?)",
            (url, int(found), archive_url, archive_timestamp, utc_now()),
        )

    # -- verdicts ----------------------------------------------------------------------------
    def set_card_verdicts(self, run_id: int, verdicts: Sequence[CardVerdict]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE cards SET status = ?, problems = ?, first_failed_at = ?,"
                " consecutive_failures = ?, trend = ? WHERE run_id = ? AND path = ?",
                [
                    (v.status, v.problems, v.first_failed_at, v.consecutive_failures, v.trend,
                     run_id, v.path)
                    for v in verdicts
                ],
            )  # fmt: skip
            self.db.executemany(
                "INSERT OR REPLACE INTO card_state VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (v.path, v.first_failed_at, v.last_healthy_at, v.consecutive_failures,
                     v.recent, run_id)
                    for v in verdicts
                    if v.recent is not None
                ],
            )  # fmt: skip

    # -- history ---------------------------------------------------------------------------
    def record_url_history(self, run_id: int, rules: RotRules, *, batch: int = 2000) -> None:
        """Fold this run's URL results into each URL's streak; once per run."""
        rows = self.reader().execute(
            "SELECT r.url, r.status, r.checked_at, r.reused_from, s.first_failed_at,"
            " s.last_healthy_at, s.consecutive_failures, s.recent, s.last_run_id"
            " FROM url_results r LEFT JOIN url_state s ON s.url = r.url WHERE r.run_id = ?",
            (run_id,),
        )
        results: list[tuple[Any, ...]] = []
        states: list[tuple[Any, ...]] = []
        for row in rows:
            previous = row if row["recent"] is not None else None
            if row["last_run_id"] == run_id:
                continue  # already folded in
            if row["reused_from"] is not None:
                # not observed this run: a reused result is healthy and leaves the streak be
                results.append((None, 0, None, run_id, row["url"]))
                continue
            streak = next_streak(
                previous, failing=row["status"] in FAILING, at=row["checked_at"], rules=rules
            )
            results.append(
                (streak.first_failed_at, streak.consecutive_failures, streak.trend, run_id,
                 row["url"])
            )  # fmt: skip
            states.append(
                (row["url"], streak.first_failed_at, streak.last_healthy_at,
                 streak.consecutive_failures, streak.recent, run_id)
            )  # fmt: skip
            if len(results) >= batch:
                self._write_url_history(results, states)
        self._write_url_history(results, states)

    def _write_url_history(
        self, results: list[tuple[Any, ...]], states: list[tuple[Any, ...]]
    ) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE url_results SET first_failed_at = ?, consecutive_failures = ?, trend = ?"
                " WHERE run_id = ? AND url = ?",
                results,
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO url_state VALUES (?, ?, ?, ?, ?, ?)", states
            )
        results.clear()
        states.clear()

    def url_timeline(self, url: str) -> list[sqlite3.Row]:
        return self.rows(
            "SELECT r.id AS run_id, r.started_at, r.state, u.status, u.kind, u.http_status,"
            " u.final_url, u.findings, u.reused_from, u.checked_at, u.trend"
            " FROM url_results u JOIN runs r ON r.id = u.run_id WHERE u.url = ? ORDER BY r.id",
            (url,),
        )

    def card_timeline(self, path: str) -> list[sqlite3.Row]:
        return self.rows(
            "SELECT r.id AS run_id, r.started_at, r.state, c.status, c.problems, c.trend"
            " FROM cards c JOIN runs r ON r.id = c.run_id WHERE c.path = ? ORDER BY r.id",
            (path,),
        )

    # -- reads -------------------------------------------------------------------------------
    def iter_cards_with_links(self, run_id: int) -> Iterator[tuple[sqlite3.Row, list[sqlite3.Row]]]:
        """Each card with its links joined to their URL results (None columns if unchecked)."""
        reader = self.reader()
        cards = reader.execute(
            "SELECT c.*, s.first_failed_at AS state_first_failed_at,"
            " s.last_healthy_at AS state_last_healthy_at,"
            " s.consecutive_failures AS state_consecutive_failures, s.recent AS state_recent,"
            " s.last_run_id AS state_last_run_id"
            " FROM cards c LEFT JOIN card_state s ON s.path = c.path"
            " WHERE c.run_id = ? ORDER BY c.path",
            (run_id,),
        )
        links = reader.cursor().execute(
            "SELECT l.path, l.ord, l.field, l.url, l.link_kind, l.declared_width,"
            " l.declared_height, u.status AS url_status, u.findings, u.http_status,"
            " u.final_url, u.image_width, u.image_height, u.image_format, u.trend,"
            " u.first_failed_at, u.consecutive_failures, u.title, u.archive_url,"
            " u.archive_timestamp"
            " FROM card_links l LEFT JOIN url_results u ON u.run_id = l.run_id AND u.url = l.url"
            " WHERE l.run_id = ? ORDER BY l.path, l.ord",
            (run_id,),
        )
        pending = links.fetchone()
        for card in cards:
            own: list[sqlite3.Row] = []
            while pending is not None and pending["path"] < card["path"]:
                pending = links.fetchone()  # links of a card that is not stored: skip
            while pending is not None and pending["path"] == card["path"]:
                own.append(pending)
                pending = links.fetchone()
            yield card, own

    def iter_cards(self, run_id: int) -> Iterator[sqlite3.Row]:
        self.flush()
        yield from self.db.execute("SELECT * FROM cards WHERE run_id = ? ORDER BY path", (run_id,))

    def iter_url_results(self, run_id: int) -> Iterator[sqlite3.Row]:
        self.flush()
        yield from self.db.execute(
            "SELECT * FROM url_results WHERE run_id = ? ORDER BY url", (run_id,)
        )

    def checked_urls(self, run_id: int) -> set[str]:
        self.flush()
        return {
            r[0] for r in self.db.execute("SELECT url FROM url_results WHERE run_id = ?", (run_id,))
        }

    def count(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.db.execute(sql, params).fetchone()[0])

    def rows(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        return list(self.db.execute(sql, params))


def _problem_json(p: Any) -> dict[str, Any]:
    return {
        "field": p.field,
        "url": p.url,
        "kind": p.kind.value,
        "severity": p.severity.label,
        "http_status": p.http_status,
        "detail": p.detail,
        "final_url": p.final_url,
    }


def outcome_from_row(row: sqlite3.Row) -> UrlOutcome:
    """Rebuild a UrlOutcome from a stored url_results row (reuse across runs)."""
    image = None
    if row["image_width"] is not None:
        image = ImageInfo(row["image_width"], row["image_height"], row["image_format"])
    return UrlOutcome(
        url=row["url"],
        link_kind=LinkKind(row["link_kind"]),
        findings=[Finding(Kind(f["kind"]), f["detail"]) for f in json.loads(row["findings"])],
        http_status=row["http_status"],
        final_url=row["final_url"],
        redirects=[Hop(h["url"], h["status"], h["location"]) for h in json.loads(row["redirects"])],
        attempts=row["attempts"],
        elapsed_ms=row["elapsed_ms"],
        content_type=row["content_type"],
        bytes_read=row["bytes_read"],
        image=image,
        title=row["title"],
        etag=row["etag"],
        last_modified=row["last_modified"],
    )
