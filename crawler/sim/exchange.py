"""One request being answered by the simulated web: what the routes need to answer it, and what
they answered (status and bytes, for the request log)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from crawler.sim.pages import page_html

RETRY_AFTER_SECONDS: Final = 1


@dataclass(slots=True)
class Exchange:
    request: web.Request
    host: str  # the address the request arrived on
    port: int
    attempts: dict[tuple[str, str], int]  # per (host, path and query), kept by the server
    # the times of the requests a throttling host served, per (host, limit): crawler.sim.throttling
    arrivals: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    status: int = 0  # what was answered: 0 while nothing was
    sent: int = 0  # body bytes

    def attempt(self) -> int:
        """Count one more request of this URL; return how many there have been."""
        key = (self.host, self.request.path_qs)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return self.attempts[key]

    def answer(self, response: web.Response) -> web.Response:
        self.status = response.status
        body = response.body
        self.sent = len(body) if isinstance(body, bytes | bytearray) else 0
        return response

    def page(self, title: str, status: int = 200) -> web.Response:
        return self.html(page_html(title), status)

    def html(self, body: bytes, status: int = 200) -> web.Response:
        return self.answer(web.Response(status=status, body=body, content_type="text/html"))

    def too_many(self, *, retry_after: bool = True) -> web.Response:
        return self.answer(
            web.Response(
                status=429,
                body=page_html("429 Too Many Requests"),
                content_type="text/html",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)} if retry_after else None,
            )
        )

    def redirect(self, code: int, location: str) -> web.Response:
        return self.answer(
            web.Response(
                status=code,
                body=f"moved to {location}\n".encode(),
                content_type="text/plain",
                headers={"Location": location},
            )
        )

    def image(self, body: bytes, fmt: str) -> web.Response:
        content_type = "image/png" if fmt == "png" else "image/jpeg"
        return self.answer(web.Response(body=body, content_type=content_type))
