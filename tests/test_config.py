from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args, get_origin
from unittest.mock import ANY

import pytest

from crawler.cli.parser import build_parser, overrides_from
from crawler.config import ConfigError, Setting, flagged_settings, parse_bound
from crawler.config_loader import load_config


def test_defaults_without_file() -> None:
    config = load_config(None)
    assert config.cards.path == Path("cards")
    assert config.output.fail_on == "broken"


def test_file_then_flags_precedence(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "politeness:\n  rate_per_host: 7\n  concurrency_per_host: 3\ncards:\n  since: 2019\n"
    )
    config = load_config(path, {"politeness": {"rate_per_host": 11.0}})
    assert config.politeness.rate_per_host == 11.0  # flag wins
    assert config.politeness.concurrency_per_host == 3  # file wins over default
    assert config.cards.since == datetime(2019, 1, 1, tzinfo=UTC)


def test_repo_config_yaml_documents_every_default() -> None:
    """config.yaml in the repo holds the documented defaults: loading it changes nothing."""
    repo_config = Path(__file__).resolve().parents[1] / "config.yaml"
    assert load_config(repo_config) == load_config(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense: 1\n", "unknown config section 'nonsense'"),
        ("fetch:\n  timout: 3\n", "unknown config key fetch.timout"),
        ("fetch:\n  retries: many\n", "fetch.retries must be a whole number"),
        ("output:\n  fail_on: sometimes\n", "output.fail_on must be one of"),
        ("cards:\n  since: yesterday\n", "not a year or ISO date"),
        ("politeness:\n  rate_per_host: 0\n", "rate_per_host must be above 0"),
        ("- a\n- b\n", "must hold a mapping"),
        ("fetch: [\n", "is not valid YAML"),
    ],
)
def test_config_errors_are_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(path)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "upper", "expected"),
    [
        ("2020", False, datetime(2020, 1, 1, tzinfo=UTC)),
        ("2020", True, datetime(2021, 1, 1, tzinfo=UTC)),
        ("2020-05", True, datetime(2020, 6, 1, tzinfo=UTC)),
        ("2020-12", True, datetime(2021, 1, 1, tzinfo=UTC)),
        ("2020-05-07", False, datetime(2020, 5, 7, tzinfo=UTC)),
        ("2020-05-07", True, datetime(2020, 5, 8, tzinfo=UTC)),
        ("2020-05-07T10:00:00+02:00", False, datetime(2020, 5, 7, 8, tzinfo=UTC)),
        ("2020-05-07T10:00:00Z", False, datetime(2020, 5, 7, 10, tzinfo=UTC)),
    ],
)
def test_parse_bound(text: str, upper: bool, expected: datetime) -> None:
    assert parse_bound(text, upper=upper) == expected


def test_since_after_until_is_rejected() -> None:
    with pytest.raises(ConfigError, match="--since must come before --until"):
        load_config(None, {"cards": {"since": "2021", "until": "2020"}})


def _flag_value(setting: Setting) -> list[str]:
    """A value the setting's flag takes: none for a switch."""
    if setting.hint is bool:
        return []
    if setting.flag.append is not None:
        return ["pinned.test:10.0.0.5"]
    if get_origin(setting.hint) is Literal:
        return [get_args(setting.hint)[-1]]
    if setting.flag.metavar in ("URL", "DURATION"):
        return {"URL": ["http://example.test/"], "DURATION": ["12h"]}[setting.flag.metavar]
    return {int: ["5"], float: ["2.5"]}.get(setting.hint, ["2020"])  # a path, a glob, a year


@pytest.mark.parametrize("setting", list(flagged_settings()), ids=lambda s: s.flag.name)
def test_every_flag_sets_its_own_setting_and_no_other(setting: Setting) -> None:
    args = build_parser().parse_args(["run", setting.flag.name, *_flag_value(setting)])
    overrides = overrides_from(args)
    assert overrides == {setting.section: {setting.key: ANY}}
    config = load_config(None, overrides)
    assert getattr(getattr(config, setting.section), setting.key) != setting.default


def test_no_flag_given_overrides_nothing() -> None:
    assert overrides_from(build_parser().parse_args(["run"])) == {}


def test_resolve_flags_add_to_the_pins_of_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("fetch:\n  resolve: {a.test: 1.1.1.1, b.test: 2.2.2.2}\n")
    args = build_parser().parse_args(
        ["run", "--resolve", "b.test:3.3.3.3", "--resolve", "c:4.4.4.4"]
    )
    config = load_config(path, overrides_from(args))
    assert config.fetch.resolve == {"a.test": "1.1.1.1", "b.test": "3.3.3.3", "c": "4.4.4.4"}
    bad = build_parser().parse_args(["run", "--resolve", "c:4.4.4.4", "--resolve", "c:5.5.5.5"])
    with pytest.raises(ConfigError, match=r"--resolve 'c:5\.5\.5\.5': c is already pinned"):
        load_config(None, overrides_from(bad))
