"""The rules below the Messages resource, without HTTP: segments, the choice of a sender, opt-outs,
the status life cycle on an account's clock (and several workers advancing it at once), and
inbound messages. On a SQLite file and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from tests.support import ACCOUNT, NUMBERS, OTHER_ACCOUNT, SERVICE, SERVICE2
from twilio_fake.backend import Backend
from twilio_fake.resources.messages import optouts, segments, selection
from twilio_fake.resources.messages.rule_errors import (
    NoSenderForRecipient,
    NoSenders,
    ServiceGone,
)
from twilio_fake.resources.messages.tables import sticky_senders
from twilio_fake.resources.numbers.tables import incoming_phone_numbers
from twilio_fake.resources.pool import model as pool
from twilio_fake.resources.services.tables import services

NOW = 1_800_000_000.0  # an account's time, in seconds

# The demo's numbers: PN…01 +14155550100 (US, SMS MMS), PN…02 +14155550101 (US, SMS MMS),
# PN…03 +442071838750 (GB, SMS), PN…04 +33142685300 (FR, SMS), PN…05 +61293744000 (AU, SMS).
US1, US2, GB, FR, AU = NUMBERS
_numbered = itertools.count(100)


# Segments ------------------------------------------------------------------------------------
# The cases of the segment reference (extras/segments_reference.py, checked there against
# Twilio's message-segment-calculator), and the edges of each table.
@pytest.mark.parametrize(
    ("body", "expected_encoding", "expected_segments"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("é" * 160, "GSM-7", 1),  # in GSM-7's basic table
        ("€" * 80, "GSM-7", 1),  # the extension table: two septets each
        ("€" * 81, "GSM-7", 2),
        ("a" * 152 + "€", "GSM-7", 1),  # 154 septets: one segment
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3),  # 306 septets, but € is never split: 3
        ("ж" * 70, "UCS-2", 1),
        ("ж" * 71, "UCS-2", 2),
        ("ж" * 134, "UCS-2", 2),
        ("ж" * 135, "UCS-2", 3),
        ("a" * 159 + "ж", "UCS-2", 3),  # one character outside GSM-7 makes all of it UCS-2
        ("😜" * 35, "UCS-2", 1),  # two UTF-16 units each
        ("😜" * 36, "UCS-2", 2),
        ("😜" + "2345678901" * 13 + "234", "UCS-2", 3),  # the calculator's own test
        ("ç", "UCS-2", 1),  # only the capital Ç is GSM-7
    ],
)
def test_segments_match_twilios_calculator(
    body: str, expected_encoding: str, expected_segments: int
) -> None:
    assert segments.encoding(body) == expected_encoding
    assert segments.count(body) == expected_segments


def test_the_length_for_the_1600_limit_counts_utf16_units() -> None:
    assert segments.length("a" * 1600) == 1600
    assert segments.length("€" * 10) == 10  # an extension character counts once
    assert segments.length("ж") == 1
    assert segments.length("😜") == 2  # "counted as multiple characters"
    assert segments.length("") == 0


# Selection -----------------------------------------------------------------------------------
def _number(backend: Backend, phone_number: str, capabilities: list[str], country: str) -> str:
    """A new incoming number of the demo account; its SID."""
    sid = f"PN{next(_numbered):032x}"
    with backend.db.write() as conn:
        conn.execute(
            insert(incoming_phone_numbers).values(
                sid=sid,
                account_sid=ACCOUNT,
                phone_number=phone_number,
                country_code=country,
                capabilities=capabilities,
            )
        )
    return sid


def _settings(backend: Backend, service: str = SERVICE, **values: Any) -> None:
    with backend.db.write() as conn:
        conn.execute(update(services).where(services.c.sid == service).values(**values))


def _choose(
    backend: Backend, to: str, *, service: str = SERVICE, mms: bool = False
) -> selection.Sender:
    with backend.db.write() as conn:
        return selection.choose(conn, ACCOUNT, service, to, needs_mms=mms, now=NOW)


def _pool(backend: Backend, *sids: str, service: str = SERVICE) -> None:
    for sid in sids:
        pool.add(backend, ACCOUNT, service, sid)


def test_the_issues_us_and_fr_pool_sends_from_the_recipients_country(backend: Backend) -> None:
    _pool(backend, US1, FR)
    assert _choose(backend, "+33612345678") == (FR, "+33142685300")
    assert _choose(backend, "+14155551234") == (US1, "+14155550100")
    # And again, sticky or not: the same senders.
    assert _choose(backend, "+33612345678").sid == FR
    assert _choose(backend, "+14155551234").sid == US1


def test_an_empty_pool_is_21704(backend: Backend) -> None:
    with pytest.raises(NoSenders) as caught:
        _choose(backend, "+14155551234")
    assert caught.value.code == 21704


def test_a_service_deleted_meanwhile_is_21701(backend: Backend) -> None:
    with pytest.raises(ServiceGone) as caught:
        _choose(backend, "+14155551234", service="MG" + "f" * 32)
    assert caught.value.code == 21701


def test_a_us_recipient_without_a_us_or_canadian_sender_is_21703(backend: Backend) -> None:
    _pool(backend, GB, FR)
    with pytest.raises(NoSenderForRecipient) as caught:
        _choose(backend, "+14155551234")
    assert caught.value.code == 21703
    # Another country falls back on any sender.
    assert _choose(backend, "+4915112345678").sid in (GB, FR)


def test_mms_needs_an_mms_sender(backend: Backend) -> None:
    _pool(backend, FR)
    with pytest.raises(NoSenderForRecipient):
        _choose(backend, "+33612345678", mms=True)
    _pool(backend, US1)
    # The French number cannot send media: the US one, the fallback, does.
    assert _choose(backend, "+33612345679", mms=True).sid == US1


def test_without_a_local_sender_a_us_one_then_any(backend: Backend) -> None:
    _pool(backend, GB, US2, AU)
    assert _choose(backend, "+4915112345678").sid == US2  # Germany: none local, US first
    assert _choose(backend, "+447700900123").sid == GB
    # Guernsey's numbers are +44 too: "Country Code Geomatch" sends from the GB number.
    assert _choose(backend, "+447911123456").sid == GB


def test_area_code_geomatch_prefers_the_area_code_then_the_state(backend: Backend) -> None:
    ny = _number(backend, "+12125550100", ["SMS"], "US")
    sf = _number(backend, "+14155550199", ["SMS"], "US")
    la = _number(backend, "+12135550100", ["SMS"], "US")  # Los Angeles, California
    toronto = _number(backend, "+14165550100", ["SMS"], "CA")
    _pool(backend, ny, sf, la, toronto)
    assert _choose(backend, "+14155551234").sid == sf  # same area code
    assert _choose(backend, "+16505551234").sid in (sf, la)  # 650: California, an overlay
    assert _choose(backend, "+16475551234").sid == toronto  # 647: Ontario, as 416
    assert _choose(backend, "+19075551234").sid in (ny, sf, la, toronto)  # Alaska: any
    # Off: any sender of the recipient's country (never the Canadian one for a US number).
    _settings(backend, area_code_geomatch=False, sticky_sender=False)
    chosen = {_choose(backend, f"+1415555{n:04d}").sid for n in range(40)}
    assert chosen == {ny, sf, la}


def test_a_canadian_number_may_send_to_the_us_when_no_us_one_can(backend: Backend) -> None:
    toronto = _number(backend, "+14165550100", ["SMS"], "CA")
    _pool(backend, toronto, FR)
    _settings(backend, area_code_geomatch=False)
    assert _choose(backend, "+14155551234").sid == toronto


def test_the_choice_among_equals_is_the_same_every_time_and_spread(backend: Backend) -> None:
    _settings(backend, sticky_sender=False, area_code_geomatch=False)
    _pool(backend, US1, US2)
    firsts = [_choose(backend, f"+1202555{n:04d}").sid for n in range(20)]
    assert firsts == [_choose(backend, f"+1202555{n:04d}").sid for n in range(20)]
    assert set(firsts) == {US1, US2}


RECIPIENTS = [f"+1202555{n:04d}" for n in range(100, 110)]


def test_sticky_sender_keeps_the_first_choice(backend: Backend) -> None:
    _settings(backend, area_code_geomatch=False)
    _pool(backend, US1)
    assert {_choose(backend, to).sid for to in RECIPIENTS} == {US1}
    _pool(backend, US2)
    # Each recipient keeps US1, though a fresh choice now spreads them over both.
    assert {_choose(backend, to).sid for to in RECIPIENTS} == {US1}
    _settings(backend, sticky_sender=False)
    assert {_choose(backend, to).sid for to in RECIPIENTS} == {US1, US2}
    # Turned on again, the mappings are back: neither used nor changed while it was off.
    _settings(backend, sticky_sender=True)
    assert {_choose(backend, to).sid for to in RECIPIENTS} == {US1}


def test_a_sticky_mapping_is_void_once_its_number_left_the_pool(backend: Backend) -> None:
    _settings(backend, area_code_geomatch=False)
    _pool(backend, US1)
    assert {_choose(backend, to).sid for to in RECIPIENTS} == {US1}
    pool.remove(backend, ACCOUNT, SERVICE, US1)
    _pool(backend, US2, US1)  # US1 back, as a new pool entry: the mappings to it are void
    chosen = {to: _choose(backend, to).sid for to in RECIPIENTS}
    assert set(chosen.values()) == {US1, US2}
    # The fresh choices are the new mappings.
    with backend.db.read() as conn:
        mapped = dict(
            conn.execute(select(sticky_senders.c.to_number, sticky_senders.c.sender_sid)).all()
        )
    assert mapped == chosen


def test_a_sticky_international_sender_gives_way_to_a_local_one(backend: Backend) -> None:
    _pool(backend, US1)
    assert _choose(backend, "+33612345678").sid == US1  # no French sender yet
    _pool(backend, FR)
    assert _choose(backend, "+33612345678").sid == FR


def test_a_sticky_sender_that_cannot_send_media_is_passed_over(backend: Backend) -> None:
    _pool(backend, FR)
    assert _choose(backend, "+33612345678").sid == FR
    _pool(backend, US1)
    assert _choose(backend, "+33612345678", mms=True).sid == US1


def test_pools_and_mappings_are_per_service(backend: Backend) -> None:
    _pool(backend, US1)
    _pool(backend, US2, service=SERVICE2)
    assert _choose(backend, "+12025550123").sid == US1
    assert _choose(backend, "+12025550123", service=SERVICE2).sid == US2


def test_another_accounts_service_is_not_found(backend: Backend) -> None:
    _pool(backend, US1)
    with backend.db.write() as conn, pytest.raises(ServiceGone):
        selection.choose(conn, OTHER_ACCOUNT, SERVICE, "+12025550123", needs_mms=False, now=NOW)


# Opt-outs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        *((word, "stop") for word in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")),
        *((word, "start") for word in ("START", "YES", "UNSTOP")),
        *((word, "help") for word in ("HELP", "INFO")),
        ("stop", "stop"),
        ("  Stop\n", "stop"),
        ("unstop", "start"),
        ("STOP PLEASE", None),  # only the word alone
        ("PLEASE CANCEL", None),
        ("STOPP", None),
        ("ST OP", None),
        ("", None),
        ("Hello", None),
    ],
)
def test_keywords_are_twilios_words_alone(body: str, expected: str | None) -> None:
    assert optouts.keyword(body) == expected


def test_an_opt_out_covers_its_scope_until_the_recipient_opts_in(backend: Backend) -> None:
    with backend.db.write() as conn:
        optouts.opt_out(conn, ACCOUNT, SERVICE, "+15551230000", NOW)
        optouts.opt_out(conn, ACCOUNT, SERVICE, "+15551230000", NOW + 1)  # again: no change
    with backend.db.read() as conn:
        assert optouts.is_opted_out(
            conn, ACCOUNT, scope_sids=[SERVICE, US1], recipient="+15551230000"
        )
        assert not optouts.is_opted_out(
            conn, ACCOUNT, scope_sids=[US1], recipient="+15551230000"
        )  # a number outside the service: another scope
        assert not optouts.is_opted_out(
            conn, ACCOUNT, scope_sids=[SERVICE], recipient="+15551230001"
        )
        assert not optouts.is_opted_out(conn, ACCOUNT, scope_sids=[], recipient="+15551230000")
        # Another account's view of the same SIDs holds nothing.
        assert not optouts.is_opted_out(
            conn, OTHER_ACCOUNT, scope_sids=[SERVICE], recipient="+15551230000"
        )
    with backend.db.write() as conn:
        optouts.opt_in(conn, ACCOUNT, SERVICE, "+15551230000", NOW + 2)
        optouts.opt_in(conn, ACCOUNT, SERVICE, "+15551230000", NOW + 3)  # again: no change
    with backend.db.read() as conn:
        assert not optouts.is_opted_out(
            conn, ACCOUNT, scope_sids=[SERVICE], recipient="+15551230000"
        )


def test_the_scope_of_a_pooled_number_is_its_service(backend: Backend) -> None:
    _pool(backend, US1)
    with backend.db.read() as conn:
        assert optouts.scope_for(conn, ACCOUNT, US1) == SERVICE
        assert optouts.scope_for(conn, ACCOUNT, US2) == US2
        # Another account's number is never resolved to its service.
        assert optouts.scope_for(conn, OTHER_ACCOUNT, US1) == US1
