"""Per-host settings: which `hosts:` entry of config.yaml applies to a host, and what it makes
of the general settings.

A pattern is a host name (`news.example.com`), a wildcard for its subdomains at any depth
(`*.example.com`: not example.com itself; list both for both) or `*` for every host. A host
takes the most specific pattern that matches it: its own name first, then the wildcard with the
longest suffix, then `*`. Names are compared as the resolver keys them (lower case, no trailing
dot) and in their ASCII (punycode) form, so `bücher.example` and `xn--bcher-kva.example` are one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from crawler.config import Config, HostConfig
from crawler.web.urls import dns_name

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class HostSettings:
    """What applies to one host: the general settings with its `hosts:` entry's on top."""

    rate: float  # requests per second
    concurrency: int  # requests in flight
    timeout: float  # seconds for one request
    headers: Mapping[str, str]  # extra request headers, for this host only
    accept_status: frozenset[int]  # statuses taken as healthy
    robots: bool  # read robots.txt
    pattern: str | None  # the `hosts:` entry that matched, None: the general settings


def ascii_name(host: str) -> str:
    """A host name as patterns are compared: resolver form, each label in punycode."""
    name = dns_name(host)
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can spell (an IP literal, an odd label): as it is
        return name


class HostRules:
    """`for_host(name)`: the settings of one host, worked out once per host and kept."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._patterns = {ascii_name(p) if p != "*" else p: p for p in config.hosts}
        self._known: dict[str, HostSettings] = {}

    def for_host(self, host: str) -> HostSettings:
        found = self._known.get(host)
        if found is None:
            found = self._known[host] = self._settings(self.pattern_for(host))
        return found

    def largest_concurrency(self) -> int:
        """The most requests in flight any one host may have."""
        general = self._config.politeness.concurrency_per_host
        return max(
            [general, *(h.concurrency for h in self._config.hosts.values() if h.concurrency)]
        )

    def pattern_for(self, host: str) -> str | None:
        """The `hosts:` pattern (as config.yaml spells it) that applies to `host`, if any."""
        name = ascii_name(host)
        if name in self._patterns:
            return self._patterns[name]
        labels = name.split(".")
        for start in range(1, len(labels)):  # the longest suffix first
            wildcard = "*." + ".".join(labels[start:])
            if wildcard in self._patterns:
                return self._patterns[wildcard]
        return self._patterns.get("*")

    def _settings(self, pattern: str | None) -> HostSettings:
        config = self._config
        entry = config.hosts[pattern] if pattern is not None else HostConfig()
        return HostSettings(
            rate=_first(entry.rate, config.politeness.rate_per_host),
            concurrency=_first(entry.concurrency, config.politeness.concurrency_per_host),
            timeout=_first(entry.timeout, config.fetch.timeout),
            headers=MappingProxyType(dict(entry.headers)),
            accept_status=frozenset(entry.accept_status),
            robots=_first(entry.robots, config.robots.enabled),
            pattern=pattern,
        )


def _first(own: _T | None, general: _T) -> _T:
    return general if own is None else own
