"""A crawl runs with fewer garbage collections (crawler.cli.run.fewer_collections): larger
young-generation batches, and the interpreter's own thresholds back once the crawl ends."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import main
from crawler.cli.run import GC_THRESHOLDS, fewer_collections


def test_fewer_collections_sets_the_thresholds_and_restores_them() -> None:
    before = gc.get_threshold()
    assert before != GC_THRESHOLDS
    with fewer_collections():
        assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a crawl that fails")
    assert gc.get_threshold() == before


def test_a_run_crawls_under_the_thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int, int]] = []
    real_run = asyncio.run

    def run(main_coroutine: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        seen.append(gc.get_threshold())
        return real_run(main_coroutine, **kwargs)

    monkeypatch.setattr(asyncio, "run", run)
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "a.md").write_text(  # a loopback URL without --allow-private: no request leaves
        "---\ntitle: A\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: http://127.0.0.1:9/a\n---\n"
    )
    before = gc.get_threshold()
    code = main(
        ["run", "--cards", str(cards), "--out", str(tmp_path / "out"), "--no-progress",
         "--state", str(tmp_path / "s.sqlite"), "--fail-on", "never", "--no-archive"]
    )  # fmt: skip
    assert code == 0
    assert seen == [GC_THRESHOLDS]
    assert gc.get_threshold() == before
