"""report.json, streamed from the store card by card and written atomically (temp file + rename).

Streaming keeps memory flat for a corpus of any size; the rename means a reader never sees half
a report, and a crash leaves the previous one in place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from crawler import redact
from crawler.config import ConfigError
from crawler.model import STATUS_LABELS
from crawler.store.database import Store
from crawler.text import safe_text

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


class ReportWriteError(Exception):
    """A report file could not be written (full disk, read-only folder, --out a file...): one
    line naming the path, exit code 2. The previous report at that path is left as it was."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{safe_text(str(path))}: {reason}")
        self.path = path
        self.reason = reason


def _write_error(path: Path, exc: OSError, doing: str) -> ReportWriteError:
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return ReportWriteError(path, f"cannot {doing}: a part of the path is a file, not a folder")
    return ReportWriteError(path, f"cannot {doing}: {exc.strerror or type(exc).__name__}")


def check_output_folder(folder: Path) -> None:
    """--out is a folder linkcheck can write in (made if missing), checked before a run's first
    request: a file, a read-only folder or a full disk fail now, not after the crawl."""
    if folder.exists() and not folder.is_dir():
        raise ReportWriteError(folder, "is a file, not a folder: give --out a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:  # a byte on disk, not just an inode
            probe.write(b"linkcheck")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise _write_error(folder, exc, "write reports there") from exc


@contextmanager
def atomic_writer(path: Path) -> Iterator[IO[str]]:
    """A text file written whole or not at all: a temp file in the same folder, fsync, then
    os.replace. On any failure the temp file is removed and the previous file is untouched; an
    OSError (a full disk...) becomes a ReportWriteError naming the path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc, "write it") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is for everyone to read
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if not isinstance(exc, OSError):
            raise
        error = _write_error(path, exc, "write it")
        if path.is_file():
            raise ReportWriteError(path, f"{error.reason}; the previous one is unchanged") from exc
        raise error from exc
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; a file system that cannot sync a folder is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_section(store: Store, run_id: int) -> dict[str, Any]:
    run = store.run(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id} in {store.path}")
    counters = run.counters
    duration = None
    if run.finished_at:
        duration = round(
            (
                datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(run.started_at)
            ).total_seconds(),
            3,
        )
    return {
        "id": run.id,
        "state": run.state,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_s": duration,
        "since": run.since,
        "until": run.until,
        "cards_root": run.cards_root,
        "cards_found": counters.get("cards_found", 0),
        "cards_checked": counters.get("cards_checked", 0),
        "cards_invalid": counters.get("cards_invalid", 0),
        "cards_filtered_out": counters.get("cards_filtered_out", 0),
        "urls_unique": counters.get("urls_unique", 0),
        "urls_checked": store.count("SELECT COUNT(*) FROM url_results WHERE run_id = ?", (run_id,)),
        "links_unchecked": counters.get("links_unchecked", 0),
        "requests_made": counters.get("requests_made", 0),
        "config": run.config,
    }


def summary_section(store: Store, run_id: int) -> dict[str, Any]:
    by_status = dict.fromkeys(STATUS_LABELS, 0)
    for row in store.rows(
        "SELECT status, COUNT(*) FROM cards WHERE run_id = ? GROUP BY status", (run_id,)
    ):
        by_status[row[0] or "ok"] = row[1]
    # by_kind: how many cards have at least one problem of that kind
    by_kind: dict[str, int] = {}
    for row in store.rows(
        "SELECT json_extract(p.value, '$.kind') AS kind, COUNT(DISTINCT c.path) FROM cards c,"
        " json_each(c.problems) p WHERE c.run_id = ? GROUP BY kind ORDER BY kind",
        (run_id,),
    ):
        by_kind[row[0]] = row[1]
    by_host: dict[str, dict[str, int]] = {}
    for row in store.rows(
        "SELECT host, status, COUNT(*) FROM url_results WHERE run_id = ? GROUP BY host, status"
        " ORDER BY host",
        (run_id,),
    ):
        entry = by_host.setdefault(row[0], {"urls": 0, **dict.fromkeys(STATUS_LABELS[:4], 0)})
        entry["urls"] += row[2]
        entry[row[1]] = row[2]
    return {"by_status": by_status, "by_kind": by_kind, "by_host": by_host}


def _problem_keys(problems_json: str | None) -> dict[tuple[str | None, str], dict[str, Any]]:
    return {(p["field"], p["kind"]): p for p in json.loads(problems_json or "[]")}


def changes_section(store: Store, run_id: int) -> dict[str, Any]:
    """Problems new since the previous finished run, and those fixed since, card by card.

    Only cards this run checked are compared: a card out of this run's scope is not "fixed"."""
    previous = store.previous_finished_run(run_id)
    changes: dict[str, Any] = {"previous_run": previous, "new": [], "fixed": []}
    if previous is None:
        return changes
    reader = store.reader()
    now = reader.execute(
        "SELECT path, problems FROM cards WHERE run_id = ? ORDER BY path", (run_id,)
    )
    before = reader.cursor().execute(
        "SELECT path, problems FROM cards WHERE run_id = ? ORDER BY path", (previous,)
    )
    old = before.fetchone()
    for row in now:
        while old is not None and old["path"] < row["path"]:
            old = before.fetchone()
        current = _problem_keys(row["problems"])
        earlier = _problem_keys(old["problems"]) if old and old["path"] == row["path"] else {}
        for key in current.keys() - earlier.keys():
            changes["new"].append(_change(row["path"], current[key]))
        for key in earlier.keys() - current.keys():
            changes["fixed"].append(_change(row["path"], earlier[key]))
    for name in ("new", "fixed"):
        changes[name].sort(key=lambda c: (c["path"], c["field"] or "", c["kind"]))
    return changes


def _change(path: str, problem: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": path,
        "field": problem["field"],
        "kind": problem["kind"],
        "severity": problem["severity"],
        "url": problem["url"],
    }


def card_entry(row: Any) -> dict[str, Any]:
    return {
        "path": row["path"],
        "title": row["title"],
        "published": row["published"],
        "provider": row["provider"],
        "status": row["status"] or "ok",
        "first_failed_at": row["first_failed_at"],
        "consecutive_failures": row["consecutive_failures"],
        "trend": row["trend"],
        "problems": json.loads(row["problems"] or "[]"),
    }


def url_entry(row: Any) -> dict[str, Any]:
    image = None
    if row["image_width"] is not None:
        image = {
            "width": row["image_width"],
            "height": row["image_height"],
            "format": row["image_format"],
        }
    return {
        "url": row["url"],
        "host": row["host"],
        "link_kind": row["link_kind"],
        "status": row["status"],
        "kind": row["kind"],
        "findings": json.loads(row["findings"]),
        "http_status": row["http_status"],
        "final_url": row["final_url"],
        "redirects": json.loads(row["redirects"]),
        "attempts": row["attempts"],
        "elapsed_ms": row["elapsed_ms"],
        "content_type": row["content_type"],
        "bytes_read": row["bytes_read"],
        "image": image,
        "checked_at": row["checked_at"],
        "reused_from": row["reused_from"],
        "archive_url": row["archive_url"],
        "archive_timestamp": row["archive_timestamp"],
        "first_failed_at": row["first_failed_at"],
        "consecutive_failures": row["consecutive_failures"],
        "trend": row["trend"],
    }


# json.dumps(item, ensure_ascii=False, separators=(",", ":")), without a new encoder per item
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def run_redactor(store: Store, run_id: int) -> redact.Redactor:
    """What a run's reports mask: the run's recorded `redact` settings and this process's."""
    run = store.run(run_id)
    return redact.for_run(run.config if run is not None else None)


def write_json_report(store: Store, run_id: int, out_dir: Path) -> Path:
    """Write out_dir/report.json for one run; returns its path. Every string in it is redacted
    (crawler/redact.py) as it is written: the store keeps the real URLs."""
    path = out_dir / "report.json"
    run = run_section(store, run_id)
    redactor = redact.for_run(run["config"])
    head = {
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "summary": summary_section(store, run_id),
        "changes": changes_section(store, run_id),
    }
    with atomic_writer(path) as out:
        out.write(json.dumps(redactor.value(head), ensure_ascii=False, indent=1)[:-2])
        _write_array(out, "cards", (card_entry(r) for r in store.iter_cards(run_id)), redactor)
        urls = (url_entry(r) for r in store.iter_url_results(run_id))
        _write_array(out, "urls", urls, redactor)
        out.write("\n}\n")
    return path


def _write_array(
    out: IO[str], name: str, items: Iterator[dict[str, Any]], redactor: redact.Redactor
) -> None:
    out.write(f',\n "{name}": [')
    first = True
    for item in items:
        out.write("\n  " if first else ",\n  ")
        out.write(redactor.dumps(item, _compact_json))
        first = False
    out.write("\n ]" if not first else "]")
