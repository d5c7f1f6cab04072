"""`linkcheck demo`: offline, the whole product on a simulated local web."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_crawls_every_kind_and_prints_the_page(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "crawler.cli", "demo", "--out", str(out), "--log-format", "json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = out / "report.html"
    assert f"open it:     {page.resolve().as_uri()}" in done.stdout
    assert page.is_file() and (out / "report.json").is_file()
    report = json.loads((out / "report.json").read_text())
    kinds = set(report["summary"]["by_kind"])
    expected = {
        "not_found", "gone", "server_error", "timeout", "connection_error", "dns_error",
        "redirect_loop", "too_many_redirects", "not_an_image", "image_corrupt",
        "image_dimension_mismatch", "moved_permanently", "rate_limited",
        "relative_url_unresolved", "card_parse_error", "card_missing_field",
        "card_invalid_field", "invalid_url",
    }  # fmt: skip
    assert expected <= kinds, expected - kinds
    assert report["summary"]["by_status"]["ok"] > 0
