"""`linkcheck prune`: delete old runs' rows from the store and give the space back, under the
run lock (never while a run writes); crawler/store/prune.py decides what goes."""

from __future__ import annotations

from crawler.cli.exits import ExitCode
from crawler.cli.session import open_existing_store, session
from crawler.config import Config, parse_duration
from crawler.store.lock import RunLock
from crawler.store.prune import PruneResult, Retention, prune_runs


def prune_command(config: Config, older_than: str | None) -> int:
    retention = Retention(
        config.state.keep_runs, parse_duration(older_than) if older_than is not None else None
    )
    with session(open_existing_store(config.state.path)) as store, RunLock(store.path):
        result = prune_runs(store, retention)
    print(prune_summary(result))
    return ExitCode.OK


def prune_summary(result: PruneResult) -> str:
    """One line: which runs went, what was kept for reuse, the store's size before and after."""
    size = f"store {_mb(result.bytes_before)} -> {_mb(result.bytes_after)}"
    if not result.pruned:
        return f"nothing to prune; {size}"
    first, last = result.pruned[0], result.pruned[-1]
    runs = ", ".join(map(str, result.pruned)) if len(result.pruned) <= 5 else f"{first} to {last}"
    kept = f"; {result.results_kept} reused results kept" if result.results_kept else ""
    count = f"{len(result.pruned)} run{'s' if len(result.pruned) > 1 else ''}"
    return f"pruned {count} ({runs}){kept}; {size}"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
