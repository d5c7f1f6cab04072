"""The SQLite store: runs, every URL result and every card verdict of every run.

`Store` is the entry point: it opens the file (opening.py, schema.py) and is what a crawl talks
to: its runs, its results written in batches as they arrive (writes.py), what it may reuse from
earlier runs. The other readers query it through the modules named for them: reports.py and
dashboard.py for the reports, state.py for verdicts and history. Every query returns typed
records (records.py). Reports are built from the store alone, never from memory, which also
keeps a run's memory flat however many cards it reads.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawler.model import CardRecord, UrlOutcome
from crawler.store.opening import StoreError, check_usable, connect, store_error
from crawler.store.records import ArchiveEntry, RobotsEntry, RunRow, UrlResult, columns
from crawler.store.schema import check_identity, migrate
from crawler.store.writes import Batches, utc_now


class Store:
    """One SQLite file. Not thread-safe: used from the event loop thread only."""

    def __init__(
        self, path: Path, *, batch_size: int = 500, url_flush_interval_s: float = 0.1
    ) -> None:
        self.path = path
        self.db = connect(path)
        try:
            check_identity(path, self.db)  # before anything writes: never alter a foreign file
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            migrate(self.db)
        except StoreError:
            self.db.close()
            raise
        except sqlite3.Error as exc:
            self.db.close()
            raise store_error(path, exc) from exc
        self._reader: sqlite3.Connection | None = None
        self._batches = Batches(self.db, batch_size, url_flush_interval_s)

    def check_usable(self) -> None:
        """Before a run's first request: see opening.check_usable."""
        check_usable(self.path, self.db)

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
            self._reader = connect(self.path)
        return self._reader

    # -- runs --------------------------------------------------------------------------------
    def begin_run(
        self, *, cards_root: str, since: str | None, until: str | None, config: dict[str, Any]
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started_at, state, since, until, cards_root, config, pid, hostname)"
            " VALUES (?, 'running', ?, ?, ?, ?, ?, ?)",
            (utc_now(), since, until, cards_root, json.dumps(config), os.getpid(),
             socket.gethostname()),
        )  # fmt: skip
        assert cur.lastrowid is not None
        return cur.lastrowid

    def end_run(
        self, run_id: int, *, state: str, counters: dict[str, Any], degraded: bool = False
    ) -> None:
        self.flush()
        self.db.execute(
            "UPDATE runs SET finished_at = ?, state = ?, counters = ?, requests_made = ?,"
            " degraded = ? WHERE id = ?",
            (utc_now(), state, json.dumps(counters), counters.get("requests_made", 0),
             int(degraded), run_id),
        )  # fmt: skip

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
        """The run that changes are counted from: a degraded one is no baseline (its failures
        were the network's)."""
        row = self.db.execute(
            "SELECT id FROM runs WHERE id < ? AND state = 'finished' AND NOT degraded"
            " ORDER BY id DESC LIMIT 1",
            (run_id,),
        ).fetchone()
        return int(row[0]) if row else None

    def run(self, run_id: int | None = None) -> RunRow | None:
        """Run `run_id`, or the last run."""
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
            degraded=bool(row["degraded"]),
            pruned_at=row["pruned_at"],
        )

    # -- a run's results, written in batches (writes.py) ------------------------------------------
    def count_requests(self, run_id: int, count: Callable[[], int]) -> None:
        """Save the run's request count with each flush: even a run killed with -9 knows it."""
        self._batches.request_counter = (run_id, count)

    def add_card(self, run_id: int, card: CardRecord) -> None:
        self._batches.add_card(run_id, card)

    def add_url_result(self, run_id: int, host: str, outcome: UrlOutcome) -> None:
        self._batches.add_url_result(run_id, host, outcome)

    def reuse_result(self, run_id: int, result: UrlResult) -> None:
        """Record an earlier healthy result as this run's, marked with the run that checked it."""
        self._batches.reuse_result(run_id, result)

    def flush_if_due(self) -> None:
        self._batches.flush_if_due()

    def flush(self) -> None:
        self._batches.flush()

    def checked_urls(self, run_id: int) -> set[str]:
        """The URLs that have a result in the run (--resume does not check them again)."""
        self.flush()
        found = self.db.execute("SELECT url FROM url_results WHERE run_id = ?", (run_id,))
        return {r[0] for r in found}

    # -- reuse across runs ----------------------------------------------------------------------
    def latest_result(self, url: str, *, before_run: int) -> UrlResult | None:
        row = self.db.execute(
            f"SELECT {columns(UrlResult)} FROM url_results WHERE url = ? AND run_id < ?"
            " ORDER BY run_id DESC LIMIT 1",
            (url, before_run),
        ).fetchone()
        return UrlResult._make(row) if row is not None else None

    def archive_answer(self, url: str, *, max_age_s: float) -> ArchiveEntry | None:
        """A cached archive answer younger than max_age_s."""
        row = self.db.execute("SELECT * FROM archive_cache WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        age = (datetime.now(UTC) - datetime.fromisoformat(row["looked_up_at"])).total_seconds()
        if age > max_age_s:
            return None
        return ArchiveEntry(bool(row["found"]), row["archive_url"], row["archive_timestamp"])

    def save_archive_answer(
        self, url: str, found: bool, archive_url: str | None, archive_timestamp: str | None
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO archive_cache VALUES (?, ?, ?, ?, ?)",
            (url, int(found), archive_url, archive_timestamp, utc_now()),
        )

    def robots_answer(self, origin: str, *, max_age_s: float) -> RobotsEntry | None:
        """A cached robots.txt answer of `origin` younger than max_age_s."""
        row = self.db.execute("SELECT * FROM robots_cache WHERE origin = ?", (origin,)).fetchone()
        if row is None:
            return None
        age = (datetime.now(UTC) - datetime.fromisoformat(row["fetched_at"])).total_seconds()
        if not 0 <= age <= max_age_s:  # a clock set back makes no answer young again
            return None
        return RobotsEntry(row["http_status"], row["rules"])

    def save_robots_answer(self, origin: str, http_status: int, rules: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO robots_cache VALUES (?, ?, ?, ?)",
            (origin, http_status, rules, utc_now()),
        )
