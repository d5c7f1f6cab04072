"""Issue 11, point 2: a night without a network is not a night of broken links.

Real runs of `linkcheck run` against loopback: each host is its own 127.0.0.x address, and a
dead host is one whose server has been shut (its port refuses connections). When most hosts are
dead the run is `degraded`: exit 4, no streak started, no "new broken". A couple of dead hosts
among many healthy ones are broken, as before."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import main
from crawler.cli.exits import EXIT_CODES_HELP, ExitCode
from crawler.config import RotConfig
from crawler.judge.degraded import judge_reach
from crawler.judge.history import next_streak
from crawler.store.records import HostReach, StreakState


class _Page(BaseHTTPRequestHandler):
    """A story page whose title is its path: the card written for it matches."""

    def do_GET(self) -> None:
        body = f"<title>{self.path.strip('/')}</title>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class Hosts:
    """One web server per loopback address, each a host of its own; `kill` shuts one."""

    def __init__(self, count: int) -> None:
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.ports: dict[str, int] = {}
        for n in range(count):
            self.start(f"127.0.0.{n + 2}")

    def start(self, ip: str) -> None:
        server = ThreadingHTTPServer((ip, self.ports.get(ip, 0)), _Page)
        self.servers[ip] = server
        self.ports[ip] = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def kill(self, *ips: str) -> None:
        """Nothing listens there any more: connecting is refused, no HTTP answer."""
        for ip in ips:
            server = self.servers.pop(ip)
            server.shutdown()
            server.server_close()

    def url(self, ip: str) -> str:
        return f"http://{ip}:{self.ports[ip]}/story-{ip.replace('.', '-')}"

    def close(self) -> None:
        self.kill(*list(self.servers))


@pytest.fixture
def hosts_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)  # no ./config.yaml from the checkout
    made: list[Hosts] = []

    def make(count: int) -> Hosts:
        made.append(Hosts(count))
        return made[-1]

    yield make
    for hosts in made:
        hosts.close()


def write_cards(tmp: Path, hosts: Hosts) -> None:
    """One card per host, titled like its page."""
    folder = tmp / "cards"
    folder.mkdir(exist_ok=True)
    for ip in hosts.ports:
        url = hosts.url(ip)
        name = url.rsplit("/", 1)[1]
        (folder / f"{name}.md").write_text(
            f"---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: {url}\n---\n"
        )


def run(tmp: Path) -> tuple[int, dict[str, Any], str]:
    """`linkcheck run` as a nightly job runs it: its exit code, report.json and dashboard."""
    code = main(
        [
            "run", "--cards", str(tmp / "cards"), "--out", str(tmp / "out"),
            "--state", str(tmp / "state.sqlite"), "--no-progress", "--log-format", "json",
            "--allow-private", "--no-archive", "--retries", "0", "--rate-per-host", "100",
            "--max-age", "0s",
        ]
    )  # fmt: skip
    report = json.loads((tmp / "out" / "report.json").read_text())
    return code, report, (tmp / "out" / "report.html").read_text()


def card_of(report: dict[str, Any], ip: str) -> dict[str, Any]:
    return next(c for c in report["cards"] if ip.replace(".", "-") in c["path"])


def test_most_hosts_refusing_make_a_degraded_run_that_starts_no_streak(
    tmp_path: Path, hosts_of: Any
) -> None:
    hosts = hosts_of(5)
    write_cards(tmp_path, hosts)
    code, first, _ = run(tmp_path)
    assert code == ExitCode.OK and first["run"]["degraded"] is False

    dead = ["127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]
    hosts.kill(*dead)
    code, report, page = run(tmp_path)
    assert code == ExitCode.DEGRADED
    assert report["run"]["degraded"] is True
    assert (report["run"]["hosts_contacted"], report["run"]["hosts_unreachable"]) == (5, 4)
    for ip in dead:  # shown as they are...
        card = card_of(report, ip)
        assert card["status"] == "broken"
        assert card["problems"][0]["kind"] == "connection_error"
        # ...but no streak starts
        assert (card["trend"], card["consecutive_failures"], card["first_failed_at"]) == (
            None, 0, None,
        )  # fmt: skip
    assert all(u["consecutive_failures"] == 0 and u["trend"] is None for u in report["urls"])
    assert report["changes"]["degraded"] is True
    assert report["changes"]["new"] == []
    assert 'id="degraded-banner"' in page
    assert 'data-value="new"' not in page  # no "new problem cards" to filter by

    # the next night the network is back but for one host: it is broken from this night on,
    # compared with the last run that was not degraded
    for ip in dead[1:]:
        hosts.start(ip)
    code, third, page = run(tmp_path)
    assert code == ExitCode.PROBLEMS and third["run"]["degraded"] is False
    card = card_of(third, dead[0])
    assert (card["status"], card["trend"], card["consecutive_failures"]) == ("broken", "new", 1)
    assert third["changes"]["previous_run"] == first["run"]["id"]
    assert [c["path"] for c in third["changes"]["new"]] == [card["path"]]
    assert 'id="degraded-banner"' not in page


def test_a_couple_of_dead_hosts_among_healthy_ones_are_broken(
    tmp_path: Path, hosts_of: Any
) -> None:
    hosts = hosts_of(8)
    write_cards(tmp_path, hosts)
    code, _, _ = run(tmp_path)
    assert code == ExitCode.OK

    dead = ["127.0.0.4", "127.0.0.7"]
    hosts.kill(*dead)
    code, report, page = run(tmp_path)
    assert code == ExitCode.PROBLEMS
    assert report["run"]["degraded"] is False
    assert (report["run"]["hosts_contacted"], report["run"]["hosts_unreachable"]) == (8, 2)
    for ip in dead:
        card = card_of(report, ip)
        assert (card["status"], card["trend"], card["consecutive_failures"]) == (
            "broken", "new", 1,
        )  # fmt: skip
    assert report["changes"]["degraded"] is False
    assert sorted(c["path"] for c in report["changes"]["new"]) == sorted(
        card_of(report, ip)["path"] for ip in dead
    )
    assert 'id="degraded-banner"' not in page


RULES = RotConfig(degraded_host_share=0.5, degraded_min_hosts=3)


def _hosts(answered: int, dead: int) -> list[HostReach]:
    return [HostReach(f"up{n}", 1, 0) for n in range(answered)] + [
        HostReach(f"down{n}", 0, 2) for n in range(dead)
    ]


@pytest.mark.parametrize(
    ("answered", "dead", "degraded"),
    [
        (0, 2, False),  # a 2-host run with both dead: too few to blame the network
        (2, 3, True),  # more than half, and at least three
        (3, 3, False),  # half is not most
        (20, 4, False),  # a few dead hosts in a healthy run
        (0, 3, True),
    ],
)
def test_degraded_means_more_than_the_share_and_at_least_the_minimum(
    answered: int, dead: int, degraded: bool
) -> None:
    assert judge_reach(_hosts(answered, dead), RULES).degraded is degraded


def test_a_host_that_answered_once_was_reachable() -> None:
    hosts = [HostReach("a", 1, 5), HostReach("b", 1, 9), HostReach("c", 1, 1), HostReach("d", 0, 1)]
    reach = judge_reach(hosts, RULES)
    assert (reach.hosts_contacted, reach.hosts_unreachable, reach.degraded) == (4, 1, False)


def test_hosts_never_contacted_do_not_count() -> None:
    # blocked or invalid URLs only: no request, no answer, no network failure
    hosts = [HostReach("blocked", 0, 0), *_hosts(0, 3)]
    assert judge_reach(hosts, RULES) == judge_reach(_hosts(0, 3), RULES)
    assert judge_reach(_hosts(0, 3), RULES).hosts_contacted == 3


DAY1, DAY2 = "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00"


def test_a_failure_in_a_degraded_run_holds_a_streak_under_way() -> None:
    before = StreakState(DAY1, None, 2, "OFF", 7)
    held = next_streak(before, failing=True, at=DAY2, rules=RotConfig(), degraded=True)
    assert (held.first_failed_at, held.consecutive_failures, held.recent) == (DAY1, 2, "OFF")
    assert held.trend == "ongoing"


def test_a_failure_in_a_degraded_run_starts_no_streak() -> None:
    healthy = StreakState(None, DAY1, 0, "OO", 7)
    for previous in (None, healthy):
        held = next_streak(previous, failing=True, at=DAY2, rules=RotConfig(), degraded=True)
        assert (held.first_failed_at, held.consecutive_failures, held.trend) == (None, 0, None)
    assert next_streak(healthy, failing=True, at=DAY2, rules=RotConfig()).trend == "new"


def test_a_healthy_outcome_in_a_degraded_run_still_fixes() -> None:
    before = StreakState(DAY1, None, 2, "FF", 7)
    fixed = next_streak(before, failing=False, at=DAY2, rules=RotConfig(), degraded=True)
    assert (fixed.trend, fixed.consecutive_failures, fixed.recent) == ("fixed", 0, "FFO")


def test_the_degraded_exit_code_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert ExitCode.DEGRADED == 4
    assert "\n  4    degraded" in EXIT_CODES_HELP
    assert "| `4` | degraded" in readme
