"""`linkcheck run` -> `linkcheck fix --apply` -> `linkcheck run` on the simulated web (real
processes, crawler/sim with its AMP cache over TLS and its Wayback API): the second run reports
none of the problems the fix corrected. The archived page keeps its broken webUrl (the record of
what was published); its card now names the copy readers can still read."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from crawler.judge.amp import amp_cache_url
from crawler.sim.amp_cache import AMP_CACHE_NAMES
from crawler.sim.archive import archive_has_snapshot
from crawler.sim.headlines import card_title
from crawler.sim.server import SimWeb
from crawler.sim.tls import TlsSite, make_certificates

SITE_IP, CACHE_IP = "127.0.0.151", "127.0.0.152"  # the cache listens on 443, as the real one
CACHE_HOST = SITE_IP.replace(".", "-") + ".cdn.ampproject.org"
PUBLISHED = "2020-03-04T05:06:07Z"
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is missing")


async def linkcheck(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crawler.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )
    out, err = await proc.communicate()
    return await proc.wait(), out.decode(), err.decode()


def card(folder: Path, name: str, title: str, fields: str) -> None:
    text = f'---\ntitle: "{title}"\npublishedDateTime: {PUBLISHED}\n{fields}---\nThe story.\n'
    (folder / f"{name}.md").write_text(text, encoding="utf-8")


def gone_url(sim: SimWeb) -> str:
    """A 404 page the simulated Wayback API has a copy of."""
    return next(
        url for n in range(100) if archive_has_snapshot(url := sim.url(0, f"/status/404/g{n}"))
    )


def problems(report: dict[str, Any]) -> dict[str, set[tuple[str | None, str]]]:
    return {c["path"]: {(p["field"], p["kind"]) for p in c["problems"]} for c in report["cards"]}


async def test_a_second_run_reports_none_of_the_fixed_problems(tmp_path: Path) -> None:
    files = make_certificates(tmp_path / "certs", AMP_CACHE_NAMES)
    folder = tmp_path / "cards"
    folder.mkdir()
    async with SimWeb(
        [SITE_IP], latency_ms=0, tls=TlsSite(CACHE_IP, 443, files.cert, files.key)
    ) as sim:
        ok = sim.url(0, "/ok/{}").format
        amp = sim.url(0, "/amp/a1")
        retired = sim.url(0, "/amp-retired/r1")
        gone = gone_url(sim)
        card(folder, "moved", card_title("m1"), f"webUrl: {sim.url(0, '/redirect/301/m1')}\n")
        card(
            folder,
            "mismatch",
            card_title("a1"),
            f"webUrl: '{ok('a1')}'\nampWebUrl: '{amp}'\n"
            f"cdnAmpWebUrl: '{amp_cache_url(ok('a1'))}'  # the canonical page's: wrong\n",
        )
        card(
            folder,
            "retired",
            card_title("r1"),
            f'webUrl: "{ok("r1")}"\nampWebUrl: "{retired}"\n'
            f'cdnAmpWebUrl: "{amp_cache_url(retired)}"\nheat: 3\n',
        )
        card(folder, "control", card_title("c1") + "\x01", f'webUrl: "{ok("c1")}\\t"\n')
        card(folder, "gone", card_title("g1"), f"webUrl: {gone}\n")
        before_fix = {p.name: p.read_bytes() for p in folder.iterdir()}
        run = [
            "run", "--cards", str(folder), "--out", str(tmp_path / "out"),
            "--state", str(tmp_path / "state.sqlite"), "--no-progress", "--allow-private",
            "--resolve", f"{CACHE_HOST}:{CACHE_IP}", "--archive-endpoint", sim.base_url(0),
            "--rate-per-host", "200", "--max-age", "0s", "--log-format", "json",
        ]  # fmt: skip
        env = {"SSL_CERT_FILE": str(files.ca)}

        code, _, err = await linkcheck(*run, env=env)
        assert code == 1, err
        first = json.loads((tmp_path / "out" / "report.json").read_text())
        assert problems(first) == {
            "moved.md": {("webUrl", "moved_permanently")},
            "mismatch.md": {("cdnAmpWebUrl", "amp_cache_mismatch")},
            "retired.md": {("ampWebUrl", "amp_retired"), ("ampWebUrl", "moved_permanently")},
            "control.md": {
                ("title", "card_control_character"),
                ("webUrl", "card_control_character"),
            },
            "gone.md": {("webUrl", "not_found")},
        }

        state = ["--state", str(tmp_path / "state.sqlite")]
        code, diff, err = await linkcheck("fix", *state, "--apply", env=env)
        assert code == 0, err
        assert diff.count("\n--- a/") + diff.startswith("--- a/") == 5
        assert "cards changed" in err and "5 cards changed, 0 skipped" in err

        code, _, err = await linkcheck(*run, env=env)
        assert code == 1, err  # the archived page is still broken: it is the record
        second = json.loads((tmp_path / "out" / "report.json").read_text())
        assert problems(second) == {
            "moved.md": set(),
            "mismatch.md": set(),
            "retired.md": set(),
            "control.md": set(),
            "gone.md": {("webUrl", "not_found")},
        }
        fixed = {(c["path"], c["field"], c["kind"]) for c in second["changes"]["fixed"]}
        assert ("moved.md", "webUrl", "moved_permanently") in fixed
        assert ("retired.md", "ampWebUrl", "amp_retired") in fixed
        assert second["changes"]["new"] == []

    after = {p.name: p.read_text() for p in folder.iterdir()}
    assert after["retired.md"] == before_fix["retired.md"].decode().replace(
        f'ampWebUrl: "{retired}"\ncdnAmpWebUrl: "{amp_cache_url(retired)}"\n', ""
    )
    assert (
        f"cdnAmpWebUrl: '{amp_cache_url(amp)}'  # the canonical page's: wrong\n"
        in after["mismatch.md"]
    )
    assert after["control.md"] == before_fix["control.md"].decode().replace("\x01", "").replace(
        "\\t", ""
    )
    copy = next(
        p["archive_url"] for c in first["cards"] for p in c["problems"] if c["path"] == "gone.md"
    )
    assert after["gone.md"] == before_fix["gone.md"].decode().replace(
        f"webUrl: {gone}\n", f"webUrl: {gone}\narchiveUrl: {copy}\n"
    )
