"""Answers that are not answers: a TCP reset, and a head in Latin-1 that aiohttp cannot send.

Both end the exchange on the transport and then wait for aiohttp to cancel the handler
(handler_cancellation=True) when the connection is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Final

from aiohttp import web

from crawler.sim.wire import message

LATIN1_REASONS: Final = {404: "Non trouvé"}  # a French server's reason phrases, in Latin-1


async def reset_connection(request: web.Request) -> None:
    """Close the connection with a TCP RST, answering nothing; wait to be cancelled."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # connection_lost cancels this handler (handler_cancellation=True)
    await asyncio.sleep(3600)


def latin1_head_bytes(response: web.Response, etag: int) -> bytes:
    """The whole answer as raw bytes, with a Latin-1 reason phrase (for a 404) and ETag."""
    body = response.body if isinstance(response.body, bytes) else b""
    reason = LATIN1_REASONS.get(response.status, response.reason)
    headers = [f"{name}: {value}".encode("latin-1") for name, value in response.headers.items()]
    headers += [
        b'ETag: "\xe9t\xe9-%d"' % etag,
        b"Content-Length: %d" % len(body),
        b"Connection: close",
    ]
    return message(f"HTTP/1.1 {response.status} {reason}".encode("latin-1"), headers, body)


async def send_latin1(request: web.Request, response: web.Response) -> None:
    """Send `response` as raw bytes with Latin-1 in its head, close, wait to be cancelled."""
    transport = request.transport
    if transport is not None:
        transport.write(latin1_head_bytes(response, len(request.path)))
        transport.close()  # after the buffered answer is sent
    # connection_lost cancels this handler (handler_cancellation=True)
    await asyncio.sleep(3600)
