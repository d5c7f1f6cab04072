"""robots.txt on the simulated web: what a host answers for /robots.txt (`RobotsFile`), given per
host address in SimWeb's constructor (`robots={"127.0.0.12": RobotsFile(...)}`). A host not
named answers 404 there, as any path that is no route (no robots.txt: everything allowed).

    RobotsFile("User-agent: *\\nDisallow: /status/")   200 text/plain, that file
    RobotsFile(status=404), RobotsFile(status=503)     that status, a small HTML page
    RobotsFile(text, redirects=k)                      /robots.txt 302s to /robots-hop/1, which
                                                       302s to /robots-hop/2 ... /robots-hop/k
                                                       answers as the file would
    RobotsFile(redirect_host="127.0.0.13")             302 to that host's /robots.txt (after the
                                                       k hops on this host, with redirects=k)
    RobotsFile(text, pad_to=n, beyond=more)            the file, comment lines up to n bytes,
                                                       then `more`: rules that lie beyond n bytes
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from aiohttp import web

from crawler.sim.exchange import Exchange

ROBOTS_PATH = "/robots.txt"
HOP_PREFIX = "/robots-hop/"
_FILLER = b"# filler line, longer than most, so that an oversized file grows quickly ######\n"


@dataclass(frozen=True)
class RobotsFile:
    """One host's /robots.txt."""

    text: str = ""
    status: int = 200
    redirects: int = 0  # redirects on this host before the answer
    redirect_host: str | None = None  # then a redirect to this host's /robots.txt
    pad_to: int = 0  # bytes of the file before `beyond`
    beyond: str = ""

    @cached_property
    def body(self) -> bytes:
        head = self.text.encode()
        if len(head) >= self.pad_to:
            return head + self.beyond.encode()
        lines, rest = divmod(self.pad_to - len(head), len(_FILLER))
        return head + _FILLER * lines + b"#" * max(rest - 1, 0) + b"\n" + self.beyond.encode()


def robots_route(x: Exchange, files: Mapping[str, RobotsFile]) -> web.Response | None:
    """The answer to /robots.txt (or one of its hops) of a host given a RobotsFile; None for
    any other request."""
    file = files.get(x.host)
    path = x.request.path
    if file is None or not (path == ROBOTS_PATH or path.startswith(HOP_PREFIX)):
        return None
    hop_text = path.removeprefix(HOP_PREFIX)
    hop = 0 if path == ROBOTS_PATH else int(hop_text) if hop_text.isdigit() else -1
    if not 0 <= hop <= file.redirects:
        return None
    if hop < file.redirects:
        return x.redirect(302, f"{HOP_PREFIX}{hop + 1}")
    if file.redirect_host is not None:
        return x.redirect(302, f"http://{file.redirect_host}:{x.port}{ROBOTS_PATH}")
    if file.status != 200:
        return x.page(f"robots.txt: HTTP {file.status}", status=file.status)
    return x.answer(web.Response(body=file.body, content_type="text/plain"))
