"""`linkcheck fix`: the safe corrections of a run's problems, as a diff (the default, a dry
run), written into the cards (--apply), or as a patch file (--patch FILE)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from crawler.cli.exits import ExitCode
from crawler.cli.report import chosen_run
from crawler.cli.session import open_existing_store, session
from crawler.config import Config, ConfigError
from crawler.fix.corrections import Correction
from crawler.fix.diffs import coloured
from crawler.fix.fixer import CardFix, fix_card, write_card
from crawler.model import Kind
from crawler.report.atomic import atomic_writer
from crawler.store.database import Store
from crawler.store.fixes import cards_to_fix, hashes_recorded, judged_run
from crawler.store.opening import StoreError
from crawler.store.records import RunRow
from crawler.text import safe_text

KNOWN_KINDS = tuple(k.value for k in Kind)
FIX_EXIT_CODES = """exit codes:
  0  done: the diff shown (a dry run), the cards written (--apply) or the patch written
  1  some card changed (or went) since the run read it: skipped, never overwritten
  2  an error for the operator to fix, in one line: no store, no run, a bad --kinds,
     a --patch file that cannot be written"""


def kinds_argument(text: str) -> frozenset[str]:
    """--kinds' value: problem kinds, comma-separated."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in KNOWN_KINDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown kind {', '.join(unknown) or repr(text)} (known: {', '.join(KNOWN_KINDS)})"
        )
    return frozenset(names)


class _Tally:
    """Per kind: problems fixed (or, in a dry run, to fix), needing a person, in skipped cards."""

    def __init__(self) -> None:
        self.fixed: Counter[str] = Counter()
        self.person: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.cards_changed = 0
        self.cards_skipped = 0
        self.stale = False

    def add(self, fix: CardFix, written: bool) -> None:
        counted = [s for s in fix.steps if isinstance(s, Correction) and not s.if_present]
        refused = [c for c, _ in fix.refused]
        for step in counted:
            if fix.skipped is not None or not written:
                self.skipped[step.kind] += 1
            elif step in refused:
                self.person[step.kind] += 1
            elif step in fix.made:
                self.fixed[step.kind] += 1
        for person in fix.needs_person:
            self.person[person.kind] += 1
        self.cards_changed += bool(written and fix.edited)
        self.cards_skipped += fix.skipped is not None or not written
        self.stale = self.stale or fix.stale

    def lines(self, applied: bool) -> list[str]:
        kinds = sorted(self.fixed.keys() | self.person.keys() | self.skipped.keys())
        head = "fixed" if applied else "to fix"
        width = max([len(k) for k in kinds] + [4])
        rows = [f"  {'kind':<{width}}  {head:>6}  needs a person  skipped"]
        for kind in kinds:
            rows.append(
                f"  {kind:<{width}}  {self.fixed[kind]:>6}  {self.person[kind]:>14}"
                f"  {self.skipped[kind]:>7}"
            )
        return rows


def fix_command(
    config: Config,
    run_id: int | None,
    kinds: frozenset[str] | None,
    *,
    apply: bool,
    patch: Path | None,
    amp_retired: str | None,
) -> int:
    choice = amp_retired or config.fix.amp_retired
    if patch is not None and patch.is_dir():
        raise ConfigError(f"--patch {safe_text(str(patch))}: is a folder, not a file")
    tally = _Tally()
    with session(open_existing_store(config.state.path)) as store:
        run = _run_to_fix(store, run_id)
        root = Path(run.cards_root)
        if not root.is_dir():
            raise ConfigError(
                f"{safe_text(str(root))}: the cards folder of run {run.id} is not there (run"
                " `linkcheck fix` from where `linkcheck run` ran)"
            )
        with _diff_output(patch) as out:
            for card in cards_to_fix(store, run.id):
                fix = fix_card(card, root, kinds=kinds, amp_retired=choice)
                if fix is not None:
                    tally.add(fix, _handle(fix, out, apply=apply, colour=_colour(out)))
    _summary(tally, run.id, apply=apply, patch=patch)
    return ExitCode.PROBLEMS if tally.stale else ExitCode.OK


def _run_to_fix(store: Store, run_id: int | None) -> RunRow:
    if run_id is None:
        run_id = judged_run(store)
        if run_id is None:
            raise StoreError(store.path, "holds no run with verdicts yet: `linkcheck run` first")
    run = chosen_run(store, run_id)
    if not hashes_recorded(store, run.id):
        raise StoreError(
            store.path,
            f"run {run.id} is from a linkcheck that did not record its cards' SHA-256, so a card"
            " changed since cannot be told apart: `linkcheck run` again, then fix",
        )
    return run


@contextlib.contextmanager
def _diff_output(patch: Path | None) -> Iterator[IO[str]]:
    if patch is None:
        yield sys.stdout
        return
    with atomic_writer(patch) as out:
        yield out


def _colour(out: IO[str]) -> bool:
    return out is sys.stdout and out.isatty() and not os.environ.get("NO_COLOR")


def _handle(fix: CardFix, out: IO[str], *, apply: bool, colour: bool) -> bool:
    """Show (and with `apply`, write) one card's fix; whether its edit stands."""
    for person in fix.needs_person:
        _note(f"needs a person: {fix.path} {person.field or '-'} ({person.kind}): {person.reason}")
    for correction, reason in fix.refused:
        _note(f"needs a person: {fix.path} ({correction.kind}): {reason}")
    if fix.skipped is not None:
        _note(f"skipped {fix.path}: {fix.skipped}")
        return False
    if fix.edited is None:
        return True
    if apply:
        failed = write_card(fix)
        if failed is not None:
            _note(f"skipped {fix.path}: {failed}")
            return False
    out.write(coloured(fix.diff) if colour else fix.diff)
    return True


def _note(line: str) -> None:
    print("linkcheck: " + " ".join(safe_text(line).split()), file=sys.stderr)


def _summary(tally: _Tally, run_id: int, *, apply: bool, patch: Path | None) -> None:
    done = "changed" if apply else "to change"
    lines = [
        f"linkcheck fix, run {run_id}: {tally.cards_changed} cards {done},"
        f" {tally.cards_skipped} skipped"
    ]
    if tally.fixed or tally.person or tally.skipped:
        lines += tally.lines(apply)
    if patch is not None:
        lines.append(f"patch written to {safe_text(str(patch))} (apply: git -C CARDS apply FILE)")
    elif not apply:
        lines.append("dry run: nothing written; --apply writes the cards, --patch FILE a patch")
    print("\n".join(lines), file=sys.stderr)
