"""One typed config: defaults < config.yaml < command-line flags.

Every key config.yaml may hold is a field here; an unknown key or a wrong type is a ConfigError
(the CLI turns it into a one-line message and exit code 2).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

import yaml

from crawler.redact import DEFAULT_SECRET_PARAMS
from crawler.text import preview, safe_text

FailOn = Literal["broken", "rotted", "warning", "never"]
LogFormat = Literal["auto", "console", "json"]


class ConfigError(ValueError):
    """A usage or configuration mistake: reported in one line, exit code 2."""


@dataclass(slots=True)
class CardsConfig:
    path: Path = Path("cards")
    glob: str = "**/*.md"
    since: datetime | None = None  # inclusive, timezone-aware
    until: datetime | None = None  # exclusive, timezone-aware
    include_unpublished: bool = False
    include_related: bool = False


@dataclass(slots=True)
class LinksConfig:
    base_url: str | None = None


@dataclass(slots=True)
class PolitenessConfig:
    rate_per_host: float = 2.0  # requests per second, per host
    concurrency_per_host: int = 2  # requests in flight, per host
    max_in_flight: int = 256  # requests in flight, all hosts together
    jitter_margin_s: float = 0.05  # the rate window is this much longer than a second
    queue_per_host: int = 1000  # URLs waiting in memory per host; the rest wait on disk


@dataclass(slots=True)
class FetchConfig:
    timeout: float = 20.0  # total seconds for one request, body included
    connect_timeout: float = 10.0
    retries: int = 2  # extra attempts for transient failures
    backoff_base: float = 0.5  # seconds; doubles per attempt, with jitter
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0  # never wait longer than this for a Retry-After
    max_redirects: int = 10
    max_page_bytes: int = 1_000_000
    max_image_bytes: int = 10_000_000
    max_image_pixels: int = 80_000_000  # decompression-bomb guard
    # bytes of decoded pixels in memory at once, all image decodes together (8 MP of RGB)
    image_decode_budget_bytes: int = 32_000_000
    user_agent: str = "linkcheck/0.1 (+https://example.invalid/linkcheck)"
    allow_private: bool = False
    resolve: dict[str, str] = field(default_factory=dict)  # host -> IP, like curl --resolve


@dataclass(slots=True)
class OutputConfig:
    out: Path = Path("reports")
    fail_on: FailOn = "broken"
    log_format: LogFormat = "auto"
    progress: bool = True


@dataclass(slots=True)
class StateConfig:
    path: Path = Path(".linkcheck/state.sqlite")


@dataclass(slots=True)
class RecheckConfig:
    max_age: str = "7d"  # a healthy result younger than this is reused, not fetched again
    full: bool = False  # ignore the store: fetch everything, send no validators

    @property
    def max_age_s(self) -> float:
        return parse_duration(self.max_age)


@dataclass(slots=True)
class ArchiveConfig:
    enabled: bool = True  # look up an archived copy of every broken or rotted page (--no-archive)
    endpoint: str = "https://archive.org"  # the availability API's host (--archive-endpoint)
    timeout: float = 10.0
    cache_days: float = 30.0  # answers are kept in the store this long


@dataclass(slots=True)
class RotConfig:
    min_runs: int = 3  # consecutive failing runs before a problem is persistent...
    min_days: float = 7.0  # ...spanning at least this many days
    soft_404_probe: bool = True  # fetch a random sibling URL to tell soft 404s from real pages


@dataclass(slots=True)
class RedactConfig:
    # query parameters whose values are masked in reports and logs: names or patterns (*_token),
    # case-insensitive; `params` replaces the built-in list, `extra_params` adds to it
    params: list[str] = field(default_factory=lambda: list(DEFAULT_SECRET_PARAMS))
    extra_params: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Config:
    cards: CardsConfig = field(default_factory=CardsConfig)
    links: LinksConfig = field(default_factory=LinksConfig)
    politeness: PolitenessConfig = field(default_factory=PolitenessConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    state: StateConfig = field(default_factory=StateConfig)
    recheck: RecheckConfig = field(default_factory=RecheckConfig)
    rot: RotConfig = field(default_factory=RotConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    redact: RedactConfig = field(default_factory=RedactConfig)

    def to_jsonable(self) -> dict[str, Any]:
        """The effective config, as recorded in report.json."""
        jsonable: dict[str, Any] = _jsonable(dataclasses.asdict(self))
        return jsonable


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# ---------------------------------------------------------------------------------------------
# Dates for --since / --until

_YEAR = re.compile(r"^\d{4}$")
_YEAR_MONTH = re.compile(r"^\d{4}-\d{2}$")


def parse_bound(text: str, *, upper: bool) -> datetime:
    """Parse a --since/--until value: a year, a year-month, an ISO date or an ISO datetime.

    A lower bound is the first instant of the period, an upper bound the first instant after it,
    so `--since 2020 --until 2020` means the whole of 2020. Naive values are taken as UTC.
    """
    text = str(text).strip()
    try:
        if _YEAR.match(text):
            start = datetime(int(text), 1, 1, tzinfo=UTC)
            return start.replace(year=start.year + 1) if upper else start
        if _YEAR_MONTH.match(text):
            y, m = (int(p) for p in text.split("-"))
            start = datetime(y, m, 1, tzinfo=UTC)
            if not upper:
                return start
            return datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if upper else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"not a year or ISO date: {_shown(text)} (try 2020, 2020-05 or 2020-05-07)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """`7d`, `12h`, `30m`, `90s`, `2w` or plain seconds, as seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"not a duration: {_shown(text)} (try 7d, 12h, 30m or 90s)")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


# ---------------------------------------------------------------------------------------------
# Loading


def _shown(value: Any) -> str:
    """A value in an error message: bounded, whatever the YAML held (an alias bomb included)."""
    return preview(repr(value) if isinstance(value, str) else value)


def _coerce(section: str, key: str, hint: Any, value: Any) -> Any:
    where = f"{section}.{key}"
    if value is None:
        return None
    if hint is Path or hint == Path | None:
        if isinstance(value, list | dict):
            raise ConfigError(f"config key {where} must be a path, not {_shown(value)}")
        return Path(str(value))
    if hint in (bool,):
        if not isinstance(value, bool):
            raise ConfigError(f"config key {where} must be true or false, not {_shown(value)}")
        return value
    if hint in (int,):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {where} must be a whole number, not {_shown(value)}")
        return value
    if hint in (float,):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key {where} must be a number, not {_shown(value)}")
        number = float(value) if isinstance(value, float) or abs(value) < 2**53 else math.inf
        if not math.isfinite(number):
            raise ConfigError(f"config key {where} must be a finite number, not {_shown(value)}")
        return number
    if hint == datetime | None:
        if isinstance(value, list | dict):
            raise ConfigError(f"config key {where} must be a year or a date, not {_shown(value)}")
        return parse_bound(str(value), upper=(key == "until"))
    if hint == dict[str, str]:
        if not isinstance(value, dict) or any(isinstance(v, list | dict) for v in value.values()):
            raise ConfigError(f"config key {where} must be a mapping of host: ip")
        return {str(k): str(v) for k, v in value.items()}
    if hint == list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config key {where} must be a list of names, not {_shown(value)}")
        return list(value)
    args = get_args(hint)
    if args and all(isinstance(a, str) for a in args):  # a Literal
        if value not in args:
            raise ConfigError(
                f"config key {where} must be one of {', '.join(args)}, not {_shown(value)}"
            )
        return value
    if hint in (str, str | None):
        if not isinstance(value, str):
            raise ConfigError(f"config key {where} must be text, not {_shown(value)}")
        return value
    return value


def _apply(target: Any, section: str, values: dict[str, Any]) -> None:
    hints = get_type_hints(type(target))
    for key, value in values.items():
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(f"unknown config key {section}.{preview(key)} (known: {known})")
        setattr(target, key, _coerce(section, key, hints[key], value))


def load_config(path: Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Defaults, then the YAML file (if any), then overrides (from flags), in that order."""
    config = Config()
    if path is not None:
        raw = _read_yaml(path)
        try:
            _merge(config, raw)
        except ConfigError as exc:
            raise ConfigError(f"{_shown_path(path)}: {exc}") from exc
    if overrides:
        _merge(config, overrides)
    validate(config)
    return config


def _shown_path(path: Path) -> str:
    return safe_text(str(path))


def _read_yaml(path: Path) -> dict[str, Any]:
    """The config file's sections; every way it can fail is one line naming the file."""
    where = _shown_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{where}: config file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{where}: is a directory, not a config file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: is not valid YAML: not UTF-8 text") from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{where}: cannot read the config file: {reason}") from exc
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: is not valid YAML: {_yaml_problem(exc)}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{where}: is not valid YAML: nested too deeply") from exc
    except ValueError as exc:  # a timestamp that is no date (2020-13-45) escapes as ValueError
        raise ConfigError(f"{where}: is not valid YAML: {preview(str(exc))}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: config file must hold a mapping of sections")
    return raw


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message is several lines with a code excerpt: the problem and where, in one."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{exc.problem}{at}"
    return " ".join(str(exc).split())


def _merge(config: Config, raw: dict[str, Any]) -> None:
    sections = {f.name for f in dataclasses.fields(config)}
    for section, values in raw.items():
        if section not in sections:
            raise ConfigError(
                f"unknown config section {_shown(section)} (known: {', '.join(sorted(sections))})"
            )
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"config section {_shown(section)} must be a mapping")
        _apply(getattr(config, section), section, values)


def validate(config: Config) -> None:
    p, f = config.politeness, config.fetch
    if p.rate_per_host <= 0:
        raise ConfigError("politeness.rate_per_host must be above 0")
    if p.concurrency_per_host < 1 or p.max_in_flight < 1 or p.queue_per_host < 1:
        raise ConfigError(
            "politeness.concurrency_per_host, max_in_flight and queue_per_host must be at least 1"
        )
    if f.timeout <= 0 or f.connect_timeout <= 0:
        raise ConfigError("fetch.timeout and fetch.connect_timeout must be above 0")
    if f.retries < 0 or f.max_redirects < 0:
        raise ConfigError("fetch.retries and fetch.max_redirects cannot be negative")
    if f.max_page_bytes < 1 or f.max_image_bytes < 1:
        raise ConfigError("fetch.max_page_bytes and fetch.max_image_bytes must be at least 1")
    if f.image_decode_budget_bytes < 1 or f.max_image_pixels < 1:
        raise ConfigError("fetch.image_decode_budget_bytes and max_image_pixels must be at least 1")
    parse_duration(config.recheck.max_age)
    if config.rot.min_runs < 1 or config.rot.min_days < 0:
        raise ConfigError("rot.min_runs must be at least 1 and rot.min_days not negative")
    c = config.cards
    if c.since and c.until and c.since >= c.until:
        raise ConfigError("--since must come before --until")
    if config.links.base_url is not None and not re.match(
        r"^https?://[^/]+", config.links.base_url
    ):
        raise ConfigError(
            f"links.base_url must be an absolute http(s) URL, not {config.links.base_url!r}"
        )
