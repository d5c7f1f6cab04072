"""URLs and hosts: every rule for spelling, comparing and keying them lives here.

Two URL forms, deliberately different:

- `normalise_url`: the URL as linkcheck stores and requests it. Only what cannot change the
  request is normalised (scheme and host case, default port, fragment, empty path); path and
  query stay byte for byte, because servers compare them literally.
- `comparable_url`: a key for asking whether two URLs name the same page. It also uppercases
  percent-escapes, escapes non-ASCII, spells the host in ASCII and drops userinfo. It is never
  requested.

Three host forms, one per use:

- `host_key(url)`: a URL's host as politeness, the scheduler and the reports key it.
- `dns_name(host)`: a host name as the resolver and the --resolve pins key it.
- `comparable_host(host)`: a host for comparisons, in ASCII (punycode).
- `site_key(url)`: a URL's authority (host and port) for "same site?" between two pages.

Two "same page?" rules for the page rot checks, scheme and fragment aside: `same_address`
(path and query as they are) and `same_page` (also trailing slashes aside).

Politeness is per host name. Only the cluster's partitions group hosts by registrable domain
(crawler/cluster/partitions.py).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

HostKey = str

# The web schemes, with their default ports.
DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}
WEB_SCHEMES = frozenset(DEFAULT_PORTS)  # the only schemes linkcheck requests (lower case)
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_AUTHORITY_END = re.compile(r"[/?#]")
# The common URL in one regex (no userinfo, IPv6, odd host characters, spaces or controls):
# valid and normalised in one step; anything else takes the careful path.
_COMMON_URL = re.compile(
    r"(?i:(https?))://([A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?"
    r"((?:[/?][^\s\x00-\x1f\x7f-\x9f#]*)?)(?:#[^\s\x00-\x1f\x7f-\x9f]*)?\Z"
)
# punycode.js treats these as label separators too (IDEOGRAPHIC FULL STOP and friends).
_SEPARATORS = re.compile("[\u002e\u3002\uff0e\uff61]")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def strip_fragment(url: str) -> str:
    """The URL without its fragment: a fragment is never sent, so /a#x and /a are one request."""
    return url.partition("#")[0]


def _default_port(scheme: str) -> str | None:
    port = DEFAULT_PORTS.get(scheme)
    return None if port is None else str(port)


# ---------------------------------------------------------------------------------------------
# Splitting, as text (urllib's parser rejects or rewrites some URLs a card may hold)


def split_authority(rest: str) -> tuple[str, str]:
    """'user@host:port/path?q' -> ('user@host:port', '/path?q')."""
    end = _AUTHORITY_END.search(rest)
    cut = end.start() if end else len(rest)
    return rest[:cut], rest[cut:]


def split_host_port(hostport: str) -> tuple[str, str | None]:
    """'host:8080' -> ('host', '8080'); '[::1]:80' -> ('[::1]', '80'); 'host' -> ('host', None)."""
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return hostport, None
        host, after = hostport[: close + 1], hostport[close + 1 :]
        return host, (after[1:] if after.startswith(":") else (after or None))
    host, colon, port = hostport.partition(":")
    return host, (port if colon else None)


# ---------------------------------------------------------------------------------------------
# The URL as stored and requested


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, drop a default port and the fragment, '/' for an empty path.

    Path and query are kept byte for byte: thumbnail proxies carry nested percent-encoded URLs
    that a server compares literally, so re-encoding would check a different URL.
    """
    url = strip_fragment(url)
    scheme_match = SCHEME.match(url)
    if not scheme_match:
        return url
    scheme = scheme_match.group(1).lower()
    rest = url[scheme_match.end() :]
    if not rest.startswith("//"):
        return f"{scheme}:{rest}"
    authority, tail = split_authority(rest[2:])
    userinfo, at, hostport = authority.rpartition("@")
    host, port = split_host_port(hostport)
    if port == "" or port == _default_port(scheme):
        port = None
    if scheme in DEFAULT_PORTS and not tail.startswith("/"):
        tail = "/" + tail
    port_part = f":{port}" if port is not None else ""
    return f"{scheme}://{userinfo}{at}{host.lower()}{port_part}{tail}"


def normalise_common_url(url: str) -> str | None:
    """normalise_url for the common, plainly valid http(s) URL; None when it needs the careful
    path (validation, then normalise_url)."""
    match = _COMMON_URL.match(url)
    if match is None:
        return None
    scheme, host, port, tail = match.groups()
    scheme = scheme.lower()
    if port is not None and (port == _default_port(scheme) or int(port) > 65535):
        return None
    port_part = f":{port}" if port is not None else ""
    return f"{scheme}://{host.lower()}{port_part}{tail if tail.startswith('/') else '/' + tail}"


# ---------------------------------------------------------------------------------------------
# Hosts


def host_key(url: str) -> HostKey:
    """The politeness key of a URL: its lower-cased host name, port and scheme ignored.

    Raises ValueError for a URL urllib cannot split ('http://[::1')."""
    return (urlsplit(url).hostname or "").lower()


def split_refusal(authority: str) -> str | None:
    """Why host_key cannot split a URL with this authority, or None.

    urllib checks square brackets: they may only enclose a host that is an IPv6 (or IPvFuture)
    address, so '[abc]', '[1.2.3.4]', 'a]b' and 'user[@host' are refused."""
    try:
        urlsplit(f"//{authority}")
    except ValueError as exc:
        return str(exc)
    return None


def host_of(url: str | None) -> HostKey | None:
    """host_key for display: None when there is no URL, no host, or the URL cannot be split."""
    if not url:
        return None
    try:
        return host_key(url) or None
    except ValueError:
        return None


def site_key(url: str) -> str:
    """A URL's site, for asking whether two pages are on one: its authority lower-cased. Unlike
    host_key the port counts (two ports are two servers) and the scheme does not (an http ->
    https upgrade stays on its site). Raises ValueError as host_key does."""
    return _address(url)[0]


def dns_name(host: str) -> str:
    """A host name as a resolver keys it: lower case, without the trailing dot of an FQDN."""
    return host.strip().lower().rstrip(".")


def unicode_host(host: str) -> str:
    """punycode.js toUnicode: decode each `xn--` label, leave the others.

    Raises ValueError for an `xn--` label that is not valid punycode."""
    labels = _SEPARATORS.sub(".", host).split(".")
    out = []
    for label in labels:
        if label.lower().startswith("xn--"):
            try:
                out.append(label[4:].lower().encode("ascii").decode("punycode"))
            except (UnicodeError, ValueError) as exc:
                raise ValueError(f"{host!r}: {label!r} is not valid punycode") from exc
        else:
            out.append(label)
    return ".".join(out)


def ascii_host(host: str) -> str:
    """punycode.js toASCII: encode each label with a non-ASCII character as `xn--...`.

    No IDNA mapping or validation, like punycode.js (Python's `idna` codec would reject or remap
    some labels that the AMP cache accepts).
    """
    labels = _SEPARATORS.sub(".", host).split(".")
    out = []
    for label in labels:
        if label.isascii():
            out.append(label)
        else:
            out.append("xn--" + label.encode("punycode").decode("ascii"))
    return ".".join(out)


def comparable_host(host: str) -> str:
    """A host for comparisons: lower case, in ASCII however the URL spelled it."""
    return ascii_host(host.lower()).lower()


# ---------------------------------------------------------------------------------------------
# The URL as compared


def _requote(text: str, safe: str) -> str:
    """Percent-encode what must be (spaces, non-ASCII), keep existing escapes, uppercase them."""
    return _ESCAPE.sub(lambda m: m.group(0).upper(), quote(text, safe=safe))


def comparable_url(url: str) -> str:
    """A comparable spelling: scheme and host lowercased (host in ASCII), default port dropped,
    empty path as `/`, percent-escapes uppercased, non-ASCII escaped, fragment dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = comparable_host(parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = _requote(parts.path or "/", _PATH_SAFE)
    query = f"?{_requote(parts.query, _QUERY_SAFE)}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


# ---------------------------------------------------------------------------------------------
# Same page? (the page rot checks; scheme and fragment never count)


def _address(url: str) -> tuple[str, str, str]:
    """(site, path, query) as written."""
    parts = urlsplit(url)
    return parts.netloc.lower(), parts.path, parts.query


def same_address(a: str, b: str) -> bool:
    """One site, one path, one query, byte for byte: a redirect chain that only changed the
    scheme (or the host's case) ended where it started."""
    return _address(a) == _address(b)


def same_page(a: str | None, b: str | None) -> bool:
    """same_address, trailing slashes aside ('/a/' is '/a', '' is '/'): servers add or drop
    one by redirect, so two answers that differ only there are one page."""
    if not a or not b:
        return False
    return _page(a) == _page(b)


def _page(url: str) -> tuple[str, str, str]:
    site, path, query = _address(url)
    return site, path.rstrip("/") or "/", query
