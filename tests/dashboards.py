"""What the dashboard's browser tests share: the simulated web in a child process, linkcheck run
as a user runs it, and Debian's Chromium under Playwright (imported only when a test asks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip


@contextmanager
def simulated_web(hosts: int, first: int) -> Iterator[tuple[int, list[str]]]:
    """`python -m crawler.sim.simweb` on `hosts` loopback addresses from 127.0.0.`first`:
    (port, addresses), the web stopped on leaving."""
    web = subprocess.Popen(
        [sys.executable, "-m", "crawler.sim.simweb", "--hosts", str(hosts), "--first", str(first),
         "--port", "0", "--latency-ms", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert web.stdout is not None
        ready = json.loads(web.stdout.readline())
        yield ready["port"], ready["hosts"]
    finally:
        web.terminate()
        web.wait(timeout=10)


def linkcheck(*args: str) -> None:
    """`linkcheck ARGS` from the project's root; only exit 0 or 1 (cards found broken) pass."""
    done = subprocess.run(
        [sys.executable, "-m", "crawler.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]


@contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()
