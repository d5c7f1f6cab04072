"""The Internet Archive's Wayback availability API: is there a snapshot of a rotted link?

`GET {endpoint}/wayback/available?url=URL[&timestamp=YYYYMMDDhhmmss]` answers

    {"archived_snapshots": {"closest": {"available": true, "status": "200",
        "url": "http://web.archive.org/web/20130919044612/http://example.com/",
        "timestamp": "20130919044612"}}}

or `{"archived_snapshots": {}}` when there is none. `closest` is the snapshot nearest to the
timestamp (the card's publication date is the natural one: the page as the card saw it).
Only snapshots whose status is 2xx are accepted: a snapshot of a redirect or of an error page
is not the story.

`ArchiveClient.lookup` returns a value, never raises (except CancelledError): HTTP errors,
answers that are not the documented JSON, connection failures and slowness beyond `timeout`
all come back as `ArchiveAnswer(found=False, error=...)`. Politeness (how often to ask) is the
caller's: one lookup per rotted link, not per link.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

DEFAULT_ENDPOINT = "https://archive.org"
_MAX_BODY = 256 * 1024  # the answer is a few hundred bytes


@dataclass(frozen=True, slots=True)
class ArchiveAnswer:
    """The archive's answer for one URL: a usable snapshot, none, or why we could not tell."""

    found: bool
    archive_url: str | None = None
    archive_timestamp: str | None = None  # ISO 8601, UTC: "2013-09-19T04:46:12Z"
    error: str | None = None  # set when the lookup failed (then found is False)
    snapshot_status: str | None = None  # the closest snapshot's HTTP status, even if refused


def wayback_timestamp(moment: datetime) -> str:
    """YYYYMMDDhhmmss in UTC (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def _iso(timestamp: str) -> str | None:
    """ "20130919044612" -> "2013-09-19T04:46:12Z"; None when it is not 14 digits of a date."""
    if len(timestamp) != 14 or not timestamp.isdigit():
        return None
    try:
        moment = datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_answer(data: Any) -> ArchiveAnswer:
    """The documented JSON, already decoded, as an ArchiveAnswer."""
    if not isinstance(data, dict) or not isinstance(data.get("archived_snapshots"), dict):
        return ArchiveAnswer(found=False, error="unexpected answer: no archived_snapshots object")
    closest = data["archived_snapshots"].get("closest")
    if closest is None:
        return ArchiveAnswer(found=False)
    if not isinstance(closest, dict):
        return ArchiveAnswer(found=False, error="unexpected answer: closest is not an object")
    status = closest.get("status")
    status_text = str(status) if status is not None else None
    if closest.get("available") is not True:
        return ArchiveAnswer(found=False, snapshot_status=status_text)
    if not (status_text and len(status_text) == 3 and status_text.startswith("2")):
        return ArchiveAnswer(found=False, snapshot_status=status_text)
    url, timestamp = closest.get("url"), closest.get("timestamp")
    if not isinstance(url, str) or not url or not isinstance(timestamp, str):
        return ArchiveAnswer(found=False, error="unexpected answer: snapshot without url/timestamp")
    iso = _iso(timestamp)
    if iso is None:
        return ArchiveAnswer(found=False, error=f"unexpected answer: timestamp {timestamp!r}")
    return ArchiveAnswer(
        found=True, archive_url=url, archive_timestamp=iso, snapshot_status=status_text
    )


class ArchiveClient:
    """Ask the Wayback availability API about URLs, over a session the caller owns."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 10,
    ) -> None:
        self._session = session
        self._endpoint = endpoint.rstrip("/")
        self._timeout = timeout

    async def lookup(self, url: str, timestamp: datetime | None = None) -> ArchiveAnswer:
        """The closest 2xx snapshot of `url` (to `timestamp`, when given); never raises."""
        params = {"url": url}
        if timestamp is not None:
            params["timestamp"] = wayback_timestamp(timestamp)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._ask(params)
        except TimeoutError:
            return ArchiveAnswer(found=False, error=f"no answer within {self._timeout:g} s")
        except aiohttp.ClientError as exc:
            text = str(exc)
            name = type(exc).__name__
            return ArchiveAnswer(found=False, error=f"{name}: {text}" if text else name)

    async def _ask(self, params: dict[str, str]) -> ArchiveAnswer:
        async with self._session.get(
            f"{self._endpoint}/wayback/available",
            params=params,
            headers={"Accept": "application/json"},
            allow_redirects=True,
        ) as resp:
            body = await resp.content.read(_MAX_BODY)
            if resp.status != 200:
                reason = f" {resp.reason}" if resp.reason else ""
                return ArchiveAnswer(found=False, error=f"HTTP {resp.status}{reason}")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return ArchiveAnswer(found=False, error=f"not JSON: {body[:60]!r}")
        return parse_answer(data)


__all__ = [
    "DEFAULT_ENDPOINT",
    "ArchiveAnswer",
    "ArchiveClient",
    "parse_answer",
    "wayback_timestamp",
]
