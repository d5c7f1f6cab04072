"""A hand-moved clock for the politeness rules (tests/conftest.py's `clock` fixture)."""

from __future__ import annotations


class FakeClock:
    """time.monotonic for crawler.web.politeness, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now
