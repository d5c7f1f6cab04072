"""Hostile card files: whatever a card holds, it gets a verdict with a clear reason, at a bounded
cost, and the run goes on (issue 9). The card reader's worker process may even die on one."""

from __future__ import annotations

import faulthandler
import gc
import os
import pickle
import signal
import stat
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import crawler.intake.reader as cardsource
import crawler.intake.yaml_loader as yaml_module
from crawler.config import CardsConfig, LinksConfig
from crawler.intake.budgets import (
    MAX_CARD_BYTES,
    MAX_FRONT_MATTER_BYTES,
    MAX_NUMBER_CHARS,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
)
from crawler.intake.cards import load_card
from crawler.intake.files import find_card_files
from crawler.intake.links import MAX_DIMENSION, MAX_URL_CHARS
from crawler.intake.reader import CRASHED, stream_cards
from crawler.model import CardRecord, Disposition, Kind, Problem
from crawler.text import PREVIEW_CHARS

HEAD = """\
---
title: "A card"
publishedDateTime: 2020-02-12T15:30:00Z
webUrl: "https://example.com/news/1"
"""
END = "---\n"
NODE_BUDGET = f"front matter has more than {MAX_YAML_NODES:,} YAML nodes after alias expansion"
TOO_DEEP = f"front matter is nested more than {MAX_YAML_DEPTH} levels deep"
LEAN_MB = 40  # far above what any card below needs (a few MB), far below what a bomb would take


def load(tmp_path: Path, content: str | bytes, name: str = "card.md", **cards: Any) -> CardRecord:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return load_card(path, tmp_path, CardsConfig(**cards), LinksConfig())


def parse_error(record: CardRecord) -> str:
    assert record.disposition is Disposition.INVALID, record
    assert record.links == []
    found = [p for p in record.problems if p.kind is Kind.CARD_PARSE_ERROR]
    assert len(found) == 1, record.problems
    return found[0].detail


def assert_valid_text(record: CardRecord) -> None:
    """Everything the record holds can be stored and reported: it encodes as UTF-8."""
    texts = [record.path, record.title, record.published, record.provider, record.filter_reason]
    for problem in record.problems:
        texts += [problem.detail, problem.field, problem.url]
    for link in record.links:
        texts += [link.field, link.url]
    for text in texts:
        if text is not None:
            text.encode("utf-8")


def peak_mb(action: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def alias_bomb(levels: int, field: str = "images") -> str:
    """The billion laughs: each level is nine aliases of the one before: 1 KB, 9**levels nodes."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return HEAD + "\n".join(lines) + f"\n{field}: *a{levels}\n" + END


# ---------------------------------------------------------------------------------------------
# The node budget, aliases expanded


@pytest.mark.parametrize("levels", [9, 12])
def test_an_alias_bomb_in_images_is_refused_by_the_node_budget(tmp_path: Path, levels: int) -> None:
    content = alias_bomb(levels)
    assert len(content) < 1200
    records: list[CardRecord] = []
    assert peak_mb(lambda: records.append(load(tmp_path, content))) < LEAN_MB
    assert parse_error(records[0]) == NODE_BUDGET


def test_the_garbage_collector_is_back_on_after_a_card_over_budget(tmp_path: Path) -> None:
    assert gc.isenabled()
    parse_error(load(tmp_path, alias_bomb(9)))
    assert gc.isenabled()


def test_an_alias_bomb_of_merge_keys_is_refused(tmp_path: Path) -> None:
    lines = ["m0: &m0 {a: 1, b: 2}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}" for i in range(1, 10)]
    content = HEAD + "\n".join(lines) + "\nx: *m9\n" + END
    records: list[CardRecord] = []
    assert peak_mb(lambda: records.append(load(tmp_path, content))) < LEAN_MB
    assert parse_error(records[0]) == NODE_BUDGET


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    record = load(tmp_path, HEAD + "images: &loop [*loop]\n" + END)
    assert parse_error(record) == "front matter has an alias inside its own anchor (recursive)"


def test_a_few_aliases_within_the_budget_still_work(tmp_path: Path) -> None:
    content = HEAD + alias_bomb(3).removeprefix(HEAD).replace("images:", "unused:")
    record = load(tmp_path, content)
    assert record.disposition is Disposition.CHECKED, record.problems


def test_the_node_budget_counts_plain_nodes_too(tmp_path: Path) -> None:
    """`images` of 100,000 entries: bounded by the node budget, before any link is made."""
    images = "images: [" + ", ".join("{url: u}" for _ in range(100_000)) + "]\n"
    assert parse_error(load(tmp_path, HEAD + images + END)) == NODE_BUDGET
    block = "images:\n" + "  - u\n" * 100_000
    assert parse_error(load(tmp_path, HEAD + block + END)) == NODE_BUDGET


def test_a_card_just_under_the_node_budget_is_read(tmp_path: Path) -> None:
    entries = (MAX_YAML_NODES - 100) // 3  # a mapping, a key and a value each
    tags = "tags:\n" + "".join(f"  - {{t: {i}}}\n" for i in range(entries))
    record = load(tmp_path, HEAD + tags + END)
    assert record.disposition is Disposition.CHECKED, record.problems[:3]


def test_the_node_budget_is_wide_for_the_largest_real_cards() -> None:
    # The largest of 2,000 real cards: 5,195 nodes, 143 KB, 6 levels (measured, see cards.py).
    assert MAX_YAML_NODES >= 9 * 5_195
    assert MAX_FRONT_MATTER_BYTES >= 7 * 143_000
    assert MAX_YAML_DEPTH >= 10 * 6


# ---------------------------------------------------------------------------------------------
# Size budgets


def test_front_matter_over_the_byte_budget_is_refused(tmp_path: Path) -> None:
    # 3 bytes a character: over the budget in bytes while under it in characters
    excerpt = "€" * (MAX_FRONT_MATTER_BYTES // 3 + 10)
    record = load(tmp_path, HEAD + f"excerpt: {excerpt}\n" + END)
    detail = parse_error(record)
    assert detail.startswith("front matter is ")
    assert detail.endswith(f"bytes, more than the {MAX_FRONT_MATTER_BYTES:,} allowed")


def test_a_file_that_says_it_is_empty_is_read_up_to_the_cap_plus_one_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/proc files and growing files: stat's size is not trusted, the cap is."""
    path = tmp_path / "growing.md"
    path.write_bytes(b"x" * (MAX_CARD_BYTES + 100))
    real_fstat = os.fstat
    monkeypatch.setattr(os, "fstat", lambda fd: _with_size_zero(real_fstat(fd)))
    record = load_card(path, tmp_path, CardsConfig(), LinksConfig())
    assert parse_error(record) == f"the file is larger than the {MAX_CARD_BYTES:,} bytes allowed"


def _with_size_zero(info: os.stat_result) -> os.stat_result:
    fields = list(info)
    fields[stat.ST_SIZE] = 0
    return os.stat_result(fields)


def test_a_huge_file_is_read_up_to_the_cap_plus_one_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.md"
    with path.open("wb") as file:
        file.write(HEAD.encode())
        file.truncate(2 * 1024**3)  # 2 GB, sparse: no disk used
    read: list[int] = []
    real_read = os.read

    def counting_read(fd: int, size: int) -> bytes:
        data = real_read(fd, size)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting_read)
    record = load_card(path, tmp_path, CardsConfig(), LinksConfig())
    assert parse_error(record) == f"the file is larger than the {MAX_CARD_BYTES:,} bytes allowed"
    assert sum(read) <= MAX_CARD_BYTES + 1


def test_a_huge_scalar_in_a_field_that_is_not_checked_is_fine(tmp_path: Path) -> None:
    record = load(tmp_path, HEAD + "excerpt: " + "x" * 900_000 + "\n" + END)
    assert record.disposition is Disposition.CHECKED


def test_a_huge_number_is_text_and_a_huge_tagged_number_is_refused(tmp_path: Path) -> None:
    digits = "1" * 900_000
    image = f"images:\n  - url: https://example.com/a.jpg\n    width: {digits}\n"
    record = load(tmp_path, HEAD + image + END)
    detail = record.problems[0].detail
    assert detail.startswith("images[0].width must be a whole number, got '1111")
    assert len(detail) < 200
    sexagesimal = "1" + ":0" * 300_000  # base 60, in YAML 1.1: its conversion is quadratic
    record = load(tmp_path, HEAD + f"x: !!int {sexagesimal}\n" + END)
    assert parse_error(record).endswith(
        f"a number of {len(sexagesimal):,} characters is too long (at most {MAX_NUMBER_CHARS:,})"
    )


def test_a_plain_scalar_up_to_the_number_limit_is_still_a_number(tmp_path: Path) -> None:
    image = "images:\n  - url: https://example.com/a.jpg\n    width: 0" + "0" * 998 + "7\n"
    record = load(tmp_path, HEAD + image + END)
    assert record.links[-1].declared_width == 7


def test_a_declared_size_too_large_for_any_image_is_invalid(tmp_path: Path) -> None:
    image = "images:\n  - url: https://example.com/a.jpg\n    width: 99999999999999999999\n"
    record = load(tmp_path, HEAD + image + END)
    assert record.problems[0].detail == (
        f"images[0].width must be at most {MAX_DIMENSION:,}, got 99999999999999999999"
    )


def test_a_url_of_a_megabyte_is_invalid_and_its_problem_is_bounded(tmp_path: Path) -> None:
    url = "https://example.com/" + "a" * 1_000_000
    record = load(tmp_path, HEAD.replace("https://example.com/news/1", url) + END)
    assert record.disposition is Disposition.INVALID
    (problem,) = record.problems
    assert problem.kind is Kind.INVALID_URL
    too_long = f"it has {len(url):,} characters, more than the {MAX_URL_CHARS:,} allowed"
    assert problem.detail.endswith(f"is not a valid URL: {too_long}")
    assert len(problem.detail) < 300
    assert problem.url is not None and len(problem.url) <= MAX_URL_CHARS


def test_plain_scalar_tags_are_cached_only_for_short_values(tmp_path: Path) -> None:
    yaml_module._PLAIN_TAGS.clear()
    load(tmp_path, HEAD + "excerpt: " + "y" * 5_000 + "\n" + END)
    assert yaml_module._PLAIN_TAGS
    assert max(map(len, yaml_module._PLAIN_TAGS)) <= yaml_module._PLAIN_TAGS_LONGEST


# ---------------------------------------------------------------------------------------------
# Nesting


@pytest.mark.parametrize(
    "value",
    [
        "[" * 100_000 + "]" * 100_000,
        "{a: " * 100_000 + "1" + "}" * 100_000,
        "\n" + "- " * 100_000 + "x",
    ],
    ids=["flow-sequence", "flow-mapping", "block-sequence"],
)
def test_nesting_100000_levels_deep_is_a_parse_error(tmp_path: Path, value: str) -> None:
    detail = parse_error(load(tmp_path, HEAD + f"x: {value}\n" + END))
    assert detail == TOO_DEEP or ("nest" in detail and "depth" in detail), detail


@pytest.mark.parametrize("alias", ["", "\nanchored: &a 1\nalias: *a"])  # the C and Python paths
def test_nesting_just_over_the_depth_budget_says_so(tmp_path: Path, alias: str) -> None:
    deep = "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1)
    assert parse_error(load(tmp_path, HEAD + f"x: {deep}{alias}\n" + END)) == TOO_DEEP
    ok = "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1)
    assert load(tmp_path, HEAD + f"x: {ok}{alias}\n" + END).disposition is Disposition.CHECKED


# ---------------------------------------------------------------------------------------------
# Bytes that are not a card


def test_binary_garbage_is_not_utf8(tmp_path: Path) -> None:
    garbage = bytes(range(256)) * 64 + bytes(range(255, -1, -1)) * 64
    detail = parse_error(load(tmp_path, garbage))
    assert detail.startswith("not UTF-8: invalid byte 0x80 at offset 128")


def test_a_utf16_file_says_it_is_utf16(tmp_path: Path) -> None:
    detail = parse_error(load(tmp_path, (HEAD + END).encode("utf-16")))
    assert detail.startswith("not UTF-8 (it is UTF-16): ")
    assert detail.endswith("save the file as UTF-8")


def test_nul_bytes_are_dropped_with_warnings(tmp_path: Path) -> None:
    record = load(tmp_path, HEAD.replace("A card", "A\x00card") + END)
    assert record.disposition is Disposition.CHECKED
    assert record.title == "Acard"
    assert [p.kind for p in record.problems] == [Kind.CARD_CONTROL_CHARACTER]


def test_nul_bytes_by_the_hundred_thousand_are_counted_not_listed(tmp_path: Path) -> None:
    records: list[CardRecord] = []
    content = HEAD + "excerpt: a" + "\x00" * 300_000 + "\n" + END
    assert peak_mb(lambda: records.append(load(tmp_path, content))) < 15  # a match each: 40 MB
    (record,) = records
    assert len(record.problems) == 11
    assert record.problems[-1].detail == "dropped 299990 more control characters"


def test_python_tags_are_a_parse_error_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    for value in (
        f'!!python/object/apply:os.system ["touch {marker}"]',
        f"!!python/object/new:os.system [touch {marker}]",
        "!!python/name:os.system",
        "!!python/object:builtins.object {}",
    ):
        detail = parse_error(load(tmp_path, HEAD + f"x: {value}\n" + END))
        assert "could not determine a constructor for the tag" in detail
    assert not marker.exists()


@pytest.mark.parametrize("key", ["? [a, b]\n: x", "? {a: 1}\n: x", "[a, b]: x", "{a: 1}: x"])
def test_a_key_that_is_a_list_or_a_mapping_is_a_parse_error(tmp_path: Path, key: str) -> None:
    assert "found unhashable key" in parse_error(load(tmp_path, HEAD + key + "\n" + END))


@pytest.mark.parametrize(
    "date",
    [
        "0000-01-01T00:00:00Z",
        "0000-01-01",
        "99999-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        '"0001-01-01T00:30:00+01:00"',
        "!!timestamp not-a-date",
        "2020-01-01T00:00:00+99:00",
    ],
)
def test_a_date_out_of_range_is_an_invalid_field(tmp_path: Path, date: str) -> None:
    content = HEAD.replace("2020-02-12T15:30:00Z", date) + END
    record = load(tmp_path, content, since=None)
    assert record.disposition is Disposition.INVALID
    (problem,) = record.problems
    assert (problem.kind, problem.field) == (Kind.CARD_INVALID_FIELD, "publishedDateTime")
    assert problem.detail.startswith("publishedDateTime is not a date")


def test_long_card_text_quoted_by_a_yaml_error_is_cut(tmp_path: Path) -> None:
    for content in (
        HEAD + "x: *" + "a" * 100_000 + "\n" + END,  # undefined alias
        HEAD + "x: !<" + "t" * 100_000 + "> 1\n" + END,  # unknown tag
    ):
        assert len(parse_error(load(tmp_path, content))) < 2 * PREVIEW_CHARS + 100


def test_a_problem_about_a_huge_value_is_cut(tmp_path: Path) -> None:
    items = ", ".join(["[" + ", ".join(["x"] * 100) + "]"] * 100)
    record = load(tmp_path, HEAD.replace('"A card"', f"[{items}]") + END)
    (problem,) = record.problems
    assert problem.detail.startswith("title must be text, got [[")
    assert len(problem.detail) < 200


def test_a_long_top_level_key_with_a_control_character_is_cut(tmp_path: Path) -> None:
    record = load(tmp_path, HEAD + "k" * 100_000 + ": a\x01b\n" + END)
    (problem,) = [p for p in record.problems if p.kind is Kind.CARD_CONTROL_CHARACTER]
    assert problem.field is not None and len(problem.field) <= PREVIEW_CHARS
    assert len(problem.detail) < 250


# ---------------------------------------------------------------------------------------------
# Files that are not regular files, or not there


def test_a_file_name_that_is_not_utf8_is_reported_as_text(tmp_path: Path) -> None:
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9-\xff.md")
    with open(name, "wb") as file:
        file.write((HEAD + END).encode())
    (path,) = find_card_files(tmp_path)
    record = load_card(path, tmp_path, CardsConfig(), LinksConfig())
    assert record.disposition is Disposition.CHECKED
    assert record.path == "caf\\xe9-\\xff.md"
    assert_valid_text(record)
    assert pickle.loads(pickle.dumps(record)) == record


def test_a_directory_named_like_a_card_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "x.md").mkdir()
    detail = parse_error(load_card(tmp_path / "x.md", tmp_path, CardsConfig(), LinksConfig()))
    assert detail == "cannot read file: it is a directory, not a regular file"
    assert list(find_card_files(tmp_path)) == []  # a folder to look into, not a card


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_a_card_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.md")  # no writer: opening it for reading would wait forever
    (path,) = find_card_files(tmp_path)
    detail = parse_error(load_card(path, tmp_path, CardsConfig(), LinksConfig()))
    assert detail == "cannot read file: it is a FIFO, not a regular file"


def test_a_symlink_loop_named_like_a_card_is_reported(tmp_path: Path) -> None:
    (tmp_path / "x.md").symlink_to("y.md")
    (tmp_path / "y.md").symlink_to("x.md")
    records = [
        load_card(p, tmp_path, CardsConfig(), LinksConfig()) for p in find_card_files(tmp_path)
    ]
    assert [r.path for r in records] == ["x.md", "y.md"]
    for record in records:
        assert parse_error(record) == "cannot read file: Too many levels of symbolic links"


def test_a_broken_symlink_named_like_a_card_is_reported(tmp_path: Path) -> None:
    (tmp_path / "x.md").symlink_to("gone.md")
    (path,) = find_card_files(tmp_path)
    detail = parse_error(load_card(path, tmp_path, CardsConfig(), LinksConfig()))
    assert detail == "cannot read file: No such file or directory"


def test_a_file_that_vanishes_between_listing_and_reading(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text(HEAD + END)
    (path,) = find_card_files(tmp_path)
    path.unlink()
    detail = parse_error(load_card(path, tmp_path, CardsConfig(), LinksConfig()))
    assert detail == "cannot read file: No such file or directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "x.md"
    path.write_text(HEAD + END)
    path.chmod(0)
    try:
        detail = parse_error(load_card(path, tmp_path, CardsConfig(), LinksConfig()))
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert detail == "cannot read file: Permission denied"


# ---------------------------------------------------------------------------------------------
# The card reader's worker process dies


def good_card(index: int) -> str:
    return HEAD.replace("news/1", f"news/{index}") + END


def make_cards(root: Path, names: list[str]) -> None:
    for index, name in enumerate(names):
        (root / name).write_text(good_card(index))


def dying_reader(
    monkeypatch: pytest.MonkeyPatch, die: Callable[[], None], times: dict[str, int]
) -> None:
    """load_card, but reading a card whose name is in `times` kills the worker that many times
    (counted in a file next to it: each attempt runs in a new worker process)."""
    real = load_card

    def reader(path: Path, root: Path, cards: CardsConfig, links: LinksConfig) -> CardRecord:
        if path.name in times:
            tally = path.with_suffix(".kills")
            kills = int(tally.read_text()) if tally.exists() else 0
            if kills < times[path.name]:
                tally.write_text(str(kills + 1))
                die()
        return real(path, root, cards, links)

    # The pool forks after this: its workers inherit the patched module.
    monkeypatch.setattr(cardsource, "load_card", reader)


async def read_all(root: Path, **kwargs: Any) -> list[CardRecord]:
    cards = stream_cards(root, "*.md", CardsConfig(), LinksConfig(), **kwargs)
    return [record async for record in cards]


def expected_records(root: Path) -> list[CardRecord]:
    return [load_card(path, root, CardsConfig(), LinksConfig()) for path in find_card_files(root)]


def segfault() -> None:
    faulthandler.disable()  # pytest's would print the worker's stack on the way down
    os.kill(os.getpid(), signal.SIGSEGV)


DEATHS: dict[str, Callable[[], None]] = {
    "exit": lambda: os._exit(3),
    "sigkill": lambda: os.kill(os.getpid(), signal.SIGKILL),  # as the OOM killer does
    "segfault": segfault,
}


@pytest.mark.parametrize("death", DEATHS.values(), ids=DEATHS.keys())
async def test_a_card_that_kills_the_reader_twice_is_invalid_and_the_rest_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, death: Callable[[], None]
) -> None:
    names = [f"c{i:02}.md" for i in range(23)]
    make_cards(tmp_path, names)
    expected = expected_records(tmp_path)
    dying_reader(monkeypatch, death, {"c05.md": 99, "c17.md": 99})
    records = await read_all(tmp_path, chunk_size=4, look_ahead=3)
    assert [r.path for r in records] == names
    for record, normal in zip(records, expected, strict=True):
        if record.path in ("c05.md", "c17.md"):
            assert record.disposition is Disposition.INVALID
            assert record.problems == [Problem(Kind.CARD_PARSE_ERROR, CRASHED)]
        else:
            assert record == normal
    assert (tmp_path / "c05.kills").read_text() == "2"  # its chunk, then itself alone


async def test_a_reader_killed_once_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cards(tmp_path, [f"c{i:02}.md" for i in range(12)])
    expected = expected_records(tmp_path)
    dying_reader(monkeypatch, DEATHS["sigkill"], {"c06.md": 1})
    assert await read_all(tmp_path, chunk_size=5, look_ahead=2) == expected
    assert (tmp_path / "c06.kills").read_text() == "1"


async def test_a_reader_killed_in_the_first_chunk_with_every_chunk_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cards(tmp_path, [f"c{i:02}.md" for i in range(10)])
    expected = expected_records(tmp_path)
    dying_reader(monkeypatch, DEATHS["exit"], {"c00.md": 99})
    records = await read_all(tmp_path, chunk_size=2, look_ahead=10)
    assert records[0].problems == [Problem(Kind.CARD_PARSE_ERROR, CRASHED)]
    assert records[1:] == expected[1:]


async def test_stream_cards_reads_what_load_card_reads(tmp_path: Path) -> None:
    make_cards(tmp_path, [f"c{i:02}.md" for i in range(7)])
    (tmp_path / "bomb.md").write_text(alias_bomb(9))
    assert await read_all(tmp_path, chunk_size=3) == expected_records(tmp_path)


# ---------------------------------------------------------------------------------------------
# A whole run


async def test_a_run_over_hostile_cards_finishes_and_reports_each_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.quickrun import crawl, quick_config

    cards = tmp_path / "cards"
    cards.mkdir()
    hostile: dict[str, str | bytes] = {
        "bomb.md": alias_bomb(9),
        "deep.md": HEAD + "x: " + "[" * 100_000 + "]" * 100_000 + "\n" + END,
        "garbage.md": bytes(range(256)) * 8,
        "utf16.md": (HEAD + END).encode("utf-16"),
        "tag.md": HEAD + "x: !!python/object/apply:os.system [id]\n" + END,
        "date.md": HEAD.replace("2020-02-12T15:30:00Z", "0001-01-01T00:00:00+01:00") + END,
        "url.md": HEAD.replace("news/1", "a" * 1_000_000) + END,
        "crash.md": good_card(0),
    }
    for name, content in hostile.items():
        (cards / name).write_bytes(content.encode() if isinstance(content, str) else content)
    os.mkfifo(cards / "fifo.md")
    (cards / "loop.md").symlink_to("loop.md")
    with open(os.path.join(os.fsencode(cards), b"caf\xe9.md"), "wb") as file:
        file.write(b"---\nfront matter never closed\n")
    with open(os.path.join(os.fsencode(cards), b"caf\xe9-notes.md"), "wb") as file:
        file.write(b"no front matter: not a card")
    dying_reader(monkeypatch, DEATHS["sigkill"], {"crash.md": 99})

    result, report = await crawl(quick_config(tmp_path))

    assert result.state == "finished"
    assert report["run"]["cards_found"] == report["run"]["cards_invalid"] == 11
    statuses = {card["path"]: card["status"] for card in report["cards"]}
    assert statuses == {name: "invalid" for name in [*hostile, "fifo.md", "loop.md", "caf\\xe9.md"]}
    details = {card["path"]: card["problems"][0]["detail"] for card in report["cards"]}
    assert details["bomb.md"] == NODE_BUDGET
    assert details["crash.md"] == CRASHED
    assert details["fifo.md"] == "cannot read file: it is a FIFO, not a regular file"
    assert report["run"]["skipped_files"] == {"count": 1, "paths": ["caf\\xe9-notes.md"]}


async def test_a_card_url_whose_brackets_hold_no_ip_address_is_invalid_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """'http://[abc]/x' once passed validation and then crashed the scheduler, which keys hosts
    with urllib (it refuses such brackets): now the card says why, and its neighbour is checked."""
    from servers import ok, serve

    from tests.quickrun import crawl, quick_config

    cards = tmp_path / "cards"
    cards.mkdir()
    page = ok("<html><head><title>A card</title></head></html>")
    async with serve({"/story": page}) as server:
        for name, url in [("bad.md", "http://[abc]/x"), ("good.md", server.url("/story"))]:
            (cards / name).write_text(HEAD.replace("https://example.com/news/1", url) + END)
        result, report = await crawl(quick_config(tmp_path))
    assert result.state == "finished"
    by_path = {card["path"]: card for card in report["cards"]}
    assert by_path["good.md"]["status"] == "ok"
    [problem] = by_path["bad.md"]["problems"]
    assert (problem["kind"], problem["field"]) == ("invalid_url", "webUrl")
    assert problem["detail"] == (
        "webUrl 'http://[abc]/x' is not a valid URL: the host '[abc]' is not an IP address in"
        " brackets ('abc' does not appear to be an IPv4 or IPv6 address)"
    )
