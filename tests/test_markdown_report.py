"""`linkcheck report --format markdown`: a short summary for a GitHub issue or an Actions job
summary, from two real runs against three local hosts. The text is parsed as Markdown (tables,
no raw HTML) and its figures checked against report.json; a card whose path holds `|` and
markup stays one cell of text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from markdown_it import MarkdownIt
from markdown_it.token import Token
from quickrun import crawl, quick_config
from servers import serve, status

from crawler import cli
from crawler.config import ConfigError
from crawler.config_loader import load_config

HOSTILE = "pipe|<b>bold<i> *x* [y](z).md"  # a card file name: `|` must not split its table cell
DASHBOARD = "https://example.org/linkcheck/"


async def titled(request: web.Request) -> web.Response:
    """A page titled with its last path segment: a card titled the same is healthy."""
    name = request.path.rstrip("/").rsplit("/", 1)[-1]
    return web.Response(text=f"<title>{name}</title>", content_type="text/html")


ROUTES = {
    "/p/{name}": titled,
    "/gone/{name}": status(404),
    "/moved/{name}": lambda r: web.Response(
        status=301, headers={"Location": f"/p/{r.match_info['name']}"}
    ),
}


def write_card(folder: Path, name: str, url: str, title: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(
        f"---\ntitle: {json.dumps(title or name.removesuffix('.md'))}\n"
        f"publishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: {json.dumps(url)}\n---\n"
    )


@dataclass
class Runs:
    tmp: Path
    report: dict[str, Any]
    hosts: dict[str, str]  # a, b, c -> host

    def argv(self, *extra: str) -> list[str]:
        return ["report", "--config", str(self.tmp / "config.yaml"), "--format", "markdown", *extra]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("markdown")
    yield _two_runs(tmp)


def _two_runs(tmp: Path) -> Runs:
    return asyncio.run(_crawl_twice(tmp))


async def _crawl_twice(tmp: Path) -> Runs:
    cards = tmp / "cards"
    async with (
        serve(ROUTES, host="127.0.0.2") as a,
        serve(ROUTES, host="127.0.0.3") as b,
        serve(ROUTES, host="127.0.0.4") as c,
    ):
        for n in (1, 2, 3):  # a breaks three cards
            write_card(cards, f"a{n}.md", a.url(f"/gone/a{n}"))
        write_card(cards, "moved.md", a.url("/moved/moved"))  # a warning: not charged to a
        write_card(cards, "b1.md", b.url("/gone/b1"))  # b breaks one card, rots another
        write_card(cards, "b2.md", b.url("/p/another-story"), title="b2")
        for n in (1, 2):
            write_card(cards, f"c{n}.md", c.url(f"/p/c{n}"))
        config = quick_config(tmp, rot={"soft_404_probe": False}, recheck={"max_age": "0s"})
        await crawl(config)
        write_card(cards, "c1.md", c.url("/gone/c1"))  # new in the second run
        write_card(cards, HOSTILE, b.url("/gone/hostile"))
        _, report = await crawl(config)
    (tmp / "config.yaml").write_text(
        f"output:\n  out: {json.dumps(str(tmp / 'out'))}\n"
        f"state:\n  path: {json.dumps(str(tmp / 'state.sqlite'))}\n"
    )
    return Runs(tmp, report, {"a": a.host, "b": b.host, "c": c.host})


def _summary(runs: Runs, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert cli.main(runs.argv(*extra)) == 0
    return capsys.readouterr().out


def _text(inline: Token) -> str:
    return "".join(child.content for child in inline.children or [])


def _tables(tokens: list[Token]) -> list[list[list[str]]]:
    """Every table as rows of cell texts (the header row first)."""
    tables: list[list[list[str]]] = []
    for token in tokens:
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            tables[-1].append([])
        elif token.type == "inline" and tables and tables[-1] and token.level > 3:
            tables[-1][-1].append(_text(token))
        elif token.type == "table_close":
            tables[-1] = [row for row in tables[-1] if row]
    return tables


def _parse(text: str) -> list[Token]:
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    everything = [*tokens, *(child for t in tokens for child in t.children or [])]
    assert not [t for t in everything if t.type.startswith("html")], "raw HTML in the summary"
    return tokens


def _expected_hosts(report: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Cards with a broken / rotted problem per host, from report.json alone."""
    host_of = {u["url"]: u["host"] for u in report["urls"]}
    worst: dict[str, dict[str, bool]] = {}
    for card in report["cards"]:
        for problem in card["problems"]:
            if problem["severity"] in ("broken", "rotted"):
                cards = worst.setdefault(host_of[problem["url"]], {})
                cards[card["path"]] = cards.get(card["path"], False) or (
                    problem["severity"] == "broken"
                )
    rows = [(h, sum(c.values()), len(c) - sum(c.values())) for h, c in worst.items()]
    return sorted(rows, key=lambda r: (-(r[1] + r[2]), -r[1], r[0]))[:5]


def test_the_summary_is_tables_and_text_whose_figures_are_report_json(
    runs: Runs, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _summary(runs, capsys, "--dashboard-url", DASHBOARD)
    tokens = _parse(text)
    report = runs.report
    status_table, new_table, hosts_table = _tables(tokens)
    by_status = {row[0]: int(row[1].replace(",", "")) for row in status_table[1:-1]}
    assert by_status == {
        k: v for k, v in report["summary"]["by_status"].items() if k != "unchecked"
    }
    assert status_table[-1][1] == str(sum(by_status.values()))
    # the problems new since the first run: one per line, worst first
    new = report["changes"]["new"]
    assert {p["path"] for p in new} == {"c1.md", HOSTILE}
    noun = "problems" if len(new) != 1 else "problem"
    assert f"{len(new)} new {noun} on 2 cards." in text
    assert new_table[0] == ["card", "field", "kind", "severity"]
    assert sorted(new_table[1:]) == sorted(
        [p["path"], p["field"], p["kind"], p["severity"]] for p in new
    )  # the hostile path is one cell, as text
    # the worst hosts, by the broken and rotted cards each causes
    hosts = [(row[0], int(row[1]), int(row[2])) for row in hosts_table[1:]]
    assert hosts == _expected_hosts(report)
    assert [h for h, _, _ in hosts] == [runs.hosts[x] for x in "abc"]
    assert hosts[0] == (runs.hosts["a"], 3, 0) and hosts[1] == (runs.hosts["b"], 2, 1)
    links = [t for tok in tokens for t in tok.children or [] if t.type == "link_open"]
    assert [link.attrGet("href") for link in links] == [DASHBOARD]
    assert text.startswith(f"## linkcheck run #{report['run']['id']}: ")


def test_the_dashboard_link_defaults_to_the_page_and_follows_the_config(
    runs: Runs, capsys: pytest.CaptureFixture[str]
) -> None:
    def href(text: str) -> str | None:
        tokens = _parse(text)
        link = next(t for tok in tokens for t in tok.children or [] if t.type == "link_open")
        return str(link.attrGet("href"))

    assert href(_summary(runs, capsys)) == str(runs.tmp / "out" / "report.html")
    config = runs.tmp / "config.yaml"
    plain = config.read_text()
    try:
        config.write_text(plain.replace("output:\n", f"output:\n  dashboard_url: {DASHBOARD}\n"))
        assert href(_summary(runs, capsys)) == DASHBOARD
    finally:
        config.write_text(plain)


def test_out_writes_the_same_summary_to_a_file(
    runs: Runs, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    printed = _summary(runs, capsys, "--dashboard-url", DASHBOARD)
    target = tmp_path / "summary.md"
    assert _summary(runs, capsys, "--dashboard-url", DASHBOARD, "--out", str(target)) == (
        f"{target}\n"
    )
    assert target.read_text(encoding="utf-8") == printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "{tmp}"], "is a folder: --format markdown writes one file"),
        (["--format", "markdown,json"], "give --format markdown on its own"),
    ],
)
def test_a_folder_or_a_mix_of_formats_is_refused_in_one_line(
    runs: Runs,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    extra: list[str],
    message: str,
) -> None:
    capsys.readouterr()
    argv = runs.argv(*(arg.format(tmp=tmp_path) for arg in extra))
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse refuses --format itself
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_notify_dashboard_url_is_the_earlier_spelling_of_output_dashboard_url(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"notify:\n  dashboard_url: {DASHBOARD}\n  max_cards: 3\n")
    config = load_config(path)
    assert config.output.dashboard_url == DASHBOARD and config.notify.max_cards == 3
    path.write_text(f"output:\n  dashboard_url: {DASHBOARD}\nnotify:\n  dashboard_url: x\n")
    with pytest.raises(ConfigError, match=r"set only output\.dashboard_url"):
        load_config(path)
