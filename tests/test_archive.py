"""The Wayback availability client against a local fake endpoint (127.0.0.x), never archive.org."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from servers import free_port, ok, serve, slow, status

from crawler.web.archive import ArchiveAnswer, ArchiveClient, parse_answer, wayback_timestamp

ARTICLE = "https://www.engadget.com/2020/02/12/clearview-ai-police-surveillance-explained/"
SNAPSHOT = f"http://web.archive.org/web/20200212160512/{ARTICLE}"
HOST = "127.0.0.41"


def documented(status_code: str = "200", available: bool = True) -> dict[str, Any]:
    """The answer as documented at https://archive.org/help/wayback_api.php."""
    return {
        "url": ARTICLE,
        "archived_snapshots": {
            "closest": {
                "available": available,
                "url": SNAPSHOT,
                "timestamp": "20200212160512",
                "status": status_code,
            }
        },
    }


def json_answer(data: Any) -> Any:
    return ok(json.dumps(data), content_type="application/json")


async def lookup(
    routes: dict[str, Any], timestamp: datetime | None = None, timeout: float = 2
) -> tuple[ArchiveAnswer, list[str]]:
    """One lookup against a fake archive; (answer, paths of the requests it got)."""
    async with serve(routes, host=HOST) as server:
        async with aiohttp.ClientSession() as session:
            client = ArchiveClient(session, endpoint=server.url("/"), timeout=timeout)
            answer = await client.lookup(ARTICLE, timestamp)
        return answer, server.paths()


async def test_a_snapshot_is_found_and_the_request_is_the_documented_one() -> None:
    queries: list[dict[str, str]] = []

    async def archive(request: web.Request) -> web.StreamResponse:
        queries.append(dict(request.query))
        return web.json_response(documented())

    published = datetime(2020, 2, 12, 15, 30, tzinfo=UTC)
    answer, seen = await lookup({"/wayback/available": archive}, published)
    assert answer == ArchiveAnswer(
        found=True,
        archive_url=SNAPSHOT,
        archive_timestamp="2020-02-12T16:05:12Z",
        snapshot_status="200",
    )
    assert seen == ["/wayback/available"]
    assert queries == [{"url": ARTICLE, "timestamp": "20200212153000"}]


async def test_without_a_timestamp_none_is_sent() -> None:
    queries: list[dict[str, str]] = []

    async def archive(request: web.Request) -> web.StreamResponse:
        queries.append(dict(request.query))
        return web.json_response(documented())

    answer, _ = await lookup({"/wayback/available": archive})
    assert answer.found
    assert queries == [{"url": ARTICLE}]


async def test_no_snapshot() -> None:
    answer, _ = await lookup({"/wayback/available": json_answer({"archived_snapshots": {}})})
    assert answer == ArchiveAnswer(found=False)


@pytest.mark.parametrize("snapshot_status", ["302", "404", "500", "-"])
async def test_a_snapshot_of_a_redirect_or_an_error_is_not_accepted(snapshot_status: str) -> None:
    answer, _ = await lookup({"/wayback/available": json_answer(documented(snapshot_status))})
    assert answer == ArchiveAnswer(found=False, snapshot_status=snapshot_status)


async def test_an_unavailable_snapshot_is_not_accepted() -> None:
    answer, _ = await lookup({"/wayback/available": json_answer(documented(available=False))})
    assert answer.found is False and answer.error is None


async def test_http_500_is_an_error_not_an_exception() -> None:
    answer, _ = await lookup({"/wayback/available": status(500, body=b"oops")})
    assert answer == ArchiveAnswer(found=False, error="HTTP 500 Internal Server Error")


async def test_invalid_json_is_an_error() -> None:
    answer, _ = await lookup({"/wayback/available": ok("<html>maintenance</html>")})
    assert answer.found is False
    assert answer.error is not None and answer.error.startswith("not JSON")


async def test_json_of_another_shape_is_an_error() -> None:
    answer, _ = await lookup({"/wayback/available": json_answer(["not", "an", "object"])})
    assert answer.error == "unexpected answer: no archived_snapshots object"


async def test_a_slow_archive_times_out_as_a_value() -> None:
    routes = {"/wayback/available": slow(5, json_answer(documented()))}
    answer, _ = await lookup(routes, timeout=0.3)
    assert answer == ArchiveAnswer(found=False, error="no answer within 0.3 s")


async def test_a_closed_port_is_an_error() -> None:
    port = free_port(HOST)
    async with aiohttp.ClientSession() as session:
        client = ArchiveClient(session, endpoint=f"http://{HOST}:{port}", timeout=2)
        answer = await client.lookup(ARTICLE)
    assert answer.found is False
    assert answer.error is not None and "Connect" in answer.error


def test_wayback_timestamp_is_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert wayback_timestamp(datetime(2020, 2, 12, 16, 30, tzinfo=paris)) == "20200212153000"
    assert wayback_timestamp(datetime(2020, 2, 12, 15, 30)) == "20200212153000"  # naive = UTC


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"archived_snapshots": {"closest": "yes"}}, "unexpected answer: closest is not an object"),
        (
            {"archived_snapshots": {"closest": {"available": True, "status": "200"}}},
            "unexpected answer: snapshot without url/timestamp",
        ),
        (
            {
                "archived_snapshots": {
                    "closest": {
                        "available": True,
                        "status": "200",
                        "url": SNAPSHOT,
                        "timestamp": "2020",
                    }
                }
            },
            "unexpected answer: timestamp '2020'",
        ),
    ],
)
def test_parse_answer_rejects_malformed_snapshots(data: Any, error: str) -> None:
    assert parse_answer(data) == ArchiveAnswer(found=False, error=error)
