"""Generate N news cards whose links point into the simulated web, with their ground truth.

Each card gets exactly one behaviour (see BEHAVIOURS), applied to one of its links: the webUrl
for page behaviours, images[0].url for image behaviours, ampWebUrl or cdnAmpWebUrl for the AMP
ones; its other links are healthy. A card's title is a pure function of its id (`card_title`),
so the stateless simulated web serves every healthy page with the card's own <title>. URLs are
`http://127.0.0.X:PORT/...`, unique per card (ids carry the seed and the card number), except
the provider logos, a handful shared by every card. Cards published before `since_year` (about
`old_share` of them) are "old": every one of their URLs starts with /old/, so a test can assert
the server never saw them.

Writes `<out>/<site-NN>/_news/<date>-<slug>-<i>.md` and `<out>/expected.json`.

    python -m crawler.sim.gencards --cards 10000 --hosts 40 --first 10 --port 8800 \
        --out benchmarks/out/cards --seed 1

The rot behaviours (soft 404s, redirects home, drifted titles, retired AMP pages, wrong AMP-cache
URLs) and their healthy look-alikes are not in `default_mix()`; `rot_mix()` (`--mix rot`) has
them. With `amp_cache_rules` (`--amp-cache-rules`, on by default with `--mix rot`) cards carry no
cdnAmpWebUrl except the `amp_cache_ok` / `amp_cache_mismatch` cards, whose cdnAmpWebUrl is a
real-form Google AMP Cache URL, `https://127-0-0-X.cdn.ampproject.org/c/127.0.0.X/amp/<id>` (or a
wrong one). Those host names must be pinned to a simweb TLS listener (`--resolve`, see
`run_settings["amp_cache_hosts"]` and benchmarks/rot_accuracy.py); without the option every card
keeps today's cdnAmpWebUrl inside the simulated web, which no cache rule accepts.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

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


def default_mix() -> dict[str, float]:
    """70 % healthy, the rest spread evenly over every other behaviour but the rot ones."""
    rot = {*ROT_BEHAVIOURS, *LOOKALIKE_BEHAVIOURS}
    others = [name for name in BEHAVIOURS if name != "healthy" and name not in rot]
    share = (1.0 - DEFAULT_HEALTHY_SHARE) / len(others)
    return {"healthy": DEFAULT_HEALTHY_SHARE, **dict.fromkeys(others, share)}


def rot_mix() -> dict[str, float]:
    """60 % healthy, the rest spread evenly over the rot behaviours and their look-alikes."""
    others = [*ROT_BEHAVIOURS, *LOOKALIKE_BEHAVIOURS]
    share = (1.0 - ROT_HEALTHY_SHARE) / len(others)
    return {"healthy": ROT_HEALTHY_SHARE, **dict.fromkeys(others, share)}


@dataclass(frozen=True, slots=True)
class CardTruth:
    status: str | None  # None for filtered (old) cards: they are not in the report
    behaviour: str
    kind: str | None
    filtered: bool
    field: str | None  # the card field whose URL carries the behaviour ("webUrl", "images[0].url")
    url: str | None
    host: str  # the host of the card's webUrl


@dataclass(slots=True)
class GroundTruth:
    run_settings: dict[str, Any]
    cards: dict[str, CardTruth]  # keyed by posix path relative to the cards folder
    unique_urls_by_host: dict[str, int] = field(default_factory=dict)  # checked cards only

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "by_behaviour": dict(sorted(Counter(c.behaviour for c in self.cards.values()).items())),
            "by_status": dict(
                sorted(Counter(c.status or "filtered" for c in self.cards.values()).items())
            ),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "run_settings": self.run_settings,
            "counts": self.counts(),
            "unique_urls_by_host": self.unique_urls_by_host,
            "cards": {path: asdict(truth) for path, truth in self.cards.items()},
        }

    def write(self, path: Path) -> None:
        """Pretty-printed, but one line per card so that 100,000 cards stay small and greppable."""
        data = self.to_json()
        cards = data.pop("cards")
        head = json.dumps(data, indent=1)[:-2]  # drop the closing "\n}"
        lines = [
            f" {json.dumps(p)}: {json.dumps(c, separators=(',', ':'))}" for p, c in cards.items()
        ]
        body = ",\n".join(lines)
        path.write_text(f'{head},\n "cards": {{\n{body}\n }}\n}}\n', encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> GroundTruth:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            run_settings=dict(data["run_settings"]),
            cards={p: CardTruth(**c) for p, c in data["cards"].items()},
            unique_urls_by_host={k: int(v) for k, v in data.get("unique_urls_by_host", {}).items()},
        )


# ---------------------------------------------------------------------------------------------
# Vocabulary

_ADJECTIVES = (
    "new", "quiet", "bold", "open", "rapid", "hidden", "global", "smart", "secure", "hybrid",
    "modern", "local", "early", "public", "remote", "unified", "visual", "green", "agile", "deep",
)  # fmt: skip
_NOUNS = (
    "cloud", "model", "network", "platform", "sensor", "robot", "portal", "database", "browser",
    "chip", "startup", "camera", "assistant", "pipeline", "dashboard", "engine", "runtime",
    "service", "toolkit", "framework", "satellite", "battery", "vaccine", "market",
)  # fmt: skip
_VERBS = (
    "reshapes", "powers", "tracks", "boosts", "replaces", "secures", "connects", "explains",
    "speeds up", "rethinks", "unlocks", "simplifies", "challenges", "joins", "meets",
)  # fmt: skip
_TOPICS = (
    "AI", "Azure", "Power Apps", "Coronavirus", "Security", "Cloud", "Diablo 4", "Robotics",
)  # fmt: skip
_PROVIDERS = (  # name, domain, logo file name
    ("Simulated Times", "simtimes.example", "simtimes"),
    ("Loopback Post", "loopback-post.example", "loopback-post"),
    ("The Daily Packet", "dailypacket.example", "dailypacket"),
    ("Localhost Herald", "localhost-herald.example", "localhost-herald"),
    ("Port 80 News", "port80.example", "port80"),
    ("Ephemeral Wire", "ephemeral-wire.example", "ephemeral-wire"),
)
# Another story's headline, for drifted pages: words that never occur in card titles (not even
# "the"), so the two titles share no word.
_DRIFT_SUBJECTS = (
    "City council", "Harbour ferry", "Village bakery", "Football club", "Weather office",
    "Town library", "Jazz festival", "Museum curator", "School board", "Marathon organisers",
    "Zoo keepers", "Chess federation",
)  # fmt: skip
_DRIFT_VERBS = (
    "announces", "postpones", "celebrates", "cancels", "reopens", "expands", "reviews",
    "welcomes", "moves", "extends",
)  # fmt: skip
_DRIFT_OBJECTS = (
    "summer timetable", "winter opening hours", "annual parade", "anniversary concert",
    "charity auction", "harvest fair", "cycling route", "renovation plans", "ticket prices",
    "volunteer programme",
)  # fmt: skip
_GOOD_SIZES = ((600, 350), (1200, 630), (800, 450), (640, 360), (400, 300))
_WRONG_REAL_SIZE = (300, 200)  # served for image_wrong_size; the declared size is a good one

_CARD = """\
---
category: news
title: "{title}"
excerpt: "{excerpt}"
publishedDateTime: {published}
{original}webUrl: "{web}"
ampWebUrl: "{amp}"
{cdn}type: article
quality: {quality}
heat: {quality}
published: true

provider:
  name: {provider}
  domain: {domain}
  images:
    - url: "{logo}"
      width: 50
      height: 50

topics:
{topics}
images:
  - url: "{image}"
    width: {width}
    height: {height}
    title: "{title}"
---
"""


def _digest(purpose: str, card_id: str) -> bytes:
    return hashlib.sha256(f"{purpose}:{card_id}".encode()).digest()


def headline_words(card_id: str) -> tuple[str, str, str, str]:
    """(adjective, noun, verb, noun) of the card's headline, a pure function of its id."""
    d = _digest("title", card_id)
    return (
        _ADJECTIVES[d[0] % len(_ADJECTIVES)],
        _NOUNS[d[1] % len(_NOUNS)],
        _VERBS[d[2] % len(_VERBS)],
        _NOUNS[d[3] % len(_NOUNS)],
    )


def card_title(card_id: str) -> str:
    """The card's title, e.g. "Quiet robot powers the chip". The simulated web serves it as the
    <title> of the card's pages (it knows only the id in the path, so it must be computable)."""
    adjective, noun, verb, noun2 = headline_words(card_id)
    return f"{adjective.capitalize()} {noun} {verb} the {noun2}"


def drift_title(card_id: str) -> str:
    """Another story's headline, for a page whose title drifted: no word in common with
    card_title(card_id), e.g. "Harbour ferry postpones charity auction"."""
    d = _digest("drift", card_id)
    subject = _DRIFT_SUBJECTS[d[0] % len(_DRIFT_SUBJECTS)]
    verb = _DRIFT_VERBS[d[1] % len(_DRIFT_VERBS)]
    thing = _DRIFT_OBJECTS[d[2] % len(_DRIFT_OBJECTS)]
    return f"{subject} {verb} {thing}"


# ---------------------------------------------------------------------------------------------
# AMP cache URLs (an independent spelling of the rules, for the hosts the generator uses: IPv4
# literals and ASCII names; crawler.judge.amp has the full rules and is what gets tested)

AMP_CACHE_DOMAIN: Final = "cdn.ampproject.org"
_AMP_MISMATCHES: Final = ("canonical", "secure", "legacy")


def amp_cache_label(host: str) -> str:
    """The cache subdomain of an ASCII host: `-` doubled, then `.` as `-` (127.0.0.20 ->
    127-0-0-20)."""
    return host.lower().replace("-", "--").replace(".", "-")


def amp_cache_url(amp_url: str) -> str:
    """`https://<label>.cdn.ampproject.org/c[/s]/<host><path>[?query]` (the port is dropped)."""
    parts = urlsplit(amp_url)
    host = (parts.hostname or "").lower()
    secure = "/s" if parts.scheme == "https" else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"https://{amp_cache_label(host)}.{AMP_CACHE_DOMAIN}/c{secure}/{host}{parts.path}{query}"


def wrong_amp_cache_url(amp_url: str, web_url: str, card_id: str) -> str:
    """A cache URL that is not the one of amp_url, in one of three real-world ways (chosen by the
    id): the cache URL of the canonical page, `/c/s/` for an http AMP page, or the old form on
    the bare cache domain (no per-host subdomain)."""
    variant = _AMP_MISMATCHES[_digest("cdn", card_id)[0] % len(_AMP_MISMATCHES)]
    correct = amp_cache_url(amp_url)
    if variant == "canonical":
        return amp_cache_url(web_url)
    if variant == "secure" and urlsplit(amp_url).scheme == "http":
        return correct.replace("/c/", "/c/s/", 1)
    parts = urlsplit(correct)
    return f"https://{AMP_CACHE_DOMAIN}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _apportion(n: int, mix: Mapping[str, float]) -> list[str]:
    """Exactly n behaviour names in the proportions of mix (largest remainder), unshuffled."""
    total = sum(mix.values())
    quotas = {name: n * weight / total for name, weight in mix.items()}
    counts = {name: int(q) for name, q in quotas.items()}
    short = n - sum(counts.values())
    for name in sorted(quotas, key=lambda k: (counts[k] - quotas[k], k))[:short]:
        counts[name] += 1
    return [name for name in mix for _ in range(counts[name])]


def _check_mix(mix: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(mix) - set(BEHAVIOURS))
    if unknown:
        raise ValueError(f"unknown behaviours in mix: {', '.join(unknown)}")
    if any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError("mix weights must be non-negative with a positive sum")
    return {k: float(v) for k, v in mix.items() if v > 0}


def _require_loopback(host: str) -> str:
    address = ipaddress.ip_address(host)
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"cards may only point at 127.0.0.0/8, not {host}")
    return host


def _behaviour_url(
    name: str, card_id: str, size: tuple[int, int], slow_seconds: float
) -> tuple[str, tuple[int, int]]:
    """The path of the link carrying `name`, and (for images) the size the card declares."""
    w, h = size
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
            rw, rh = _WRONG_REAL_SIZE
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


def _quote(text: str) -> str:
    """Safe inside a YAML double-quoted scalar."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def generate(
    out_dir: Path,
    n_cards: int,
    *,
    hosts: list[str],
    port: int,
    seed: int,
    old_share: float = 0.1,
    since_year: int = 2020,
    mix: dict[str, float] | None = None,
    timeout: float = 2.0,
    slow_seconds: float = 5.0,
    retries: int = 2,
    max_page_bytes: int = 1_000_000,
    amp_cache_rules: bool = False,
) -> GroundTruth:
    """Write n_cards cards under out_dir (created if needed) and out_dir/expected.json.

    `timeout`, `retries` and `max_page_bytes` are the run settings the expectations assume
    (recorded in run_settings); `slow_seconds` must exceed `timeout`.

    `amp_cache_rules`: cards have no cdnAmpWebUrl, except `amp_cache_ok` (the real cache URL of
    ampWebUrl) and `amp_cache_mismatch` (a wrong one) cards; their hosts, under
    cdn.ampproject.org, are listed in run_settings["amp_cache_hosts"] and must be pinned to a
    simweb TLS listener on port 443. Without it every card keeps a cdnAmpWebUrl inside the
    simulated web, as before (which no cache rule accepts), and an `amp_cache_mismatch` card's
    points at the canonical page's path instead of the AMP page's.
    """
    if n_cards < 0:
        raise ValueError("n_cards cannot be negative")
    if not hosts:
        raise ValueError("need at least one host")
    hosts = [_require_loopback(h) for h in hosts]
    if not 0.0 <= old_share <= 1.0:
        raise ValueError("old_share must be between 0 and 1")
    if slow_seconds <= timeout:
        raise ValueError("slow_seconds must be longer than timeout")
    if retries < 1:
        raise ValueError("flaky503 and ratelimit expect retries >= 1")
    weights = _check_mix(mix if mix is not None else default_mix())

    rng = random.Random(seed)
    n_hosts = len(hosts)
    n_old = round(n_cards * old_share)
    plan = [OLD] * n_old + _apportion(n_cards - n_old, weights)
    rng.shuffle(plan)
    offset = rng.randrange(n_hosts)  # which host card 0 lands on

    since = datetime(since_year, 1, 1, tzinfo=UTC)
    new_span = int((datetime(since_year + 4, 1, 1, tzinfo=UTC) - since).total_seconds())
    old_start = datetime(since_year - 4, 1, 1, tzinfo=UTC)
    old_span = int((since - timedelta(days=1) - old_start).total_seconds())

    out_dir.mkdir(parents=True, exist_ok=True)
    site_dirs = [out_dir / f"site-{k:02d}" / "_news" for k in range(n_hosts)]
    for site_dir in site_dirs:
        site_dir.mkdir(parents=True, exist_ok=True)

    cards: dict[str, CardTruth] = {}
    urls_by_host: dict[str, set[str]] = {h: set() for h in hosts}
    cache_hosts: set[str] = set()
    width = max(6, len(str(max(n_cards - 1, 0))))

    for i, name in enumerate(plan):
        old = name == OLD
        k = (offset + i) % n_hosts
        site, cdn, img = hosts[k], hosts[(k + 1) % n_hosts], hosts[(k + 2) % n_hosts]
        prefix = "/old" if old else ""
        card_id = f"s{seed}c{i:0{width}d}"
        size = _GOOD_SIZES[rng.randrange(len(_GOOD_SIZES))]
        p = rng.randrange(len(_PROVIDERS))
        provider, domain, logo_name = _PROVIDERS[p]
        logo_host = hosts[p % n_hosts]

        web_path = f"/ok/{card_id}"
        amp_path = f"/amp/{card_id}"
        image_path = f"/img/{size[0]}x{size[1]}.jpg?id={card_id}"
        truth_field: str | None = None
        behaviour = BEHAVIOURS.get(name)
        if behaviour is not None and name != "healthy":
            truth_field = TARGET_FIELDS[behaviour.target]
            if behaviour.target != "cdn":
                path, size = _behaviour_url(name, card_id, size, slow_seconds)
                if behaviour.target == "page":
                    web_path = path
                elif behaviour.target == "amp":
                    amp_path = path
                else:
                    image_path = path

        base = f"http://{site}:{port}{prefix}"
        web = base + web_path
        amp = base + amp_path
        cdn_url: str | None = f"http://{cdn}:{port}{prefix}/c/s/{site}/amp/{card_id}"
        if amp_cache_rules:
            cdn_url = None
            if name in AMP_CACHE_BEHAVIOURS:
                ok = name == "amp_cache_ok"
                cdn_url = amp_cache_url(amp) if ok else wrong_amp_cache_url(amp, web, card_id)
                cache_hosts.add(urlsplit(cdn_url).hostname or "")
        elif name == "amp_cache_mismatch":
            cdn_url = f"http://{cdn}:{port}{prefix}/c/s/{site}/ok/{card_id}"
        image = f"http://{img}:{port}{prefix}{image_path}"
        logo = f"http://{logo_host}:{port}{prefix}/logo/{logo_name}.png"

        if old:
            published = old_start + timedelta(seconds=rng.randrange(old_span))
        else:
            published = since + timedelta(days=1, seconds=rng.randrange(new_span - 86_400))
        # The headline is a function of the id (the simulated web must serve it back); these four
        # draws are kept so that a seed's other fields (dates, sizes, providers, topics) stay as
        # they were when the headline was drawn here.
        for vocabulary in (_ADJECTIVES, _NOUNS, _VERBS, _NOUNS):
            rng.choice(vocabulary)
        adjective, noun, verb, noun2 = headline_words(card_id)
        title = card_title(card_id)
        excerpt = (
            f"A {adjective} {noun} {verb} the {noun2}, and what it means for "
            f"{rng.choice(_TOPICS)}. Card {card_id} of a simulated corpus."
        )
        topics = rng.sample(_TOPICS, rng.randint(1, 2))
        slug = title.lower().replace(" ", "-")

        text = _CARD.format(
            title=_quote(title),
            excerpt=_quote(excerpt),
            published=published.strftime("%Y-%m-%dT%H:%M:%SZ"),
            original=f'originalUrl: "{web}"\n' if rng.random() < 0.3 else "",
            web=web,
            amp=amp,
            cdn=f'cdnAmpWebUrl: "{cdn_url}"\n' if cdn_url else "",
            quality=rng.randint(60, 99),
            provider=provider,
            domain=domain,
            logo=logo,
            topics="".join(f"  - {t}\n" for t in topics),
            image=image,
            width=size[0],
            height=size[1],
        )
        filename = f"{published:%Y-%m-%d}-{slug}-{i:0{width}d}.md"
        (site_dirs[k] / filename).write_text(text, encoding="utf-8")
        rel = f"site-{k:02d}/_news/{filename}"

        if old:
            cards[rel] = CardTruth(None, OLD, None, True, None, None, site)
        else:
            assert behaviour is not None
            urls_by_host[site].update((web, amp))
            if cdn_url and urlsplit(cdn_url).hostname == cdn:
                urls_by_host[cdn].add(cdn_url)
            urls_by_host[img].add(image)
            urls_by_host[logo_host].add(logo)
            carried = {
                "webUrl": web,
                "images[0].url": image,
                "ampWebUrl": amp,
                "cdnAmpWebUrl": cdn_url,
            }.get(truth_field or "")
            cards[rel] = CardTruth(
                behaviour.status, name, behaviour.kind, False, truth_field, carried, site
            )

    truth = GroundTruth(
        run_settings={
            "since": str(since_year),
            "timeout": timeout,
            "retries": retries,
            "max_page_bytes": max_page_bytes,
            "allow_private": True,  # every URL is on 127.0.0.0/8
            "slow_seconds": slow_seconds,
            "retry_after_seconds": 1,
            "flaky_failures": 1,
            "ratelimit_failures": 1,
            "chain_length": 3,
            "wrong_image_real_size": list(_WRONG_REAL_SIZE),
            "hosts": hosts,
            "port": port,
            "seed": seed,
            "n_cards": n_cards,
            "old_share": old_share,
            "mix": weights,
            # only with amp_cache_rules, so that other corpora's expected.json stay as they were
            **(
                {"amp_cache_rules": True, "amp_cache_hosts": sorted(cache_hosts)}
                if amp_cache_rules
                else {}
            ),
        },
        cards=cards,
        unique_urls_by_host={h: len(u) for h, u in urls_by_host.items()},
    )
    truth.write(out_dir / "expected.json")
    return truth


NAMED_MIXES: Final = {"default": default_mix, "rot": rot_mix}


def _parse_mix(text: str) -> dict[str, float]:
    """`healthy=0.5,http_404=0.1,...`, a JSON object, or a named mix: `default`, `rot`."""
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.sim.gencards",
        description="Generate cards pointing into the simulated web, plus expected.json.",
    )
    parser.add_argument("--cards", type=int, required=True, help="number of cards")
    parser.add_argument("--hosts", type=int, default=40, help="number of simweb hosts")
    parser.add_argument("--first", type=int, default=10, help="last octet of the first host")
    parser.add_argument("--port", type=int, default=8800, help="simweb port")
    parser.add_argument("--out", type=Path, required=True, help="cards folder to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--old-share", type=float, default=0.1)
    parser.add_argument("--since-year", type=int, default=2020)
    parser.add_argument("--timeout", type=float, default=2.0, help="the run's fetch timeout")
    parser.add_argument("--slow-seconds", type=float, default=5.0)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument(
        "--mix",
        default=None,
        help="e.g. healthy=0.7,http_404=0.3, JSON, or a named mix: default, rot",
    )
    parser.add_argument(
        "--amp-cache-rules",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="real-form cdnAmpWebUrl on the AMP-cache cards only, none on the others"
        " (default: on with --mix rot, off otherwise)",
    )
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.first < 1 or args.first + args.hosts - 1 > 254:
        parser.error("--first/--hosts must stay within 127.0.0.1..127.0.0.254")
    try:
        mix = _parse_mix(args.mix) if args.mix is not None else None
    except ValueError as exc:
        parser.error(f"--mix: {exc}")
    amp_cache_rules = args.amp_cache_rules
    if amp_cache_rules is None:
        amp_cache_rules = args.mix is not None and args.mix.strip() == "rot"
    hosts = [f"127.0.0.{args.first + i}" for i in range(args.hosts)]
    started = time.perf_counter()
    try:
        truth = generate(
            args.out,
            args.cards,
            hosts=hosts,
            port=args.port,
            seed=args.seed,
            old_share=args.old_share,
            since_year=args.since_year,
            mix=mix,
            timeout=args.timeout,
            slow_seconds=args.slow_seconds,
            retries=args.retries,
            amp_cache_rules=amp_cache_rules,
        )
    except ValueError as exc:
        print(f"gencards: {exc}", file=sys.stderr)
        return 2
    summary = {
        "out": str(args.out),
        "cards": len(truth.cards),
        "seconds": round(time.perf_counter() - started, 2),
        **truth.counts(),
    }
    if amp_cache_rules:  # the names to pin (--resolve NAME:IP) to a simweb TLS listener on 443
        summary["amp_cache_hosts"] = truth.run_settings["amp_cache_hosts"]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
