"""crawler.intake: finding card files, parsing, filtering and validating one card."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import crawler.intake.cards as cards_module
import crawler.intake.files as files_module
from crawler.config import CardsConfig, Config, LinksConfig, parse_bound
from crawler.intake.cards import load_card
from crawler.intake.files import CardsFolderError, find_card_files
from crawler.model import CardRecord, Disposition, Kind, Link, LinkKind, Problem, Severity

REAL_CARD = Path(__file__).resolve().parents[1] / "cards" / "engadget-clearview-2020.md"

CARD = """\
---
category: news
title: "Why Clearview AI is a threat to us all"
excerpt: "The surveillance system offers police unprecedented surveillance power."
publishedDateTime: {date}
webUrl: "https://www.engadget.com/2020/02/12/clearview-ai-police-surveillance-explained/"
ampWebUrl: "https://www.engadget.com/amp/2020/02/12/clearview-ai-police-surveillance-explained/"
type: article
published: {published}

provider:
  name: Engadget
  domain: engadget.com
  images:
    - url: "/assets/images/organizations/engadget.com-50x50.jpg"
      width: 50
      height: 50

images:
  - url: "https://o.aolcdn.com/images/dims?thumbnail=600%2C350&image_uri=https%3A%2F%2Fx"
    width: 600
    height: 350
---
"""


def card_text(date: str = "2020-02-12T15:30:00Z", published: str = "true") -> str:
    return CARD.format(date=date, published=published)


def write(folder: Path, content: str | bytes, name: str = "card.md") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def load(
    folder: Path, content: str | bytes, base_url: str | None = None, **cards: Any
) -> CardRecord:
    return load_card(write(folder, content), folder, CardsConfig(**cards), LinksConfig(base_url))


def kinds(record: CardRecord) -> list[Kind]:
    return [problem.kind for problem in record.problems]


def the_problem(record: CardRecord, kind: Kind) -> Problem:
    found = [problem for problem in record.problems if problem.kind is kind]
    assert len(found) == 1, record.problems
    return found[0]


def invalid(record: CardRecord, kind: Kind) -> Problem:
    assert record.disposition is Disposition.INVALID, record
    assert record.links == []
    return the_problem(record, kind)


def replace_line(text: str, start: str, new: str | None) -> str:
    lines = text.split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith(start))
    if new is None:
        del lines[index]
    else:
        lines[index] = new
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# A good card


def test_a_good_card_is_checked(tmp_path: Path) -> None:
    record = load(tmp_path, card_text())
    assert record.disposition is Disposition.CHECKED
    assert record.path == "card.md"
    assert record.title == "Why Clearview AI is a threat to us all"
    assert record.provider == "Engadget"
    assert record.published == "2020-02-12T15:30:00+00:00"
    assert record.filter_reason is None
    assert [link.field for link in record.links] == ["webUrl", "ampWebUrl", "images[0].url"]
    assert record.links[2].declared_width == 600
    # the relative logo: a warning, not a failure
    assert kinds(record) == [Kind.RELATIVE_URL_UNRESOLVED]


def test_relative_provider_logo_resolves_with_a_base_url(tmp_path: Path) -> None:
    record = load(tmp_path, card_text(), base_url="https://everyday-cc.github.io/ai")
    assert record.problems == []
    assert record.links[-1] == Link(
        "provider.images[0].url",
        "https://everyday-cc.github.io/ai/assets/images/organizations/engadget.com-50x50.jpg",
        LinkKind.IMAGE,
        50,
        50,
    )


def test_the_real_engadget_card() -> None:
    record = load_card(REAL_CARD, REAL_CARD.parent, CardsConfig(), LinksConfig())
    assert record.disposition is Disposition.CHECKED
    assert record.path == "engadget-clearview-2020.md"
    assert (record.title, record.provider) == ("Why Clearview AI is a threat to us all", "Engadget")
    assert record.published == "2020-02-12T15:30:00+00:00"
    by_field = {link.field: link for link in record.links}
    assert list(by_field) == ["webUrl", "ampWebUrl", "cdnAmpWebUrl", "images[0].url"]
    assert by_field["webUrl"].url == (
        "https://www.engadget.com/2020/02/12/clearview-ai-police-surveillance-explained/"
    )
    assert by_field["cdnAmpWebUrl"].url.startswith(
        "https://www-engadget-com.cdn.ampproject.org/c/s/www.engadget.com/amp/2020/02/12/"
    )
    image = by_field["images[0].url"]
    assert (image.kind, image.declared_width, image.declared_height) == (LinkKind.IMAGE, 600, 350)
    raw = REAL_CARD.read_text(encoding="utf-8")
    assert f'url: "{image.url}"' in raw  # the nested %252C... escapes are kept byte for byte
    logo = the_problem(record, Kind.RELATIVE_URL_UNRESOLVED)
    assert (logo.field, logo.url) == (
        "provider.images[0].url",
        "/assets/images/organizations/engadget.com-50x50.jpg",
    )

    based = load_card(
        REAL_CARD, REAL_CARD.parent, CardsConfig(), LinksConfig(base_url="https://example.org/ai/")
    )
    assert based.problems == []
    assert based.links[-1].url == (
        "https://example.org/ai/assets/images/organizations/engadget.com-50x50.jpg"
    )


# ---------------------------------------------------------------------------------------------
# Cards that cannot be parsed


def test_unparseable_yaml_says_where(tmp_path: Path) -> None:
    text = replace_line(card_text(), "excerpt:", 'excerpt: "an unclosed [quote')
    text = replace_line(text, "type:", "type: [article")
    problem = invalid(load(tmp_path, text), Kind.CARD_PARSE_ERROR)
    assert problem.detail.startswith("YAML error at line "), problem.detail
    assert problem.severity is Severity.INVALID
    # the file's own line numbers: the opening --- is line 1
    record = load(tmp_path, "---\ntitle: x\nimages: [a, b\nwebUrl: y\n---\n")
    detail = invalid(record, Kind.CARD_PARSE_ERROR).detail
    assert detail.startswith("YAML error at line 4, column 7: did not find expected ',' or ']'")
    assert "while parsing a flow sequence at line 3, column 9" in detail


@pytest.mark.parametrize(
    "text",
    ["# Just markdown\n", "", "\n\n", "title: x\n---\n", "Notes\n\n---\n\nmore\n", "# A\x01\n"],
)
def test_a_file_without_front_matter_is_skipped_not_invalid(tmp_path: Path, text: str) -> None:
    record = load(tmp_path, text)
    assert record.disposition is Disposition.SKIPPED
    assert record.problems == [] and record.links == []


def test_front_matter_not_on_the_first_line_is_invalid(tmp_path: Path) -> None:
    for text in (" ---\ntitle: x\n---\n", "\n---\ntitle: x\n---\n"):
        problem = invalid(load(tmp_path, text), Kind.CARD_PARSE_ERROR)
        assert problem.detail == "no YAML front matter (file must start with ---)"


def test_front_matter_not_closed(tmp_path: Path) -> None:
    problem = invalid(load(tmp_path, "---\ntitle: x\n"), Kind.CARD_PARSE_ERROR)
    assert problem.detail == "front matter is not closed (no --- line after the YAML)"


@pytest.mark.parametrize(
    ("yaml_text", "detail"),
    [
        ("", "front matter is empty: it must be 'key: value' lines"),
        ("- a\n- b\n", "front matter is a list, not a mapping: it must be 'key: value' lines"),
        ("just text\n", "front matter is a str, not a mapping: it must be 'key: value' lines"),
    ],
)
def test_front_matter_not_a_mapping(tmp_path: Path, yaml_text: str, detail: str) -> None:
    problem = invalid(load(tmp_path, f"---\n{yaml_text}---\n"), Kind.CARD_PARSE_ERROR)
    assert problem.detail == detail


def test_not_utf8(tmp_path: Path) -> None:
    data = card_text().replace("Clearview AI", "Clearview \u00c9").encode("latin-1")
    problem = invalid(load(tmp_path, data), Kind.CARD_PARSE_ERROR)
    offset = data.index(b"\xc9")
    assert problem.detail.startswith(f"not UTF-8: invalid byte 0xc9 at offset {offset} (line 3)")


def test_a_utf8_bom_is_fine(tmp_path: Path) -> None:
    record = load(tmp_path, b"\xef\xbb\xbf" + card_text().encode())
    assert record.disposition is Disposition.CHECKED
    assert record.title == "Why Clearview AI is a threat to us all"


def test_crlf_line_endings(tmp_path: Path) -> None:
    lf = load(tmp_path, card_text())
    crlf = load(tmp_path, card_text().replace("\n", "\r\n"))
    assert crlf.disposition is Disposition.CHECKED
    assert (crlf.links, crlf.title, crlf.published) == (lf.links, lf.title, lf.published)
    broken = card_text().replace("type: article", "type: [article").replace("\n", "\r\n")
    detail = invalid(load(tmp_path, broken), Kind.CARD_PARSE_ERROR).detail
    assert detail.startswith("YAML error at line 9,"), detail  # lines count the same with CRLF


def test_yaml_anchors_aliases_and_merge_keys_work(tmp_path: Path) -> None:
    text = card_text().replace(
        "images:\n  - url:",
        'logo: &logo {url: "https://a.example/l.png", width: 5}\n'
        "extra: {<<: *logo, height: 7}\n"
        "images:\n  - *logo\n  - url:",
    )
    record = load(tmp_path, text)
    assert record.disposition is Disposition.CHECKED, record.problems
    assert record.links[2] == Link("images[0].url", "https://a.example/l.png", LinkKind.IMAGE, 5)


def test_an_unhashable_key_is_a_parse_error_not_a_crash(tmp_path: Path) -> None:
    record = load(tmp_path, card_text().replace("type: article", "? [a, b]\n: c"))
    assert "found unhashable key" in invalid(record, Kind.CARD_PARSE_ERROR).detail


# ---------------------------------------------------------------------------------------------
# Control characters


@pytest.mark.parametrize(
    ("char", "code"), [("\x97", "U+0097"), ("\x01", "U+0001"), ("\x7f", "U+007F")]
)
def test_control_characters_are_dropped_with_a_warning(
    tmp_path: Path, char: str, code: str
) -> None:
    text = card_text().replace("unprecedented", f"unprece{char}dented")
    record = load(tmp_path, text, base_url="https://example.org/")
    assert record.disposition is Disposition.CHECKED
    problem = the_problem(record, Kind.CARD_CONTROL_CHARACTER)
    assert problem.severity is Severity.WARNING
    assert problem.detail == f"dropped control character ({code}) at line 4, column 56 (in excerpt)"
    assert problem.field == "excerpt"
    assert len(record.links) == 4


def test_control_characters_with_crlf(tmp_path: Path) -> None:
    text = card_text().replace("unprecedented", "unprece\x97dented").replace("\n", "\r\n")
    record = load(tmp_path, text)
    assert record.disposition is Disposition.CHECKED
    assert "at line 4, column 56" in the_problem(record, Kind.CARD_CONTROL_CHARACTER).detail


def test_many_control_characters_are_summed_up(tmp_path: Path) -> None:
    text = card_text().replace("unprecedented", "\x01" * 25)
    record = load(tmp_path, text)
    warnings = [p for p in record.problems if p.kind is Kind.CARD_CONTROL_CHARACTER]
    assert len(warnings) == 11
    assert warnings[-1].detail == "dropped 15 more control characters"


# ---------------------------------------------------------------------------------------------
# Fields


def test_missing_web_url_and_original_url(tmp_path: Path) -> None:
    text = replace_line(card_text(), "webUrl:", None)
    text = replace_line(text, "ampWebUrl:", 'originalUrl: ""')
    problem = invalid(load(tmp_path, text), Kind.CARD_MISSING_FIELD)
    assert problem.detail == "neither webUrl nor originalUrl is set"
    assert problem.field == "webUrl"


def test_original_url_alone_is_enough(tmp_path: Path) -> None:
    text = replace_line(card_text(), "webUrl:", 'originalUrl: "https://youtube.com/watch?v=x"')
    record = load(tmp_path, text)
    assert record.disposition is Disposition.CHECKED
    assert record.links[0].field == "originalUrl"


def test_original_url_same_as_web_url_is_not_duplicated(tmp_path: Path) -> None:
    text = card_text().replace(
        "webUrl:",
        'originalUrl: "https://WWW.engadget.com/2020/02/12/clearview-ai-police-'
        'surveillance-explained/#top"\nwebUrl:',
    )
    record = load(tmp_path, text)
    assert [link.field for link in record.links] == ["webUrl", "ampWebUrl", "images[0].url"]


@pytest.mark.parametrize(
    ("line", "kind", "detail"),
    [
        (None, Kind.CARD_MISSING_FIELD, "title is missing"),
        ("title:", Kind.CARD_MISSING_FIELD, "title is missing"),
        ('title: "  "', Kind.CARD_INVALID_FIELD, "title is empty"),
        ("title: 2020", Kind.CARD_INVALID_FIELD, "title must be text, got 2020"),
        ("title: [a, b]", Kind.CARD_INVALID_FIELD, "title must be text, got ['a', 'b']"),
    ],
)
def test_title(tmp_path: Path, line: str | None, kind: Kind, detail: str) -> None:
    record = load(tmp_path, replace_line(card_text(), "title:", line))
    assert invalid(record, kind).detail == detail
    assert record.provider == "Engadget"  # what is known is still filled in


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('"yesterday"', "'yesterday'"),
        ("yesterday", "'yesterday'"),
        ("2020-02-30T10:00:00Z", "'2020-02-30T10:00:00Z' (day is out of range for month)"),
        ('"2020-13-01"', "'2020-13-01' (month must be in 1..12)"),
        ("20200212", "20200212"),
        ("true", "True"),
    ],
)
def test_publication_date_not_a_date(tmp_path: Path, value: str, shown: str) -> None:
    record = load(tmp_path, card_text(date=value))
    problem = invalid(record, Kind.CARD_INVALID_FIELD)
    assert problem.field == "publishedDateTime"
    assert problem.detail.startswith(f"publishedDateTime is not a date: {shown}"), problem.detail
    assert record.published is None
    assert record.title is not None


def test_publication_date_missing(tmp_path: Path) -> None:
    record = load(tmp_path, replace_line(card_text(), "publishedDateTime:", None))
    assert invalid(record, Kind.CARD_MISSING_FIELD).field == "publishedDateTime"


@pytest.mark.parametrize(
    ("value", "published"),
    [
        ("2020-02-12T15:30:00Z", "2020-02-12T15:30:00+00:00"),  # a YAML timestamp
        ('"2020-02-12T15:30:00Z"', "2020-02-12T15:30:00+00:00"),  # quoted: a string
        ("2020-02-12T16:30:00+01:00", "2020-02-12T15:30:00+00:00"),
        ("2020-02-12 15:30:00", "2020-02-12T15:30:00+00:00"),  # naive: UTC
        ('"2020-02-12T15:30:00"', "2020-02-12T15:30:00+00:00"),
        ("2020-02-12", "2020-02-12T00:00:00+00:00"),  # a date
        ('"2020-02-12"', "2020-02-12T00:00:00+00:00"),
    ],
)
def test_publication_date_forms(tmp_path: Path, value: str, published: str) -> None:
    record = load(tmp_path, card_text(date=value))
    assert record.disposition is Disposition.CHECKED, record.problems
    assert record.published == published


@pytest.mark.parametrize("value", ['"false"', "0", '"no"', "[true]"])
def test_published_must_be_a_bool(tmp_path: Path, value: str) -> None:
    problem = invalid(load(tmp_path, card_text(published=value)), Kind.CARD_INVALID_FIELD)
    assert problem.field == "published"
    assert problem.detail.startswith("published must be true or false, got ")


def test_published_absent_counts_as_published(tmp_path: Path) -> None:
    record = load(tmp_path, replace_line(card_text(), "published:", None))
    assert record.disposition is Disposition.CHECKED


@pytest.mark.parametrize(
    ("provider", "field", "detail"),
    [
        ("provider: Engadget", "provider", "provider must be a mapping (name, domain, images)"),
        ("provider:\n  name: 5", "provider.name", "provider.name must be text, got 5"),
        ("provider:\n  domain: [a]", "provider.domain", "provider.domain must be text, got ['a']"),
    ],
)
def test_provider(tmp_path: Path, provider: str, field: str, detail: str) -> None:
    text = card_text()
    start = text.index("provider:")
    text = text[:start] + provider + "\n" + text[text.index('images:\n  - url: "https://o') :]
    problem = invalid(load(tmp_path, text), Kind.CARD_INVALID_FIELD)
    assert problem.field == field
    assert problem.detail.startswith(detail)


def test_provider_domain_when_there_is_no_name(tmp_path: Path) -> None:
    record = load(tmp_path, replace_line(card_text(), "  name: Engadget", None))
    assert record.provider == "engadget.com"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("htp:/x", "scheme 'htp:' is not http or https"),
        ("javascript:alert(1)", "scheme 'javascript:' is not http or https"),
    ],
)
def test_invalid_web_url(tmp_path: Path, url: str, reason: str) -> None:
    text = replace_line(card_text(), "webUrl:", f'webUrl: "{url}"')
    problem = invalid(load(tmp_path, text), Kind.INVALID_URL)
    assert (problem.field, problem.url) == ("webUrl", url)
    assert problem.detail.startswith(f"webUrl '{url}' is not a valid URL: {reason}")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = replace_line(card_text(date='"soon"'), "title:", "title: 7")
    text = replace_line(text, "webUrl:", 'webUrl: "mailto:x@y"')
    text = text.replace("width: 600", "width: 600px")
    record = load(tmp_path, text)
    assert record.disposition is Disposition.INVALID
    assert [(p.kind, p.field) for p in record.problems] == [
        (Kind.CARD_INVALID_FIELD, "title"),
        (Kind.CARD_INVALID_FIELD, "publishedDateTime"),
        (Kind.INVALID_URL, "webUrl"),
        (Kind.CARD_INVALID_FIELD, "images[0].width"),
        (Kind.RELATIVE_URL_UNRESOLVED, "provider.images[0].url"),
    ]


def test_long_bad_values_are_cut(tmp_path: Path) -> None:
    record = load(tmp_path, card_text(date='"' + "x" * 300 + '"'))
    detail = invalid(record, Kind.CARD_INVALID_FIELD).detail
    assert "x" * 70 in detail and "x" * 90 not in detail and "..." in detail


# ---------------------------------------------------------------------------------------------
# Filters: --since / --until / published


def options_between(since: str | None, until: str | None, **more: Any) -> dict[str, Any]:
    return {
        "since": parse_bound(since, upper=False) if since else None,
        "until": parse_bound(until, upper=True) if until else None,
        **more,
    }


FILTERED_BY_DATE = [
    ("2019-05-01T10:00:00Z", "2020", None, "published 2019-05-01, before --since 2020-01-01"),
    ("2021-03-01T10:00:00Z", None, "2020", "published 2021-03-01, on or after --until 2021-01-01"),
    ("2020-05-06T23:59:59Z", "2020-05-07", None, "published 2020-05-06, before --since 2020-05-07"),
    (
        "2020-04-30T12:00:00Z",
        "2020-05",
        "2020-05",
        "published 2020-04-30, before --since 2020-05-01",
    ),
    (
        "2020-05-08T00:00:00Z",
        None,
        "2020-05-07",
        "published 2020-05-08T00:00:00+00:00, on or after --until 2020-05-08",  # same day: time
    ),
    (
        "2020-05-07T09:00:00Z",
        "2020-05-07T12:00:00",
        None,
        "published 2020-05-07T09:00:00+00:00, before --since 2020-05-07T12:00:00+00:00",
    ),
]


@pytest.mark.parametrize(("date", "since", "until", "reason"), FILTERED_BY_DATE)
def test_filtered_by_date(
    tmp_path: Path, date: str, since: str | None, until: str | None, reason: str
) -> None:
    record = load(tmp_path, card_text(date=date), **options_between(since, until))
    assert record.disposition is Disposition.FILTERED
    assert record.filter_reason == reason
    assert record.filtered_by == "date"
    assert record.links == [] and record.problems == []
    # what is known is still there for the report
    assert (record.title, record.provider) == ("Why Clearview AI is a threat to us all", "Engadget")
    assert record.published is not None


@pytest.mark.parametrize(
    ("date", "since", "until"),
    [
        ("2020-01-01T00:00:00Z", "2020", "2020"),  # since is inclusive
        ("2020-12-31T23:59:59Z", "2020", "2020"),  # until 2020 means to the end of 2020
        ("2020-05-07T23:59:59Z", "2020-05-07", "2020-05-07"),
        ("2019-12-31T23:30:00-01:00", "2020", None),  # 2020-01-01T00:30 UTC
        ("2020-01-01T00:30:00+01:00", None, "2019"),  # 2019-12-31T23:30 UTC
    ],
)
def test_kept_by_date_timezone_aware(
    tmp_path: Path, date: str, since: str | None, until: str | None
) -> None:
    record = load(tmp_path, card_text(date=date), **options_between(since, until))
    assert record.disposition is Disposition.CHECKED, record.filter_reason


def test_a_card_just_before_2020_in_its_own_timezone_is_in_2020(tmp_path: Path) -> None:
    text = card_text(date="2019-12-31T23:30:00-01:00")
    record = load(tmp_path, text, **options_between(None, "2019"))
    assert record.disposition is Disposition.FILTERED
    assert record.filter_reason == (
        "published 2020-01-01T00:30:00+00:00, on or after --until 2020-01-01"
    )
    assert record.published == "2020-01-01T00:30:00+00:00"


def test_naive_bounds_are_utc() -> None:
    options = CardsConfig(since=datetime(2020, 1, 1), until=datetime(2021, 1, 1))
    assert options.since == datetime(2020, 1, 1, tzinfo=UTC)
    assert options.until is not None and options.until.utcoffset() == timedelta(0)


def test_unpublished_is_filtered_unless_included(tmp_path: Path) -> None:
    record = load(tmp_path, card_text(published="false"))
    assert record.disposition is Disposition.FILTERED
    assert record.filter_reason == "published: false"
    assert record.filtered_by == "unpublished"
    assert record.links == []
    assert record.title is not None
    included = load(tmp_path, card_text(published="false"), include_unpublished=True)
    assert included.disposition is Disposition.CHECKED
    assert len(included.links) == 3


def test_an_unreadable_date_cannot_be_filtered(tmp_path: Path) -> None:
    record = load(
        tmp_path, card_text(date="someday", published="false"), **options_between("2020", None)
    )
    assert record.disposition is Disposition.INVALID


def test_filters_come_before_validation(tmp_path: Path) -> None:
    text = replace_line(card_text(date="2018-01-01T00:00:00Z"), "webUrl:", 'webUrl: "htp:/x"')
    record = load(tmp_path, text, **options_between("2020", None))
    assert record.disposition is Disposition.FILTERED  # out of scope: not checked, not judged


def test_the_options_are_the_config_sections(tmp_path: Path) -> None:
    """load_card reads the config's own cards and links sections, as a run passes them."""
    config = Config()
    path = write(tmp_path, card_text())
    assert load_card(path, tmp_path, config.cards, config.links).disposition is Disposition.CHECKED
    config.cards.since = parse_bound("2021", upper=False)
    record = load_card(path, tmp_path, config.cards, config.links)
    assert record.disposition is Disposition.FILTERED


def test_options_and_records_cross_process_boundaries(tmp_path: Path) -> None:
    options = CardsConfig(since=datetime(2020, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert pickle.loads(pickle.dumps(options)) == options
    record = load(tmp_path, card_text())
    assert pickle.loads(pickle.dumps(record)) == record


# ---------------------------------------------------------------------------------------------
# related


RELATED = """\
related:
  - title: "Pure Storage extends public cloud block storage to Microsoft Azure"
    webUrl: "https://www.zdnet.com/article/pure-storage/"
    provider:
      name: ZDNet
      domain: zdnet.com
    images:
      - url: "https://www.zdnet.com/a/hub/i/r/x.jpg"
        width: 1200
        height: 675
  - title: "Microsoft set to close Azure Blockchain Service"
    webUrl: "https://www.techradar.com/in/news/x"
"""


def with_related(block: str = RELATED) -> str:
    return card_text().replace("images:\n  - url", block + "\nimages:\n  - url")


def test_related_links_only_with_include_related(tmp_path: Path) -> None:
    plain = load(tmp_path, with_related())
    assert not any(link.field.startswith("related") for link in plain.links)
    record = load(tmp_path, with_related(), include_related=True)
    assert record.disposition is Disposition.CHECKED
    assert [link.field for link in record.links if link.field.startswith("related")] == [
        "related[0].webUrl",
        "related[0].images[0].url",
        "related[1].webUrl",
    ]


def test_related_is_skipped_unread_when_not_included(tmp_path: Path) -> None:
    broken = with_related(RELATED.replace('webUrl: "https://www.techradar.com', 'webUrl: ["x'))
    # Not checked, so not parsed: a YAML error inside it is the price of loading fast ...
    assert load(tmp_path, broken).disposition is Disposition.CHECKED
    # ... and it is reported as soon as related cards are checked.
    record = load(tmp_path, broken, include_related=True)
    assert invalid(record, Kind.CARD_PARSE_ERROR).detail.startswith("YAML error at line ")


def test_an_error_outside_related_is_reported_with_the_files_line(tmp_path: Path) -> None:
    text = with_related().replace("type: article", "type: [article")
    detail = invalid(load(tmp_path, text), Kind.CARD_PARSE_ERROR).detail
    assert detail.startswith("YAML error at line 9, column 10: did not find expected"), detail
    assert detail.endswith("(while parsing a flow sequence at line 8, column 7)")


def test_a_related_key_that_is_not_at_the_top_level_is_kept(tmp_path: Path) -> None:
    text = card_text().replace("  name: Engadget", "  name: Engadget\n  related: [a]")
    record = load(tmp_path, text)
    assert record.disposition is Disposition.CHECKED


# ---------------------------------------------------------------------------------------------
# load_card never raises


def test_load_card_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "a-folder.md"
    folder.mkdir()
    record = load_card(folder, tmp_path, CardsConfig(), LinksConfig())
    assert record.disposition is Disposition.INVALID
    assert record.problems[0].detail.startswith("cannot read file: ")

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(cards_module, "extract_links", explode)
    record = load(tmp_path, card_text())
    assert record.disposition is Disposition.INVALID
    assert record.problems[-1].detail == "could not read the card: RuntimeError: boom"
    assert record.links == []


def test_deep_nesting_is_an_invalid_card_not_a_crash(tmp_path: Path) -> None:
    record = load(tmp_path, "---\ntitle: " + "[" * 5000 + "]" * 5000 + "\n---\n")
    assert record.disposition is Disposition.INVALID


def test_path_is_posix_and_relative_to_the_root(tmp_path: Path) -> None:
    path = write(tmp_path, card_text(), "2020/_news/card.md")
    assert load_card(path, tmp_path, CardsConfig(), LinksConfig()).path == "2020/_news/card.md"
    outside = load_card(path, tmp_path / "elsewhere", CardsConfig(), LinksConfig())
    assert outside.path == path.as_posix()


# ---------------------------------------------------------------------------------------------
# Finding card files


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in (
        "b.md",
        "a.md",
        "notes.txt",
        "_news/2020-02-01-x.md",
        "_news/2020-01-01-y.md",
        "_news/deeper/z.md",
        "_archive/_news/2017-01-01-old.md",
        ".git/HEAD.md",
        "_news/.hidden.md",
        ".drafts/d.md",
        "zz/readme.MD",
    ):
        write(tmp_path, "---\n---\n", name)
    (tmp_path / "c.md").mkdir()  # a directory named like a card
    return tmp_path


def relative(paths: Iterator[Path], root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


def test_find_card_files_default_glob(tree: Path) -> None:
    found = find_card_files(tree)
    assert not isinstance(found, list)  # streamed
    assert relative(found, tree) == [
        "a.md",
        "b.md",
        "_archive/_news/2017-01-01-old.md",
        "_news/2020-01-01-y.md",
        "_news/2020-02-01-x.md",
        "_news/deeper/z.md",
    ]


NEWS = ["_news/2020-01-01-y.md", "_news/2020-02-01-x.md"]
GLOBS = [
    ("*.md", ["a.md", "b.md"]),
    ("_news/*.md", NEWS),
    ("**/_news/*.md", ["_archive/_news/2017-01-01-old.md", *NEWS]),
    ("*/**/*.md", ["_archive/_news/2017-01-01-old.md", *NEWS, "_news/deeper/z.md"]),
    ("_news/**", [*NEWS, "_news/deeper/z.md"]),
    ("**/*.MD", ["zz/readme.MD"]),
    ("_news/.*.md", ["_news/.hidden.md"]),
    (".drafts/*.md", [".drafts/d.md"]),
    ("./_news/2020-0[2-9]-*.md", ["_news/2020-02-01-x.md"]),
]


@pytest.mark.parametrize(("glob", "expected"), GLOBS)
def test_find_card_files_glob(tree: Path, glob: str, expected: list[str]) -> None:
    assert relative(find_card_files(tree, glob), tree) == expected


def test_find_card_files_errors(tmp_path: Path) -> None:
    with pytest.raises(CardsFolderError, match="cards folder not found: "):
        find_card_files(tmp_path / "nope")
    card = write(tmp_path, "x")
    with pytest.raises(CardsFolderError, match="cards folder is not a directory: "):
        find_card_files(card)
    for glob in ("/abs/*.md", "../*.md", ""):
        with pytest.raises(CardsFolderError, match="cards glob must be a relative pattern"):
            find_card_files(tmp_path, glob)
    assert issubclass(CardsFolderError, ValueError)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_find_card_files_survives_a_symlink_loop(tmp_path: Path) -> None:
    write(tmp_path, "---\n---\n", "sub/card.md")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert relative(find_card_files(tmp_path), tmp_path) == ["sub/card.md"]


def test_found_files_load_in_order(tree: Path) -> None:
    records = [
        load_card(path, tree, CardsConfig(), LinksConfig())
        for path in find_card_files(tree, "_news/*.md")
    ]
    assert [record.path for record in records] == ["_news/2020-01-01-y.md", "_news/2020-02-01-x.md"]
    assert all(record.disposition is Disposition.INVALID for record in records)  # empty YAML


def test_find_card_files_takes_top_level_folders_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file from each site folder in turn, so every site's hosts get work early in a run;
    at most INTERLEAVED_FOLDERS folders are open at once, the next opens when one is done."""
    for name in ("top.md", "s1/a.md", "s1/b.md", "s1/deep/c.md", "s2/a.md", "s2/b.md", "s3/a.md"):
        write(tmp_path, "---\n---\n", name)
    assert relative(find_card_files(tmp_path), tmp_path) == [
        "top.md",
        "s1/a.md",
        "s2/a.md",
        "s3/a.md",
        "s1/b.md",
        "s2/b.md",
        "s1/deep/c.md",
    ]
    monkeypatch.setattr(files_module, "INTERLEAVED_FOLDERS", 2)
    assert relative(find_card_files(tmp_path), tmp_path) == [
        "top.md",
        "s1/a.md",
        "s2/a.md",
        "s1/b.md",
        "s2/b.md",
        "s1/deep/c.md",
        "s3/a.md",
    ]
