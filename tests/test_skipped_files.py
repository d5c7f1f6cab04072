"""Only cards are cards: a Markdown file with no front matter is skipped and listed, not invalid;
the cards filtered out are counted by reason, in report.json, the terminal and the dashboard."""

from __future__ import annotations

from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest

from crawler.cli.run import print_summary
from crawler.report.schema import report_schema
from tests.quickrun import crawl, quick_config

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cards-corpus"


def card(date: str, published: str = "true") -> str:
    return f"---\ntitle: A card\npublishedDateTime: {date}\npublished: {published}\n---\n"


async def test_files_without_front_matter_are_skipped_and_filters_counted_by_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = tmp_path / "cards"
    (cards / "site").mkdir(parents=True)
    (cards / "README.md").write_text("# About these cards\n\n---\n\nSee below.\n")
    (cards / "site" / "notes.md").write_text("")
    (cards / "site" / "old.md").write_text(card("2010-05-01T00:00:00Z"))
    (cards / "site" / "draft.md").write_text(card("2021-05-01T00:00:00Z", published="false"))
    (cards / "site" / "hidden.md").write_text(card("2022-05-01T00:00:00Z", published="false"))
    (cards / "site" / "broken.md").write_text("---\ntitle: [unclosed\n---\n")

    result, report = await crawl(quick_config(tmp_path, cards={"since": "2020"}))

    run = report["run"]
    jsonschema.validate(report, report_schema())
    assert run["skipped_files"] == {"count": 2, "paths": ["README.md", "site/notes.md"]}
    assert (run["cards_found"], run["cards_invalid"], run["cards_filtered_out"]) == (4, 1, 3)
    assert run["cards_filtered_by"] == {"date": 1, "unpublished": 2}
    assert [c["path"] for c in report["cards"]] == ["site/broken.md"]
    print_summary(result)
    lines = capsys.readouterr().out.splitlines()
    assert "filtered out 3 (date 1, unpublished 2); skipped 2 files without front matter" in lines
    dashboard = (tmp_path / "out" / "report.html").read_text()
    assert "3 (date 1, unpublished 2)" in dashboard
    assert "2 without front matter, not cards" in dashboard
    assert "README.md, site/notes.md" in dashboard


@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"no corpus at {CORPUS}")
async def test_the_real_corpus_own_documents_are_skipped_not_invalid(tmp_path: Path) -> None:
    """The corpus read in place with the default glob: SOURCE.md and STATS.md are no cards.
    Every card is before --until, so the run makes no request."""
    config = quick_config(tmp_path, cards={"path": CORPUS, "until": "2000"})

    result, report = await crawl(config)

    run = report["run"]
    assert result.state == "finished"
    assert run["skipped_files"] == {"count": 2, "paths": ["SOURCE.md", "STATS.md"]}
    assert run["cards_invalid"] == 0 and report["summary"]["by_status"]["invalid"] == 0
    assert run["cards_found"] == run["cards_filtered_out"] == 2000
    assert run["cards_filtered_by"] == {"date": 2000, "unpublished": 0}
    assert run["requests_made"] == 0
