"""`linkcheck fix` as a maintainer runs it after a real run (a local server on loopback, a real
SQLite store): the dry run's diff, --apply, --patch that `git apply` accepts, a card changed
since the run left alone, and one line for each operator error."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from quickrun import crawl, quick_config
from servers import ok, redirect, serve, status

from crawler.cli import main
from crawler.fix.diffs import coloured

PUBLISHED = "2020-03-04T05:06:07Z"
PAGE = "<html><head><title>Story</title></head><body>Story</body></html>"


def routes() -> dict[str, object]:
    return {
        "/moved": redirect("/new", 301),
        "/new": ok(PAGE),
        "/gone": status(404),
        "/amp/story": redirect("/story", 301),  # the publisher retired its AMP page
        "/story": ok(PAGE),
    }


async def judged_cards(tmp: Path, cards: dict[str, str]) -> Path:
    """Cards (name -> front matter lines, `SITE` standing for the server) after one run."""
    folder = tmp / "cards"
    folder.mkdir(parents=True, exist_ok=True)
    async with serve(routes(), "127.0.0.2") as site:  # type: ignore[arg-type]
        for name, lines in cards.items():
            text = lines.replace("SITE", site.url("")).replace("PUBLISHED", PUBLISHED)
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(text.encode("utf-8"))
        result, _ = await crawl(quick_config(tmp))
    assert result.state == "finished"
    return folder


MOVED = (
    '---\r\ntitle: Story\r\npublishedDateTime: PUBLISHED\r\nwebUrl: "SITE/moved" # was\r\n'
    "---\r\nbody"
)
GONE = "---\ntitle: Story\npublishedDateTime: PUBLISHED\nwebUrl: SITE/gone\n---\n"
RETIRED = (
    "---\ntitle: Story\npublishedDateTime: PUBLISHED\nwebUrl: SITE/story\n"
    "ampWebUrl: SITE/amp/story\nheat: 1\n---\n"
)


def fix(tmp: Path, *args: str) -> int:
    return main(["fix", "--state", str(tmp / "state.sqlite"), *args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.md"))}


async def test_the_dry_run_shows_the_diff_and_who_needs_a_person_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = await judged_cards(tmp_path, {"a.md": MOVED, "b.md": GONE})
    capsys.readouterr()  # the run's own logs
    before = snapshot(folder)
    assert fix(tmp_path) == 0
    out, err = capsys.readouterr()
    site = before["a.md"].decode().split('webUrl: "')[1].split("/moved")[0]
    assert out == (
        "--- a/a.md\n"
        "+++ b/a.md\n"
        "@@ -1,6 +1,6 @@\n"
        " ---\r\n"
        " title: Story\r\n"
        f" publishedDateTime: {PUBLISHED}\r\n"
        f'-webUrl: "{site}/moved" # was\r\n'
        f'+webUrl: "{site}/new" # was\r\n'
        " ---\r\n"
        " body\n"
        "\\ No newline at end of file\n"
    )
    assert "needs a person: b.md webUrl (not_found): No archived copy is known" in err
    assert "linkcheck fix, run 1: 1 cards to change, 0 skipped" in err
    assert "moved_permanently       1               0        0" in err
    assert "not_found               0               1        0" in err
    assert "dry run: nothing written" in err
    assert snapshot(folder) == before


async def test_apply_writes_the_fix_and_never_a_card_changed_since_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = await judged_cards(tmp_path, {"a.md": MOVED, "c.md": MOVED.replace("\r\n", "\n")})
    capsys.readouterr()  # the run's own logs
    edited_by_hand = (folder / "c.md").read_bytes() + b"\nA maintainer's sentence.\n"
    (folder / "c.md").write_bytes(edited_by_hand)
    (folder / "a.md").chmod(0o640)
    assert fix(tmp_path, "--apply") == 1  # a card was skipped for a change on disk
    _, err = capsys.readouterr()
    assert "skipped c.md: it changed since the run read it: `linkcheck run` again" in err
    assert (folder / "c.md").read_bytes() == edited_by_hand
    assert b'webUrl: "http://127.0.0.2:' in (folder / "a.md").read_bytes()
    assert (folder / "a.md").read_bytes().endswith(b'/new" # was\r\n---\r\nbody')
    assert (folder / "a.md").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temp file
    # the same again: the file is not the one the run read any more
    assert fix(tmp_path, "--apply") == 1
    assert "skipped a.md: it changed since the run read it" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
async def test_the_patch_applies_with_git_from_the_cards_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "site"
    nested = MOVED.replace("\r\n", "\n")
    folder = await judged_cards(repo, {"a.md": MOVED, "deeper/nested.md": nested})
    capsys.readouterr()  # the run's own logs
    before = snapshot(folder)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "cards"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "cards"], check=True)
    patch = tmp_path / "fix.patch"
    assert fix(repo, "--patch", str(patch)) == 0
    assert snapshot(folder) == before  # a patch writes no card
    assert f"patch written to {patch}" in capsys.readouterr().err
    subprocess.run(["git", "-C", str(folder), "apply", "--check", str(patch)], check=True)
    top = ["git", "-C", str(repo), "apply", "--directory=cards", "--check", str(patch)]
    subprocess.run(top, check=True)
    subprocess.run(["git", "-C", str(folder), "apply", str(patch)], check=True)
    patched = snapshot(folder)
    (folder / "a.md").write_bytes(before["a.md"])
    (folder / "deeper/nested.md").write_bytes(before["deeper/nested.md"])
    assert fix(repo, "--apply") == 0
    assert snapshot(folder) == patched != before


async def test_kinds_choose_which_problems_are_fixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = await judged_cards(tmp_path, {"a.md": MOVED, "b.md": GONE})
    capsys.readouterr()  # the run's own logs
    before = snapshot(folder)
    assert fix(tmp_path, "--kinds", "not_found", "--apply") == 0
    out, err = capsys.readouterr()
    assert out == "" and "moved_permanently" not in err and "needs a person: b.md" in err
    assert snapshot(folder) == before


async def test_cards_that_cannot_be_edited_each_get_a_line_and_the_rest_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "elsewhere.md"
    folder = await judged_cards(
        tmp_path, {"a.md": MOVED, "b.md": MOVED, "c.md": MOVED, "d.md": MOVED}
    )
    capsys.readouterr()  # the run's own logs
    (folder / "a.md").unlink()
    shutil.move(folder / "b.md", outside)
    (folder / "b.md").symlink_to(outside)  # the card now lives outside the cards folder
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        db.execute("UPDATE cards SET sha256 = NULL WHERE path = 'c.md'")
    assert fix(tmp_path, "--apply") == 1
    _, err = capsys.readouterr()
    assert "skipped a.md: it is gone since the run" in err
    assert f"skipped b.md: it is outside the cards folder {folder}" in err
    assert "skipped c.md: the run did not record the file's SHA-256" in err
    assert b"/new" in (folder / "d.md").read_bytes()
    assert "1 cards changed, 3 skipped" in err


async def test_operator_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fix(tmp_path) == 2
    assert "no store here" in capsys.readouterr().err
    await judged_cards(tmp_path, {"a.md": MOVED})
    capsys.readouterr()  # the run's own logs
    assert fix(tmp_path, "--run", "7") == 2
    assert "has no run 7 (runs 1 to 1)" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert fix(tmp_path, "--patch", str(tmp_path / "file" / "fix.patch")) == 2
    err = capsys.readouterr().err
    assert err.startswith("linkcheck: error: ") and err.count("\n") == 1 and "fix.patch" in err
    with pytest.raises(SystemExit) as bad:
        fix(tmp_path, "--kinds", "moved_permanently,nonsense")
    assert bad.value.code == 2
    err = capsys.readouterr().err
    assert "unknown kind nonsense (known: not_found," in err and err.count("\n") == 1
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        db.execute("UPDATE cards SET sha256 = NULL")
    assert fix(tmp_path) == 2
    assert "did not record its cards' SHA-256" in capsys.readouterr().err


async def test_a_retired_amp_page_is_removed_or_by_config_pointed_at_the_canonical_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = await judged_cards(tmp_path, {"r.md": RETIRED})
    capsys.readouterr()  # the run's own logs
    site = (folder / "r.md").read_text().split("webUrl: ")[1].split("/story")[0]
    config = tmp_path / "fix.yaml"
    config.write_text("fix:\n  amp_retired: canonical\n")
    assert fix(tmp_path, "--config", str(config)) == 0
    out = capsys.readouterr().out
    assert f"-ampWebUrl: {site}/amp/story\n+ampWebUrl: {site}/story\n" in out
    assert fix(tmp_path, "--config", str(config), "--amp-retired", "remove") == 0
    out = capsys.readouterr().out
    assert f"-ampWebUrl: {site}/amp/story\n heat: 1\n" in out and "+ampWebUrl" not in out


def test_a_diff_on_a_terminal_is_coloured() -> None:
    diff = "--- a/x.md\n+++ b/x.md\n@@ -1 +1 @@\n-old\n+new\n same\n"
    shown = coloured(diff)
    assert "\x1b[31m-old\x1b[0m\n" in shown and "\x1b[32m+new\x1b[0m\n" in shown
    assert "\x1b[36m@@ -1 +1 @@\x1b[0m\n" in shown and "\x1b[1m--- a/x.md\x1b[0m\n" in shown
    assert " same\n" in shown
