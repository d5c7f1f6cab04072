"""The redirect walk: a chain followed by hand, hop by hop (`follow`), each hop a request of its
own, and the rules that stop it: a redirect with no single target, a target that cannot be
requested, a loop, too many redirects.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import urldefrag, urljoin, urlsplit

from yarl import URL

from crawler.model import Finding, Hop, Kind, UrlOutcome
from crawler.text import preview
from crawler.web.answer import Answer, Result, record, status_text
from crawler.web.failures import Failure
from crawler.web.urls import WEB_SCHEMES

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What no host name may hold (WHATWG URL's forbidden host code points): a browser refuses
# these, so a redirect to one is the server's mistake rather than a name to look up.
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20\x7f#%/<>?@\\^|\[\]]")

# One hop: the URL (as text, and parsed) requested until it answers for good; (result, tries).
HopFn = Callable[[str, URL], Awaitable[tuple[Result, int]]]


async def follow(outcome: UrlOutcome, hop: HopFn, max_redirects: int) -> None:
    """Request hop after hop from `outcome.url` until a final answer, recording each redirect
    on the outcome, and the finding that stopped the walk, if any."""
    url = outcome.url
    parsed = parse_url(url)
    if isinstance(parsed, str):
        outcome.findings.append(Finding(Kind.INVALID_URL, f"{url}: {parsed}"))
        return
    seen = {_loop_key(url)}
    while True:
        outcome.final_url = url  # the last URL we tried to request
        result, tries = await hop(url, parsed)
        outcome.attempts = max(outcome.attempts, tries)
        step = _next_hop(outcome, url, result, seen, max_redirects)
        if step is None:
            return
        url, parsed = step


def _next_hop(
    outcome: UrlOutcome, url: str, result: Result, seen: set[str], max_redirects: int
) -> tuple[str, URL] | None:
    """Where the walk goes after `url` answered `result`; None when it ends here (the answer
    or the finding that stops it recorded on the outcome)."""
    if isinstance(result, Failure):
        outcome.http_status = None  # no final response (an earlier hop's is not it)
        outcome.findings.append(_blame(result, outcome.redirects))
        return None
    outcome.http_status = result.status
    target = redirect_target(result)
    if target is None:
        record(outcome, result)
        return None
    if isinstance(target, Finding):
        outcome.findings.append(target)
        return None
    outcome.redirects.append(Hop(url=url, status=result.status, location=target))
    parsed = parse_url(target)
    stop = redirect_problem(url, target, parsed, seen, len(outcome.redirects), max_redirects)
    if stop is not None:
        outcome.findings.append(stop)
        return None
    assert not isinstance(parsed, str)  # redirect_problem stops on those
    seen.add(_loop_key(target))
    return target, parsed


def parse_url(url: str) -> URL | str:
    """`url` parsed, or why it cannot be requested at all ("not an http(s) URL", ...).

    Parsed once per hop: the same URL object goes to the address guard and to aiohttp.
    """
    try:
        parsed = URL(url)
        host = parsed.host  # decoded here (IDNA): a broken label raises now, not mid-request
    except (ValueError, TypeError) as exc:  # UnicodeError is a ValueError
        return f"not a valid URL ({preview(str(exc), 80)})"
    if parsed.scheme not in WEB_SCHEMES:
        return "not an http(s) URL"
    if not host:
        return "a URL without a host"
    if ":" not in host and _FORBIDDEN_HOST.search(host):  # (an IPv6 host has its colons)
        return f"not a valid host name ({preview(host, 80)!r})"
    return parsed


def redirect_target(answer: Answer) -> str | Finding | None:
    """Where a redirect goes; a finding when it names no single, joinable target; None when
    it is no redirect (a 3xx without a Location is judged by its status)."""
    if answer.status not in _REDIRECTS:
        return None
    targets = list(dict.fromkeys(loc for loc in answer.locations if loc))
    if not targets:
        return None
    if len(targets) > 1:  # browsers refuse such an answer too
        shown = ", ".join(preview(t, 80) for t in targets[:3])
        detail = f"{status_text(answer.status, answer.reason)} with {len(targets)} different"
        return Finding(Kind.SERVER_ERROR, f"{detail} Location headers: {shown}")
    location = targets[0]
    try:
        scheme = urlsplit(location).scheme
        if scheme and location[len(scheme) + 1 :].startswith("//"):
            # with its own authority: taken as is, so "http:///x" is a URL without a host (urljoin
            # would quietly lend it ours); "http:/x" stays relative, as in a browser
            return location
        return urljoin(answer.url, location)
    except ValueError as exc:  # "http://[::1": urljoin cannot even split it
        return Finding(Kind.CLIENT_ERROR, f"redirects to {preview(location, 120)}: {exc}")


def redirect_problem(
    source: str, target: str, parsed: URL | str, seen: set[str], hops: int, max_redirects: int
) -> Finding | None:
    """A redirect (source -> target, the `hops`-th; `parsed` is `parse_url(target)`) that must
    not be followed; `seen` holds the loop keys of the URLs requested so far.

    A redirect to a non-http(s) or unparsable URL is the server's mistake, not the card's:
    it is a CLIENT_ERROR (the link cannot be followed), never INVALID_URL (which blames the card).
    """
    if isinstance(parsed, str):
        return Finding(Kind.CLIENT_ERROR, f"redirects to {preview(target, 120)}: {parsed}")
    if _loop_key(target) in seen:
        return Finding(Kind.REDIRECT_LOOP, f"redirect loop: {source} redirects back to {target}")
    if hops > max_redirects:
        return Finding(Kind.TOO_MANY_REDIRECTS, f"more than {max_redirects} redirects")
    return None


def _loop_key(url: str) -> str:
    """The request a URL makes, for loop detection: a fragment is never sent, so /a#x and /a
    are one request. urllib's defrag, not urls.strip_fragment: when it drops a fragment it also
    re-spells the URL (scheme lower-cased, an empty '?' or ';' dropped), so a redirect from /a
    to /a?#x is a loop at once."""
    return urldefrag(url).url


def _blame(failure: Failure, redirects: list[Hop]) -> Finding:
    """A failed hop's finding. A URL that aiohttp refuses (INVALID_URL) blames the card only
    when it is the card's own URL: a redirect to one is the server's mistake."""
    if failure.kind is Kind.INVALID_URL and redirects:
        target = preview(redirects[-1].location, 120)
        return Finding(Kind.CLIENT_ERROR, f"redirects to {target}: {failure.detail}")
    return Finding(failure.kind, failure.detail)
