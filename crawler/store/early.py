"""Cards judged while the crawl runs (early_verdicts): which cards a run's new results touch,
their verdicts kept aside, and at the run's end either taken as the cards' verdicts and history
(a finished run, not degraded) or dropped (the cards are judged again with the rest)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from crawler.store.database import Store
from crawler.store.records import CardVerdict

_CHUNK = 500  # values bound in one IN (...) list


def cards_linking(store: Store, run_id: int, urls: Iterable[str]) -> set[str]:
    """The paths of the run's cards that link to any of `urls`."""
    found: set[str] = set()
    wanted = list(urls)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = store.db.execute(
            "SELECT DISTINCT path FROM card_links"
            f" WHERE run_id = ? AND url IN ({', '.join('?' * len(chunk))})",
            (run_id, *chunk),
        )
        found.update(path for (path,) in rows)
    return found


def complete_cards(store: Store, run_id: int, paths: Sequence[str]) -> list[str]:
    """Those of `paths` whose every link has this run's result, in path order. The check is
    SQLite's, so a card waiting for a link costs an index lookup, not a judgement."""
    found: list[str] = []
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        rows = store.db.execute(
            "SELECT c.path FROM cards c"
            f" WHERE c.run_id = ? AND c.path IN ({', '.join('?' * len(chunk))})"
            " AND NOT EXISTS (SELECT 1 FROM card_links l WHERE l.run_id = c.run_id"
            " AND l.path = c.path AND NOT EXISTS (SELECT 1 FROM url_results u"
            " WHERE u.run_id = l.run_id AND u.url = l.url))"
            " ORDER BY c.path",
            (run_id, *chunk),
        )
        found.extend(path for (path,) in rows)
    return found


def set_aside(store: Store, run_id: int, verdicts: Sequence[CardVerdict]) -> None:
    """Verdicts judged early, with their history (`recent`) to record if the run finishes."""
    with store.db as db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR REPLACE INTO early_verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, v.path, v.status, v.problems, v.first_failed_at, v.last_healthy_at,
                 v.consecutive_failures, v.trend, v.recent)
                for v in verdicts
            ],
        )  # fmt: skip


def take_early_verdicts(store: Store, run_id: int) -> int:
    """The verdicts set aside become the cards' verdicts, and their history is recorded, in one
    transaction with their removal. Returns how many."""
    with store.db as db:
        db.execute("BEGIN")
        taken: int = db.execute(
            "UPDATE cards SET status = e.status, problems = e.problems,"
            " first_failed_at = e.first_failed_at, consecutive_failures = e.consecutive_failures,"
            " trend = e.trend FROM early_verdicts e"
            " WHERE e.run_id = ? AND cards.run_id = e.run_id AND cards.path = e.path",
            (run_id,),
        ).rowcount
        db.execute(
            "INSERT OR REPLACE INTO card_state SELECT path, first_failed_at, last_healthy_at,"
            " consecutive_failures, recent, run_id FROM early_verdicts WHERE run_id = ?",
            (run_id,),
        )
        db.execute("DELETE FROM early_verdicts WHERE run_id = ?", (run_id,))
    return taken


def drop_early_verdicts(store: Store, run_id: int) -> None:
    """The run did not finish, or was degraded: what was judged early is judged again."""
    with store.db as db:
        db.execute("BEGIN")
        db.execute("DELETE FROM early_verdicts WHERE run_id = ?", (run_id,))
