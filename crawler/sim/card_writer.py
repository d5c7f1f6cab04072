"""One generated card file: its URLs (one of them carrying the card's behaviour), its
publication date, and its text; every random draw is made in a fixed order, so a seed always
writes the same corpus."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crawler.sim.amp_cache import amp_cache_url, wrong_amp_cache_url
from crawler.sim.behaviours import (
    AMP_CACHE_BEHAVIOURS,
    BEHAVIOURS,
    OLD,
    TARGET_FIELDS,
    behaviour_url,
)
from crawler.sim.headlines import HEADLINE_WORDS, card_title, headline_words

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
_GOOD_SIZES = ((600, 350), (1200, 630), (800, 450), (640, 360), (400, 300))

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


def draw_look(rng: random.Random) -> tuple[tuple[int, int], int]:
    """The card's image size and its provider (an index into the providers)."""
    size = _GOOD_SIZES[rng.randrange(len(_GOOD_SIZES))]
    return size, rng.randrange(len(_PROVIDERS))


def _quote(text: str) -> str:
    """Safe inside a YAML double-quoted scalar."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True, slots=True)
class Links:
    """One card's URLs; `field` names the one carrying its behaviour (None when healthy)."""

    web: str
    amp: str
    cdn: str | None
    image: str
    logo: str
    size: tuple[int, int]  # the image size the card declares
    field: str | None

    def carrying(self) -> str | None:
        by_field = {"webUrl": self.web, "images[0].url": self.image, "ampWebUrl": self.amp}
        return self.cdn if self.field == "cdnAmpWebUrl" else by_field.get(self.field or "")


@dataclass(frozen=True, slots=True)
class Calendar:
    """Publication dates: old cards in the four years before since_year, the others after it."""

    since: datetime
    new_span: int  # seconds
    old_start: datetime
    old_span: int

    @classmethod
    def of(cls, since_year: int) -> Calendar:
        since = datetime(since_year, 1, 1, tzinfo=UTC)
        old_start = datetime(since_year - 4, 1, 1, tzinfo=UTC)
        return cls(
            since,
            int((datetime(since_year + 4, 1, 1, tzinfo=UTC) - since).total_seconds()),
            old_start,
            int((since - timedelta(days=1) - old_start).total_seconds()),
        )

    def draw(self, rng: random.Random, old: bool) -> datetime:
        if old:
            return self.old_start + timedelta(seconds=rng.randrange(self.old_span))
        return self.since + timedelta(days=1, seconds=rng.randrange(self.new_span - 86_400))


def card_links(
    name: str,
    card_id: str,
    hosts: list[str],
    k: int,
    provider: int,
    port: int,
    size: tuple[int, int],
    slow_seconds: float,
    amp_cache_rules: bool,
) -> Links:
    """The card's URLs: its page on host k, its AMP cache copy on the next, its image on the one
    after; the link its behaviour names goes to that behaviour's path."""
    n_hosts = len(hosts)
    site, cdn, img = hosts[k], hosts[(k + 1) % n_hosts], hosts[(k + 2) % n_hosts]
    prefix = "/old" if name == OLD else ""
    paths = {
        "page": f"/ok/{card_id}",
        "amp": f"/amp/{card_id}",
        "image": f"/img/{size[0]}x{size[1]}.jpg?id={card_id}",
    }
    truth_field: str | None = None
    behaviour = BEHAVIOURS.get(name)
    if behaviour is not None and name != "healthy":
        truth_field = TARGET_FIELDS[behaviour.target]
        if behaviour.target != "cdn":
            paths[behaviour.target], size = behaviour_url(name, card_id, size, slow_seconds)
    base = f"http://{site}:{port}{prefix}"
    web, amp = base + paths["page"], base + paths["amp"]
    cdn_url: str | None = f"http://{cdn}:{port}{prefix}/c/s/{site}/amp/{card_id}"
    if amp_cache_rules:
        cdn_url = None
        if name in AMP_CACHE_BEHAVIOURS:
            ok = name == "amp_cache_ok"
            cdn_url = amp_cache_url(amp) if ok else wrong_amp_cache_url(amp, web, card_id)
    elif name == "amp_cache_mismatch":
        cdn_url = f"http://{cdn}:{port}{prefix}/c/s/{site}/ok/{card_id}"
    logo_host, logo_name = hosts[provider % n_hosts], _PROVIDERS[provider][2]
    return Links(
        web=web,
        amp=amp,
        cdn=cdn_url,
        image=f"http://{img}:{port}{prefix}{paths['image']}",
        logo=f"http://{logo_host}:{port}{prefix}/logo/{logo_name}.png",
        size=size,
        field=truth_field,
    )


def card_text(
    rng: random.Random, card_id: str, links: Links, published: datetime, provider: int
) -> str:
    # The headline is a function of the id (the simulated web must serve it back); these four
    # draws are kept so that a seed's other fields (dates, sizes, providers, topics) stay as
    # they were when the headline was drawn here.
    for vocabulary in HEADLINE_WORDS:
        rng.choice(vocabulary)
    adjective, noun, verb, noun2 = headline_words(card_id)
    title = card_title(card_id)
    excerpt = (
        f"A {adjective} {noun} {verb} the {noun2}, and what it means for "
        f"{rng.choice(_TOPICS)}. Card {card_id} of a simulated corpus."
    )
    topics = rng.sample(_TOPICS, rng.randint(1, 2))
    name, domain, _ = _PROVIDERS[provider]
    return _CARD.format(
        title=_quote(title),
        excerpt=_quote(excerpt),
        published=published.strftime("%Y-%m-%dT%H:%M:%SZ"),
        original=f'originalUrl: "{links.web}"\n' if rng.random() < 0.3 else "",
        web=links.web,
        amp=links.amp,
        cdn=f'cdnAmpWebUrl: "{links.cdn}"\n' if links.cdn else "",
        quality=rng.randint(60, 99),
        provider=name,
        domain=domain,
        logo=links.logo,
        topics="".join(f"  - {t}\n" for t in topics),
        image=links.image,
        width=links.size[0],
        height=links.size[1],
    )
