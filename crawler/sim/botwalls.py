"""Bot walls of the simulated web, vendor by vendor, and their healthy look-alikes: what
crawler/judge/botwall.py must tell apart. The pages copy the shape of each vendor's real one
(its headers, its title, the scripts and ids in its body), never its text at length.

    /botwall/<vendor>/<status>/<id>   the vendor's challenge or denial page with its headers, as
                                      that status (WALL_STATUSES: 403, 429 or 503 as walls come;
                                      202 and 405 as AWS WAF's; 999 as LinkedIn's)
    /cdnpage/<vendor>/<id>            200 the card's article served through the vendor: its server
                                      name and ids, and the vendor's script the real pages carry
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from crawler.sim.exchange import Exchange
from crawler.sim.pages import page_html, story_title

WALL_STATUSES: Final = frozenset({202, 403, 405, 429, 503, 999})
_RAY: Final = "8f2c1e9a7b3d4c10-FRA"


@dataclass(frozen=True, slots=True)
class Vendor:
    """What one vendor's answers carry: its headers, and the page or the snippet it serves."""

    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # the wall's page (walls), or a snippet added to the article (look-alikes)


def _page(title: str, body: str, head: str = "") -> bytes:
    return (
        f'<!DOCTYPE html><html lang="en-US"><head><title>{title}</title>'
        f'<meta charset="UTF-8">{head}</head><body>{body}</body></html>\n'
    ).encode()


_CLOUDFLARE: Final = {"Server": "cloudflare", "CF-RAY": _RAY, "Cache-Control": "no-store"}
_CF_CHALLENGE: Final = _page(
    "Just a moment...",
    '<div class="main-wrapper" role="main"><h1>Checking your browser</h1>'
    f'<noscript>Enable JavaScript and cookies to continue</noscript></div><script src="/cdn-cgi/'
    f'challenge-platform/h/g/orchestrate/chl_page/v1?ray={_RAY}"></script>',
    '<meta name="robots" content="noindex,nofollow">',
)
WALLS: Final[dict[str, Vendor]] = {
    # today's managed challenge: the decisive cf-mitigated header
    "cloudflare": Vendor({**_CLOUDFLARE, "cf-mitigated": "challenge"}, _CF_CHALLENGE),
    # an older challenge page without the header: its title and the challenge script tell
    "cloudflare-legacy": Vendor(_CLOUDFLARE, _CF_CHALLENGE),
    "cloudflare-block": Vendor(
        _CLOUDFLARE,
        _page(
            "Attention Required! | Cloudflare",
            "<h1>Sorry, you have been blocked</h1><h2>You are unable to access this site</h2>"
            f"<p>Cloudflare Ray ID: {_RAY}</p>",
        ),
    ),
    "vercel": Vendor(
        {"Server": "Vercel", "x-vercel-mitigated": "challenge", "x-vercel-id": "fra1::abcd"},
        _page("Vercel Security Checkpoint", "<p>We're verifying your browser</p>"),
    ),
    "awswaf": Vendor(
        {"x-amzn-waf-action": "challenge", "Server": "CloudFront"},
        _page("", '<script src="https://abc.token.awswaf.com/challenge.js"></script>'),
    ),
    "akamai": Vendor(
        {"Server": "AkamaiGHost", "Mime-Version": "1.0"},
        b"<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n"
        b"You don't have permission to access this page on this server.<P>\n"
        b"Reference&#32;&#35;18&#46;5c1e2f17&#46;1718409600&#46;3f9b21e\n</BODY>\n</HTML>\n",
    ),
    "datadome": Vendor(
        {"X-DataDome": "protected", "Set-Cookie": "datadome=abc; Path=/"},
        _page(
            "example.com",
            "<script>var dd={'rt':'c','cid':'AHrlqAAA','hsh':'4980A6','t':'fe',"
            "'host':'geo.captcha-delivery.com'}</script>"
            '<script src="https://ct.captcha-delivery.com/c.js"></script>',
        ),
    ),
    "perimeterx": Vendor(
        {"Set-Cookie": "_pxhd=abc; Path=/"},
        _page(
            "Access to this page has been denied",
            "<script>window._pxAppId = 'PXabc123';window._pxJsClientSrc = '/abc123/init.js';"
            '</script><div id="px-captcha"></div>'
            '<script src="https://captcha.px-cdn.net/PXabc123/captcha.js"></script>',
        ),
    ),
    "imperva": Vendor(
        {"X-CDN": "Imperva", "X-Iinfo": "10-12345678-0 0NNN RT(1718409600 0) q(0 -1 -1 -1)"},
        b'<html><head><META NAME="robots" CONTENT="noindex,nofollow"></head><body>'
        b'<iframe id="main-iframe" src="/_Incapsula_Resource?CWUDNSAI=9&xinfo=10-12345678"'
        b">Request unsuccessful. Incapsula incident ID: 123000450123456789-12345678</iframe>"
        b"</body></html>\n",
    ),
    "linkedin": Vendor({}, b"<html><head></head><body>Request denied</body></html>\n"),
}
# The same vendors in front of a healthy article: their names, ids and sensor scripts are on
# every page they serve, so none of that makes a 200 a wall.
LOOKALIKES: Final[dict[str, Vendor]] = {
    "cloudflare": Vendor(
        {**_CLOUDFLARE, "cf-cache-status": "HIT"},
        b'<script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js"></script>',
    ),
    "akamai": Vendor({"Server": "AkamaiGHost", "X-Akamai-Transformed": "9 - 0 pmb=mRUM,1"}),
    "imperva": Vendor(
        {"X-CDN": "Imperva", "X-Iinfo": "10-12345678-12345679 NNNN CT(0 0 0) RT(1718409600 0)"},
        b'<script src="/_Incapsula_Resource?SWJIYLWA=719d34d31c8e3a6e6fffd425f7e032f3"></script>',
    ),
    "datadome": Vendor(
        {"X-DataDome": "protected"},
        b'<script src="https://js.datadome.co/tags.js" async></script>',
    ),
    "perimeterx": Vendor(
        {},
        b"<script>window._pxAppId = 'PXabc123';</script>"
        b'<script src="/abc123/init.js" async></script>',
    ),
    "vercel": Vendor(
        {"Server": "Vercel", "x-vercel-id": "fra1::iad1::abcd", "x-vercel-cache": "HIT"}
    ),
}


def botwall_route(x: Exchange, head: str, rest: list[str]) -> web.Response | None:
    """A vendor's wall or its look-alike; None when the path is neither."""
    if head == "botwall" and len(rest) >= 3 and rest[0] in WALLS and rest[1].isdigit():
        status = int(rest[1])
        if status in WALL_STATUSES:
            wall = WALLS[rest[0]]
            return x.answer(_response(status, wall.body, wall.headers))
    if head == "cdnpage" and len(rest) >= 2 and rest[0] in LOOKALIKES:
        vendor = LOOKALIKES[rest[0]]
        article = page_html(story_title("/".join(rest[1:])))
        body = article.replace(b"</body>", vendor.body + b"</body>", 1)
        return x.answer(_response(200, body, vendor.headers))
    return None


def _response(status: int, body: bytes, headers: dict[str, str]) -> web.Response:
    # aiohttp would name itself in Server: a vendor's page names the vendor, or nobody
    headers = {"Server": "", **headers}
    reason = {999: "Request denied"}.get(status)
    return web.Response(
        status=status, reason=reason, body=body, content_type="text/html", headers=headers
    )
