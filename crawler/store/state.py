"""Verdicts and history in the store: what judging reads (each card with its links and their
results, each URL result with its streak so far) and writes back, and the timelines
`linkcheck history` prints. Only finished runs write history, once each."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

from crawler.store.database import Store
from crawler.store.merge import merge_join
from crawler.store.records import (
    CardTimelineEntry,
    CardToJudge,
    CardVerdict,
    HostReach,
    LinkResult,
    StoredCard,
    StreakState,
    UrlHistory,
    UrlTimelineEntry,
    UrlToFold,
    columns,
)

_STATE = "s.first_failed_at, s.last_healthy_at, s.consecutive_failures, s.recent, s.last_run_id"
_CARD_WIDTH = len(StoredCard._fields)


def cards_to_judge(
    store: Store, run_id: int, *, paths: Sequence[str] | None = None, skip_early: bool = False
) -> Iterator[CardToJudge]:
    """Each card of the run (by path) with its history so far and its links joined to their
    URL results (None columns where a URL was not checked); streamed. Only the cards in `paths`
    when given; with `skip_early`, not the cards judged while the crawl ran (early_verdicts)."""
    where, params = "", tuple[str, ...]()
    if paths is not None:
        where, params = f" AND {{0}}.path IN ({', '.join('?' * len(paths))})", tuple(paths)
    elif skip_early:
        where = (
            " AND NOT EXISTS (SELECT 1 FROM early_verdicts e"
            " WHERE e.run_id = {0}.run_id AND e.path = {0}.path)"
        )
    reader = store.reader()
    cards = reader.execute(
        f"SELECT {columns(StoredCard, 'c.')}, {_STATE}"
        " FROM cards c LEFT JOIN card_state s ON s.path = c.path"
        f" WHERE c.run_id = ?{where.format('c')} ORDER BY c.path",
        (run_id, *params),
    )
    links = reader.cursor().execute(
        "SELECT l.path, l.ord, l.field, l.url, l.link_kind, l.declared_width,"
        " l.declared_height, u.status AS url_status, u.findings, u.http_status,"
        " u.final_url, u.image_width, u.image_height, u.image_format, u.trend,"
        " u.first_failed_at, u.consecutive_failures, u.title, u.archive_url,"
        " u.archive_timestamp"
        " FROM card_links l LEFT JOIN url_results u ON u.run_id = l.run_id AND u.url = l.url"
        f" WHERE l.run_id = ?{where.format('l')} ORDER BY l.path, l.ord",
        (run_id, *params),
    )
    pairs = merge_join(cards, map(LinkResult._make, links), lambda c: c["path"], _path)
    for row, own in pairs:
        card = StoredCard._make(row[:_CARD_WIDTH])
        yield CardToJudge(card, StreakState.of(row[_CARD_WIDTH:]), own)


def _path(link: LinkResult) -> str:
    return link.path


def set_card_verdicts(store: Store, run_id: int, verdicts: Sequence[CardVerdict]) -> None:
    """Each card's verdict, and with it (`recent` set) the card's history after this run."""
    with store.db as db:
        db.execute("BEGIN")
        db.executemany(
            "UPDATE cards SET status = ?, problems = ?, first_failed_at = ?,"
            " consecutive_failures = ?, trend = ? WHERE run_id = ? AND path = ?",
            [
                (v.status, v.problems, v.first_failed_at, v.consecutive_failures, v.trend,
                 run_id, v.path)
                for v in verdicts
            ],
        )  # fmt: skip
        db.executemany(
            "INSERT OR REPLACE INTO card_state VALUES (?, ?, ?, ?, ?, ?)",
            [
                (v.path, v.first_failed_at, v.last_healthy_at, v.consecutive_failures,
                 v.recent, run_id)
                for v in verdicts
                if v.recent is not None
            ],
        )  # fmt: skip


def urls_to_fold(store: Store, run_id: int) -> Iterator[UrlToFold]:
    """Each URL result of the run with the URL's history so far; streamed."""
    rows = store.reader().execute(
        f"SELECT r.url, r.status, r.checked_at, r.reused_from, r.findings, {_STATE}"
        " FROM url_results r LEFT JOIN url_state s ON s.url = r.url WHERE r.run_id = ?",
        (run_id,),
    )
    for row in rows:
        yield UrlToFold(row[0], row[1], row[2], row[3], StreakState.of(row[5:]), row[4])


def write_url_history(store: Store, run_id: int, histories: Sequence[UrlHistory]) -> None:
    """Each URL's streak after the run, on its result and (`recent` set) as its state."""
    with store.db as db:
        db.execute("BEGIN")
        db.executemany(
            "UPDATE url_results SET first_failed_at = ?, consecutive_failures = ?, trend = ?"
            " WHERE run_id = ? AND url = ?",
            [
                (h.first_failed_at, h.consecutive_failures, h.trend, run_id, h.url)
                for h in histories
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO url_state VALUES (?, ?, ?, ?, ?, ?)",
            [
                (h.url, h.first_failed_at, h.last_healthy_at, h.consecutive_failures, h.recent,
                 run_id)
                for h in histories
                if h.recent is not None
            ],
        )  # fmt: skip


def host_reach(store: Store, run_id: int, network_kinds: Collection[str]) -> list[HostReach]:
    """Per host, the URLs the run fetched itself (reused results were not): how many got an
    HTTP answer, and how many failed with one of `network_kinds` and no answer."""
    store.flush()
    marks = ", ".join("?" * len(network_kinds))
    rows = store.db.execute(
        "SELECT host, SUM(http_status IS NOT NULL),"
        f" SUM(http_status IS NULL AND kind IN ({marks}))"
        " FROM url_results WHERE run_id = ? AND reused_from IS NULL GROUP BY host",
        (*network_kinds, run_id),
    )
    return [HostReach._make(row) for row in rows]


def url_timeline(store: Store, url: str) -> list[UrlTimelineEntry]:
    """The URL's result in every run that checked it, oldest first."""
    rows = store.db.execute(
        "SELECT r.id AS run_id, r.started_at, r.state, u.status, u.kind, u.http_status,"
        " u.final_url, u.findings, u.reused_from, u.checked_at, u.trend"
        " FROM url_results u JOIN runs r ON r.id = u.run_id WHERE u.url = ? ORDER BY r.id",
        (url,),
    )
    return [UrlTimelineEntry._make(row) for row in rows]


def card_timeline(store: Store, path: str) -> list[CardTimelineEntry]:
    """The card's verdict in every run that read it, oldest first."""
    rows = store.db.execute(
        "SELECT r.id AS run_id, r.started_at, r.state, c.status, c.problems, c.trend"
        " FROM cards c JOIN runs r ON r.id = c.run_id WHERE c.path = ? ORDER BY r.id",
        (path,),
    )
    return [CardTimelineEntry._make(row) for row in rows]
