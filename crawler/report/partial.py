"""Partial reports: an interrupted run never replaces the last complete reports.

A finished run writes report.json and report.html. Any other (interrupted by SIGINT/SIGTERM,
or a run that never ended, reported by `linkcheck report`) writes report.partial.json and
report.partial.html beside them, and the complete dashboard gets a banner linking to the partial
one. The complete reports of that run (`linkcheck run --resume`) or of a later one supersede the
partial files: they are removed, so a partial file in the folder is always newer than the
complete reports.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import structlog
from markupsafe import Markup

from crawler.report.atomic import atomic_writer
from crawler.store.database import Store
from crawler.store.records import RunRow

log = structlog.get_logger(__name__)

COMPLETE_STATE = "finished"
FORMATS = ("json", "html")

# The complete dashboard's banner slot (crawler/report/templates): the banner is one <p>.
BANNER_START = '<div id="partial-link">'
BANNER_END = "</div>"
_BANNER_WITHIN = 64 * 1024  # characters: the banner is near the top, before the data blob


def is_complete(state: str) -> bool:
    return state == COMPLETE_STATE


def report_path(out_dir: Path, state: str, suffix: str) -> Path:
    """Where a run in `state` writes its report of type `suffix` (json, html)."""
    stem = "report" if is_complete(state) else "report.partial"
    return out_dir / f"{stem}.{suffix}"


def newer_partial(store: Store, run_id: int, out_dir: Path) -> RunRow | None:
    """The later run whose partial dashboard is in out_dir: what run `run_id`'s complete
    dashboard links to. None when the store's last run is this one, or complete."""
    last = store.run()
    if last is None or last.id <= run_id or is_complete(last.state):
        return None
    return last if report_path(out_dir, last.state, "html").is_file() else None


def banner_html(partial: RunRow | None) -> Markup:
    """The complete dashboard's banner pointing at the partial one ("" without one)."""
    if partial is None:
        return Markup("")
    href = report_path(Path(), partial.state, "html").name
    return Markup(
        '<p class="banner partial-link" role="status">A later run, #{id} (started {at}), was'
        ' {state} before it finished: <a href="{href}">its partial report</a>. This is the last'
        " complete report; <code>linkcheck run --resume</code> completes that run.</p>"
    ).format(id=partial.id, at=_minute(partial.started_at), state=partial.state, href=href)


def _minute(moment: str) -> str:
    """A stored UTC time as the dashboard shows times."""
    try:
        return datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return moment


def settle_folder(store: Store, run: RunRow, out_dir: Path) -> None:
    """After a run's reports: a complete run's supersede the partial ones (removed, unless a
    later run wrote them); a partial run's are announced on the complete dashboard."""
    if not is_complete(run.state):
        _announce(out_dir / "report.html", banner_html(run))
        return
    if newer_partial(store, run.id, out_dir) is not None:
        return
    for suffix in FORMATS:
        stale = report_path(out_dir, "interrupted", suffix)
        if stale.is_file():
            stale.unlink()
            log.info("partial_report_superseded", path=str(stale), run_id=run.id)


def _announce(dashboard: Path, banner: Markup) -> None:
    """Put `banner` in the complete dashboard's banner slot, leaving the rest of the page as it
    is (a page with no slot, from an older linkcheck, is left alone)."""
    if not dashboard.is_file():
        return
    with dashboard.open(encoding="utf-8", newline="") as page:
        head = page.read(_BANNER_WITHIN)
        start = head.find(BANNER_START)
        end = head.find(BANNER_END, start)
        if start < 0 or end < 0:
            log.warning("no_banner_slot", dashboard=str(dashboard))
            return
        with atomic_writer(dashboard) as out:
            # joined as plain text: `str + Markup` would escape the page around the banner
            out.write("".join((head[: start + len(BANNER_START)], str(banner), head[end:])))
            while chunk := page.read(_BANNER_WITHIN):
                out.write(chunk)
