"""The queries the reports are built from (report.json, problems.csv, JUnit, the dashboard's
summary parts). Whatever can be as long as the corpus is streamed, never read whole."""

from __future__ import annotations

import json
from collections.abc import Iterator

from crawler.model import FAILING, UNVERIFIED, Kind
from crawler.store.database import Store
from crawler.store.merge import merge_join
from crawler.store.records import (
    BlockedHost,
    HostCount,
    KindCount,
    ProblemsThen,
    ProviderCount,
    RunHead,
    RunStatusCount,
    StatusChange,
    StatusCount,
    StoredCard,
    UrlResult,
    columns,
)


def cards(store: Store, run_id: int) -> Iterator[StoredCard]:
    """Every card of the run, by path; streamed."""
    rows = store.reader().execute(
        f"SELECT {columns(StoredCard)} FROM cards WHERE run_id = ? ORDER BY path", (run_id,)
    )
    return map(StoredCard._make, rows)


def url_results(store: Store, run_id: int) -> Iterator[UrlResult]:
    """Every URL result of the run, by URL; streamed."""
    rows = store.reader().execute(
        f"SELECT {columns(UrlResult)} FROM url_results WHERE run_id = ? ORDER BY url", (run_id,)
    )
    return map(UrlResult._make, rows)


def url_result_count(store: Store, run_id: int) -> int:
    row = store.db.execute("SELECT COUNT(*) FROM url_results WHERE run_id = ?", (run_id,))
    return int(row.fetchone()[0])


def status_counts(store: Store, run_id: int) -> list[StatusCount]:
    """How many cards of the run have each status."""
    rows = store.db.execute(
        "SELECT status, COUNT(*) FROM cards WHERE run_id = ? GROUP BY status", (run_id,)
    )
    return [StatusCount._make(row) for row in rows]


def kind_counts(store: Store, run_id: int) -> list[KindCount]:
    """How many cards have at least one problem of each kind, by kind."""
    rows = store.db.execute(
        "SELECT json_extract(p.value, '$.kind') AS kind, COUNT(DISTINCT c.path) FROM cards c,"
        " json_each(c.problems) p WHERE c.run_id = ? GROUP BY kind ORDER BY kind",
        (run_id,),
    )
    return [KindCount._make(row) for row in rows]


def host_counts(store: Store, run_id: int) -> list[HostCount]:
    """How many URLs of each host have each status, by host."""
    rows = store.db.execute(
        "SELECT host, status, COUNT(*) FROM url_results WHERE run_id = ? GROUP BY host, status"
        " ORDER BY host",
        (run_id,),
    )
    return [HostCount._make(row) for row in rows]


def blocked_hosts(store: Store, run_id: int) -> list[BlockedHost]:
    """The hosts whose bot protection answered instead of the page in the run, with how many of
    their URLs it blocked and the vendors seen; the most blocked first. The vendor is read from
    the finding's detail, "<vendor> <wall>: <evidence>" (crawler/judge/botwall.py)."""
    detail = "json_extract(f.value, '$.detail')"
    rows = store.db.execute(
        f"SELECT u.host, substr({detail}, 1, instr({detail}, ': ') - 1) AS wall,"
        " COUNT(DISTINCT u.url) FROM url_results u, json_each(u.findings) f"
        " WHERE u.run_id = ? AND json_extract(f.value, '$.kind') = ? GROUP BY u.host, wall",
        (run_id, Kind.BOT_BLOCKED.value),
    )
    urls: dict[str, int] = {}
    vendors: dict[str, set[str]] = {}
    for host, wall, count in rows:
        urls[host] = urls.get(host, 0) + count
        vendors.setdefault(host, set()).add(str(wall).rpartition(" ")[0] or str(wall))
    return sorted(
        (BlockedHost(host, n, tuple(sorted(vendors[host]))) for host, n in urls.items()),
        key=lambda b: (-b.urls, b.host),
    )


def provider_counts(store: Store, run_id: int) -> list[ProviderCount]:
    """How many cards of each provider have each status."""
    rows = store.db.execute(
        "SELECT provider, COALESCE(status, 'ok'), COUNT(*) FROM cards WHERE run_id = ?"
        " GROUP BY provider, status",
        (run_id,),
    )
    return [ProviderCount._make(row) for row in rows]


# A card's URLs in its run, and those of them whose result there does not fail and was verified
# (a bot wall or robots.txt says nothing of the link: JSON arrays)
_LINKED = (
    "SELECT json_group_array(l.url) FROM card_links l WHERE l.run_id = c.run_id AND l.path = c.path"
)
_HEALTHY = (
    "SELECT json_group_array(l.url) FROM card_links l JOIN url_results u"
    " ON u.run_id = l.run_id AND u.url = l.url WHERE l.run_id = c.run_id AND l.path = c.path"
    f" AND u.status NOT IN ({', '.join('?' * len(FAILING))}) AND NOT EXISTS (SELECT 1 FROM"
    " json_each(u.findings) f WHERE json_extract(f.value, '$.kind') IN"
    f" ({', '.join('?' * len(UNVERIFIED))}))"
)
_UNVERIFIED = sorted(UNVERIFIED)


def problems_then(store: Store, run_id: int, previous: int) -> Iterator[ProblemsThen]:
    """Each card of the run (by path) with its problems then and in run `previous`, the URLs
    it names in the run and those the run found healthy (and could verify); streamed."""
    reader = store.reader()
    now = reader.execute(
        f"SELECT c.path, c.problems, ({_LINKED}), ({_HEALTHY}) FROM cards c WHERE c.run_id = ?"
        " ORDER BY c.path",
        (*FAILING, *_UNVERIFIED, run_id),
    )
    before = reader.cursor().execute(
        "SELECT path, problems FROM cards WHERE run_id = ? ORDER BY path", (previous,)
    )
    for row, earlier in merge_join(now, before, _first, _first):
        linked, healthy = frozenset(json.loads(row[2])), frozenset(json.loads(row[3]))
        yield ProblemsThen(row[0], row[1], earlier[0][1] if earlier else None, linked, healthy)


def _first(row: tuple[str, str | None]) -> str:
    return row[0]


def status_changes(store: Store, run_id: int, previous: int) -> Iterator[StatusChange]:
    """The cards of the run failing now or in run `previous` (by path), with both statuses and
    the problems they had then; streamed."""
    rows = store.reader().execute(
        "SELECT c.path, c.title, COALESCE(c.status, 'ok') AS now, p.status AS was, p.problems"
        " FROM cards c LEFT JOIN cards p ON p.run_id = ? AND p.path = c.path"
        " WHERE c.run_id = ? AND (COALESCE(c.status, 'ok') != 'ok' OR"
        " COALESCE(p.status, 'ok') != 'ok') ORDER BY c.path",
        (previous, run_id),
    )
    return map(StatusChange._make, rows)


def recent_runs(store: Store, run_id: int, limit: int) -> list[RunHead]:
    """Up to `limit` runs that are not running, up to run `run_id`, the latest first."""
    rows = store.db.execute(
        "SELECT id, started_at, state FROM runs WHERE id <= ? AND state != 'running'"
        " ORDER BY id DESC LIMIT ?",
        (run_id, limit),
    )
    return [RunHead._make(row) for row in rows]


def status_counts_by_run(store: Store, first: int, last: int) -> list[RunStatusCount]:
    """How many cards have each status, in each run from `first` to `last` (a pruned run's from
    the counts kept when its cards went: crawler/store/prune.py)."""
    rows = store.db.execute(
        "SELECT run_id, COALESCE(status, 'ok'), COUNT(*) FROM cards WHERE run_id BETWEEN ? AND ?"
        " GROUP BY run_id, status"
        " UNION ALL SELECT run_id, status, cards FROM run_status_counts"
        " WHERE run_id BETWEEN ? AND ?",
        (first, last, first, last),
    )
    return [RunStatusCount._make(row) for row in rows]
