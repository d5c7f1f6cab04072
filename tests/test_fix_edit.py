"""Corrections made in a card's own text (crawler/fix/card_edit.py, crawler/fix/scalars.py):
only the value's bytes change, in the card's own quoting when the new value is safe in it."""

from __future__ import annotations

import frontmatter
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.fix.card_edit import edit_card, split_path
from crawler.fix.corrections import Correction
from crawler.fix.scalars import DOUBLE, PLAIN, SINGLE, reads_back, render

NEW = "https://b.test/new"


def moved(field: str = "webUrl", new: str = NEW) -> Correction:
    return Correction("moved_permanently", field, "http://a.test/old", new)


def removed(field: str) -> Correction:
    return Correction("amp_retired", field, None, None)


def archived(field: str = "webUrl", url: str = "http://web.archive.org/web/1/x") -> Correction:
    return Correction("not_found", field, None, url, added_field="archiveUrl")


def test_each_quoting_style_is_kept() -> None:
    card = (
        "---\n"
        'webUrl: "http://a.test/old"\n'
        "originalUrl: 'http://a.test/old'\n"
        "ampWebUrl: http://a.test/old\n"
        "---\nbody\n"
    )
    edit = edit_card(card, [moved(), moved("originalUrl"), moved("ampWebUrl")])
    assert edit.text == (
        f"---\nwebUrl: \"{NEW}\"\noriginalUrl: '{NEW}'\nampWebUrl: {NEW}\n---\nbody\n"
    )
    assert len(edit.made) == 3 and not edit.refused


def test_comments_crlf_a_bom_and_unknown_fields_stay_byte_for_byte() -> None:
    card = (
        "\ufeff---\r\n"
        "# a comment line\r\n"
        "title: Story   # trailing comment\r\n"
        "webUrl:   http://a.test/old    # where it was\r\n"
        "x-custom: {keep: [1, 2]}\r\n"
        "---\r\n"
        "Body with webUrl: http://a.test/old\r\n"
    )
    edit = edit_card(card, [moved()])
    assert edit.text == card.replace("webUrl:   http://a.test/old ", f"webUrl:   {NEW} ")


def test_nested_fields_at_any_depth() -> None:
    card = (
        "---\n"
        "provider:\n"
        "  name: P\n"
        "  images:\n"
        "    - url: 'http://a.test/logo.png'\n"
        "      width: 10\n"
        "related:\n"
        "  - title: T\n"
        '    webUrl: "http://a.test/r"\n'
        '    ampWebUrl: "http://a.test/amp/r"\n'
        '    cdnAmpWebUrl: "http://c.test/r"\n'
        "---\n"
    )
    edit = edit_card(
        card,
        [
            moved("provider.images[0].url"),
            removed("related[0].ampWebUrl"),
            archived("related[0].webUrl"),
        ],
    )
    assert edit.text == (
        "---\n"
        "provider:\n"
        "  name: P\n"
        "  images:\n"
        f"    - url: '{NEW}'\n"
        "      width: 10\n"
        "related:\n"
        "  - title: T\n"
        '    webUrl: "http://a.test/r"\n'
        '    archiveUrl: "http://web.archive.org/web/1/x"\n'
        '    cdnAmpWebUrl: "http://c.test/r"\n'
        "---\n"
    )


def test_removing_a_key_removes_its_lines_only() -> None:
    card = '---\na: 1\nampWebUrl: "http://a\n  .test/amp"  # old\ncdnAmpWebUrl: x\nb: 2\n---\n'
    edit = edit_card(card, [removed("ampWebUrl"), removed("cdnAmpWebUrl")])
    assert edit.text == "---\na: 1\nb: 2\n---\n"


def test_removing_the_first_key_of_a_list_item_moves_the_next_one_up() -> None:
    card = "---\nimages:\n  - url: x\n    width: 1\n  - url: y\n---\n"
    edit = edit_card(card, [removed("images[0].url"), removed("images[1].url")])
    assert edit.text == "---\nimages:\n  - width: 1\n  - url: y\n---\n"
    assert [reason for _, reason in edit.refused] == ["it is the only key of its list item"]


def test_a_field_that_may_be_absent_is_no_error() -> None:
    card = "---\nampWebUrl: x\n---\n"
    optional = Correction("amp_retired", "cdnAmpWebUrl", None, None, if_present=True)
    edit = edit_card(card, [optional])
    assert edit.text == card and edit.unchanged == [optional] and not edit.refused


def test_archive_url_is_added_once_in_the_value_style_and_the_files_line_ends() -> None:
    card = "---\r\nwebUrl: 'http://a.test/x' # gone\r\ntitle: T\r\n---\r\n"
    once = edit_card(card, [archived(url="http://w.test/it's")])
    assert once.text == (
        "---\r\nwebUrl: 'http://a.test/x' # gone\r\narchiveUrl: 'http://w.test/it''s'\r\n"
        "title: T\r\n---\r\n"
    )
    twice = edit_card(once.text, [archived(url="http://w.test/other")])
    assert twice.text == once.text and twice.unchanged  # a copy already named is kept


def test_a_control_character_is_dropped_from_its_field_only() -> None:
    card = '---\ntitle: "Sto\x00ry\x01"\nexcerpt: "x\x02"\n---\nbody \x03\n'
    drop = Correction("card_control_character", "title", None, None, drop="\x00")
    edit = edit_card(card, [drop])
    assert edit.text == '---\ntitle: "Story"\nexcerpt: "x\x02"\n---\nbody \x03\n'
    body_only = Correction("card_control_character", "body", None, None, drop="\x03")
    assert edit_card(card, [body_only]).refused


def test_a_value_that_is_not_safe_in_its_style_gets_the_least_quoting_that_is() -> None:
    card = "---\nwebUrl: http://a.test/old\nx: 'http://a.test/old'\n---\n"
    edit = edit_card(card, [moved(new="http://b.test/#frag: x"), moved("x", "http://b\x07")])
    assert edit.text == "---\nwebUrl: 'http://b.test/#frag: x'\nx: \"http://b\\a\"\n---\n".replace(
        "\\a", "\\x07"
    )


def test_what_cannot_be_edited_safely_is_refused_with_the_reason() -> None:
    card = "---\nwebUrl: |\n  http://a.test/old\nflow: {webUrl: http://a}\nd: 1\nd: 2\n---\n"
    edit = edit_card(
        card,
        [moved(), removed("flow.webUrl"), moved("d"), moved("nothere"), moved("a..b")],
    )
    assert edit.text == card
    assert [reason for _, reason in edit.refused] == [
        "its value is not a scalar to rewrite (a list, a mapping, a | or > block)",
        "it is inside a { } or [ ] collection",
        "the front matter has d twice",
        "the front matter has no nothere",
        "not a field path linkcheck knows",
    ]
    assert edit_card("no front matter\n", [moved()]).refused
    assert edit_card("---\nwebUrl: [\n---\n", [moved()]).refused


def test_an_anchor_shared_by_two_fields_is_not_edited_behind_the_others_back() -> None:
    card = "---\nwebUrl: &u http://a.test/old\noriginalUrl: *u\n---\n"
    edit = edit_card(card, [moved()])
    assert edit.text == card
    assert edit.refused


def test_field_paths() -> None:
    assert split_path("related[2].images[0].url") == ["related", 2, "images", 0, "url"]
    assert split_path("webUrl") == ["webUrl"]
    for bad in ("", "images[0]", "a..b", "[0].x", "a[x].b", "a.[0]"):
        assert split_path(bad) is None, bad


# ---------------------------------------------------------------------------------------------
# Values with quotes, colons, '#', unicode and control characters, in every style

VALUES = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]),  # cards are UTF-8: no lone surrogates
    min_size=1,
    max_size=40,
) | st.sampled_from(
    ["a: b", "#x", "x #y", "'", '"', "it's", "-", "? x", "@x", "`x", "%x", "true", "null",
     "1e3", "0x1F", "2020-01-01", "~", "http://a/b?c=d#e", " lead", "trail ", "é€😀", "\x00",
     "\t", "a\nb", "\u2028", "\x85", "\ufeff", "\\", "[x]", "{x}", "x,y", "*x", "&x", "!x"]
)  # fmt: skip


@given(VALUES, st.sampled_from([PLAIN, SINGLE, DOUBLE]), st.booleans())
@settings(max_examples=400, deadline=None)
def test_any_value_is_written_so_that_it_reads_back_exactly(
    value: str, style: str, flow: bool
) -> None:
    text = render(value, style, flow=flow)
    assert "\n" not in text and "\r" not in text
    assert reads_back(text, value, flow=flow)
    if style == DOUBLE:
        assert text.startswith('"')


@given(VALUES, st.sampled_from(['"http://a.test/old"', "'http://a.test/old'", "http://a/old"]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_value_replaces_a_field_and_nothing_else_changes(value: str, spelled: str) -> None:
    card = f"---\ntitle: T # c\nwebUrl: {spelled}  # old\nz: [1]\n---\nbody: {spelled}\n"
    edit = edit_card(card, [moved(new=value)])
    assert not edit.refused
    before, after = card.split("\n"), edit.text.split("\n")
    assert len(before) == len(after)
    assert [b for b, a in zip(before, after, strict=True) if b != a] in ([], [before[2]])
    assert after[2].endswith("  # old") and after[2].startswith("webUrl: ")
    parsed = frontmatter.loads(edit.text)
    assert parsed.metadata == {"title": "T", "webUrl": value, "z": [1]}
    assert parsed.content == f"body: {spelled}"
    assert yaml.safe_load(f"k: {after[2][8:-7]}") == {"k": value}
