"""The store's schema: its tables, the migrations that reach them, and the check that a file
is a linkcheck store before anything writes to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from crawler.store.opening import StoreError
from crawler.text import preview

SCHEMA_VERSION = 8

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
    # 4: a run whose hosts mostly failed at the network level (crawler/judge/degraded.py)
    """
    ALTER TABLE runs ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: retention (crawler/store/prune.py). A pruned run keeps its runs row, marked, and its
    # cards' status counts (the dashboard's trend chart); its other rows go
    """
    ALTER TABLE runs ADD COLUMN pruned_at TEXT;
    CREATE TABLE run_status_counts (
        run_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        cards INTEGER NOT NULL,
        PRIMARY KEY (run_id, status)
    ) WITHOUT ROWID;
    """,
    # 6: robots.txt answers (crawler/web/robots.py), per origin, kept at most 24 hours: a 2xx
    # with the rules that applied to linkcheck, or a 4xx (no rules)
    """
    CREATE TABLE robots_cache (
        origin TEXT PRIMARY KEY,          -- scheme://host[:port]
        http_status INTEGER NOT NULL,
        rules TEXT NOT NULL,
        fetched_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 7: the SHA-256 of each card file's bytes as the run read them: `linkcheck fix` never
    # edits a card changed since (NULL: read before this column, or unreadable)
    """
    ALTER TABLE cards ADD COLUMN sha256 TEXT;
    """,
    # 8: verdicts of cards judged while the crawl runs, as if the run finishes and is not
    # degraded; the run's end keeps them (or judges again) and deletes them
    """
    CREATE TABLE early_verdicts (
        run_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        status TEXT NOT NULL,
        problems TEXT NOT NULL,
        first_failed_at TEXT,
        last_healthy_at TEXT,
        consecutive_failures INTEGER,
        trend TEXT,
        recent TEXT NOT NULL,
        PRIMARY KEY (run_id, path)
    ) WITHOUT ROWID;
    """,
]


def check_identity(path: Path, db: sqlite3.Connection) -> None:
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


def migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to SCHEMA_VERSION, one migration per transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for index in range(version, SCHEMA_VERSION):
        db.executescript("BEGIN;" + MIGRATIONS[index] + f"PRAGMA user_version={index + 1};COMMIT;")
