"""One typed config: defaults < config.yaml < command-line flags.

Every key config.yaml may hold is a field here, one section per class; crawler/config_loader.py
reads the file and the flags into it. A setting that has a command-line flag declares it in its
field's metadata (`flag(...)`): the CLI generates its flags from them, so each is spelled once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, get_type_hints

from crawler import __version__
from crawler.config_flags import Flag, flag, flag_of
from crawler.redact import DEFAULT_SECRET_PARAMS, redact_origin
from crawler.text import preview
from crawler.web.addresses import parse_resolve

FailOn = Literal["broken", "rotted", "warning", "never"]
LogFormat = Literal["auto", "console", "json"]


class ConfigError(ValueError):
    """A usage or configuration mistake: reported in one line, exit code 2."""


@dataclass(slots=True)
class CardsConfig:
    path: Path = field(
        default=Path("cards"),
        metadata=flag("--cards", "folder of card files (cards.path)", metavar="DIR"),
    )
    glob: str = field(
        default="**/*.md",
        metadata=flag("--glob", "which files are cards, relative to the folder (cards.glob)"),
    )
    # inclusive, timezone-aware
    since: datetime | None = field(
        default=None,
        metadata=flag(
            "--since", "only cards published from then on (2020, 2020-05-07)", metavar="Y|DATE"
        ),
    )
    # exclusive, timezone-aware
    until: datetime | None = field(
        default=None,
        metadata=flag("--until", "only cards published up to then (inclusive)", metavar="Y|DATE"),
    )
    include_unpublished: bool = field(
        default=False,
        metadata=flag("--include-unpublished", "also check cards with published: false"),
    )
    include_related: bool = field(
        default=False,
        metadata=flag("--include-related", "also check the URLs of related[] items"),
    )

    def __post_init__(self) -> None:
        # bounds are compared with aware datetimes: a naive bound means UTC, as in parse_bound
        self.since = None if self.since is None else _aware(self.since)
        self.until = None if self.until is None else _aware(self.until)


def _aware(moment: datetime) -> datetime:
    """A naive moment is taken as UTC."""
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


@dataclass(slots=True)
class LinksConfig:
    base_url: str | None = field(
        default=None,
        metadata=flag("--base-url", "resolve relative URLs against this", metavar="URL"),
    )


@dataclass(slots=True)
class PolitenessConfig:
    # requests per second, per host
    rate_per_host: float = field(
        default=2.0,
        metadata=flag("--rate-per-host", "requests per second per host", metavar="N"),
    )
    # requests in flight, per host
    concurrency_per_host: int = field(
        default=2,
        metadata=flag("--concurrency-per-host", "requests in flight per host", metavar="N"),
    )
    # requests in flight, all hosts together
    max_in_flight: int = field(
        default=256, metadata=flag("--max-in-flight", "requests in flight in all", metavar="N")
    )
    jitter_margin_s: float = 0.05  # the rate window is this much longer than a second
    queue_per_host: int = 1000  # URLs waiting in memory per host; the rest wait on disk


@dataclass(slots=True)
class FetchConfig:
    # total seconds for one request, body included
    timeout: float = field(
        default=20.0,
        metadata=flag("--timeout", "total time for one request", metavar="SECONDS"),
    )
    connect_timeout: float = 10.0
    # seconds for one name lookup, at most (and at most half of `timeout`): a lookup that takes
    # longer is a dns_error, never a page timeout
    dns_timeout: float = 5.0
    # DNS servers to ask, "IP" or "IP:PORT"; empty: the system's (/etc/resolv.conf)
    nameservers: list[str] = field(default_factory=list)
    # extra attempts for transient failures
    retries: int = field(
        default=2,
        metadata=flag("--retries", "extra attempts for transient failures", metavar="N"),
    )
    backoff_base: float = 0.5  # seconds; doubles per attempt, with jitter
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0  # never wait longer than this for a Retry-After
    max_redirects: int = 10
    max_page_bytes: int = 1_000_000
    max_image_bytes: int = 10_000_000
    max_image_pixels: int = 80_000_000  # decompression-bomb guard
    # bytes of decoded pixels in memory at once, all image decodes together (8 MP of RGB)
    image_decode_budget_bytes: int = 32_000_000
    # who to tell when linkcheck misbehaves on a site: a URL (https://..., mailto:...) carried
    # in the User-Agent, which always names linkcheck and never pretends to be a browser
    contact_url: str | None = field(
        default=None,
        metadata=flag(
            "--contact-url",
            "where site owners reach you, sent in the User-Agent (fetch.contact_url)",
            metavar="URL",
        ),
    )
    allow_private: bool = field(
        default=False,
        metadata=flag("--allow-private", "allow loopback/private/link-local addresses"),
    )
    # host -> IP, like curl --resolve
    resolve: dict[str, str] = field(
        default_factory=dict,
        metadata=flag(
            "--resolve",
            "pin a host name to an address, like curl (repeatable)",
            metavar="HOST:IP",
            append=parse_resolve,
        ),
    )

    @property
    def user_agent(self) -> str:
        """linkcheck's User-Agent: its product token (what robots.txt groups match), its
        version, and the contact URL, or how to set one."""
        contact = self.contact_url or CONTACT_UNSET
        return f"{PRODUCT_TOKEN}/{__version__} (+{contact})"


PRODUCT_TOKEN = "linkcheck"  # the User-Agent's name, matched by robots.txt groups (RFC 9309)
CONTACT_UNSET = "contact URL not set: set fetch.contact_url in config.yaml"


@dataclass(slots=True)
class RobotsConfig:
    # read each site's robots.txt (RFC 9309) and fetch nothing it disallows; off: --no-robots,
    # for checking one's own sites
    enabled: bool = field(
        default=True,
        metadata=flag("--no-robots", "do not read robots.txt: fetch every URL (robots.enabled)"),
    )
    cache_hours: float = 24.0  # a robots.txt is kept in the store this long, at most 24 h
    # a Crawl-delay (or Request-rate) above this many seconds is lowered to it, so that one site
    # cannot hold a nightly for days; the report shows what the site asked and what was used
    max_crawl_delay_s: float = 30.0
    max_bytes: int = 512_000  # bytes of a robots.txt read (RFC 9309: at least 500 KiB)
    max_redirects: int = 5  # redirects followed to a robots.txt (RFC 9309: at least 5)


@dataclass(slots=True)
class HostConfig:
    """Settings for the hosts one `hosts:` pattern matches; None: the general setting."""

    rate: float | None = None  # requests per second (politeness.rate_per_host)
    concurrency: int | None = None  # requests in flight (politeness.concurrency_per_host)
    timeout: float | None = None  # seconds for one request (fetch.timeout)
    # extra request headers (cookies, authorization), sent to these hosts only: never to a host
    # a redirect leads to
    headers: dict[str, str] = field(default_factory=dict)
    # statuses taken as healthy for these hosts (a 403 a site always gives linkcheck)
    accept_status: list[int] = field(default_factory=list)
    robots: bool | None = None  # read robots.txt for these hosts (robots.enabled)


@dataclass(slots=True)
class OutputConfig:
    out: Path = field(
        default=Path("reports"),
        metadata=flag("--out", "output folder for reports (default reports/)", metavar="DIR"),
    )
    fail_on: FailOn = field(
        default="broken",
        metadata=flag("--fail-on", "exit 1 when a card is at least this bad (default broken)"),
    )
    log_format: LogFormat = field(default="auto", metadata=flag("--log-format", "log output"))
    progress: bool = field(
        default=True, metadata=flag("--no-progress", "no progress bar or progress lines")
    )
    # where the dashboard is published: linked from notifications and the Markdown summary
    dashboard_url: str | None = field(
        default=None, metadata=flag("--dashboard-url", "the published dashboard", metavar="URL")
    )


@dataclass(slots=True)
class StateConfig:
    path: Path = field(
        default=Path(".linkcheck/state.sqlite"),
        metadata=flag("--state", "SQLite store (default .linkcheck/state.sqlite)", metavar="PATH"),
    )
    # after every finished run, older runs' rows are deleted (crawler/store/prune.py); 0 keeps all
    keep_runs: int = field(
        default=30,
        metadata=flag(
            "--keep-runs",
            "keep the N newest runs in the store, 0: all (state.keep_runs)",
            metavar="N",
        ),
    )


@dataclass(slots=True)
class RecheckConfig:
    # a healthy result younger than this is reused, not fetched again
    max_age: str = field(
        default="7d",
        metadata=flag(
            "--max-age",
            "reuse healthy results younger than this (7d, 12h); recheck.max_age",
            metavar="DURATION",
        ),
    )
    # ignore the store: fetch everything, send no validators
    full: bool = field(default=False, metadata=flag("--full", "ignore the store: fetch every URL"))

    @property
    def max_age_s(self) -> float:
        return parse_duration(self.max_age)


@dataclass(slots=True)
class ArchiveConfig:
    # look up an archived copy of every broken or rotted page
    enabled: bool = field(
        default=True,
        metadata=flag("--no-archive", "no Internet Archive look-ups for failing pages"),
    )
    # the availability API's host
    endpoint: str = field(
        default="https://archive.org",
        metadata=flag("--archive-endpoint", "the archive's availability API host", metavar="URL"),
    )
    timeout: float = 10.0
    cache_days: float = 30.0  # answers are kept in the store this long
    budget_s: float = 60.0  # for all the lookups of a run, after its last fetch


@dataclass(slots=True)
class RotConfig:
    min_runs: int = 3  # consecutive failing runs before a problem is persistent...
    min_days: float = 7.0  # ...spanning at least this many days
    soft_404_probe: bool = True  # fetch a random sibling URL to tell soft 404s from real pages
    # a run is `degraded` (its failures start no streak) when more than this share of the hosts
    # it contacted failed at the network level (DNS, connect, TLS, timeout; no HTTP answer)...
    degraded_host_share: float = 0.5
    degraded_min_hosts: int = 3  # ...and at least this many did: one dead host is just broken


@dataclass(slots=True)
class RedactConfig:
    # query parameters whose values are masked in reports and logs: names or patterns (*_token),
    # case-insensitive; `params` replaces the built-in list, `extra_params` adds to it
    params: list[str] = field(default_factory=lambda: list(DEFAULT_SECRET_PARAMS))
    extra_params: list[str] = field(default_factory=list)


@dataclass(slots=True)
class NotifyConfig:
    # a Slack-compatible incoming webhook, told after a finished run with new broken or rotted
    # cards; a secret (its path is the key), so no flag: it would show in `ps`
    webhook_url: str | None = None
    # the message links to output.dashboard_url
    max_cards: int = 10  # the worst new cards named in the message
    timeout: float = 10.0  # seconds for the webhook's answer


@dataclass(slots=True)
class FixConfig:  # `linkcheck fix`: a retired AMP page's two fields removed, or set to webUrl
    amp_retired: Literal["remove", "canonical"] = "remove"  # (--amp-retired)


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
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    robots: RobotsConfig = field(default_factory=RobotsConfig)
    fix: FixConfig = field(default_factory=FixConfig)
    # per-host settings by host name or wildcard ("*.example.com": its subdomains); the most
    # specific pattern that matches a host wins (crawler/web/hosts.py)
    hosts: dict[str, HostConfig] = field(default_factory=dict)

    def to_jsonable(self) -> dict[str, Any]:
        """The effective config, as recorded in report.json (the webhook's secret path masked)."""
        jsonable: dict[str, Any] = _jsonable(dataclasses.asdict(self))
        if self.notify.webhook_url is not None:
            jsonable["notify"]["webhook_url"] = redact_origin(self.notify.webhook_url)
        for host in jsonable["hosts"].values():  # cookies and authorization stay secret
            host["headers"] = dict.fromkeys(host["headers"], "***")
        return jsonable


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting that has a flag: where it lives in the config, its type and default."""

    section: str
    key: str
    hint: Any
    default: Any
    flag: Flag


def flagged_settings() -> Iterator[Setting]:
    """Every setting that has a flag, in the config's (and config.yaml's) order."""
    for section in dataclasses.fields(Config):
        kind = get_type_hints(Config)[section.name]
        if not dataclasses.is_dataclass(kind):
            continue  # hosts: a mapping of patterns, with no flags
        hints = get_type_hints(kind)
        for item in dataclasses.fields(kind):
            if (found := flag_of(item)) is not None:
                yield Setting(section.name, item.name, hints[item.name], _default(item), found)


def _default(item: dataclasses.Field[Any]) -> Any:
    factory = item.default_factory
    return item.default if factory is dataclasses.MISSING else factory()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, Path) else value


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
            start = datetime(y, m, 1, tzinfo=UTC)  # raises for a month that is none
            return datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC) if upper else start
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if upper else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"not a year or ISO date: {quoted(text)} (try 2020, 2020-05 or 2020-05-07)"
        ) from exc
    return _aware(moment)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """`7d`, `12h`, `30m`, `90s`, `2w` or plain seconds, as seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"not a duration: {quoted(text)} (try 7d, 12h, 30m or 90s)")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


def quoted(value: Any) -> str:
    """A value in an error message: bounded, whatever the YAML held (an alias bomb included)."""
    return preview(repr(value) if isinstance(value, str) else value)
