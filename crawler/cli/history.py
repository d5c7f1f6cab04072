"""`linkcheck history`: the timeline of one URL or card, a table with one row per run.

The target is taken as a maintainer types it: a card path as the shell gives it (relative to the
current folder, absolute, or relative to the cards folder) and a URL in any spelling that is the
same URL (host case, default port...), spelled by the rule that spelled it when it was stored.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path

from crawler.cli.exits import ExitCode
from crawler.cli.session import open_existing_store, session
from crawler.config import Config, ConfigError
from crawler.intake.cards import card_path
from crawler.intake.links import extract_links
from crawler.redact import redact_text
from crawler.store.database import Store
from crawler.store.opening import StoreError
from crawler.store.records import UrlTimelineEntry
from crawler.store.state import card_timeline, url_timeline

URL_HEADER = ("run", "checked at", "status", "kind", "http", "trend", "note")
CARD_HEADER = ("run", "started at", "status", "trend", "problem kinds")


def history_command(config: Config, target: str) -> int:
    with session(open_existing_store(config.state.path)) as store:
        last = store.run()
        if last is None:
            raise StoreError(store.path, "holds no run yet: `linkcheck run` first")
        roots = [last.cards_root, str(config.cards.path)]
        lines = _history_lines(store, target, roots)
    if not lines:
        raise ConfigError(f"no history for {target} in {config.state.path}")
    print("\n".join(lines))
    return ExitCode.OK


def _history_lines(store: Store, target: str, cards_roots: Iterable[str]) -> list[str]:
    """The table for the URL (target has ://) or the card (a path); empty if the store has
    neither. URLs in it are redacted (crawler/redact.py), like the reports."""
    if "://" in target:
        url = stored_url(target)
        return _table(URL_HEADER, [_url_row(r, url) for r in url_timeline(store, url)])
    for path in stored_card_paths(target, cards_roots):
        rows = [
            (
                str(r.run_id),
                r.started_at[:19],
                r.status or "ok",
                r.trend or "",
                ", ".join(sorted({p["kind"] for p in json.loads(r.problems or "[]")})) or "-",
            )
            for r in card_timeline(store, path)
        ]
        if rows:
            return _table(CARD_HEADER, rows)
    return []


def stored_url(target: str) -> str:
    """The URL as the store spells it: normalised like a card's link (crawler.intake.links);
    as written when it is no valid URL (the lookup then finds nothing, and says so)."""
    links, _ = extract_links({"webUrl": target}, base_url=None, include_related=False)
    return links[0].url if links else target


def stored_card_paths(target: str, cards_roots: Iterable[str]) -> list[str]:
    """The stored paths (posix, relative to the cards folder) the target may name, likeliest
    first: where the path the shell gave lands inside a cards folder, then the path as written."""
    found: list[str] = []
    for root in dict.fromkeys(cards_roots):
        for place in (os.path.abspath, os.path.realpath):  # as typed, then through symlinks
            where, folder = place(target), place(root)
            if os.path.commonpath([where, folder]) == folder and where != folder:
                found.append(card_path(Path(where), Path(folder)))
    found.append(posixpath.normpath(target.replace("\\", "/")))
    return list(dict.fromkeys(found))


def _url_row(r: UrlTimelineEntry, url: str) -> tuple[str, ...]:
    notes = []
    if r.reused_from:
        notes.append(f"reused from run {r.reused_from}")
    if r.final_url and r.final_url != url:
        notes.append(f"-> {redact_text(r.final_url)}")
    http = str(r.http_status) if r.http_status else "-"
    kind = r.kind or "-"
    return (str(r.run_id), r.checked_at[:19], r.status, kind, http, r.trend or "", "; ".join(notes))


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns two spaces apart, a header row first; no table without rows."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
