"""`linkcheck history` over a real store: a card path as the shell gives it, a URL in any
equivalent spelling, and a table with a header row."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from quickrun import crawl, quick_config
from servers import serve

from crawler.cli import main

CARD = "---\ntitle: {title}\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: {url}\n---\n"


async def story(request: web.Request) -> web.Response:
    return web.Response(text="<title>story</title>", content_type="text/html")


def history(capsys: pytest.CaptureFixture[str], target: str, state: Path) -> list[str]:
    capsys.readouterr()
    code = main(["history", target, "--state", str(state)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out.splitlines()


@pytest.fixture
async def store(tmp_path: Path) -> tuple[Path, int]:
    """Two finished runs over cards/site/story.md (a healthy page on a pinned name) and
    cards/site/gone.md (https on the default port, where nothing listens)."""
    async with serve({"/story": story}) as server:
        folder = tmp_path / "cards" / "site"
        folder.mkdir(parents=True)
        url = f"http://news.example:{server.port}/story"
        (folder / "story.md").write_text(CARD.format(title="story", url=url))
        gone = "https://news.example:443/gone"
        (folder / "gone.md").write_text(CARD.format(title="gone", url=gone))
        fetch = {"resolve": [f"news.example:{server.host}"]}
        config = quick_config(tmp_path, fetch=fetch, recheck={"full": True})
        for _ in range(2):
            result, _report = await crawl(config)
            assert result.state == "finished"
        return config.state.path, server.port


@pytest.mark.parametrize(
    "spelling",
    [
        "http://news.example:{port}/story",
        "HTTP://News.EXAMPLE:{port}/story",
        "http://news.example:{port}/story#comments",
        "https://NEWS.example/gone",
        "https://news.example:443/gone",
    ],
)
async def test_history_finds_a_url_in_any_equivalent_spelling(
    store: tuple[Path, int], spelling: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state, port = store
    lines = history(capsys, spelling.format(port=port), state)
    assert lines[0].split() == ["run", "checked", "at", "status", "kind", "http", "trend", "note"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2"]
    status = "ok" if "story" in spelling else "broken"
    assert all(line.split()[2] == status for line in lines[1:]), lines


async def test_history_takes_a_card_path_as_the_shell_gives_it(
    store: tuple[Path, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, _ = store
    card = tmp_path / "cards" / "site" / "gone.md"
    spellings = {
        tmp_path: ["cards/site/gone.md", "./cards/site/../site/gone.md", str(card), "site/gone.md"],
        card.parent: ["gone.md", str(card)],
        tmp_path / "cards": ["site/gone.md", "./site/gone.md"],
    }
    for folder, targets in spellings.items():
        monkeypatch.chdir(folder)
        for target in targets:
            lines = history(capsys, target, state)
            assert lines[0].split() == [
                "run",
                "started",
                "at",
                "status",
                "trend",
                "problem",
                "kinds",
            ]
            assert [line.split()[0] for line in lines[1:]] == ["1", "2"], (folder, target)
            assert all(" broken " in line for line in lines[1:]), lines


async def test_history_of_an_unknown_card_says_so(
    store: tuple[Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, _ = store
    code = main(["history", str(tmp_path / "cards" / "site" / "nothere.md"), "--state", str(state)])
    assert code != 0
    assert "no history for" in capsys.readouterr().err
