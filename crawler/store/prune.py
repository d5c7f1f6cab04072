"""Retention: old runs' rows deleted in one transaction, and the space given back to the file
system (`linkcheck prune`, and `state.keep_runs` after every finished run).

Nothing that history needs is lost. Streaks, first-failed dates and the recent outcomes that
tell flapping apart live in url_state and card_state, one row per URL and per card, folded run
by run and never read back from old runs; each kept result and card carries its own trend. A
pruned run keeps its runs row (marked `pruned_at`) and its cards' status counts
(run_status_counts), which the dashboard's trend chart draws.

Never pruned: the last run (it may be resumed), the latest finished run and the run its report
compares with (so its reports rebuild identically). A result a kept run reused (`reused_from`)
keeps the row it points at: the pruned run's result for that URL stays until no kept run
refers to it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from crawler.store.database import Store
from crawler.store.writes import utc_now

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Retention:
    """Which runs are kept: the `keep_runs` newest (0: no count rule) and, with `keep_within_s`,
    every run started less than that long ago. A run either rule keeps is kept."""

    keep_runs: int
    keep_within_s: float | None = None

    @property
    def prunes(self) -> bool:
        return self.keep_runs > 0 or self.keep_within_s is not None


@dataclass(frozen=True, slots=True)
class PruneResult:
    pruned: list[int]  # the runs pruned now, oldest first
    results_kept: int  # rows of pruned runs kept because a kept run reuses them
    bytes_before: int
    bytes_after: int


def prune_runs(store: Store, retention: Retention, *, now: datetime | None = None) -> PruneResult:
    """Delete the rows of the runs `retention` does not keep, then give the space back."""
    store.flush()
    before = store_bytes(store.path)
    doomed = runs_to_prune(store, retention, now or datetime.now(UTC))
    if not doomed:
        return PruneResult([], _results_kept(store.db), before, before)
    with store.db as db:  # one transaction: a failure leaves every row where it was
        db.execute("BEGIN IMMEDIATE")
        for run_id in doomed:
            _drop_run(db, run_id)
        _drop_unreferenced_results(db)
    _give_space_back(store.db)
    return PruneResult(doomed, _results_kept(store.db), before, store_bytes(store.path))


def prune_after_run(store: Store, keep_runs: int) -> PruneResult | None:
    """state.keep_runs after a finished run, its reports written. A failure (a disk too full to
    VACUUM) is logged and never costs the run its exit code: `linkcheck prune` can try again."""
    try:
        result = prune_runs(store, Retention(keep_runs))
    except sqlite3.Error as exc:
        log.warning("prune_failed", error=str(exc), store=str(store.path))
        return None
    if result.pruned:
        log.info("runs_pruned", runs=result.pruned, bytes_before=result.bytes_before,
                 bytes_after=result.bytes_after)  # fmt: skip
    return result


def runs_to_prune(store: Store, retention: Retention, now: datetime) -> list[int]:
    """The runs not yet pruned that `retention` does not keep, oldest first."""
    if not retention.prunes:
        return []
    rows = store.db.execute(
        "SELECT id, started_at, state, pruned_at FROM runs ORDER BY id DESC"
    ).fetchall()
    keep = {row[0] for row in rows[: retention.keep_runs]} | _protected(store)
    if retention.keep_within_s is not None:
        since = now - timedelta(seconds=retention.keep_within_s)
        keep |= {row[0] for row in rows if datetime.fromisoformat(row[1]) >= since}
    return sorted(row[0] for row in rows if row[0] not in keep and row[3] is None)


def _protected(store: Store) -> set[int]:
    """The last run, the latest finished one and the run its reports compare with."""
    last = store.run()
    found = store.db.execute(
        "SELECT id FROM runs WHERE state = 'finished' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    protected = {last.id} if last is not None else set()
    if found is not None:
        protected.add(found[0])
        previous = store.previous_finished_run(found[0])
        if previous is not None:
            protected.add(previous)
    return protected


def _drop_run(db: sqlite3.Connection, run_id: int) -> None:
    """A run's cards and links go, their status counts stay; so does every result of it, for
    now, that is not itself a reused one (_drop_unreferenced_results decides)."""
    db.execute(
        "INSERT OR REPLACE INTO run_status_counts SELECT run_id, COALESCE(status, 'ok'),"
        " COUNT(*) FROM cards WHERE run_id = ? GROUP BY run_id, COALESCE(status, 'ok')",
        (run_id,),
    )
    db.execute("DELETE FROM card_links WHERE run_id = ?", (run_id,))
    db.execute("DELETE FROM cards WHERE run_id = ?", (run_id,))
    db.execute("DELETE FROM early_verdicts WHERE run_id = ?", (run_id,))  # a run never resumed
    db.execute("DELETE FROM url_results WHERE run_id = ? AND reused_from IS NOT NULL", (run_id,))
    db.execute("UPDATE runs SET pruned_at = ? WHERE id = ?", (utc_now(), run_id))


def _drop_unreferenced_results(db: sqlite3.Connection) -> None:
    """Every pruned run's results that no remaining row reuses. A reused row always names the
    run that checked the URL (writes.Batches.reuse_result), never another reused row, so one
    pass is enough; a pruned run's leftover results go once the runs reusing them are pruned."""
    db.execute(
        "DELETE FROM url_results WHERE run_id IN (SELECT id FROM runs WHERE pruned_at IS NOT NULL)"
        " AND NOT EXISTS (SELECT 1 FROM url_results k"
        " WHERE k.url = url_results.url AND k.reused_from = url_results.run_id)"
    )


def _results_kept(db: sqlite3.Connection) -> int:
    row = db.execute(
        "SELECT COUNT(*) FROM url_results"
        " WHERE run_id IN (SELECT id FROM runs WHERE pruned_at IS NOT NULL)"
    ).fetchone()
    return int(row[0])


def _give_space_back(db: sqlite3.Connection) -> None:
    """VACUUM rewrites the file without the freed pages; in WAL mode the new pages go through
    the write-ahead log, which the checkpoint copies back and truncates."""
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def store_bytes(path: Path) -> int:
    """The store's size on disk: the file and its write-ahead log."""
    parts = (path, path.with_name(path.name + "-wal"))
    return sum(part.stat().st_size for part in parts if part.exists())
