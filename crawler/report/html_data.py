"""The dashboard's data blob: the problem rows (one per card that is not ok) and the URL table
they refer to, streamed from the store to the page as JSON safe inside a `<script>` element.

Memory stays flat however many cards fail: the rows wait in a temporary file while the URLs they
name are numbered (the URL table comes first in the blob), then are copied after it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import IO, Any

from crawler.fix.corrections import Correction, plan_card
from crawler.model import STATUS_LABELS, UNCHECKED
from crawler.redact import Redactor
from crawler.store.dashboard import UrlIndex, failing_cards, snapshot
from crawler.store.database import Store
from crawler.store.records import FailingCard, KnownResult, UrlBrief
from crawler.web.urls import host_of

_SEVERITY_RANK = {label: i for i, label in enumerate(STATUS_LABELS)}


def script_json(data: Any) -> str:
    """Compact JSON safe inside a <script> element: no `<`, `>` or `&` survive, so no text (a
    card title holding `</script>` or `<!--`) can end the element or change how it is parsed."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# The page's URL table: one array per URL, these fields in this order (trailing nulls dropped);
# `h` is an index into the host list.
URL_FIELDS = ("u", "h", "c", "f", "a", "r", "w", "ht")


def _url_host(url: str, result: UrlBrief | None) -> str | None:
    """The host a URL is listed under: its result's, else the one in the URL itself."""
    return (result.host if result is not None else None) or host_of(url)


def _number_hosts(urls: UrlIndex) -> dict[str, int]:
    """The URL table's hosts, numbered in the order the table first names them."""
    hosts: dict[str, int] = {}
    for url, result in urls.with_results():
        host = _url_host(url, result)
        if host is not None:
            hosts.setdefault(host, len(hosts))
    return hosts


def _url_entry(url: str, result: UrlBrief | None, hosts: dict[str, int]) -> list[Any]:
    """One URL of the table: its result's host, HTTP status, final URL, attempts, redirect hops
    and real image size (see URL_FIELDS)."""
    entry: dict[str, Any] = {"u": url}
    if result is not None:
        hops = [
            [hop["status"], hop["url"], hop["location"]] for hop in json.loads(result.redirects)
        ]
        entry.update(
            h=result.host,
            c=result.http_status,
            f=result.final_url,
            a=result.attempts,
            r=hops or None,
            w=result.image_width,
            ht=result.image_height,
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


def _compact_problem(problem: dict[str, Any], urls: UrlIndex) -> dict[str, Any]:
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


def _drop_repeats(problem: dict[str, Any], row: dict[str, Any], known: KnownResult) -> None:
    """What the problem's URL (`known`: its result) or card already say is not repeated in the
    problem."""
    for short, value in (("c", known.http_status), ("fu", known.final_url)):
        if problem[short] == value:
            del problem[short]
    for short in ("tr", "ff", "cf"):
        if short in problem and problem[short] == row.get(short):
            del problem[short]


def fix_steps(problems: list[dict[str, Any]], amp_retired: str) -> list[dict[str, Any]]:
    """What `linkcheck fix` would do to a card (crawler.fix.corrections), each step with `i`,
    the index of the problem it answers (the first of its kind and field, else of its kind;
    -1 for none), and `f` its field; then a correction's diff lines `d` (`o`: only if the card
    has the field) or `r`, why a person is needed. A problem with no step of its own whose field
    another correction edits gets `by`, that correction's kind."""
    steps = []
    edited: dict[str | None, str] = {}
    for step in plan_card(problems, amp_retired=amp_retired):
        entry: dict[str, Any] = {"i": _answered(step.kind, step.field, problems), "f": step.field}
        if isinstance(step, Correction):
            entry["d"] = step.diff_lines()
            edited.setdefault(step.field, step.kind)
            if step.if_present:
                entry["o"] = 1
        else:
            entry["r"] = step.reason
        steps.append(entry)
    answered = {entry["i"] for entry in steps}
    for i, problem in enumerate(problems):
        field = problem.get("field")
        if i not in answered and field in edited:
            steps.append({"i": i, "f": field, "by": edited[field]})
    return steps


def _answered(kind: str, field: str | None, problems: list[dict[str, Any]]) -> int:
    same_kind = [i for i, p in enumerate(problems) if p.get("kind") == kind]
    exact = [i for i in same_kind if problems[i].get("field") == field]
    return (exact or same_kind or [-1])[0]


def _dashboard_row(
    failing: FailingCard, urls: UrlIndex, compared: bool, amp_retired: str
) -> dict[str, Any]:
    """One card of the problem table; `compared`: there is a previous run to call it new by;
    `amp_retired`: what `linkcheck fix` does to a retired AMP page (fix.amp_retired)."""
    card = failing.card
    problems = json.loads(card.problems or "[]")
    problems.sort(key=lambda p: -_SEVERITY_RANK.get(p.get("severity"), 0))
    compact = [_compact_problem(p, urls) for p in problems]
    row: dict[str, Any] = {
        "p": card.path,
        "t": card.title,
        "v": card.provider,
        "d": card.published,
        "s": card.status,
        "pr": compact,
    }
    for value, short in ((card.first_failed_at, "ff"), (card.trend, "tr")):
        if value is not None:
            row[short] = value
    if card.consecutive_failures:
        row["cf"] = card.consecutive_failures
    if compared and card.status != UNCHECKED and (failing.previous_status or "ok") == "ok":
        row["n"] = 1
    steps = fix_steps(problems, amp_retired)
    if steps:
        row["fx"] = steps
    if failing.images:
        row["im"] = [
            [link.field, urls.ref(link.url), link.declared_width, link.declared_height]
            for link in failing.images
        ]
    for problem, shown in zip(problems, compact, strict=True):
        _drop_repeats(shown, row, urls.known(problem.get("url")))
    return row


def _write_items(out: IO[str], items: Iterable[Any], redactor: Redactor) -> None:
    """The items of a JSON array, comma-separated, each as script_json writes it, redacted."""
    first = True
    for item in items:
        if not first:
            out.write(",")
        out.write(redactor.dumps(item, script_json))
        first = False


def write_data(
    out: IO[str],
    store: Store,
    run_id: int,
    previous: int | None,
    extra: dict[str, Any],
    spool_dir: Path,
    redactor: Redactor,
    amp_retired: str = "remove",
) -> None:
    """The page's data blob, streamed: the same text as script_json({"url_fields", "hosts",
    "urls", "rows", **extra}), with rows for the cards that are not ok and the URLs and hosts
    those rows refer to (see URL_FIELDS). Rows marked new are those not failing in run
    `previous`. Memory does not grow with the rows: they wait in a temporary file in spool_dir
    while the URLs they refer to are numbered, since the URL table comes first. Every string
    is redacted as it is written; the URL table is indexed by the real URLs."""
    with (
        closing(snapshot(store)) as db,
        tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n", dir=spool_dir) as rows,
    ):
        urls = UrlIndex(db, run_id)
        cards = failing_cards(db, run_id, previous)
        compared = previous is not None
        shown = redactor.value
        built = (_dashboard_row(card, urls, compared, amp_retired) for card in cards)
        _write_items(rows, built, redactor)
        hosts = _number_hosts(urls)
        fields, host_names = script_json(list(URL_FIELDS)), script_json(shown(list(hosts)))
        out.write(f'{{"url_fields":{fields},"hosts":{host_names}')
        out.write(',"urls":[')
        entries = (_url_entry(u, result, hosts) for u, result in urls.with_results())
        _write_items(out, entries, redactor)
        out.write('],"rows":[')
        rows.seek(0)
        shutil.copyfileobj(rows, out)
        out.write("]," + script_json(shown(extra))[1:])  # extra's closing brace ends the blob
