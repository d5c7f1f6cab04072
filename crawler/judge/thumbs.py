"""Thumbnail and image proxies: the size a proxy URL promises, and the origin images it wraps.

A card's image is often a resizing proxy around the publisher's original, sometimes a proxy
around a proxy (Engadget: `o.aolcdn.com/images/dims?thumbnail=600,350&image_uri=<a dims URL
whose own image_uri is the s.yimg.com original>`). `proxy_info(url)` says which proxy it is,
the size it promises, and the chain of wrapped URLs, outermost first, so a caller can
(a) compare the promised size with the card's declared width/height without a request, and
(b) when the proxy fails, ask whether the innermost origin still answers (the proxy broke, or
the image is gone).

Recognised (each seen in ../shared/cards-corpus unless noted), by URL shape, not by host list,
except where a query parameter only means "origin" on that service:

- `aol-dims`: `.../dims?...&image_uri=<encoded URL>` (o.aolcdn.com). Size: `thumbnail=W,H`
  exactly, `resize=W,H` at most.
- `dims-path`: `/dims3/...` (AOL) and `/dims4/...` (Brightspot) path operations; the origin in
  `?url=` or as an encoded last path part. Size: `resize/WxH!` exactly, `resize/WxH` at most.
- `thumbor`: `/thumbor/...`, or a first segment that is a 28-character `...=` signature or
  `unsafe` (images.thestar.com, thumbor.forbes.com); the origin at the end of the path.
  Size: `WxH` exactly (0: that side free), at most after `fit-in/`.
- `cloudinary-fetch`: `/<cloud>/image/fetch/[transforms/]<origin URL>`. Size: `w_`, `h_`,
  exactly with `c_fill`/`c_crop`/`c_thumb`/`c_scale` and both sides, else at most.
- `photon`: Jetpack's `i0.wp.com`..`i3.wp.com/<host>/<path>` (https origin with `ssl=1`).
  Size: `resize=W,H` exactly; `fit=W,H`, `w`, `h` at most.
- `timthumb`: `.../timthumb.php?src=<URL>&w=&h=&zc=`. Size: exactly with `zc=1` and both
  sides, else at most.
- `weserv`: `images.weserv.nl` / `wsrv.nl` `?url=` (not in the corpus). Size: `w`, `h` at most.
- `url-param`: any other image URL whose `image_uri`, `url`, `src`, `image_url` or `imageurl`
  parameter is an absolute http(s) URL, or whose path ends with an embedded `http(s)://` or
  `http(s)%3A` URL (Yahoo `api/res`, jpimedia `imagefetch`, content.cdntwrk.com). Size only
  where the service is evident: Foolcdn `/image/` and Meredith `imagesvc` `w`/`h` at most,
  Bisnow `/fit` `width`/`height` at most, Artsy `resize_to` (`fill`: exactly, else at most);
  none for the others.

"At most": the proxy fits the image within the box (or scales to one side), so a declared size
larger than the box is impossible; a smaller one is not evidence of anything. Only the outermost
proxy's size matters: it is what the card's reader gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MAX_DEPTH = 8  # nested proxies unwrapped at most
_ORIGIN_PARAMS = ("image_uri", "url", "src", "image_url", "imageurl")
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_SAFE = "/:@!$&'()*+,;=-._~%?#"
_ABSOLUTE = re.compile(r"^https?://[^/?#\s]+", re.IGNORECASE)
_COLLAPSED = re.compile(r"^(https?):/(?!/)", re.IGNORECASE)  # some servers squash // to /
_EMBEDDED = re.compile(r"^(https?(?::|%3a))", re.IGNORECASE)
_PAIR = re.compile(r"^\s*(\d+)\s*[,x]\s*(\d+)\s*$", re.IGNORECASE)
_GEOMETRY = re.compile(r"^(\d*)x(\d*)([!^<>]?)$", re.IGNORECASE)
_THUMBOR_SIZE = re.compile(r"^-?(\d+)x-?(\d+)$")
_THUMBOR_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{27}=$")
_PHOTON_HOST = re.compile(r"^i[0-3]\.wp\.com$")


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    """What one proxy URL promises. `origins[0]` is the URL it wraps, `origins[-1]` the original."""

    service: str
    width: int | None  # the box the outermost proxy produces; None: that side is free
    height: int | None
    exact: bool  # True: each given side is exactly that; False: at most that
    origins: tuple[str, ...]
    size_spec: str | None = None  # the size as the URL spells it, for details

    def size_conflict(self, declared_width: int | None, declared_height: int | None) -> str | None:
        """Why the card's declared size cannot be what this proxy delivers, or None."""
        wrong: list[str] = []
        for side, promised, declared in (
            ("width", self.width, declared_width),
            ("height", self.height, declared_height),
        ):
            if promised is None or declared is None:
                continue
            if (self.exact and declared != promised) or (not self.exact and declared > promised):
                wrong.append(side)
        if not wrong:
            return None
        box = f"{_side(self.width)}x{_side(self.height)}"
        how = "exactly" if self.exact else "at most"
        spec = f" ({self.size_spec})" if self.size_spec else ""
        return (
            f"the {self.service} proxy delivers {how} {box}{spec}, "
            f"card declares {_side(declared_width)}x{_side(declared_height)}"
        )


def _side(value: int | None) -> str:
    return "?" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class _Layer:
    """One proxy: its service, size promise and the URL it wraps."""

    service: str
    origin: str
    width: int | None = None
    height: int | None = None
    exact: bool = False
    size_spec: str | None = None


# ---------------------------------------------------------------------------------------------
# Helpers


def _clean_origin(raw: str) -> str | None:
    """An absolute http(s) URL from a decoded parameter or path tail, properly escaped."""
    text = _COLLAPSED.sub(lambda m: f"{m.group(1)}://", raw.strip())
    if not _ABSOLUTE.match(text):
        return None
    return _ESCAPE.sub(lambda m: m.group(0).upper(), quote(text, safe=_SAFE))


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    number = int(value)
    return number or None  # 0 means "free" to every proxy here


def _pair(value: str | None) -> tuple[int, int] | None:
    found = _PAIR.match(value or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def _params(query: str) -> dict[str, str]:
    """First value of each query parameter, names lowercased, decoded once."""
    out: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        out.setdefault(name.lower(), value)
    return out


def _embedded_tail(path: str) -> tuple[int, str] | None:
    """(segment index, origin) of an http(s) URL embedded at the end of a path."""
    segments = path.split("/")
    for index, segment in enumerate(segments):
        if _EMBEDDED.match(segment):
            tail = "/".join(segments[index:])
            decoded = unquote(tail) if re.match(r"^https?%3a", tail, re.IGNORECASE) else tail
            origin = _clean_origin(decoded)
            if origin:
                return index, origin
    return None


def _query_origin(params: dict[str, str]) -> str | None:
    for name in _ORIGIN_PARAMS:
        if name in params:
            origin = _clean_origin(params[name])
            if origin:
                return origin
    return None


# ---------------------------------------------------------------------------------------------
# The recognisers: each returns the layer, or None when the URL is not its shape.


def _aol_dims(path: str, params: dict[str, str]) -> _Layer | None:
    if not path.rstrip("/").endswith("/dims") or "image_uri" not in params:
        return None
    origin = _clean_origin(params["image_uri"])
    if origin is None:
        return None
    thumb = _pair(params.get("thumbnail"))
    if thumb:
        return _Layer(
            "aol-dims", origin, *thumb, exact=True, size_spec=f"thumbnail={thumb[0]},{thumb[1]}"
        )
    resize = _pair(params.get("resize"))
    if resize:
        return _Layer("aol-dims", origin, *resize, size_spec=f"resize={resize[0]},{resize[1]}")
    return _Layer("aol-dims", origin)


def _dims_path(path: str, params: dict[str, str]) -> _Layer | None:
    segments = path.split("/")
    if not any(s in ("dims3", "dims4") for s in segments[:4]):
        return None
    origin = _query_origin(params)
    if origin is None:
        tail = _embedded_tail(path)
        origin = tail[1] if tail else None
    if origin is None:
        return None
    for index, segment in enumerate(segments[:-1]):
        if segment == "resize":
            found = _GEOMETRY.match(segments[index + 1])
            if found and found.group(3) in ("", "!"):
                exact = found.group(3) == "!"
                width, height = _int(found.group(1)), _int(found.group(2))
                spec = f"resize/{segments[index + 1]}"
                return _Layer("dims-path", origin, width, height, exact, spec)
    return _Layer("dims-path", origin)


def _thumbor(path: str) -> _Layer | None:
    segments = path.split("/")[1:]
    if not segments:
        return None
    if segments[0] == "thumbor":
        segments = segments[1:]
    elif not (segments[0] == "unsafe" or _THUMBOR_SIGNATURE.match(segments[0])):
        return None
    tail = _embedded_tail("/" + "/".join(segments))
    if tail is None:
        return None
    index, origin = tail
    ops = segments[: index - 1]  # the path before the origin
    fit_in = "fit-in" in ops
    for op in ops:
        found = _THUMBOR_SIZE.match(op)
        if found:
            width, height = _int(found.group(1)), _int(found.group(2))
            return _Layer("thumbor", origin, width, height, exact=not fit_in, size_spec=op)
    return _Layer("thumbor", origin)


def _cloudinary_fetch(path: str) -> _Layer | None:
    found = re.match(r"^/[^/]+/image/fetch/(.*)$", path)
    if not found:
        return None
    tail = _embedded_tail("/" + found.group(1))
    if tail is None:
        return None
    index, origin = tail
    transforms = ",".join(found.group(1).split("/")[: index - 1])
    options: dict[str, str] = {}
    for part in transforms.split(","):
        name, _, value = part.partition("_")
        options.setdefault(name, value)
    width, height = _int(options.get("w")), _int(options.get("h"))
    exact = options.get("c") in ("fill", "crop", "thumb", "scale") and bool(width and height)
    spec = transforms or None
    return _Layer("cloudinary-fetch", origin, width, height, exact, spec)


def _photon(host: str, path: str, params: dict[str, str]) -> _Layer | None:
    if not _PHOTON_HOST.match(host) or path.count("/") < 2:
        return None
    scheme = "https" if params.get("ssl") == "1" else "http"
    origin = _clean_origin(f"{scheme}://{unquote(path[1:])}")
    if origin is None:
        return None
    resize = _pair(params.get("resize"))
    if resize:
        return _Layer(
            "photon", origin, *resize, exact=True, size_spec=f"resize={resize[0]},{resize[1]}"
        )
    fit = _pair(params.get("fit"))
    if fit:
        return _Layer("photon", origin, *fit, size_spec=f"fit={fit[0]},{fit[1]}")
    width, height = _int(params.get("w")), _int(params.get("h"))
    return _Layer("photon", origin, width, height, size_spec=_wh_spec(params, "w", "h"))


def _wh_spec(params: dict[str, str], w: str, h: str) -> str | None:
    spec = "&".join(f"{name}={params[name]}" for name in (w, h) if name in params)
    return spec or None


def _query_proxy(host: str, path: str, params: dict[str, str]) -> _Layer | None:
    origin = _query_origin(params)
    if origin is None:
        return None
    lower_path = path.lower()
    if lower_path.endswith("timthumb.php"):
        width, height = _int(params.get("w")), _int(params.get("h"))
        exact = params.get("zc") == "1" and bool(width and height)
        return _Layer("timthumb", origin, width, height, exact, _wh_spec(params, "w", "h"))
    if host in ("images.weserv.nl", "wsrv.nl"):
        width, height = _int(params.get("w")), _int(params.get("h"))
        return _Layer("weserv", origin, width, height, size_spec=_wh_spec(params, "w", "h"))
    if host == "g.foolcdn.com" and lower_path.startswith("/image"):
        width, height = _int(params.get("w")), _int(params.get("h"))
        return _Layer("url-param", origin, width, height, size_spec=_wh_spec(params, "w", "h"))
    if host == "imagesvc.meredithcorp.io":
        width, height = _int(params.get("w")), _int(params.get("h"))
        return _Layer("url-param", origin, width, height, size_spec=_wh_spec(params, "w", "h"))
    if host == "cdn.bisnow.net" and lower_path.startswith("/fit"):
        width, height = _int(params.get("width")), _int(params.get("height"))
        spec = _wh_spec(params, "width", "height")
        return _Layer("url-param", origin, width, height, size_spec=spec)
    if "resize_to" in params:  # Artsy's Gemini (d7hftxdivxxvm.cloudfront.net)
        width, height = _int(params.get("width")), _int(params.get("height"))
        exact = params["resize_to"] == "fill" and bool(width and height)
        spec = f"resize_to={params['resize_to']}"
        return _Layer("url-param", origin, width, height, exact, spec)
    return _Layer("url-param", origin)


def _layer(url: str) -> _Layer | None:
    """The proxy `url` is, if any: the first recogniser that matches."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host, path = parts.hostname, parts.path
    params = _params(parts.query)
    return (
        _aol_dims(path, params)
        or _dims_path(path, params)
        or _photon(host, path, params)
        or _cloudinary_fetch(path)
        or _thumbor(path)
        or _query_proxy(host, path, params)
        or _path_embedded(path)
    )


def _path_embedded(path: str) -> _Layer | None:
    tail = _embedded_tail(path)
    return _Layer("url-param", tail[1]) if tail else None


# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # provider logos are the same few URLs on thousands of cards
def proxy_info(url: str) -> ProxyInfo | None:
    """The proxy `url` is (size of the outermost, chain of wrapped URLs), or None if it is none.

    Nested proxies are unwrapped up to MAX_DEPTH levels; a URL that wraps itself stops there.
    """
    outer = _layer(url)
    if outer is None:
        return None
    origins = [outer.origin]
    seen = {url.strip(), outer.origin}
    while len(origins) < MAX_DEPTH:
        inner = _layer(origins[-1])
        if inner is None or inner.origin in seen:
            break
        origins.append(inner.origin)
        seen.add(inner.origin)
    return ProxyInfo(
        service=outer.service,
        width=outer.width,
        height=outer.height,
        exact=outer.exact,
        origins=tuple(origins),
        size_spec=outer.size_spec,
    )


__all__ = ["MAX_DEPTH", "ProxyInfo", "proxy_info"]
