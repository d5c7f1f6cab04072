"""A card link's problems from its URL's stored result, and a card's status from its problems."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from crawler.model import FAILING, Kind, Problem, Severity


def dimension_detail(
    declared_width: int | None, declared_height: int | None, width: int, height: int
) -> str | None:
    """The mismatch text, or None when the real size is the declared one (or none was declared)."""
    if declared_width is None or declared_height is None:
        return None
    if (declared_width, declared_height) == (width, height):
        return None
    return f"declared {declared_width}x{declared_height}, real {width}x{height}"


def link_problems(link: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The problems one card link gets from its URL's stored result.

    `link` holds the card_links columns joined with the URL's result (findings as JSON text,
    url_status None when the URL was never checked). Dimension checks live here, not in the
    URL result, because the declared size belongs to the card: two cards may declare two sizes
    for one image URL.
    """
    if link["url_status"] is None:
        return []
    failing = link["url_status"] in FAILING
    streak = link.get("trend") is not None and failing  # the URL's own failing streak

    problems = []
    for found in json.loads(link["findings"]):
        kind = Kind(found["kind"])
        moved = kind is Kind.MOVED_PERMANENTLY and link["final_url"]
        suggested = link["final_url"] if moved else None  # the new URL to put in the card
        problems.append(link_problem(link, kind, found["detail"], streak, suggested))
    if link["image_width"] is not None:
        detail = dimension_detail(
            link["declared_width"],
            link["declared_height"],
            link["image_width"],
            link["image_height"],
        )
        if detail:
            problems.append(link_problem(link, Kind.IMAGE_DIMENSION_MISMATCH, detail, streak))
    return problems


def link_problem(
    link: Mapping[str, Any],
    kind: Kind,
    detail: str,
    streak: bool = False,
    suggested_url: str | None = None,
) -> dict[str, Any]:
    """One problem of a card link (card_links joined with its URL's result): where it is, what
    the URL answered, its archived copy (where the page can still be read) and, with `streak`,
    the URL's own failing streak."""
    return Problem(
        kind,
        detail,
        field=link["field"],
        url=link["url"],
        http_status=link["http_status"],
        final_url=link["final_url"],
        archive_url=link.get("archive_url"),
        archive_timestamp=link.get("archive_timestamp"),
        suggested_url=suggested_url,
        trend=link["trend"] if streak else None,
        first_failed_at=link["first_failed_at"] if streak else None,
        consecutive_failures=link["consecutive_failures"] if streak else None,
    ).as_dict()


def card_status(disposition: str, problems: Iterable[Mapping[str, Any]]) -> str:
    if disposition == "invalid":
        return Severity.INVALID.label
    return max((Severity.from_label(p["severity"]) for p in problems), default=Severity.OK).label
