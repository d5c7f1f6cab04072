"""Which partition a URL belongs to: every URL of one registrable domain goes to one partition,
so that one attempt, in one worker, holds all of a site's politeness (rate, in-flight cap,
robots.txt) and no two workers ever ask the same host at once.

The registrable domain, without a public-suffix list: the last two labels of the host name, or
the last three when the last two are a known second-level suffix (`co.uk`, `com.au`, ...); an IP
address (v4 or v6) is its own domain. A suffix missing from `SECOND_LEVEL` only puts unrelated
sites of that suffix in one partition: slower, never impolite.
"""

from __future__ import annotations

import hashlib
import ipaddress

from crawler.web.urls import host_key

# Second-level public suffixes common among news sites: under them a site is three labels.
SECOND_LEVEL = frozenset(
    {
        *(f"{sld}.uk" for sld in ("co", "org", "ac", "gov", "ltd", "me", "net", "plc", "sch")),
        *(f"{sld}.au" for sld in ("com", "net", "org", "edu", "gov", "asn", "id")),
        *(f"{sld}.nz" for sld in ("co", "net", "org", "govt", "ac")),
        *(f"{sld}.jp" for sld in ("co", "ne", "or", "ac", "go")),
        *(f"{sld}.za" for sld in ("co", "org", "gov", "net")),
        *(f"{sld}.in" for sld in ("co", "net", "org", "gov", "ac")),
        *(f"{sld}.br" for sld in ("com", "net", "org", "gov")),
        *(f"{sld}.cn" for sld in ("com", "net", "org", "gov")),
        *(f"{sld}.mx" for sld in ("com", "org", "gob")),
        *(f"{sld}.ar" for sld in ("com", "org", "gob")),
        *(f"{sld}.tr" for sld in ("com", "org", "gov")),
        *(f"{sld}.kr" for sld in ("co", "or", "go")),
        *(f"{sld}.il" for sld in ("co", "org", "gov")),
        "com.sg",
        "com.hk",
        "com.tw",
        "co.id",
        "com.my",
        "com.ph",
        "com.ua",
    }
)


def registrable_domain(host: str) -> str:
    """The site a host belongs to (see the module's rule): `www.bbc.co.uk` -> `bbc.co.uk`."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        labels = host.split(".")
        size = 3 if ".".join(labels[-2:]) in SECOND_LEVEL else 2
        return ".".join(labels[-size:])
    return host


def partition_key(url: str) -> str:
    """The partition key of a URL: its registrable domain (the one place it is made)."""
    try:
        return registrable_domain(host_key(url))
    except ValueError:  # a URL urllib cannot split fails in one partition, like any other
        return ""


def partition_of(url: str, partitions: int) -> int:
    """The URL's partition, 0..partitions-1: the same on every machine (a stable hash, not
    Python's salted one)."""
    digest = hashlib.blake2b(partition_key(url).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions
