"""The contract's patterns: each says what its rule says, and a generator can meet its lengths.

Schemathesis (`make contract`, and the suite's contract tests) builds strings of a parameter's
boundary lengths, such as a 4,000-character webhook URL, by spelling the length into the
pattern. A pattern it cannot rewrite that way leaves it to draw strings and throw away those of
the wrong length until its budget runs out: the `Contains` and `WebhookUrl` patterns of 3.2.0
cost every kit run 33 s of such searching (docs/testing.md). 3.2.1 rewrote both without changing
which strings they accept; 3.3.0 lets a webhook URL's host be an IPv6 address in brackets. The
tests below hold both patterns to their rules, and every pattern with a length bound to a shape
the generator can pin.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import re

import pytest
from schemathesis.core.jsonschema.patterns import pattern_length_bounds, pin_pattern_length

from tests.support import ROOT, load_yaml
from twilio_fake.resources.numbers.errors import InvalidContainsPattern
from twilio_fake.resources.numbers.inventory import contains_matcher

SPEC = load_yaml(ROOT / "openapi.yaml")
CONTAINS = SPEC["components"]["parameters"]["Contains"]["schema"]
WEBHOOK_URL = SPEC["components"]["schemas"]["WebhookUrl"]


def test_contains_admits_exactly_what_the_search_accepts() -> None:
    """Every string of up to six characters over one of each kind the rules tell apart (a digit,
    a letter, each wildcard and anchor, one character no rule allows), and some longer ones:
    the spec's pattern and length admit it exactly when `contains_matcher` (the rules as code)
    does. Longer strings repeat the same neighbourhoods: the rules look at most at two
    characters side by side, and count up to two."""
    pattern = re.compile(CONTAINS["pattern"])
    lengths = range(CONTAINS["minLength"], CONTAINS["maxLength"] + 1)

    def by_spec(text: str) -> bool:
        return len(text) in lengths and pattern.fullmatch(text) is not None

    def by_rules(text: str) -> bool:
        try:
            contains_matcher(text)
        except InvalidContainsPattern:
            return False
        return True

    candidates = [
        "".join(chars) for n in range(7) for chars in itertools.product("7z*%+$-", repeat=n)
    ]
    draw = random.Random(20261202)
    candidates += ["".join(draw.choices("0aZ*%+$", k=draw.randint(7, 17))) for _ in range(20_000)]
    admitted = 0
    for text in candidates:
        if len(text) not in lengths:
            continue  # the matcher leaves the length to the spec
        assert by_spec(text) == by_rules(text), text
        admitted += by_spec(text)
    assert admitted > 1_000  # the comparison saw both answers, many times


# The WebhookUrl pattern as published in 3.2.0: `(c|%XX)*` for each run of characters and
# %-escapes, which 3.2.1 writes `c*(%XXc*)*` (the same strings: a run is characters, then any
# number of escapes each followed by characters). 3.3.0 admits one more kind of host: an IPv6
# address in brackets, where 3.2.0 admitted a name.
PUBLISHED_WEBHOOK_URL = (
    r"^(https?://(([A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{2})*@)?[A-Za-z0-9]"
    r"([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*"
    r"(\?(([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})|[/?])*)?"
    r"(#(([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})|[/?])*)?)?$"
)
BRACKETED_HOST = re.compile(r"(https?://([^/?#@\[\]]*@)?)\[([^\]]*)\]")
IPV6_PIECES = ["0", "1", "ff", "ABCD", "12345", "g", ":", ":", "::", "1.2.3.4", "127.0.0.1",
               "01.2.3.4", "256.1.1.1", "1.2.3", ".", "%25lo"]  # fmt: skip


def _is_ipv6(text: str) -> bool:
    """An IPv6 address, as Python reads one, without a zone (`%eth0` is no part of a URL's host
    here)."""
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return "%" not in text


def _admitted_by_the_rule(text: str, published: re.Pattern[str]) -> bool:
    """3.2.0's rule, with an IPv6 address in brackets wherever it admitted a host name."""
    bracketed = BRACKETED_HOST.match(text)
    if bracketed is None:
        return published.fullmatch(text) is not None
    rest = text[bracketed.end() :]
    authority_rest = re.match(r"[^/?#]*", rest)[0]  # type: ignore[index]
    if not _is_ipv6(bracketed[3]) or not re.fullmatch(r"(:[0-9]{1,5})?", authority_rest):
        return False  # only a port may follow the address before the path
    return published.fullmatch(bracketed[1] + "h" + rest) is not None


def _ipv6_like(draw: random.Random) -> str:
    return "".join(draw.choice(IPV6_PIECES) for _ in range(draw.randint(0, 12)))


def _url_like(draw: random.Random, *, bracketed: bool = False) -> str:
    """A string near the URLs the pattern admits: a scheme, then pieces of each part, mostly
    ones some part allows, sometimes a broken escape or a character no part allows."""
    allowed = ["a", "Z", "9", ".", "-", "_", "~", "%41", "%fF", "@", ":", ":80", "/", "?", "#",
               "&", "=", "'", "!", "user:pw@"]  # fmt: skip
    refused = ["%4", "%zz", "%", " ", "é", "[", "]", "\\"]
    head = draw.choice(["http://", "https://", "http://", "https://", "ftp://", "http:/", ""])
    pieces = [
        draw.choice(refused) if draw.random() < 0.03 else draw.choice(allowed)
        for _ in range(draw.randint(0, 8))
    ]
    host = draw.choice(["a", "example.com", "x-1.b9", "user:pw@h", "h:8080", "", "-a", "a_b"])
    if bracketed:
        host = draw.choice(["[::1]", "u:p@[fe80::1]", "[::ffff:127.0.0.1]:80", "[1::2::3]",
                            "[::1", "[127.0.0.1]", f"[{_ipv6_like(draw)}]"])  # fmt: skip
    return head + host + "".join(pieces)


def test_the_webhook_url_pattern_admits_what_3_2_0_admitted_and_ipv6_hosts() -> None:
    current, published = re.compile(WEBHOOK_URL["pattern"]), re.compile(PUBLISHED_WEBHOOK_URL)
    draw = random.Random(20261202)
    # (count, host in brackets, the bounds of how many are admitted: both answers, many times)
    for count, bracketed, (fewest, most) in ((50_000, False, (5_000, 45_000)),
                                             (20_000, True, (1_000, 19_000))):  # fmt: skip
        admitted = 0
        for _ in range(count):
            text = _url_like(draw, bracketed=bracketed)
            by_rule = _admitted_by_the_rule(text, published)
            assert (current.fullmatch(text) is not None) == by_rule, text
            admitted += by_rule
        assert fewest < admitted < most


def test_a_webhook_hosts_brackets_admit_exactly_an_ipv6_address() -> None:
    """RFC 3986's IPv6address, written as its grammar's nine forms: what Python reads as an IPv6
    address, no more (`1::2::3`, eight groups with a `::`, an IPv4 tail with a leading zero)."""
    current = re.compile(WEBHOOK_URL["pattern"])
    draw = random.Random(20261203)
    candidates = [_ipv6_like(draw) for _ in range(60_000)]
    for _ in range(60_000):  # groups and colons in the shapes addresses take
        groups = [
            draw.choice(["0", "1", "ff", "abcd", "12345", ""]) for _ in range(draw.randint(1, 10))
        ]
        tail = draw.choice(["", "", ":1.2.3.4", ":127.0.0.1", ":01.2.3.4", "1.2.3.4"])
        candidates.append(":".join(groups) + tail)
    admitted = 0
    for text in candidates:
        url = f"http://[{text}]:8080/in"
        assert (current.fullmatch(url) is not None) == _is_ipv6(text), text
        admitted += _is_ipv6(text)
    assert 2_000 < admitted < len(candidates) - 2_000  # both answers, many times


def _bounded_patterns(node: object, where: str = "") -> list[tuple[str, dict]]:
    if isinstance(node, list):
        return [found for i, item in enumerate(node) for found in _bounded_patterns(item, where)]
    if not isinstance(node, dict):
        return []
    found = []
    if isinstance(node.get("pattern"), str) and ("minLength" in node or "maxLength" in node):
        found.append((where, node))
    for key, value in node.items():
        found += _bounded_patterns(value, f"{where}/{key}")
    return found


BOUNDED = _bounded_patterns(SPEC)


@pytest.mark.parametrize(("where", "schema"), BOUNDED, ids=[where for where, _ in BOUNDED])
def test_a_generator_can_build_each_boundary_length_of_a_pattern(where: str, schema: dict) -> None:
    """Schemathesis's coverage phase asks for strings of the minimum and maximum lengths and one
    inside each; a length the pattern does not reach on its own must be one it can spell into
    the pattern (`pin_pattern_length`), or it searches for it until its budget runs out."""
    pattern = schema["pattern"]
    shortest, longest = pattern_length_bounds(pattern)
    boundaries = {schema.get("minLength"), schema.get("maxLength")} - {None}
    lengths = boundaries | {n + 1 for n in boundaries} | {n - 1 for n in boundaries}
    for n in sorted(lengths):
        if n > shortest and (longest is None or n <= longest):
            assert pin_pattern_length(pattern, n, n) != pattern, f"{where}: length {n}"


def test_patterns_with_length_bounds_are_found() -> None:
    where = {w for w, _ in BOUNDED}
    assert "/components/parameters/Contains/schema" in where
    assert "/components/schemas/WebhookUrl" in where
