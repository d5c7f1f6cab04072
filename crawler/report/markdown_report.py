"""`linkcheck report --format markdown`: a run in a few lines, for a GitHub issue or an Actions
job summary (`>> "$GITHUB_STEP_SUMMARY"`): the cards by status, the problems new since the
previous finished run, the hosts behind the most broken and rotted cards, and a link to the
dashboard.

GitHub-flavoured Markdown, tables and text only, never raw HTML: every value from a card or the
web is escaped, so a title holding `<script>` or `|` stays text and no table cell splits.
"""

from __future__ import annotations

import re
from typing import Any

from crawler.model import CARD_STATUSES, UNCHECKED, Severity
from crawler.report.json_report import (
    changes_section,
    run_redactor,
    run_section,
    summary_section,
)
from crawler.report.triage import fix_first
from crawler.store.database import Store

NEW_SHOWN = 10  # new problems listed one by one; the rest are counted
HOSTS_SHOWN = 5

# Markdown's ASCII punctuation that can start markup; a backslash makes each plain text
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")
# what a link's destination must not hold as is
_UNSAFE_IN_LINK = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", "\\": "%5C"}


def text(value: Any) -> str:
    """A value as plain Markdown text on one line, fit for a table cell."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _link(label: str, target: str) -> str:
    safe = "".join(_UNSAFE_IN_LINK.get(ch, ch) for ch in target if ch.isprintable())
    return f"[{text(label)}]({safe})"


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def markdown_summary(store: Store, run_id: int, dashboard: str) -> str:
    """The run's summary; `dashboard` is where the dashboard is (a URL or the report.html path).
    Every value is redacted as report.json redacts it."""
    redactor = run_redactor(store, run_id)
    run = redactor.value(run_section(store, run_id))
    summary = summary_section(store, run_id)
    changes = redactor.value(changes_section(store, run_id))
    hosts = redactor.value(
        [(h.name, h.broken, h.rotted) for h in fix_first(store, run_id).hosts[:HOSTS_SHOWN]]
    )
    by_status: dict[str, int] = summary["by_status"]
    total = sum(by_status.values())
    need = total - by_status.get("ok", 0)
    lines = [f"## linkcheck run #{run['id']}: {need:,} of {total:,} cards need a look", ""]
    lines += [_scope(run), ""]
    lines += _status_table(by_status, total, partial=run["state"] != "finished")
    lines += _new_problems(changes)
    lines += _worst_hosts(hosts)
    lines += [_link("Open the dashboard", dashboard), ""]
    return "\n".join(lines)


def _scope(run: dict[str, Any]) -> str:
    when = (run["finished_at"] or run["started_at"] or "")[:16].replace("T", " ")
    since = f"from {run['since'][:10]}" if run["since"] else "any time"
    until = f" to {run['until'][:10]}" if run["until"] else ""
    parts = [
        f"Run {text(run['state'])} {when} UTC",
        f"cards published {since}{until}",
        f"{run['cards_checked']:,} checked of {run['cards_found']:,} found",
    ]
    if run["degraded"]:
        parts.append(
            f"**degraded**: {run['hosts_unreachable']:,} of {run['hosts_contacted']:,} hosts"
            " could not be reached (this side's network, most likely)"
        )
    return " · ".join(parts) + "."


def _status_table(by_status: dict[str, int], total: int, *, partial: bool) -> list[str]:
    lines = ["### Cards by status", "", _row("status", "cards", "share"), "| --- | ---: | ---: |"]
    for status in CARD_STATUSES[::-1]:  # the worst first
        if status == UNCHECKED and not partial:
            continue
        n = by_status.get(status, 0)
        lines.append(_row(status, f"{n:,}", _share(n, total)))
    lines += [_row("**all**", f"**{total:,}**", ""), ""]
    return lines


def _new_problems(changes: dict[str, Any]) -> list[str]:
    previous = changes["previous_run"]
    if previous is None:
        return ["### New problems", "", "No earlier finished run to compare with.", ""]
    head = f"### New since run #{previous}"
    if changes["degraded"]:
        return [head, "", "Not announced: this run is degraded.", ""]
    new = changes["new"]
    if not new:
        return [head, "", "No new problem.", ""]
    cards = len({p["path"] for p in new})
    lines = [
        head,
        "",
        f"{len(new):,} new problem{'s' if len(new) != 1 else ''}"
        f" on {cards:,} card{'s' if cards != 1 else ''}.",
        "",
        _row("card", "field", "kind", "severity"),
        "| --- | --- | --- | --- |",
    ]
    worst_first = sorted(new, key=lambda p: (-Severity.from_label(p["severity"]), p["path"]))
    for problem in worst_first[:NEW_SHOWN]:
        lines.append(
            _row(
                text(problem["path"]),
                text(problem["field"] or "(card)"),
                text(problem["kind"]),
                text(problem["severity"]),
            )
        )
    if len(new) > NEW_SHOWN:
        lines += ["", f"…and {len(new) - NEW_SHOWN:,} more in the dashboard."]
    return [*lines, ""]


def _worst_hosts(hosts: list[tuple[str, int, int]]) -> list[str]:
    head = "### Worst hosts"
    if not hosts:
        return [head, "", "No broken or rotted card.", ""]
    lines = [
        head,
        "",
        "By the broken and rotted cards each causes.",
        "",
        _row("host", "broken cards", "rotted cards", "cards"),
        "| --- | ---: | ---: | ---: |",
    ]
    for host, broken, rotted in hosts:
        lines.append(_row(text(host), f"{broken:,}", f"{rotted:,}", f"{broken + rotted:,}"))
    return [*lines, ""]
