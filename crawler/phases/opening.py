"""A run's opening: a new run, or with --resume the unfinished one, with the counters it starts
from; and the count of each card read."""

from __future__ import annotations

from typing import Any, NamedTuple

from crawler.config import Config, ConfigError
from crawler.intake.cards import FILTER_KEYS
from crawler.model import CardRecord, Disposition
from crawler.store.database import Store
from crawler.web.politeness import HOST_COUNTERS


class OpenedRun(NamedTuple):
    run_id: int
    counters: dict[str, Any]
    already: set[str]  # URLs the resumed run already has a result for


def open_run(store: Store, config: Config, *, resume: bool) -> OpenedRun:
    """A new run, or with `resume` the last unfinished one and the URLs it already has."""
    cards_cfg = config.cards
    counters: dict[str, Any] = dict.fromkeys(
        ("cards_found", "cards_checked", "cards_invalid", "cards_filtered_out"), 0
    )
    counters["urls_reused"] = 0
    counters["cards_filtered_by"] = dict.fromkeys(FILTER_KEYS, 0)
    counters["skipped_files"] = []  # not cards: Markdown files without front matter
    if resume:
        previous = store.resumable_run()
        if previous is None:
            raise ConfigError(f"no interrupted run to resume in {store.path}")
        store.reopen_run(previous.id)
        already = store.checked_urls(previous.id)
        # merged with the rest of the run's at its end (HostPool.host_counters)
        kept = (*HOST_COUNTERS, "robots")
        counters.update({k: v for k, v in previous.counters.items() if k in kept})
        # saved with every result, so known even when the run was killed with -9
        counters["requests_made"] = previous.requests_made
        counters["resumed"] = previous.counters.get("resumed", 0) + 1
        return OpenedRun(previous.id, counters, already)
    run_id = store.begin_run(
        cards_root=str(cards_cfg.path),
        since=cards_cfg.since.isoformat() if cards_cfg.since else None,
        until=cards_cfg.until.isoformat() if cards_cfg.until else None,
        config=config.to_jsonable(),
    )
    return OpenedRun(run_id, counters, set())


def count_card(card: CardRecord, counters: dict[str, Any]) -> bool:
    """Count a card read; False for one filtered out (by date, or unpublished) and for a file
    skipped as no card (listed, not counted as found)."""
    if card.disposition is Disposition.SKIPPED:
        counters["skipped_files"].append(card.path)
        return False
    counters["cards_found"] += 1
    if card.disposition is Disposition.FILTERED:
        counters["cards_filtered_out"] += 1
        counters["cards_filtered_by"][card.filtered_by] += 1  # one of FILTER_KEYS
        return False
    invalid = card.disposition is Disposition.INVALID
    counters["cards_invalid" if invalid else "cards_checked"] += 1
    return True
