"""The contract's patterns: each says what its rule says, and a generator can meet its lengths.

Schemathesis (`make contract`, and the suite's contract tests) builds strings of a parameter's
boundary lengths, such as a 4,000-character webhook URL, by spelling the length into the
pattern. A pattern it cannot rewrite that way leaves it to draw strings and throw away those of
the wrong length until its budget runs out: the `Contains` and `WebhookUrl` patterns of 3.2.0
cost every kit run 33 s of such searching (docs/testing.md). 3.2.1 rewrote both without changing
which strings they accept; the tests below hold them to their rules, and every pattern with a
length bound to a shape the generator can pin.
"""

from __future__ import annotations

import itertools
import random
import re

import pytest
import yaml
from schemathesis.core.jsonschema.patterns import pattern_length_bounds, pin_pattern_length

from tests.support import ROOT
from twilio_fake.resources.numbers.errors import InvalidContainsPattern
from twilio_fake.resources.numbers.inventory import contains_matcher

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
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
# number of escapes each followed by characters).
PUBLISHED_WEBHOOK_URL = (
    r"^(https?://(([A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{2})*@)?[A-Za-z0-9]"
    r"([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*"
    r"(\?(([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})|[/?])*)?"
    r"(#(([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})|[/?])*)?)?$"
)


def _url_like(draw: random.Random) -> str:
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
    return head + host + "".join(pieces)


def test_the_webhook_url_pattern_admits_what_3_2_0_admitted() -> None:
    current, published = re.compile(WEBHOOK_URL["pattern"]), re.compile(PUBLISHED_WEBHOOK_URL)
    draw = random.Random(20261202)
    admitted = 0
    for _ in range(50_000):
        text = _url_like(draw)
        assert (current.fullmatch(text) is None) == (published.fullmatch(text) is None), text
        admitted += current.fullmatch(text) is not None
    assert 5_000 < admitted < 45_000  # both answers, many times


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
