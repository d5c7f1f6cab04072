"""One hop, retried while what it got may heal by itself (a transient failure, 429, 502, 503,
504), waiting for Retry-After when the server gave one, else backing off with jitter."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt

from crawler.config import FetchConfig
from crawler.model import Kind
from crawler.web.answer import Answer, Result, status_text
from crawler.web.failures import Failure
from crawler.web.politeness import retry_after_wait

log = structlog.get_logger(__name__)

_TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})

AttemptFn = Callable[[], Awaitable[Result]]


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1) plus up to `base`, at most `cap`.

    The jitter spreads the retries of many URLs that failed together (one host blipped).
    """
    return min(cap, base * 2.0 ** (attempt - 1) + random.uniform(0, base))


async def with_retries(attempt: AttemptFn, url: str, config: FetchConfig) -> tuple[Result, int]:
    """`attempt` made, and made again while its result is worth retrying; (result, tries)."""
    # Fast path: most hops succeed (or fail for good) at once, so only a result worth retrying
    # pays for a tenacity controller.
    first = await attempt()
    if not _should_retry(first) or config.retries == 0:
        return first, 1
    tries = 1
    replay: Result | None = first

    async def again() -> Result:
        # tenacity's first "attempt" hands back the request already made, so that its
        # attempt count, wait (backoff or Retry-After), stop and logging see exactly what
        # they would have seen had it made that request itself
        nonlocal tries, replay
        if replay is not None:
            done, replay = replay, None
            return done
        tries += 1
        return await attempt()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(config.retries + 1),
        wait=lambda state: _wait(state, config),
        retry=retry_if_result(_should_retry),
        before_sleep=lambda state: _log_retry(state, url),
        retry_error_callback=_last_result,
        reraise=True,  # attempt() maps errors to values: an exception here is a bug
    )
    result: Result = await retrying(again)
    return result, tries


def _should_retry(result: Result) -> bool:
    if isinstance(result, Failure):
        return result.transient
    return result.status in _TRANSIENT_STATUSES


def _wait(state: RetryCallState, config: FetchConfig) -> float:
    """Retry-After when the server gave one (already capped), else backoff with jitter."""
    outcome = state.outcome
    if outcome is not None and not outcome.failed:
        result = outcome.result()
        if isinstance(result, Answer) and result.retry_after is not None:
            return retry_after_wait(result.retry_after)
        if isinstance(result, Failure) and result.kind is Kind.TIMEOUT:
            return 0.0  # the server already had the whole timeout: no reason to wait more
    return backoff_seconds(state.attempt_number, base=config.backoff_base, cap=config.backoff_max)


def _log_retry(state: RetryCallState, url: str) -> None:
    result = state.outcome.result() if state.outcome is not None else None
    log.debug(
        "retrying",
        url=url,
        attempt=state.attempt_number,
        reason=_reason_of(result) if result is not None else "?",
        wait_s=round(state.upcoming_sleep, 3),
    )


def _reason_of(result: Result) -> str:
    if isinstance(result, Failure):
        return f"{result.kind}: {result.detail}"
    return status_text(result.status, result.reason)


def _last_result(state: RetryCallState) -> Result:
    """Out of attempts: the last answer stands (a 503 stays a SERVER_ERROR, a 429 RATE_LIMITED)."""
    assert state.outcome is not None
    result: Result = state.outcome.result()
    return result
