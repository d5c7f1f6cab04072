"""The simulated corpus' behaviours: what each card's one misbehaving link does, what a checker
should say of it, the path that makes the simulated web do it, and the mixes of behaviours a
corpus is drawn from."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from crawler.sim.botwalls import LOOKALIKES, WALLS

# Which link carries a behaviour: webUrl ("page"), images[0].url ("image"), ampWebUrl ("amp"),
# cdnAmpWebUrl ("cdn").
Target = Literal["page", "image", "amp", "cdn"]
TARGET_FIELDS: Final[dict[str, str]] = {
    "page": "webUrl",
    "image": "images[0].url",
    "amp": "ampWebUrl",
    "cdn": "cdnAmpWebUrl",
}


@dataclass(frozen=True, slots=True)
class Behaviour:
    name: str
    target: Target  # which link carries it (see TARGET_FIELDS)
    status: str  # the card's expected status
    kind: str | None  # the expected problem kind (crawler.model.Kind value), None when ok
    description: str


_B = Behaviour
# Bot walls (crawler.sim.botwalls): every vendor's wall as a 403 and as a 503, AWS WAF's own 202
# and LinkedIn's 999, all "could not verify"; and the same vendors in front of a healthy article.
BOTWALL_PATHS: Final[dict[str, str]] = {
    **{
        f"botwall_{vendor.replace('-', '_')}_{status}": f"/botwall/{vendor}/{status}"
        for vendor in WALLS
        if vendor != "linkedin"
        for status in (403, 503)
    },
    "botwall_awswaf_202": "/botwall/awswaf/202",
    "botwall_linkedin_999": "/botwall/linkedin/999",
    **{f"cdnpage_{vendor}": f"/cdnpage/{vendor}" for vendor in LOOKALIKES},
}
BOTWALL_BEHAVIOURS: Final = tuple(n for n in BOTWALL_PATHS if n.startswith("botwall_"))
BOTWALL_LOOKALIKES: Final = tuple(n for n in BOTWALL_PATHS if n.startswith("cdnpage_"))
_BOTWALLS: Final = (
    *(_B(n, "page", "warning", "bot_blocked", f"webUrl: {BOTWALL_PATHS[n]}/<id>")
      for n in BOTWALL_BEHAVIOURS),
    *(_B(n, "page", "ok", None, f"200 article behind a bot-protection vendor: {BOTWALL_PATHS[n]}")
      for n in BOTWALL_LOOKALIKES),
)  # fmt: skip
BEHAVIOURS: Final[dict[str, Behaviour]] = {
    b.name: b
    for b in (
        _B("healthy", "page", "ok", None, "every link answers 200 with the declared content"),
        _B("http_404", "page", "broken", "not_found", "webUrl answers 404"),
        _B("http_410", "page", "broken", "gone", "webUrl answers 410"),
        _B("http_500", "page", "broken", "server_error", "webUrl answers 500"),
        _B("flaky503", "page", "ok", None, "webUrl answers 503 once, then 200"),
        _B("ratelimit", "page", "ok", None, "webUrl answers 429 (Retry-After: 1) once, then 200"),
        _B("ratelimit_forever", "page", "warning", "rate_limited", "webUrl always answers 429"),
        _B("slow", "page", "broken", "timeout", "webUrl answers after longer than the timeout"),
        _B("reset", "page", "broken", "connection_error", "webUrl's connection is reset"),
        _B("redirect_301", "page", "warning", "moved_permanently", "webUrl 301s to a page"),
        _B("chain", "page", "ok", None, "webUrl goes through three 302s to a page"),
        _B("loop", "page", "broken", "redirect_loop", "webUrl redirects a -> b -> a"),
        _B("image_jpeg", "image", "ok", None, "a JPEG of exactly the declared size"),
        _B("image_png", "image", "ok", None, "a PNG of exactly the declared size"),
        _B(
            "image_wrong_size",
            "image",
            "rotted",
            "image_dimension_mismatch",
            "an image whose real size differs from the declared one",
        ),
        _B("html_as_image", "image", "broken", "not_an_image", "HTML served as image/jpeg"),
        _B("truncated_image", "image", "broken", "image_corrupt", "the first half of a JPEG"),
        _B("endless", "page", "ok", None, "webUrl streams HTML forever (read is capped)"),
        # Rot behind a 200 (not in default_mix; see rot_mix)
        _B(
            "soft404",
            "page",
            "rotted",
            "soft_404",
            "200 with a generic 'couldn't find that page' template titled like the site; a probe"
            " URL in the same folder gets the same template",
        ),
        _B(
            "soft404title",
            "page",
            "rotted",
            "soft_404",
            "200 with a template titled 'Page not found | Example News'",
        ),
        _B("gonehome", "page", "rotted", "redirect_to_home", "webUrl 301s to the site root"),
        _B(
            "metahome",
            "page",
            "rotted",
            "redirect_to_home",
            "200 with <meta http-equiv=refresh content='0; url=/'>",
        ),
        _B("gonesection", "page", "rotted", "redirect_to_home", "webUrl 302s to /news/"),
        _B("drift", "page", "rotted", "content_drift", "200 with another story's title"),
        _B(
            "amp_retired",
            "amp",
            "warning",
            "amp_retired",
            "ampWebUrl 301s to the card's webUrl (the canonical page)",
        ),
        _B(
            "amp_cache_mismatch",
            "cdn",
            "warning",
            "amp_cache_mismatch",
            "cdnAmpWebUrl is not the AMP cache URL of ampWebUrl (offline check)",
        ),
        # Healthy look-alikes of the rot above
        _B(
            "real404site",
            "page",
            "ok",
            None,
            "200 with the card's title on a site whose probe URLs get a real 404",
        ),
        _B("spa", "page", "ok", None, "an app shell: same body for any path, the card's title"),
        _B("suffixed", "page", "ok", None, "200 titled with the card's title + ' | Example News'"),
        _B(
            "moved_deep",
            "page",
            "warning",
            "moved_permanently",
            "webUrl 301s to another deep article URL (not the home page)",
        ),
        _B(
            "amp_cache_ok",
            "cdn",
            "ok",
            None,
            "cdnAmpWebUrl is exactly the AMP cache URL of ampWebUrl (with amp_cache_rules)",
        ),
        *_BOTWALLS,  # not in default_mix; see botwall_mix
    )
}
OLD: Final = "old"  # the behaviour name of cards published before since_year

# The behaviours of rot_mix(), kept out of default_mix() so existing corpora do not change.
ROT_BEHAVIOURS: Final = (
    "soft404", "soft404title", "gonehome", "metahome", "gonesection", "drift", "amp_retired",
    "amp_cache_mismatch",
)  # fmt: skip
LOOKALIKE_BEHAVIOURS: Final = ("real404site", "spa", "suffixed", "moved_deep", "amp_cache_ok")
AMP_CACHE_BEHAVIOURS: Final = frozenset({"amp_cache_mismatch", "amp_cache_ok"})

DEFAULT_HEALTHY_SHARE: Final = 0.70
ROT_HEALTHY_SHARE: Final = 0.60
BOTWALL_HEALTHY_SHARE: Final = 0.50


def default_mix() -> dict[str, float]:
    """70 % healthy, the rest spread evenly over every other behaviour but the rot and bot wall
    ones."""
    rot = {*ROT_BEHAVIOURS, *LOOKALIKE_BEHAVIOURS, *BOTWALL_BEHAVIOURS, *BOTWALL_LOOKALIKES}
    others = [name for name in BEHAVIOURS if name != "healthy" and name not in rot]
    share = (1.0 - DEFAULT_HEALTHY_SHARE) / len(others)
    return {"healthy": DEFAULT_HEALTHY_SHARE, **dict.fromkeys(others, share)}


def rot_mix() -> dict[str, float]:
    """60 % healthy, the rest spread evenly over the rot behaviours and their look-alikes."""
    others = [*ROT_BEHAVIOURS, *LOOKALIKE_BEHAVIOURS]
    share = (1.0 - ROT_HEALTHY_SHARE) / len(others)
    return {"healthy": ROT_HEALTHY_SHARE, **dict.fromkeys(others, share)}


def botwall_mix() -> dict[str, float]:
    """50 % healthy, the rest spread evenly over the bot walls and their look-alikes."""
    others = [*BOTWALL_BEHAVIOURS, *BOTWALL_LOOKALIKES]
    share = (1.0 - BOTWALL_HEALTHY_SHARE) / len(others)
    return {"healthy": BOTWALL_HEALTHY_SHARE, **dict.fromkeys(others, share)}


NAMED_MIXES: Final[dict[str, Callable[[], dict[str, float]]]] = {
    "default": default_mix,
    "rot": rot_mix,
    "botwall": botwall_mix,
}


def parse_mix(text: str) -> dict[str, float]:
    """`healthy=0.5,http_404=0.1,...`, a JSON object, or a named mix: `default`, `rot`,
    `botwall`."""
    text = text.strip()
    if text in NAMED_MIXES:
        return NAMED_MIXES[text]()
    if text.startswith("{"):
        raw = json.loads(text)
        return {str(k): float(v) for k, v in raw.items()}
    mix: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = item.partition("=")
        mix[name.strip()] = float(weight)
    return mix


def check_mix(mix: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(mix) - set(BEHAVIOURS))
    if unknown:
        raise ValueError(f"unknown behaviours in mix: {', '.join(unknown)}")
    if any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError("mix weights must be non-negative with a positive sum")
    return {k: float(v) for k, v in mix.items() if v > 0}


def apportion(n: int, mix: Mapping[str, float]) -> list[str]:
    """Exactly n behaviour names in the proportions of mix (largest remainder), unshuffled."""
    total = sum(mix.values())
    quotas = {name: n * weight / total for name, weight in mix.items()}
    counts = {name: int(q) for name, q in quotas.items()}
    short = n - sum(counts.values())
    for name in sorted(quotas, key=lambda k: (counts[k] - quotas[k], k))[:short]:
        counts[name] += 1
    return [name for name in mix for _ in range(counts[name])]


WRONG_REAL_SIZE: Final = (300, 200)  # served for image_wrong_size; the declared size is good


def behaviour_url(
    name: str, card_id: str, size: tuple[int, int], slow_seconds: float
) -> tuple[str, tuple[int, int]]:
    """The path of the link carrying `name`, and (for images) the size the card declares."""
    w, h = size
    if name in BOTWALL_PATHS:
        return f"{BOTWALL_PATHS[name]}/{card_id}", size
    match name:
        case "http_404" | "http_410" | "http_500":
            return f"/status/{name[-3:]}/{card_id}", size
        case "flaky503":
            return f"/flaky503/1/{card_id}", size
        case "ratelimit":
            return f"/ratelimit/1/{card_id}", size
        case "ratelimit_forever":
            return f"/ratelimit-forever/{card_id}", size
        case "slow":
            return f"/slow/{slow_seconds:g}/{card_id}", size
        case "reset":
            return f"/reset/{card_id}", size
        case "redirect_301":
            return f"/redirect/301/{card_id}", size
        case "chain":
            return f"/chain/3/{card_id}", size
        case "loop":
            return f"/loop/{card_id}", size
        case "endless":
            return f"/endless/{card_id}", size
        case "image_jpeg":
            return f"/img/{w}x{h}.jpg?id={card_id}", size
        case "image_png":
            return f"/img/{w}x{h}.png?id={card_id}", size
        case "image_wrong_size":
            rw, rh = WRONG_REAL_SIZE
            return f"/img/{rw}x{rh}.jpg?id={card_id}", size
        case "html_as_image":
            return f"/html-as-image/{card_id}.jpg", size
        case "truncated_image":
            return f"/truncated/{w}x{h}.jpg?id={card_id}", size
        case "soft404" | "soft404title" | "gonehome" | "metahome" | "drift":
            return f"/{name}/{card_id}", size
        case "gonesection":
            return f"/news/gonesection/{card_id}", size
        case "real404site" | "spa" | "suffixed":
            return f"/{name}/{card_id}", size
        case "moved_deep":
            return f"/moved-deep/{card_id}", size
        case "amp_retired":
            return f"/amp-retired/{card_id}", size
    raise ValueError(f"no URL for behaviour {name!r}")
