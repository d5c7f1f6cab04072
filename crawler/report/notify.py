"""Tell a chat channel when a finished run found cards that newly fail.

A card newly fails when it is broken or rotted in this run and its streak starts here
(`consecutive_failures == 1`, as crawler.judge.history counts it): a card failing night after night
is told once, and a run that writes no streaks (interrupted, degraded) tells nothing. The message
is Slack-compatible (`text` for the notification, `blocks` for the channel): the counts, the worst
new cards and a link to the dashboard. A webhook that fails is a warning in the log, never the
run's failure; its URL is logged as its host only, since its path is the secret.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import structlog

from crawler.config import NotifyConfig
from crawler.model import FAILING, Severity
from crawler.redact import Redactor, redact_origin
from crawler.report.json_report import run_redactor
from crawler.store import reports
from crawler.store.database import Store
from crawler.text import preview

log = structlog.get_logger(__name__)

Outcome = Literal["off", "nothing_new", "sent", "failed"]


@dataclass(frozen=True, slots=True)
class NewFailure:
    """A card whose failing streak starts with this run."""

    path: str
    title: str | None
    status: str  # broken | rotted
    kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunNews:
    """What a run's message says: new failing cards by status, the worst of them, and totals."""

    run_id: int
    new_by_status: Counter[str]
    worst: list[NewFailure]
    totals: Counter[str]  # every card of the run by status

    @property
    def new_count(self) -> int:
        return sum(self.new_by_status.values())


def run_news(store: Store, run_id: int, max_cards: int) -> RunNews:
    """The run's cards, streamed once: counted, and the worst `max_cards` new failures kept
    (broken before rotted, then the most problems, then by path)."""
    new_by_status: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    new: list[NewFailure] = []
    for card in reports.cards(store, run_id):
        status = card.status or "ok"
        totals[status] += 1
        if status in FAILING and card.consecutive_failures == 1:
            new_by_status[status] += 1
            problems = json.loads(card.problems or "[]")
            kinds = tuple(sorted({p["kind"] for p in problems}))
            new.append(NewFailure(card.path, card.title, status, kinds))
    worst = heapq.nsmallest(
        max_cards, new, key=lambda f: (-Severity.from_label(f.status), -len(f.kinds), f.path)
    )
    return RunNews(run_id, new_by_status, worst, totals)


def message(news: RunNews, dashboard_url: str | None, redactor: Redactor) -> dict[str, Any]:
    """The Slack-compatible body: `text` (the notification) and `blocks` (what the channel shows).
    Card text is escaped for Slack's mrkdwn and its URL secrets masked."""
    headline = f"linkcheck run {news.run_id}: {_new_counts(news.new_by_status)}"
    checked = sum(news.totals.values())
    standing = (
        f"Now {news.totals['broken']} broken and {news.totals['rotted']} rotted"
        f" of {checked} {_plural(checked, 'card')}."
    )
    lines = [_card_line(failure, redactor) for failure in news.worst]
    if (more := news.new_count - len(news.worst)) > 0:
        lines.append(f"…and {more} more")
    blocks: list[dict[str, Any]] = [
        _section(f"*{_escape(headline)}*\n{standing}"),
        _section("\n".join(lines)),
    ]
    text = f"{headline}. {standing}"
    if dashboard_url:
        blocks.append(_section(f"<{dashboard_url}|Open the dashboard>"))
        text += f" Dashboard: {dashboard_url}"
    return {"text": text, "blocks": blocks}


async def notify_run(
    config: NotifyConfig, store: Store, run_id: int, dashboard_url: str | None = None
) -> Outcome:
    """After a finished run: send the message if a webhook is set and a card newly fails; it
    links to `dashboard_url` (output.dashboard_url) when there is one."""
    if not config.webhook_url:
        return "off"
    run = store.run(run_id)
    if run is not None and run.degraded:  # most hosts unreachable: no "new broken" to announce
        log.info("notify_skipped", run_id=run_id, reason="degraded run")
        return "nothing_new"
    news = run_news(store, run_id, config.max_cards)
    if news.new_count == 0:
        log.info("notify_skipped", run_id=run_id, reason="no card newly broken or rotted")
        return "nothing_new"
    body = message(news, dashboard_url, run_redactor(store, run_id))
    error = await post(config.webhook_url, body, config.timeout)
    webhook = redact_origin(config.webhook_url)
    if error is not None:
        log.warning("notify_failed", run_id=run_id, webhook=webhook, error=error)
        return "failed"
    log.info("notify_sent", run_id=run_id, webhook=webhook, new_cards=news.new_count)
    return "sent"


async def post(url: str, body: dict[str, Any], timeout_s: float) -> str | None:
    """POST the body as JSON: None when the webhook took it (2xx), else what went wrong.
    The reason never quotes the URL (aiohttp's errors do), since its path is the secret."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.post(url, json=body) as answer,
        ):
            if 200 <= answer.status < 300:
                return None
            return f"HTTP {answer.status}"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except Exception as exc:  # a webhook's failure must never end the run
        return type(exc).__name__


def _card_line(failure: NewFailure, redactor: Redactor) -> str:
    title = f" {_escape(redactor.text(preview(failure.title)))}" if failure.title else ""
    kinds = f" ({', '.join(failure.kinds)})" if failure.kinds else ""
    return f"• *{failure.status}* `{_escape(redactor.text(failure.path))}`{title}{kinds}"


def _new_counts(by_status: Counter[str]) -> str:
    parts = [
        f"{by_status[status]} new {status} {_plural(by_status[status], 'card')}"
        for status in reversed(FAILING)
        if by_status[status]
    ]
    return ", ".join(parts)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _escape(text: str) -> str:
    """Slack's mrkdwn: &, < and > are its control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
