"""`linkcheck run`: check what can be checked before the first request, crawl under the run
lock with SIGINT/SIGTERM asking for a clean stop, print the summary, choose the exit code."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from crawler.cli.exits import ExitCode, exit_code_for
from crawler.cli.session import session
from crawler.config import CardsConfig, Config, ConfigError
from crawler.crawl import Crawl, Engine, RunResult
from crawler.intake.files import CardsFolderError, find_card_files
from crawler.progress import make_progress
from crawler.redact import redact_text
from crawler.report.atomic import ReportWriteError, check_output_folder
from crawler.report.notify import notify_run
from crawler.store.database import Store
from crawler.store.lock import RunLock
from crawler.store.opening import check_store_path
from crawler.text import safe_text

log = structlog.get_logger("linkcheck")
# A crawl allocates briefly and often (a response, its headers, an outcome per URL) while it
# holds many long-lived objects: at the interpreter's default thresholds the young generation is
# collected so often that the collector takes much of the CPU (benchmarks/RESULTS.md, "CPU per
# URL on the wide web"). Cycles are still collected, only in larger batches.
GC_THRESHOLDS = (20_000, 20, 50)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The crawl under GC_THRESHOLDS; the interpreter's own thresholds come back afterwards."""
    saved = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def run_command(
    config: Config, *, resume: bool, workers: int | None = None, cluster: str | None = None
) -> int:
    distributed = workers is not None or cluster is not None
    if distributed:  # Dask is imported only then
        from crawler.cluster.session import check_cluster_flags

        check_cluster_flags(workers, cluster)
    _check_cards_folder(config.cards)
    check_output_folder(config.output.out)
    check_store_path(config.state.path)
    lock = RunLock(config.state.path)
    lock.acquire()
    try:
        if lock.took_over:
            log.warning("stale_lock_taken_over", previous=lock.took_over)
        with session(Store(config.state.path), resume_hint=True) as store:
            store.check_usable()
            if config.fetch.contact_url is None:
                # site owners who see linkcheck in their logs should be able to reach its operator
                log.warning("contact_url_unset", hint="set fetch.contact_url or --contact-url")
            try:
                crawling = _crawl(config, store, resume=resume, workers=workers, cluster=cluster)
                with fewer_collections():
                    result, signum = asyncio.run(crawling)
            except ReportWriteError as exc:
                raise _results_kept(exc, store) from exc
    finally:
        lock.release()
    print_summary(result)
    if signum == signal.SIGINT:
        return ExitCode.INTERRUPTED
    if signum == signal.SIGTERM:
        return ExitCode.TERMINATED
    return exit_code_for(result.by_status, config.output.fail_on, degraded=result.degraded)


def _check_cards_folder(cards: CardsConfig) -> None:
    """The cards folder exists, can be read and holds at least one card: before any request."""
    if not cards.path.exists():
        raise ConfigError(f"cards folder not found: {cards.path} (set --cards or cards.path)")
    if next(iter(find_card_files(cards.path, cards.glob)), None) is None:
        raise CardsFolderError(
            f"no card files in {cards.path} matching {cards.glob!r} (check --cards and --glob)"
        )


def _results_kept(exc: ReportWriteError, store: Store) -> ReportWriteError:
    """The crawl finished but its report could not be written: where its results are."""
    run = store.run()
    which = f"run {run.id}'s" if run else "the run's"
    return ReportWriteError(
        exc.path,
        f"{exc.reason}; {which} results are in {safe_text(str(store.path))}:"
        " `linkcheck report` rebuilds the reports",
    )


async def _crawl(
    config: Config, store: Store, *, resume: bool, workers: int | None, cluster: str | None
) -> tuple[RunResult, int | None]:
    if workers is None and cluster is None:
        return await _crawl_with(config, store, resume=resume, engine=None)
    from crawler.cluster.session import cluster_engine

    async with cluster_engine(config, store, workers=workers, address=cluster) as engine:
        return await _crawl_with(config, store, resume=resume, engine=engine)


async def _crawl_with(
    config: Config, store: Store, *, resume: bool, engine: Engine | None
) -> tuple[RunResult, int | None]:
    progress = make_progress(config.output.progress)
    crawl = Crawl(config, store, progress, resume=resume, engine=engine)
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        received.append(signum)
        crawl.request_stop(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    result = await crawl.run()
    if result.state == "finished":  # a webhook's failure is a warning, never the run's
        await notify_run(config.notify, store, result.run_id, config.output.dashboard_url)
    return result, (received[0] if received else None)


def print_summary(result: RunResult) -> None:
    counts = ", ".join(f"{n} {label}" for label, n in result.by_status.items() if n)
    state = "" if result.state == "finished" else f" ({result.state}: partial report)"
    print(redact_text(f"{counts or 'no cards'}{state}; report: {result.report_path}"))
    if result.degraded:
        unreachable = result.counters.get("hosts_unreachable", 0)
        contacted = result.counters.get("hosts_contacted", 0)
        print(
            f"degraded: {unreachable:,} of {contacted:,} hosts could not be reached at all"
            " (a network problem?): no streak started, no new breakage announced"
        )
    if scope := _scope_line(result.counters):
        print(redact_text(scope))
    dashboard = result.report_path.with_suffix(".html")  # report.html or report.partial.html
    if dashboard.is_file():
        print(redact_text(f"dashboard: {dashboard.resolve().as_uri()}"))


def _scope_line(counters: dict[str, Any]) -> str | None:
    """What the run left out: 'filtered out 3 (date 1, unpublished 2); skipped 2 files without
    front matter'."""
    parts = []
    if filtered := counters.get("cards_filtered_out", 0):
        by = counters.get("cards_filtered_by", {})
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in by.items() if n)
        parts.append(f"filtered out {filtered:,} ({reasons})")
    if skipped := len(counters.get("skipped_files", [])):
        parts.append(f"skipped {skipped:,} files without front matter")
    return "; ".join(parts) or None
