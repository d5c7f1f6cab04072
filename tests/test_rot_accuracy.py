"""benchmarks/rot_accuracy.py: its pure parts (report reading, scores, probe counting, archive
coverage, the command line it builds), and one small real run when linkcheck supports it."""

from __future__ import annotations

import json
import random
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import rot_accuracy as ra
from crawler.judge.soft404 import probe_url
from crawler.sim.truth import CardTruth, GroundTruth
from crawler.sim.wire import RequestRecord

ROOT = Path(__file__).resolve().parents[1]


def truth_card(behaviour: str, status: str | None, kind: str | None) -> CardTruth:
    return CardTruth(status, behaviour, kind, status is None, None, None, "127.0.0.20")


def report_card(path: str, status: str, *problems: dict[str, Any]) -> dict[str, Any]:
    return {"path": path, "status": status, "problems": list(problems)}


def problem(kind: str, severity: str, field: str = "webUrl", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "severity": severity, "field": field, "url": f"http://h/{kind}", **extra}


TRUTH = {
    "a.md": truth_card("soft404", "rotted", "soft_404"),
    "b.md": truth_card("soft404title", "rotted", "soft_404"),
    "c.md": truth_card("gonehome", "rotted", "redirect_to_home"),
    "d.md": truth_card("healthy", "ok", None),
    "e.md": truth_card("spa", "ok", None),
    "f.md": truth_card("moved_deep", "warning", "moved_permanently"),
    "g.md": truth_card("drift", "rotted", "content_drift"),
    "h.md": truth_card("healthy", "ok", None),
}
REPORT: dict[str, Any] = {
    "run": {"urls_checked": 400, "requests_made": 420},
    "cards": [
        report_card("a.md", "rotted", problem("soft_404", "rotted", archive_url="http://w/1")),
        report_card("b.md", "ok"),  # missed
        report_card(
            "c.md",
            "rotted",
            problem("moved_permanently", "warning"),
            problem("redirect_to_home", "rotted", archive_url="http://w/2"),
        ),
        report_card("d.md", "ok"),
        report_card("e.md", "rotted", problem("soft_404", "rotted")),  # a false positive
        report_card("f.md", "warning", problem("moved_permanently", "warning")),
        report_card("g.md", "rotted", problem("content_drift", "rotted")),
        # h.md is missing from the report: it detects nothing
    ],
}


def test_card_kinds_and_statuses() -> None:
    kinds = ra.card_kinds(REPORT)
    assert kinds["c.md"] == {"moved_permanently", "redirect_to_home"}
    assert kinds["b.md"] == set() and "h.md" not in kinds
    assert ra.card_statuses(REPORT)["e.md"] == "rotted"
    assert ra.card_kinds({}) == {}


def test_kind_scores() -> None:
    scores = ra.kind_scores(TRUTH, ra.card_kinds(REPORT))
    soft = scores["soft_404"]
    assert (soft.tp, soft.fp, soft.fn) == (1, 1, 1)  # a found, e flagged wrongly, b missed
    assert soft.precision == 0.5 and soft.recall == 0.5
    home = scores["redirect_to_home"]
    assert (home.precision, home.recall) == (1.0, 1.0)
    assert scores["content_drift"].recall == 1.0
    amp = scores["amp_retired"]  # no case and no flag: undefined, not 0 or 1
    assert (amp.precision, amp.recall) == (None, None)
    assert amp.to_json() == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None}
    only = ra.kind_scores(TRUTH, {}, scored=["soft_404"])
    assert list(only) == ["soft_404"] and only["soft_404"].fn == 2
    assert only["soft_404"].precision is None and only["soft_404"].recall == 0.0


def test_false_positives_count_rot_kinds_on_healthy_pages_only() -> None:
    fps = ra.false_positives(TRUTH, ra.card_kinds(REPORT))
    # healthy d, h; spa e (flagged); moved_deep f (its moved_permanently is expected, not rot)
    assert (fps.pages, fps.flagged) == (4, 1)
    assert fps.rate == 0.25
    assert fps.by_behaviour == {"healthy": [0, 2], "spa": [1, 1], "moved_deep": [0, 1]}
    assert fps.kinds == {"soft_404": 1} and fps.examples == {"soft_404": "e.md"}
    assert ra.false_positives({}, {}).rate is None


def test_probe_paths_match_probe_url() -> None:
    rng = random.Random(5)
    for url in (
        "http://127.0.0.20:8800/soft404/s1c000001",
        "http://127.0.0.20:8800/news/gonesection/s1c000002?utm_source=x",
        "http://127.0.0.20:8800/articles/2020/story.html",
        "http://127.0.0.20:8800/section/",
    ):
        probe = probe_url(url, rng)
        path = probe.split(":8800", 1)[1]
        assert ra.is_probe_path(path), probe
    for path in (
        "/ok/s1c000001",
        "/soft404/abcdefghijklmnopqrstuvwx",  # 24 letters
        "/soft404/abcdefghijklmnopqrstuvwxyz",  # 26
        "/soft404/ABCDEFGHIJKLMNOPQRSTUVWXY",
        "/img/600x350.jpg?id=abcdefghijklmnopqrstuvwxy",
        "/",
        "",
    ):
        assert not ra.is_probe_path(path), path
    assert ra.is_probe_path("/spa/" + string.ascii_lowercase[:25] + "?q=1")
    records = [
        RequestRecord(0.0, "127.0.0.20", "GET", path, 200, 10)
        for path in ("/soft404/" + "a" * 25, "/ok/s1", "/drift/" + "b" * 25, "/soft404/" + "a" * 25)
    ]
    assert ra.probe_requests(records) == 3
    assert ra.per_thousand(3, 400) == 7.5 and ra.per_thousand(1, 0) is None


def test_archive_coverage() -> None:
    report = {
        "cards": [
            report_card(
                "a.md",
                "rotted",
                problem("soft_404", "rotted", archive_url="http://w/1"),
                problem("moved_permanently", "warning", archive_url="http://w/x"),  # not failing
                problem("not_found", "broken", field="images[0].url"),  # not a page
                problem("not_found", "broken", field="ampWebUrl"),
            ),
            report_card("b.md", "rotted", problem("content_drift", "rotted")),
        ]
    }
    coverage = ra.archive_coverage(report, has_snapshot=lambda url: "drift" not in url)
    assert (coverage.problems, coverage.with_archive, coverage.available) == (3, 1, 2)
    assert coverage.by_kind == {
        "soft_404": [1, 1, 1],
        "not_found": [0, 1, 1],
        "content_drift": [0, 0, 1],
    }


def test_behaviour_rows() -> None:
    rows = ra.behaviour_rows(TRUTH, ra.card_kinds(REPORT), ra.card_statuses(REPORT))
    assert list(rows)[:3] == ["healthy", "soft404", "soft404title"]  # BEHAVIOURS order
    assert rows["healthy"].cards == 2 and rows["healthy"].status_right == 1  # h is missing
    assert rows["healthy"].kind_found == 2  # no problem at all: right for an ok behaviour
    gone = rows["gonehome"]
    assert (gone.status_right, gone.kind_found) == (1, 1)
    assert gone.other_kinds == {"moved_permanently": 1}
    assert rows["spa"].kind_found == 0 and rows["spa"].other_kinds == {"soft_404": 1}


def test_evaluate_and_targets() -> None:
    truth = GroundTruth(run_settings={}, cards={**TRUTH, "old.md": truth_card("old", None, None)})
    records = [RequestRecord(0.0, "h", "GET", "/soft404/" + "q" * 25, 200, 1)] * 2
    summary = ra.evaluate(truth, REPORT, records)
    assert summary["cards"] == 8 and summary["cards_in_report"] == 7  # the old card left out
    assert summary["probes"] == {
        "requests": 2,
        "urls_checked": 400,
        "per_1000_urls": 5.0,
        "linkcheck_counter": None,
    }
    assert summary["kinds"]["soft_404"]["recall"] == 0.5
    assert summary["archive"]["with_archive"] == 2
    assert json.loads(json.dumps(summary)) == summary  # JSON-able
    missed = ra.missed_targets(summary)
    assert len(missed) == 2 and missed[0].startswith("soft_404 recall 0.500")
    assert "false-positive rate 25.00 %" in missed[1]
    text = ra.format_summary(summary)
    assert "soft_404" in text and "MISSED" in text and "5.00 per 1,000 URLs" in text

    perfect = json.loads(json.dumps(summary))
    perfect["kinds"]["soft_404"]["recall"] = 0.98
    perfect["false_positives"]["rate"] = 0.005
    assert ra.missed_targets(perfect) == []
    assert "targets: all met" in ra.format_summary(perfect)


def test_command_line_pieces(tmp_path: Path) -> None:
    pins = ra.resolve_pins(
        ["b.cdn.ampproject.org", "a.cdn.ampproject.org", "a.cdn.ampproject.org"], "127.0.0.30"
    )
    assert pins == [
        "--resolve", "a.cdn.ampproject.org:127.0.0.30",
        "--resolve", "b.cdn.ampproject.org:127.0.0.30",
    ]  # fmt: skip
    command = ra.linkcheck_command(
        tmp_path, "http://127.0.0.30:9000", pins, rate=50, concurrency=8, timeout=2, retries=1
    )
    assert command[1:4] == ["-m", "crawler.cli", "run"]
    joined = " ".join(command)
    assert "--allow-private" in command and "--fail-on never" in joined
    assert "--archive-endpoint http://127.0.0.30:9000" in joined
    assert f"--cards {tmp_path / 'cards'}" in joined and command[-4:] == pins
    assert "--rate-per-host 50 " in joined and "--timeout 2 " in joined


def test_clean_removes_only_its_own_files(tmp_path: Path) -> None:
    for name in ("cards/x.md", "out/report.json", "certs/ca.pem", "keep/me.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    for name in ("state.sqlite", "requests.jsonl", "notes.txt"):
        (tmp_path / name).write_text("x")
    ra._clean(tmp_path)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ["keep", "keep/me.txt", "notes.txt"]


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        ra.main(["--cards", "0"])
    assert exc.value.code == 2
    work = tmp_path / "never-made"
    assert ra.main(["--hosts", "100", "--first", "200", "--work", str(work)]) == 2
    assert not work.exists()


def test_linkcheck_offers_every_flag_the_benchmark_passes(tmp_path: Path) -> None:
    """The benchmark's command line is accepted by `linkcheck run` (a CLI that no longer has a
    flag, or crashes on import, fails here rather than skipping anything)."""
    done = subprocess.run(
        [sys.executable, "-m", "crawler.cli", "run", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    command = ra.linkcheck_command(
        tmp_path, "http://127.0.0.30:9000", [], rate=50, concurrency=8, timeout=2, retries=1
    )
    flags = {arg for arg in command[4:] if arg.startswith("--")}
    assert "--archive-endpoint" in flags
    missing = sorted(flag for flag in flags if flag not in done.stdout)
    assert missing == [], f"linkcheck run --help lacks {missing}"


@pytest.mark.slow
def test_a_small_real_run(tmp_path: Path) -> None:
    """The whole benchmark on 150 cards: linkcheck, the simulated web, the fake archive and the
    AMP cache over TLS. The figures are linkcheck's business; this checks the plumbing."""
    work = tmp_path / "work"
    command = [sys.executable, "-m", "benchmarks.rot_accuracy", "--cards", "150", "--hosts", "3"]
    command += ["--first", "175", "--latency-ms", "0", "--rate", "200", "--work", str(work)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    summary = json.loads((work / "summary.json").read_text())
    assert summary["cards"] == 150 == summary["cards_in_report"]
    assert set(summary["kinds"]) == set(ra.ROT_KINDS)
    assert summary["false_positives"]["pages"] > 0
    assert summary["behaviours"]["amp_cache_ok"]["cards"] > 0  # fetched over TLS, pinned
    assert "precision" in done.stdout and "per 1,000 URLs" in done.stdout
