"""The queries `linkcheck fix` reads: the last run with verdicts, and its cards with problems."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from crawler.store.database import Store


class CardToFix(NamedTuple):
    path: str  # relative to the run's cards folder
    problems: str  # JSON: every problem, card and URL level (the card's own, if never judged)
    sha256: str | None  # of the file as the run read it; None: read before linkcheck recorded it


def judged_run(store: Store) -> int | None:
    """The last run that has verdicts (a live run has none until it ends; a pruned one none)."""
    row = store.db.execute(
        "SELECT id FROM runs r WHERE EXISTS"
        " (SELECT 1 FROM cards c WHERE c.run_id = r.id AND c.status IS NOT NULL)"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else int(row[0])


def cards_to_fix(store: Store, run_id: int) -> Iterator[CardToFix]:
    """The run's cards that have a problem, by path; streamed."""
    rows = store.reader().execute(
        "SELECT path, COALESCE(problems, card_problems) AS found, sha256 FROM cards"
        " WHERE run_id = ? AND found != '[]' ORDER BY path",
        (run_id,),
    )
    return map(CardToFix._make, rows)


def hashes_recorded(store: Store, run_id: int) -> bool:
    """Whether the run recorded its cards' SHA-256 (runs before store schema 7 did not)."""
    row = store.db.execute(
        "SELECT 1 FROM cards WHERE run_id = ? AND sha256 IS NOT NULL LIMIT 1", (run_id,)
    ).fetchone()
    return row is not None
