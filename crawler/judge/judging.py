"""Turn stored URL results into card verdicts (status, every problem, history), stored back;
and, once a run is finished, fold its URL results into each URL's history."""

from __future__ import annotations

import json
from typing import Any

import structlog

from crawler.config import RotConfig
from crawler.judge.cardrot import card_rot_problems
from crawler.judge.history import next_streak
from crawler.judge.verdicts import card_status, link_problems
from crawler.model import FAILING, Kind, Problem
from crawler.store.database import Store
from crawler.store.records import CardVerdict, LinkResult, StoredCard, StreakState, UrlHistory
from crawler.store.state import cards_to_judge, set_card_verdicts, urls_to_fold, write_url_history

log = structlog.get_logger(__name__)


def judge_cards(
    store: Store, run_id: int, *, rules: RotConfig | None = None, at: str = "", batch: int = 1000
) -> dict[str, int]:
    """Compute every stored card's verdict. With `rules` (a finished run, started `at`), also
    fold this run into each card's history; without (an interrupted run), history is untouched.

    Returns how many links were left unchecked."""
    verdicts: list[CardVerdict] = []
    unchecked = 0
    for card, state, links in cards_to_judge(store, run_id):
        unchecked += sum(1 for link in links if link.url_status is None)
        problems = _card_problems(card, links)
        status = card_status(card.disposition, problems)
        verdicts.append(_verdict(card, state, status, problems, rules, run_id, at))
        if len(verdicts) >= batch:
            set_card_verdicts(store, run_id, verdicts)
            verdicts.clear()
    set_card_verdicts(store, run_id, verdicts)
    return {"links_unchecked": unchecked}


def _card_problems(card: StoredCard, links: list[LinkResult]) -> list[dict[str, Any]]:
    """Every problem of one card; a bug in a rule costs that card a check_failed, not the run."""
    problems: list[dict[str, Any]] = list(json.loads(card.card_problems))
    try:
        as_read = [link._asdict() for link in links]
        for link in as_read:
            problems.extend(link_problems(link))
        problems.extend(card_rot_problems(card.title, card.provider, as_read))
    except Exception as exc:
        log.exception("judge_failed", card=card.path)
        failed = Problem(Kind.CHECK_FAILED, f"judging this card failed: {type(exc).__name__}")
        problems.append(failed.as_dict())
    return problems


def _verdict(
    card: StoredCard,
    state: StreakState | None,
    status: str,
    problems: list[dict[str, Any]],
    rules: RotConfig | None,
    run_id: int,
    at: str,
) -> CardVerdict:
    path = card.path
    if rules is None:
        return CardVerdict(path, status, json.dumps(problems))
    if state is not None and state.last_run_id == run_id:
        # this run already folded the card into its history (then was killed, and resumed):
        # the verdict stored with it stands, history fields included
        return CardVerdict(
            path, card.status or status, card.problems or json.dumps(problems),
            card.first_failed_at, None, card.consecutive_failures, card.trend,
        )  # fmt: skip
    streak = next_streak(state, failing=status in FAILING, at=at, rules=rules)
    for problem in problems:
        # a problem of a URL that fails carries the URL's own history; others (a wrong image
        # size, a card-level problem) carry the card's
        if problem.get("trend") is None and problem["severity"] in FAILING:
            problem["trend"] = streak.trend
            problem["first_failed_at"] = streak.first_failed_at
            problem["consecutive_failures"] = streak.consecutive_failures
    return CardVerdict(
        path, status, json.dumps(problems), streak.first_failed_at, streak.last_healthy_at,
        streak.consecutive_failures, streak.trend, streak.recent,
    )  # fmt: skip


def record_url_history(store: Store, run_id: int, rules: RotConfig, *, batch: int = 2000) -> None:
    """Fold this run's URL results into each URL's streak; once per finished run."""
    histories: list[UrlHistory] = []
    for result in urls_to_fold(store, run_id):
        if result.state is not None and result.state.last_run_id == run_id:
            continue  # already folded in
        if result.reused_from is not None:
            # not observed this run: a reused result is healthy and leaves the streak be
            histories.append(UrlHistory(result.url, None, 0, None))
            continue
        failing = result.status in FAILING
        streak = next_streak(result.state, failing=failing, at=result.checked_at, rules=rules)
        histories.append(
            UrlHistory(result.url, streak.first_failed_at, streak.consecutive_failures,
                       streak.trend, streak.last_healthy_at, streak.recent)
        )  # fmt: skip
        if len(histories) >= batch:
            write_url_history(store, run_id, histories)
            histories.clear()
    write_url_history(store, run_id, histories)
