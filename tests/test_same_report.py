"""benchmarks/same_report.py: two reports of one corpus, the same apart from what runs vary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.same_report import main


def _report(port: int, kind: str, checked_at: str) -> dict[str, Any]:
    url = f"http://127.0.0.211:{port}/soft404/abcdefghijklmnopqrstuvwxy"
    return {
        "run": {"started_at": checked_at, "cards_root": f"/tmp/linkcheck-demo-{port}/cards"},
        "urls": [
            {
                "url": url,
                "checked_at": checked_at,
                "elapsed_ms": port / 100,
                "findings": [{"kind": kind, "detail": f"same answer as a random URL ({url})"}],
            }
        ],
    }


def _write(path: Path, report: dict[str, Any]) -> str:
    path.write_text(json.dumps(report), encoding="utf-8")
    return str(path)


def test_reports_differing_only_in_ports_times_folders_and_probes_are_the_same(
    tmp_path: Path,
) -> None:
    first = _write(tmp_path / "a.json", _report(41031, "soft_404", "2026-01-01T00:00:00Z"))
    second_report = _report(39317, "soft_404", "2026-01-02T00:00:00Z")
    second_report["urls"][0]["findings"][0]["detail"] = (
        "same answer as a random URL (http://127.0.0.211:39317/soft404/zyxwvutsrqponmlkjihgfedcb)"
    )
    second = _write(tmp_path / "b.json", second_report)
    assert main([first, second]) == 0


def test_a_changed_kind_is_a_difference_named_by_its_path(tmp_path: Path, capsys: Any) -> None:
    first = _write(tmp_path / "a.json", _report(41031, "soft_404", "2026-01-01T00:00:00Z"))
    second = _write(tmp_path / "b.json", _report(41031, "not_found", "2026-01-01T00:00:00Z"))
    assert main([first, second]) == 1
    assert "/urls[0]/findings[0]/kind: 'soft_404' != 'not_found'" in capsys.readouterr().out
