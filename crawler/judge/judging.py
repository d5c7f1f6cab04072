"""Turn stored URL results into card verdicts (status, every problem, history), stored back."""

from __future__ import annotations

import json
from typing import Any

import structlog

from crawler.judge.cardrot import card_rot_problems
from crawler.judge.history import FAILING, RotRules, next_streak
from crawler.judge.verdicts import card_status, link_problems
from crawler.model import Kind
from crawler.store.database import CardVerdict, Store

log = structlog.get_logger(__name__)


def judge_cards(
    store: Store, run_id: int, *, rules: RotRules | None = None, at: str = "", batch: int = 1000
) -> dict[str, int]:
    """Compute every stored card's verdict. With `rules` (a finished run, started `at`), also
    fold this run into each card's history; without (an interrupted run), history is untouched.

    Returns how many links were left unchecked."""
    verdicts: list[CardVerdict] = []
    unchecked = 0
    for card, links in store.iter_cards_with_links(run_id):
        unchecked += sum(1 for link in links if link["url_status"] is None)
        problems = _card_problems(card, links)
        status = card_status(card["disposition"], problems)
        verdicts.append(_verdict(card, status, problems, rules, run_id, at))
        if len(verdicts) >= batch:
            store.set_card_verdicts(run_id, verdicts)
            verdicts.clear()
    store.set_card_verdicts(run_id, verdicts)
    return {"links_unchecked": unchecked}


def _card_problems(card: Any, links: list[Any]) -> list[dict[str, Any]]:
    """Every problem of one card; a bug in a rule costs that card a check_failed, not the run."""
    problems: list[dict[str, Any]] = list(json.loads(card["card_problems"]))
    try:
        for link in links:
            problems.extend(link_problems(dict(link)))
        problems.extend(
            card_rot_problems(card["title"], card["provider"], [dict(x) for x in links])
        )
    except Exception as exc:
        log.exception("judge_failed", card=card["path"])
        kind = Kind.CHECK_FAILED
        problems.append(
            {
                "kind": kind.value,
                "severity": kind.severity.label,
                "detail": f"judging this card failed: {type(exc).__name__}",
                "field": None,
                "url": None,
                "http_status": None,
                "final_url": None,
            }
        )
    return problems


def _verdict(
    card: Any,
    status: str,
    problems: list[dict[str, Any]],
    rules: RotRules | None,
    run_id: int,
    at: str,
) -> CardVerdict:
    path = card["path"]
    if rules is None:
        return CardVerdict(path, status, json.dumps(problems))
    if card["state_last_run_id"] == run_id:
        # this run already folded the card into its history (then was killed, and resumed):
        # the verdict stored with it stands, history fields included
        return CardVerdict(
            path, card["status"], card["problems"], card["first_failed_at"], None,
            card["consecutive_failures"], card["trend"],
        )  # fmt: skip
    previous = None
    if card["state_recent"] is not None:
        previous = {
            "first_failed_at": card["state_first_failed_at"],
            "last_healthy_at": card["state_last_healthy_at"],
            "consecutive_failures": card["state_consecutive_failures"],
            "recent": card["state_recent"],
        }
    streak = next_streak(previous, failing=status in FAILING, at=at, rules=rules)
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
