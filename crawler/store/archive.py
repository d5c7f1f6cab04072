"""What the archive phase reads and writes: a run's page results without an archived copy (with
the first card that links each, whose title and date the lookup uses), and the copies found."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

from crawler.store.database import Store


class ArchiveCandidate(NamedTuple):
    """A page result of a run that may want an archived copy (crawler.judge.archive_copy
    decides), with the title and date of the first card (by path) that links it."""

    url: str
    status: str
    title: str | None
    card_title: str | None
    card_published: str | None


class ArchiveCopyRow(NamedTuple):
    url: str
    archive_url: str
    archive_timestamp: str | None


def archive_candidates(store: Store, run_id: int) -> Iterator[ArchiveCandidate]:
    """The run's page results with no archived copy that fail, or have a title that may have
    drifted from their card's; streamed."""
    # SQLite takes a bare column's value from the row MIN() picked: the first card's title
    rows = store.reader().execute(
        "SELECT u.url, u.status, u.title, c.title, c.published, MIN(l.path)"
        " FROM url_results u"
        " JOIN card_links l ON l.run_id = u.run_id AND l.url = u.url"
        " JOIN cards c ON c.run_id = l.run_id AND c.path = l.path"
        " WHERE u.run_id = ? AND u.link_kind = 'page' AND u.archive_url IS NULL"
        " AND (u.status IN ('rotted', 'broken') OR u.title IS NOT NULL)"
        " GROUP BY u.url ORDER BY u.url",
        (run_id,),
    )
    for row in rows:
        yield ArchiveCandidate(*row[:5])


def set_archive_copies(store: Store, run_id: int, copies: Sequence[ArchiveCopyRow]) -> None:
    """The archived copies found, onto the run's results."""
    if not copies:
        return
    with store.db as db:
        db.execute("BEGIN")
        db.executemany(
            "UPDATE url_results SET archive_url = ?, archive_timestamp = ?"
            " WHERE run_id = ? AND url = ?",
            [(c.archive_url, c.archive_timestamp, run_id, c.url) for c in copies],
        )
