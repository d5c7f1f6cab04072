"""What each card link's problems carry, and the card status rule, pinned exactly.

Written for issue 15's mutation testing of crawler/verdicts.py: `link_problems` is given a
card link joined with its URL's stored result, as judging reads it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from crawler.judge.cardrot import card_rot_problems
from crawler.judge.verdicts import card_status, link_problems
from crawler.model import Kind, Severity, worst


def _link(**over: Any) -> dict[str, Any]:
    """A page link of a card joined with its URL's stored result (a 404 by default)."""
    link: dict[str, Any] = {
        "field": "webUrl",
        "url": "http://a.test/story",
        "url_status": "broken",
        "http_status": 404,
        "final_url": None,
        "findings": json.dumps([{"kind": "not_found", "detail": "HTTP 404 Not Found"}]),
        "declared_width": None,
        "declared_height": None,
        "image_width": None,
        "image_height": None,
    }
    link.update(over)
    return link


def test_a_problem_carries_the_link_and_its_result() -> None:
    assert link_problems(_link()) == [
        {
            "field": "webUrl",
            "url": "http://a.test/story",
            "http_status": 404,
            "final_url": None,
            "kind": "not_found",
            "severity": "broken",
            "detail": "HTTP 404 Not Found",
        }
    ]


def test_an_unchecked_link_has_no_problems() -> None:
    assert link_problems(_link(url_status=None)) == []


def test_a_problem_of_an_archived_page_points_at_the_archived_copy() -> None:
    [problem] = link_problems(
        _link(archive_url="http://archive.test/1/story", archive_timestamp="2020-01-02T00:00:00Z")
    )
    assert problem["archive_url"] == "http://archive.test/1/story"
    assert problem["archive_timestamp"] == "2020-01-02T00:00:00Z"


@pytest.mark.parametrize("archive", [{}, {"archive_url": None, "archive_timestamp": None}])
def test_a_problem_without_an_archived_copy_names_none(archive: dict[str, Any]) -> None:
    [problem] = link_problems(_link(**archive))
    assert "archive_url" not in problem
    assert "archive_timestamp" not in problem


_STREAK = {"trend": "ongoing", "first_failed_at": "2020-01-01T00:00:00Z", "consecutive_failures": 3}


@pytest.mark.parametrize(("status", "kind"), [("broken", "not_found"), ("rotted", "soft_404")])
def test_a_failing_urls_problem_carries_the_urls_own_streak(status: str, kind: str) -> None:
    findings = json.dumps([{"kind": kind, "detail": "d"}])
    [problem] = link_problems(_link(url_status=status, findings=findings, **_STREAK))
    assert {k: problem[k] for k in _STREAK} == _STREAK


@pytest.mark.parametrize(
    "over",
    [
        # a warning URL's streak is not a failure streak
        {
            "url_status": "warning",
            "findings": json.dumps([{"kind": "rate_limited", "detail": "429"}]),
            **_STREAK,
        },
        # a failing URL with no history yet: judging gives it the card's streak later
        {"trend": None, "first_failed_at": None, "consecutive_failures": None},
    ],
)
def test_only_a_failing_url_with_a_streak_passes_it_on(over: dict[str, Any]) -> None:
    [problem] = link_problems(_link(**over))
    assert not {"trend", "first_failed_at", "consecutive_failures"} & set(problem)


def test_a_permanent_move_suggests_the_new_url() -> None:
    findings = [
        {"kind": "moved_permanently", "detail": "moved permanently to http://a.test/new"},
        {"kind": "content_drift", "detail": "another story"},
    ]
    moved, drift = link_problems(
        _link(
            url_status="rotted",
            http_status=200,
            final_url="http://a.test/new",
            findings=json.dumps(findings),
        )
    )
    assert moved["suggested_url"] == "http://a.test/new"
    assert "suggested_url" not in drift  # only the move has a URL to put in the card


def test_a_permanent_move_without_a_final_url_suggests_nothing() -> None:
    findings = json.dumps([{"kind": "moved_permanently", "detail": "moved"}])
    [problem] = link_problems(_link(url_status="warning", findings=findings))
    assert "suggested_url" not in problem


def test_an_invalid_card_is_invalid_whatever_its_problems() -> None:
    assert card_status("invalid", []) == "invalid"
    assert card_status("invalid", [{"severity": "warning"}]) == "invalid"
    assert card_status("checked", []) == "ok"
    assert card_status("checked", [{"severity": "warning"}, {"severity": "rotted"}]) == "rotted"


def test_the_worst_kind_sets_the_status() -> None:
    assert worst([]) is Severity.OK
    assert worst([Kind.RATE_LIMITED, Kind.SOFT_404]) is Severity.ROTTED
    assert Severity.from_label("broken") is Severity.BROKEN
    assert Severity.ROTTED.label == "rotted"


def test_a_card_level_problem_leaves_the_streak_to_the_card() -> None:
    """Content drift is the card's problem, not its URL's: the URL's own trend (here a URL that
    recovered, `fixed`) is not passed on, so judging gives the problem the card's streak."""
    recovered_page = _link(
        url_status="ok",
        http_status=200,
        findings="[]",
        link_kind="page",
        title="Weather: sunny spells all week",
        trend="fixed",
        first_failed_at="2020-01-01T00:00:00Z",
        consecutive_failures=0,
    )
    [problem] = card_rot_problems("Parliament passes the budget", None, [recovered_page])
    assert problem["kind"] == "content_drift"
    assert {"trend", "first_failed_at", "consecutive_failures"}.isdisjoint(problem)
