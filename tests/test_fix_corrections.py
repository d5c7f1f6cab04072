"""What `linkcheck fix` plans for a card from its problems alone (crawler/fix/corrections.py):
one safe correction per kind the issue names, "needs a person" with a reason for the rest."""

from __future__ import annotations

from typing import Any

import pytest

from crawler.fix.corrections import Correction, NeedsPerson, plan_card
from crawler.judge.amp import amp_cache_url
from crawler.model import Kind


def problem(kind: str, field: str | None = "webUrl", **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "field": field,
        "url": extra.pop("url", "http://a.test/old"),
        "severity": Kind(kind).severity.label,
        "detail": extra.pop("detail", "..."),
        "final_url": extra.pop("final_url", None),
        **extra,
    }


def test_a_moved_page_gets_the_redirects_target() -> None:
    moved = problem("moved_permanently", suggested_url="https://a.test/new")
    assert plan_card([moved]) == [
        Correction("moved_permanently", "webUrl", "http://a.test/old", "https://a.test/new")
    ]
    assert plan_card([moved])[0].diff_lines() == [  # type: ignore[union-attr]
        "-webUrl: http://a.test/old",
        "+webUrl: https://a.test/new",
    ]


def test_a_moved_page_without_its_target_needs_a_person() -> None:
    [step] = plan_card([problem("moved_permanently")])
    assert isinstance(step, NeedsPerson) and "run again" in step.reason


def test_a_wrong_cache_url_gets_the_one_the_judge_computed() -> None:
    cdn = problem(
        "amp_cache_mismatch",
        "cdnAmpWebUrl",
        url="https://cdn.ampproject.org/c/s/a.test/amp/x",
        suggested_url="https://a-test.cdn.ampproject.org/c/s/a.test/amp/x",
    )
    [step] = plan_card([cdn])
    assert step == Correction(
        "amp_cache_mismatch",
        "cdnAmpWebUrl",
        "https://cdn.ampproject.org/c/s/a.test/amp/x",
        "https://a-test.cdn.ampproject.org/c/s/a.test/amp/x",
    )


def test_when_the_amp_page_moves_too_the_cache_url_follows_it() -> None:
    moved = problem(
        "moved_permanently",
        "ampWebUrl",
        url="http://a.test/amp/x",
        suggested_url="https://b.test/amp/x",
    )
    cdn = problem("amp_cache_mismatch", "cdnAmpWebUrl", suggested_url="https://stale.example/")
    steps = plan_card([moved, cdn])
    assert [s.new for s in steps if isinstance(s, Correction)] == [
        "https://b.test/amp/x",
        amp_cache_url("https://b.test/amp/x"),
    ]


def test_a_wrong_cache_url_with_nothing_to_put_instead_needs_a_person() -> None:
    [step] = plan_card([problem("amp_cache_mismatch", "cdnAmpWebUrl")])
    assert isinstance(step, NeedsPerson)


def test_a_retired_amp_page_loses_both_amp_fields_and_decides_them() -> None:
    retired = problem("amp_retired", "ampWebUrl", url="http://a.test/amp/x")
    moved = problem("moved_permanently", "ampWebUrl", suggested_url="http://a.test/x")
    cdn = problem(
        "amp_cache_mismatch", "cdnAmpWebUrl", url="https://c/x", suggested_url="https://d/x"
    )
    steps = plan_card([moved, retired, cdn])
    assert steps == [
        Correction("amp_retired", "ampWebUrl", "http://a.test/amp/x", None),
        Correction("amp_retired", "cdnAmpWebUrl", "https://c/x", None),
    ]
    # without a problem naming it, the card may or may not have a cdnAmpWebUrl
    assert plan_card([retired])[1] == Correction(
        "amp_retired", "cdnAmpWebUrl", None, None, if_present=True
    )
    assert plan_card([retired])[1].diff_lines() == ["-cdnAmpWebUrl: …"]  # type: ignore[union-attr]


def test_a_retired_amp_page_can_point_at_the_canonical_page_instead() -> None:
    retired = problem("amp_retired", "related[1].ampWebUrl", final_url="https://a.test/x")
    steps = plan_card([retired], amp_retired="canonical")
    assert [(s.field, s.new) for s in steps if isinstance(s, Correction)] == [
        ("related[1].ampWebUrl", "https://a.test/x"),
        ("related[1].cdnAmpWebUrl", "https://a.test/x"),
    ]
    with pytest.raises(ValueError, match="amp_retired"):
        plan_card([retired], amp_retired="keep")


def test_a_failing_page_with_an_archived_copy_gets_archive_url_beside_it() -> None:
    gone = problem("not_found", archive_url="http://web.archive.org/web/2020/x")
    [step] = plan_card([gone])
    assert step == Correction(
        "not_found", "webUrl", None, "http://web.archive.org/web/2020/x", added_field="archiveUrl"
    )
    assert step.diff_lines() == ["+archiveUrl: http://web.archive.org/web/2020/x"]
    rotted = problem("soft_404", "related[0].webUrl", archive_url="http://w/x")
    assert isinstance(plan_card([rotted])[0], Correction)


def test_an_archived_copy_of_an_image_or_an_amp_page_is_no_fix() -> None:
    for field in ("images[0].url", "ampWebUrl"):
        [step] = plan_card([problem("not_found", field, archive_url="http://w/x")])
        assert isinstance(step, NeedsPerson)


def test_a_url_ending_in_a_tab_loses_it() -> None:
    tab = problem("card_control_character", url="http://a.test/x\t")
    assert plan_card([tab]) == [
        Correction("card_control_character", "webUrl", "http://a.test/x\t", "http://a.test/x")
    ]


def test_a_control_character_yaml_refuses_is_dropped_from_its_field() -> None:
    nul = problem(
        "card_control_character",
        "title",
        url=None,
        detail="dropped null (U+0000) at line 2, column 9 (in title)",
    )
    [step] = plan_card([nul])
    assert step == Correction("card_control_character", "title", None, None, drop="\x00")
    assert step.diff_lines() == ["-title: …\\u0000…", "+title: …"]
    more = problem("card_control_character", None, url=None, detail="dropped 4 more control ...")
    assert isinstance(plan_card([more])[0], NeedsPerson)


def test_a_field_replaced_whole_needs_no_character_dropped() -> None:
    tab = problem("card_control_character", url="http://a.test/x\t")
    moved = problem("moved_permanently", suggested_url="https://a.test/y")
    assert [s.kind for s in plan_card([tab, moved])] == ["moved_permanently"]


def test_everything_else_needs_a_person_with_a_reason_and_quiet_warnings_are_left_out() -> None:
    problems = [
        problem("dns_error"),
        problem("image_dimension_mismatch", "images[0].url"),
        problem("card_missing_field", "title"),
        problem("bot_blocked"),
        problem("rate_limited"),
        problem("check_failed"),
        problem("robots_unavailable"),
        {**problem("not_found"), "kind": "from_a_newer_linkcheck"},
    ]
    steps = plan_card(problems)
    assert [s.kind for s in steps] == [
        "dns_error",
        "image_dimension_mismatch",
        "card_missing_field",
        "bot_blocked",
        "from_a_newer_linkcheck",
    ]
    assert all(isinstance(s, NeedsPerson) and s.reason.endswith(".") for s in steps)
    assert len({s.reason for s in steps if isinstance(s, NeedsPerson)}) == 5


def test_one_problem_twice_is_planned_once() -> None:
    moved = problem("moved_permanently", suggested_url="https://a.test/new")
    assert len(plan_card([moved, dict(moved)])) == 1
