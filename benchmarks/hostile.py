"""A hostile web server: exact bytes, including ones no well-behaved HTTP server would send.

A raw asyncio TCP server on loopback (aiohttp's own server refuses to send most of these). Each
behaviour is one route, `/b/<name>`, and is either the exact bytes of the response or an action
(hang, trickle the headers, reset, stream a compression bomb...). `/ok/<anything>` is a healthy
page (where the redirects go) and anything else is a plain 404 (what the soft-404 probe meets).
Every connection is closed after its answer; every endless action stops when the client goes
away, or after `ENDLESS_S` seconds, or after `ENDLESS_BYTES` bytes, whichever comes first.

`EXPECTED` says which verdict each behaviour must get (a `Kind`, or None for a healthy page). It
is written from how the route is built, not from what the crawler says. It assumes the crawler
may connect to loopback (it must, to reach this server at all: `allow_private`), asks for gzip
and deflate only, and reads a page up to its byte cap within its timeout.

    python -m benchmarks.hostile [--host 127.0.0.9] [--port 8099]

serves every route and lists them with their expected verdicts, for trying them by hand, and

    python -m benchmarks.hostile --crawl DIR

runs linkcheck once over every route and prints each verdict, its time, and the run's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import re
import resource
import socket
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from crawler.config import Config
from crawler.config_loader import load_config
from crawler.model import Kind
from crawler.sim.wire import message

TITLE = "Hostile test page"
PAGE = (
    b"<!doctype html><html><head><title>Hostile test page</title></head>"
    b"<body><h1>Hostile test page</h1><p>Served whole, by a server with manners.</p></body></html>"
)
NOT_FOUND = b"<!doctype html><title>404</title><p>nothing here</p>"
ENDLESS_S = 30.0  # an endless action stops by itself after this long...
ENDLESS_BYTES = 64 * 1024 * 1024  # ...or this many bytes on the wire
_REQUEST_HEAD_MAX = 64 * 1024

Action = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Behaviour:
    name: str
    respond: bytes | Action  # the exact bytes sent, or what the server does instead
    expect: Kind | None  # the verdict the URL must get; None: a healthy page
    why: str  # what the route does and why that verdict


# ---------------------------------------------------------------------------------------------
# Building blocks


def page(
    status_line: bytes = b"HTTP/1.1 200 OK",
    extra: Sequence[bytes] = (),
    *,
    body: bytes = PAGE,
    content_type: bytes = b"text/html; charset=utf-8",
) -> bytes:
    """A well-framed answer (Content-Length, Connection: close) with a few odd parts."""
    headers = [
        b"Content-Type: " + content_type,
        b"Content-Length: %d" % len(body),
        b"Connection: close",
        *extra,
    ]
    return message(status_line, headers, body)


def redirect(location: bytes, status_line: bytes = b"HTTP/1.1 302 Found") -> bytes:
    return message(
        status_line, [b"Location: " + location, b"Content-Length: 0", b"Connection: close"]
    )


def titled(title: bytes, charset: bytes) -> bytes:
    return page(
        body=b"<html><head><title>" + title + b"</title></head><body>text</body></html>",
        content_type=b"text/html; charset=" + charset,
    )


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def _endless(chunk: Callable[[int], bytes], *, head: bytes = b"", pause: float = 0.0) -> Action:
    """Send `head`, then chunk(i) for i = 0, 1, ... until the client leaves or a bound is hit."""

    async def action(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + ENDLESS_S
        sent = len(head)
        await _write(writer, head)
        i = 0
        while sent < ENDLESS_BYTES and loop.time() < stop_at and not writer.is_closing():
            data = chunk(i)
            await _write(writer, data)
            sent += len(data)
            i += 1
            await asyncio.sleep(pause)  # 0: still yields, so a fast client can leave

    return action


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, answer nothing, until the client gives up (or ENDLESS_S)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ENDLESS_S):
            while await reader.read(4096):
                pass


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A TCP RST instead of an answer (SO_LINGER 0, then close)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A clean FIN with no byte of answer."""
    writer.close()


def _bomb_block(wbits: int) -> tuple[bytes, bytes]:
    """(stream header, one block that inflates to 1 MiB of zeros and repeats as is).

    A full flush resets the compressor's history, so the block after it never refers back:
    the same bytes can be sent again and again, and a few KB on the wire inflate to GBs.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    header = compressor.compress(b"")
    compressor.compress(bytes(1 << 20))
    compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return header, block


def _zip_bomb(encoding: bytes, wbits: int, *, chunked: bool) -> Action:
    header, block = _bomb_block(wbits)
    head_lines = [
        b"Content-Type: text/html; charset=utf-8",
        b"Content-Encoding: " + encoding,
        b"Connection: close",
    ]
    if chunked:
        head = message(b"HTTP/1.1 200 OK", [*head_lines, b"Transfer-Encoding: chunked"])
        head += b"%x\r\n%s\r\n" % (len(header), header)
        framed = b"%x\r\n%s\r\n" % (len(block), block)
        return _endless(lambda i: framed, head=head)
    head = message(b"HTTP/1.1 200 OK", head_lines) + header  # the body ends when we close
    return _endless(lambda i: block, head=head)


# 4 GiB of zeros, brotli quality 5, window 24 (made once with the `brotli` command line tool).
_BROTLI_4GIB_ZEROS = base64.b64decode(
    b"""
z///fwAkAOKxQHLv//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//B0ACIA4LQPf+n////wBIAMRh
Aeje//P//x8ACYA4LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79P////wGQAIjDAtC9/+f//z8A
EgBxWAC69//8//8HQAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJgDgsAN37f/7//wMgARCHBaB7/8///38AJADisAB07//5
//8PgARAHBaA7v0/////AZAAiMMC0L3/5///PwASAHFYALr3//z//wdAAiAOC0D3/p////8ASADEYQHo3v/z//8fAAmAOCwA
3ft//v//AyABEIcFoHv/z///fwAkAOKwAHTv//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//B0AC
IA4LQPf+n////wBIAMRhAeje//P//x8ACYA4LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79P///
/wGQAIjDAtC9/+f//z8AEgBxWAC69//8//8HQAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJgDgsAN37f/7//wMgARCHBaB7
/8///38AJADisAB07//5//8PgARAHBaA7v0/////AZAAiMMC0L3/5///PwASAHFYALr3//z//wdAAiAOC0D3/p////8ASADE
YQHo3v/z//8fAAmAOCwA3ft//v//AyABEIcFoHv/z///fwAkAOKwAHTv//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n//8/
ABIAcVgAuvf//P//B0ACIA4LQPf+n////wBIAMRhAeje//P//x8ACYA4LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAAdO//
+f//D4AEQBwWgO79P////wGQAIjDAtC9/+f//z8AEgBxWAC69//8//8HQAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJgDgs
AN37f/7//wMgARCHBaB7/8///38AJADisAB07//5//8PgARAHBaA7v0/////AZAAiMMC0L3/5///PwASAHFYALr3//z//wdA
AiAOC0D3/p////8ASADEYQHo3v/z//8fAAmAOCwA3ft//v//AyABEIcFoHv/z///fwAkAOKwAHTv//n//w+ABEAcFoDu/T//
//8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//B0ACIA4LQPf+n////wBIAMRhAeje//P//x8ACYA4LADd+3/+//8DIAEQhwWg
e//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79P////wGQAIjDAtC9/+f//z8AEgBxWAC69//8//8HQAIgDgtA9/6f////AEgA
xGEB6N7/8///HwAJgDgsAN37f/7//wMgARCHBaB7/8///38AJADisAB07//5//8PgARAHBaA7v0/////AZAAiMMC0L3/5///
PwASAHFYALr3//z//wdAAiAOC0D3/p////8ASADEYQHo3v/z//8fAAmAOCwA3ft//v//AyABEIcFoHv/z///fwAkAOKwAHTv
//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//B0ACIA4LQPf+n////wBIAMRhAeje//P//x8ACYA4
LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79P////wGQAIjDAtC9/+f//z8AEgBxWAC69//8//8H
QAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJgDgsAN37f/7//wMgARCHBaB7/8///38AJADisAB07//5//8PgARAHBaA7v0/
////AZAAiMMC0L3/5///PwASAHFYALr3//z//wdAAiAOC0D3/p////8ASADEYQHo3v/z//8fAAmAOCwA3ft//v//AyABEIcF
oHv/z///fwAkAOKwAHTv//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//B0ACIA4LQPf+n////wBI
AMRhAeje//P//x8ACYA4LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79P////wGQAIjDAtC9/+f/
/z8AEgBxWAC69//8//8HQAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJgDgsAN37f/7//wMgARCHBaB7/8///38AJADisAB0
7//5//8PgARAHBaA7v0/////AZAAiMMC0L3/5///PwASAHFYALr3//z//wdAAiAOC0D3/p////8ASADEYQHo3v/z//8fAAmA
OCwA3ft//v//AyABEIcFoHv/z///fwAkAOKwAHTv//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//
B0ACIA4LQPf+n////wBIAMRhAeje//P//x8ACYA4LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79
P////wGQAIjDAtC9/+f//z8AEgBxWAC69//8//8HQAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJgDgsAN37f/7//wMgARCH
BaB7/8///38AJADisAB07//5//8PgARAHBaA7v0/////AZAAiMMC0L3/5///PwASAHFYALr3//z//wdAAiAOC0D3/p////8A
SADEYQHo3v/z//8fAAmAOCwA3ft//v//AyABEIcFoHv/z///fwAkAOKwAHTv//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n
//8/ABIAcVgAuvf//P//B0ACIA4LQPf+n////wBIAMRhAeje//P//x8ACYA4LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAA
dO//+f//D4AEQBwWgO79P////wGQAIjDAtC9/+f//z8AEgBxWAC69//8//8HQAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJ
gDgsAN37f/7//wMgARCHBaB7/8///38AJADisAB07//5//8PgARAHBaA7v0/////AZAAiMMC0L3/5///PwASAHFYALr3//z/
/wdAAiAOC0D3/p////8ASADEYQHo3v/z//8fAAmAOCwA3ft//v//AyABEIcFoHv/z///fwAkAOKwAHTv//n//w+ABEAcFoDu
/T////8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//B0ACIA4LQPf+n////wBIAMRhAeje//P//x8ACYA4LADd+3/+//8DIAEQ
hwWge//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79P////wGQAIjDAtC9/+f//z8AEgBxWAC69//8//8HQAIgDgtA9/6f////
AEgAxGEB6N7/8///HwAJgDgsAN37f/7//wMgARCHBaB7/8///38AJADisAB07//5//8PgARAHBaA7v0/////AZAAiMMC0L3/
5///PwASAHFYALr3//z//wdAAiAOC0D3/p////8ASADEYQHo3v/z//8fAAmAOCwA3ft//v//AyABEIcFoHv/z///fwAkAOKw
AHTv//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//B0ACIA4LQPf+n////wBIAMRhAeje//P//x8A
CYA4LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79P////wGQAIjDAtC9/+f//z8AEgBxWAC69//8
//8HQAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJgDgsAN37f/7//wMgARCHBaB7/8///38AJADisAB07//5//8PgARAHBaA
7v0/////AZAAiMMC0L3/5///PwASAHFYALr3//z//wdAAiAOC0D3/p////8ASADEYQHo3v/z//8fAAmAOCwA3ft//v//AyAB
EIcFoHv/z///fwAkAOKwAHTv//n//w+ABEAcFoDu/T////8BkACIwwLQvf/n//8/ABIAcVgAuvf//P//B0ACIA4LQPf+n///
/wBIAMRhAeje//P//x8ACYA4LADd+3/+//8DIAEQhwWge//P//9/ACQA4rAAdO//+f//D4AEQBwWgO79P////wGQAIjDAtC9
/+f//z8AEgBxWAC69//8//8HQAIgDgtA9/6f////AEgAxGEB6N7/8///HwAJgDgsAN37f/7//wMgARCHBaB7/z8=
"""
)


def _brotli_bomb() -> bytes:
    return message(
        b"HTTP/1.1 200 OK",
        [
            b"Content-Type: text/html; charset=utf-8",
            b"Content-Encoding: br",
            b"Content-Length: %d" % len(_BROTLI_4GIB_ZEROS),
            b"Connection: close",
        ],
        _BROTLI_4GIB_ZEROS,
    )


def _many_headers(count: int) -> bytes:
    lines = [b"X-Filler-%d: %d" % (i, i) for i in range(count)]
    return page(extra=lines)


def _slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
    """A status line, then one header byte every 50 ms, never ending the headers."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
    filler = b"X-Slow: " + b"a" * 60 + b"\r\n"
    return _endless(lambda i: filler[i % len(filler) : i % len(filler) + 1], head=head, pause=0.05)(
        reader, writer
    )


def _trickle_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
    """Headers at once, then one byte of a never-ending body every 50 ms."""
    head = message(b"HTTP/1.1 200 OK", [b"Content-Type: text/html", b"Connection: close"])
    return _endless(lambda i: b"a", head=head, pause=0.05)(reader, writer)


def _endless_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
    """A status line, then header lines as fast as the client takes them, never ending."""
    head = b"HTTP/1.1 200 OK\r\n"
    return _endless(lambda i: b"X-More-%d: more\r\n" % i, head=head)(reader, writer)


def _endless_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
    """A chunked body of 64 KiB chunks that never ends, as fast as the client reads."""
    head = message(
        b"HTTP/1.1 200 OK",
        [b"Content-Type: text/html", b"Transfer-Encoding: chunked", b"Connection: close"],
    )
    data = b"a" * 65536
    framed = b"%x\r\n%s\r\n" % (len(data), data)
    return _endless(lambda i: framed, head=head)(reader, writer)


def _forever_continue(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Awaitable[None]:
    """`100 Continue` after `100 Continue`, 20 a second, and never a final answer."""
    return _endless(lambda i: b"HTTP/1.1 100 Continue\r\n\r\n", pause=0.05)(reader, writer)


# ---------------------------------------------------------------------------------------------
# The behaviours

_ok = None  # a healthy page: no problem at all
_CE = Kind.CONNECTION_ERROR

BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour("healthy", page(), _ok, "a well-formed 200 page: the control"),
    # -- bytes that are not UTF-8, anywhere in the head --------------------------------------
    Behaviour(
        "reason_latin1_404",
        page(b"HTTP/1.1 404 Non trouv\xe9", body=NOT_FOUND),
        Kind.NOT_FOUND,
        "a French server's 404 with its reason phrase in Latin-1",
    ),
    Behaviour(
        "reason_latin1_200",
        page(b"HTTP/1.1 200 D'accord, c'est trouv\xe9"),
        _ok,
        "a 200 whose reason phrase is Latin-1: the reason is free text, the page is fine",
    ),
    Behaviour(
        "reason_high_bytes_500",
        page(b"HTTP/1.1 500 \x80\x81\xfe\xff", body=b"oops"),
        Kind.SERVER_ERROR,
        "a 500 whose reason phrase is bytes that decode as nothing",
    ),
    Behaviour("etag_latin1", page(extra=[b'ETag: "caf\xe9"']), _ok, "an ETag in Latin-1"),
    Behaviour(
        "last_modified_latin1",
        page(extra=[b"Last-Modified: Lun, 01 Janv 2024 \xe0 12:00"]),
        _ok,
        "a Last-Modified in French and Latin-1 (not an HTTP-date either)",
    ),
    Behaviour(
        "content_type_latin1",
        page(content_type=b"text/html; charset=\xe9t\xe9"),
        _ok,
        "a Content-Type whose charset parameter is Latin-1 bytes",
    ),
    Behaviour(
        "header_binary",
        page(extra=[b"X-Note: caf\xe9 \xff\xfe \xc3\x28"]),
        _ok,
        "some other header with Latin-1 and invalid UTF-8 bytes",
    ),
    Behaviour(
        "location_latin1",
        redirect(b"/ok/caf\xe9"),
        _ok,
        "a 302 to a path with a raw Latin-1 byte: followed percent-encoded (/ok/caf%E9)",
    ),
    Behaviour(
        "location_utf8",
        redirect(b"/ok/caf\xc3\xa9 au lait"),
        _ok,
        "a 302 to a path with raw UTF-8 and a space: followed percent-encoded, as browsers do",
    ),
    Behaviour(
        "title_latin1_as_utf8",
        titled(b"Caf\xe9 cr\xe8me", b"utf-8"),
        _ok,
        "a title in Latin-1 on a page that says it is UTF-8",
    ),
    Behaviour(
        "title_lone_surrogate",
        titled(b"broken +2AA- text", b"utf-7"),
        _ok,
        "a UTF-7 title that decodes to lone surrogates",
    ),
    # -- charsets that are not text encodings, or nothing at all ------------------------------
    *(
        Behaviour(
            f"charset_{name}",
            titled(TITLE.encode(), name.encode()),
            _ok,
            f"charset={name}: a Python codec but not a text encoding, so an unknown charset",
        )
        for name in ("rot13", "base64", "zlib", "hex", "uu", "bz2", "quopri")
    ),
    *(
        Behaviour(
            f"charset_{name}",
            titled(TITLE.encode(), name.encode()),
            _ok,
            f"charset={name}: a Python text codec that is no charset (fails or garbles)",
        )
        for name in ("idna", "punycode", "undefined", "unicode_escape")
    ),
    Behaviour(
        "charset_bogus",
        titled(TITLE.encode(), b"x-no-such-charset"),
        _ok,
        "a charset nobody knows",
    ),
    Behaviour(
        "meta_charset_rot13",
        page(
            body=b'<html><head><meta charset="rot13"><title>Hostile test page</title></head>',
            content_type=b"text/html",
        ),
        _ok,
        "<meta charset=rot13> in the body",
    ),
    Behaviour(
        "content_type_no_media_type",
        page(content_type=b"; charset=utf-8"),
        _ok,
        "a Content-Type with parameters but no media type",
    ),
    Behaviour("content_type_empty", page(content_type=b""), _ok, "an empty Content-Type"),
    # -- status lines ---------------------------------------------------------------------------
    Behaviour(
        "no_status_line",
        b"<html><head><title>HTTP/0.9</title></head></html>",
        _CE,
        "an HTTP/0.9-style answer: a body with no status line, then close",
    ),
    Behaviour(
        "status_line_garbage",
        page(b"HTTP/1.1 abc Nope"),
        _CE,
        "a status line whose code is not a number",
    ),
    Behaviour("status_lowercase", page(b"http/1.1 200 OK"), _CE, "'http/1.1': not HTTP-version"),
    Behaviour(
        "status_99",
        page(b"HTTP/1.1 099 Too Low", body=b"x"),
        Kind.SERVER_ERROR,
        "status 099: no HTTP status code (100-599), so no answer the link can stand on",
    ),
    Behaviour(
        "status_600",
        page(b"HTTP/1.1 600 Too High", body=b"x"),
        Kind.SERVER_ERROR,
        "status 600: no HTTP status code (100-599)",
    ),
    Behaviour(
        "status_101_unasked",
        message(b"HTTP/1.1 101 Switching Protocols", [b"Upgrade: h2c", b"Connection: Upgrade"])
        + b"\x00\x00\x12\x04\x00\x00\x00\x00\x00",
        Kind.SERVER_ERROR,
        "a 101 to a request that asked for no upgrade: an interim answer, never a final one",
    ),
    Behaviour(
        "http_version_2",
        page(b"HTTP/2.0 200 OK"),
        _ok,
        "a whole HTTP/1.1-framed page whose status line says HTTP/2.0: only the label is wrong,"
        " and a lenient reader (aiohttp, curl) reads the page",
    ),
    Behaviour(
        "bare_lf",
        page().replace(b"\r\n", b"\n"),
        _ok,
        "lines ended by LF alone: RFC 9112 2.2 lets a recipient accept them, and aiohttp does",
    ),
    Behaviour(
        "status_1xx_then_close",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        _CE,
        "a 100 Continue and then the connection closes: no final answer",
    ),
    Behaviour(
        "status_103_then_200",
        message(b"HTTP/1.1 103 Early Hints", [b"Link: </style.css>; rel=preload"]) + page(),
        _ok,
        "an interim 103 before a proper 200: valid HTTP",
    ),
    Behaviour(
        "status_1xx_forever",
        _forever_continue,
        Kind.TIMEOUT,
        "100 Continue after 100 Continue, never a final answer",
    ),
    Behaviour(
        "status_line_then_close",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n",
        _CE,
        "a status line and a header, then close before the end of the head",
    ),
    Behaviour("empty_answer", close_at_once, _CE, "the connection closes with no byte"),
    Behaviour("reset", reset, _CE, "a TCP reset instead of an answer"),
    Behaviour("hang", hang, Kind.TIMEOUT, "reads the request and never answers"),
    Behaviour(
        "status_line_1mb",
        page(b"HTTP/1.1 200 " + b"O" * (1 << 20)),
        _CE,
        "a 1 MB reason phrase",
    ),
    # -- headers --------------------------------------------------------------------------------
    Behaviour("header_nul", page(extra=[b"X-Nul: a\x00b"]), _CE, "a NUL byte in a header value"),
    Behaviour("header_cr", page(extra=[b"X-Cr: a\rb"]), _CE, "a bare CR inside a header value"),
    Behaviour(
        "header_no_colon",
        page(extra=[b"This is not a header"]),
        _CE,
        "a header line without a colon",
    ),
    Behaviour(
        "header_space_before_colon",
        page(extra=[b"X-Spaced : value"]),
        _CE,
        "whitespace between the field name and the colon (RFC 9112 5.1 forbids it)",
    ),
    Behaviour(
        "header_obs_fold",
        page(extra=[b"X-Folded: first", b"  second"]),
        _ok,
        "an obsolete line folding: RFC 9112 5.2 has a user agent read it as a space",
    ),
    Behaviour(
        "header_name_binary",
        page(extra=[b"X-Caf\xe9: yes"]),
        _CE,
        "a field name with a Latin-1 byte: not a token (RFC 9110 5.1)",
    ),
    Behaviour("headers_10000", _many_headers(10_000), _CE, "10,000 header lines"),
    Behaviour(
        "header_1mb", page(extra=[b"X-Big: " + b"b" * (1 << 20)]), _CE, "one 1 MB header line"
    ),
    Behaviour("headers_endless", _endless_headers, _CE, "header lines forever, as fast as they go"),
    Behaviour(
        "headers_slowloris",
        _slowloris,
        Kind.TIMEOUT,
        "the head sent one byte every 50 ms, never finished",
    ),
    Behaviour(
        "location_repeated_conflicting",
        message(
            b"HTTP/1.1 302 Found",
            [
                b"Location: /ok/one",
                b"Location: /ok/two",
                b"Content-Length: 0",
                b"Connection: close",
            ],
        ),
        Kind.SERVER_ERROR,
        "a 302 with two different Locations: no one target to follow (browsers refuse it too)",
    ),
    Behaviour(
        "location_repeated_same",
        message(
            b"HTTP/1.1 302 Found",
            [
                b"Location: /ok/same",
                b"Location: /ok/same",
                b"Content-Length: 0",
                b"Connection: close",
            ],
        ),
        _ok,
        "a 302 with the same Location twice: one target, followed",
    ),
    # -- framing --------------------------------------------------------------------------------
    Behaviour(
        "content_length_conflicting",
        message(
            b"HTTP/1.1 200 OK",
            [
                b"Content-Type: text/html",
                b"Content-Length: 5",
                b"Content-Length: 50",
                b"Connection: close",
            ],
            PAGE[:50],
        ),
        _CE,
        "two different Content-Lengths (RFC 9112 6.3: unrecoverable)",
    ),
    Behaviour(
        "content_length_short",
        message(
            b"HTTP/1.1 200 OK",
            [b"Content-Type: text/html", b"Content-Length: 100000", b"Connection: close"],
            PAGE,
        ),
        _CE,
        "a Content-Length larger than the body, then close: the body is cut",
    ),
    Behaviour(
        "content_length_negative",
        message(b"HTTP/1.1 200 OK", [b"Content-Length: -1", b"Connection: close"], PAGE),
        _CE,
        "Content-Length: -1",
    ),
    Behaviour(
        "content_length_garbage",
        message(b"HTTP/1.1 200 OK", [b"Content-Length: lots", b"Connection: close"], PAGE),
        _CE,
        "Content-Length: lots",
    ),
    Behaviour(
        "chunk_size_invalid",
        message(
            b"HTTP/1.1 200 OK",
            [b"Content-Type: text/html", b"Transfer-Encoding: chunked", b"Connection: close"],
            b"zz\r\nhello\r\n0\r\n\r\n",
        ),
        _CE,
        "a chunk size that is not hexadecimal",
    ),
    Behaviour(
        "chunk_size_huge",
        message(
            b"HTTP/1.1 200 OK",
            [b"Content-Type: text/html", b"Transfer-Encoding: chunked", b"Connection: close"],
            b"ffffffffffffffffffffffff\r\nhello\r\n",
        ),
        _CE,
        "a chunk size beyond any integer type, then close",
    ),
    Behaviour(
        "chunked_unterminated",
        message(
            b"HTTP/1.1 200 OK",
            [b"Content-Type: text/html", b"Transfer-Encoding: chunked", b"Connection: close"],
            b"%x\r\n%s\r\n" % (len(PAGE), PAGE),
        ),
        _CE,
        "a chunked body that closes without its last (zero) chunk",
    ),
    Behaviour(
        "chunked_endless", _endless_chunked, _ok, "a chunked body that never ends: read to the cap"
    ),
    Behaviour(
        "transfer_encoding_and_content_length",
        message(
            b"HTTP/1.1 200 OK",
            [
                b"Content-Type: text/html",
                b"Transfer-Encoding: chunked",
                b"Content-Length: 5",
                b"Connection: close",
            ],
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(PAGE), PAGE),
        ),
        _CE,
        "Transfer-Encoding and Content-Length together (RFC 9112 6.1: a smuggling sign, an error)",
    ),
    Behaviour(
        "body_204",
        message(b"HTTP/1.1 204 No Content", [b"Content-Length: 5", b"Connection: close"], b"hello"),
        _CE,
        "a 204 that sends a body anyway (RFC 9110 15.3.5: it has none): bytes after the answer"
        " on a connection it said it would close",
    ),
    Behaviour(
        "body_304",
        message(b"HTTP/1.1 304 Not Modified", [b"Connection: close"], b"<html>stale</html>"),
        _CE,
        "a 304 with a body: bytes after an answer that has none, as for body_204",
    ),
    Behaviour(
        "body_204_keep_alive",
        message(b"HTTP/1.1 204 No Content", [b"Content-Length: 5"], b"hello"),
        _CE,
        "a 204 with a body on a kept-alive connection: the bytes after it are no HTTP answer",
    ),
    Behaviour(
        "title_huge",
        page(body=b"<title>" + b"Hostile test page " * 3_000 + b"</title>"),
        _ok,
        "a 54 KB title: the title kept is a bounded preview",
    ),
    Behaviour(
        "markup_quadratic",
        page(body=b"<title>Hostile test page</title><h1>x</h1>" + b"<a" * 400_000),
        _ok,
        "800 KB of '<a' with no '>': markup that makes html.parser rescan for every '<'",
    ),
    Behaviour("trickle_body", _trickle_body, Kind.TIMEOUT, "a body one byte every 50 ms, forever"),
    # -- content encodings ------------------------------------------------------------------------
    Behaviour(
        "gzip_bomb",
        _zip_bomb(b"gzip", 31, chunked=False),
        _ok,
        "gzip inflating to GBs of zeros (close-delimited): a page read to its cap",
    ),
    Behaviour(
        "deflate_bomb",
        _zip_bomb(b"deflate", 15, chunked=True),
        _ok,
        "deflate inflating to GBs of zeros, chunked: a page read to its cap",
    ),
    Behaviour(
        "brotli_bomb",
        _brotli_bomb(),
        _ok,
        "brotli of 4 GiB of zeros (aiohttp's speedups decode brotli): a page read to its cap",
    ),
    Behaviour(
        "gzip_garbage",
        page(extra=[b"Content-Encoding: gzip"], body=b"this is not gzip at all"),
        _CE,
        "Content-Encoding: gzip on bytes that are not gzip",
    ),
    Behaviour(
        "content_encoding_unknown",
        page(extra=[b"Content-Encoding: x-snappy-framed"]),
        _ok,
        "an unknown Content-Encoding: the body is taken as is",
    ),
    # -- Retry-After ------------------------------------------------------------------------------
    *(
        Behaviour(
            f"retry_after_{label}",
            page(b"HTTP/1.1 503 Service Unavailable", [b"Retry-After: " + value], body=b"busy"),
            Kind.SERVER_ERROR,
            f"a 503 with Retry-After: {value.decode('latin-1')}",
        )
        for label, value in (
            ("garbage", b"when pigs fly"),
            ("huge", b"9" * 400),
            ("negative", b"-30"),
            ("date_far", b"Fri, 31 Dec 9999 23:59:59 GMT"),
            ("latin1", b"demain \xe0 midi"),
        )
    ),
    Behaviour(
        "retry_after_429_garbage",
        page(b"HTTP/1.1 429 Too Many Requests", [b"Retry-After: \xff\xfe"], body=b"slow down"),
        Kind.RATE_LIMITED,
        "a 429 with an unreadable Retry-After",
    ),
    # -- redirects --------------------------------------------------------------------------------
    Behaviour(
        "redirect_endless",
        redirect(b"redirect_endless/more"),
        Kind.TOO_MANY_REDIRECTS,
        "each answer redirects one folder deeper, to a new URL every time",
    ),
    Behaviour(
        "redirect_dot_segments",
        redirect(b"../../../../../ok/up"),
        _ok,
        "a Location that climbs above the root: resolved to /ok/up (RFC 3986 5.2.4)",
    ),
    Behaviour(
        "redirect_scheme_relative",
        redirect(b"http:/ok/same-host"),
        _ok,
        "Location: http:/ok/same-host, the scheme but no '//': a path on the same host, as"
        " browsers (and RFC 3986 5.2.2's non-strict parsers) read it",
    ),
    Behaviour(
        "redirect_self_fragment",
        redirect(b"/b/redirect_self_fragment#again"),
        Kind.REDIRECT_LOOP,
        "a 302 to itself with only a fragment added: the same request again",
    ),
    *(
        Behaviour(
            f"redirect_to_{label}",
            redirect(target),
            Kind.CLIENT_ERROR,
            f"a 302 to {target.decode('latin-1')!r}: a target that cannot be requested",
        )
        for label, target in (
            ("bad_ipv6", b"http://[::1"),
            ("bad_port", b"http://host.invalid:99999/"),
            ("javascript", b"javascript:alert(1)"),
            ("data", b"data:text/html,<title>hi</title>"),
            ("empty_host", b"http:///path"),
            ("space_in_host", b"http://exa mple.test/"),
            ("bad_idna", b"http://xn--/"),
            ("mailto", b"mailto:someone@example.test"),
        )
    ),
    Behaviour(
        "redirect_to_loopback_shorthand",
        redirect(b"http://127.1:1/"),
        Kind.CLIENT_ERROR,
        "a 302 to http://127.1:1/, an IPv4 shorthand that aiohttp will not request: the server's"
        " redirect is at fault, not the card",
    ),
    Behaviour(
        "redirect_empty_location",
        message(b"HTTP/1.1 302 Found", [b"Location:", b"Content-Length: 0", b"Connection: close"]),
        Kind.SERVER_ERROR,
        "a 302 with an empty Location: nothing to follow",
    ),
    Behaviour(
        "meta_refresh_javascript",
        page(
            body=b'<title>Hostile test page</title><meta http-equiv="refresh" '
            b'content="0; url=javascript:history.back()">'
        ),
        _ok,
        "a javascript: meta refresh: not a redirect to the home page",
    ),
    Behaviour(
        "meta_refresh_data",
        page(
            body=b'<title>Hostile test page</title><meta http-equiv="refresh" '
            b'content="0; url=data:,home">'
        ),
        _ok,
        "a data: meta refresh: not a redirect to the home page",
    ),
)

ROUTES: dict[str, Behaviour] = {b.name: b for b in BEHAVIOURS}
EXPECTED: dict[str, Kind | None] = {b.name: b.expect for b in BEHAVIOURS}
assert len(ROUTES) == len(BEHAVIOURS), "behaviour names must be unique"


# ---------------------------------------------------------------------------------------------
# The server


@dataclass(slots=True)
class HostileServer:
    host: str
    port: int
    paths: list[str] = field(default_factory=list)  # every request path, in arrival order

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, name: str) -> str:
        """The URL of one behaviour."""
        return f"{self.base}/b/{name}"


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        async with asyncio.timeout(10):
            return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
        return None


def _path_of(head: bytes) -> str:
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return parts[1].decode("latin-1") if len(parts) >= 2 else "/"


def _answer_for(path: str) -> bytes | Action:
    if path.startswith("/ok"):
        return page()
    name = path.split("?", 1)[0].split("#", 1)[0].removeprefix("/b/").split("/", 1)[0]
    behaviour = ROUTES.get(name) if path.startswith("/b/") else None
    if behaviour is None:
        return page(b"HTTP/1.1 404 Not Found", body=NOT_FOUND)
    return behaviour.respond


async def _serve_one(
    server: HostileServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        head = await _read_head(reader)
        if head is None:
            return
        path = _path_of(head)
        server.paths.append(path)
        answer = _answer_for(path)
        if isinstance(answer, bytes):
            await _write(writer, answer)
        else:
            await answer(reader, writer)
    except (ConnectionError, OSError):
        pass  # the client left: that is its right
    finally:
        writer.close()


@asynccontextmanager
async def serve_hostile(host: str = "127.0.0.9", port: int = 0) -> AsyncIterator[HostileServer]:
    """Serve every behaviour on host:port (a free port by default) for the block's duration."""
    tasks: set[asyncio.Task[None]] = set()
    state = HostileServer(host, port)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await _serve_one(state, reader, writer)
        except asyncio.CancelledError:
            pass  # the server is shutting down: asyncio's stream callback must not see it
        finally:
            tasks.discard(task)

    server = await asyncio.start_server(on_connect, host, port, limit=_REQUEST_HEAD_MAX)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks), timeout=2)
        await server.wait_closed()


# ---------------------------------------------------------------------------------------------
# One whole crawl over every behaviour


def write_cards(folder: Path, server: HostileServer) -> dict[str, str]:
    """One card per behaviour (its webUrl is the route); {url: behaviour name}."""
    folder.mkdir(parents=True, exist_ok=True)
    urls = {}
    for behaviour in BEHAVIOURS:
        url = server.url(behaviour.name)
        urls[url] = behaviour.name
        (folder / f"{behaviour.name}.md").write_text(
            f'---\ntitle: "{TITLE}"\npublishedDateTime: 2024-01-02T03:04:05Z\nwebUrl: {url}\n---\n'
        )
    return urls


def crawl_config(folder: Path, *, timeout: float = 1.0, **sections: dict[str, Any]) -> Config:
    """Cards, store and reports under `folder`; loopback allowed (it is where the routes are),
    no retries, never the public archive."""
    values: dict[str, dict[str, Any]] = {
        "cards": {"path": folder / "cards"},
        "output": {"out": folder / "out", "progress": False},
        "state": {"path": folder / "state.sqlite"},
        "fetch": {"allow_private": True, "timeout": timeout, "retries": 0},
        "politeness": {"rate_per_host": 1000.0, "concurrency_per_host": 8},
        "archive": {"enabled": False},
    }
    for name, extra in sections.items():
        values[name] = {**values.get(name, {}), **extra}
    return load_config(None, values)


def verdicts(report: dict[str, Any], urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each behaviour's URL entry in report.json, by behaviour name."""
    return {urls[entry["url"]]: entry for entry in report["urls"] if entry["url"] in urls}


def peak_rss_mb() -> float:
    """This process's own peak RSS, in MiB.

    Not ru_maxrss alone: Linux carries it across exec, so a child started by a big parent (pytest
    late in a full run) reports the parent's peak. VmHWM is the peak of this process's own
    memory, which starts afresh at exec; ru_maxrss stands in where there is no /proc.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    hwm = re.search(r"^VmHWM:\s*(\d+) kB$", status, re.MULTILINE)
    kib = int(hwm[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024


async def _crawl_once(folder: Path, host: str) -> int:
    from crawler.crawl import Crawl
    from crawler.progress import NoProgress
    from crawler.store.database import Store

    async with serve_hostile(host) as server:
        urls = write_cards(folder / "cards", server)
        config = crawl_config(folder)
        store = Store(config.state.path)
        try:
            result = await Crawl(config, store, NoProgress()).run()
        finally:
            store.close()
    report = json.loads(result.report_path.read_text())
    wrong = 0
    print(f"{'behaviour':38} {'expected':18} {'verdict':18} {'ms':>7}")
    for name, entry in sorted(verdicts(report, urls).items()):
        expect = EXPECTED[name]
        wanted = expect.value if expect else None
        mark = "" if entry["kind"] == wanted else "  <-- differs"
        wrong += bool(mark)
        got = entry["kind"] or "ok"
        print(f"{name:38} {wanted or 'ok':18} {got:18} {entry['elapsed_ms']:7.0f}{mark}")
    peak_mb = peak_rss_mb()
    print(f"run_state: {result.state}")
    print(f"urls: {len(report['urls'])} of {len(BEHAVIOURS)}; differing: {wrong}")
    print(f"peak_rss_mb: {peak_mb:.1f}")
    return 0 if wrong == 0 and result.state == "finished" else 1


async def _serve_forever(host: str, port: int) -> None:
    async with serve_hostile(host, port) as server:
        for behaviour in BEHAVIOURS:
            expect = behaviour.expect.value if behaviour.expect else "ok"
            print(f"{server.url(behaviour.name):70} {expect:18} {behaviour.why}")
        print(f"serving on {server.base} (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.9", help="a loopback address (127.0.0.0/8)")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument(
        "--crawl",
        type=Path,
        metavar="DIR",
        help="instead of serving: one linkcheck run over every route (cards, store and reports"
        " in DIR), then each verdict, the run's state and its peak memory (RSS)",
    )
    args = parser.parse_args(argv)
    if args.crawl is not None:
        logging.disable(logging.CRITICAL)  # the table is the output
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
        return asyncio.run(_crawl_once(args.crawl, args.host))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
