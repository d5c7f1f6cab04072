"""Card verdicts from stored results: one card's failure never costs another card its verdict."""

import json
from pathlib import Path
from typing import Any

import pytest

import crawler.judge.judging as judging
from crawler.model import CardRecord, Disposition
from crawler.store.database import Store


def test_a_bug_judging_one_card_is_check_failed_on_that_card_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = judging.card_rot_problems

    def flaky(title: str | None, provider: str | None, links: list[Any]) -> list[Any]:
        if title == "Explodes":
            raise ValueError("a bug")
        return real(title, provider, links)

    monkeypatch.setattr(judging, "card_rot_problems", flaky)
    store = Store(tmp_path / "s.sqlite")
    run_id = store.begin_run(cards_root="c", since=None, until=None, config={})
    for title in ("Explodes", "Fine"):
        record = CardRecord(path=f"{title}.md", disposition=Disposition.CHECKED, title=title)
        store.add_card(run_id, record)
    store.flush()
    judging.judge_cards(store, run_id)
    rows = {r["path"]: r for r in store.db.execute("SELECT path, status, problems FROM cards")}
    store.close()
    assert rows["Explodes.md"]["status"] == "warning"
    [problem] = json.loads(rows["Explodes.md"]["problems"])
    assert problem["kind"] == "check_failed"
    assert "ValueError" in problem["detail"]
    assert rows["Fine.md"]["status"] == "ok"
