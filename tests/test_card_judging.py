"""Card verdicts as judging stores them: counts, batches, history folding and resumed runs.

Written for issue 15's mutation testing of crawler/judging.py. Every test uses a real store
on disk and reads what judging wrote back with plain SQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

import crawler.judge.judging as judging
from crawler.config import RotConfig
from crawler.judge.judging import judge_cards, record_url_history
from crawler.model import (
    CardRecord,
    Disposition,
    Finding,
    ImageInfo,
    Kind,
    Link,
    LinkKind,
    Problem,
    UrlOutcome,
)
from crawler.store.database import Store
from crawler.store.records import CardVerdict
from crawler.store.state import set_card_verdicts

GONE = "http://a.test/gone"
FINE = "http://a.test/fine"
IMAGE = "http://img.test/a.png"
DAY1 = "2020-01-01T00:00:00+00:00"
DAY2 = "2020-01-02T00:00:00+00:00"


def _run(store: Store, cards: Sequence[CardRecord], outcomes: Sequence[UrlOutcome]) -> int:
    run_id = store.begin_run(cards_root="c", since=None, until=None, config={})
    for card in cards:
        store.add_card(run_id, card)
    for outcome in outcomes:
        store.add_url_result(run_id, "a.test", outcome)
    store.flush()
    return run_id


def _card(path: str, *links: Link) -> CardRecord:
    return CardRecord(path=path, disposition=Disposition.CHECKED, title=path, links=list(links))


def _gone() -> UrlOutcome:
    return UrlOutcome(
        GONE, LinkKind.PAGE, http_status=410, findings=[Finding(Kind.GONE, "HTTP 410 Gone")]
    )


def _fine() -> UrlOutcome:
    return UrlOutcome(FINE, LinkKind.PAGE, http_status=200)


def _rows(store: Store, table: str = "cards") -> dict[str, Any]:
    return {r["path"]: dict(r) for r in store.db.execute(f"SELECT * FROM {table}")}


def test_judging_counts_every_link_left_unchecked(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    cards = [
        _card("a.md", Link("webUrl", "http://a.test/1", LinkKind.PAGE)),
        _card(
            "b.md",
            Link("webUrl", FINE, LinkKind.PAGE),
            Link("originalUrl", "http://a.test/2", LinkKind.PAGE),
            Link("ampWebUrl", "http://a.test/3", LinkKind.PAGE),
        ),
    ]
    run_id = _run(store, cards, [_fine()])
    assert judge_cards(store, run_id) == {"links_unchecked": 3}
    store.close()


def test_verdicts_are_written_in_batches_of_at_most_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _run(
        store, [_card(f"{i}.md", Link("webUrl", GONE, LinkKind.PAGE)) for i in range(5)], [_gone()]
    )
    written: list[tuple[int, int]] = []

    def spy(into: Store, run: int, verdicts: Sequence[CardVerdict]) -> None:
        written.append((run, len(verdicts)))
        set_card_verdicts(into, run, verdicts)

    monkeypatch.setattr(judging, "set_card_verdicts", spy)
    judge_cards(store, run_id, batch=2)
    assert written == [(run_id, 2), (run_id, 2), (run_id, 1)]
    assert {r["status"] for r in _rows(store).values()} == {"broken"}
    assert len(_rows(store)) == 5
    store.close()


def test_an_invalid_card_is_judged_invalid_even_without_a_problem(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _run(store, [CardRecord(path="x.md", disposition=Disposition.INVALID)], [])
    judge_cards(store, run_id)
    assert _rows(store)["x.md"]["status"] == "invalid"
    store.close()


def test_the_providers_name_in_a_page_title_is_not_drift(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    provider = "Acme Daily News Network Today"
    card = CardRecord(
        path="s.md",
        disposition=Disposition.CHECKED,
        title="Storm hits",
        provider=provider,
        links=[Link("webUrl", FINE, LinkKind.PAGE)],
    )
    page = UrlOutcome(FINE, LinkKind.PAGE, http_status=200, title=f"Storm hits {provider}")
    run_id = _run(store, [card], [page])
    judge_cards(store, run_id)
    assert (_rows(store)["s.md"]["status"], _rows(store)["s.md"]["problems"]) == ("ok", "[]")
    store.close()


def test_without_rules_judging_leaves_history_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _run(store, [_card("a.md", Link("webUrl", GONE, LinkKind.PAGE))], [_gone()])
    judge_cards(store, run_id, at=DAY1)
    row = _rows(store)["a.md"]
    assert (row["status"], row["first_failed_at"], row["trend"]) == ("broken", None, None)
    assert _rows(store, "card_state") == {}
    store.close()


def test_a_finished_run_starts_a_failing_cards_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _run(store, [_card("a.md", Link("webUrl", GONE, LinkKind.PAGE))], [_gone()])
    judge_cards(store, run_id, rules=RotConfig(), at=DAY1)
    row = _rows(store)["a.md"]
    assert (row["first_failed_at"], row["consecutive_failures"], row["trend"]) == (DAY1, 1, "new")
    state = _rows(store, "card_state")["a.md"]
    assert (state["first_failed_at"], state["recent"], state["last_run_id"]) == (DAY1, "F", run_id)
    [problem] = json.loads(row["problems"])
    assert (problem["trend"], problem["first_failed_at"], problem["consecutive_failures"]) == (
        "new",
        DAY1,
        1,
    )
    store.close()


def test_the_next_run_continues_the_cards_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    link = Link("webUrl", GONE, LinkKind.PAGE)
    ok_link = Link("webUrl", FINE, LinkKind.PAGE)
    first = _run(store, [_card("a.md", link), _card("b.md", ok_link)], [_gone(), _fine()])
    judge_cards(store, first, rules=RotConfig(), at=DAY1)
    second = _run(store, [_card("a.md", link), _card("b.md", link)], [_gone()])
    judge_cards(store, second, rules=RotConfig(), at=DAY2)
    rows = {
        r["path"]: dict(r)
        for r in store.db.execute("SELECT * FROM cards WHERE run_id = ?", (second,))
    }
    state = _rows(store, "card_state")
    assert (rows["a.md"]["first_failed_at"], rows["a.md"]["consecutive_failures"]) == (DAY1, 2)
    assert rows["a.md"]["trend"] == "ongoing"
    assert (state["a.md"]["recent"], state["a.md"]["last_healthy_at"]) == ("FF", None)
    # b was healthy on day 1: its history remembers when
    assert (rows["b.md"]["first_failed_at"], rows["b.md"]["trend"]) == (DAY2, "new")
    assert (state["b.md"]["recent"], state["b.md"]["last_healthy_at"]) == ("OF", DAY1)
    assert state["b.md"]["consecutive_failures"] == 1
    store.close()


def test_a_resumed_run_keeps_the_verdict_it_already_folded_in(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = _run(store, [_card("a.md", Link("webUrl", GONE, LinkKind.PAGE))], [_gone()])
    judge_cards(store, run_id, rules=RotConfig(), at=DAY1)
    before = _rows(store)["a.md"]
    judge_cards(store, run_id, rules=RotConfig(), at=DAY2)  # killed after judging, resumed
    assert _rows(store)["a.md"] == before
    state = _rows(store, "card_state")["a.md"]
    assert (state["recent"], state["consecutive_failures"], state["first_failed_at"]) == (
        "F",
        1,
        DAY1,
    )
    store.close()


def test_a_problem_without_a_url_streak_gets_the_cards_and_warnings_get_none(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.sqlite")
    card = CardRecord(
        path="i.md",
        disposition=Disposition.CHECKED,
        title="i",
        links=[Link("images[0].url", IMAGE, LinkKind.IMAGE, 600, 350)],
        problems=[Problem(Kind.RELATIVE_URL_UNRESOLVED, "no base URL", field="x", url="/x.png")],
    )
    image = UrlOutcome(IMAGE, LinkKind.IMAGE, http_status=200, image=ImageInfo(600, 351, "PNG"))
    run_id = _run(store, [card], [image])
    judge_cards(store, run_id, rules=RotConfig(), at=DAY1)
    row = _rows(store)["i.md"]
    problems = {p["kind"]: p for p in json.loads(row["problems"])}
    mismatch = problems["image_dimension_mismatch"]
    assert (mismatch["trend"], mismatch["first_failed_at"], mismatch["consecutive_failures"]) == (
        "new",
        DAY1,
        1,
    )
    assert "trend" not in problems["relative_url_unresolved"]
    store.close()


def test_a_failing_urls_problem_keeps_the_urls_own_streak(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    link = Link("webUrl", GONE, LinkKind.PAGE)
    first = _run(store, [_card("a.md", link)], [_gone()])
    record_url_history(store, first, RotConfig())
    judge_cards(store, first, rules=RotConfig(), at=DAY1)
    second = _run(store, [_card("b.md", link)], [_gone()])  # a new card, an old dead URL
    record_url_history(store, second, RotConfig())
    judge_cards(store, second, rules=RotConfig(), at=DAY2)
    row = _rows(store)["b.md"]
    assert (row["trend"], row["consecutive_failures"]) == ("new", 1)  # the card's own
    [problem] = json.loads(row["problems"])
    assert (problem["trend"], problem["consecutive_failures"]) == ("ongoing", 2)  # the URL's
    store.close()


def _explode(title: str | None, provider: str | None, links: list[Any]) -> list[Any]:
    raise ValueError("a bug")


def test_a_card_that_fails_judging_gets_a_check_failed_without_a_link_and_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(judging, "card_rot_problems", _explode)
    store = Store(tmp_path / "s.sqlite")
    run_id = _run(store, [_card("a.md")], [])
    with structlog.testing.capture_logs() as logs:
        judge_cards(store, run_id)
    [problem] = json.loads(_rows(store)["a.md"]["problems"])
    assert problem == {
        "kind": "check_failed",
        "severity": "warning",
        "detail": "judging this card failed: ValueError",
        "field": None,
        "url": None,
        "http_status": None,
        "final_url": None,
    }
    assert [(e["event"], e["card"]) for e in logs] == [("judge_failed", "a.md")]
    store.close()
