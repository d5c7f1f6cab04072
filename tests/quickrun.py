"""A crawl run in this process against local servers: the config and the runner that the history
and rot tests share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crawler.config import Config
from crawler.config_loader import load_config
from crawler.crawl import Crawl, RunResult
from crawler.progress import NoProgress
from crawler.store.database import Store


def quick_config(tmp: Path, **sections: dict[str, Any]) -> Config:
    """Cards, report and store under tmp; loopback allowed, a fast rate, no retries and never the
    public archive. `sections` add to (or override keys of) these, section by section."""
    values: dict[str, dict[str, Any]] = {
        "cards": {"path": tmp / "cards"},
        "output": {"out": tmp / "out", "progress": False},
        "state": {"path": tmp / "state.sqlite"},
        "fetch": {"allow_private": True, "timeout": 2.0, "retries": 0},
        "politeness": {"rate_per_host": 100.0, "concurrency_per_host": 4},
        "archive": {"enabled": False},
    }
    for name, extra in sections.items():
        values[name] = {**values.get(name, {}), **extra}
    return load_config(None, values)


async def crawl(config: Config) -> tuple[RunResult, dict[str, Any]]:
    """One run to the end; its result and its report.json."""
    store = Store(config.state.path)
    try:
        result = await Crawl(config, store, NoProgress()).run()
    finally:
        store.close()
    return result, json.loads(result.report_path.read_text())
