"""One card of a run fixed: its plan (crawler/fix/corrections.py), made in its file's text
(crawler/fix/card_edit.py) if the file is still the one the run read, and written atomically.

Results are values: a card that cannot be edited comes back with the reason, and the caller goes
on with the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.fix.card_edit import edit_card, read_front_matter, split_path
from crawler.fix.corrections import Correction, NeedsPerson, plan_card
from crawler.fix.diffs import unified_diff
from crawler.intake.budgets import MAX_CARD_BYTES
from crawler.model import Kind
from crawler.store.fixes import CardToFix


@dataclass(slots=True)
class CardFix:
    """What `linkcheck fix` does to one card."""

    path: str  # as the run reported it, relative to the cards folder
    steps: list[Correction | NeedsPerson]
    file: Path | None = None  # the file to write (symbolic links resolved)
    original: bytes | None = None
    edited: bytes | None = None  # None: nothing to write
    diff: str = ""
    made: list[Correction] = field(default_factory=list)
    refused: list[tuple[Correction, str]] = field(default_factory=list)
    skipped: str | None = None  # the card is left alone: why
    stale: bool = False  # ...because it changed (or went) since the run read it

    @property
    def needs_person(self) -> list[NeedsPerson]:
        return [s for s in self.steps if isinstance(s, NeedsPerson)]


def fix_card(
    card: CardToFix,
    root: Path,
    *,
    kinds: Collection[str] | None = None,
    amp_retired: str = "remove",
) -> CardFix | None:
    """The card's fix, None when none of its problems (of `kinds`) asks for anything."""
    problems = [p for p in json.loads(card.problems) if kinds is None or p["kind"] in kinds]
    steps = plan_card(problems, amp_retired=amp_retired)
    if not steps:
        return None
    fix = CardFix(card.path, steps)
    corrections = [s for s in steps if isinstance(s, Correction)]
    if corrections:
        _edit(fix, card, root, corrections)
    return fix


def _edit(fix: CardFix, card: CardToFix, root: Path, corrections: list[Correction]) -> None:
    file = _inside(root, card.path)
    if file is None:
        fix.skipped = f"it is outside the cards folder {root}"
        return
    data = _read(file)
    if isinstance(data, str):
        fix.skipped, fix.stale = data, not file.exists()
        return
    if card.sha256 is None:
        fix.skipped = "the run did not record the file's SHA-256: `linkcheck run` again, then fix"
        fix.stale = True
        return
    if hashlib.sha256(data).hexdigest() != card.sha256:
        fix.skipped = "it changed since the run read it: `linkcheck run` again, then fix"
        fix.stale = True
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        fix.skipped = "it is not UTF-8"
        return
    front = read_front_matter(text)
    if not isinstance(front, dict):
        fix.skipped = f"its front matter cannot be read: {front.reason}"
        return
    edit = edit_card(text, with_repeats(corrections, front))
    fix.file, fix.original = file, data
    fix.made, fix.refused = edit.made, edit.refused
    if edit.text != text:
        fix.edited = edit.text.encode("utf-8")
        fix.diff = unified_diff(card.path, text, edit.text)


def with_repeats(
    corrections: list[Correction], front_matter: Mapping[str, Any]
) -> list[Correction]:
    """The corrections, and originalUrl's where it repeats a webUrl that moves: the run checks
    such an originalUrl as its webUrl (crawler/intake/links.py), so it moves along."""
    out: list[Correction] = []
    for correction in corrections:
        out.append(correction)
        moved = correction.kind == Kind.MOVED_PERMANENTLY and correction.new is not None
        if not (moved and correction.field.split(".")[-1] == "webUrl"):
            continue
        prefix = correction.field.removesuffix("webUrl")
        item = _item(front_matter, prefix)
        web, original = item.get("webUrl"), item.get("originalUrl")
        if isinstance(web, str) and isinstance(original, str) and original.strip() == web.strip():
            out.append(
                Correction(correction.kind, f"{prefix}originalUrl", original, correction.new)
            )
    return out


def _item(front_matter: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    """The mapping that holds `{prefix}webUrl`: the card's, or a related item's."""
    node: Any = front_matter
    for segment in (split_path(prefix + "webUrl") or [])[:-1]:
        try:
            node = node[segment]
        except (KeyError, IndexError, TypeError):
            return {}
    return node if isinstance(node, Mapping) else {}


def _inside(root: Path, path: str) -> Path | None:
    """The card's file, its links resolved, if it is inside the cards folder."""
    try:
        base = root.resolve()
        file = (root / path).resolve()
    except (OSError, RuntimeError):
        return None
    return file if file.is_relative_to(base) and file != base else None


def _read(file: Path) -> bytes | str:
    """The file's bytes, or why they cannot be read."""
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            return "it is not a regular file"
        if info.st_size > MAX_CARD_BYTES:
            return f"it is larger than the {MAX_CARD_BYTES:,} bytes a card may have"
        return file.read_bytes()
    except FileNotFoundError:
        return "it is gone since the run: `linkcheck run` again, then fix"
    except OSError as exc:
        return f"it cannot be read: {exc.strerror or exc}"


def write_card(fix: CardFix) -> str | None:
    """Write the edited card in place of the one the run read, atomically (a temp file in the
    same folder, renamed over it; its mode kept). None when written, else why not: a file
    changed meanwhile is never overwritten."""
    assert fix.file is not None and fix.original is not None and fix.edited is not None
    now = _read(fix.file)
    if now != fix.original:
        fix.stale = True
        return "it changed while linkcheck fix ran: nothing written"
    try:
        mode = stat.S_IMODE(fix.file.stat().st_mode)
        handle, temp = tempfile.mkstemp(prefix=f".{fix.file.name}.", dir=fix.file.parent)
    except OSError as exc:
        return f"cannot write beside it: {exc.strerror or exc}"
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(fix.edited)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, fix.file)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        return f"cannot write it: {exc.strerror or exc}"
    return None
