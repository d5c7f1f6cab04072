"""The dashboard's figures around its problem table, from the store: the trend of broken and
rotted cards over the recent runs (and its chart's coordinates), the cards new or fixed since the
previous run, and the breakdowns by provider and by host. Each is small whatever the number of
cards.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from crawler.model import FAILING, UNCHECKED
from crawler.report.triage import kind_severity
from crawler.store import reports
from crawler.store.database import Store

TREND_RUNS = 60  # runs drawn in the trend chart
FIXED_SHOWN = 500  # fixed cards listed by name; the rest are counted


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def trend_points(store: Store, run_id: int, limit: int = TREND_RUNS) -> list[dict[str, Any]]:
    """Share of broken and of rotted cards per run, for the runs up to this one (oldest first)."""
    runs = reports.recent_runs(store, run_id, limit)
    if not runs:
        return []
    counts: dict[int, dict[str, int]] = {}
    for count in reports.status_counts_by_run(store, runs[-1].id, run_id):
        per = counts.setdefault(count.run_id, {})
        per[count.status] = per.get(count.status, 0) + count.cards
    points = []
    for run in reversed(runs):
        per = counts.get(run.id, {})
        total = sum(per.values())
        if not total:
            continue
        points.append(
            {
                "run_id": run.id,
                "started_at": run.started_at,
                "state": run.state,
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
    for name in FAILING[::-1]:
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


def status_changes(store: Store, run_id: int) -> dict[str, Any]:
    """Cards failing now that were fine (or absent) in the previous finished run, and cards that
    failed then and are fine now. Only cards this run checked are compared; an unchecked card
    (an interrupted run) is neither new nor fixed. The new cards are only counted (`new_n`):
    there can be as many as there are failing cards, and the rows say which they are. A
    degraded run counts none new (crawler/judge/degraded.py)."""
    previous = store.previous_finished_run(run_id)
    run = store.run(run_id)
    degraded = run is not None and run.degraded
    result: dict[str, Any] = {
        "previous_run": previous, "degraded": degraded, "new_n": 0, "fixed": [], "fixed_n": 0
    }  # fmt: skip
    if previous is None:
        return result
    for change in reports.status_changes(store, run_id, previous):
        now, was = change.now, change.was or "ok"
        if now not in ("ok", UNCHECKED) and was == "ok":
            result["new_n"] += 0 if degraded else 1
        elif now == "ok" and was != "ok":
            result["fixed_n"] += 1
            if len(result["fixed"]) < FIXED_SHOWN:
                then = {p["kind"] for p in json.loads(change.was_problems or "[]")}
                kinds = sorted(then, key=lambda k: (-kind_severity(k), k))  # the worst first
                result["fixed"].append(
                    {"path": change.path, "title": change.title, "was": was, "kinds": kinds}
                )
    return result


def provider_breakdown(store: Store, run_id: int) -> list[dict[str, Any]]:
    """Cards per provider, with how many are broken or rotted; the most rotten first."""
    table: dict[str, dict[str, Any]] = {}
    for count in reports.provider_counts(store, run_id):
        name = count.provider if count.provider is not None else ""
        entry = table.setdefault(name, {"provider": name, "cards": 0, "broken": 0, "rotted": 0})
        entry["cards"] += count.cards
        if count.status in FAILING:
            entry[count.status] += count.cards
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
