"""The fake Wayback availability API: which URLs it has a snapshot of, and when it was taken,
both derived from a hash of the URL so that the stateless server and the tests agree."""

from __future__ import annotations

import contextlib
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Final

ARCHIVE_MISS_PERCENT: Final = 15  # share of URLs the fake Wayback API has no snapshot of
WAYBACK_TIMESTAMP = re.compile(r"^\d{14}$")


def _url_hash(url: str) -> bytes:
    return hashlib.sha256(f"archive:{url}".encode()).digest()


def archive_has_snapshot(url: str) -> bool:
    """Does the fake archive have a snapshot of `url`? (100 - ARCHIVE_MISS_PERCENT) % do."""
    return int.from_bytes(_url_hash(url)[:2], "big") % 100 >= ARCHIVE_MISS_PERCENT


def archive_timestamp(url: str, requested: str | None) -> str:
    """The closest snapshot's YYYYMMDDhhmmss: within two days of the requested one (or in 2021)."""
    d = _url_hash(url)
    base = datetime(2021, 1, 1, tzinfo=UTC)
    if requested and WAYBACK_TIMESTAMP.match(requested):
        with contextlib.suppress(ValueError):  # 14 digits that are no date: keep 2021
            base = datetime.strptime(requested, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    moment = base + timedelta(hours=d[2] % 96 - 48, minutes=d[3] % 60, seconds=d[4] % 60)
    return moment.strftime("%Y%m%d%H%M%S")


def wayback_answer(url: str | None, requested: str | None, origin: str) -> dict[str, object]:
    """The availability API's JSON for `url`; snapshots live at `origin`/web/<ts>/<url>."""
    answer: dict[str, object] = {"url": url or "", "archived_snapshots": {}}
    if url and archive_has_snapshot(url):
        ts = archive_timestamp(url, requested)
        answer["archived_snapshots"] = {
            "closest": {
                "status": "200",
                "available": True,
                "url": f"{origin}/web/{ts}/{url}",
                "timestamp": ts,
            }
        }
    if requested:
        answer["timestamp"] = requested
    return answer
