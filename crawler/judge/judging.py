"""Turn stored URL results into card verdicts (status, every problem, history), stored back;
and, once a run is finished, fold its URL results into each URL's history."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import structlog

from crawler.config import RotConfig
from crawler.judge.cardrot import card_rot_problems
from crawler.judge.degraded import run_reach
from crawler.judge.history import next_streak, unverified
from crawler.judge.verdicts import card_status, link_problems
from crawler.model import FAILING, UNCHECKED, Kind, Problem, Severity
from crawler.store.database import Store
from crawler.store.early import drop_early_verdicts, take_early_verdicts
from crawler.store.records import (
    CardToJudge,
    CardVerdict,
    LinkResult,
    StoredCard,
    StreakState,
    UrlHistory,
)
from crawler.store.state import cards_to_judge, set_card_verdicts, urls_to_fold, write_url_history

log = structlog.get_logger(__name__)


def judge_cards(
    store: Store,
    run_id: int,
    *,
    rules: RotConfig | None = None,
    at: str = "",
    partial: bool = False,
    degraded: bool = False,
    skip_early: bool = False,
    batch: int = 1000,
) -> dict[str, int]:
    """Compute every stored card's verdict. With `rules` (the run started `at`), each card's
    history after this run too: folded into the history for a finished run; for a `partial`
    one (interrupted) shown in the verdict but not recorded. A card whose links were not all
    checked is `unchecked` unless what was checked already fails it. A `degraded` run's
    failures, and a card whose only trouble could not be verified, are held, not folded in
    (crawler/judge/history.py). With `skip_early`, the cards judged while the crawl ran
    (crawler/judge/early.py) are left to their early verdicts.

    Returns how many links were left unchecked."""
    verdicts: list[CardVerdict] = []
    unchecked = 0
    for item in cards_to_judge(store, run_id, skip_early=skip_early):
        verdict, left = judge_card(
            item, rules=rules, run_id=run_id, at=at, partial=partial, degraded=degraded
        )
        unchecked += left
        verdicts.append(verdict)
        if len(verdicts) >= batch:
            set_card_verdicts(store, run_id, verdicts)
            verdicts.clear()
    set_card_verdicts(store, run_id, verdicts)
    return {"links_unchecked": unchecked}


def judge_card(
    item: CardToJudge,
    *,
    rules: RotConfig | None,
    run_id: int,
    at: str,
    partial: bool = False,
    degraded: bool = False,
) -> tuple[CardVerdict, int]:
    """One card's verdict (see `judge_cards`), and how many of its links were left unchecked."""
    card, state, links = item
    left = sum(1 for link in links if link.url_status is None)
    problems = _card_problems(card, links)
    status = card_status(card.disposition, problems)
    # a link without a result is unchecked in any run: a finished one has none, unless
    # something went wrong on the way (a lost cluster), and "ok" must never be a guess
    if left and status not in (*FAILING, Severity.INVALID.label):
        status = UNCHECKED
    verdict = _verdict(card, state, status, problems, rules, run_id, at, degraded)
    return (_unrecorded(verdict) if partial else verdict), left


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


def _unrecorded(verdict: CardVerdict) -> CardVerdict:
    """The verdict with its history shown, not recorded: an interrupted run writes none."""
    return dataclasses.replace(verdict, recent=None)


def _verdict(
    card: StoredCard,
    state: StreakState | None,
    status: str,
    problems: list[dict[str, Any]],
    rules: RotConfig | None,
    run_id: int,
    at: str,
    degraded: bool = False,
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
    if status == UNCHECKED:  # nothing new is known: the history as it was
        return CardVerdict(
            path, status, json.dumps(problems), state.first_failed_at if state else None,
            None, state.consecutive_failures if state else None,
        )  # fmt: skip
    failing = status in FAILING
    # a card whose only trouble is a link that could not be verified keeps its streak as it was
    held = unverified((p["kind"] for p in problems), failing=failing)
    streak = next_streak(
        state, failing=failing, at=at, rules=rules, degraded=degraded, unverified=held
    )
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


def record_url_history(
    store: Store,
    run_id: int,
    rules: RotConfig,
    *,
    partial: bool = False,
    degraded: bool = False,
    batch: int = 2000,
) -> None:
    """Fold this run's URL results into each URL's streak; once per finished run. For a
    `partial` (interrupted) run the streaks are shown on its results, not recorded. A
    `degraded` run's failures, and a result that could not be verified (a bot wall, robots.txt),
    are held, not folded in (crawler/judge/history.py)."""
    histories: list[UrlHistory] = []
    for result in urls_to_fold(store, run_id):
        if result.state is not None and result.state.last_run_id == run_id:
            continue  # already folded in
        if result.reused_from is not None:
            # not observed this run: a reused result is healthy and leaves the streak be
            histories.append(UrlHistory(result.url, None, 0, None))
            continue
        failing = result.status in FAILING
        kinds = (finding["kind"] for finding in json.loads(result.findings))
        streak = next_streak(
            result.state, failing=failing, at=result.checked_at, rules=rules, degraded=degraded,
            unverified=unverified(kinds, failing=failing),
        )  # fmt: skip
        histories.append(
            UrlHistory(result.url, streak.first_failed_at, streak.consecutive_failures,
                       streak.trend, streak.last_healthy_at, None if partial else streak.recent)
        )  # fmt: skip
        if len(histories) >= batch:
            write_url_history(store, run_id, histories)
            histories.clear()
    write_url_history(store, run_id, histories)


def judge_run(
    store: Store, run_id: int, rules: RotConfig, *, at: str, partial: bool
) -> tuple[dict[str, Any], bool]:
    """An ended run's verdicts: whether it was degraded (crawler/judge/degraded.py), each URL's
    history, then each card's verdict (or the one it got while the crawl ran). Returns the
    counters to record and whether degraded."""
    reach = run_reach(store, run_id, rules)
    if reach.degraded:
        log.warning("run_degraded", **reach.counters())
    record_url_history(store, run_id, rules, partial=partial, degraded=reach.degraded)
    # the cards judged early assumed a finished run that is not degraded
    keep_early = not partial and not reach.degraded
    verdicts = judge_cards(
        store, run_id, rules=rules, at=at, partial=partial, degraded=reach.degraded,
        skip_early=keep_early,
    )  # fmt: skip
    if keep_early:
        verdicts["cards_judged_early"] = take_early_verdicts(store, run_id)
    else:
        drop_early_verdicts(store, run_id)
    return {**reach.counters(), **verdicts}, reach.degraded
