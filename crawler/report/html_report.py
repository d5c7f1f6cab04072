"""report.html: the maintainers' dashboard, one self-contained page built from the store.

Everything the page needs is inside the file: CSS, JS, the trend chart (inline SVG) and the
problem rows (one JSON blob in a `<script type="application/json">`). The page makes no request
of its own; a card's images are the only outside requests, and the JS creates them only when that
card's detail is opened. A strict Content-Security-Policy (hashes of the one inline style and the
one inline script) backs this up, and every card field reaches the DOM as text, never as markup.

The page is streamed to its file: the rows and the URL table go from the store to the file one
at a time, so memory stays flat however many cards fail.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from crawler.model import STATUS_LABELS, Kind, Severity
from crawler.redact import Redactor
from crawler.report.json_report import atomic_writer, run_redactor, run_section, summary_section
from crawler.store.database import Store

TEMPLATES = Path(__file__).with_name("templates")
FAILING_STATUSES = ("rotted", "broken")
TREND_RUNS = 60  # runs drawn in the trend chart
FIXED_SHOWN = 500  # fixed cards listed by name; the rest are counted

# How to fix a problem, by kind. `{name}` placeholders are filled by the page from the problem and
# its URL's result (final_url, width, height, archive_url); when one is unknown the second text,
# with no placeholder, is shown instead.
FIX_HINTS: dict[str, tuple[str, str]] = {
    "amp_cache_mismatch": (
        "cdnAmpWebUrl is not the AMP cache URL of ampWebUrl: set it to the expected URL in the"
        " detail.",
        "Set cdnAmpWebUrl to ampWebUrl's cache URL.",
    ),
    "amp_retired": (
        "The publisher no longer serves this page as AMP: remove ampWebUrl and cdnAmpWebUrl"
        " (webUrl still works).",
        "Remove the card's AMP links.",
    ),
    "check_failed": (
        "linkcheck could not judge this link (an internal error, logged with the URL): nothing to"
        " fix in the card; report it if it repeats.",
        "Nothing to fix in the card; report it if it repeats.",
    ),
    "not_found": (
        "Remove the link or point it at an archived copy.",
        "Remove the link or point it at an archived copy.",
    ),
    "gone": (
        "The page was removed on purpose: remove the link or point it at an archived copy.",
        "Remove the link or point it at an archived copy.",
    ),
    "client_error": (
        "The site refuses the request (HTTP 4xx): check the URL, or replace the link.",
        "Check the URL, or replace the link.",
    ),
    "server_error": (
        "The site fails (HTTP 5xx): recheck later; if it persists, replace or remove the link.",
        "Recheck later; if it persists, replace or remove the link.",
    ),
    "timeout": (
        "The site did not answer in time: recheck later; if it persists, remove the link.",
        "Recheck later; if it persists, remove the link.",
    ),
    "dns_error": (
        "The host name no longer resolves: the site is likely gone. Replace or remove the link.",
        "Replace or remove the link.",
    ),
    "connection_error": (
        "The connection failed: recheck later; if it persists, replace or remove the link.",
        "Recheck later; if it persists, replace or remove the link.",
    ),
    "tls_error": (
        "The site's certificate or TLS setup is broken: try the http(s) variant, or replace it.",
        "Replace the link.",
    ),
    "redirect_loop": (
        "The URL redirects in a loop: find the article's real address, or remove the link.",
        "Find the article's real address, or remove the link.",
    ),
    "too_many_redirects": (
        "Too many redirects: replace the URL with the page it should end on.",
        "Replace the URL with the page it should end on.",
    ),
    "not_an_image": (
        "The URL does not serve an image: point it at the image file itself.",
        "Point it at the image file itself.",
    ),
    "image_corrupt": (
        "The image cannot be decoded: replace it with a working copy.",
        "Replace the image with a working copy.",
    ),
    "image_dimension_mismatch": (
        "Set width/height to {width} x {height}.",
        "Set width/height to the image's real size.",
    ),
    "soft_404": (
        "The page answers but says it is not found: remove the link or point it at an archived"
        " copy.",
        "Remove the link or point it at an archived copy.",
    ),
    "redirect_to_home": (
        "The article now lands on the site's home page ({final_url}): find its new address or"
        " remove the link.",
        "Find the article's new address or remove the link.",
    ),
    "content_drift": (
        "The page no longer matches the card: check that the link still points at the article.",
        "Check that the link still points at the article.",
    ),
    "moved_permanently": (
        "Replace the URL with {final_url}.",
        "Replace the URL with its new address.",
    ),
    "rate_limited": (
        "The site limited our requests: recheck later, or lower --rate-per-host for it.",
        "Recheck later, or lower --rate-per-host.",
    ),
    "image_too_large": (
        "The image is larger than the size limit: use a smaller copy.",
        "Use a smaller copy of the image.",
    ),
    "relative_url_unresolved": (
        "Make the URL absolute, or run with --base-url.",
        "Make the URL absolute, or run with --base-url.",
    ),
    "blocked_address": (
        "The URL resolves to a private or local address: replace it with a public URL.",
        "Replace it with a public URL.",
    ),
    "card_control_character": (
        "Remove the control characters from the field.",
        "Remove the control characters from the field.",
    ),
    "card_parse_error": (
        "Fix the card's YAML front matter so that it parses.",
        "Fix the card's YAML front matter.",
    ),
    "card_missing_field": ("Add the missing field to the card.", "Add the missing field."),
    "card_invalid_field": ("Correct the field's value.", "Correct the field's value."),
    "invalid_url": (
        "Fix the URL: it must be an absolute http(s) URL.",
        "Fix the URL: it must be an absolute http(s) URL.",
    ),
}
ARCHIVE_HINT = "An archived copy: {archive_url}"

_SEVERITY_RANK = {label: i for i, label in enumerate(STATUS_LABELS)}
_SCRIPT_CLOSE = re.compile(r"</(script|style)", re.IGNORECASE)


# -- data gathered from the store ----------------------------------------------------------------


def _optional(row: Any, name: str) -> Any:
    """A column that a store written by an older linkcheck may lack."""
    return row[name] if name in row.keys() else None  # noqa: SIM118 (a Row's `in` is by value)


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def trend_points(store: Store, run_id: int, limit: int = TREND_RUNS) -> list[dict[str, Any]]:
    """Share of broken and of rotted cards per run, for the runs up to this one (oldest first)."""
    runs = store.rows(
        "SELECT id, started_at, state FROM runs WHERE id <= ? AND state != 'running'"
        " ORDER BY id DESC LIMIT ?",
        (run_id, limit),
    )
    if not runs:
        return []
    first = runs[-1]["id"]
    counts: dict[int, dict[str, int]] = {}
    for row in store.rows(
        "SELECT run_id, COALESCE(status, 'ok'), COUNT(*) FROM cards WHERE run_id BETWEEN ? AND ?"
        " GROUP BY run_id, status",
        (first, run_id),
    ):
        per = counts.setdefault(row[0], {})
        per[row[1]] = per.get(row[1], 0) + row[2]
    points = []
    for run in reversed(runs):
        per = counts.get(run["id"], {})
        total = sum(per.values())
        if not total:
            continue
        points.append(
            {
                "run_id": run["id"],
                "started_at": run["started_at"],
                "state": run["state"],
                "cards": total,
                "broken": per.get("broken", 0),
                "rotted": per.get("rotted", 0),
                "broken_share": _share(per.get("broken", 0), total),
                "rotted_share": _share(per.get("rotted", 0), total),
            }
        )
    return points


def trend_chart(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Coordinates of the trend chart's lines, in a 640 x 200 view box."""
    width, height, left, right, top, bottom = 640, 200, 44, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([p["broken_share"] for p in points] + [p["rotted_share"] for p in points] + [0.0])
    # the y axis ends at the first of these at or above the highest share: round quarter ticks
    top_share = next(s for s in (0.04, 0.08, 0.2, 0.4, 0.6, 0.8, 1.0) if s >= peak - 1e-9)
    n = len(points)

    def x(i: int) -> float:
        return round(left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 1)

    def y(share: float) -> float:
        return round(top + plot_h * (1 - share / top_share), 1)

    series = []
    for name in FAILING_STATUSES[::-1]:
        dots = [
            {
                "x": x(i),
                "y": y(p[f"{name}_share"]),
                "label": f"run {p['run_id']} ({p['started_at'][:10]}): {p[name]:,} of"
                f" {p['cards']:,} cards {name} ({p[f'{name}_share']:.1%})",
            }
            for i, p in enumerate(points)
        ]
        series.append(
            {"name": name, "dots": dots, "line": " ".join(f"{d['x']},{d['y']}" for d in dots)}
        )
    ticks = [
        {"y": y(top_share * f), "label": f"{top_share * f:.0%}"} for f in (0.0, 0.25, 0.5, 0.75, 1)
    ]
    step = max(1, n // 8)
    xlabels = [
        {"x": x(i), "label": f"#{p['run_id']}"}
        for i, p in enumerate(points)
        if i % step == 0 or i == n - 1
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "series": series,
        "ticks": ticks,
        "xlabels": xlabels,
    }


def status_changes(store: Store, run_id: int, *, list_new: bool = True) -> dict[str, Any]:
    """Cards failing now that were fine (or absent) in the previous finished run, and cards that
    failed then and are fine now. Only cards this run checked are compared. The new cards are
    counted (`new_n`), and their paths listed (`new`) only with list_new: there can be as many
    as there are failing cards."""
    previous = store.previous_finished_run(run_id)
    result: dict[str, Any] = {
        "previous_run": previous,
        "new": set(),
        "new_n": 0,
        "fixed": [],
        "fixed_n": 0,
    }
    if previous is None:
        return result
    rows = store.reader().execute(
        "SELECT c.path, c.title, COALESCE(c.status, 'ok') AS now, p.status AS was, p.problems"
        " FROM cards c LEFT JOIN cards p ON p.run_id = ? AND p.path = c.path"
        " WHERE c.run_id = ? AND (COALESCE(c.status, 'ok') != 'ok' OR"
        " COALESCE(p.status, 'ok') != 'ok') ORDER BY c.path",
        (previous, run_id),
    )
    for row in rows:
        now, was = row["now"], row["was"] or "ok"
        if now != "ok" and was == "ok":
            result["new_n"] += 1
            if list_new:
                result["new"].add(row["path"])
        elif now == "ok" and was != "ok":
            result["fixed_n"] += 1
            if len(result["fixed"]) < FIXED_SHOWN:
                kinds = sorted({p["kind"] for p in json.loads(row["problems"] or "[]")})
                result["fixed"].append(
                    {"path": row["path"], "title": row["title"], "was": was, "kinds": kinds}
                )
    return result


def provider_breakdown(store: Store, run_id: int) -> list[dict[str, Any]]:
    """Cards per provider, with how many are broken or rotted; the most rotten first."""
    table: dict[str, dict[str, Any]] = {}
    for row in store.rows(
        "SELECT provider, COALESCE(status, 'ok'), COUNT(*) FROM cards WHERE run_id = ?"
        " GROUP BY provider, status",
        (run_id,),
    ):
        name = row[0] if row[0] is not None else ""
        entry = table.setdefault(name, {"provider": name, "cards": 0, "broken": 0, "rotted": 0})
        entry["cards"] += row[2]
        if row[1] in FAILING_STATUSES:
            entry[row[1]] += row[2]
    return _ranked(table.values(), "cards")


def host_breakdown(by_host: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """URLs per host (from the summary), with how many are broken or rotted; the worst first."""
    entries = (
        {
            "host": host,
            "urls": counts.get("urls", 0),
            "broken": counts.get("broken", 0),
            "rotted": counts.get("rotted", 0),
        }
        for host, counts in by_host.items()
    )
    return _ranked(entries, "urls")


def _ranked(entries: Iterable[dict[str, Any]], total: str) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        failing = entry["broken"] + entry["rotted"]
        out.append({**entry, "failing": failing, "share": _share(failing, entry[total])})
    out.sort(
        key=lambda e: (
            -e["failing"],
            -e["share"],
            -e[total],
            str(e.get("host") or e.get("provider") or ""),
        )
    )
    return out


def _snapshot(store: Store) -> sqlite3.Connection:
    """The dashboard's own connection to the store. It reads one snapshot throughout, since the
    URL table and the rows that refer to it must agree, and holds the URL index (_UrlIndex) in
    its temporary schema, which is dropped with it."""
    store.flush()
    db = sqlite3.connect(store.path, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA temp_store = FILE")  # past SQLite's small page cache, on disk
    db.execute("BEGIN")  # a read transaction: the snapshot is taken at the first read
    return db


def _problem_rows(
    db: sqlite3.Connection, run_id: int, previous: int | None
) -> Iterator[tuple[Any, list[Any]]]:
    """Each card that is not ok, with its image links (ordered by path, streamed). The card's
    `previous_status` is its status in run `previous` (None if that run did not have it)."""
    cards = db.execute(
        "SELECT c.*, p.status AS previous_status FROM cards c"
        " LEFT JOIN cards p ON p.run_id = ? AND p.path = c.path"
        " WHERE c.run_id = ? AND c.status IS NOT NULL AND c.status != 'ok' ORDER BY c.path",
        (previous, run_id),
    )
    links = db.execute(
        "SELECT l.path, l.field, l.url, l.declared_width, l.declared_height FROM card_links l"
        " JOIN cards c ON c.run_id = l.run_id AND c.path = l.path WHERE l.run_id = ?"
        " AND l.link_kind = 'image' AND c.status IS NOT NULL AND c.status != 'ok'"
        " ORDER BY l.path, l.ord",
        (run_id,),
    )
    pending = links.fetchone()
    for card in cards:
        own = []
        while pending is not None and pending["path"] < card["path"]:
            pending = links.fetchone()
        while pending is not None and pending["path"] == card["path"]:
            own.append(pending)
            pending = links.fetchone()
        yield card, own


# The page's URL table: one array per URL, these fields in this order (trailing nulls dropped);
# `h` is an index into the host list.
URL_FIELDS = ("u", "h", "c", "f", "a", "r", "w", "ht")
_RESULT_COLUMNS = (
    "r.host, r.http_status, r.final_url, r.redirects, r.attempts, r.image_width, r.image_height"
)


class _UrlIndex:
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

    def known(self, url: Any) -> dict[str, Any]:
        """A problem's URL's HTTP status (c) and final URL (f) in this run's results."""
        if not url:
            return {}
        row = self._db.execute(
            "SELECT http_status AS c, final_url AS f FROM url_results WHERE run_id = ? AND url = ?",
            (self._run_id, str(url)),
        ).fetchone()
        return dict(row) if row is not None else {}

    def with_results(self) -> Iterator[tuple[str, Any]]:
        """Each URL, in index order, with its result in this run (None when it has none)."""
        rows = self._db.execute(
            f"SELECT t.url AS indexed, r.url AS found, {_RESULT_COLUMNS}"
            " FROM temp.dashboard_urls t LEFT JOIN url_results r ON r.run_id = ? AND r.url = t.url"
            " ORDER BY t.id",
            (self._run_id,),
        )
        for row in rows:
            yield row["indexed"], row if row["found"] is not None else None


def _url_host(url: str, result: Any) -> str | None:
    """The host a URL is listed under: its result's, else the one in the URL itself."""
    return (result["host"] if result is not None else None) or _host_of(url)


def _number_hosts(urls: _UrlIndex) -> dict[str, int]:
    """The URL table's hosts, numbered in the order the table first names them."""
    hosts: dict[str, int] = {}
    for url, result in urls.with_results():
        host = _url_host(url, result)
        if host is not None:
            hosts.setdefault(host, len(hosts))
    return hosts


def _url_entry(url: str, result: Any, hosts: dict[str, int]) -> list[Any]:
    """One URL of the table: its result's host, HTTP status, final URL, attempts, redirect hops
    and real image size (see URL_FIELDS)."""
    entry: dict[str, Any] = {"u": url}
    if result is not None:
        hops = [
            [hop["status"], hop["url"], hop["location"]] for hop in json.loads(result["redirects"])
        ]
        entry.update(
            h=result["host"],
            c=result["http_status"],
            f=result["final_url"],
            a=result["attempts"],
            r=hops or None,
            w=result["image_width"],
            ht=result["image_height"],
        )
    host = _url_host(url, result)
    if host is not None:
        entry["h"] = hosts[host]
    values = [entry.get(name) for name in URL_FIELDS]
    while values and values[-1] is None:
        values.pop()
    return values


_PROBLEM_EXTRAS = {
    "trend": "tr",
    "first_failed_at": "ff",
    "consecutive_failures": "cf",
    "archive_url": "ar",
}


def _compact_problem(problem: dict[str, Any], urls: _UrlIndex) -> dict[str, Any]:
    out: dict[str, Any] = {
        "f": problem.get("field"),
        "k": problem.get("kind"),
        "s": problem.get("severity"),
        "x": problem.get("detail") or "",
    }
    if problem.get("url"):
        out["u"] = urls.ref(str(problem["url"]))
    # kept until the row is built; dropped then where the URL's result says the same
    out["c"] = problem.get("http_status")
    out["fu"] = problem.get("final_url")
    for key, short in _PROBLEM_EXTRAS.items():
        if problem.get(key) is not None:
            out[short] = problem[key]
    return out


def _drop_repeats(problem: dict[str, Any], row: dict[str, Any], known: dict[str, Any]) -> None:
    """What the problem's URL (`known`: its result's c and f) or card already say is not
    repeated in the problem."""
    for short, name in (("c", "c"), ("fu", "f")):
        if problem[short] == known.get(name):
            del problem[short]
    for short in ("tr", "ff", "cf"):
        if short in problem and problem[short] == row.get(short):
            del problem[short]


def _dashboard_row(card: Any, images: list[Any], urls: _UrlIndex, compared: bool) -> dict[str, Any]:
    """One card of the problem table; `compared`: there is a previous run to call it new by."""
    problems = json.loads(card["problems"] or "[]")
    problems.sort(key=lambda p: -_SEVERITY_RANK.get(p.get("severity"), 0))
    compact = [_compact_problem(p, urls) for p in problems]
    row: dict[str, Any] = {
        "p": card["path"],
        "t": card["title"],
        "v": card["provider"],
        "d": card["published"],
        "s": card["status"],
        "pr": compact,
    }
    for column, short in (("first_failed_at", "ff"), ("trend", "tr")):
        value = _optional(card, column)
        if value is not None:
            row[short] = value
    failures = _optional(card, "consecutive_failures")
    if failures:
        row["cf"] = failures
    if compared and (card["previous_status"] or "ok") == "ok":
        row["n"] = 1
    if images:
        row["im"] = [
            [link["field"], urls.ref(link["url"]), link["declared_width"],
             link["declared_height"]]
            for link in images
        ]  # fmt: skip
    for problem, shown in zip(problems, compact, strict=True):
        _drop_repeats(shown, row, urls.known(problem.get("url")))
    return row


def _write_items(out: IO[str], items: Iterable[Any], redactor: Redactor) -> None:
    """The items of a JSON array, comma-separated, each as script_json writes it, redacted."""
    first = True
    for item in items:
        if not first:
            out.write(",")
        out.write(redactor.dumps(item, _json))
        first = False


def _write_blob(
    out: IO[str],
    store: Store,
    run_id: int,
    previous: int | None,
    extra: dict[str, Any],
    spool_dir: Path | None,
    redactor: Redactor,
) -> None:
    """The page's data blob, streamed: the same text as script_json({"url_fields", "hosts",
    "urls", "rows", **extra}), with rows for the cards that are not ok and the URLs and hosts
    those rows refer to (see URL_FIELDS). Rows marked new are those not failing in run
    `previous`. Memory does not grow with the rows: they wait in a temporary file in spool_dir
    while the URLs they refer to are numbered, since the URL table comes first. Every string
    is redacted as it is written; the URL table is indexed by the real URLs."""
    with (
        closing(_snapshot(store)) as db,
        tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n", dir=spool_dir) as rows,
    ):
        urls = _UrlIndex(db, run_id)
        cards = _problem_rows(db, run_id, previous)
        compared = previous is not None
        shown = redactor.value
        _write_items(
            rows, (_dashboard_row(c, images, urls, compared) for c, images in cards), redactor
        )
        hosts = _number_hosts(urls)
        out.write(f'{{"url_fields":{_json(list(URL_FIELDS))},"hosts":{_json(shown(list(hosts)))}')
        out.write(',"urls":[')
        entries = (_url_entry(u, result, hosts) for u, result in urls.with_results())
        _write_items(out, entries, redactor)
        out.write('],"rows":[')
        rows.seek(0)
        shutil.copyfileobj(rows, out)
        out.write("]" + ("," + _json(shown(extra))[1:] if extra else "}"))


def dashboard_data(store: Store, run_id: int) -> dict[str, Any]:
    """The rows, URLs and hosts of the page's data blob, parsed. For tests and tools: unlike
    the page, this holds every row in memory."""
    text = io.StringIO()
    previous = store.previous_finished_run(run_id)
    _write_blob(text, store, run_id, previous, {}, None, run_redactor(store, run_id))
    return json.loads(text.getvalue())  # type: ignore[no-any-return]


# -- rendering --------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else ("-" if n is None else n)
    env.filters["pct"] = lambda x: f"{x:.1%}"
    env.filters["day"] = lambda s: (s or "")[:10]
    env.filters["when"] = _when
    return env


def _when(value: str | None) -> str:
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _json(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def script_json(data: Any) -> Markup:
    """JSON safe inside a <script> element: no `<`, `>` or `&` survive, so no text (a card
    title holding `</script>` or `<!--`) can end the element or change how it is parsed."""
    return Markup(_json(data))


def _inline(name: str) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if _SCRIPT_CLOSE.search(text):
        raise ValueError(f"{name} must not contain a closing script or style tag")
    return text


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _page_context(store: Store, run_id: int, redactor: Redactor) -> dict[str, Any]:
    """What the template shows around the data blob: small whatever the number of cards. Its
    text is redacted (the summary's counts and kinds hold none)."""
    run = redactor.value(run_section(store, run_id))
    summary = summary_section(store, run_id)
    # the rows say which cards are new
    changes = redactor.value(status_changes(store, run_id, list_new=False))
    total_cards = sum(summary["by_status"].values())
    points = trend_points(store, run_id)
    css = _inline("dashboard.css")
    js = _inline("dashboard.js")
    # the data blob is not script (type application/json): only the code and style are hashed
    csp = (
        "default-src 'none'; "
        f"script-src {_csp_hash(js)}; "
        f"style-src {_csp_hash(css)}; "
        "img-src http: https:; "
        "base-uri 'none'; form-action 'none'"
    )
    known = {k.value: k.severity.label for k in Kind}
    kinds = [
        {"kind": kind, "cards": n, "severity": known.get(kind, "warning"), "share": 0.0}
        for kind, n in sorted(summary["by_kind"].items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    top_kind = max([k["cards"] for k in kinds] + [1])
    for entry in kinds:
        entry["share"] = entry["cards"] / top_kind
    return {
        "run": run,
        "summary": summary,
        "statuses": [s for s in STATUS_LABELS[::-1]],
        "failing": [s for s in STATUS_LABELS if s != Severity.OK.label],
        "total_cards": total_cards,
        "problem_cards": total_cards - summary["by_status"].get("ok", 0),
        "changes": changes,
        "new_n": changes["new_n"],
        "trend": points,
        "chart": trend_chart(points) if points else None,
        "kinds": kinds,
        "hosts": redactor.value(host_breakdown(summary["by_host"])),
        "providers": redactor.value(provider_breakdown(store, run_id)),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config_json": json.dumps(run["config"], indent=1, sort_keys=True),
        "csp": csp,
        "css": Markup(css),
        "js": Markup(js),
    }


def _blob_extra(context: dict[str, Any]) -> dict[str, Any]:
    """What the page's script needs besides the rows and URLs."""
    run = context["run"]
    return {
        "run": {
            "id": run["id"],
            "state": run["state"],
            "started_at": run["started_at"],
            "cards_root": run["cards_root"],
        },
        "statuses": list(STATUS_LABELS),
        "previous_run": context["changes"]["previous_run"],
        "hints": {kind: list(texts) for kind, texts in FIX_HINTS.items()},
        "archive_hint": ARCHIVE_HINT,
    }


# Where the data blob goes in the rendered page. Autoescaping turns every `<` of the text shown
# into `&lt;`, so only the template itself can hold this.
_DATA_SLOT = "<linkcheck-data-slot>"


def _around_blob(context: dict[str, Any]) -> tuple[str, str]:
    """The page before and after its data blob."""
    template = _environment().get_template("report.html.j2")
    page = template.render(**context, data_json=Markup(_DATA_SLOT))
    head, slot, tail = page.partition(_DATA_SLOT)
    if not slot or _DATA_SLOT in tail:
        raise ValueError(f"the page must hold {_DATA_SLOT} once, where the data goes")
    return head, tail


def _write_page(out: IO[str], store: Store, run_id: int, spool_dir: Path | None) -> None:
    redactor = run_redactor(store, run_id)
    context = _page_context(store, run_id, redactor)
    head, tail = _around_blob(context)
    out.write(head)
    previous = context["changes"]["previous_run"]
    _write_blob(out, store, run_id, previous, _blob_extra(context), spool_dir, redactor)
    out.write(tail)


def render_html(store: Store, run_id: int) -> str:
    """The whole page for one run, as text. It is held in memory: write_html_report streams."""
    text = io.StringIO()
    _write_page(text, store, run_id, None)
    return text.getvalue()


def write_html_report(store: Store, run_id: int, out_dir: Path) -> Path:
    """Write out_dir/report.html for one run (atomically); returns its path. The page is
    streamed to the file: memory does not grow with the number of cards."""
    path = out_dir / "report.html"
    with atomic_writer(path) as out:
        _write_page(out, store, run_id, path.parent)
    return path
