"""The simulated web's addresses: every host is one address of 127.0.0.0/8, all on one port."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Sequence


def loopback_ips(n: int, first: int = 10) -> list[str]:
    """127.0.0.{first} .. 127.0.0.{first+n-1}."""
    if n < 1 or first < 1 or first + n - 1 > 254:
        raise ValueError(f"cannot place {n} hosts from 127.0.0.{first} (last octet 1..254)")
    return [f"127.0.0.{first + i}" for i in range(n)]


def is_loopback_v4(ip: str) -> bool:
    """Is `ip` in 127.0.0.0/8? (ValueError when it is no address at all.)"""
    address = ipaddress.ip_address(ip)
    return address.version == 4 and address.is_loopback


def listening_socket(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_all(ips: Sequence[str], port: int, attempts: int = 20) -> tuple[int, list[socket.socket]]:
    """Listening sockets on every ip, all on one port.

    With port 0 the kernel picks a free port for the first address; the others reuse it. If
    another process holds that port on one of the other addresses, everything is closed and a
    fresh port is tried (up to `attempts` times).
    """
    for _ in range(attempts if port == 0 else 1):
        socks: list[socket.socket] = []
        try:
            first = listening_socket(ips[0], port)
            socks.append(first)
            chosen = int(first.getsockname()[1])
            for ip in ips[1:]:
                socks.append(listening_socket(ip, chosen))
            return chosen, socks
        except OSError as exc:
            for sock in socks:
                sock.close()
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no port free on all of {len(ips)} addresses")
