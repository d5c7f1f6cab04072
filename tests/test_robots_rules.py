"""robots.txt read per RFC 9309 (crawler.web.robots_rules): the RFC's own examples, the group
that applies to linkcheck (the gap in protego it closes), the rule named in a finding, the
interval asked for, and bodies that are hostile."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protego import Protego

from crawler.web.robots_rules import RobotsRules, decode, our_rules


def rule(text: str, path: str) -> str | None:
    """The rule of robots.txt `text` that disallows `path` for linkcheck; None: allowed."""
    return RobotsRules.of(text).disallowing_rule("http://site.test" + path)


def allowed(text: str, path: str) -> bool:
    return rule(text, path) is None


# -- the group ------------------------------------------------------------------------------------

RFC_EXAMPLE = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: linkcheck
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot
"""


def test_the_rfc_example_with_linkcheck_as_its_foobot() -> None:
    """RFC 9309 section 5.1, our product token in foobot's place: our group, not "*"."""
    assert not allowed(RFC_EXAMPLE, "/")
    assert not allowed(RFC_EXAMPLE, "/publications/")  # "*" allows it; our group does not
    assert allowed(RFC_EXAMPLE, "/example/page.html")
    assert allowed(RFC_EXAMPLE, "/example/allowed.gif")
    assert rule(RFC_EXAMPLE, "/example/other.gif") == "Disallow:/"


def test_without_a_group_of_its_own_linkcheck_takes_the_star_group() -> None:
    text = RFC_EXAMPLE.replace("User-Agent: linkcheck", "User-Agent: foobot")
    assert allowed(text, "/publications/a")
    assert rule(text, "/example/x") == "Disallow: /example/"
    assert rule(text, "/images/a.gif") == "Disallow: *.gif$"
    assert allowed(text, "/images/a.gifs")


def test_the_product_token_matches_exactly_and_in_any_case() -> None:
    """The gap in protego this module closes: a group "link" applies to "linkcheck" there (its
    user-agent found at a word boundary); RFC 9309 matches the product token exactly."""
    prefix = "User-agent: link\nDisallow: /\n"
    assert not Protego.parse(prefix).can_fetch("http://site.test/a", "linkcheck")  # the gap
    assert allowed(prefix, "/a")
    for spelled in ("LinkCheck", "LINKCHECK", "linkcheck", "LinkCheck/2.0 (+https://x.test)"):
        assert not allowed(f"User-agent: {spelled}\nDisallow: /\n", "/a"), spelled
    for other in ("linkchecker", "link*", "my-linkcheck", "check"):
        assert allowed(f"User-agent: {other}\nDisallow: /\n", "/a"), other
    both = "User-agent: link\nDisallow: /a\n\nUser-agent: *\nDisallow: /b\n"
    assert allowed(both, "/a") and not allowed(both, "/b")  # "link" is no match: "*" applies


def test_groups_for_linkcheck_are_merged() -> None:
    """RFC 9309 section 2.2.1: two groups for one product token are one."""
    text = (
        "user-agent: LinkCheck\ndisallow: /foo\ndisallow: /bar\n\n"
        "user-agent: linkcheck\ndisallow: /baz\n"
    )
    found = [allowed(text, p) for p in ("/foo", "/bar", "/baz", "/qux")]
    assert found == [False, False, False, True]


def test_a_user_agent_line_after_rules_starts_a_new_group() -> None:
    text = "User-agent: linkcheck\nDisallow: /a\nUser-agent: other\nDisallow: /b\n"
    assert not allowed(text, "/a") and allowed(text, "/b")
    shared = "User-agent: other\nUser-agent: linkcheck\nDisallow: /a\n"  # one group, two agents
    assert not allowed(shared, "/a")
    sitemap = (
        "User-agent: other\nSitemap: https://x.test/s.xml\nUser-agent: linkcheck\nDisallow: /a\n"
    )
    assert not allowed(sitemap, "/a")  # a Sitemap line belongs to no group: it splits none


def test_no_group_that_applies_allows_everything() -> None:
    assert allowed("", "/a")
    assert allowed("Disallow: /\n", "/a")  # a rule outside any group
    assert allowed("User-agent: otherbot\nDisallow: /\n", "/a")
    assert allowed("User-agent: linkcheck\n\nUser-agent: *\nDisallow: /\n", "/a") is False
    empty_own = "User-agent: linkcheck\nDisallow:\n\nUser-agent: *\nDisallow: /\n"
    assert allowed(empty_own, "/a")  # our group says nothing is disallowed: "*" is not asked


# -- the rules ------------------------------------------------------------------------------------


def test_the_longest_match_wins() -> None:
    """RFC 9309 section 5.2."""
    text = "User-Agent: linkcheck\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
    assert allowed(text, "/example/page/")
    assert allowed(text, "/example/page/other.gif")
    assert rule(text, "/example/page/disallowed.gif") == "Disallow: /example/page/disallowed.gif"
    broad = "User-agent: *\nAllow: /\nDisallow: /cgi-bin\n"
    assert allowed(broad, "/index.html") and not allowed(broad, "/cgi-bin/x")


def test_allow_wins_a_tie() -> None:
    assert allowed("User-agent: *\nDisallow: /page\nAllow: /page\n", "/page")
    assert allowed("User-agent: *\nAllow: /page\nDisallow: /page\n", "/page")


def test_the_special_characters() -> None:
    """RFC 9309 section 2.2.3: `$` ends the pattern, `*` is any sequence, `#` a comment."""
    exact = "User-agent: *\nDisallow: /this/path/exactly$\n"
    assert not allowed(exact, "/this/path/exactly") and allowed(exact, "/this/path/exactly/x")
    star = "User-agent: *\nDisallow: /this/*/exactly\n"
    assert not allowed(star, "/this/a/b/exactly") and allowed(star, "/this/exactly")
    comment = "User-agent: * # everyone\nDisallow: /a # not /b\n# Disallow: /c\n"
    assert rule(comment, "/a") == "Disallow: /a"
    assert allowed(comment, "/b") and allowed(comment, "/c")


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        # RFC 9309 section 2.2.2's table: the pattern, and a path that must match it
        ("/foo/bar?baz=quz", "/foo/bar?baz=quz"),
        ("/foo/bar?baz=https://foo.bar", "/foo/bar?baz=https%3A%2F%2Ffoo.bar"),
        ("/foo/bar/\u30c4", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%62%61%7A", "/foo/bar/baz"),
        # section 2.2.3: an encoded * or $ is that character, not the wildcard or the end
        ("/path/file-with-a-%2A.html", "/path/file-with-a-*.html"),
        ("/path/foo-%24", "/path/foo-$"),
        # and the other way round
        ("/foo/bar?baz=https%3A%2F%2Ffoo.bar", "/foo/bar?baz=https://foo.bar"),
        ("/foo/bar/%E3%83%84", "/foo/bar/\u30c4"),
    ],
)
def test_percent_encoding_as_the_rfc_tables_say(pattern: str, path: str) -> None:
    assert rule(f"User-agent: *\nDisallow: {pattern}\n", path) == f"Disallow: {pattern}"


def test_an_encoded_slash_in_a_path_is_not_a_slash() -> None:
    """%2F stays apart from / in the path (only in a query are they one)."""
    assert allowed("User-agent: *\nDisallow: /a/b\n", "/a%2Fb")
    assert not allowed("User-agent: *\nDisallow: /a?q=x/y\n", "/a?q=x%2Fy")


def test_robots_txt_itself_is_always_allowed() -> None:
    assert allowed("User-agent: *\nDisallow: /\n", "/robots.txt")


def test_the_rule_named_is_the_longest_that_matched() -> None:
    text = "User-agent: *\nDisallow: /a\nDisallow: /a/b\nDisallow: /*.pdf$\nAllow: /a/b/c\n"
    assert rule(text, "/a/b/x") == "Disallow: /a/b"
    assert rule(text, "/a/x") == "Disallow: /a"
    assert rule(text, "/z/x.pdf") == "Disallow: /*.pdf$"
    assert rule(text, "/a/b/c/x") is None


def test_the_interval_asked_is_the_longer_of_crawl_delay_and_request_rate() -> None:
    def interval(rules: str) -> float | None:
        return RobotsRules.of("User-agent: *\n" + rules).interval_s()

    assert interval("Crawl-delay: 2\n") == 2.0
    assert interval("Request-rate: 1/5\n") == 5.0
    assert interval("Crawl-delay: 2\nRequest-rate: 1/5\n") == 5.0
    assert interval("Crawl-delay: 7\nRequest-rate: 10/5\n") == 7.0
    assert interval("Disallow: /\n") is None
    assert interval("Crawl-delay: soon\nCrawl-delay: -1\nCrawl-delay: nan\n") is None
    assert interval("Crawl-delay: 0\n") is None
    other = "User-agent: other\nCrawl-delay: 9\n\nUser-agent: linkcheck\nCrawl-delay: 1\n"
    assert RobotsRules.of(other).interval_s() == 1.0  # our group's, not another's


def test_what_the_store_keeps_reads_back_the_same() -> None:
    kept = RobotsRules.of(RFC_EXAMPLE).text
    again = RobotsRules(kept.split("\n"))
    for path in ("/", "/example/page.html", "/example/allowed.gif", "/publications/"):
        assert again.disallowing_rule("http://h" + path) == rule(RFC_EXAMPLE, path)
    assert our_rules(RFC_EXAMPLE) == [
        "Disallow:/",
        "Allow:/example/page.html",
        "Allow:/example/allowed.gif",
    ]


# -- hostile bodies -----------------------------------------------------------------------------


def test_a_bom_crlf_invalid_utf8_and_nuls_are_read_leniently() -> None:
    body = b"\xef\xbb\xbfUser-agent: *\r\nDisallow: /caf\xe9\x00/\r\nDisallow: /b\x00ad\r\n"
    text = decode(body, cut=False)
    assert text.startswith("User-agent: *") and "\x00" not in text
    assert not allowed(text, "/bad") and allowed(text, "/ok")
    assert not allowed(text, "/caf%EF%BF%BD/")  # the undecodable byte as U+FFFD, encoded


def test_a_cut_body_drops_its_partial_last_line() -> None:
    """Half a rule could say more than the whole one ("Disallow: /" of "Disallow: /private")."""
    cut = decode(b"User-agent: *\nDisallow: /a\nDisallow: /", cut=True)
    assert allowed(cut, "/b") and not allowed(cut, "/a")
    assert decode(b"Disallow: /", cut=False) == "Disallow: /"
    assert decode(b"no newline at all", cut=True) == ""


def test_a_huge_line_and_a_flood_of_rules_are_read() -> None:
    flood = "User-agent: *\n" + "".join(f"Disallow: /d{i}/\n" for i in range(20_000))
    assert rule(flood, "/d19999/x") == "Disallow: /d19999/"
    huge = "User-agent: *\nDisallow: /" + "a" * 600_000 + "\nDisallow: /b\n"
    assert allowed(huge, "/a") and not allowed(huge, "/b")


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=400), path=st.text(max_size=40), cut=st.booleans())
def test_no_body_makes_it_raise(body: bytes, path: str, cut: bool) -> None:
    rules = RobotsRules.of(decode(b"User-agent: *\n" + body, cut=cut))
    rules.disallowing_rule("http://h/" + path)
    rules.interval_s()


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["User-agent", "Disallow", "Allow", "Crawl-delay", "Request-rate"]),
            st.text(alphabet="/*$%?=.:#ab2F \t", max_size=12),
        ),
        max_size=12,
    ),
    path=st.text(alphabet="/*$%?=.ab2F", max_size=12),
)
def test_no_rule_text_makes_it_raise(lines: list[tuple[str, str]], path: str) -> None:
    text = "\n".join(f"{name}: {value}" for name, value in lines)
    rules = RobotsRules.of(text)
    rules.disallowing_rule("http://h/" + path)
    rules.interval_s()
