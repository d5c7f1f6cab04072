"""One card file in, one CardRecord out: read, filtered by date and `published`, validated.

A Markdown file with no front matter at all is not a card: it is SKIPPED (counted and listed by
the run), never invalid; a file whose front matter is there but broken is invalid.

`load_card` never raises: whatever is wrong with a card is a Problem on its record, so one bad
file never stops a run over a million. Reading the text is card_text's, parsing the front matter
front_matter's, checking the fields fields', and finding the files files'.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from crawler.config import CardsConfig, LinksConfig
from crawler.intake.card_text import read_card_text
from crawler.intake.fields import CardFields, utc_iso
from crawler.intake.front_matter import opens_front_matter, parse_front_matter
from crawler.intake.links import extract_links
from crawler.model import CardRecord, Disposition, Kind, Problem, Severity
from crawler.text import preview, safe_text


def _filter_reason(moment: datetime, cards: CardsConfig) -> str | None:
    if cards.since is not None and moment < cards.since:
        return f"published {_when(moment, cards.since)}, before --since {_bound(cards.since)}"
    if cards.until is not None and moment >= cards.until:
        return f"published {_when(moment, cards.until)}, on or after --until {_bound(cards.until)}"
    return None


def _bound(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.date().isoformat() if utc.time() == time() else utc.isoformat()


def _when(moment: datetime, bound: datetime) -> str:
    """The card's day, or its exact time when the day alone would not explain the filter."""
    day, bound_day = moment.astimezone(UTC).date(), bound.astimezone(UTC).date()
    return day.isoformat() if day != bound_day else utc_iso(moment)


def load_card(path: Path, root: Path, cards: CardsConfig, links: LinksConfig) -> CardRecord:
    """Read, parse, filter (the cards section's since, until and include_ settings) and validate
    one card file, its relative URLs resolved against links.base_url. Never raises."""
    record = CardRecord(path=card_path(path, root), disposition=Disposition.INVALID)
    try:
        _load_into(record, path, cards, links)
    except Exception as exc:  # a bug or an odd file must cost one card, not the run
        record.disposition = Disposition.INVALID
        record.links = []
        detail = f"could not read the card: {type(exc).__name__}: {preview(str(exc))}"
        record.problems.append(Problem(Kind.CARD_PARSE_ERROR, detail))
    return record


def card_path(path: Path, root: Path) -> str:
    """The card's path as reported: relative to root, posix, and valid text even when the file
    name is not UTF-8 (its bytes are shown as \\xNN)."""
    return safe_text(_relative(path, root))


def _relative(path: Path, root: Path) -> str:
    text, prefix = str(path), os.path.join(str(root), "")
    if text.startswith(prefix):  # the usual case, without pathlib's slower relative_to
        return text[len(prefix) :].replace(os.sep, "/")
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _load_into(record: CardRecord, path: Path, cards: CardsConfig, links: LinksConfig) -> None:
    text, problems, record.sha256 = read_card_text(path)
    record.problems.extend(problems)
    if text is None:
        return
    if not opens_front_matter(text):
        record.disposition = Disposition.SKIPPED
        record.problems = []  # a control character in a README is none of the run's business
        return
    fm = parse_front_matter(text, include_related=cards.include_related)
    if isinstance(fm, Problem):
        record.problems.append(fm)
        return
    _judge(record, fm, cards, links)


def _judge(
    record: CardRecord, fm: Mapping[str, Any], cards: CardsConfig, links: LinksConfig
) -> None:
    card = CardFields(record, fm)
    card.title()
    card.published_date()
    card.provider()
    if card.moment is not None:
        reason = _filter_reason(card.moment, cards)
        if reason is not None:
            _filtered(record, reason, FILTERED_BY_DATE)
            return
    flag = card.published_flag()
    if flag is False and not cards.include_unpublished and card.moment is not None:
        _filtered(record, "published: false", FILTERED_UNPUBLISHED)
        return
    card.page_url_present()
    found, problems = extract_links(
        fm, base_url=links.base_url, include_related=cards.include_related
    )
    record.problems.extend(problems)
    if any(p.severity is Severity.INVALID for p in record.problems):
        record.disposition = Disposition.INVALID
        return
    record.disposition = Disposition.CHECKED
    record.links = found


FILTERED_BY_DATE = "date"  # out of --since/--until
FILTERED_UNPUBLISHED = "unpublished"  # published: false, without --include-unpublished
FILTER_KEYS = (FILTERED_BY_DATE, FILTERED_UNPUBLISHED)  # the run's breakdown, in this order


def _filtered(record: CardRecord, reason: str, key: str) -> None:
    """Out of the run's scope: no links, no problems, no request."""
    record.disposition = Disposition.FILTERED
    record.filter_reason = reason
    record.filtered_by = key
    record.problems = []
