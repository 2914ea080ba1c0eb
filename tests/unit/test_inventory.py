"""The inventory of numbers for sale: deterministic, valid for its country, and its filters."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
import pytest

from twilio_fake.resources.numbers import inventory
from twilio_fake.resources.numbers.errors import InvalidAreaCode, InvalidContainsPattern
from twilio_fake.resources.numbers.inventory import Kind, Search

KINDS: tuple[Kind, ...] = ("local", "toll-free")  # the kinds every country sells
EVERY_BLOCK = [
    (country, kind) for country in inventory.countries() for kind in inventory.kinds(country)
]


@pytest.mark.parametrize(("country", "kind"), EVERY_BLOCK)
def test_every_number_is_valid_for_its_country_and_of_its_kind(country: str, kind: Kind) -> None:
    numbers = inventory.numbers(country, kind)
    assert numbers, f"{country} {kind} sells nothing"
    for number in numbers:
        parsed = phonenumbers.parse(number.phone_number, None)
        assert phonenumbers.is_valid_number(parsed), number.phone_number
        assert phonenumbers.is_valid_number_for_region(parsed, country), number.phone_number
        assert (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            == number.phone_number
        )
        is_toll_free = phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE
        assert is_toll_free == (kind == "toll-free"), number.phone_number
        is_mobile = phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
        assert is_mobile == (kind == "mobile"), number.phone_number
        assert number.iso_country == country
        assert number.kind == kind


def test_no_number_is_sold_twice_across_countries_and_kinds() -> None:
    every = [
        n.phone_number for country, kind in EVERY_BLOCK for n in inventory.numbers(country, kind)
    ]
    assert len(every) == len(set(every))
    assert all(inventory.find(number) is not None for number in every)


def test_the_inventory_is_the_same_on_every_run() -> None:
    """The numbers come from a hash of their place, not a random generator: a test suite can
    name a number it saw in a search yesterday. (The first three US numbers, pinned.)"""
    first = [n.phone_number for n in inventory.numbers("US", "local")[:3]]
    assert first == ["+12063048062", "+12064848663", "+12064827869"]
    inventory.numbers.cache_clear()
    inventory._by_number.cache_clear()
    assert [n.phone_number for n in inventory.numbers("US", "local")[:3]] == first


def test_no_fictional_555_lines_are_for_sale() -> None:
    for country in ("US", "CA"):
        for kind in KINDS:
            for number in inventory.numbers(country, kind):
                assert number.phone_number[5:8] != "555", number.phone_number


def test_local_numbers_say_where_they_are_toll_free_numbers_do_not() -> None:
    hilo = next(n for n in inventory.numbers("US", "local") if n.area_code == 808)
    assert (hilo.locality, hilo.region, hilo.postal_code, hilo.rate_center, hilo.lata) == (
        "Hilo",
        "HI",
        "96720",
        "HILO",
        "834",
    )
    assert (hilo.latitude, hilo.longitude) == ("19.720000", "-155.090000")
    assert hilo.friendly_name == f"(808) {hilo.phone_number[5:8]}-{hilo.phone_number[8:]}"
    toll_free = inventory.numbers("US", "toll-free")[0]
    assert (toll_free.locality, toll_free.region, toll_free.latitude, toll_free.lata) == (
        None,
        None,
        None,
        None,
    )


def test_capabilities_mix_so_that_the_enabled_filters_tell_numbers_apart() -> None:
    us = inventory.numbers("US", "local")
    assert {n.capabilities.sms for n in us} == {True, False}
    assert {n.capabilities.mms for n in us} == {True, False}
    assert all(n.capabilities.voice for n in us)
    assert not any(n.capabilities.fax for n in us)
    # British landlines take no text messages.
    assert not any(n.capabilities.sms for n in inventory.numbers("GB", "local"))


def test_france_texts_from_mobile_numbers_only() -> None:
    """A French sender for a Messaging Service's pool is a mobile number (06, 07): France's
    geographic numbers take calls only, and Twilio carries MMS in North America alone."""
    assert inventory.kinds("FR") == ("local", "toll-free", "mobile")
    assert inventory.kinds("US") == ("local", "toll-free")
    assert not any(n.capabilities.sms for n in inventory.numbers("FR", "local"))
    mobiles = inventory.numbers("FR", "mobile")
    assert {n.phone_number[:4] for n in mobiles} == {"+336", "+337"}
    assert all(n.capabilities.sms and not n.capabilities.mms for n in mobiles)
    assert inventory.find(mobiles[0].phone_number) == mobiles[0]  # for sale by PhoneNumber


def test_an_unknown_country_has_no_inventory() -> None:
    assert not inventory.has_country("ZZ")
    assert inventory.numbers("ZZ", "local") == ()
    assert not inventory.has_country("us")  # ISO codes are upper case


# -- filters -------------------------------------------------------------------------------------
def found(country: str = "US", kind: Kind = "local", **filters: Any) -> list[str]:
    return [n.phone_number for n in inventory.search(country, kind, Search(**filters))]


def test_area_code_keeps_that_area_only() -> None:
    numbers = found(area_code=415)
    assert len(numbers) == inventory.NUMBERS_PER_BLOCK
    assert all(n.startswith("+1415") for n in numbers)
    assert found(area_code=533) == []  # well formed, nothing there
    assert all(n.startswith("+1800") for n in found(kind="toll-free", area_code=800))


@pytest.mark.parametrize("bad", [0, 1, 99, 1000, 123, -415, "0415", "41a", "", "\x00"])
def test_an_area_code_that_is_not_north_american_is_21451(bad: int | str) -> None:
    with pytest.raises(InvalidAreaCode) as raised:
        inventory.check_area_code(bad)
    assert raised.value.code == 21451


def test_area_code_filter_is_checked_even_where_nothing_would_match() -> None:
    with pytest.raises(InvalidAreaCode):
        list(inventory.search("GB", "local", Search(area_code=99)))


@pytest.mark.parametrize(
    ("pattern", "number", "matches"),
    [
        ("4152", "+14152345678", True),  # anywhere in the number
        ("+1415", "+14152345678", True),  # anchored at the start (the country code)
        ("+415", "+14152345678", False),
        ("5678$", "+14152345678", True),  # anchored at the end
        ("5677$", "+14152345678", False),
        ("415*3", "+14152345678", True),  # one digit
        ("415*4", "+14152345678", False),
        ("41%78", "+14152345678", True),  # any run of digits
        ("41%78$", "+14152345679", False),
        ("510555****", "+15105551234", True),  # Twilio's own example: a run of *
        ("STORM", "+14157867600", True),  # letters as on a keypad: 78676
        ("storm", "+14157867600", True),
        ("STORM", "+14157867700", False),
    ],
)
def test_contains_follows_twilios_wildcard_rules(pattern: str, number: str, matches: bool) -> None:
    assert bool(inventory.contains_matcher(pattern).search(number[1:])) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "4",  # one digit
        "41 5",
        "41-5",
        "4\x0015",
        "٤١٥",  # Arabic-Indic digits are not digits here
        "+",
        "**",
        "*5*",  # one literal character only
        "41+5",  # + only first
        "41$5",  # $ only last
        "41%%5",
        "+%415",
        "415*%",
        "415%$",
        "%",
        "4.5",
        "(?:4)",
        "á1",
    ],
)
def test_a_contains_pattern_outside_the_rules_is_refused(pattern: str) -> None:
    with pytest.raises(InvalidContainsPattern) as raised:
        inventory.contains_matcher(pattern)
    assert raised.value.status == 400


def test_contains_filters_the_search() -> None:
    numbers = found(contains="+1415")
    assert numbers and all(n.startswith("+1415") for n in numbers)
    some = found(area_code=212)[0]
    assert found(contains=some[-6:] + "$") == [some]


def test_a_pathological_contains_pattern_stays_cheap() -> None:
    """Alternating literals and `%` cannot make the regular expression backtrack for long: the
    numbers are at most 15 digits (the whole US inventory, searched)."""
    pattern = "1%2%3%4%5%6%7%8"
    assert re.fullmatch(r"[0-9%]+", pattern)
    assert isinstance(found(contains=pattern), list)


@pytest.mark.parametrize("capability", ["sms", "mms", "voice"])
def test_enabled_filters_require_or_exclude_a_capability(capability: str) -> None:
    with_it = found("US", "local", **{f"{capability}_enabled": True})
    without = found("US", "local", **{f"{capability}_enabled": False})
    assert len(with_it) + len(without) == len(inventory.numbers("US", "local"))
    by_number = {n.phone_number: n for n in inventory.numbers("US", "local")}
    assert all(getattr(by_number[n].capabilities, capability) for n in with_it)
    assert not any(getattr(by_number[n].capabilities, capability) for n in without)


def test_region_locality_and_postal_code_filters_ignore_case() -> None:
    assert found(in_region="hi") == found(area_code=808)
    assert found(in_locality="SAN FRANCISCO") == found(area_code=415)
    assert found(in_postal_code="02108") == found(area_code=617)
    assert found(kind="toll-free", in_region="CA") == []


def test_filters_combine() -> None:
    numbers = found(area_code=415, sms_enabled=True, mms_enabled=False)
    by_number = {n.phone_number: n for n in inventory.numbers("US", "local")}
    assert numbers
    assert all(by_number[n].capabilities.sms and not by_number[n].capabilities.mms for n in numbers)


def test_friendly_name_is_the_national_format() -> None:
    assert inventory.friendly_name("+15005550006") == "(500) 555-0006"
    assert inventory.friendly_name("+442071838750") == "020 7183 8750"


def test_local_numbers_of_an_area_code_span_north_america() -> None:
    assert all(n.iso_country == "CA" for n in inventory.local_in_area_code(416))
    assert all(n.iso_country == "US" for n in inventory.local_in_area_code(212))
    assert list(inventory.local_in_area_code(533)) == []
