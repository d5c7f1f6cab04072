"""The address guard's details, pins and resolver contract, pinned exactly.

Written for issue 15's mutation testing of crawler/addresses.py: each test pins a behaviour that
the broader tests in test_addresses.py only touched (a label, a bound, an argument passed on).
"""

from __future__ import annotations

import ipaddress
import pickle
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from crawler.web.addresses import (
    BlockedAddressError,
    GuardedResolver,
    address_category,
    blocked_detail,
    is_blocked_address,
    literal_address_problem,
    parse_ip,
    parse_resolve,
    validate_pins,
)


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("fec0::1", "a site-local address"),
        ("127.0.0.1", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("169.254.169.254", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.1.2.3", "a 'this network' address"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("10.1.2.3", "a private address"),
        ("64:ff9b:1::1", "a reserved address"),
        ("::ffff:127.0.0.1", "a loopback address (embedded in an IPv6 address)"),
        ("64:ff9b::a9fe:a9fe", "a link-local address (embedded in an IPv6 address)"),
    ],
)
def test_each_kind_of_blocked_address_is_named_in_its_detail(address: str, category: str) -> None:
    assert address_category(ipaddress.ip_address(address)) == category
    assert blocked_detail(address) == f"{address} is {category}; use --allow-private to allow it"


def test_a_nat64_address_around_a_public_ipv4_address_is_public() -> None:
    # 64:ff9b::808:808 is 8.8.8.8 behind NAT64: only its last 32 bits are the IPv4 address.
    assert address_category(ipaddress.ip_address("64:ff9b::808:808")) is None
    assert not is_blocked_address(ipaddress.ip_address("64:ff9b::808:808"))


def test_a_detail_for_a_public_or_unreadable_address_still_reads_as_a_sentence() -> None:
    assert blocked_detail("8.8.8.8") == (
        "8.8.8.8 is a blocked address; use --allow-private to allow it"
    )
    assert blocked_detail("?") == "? is not a valid address; use --allow-private to allow it"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("[fe80::1%eth0]", "fe80::1"),
        ("fe80::1%2", "fe80::1"),
        (" 127.0.0.1 ", "127.0.0.1"),
        ("127.0.0.1%eth0", "127.0.0.1"),
    ],
)
def test_an_address_is_read_without_its_brackets_and_zone(text: str, address: str) -> None:
    parsed = parse_ip(text)
    assert parsed == ipaddress.ip_address(address)
    assert str(parsed) == address


@pytest.mark.parametrize("host", ["[::1]", " [::1] ", "::1"])
def test_a_literal_host_is_shown_as_written_without_brackets(host: str) -> None:
    assert literal_address_problem(host, allow_private=False) == (
        "::1 is a loopback address; use --allow-private to allow it"
    )


# -- pins -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["1", "65535"])
def test_every_valid_port_is_accepted_in_a_pin(port: str) -> None:
    assert parse_resolve([f"site.test:{port}:1.2.3.4"]) == {"site.test": "1.2.3.4"}


def test_port_65536_is_refused_in_a_pin() -> None:
    with pytest.raises(ValueError, match="'65536' is not a port number"):
        parse_resolve(["site.test:65536:1.2.3.4"])


@pytest.mark.parametrize("entry", [".site.test:1.2.3.4", "us@er.test:1.2.3.4", "a b.test:1.2.3.4"])
def test_a_pin_for_something_that_is_not_a_host_name_is_refused(entry: str) -> None:
    host = entry.rpartition(":")[0]
    with pytest.raises(ValueError) as caught:
        parse_resolve([entry])
    assert str(caught.value) == f"--resolve {entry!r}: {host!r} is not a host name"


def test_an_upper_case_name_is_pinned_in_lower_case() -> None:
    assert parse_resolve(["XN--BCHER-KVA.TEST:1.2.3.4"]) == {"xn--bcher-kva.test": "1.2.3.4"}


def test_config_pins_take_ipv6_addresses_without_brackets() -> None:
    pins = {"six.test": "::1", "four.test": "127.0.0.1", "Long.Test.": "fe80::0001"}
    assert validate_pins(pins) == {
        "six.test": "::1",
        "four.test": "127.0.0.1",
        "long.test": "fe80::1",
    }


# -- the resolver ---------------------------------------------------------------------------------


class RecordingResolver(AbstractResolver):
    """Stands in for DNS: answers from a table and records each query as it was asked."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.queries: list[tuple[str, int, socket.AddressFamily]] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.queries.append((host, port, family))
        return [
            ResolveResult(
                hostname=host, host=ip, port=port, family=socket.AF_INET, proto=0, flags=0
            )
            for ip in self.table.get(host, [])
        ]

    async def close(self) -> None:
        pass


async def test_the_real_resolver_is_asked_with_the_callers_port_and_family() -> None:
    inner = RecordingResolver({"site.test": ["93.184.216.34"]})
    resolver = GuardedResolver(inner=inner)
    await resolver.resolve("site.test", 8443, socket.AF_INET6)
    await resolver.resolve("site.test")
    assert inner.queries == [
        ("site.test", 8443, socket.AF_INET6),
        ("site.test", 0, socket.AF_INET),
    ]


async def test_a_pinned_answer_is_numeric_and_of_the_addresss_family() -> None:
    pins = {"four.test": "93.184.216.34", "six.test": "2606:4700::1111"}
    resolver = GuardedResolver(pins, inner=RecordingResolver({}))
    numeric = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
    assert await resolver.resolve("four.test", 443) == [
        ResolveResult(
            hostname="four.test",
            host="93.184.216.34",
            port=443,
            family=socket.AF_INET,
            proto=0,
            flags=numeric,
        )
    ]
    assert await resolver.resolve("six.test") == [
        ResolveResult(
            hostname="six.test",
            host="2606:4700::1111",
            port=0,
            family=socket.AF_INET6,
            proto=0,
            flags=numeric,
        )
    ]


@pytest.mark.parametrize("host", ["invalid", "INVALID.", "x.Invalid"])
async def test_the_invalid_domain_fails_at_once_as_an_unknown_name(host: str) -> None:
    inner = RecordingResolver({})
    resolver = GuardedResolver(inner=inner)
    with pytest.raises(socket.gaierror) as caught:
        await resolver.resolve(host)
    assert caught.value.errno == socket.EAI_NONAME
    assert caught.value.strerror == f"{host}: .invalid names never resolve"
    assert inner.queries == []


async def test_an_answer_that_is_not_an_address_is_never_connected_to() -> None:
    inner = RecordingResolver({"odd.test": ["not-an-ip", "93.184.216.34"], "bad.test": ["x"]})
    resolver = GuardedResolver(inner=inner)
    assert [r["host"] for r in await resolver.resolve("odd.test")] == ["93.184.216.34"]
    with pytest.raises(BlockedAddressError) as caught:
        await resolver.resolve("bad.test")
    assert (caught.value.host, caught.value.ip) == ("bad.test", "x")


async def test_an_empty_answer_is_refused_naming_the_host() -> None:
    resolver = GuardedResolver(inner=RecordingResolver({}))
    with pytest.raises(BlockedAddressError) as caught:
        await resolver.resolve("empty.test")
    assert (caught.value.host, caught.value.ip) == ("empty.test", "?")
    assert str(caught.value) == "? is not a valid address; use --allow-private to allow it"


async def test_a_blocked_name_error_carries_the_host_asked_for() -> None:
    resolver = GuardedResolver(inner=RecordingResolver({"inside.test": ["10.0.0.1"]}))
    with pytest.raises(BlockedAddressError) as caught:
        await resolver.resolve("inside.test")
    assert (caught.value.host, caught.value.ip) == ("inside.test", "10.0.0.1")


def test_a_blocked_address_error_survives_pickling() -> None:
    error = BlockedAddressError("inside.test", "10.0.0.1")
    assert error.args == ("inside.test", "10.0.0.1")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.host, copy.ip, str(copy)) == ("inside.test", "10.0.0.1", str(error))
