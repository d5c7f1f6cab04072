"""Rot seen only with the card in hand, from stored results, without a request.

- content drift: a healthy page whose <title> is no longer the card's story;
- AMP: cdnAmpWebUrl that is not the AMP cache URL of ampWebUrl, and an ampWebUrl that now
  redirects to the canonical page (the AMP page was retired);
- thumbnail proxies whose URL promises another size than the card declares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crawler.judge.amp import amp_cache_url, amp_retired, check_cdn_amp
from crawler.judge.drift import content_drift
from crawler.judge.thumbs import proxy_info
from crawler.judge.verdicts import link_problem
from crawler.model import Kind
from crawler.web.urls import host_key

TITLED_FIELDS = frozenset({"webUrl", "originalUrl"})
HEALTHY = frozenset({"ok", "warning"})


def card_rot_problems(
    title: str | None, provider: str | None, links: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Problems from a card's links (card_links joined with url_results, as judging reads them)."""
    problems: list[dict[str, Any]] = []
    by_field = {link["field"]: link for link in links}
    for link in links:
        checked = link["url_status"] in HEALTHY
        if title and checked and link["field"] in TITLED_FIELDS and link.get("title"):
            detail = content_drift(title, link["title"], provider)
            if detail:
                problems.append(link_problem(link, Kind.CONTENT_DRIFT, detail))
        if link["link_kind"] == "image":
            proxy = proxy_info(link["url"])
            conflict = proxy and proxy.size_conflict(
                link["declared_width"], link["declared_height"]
            )
            if conflict:
                problems.append(link_problem(link, Kind.IMAGE_DIMENSION_MISMATCH, conflict))
    amp, cdn = by_field.get("ampWebUrl"), by_field.get("cdnAmpWebUrl")
    if amp and cdn and is_amp_cache_url(cdn["url"]):  # a self-hosted copy follows no cache rules
        detail = check_cdn_amp(amp["url"], cdn["url"])
        if detail:
            expected = _cache_url(amp["url"])  # what `linkcheck fix` puts in the card
            problems.append(link_problem(cdn, Kind.AMP_CACHE_MISMATCH, detail, False, expected))
    if amp and amp["url_status"] in HEALTHY:
        web = by_field.get("webUrl") or by_field.get("originalUrl")
        detail = amp_retired(amp["url"], amp["final_url"], web["url"] if web else None)
        if detail:
            problems.append(link_problem(amp, Kind.AMP_RETIRED, detail))
    return problems


def _cache_url(amp_url: str) -> str | None:
    try:
        return amp_cache_url(amp_url)
    except ValueError:  # the detail says why
        return None


AMP_CACHE_DOMAINS = ("cdn.ampproject.org", "bing-amp.com")


def is_amp_cache_url(url: str) -> bool:
    host = host_key(url)
    return any(host == d or host.endswith("." + d) for d in AMP_CACHE_DOMAINS)
