"""Bot walls: an answer that is bot protection's challenge or denial instead of the page.

Such an answer says nothing about the link: it is `bot_blocked` (a warning, "could not verify"),
never broken or rotted, with the vendor and the evidence in the detail, always shaped
"<vendor> <wall>: <evidence>" ("Cloudflare challenge: cf-mitigated: challenge"; the store's
`blocked_hosts` reads the vendor from it).

Every signal lives in one table, SIGNATURES. A signature is a vendor, what its wall is, and the
signals that must all be seen. A decisive one counts on any status: those headers (and status 999)
come only with a wall, and AWS WAF's challenge is a 202. The others only count on a status walls
answer with (WALL_STATUSES: 403, 429, 503): a server name or a vendor's cookie script is on every
page of a protected site, so a 200 page with real content is never a wall, whatever it names.

Sources: Cloudflare's challenge-page docs (cf-mitigated), AWS WAF's CAPTCHA and Challenge action
docs (x-amzn-waf-action on a 202 or 405), DataDome's protection API docs (X-DataDome on every
answer, X-DD-B on its blocks; block pages load captcha-delivery.com), PerimeterX/HUMAN's block
page templates (window._pxAppId, <div id="px-captcha">), Imperva's (Incapsula incident ID,
/_Incapsula_Resource; X-Iinfo and X-CDN on every answer), Akamai's "Access Denied" page.

Bodies come from a hostile web: only the prefix the fetcher read of a wall's status is looked at
(crawler.web.answer.WALL_BODY_CAP), as bytes, for ASCII markers; the title is read by the one
title reader (crawler.judge.html.page_title), which takes any byte. Nothing here raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from crawler.judge.html import page_title
from crawler.model import Finding, Kind
from crawler.text import preview
from crawler.web.answer import WALL_BODY_CAP, WALL_STATUSES

Where = Literal["status", "header", "title", "body"]
_SHOWN = 60  # characters of a header value or title shown as evidence


@dataclass(frozen=True, slots=True)
class Signal:
    """One thing a wall shows, and where it is looked for."""

    where: Where
    name: str = ""  # a header's name, lower case
    # status: the code; header: what its value holds ("" any value); title: the whole title;
    # body: a marker in the page. Compared without regard to case.
    text: str = ""


@dataclass(frozen=True, slots=True)
class Signature:
    vendor: str
    wall: str  # challenge | denial | block
    decisive: bool  # counts on any status; otherwise only on WALL_STATUSES
    signals: tuple[Signal, ...]  # every one must be seen


def _header(name: str, text: str = "") -> Signal:
    return Signal("header", name, text)


def _title(text: str) -> Signal:
    return Signal("title", text=text)


def _body(marker: str) -> Signal:
    return Signal("body", text=marker)


def _s(vendor: str, wall: str, decisive: bool, *signals: Signal) -> Signature:
    return Signature(vendor, wall, decisive, signals)


_CLOUDFLARE = _header("server", "cloudflare")
_DENIED = Signal("status", text="403")
SIGNATURES: tuple[Signature, ...] = (
    _s("Cloudflare", "challenge", True, _header("cf-mitigated", "challenge")),
    _s("Vercel", "challenge", True, _header("x-vercel-mitigated", "challenge")),
    _s("AWS WAF", "challenge", True, _header("x-amzn-waf-action")),  # challenge or captcha
    _s("DataDome", "block", True, _header("x-dd-b")),
    _s("Bot protection", "denial", True, Signal("status", text="999")),  # LinkedIn, Yahoo
    _s("Cloudflare", "challenge", False, _CLOUDFLARE, _title("Just a moment...")),
    _s("Cloudflare", "denial", False, _CLOUDFLARE, _title("Attention Required! | Cloudflare")),
    _s("Cloudflare", "challenge", False, _CLOUDFLARE, _body("/cdn-cgi/challenge-platform/")),
    _s("Akamai", "denial", False, _header("server", "AkamaiGHost"), _body("Access Denied")),
    _s("DataDome", "block", False, _body("captcha-delivery.com")),
    # X-DataDome, X-Iinfo and X-CDN come on every answer of a protected site, an outage's 503
    # too: alone, they make a wall only of a 403
    _s("DataDome", "block", False, _DENIED, _header("x-datadome")),
    _s("PerimeterX", "block", False, _body("_pxAppId")),
    _s("PerimeterX", "block", False, _body("px-captcha")),
    _s("PerimeterX", "block", False, _body("/_px/")),
    _s("Imperva", "block", False, _body("_Incapsula_Resource")),
    _s("Imperva", "block", False, _body("Incapsula incident ID")),
    _s("Imperva", "block", False, _DENIED, _header("x-iinfo")),
    _s("Imperva", "block", False, _DENIED, _header("x-cdn", "Imperva")),
    _s("Imperva", "block", False, _DENIED, _header("x-cdn", "Incapsula")),
)
VENDORS: tuple[str, ...] = tuple(dict.fromkeys(s.vendor for s in SIGNATURES))
_DECISIVE = tuple(s for s in SIGNATURES if s.decisive)
_WEAK = tuple(s for s in SIGNATURES if not s.decisive)


@dataclass(frozen=True, slots=True)
class _Answer:
    """What the signals are looked for in: the status, headers by lower-case name, the body's
    prefix lower-cased, and the title (read only for a wall's status)."""

    status: int
    headers: Mapping[str, str]
    page: bytes
    title: str | None


def bot_wall(
    status: int,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    content_type: str | None = None,
) -> Finding | None:
    """`bot_blocked` with the vendor and evidence when the answer is a wall, else None."""
    named = {name.lower(): value for name, value in (headers or {}).items()}
    candidates = _DECISIVE
    page, title = b"", None
    if status in WALL_STATUSES:
        candidates += _WEAK
        prefix = (body or b"")[:WALL_BODY_CAP]
        page, title = prefix.lower(), page_title(prefix, content_type)
    answer = _Answer(status, named, page, title)
    for signature in candidates:
        seen = [_evidence(signal, answer) for signal in signature.signals]
        if all(e is not None for e in seen):
            shown = [e for e in seen if e]
            if not signature.decisive and f"HTTP {status}" not in shown:
                shown.insert(0, f"HTTP {status}")
            detail = f"{signature.vendor} {signature.wall}: {', '.join(shown)}"
            return Finding(Kind.BOT_BLOCKED, detail)
    return None


def _evidence(signal: Signal, answer: _Answer) -> str | None:
    """How the signal shows in the answer ("server: cloudflare"), None when it does not."""
    text = signal.text.casefold()
    if signal.where == "status":
        return f"HTTP {answer.status}" if str(answer.status) == signal.text else None
    if signal.where == "header":
        value = answer.headers.get(signal.name)
        if value is None or text not in value.casefold():
            return None
        return f"{signal.name}: {preview(value, _SHOWN)}"
    if signal.where == "title":
        if answer.title is None or answer.title.casefold() != text:
            return None
        return f"title {preview(answer.title, _SHOWN)!r}"
    if text.encode("ascii") in answer.page:
        return f"{signal.text!r} in the page"
    return None
