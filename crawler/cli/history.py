"""`linkcheck history`: the timeline of one URL or card, one line per run, from the store."""

from __future__ import annotations

import json

from crawler.cli.exits import ExitCode
from crawler.cli.session import open_existing_store, session
from crawler.config import Config, ConfigError
from crawler.redact import redact_text
from crawler.store.database import Store
from crawler.store.opening import StoreError
from crawler.store.records import UrlTimelineEntry
from crawler.store.state import card_timeline, url_timeline


def history_command(config: Config, target: str) -> int:
    with session(open_existing_store(config.state.path)) as store:
        if store.run() is None:
            raise StoreError(store.path, "holds no run yet: `linkcheck run` first")
        lines = _history_lines(store, target)
    if not lines:
        raise ConfigError(f"no history for {target} in {config.state.path}")
    print("\n".join(lines))
    return ExitCode.OK


def _history_lines(store: Store, target: str) -> list[str]:
    """One line per run that saw the URL (target has ://, the real URL as stored) or the card (a
    path). URLs in them are redacted (crawler/redact.py), like the reports."""
    if "://" in target:
        return [_url_line(r, target) for r in url_timeline(store, target)]
    lines = []
    for r in card_timeline(store, target.replace("\\", "/")):
        kinds = sorted({p["kind"] for p in json.loads(r.problems or "[]")})
        lines.append(
            f"run {r.run_id:>4}  {r.started_at[:19]}  {r.status or 'ok':<8}"
            f" {r.trend or '':<10} {', '.join(kinds) or '-'}"
        )
    return lines


def _url_line(r: UrlTimelineEntry, target: str) -> str:
    line = (
        f"run {r.run_id:>4}  {r.checked_at[:19]}  {r.status:<8}"
        f" {r.kind or '-':<24} {r.http_status or '-':<4} {r.trend or '':<10}"
    )
    if r.reused_from:
        line += f" (reused from run {r.reused_from})"
    if r.final_url and r.final_url != target:
        line += f"  -> {redact_text(r.final_url)}"
    return line.rstrip()
