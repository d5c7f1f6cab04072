"""The report's `hosts` section and the dashboard's "Hosts that limited this check": one run over
the simulated web with a robots.txt that disallows and asks for a Crawl-delay, one that fails,
a bot wall, a host that throttles and a `hosts:` entry, each listed with what a maintainer may
act on; hosts with nothing to say are left out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from quickrun import crawl, quick_config
from servers import free_port

from crawler.report.host_notes import host_note_rows
from crawler.report.schema import report_schema
from crawler.sim.robots_sites import RobotsFile
from crawler.sim.server import SimWeb


def card(folder: Path, name: str, url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f'---\ntitle: "{name}"\npublishedDateTime: 2024-03-04T05:06:07Z\nwebUrl: {url}\n---\n'
    )


IPS = ["127.0.0.141", "127.0.0.142", "127.0.0.143", "127.0.0.144", "127.0.0.145"]


async def limited_run(tmp_path: Path) -> dict[str, Any]:
    """A run in which each of four hosts limits the check its way; the fifth has nothing to say."""
    ips = IPS
    robots = {
        ips[0]: RobotsFile("User-agent: *\nDisallow: /status/\nCrawl-delay: 0.2\n"),
        ips[3]: RobotsFile(status=503),
    }
    async with SimWeb(ips, latency_ms=0, robots=robots) as sim:
        cards = tmp_path / "cards"
        card(cards, "kept-out", f"{sim.base_url(0)}/status/404/kept-out")
        card(cards, "allowed", f"{sim.base_url(0)}/ok/allowed")
        card(cards, "walled", f"{sim.base_url(1)}/botwall/cloudflare/403/walled")
        for n in range(24):  # enough refusals to count as a limit on us
            card(cards, f"busy{n}", f"{sim.base_url(2)}/throttle-bare/3/busy{n}")
        card(cards, "down", f"{sim.base_url(3)}/ok/down")
        card(cards, "quiet", f"{sim.base_url(4)}/ok/quiet")
        card(cards, "nowhere", f"http://127.0.0.254:{free_port()}/ok/nowhere")
        config = quick_config(
            tmp_path,
            politeness={"rate_per_host": 100.0, "concurrency_per_host": 4},
            fetch={"retries": 3, "backoff_base": 0.01, "backoff_max": 0.05},
            hosts={ips[2]: {"rate": 12}},
        )
        _, report = await crawl(config)
    return report


async def test_the_hosts_that_limited_the_check_are_listed_in_report_and_dashboard(
    tmp_path: Path,
) -> None:
    report = await limited_run(tmp_path)
    ips = IPS
    jsonschema.validate(report, report_schema())
    hosts = report["hosts"]
    # the quiet host has nothing to say; nor has the one nothing answers on: its URL says it
    assert set(hosts) == set(ips[:4])
    first = hosts[ips[0]]["robots"]
    assert (first["outcome"], first["disallowed"], first["crawl_delay_s"]) == ("rules", 1, 0.2)
    assert first["interval_s"] == 0.2 and first["url"].endswith("/robots.txt")
    assert hosts[ips[1]]["blocked"] == {"urls": 1, "vendors": ["Cloudflare"]}
    assert next(iter(hosts)) == ips[1]  # the most blocked first
    throttled = hosts[ips[2]]["throttled"]
    assert throttled["configured_rate"] == 12 and throttled["slowdowns"] >= 1
    assert throttled["lowest_rate"] < 12
    assert hosts[ips[2]]["settings"] == ips[2]
    assert hosts[ips[3]]["robots"]["outcome"] == "unavailable"
    assert all(h["requests"] >= 1 for h in hosts.values())

    page = (tmp_path / "out" / "report.html").read_text()
    assert 'id="host-notes-table"' in page
    rows = {row["host"]: row for row in host_note_rows(hosts)}
    assert rows[ips[0]]["robots"] == "1 disallowed; Crawl-delay 0.2 s, used 0.2 s"
    assert rows[ips[1]]["blocked"] == "1 URL blocked by Cloudflare"
    assert rows[ips[2]]["throttled"].startswith("12/s, ended at ")
    assert rows[ips[3]]["robots"] == "robots.txt failed (HTTP 503): nothing fetched"
    for row in rows.values():
        for text in (row["blocked"], row["robots"]):
            assert text in page


def test_a_host_note_says_each_part_in_words() -> None:
    section = {
        "a.example": {
            "requests": 3,
            "settings": "*.example",
            "blocked": {"urls": 2, "vendors": ["Akamai", "DataDome"]},
            "robots": {
                "url": "https://a.example/robots.txt",
                "outcome": "off",
                "http_status": None,
                "crawl_delay_s": None,
                "interval_s": None,
                "disallowed": 0,
                "cached": False,
            },
            "throttled": {
                "configured_rate": 2.0,
                "ended_rate": 1.5,
                "lowest_rate": 0.5,
                "slowdowns": 2,
            },
        }
    }
    assert host_note_rows(section) == [
        {
            "host": "a.example",
            "blocked": "2 URLs blocked by Akamai, DataDome",
            "robots": "robots.txt not read (hosts: robots: false)",
            "throttled": "2/s, ended at 1.5/s (lowest 0.5/s, 2 slow-downs)",
            "settings": "*.example",
        }
    ]


CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_the_host_section_reads_well_on_a_desk_and_on_a_phone(tmp_path: Path) -> None:
    """Every host's line is whole on a phone (a block per host, no cut row, nothing wider than
    the page), and a host's name filters the table of cards to it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    asyncio.run(limited_run(tmp_path))
    page_url = (tmp_path / "out" / "report.html").as_uri()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            for name, width in (("desk", 1280), ("phone", 390)):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(page_url)
                page.wait_for_selector("html[data-ready]")
                section = page.locator("#host-notes")
                section.screenshot(path=str(SCREENSHOTS / f"host-notes-{name}.png"))
                box = section.bounding_box()
                assert box is not None and box["x"] + box["width"] <= width
                rows = page.locator("#host-notes-table tbody tr")
                assert rows.count() == 4
                for index in range(4):
                    row = rows.nth(index).bounding_box()
                    assert row is not None and row["x"] + row["width"] <= box["x"] + box["width"]
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"the page scrolls sideways at {width} px"
                page.locator("#host-notes button", has_text=IPS[1]).click()
                assert IPS[1] in page.url  # the filter is in the fragment
                page.close()
        finally:
            browser.close()
