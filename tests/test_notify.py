"""Notifications: after a finished run in which cards newly fail, a Slack-compatible webhook on
loopback receives the counts, the worst new cards and the dashboard link; nothing when nothing new
broke; a failing webhook is a warning, never the run's failure, and its secret path is never
logged nor reported."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from quickrun import crawl, quick_config
from servers import free_port, serve

from crawler.config import Config
from crawler.redact import redact_origin
from crawler.report.notify import Outcome, notify_run
from crawler.store.database import Store

ROOT = Path(__file__).resolve().parents[1]
SECRET = "T000/B000/s3cr3tW3bh00kK3y"


def write_card(folder: Path, name: str, url: str, title: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f"---\ntitle: {json.dumps(title or name)}\npublishedDateTime: 2021-01-01T00:00:00Z\n"
        f"webUrl: {url}\n---\n"
    )


class Webhook:
    """A chat webhook: records every JSON body, answers with `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(status=self.status, text="ok")


async def page(request: web.Request) -> web.Response:
    """A page whose title is its last path segment (the card's title, see write_card)."""
    return web.Response(text=f"<title>{request.path.strip('/')}</title>", content_type="text/html")


def notify_config(
    tmp: Path, webhook_url: str | None, dashboard_url: str | None = None, **notify: Any
) -> Config:
    return quick_config(
        tmp,
        recheck={"max_age": "0s"},
        rot={"soft_404_probe": False},
        notify={"webhook_url": webhook_url, **notify},
        output={"dashboard_url": dashboard_url},
    )


async def run_and_notify(config: Config) -> Outcome:
    """One crawl to the end, then what `linkcheck run` does after a finished run."""
    result, _ = await crawl(config)
    assert result.state == "finished"
    store = Store(config.state.path)
    try:
        return await notify_run(config.notify, store, result.run_id, config.output.dashboard_url)
    finally:
        store.close()


async def test_new_broken_and_rotted_cards_are_told_worst_first_with_the_dashboard(
    tmp_path: Path,
) -> None:
    hook = Webhook()
    routes = {"/hook/{tail:.*}": hook.handle, "/ok": page, "/drifted": page}
    async with serve(routes) as server:
        cards = tmp_path / "cards"
        write_card(cards, "fine", server.url("/ok"), title="ok")
        write_card(cards, "gone-a", server.url("/missing-a"))
        write_card(cards, "gone-b", server.url("/missing-b"), title="Tom <b>& Jerry</b>")
        write_card(cards, "gone-c", server.url("/missing-c"))
        write_card(cards, "moved", server.url("/drifted"), title="An entirely different story")
        config = notify_config(
            tmp_path,
            server.url(f"/hook/{SECRET}"),
            dashboard_url="https://example.org/news/",
            max_cards=3,
        )
        assert await run_and_notify(config) == "sent"
    [body] = hook.bodies
    assert body["text"] == (
        "linkcheck run 1: 3 new broken cards, 1 new rotted card."
        " Now 3 broken and 1 rotted of 5 cards. Dashboard: https://example.org/news/"
    )
    headline, listed, link = (block["text"]["text"] for block in body["blocks"])
    assert all(block["type"] == "section" for block in body["blocks"])
    assert headline.startswith("*linkcheck run 1: 3 new broken cards, 1 new rotted card*")
    assert listed.splitlines() == [
        "• *broken* `gone-a.md` gone-a (not_found)",
        "• *broken* `gone-b.md` Tom &lt;b&gt;&amp; Jerry&lt;/b&gt; (not_found)",
        "• *broken* `gone-c.md` gone-c (not_found)",
        "…and 1 more",
    ]
    assert link == "<https://example.org/news/|Open the dashboard>"


async def test_nothing_is_sent_when_no_card_newly_fails(tmp_path: Path) -> None:
    hook = Webhook()
    async with serve({"/hook/{tail:.*}": hook.handle, "/ok": page}) as server:
        write_card(tmp_path / "cards", "ok", server.url("/ok"))
        write_card(tmp_path / "cards", "gone", server.url("/missing"))
        config = notify_config(tmp_path, server.url(f"/hook/{SECRET}"))
        assert await run_and_notify(config) == "sent"  # the first night: gone.md is new
        assert await run_and_notify(config) == "nothing_new"  # the second: still broken, not new
    assert len(hook.bodies) == 1
    assert "dashboard" not in json.dumps(hook.bodies[0]).lower()  # no dashboard_url, no link


async def test_no_webhook_set_sends_nothing(tmp_path: Path) -> None:
    hook = Webhook()
    async with serve({"/hook/{tail:.*}": hook.handle}) as server:
        write_card(tmp_path / "cards", "gone", server.url("/missing"))
        assert await run_and_notify(notify_config(tmp_path, None)) == "off"
    assert hook.bodies == []


async def test_a_webhook_that_refuses_is_reported_failed_not_raised(tmp_path: Path) -> None:
    hook = Webhook(status=500)
    async with serve({"/hook/{tail:.*}": hook.handle}) as server:
        write_card(tmp_path / "cards", "gone", server.url("/missing"))
        assert await run_and_notify(notify_config(tmp_path, server.url("/hook/x"))) == "failed"
    assert len(hook.bodies) == 1


async def test_an_unreachable_webhook_warns_without_its_secret_and_keeps_the_exit_code(
    tmp_path: Path,
) -> None:
    """Through `linkcheck run`: the run exits as --fail-on says (1: a broken card), the warning
    names the webhook's host only, and report.json's config masks the URL's path."""
    webhook = f"http://127.0.0.2:{free_port()}/services/{SECRET}"
    async with serve({"/ok": page}) as server:
        write_card(tmp_path / "cards", "gone", server.url("/missing"))
        config_file = tmp_path / "config.yaml"
        config_file.write_text(f"notify:\n  webhook_url: {webhook}\n")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "crawler.cli", "run", "--config", str(config_file),
            "--cards", str(tmp_path / "cards"), "--out", str(tmp_path / "out"),
            "--state", str(tmp_path / "state.sqlite"), "--allow-private", "--no-archive",
            "--retries", "0", "--log-format", "json", "--no-progress",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
    assert process.returncode == 1, err.decode()
    events = [json.loads(line) for line in err.decode().splitlines()]
    [warning] = [e for e in events if e["event"] == "notify_failed"]
    assert warning["level"] == "warning"
    assert warning["webhook"] == "http://127.0.0.2:" + webhook.split(":")[2].split("/")[0] + "/***"
    assert warning["error"] == "ClientConnectorError"
    report = (tmp_path / "out" / "report.json").read_text()
    for text in (out.decode(), err.decode(), report):
        assert "s3cr3t" not in text
    assert json.loads(report)["run"]["config"]["notify"]["webhook_url"].endswith("/***")


def test_a_webhook_url_is_shown_as_its_scheme_and_host_only() -> None:
    assert redact_origin(f"https://hooks.slack.com/services/{SECRET}") == (
        "https://hooks.slack.com/***"
    )
    assert redact_origin("https://user:pw@chat.example:8443/hook?token=x") == (
        "https://chat.example:8443/***"
    )
    assert redact_origin("http://127.0.0.1:9000/") == "http://127.0.0.1:9000"
