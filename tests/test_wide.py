"""benchmarks/wide.py: the wide web's preset, its table against lychee and the profile digest."""

from __future__ import annotations

from benchmarks.wide import PRESET, top_frames, wide_table


def test_the_preset_is_the_issues_wide_web() -> None:
    options = dict(zip(PRESET[::2], PRESET[1::2], strict=True))
    assert options["--cards"] == "3000" and options["--hosts"] == "224"
    assert options["--rate"] == "1000" and options["--latency-ms"] == "20"
    assert options["--tools"] == "linkcheck,lychee"


def test_the_table_gives_cpu_per_1000_urls_and_the_ratio_to_lychee() -> None:
    def tool(wall: float, cpu: float, per_1000: float) -> dict[str, object]:
        median = {"wall_s": wall, "cpu_s": cpu, "cpu_s_per_1000_urls": per_1000}
        worst = {"cards": 2700, "correct": 2699}
        return {"runs": 3, "median": {**median, "accuracy_share": 1.0}, "worst_accuracy": worst}

    text = wide_table({"linkcheck": tool(20.0, 12.0, 1.5), "lychee": tool(25.0, 3.0, 0.375)})
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[2:]}
    assert "| 1.500 " in rows["linkcheck"] and "| 4.00 " in rows["linkcheck"]
    assert "| 1.00 " in rows["lychee"]
    assert "| 99.96 % " in rows["linkcheck"]  # the worst run's, not the median's
    assert "| -" in wide_table({"linkcheck": tool(20.0, 12.0, 1.5)})  # no lychee: no ratio


def test_the_profile_digest_leaves_waits_out_and_counts_callees() -> None:
    stacks = [
        'process 1:"linkcheck";main (app.py:1);check (fetch.py:2);send (aiohttp.py:3) 30',
        'process 1:"linkcheck";main (app.py:1);check (fetch.py:2) 10',
        'process 1:"linkcheck";main (app.py:1);select (selectors.py:415) 500',
        'process 1:"linkcheck";_worker (concurrent/futures/thread.py:81) 200',
        "garbage",
    ]
    own, inclusive = top_frames(stacks)
    assert own == [" 75.0% send (aiohttp.py:3)", " 25.0% check (fetch.py:2)"]
    assert sorted(inclusive) == [
        " 75.0% send (aiohttp.py:3)",
        "100.0% check (fetch.py:2)",
        "100.0% main (app.py:1)",
    ]
