"""DNS: lookups go through aiodns inside the address guard, and a lookup that fails or gets no
answer is a dns_error, never a page timeout, whatever the run."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quickrun import crawl, quick_config

from crawler.web.addresses import GuardedResolver

CARD = "---\ntitle: {name}\npublishedDateTime: 2021-01-01T00:00:00Z\nwebUrl: {url}\n---\n"


class Nameserver(asyncio.DatagramProtocol):
    """A DNS server on loopback UDP that reads every query; it answers none (`answer_every` 0)
    or SERVFAIL to every n-th one and drops the rest: flaky DNS."""

    def __init__(self, answer_every: int = 0) -> None:
        self.answer_every = answer_every
        self.queries = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.queries += 1
        if self.answer_every and self.queries % self.answer_every == 0 and self.transport:
            self.transport.sendto(servfail(data), addr)


def servfail(query: bytes) -> bytes:
    """The answer SERVFAIL to `query`, its question echoed."""
    end = 12
    while query[end]:  # the question's name: length-prefixed labels up to a zero byte
        end += query[end] + 1
    header = query[:2] + struct.pack(">HHHHH", 0x8182, 1, 0, 0, 0)
    return header + query[12 : end + 5]


async def nameserver(answer_every: int = 0) -> tuple[Nameserver, str, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Nameserver(answer_every), local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    port = transport.get_extra_info("sockname")[1]
    return protocol, f"127.0.0.1:{port}", transport


@pytest.fixture
async def silent() -> AsyncIterator[tuple[Nameserver, str]]:
    server, address, transport = await nameserver()
    yield server, address
    transport.close()


def write_cards(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        url = f"http://{name}/story"
        (folder / f"{name}.md").write_text(CARD.format(name=name, url=url))


def dns_config(tmp_path: Path, nameserver_address: str) -> Any:
    fetch = {"nameservers": [nameserver_address], "dns_timeout": 0.5, "timeout": 5.0}
    return quick_config(tmp_path, fetch=fetch, recheck={"full": True})


async def test_a_lookup_nobody_answers_is_a_dns_error_not_a_timeout(
    tmp_path: Path, silent: tuple[Nameserver, str]
) -> None:
    server, address = silent
    write_cards(tmp_path / "cards", ["news.silent.example"])

    result, report = await crawl(dns_config(tmp_path, address))

    assert result.state == "finished"
    assert server.queries > 0  # aiodns asked the configured server, not the system's
    (url,) = report["urls"]
    assert url["kind"] == "dns_error", url
    # found fetching robots.txt, the host's first request
    robots_failed = "fetching http://news.silent.example/robots.txt failed: DNS lookup failed: "
    assert robots_failed in url["findings"][0]["detail"], url


async def test_the_lookup_ends_before_the_request_deadline_even_with_a_longer_dns_timeout(
    tmp_path: Path, silent: tuple[Nameserver, str]
) -> None:
    """dns_timeout above the request's timeout: the lookup is still cut at half of it."""
    _, address = silent
    write_cards(tmp_path / "cards", ["slow.silent.example"])
    config = dns_config(tmp_path, address)
    config.fetch.dns_timeout = 60.0
    config.fetch.timeout = 1.0

    _, report = await crawl(config)

    assert [u["kind"] for u in report["urls"]] == ["dns_error"]


async def test_two_identical_runs_with_flaky_dns_give_the_same_kind(tmp_path: Path) -> None:
    server, address, transport = await nameserver(answer_every=2)
    names = [f"site{n}.flaky.example" for n in range(4)]
    write_cards(tmp_path / "cards", names)
    config = dns_config(tmp_path, address)
    try:
        _, first = await crawl(config)
        _, second = await crawl(config)
    finally:
        transport.close()

    kinds = [{u["url"]: u["kind"] for u in report["urls"]} for report in (first, second)]
    assert kinds[0] == kinds[1] == {f"http://{name}/story": "dns_error" for name in names}
    assert server.queries > len(names)
    assert (second["changes"]["new"], second["changes"]["fixed"]) == ([], [])


async def test_an_injected_resolver_that_never_answers_is_a_dns_error() -> None:
    """The guard's seam: any inner resolver is bounded, and its silence fails as DNS."""

    class Never(GuardedResolver):
        async def resolve(self, *args: Any, **kwargs: Any) -> Any:
            await asyncio.Event().wait()

    guard = GuardedResolver(inner=Never(), lookup_timeout=0.05)
    with pytest.raises(socket.gaierror) as raised:
        await guard.resolve("quiet.example", 80)
    assert raised.value.errno == socket.EAI_AGAIN
    assert "no answer from DNS within 0.05 s" in str(raised.value)
