"""Where a request may go: pinned names (curl-like --resolve) and the private-address guard.

The guard looks at the address a name actually resolves to, so a public-looking name that points
at 127.0.0.1, or a redirect to an internal host, is stopped before any connection is made.
aiohttp never calls the resolver for IP-literal URLs: the fetcher checks those itself, per hop,
with `literal_address_problem`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import AsyncResolver

from crawler.web.urls import dns_name

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # embeds an IPv4 address in its last 32 bits
_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class BlockedAddressError(Exception):
    """Every address of `host` is private/reserved and private addresses are not allowed.

    Deliberately not an OSError: aiohttp wraps OSErrors from the resolver into a DNS error,
    and this must reach the fetcher as itself.
    """

    def __init__(self, host: str, ip: str) -> None:
        super().__init__(host, ip)
        self.host = host
        self.ip = ip

    def __str__(self) -> str:
        return blocked_detail(self.ip)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_category(ip: IPAddress) -> str | None:
    """Why `ip` must not be fetched ("a loopback address", ...), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = address_category(embedded)
            return f"{inner} (embedded in an IPv6 address)" if inner else None
        if ip.is_site_local:
            return "a site-local address"
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK, "a 'this network' address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "a carrier-grade NAT address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a non-global address"),  # catch-all for the special-purpose registry
    )
    return next((label for hit, label in checks if hit), None)


def is_blocked_address(ip: IPAddress) -> bool:
    """True for loopback, private, link-local, multicast, reserved, CGNAT, ... addresses."""
    return address_category(ip) is not None


def blocked_detail(ip: str) -> str:
    """The finding detail for a blocked address."""
    try:
        category = address_category(parse_ip(ip)) or "a blocked address"
    except ValueError:
        category = "not a valid address"
    return f"{ip} is {category}; use --allow-private to allow it"


def parse_ip(text: str) -> IPAddress:
    """An IP address, brackets and IPv6 zone ("%eth0") tolerated."""
    return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]").split("%")[0])


def literal_address_problem(host: str, *, allow_private: bool) -> str | None:
    """For an IP-literal host that must not be fetched, the finding detail; None otherwise."""
    if allow_private:
        return None
    try:
        ip = parse_ip(host)
    except ValueError:
        return None  # a name: the resolver guards it
    shown = host.strip().removeprefix("[").removesuffix("]")  # as written: ::ffff:127.0.0.1
    return blocked_detail(shown) if is_blocked_address(ip) else None


# ---------------------------------------------------------------------------------------------
# --resolve HOST:IP


def _split_entry(entry: str) -> tuple[str, str]:
    """'host:ip', 'host:port:ip', 'host:[v6]' or 'host:port:[v6]' -> (host, ip text)."""
    usage = f"--resolve {entry!r}: expected HOST:IP or HOST:PORT:IP (an IPv6 address in brackets)"
    host, sep, rest = entry.strip().partition(":")
    if not sep or not host or not rest:
        raise ValueError(usage)
    port, sep, after_port = rest.partition(":")
    if sep and port.isdigit():  # HOST:PORT:IP, the port is ignored like curl's
        _check_port(entry, port)
        rest = after_port
    if rest.startswith("["):
        if not rest.endswith("]"):
            raise ValueError(f"--resolve {entry!r}: unclosed '[' around the IPv6 address")
        return host, rest[1:-1]
    if ":" in rest:  # 'host:::1' is ambiguous
        raise ValueError(usage)
    return host, rest


def _check_port(entry: str, port: str) -> None:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--resolve {entry!r}: {port!r} is not a port number")


def parse_resolve(entries: Iterable[str]) -> dict[str, str]:
    """curl-like pins: 'HOST:IP' or 'HOST:PORT:IP' (port ignored; IPv6 in brackets) -> {host: ip}.

    Raises ValueError with a message fit for the command line.
    """
    pins: dict[str, str] = {}
    for entry in entries:
        host, ip_text = _split_entry(entry)
        if any(c in host for c in "/[]@ ") or host.startswith("."):
            raise ValueError(f"--resolve {entry!r}: {host!r} is not a host name")
        try:
            ip = str(ipaddress.ip_address(ip_text))
        except ValueError:
            raise ValueError(f"--resolve {entry!r}: {ip_text!r} is not an IP address") from None
        key = dns_name(host)
        if pins.get(key, ip) != ip:
            raise ValueError(f"--resolve {entry!r}: {host} is already pinned to {pins[key]}")
        pins[key] = ip
    return pins


def validate_pins(pins: Mapping[str, str]) -> dict[str, str]:
    """Pins from config.yaml ({host: ip}), checked and normalised like parse_resolve's."""
    return parse_resolve(
        f"{host}:[{ip}]" if ":" in ip else f"{host}:{ip}" for host, ip in pins.items()
    )


# ---------------------------------------------------------------------------------------------
# The resolver


def _pinned_result(host: str, ip: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return ResolveResult(
        hostname=host, host=ip, port=port, family=family, proto=0, flags=_NUMERIC_FLAGS
    )


def _is_blocked_text(ip: str) -> bool:
    try:
        return is_blocked_address(parse_ip(ip))
    except ValueError:
        return True  # an address we cannot read is not one we connect to


class GuardedResolver(AbstractResolver):
    """Applies pins, then (unless allow_private) drops blocked addresses.

    When every address of a name is blocked, raises BlockedAddressError, which the fetcher maps
    to Kind.BLOCKED_ADDRESS. `inner` is the real resolver (aiohttp's aiodns one when None).
    A lookup that has no answer within `lookup_timeout` fails as a DNS error (socket.gaierror),
    which aiohttp reports as ClientConnectorDNSError: a bare TimeoutError would pass through it
    and be taken for the page's timeout, so the same dead name would be one kind or the other.
    """

    def __init__(
        self,
        pins: Mapping[str, str] | None = None,
        *,
        allow_private: bool = False,
        inner: AbstractResolver | None = None,
        lookup_timeout: float = 5.0,
    ) -> None:
        self._pins = validate_pins(pins or {})
        self._allow_private = allow_private
        self._inner = inner
        self._lookup_timeout = lookup_timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        key = dns_name(host)
        pinned = self._pins.get(key)
        if pinned is not None:
            results = [_pinned_result(host, pinned, port)]
        elif key == "invalid" or key.endswith(".invalid"):
            # RFC 6761 §6.4: .invalid never resolves and resolvers SHOULD answer that at once;
            # doing so also keeps a needless query off the network.
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: .invalid names never resolve")
        else:
            results = await self._lookup(host, port, family)
        if self._allow_private:
            return results
        allowed = [r for r in results if not _is_blocked_text(r["host"])]
        if not allowed:
            raise BlockedAddressError(host, results[0]["host"] if results else "?")
        return allowed

    async def _lookup(
        self, host: str, port: int, family: socket.AddressFamily
    ) -> list[ResolveResult]:
        if self._inner is None:  # made here: aiodns needs the running loop
            self._inner = AsyncResolver()
        try:
            async with asyncio.timeout(self._lookup_timeout):
                return await self._inner.resolve(host, port, family)
        except TimeoutError:
            detail = f"{host}: no answer from DNS within {self._lookup_timeout:g} s"
            raise socket.gaierror(socket.EAI_AGAIN, detail) from None

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
