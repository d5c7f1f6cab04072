"""Per-host settings (config.yaml's `hosts:`): which entry applies to a host, every way an entry
can be wrong, header values kept out of report.json, and each host's own rate and concurrency as
a real server sees them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from servers import fast_fetch_config, max_in_window, ok, serve

from crawler.config import Config, ConfigError, HostConfig, PolitenessConfig
from crawler.config_loader import load_config
from crawler.judge.http import AnswerChecker
from crawler.model import LinkKind
from crawler.web.fetch import Fetcher
from crawler.web.hosts import HostRules
from crawler.web.politeness import HostPool, Limits

PAGE = LinkKind.PAGE


def config_from(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def rules_for(*patterns: str) -> HostRules:
    """Each pattern gets a rate of its own: the rate says which entry applied."""
    hosts = {p: HostConfig(rate=float(n + 1)) for n, p in enumerate(patterns)}
    return HostRules(Config(hosts=hosts))


# -- which entry applies -----------------------------------------------------------------------


def test_a_host_takes_its_own_name_then_the_longest_wildcard_then_star() -> None:
    rules = rules_for("*", "*.example.com", "*.news.example.com", "www.news.example.com")
    assert rules.pattern_for("www.news.example.com") == "www.news.example.com"
    assert rules.pattern_for("live.news.example.com") == "*.news.example.com"
    assert rules.pattern_for("a.b.live.news.example.com") == "*.news.example.com"  # any depth
    assert rules.pattern_for("shop.example.com") == "*.example.com"
    assert rules.pattern_for("example.org") == "*"
    assert rules.for_host("live.news.example.com").rate == 3.0


def test_a_wildcard_does_not_match_its_apex() -> None:
    rules = rules_for("*.example.com")
    assert rules.pattern_for("example.com") is None
    assert rules.pattern_for("notexample.com") is None  # a suffix, not a subdomain
    assert rules.pattern_for("a.example.com") == "*.example.com"
    both = rules_for("*.example.com", "example.com")  # list both for both
    assert both.pattern_for("example.com") == "example.com"


def test_a_host_no_entry_matches_gets_the_general_settings() -> None:
    config = Config(hosts={"other.test": HostConfig(rate=1.0, headers={"Cookie": "a=b"})})
    config.politeness.rate_per_host = 7.0
    config.politeness.concurrency_per_host = 3
    config.fetch.timeout = 9.0
    config.robots.enabled = False
    settings = HostRules(config).for_host("site.test")
    assert settings.pattern is None
    assert (settings.rate, settings.concurrency, settings.timeout) == (7.0, 3, 9.0)
    assert dict(settings.headers) == {} and settings.accept_status == frozenset()
    assert settings.robots is False


def test_an_entry_overrides_only_the_keys_it_sets() -> None:
    entry = HostConfig(concurrency=9, headers={"Authorization": "Bearer t"}, accept_status=[403])
    settings = HostRules(Config(hosts={"site.test": entry})).for_host("site.test")
    assert settings.pattern == "site.test"
    assert settings.concurrency == 9
    assert settings.rate == PolitenessConfig().rate_per_host  # left out: the general one
    assert dict(settings.headers) == {"Authorization": "Bearer t"}
    assert settings.accept_status == frozenset({403})


@pytest.mark.parametrize(
    ("pattern", "host"),
    [
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "bücher.example"),
        ("*.bücher.example", "www.xn--bcher-kva.example"),
        ("News.Example.COM.", "news.example.com"),
        ("news.example.com", "NEWS.example.com."),
    ],
)
def test_names_are_compared_in_one_form(tmp_path: Path, pattern: str, host: str) -> None:
    """Unicode and punycode spellings are one name; case and a trailing dot do not count."""
    config = config_from(tmp_path, f'hosts:\n  "{pattern}":\n    rate: 0.5\n')
    settings = HostRules(config).for_host(host)
    assert settings.pattern is not None and settings.rate == 0.5


def test_config_yaml_entries_are_read_with_every_key(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        "hosts:\n"
        '  "*.news.test":\n'
        "    rate: 0.5\n    concurrency: 2\n    timeout: 4\n"
        "    headers: {Cookie: 'consent=yes'}\n    accept_status: [403, 401]\n    robots: false\n"
        "  intranet.test:\n",  # an empty entry: the general settings, but listed
    )
    assert config.hosts["*.news.test"] == HostConfig(
        rate=0.5, concurrency=2, timeout=4.0, headers={"Cookie": "consent=yes"},
        accept_status=[403, 401], robots=False,
    )  # fmt: skip
    assert config.hosts["intranet.test"] == HostConfig()
    assert HostRules(config).pattern_for("intranet.test") == "intranet.test"


# -- every way an entry can be wrong -----------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '"news.test": {headers: {User-Agent: "Mozilla/5.0"}}',
            "config key hosts.news.test.headers cannot set User-Agent: linkcheck names itself",
        ),
        (
            '"news.test": {headers: {host: other.test, Cookie: a}}',
            "config key hosts.news.test.headers cannot set host:",
        ),
        ('"news.test": {headers: [Cookie]}', "hosts.news.test.headers must be a mapping"),
        ('"news.test/path": {rate: 1}', "hosts.news.test/path: not a host name or wildcard"),
        ('"news.*.test": {rate: 1}', "hosts.news.*.test: not a host name or wildcard"),
        ('"news.test:8080": {rate: 1}', "hosts.news.test:8080: not a host name or wildcard"),
        ('"**": {rate: 1}', "hosts.**: not a host name or wildcard"),
        ("'': {rate: 1}", "hosts.: not a host name or wildcard"),
        ("7: {rate: 1}", "hosts.7: not a host name or wildcard"),
        ('"news.test": {accept_status: [403, 99]}', "hosts.news.test.accept_status must be a list"),
        ('"news.test": {accept_status: 403}', "hosts.news.test.accept_status must be a list"),
        ('"news.test": {accept_status: [true]}', "hosts.news.test.accept_status must be a list"),
        ('"news.test": {rate: 0}', "config key hosts.news.test.rate must be above 0"),
        ('"news.test": {rate: -1}', "config key hosts.news.test.rate must be above 0"),
        ('"news.test": {rate: fast}', "config key hosts.news.test.rate must be a number"),
        ('"news.test": {timeout: 0}', "config key hosts.news.test.timeout must be above 0"),
        ('"news.test": {concurrency: 0}', "hosts.news.test.concurrency must be at least 1"),
        ('"news.test": {concurrency: 1.5}', "hosts.news.test.concurrency must be a whole number"),
        ('"news.test": {robots: maybe}', "hosts.news.test.robots must be true or false"),
        ('"news.test": {speed: 3}', "unknown config key hosts.news.test.speed (known: "),
        ('"news.test": 3', "hosts.news.test must be a mapping of settings"),
    ],
)
def test_a_wrong_entry_is_one_line_naming_the_file_and_the_key(
    tmp_path: Path, entry: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from(tmp_path, f"hosts:\n  {entry}\n")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(str(tmp_path / "config.yaml") + ": ")
    assert message in text


def test_the_hosts_section_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config section 'hosts' must be a mapping"):
        config_from(tmp_path, "hosts: [news.test]\n")


def test_header_values_are_masked_in_the_recorded_config(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        'hosts:\n  "news.test":\n    headers: {Cookie: "session=s3cret", Authorization: "Bearer'
        ' t0ken"}\n    rate: 2\n',
    )
    recorded = config.to_jsonable()["hosts"]["news.test"]
    assert recorded["headers"] == {"Cookie": "***", "Authorization": "***"}
    assert recorded["rate"] == 2.0
    assert "s3cret" not in repr(config.to_jsonable()) and "t0ken" not in repr(config.to_jsonable())
    assert config.hosts["news.test"].headers["Cookie"] == "session=s3cret"  # the config keeps it


# -- each host's own rate and concurrency, at a real server -------------------------------------


def test_the_connector_lets_through_the_largest_concurrency_any_host_has() -> None:
    config = Config(hosts={"a.test": HostConfig(concurrency=12), "b.test": HostConfig(rate=1)})
    config.politeness.concurrency_per_host = 3
    limits = HostPool(config.politeness, HostRules(config)).limits
    assert limits.in_flight_per_host == 12  # aiohttp's limit_per_host must not cap a.test
    assert limits.workers_per_host == 36  # enough workers to keep a.test's slots busy
    assert Limits.of(config.politeness) == Limits.of(PolitenessConfig(concurrency_per_host=3))
    few = Config(hosts={"a.test": HostConfig(concurrency=1)})
    few.politeness.concurrency_per_host = 4
    assert HostPool(few.politeness, HostRules(few)).limits.in_flight_per_host == 4  # the general


async def test_each_host_gets_its_own_rate_and_concurrency_at_the_server() -> None:
    """The general setting is 10/s and 2 in flight; slow.test's entry asks for 3/s and one at a
    time, fast.test's for 40/s and 5 at a time, more than the general setting lets through."""
    fetch = fast_fetch_config()
    config = Config(
        fetch=fetch,
        politeness=PolitenessConfig(rate_per_host=10, concurrency_per_host=2),
        hosts={
            "127.0.0.2": HostConfig(rate=3, concurrency=1),
            "127.0.0.3": HostConfig(rate=40, concurrency=5),
        },
    )
    rules = HostRules(config)
    pool = HostPool(config.politeness, rules)
    routes = {"/{n}": ok(delay=0.3)}
    async with (
        serve(routes, "127.0.0.2") as slow,
        serve(routes, "127.0.0.3") as fast,
        serve(routes, "127.0.0.4") as plain,
        Fetcher(fetch, pool, rules) as fetcher,
    ):
        checker = AnswerChecker(fetcher, fetch)
        outcomes = await asyncio.gather(
            *(checker.check(slow.url(f"/{n}"), PAGE) for n in range(7)),
            *(checker.check(fast.url(f"/{n}"), PAGE) for n in range(20)),
            *(checker.check(plain.url(f"/{n}"), PAGE) for n in range(14)),
        )
    assert all(o.findings == [] for o in outcomes)
    assert max_in_window(r.at for r in slow.requests) <= 3
    assert slow.max_in_flight == 1
    assert max_in_window(r.at for r in plain.requests) <= 10
    assert plain.max_in_flight == 2
    assert fast.max_in_flight == 5  # its own concurrency, not the connector's general cap
    assert max_in_window(r.at for r in fast.requests) <= 40
    assert pool.host_settings() == {"127.0.0.2": "127.0.0.2", "127.0.0.3": "127.0.0.3"}
