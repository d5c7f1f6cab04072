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
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.sim.behaviours import (
    AMP_CACHE_BEHAVIOURS,
    BEHAVIOURS,
    OLD,
    WRONG_REAL_SIZE,
    apportion,
    check_mix,
    default_mix,
    parse_mix,
)
from crawler.sim.card_writer import Calendar, Links, card_links, card_text, draw_look
from crawler.sim.headlines import card_title
from crawler.sim.loopback import is_loopback_v4, loopback_ips
from crawler.sim.truth import CardTruth, GroundTruth


def _require_loopback(host: str) -> str:
    if not is_loopback_v4(host):
        raise ValueError(f"cards may only point at 127.0.0.0/8, not {host}")
    return host


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
    hosts = _check_settings(n_cards, hosts, old_share, timeout, slow_seconds, retries)
    weights = check_mix(mix if mix is not None else default_mix())
    rng = random.Random(seed)
    n_hosts = len(hosts)
    n_old = round(n_cards * old_share)
    plan = [OLD] * n_old + apportion(n_cards - n_old, weights)
    rng.shuffle(plan)
    offset = rng.randrange(n_hosts)  # which host card 0 lands on
    calendar = Calendar.of(since_year)

    out_dir.mkdir(parents=True, exist_ok=True)
    for k in range(n_hosts):
        (out_dir / f"site-{k:02d}" / "_news").mkdir(parents=True, exist_ok=True)

    cards: dict[str, CardTruth] = {}
    urls_by_host: dict[str, set[str]] = {h: set() for h in hosts}
    cache_hosts: set[str] = set()
    width = max(6, len(str(max(n_cards - 1, 0))))
    for i, name in enumerate(plan):
        k = (offset + i) % n_hosts
        card_id = f"s{seed}c{i:0{width}d}"
        size, p = draw_look(rng)
        links = card_links(name, card_id, hosts, k, p, port, size, slow_seconds, amp_cache_rules)
        if links.cdn and name in AMP_CACHE_BEHAVIOURS and amp_cache_rules:
            cache_hosts.add(urlsplit(links.cdn).hostname or "")
        published = calendar.draw(rng, old=name == OLD)
        text = card_text(rng, card_id, links, published, p)
        slug = card_title(card_id).lower().replace(" ", "-")
        filename = f"{published:%Y-%m-%d}-{slug}-{i:0{width}d}.md"
        rel = f"site-{k:02d}/_news/{filename}"
        (out_dir / rel).write_text(text, encoding="utf-8")
        cards[rel] = _truth(name, links, hosts, k, urls_by_host)

    settings = {
        **_run_settings(since_year, timeout, retries, max_page_bytes, slow_seconds),
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
    }
    truth = GroundTruth(
        run_settings=settings,
        cards=cards,
        unique_urls_by_host={h: len(u) for h, u in urls_by_host.items()},
    )
    truth.write(out_dir / "expected.json")
    return truth


def _check_settings(
    n_cards: int,
    hosts: list[str],
    old_share: float,
    timeout: float,
    slow_seconds: float,
    retries: int,
) -> list[str]:
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
    return hosts


def _truth(
    name: str, links: Links, hosts: list[str], k: int, urls_by_host: dict[str, set[str]]
) -> CardTruth:
    """What a checker should say of the card; a checked card's URLs are counted per host."""
    site = hosts[k]
    if name == OLD:
        return CardTruth(None, OLD, None, True, None, None, site)
    behaviour = BEHAVIOURS[name]
    n_hosts = len(hosts)
    cdn, img = hosts[(k + 1) % n_hosts], hosts[(k + 2) % n_hosts]
    urls_by_host[site].update((links.web, links.amp))
    if links.cdn and urlsplit(links.cdn).hostname == cdn:
        urls_by_host[cdn].add(links.cdn)
    urls_by_host[img].add(links.image)
    urls_by_host[urlsplit(links.logo).hostname or ""].add(links.logo)
    return CardTruth(
        behaviour.status, name, behaviour.kind, False, links.field, links.carrying(), site
    )


def _run_settings(
    since_year: int, timeout: float, retries: int, max_page_bytes: int, slow_seconds: float
) -> dict[str, Any]:
    """The run settings the expectations assume, and the behaviours' constants."""
    return {
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
        "wrong_image_real_size": list(WRONG_REAL_SIZE),
    }


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
        mix = parse_mix(args.mix) if args.mix is not None else None
    except ValueError as exc:
        parser.error(f"--mix: {exc}")
    amp_cache_rules = args.amp_cache_rules
    if amp_cache_rules is None:
        amp_cache_rules = args.mix is not None and args.mix.strip() == "rot"
    hosts = loopback_ips(args.hosts, args.first)
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
