"""Operator errors through the real CLI: a store, cards folder, config or --out that cannot be
used is one line on stderr (`linkcheck: error: <path>: <reason>`), exit 2, no traceback, and no
request; a corrupt store is never touched; a failed report write keeps the previous report and
the run's results; a bug is exit 3, logged, and leaves the run resumable.

In-process runs call `crawler.cli.main`; a few go through `python -m crawler.cli` and the
`linkcheck` entry point to show that nothing else reaches stderr. Real full and read-only disks
are tmpfs mounts in a private mount namespace (`unshare -m`, root only)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import main
from crawler.cli.exits import EXIT_CODES_HELP, ExitCode
from crawler.phases.feed import CardFeed
from crawler.report import atomic
from crawler.store import opening, schema
from crawler.store.database import Store
from crawler.store.lock import RunLock
from crawler.store.records import RunRow

ROOT = Path(__file__).resolve().parents[1]
AS_ROOT = os.geteuid() == 0


def _modes_stop_us() -> bool:
    """Whether file modes apply to this process: they do not to root (CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_text("x")
        probe.chmod(0)
        try:
            probe.read_text()
        except PermissionError:
            return True
        return False


needs_file_modes = pytest.mark.skipif(
    not _modes_stop_us(), reason="file modes do not stop this process (root reads anything)"
)
CARDS = 6


# -- a local web that counts what reaches it ------------------------------------------------


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        body = f"<title>{self.path.strip('/')}</title>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@dataclass
class Site:
    tmp: Path
    hits: list[str]
    port: int

    @property
    def cards(self) -> Path:
        return self.tmp / "cards"

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    @property
    def state(self) -> Path:
        return self.tmp / "state.sqlite"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    @property
    def pages(self) -> list[str]:
        """The cards' URLs requested: `hits` less each run's robots.txt."""
        return [h for h in self.hits if h != "/robots.txt"]

    def run_args(
        self, *extra: str, state: Path | None = None, out: Path | None = None
    ) -> list[str]:
        """`linkcheck run` on these cards; later flags in `extra` win."""
        return [
            "run", "--cards", str(self.cards), "--out", str(out or self.out),
            "--state", str(state or self.state), "--no-progress", "--log-format", "json",
            "--allow-private", "--no-archive", "--retries", "0", "--rate-per-host", "100",
            "--concurrency-per-host", "4", "--fail-on", "never", *extra,
        ]  # fmt: skip


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.chdir(tmp_path)  # no ./config.yaml from the checkout
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    web = Site(tmp_path, server.hits, server.server_address[1])  # type: ignore[attr-defined]
    for n in range(CARDS):
        write_card(web.cards, f"c{n}", web.url(f"c{n}"))
    try:
        yield web
    finally:
        server.shutdown()
        server.server_close()


def write_card(folder: Path, name: str, url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f"---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: {url}\n---\n"
    )


def cli_run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


def assert_one_line(err: str, start: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(start), err
    assert "Traceback" not in err


def store_commands(site: Site, state: Path) -> dict[str, list[str]]:
    return {
        "run": site.run_args(state=state),
        "report": ["report", "--state", str(state), "--out", str(site.out)],
        "history": ["history", site.url("c0"), "--state", str(state)],
    }


def make_store(site: Site, capsys: pytest.CaptureFixture[str]) -> int:
    """A real store with one finished run; how many requests that took."""
    code, err = cli_run(capsys, site.run_args())
    assert code == 0, err
    return len(site.hits)


# -- the store ----------------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 20)


def _newer(path: Path) -> None:
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION + 1}")
    db.close()


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    db.close()


@pytest.mark.parametrize("command", ["run", "report", "history"])
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_garbage, "not an SQLite database"),
        (_newer, "written by a newer linkcheck"),
        (_foreign, "not a linkcheck store (photos)"),
    ],
    ids=["garbage", "newer_schema", "foreign_sqlite"],
)
def test_unusable_store_file_is_one_line_exit_2_untouched_and_nothing_fetched(
    site: Site, capsys: pytest.CaptureFixture[str], command: str, make: Any, reason: str
) -> None:
    state = site.tmp / "bad.sqlite"
    make(state)
    before = state.read_bytes()
    code, err = cli_run(capsys, store_commands(site, state)[command])
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {state}: ")
    assert reason in err
    assert state.read_bytes() == before  # never replaced, moved or modified
    assert not state.with_name("bad.sqlite-wal").exists()
    assert site.hits == []


@pytest.mark.parametrize("command", ["run", "report", "history"])
def test_damaged_store_is_refused_untouched_before_any_request(
    site: Site, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    made = make_store(site, capsys)
    data = bytearray(site.state.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # every page but the first (the header)
    site.state.write_bytes(bytes(data))
    code, err = cli_run(capsys, store_commands(site, site.state)[command])
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {site.state}: the database is damaged")
    assert "--resume" not in err  # resuming would not help
    assert site.state.read_bytes() == bytes(data) and len(site.hits) == made


@pytest.mark.parametrize("command", ["run", "report", "history"])
def test_store_that_is_a_directory_is_refused(
    site: Site, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    state = site.tmp / "dir.sqlite"
    state.mkdir()
    code, err = cli_run(capsys, store_commands(site, state)[command])
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {state}: is a directory")
    assert list(state.iterdir()) == [] and site.hits == []
    assert not state.with_name("dir.sqlite.lock").exists()


@pytest.mark.parametrize("command", ["run", "report", "history"])
def test_store_below_a_file_is_refused(
    site: Site, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    (site.tmp / "somefile").write_text("x")
    state = site.tmp / "somefile" / "state.sqlite"
    code, err = cli_run(capsys, store_commands(site, state)[command])
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {state}: ")
    assert site.hits == [] and (site.tmp / "somefile").read_text() == "x"


def test_zero_length_store_is_a_new_store(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.state.touch()
    code, err = cli_run(capsys, site.run_args())
    assert code == ExitCode.OK, err
    assert len(site.pages) == CARDS and site.hits.count("/robots.txt") == 1


@needs_file_modes
@pytest.mark.parametrize("command", ["run", "report", "history"])
def test_unreadable_store_is_refused(
    site: Site, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    made = make_store(site, capsys)
    site.state.chmod(0)
    try:
        code, err = cli_run(capsys, store_commands(site, site.state)[command])
    finally:
        site.state.chmod(0o644)
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {site.state}: ")
    assert len(site.hits) == made


@needs_file_modes
@pytest.mark.parametrize("command", ["run", "report", "history"])
def test_store_in_a_read_only_folder_is_refused(
    site: Site, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    state = site.tmp / "ro" / "state.sqlite"
    Store(state).close()
    state.parent.chmod(0o555)
    try:
        code, err = cli_run(capsys, store_commands(site, state)[command])
    finally:
        state.parent.chmod(0o755)
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {state}: ")
    assert site.hits == []


def test_store_held_by_a_live_run_is_refused_by_run_and_report(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    made = make_store(site, capsys)
    store = Store(site.state)
    running = store.begin_run(cards_root="cards", since=None, until=None, config={})
    store.close()
    with RunLock(site.state):  # another run, alive, on this store
        code, err = cli_run(capsys, site.run_args())
        assert code == ExitCode.USAGE
        assert_one_line(err, f"linkcheck: error: {site.state}: another linkcheck run holds it")
        assert f"pid {os.getpid()}" in err
        report = ["report", "--state", str(site.state), "--out", str(site.tmp / "r")]
        code, err = cli_run(capsys, report)  # the last run is the live one: refused
        assert code == ExitCode.USAGE
        assert_one_line(err, f"linkcheck: error: {site.state}: run {running} is still going")
        code, err = cli_run(capsys, [*report, "--run", "1"])  # a finished one: fine
        assert code == ExitCode.OK, err
        # history only reads (WAL gives it a snapshot): a live run does not stop it
        code, err = cli_run(capsys, ["history", site.url("c0"), "--state", str(site.state)])
        assert code == ExitCode.OK, err
    assert len(site.hits) == made


@pytest.fixture
def short_busy_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opening, "BUSY_TIMEOUT_MS", 50)


@pytest.mark.usefixtures("short_busy_wait")
def test_store_write_locked_by_another_program_fails_the_run_before_any_request(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    made = make_store(site, capsys)
    other = sqlite3.connect(site.state, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO archive_cache VALUES ('x', 0, NULL, NULL, '2020')")
    try:
        code, err = cli_run(capsys, site.run_args())
        assert code == ExitCode.USAGE
        assert_one_line(err, f"linkcheck: error: {site.state}: another program holds a write lock")
        assert len(site.hits) == made
        # readers are not blocked by a writer (WAL): report and history still work
        code, err = cli_run(capsys, store_commands(site, site.state)["report"])
        assert code == ExitCode.OK, err
        code, err = cli_run(capsys, store_commands(site, site.state)["history"])
        assert code == ExitCode.OK, err
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [r.state for r in runs_of(site.state)] == ["finished"]


@pytest.mark.usefixtures("short_busy_wait")
@pytest.mark.parametrize("command", ["run", "report", "history"])
def test_store_locked_exclusively_by_another_program_is_one_line(
    site: Site, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    made = make_store(site, capsys)
    other = sqlite3.connect(site.state, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        code, err = cli_run(capsys, store_commands(site, site.state)[command])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {site.state}: another program holds")
    assert len(site.hits) == made


@pytest.mark.parametrize("command", ["report", "history"])
def test_report_and_history_on_a_store_without_runs(
    site: Site, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    Store(site.state).close()
    code, err = cli_run(capsys, store_commands(site, site.state)[command])
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {site.state}: holds no run yet")


def test_report_of_a_missing_run_or_store(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    missing = site.tmp / "nowhere.sqlite"
    code, err = cli_run(capsys, store_commands(site, missing)["report"])
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {missing}: no store here")
    assert not missing.exists()  # report never makes a store
    make_store(site, capsys)
    code, err = cli_run(capsys, [*store_commands(site, site.state)["report"], "--run", "9"])
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {site.state}: has no run 9 (runs 1 to 1)")


# -- --out --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "report"])
def test_out_that_is_a_file_is_refused_before_any_request(
    site: Site, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    made = make_store(site, capsys) if command == "report" else 0
    out = site.tmp / "out.txt"
    out.write_text("mine")
    args = {
        "run": site.run_args(out=out),
        "report": ["report", "--state", str(site.state), "--out", str(out)],
    }[command]
    code, err = cli_run(capsys, args)
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {out}: is a file, not a folder")
    assert out.read_text() == "mine" and len(site.hits) == made
    assert site.state.exists() == (command == "report")  # the run stopped before the store


def test_out_below_a_file_is_refused(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    (site.tmp / "somefile").write_text("x")
    out = site.tmp / "somefile" / "reports"
    code, err = cli_run(capsys, site.run_args(out=out))
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {out}: cannot write reports there")
    assert site.hits == [] and not site.state.exists()


def test_out_whose_parents_do_not_exist_is_made(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    out = site.tmp / "a" / "b" / "c"
    code, err = cli_run(capsys, site.run_args(out=out))
    assert code == ExitCode.OK, err
    assert (out / "report.json").is_file() and (out / "report.html").is_file()


@needs_file_modes
def test_out_in_a_read_only_folder_is_refused(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    out = site.tmp / "ro"
    out.mkdir(mode=0o555)
    try:
        code, err = cli_run(capsys, site.run_args(out=out))
    finally:
        out.chmod(0o755)
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {out}: cannot write reports there")
    assert site.hits == []


class DiskFull:
    """While armed for some report names, the temp file each of those reports is written to is
    /dev/full: every write to it fails with ENOSPC in the kernel. Other files are left alone."""

    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()
        self._real = tempfile.mkstemp

    def arm(self, *names: str) -> None:
        self.names = names

    def disarm(self) -> None:
        self.names = ()

    def mkstemp(self, *args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, tmp = self._real(*args, **kwargs)
        if any(Path(tmp).name.startswith(f".{name}.") for name in self.names):
            os.close(fd)
            fd = os.open("/dev/full", os.O_WRONLY)
        return fd, tmp


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> DiskFull:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    full = DiskFull()
    monkeypatch.setattr(tempfile, "mkstemp", full.mkstemp)  # the one crawler.report.atomic calls
    return full


def runs_of(state: Path) -> list[RunRow]:
    store = Store(state)
    try:
        last = store.run()
        return [run for i in range(1, last.id + 1) if (run := store.run(i))] if last else []
    finally:
        store.close()


def _reports(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_full_disk_while_writing_the_report_keeps_the_previous_report_and_the_results(
    site: Site, capsys: pytest.CaptureFixture[str], disk_full: DiskFull
) -> None:
    make_store(site, capsys)
    before = _reports(site.out)
    assert set(before) == {"report.json", "report.html"}
    disk_full.arm("report.json", "report.html")
    code, err = cli_run(capsys, site.run_args("--max-age", "0s"))
    # the crawl finished: not exit 1 (that means broken cards), not a traceback
    assert code == ExitCode.USAGE
    line = err.strip().splitlines()[-1]
    report_json = site.out / "report.json"
    assert line.startswith(f"linkcheck: error: {report_json}: cannot write it: No space left")
    assert line.endswith(
        "No space left on device; the previous one is unchanged; run 2's results are in"
        f" {site.state}: `linkcheck report` rebuilds the reports"
    )
    assert "Traceback" not in err
    assert _reports(site.out) == before  # byte for byte, and no temp file left behind
    assert [r.state for r in runs_of(site.state)] == ["finished", "finished"]
    # the second run's robots.txt came from the store
    assert len(site.pages) == 2 * CARDS and site.hits.count("/robots.txt") == 1
    # once the disk has room, `linkcheck report` rebuilds the lost reports from the store
    disk_full.disarm()
    code, err = cli_run(capsys, ["report", "--state", str(site.state), "--out", str(site.out)])
    assert code == ExitCode.OK, err
    assert json.loads(report_json.read_text())["run"]["id"] == 2
    assert len(site.hits) == 2 * CARDS + 1  # no request since: the two runs' pages, one robots.txt


def test_report_command_keeps_the_previous_dashboard_when_its_write_fails(
    site: Site, capsys: pytest.CaptureFixture[str], disk_full: DiskFull
) -> None:
    make_store(site, capsys)
    before = _reports(site.out)
    disk_full.arm("report.html")
    code, err = cli_run(capsys, ["report", "--state", str(site.state), "--out", str(site.out)])
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {site.out / 'report.html'}: cannot write it: No space")
    assert err.strip().endswith("; the previous one is unchanged")
    after = _reports(site.out)
    assert after["report.html"] == before["report.html"]
    assert set(after) == {"report.json", "report.html"}


def test_atomic_writer_failing_midway_removes_its_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("previous")
    with (
        pytest.raises(atomic.ReportWriteError, match="No space left"),
        atomic.atomic_writer(path) as out,
    ):
        out.write("new")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert path.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == [path.name]


# -- cards and config ---------------------------------------------------------------------


def _cards_cases(site: Site) -> dict[str, tuple[Path, str]]:
    (site.tmp / "afile").write_text("x")
    (site.tmp / "empty").mkdir()
    (site.tmp / "empty" / "notes.txt").write_text("not a card")
    return {
        "missing": (site.tmp / "missing", "cards folder not found: {p}"),
        "a_file": (site.tmp / "afile", "cards folder is not a directory: {p}"),
        "empty": (site.tmp / "empty", "no card files in {p} matching '**/*.md'"),
    }


@pytest.mark.parametrize("case", ["missing", "a_file", "empty"])
def test_cards_folder_errors_are_one_line_before_any_request(
    site: Site, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    path, message = _cards_cases(site)[case]
    code, err = cli_run(capsys, site.run_args("--cards", str(path)))
    assert code == ExitCode.USAGE
    assert_one_line(err, "linkcheck: error: " + message.format(p=path))
    assert site.hits == [] and not site.state.exists()


@needs_file_modes
def test_unreadable_cards_folder_is_one_line(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.cards.chmod(0)
    try:
        code, err = cli_run(capsys, site.run_args())
    finally:
        site.cards.chmod(0o755)
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: cannot read cards folder {site.cards}")


def _alias_bomb() -> str:
    levels = [
        f"&{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    return f"cards:\n  path: [&a [x, x, x, x, x, x, x, x, x], {', '.join(levels)}]\n"


CONFIG_CASES = {
    "missing": (None, "config file not found"),
    "below_a_file": ("below", "cannot read the config file: Not a directory"),
    "directory": ("dir", "is a directory, not a config file"),
    "not_yaml": ("fetch: [\n  1\n", "is not valid YAML: expected"),
    "not_utf8": (b"fetch:\n  user_agent: \xff\n", "is not valid YAML: not UTF-8"),
    "bad_date": ("cards:\n  since: 2020-13-45\n", "is not valid YAML: month must be in 1..12"),
    "wrong_type": ("fetch:\n  retries: many\n", "config key fetch.retries must be a whole"),
    "not_finite": ("fetch:\n  timeout: .inf\n", "fetch.timeout must be a finite number"),
    "unknown_key": ("fetch:\n  timout: 3\n", "unknown config key fetch.timout"),
    "unknown_section": ("nonsense: 1\n", "unknown config section 'nonsense'"),
    "not_a_mapping": ("- a\n", "must hold a mapping"),
    # nine levels of nine aliases: a repr() of the value would be hundreds of millions of items
    "alias_bomb": (_alias_bomb(), "config key cards.path must be a path, not ["),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_errors_are_one_line_naming_the_file(
    site: Site, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    content, reason = CONFIG_CASES[case]
    path = site.tmp / "config.yaml"
    if content == "below":
        (site.tmp / "afile").write_text("x")
        path = site.tmp / "afile" / "config.yaml"
    elif content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, err = cli_run(capsys, site.run_args("--config", str(path)))
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {path}: ")
    assert reason in err and len(err) < 500
    assert site.hits == []


@needs_file_modes
def test_unreadable_config_is_one_line(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    path = site.tmp / "config.yaml"
    path.write_text("fetch:\n  retries: 1\n")
    path.chmod(0)
    code, err = cli_run(capsys, site.run_args("--config", str(path)))
    assert code == ExitCode.USAGE
    assert_one_line(err, f"linkcheck: error: {path}: cannot read the config file: Permission")


# -- a bug --------------------------------------------------------------------------------


def test_internal_error_is_exit_3_logged_and_the_run_resumes(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CardFeed._plan
    calls = []

    def plan_then_fail(self: CardFeed, url: str, counters: dict[str, Any]) -> Any:
        calls.append(url)
        if len(calls) > CARDS // 2:
            raise RuntimeError("a bug with http://user:secret@example.com/")
        return real(self, url, counters)

    monkeypatch.setattr(CardFeed, "_plan", plan_then_fail)
    code, err = cli_run(capsys, site.run_args())
    assert code == ExitCode.INTERNAL  # never 1: that means "broken cards found"
    *logs, line = err.strip().splitlines()
    assert line == (
        "linkcheck: internal error (RuntimeError), a bug in linkcheck: `linkcheck run --resume`"
        " continues the run; the traceback is in the log above"
    )
    event = next(e for e in map(json.loads, logs) if e["event"] == "internal_error")
    assert event["level"] == "error" and "Traceback" in event["exception"]
    assert "RuntimeError" in event["exception"]
    assert [r.state for r in runs_of(site.state)] == ["failed"]  # resumable
    monkeypatch.setattr(CardFeed, "_plan", real)
    code, err = cli_run(capsys, site.run_args("--resume"))
    assert code == ExitCode.OK, err
    report = json.loads((site.out / "report.json").read_text())
    assert report["run"]["id"] == 1 and report["run"]["state"] == "finished"
    assert sorted(u["url"] for u in report["urls"]) == sorted(
        site.url(f"c{n}") for n in range(CARDS)
    )
    assert len(site.pages) <= CARDS + CARDS // 2  # what was in flight at the failure goes again


def test_store_disk_full_mid_run_is_exit_2_and_the_run_resumes(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: Any, **kwargs: Any) -> None:
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorname = "SQLITE_FULL"  # as SQLite's own error carries it
        raise exc

    real = Store.end_run
    monkeypatch.setattr(Store, "end_run", disk_full)
    code, err = cli_run(capsys, site.run_args())
    assert code == ExitCode.USAGE  # the machine's fault, not a bug and not broken cards
    assert err.strip().splitlines()[-1] == (
        f"linkcheck: error: {site.state}: the disk is full: free some space, then try again;"
        " `linkcheck run --resume` continues the run"
    )
    assert "Traceback" not in err
    monkeypatch.setattr(Store, "end_run", real)
    code, err = cli_run(capsys, site.run_args("--resume"))
    assert code == ExitCode.OK, err
    assert [r.state for r in runs_of(site.state)] == ["finished"]
    assert len(site.pages) == CARDS  # nothing fetched twice


def test_exit_codes_are_documented_in_help_and_readme(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    for code in ExitCode:
        assert f"\n  {code.value} " in text, code
        assert f"`{code.value}`" in readme, code
    assert EXIT_CODES_HELP in text


# -- as a process: nothing but the line reaches stderr ------------------------------------


def _process(
    args: list[str], cwd: Path, *, entry_point: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [str(ROOT / ".venv" / "bin" / "linkcheck")] if entry_point else [
        sys.executable, "-m", "crawler.cli"]  # fmt: skip
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )


def _process_cases(site: Site) -> dict[str, tuple[list[str], str]]:
    garbage = site.tmp / "garbage.sqlite"
    _garbage(garbage)
    (site.tmp / "afile").write_text("x")
    (site.tmp / "bad.yaml").write_text("fetch: [\n")
    return {
        "run_garbage_store": (site.run_args(state=garbage), f"{garbage}: not an SQLite database"),
        "run_out_a_file": (site.run_args(out=site.tmp / "afile"), f"{site.tmp / 'afile'}: is a"),
        "run_not_yaml": (
            site.run_args("--config", str(site.tmp / "bad.yaml")),
            "bad.yaml: is not valid YAML",
        ),
        "report_garbage_store": (["report", "--state", str(garbage)], f"{garbage}: not an SQLite"),
        "history_store_a_dir": (
            ["history", "x", "--state", str(site.tmp)],
            f"{site.tmp}: is a directory",
        ),
    }


@pytest.mark.parametrize(
    ("case", "entry_point"),
    [
        ("run_garbage_store", False),
        ("run_out_a_file", True),
        ("run_not_yaml", False),
        ("report_garbage_store", True),
        ("history_store_a_dir", False),
    ],
)
def test_as_a_process_an_operator_error_is_one_line_on_stderr(
    site: Site, case: str, entry_point: bool
) -> None:
    if entry_point and not (ROOT / ".venv" / "bin" / "linkcheck").exists():
        pytest.skip("the linkcheck entry point is not installed in .venv")
    args, expected = _process_cases(site)[case]
    done = _process(args, site.tmp, entry_point=entry_point)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("linkcheck: error: ")
    assert expected in done.stderr and done.stdout == ""
    assert site.hits == []


# -- real disks: a full tmpfs and a read-only one, in a private mount namespace ------------


def _can_mount() -> bool:
    if not AS_ROOT or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(
    not _can_mount(), reason="needs root and `unshare -m` + tmpfs mounts (a private namespace)"
)


def _in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "-m", "sh", "-ec", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "LC": f"{sys.executable} -m crawler.cli"},
        timeout=120,
        check=False,
    )


def _quoted(args: list[str]) -> str:
    return " ".join(f"'{a}'" for a in args)


@needs_mount
def test_real_full_disk_under_out(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """--out on a 1 MB tmpfs: a first run writes its reports; the disk is then filled but for a
    few pages, less than the new report needs, so the write fails mid-way; then entirely."""
    disk = site.tmp / "disk"
    disk.mkdir()
    keep = site.tmp / "keep"
    for n in range(CARDS, 60):  # a report.json of a few pages
        write_card(site.cards, f"c{n}", site.url(f"c{n}"))
    out = disk / "reports"
    run = _quoted(site.run_args("--max-age", "0s", out=out))
    report = _quoted(["report", "--state", str(site.state), "--out", str(out)])
    script = f"""
mount -t tmpfs -o size=1m tmpfs {disk}
$LC {run} > {keep}.1.out 2> {keep}.1.err
mkdir -p {keep}/before && cp -a {out}/. {keep}/before/
dd if=/dev/zero of={disk}/room bs=4096 count=3 2>/dev/null
dd if=/dev/zero of={disk}/filler bs=4096 2>/dev/null || true
rm {disk}/room
set +e
$LC {run} > {keep}.2.out 2> {keep}.2.err; echo $? > {keep}.2.rc
ls -a {out} > {keep}.2.ls
mkdir -p {keep}/after && cp -a {out}/. {keep}/after/
dd if=/dev/zero of={disk}/filler2 bs=4096 2>/dev/null
$LC {run} > {keep}.3.out 2> {keep}.3.err; echo $? > {keep}.3.rc
rm {disk}/filler {disk}/filler2
$LC {report} > {keep}.4.out 2> {keep}.4.err; echo $? > {keep}.4.rc
cp {out}/report.json {keep}/rebuilt.json
"""
    done = _in_namespace(script, site.tmp)
    assert done.returncode == 0, done.stderr
    first_requests = 60
    # mid-way: exit 2, one line naming the file, the previous reports intact, no temp file
    assert Path(f"{keep}.2.rc").read_text().strip() == "2"
    err = Path(f"{keep}.2.err").read_text()
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"linkcheck: error: {out / 'report.json'}: cannot write it: No space")
    assert "the previous one is unchanged; run 2's results are in" in line
    assert "Traceback" not in err
    assert _reports(keep / "after") == _reports(keep / "before")
    assert Path(f"{keep}.2.ls").read_text().split() == [".", "..", "report.html", "report.json"]
    # entirely full: refused before any request
    assert Path(f"{keep}.3.rc").read_text().strip() == "2"
    assert_one_line(
        Path(f"{keep}.3.err").read_text(), f"linkcheck: error: {out}: cannot write reports there"
    )
    assert len(site.pages) == 2 * first_requests and site.hits.count("/robots.txt") == 1
    # the second run's results were kept: `linkcheck report` rebuilt its report afterwards
    assert Path(f"{keep}.4.rc").read_text().strip() == "0", Path(f"{keep}.4.err").read_text()
    assert json.loads((keep / "rebuilt.json").read_text())["run"]["id"] == 2


@needs_mount
def test_real_read_only_disk_for_the_store_and_out(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = site.tmp / "disk"
    disk.mkdir()
    keep = site.tmp / "keep"
    keep.mkdir()
    made = make_store(site, capsys)
    state = disk / "state.sqlite"
    commands = {
        "run_store": site.run_args(state=state),
        "report_store": ["report", "--state", str(state), "--out", str(site.tmp / "r")],
        "history_store": ["history", site.url("c0"), "--state", str(state)],
        "run_out": site.run_args(state=site.tmp / "fresh.sqlite", out=disk / "reports"),
    }
    runs = "\n".join(
        f"$LC {_quoted(args)} > {keep}/{name}.out 2> {keep}/{name}.err; echo $? > {keep}/{name}.rc"
        for name, args in commands.items()
    )
    script = f"""
mount -t tmpfs -o size=1m tmpfs {disk}
cp {site.state} {state}
mkdir {disk}/reports
mount -o remount,ro {disk}
set +e
{runs}
"""
    done = _in_namespace(script, site.tmp)
    assert done.returncode == 0, done.stderr
    for name in commands:
        assert (keep / f"{name}.rc").read_text().strip() == "2", name
        err = (keep / f"{name}.err").read_text()
        target = disk / "reports" if name == "run_out" else state
        assert_one_line(err, f"linkcheck: error: {target}: ")
        assert "read-only" in err.lower() or "cannot write" in err, err
    assert len(site.hits) == made
