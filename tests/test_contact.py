"""linkcheck names itself and says who runs it: the User-Agent carries fetch.contact_url, a run
without one warns, and a contact that is no URL is an operator error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.cli import main
from crawler.config import Config, FetchConfig


def _cards(tmp: Path) -> Path:
    # a loopback URL without --allow-private: blocked_address, so no request leaves
    folder = tmp / "cards"
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\ntitle: A\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: http://127.0.0.1:9/a\n---\n"
    )
    return folder


def _run(tmp: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    args = ["run", "--cards", str(_cards(tmp)), "--out", str(tmp / "out")]
    args += ["--state", str(tmp / "s.sqlite"), "--log-format", "json", "--no-progress"]
    code = main([*args, "--fail-on", "never", "--no-archive", *extra])
    events = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines() if line]
    return code, events


def test_a_run_without_a_contact_warns_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, events = _run(tmp_path, capsys)
    assert code == 0
    assert events.count("contact_url_unset") == 1


def test_a_run_with_a_contact_does_not_warn_and_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, events = _run(tmp_path, capsys, "--contact-url", "https://ops.example.org/linkcheck")
    assert code == 0 and "contact_url_unset" not in events
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["run"]["config"]["fetch"]["contact_url"] == "https://ops.example.org/linkcheck"


@pytest.mark.parametrize("contact", ["ops team", "ftp://x.example/", "javascript:alert(1)"])
def test_a_contact_that_is_no_url_is_an_operator_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], contact: str
) -> None:
    code = main(["run", "--cards", str(_cards(tmp_path)), "--contact-url", contact])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "fetch.contact_url must be an http(s) or mailto: URL" in err[0]


def test_the_user_agent_names_linkcheck_its_version_and_the_contact() -> None:
    assert FetchConfig(contact_url="mailto:ops@example.org").user_agent == (
        "linkcheck/0.1.0 (+mailto:ops@example.org)"
    )
    # unset, it says how to set one
    assert "set fetch.contact_url" in Config().fetch.user_agent
    assert Config().fetch.user_agent.startswith("linkcheck/")
