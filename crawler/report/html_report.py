"""report.html: the maintainers' dashboard, one self-contained page built from the store.

Everything the page needs is inside the file: CSS, JS, the trend chart (inline SVG) and the
problem rows (one JSON blob in a `<script type="application/json">`). The page makes no request
of its own; a card's images are the only outside requests, and the JS creates them only when that
card's detail is opened. A strict Content-Security-Policy (hashes of the one inline style and the
one inline script) backs this up, and every card field reaches the DOM as text, never as markup.

This module renders the page around its data: the figures come from crawler.report.html_overview,
what to fix first from crawler.report.triage, the blob from crawler.report.html_data, which
streams the rows and the URL table from the store to the file one at a time, so memory stays
flat however many cards fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from crawler.fix.corrections import AMP_RETIRED_CHOICES
from crawler.model import CARD_STATUSES, FIX_HINTS, STATUS_LABELS, Severity
from crawler.redact import Redactor
from crawler.report.atomic import atomic_writer
from crawler.report.csv_junit import CSV_NAME, JUNIT_NAME
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
from crawler.report.triage import (
    FAILING_FILTER,
    Culprit,
    fix_first,
    kind_severity,
    kinds_by_severity,
)
from crawler.store.database import Store

TEMPLATES = Path(__file__).with_name("templates")

ARCHIVE_HINT = "An archived copy: {archive_url}"
FIX_FIRST_SHOWN = 10  # hosts and providers listed in "Fix first"; the breakdowns list them all
NO_PROVIDER = "(none)"  # the page's name for cards without a provider (dashboard.js: NONE)

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
    kinds = _kind_bars(summary["by_kind"])  # grouped by severity, in severity order
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
        "chart": trend_chart(points) if len(points) > 1 else None,
        "kinds": kinds,
        "kind_groups": [
            (sev, list(group)) for sev, group in groupby(kinds, itemgetter("severity"))
        ],
        "fix_first": redactor.value(_fix_first(store, run_id)),
        "severities": list(STATUS_LABELS[:0:-1]),  # the severity filter's: invalid ... warning
        "failing_filter": FAILING_FILTER,
        "beside": _files_beside(out_dir, run["state"]),
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
    """Cards per problem kind, the worst severity first, then the most common, each with its
    bar's share of the longest."""
    kinds: list[dict[str, Any]] = [
        {"kind": kind, "cards": n, "severity": kind_severity(kind).label, "share": 0.0}
        for kind, n in kinds_by_severity(by_kind)
    ]
    top_kind = max([k["cards"] for k in kinds] + [1])
    for entry in kinds:
        entry["share"] = entry["cards"] / top_kind
    return kinds


def _fix_first(store: Store, run_id: int) -> dict[str, Any]:
    """The hosts and providers behind the most broken and rotted cards, each with the fragment
    that filters the problem table to those cards."""
    ranked = fix_first(store, run_id)
    return {
        "hosts": _culprit_rows(ranked.hosts, "host"),
        "providers": _culprit_rows(ranked.providers, "provider"),
    }


def _culprit_rows(culprits: list[Culprit], key: str) -> dict[str, Any]:
    shown = culprits[:FIX_FIRST_SHOWN]
    top = max([c.cards for c in shown] + [1])
    rows = []
    for culprit in shown:
        name = culprit.name or NO_PROVIDER
        view = urlencode({key: name, "severity": FAILING_FILTER})
        rows.append(
            {
                "name": name,
                "broken": culprit.broken,
                "rotted": culprit.rotted,
                "cards": culprit.cards,
                "share": culprit.cards / top,
                "href": f"#{view}",
            }
        )
    return {"rows": rows, "more": len(culprits) - len(shown)}


def _files_beside(out_dir: Path, state: str) -> list[str]:
    """The run's other report files in the folder as the page is written: report.json always
    (written first), problems.csv and report.junit.xml only when they were asked for."""
    names = (report_path(out_dir, state, "json").name, CSV_NAME, JUNIT_NAME)
    return [name for name in names if (out_dir / name).is_file()]


def _amp_retired(config: Any) -> str:
    """The run's fix.amp_retired, as `linkcheck fix` would apply it ("remove" for a run
    recorded before the setting existed)."""
    fix = config.get("fix") if isinstance(config, dict) else None
    choice = fix.get("amp_retired") if isinstance(fix, dict) else None
    return choice if choice in AMP_RETIRED_CHOICES else AMP_RETIRED_CHOICES[0]


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
    extra = _blob_extra(context)
    amp = _amp_retired(context["run"]["config"])
    write_data(out, store, run_id, previous, extra, out_dir, redactor, amp_retired=amp)
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
