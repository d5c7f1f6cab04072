"""The private-address guard, --resolve pins and the guarded resolver (no sockets here)."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from crawler.web.addresses import (
    BlockedAddressError,
    GuardedResolver,
    blocked_detail,
    is_blocked_address,
    literal_address_problem,
    parse_resolve,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.0.0.2",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",
        "0.1.2.3",
        "100.64.0.1",  # CGNAT
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",  # site-local
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
        "2001:db8::1",  # documentation
    ],
)
def test_blocked_addresses(address: str) -> None:
    assert is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34"]
)
def test_public_addresses(address: str) -> None:
    assert not is_blocked_address(ipaddress.ip_address(address))


def test_blocked_detail_names_the_category_and_the_way_out() -> None:
    assert blocked_detail("127.0.0.1") == (
        "127.0.0.1 is a loopback address; use --allow-private to allow it"
    )
    assert "link-local" in blocked_detail("fe80::1")
    assert "loopback" in blocked_detail("::ffff:127.0.0.1")


def test_literal_address_problem() -> None:
    assert literal_address_problem("127.0.0.1", allow_private=False)
    assert literal_address_problem("[::1]", allow_private=False)
    assert literal_address_problem("::1", allow_private=False)
    assert literal_address_problem("127.0.0.1", allow_private=True) is None
    assert literal_address_problem("93.184.216.34", allow_private=False) is None
    assert literal_address_problem("example.com", allow_private=False) is None  # resolver's job


# -- parse_resolve ------------------------------------------------------------------------------


def test_parse_resolve_forms() -> None:
    assert parse_resolve(
        [
            "site.test:127.0.0.2",
            "Other.Test:443:127.0.0.3",
            "six.test:[::1]",
            "six-port.test:8080:[fe80::1]",
            "fqdn.test.:1.2.3.4",
        ]
    ) == {
        "site.test": "127.0.0.2",
        "other.test": "127.0.0.3",
        "six.test": "::1",
        "six-port.test": "fe80::1",
        "fqdn.test": "1.2.3.4",
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("site.test", "expected HOST:IP"),
        (":127.0.0.1", "expected HOST:IP"),
        ("site.test:", "expected HOST:IP"),
        ("site.test:not-an-ip", "not an IP address"),
        ("site.test:999.1.1.1", "not an IP address"),
        ("site.test:::1", "IPv6 address in brackets"),
        ("site.test:[::1", "unclosed"),
        ("site.test:70000:1.2.3.4", "not a port number"),
        ("site.test:0:1.2.3.4", "not a port number"),
        ("http://site.test:1.2.3.4", "expected HOST:IP"),
    ],
)
def test_parse_resolve_errors(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_resolve([entry])
    assert repr(entry) in str(caught.value)  # the message quotes what the user wrote


def test_parse_resolve_conflicting_pins() -> None:
    assert parse_resolve(["a.test:1.2.3.4", "A.test:1.2.3.4"]) == {"a.test": "1.2.3.4"}
    with pytest.raises(ValueError, match=r"already pinned to 1\.2\.3\.4"):
        parse_resolve(["a.test:1.2.3.4", "a.test:5.6.7.8"])


# -- GuardedResolver ------------------------------------------------------------------------------


class FakeResolver(AbstractResolver):
    """Stands in for DNS: answers from a table, counts lookups, never touches the network."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host, host=ip, port=port, family=socket.AF_INET, proto=0, flags=0
            )
            for ip in self.table[host]
        ]

    async def close(self) -> None:
        pass


async def test_pins_win_over_dns() -> None:
    fake = FakeResolver({"site.test": ["93.184.216.34"]})
    resolver = GuardedResolver({"site.test": "127.0.0.2"}, allow_private=True, inner=fake)
    [result] = await resolver.resolve("SITE.test.", 8080)
    assert (result["host"], result["port"], result["hostname"]) == ("127.0.0.2", 8080, "SITE.test.")
    assert fake.lookups == []


async def test_pinned_private_address_is_blocked_by_default() -> None:
    resolver = GuardedResolver({"site.test": "127.0.0.2"}, inner=FakeResolver({}))
    with pytest.raises(BlockedAddressError) as caught:
        await resolver.resolve("site.test", 80)
    assert caught.value.ip == "127.0.0.2"
    assert "loopback" in str(caught.value)


async def test_private_answers_are_filtered_out() -> None:
    fake = FakeResolver({"mixed.test": ["10.0.0.1", "93.184.216.34"], "inside.test": ["10.0.0.1"]})
    resolver = GuardedResolver(inner=fake)
    assert [r["host"] for r in await resolver.resolve("mixed.test")] == ["93.184.216.34"]
    with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.1 is a private address"):
        await resolver.resolve("inside.test")


async def test_dns_errors_pass_through_and_invalid_never_queries() -> None:
    fake = FakeResolver({})
    resolver = GuardedResolver(inner=fake)
    with pytest.raises(socket.gaierror):
        await resolver.resolve("missing.test")
    with pytest.raises(socket.gaierror):
        await resolver.resolve("nothing.invalid")
    assert fake.lookups == ["missing.test"]  # RFC 6761: .invalid is answered locally


def test_invalid_pins_are_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        GuardedResolver({"site.test": "localhost"}, inner=FakeResolver({}))


async def test_localhost_from_the_system_resolver_is_blocked() -> None:
    """The real resolver path, no stand-in: `localhost` comes from the hosts file (no query leaves
    the machine) and every address it names is loopback."""
    resolver = GuardedResolver()
    try:
        with pytest.raises(BlockedAddressError, match="is a loopback address") as caught:
            await resolver.resolve("localhost", 80)
        assert is_blocked_address(ipaddress.ip_address(caught.value.ip))
        allowed = GuardedResolver(allow_private=True)
        try:
            answers = await allowed.resolve("localhost", 80)
        finally:
            await allowed.close()
        assert answers and all(ipaddress.ip_address(r["host"]).is_loopback for r in answers)
    finally:
        await resolver.close()
