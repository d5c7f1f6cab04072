"""Progress for people: a live bar on a terminal, a periodic log line elsewhere (cron, CI)."""

from __future__ import annotations

import sys
import time
from typing import Protocol

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = structlog.get_logger(__name__)


class ProgressSink(Protocol):
    def discovered(self, urls: int) -> None: ...
    def done(self, problem: bool) -> None: ...
    def close(self) -> None: ...


class _Counts:
    def __init__(self) -> None:
        self.total = 0
        self.completed = 0
        self.problems = 0
        self.started = time.monotonic()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.completed / elapsed if elapsed > 0 else 0.0


class BarProgress(_Counts):
    """rich's progress bar on stderr: URLs done / found, rate, ETA, problems so far."""

    def __init__(self) -> None:
        super().__init__()
        self._bar = Progress(
            TextColumn("[bold]checking"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6.1f} URL/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("[red]{task.fields[problems]} problems"),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self._task = self._bar.add_task("urls", total=0, rate=0.0, problems=0)
        self._bar.start()

    def discovered(self, urls: int) -> None:
        self.total += urls
        self._bar.update(self._task, total=self.total)

    def done(self, problem: bool) -> None:
        self.completed += 1
        self.problems += problem
        self._bar.update(
            self._task, completed=self.completed, rate=self.rate(), problems=self.problems
        )

    def close(self) -> None:
        self._bar.stop()


class LogProgress(_Counts):
    """Without a terminal: one `progress` log event every `every_s` seconds."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self._every = every_s
        self._last = time.monotonic()

    def discovered(self, urls: int) -> None:
        self.total += urls

    def done(self, problem: bool) -> None:
        self.completed += 1
        self.problems += problem
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            rate = self.rate()
            eta = (self.total - self.completed) / rate if rate else None
            log.info(
                "progress",
                urls_done=self.completed,
                urls_found=self.total,
                rate_per_s=round(rate, 1),
                eta_s=round(eta) if eta is not None else None,
                problems=self.problems,
            )

    def close(self) -> None:
        pass


class NoProgress(_Counts):
    def discovered(self, urls: int) -> None:
        self.total += urls

    def done(self, problem: bool) -> None:
        self.completed += 1

    def close(self) -> None:
        pass


def make_progress(enabled: bool) -> ProgressSink:
    if not enabled:
        return NoProgress()
    return BarProgress() if sys.stderr.isatty() else LogProgress()
