"""What `linkcheck fix` would do to one card, from its problems alone: a safe correction per
problem, or why a person is needed. Pure: no file, no store (crawler/fix/edits.py makes the
edits in the card's own bytes).

Safe corrections, one per problem kind:
- moved_permanently: the field gets the problem's `suggested_url` (where the 301 points);
- amp_cache_mismatch: cdnAmpWebUrl gets the AMP cache URL of ampWebUrl (`suggested_url`, or
  derived by crawler.judge.amp when this card's ampWebUrl moves too);
- amp_retired: ampWebUrl and cdnAmpWebUrl removed, or set to the canonical page;
- a broken or rotted page (a `webUrl`) with an archived copy: `archiveUrl` added beside it, the
  original kept: it is the record of what was published;
- card_control_character: the character(s) removed from the field's value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crawler.intake.links import SURROUNDING
from crawler.judge.amp import amp_cache_url
from crawler.model import Kind, Severity

AMP_RETIRED_CHOICES = ("remove", "canonical")
ARCHIVE_FIELD = "archiveUrl"
AMP_FIELDS = ("ampWebUrl", "cdnAmpWebUrl")
# Warnings that ask nothing of a person: recheck later, or linkcheck's own trouble. They are left
# out of a plan.
NO_ACTION: frozenset[str] = frozenset(
    {Kind.RATE_LIMITED, Kind.CHECK_FAILED, Kind.ROBOTS_UNAVAILABLE}
)


@dataclass(frozen=True, slots=True)
class Correction:
    kind: str  # the problem's kind, e.g. "moved_permanently"
    field: str  # the front-matter field as the problem names it, e.g. "webUrl"
    old: str | None  # the value in the card now (None when a field is added, or not known)
    new: str | None  # the value after the fix (None: the field is removed)
    added_field: str | None = None  # "archiveUrl" when a field is added beside `field`
    # The card may not have the field (cdnAmpWebUrl beside a retired ampWebUrl): nothing to do
    # then; `old` is not known from the problems.
    if_present: bool = False
    # Characters to drop from the value, wherever they are (YAML refuses them, so the problem
    # cannot say the value); old and new are None then.
    drop: str = ""

    def diff_lines(self) -> list[str]:
        """What the edit does, as unified-diff lines without file context, e.g.
        ['-webUrl: http://a/old', '+webUrl: https://a/new'] (values unquoted here: the real
        diff from `linkcheck fix` keeps the card's own quoting). A value the problems do not
        tell is shown as `…`."""
        if self.added_field is not None:
            return [f"+{self.added_field}: {self.new}"]
        if self.drop:
            shown = "".join(f"\\u{ord(c):04x}" for c in self.drop)
            return [f"-{self.field}: …{shown}…", f"+{self.field}: …"]
        old = "…" if self.old is None else self.old
        lines = [f"-{self.field}: {old}"]
        if self.new is not None:
            lines.append(f"+{self.field}: {self.new}")
        return lines


@dataclass(frozen=True, slots=True)
class NeedsPerson:
    kind: str
    field: str | None
    reason: str  # one sentence: why no safe correction exists


Step = Correction | NeedsPerson

_CHAR_IN_DETAIL = re.compile(r"\(U\+([0-9A-F]{4,6})\)")


def plan_card(
    problems: Sequence[Mapping[str, Any]], *, amp_retired: str = "remove"
) -> list[Correction | NeedsPerson]:
    """Every problem of one card (the stored/report.json problem dicts), in order: its safe
    correction, or why a person is needed.

    Left out: the warnings in NO_ACTION (rate_limited, check_failed, robots_unavailable: they
    ask for a recheck, not an edit), repeats of one field's kind, and corrections another one
    supersedes (a retired AMP page decides its two fields; a field replaced whole needs no
    character dropped). `amp_retired` is "remove" or "canonical" (set both AMP fields to the
    canonical page). Pure: no file, no store.
    """
    if amp_retired not in AMP_RETIRED_CHOICES:
        raise ValueError(f"amp_retired must be one of {AMP_RETIRED_CHOICES}, got {amp_retired!r}")
    retired = any(p["kind"] == Kind.AMP_RETIRED and p.get("field") == "ampWebUrl" for p in problems)
    moved = {
        p["field"]: p["suggested_url"]
        for p in problems
        if p["kind"] == Kind.MOVED_PERMANENTLY and p.get("field") and p.get("suggested_url")
    }
    urls = {p["field"]: p["url"] for p in problems if p.get("field") and p.get("url")}
    steps: list[Step] = []
    for problem in problems:
        kind, field = str(problem["kind"]), problem.get("field")
        if kind in NO_ACTION:
            continue
        if retired and field in AMP_FIELDS and kind != Kind.AMP_RETIRED:
            continue  # the retired page's own correction decides these two fields
        step = _step(problem, kind, field, amp_retired, moved, urls)
        if step is not None:
            steps.extend(step)
    return _without_repeats(steps)


def _step(
    problem: Mapping[str, Any],
    kind: str,
    field: str | None,
    amp_retired: str,
    moved: Mapping[str, str],
    urls: Mapping[str, str],
) -> list[Step] | None:
    """The steps of one problem; None when another correction already covers it."""
    if kind == Kind.MOVED_PERMANENTLY:
        if field and problem.get("suggested_url"):
            return [Correction(kind, field, problem.get("url"), problem["suggested_url"])]
        return [NeedsPerson(kind, field, "The redirect's target is not known: run again.")]
    if kind == Kind.AMP_CACHE_MISMATCH:
        return [_cache_correction(problem, field, moved)]
    if kind == Kind.AMP_RETIRED:
        return _retired(problem, field, amp_retired, urls)
    if kind == Kind.CARD_CONTROL_CHARACTER:
        if field in moved:
            return None  # the whole value is replaced
        return [_control_correction(problem, field)]
    if _archivable(problem, kind, field):
        assert field is not None
        return [Correction(kind, field, None, problem["archive_url"], ARCHIVE_FIELD)]
    return [NeedsPerson(kind, field, _why_a_person(kind, field))]


def _cache_correction(
    problem: Mapping[str, Any], field: str | None, moved: Mapping[str, str]
) -> Step:
    kind = Kind.AMP_CACHE_MISMATCH.value
    if field is None:
        return NeedsPerson(kind, field, "The problem names no field.")
    amp = moved.get(field.removesuffix("cdnAmpWebUrl") + "ampWebUrl")
    expected: str | None = problem.get("suggested_url")
    if amp is not None:  # ampWebUrl moves too: the cache URL of where it moves
        try:
            expected = amp_cache_url(amp)
        except ValueError:
            expected = None
    if not expected:
        return NeedsPerson(kind, field, "The expected AMP cache URL is not known: run again.")
    return Correction(kind, field, problem.get("url"), expected)


def _retired(
    problem: Mapping[str, Any], field: str | None, amp_retired: str, urls: Mapping[str, str]
) -> list[Step]:
    kind = Kind.AMP_RETIRED.value
    if field is None or not field.endswith("ampWebUrl"):
        return [NeedsPerson(kind, field, "The problem names no AMP field.")]
    new: str | None = None
    if amp_retired == "canonical":
        prefix = field.removesuffix("ampWebUrl")
        new = problem.get("final_url") or urls.get(f"{prefix}webUrl")
        if not new:
            return [NeedsPerson(kind, field, "The canonical page is not known: run again.")]
    cdn = field.removesuffix("ampWebUrl") + "cdnAmpWebUrl"
    return [
        Correction(kind, field, problem.get("url"), new),
        Correction(kind, cdn, urls.get(cdn), new, if_present=cdn not in urls),
    ]


def _control_correction(problem: Mapping[str, Any], field: str | None) -> Step:
    kind = Kind.CARD_CONTROL_CHARACTER.value
    if field is None:
        return NeedsPerson(
            kind,
            field,
            "More control characters than the run located: fix the others, then run again.",
        )
    raw = problem.get("url")
    if raw is not None:  # a URL with a control character or space at an end
        stripped = raw.strip(SURROUNDING)
        if stripped and stripped != raw:
            return Correction(kind, field, raw, stripped)
    chars = "".join(chr(int(code, 16)) for code in _CHAR_IN_DETAIL.findall(problem["detail"]))
    if not chars:
        return NeedsPerson(kind, field, "The problem does not say which character: fix it by hand.")
    return Correction(kind, field, None, None, drop=chars)


def _severity(kind: str) -> Severity | None:
    return Kind(kind).severity if kind in Kind.__members__.values() else None


def _archivable(problem: Mapping[str, Any], kind: str, field: str | None) -> bool:
    """A failing page (webUrl, or a related card's) that the Internet Archive still has."""
    failing = _severity(kind) in (Severity.BROKEN, Severity.ROTTED)
    page = field is not None and (field == "webUrl" or field.endswith(".webUrl"))
    return failing and page and bool(problem.get("archive_url"))


def _why_a_person(kind: str, field: str | None) -> str:
    severity = _severity(kind)
    if severity is None:
        return "A kind this linkcheck does not know: check it by hand."
    if severity is Severity.INVALID:
        return "The card itself is wrong; only a person knows the right value."
    if severity in (Severity.BROKEN, Severity.ROTTED):
        if field is not None and (field == "webUrl" or field.endswith(".webUrl")):
            return "No archived copy is known: find the article's new address, or remove the card."
        return "Only a person can choose a working replacement for this link."
    return "A warning to check by hand: no edit of the card is sure to be right."


def _without_repeats(steps: list[Step]) -> list[Step]:
    seen: set[tuple[str, str | None, str | None]] = set()
    kept: list[Step] = []
    for step in steps:
        key = (
            step.kind,
            step.field,
            step.added_field if isinstance(step, Correction) else step.reason,
        )
        if key not in seen:
            seen.add(key)
            kept.append(step)
    return kept


__all__ = [
    "AMP_RETIRED_CHOICES",
    "ARCHIVE_FIELD",
    "NO_ACTION",
    "Correction",
    "NeedsPerson",
    "plan_card",
]
