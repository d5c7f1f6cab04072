"""Loading the config: defaults, then config.yaml, then the command-line flags' values.

Every way config.yaml can be wrong (unreadable, not YAML, an unknown key, a wrong type, a value
out of range) is a ConfigError of one line that names the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any, get_args, get_type_hints

import yaml

from crawler.config import (
    Config,
    ConfigError,
    HostConfig,
    parse_bound,
    parse_duration,
    quoted,
)
from crawler.config_flags import flag_of
from crawler.text import preview, safe_text


def _coerce(section: str, key: str, hint: Any, value: Any) -> Any:
    where = f"{section}.{key}"
    if value is None:
        return None
    if hint is Path or hint == Path | None:
        if isinstance(value, list | dict):
            raise ConfigError(f"config key {where} must be a path, not {quoted(value)}")
        return Path(str(value))
    if hint in (bool,):
        if not isinstance(value, bool):
            raise ConfigError(f"config key {where} must be true or false, not {quoted(value)}")
        return value
    if hint in (int,):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {where} must be a whole number, not {quoted(value)}")
        return value
    if hint in (float,):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key {where} must be a number, not {quoted(value)}")
        number = float(value) if isinstance(value, float) or abs(value) < 2**53 else math.inf
        if not math.isfinite(number):
            raise ConfigError(f"config key {where} must be a finite number, not {quoted(value)}")
        return number
    if hint == datetime | None:
        if isinstance(value, list | dict):
            raise ConfigError(f"config key {where} must be a year or a date, not {quoted(value)}")
        return parse_bound(str(value), upper=(key == "until"))
    if hint == dict[str, str]:
        if not isinstance(value, dict) or any(isinstance(v, list | dict) for v in value.values()):
            raise ConfigError(f"config key {where} must be a mapping of host: ip")
        return {str(k): str(v) for k, v in value.items()}
    if hint == list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config key {where} must be a list of names, not {quoted(value)}")
        return list(value)
    args = get_args(hint)
    if args and all(isinstance(a, str) for a in args):  # a Literal
        if value not in args:
            raise ConfigError(
                f"config key {where} must be one of {', '.join(args)}, not {quoted(value)}"
            )
        return value
    if hint in (str, str | None):
        if not isinstance(value, str):
            raise ConfigError(f"config key {where} must be text, not {quoted(value)}")
        return value
    return value


def _apply(target: Any, section: str, values: dict[str, Any], *, from_flags: bool) -> None:
    hints = get_type_hints(type(target))
    for key, value in values.items():
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(f"unknown config key {section}.{preview(key)} (known: {known})")
        if from_flags:
            value = _from_flag(target, key, value)
        setattr(target, key, _coerce(section, key, hints[key], value))


def _from_flag(target: Any, key: str, value: Any) -> Any:
    """A repeatable flag's values, parsed and added to the mapping config.yaml set."""
    found = flag_of(next(f for f in dataclasses.fields(target) if f.name == key))
    if found is None or found.append is None:
        return value
    try:
        return {**getattr(target, key), **found.append(value)}
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def load_config(path: Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Defaults, then the YAML file (if any), then overrides (flag values: a repeatable flag's
    are parsed and added), in that order."""
    config = Config()
    if path is not None:
        raw = _read_yaml(path)
        try:
            _merge(config, raw, from_flags=False)
        except ConfigError as exc:
            raise ConfigError(f"{_shown_path(path)}: {exc}") from exc
    if overrides:
        _merge(config, overrides, from_flags=True)
    _validate(config)
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


def _merge(config: Config, raw: dict[str, Any], *, from_flags: bool) -> None:
    sections = {f.name for f in dataclasses.fields(config)}
    for section, values in raw.items():
        if section not in sections:
            raise ConfigError(
                f"unknown config section {quoted(section)} (known: {', '.join(sorted(sections))})"
            )
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"config section {quoted(section)} must be a mapping")
        if section == "hosts":
            config.hosts = {**config.hosts, **_hosts(values)}
            continue
        if section == "fetch" and "user_agent" in values:
            raise ConfigError(
                "config key fetch.user_agent is gone: linkcheck always names itself; set"
                " fetch.contact_url to say where site owners can reach you"
            )
        if section == "notify" and "dashboard_url" in values:
            values = _moved_dashboard_url(config, values, raw.get("output"))
        _apply(getattr(config, section), section, values, from_flags=from_flags)


def _moved_dashboard_url(config: Config, notify: dict[Any, Any], output: Any) -> dict[Any, Any]:
    """notify.dashboard_url, its earlier spelling, still sets output.dashboard_url (the
    notifications and the Markdown summary link the one dashboard); both at once is a mistake."""
    if isinstance(output, dict) and "dashboard_url" in output:
        raise ConfigError(
            "notify.dashboard_url is now output.dashboard_url: set only output.dashboard_url"
        )
    rest = dict(notify)
    _apply(config.output, "output", {"dashboard_url": rest.pop("dashboard_url")}, from_flags=False)
    return rest


# Headers a host's settings may not set: linkcheck names itself (never a browser), and the
# transport's own are aiohttp's to write.
_RESERVED_HEADERS = frozenset(
    {"user-agent", "host", "content-length", "transfer-encoding", "connection"}
)
_HOST_PATTERN = re.compile(r"^(\*|(\*\.)?[^\s*/:@]+)$")


def _hosts(raw: dict[Any, Any]) -> dict[str, HostConfig]:
    """The `hosts:` section: pattern -> settings, each checked (one line naming the pattern)."""
    hosts = {}
    for pattern, values in raw.items():
        where = f"hosts.{preview(str(pattern))}"
        if not isinstance(pattern, str) or not _HOST_PATTERN.match(pattern):
            raise ConfigError(
                f"{where}: not a host name or wildcard (example.com, *.example.com or *)"
            )
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"{where} must be a mapping of settings")
        hosts[pattern.lower().rstrip(".")] = _host(where, values)
    return hosts


def _host(where: str, values: dict[Any, Any]) -> HostConfig:
    host = HostConfig()
    known = {f.name for f in dataclasses.fields(HostConfig)}
    for key, value in values.items():
        if key not in known:
            names = ", ".join(sorted(known))
            raise ConfigError(f"unknown config key {where}.{preview(str(key))} (known: {names})")
        setattr(host, key, _host_value(f"{where}.{key}", key, value))
    return host


def _host_value(where: str, key: str, value: Any) -> Any:
    section = where.rsplit(".", 1)[0]
    if value is None and key in ("rate", "concurrency", "timeout", "robots"):
        return None
    if key in ("rate", "timeout"):
        number = _coerce(section, key, float, value)
        if number <= 0:
            raise ConfigError(f"config key {where} must be above 0")
        return number
    if key == "concurrency":
        count = _coerce(section, key, int, value)
        if count < 1:
            raise ConfigError(f"config key {where} must be at least 1")
        return count
    if key == "robots":
        return _coerce(section, key, bool, value)
    if key == "headers":
        if not isinstance(value, dict) or any(isinstance(v, list | dict) for v in value.values()):
            raise ConfigError(f"config key {where} must be a mapping of header: value")
        reserved = sorted(str(k) for k in value if str(k).lower() in _RESERVED_HEADERS)
        if reserved:
            raise ConfigError(
                f"config key {where} cannot set {', '.join(reserved)}: linkcheck names itself"
                " (fetch.contact_url) and the connection's own headers are its own"
            )
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    # accept_status
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in value
    ):
        raise ConfigError(f"config key {where} must be a list of HTTP statuses (100-599)")
    return list(value)


def _validate(config: Config) -> None:
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
    if config.state.keep_runs < 0:
        raise ConfigError("state.keep_runs cannot be negative (0 keeps every run)")
    if config.rot.min_runs < 1 or config.rot.min_days < 0:
        raise ConfigError("rot.min_runs must be at least 1 and rot.min_days not negative")
    if not 0 <= config.rot.degraded_host_share <= 1 or config.rot.degraded_min_hosts < 1:
        raise ConfigError(
            "rot.degraded_host_share must be from 0 to 1 and rot.degraded_min_hosts at least 1"
        )
    contact = f.contact_url
    if contact is not None and not re.match(
        r"^(https?://[^/\s]+|mailto:[^\s@]+@[^\s@]+)\S*$", contact
    ):
        raise ConfigError(
            f"fetch.contact_url must be an http(s) or mailto: URL, not {quoted(contact)}"
        )
    c = config.cards
    if c.since and c.until and c.since >= c.until:
        raise ConfigError("--since must come before --until")
    if config.links.base_url is not None and not re.match(
        r"^https?://[^/]+", config.links.base_url
    ):
        raise ConfigError(
            f"links.base_url must be an absolute http(s) URL, not {config.links.base_url!r}"
        )
