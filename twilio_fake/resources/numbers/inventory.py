"""The numbers the fake has for sale: a fixed, deterministic inventory per country and type.

Pure: no database, no HTTP. The same numbers in the same order on every machine and every run
(they come from a hash of their place in the inventory, not from a random generator), each an
E.164 number that libphonenumber holds valid for its country. Which of them are still for sale
is the model's business: a number any account holds is not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Literal

import phonenumbers

from .errors import InvalidAreaCode, InvalidContainsPattern

# Mobile numbers are sold by PhoneNumber only: the contract has no search for them (Mobile.json).
Kind = Literal["local", "toll-free", "mobile"]
KINDS: tuple[Kind, ...] = ("local", "toll-free", "mobile")
NUMBERS_PER_BLOCK = 100  # how many numbers each area (or toll-free prefix) holds
_MAX_TRIES_PER_NUMBER = 50  # a block whose prefix libphonenumber rejects fails, not loops


@dataclass(frozen=True)
class Capabilities:
    voice: bool
    sms: bool
    mms: bool
    fax: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {"voice": self.voice, "sms": self.sms, "mms": self.mms, "fax": self.fax}


@dataclass(frozen=True)
class AvailableNumber:
    """One number of the inventory, with what Twilio's search shows of it."""

    phone_number: str  # E.164
    friendly_name: str
    iso_country: str
    kind: Kind
    area_code: int | None  # the NANP area code (numbering plan area), else None
    locality: str | None
    region: str | None
    postal_code: str | None
    latitude: str | None  # strings with six decimals, as Twilio's examples write them
    longitude: str | None
    rate_center: str | None
    lata: str | None
    address_requirements: str
    capabilities: Capabilities


@dataclass(frozen=True)
class _Block:
    """Where a run of numbers comes from: a national prefix and the place it serves."""

    prefix: str  # national significant number's first digits (area code, or 800...)
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    rate_center: str | None = None
    lata: str | None = None


@dataclass(frozen=True)
class _Country:
    calling_code: int
    national_length: int
    nanp: bool
    address_requirements: str
    local: tuple[_Block, ...]
    toll_free: tuple[_Block, ...]
    local_messaging: bool  # do its local numbers take SMS and MMS (UK landlines do not)
    toll_free_messaging: bool
    mobile: tuple[_Block, ...] = ()  # mobile numbers (they take SMS and MMS), where sold


_NANP_TOLL_FREE = tuple(_Block(p) for p in ("800", "833", "844", "855", "866", "877", "888"))

COUNTRIES: dict[str, _Country] = {
    "US": _Country(
        calling_code=1,
        national_length=10,
        nanp=True,
        address_requirements="none",
        local=(
            _Block("206", "Seattle", "WA", "98101", 47.6062, -122.3321, "SEATTLE", "674"),
            _Block("212", "New York", "NY", "10001", 40.7506, -73.9971, "NWYRCYZN01", "132"),
            _Block("305", "Miami", "FL", "33130", 25.7670, -80.2044, "MIAMI", "460"),
            _Block("312", "Chicago", "IL", "60601", 41.8858, -87.6181, "CHICAGO", "358"),
            _Block("415", "San Francisco", "CA", "94103", 37.7725, -122.4109, "SNFC CNTRL", "722"),
            _Block("512", "Austin", "TX", "78701", 30.2711, -97.7437, "AUSTIN", "558"),
            _Block("617", "Boston", "MA", "02108", 42.3576, -71.0636, "BOSTON", "128"),
            _Block("808", "Hilo", "HI", "96720", 19.7200, -155.0900, "HILO", "834"),
        ),
        toll_free=_NANP_TOLL_FREE,
        local_messaging=True,
        toll_free_messaging=True,
    ),
    "CA": _Country(
        calling_code=1,
        national_length=10,
        nanp=True,
        address_requirements="none",
        local=(
            _Block("416", "Toronto", "ON", "M5H 2N2", 43.6532, -79.3832, "TORONTO", "888"),
            _Block("514", "Montreal", "QC", "H2Y 1C6", 45.5017, -73.5673, "MONTREAL", "850"),
            _Block("604", "Vancouver", "BC", "V6B 1A1", 49.2827, -123.1207, "VANCOUVER", "886"),
        ),
        toll_free=_NANP_TOLL_FREE,
        local_messaging=True,
        toll_free_messaging=True,
    ),
    "GB": _Country(
        calling_code=44,
        national_length=10,
        nanp=False,
        address_requirements="any",
        local=(
            _Block("20", "London", "LND", "EC1A 1BB", 51.5072, -0.1276),
            _Block("121", "Birmingham", "BIR", "B1 1BB", 52.4862, -1.8904),
            _Block("161", "Manchester", "MAN", "M1 1AE", 53.4808, -2.2426),
        ),
        toll_free=(_Block("800"), _Block("808")),
        local_messaging=False,
        toll_free_messaging=False,
    ),
    # France: its geographic numbers take calls only; text messages need a mobile number (06,
    # 07), which the fake sells by PhoneNumber (a French sender for a Messaging Service's pool).
    "FR": _Country(
        calling_code=33,
        national_length=9,
        nanp=False,
        address_requirements="local",
        local=(
            _Block("1", "Paris", "IDF", "75001", 48.8566, 2.3522),
            _Block("472", "Lyon", "ARA", "69001", 45.7640, 4.8357),
            _Block("491", "Marseille", "PAC", "13001", 43.2965, 5.3698),
        ),
        toll_free=(_Block("80"),),
        local_messaging=False,
        toll_free_messaging=False,
        mobile=(_Block("6"), _Block("7")),
    ),
}

# NANP toll-free numbers are shared by the US and Canada: each country draws its own, disjoint
# run from the same prefixes (the seed names the country), so a number is sold once.
_AREA_CODE = re.compile(r"[2-9][0-9]{2}")
_FICTIONAL_EXCHANGE = "555"  # NANP 555 lines are fictional or reserved: none are for sale


def countries() -> tuple[str, ...]:
    """The countries the fake sells numbers in (ISO 3166-1 alpha-2)."""
    return tuple(COUNTRIES)


def has_country(country: str) -> bool:
    return country in COUNTRIES


def kinds(country: str) -> tuple[Kind, ...]:
    """The kinds of number the fake sells in a country (none for one it does not know)."""
    spec = COUNTRIES.get(country)
    if spec is None:
        return ()
    return tuple(kind for kind in KINDS if _blocks(spec, kind))


def _blocks(spec: _Country, kind: Kind) -> tuple[_Block, ...]:
    return {"local": spec.local, "toll-free": spec.toll_free, "mobile": spec.mobile}[kind]


def check_area_code(area_code: int | str) -> int:
    """Return a North American area code as an int, or raise InvalidAreaCode (21451)."""
    text = str(area_code)
    if not _AREA_CODE.fullmatch(text):
        raise InvalidAreaCode(f"Invalid area code: {text[:16]!r} is not a North American area code")
    return int(text)


@cache
def numbers(country: str, kind: Kind) -> tuple[AvailableNumber, ...]:
    """Every number of a country's inventory of one kind, in their fixed order (empty for a
    country the fake does not sell in)."""
    spec = COUNTRIES.get(country)
    if spec is None:
        return ()
    blocks = _blocks(spec, kind)
    messaging = {
        "local": spec.local_messaging,
        "toll-free": spec.toll_free_messaging,
        "mobile": True,
    }[kind]
    return tuple(
        number
        for block in blocks
        for number in _block_numbers(country, spec, kind, block, messaging)
    )


def _block_numbers(
    country: str, spec: _Country, kind: Kind, block: _Block, messaging: bool
) -> Iterator[AvailableNumber]:
    seen: set[str] = set()
    index = 0
    while len(seen) < NUMBERS_PER_BLOCK:
        if index > _MAX_TRIES_PER_NUMBER * NUMBERS_PER_BLOCK:  # a block its country rejects
            raise ValueError(f"{country} {kind} {block.prefix}: too few valid numbers")
        national = _national_number(country, kind, block.prefix, spec.national_length, index)
        index += 1
        if national in seen or (spec.nanp and national[3:6] == _FICTIONAL_EXCHANGE):
            continue
        parsed = phonenumbers.parse(f"+{spec.calling_code}{national}", None)
        if not phonenumbers.is_valid_number_for_region(parsed, country):
            continue
        wanted = {
            "toll-free": phonenumbers.PhoneNumberType.TOLL_FREE,
            "mobile": phonenumbers.PhoneNumberType.MOBILE,
        }.get(kind)
        if wanted is not None and phonenumbers.number_type(parsed) != wanted:
            continue
        seen.add(national)
        yield _available(country, spec, kind, block, parsed, len(seen) - 1, messaging)


def _national_number(country: str, kind: Kind, prefix: str, length: int, index: int) -> str:
    seed = f"{country}|{kind}|{prefix}|{index}".encode()
    value = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "big")
    rest = length - len(prefix)
    return prefix + str(value % 10**rest).zfill(rest)


def _available(
    country: str,
    spec: _Country,
    kind: Kind,
    block: _Block,
    parsed: phonenumbers.PhoneNumber,
    position: int,
    messaging: bool,
) -> AvailableNumber:
    # A steady mix of capabilities, so that the Enabled filters have something to tell apart:
    # most numbers do everything, one in ten has no MMS and one in ten takes calls only.
    voice_only = not messaging or position % 10 == 7
    no_mms = position % 10 == 3
    capabilities = Capabilities(voice=True, sms=not voice_only, mms=not (voice_only or no_mms))
    if kind == "mobile":  # Twilio carries MMS in the US and Canada only: a mobile number texts
        capabilities = Capabilities(voice=True, sms=True, mms=False)
    return AvailableNumber(
        phone_number=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        friendly_name=friendly_name(parsed),
        iso_country=country,
        kind=kind,
        area_code=int(block.prefix) if spec.nanp else None,
        locality=block.locality,
        region=block.region,
        postal_code=block.postal_code,
        latitude=None if block.latitude is None else f"{block.latitude:.6f}",
        longitude=None if block.longitude is None else f"{block.longitude:.6f}",
        rate_center=block.rate_center,
        lata=block.lata,
        address_requirements="none" if kind == "toll-free" else spec.address_requirements,
        capabilities=capabilities,
    )


def friendly_name(number: phonenumbers.PhoneNumber | str) -> str:
    """A number as Twilio names it by default: `(500) 555-0006` for +15005550006 (the national
    format; Twilio's own for numbers outside North America is not known)."""
    parsed = phonenumbers.parse(number, None) if isinstance(number, str) else number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


# -- Contains ------------------------------------------------------------------------------------
_KEYPAD = {
    **dict.fromkeys("abc", "2"),
    **dict.fromkeys("def", "3"),
    **dict.fromkeys("ghi", "4"),
    **dict.fromkeys("jkl", "5"),
    **dict.fromkeys("mno", "6"),
    **dict.fromkeys("pqrs", "7"),
    **dict.fromkeys("tuv", "8"),
    **dict.fromkeys("wxyz", "9"),
}
_CONTAINS_CHARS = re.compile(r"[0-9A-Za-z*%+$]*")
_LITERALS_AT_LEAST = 2  # Twilio: a pattern with wildcards needs two characters that are not


def contains_matcher(pattern: str) -> re.Pattern[str]:
    """Compile a `Contains` pattern into a regular expression over a number's E.164 digits.

    Twilio's rules (its length, 2 to 16 characters, is the spec's to check): digits, and
    letters read as on a phone's keypad (`STORM` is 78676); `*` is any one digit, `%` any run
    of digits; a leading `+` anchors the pattern at the number's start (its country code), a
    trailing `$` at its end; with wildcards, at least two characters that are not one; meta
    characters not side by side (a run of `*`, as in Twilio's own `510555****`, is allowed).
    Anything else raises InvalidContainsPattern.
    """
    shown = repr(pattern[:40])
    if not _CONTAINS_CHARS.fullmatch(pattern):
        raise InvalidContainsPattern(
            f"Contains may hold digits, letters, '*', '%', '+' and '$' only, got {shown}"
        )
    body = pattern
    anchored_start = body.startswith("+")
    anchored_end = body.endswith("$")
    body = body[1 if anchored_start else 0 : len(body) - (1 if anchored_end else 0)]
    if "+" in body or "$" in body:
        raise InvalidContainsPattern(
            f"Contains may have '+' only first and '$' only last, got {shown}"
        )
    literal = [c for c in body if c not in "*%"]
    if len(literal) < _LITERALS_AT_LEAST:
        raise InvalidContainsPattern(
            f"Contains needs at least {_LITERALS_AT_LEAST} digits or letters, got {shown}"
        )
    metas = ("+" if anchored_start else "") + body + ("$" if anchored_end else "")
    for left, right in zip(metas, metas[1:], strict=False):
        if left in "*%+$" and right in "*%+$" and not (left == right == "*"):
            raise InvalidContainsPattern(
                f"Contains may not put {left!r} and {right!r} side by side, got {shown}"
            )
    regex = "".join(
        r"\d" if c == "*" else r"\d*" if c == "%" else _KEYPAD.get(c.lower(), c) for c in body
    )
    return re.compile(("^" if anchored_start else "") + regex + ("$" if anchored_end else ""))


# -- the search ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Search:
    """A search's filters; None leaves a filter out."""

    area_code: int | None = None
    contains: str | None = None
    sms_enabled: bool | None = None
    mms_enabled: bool | None = None
    voice_enabled: bool | None = None
    fax_enabled: bool | None = None
    in_region: str | None = None
    in_locality: str | None = None
    in_postal_code: str | None = None


def search(
    country: str,
    kind: Kind,
    filters: Search,
) -> Iterator[AvailableNumber]:
    """Yield the numbers of the inventory that match, in the inventory's order. The filters
    are checked before any number is looked at, so a bad pattern or area code is an error even
    where the inventory has nothing."""
    if filters.area_code is not None:
        check_area_code(filters.area_code)
    matcher = contains_matcher(filters.contains) if filters.contains is not None else None
    wanted = {
        "sms": filters.sms_enabled,
        "mms": filters.mms_enabled,
        "voice": filters.voice_enabled,
        "fax": filters.fax_enabled,
    }
    for number in numbers(country, kind):
        if filters.area_code is not None and number.area_code != filters.area_code:
            continue
        if matcher is not None and not matcher.search(number.phone_number[1:]):
            continue
        capabilities = number.capabilities.as_dict()
        if any(want is not None and capabilities[name] != want for name, want in wanted.items()):
            continue
        if not _same(filters.in_region, number.region):
            continue
        if not _same(filters.in_locality, number.locality):
            continue
        if not _same(filters.in_postal_code, number.postal_code):
            continue
        yield number


def _same(wanted: str | None, value: str | None) -> bool:
    return wanted is None or (value is not None and wanted.casefold() == value.casefold())


def find(phone_number: str) -> AvailableNumber | None:
    """The inventory's entry for an E.164 number, whatever its country or kind, or None."""
    return _by_number().get(phone_number)


@cache
def _by_number() -> dict[str, AvailableNumber]:
    return {
        number.phone_number: number
        for country in COUNTRIES
        for kind in KINDS
        for number in numbers(country, kind)
    }


def local_in_area_code(area_code: int) -> Iterator[AvailableNumber]:
    """The local numbers of an area code, whichever North American country it is in."""
    for country, spec in COUNTRIES.items():
        if spec.nanp:
            for number in numbers(country, "local"):
                if number.area_code == area_code:
                    yield number
