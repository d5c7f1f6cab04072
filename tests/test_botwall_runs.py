"""Bot walls over real runs in a real store: a wall between failing runs holds the streak (never
`fixed`, never `new` twice, never counted towards `persistent`), and a run over the simulated
web tells every vendor's wall from the healthy pages behind the same vendors, with accepted
statuses for one host, and lists the hosts that blocked."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web
from quickrun import crawl, quick_config
from servers import serve
from test_botwall import SIM_VENDOR

from crawler.config import RotConfig
from crawler.judge.history import next_streak, unverified
from crawler.model import Kind
from crawler.sim.behaviours import BOTWALL_BEHAVIOURS, BOTWALL_LOOKALIKES, BOTWALL_PATHS
from crawler.sim.gencards import generate
from crawler.sim.pages import is_probe
from crawler.sim.server import SimWeb
from crawler.store.database import Store
from crawler.store.records import BlockedHost, StreakState
from crawler.store.reports import blocked_hosts

RULES = RotConfig(min_runs=3, min_days=0.0)


def test_an_unverified_outcome_holds_the_streak_as_it_was() -> None:
    before = StreakState("2026-01-01T00:00:00+00:00", None, 2, "OFF", 7)
    at = "2026-03-01T00:00:00+00:00"
    for failing in (False, True):
        held = next_streak(before, failing=failing, at=at, rules=RULES, unverified=True)
        assert (held.first_failed_at, held.consecutive_failures, held.recent) == (
            before.first_failed_at, 2, "OFF",
        )  # fmt: skip
        assert held.trend == "ongoing"  # neither fixed, nor extended, nor new
    assert next_streak(None, failing=False, at=at, rules=RULES, unverified=True).trend is None
    assert unverified(["bot_blocked", "moved_permanently"], failing=False)
    assert unverified(["robots_disallowed"], failing=False)
    assert unverified(["robots_unavailable"], failing=False)
    assert not unverified(["bot_blocked", "soft_404"], failing=True)  # a failure says enough
    assert not unverified(["moved_permanently"], failing=False)


class Story:
    """A card's page whose answer the test switches between runs: the article, a redirect to
    the home page (rot), or a Cloudflare challenge."""

    def __init__(self) -> None:
        self.mode = "ok"

    async def handle(self, request: web.Request) -> web.Response:
        if self.mode == "rot":
            return web.Response(status=301, headers={"Location": "/"})
        if self.mode == "wall":
            headers = {"Server": "cloudflare", "cf-mitigated": "challenge"}
            text = "<title>Just a moment...</title>"
            return web.Response(status=403, headers=headers, text=text, content_type="text/html")
        return web.Response(text="<title>story</title>", content_type="text/html")


async def home(request: web.Request) -> web.Response:
    return web.Response(text="<title>Example News</title>", content_type="text/html")


async def test_a_wall_between_failing_runs_holds_the_streak(tmp_path: Path) -> None:
    story = Story()
    config = quick_config(tmp_path, rot={"min_runs": 3, "min_days": 0.0}, recheck={"max_age": "0s"})
    modes = ["ok", "rot", "wall", "rot", "wall", "rot", "ok"]
    seen: list[dict[str, Any]] = []
    routes = {"/news/2021/story": story.handle, "/": home}
    async with serve(routes, host="127.0.0.77") as server:
        (tmp_path / "cards").mkdir()
        (tmp_path / "cards" / "story.md").write_text(
            "---\ntitle: story\npublishedDateTime: 2021-01-01T00:00:00Z\n"
            f"webUrl: {server.url('/news/2021/story')}\n---\n"
        )
        for mode in modes:
            story.mode = mode
            _, report = await crawl(config)
            (card,) = report["cards"]
            (url,) = report["urls"]
            seen.append(
                {
                    "card": (card["status"], card["trend"], card["consecutive_failures"]),
                    "url": (url["status"], url["trend"], url["consecutive_failures"]),
                    "first": (card["first_failed_at"], url["first_failed_at"]),
                    "new": [c["kind"] for c in report["changes"]["new"]],
                    "fixed": [c["kind"] for c in report["changes"]["fixed"]],
                }
            )
    assert [s["url"] for s in seen] == [
        ("ok", None, 0),
        ("rotted", "new", 1),
        ("warning", "ongoing", 1),  # held: neither broken nor extended
        ("rotted", "ongoing", 2),  # the streak goes on
        ("warning", "ongoing", 2),  # four runs since it began, two of them failing
        ("rotted", "persistent", 3),  # only the failing runs count towards persistent
        ("ok", "fixed", 0),
    ]
    assert [s["card"] for s in seen] == [
        ("ok", None, 0), ("rotted", "new", 1), ("warning", "ongoing", 1),
        ("rotted", "ongoing", 2), ("warning", "ongoing", 2), ("rotted", "persistent", 3),
        ("ok", "fixed", 0),
    ]  # fmt: skip
    began = seen[1]["first"]
    assert None not in began and all(s["first"] == began for s in seen[1:6])
    # the rot is new once, when it began; the wall is a new warning each time it comes back
    assert [s["new"] for s in seen] == [
        [], ["redirect_to_home"], ["bot_blocked"], [], ["bot_blocked"], [], [],
    ]  # fmt: skip
    assert [s["fixed"] for s in seen] == [[], [], [], [], [], [], ["redirect_to_home"]]


# -- a run over the simulated web ---------------------------------------------------------------


def hand_card(folder: Path, name: str, url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f'---\ntitle: "A plain {name}"\npublishedDateTime: 2024-03-04T05:06:07Z\n'
        f"webUrl: {url}\n---\n"
    )


def sim_vendor(behaviour: str) -> str:
    """The table's vendor for a wall behaviour: /botwall/<vendor>/<status>."""
    return SIM_VENDOR[BOTWALL_PATHS[behaviour].split("/")[2]]


async def test_a_run_over_the_simulated_web_tells_every_wall_from_the_page(
    tmp_path: Path,
) -> None:
    async with SimWeb(hosts=4, first=181, latency_ms=0) as sim:
        cards_hosts, mine = sim.host_ips[:3], sim.host_ips[3]  # the last accepts its 403s
        mix = {**dict.fromkeys([*BOTWALL_BEHAVIOURS, *BOTWALL_LOOKALIKES], 1.0), "healthy": 4.0}
        truth = generate(
            tmp_path / "cards", 40, hosts=cards_hosts, port=sim.port, seed=12, old_share=0.0,
            mix=mix, retries=1,
        )  # fmt: skip
        hand = tmp_path / "cards" / "hand"
        hand_card(hand, "accepted", f"{sim.base_url(3)}/status/403/accepted")
        hand_card(hand, "refused", f"{sim.base_url(0)}/status/403/refused")
        config = quick_config(
            tmp_path,
            fetch={"retries": 1, "backoff_base": 0.01, "backoff_max": 0.05},
            archive={"enabled": True, "endpoint": sim.base_url(2)},
            hosts={mine: {"accept_status": [403]}},
        )
        result, report = await crawl(config)
        log = list(sim.log)

    cards = {c["path"]: c for c in report["cards"]}
    assert Counter(c.behaviour for c in truth.cards.values()).keys() == mix.keys()
    for path, expected in truth.cards.items():
        card = cards[path]
        assert card["status"] == expected.status, (path, expected.behaviour, card["problems"])
        kinds = [p["kind"] for p in card["problems"]]
        if expected.kind == "bot_blocked":
            assert kinds == ["bot_blocked"], (expected.behaviour, kinds)
            (problem,) = card["problems"]
            assert problem["field"] == "webUrl" and problem["url"] == expected.url
            assert problem["detail"].startswith(sim_vendor(expected.behaviour) + " ")
        else:
            assert kinds == [], (expected.behaviour, card["problems"])
    assert (cards["hand/accepted.md"]["status"], cards["hand/refused.md"]["status"]) == (
        "ok", "broken",
    )  # fmt: skip
    assert [p["kind"] for p in cards["hand/refused.md"]["problems"]] == ["client_error"]

    # the server's log: a 503 wall was retried as any 503 is, a 403 wall was not; no soft-404
    # probe and no archive look-up for a wall; the one broken page was looked up
    asked = Counter(r.path for r in log)
    for expected in truth.cards.values():
        if expected.kind == "bot_blocked" and expected.url:
            path = expected.url.split(str(sim.port), 1)[1]
            assert asked[path] == (2 if expected.behaviour.endswith("_503") else 1), path
    assert not [r.path for r in log if r.path.startswith("/botwall/") and is_probe(r.path[-25:])]
    wayback = [r.path for r in log if r.path.startswith("/wayback/")]
    assert len(wayback) == 1 and "refused" in wayback[0], wayback

    walls: dict[str, list[str]] = {}
    for expected in truth.cards.values():
        if expected.kind == "bot_blocked":
            walls.setdefault(expected.host, []).append(sim_vendor(expected.behaviour))
    store = Store(config.state.path)
    try:
        hosts = blocked_hosts(store, result.run_id)
    finally:
        store.close()
    assert sorted(hosts) == sorted(
        BlockedHost(host, len(vendors), tuple(sorted(set(vendors))))
        for host, vendors in walls.items()
    )
    assert hosts == sorted(hosts, key=lambda b: (-b.urls, b.host))
    assert report["summary"]["by_kind"]["bot_blocked"] == sum(len(v) for v in walls.values())
    assert Kind.BOT_BLOCKED.value not in {p["kind"] for p in cards["hand/accepted.md"]["problems"]}
