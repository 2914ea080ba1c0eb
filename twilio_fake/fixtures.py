"""Fixture documents: the accounts, API keys, services and incoming numbers the fake starts with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import phonenumbers
import yaml

CAPABILITIES = ("MMS", "SMS", "Voice")  # Twilio's names, in the order Twilio lists them


class FixtureError(ValueError):
    """A fixture document that does not follow the documented layout."""


@dataclass(frozen=True)
class IncomingNumber:
    sid: str
    phone_number: str
    country_code: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Account:
    sid: str
    auth_token: str
    api_keys: dict[str, str] = field(default_factory=dict)  # key sid -> secret
    disabled_api_keys: frozenset[str] = frozenset()  # key sids that exist but may not sign in
    services: dict[str, str] = field(default_factory=dict)  # service sid -> friendly name
    incoming_phone_numbers: tuple[IncomingNumber, ...] = ()


def _sid(value: Any, prefix: str, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
        raise FixtureError(
            f"{where}: sid must be {prefix} followed by 32 hex digits, got {_shown(value)}"
        )
    return value


def _name(value: Any, where: str) -> str | None:
    """A friendly name as written: YAML reads `friendly_name: 2024` as a number, which names
    the service "2024"; a list or a mapping names nothing."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, int | float):  # bool is an int
        raise FixtureError(f"{where} must be a string")
    try:
        return str(value)
    except ValueError:  # an integer of more digits than Python converts
        raise FixtureError(f"{where} is a number too long to be a name") from None


def _shown(value: Any, limit: int = 40) -> str:
    """A value as an error names it: its repr cut short, or its type where it has no short one
    (an integer of thousands of digits has no repr at all: Python refuses to convert it)."""
    try:
        text = repr(value[:limit] if isinstance(value, str) else value)
    except ValueError:
        return f"an {type(value).__name__} too long to show"
    return text if len(text) <= limit + 2 else f"a {type(value).__name__}"


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise FixtureError(f"{where} must be a non-empty string")
    _encodable(value, where)
    return value


def _encodable(value: str, where: str) -> None:
    """Refuse what cannot be stored: a lone surrogate from JSON's \\ud800, say, or a NUL
    character (PostgreSQL's text cannot hold one)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FixtureError(f"{where} is not valid text (a lone surrogate?)") from None
    if "\x00" in value:
        raise FixtureError(f"{where} holds a NUL character, which cannot be stored")


def country_of(e164: str) -> str:
    """Return the ISO 3166 alpha-2 country of an E.164 number, or raise FixtureError."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as err:
        raise FixtureError(f"{e164!r} is not an E.164 phone number: {err}") from None
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != e164:
        raise FixtureError(f"{e164!r} is not in E.164 form (+ country code, then digits only)")
    # Fictional numbers such as +1 415 555 0100 match no region's rules; fall back to the main
    # country of their calling code (US for +1), which is what a reader would expect.
    calling_code = parsed.country_code or 0
    region = phonenumbers.region_code_for_number(
        parsed
    ) or phonenumbers.region_code_for_country_code(calling_code)
    if not region or region == phonenumbers.UNKNOWN_REGION:
        raise FixtureError(f"{e164!r}: no country uses calling code +{parsed.country_code}")
    return region


# The keys each entry of the layout may have: a misspelt one (`service:`) is an error, not an
# entry silently left out.
DOCUMENT_KEYS = ("accounts",)
ACCOUNT_KEYS = ("sid", "auth_token", "api_keys", "services", "incoming_phone_numbers")
API_KEY_KEYS = ("sid", "secret", "disabled")
SERVICE_KEYS = ("sid", "friendly_name")
NUMBER_KEYS = ("sid", "phone_number", "capabilities")


def _mapping(value: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    """Check that an entry is a mapping with only the layout's keys; return it."""
    if not isinstance(value, dict):
        raise FixtureError(f"{where} must be a mapping")
    unknown = [key for key in value if key not in keys]
    if unknown:
        raise FixtureError(
            f"{where}: unknown key {', '.join(_shown(k) for k in unknown[:3])}; "
            f"the keys are {', '.join(keys)}"
        )
    return value


def _incoming_number(entry: Any, where: str) -> IncomingNumber:
    _mapping(entry, NUMBER_KEYS, where)
    capabilities = entry.get("capabilities", list(CAPABILITIES))
    if not isinstance(capabilities, list) or not all(c in CAPABILITIES for c in capabilities):
        raise FixtureError(f"{where}: capabilities must be a list drawn from {list(CAPABILITIES)}")
    phone_number = _text(entry.get("phone_number"), f"{where}.phone_number")
    try:
        country_code = country_of(phone_number)
    except FixtureError as err:
        raise FixtureError(f"{where}.phone_number: {err}") from None
    return IncomingNumber(
        sid=_sid(entry.get("sid"), "PN", where),
        phone_number=phone_number,
        country_code=country_code,
        capabilities=tuple(c for c in CAPABILITIES if c in capabilities),
    )


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FixtureError(f"{where} must be a list")
    return value


def parse(document: Any) -> list[Account]:
    """Check a fixture document (already loaded from YAML or JSON) and return its accounts."""
    if not isinstance(document, dict) or not isinstance(document.get("accounts"), list):
        raise FixtureError("a fixture document is a mapping with a list under 'accounts'")
    _mapping(document, DOCUMENT_KEYS, "the document")
    parsed = []
    for i, raw in enumerate(document["accounts"]):
        where = f"accounts[{i}]"
        _mapping(raw, ACCOUNT_KEYS, where)
        keys, services, disabled = {}, {}, set()
        for j, key in enumerate(_list(raw.get("api_keys"), f"{where}.api_keys")):
            key_where = f"{where}.api_keys[{j}]"
            _mapping(key, API_KEY_KEYS, key_where)
            key_sid = _sid(key.get("sid"), "SK", key_where)
            keys[key_sid] = _text(key.get("secret"), f"{key_where}.secret")
            if key.get("disabled", False) is True:
                disabled.add(key_sid)
        for j, service in enumerate(_list(raw.get("services"), f"{where}.services")):
            service_where = f"{where}.services[{j}]"
            _mapping(service, SERVICE_KEYS, service_where)
            name = _name(service.get("friendly_name"), f"{service_where}.friendly_name")
            name = (name or _sid(service.get("sid"), "MG", service_where))[:64]
            _encodable(name, f"{service_where}.friendly_name")
            services[_sid(service.get("sid"), "MG", service_where)] = name
        numbers = tuple(
            _incoming_number(entry, f"{where}.incoming_phone_numbers[{j}]")
            for j, entry in enumerate(
                _list(raw.get("incoming_phone_numbers"), f"{where}.incoming_phone_numbers")
            )
        )
        parsed.append(
            Account(
                sid=_sid(raw.get("sid"), "AC", where),
                auth_token=_text(raw.get("auth_token"), f"{where}.auth_token"),
                api_keys=keys,
                disabled_api_keys=frozenset(disabled),
                services=services,
                incoming_phone_numbers=numbers,
            )
        )
    return parsed


# Bounds on a fixture document, checked on the parser's event stream before anything is built
# from it: libyaml's composer recurses once per level (25,000 levels overflow the C stack), and
# aliases can expand a few hundred bytes into gigabytes ("billion laughs").
MAX_DEPTH = 32  # the documented layout needs 5
MAX_NODES = 200_000


def load_text(text: str | bytes, *, aliases: bool = True) -> list[Account]:
    """Parse a fixture document given as YAML (or JSON, which YAML reads too).

    `aliases=False` (documents that come over HTTP) refuses YAML aliases outright.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_bounds(yaml.parse(text, Loader=loader), aliases=aliases)
        document = yaml.load(text, Loader=loader)
    except FixtureError:
        raise
    except yaml.YAMLError as err:
        raise FixtureError(f"not valid YAML or JSON: {_first_line(err)}") from None
    except (ValueError, OverflowError) as err:  # an integer or a date out of range, say
        raise FixtureError(f"a value cannot be read: {_first_line(err)}") from None
    except Exception:  # what PyYAML's constructors raise on a tag's value
        # A tag given a value it has no reading for: `!!bool x` is a KeyError inside PyYAML,
        # `!!timestamp x` an AttributeError.
        raise FixtureError(
            "a value cannot be read: a tag (!!bool, !!timestamp…) holds what it cannot take"
        ) from None
    return parse(document)


def _check_bounds(events: Any, *, aliases: bool) -> None:
    depth = nodes = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent) and not aliases:
            raise FixtureError("YAML aliases are not accepted in a document sent over HTTP")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise FixtureError(f"the document is nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise FixtureError(f"the document has more than {MAX_NODES} nodes")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def load_file(path: str | Path) -> list[Account]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise FixtureError(f"cannot read fixture file {path}: {err.strerror}") from None
    return load_text(text)


def demo() -> list[Account]:
    """Return the built-in demo fixtures (twilio_fake/demo_fixtures.yaml)."""
    return load_text(resources.files(__package__).joinpath("demo_fixtures.yaml").read_text())
