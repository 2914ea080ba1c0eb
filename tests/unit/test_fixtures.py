"""Fixture documents: the documented layout loads; anything else is refused with a clear reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from twilio_fake import fixtures

LAYOUT = """
accounts:
  - sid: AC0123456789abcdef0123456789abcdef
    auth_token: "secret"
    api_keys: [{sid: SK0123456789abcdef0123456789abcdef, secret: "key-secret"}]
    services: [{sid: MG0123456789abcdef0123456789abcdef, friendly_name: "Alerts"}]
    incoming_phone_numbers:
      - sid: PN0123456789abcdef0123456789abcdef
        phone_number: "+14155550100"
        capabilities: [SMS, MMS, Voice]
"""


def test_the_documented_layout_loads(tmp_path: Path) -> None:
    path = tmp_path / "fixtures.yaml"
    path.write_text(LAYOUT)
    [account] = fixtures.load_file(path)
    assert account.sid == "AC0123456789abcdef0123456789abcdef"
    assert account.auth_token == "secret"
    assert account.api_keys == {"SK0123456789abcdef0123456789abcdef": "key-secret"}
    assert account.services == {"MG0123456789abcdef0123456789abcdef": "Alerts"}
    [number] = account.incoming_phone_numbers
    assert (number.phone_number, number.country_code, number.capabilities) == (
        "+14155550100",
        "US",
        ("MMS", "SMS", "Voice"),
    )


def test_the_demo_loads() -> None:
    accounts = fixtures.demo()
    assert len(accounts) == 2
    assert sum(len(a.incoming_phone_numbers) for a in accounts) == 7
    # One of them voice only, to try 21715 by hand.
    assert [n.capabilities for a in accounts for n in a.incoming_phone_numbers].count(
        ("Voice",)
    ) == 1


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("+14155550100", "US"),  # fictional 555 number: falls back to the calling code's country
        ("+442071838750", "GB"),
        ("+33142685300", "FR"),
        ("+61293744000", "AU"),
        ("+16135550100", "CA"),  # Ottawa area code, shared calling code +1
        ("+4930123456", "DE"),
    ],
)
def test_country_code_comes_from_the_number(number: str, country: str) -> None:
    assert fixtures.country_of(number) == country


ACCOUNT = "sid: AC0123456789abcdef0123456789abcdef, auth_token: x"


def with_number(number: str) -> str:
    """A one-account document whose only incoming number has the given fields."""
    return (
        f"accounts: [{{{ACCOUNT}, incoming_phone_numbers: "
        f"[{{sid: PN0123456789abcdef0123456789abcdef, {number}}}]}}]"
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("[]", "list under 'accounts'"),
        ("accounts: nope", "list under 'accounts'"),
        ("accounts: [{sid: AC1, auth_token: x}]", "accounts[0]: sid must be AC"),
        ("accounts: [{sid: AC0123456789abcdef0123456789abcdef}]", "auth_token must be a non-empty"),
        (f"accounts: [{{{ACCOUNT}, services: [{{sid: PN1}}]}}]", "services[0]: sid must be MG"),
        (
            with_number("phone_number: '4155550100'"),
            "accounts[0].incoming_phone_numbers[0].phone_number: '4155550100' is not an E.164",
        ),
        (
            with_number("phone_number: '+1 415 555 0100'"),
            "incoming_phone_numbers[0].phone_number: '+1 415 555 0100' is not in E.164 form",
        ),
        # A misspelt key would otherwise leave the entry out and every call 404.
        (f"accounts: [{{{ACCOUNT}, service: []}}]", "accounts[0]: unknown key 'service'"),
        (
            f"accounts: [{{{ACCOUNT}, incoming_numbers: []}}]",
            "accounts[0]: unknown key 'incoming_numbers'; the keys are sid, auth_token",
        ),
        (
            f"accounts: [{{{ACCOUNT}, services: [{{sid: MG0123456789abcdef0123456789abcdef, "
            "name: x}]}]",
            "accounts[0].services[0]: unknown key 'name'",
        ),
        (with_number("phone_number: '+14155550100', capability: [SMS]"), "unknown key 'capab"),
        ("accounts: []\naccount: []", "the document: unknown key 'account'"),
        (with_number("phone_number: '+14155550100', capabilities: [Fax]"), "capabilities must be"),
        ("accounts: [", "not valid YAML"),
    ],
)
def test_a_bad_document_is_refused_with_its_reason(document: str, reason: str) -> None:
    with pytest.raises(fixtures.FixtureError, match=re.escape(reason)):
        fixtures.load_text(document)


def test_a_friendly_name_written_as_a_number_is_its_text() -> None:
    """YAML reads `friendly_name: 2024` as a number: the name is "2024", as it always was."""
    (account,) = fixtures.load_text(
        f"accounts: [{{{ACCOUNT}, services: [{{sid: MG{'0' * 32}, friendly_name: 2024}}]}}]"
    )
    assert list(account.services.values()) == ["2024"]
    with pytest.raises(fixtures.FixtureError, match="friendly_name must be a string"):
        fixtures.load_text(
            f"accounts: [{{{ACCOUNT}, services: [{{sid: MG{'0' * 32}, friendly_name: [a]}}]}}]"
        )


def test_a_missing_file_is_reported() -> None:
    with pytest.raises(fixtures.FixtureError, match="cannot read fixture file"):
        fixtures.load_file("/nonexistent/fixtures.yaml")
