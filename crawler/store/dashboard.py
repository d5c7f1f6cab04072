"""The dashboard's reads: one snapshot of the store, its failing cards streamed with their image
links, and the index of the URLs its rows refer to (kept in the snapshot, not in memory)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from crawler.store.database import Store
from crawler.store.merge import merge_join
from crawler.store.records import (
    FailingCard,
    ImageLink,
    KnownResult,
    StoredCard,
    UrlBrief,
    columns,
)

_CARD_WIDTH = len(StoredCard._fields)
_NOT_OK = "c.status IS NOT NULL AND c.status != 'ok'"


def snapshot(store: Store) -> sqlite3.Connection:
    """The dashboard's own connection to the store. It reads one snapshot throughout, since the
    URL table and the rows that refer to it must agree, and holds the URL index (UrlIndex) in
    its temporary schema, which is dropped with it. Close it when done."""
    store.flush()
    db = sqlite3.connect(store.path, isolation_level=None)
    db.execute("PRAGMA temp_store = FILE")  # past SQLite's small page cache, on disk
    db.execute("BEGIN")  # a read transaction: the snapshot is taken at the first read
    return db


def failing_cards(
    db: sqlite3.Connection, run_id: int, previous: int | None
) -> Iterator[FailingCard]:
    """Each card that is not ok (by path) with its status in run `previous` (None if that run
    did not have it) and its image links; streamed."""
    cards = db.execute(
        f"SELECT {columns(StoredCard, 'c.')}, p.status FROM cards c"
        " LEFT JOIN cards p ON p.run_id = ? AND p.path = c.path"
        f" WHERE c.run_id = ? AND {_NOT_OK} ORDER BY c.path",
        (previous, run_id),
    )
    links = db.execute(
        "SELECT l.path, l.field, l.url, l.declared_width, l.declared_height FROM card_links l"
        " JOIN cards c ON c.run_id = l.run_id AND c.path = l.path WHERE l.run_id = ?"
        f" AND l.link_kind = 'image' AND {_NOT_OK} ORDER BY l.path, l.ord",
        (run_id,),
    )
    rows = ((StoredCard._make(row[:_CARD_WIDTH]), row[_CARD_WIDTH]) for row in cards)
    pairs = merge_join(rows, map(ImageLink._make, links), _card_path, _link_path)
    for (card, previous_status), images in pairs:
        yield FailingCard(card, previous_status, images)


def _card_path(row: tuple[StoredCard, str | None]) -> str:
    return row[0].path


def _link_path(link: ImageLink) -> str:
    return link.path


class UrlIndex:
    """URLs referenced by the rows, numbered from 0 in the order they are first referenced.

    A big run's rows name tens of thousands of URLs: they are kept in a temporary table of the
    snapshot connection (in SQLite's small page cache, then on disk), not in a dict, so that
    memory does not grow with the rows; and the URL table is then one join."""

    def __init__(self, db: sqlite3.Connection, run_id: int) -> None:
        self._db = db
        self._run_id = run_id
        db.execute(
            "CREATE TEMP TABLE dashboard_urls (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE)"
        )
        self.size = 0

    def ref(self, url: str) -> int:
        added = self._db.execute(
            "INSERT OR IGNORE INTO temp.dashboard_urls VALUES (?, ?)", (self.size, url)
        )
        if added.rowcount:
            self.size += 1
            return self.size - 1
        found = self._db.execute("SELECT id FROM temp.dashboard_urls WHERE url = ?", (url,))
        return int(found.fetchone()[0])

    def known(self, url: str | None) -> KnownResult:
        """A problem's URL's HTTP status and final URL in this run's results."""
        if not url:
            return KnownResult(None, None)
        row = self._db.execute(
            "SELECT http_status, final_url FROM url_results WHERE run_id = ? AND url = ?",
            (self._run_id, str(url)),
        ).fetchone()
        return KnownResult._make(row) if row is not None else KnownResult(None, None)

    def with_results(self) -> Iterator[tuple[str, UrlBrief | None]]:
        """Each URL, in index order, with its result in this run (None when it has none)."""
        rows = self._db.execute(
            f"SELECT t.url, r.url, {columns(UrlBrief, 'r.')}"
            " FROM temp.dashboard_urls t LEFT JOIN url_results r ON r.run_id = ? AND r.url = t.url"
            " ORDER BY t.id",
            (self._run_id,),
        )
        for row in rows:
            yield row[0], UrlBrief._make(row[2:]) if row[1] is not None else None
