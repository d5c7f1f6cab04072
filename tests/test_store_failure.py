"""A store that stops taking writes mid-run (disk full) ends the run, never silently: the results
already stored stay, and --resume checks the rest, each URL once."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from quickrun import quick_config
from servers import ok, serve

from crawler.crawl import Crawl
from crawler.progress import NoProgress
from crawler.store.database import Store


def write_cards(folder: Path, base: str, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"c{i}.md").write_text(
            f'---\ntitle: "Story {i}"\npublishedDateTime: 2020-03-04T05:06:07Z\n'
            f"webUrl: {base}/story/{i}\n---\n"
        )


async def test_a_result_the_store_refuses_stops_the_run_and_resume_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve({"/story/{n}": ok("<title>Story</title>")}) as server:
        write_cards(tmp_path / "cards", server.url(""), 30)
        config = quick_config(tmp_path)
        real = Store.add_url_result
        taken = 0

        def full_after_ten(self: Store, *args: Any, **kwargs: Any) -> None:
            nonlocal taken
            if taken >= 10:
                raise sqlite3.OperationalError("database or disk is full")
            taken += 1
            real(self, *args, **kwargs)

        monkeypatch.setattr(Store, "add_url_result", full_after_ten)
        store = Store(config.state.path)
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            await Crawl(config, store, NoProgress()).run()
        store.close()
        monkeypatch.setattr(Store, "add_url_result", real)

        store = Store(config.state.path)
        [(state, stored)] = store.db.execute(
            "SELECT state, (SELECT COUNT(*) FROM url_results) FROM runs"
        ).fetchall()
        assert (state, stored) == ("failed", 10)
        kept = {u for (u,) in store.db.execute("SELECT url FROM url_results")}
        result = await Crawl(config, store, NoProgress(), resume=True).run()
        rows = store.db.execute("SELECT url, COUNT(*) FROM url_results GROUP BY url").fetchall()
        store.close()
    assert result.state == "finished"
    assert len(rows) == 30 and {n for _, n in rows} == {1}
    # the results that were stored are not fetched again; the refused ones are
    paths = [r.path for r in server.requests]
    assert {p: paths.count(p) for p in ("/" + u.split("/", 3)[3] for u in kept)} == {
        "/" + u.split("/", 3)[3]: 1 for u in kept
    }
    assert len(set(paths) - {"/robots.txt"}) == 30
    assert paths.count("/robots.txt") == 1  # the resumed part read it from the store
