"""`linkcheck demo`: the whole product in under a minute, with no network at all.

Starts a small simulated web on loopback addresses, writes a set of demo cards into a temporary
folder (generated cards with one behaviour each, plus hand-written ones for the problems that live
in the card itself), crawls them, and writes the reports.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from crawler.config import Config
from crawler.config_loader import load_config
from crawler.crawl import Crawl, RunResult
from crawler.progress import make_progress
from crawler.sim.behaviours import AMP_CACHE_BEHAVIOURS, BEHAVIOURS
from crawler.sim.gencards import generate
from crawler.sim.server import SimWeb
from crawler.store.database import Store

DEMO_HOSTS = 4
DEMO_FIRST_IP = 211  # 127.0.0.211 ...: out of the way of other local services

# Cards whose problems are in the card itself, or that need a URL the generator does not make.
# {web} is the base URL of the first simulated host.
HAND_CARDS: dict[str, str] = {
    "hand/xss-title.md": """---
title: "<img src=x onerror=alert(1)>"
publishedDateTime: 2021-06-01T10:00:00Z
webUrl: "{web}/status/404/xss"
provider: {{name: "<script>alert(2)</script>", domain: example.test}}
---
""",
    "hand/too-many-redirects.md": """---
title: "A story behind a dozen redirects"
publishedDateTime: 2021-06-02T10:00:00Z
webUrl: "{web}/chain/12/demo"
provider: {{name: Chain News, domain: chain.test}}
---
""",
    "hand/dns-error.md": """---
title: "A site whose domain is gone"
publishedDateTime: 2021-06-03T10:00:00Z
webUrl: "http://expired-domain.invalid/story"
provider: {{name: Expired, domain: expired-domain.invalid}}
---
""",
    "hand/relative-logo.md": """---
title: "A card with a relative provider logo"
publishedDateTime: 2021-06-04T10:00:00Z
webUrl: "{web}/ok/relative"
provider:
  name: Relative Times
  domain: relative.test
  images:
    - url: "/assets/images/organizations/relative.test-50x50.jpg"
      width: 50
      height: 50
---
""",
    "hand/bad-date.md": """---
title: "A card whose date cannot be read"
publishedDateTime: "sometime in May"
webUrl: "{web}/ok/bad-date"
---
""",
    "hand/no-url.md": """---
title: "A card with neither webUrl nor originalUrl"
publishedDateTime: 2021-06-05T10:00:00Z
---
""",
    "hand/bad-url.md": """---
title: "A card whose webUrl is not a URL"
publishedDateTime: 2021-06-06T10:00:00Z
webUrl: "javascript:alert(1)"
---
""",
    "hand/broken-yaml.md": """---
title: "Unclosed quote
publishedDateTime: 2021-06-07T10:00:00Z
---
""",
}


def demo_config(work: Path, out: Path, archive_endpoint: str | None = None) -> Config:
    return load_config(
        None,
        {
            "cards": {"path": work / "cards", "since": "2020"},
            "output": {"out": out, "fail_on": "never"},
            "state": {"path": work / "state.sqlite"},
            "fetch": {"allow_private": True, "timeout": 1.5, "retries": 1},
            "politeness": {"rate_per_host": 50.0, "concurrency_per_host": 4},
            # the simulated web's own archive endpoint: no network, ever
            "archive": ({"endpoint": archive_endpoint} if archive_endpoint else {"enabled": False}),
        },
    )


async def run_demo(out: Path, work: Path | None = None) -> RunResult:
    work = work or Path(tempfile.mkdtemp(prefix="linkcheck-demo-"))
    async with SimWeb(hosts=DEMO_HOSTS, first=DEMO_FIRST_IP, latency_ms=10) as web:
        # two cards of every behaviour the simulated web has, the rest healthy
        # (the AMP-cache cases need a TLS site on port 443: the benchmark has them, not the demo)
        mix = {name: 2.0 for name in BEHAVIOURS if name not in AMP_CACHE_BEHAVIOURS}
        mix["healthy"] = 30.0
        generate(
            work / "cards", 96, hosts=web.host_ips, port=web.port, seed=2026, mix=mix,
            timeout=1.5, slow_seconds=3.0, retries=1,
        )  # fmt: skip
        for name, text in HAND_CARDS.items():
            path = work / "cards" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.format(web=web.base_url(0)), encoding="utf-8")
        config = demo_config(work, out, archive_endpoint=web.base_url(0))
        store = Store(config.state.path)
        try:
            return await Crawl(config, store, make_progress(True)).run()
        finally:
            store.close()


def main(out: Path) -> int:
    result = asyncio.run(run_demo(out))
    page = result.report_path.with_name("report.html")
    counts = ", ".join(f"{n} {label}" for label, n in result.by_status.items() if n)
    print(f"demo crawl: {counts}")
    print(f"report.json: {result.report_path}")
    print(f"dashboard:   {page}")
    print(f"open it:     {page.resolve().as_uri()}")
    return 0
