"""The pure parts of benchmarks.compare: output parsing, status mapping, accuracy, medians.

The fixtures are cut from real runs (lychee 0.24.2 `--format json -v`, LinkChecker 10.6.0
`-v -F csv`, linkcheck's report.json) against crawler.sim.simweb; no peer binary runs here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.compare import (
    MISSING,
    Corpus,
    accuracy,
    card_urls,
    extra_requests,
    host_timings,
    linkcheck_card_statuses,
    linkchecker_config,
    linkchecker_url_statuses,
    links_html,
    lychee_interval,
    lychee_url_statuses,
    median,
    medians,
    peer_card_statuses,
    summarise,
    worst,
)
from crawler.sim.gencards import generate
from crawler.sim.truth import CardTruth, GroundTruth
from crawler.sim.wire import RequestRecord

H = "http://127.0.0.10:8811"

LYCHEE_JSON = json.dumps(
    {
        "total": 6,
        "unique": 6,
        "successful": 3,
        "errors": 3,
        "timeouts": 1,
        "success_map": {
            "urls.txt": [
                {
                    "url": f"{H}/img/1200x630.jpg?id=s1c000098",
                    "status": {"text": "200 OK", "code": 200},
                    "span": {"line": 3, "column": 1},
                    "duration": {"secs": 0, "nanos": 101205092},
                },
                {
                    "url": f"{H}/chain/3/s1c000008",
                    "status": {"text": "200 OK", "code": 200},
                    "redirects": {
                        "origin": f"{H}/chain/3/s1c000008",
                        "redirects": [
                            {"url": f"{H}/chain/2/s1c000008", "code": 302},
                            {"url": f"{H}/chain/1/s1c000008", "code": 302},
                            {"url": f"{H}/chain/0/s1c000008", "code": 302},
                        ],
                    },
                },
                {
                    "url": f"{H}/redirect/301/s1c000152",
                    "status": {"text": "200 OK", "code": 200},
                    "redirects": {
                        "origin": f"{H}/redirect/301/s1c000152",
                        "redirects": [{"url": f"{H}/ok/s1c000152-moved", "code": 301}],
                    },
                },
            ]
        },
        "error_map": {
            "urls.txt": [
                {
                    "url": f"{H}/ratelimit-forever/s1c000075",
                    "status": {"text": "Rejected status code: 429 Too Many Requests", "code": 429},
                },
                {
                    "url": f"{H}/status/410/s1c000137",
                    "status": {"text": "Rejected status code: 410 Gone", "code": 410},
                },
                {
                    "url": f"{H}/reset/s1c000043",
                    "status": {
                        "text": "Network error: Connection failed. Check network connectivity",
                        "details": "Connection failed. Check network connectivity",
                    },
                },
            ]
        },
        "timeout_map": {
            "urls.txt": [{"url": f"{H}/slow/5/s1c000070", "status": {"text": "Timeout"}}]
        },
        "redirect_map": {},
        "excluded_map": {},
    }
)

LINKCHECKER_CSV = f"""\
# created by LinkChecker at 2026-11-26 07:13:53+000
# Read the documentation at https://linkchecker.github.io/linkchecker/
urlname;parentname;base;result;warningstring;infostring;valid;url;line;column;name;dltime;size;checktime;cached;level;modified
file:///tmp/lc/links.html;;;;;;True;file:///tmp/lc/links.html;links.html;-1;288;0.0014;0;0;
{H}/loop/s1c000021;file:///tmp/lc/links.html;;TooManyRedirects: Exceeded 10 redirects.;"Redirected to `{H}/loop/s1c000021/b' status: 302 Found.
Redirected to `{H}/loop/s1c000021' status: 302 Found.";;False;{H}/loop/s1c000021;50;1;47;-1;27;1.45;0;1;
{H}/slow/5/s1c000037;file:///tmp/lc/links.html;;ReadTimeout: HTTPConnectionPool(host='127.0.0.10', port=8811): Read timed out. (read timeout=2);;;False;{H}/slow/5/s1c000037;61;1;58;-1;-1;3.13;0;1;
{H}/logo/loopback-post.png;file:///tmp/lc/links.html;;200 OK;;;True;{H}/logo/loopback-post.png;101;1;98;-1;135;2.03;0;1;
{H}/ratelimit-forever/s1c000055;file:///tmp/lc/links.html;;429 Too Many Requests;Rate limited (Retry-After: 1);;True;{H}/ratelimit-forever/s1c000055;166;1;163;-1;475;1.28;0;1;
{H}/reset/s1c000027;file:///tmp/lc/links.html;;ConnectionError: ('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'));;;False;{H}/reset/s1c000027;167;1;164;-1;-1;1.57;0;1;
{H}/redirect/301/s1c000056;file:///tmp/lc/links.html;;200 OK;Redirected to `{H}/ok/s1c000056-moved' status: 301 Moved Permanently.;;True;{H}/ok/s1c000056-moved;224;1;221;-1;499;1.78;0;1;
{H}/chain/3/s1c000009;file:///tmp/lc/links.html;;200 OK;Redirected to `{H}/chain/2/s1c000009' status: 302 Found.;;True;{H}/chain/0/s1c000009;225;1;222;-1;499;1.78;0;1;
# Stopped checking at 2026-11-26 07:15:10+000 (77 seconds)
"""  # noqa: E501

REPORT_JSON = {
    "schema_version": 1,
    "cards": [
        {"path": "site-00/_news/a.md", "status": "ok", "problems": []},
        {
            "path": "site-01/_news/b.md",
            "status": "broken",
            "problems": [{"field": "webUrl", "kind": "not_found", "severity": "broken"}],
        },
    ],
    "urls": [],
}


def test_lychee_output_maps_to_card_vocabulary() -> None:
    statuses = lychee_url_statuses(json.loads(LYCHEE_JSON))
    assert statuses == {
        f"{H}/img/1200x630.jpg?id=s1c000098": "ok",
        f"{H}/chain/3/s1c000008": "ok",  # 302s only
        f"{H}/redirect/301/s1c000152": "warning",  # a permanent redirect on the way
        f"{H}/ratelimit-forever/s1c000075": "warning",
        f"{H}/status/410/s1c000137": "broken",
        f"{H}/reset/s1c000043": "broken",
        f"{H}/slow/5/s1c000070": "broken",
    }


def test_lychee_output_without_details_is_empty() -> None:
    assert lychee_url_statuses({"total": 0, "error_map": {}, "success_map": None}) == {}


def test_linkchecker_csv_maps_to_card_vocabulary() -> None:
    statuses = linkchecker_url_statuses(LINKCHECKER_CSV)
    assert statuses == {
        f"{H}/loop/s1c000021": "broken",  # the multi-line quoted warning field parses
        f"{H}/slow/5/s1c000037": "broken",
        f"{H}/logo/loopback-post.png": "ok",
        f"{H}/ratelimit-forever/s1c000055": "warning",
        f"{H}/reset/s1c000027": "broken",
        f"{H}/redirect/301/s1c000056": "warning",
        f"{H}/chain/3/s1c000009": "ok",
    }  # and the file:// start page is dropped


def test_linkcheck_report_statuses() -> None:
    assert linkcheck_card_statuses(REPORT_JSON) == {
        "site-00/_news/a.md": "ok",
        "site-01/_news/b.md": "broken",
    }


def test_worst_and_peer_card_statuses() -> None:
    assert worst([]) == "ok"
    assert worst(["ok", "warning", "ok"]) == "warning"
    assert worst(["broken", "warning"]) == "broken"
    assert worst(["broken", MISSING]) == MISSING
    urls = {"a.md": ["u1", "u2"], "b.md": ["u2", "u3"], "c.md": ["u4"]}
    got = peer_card_statuses(urls, {"u1": "ok", "u2": "warning", "u3": "broken"})
    assert got == {"a.md": "warning", "b.md": "broken", "c.md": MISSING}


def _truth(cards: dict[str, tuple[str, str | None]]) -> GroundTruth:
    """path -> (behaviour, expected status); status None marks a filtered card."""
    return GroundTruth(
        run_settings={},
        cards={
            path: CardTruth(status, behaviour, None, status is None, None, None, "127.0.0.10")
            for path, (behaviour, status) in cards.items()
        },
    )


def test_accuracy_counts_misses_by_behaviour() -> None:
    truth = _truth(
        {
            "a.md": ("healthy", "ok"),
            "b.md": ("image_wrong_size", "rotted"),
            "c.md": ("image_wrong_size", "rotted"),
            "d.md": ("http_404", "broken"),
            "e.md": ("old", None),
        }
    )
    got = {"a.md": "ok", "b.md": "ok", "c.md": "rotted", "e.md": "ok"}  # d.md is missing
    acc = accuracy(truth, got)
    assert (acc.cards, acc.correct) == (4, 2)
    assert acc.share == 0.5
    assert acc.by_behaviour == {"healthy": [1, 1], "image_wrong_size": [1, 2], "http_404": [0, 1]}
    assert set(acc.misses) == {"image_wrong_size", "http_404"}
    miss = acc.misses["image_wrong_size"]
    assert (miss.count, miss.example, miss.got, miss.expected) == (1, "b.md", "ok", "rotted")
    assert acc.misses["http_404"].got == MISSING
    assert acc.filtered_reported == 1  # e.md is old but the tool reported it
    assert acc.to_json()["share"] == 0.5


def test_accuracy_of_an_empty_corpus_is_full() -> None:
    assert accuracy(_truth({}), {}).share == 1.0


def test_median_and_medians() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert math.isnan(median([]))
    runs = [
        {"wall_s": 10.0, "requests": 100, "tool": "x", "failed": False},
        {"wall_s": 30.0, "requests": 102, "tool": "x", "failed": True},
        {"wall_s": 20.0, "requests": 101, "tool": "x", "failed": False},
    ]
    assert medians(runs) == {"wall_s": 20.0, "requests": 101.0}  # strings and bools skipped
    assert medians([]) == {}


def test_peer_settings() -> None:
    assert lychee_interval(20) == "50ms"
    assert lychee_interval(3) == "334ms"  # rounded up: never faster than the rate
    config = linkchecker_config(rate=20, threads=4, timeout=2)
    assert "threads=4\n" in config
    assert "maxrequestspersecond=20\n" in config
    assert "timeout=2\n" in config
    assert "recursionlevel=1\n" in config  # the page is level 0; its links are level 1
    page = links_html(["http://127.0.0.10:1/img/1x1.jpg?id=a&b=c"])
    assert 'href="http://127.0.0.10:1/img/1x1.jpg?id=a&amp;b=c"' in page


def test_card_urls_match_the_generators_ground_truth(tmp_path: Path) -> None:
    truth = generate(tmp_path, 60, hosts=["127.0.0.10", "127.0.0.11"], port=8811, seed=3)
    urls: set[str] = set()
    for path, card in truth.cards.items():
        found = card_urls((tmp_path / path).read_text(encoding="utf-8"))
        assert len(found) == 5  # webUrl (= originalUrl), ampWebUrl, cdnAmpWebUrl, logo, image
        if card.url is not None:
            assert card.url in found
        if not card.filtered:
            urls.update(found)
    assert len(urls) == sum(truth.unique_urls_by_host.values())


def test_t_star_on_required_requests_adds_hops_and_retries(tmp_path: Path) -> None:
    """The second lower bound: the requests the settings force (redirect hops, retries) on top
    of the unique URLs; never below T*, and equal to it for a corpus of healthy cards."""
    hosts = ["127.0.0.10", "127.0.0.11"]
    truth = generate(tmp_path / "mixed", 300, hosts=hosts, port=8811, seed=3)
    corpus = Corpus("mixed", tmp_path / "mixed", truth, {}, [])
    required = corpus.required_requests_by_host(retries=2, robots_txt=False)
    extra = sum(
        extra_requests(c.behaviour, 2) for c in truth.cards.values() if not c.filtered and c.url
    )
    assert extra > 0
    assert sum(required.values()) == sum(truth.unique_urls_by_host.values()) + extra
    assert corpus.t_star_required(20, 2, robots_txt=False) > corpus.t_star(20)
    # a tool that reads robots.txt needs one more request per host
    with_robots = corpus.required_requests_by_host(retries=2, robots_txt=True)
    assert with_robots == {host: n + 1 for host, n in required.items()}
    assert extra_requests("slow", 5) == 5 and extra_requests("chain", 0) == 3
    assert extra_requests("healthy", 2) == 0 and extra_requests("http_404", 2) == 0
    healthy = generate(tmp_path / "healthy", 50, hosts=hosts, port=8811, seed=3,
                       mix={"healthy": 1.0})  # fmt: skip
    calm = Corpus("healthy", tmp_path / "healthy", healthy, {}, [])
    assert calm.t_star_required(20, 2, robots_txt=False) == calm.t_star(20)


def _rec(t: float, path: str, status: int = 200, host: str = "127.0.0.10") -> RequestRecord:
    return RequestRecord(t=t, host=host, method="GET", path=path, status=status, bytes=0,
                         inflight=1, duration=0.02)  # fmt: skip


def test_host_timings_attribute_pauses_to_429() -> None:
    records = [
        _rec(100.0, "/ok/a"),
        _rec(100.05, "/ratelimit-forever/x", 429),
        _rec(100.08, "/ok/b"),  # was already on its way
        _rec(101.10, "/ratelimit-forever/x", 429),  # the host was held ~1 s
        _rec(102.14, "/ok/c"),
        _rec(104.0, "/ok/d"),  # a 1.86 s stall with no 429 before it
        _rec(100.5, "/ok/e", host="127.0.0.11"),
    ]
    timings = host_timings(records, rate=20)
    one = timings["127.0.0.10"]
    assert one.requests == 6
    assert one.repeats == 1
    assert one.responses_429 == 2
    assert one.last_arrival_s == pytest.approx(4.0)
    assert one.budget_s == pytest.approx(6 / 20)
    assert one.pause_after_429_s == pytest.approx((101.10 - 100.07) + (102.14 - 101.12))
    assert one.stalls == 1
    assert one.stall_s == pytest.approx(1.86)
    assert timings["127.0.0.11"].first_arrival_s == pytest.approx(0.5)


def test_summary_leaves_failed_runs_out() -> None:
    def run(wall: float, share: float, failed: bool) -> dict[str, object]:
        acc = {"cards": 1, "correct": int(share), "share": share, "by_behaviour": {}, "misses": {}}
        return {"wall_s": wall, "max_in_window": 20, "accuracy_share": share, "accuracy": acc,
                "failed": failed}  # fmt: skip

    summary = summarise([run(80.0, 1.0, False), run(81.0, 0.0, True), run(84.0, 1.0, False)])
    assert summary["median"]["wall_s"] == 82.0
    assert summary["worst_accuracy"]["share"] == 1.0
    assert summary["failed_runs"] == 1
    assert summary["all_walls_s"] == [80.0, 81.0, 84.0]
    everything_failed = summarise([run(1.0, 0.0, True)])
    assert everything_failed["worst_accuracy"]["share"] == 0.0
