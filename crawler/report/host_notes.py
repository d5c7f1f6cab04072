"""The report's `hosts` section: the hosts that limited what a run could check, or how fast.

A host is listed when it has something a maintainer may act on: its bot protection blocked us
(ask the site for an allow-list, or set headers for it under `hosts:`), its robots.txt kept URLs
from being fetched, asked for a Crawl-delay, failed or was switched off, it throttled us (the
rate it ended at), or a `hosts:` entry applied to it. Hosts with nothing to say are left out:
a nightly contacts many thousands.
"""

from __future__ import annotations

from typing import Any

from crawler.store import reports
from crawler.store.database import Store
from crawler.web.urls import host_of

# robots.txt outcomes worth a line even when nothing was disallowed (see crawler/web/robots.py);
# not "unreachable": the host itself was, and each of its URLs already says so
_ROBOTS_NOTEWORTHY = frozenset({"unavailable", "off"})


def hosts_section(store: Store, run_id: int) -> dict[str, dict[str, Any]]:
    """host -> {requests, settings, blocked, robots, throttled}; each part null when it has
    nothing to say. Sorted: the most blocked first, then by name."""
    run = store.run(run_id)
    counters = run.counters if run is not None else {}
    notes: dict[str, dict[str, Any]] = {}

    def note(host: str) -> dict[str, Any]:
        return notes.setdefault(
            host,
            {
                "requests": counters.get("requests_by_host", {}).get(host, 0),
                "settings": None,
                "blocked": None,
                "robots": None,
                "throttled": None,
            },
        )

    for blocked in reports.blocked_hosts(store, run_id):
        note(blocked.host)["blocked"] = {"urls": blocked.urls, "vendors": list(blocked.vendors)}
    for key, robots in counters.get("robots", {}).items():
        if _noteworthy(robots):
            # keyed by host, or by origin when one host was asked under several
            note(host_of(key) or key)["robots"] = robots
    for host, throttled in counters.get("throttled_hosts", {}).items():
        note(host)["throttled"] = throttled
    for host, pattern in counters.get("host_settings", {}).items():
        note(host)["settings"] = pattern
    order = sorted(notes, key=lambda h: (-((notes[h]["blocked"] or {}).get("urls", 0)), h))
    return {host: notes[host] for host in order}


def _noteworthy(robots: dict[str, Any]) -> bool:
    # URLs an unreachable or failed robots.txt kept back are counted as "disallowed" too
    return bool(
        (robots.get("disallowed") and robots.get("outcome") == "rules")
        or robots.get("crawl_delay_s")
        or robots.get("outcome") in _ROBOTS_NOTEWORTHY
    )


def host_note_rows(section: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """The dashboard's lines of the hosts section, one per host, each part said in words."""
    return [
        {
            "host": host,
            "blocked": _blocked_text(note["blocked"]),
            "robots": _robots_text(note["robots"]),
            "throttled": _throttled_text(note["throttled"]),
            "settings": note["settings"] or "",
        }
        for host, note in section.items()
    ]


def _blocked_text(blocked: dict[str, Any] | None) -> str:
    if blocked is None:
        return ""
    urls = blocked["urls"]
    return f"{urls} URL{'s' if urls != 1 else ''} blocked by {', '.join(blocked['vendors'])}"


def _robots_text(robots: dict[str, Any] | None) -> str:
    if robots is None:
        return ""
    parts = []
    match robots["outcome"]:
        case "unavailable":
            parts.append(f"robots.txt failed (HTTP {robots['http_status']}): nothing fetched")
        case "unreachable":
            parts.append("robots.txt unreachable: nothing fetched")
        case "off":
            parts.append("robots.txt not read (hosts: robots: false)")
    if robots["disallowed"] and robots["outcome"] == "rules":
        parts.append(f"{robots['disallowed']} disallowed")
    if robots["crawl_delay_s"]:
        parts.append(
            f"Crawl-delay {robots['crawl_delay_s']:g} s, used {robots['interval_s'] or 0:g} s"
        )
    return "; ".join(parts)


def _throttled_text(throttled: dict[str, Any] | None) -> str:
    if throttled is None:
        return ""
    slowdowns = throttled["slowdowns"]
    return (
        f"{throttled['configured_rate']:g}/s, ended at {throttled['ended_rate']:g}/s"
        f" (lowest {throttled['lowest_rate']:g}/s, {slowdowns} slow-down"
        f"{'s' if slowdowns != 1 else ''})"
    )
