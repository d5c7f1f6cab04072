"""What the simulated servers say and hear: a raw HTTP message, and one request as a server saw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

CRLF = b"\r\n"


def message(status_line: bytes, headers: Sequence[bytes] = (), body: bytes = b"") -> bytes:
    """A response as given: the status line, each header line, an empty line, the body."""
    return status_line + CRLF + b"".join(h + CRLF for h in headers) + CRLF + body


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the server saw it.

    `t` is the arrival time (time.time()), `host` the local address it was received on, `status` 0
    when the server answered nothing (an abrupt reset), `bytes` the body bytes sent, `inflight` the
    number of requests in flight on that host at arrival (this one included), `duration` seconds
    from arrival until the handler finished, `credentials` the names of the credential headers
    the request carried (`credential_names`), never their values.
    """

    t: float
    host: str
    method: str
    path: str
    status: int
    bytes: int
    inflight: int | None = None
    duration: float | None = None
    credentials: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.credentials:  # the common case, left out of a long log
            del data["credentials"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestRecord:
        inflight = data.get("inflight")
        duration = data.get("duration")
        return cls(
            t=float(data["t"]),
            host=str(data["host"]),
            method=str(data["method"]),
            path=str(data["path"]),
            status=int(data["status"]),
            bytes=int(data["bytes"]),
            inflight=None if inflight is None else int(inflight),
            duration=None if duration is None else float(duration),
            credentials=tuple(str(name) for name in data.get("credentials", ())),
        )


CREDENTIAL_HEADERS = ("Authorization", "Cookie")


def credential_names(headers: Mapping[str, str]) -> tuple[str, ...]:
    """Which of CREDENTIAL_HEADERS a request carried (`headers` case-insensitive)."""
    return tuple(name for name in CREDENTIAL_HEADERS if name in headers)
