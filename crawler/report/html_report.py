"""report.html: the maintainers' dashboard, one self-contained page built from the store.

Everything the page needs is inside the file: CSS, JS, the trend chart (inline SVG) and the
problem rows (one JSON blob in a `<script type="application/json">`). The page makes no request
of its own; a card's images are the only outside requests, and the JS creates them only when that
card's detail is opened. A strict Content-Security-Policy (hashes of the one inline style and the
one inline script) backs this up, and every card field reaches the DOM as text, never as markup.

This module renders the page around its data: the figures come from crawler.report.html_overview,
the blob from crawler.report.html_data, which streams the rows and the URL table from the store
to the file one at a time, so memory stays flat however many cards fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from crawler.model import CARD_STATUSES, FIX_HINTS, Kind, Severity
from crawler.redact import Redactor
from crawler.report.atomic import atomic_writer
from crawler.report.host_notes import host_note_rows, hosts_section
from crawler.report.html_data import write_data
from crawler.report.html_overview import (
    host_breakdown,
    provider_breakdown,
    status_changes,
    trend_chart,
    trend_points,
)
from crawler.report.json_report import (
    archive_pending,
    run_redactor,
    run_section,
    summary_section,
)
from crawler.report.partial import banner_html, newer_partial, report_path
from crawler.store.database import Store

TEMPLATES = Path(__file__).with_name("templates")

ARCHIVE_HINT = "An archived copy: {archive_url}"

_SCRIPT_CLOSE = re.compile(r"</(script|style)", re.IGNORECASE)


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


def _inline(name: str) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if _SCRIPT_CLOSE.search(text):
        raise ValueError(f"{name} must not contain a closing script or style tag")
    return text


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _page_context(store: Store, run_id: int, redactor: Redactor, out_dir: Path) -> dict[str, Any]:
    """What the template shows around the data blob: small whatever the number of cards. Its
    text is redacted (the summary's counts and kinds hold none)."""
    run = redactor.value(run_section(store, run_id))
    summary = summary_section(store, run_id)
    # the rows say which cards are new
    changes = redactor.value(status_changes(store, run_id))
    total_cards = sum(summary["by_status"].values())
    points = trend_points(store, run_id)
    css = _inline("dashboard.css")
    js = _inline("dashboard.js")
    return {
        "run": run,
        "summary": summary,
        "statuses": list(CARD_STATUSES[::-1]),
        "failing": [s for s in CARD_STATUSES if s != Severity.OK.label],
        "total_cards": total_cards,
        "problem_cards": total_cards - summary["by_status"].get("ok", 0),
        "changes": changes,
        "new_n": changes["new_n"],
        "trend": points,
        "chart": trend_chart(points) if points else None,
        "kinds": _kind_bars(summary["by_kind"]),
        "hosts": redactor.value(host_breakdown(summary["by_host"])),
        "providers": redactor.value(provider_breakdown(store, run_id)),
        "host_notes": redactor.value(host_note_rows(hosts_section(store, run_id))),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "partial_banner": banner_html(newer_partial(store, run_id, out_dir)),
        "archive_pending": redactor.value(sorted(archive_pending(store, run_id))),
        "config_json": json.dumps(run["config"], indent=1, sort_keys=True),
        "csp": _csp(css, js),
        "css": Markup(css),
        "js": Markup(js),
    }


def _csp(css: str, js: str) -> str:
    """The page's Content-Security-Policy: its one style and one script, by hash. The data blob
    is not script (type application/json): only the code and style are hashed."""
    return (
        "default-src 'none'; "
        f"script-src {_csp_hash(js)}; "
        f"style-src {_csp_hash(css)}; "
        "img-src http: https:; "
        "base-uri 'none'; form-action 'none'"
    )


def _kind_bars(by_kind: dict[str, int]) -> list[dict[str, Any]]:
    """Cards per problem kind, the most common first, each with its bar's share of the longest."""
    known = {k.value: k.severity.label for k in Kind}
    kinds: list[dict[str, Any]] = [
        {"kind": kind, "cards": n, "severity": known.get(kind, "warning"), "share": 0.0}
        for kind, n in sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    top_kind = max([k["cards"] for k in kinds] + [1])
    for entry in kinds:
        entry["share"] = entry["cards"] / top_kind
    return kinds


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
        "statuses": list(CARD_STATUSES),
        "previous_run": context["changes"]["previous_run"],
        "hints": {kind.value: list(texts) for kind, texts in FIX_HINTS.items()},
        "archive_hint": ARCHIVE_HINT,
        # failing pages with no archive lookup yet: their card detail says so
        "archive_pending": context["archive_pending"],
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


def _write_page(out: IO[str], store: Store, run_id: int, out_dir: Path) -> None:
    redactor = run_redactor(store, run_id)
    context = _page_context(store, run_id, redactor, out_dir)
    head, tail = _around_blob(context)
    out.write(head)
    changes = context["changes"]
    previous = None if changes["degraded"] else changes["previous_run"]  # no row is called new
    write_data(out, store, run_id, previous, _blob_extra(context), out_dir, redactor)
    out.write(tail)


def write_html_report(store: Store, run_id: int, out_dir: Path) -> Path:
    """Write out_dir/report.html for one run (atomically; report.partial.html for a run that
    did not finish, and a complete one links to a newer partial one: crawler/report/partial.py);
    returns its path. The page is streamed to the file: memory does not grow with the number of
    cards."""
    run = store.run(run_id)
    path = report_path(out_dir, run.state if run else "", "html")
    with atomic_writer(path) as out:
        _write_page(out, store, run_id, path.parent)
    return path
