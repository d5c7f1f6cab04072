"""The shipped nightly examples are well-formed and run the real command."""

import configparser
import re
from pathlib import Path

import yaml

from crawler.cli.parser import build_parser

NIGHTLY = Path(__file__).resolve().parents[1] / "nightly"


def _linkcheck_args(command: str) -> list[str]:
    words = command.split()
    return words[words.index(next(w for w in words if w.endswith("bin/linkcheck"))) + 1 :]


def test_cron_line_is_five_fields_and_a_valid_command() -> None:
    lines = [
        line for line in (NIGHTLY / "linkcheck.cron").read_text().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert len(lines) == 1
    fields = lines[0].split(maxsplit=5)
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5])
    command = fields[5].split(">>")[0]
    args = build_parser().parse_args(_linkcheck_args(command))
    assert args.command == "run" and args.log_format == "json"


def test_systemd_units_parse_and_run_the_command() -> None:
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.read(NIGHTLY / "linkcheck.service")
    assert service["Service"]["Type"] == "oneshot"
    assert "143" in service["Service"]["SuccessExitStatus"]
    args = build_parser().parse_args(_linkcheck_args(service["Service"]["ExecStart"]))
    assert args.command == "run"
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read(NIGHTLY / "linkcheck.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"


def test_github_workflow_is_scheduled_keeps_the_store_and_publishes() -> None:
    workflow = yaml.safe_load((NIGHTLY / "github-actions-nightly.yml").read_text())
    assert workflow[True]["schedule"][0]["cron"]  # YAML reads the key `on` as True
    steps = workflow["jobs"]["crawl"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/cache/restore") for u in uses)
    assert any(u.startswith("actions/cache/save") for u in uses)
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    crawl = next(s for s in steps if s.get("name") == "Crawl")
    args = build_parser().parse_args(_linkcheck_args(crawl["run"]))
    assert args.command == "run"
