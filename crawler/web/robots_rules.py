"""One robots.txt read per RFC 9309: which of its rules apply to linkcheck, and what they say of a
URL (`RobotsRules`).

protego (a maintained RFC 9309 parser) does the matching: the longest rule wins, Allow wins a
tie, `*` and `$`, percent-encoding normalised on both sides, /robots.txt always allowed, and
Crawl-delay and Request-rate read. What we add, each where protego gives less:

- the group. protego applies a group whose user-agent it finds in ours at a word boundary (a
  group "link" would apply to "linkcheck"); the RFC matches the product token exactly,
  case-insensitively, else the "*" group. `our_rules` keeps the lines of the groups that apply,
  merged as the RFC asks, under one "User-agent: *", and protego reads only that text.
- the rule that decided, for the finding's detail: protego answers yes or no only, so each rule
  line is asked alone (once per line, when a URL is disallowed).
- `/` and `%2F` are one octet in a query (RFC 9309's table: `?baz=https://foo.bar` matches
  `?baz=https%3A%2F%2Ffoo.bar`); protego keeps them apart, so both sides are spelled with `/`.
- hostile bytes: a BOM, invalid UTF-8, NULs and a cut last line never raise (`decode`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import structlog
from protego import Protego

from crawler.config import PRODUCT_TOKEN

log = structlog.get_logger(__name__)

# protego's spellings of the field ("User-agent", "useragent", "User agent"), colon optional
_USER_AGENT = re.compile(r"user[-\s]*agent\s*(?::|\s)(.*)", re.IGNORECASE | re.DOTALL)
# lines outside any group: they neither end a group's user-agent lines nor belong to it
_SITE_WIDE = re.compile(r"(sitemaps?|site-map|host)\s*(?::|\s)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_-]*")  # the RFC's product-token characters
_QUERY_SLASH = re.compile(r"%2F", re.IGNORECASE)
_AGENT = PRODUCT_TOKEN.lower()


def decode(body: bytes, *, cut: bool) -> str:
    """A robots.txt body as text, whatever its bytes: a UTF-8 BOM dropped, anything that is not
    UTF-8 replaced, NULs removed; when the body was `cut` at the size limit, its last, partial
    line dropped (half a rule could say more than the whole one)."""
    text = body.decode("utf-8-sig", errors="replace").replace("\x00", "")
    if cut:
        text = text[: max(text.rfind("\n"), 0)]
    return text


def _agent_token(value: str) -> str:
    """The product token a user-agent line names: "*", or its leading identifier, lower case
    ("LinkCheck/1.0" names "linkcheck", as in Google's reference parser)."""
    words = value.split(maxsplit=1)
    if not words:
        return ""
    if words[0] == "*":
        return "*"
    found = _IDENTIFIER.match(words[0])
    return found[0].lower() if found else ""


def _query_slashes(text: str) -> str:
    """`%2F` after the first "?" spelled `/` (see the module's docstring)."""
    path, mark, query = text.partition("?")
    return path + mark + _QUERY_SLASH.sub("/", query) if mark else text


def our_rules(text: str) -> list[str]:
    """The rule lines (comments and blanks dropped) of the groups that apply to linkcheck: those
    naming its product token, or else those naming "*"; several are merged, in order."""
    groups: list[tuple[set[str], list[str]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        agent = _USER_AGENT.fullmatch(line)
        if agent is not None:
            if not groups or groups[-1][1]:  # a user-agent line after rules starts a group
                groups.append((set(), []))
            groups[-1][0].add(_agent_token(agent[1]))
        elif groups and not _SITE_WIDE.match(line):
            groups[-1][1].append(line)
    for token in (_AGENT, "*"):
        chosen = [line for agents, lines in groups if token in agents for line in lines]
        if chosen or any(token in agents for agents, _ in groups):
            return chosen
    return []


@dataclass
class RobotsRules:
    """What one robots.txt says to linkcheck. Built from the lines `our_rules` kept (the text
    the store caches); `allows` and `rule_for` never raise."""

    lines: list[str]
    _parser: Protego | None = field(init=False, repr=False)
    _alone: dict[str, Protego] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._parser = _parse(self.lines)

    @classmethod
    def of(cls, text: str) -> RobotsRules:
        return cls(our_rules(text))

    @property
    def text(self) -> str:
        """The rules that apply to linkcheck, as robots.txt text (what the store keeps)."""
        return "\n".join(self.lines)

    def disallowing_rule(self, url: str) -> str | None:
        """The rule that disallows `url` ("Disallow: /private/"), or None when it is allowed."""
        if self._parser is None or self._parser.can_fetch(_query_slashes(url), _AGENT):
            return None
        candidates = [line for line in self.lines if self._disallowed_by(line, url)]
        # the longest pattern is the one that decided (RFC 9309: the most octets)
        return max(candidates, key=_pattern_length, default="Disallow (a rule of this file)")

    def _disallowed_by(self, line: str, url: str) -> bool:
        alone = self._alone.get(line)
        if alone is None:
            alone = self._alone[line] = _parse([line]) or Protego()
        return not alone.can_fetch(_query_slashes(url), _AGENT)

    def interval_s(self) -> float | None:
        """Seconds between requests the file asks for: Crawl-delay or Request-rate, the longer;
        None when it asks nothing."""
        if self._parser is None:
            return None
        asked = []
        delay = self._parser.crawl_delay(_AGENT)
        if delay is not None and delay > 0:
            asked.append(delay)
        rate = self._parser.request_rate(_AGENT)
        if rate is not None:
            asked.append(rate.seconds / rate.requests)
        return max(asked, default=None)


def _parse(lines: list[str]) -> Protego | None:
    if not lines:
        return None
    try:
        return Protego.parse("User-agent: *\n" + "\n".join(_query_slashes(x) for x in lines))
    except Exception:  # protego should read any text: if not, the file is taken as no rules
        log.exception("robots_txt_unreadable", lines=len(lines))
        return None


def _pattern_length(line: str) -> int:
    field_name, colon, value = line.partition(":")
    return len(value.strip()) if colon else len(field_name)
