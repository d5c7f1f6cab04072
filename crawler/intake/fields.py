"""A card's fields: title, publishedDateTime, published, provider and a page URL, each checked
with a Problem on the card's record for what is missing or wrong."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from crawler.intake.links import is_absent, show
from crawler.model import CardRecord, Kind, Problem
from crawler.text import preview


def _parse_datetime(value: Any) -> datetime | str:
    """A timezone-aware datetime, or the reason it is not one."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            reason = str(exc)
            return "" if reason.startswith("Invalid isoformat") else preview(reason)
    else:
        return ""
    moment = moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)  # 0001-01-01T00:00+01:00 is a datetime, but not one in UTC
    except OverflowError:
        return "out of range in UTC"
    return moment


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class CardFields:
    """The checks on one parsed card, accumulating Problems on its record."""

    def __init__(self, record: CardRecord, fm: Mapping[str, Any]) -> None:
        self.record = record
        self.fm = fm
        self.moment: datetime | None = None

    def problem(self, kind: Kind, field: str, detail: str) -> None:
        self.record.problems.append(Problem(kind=kind, detail=detail, field=field))

    def title(self) -> None:
        value = self.fm.get("title")
        if value is None:
            self.problem(Kind.CARD_MISSING_FIELD, "title", "title is missing")
        elif not isinstance(value, str):
            self.problem(Kind.CARD_INVALID_FIELD, "title", f"title must be text, got {show(value)}")
        elif not value.strip():
            self.problem(Kind.CARD_INVALID_FIELD, "title", "title is empty")
        else:
            self.record.title = value

    def published_date(self) -> None:
        value = self.fm.get("publishedDateTime")
        if value is None:
            detail = "publishedDateTime is missing (e.g. publishedDateTime: 2020-02-12T15:30:00Z)"
            self.problem(Kind.CARD_MISSING_FIELD, "publishedDateTime", detail)
            return
        parsed = _parse_datetime(value)
        if isinstance(parsed, str):
            reason = f" ({parsed})" if parsed else ""
            detail = (
                f"publishedDateTime is not a date: {show(value)}{reason};"
                " expected ISO 8601 like 2020-02-12T15:30:00Z"
            )
            self.problem(Kind.CARD_INVALID_FIELD, "publishedDateTime", detail)
            return
        self.moment = parsed
        self.record.published = utc_iso(parsed)

    def published_flag(self) -> bool | None:
        """True/False, None when absent (published), or None with a problem when not a bool."""
        value = self.fm.get("published")
        if value is None or isinstance(value, bool):
            return value
        detail = f"published must be true or false, got {show(value)}"
        self.problem(Kind.CARD_INVALID_FIELD, "published", detail)
        return None

    def provider(self) -> None:
        value = self.fm.get("provider")
        if not isinstance(value, Mapping):
            return  # absent, or reported by extract_links, which walks provider.images
        for name in ("name", "domain"):
            item = value.get(name)
            if item is not None and not isinstance(item, str):
                detail = f"provider.{name} must be text, got {show(item)}"
                self.problem(Kind.CARD_INVALID_FIELD, f"provider.{name}", detail)
            elif item and self.record.provider is None:
                self.record.provider = item

    def page_url_present(self) -> None:
        if is_absent(self.fm.get("webUrl")) and is_absent(self.fm.get("originalUrl")):
            self.problem(Kind.CARD_MISSING_FIELD, "webUrl", "neither webUrl nor originalUrl is set")
