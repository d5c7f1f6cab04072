"""Which partition a URL belongs to: every URL of one registrable domain goes to one partition,
so that one attempt, in one worker, holds all of a site's politeness (rate, in-flight cap,
robots.txt) and no two workers ever ask the same host at once.

The registrable domain (eTLD+1) comes from the Public Suffix List as `publicsuffixlist` bundles
it (no download at run time): `www.bbc.co.uk` -> `bbc.co.uk`, `a.github.io` -> `a.github.io`.
Unicode and punycode spellings of one host are one domain; an IP address (v4 or v6), a public
suffix itself and a bare name such as `localhost` are their own.
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import cache

from publicsuffixlist import PublicSuffixList

from crawler.web.urls import comparable_host, host_key


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # parsed once per process, when the first URL is partitioned


def registrable_domain(host: str) -> str:
    """The site a host belongs to (see the module's rule), in ASCII."""
    host = comparable_host(host).rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return _suffixes().privatesuffix(host) or host
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
