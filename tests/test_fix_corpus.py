"""Byte stability on the 2,000 real cards (a copy of ../shared/cards-corpus in tmp_path): every
URL-valued field of every card replaced, removed, and given an archive field after it; each time
only those lines change, python-frontmatter reads the card as before with exactly that change,
and the Markdown body stays byte for byte."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import frontmatter
import pytest
import yaml

from crawler.cli import main
from crawler.config import CardsConfig, LinksConfig
from crawler.fix.card_edit import edit_card, front_matter_span, split_path
from crawler.fix.corrections import Correction
from crawler.fix.fixer import CardFix, write_card
from crawler.intake.card_text import YAML_REJECTS
from crawler.intake.cards import load_card
from crawler.model import Kind
from crawler.store.database import Store

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cards-corpus"
NOT_CARDS = {"SOURCE.md", "STATS.md"}
NEW_URL = "https://moved.example/a?b=1&c=d#e"
ARCHIVE_URL = "https://web.archive.org/web/20200101000000/http://x.example/it's"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="the real cards corpus is not here")


def url_fields(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every field whose value is a URL, as the problems name fields."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from url_fields(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from url_fields(value, f"{prefix}[{index}]")
    elif isinstance(node, str) and node.strip().lower().startswith(("http://", "https://", "//")):
        yield prefix, node


def metadata(text: str) -> dict[str, Any]:
    """python-frontmatter's reading; a card with characters YAML refuses is read without them,
    as linkcheck reads it."""
    return dict(frontmatter.loads(YAML_REJECTS.sub("", text)).metadata)


def changed(data: dict[str, Any], field: str, change: Any) -> None:
    path = split_path(field)
    assert path is not None
    node: Any = data
    for segment in path[:-1]:
        node = node[segment]
    change(node, path[-1])


def body(text: str) -> str:
    span = front_matter_span(text)
    assert isinstance(span, tuple)
    return text[span[1] :]


def lines(text: str) -> list[str]:
    return text.split("\n")  # a CRLF line keeps its CR: it must stay


def replaced_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = lines(before), lines(after)
    assert len(old) == len(new)
    return [(o, n) for o, n in zip(old, new, strict=True) if o != n]


def removed_lines(before: str, after: str) -> int:
    """How many lines went; a list item's first key (the next key moved up onto the dash's
    line) counts as one. Fails on any other change."""
    old, new = lines(before), lines(after)
    i = j = removed = 0
    while i < len(old):
        if j < len(new) and old[i] == new[j]:
            i, j = i + 1, j + 1
        elif (
            j < len(new)
            and "- " in old[i]
            and i + 1 < len(old)
            and new[j] == (old[i][: old[i].index("- ") + 2] + old[i + 1].lstrip(" "))
        ):
            i, j, removed = i + 2, j + 1, removed + 1
        else:
            i, removed = i + 1, removed + 1
    assert j == len(new)
    return removed


def inserted_lines(before: str, after: str) -> list[str]:
    old, new = lines(before), lines(after)
    i, inserted = 0, []
    for line in new:
        if i < len(old) and line == old[i]:
            i += 1
        else:
            inserted.append(line)
    assert i == len(old)
    return inserted


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    copy_root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS, copy_root / "cards")
    cards = sorted(p for p in (copy_root / "cards").rglob("*.md") if p.name not in NOT_CARDS)
    assert len(cards) == 2000
    return cards


def test_every_url_field_of_every_real_card_is_replaced_in_place(
    corpus: list[Path], tmp_path: Path
) -> None:
    fields_seen = crlf = 0
    for path in corpus:
        data = path.read_bytes()
        text = data.decode("utf-8")
        before = metadata(text)
        fields = list(url_fields(before))
        fields_seen += len(fields)
        crlf += "\r\n" in text
        edit = edit_card(text, [Correction("moved_permanently", f, v, NEW_URL) for f, v in fields])
        assert not edit.refused and len(edit.made) == len(fields), path
        expected = copy.deepcopy(before)
        for field, _ in fields:
            changed(expected, field, lambda node, key: node.__setitem__(key, NEW_URL))
        assert metadata(edit.text) == expected, path
        assert body(edit.text) == body(text), path
        pairs = replaced_lines(text, edit.text)
        assert len(pairs) == len(fields), path
        for old_line, new_line in pairs:  # the key stays, the value is the new one
            key = old_line[: old_line.index(":") + 1]
            value = new_line[len(key) :].split(" #")[0].strip()
            assert new_line.startswith(key) and yaml.safe_load(f"k: {value}") == {"k": NEW_URL}
        # and written through `linkcheck fix`'s own writer, atomically, the mode kept
        scratch = tmp_path / path.name
        scratch.write_bytes(data)
        os.chmod(scratch, 0o640)
        fix = CardFix(path.name, [], file=scratch, original=data, edited=edit.text.encode())
        assert write_card(fix) is None
        assert scratch.read_bytes() == edit.text.encode("utf-8")
        assert scratch.stat().st_mode & 0o777 == 0o640
    assert fields_seen > 50_000 and crlf > 0


def test_every_url_field_of_every_real_card_is_removed_with_its_line(corpus: list[Path]) -> None:
    for path in corpus:
        text = path.read_bytes().decode("utf-8")
        before = metadata(text)
        fields = list(url_fields(before))
        edit = edit_card(text, [Correction("amp_retired", f, v, None) for f, v in fields])
        assert not edit.refused and len(edit.made) == len(fields), path
        expected = copy.deepcopy(before)
        for field, _ in fields:
            changed(expected, field, lambda node, key: node.pop(key))
        assert metadata(edit.text) == expected, path
        assert body(edit.text) == body(text), path
        removed = removed_lines(text, edit.text)
        assert removed == len(fields), path


def test_an_archive_field_can_follow_every_url_field_of_every_real_card(
    corpus: list[Path],
) -> None:
    for path in corpus:
        text = path.read_bytes().decode("utf-8")
        before = metadata(text)
        fields = list(url_fields(before))
        names = [f"archiveUrl{n}" for n in range(len(fields))]
        corrections = [
            Correction("not_found", f, None, ARCHIVE_URL, added_field=name)
            for (f, _), name in zip(fields, names, strict=True)
        ]
        edit = edit_card(text, corrections)
        assert not edit.refused and len(edit.made) == len(fields), path
        expected = copy.deepcopy(before)
        for (field, _), name in zip(fields, names, strict=True):
            changed(expected, field, lambda node, _key, n=name: node.__setitem__(n, ARCHIVE_URL))
        assert metadata(edit.text) == expected, path
        assert body(edit.text) == body(text), path
        inserted = inserted_lines(text, edit.text)
        assert len(inserted) == len(fields), path
        assert all(line.lstrip(" ").startswith("archiveUrl") for line in inserted), path


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_linkcheck_fix_on_a_copy_of_the_real_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command itself over the 2,000 cards: the run's records come from the real card
    reader (its SHA-256 and its own control-character problems); the URL problems a crawl would
    find are put in the store: every other webUrl moved (to https), the rest dead with an
    archived copy, every AMP page retired. The patch applies with git, --apply writes the same
    bytes, and the card reader then finds exactly the corrected links."""
    cards = tmp_path / "repo" / "cards"
    shutil.copytree(CORPUS, cards)
    reading = (CardsConfig(include_unpublished=True, include_related=True), LinksConfig())
    store = Store(tmp_path / "state.sqlite")
    run_id = store.begin_run(cards_root=str(cards), since=None, until=None, config={})
    wanted: dict[str, dict[str, str | None]] = {}
    invalid: set[str] = set()
    for n, path in enumerate(sorted(p for p in cards.rglob("*.md") if p.name not in NOT_CARDS)):
        record = load_card(path, cards, *reading)
        store.add_card(run_id, record)
        store.flush()
        if record.disposition == "invalid":
            invalid.add(record.path)
        links = {link.field: link.url for link in record.links}
        problems = [p.as_dict() for p in record.problems]
        web = links.get("webUrl")
        if web and n % 2 == 0:
            new = "https://" + web.split("://", 1)[1] + "?moved"
            problems.append(url_problem("moved_permanently", "webUrl", web, suggested_url=new))
            wanted[record.path] = {"webUrl": new}
        elif web:
            copy_url = f"https://web.archive.org/web/2020/{web}"
            problems.append(url_problem("not_found", "webUrl", web, archive_url=copy_url))
            wanted[record.path] = {"webUrl": web, "archiveUrl": copy_url}
        if "ampWebUrl" in links:
            problems.append(url_problem("amp_retired", "ampWebUrl", links["ampWebUrl"]))
            wanted.setdefault(record.path, {})["ampWebUrl"] = None
        store.db.execute(
            "UPDATE cards SET status = 'warning', problems = ? WHERE run_id = ? AND path = ?",
            (json.dumps(problems), run_id, record.path),
        )
    store.end_run(run_id, state="finished", counters={})
    store.close()
    before = {p: p.read_bytes() for p in cards.rglob("*.md")}
    subprocess.run(["git", "init", "-q", str(cards.parent)], check=True)
    subprocess.run(["git", "-C", str(cards.parent), "add", "cards"], check=True)

    state = ["fix", "--state", str(tmp_path / "state.sqlite")]
    assert main([*state, "--patch", str(tmp_path / "fix.patch")]) == 0
    assert {p: p.read_bytes() for p in before} == before
    subprocess.run(["git", "-C", str(cards), "apply", str(tmp_path / "fix.patch")], check=True)
    patched = {p: p.read_bytes() for p in before}
    for path, data in before.items():
        path.write_bytes(data)
    assert main([*state, "--apply"]) == 0
    err = capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == patched
    assert f"linkcheck fix, run 1: {len(wanted)} cards changed, 0 skipped" in err, err[-900:]

    for path in sorted(before):
        if path.name in NOT_CARDS:
            continue
        record = load_card(path, cards, *reading)
        assert (record.disposition == "invalid") == (record.path in invalid), path
        assert not [p for p in record.problems if p.kind == "card_control_character"], path
        links = {link.field: link.url for link in record.links}
        front = metadata(path.read_text(encoding="utf-8"))
        for field, value in wanted.get(record.path, {}).items():
            if field == "archiveUrl":
                assert front["archiveUrl"] == value, path
            elif value is None:
                assert field not in front and "cdnAmpWebUrl" not in front, path
            else:
                assert links[field] == value, path


def url_problem(kind: str, field: str, url: str, **extra: str) -> dict[str, Any]:
    severity = Kind(kind).severity.label
    return {"kind": kind, "field": field, "url": url, "severity": severity, "detail": "...",
            "final_url": None, "http_status": None, **extra}  # fmt: skip
