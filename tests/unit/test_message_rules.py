"""The rules below the Messages resource, without HTTP: segments, the choice of a sender, opt-outs,
the status life cycle on an account's clock (and several workers advancing it at once), and
inbound messages. On a SQLite file and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, update

from tests.support import ACCOUNT, NUMBERS, OTHER_ACCOUNT, SERVICE, SERVICE2, all_at_once
from twilio_fake import clock
from twilio_fake import exceptions as errors
from twilio_fake.backend import Backend
from twilio_fake.db import accounts as db_accounts
from twilio_fake.resources.messages import inbound, lifecycle, optouts, segments, selection
from twilio_fake.resources.messages.rule_errors import (
    NoSenderForRecipient,
    NoSenders,
    NotAnIncomingNumber,
    ServiceGone,
)
from twilio_fake.resources.messages.tables import messages, opt_outs, sticky_senders
from twilio_fake.resources.messages.times import as_datetime
from twilio_fake.resources.numbers import model as numbers_model
from twilio_fake.resources.numbers.tables import incoming_phone_numbers
from twilio_fake.resources.pool import model as pool
from twilio_fake.resources.services import model as services_model
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


@pytest.mark.parametrize("where", [0, 3, 4, 9])
def test_an_opt_out_is_found_wherever_its_scope_is_among_many(backend: Backend, where: int) -> None:
    # The check asks four scopes at a time (optouts.SCOPES_AT_ONCE); of the 11 here, the one
    # opted out of is first or last of the first four, first of the next four, or in the last
    # three (whose room left is filled).
    others = [f"PN{n:032x}" for n in range(10)]
    with backend.db.write() as conn:
        optouts.opt_out(conn, ACCOUNT, SERVICE, "+15551230000", NOW)
    with backend.db.read() as conn:
        scopes = [*others[:where], SERVICE, *others[where:]]
        assert optouts.is_opted_out(conn, ACCOUNT, scope_sids=scopes, recipient="+15551230000")
        assert not optouts.is_opted_out(conn, ACCOUNT, scope_sids=others, recipient="+15551230000")
        # The same scope given twice counts once: no room is taken by the copy.
        assert optouts.is_opted_out(
            conn, ACCOUNT, scope_sids=[*others[:3], others[0], SERVICE], recipient="+15551230000"
        )


def test_an_opt_out_check_of_a_sid_no_database_can_hold_finds_none(backend: Backend) -> None:
    # A NUL cannot reach PostgreSQL in text: the scopes are bound as SIDs (db.Sid), as the
    # columns they are compared with.
    with backend.db.write() as conn:
        optouts.opt_out(conn, ACCOUNT, SERVICE, "+15551230000", NOW)
    with backend.db.read() as conn:
        assert not optouts.is_opted_out(
            conn, ACCOUNT, scope_sids=[SERVICE + "\x00"], recipient="+15551230000"
        )


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


# The life cycle ------------------------------------------------------------------------------
STATUS_URL = "https://example.com/status"
SERVICE_URL = "https://example.com/service-status"
_message_sids = itertools.count(1)


def _message(
    backend: Backend,
    *,
    status: str = "queued",
    account: str = ACCOUNT,
    service: str | None = None,
    from_number: str | None = "+14155550100",
    to: str = "+14155551234",
    body: str = "Hello",
    media: list[str] | None = None,
    status_callback: str | None = STATUS_URL,
    outcome: lifecycle.Outcome = lifecycle.DELIVERED,
    due: float | None = None,
) -> str:
    """A message as the resource stores it at create, at the account's time NOW; its SID."""
    sid = f"{'MM' if media else 'SM'}{next(_message_sids):032x}"
    with backend.db.write() as conn:
        conn.execute(
            insert(messages).values(
                sid=sid,
                account_sid=account,
                service_sid=service,
                from_number=from_number,
                to_number=to,
                body=body,
                media_urls=json.dumps(media) if media else None,
                num_segments=segments.count(body),
                status=status,
                direction="outbound-api",
                status_callback=status_callback,
                date_created=as_datetime(NOW),
                date_updated=as_datetime(NOW),
                due_at=lifecycle.first_due(NOW, status) if due is None else due,
                outcome=outcome.status,
                outcome_error=outcome.error_code,
            )
        )
    return sid


def _freeze(backend: Backend, account: str = ACCOUNT, at: float = NOW) -> None:
    with backend.db.write() as conn:
        clock.freeze(conn, account, real=at)


def _advance(
    backend: Backend, seconds: float = 0.0, *, account: str | None = None, **options: Any
) -> list[lifecycle.Transition]:
    """Move ACCOUNT's frozen clock on by `seconds`, then take one round of due steps."""
    with backend.db.write() as conn:
        if seconds:
            clock.advance(conn, ACCOUNT, seconds)
        return lifecycle.advance_due(conn, real_now=time.time(), account_sid=account, **options)


def _row(backend: Backend, sid: str) -> Any:
    with backend.db.read() as conn:
        return conn.execute(select(messages).where(messages.c.sid == sid)).one()


def _params(sid: str, status: str, **extra: str) -> dict[str, str]:
    """Twilio's status callback parameters (behaviour §3.4) for a message from US1 to
    +14155551234."""
    return {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+14155551234",
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": "+14155550100",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def _dlr_date(seconds: float) -> str:
    return as_datetime(seconds).strftime("%y%m%d%H%M")


def test_a_message_runs_to_delivered_on_its_accounts_frozen_clock(backend: Backend) -> None:
    _freeze(backend)
    sid = _message(backend)
    assert _advance(backend) == []  # due 0.1 s after its creation: the clock stands still
    assert _advance(backend, 0.1) == [lifecycle.Transition(ACCOUNT, sid, "sending", None)]
    assert _advance(backend) == []
    assert _row(backend, sid).date_sent == as_datetime(NOW + 0.1)
    assert _advance(backend, 0.2) == [
        lifecycle.Transition(
            ACCOUNT, sid, "sent", lifecycle.Callback(STATUS_URL, _params(sid, "sent"))
        )
    ]
    assert _advance(backend, 0.4) == []
    (delivered,) = _advance(backend, 0.1)
    assert delivered == lifecycle.Transition(
        ACCOUNT,
        sid,
        "delivered",
        lifecycle.Callback(
            STATUS_URL, _params(sid, "delivered", RawDlrDoneDate=_dlr_date(NOW + 0.8))
        ),
    )
    row = _row(backend, sid)
    assert (row.status, row.due_at, row.error_code, row.error_message) == (
        "delivered",
        None,
        None,
        None,
    )
    assert (row.price, row.price_unit) == ("-0.00790", "USD")
    assert row.date_updated == as_datetime(NOW + 0.8)
    assert _advance(backend, 3600) == []  # final: nothing more happens


def test_a_clock_moved_on_at_once_lets_every_step_fall_due(backend: Backend) -> None:
    _freeze(backend)
    sid = _message(backend, body="a" * 161)
    steps = [_advance(backend, 5)] + [_advance(backend) for _ in range(3)]
    assert [[t.status for t in step] for step in steps] == [
        ["sending"],
        ["sent"],
        ["delivered"],
        [],
    ]
    assert _row(backend, sid).price == "-0.01580"  # two segments


def test_a_round_is_undone_when_a_due_message_changed_before_its_step_was_written(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What keeps two dispatchers from moving a message twice, if their locks ever let them
    both read it: the step is written only over the status and due time it was read with."""
    _freeze(backend)
    taken, left = _message(backend), _message(backend)
    step = lifecycle._step

    def taken_meanwhile(conn: Any, row: Any) -> Any:
        if row.sid == taken:  # another worker writes its step between the read and the write
            conn.execute(update(messages).where(messages.c.sid == taken).values(status="sending"))
        return step(conn, row)

    monkeypatch.setattr(lifecycle, "_step", taken_meanwhile)
    with pytest.raises(lifecycle.StepTakenElsewhere):
        _advance(backend, 1)
    assert (_row(backend, taken).status, _row(backend, left).status) == ("queued", "queued")
    monkeypatch.setattr(lifecycle, "_step", step)
    assert sorted(t.message_sid for t in _advance(backend, 1)) == sorted([taken, left])


def test_a_service_chooses_the_sender_when_the_message_falls_due(backend: Backend) -> None:
    _freeze(backend)
    _pool(backend, US1)
    _settings(backend, status_callback=SERVICE_URL)
    through_service = _message(
        backend, status="accepted", service=SERVICE, from_number=None, status_callback=None
    )
    own_callback = _message(backend, status="accepted", service=SERVICE, from_number=None)
    queued = _advance(backend, 0.1)
    assert queued == [
        lifecycle.Transition(
            ACCOUNT,
            sid,
            "queued",
            lifecycle.Callback(url, _params(sid, "queued", MessagingServiceSid=SERVICE)),
        )
        for sid, url in ((through_service, SERVICE_URL), (own_callback, STATUS_URL))
    ]
    assert _row(backend, through_service).from_number == "+14155550100"
    later = [t.status for _ in range(4) for t in _advance(backend, 1)]
    assert later == ["sending", "sending", "sent", "sent", "delivered", "delivered"]


def test_no_callback_without_a_url(backend: Backend) -> None:
    _freeze(backend)
    _message(backend, status_callback=None)
    assert [(t.status, t.callback) for _ in range(3) for t in _advance(backend, 1)] == [
        ("sending", None),
        ("sent", None),
        ("delivered", None),
    ]


def test_an_empty_pool_fails_the_message_with_21704(backend: Backend) -> None:
    _freeze(backend)
    sid = _message(backend, status="accepted", service=SERVICE, from_number=None)
    (failed,) = _advance(backend, 0.1)
    params = _params(sid, "failed", MessagingServiceSid=SERVICE, ErrorCode="21704")
    del params["From"]  # no sender was chosen
    assert failed == lifecycle.Transition(
        ACCOUNT, sid, "failed", lifecycle.Callback(STATUS_URL, params)
    )
    row = _row(backend, sid)
    assert (row.status, row.error_code, row.due_at, row.from_number) == (
        "failed",
        21704,
        None,
        None,
    )
    assert row.error_message == "The Messaging Service contains no phone numbers"


def test_no_sender_for_the_recipient_fails_with_21703(backend: Backend) -> None:
    _freeze(backend)
    _pool(backend, FR)
    sid = _message(backend, status="accepted", service=SERVICE, from_number=None)
    (failed,) = _advance(backend, 0.1)
    assert failed.callback is not None and failed.callback.params["ErrorCode"] == "21703"
    assert _row(backend, sid).error_code == 21703


def test_a_message_with_media_needs_an_mms_sender(backend: Backend) -> None:
    _freeze(backend)
    _pool(backend, GB, US1)
    sid = _message(
        backend,
        status="accepted",
        service=SERVICE,
        from_number=None,
        to="+447700900123",
        media=["https://example.com/a.png"],
    )
    assert [t.status for t in _advance(backend, 0.1)] == ["queued"]
    assert _row(backend, sid).from_number == "+14155550100"  # GB's number has no MMS
    for _ in range(3):
        _advance(backend, 1)
    assert _row(backend, sid).price == "-0.02000"


def test_a_planned_failure_fails_after_sending(backend: Backend) -> None:
    _freeze(backend)
    with backend.db.write() as conn:
        assert lifecycle.set_outcome(conn, ACCOUNT, "+1415555*", "failed", 30007) == (
            "failed",
            30007,
        )
        outcome = lifecycle.plan(conn, ACCOUNT, "+14155551234")
    sid = _message(backend, outcome=outcome)
    steps = [t for _ in range(4) for t in _advance(backend, 1)]
    assert [t.status for t in steps] == ["sending", "failed"]
    assert steps[1].callback == lifecycle.Callback(
        STATUS_URL, _params(sid, "failed", ErrorCode="30007")
    )
    row = _row(backend, sid)
    assert (row.error_code, row.error_message, row.price) == (30007, "Message filtered", None)


def test_a_planned_undelivery_is_sent_then_undelivered(backend: Backend) -> None:
    _freeze(backend)
    with backend.db.write() as conn:
        lifecycle.set_outcome(conn, ACCOUNT, "+14155551234", "undelivered")
        outcome = lifecycle.plan(conn, ACCOUNT, "+14155551234")
    assert outcome == lifecycle.Outcome("undelivered", 30003)
    sid = _message(backend, outcome=outcome)
    steps = [t for _ in range(4) for t in _advance(backend, 1)]
    assert [t.status for t in steps] == ["sending", "sent", "undelivered"]
    assert steps[2].callback == lifecycle.Callback(
        STATUS_URL,
        _params(sid, "undelivered", ErrorCode="30003", RawDlrDoneDate=_dlr_date(NOW + 3)),
    )
    # In the order of a real callback of Twilio's (behaviour 3.4, [VA-1376]): ErrorCode first.
    # Where RawDlrDoneDate goes was not recorded: last, as the fake chose.
    assert list(steps[2].callback.params) == [
        "ErrorCode",
        "SmsSid",
        "SmsStatus",
        "MessageStatus",
        "To",
        "MessageSid",
        "AccountSid",
        "From",
        "ApiVersion",
        "RawDlrDoneDate",
    ]


def test_the_newest_matching_outcome_rule_wins(backend: Backend) -> None:
    with backend.db.write() as conn:
        assert lifecycle.plan(conn, ACCOUNT, "+14155551234") == lifecycle.DELIVERED
        lifecycle.set_outcome(conn, ACCOUNT, "*", "undelivered", 30005)
        lifecycle.set_outcome(conn, ACCOUNT, "+1415*", "failed", 30001)
        lifecycle.set_outcome(conn, ACCOUNT, "+14155551234", "delivered")
        assert lifecycle.plan(conn, ACCOUNT, "+14155551234") == lifecycle.DELIVERED
        assert lifecycle.plan(conn, ACCOUNT, "+14155551235") == ("failed", 30001)
        assert lifecycle.plan(conn, ACCOUNT, "+4477009001") == ("undelivered", 30005)
        assert lifecycle.plan(conn, ACCOUNT, "+1415") == ("failed", 30001)
        assert lifecycle.plan(conn, ACCOUNT, "+141") == ("undelivered", 30005)  # prefix too long
        # A pattern set again is the newest rule.
        lifecycle.set_outcome(conn, ACCOUNT, "*", "failed", 30004)
        assert lifecycle.plan(conn, ACCOUNT, "+14155551235") == ("failed", 30004)
        # `_` and `%` are digits to match, not wildcards.
        lifecycle.set_outcome(conn, ACCOUNT, "+1_*", "undelivered", 30006)
        assert lifecycle.plan(conn, ACCOUNT, "+12") == ("failed", 30004)
        # Another account's messages are delivered.
        assert lifecycle.plan(conn, OTHER_ACCOUNT, "+14155551235") == lifecycle.DELIVERED
        lifecycle.clear_outcomes(conn, ACCOUNT)
        assert lifecycle.plan(conn, ACCOUNT, "+14155551235") == lifecycle.DELIVERED


@pytest.mark.parametrize(
    ("pattern", "status", "error_code"),
    [
        ("+1415*", "sent", None),  # not an outcome
        ("+1415*", "delivered", 30003),  # a delivery has no error
        ("+1*5", "failed", None),  # * only at the end
        ("", "failed", None),
        ("+1" * 40, "failed", None),
    ],
)
def test_an_invalid_outcome_rule_is_refused(
    backend: Backend, pattern: str, status: str, error_code: int | None
) -> None:
    with backend.db.write() as conn, pytest.raises(errors.InvalidParameter):
        lifecycle.set_outcome(conn, ACCOUNT, pattern, status, error_code)


def test_an_account_holds_a_bounded_number_of_outcome_rules(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lifecycle.max_outcome_rules() == 1000  # control.yaml's x-limits
    monkeypatch.setattr(lifecycle, "max_outcome_rules", lambda: 3)
    with backend.db.write() as conn:
        for n in range(3):
            lifecycle.set_outcome(conn, ACCOUNT, f"+1{n}*", "failed")
        lifecycle.set_outcome(conn, ACCOUNT, "+10*", "undelivered")  # a replacement: still 3
        lifecycle.set_outcome(conn, OTHER_ACCOUNT, "+10*", "failed")  # per account
        with pytest.raises(errors.InvalidParameter):
            lifecycle.set_outcome(conn, ACCOUNT, "+13*", "failed")


def test_a_scheduled_message_is_queued_at_its_send_at(backend: Backend) -> None:
    _freeze(backend)
    _pool(backend, US1)
    send_at = NOW + 900
    sid = _message(
        backend,
        status="scheduled",
        service=SERVICE,
        from_number=None,
        due=lifecycle.first_due(NOW, "scheduled", send_at=send_at),
    )
    assert _advance(backend, 899) == []
    (queued,) = _advance(backend, 1)
    assert queued.status == "queued"
    assert queued.callback is not None and queued.callback.params["From"] == "+14155550100"
    assert _row(backend, sid).due_at == send_at + 0.1


def test_first_due(backend: Backend) -> None:
    assert lifecycle.first_due(NOW, "queued") == NOW + 0.1
    assert lifecycle.first_due(NOW, "accepted") == NOW + 0.1
    assert lifecycle.first_due(NOW, "scheduled", send_at=NOW + 900) == NOW + 900
    assert lifecycle.first_due(NOW, "delivered") is None
    with pytest.raises(ValueError):
        lifecycle.first_due(NOW, "scheduled")


def test_each_account_runs_on_its_own_clock(backend: Backend) -> None:
    _freeze(backend, at=NOW + 10)  # ACCOUNT's clock is past everything below
    mine = _message(backend)
    theirs = _message(backend, account=OTHER_ACCOUNT, from_number="+14155550102")
    moved = [t.message_sid for t in _advance(backend)]
    assert moved == [mine]  # OTHER_ACCOUNT runs on real time, long before NOW
    with backend.db.write() as conn:
        assert [t.message_sid for t in lifecycle.advance_due(conn, real_now=NOW)] == [mine]
        # OTHER_ACCOUNT's message, due at NOW + 0.1 of real time:
        assert lifecycle.advance_due(conn, real_now=NOW, account_sid=OTHER_ACCOUNT) == []
        (step,) = lifecycle.advance_due(conn, real_now=NOW + 1, account_sid=OTHER_ACCOUNT)
    assert step.message_sid == theirs
    # A running clock with an offset: real time + offset.
    later = _message(backend, account=OTHER_ACCOUNT, from_number="+14155550102", due=NOW + 60)
    with backend.db.write() as conn:
        clock.advance(conn, OTHER_ACCOUNT, 50, real=NOW)  # running, 50 s ahead
        early = lifecycle.advance_due(conn, real_now=NOW + 9, account_sid=OTHER_ACCOUNT)
        on_time = lifecycle.advance_due(conn, real_now=NOW + 10, account_sid=OTHER_ACCOUNT)
    assert later not in [t.message_sid for t in early]
    assert later in [t.message_sid for t in on_time]


def test_a_round_takes_at_most_limit_messages_the_longest_due_first(backend: Backend) -> None:
    _freeze(backend, at=NOW + 10)
    sids = [_message(backend, status="sent", due=NOW + n) for n in (3, 1, 2)]  # one step left
    assert [t.message_sid for t in _advance(backend, limit=2)] == [sids[1], sids[2]]
    assert [t.message_sid for t in _advance(backend, limit=2)] == [sids[0]]


def test_a_canceled_message_sends_its_callback_once(backend: Backend) -> None:
    _freeze(backend, at=NOW + 10)
    sid = _message(backend, status="canceled", due=NOW + 10)  # as a cancel leaves it
    assert _advance(backend) == [
        lifecycle.Transition(
            ACCOUNT, sid, "canceled", lifecycle.Callback(STATUS_URL, _params(sid, "canceled"))
        )
    ]
    assert _advance(backend, 60) == []
    assert (_row(backend, sid).status, _row(backend, sid).due_at) == ("canceled", None)


def test_another_final_message_left_due_just_stops(backend: Backend) -> None:
    _freeze(backend, at=NOW + 10)
    sid = _message(backend, status="delivered", due=NOW)
    assert _advance(backend) == []
    assert _row(backend, sid).due_at is None


def test_the_next_due_time_follows_each_accounts_running_clock(backend: Backend) -> None:
    """When the dispatcher looks next (`next_due`), on both databases, which ask it
    differently."""
    real = time.time()
    now = as_datetime(NOW)

    def message(conn: Any, seq: int, account: str, due: float) -> None:
        conn.execute(
            insert(messages).values(
                sid=f"SM{seq:032d}",
                account_sid=account,
                to_number="+15005550006",
                status="queued",
                direction="outbound-api",
                date_created=now,
                date_updated=now,
                due_at=due,
            )
        )

    with backend.db.write() as conn:
        assert lifecycle.next_due(conn) is None
        clock.advance(conn, OTHER_ACCOUNT, 100.0, real)  # runs 100 s ahead
        message(conn, 1, ACCOUNT, real + 50)
        message(conn, 2, OTHER_ACCOUNT, real + 120)
        # The other account's message is due at its clock's real+120: real time +20.
        assert lifecycle.next_due(conn) == pytest.approx(real + 20, abs=0.001)
        clock.freeze(conn, OTHER_ACCOUNT, real)  # a frozen clock makes nothing due by itself
        message(conn, 3, OTHER_ACCOUNT, real)
        assert lifecycle.next_due(conn) == pytest.approx(real + 50, abs=0.001)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_on_postgresql_the_next_due_look_reads_each_due_message_at_most_once_a_part(
    backend: Backend,
) -> None:
    """PostgreSQL plans by its statistics, not as SQLite does: asked each running clock's
    account's least due time, it walked every due message of the other accounts for each such
    clock with nothing due. Ten such clocks and 300 messages due later of an account on real
    time, the statistics up to date: the look's statements (each explained as it ran, with
    EXPLAIN ANALYZE) read the messages' rows at most twice each, once a part of the look."""
    real = time.time()
    now = as_datetime(NOW)
    clocked = [f"AC{0xC10C << 100 | n:032x}" for n in range(10)]
    with backend.db.write() as conn:
        conn.execute(
            insert(db_accounts), [{"sid": a, "auth_token_hash": "0" * 64} for a in clocked]
        )
        for account in clocked:
            clock.advance(conn, account, 60.0, real)
        conn.execute(
            insert(messages),
            [
                {"sid": f"SM{n:032x}", "account_sid": ACCOUNT, "to_number": "+15005550006",
                 "status": "scheduled", "direction": "outbound-api", "date_created": now,
                 "date_updated": now, "due_at": real + 3600 + n}
                for n in range(300)
            ],
        )  # fmt: skip
    with backend.db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    ran: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if not statement.startswith("EXPLAIN"):
            ran.append((statement, parameters))

    event.listen(backend.db.engine, "before_cursor_execute", note)
    with backend.db.read() as conn:
        assert lifecycle.next_due(conn) == pytest.approx(real + 3600, abs=0.001)
        read = 0
        for statement, parameters in ran:
            plan = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
            ).scalar()
            read += _rows_read(plan[0]["Plan"], "messages")
    event.remove(backend.db.engine, "before_cursor_execute", note)
    assert len(ran) == 2
    assert read <= 2 * 300


def _rows_read(node: dict[str, Any], table: str) -> int:
    """The rows a plan's scans of `table` read: those they returned and those they filtered
    out, in every loop."""
    read = 0
    if node.get("Relation Name") == table:
        kept = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        read += kept * node.get("Actual Loops", 1)
    return read + sum(_rows_read(child, table) for child in node.get("Plans", []))


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_looking_for_due_messages_reads_neither_those_done_nor_those_due_later(
    backend: Backend,
) -> None:
    """The dispatcher looks after every round (every 20 ms while sends stream in): when the
    next message falls due, and which are due now. Neither look may read the messages already
    done (a history that only grows) nor those due later (a backlog of scheduled messages),
    whether their account's clock is real time or runs ahead. The work, counted in SQLite's
    virtual machine instructions, is the same with 10
    such messages of each kind as with 1,000."""
    real = time.time()
    now = as_datetime(NOW)
    with backend.db.write() as conn:
        clock.advance(conn, OTHER_ACCOUNT, 100.0, real)
        # One message of each account due now, and one due in a minute: what the looks find.
        _messages(conn, 0, 1, ACCOUNT, real - 1, now)
        _messages(conn, 1, 1, OTHER_ACCOUNT, real + 99, now)
        _messages(conn, 2, 1, ACCOUNT, real + 60, now)
        _messages(conn, 3, 1, OTHER_ACCOUNT, real + 160, now)
        seq = 4

        def add_others(count: int) -> None:
            nonlocal seq
            for account, later in ((ACCOUNT, real + 3600), (OTHER_ACCOUNT, real + 3700)):
                for due in (None, later):  # done, and due in an hour
                    _messages(conn, seq, count, account, due, now)
                    seq += count

        def looks() -> tuple[int, float | None, list[str]]:
            raw = conn.connection.driver_connection
            steps = [0]

            def count() -> int:
                steps[0] += 1
                return 0  # go on

            raw.set_progress_handler(count, 1)
            try:
                due_next = lifecycle.next_due(conn)
                found = _due_messages(conn, real)
            finally:
                raw.set_progress_handler(None, 1)
            return steps[0], due_next, found

        add_others(10)
        few, due_next, found = looks()
        assert due_next == pytest.approx(real - 1, abs=0.001)
        assert found == [f"SM{0:032d}", f"SM{1:032d}"]
        add_others(1000 - 10)
        many, due_next, found = looks()
        assert due_next == pytest.approx(real - 1, abs=0.001)
        assert found == [f"SM{0:032d}", f"SM{1:032d}"]
        assert many == few


def _messages(conn: Any, first: int, count: int, account: str, due: float | None, now: Any) -> None:
    conn.execute(
        insert(messages),
        [
            {
                "sid": f"SM{seq:032d}",
                "account_sid": account,
                "to_number": "+15005550006",
                "status": "queued" if due is not None else "delivered",
                "direction": "outbound-api",
                "date_created": now,
                "date_updated": now,
                "due_at": due,
            }
            for seq in range(first, first + count)
        ],
    )


def _due_messages(conn: Any, real_now: float) -> list[str]:
    """The SIDs of the messages the dispatcher's round would read as due now."""
    query = lifecycle._due(False, False)
    rows = conn.execute(query, {"real_now": real_now, "limit": 100, "account": None}).all()
    return [row.sid for row in rows]


# Several workers advancing at once ----------------------------------------------------------
def _advancing_worker(database: str, barrier: Any, results: Any) -> None:
    """A worker process: advance every due message of ACCOUNT, a few at a time, until none is
    left; report every step it took."""
    from twilio_fake.db import Database

    db = Database(database)
    taken: list[tuple[str, str, str | None]] = []
    try:
        barrier.wait(timeout=120)
        while True:
            with db.write() as conn:
                steps = lifecycle.advance_due(
                    conn, real_now=time.time(), account_sid=ACCOUNT, limit=4
                )
                left = conn.execute(
                    select(messages.c.sid).where(messages.c.due_at.is_not(None)).limit(1)
                ).first()
            taken += [
                (t.message_sid, t.status, (t.callback.url if t.callback else None)) for t in steps
            ]
            if left is None:
                break
    finally:
        results.put(taken)
        db.dispose()


def test_two_processes_advancing_at_once_move_each_message_once(backend: Backend) -> None:
    _freeze(backend, at=NOW + 60)  # everything below falls due, all the way to the end
    _pool(backend, US1, US2)
    recipients = [f"+1202555{n:04d}" for n in range(6)]
    direct = [_message(backend, to=to) for to in recipients * 4]
    pooled = [
        _message(backend, status="accepted", service=SERVICE, from_number=None, to=to)
        for to in recipients * 4  # four messages to each recipient: one sticky sender each
    ]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    url = str(backend.db.engine.url.render_as_string(hide_password=False))
    workers = [
        context.Process(target=_advancing_worker, args=(url, barrier, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    taken = [step for _ in workers for step in results.get(timeout=300)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    steps = [(sid, status) for sid, status, _ in taken]
    expected = [(sid, s) for sid in direct for s in ("sending", "sent", "delivered")] + [
        (sid, s) for sid in pooled for s in ("queued", "sending", "sent", "delivered")
    ]
    assert sorted(steps) == sorted(expected)  # each step of each message, once
    with backend.db.read() as conn:
        rows = conn.execute(select(messages.c.sid, messages.c.status, messages.c.to_number,
                                   messages.c.from_number)).all()  # fmt: skip
    assert {row.status for row in rows} == {"delivered"}
    senders: dict[str, set[str]] = {}
    for row in rows:
        if row.sid in pooled:
            senders.setdefault(row.to_number, set()).add(row.from_number)
    assert all(len(chosen) == 1 for chosen in senders.values()), senders


# Inbound -------------------------------------------------------------------------------------
SMS_URL = "https://example.com/sms"
INBOUND_URL = "https://example.com/inbound"
CUSTOMER = "+12025550123"


def _receive(
    backend: Backend, body: str = "Hi there", to: str = "+14155550100", sender: str = CUSTOMER
) -> Any:
    with backend.db.write() as conn:
        return inbound.receive(conn, ACCOUNT, from_number=sender, to_number=to, body=body, now=NOW)


def _opted_out(backend: Backend, scope: str) -> bool:
    with backend.db.read() as conn:
        return optouts.is_opted_out(conn, ACCOUNT, scope_sids=[scope], recipient=CUSTOMER)


def test_an_inbound_message_is_stored_and_goes_to_the_numbers_sms_url(backend: Backend) -> None:
    numbers_model.update(backend, ACCOUNT, US1, {"sms_url": SMS_URL, "sms_method": "GET"})
    received = _receive(backend, "Hello 😜")
    sid = received.message["sid"]
    assert (received.url, received.method, received.stored) == (SMS_URL, "GET", True)
    assert received.params == {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "DC",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": "Hello 😜",
        "FromCountry": "US",
        "To": "+14155550100",
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": CUSTOMER,
        "ApiVersion": "2010-04-01",
    }
    row = _row(backend, sid)
    assert (row.direction, row.status, row.from_number, row.to_number, row.body) == (
        "inbound",
        "received",
        CUSTOMER,
        "+14155550100",
        "Hello 😜",
    )
    assert (row.due_at, row.service_sid, row.date_sent) == (None, None, as_datetime(NOW))
    assert received.message["seq"] == row.seq


def test_a_number_without_a_url_stores_the_message_and_calls_nobody(backend: Backend) -> None:
    received = _receive(backend)
    assert (received.url, received.method, received.stored) == (None, "POST", True)
    assert _row(backend, received.message["sid"]).status == "received"


def test_a_pooled_number_goes_to_its_services_inbound_url(backend: Backend) -> None:
    numbers_model.update(backend, ACCOUNT, US1, {"sms_url": SMS_URL})
    _pool(backend, US1)
    _settings(backend, inbound_request_url=INBOUND_URL, inbound_method="GET")
    received = _receive(backend)
    assert (received.url, received.method, received.stored) == (INBOUND_URL, "GET", True)
    assert received.params["MessagingServiceSid"] == SERVICE
    assert _row(backend, received.message["sid"]).service_sid == SERVICE
    # The service defers to the number's own webhook.
    _settings(backend, use_inbound_webhook_on_number=True)
    assert _receive(backend).url == SMS_URL


def test_a_service_without_an_inbound_url_drops_the_message(backend: Backend) -> None:
    _pool(backend, US1)
    received = _receive(backend, "STOP")
    assert (received.url, received.stored) == (None, False)
    with backend.db.read() as conn:
        assert conn.execute(select(messages.c.sid)).first() is None  # "not logged"
    assert _opted_out(backend, SERVICE)  # the opt-out holds all the same


def test_stop_and_start_change_the_opt_out_of_the_numbers_scope(backend: Backend) -> None:
    _pool(backend, US1)
    _settings(backend, inbound_request_url=INBOUND_URL)
    assert _receive(backend, " stop ").params["Body"] == " stop "  # forwarded as sent
    assert _opted_out(backend, SERVICE)
    _receive(backend, "HELP")
    assert _opted_out(backend, SERVICE)
    _receive(backend, "Yes")
    assert not _opted_out(backend, SERVICE)
    # A number outside any service is its own scope.
    _receive(backend, "UNSUBSCRIBE", to="+14155550101")
    assert _opted_out(backend, US2)
    assert not _opted_out(backend, SERVICE)
    _receive(backend, "STOP please", to="+14155550101")  # not a keyword: changes nothing
    _receive(backend, "UNSTOP", to="+14155550101")
    assert not _opted_out(backend, US2)


def _stop_from(backend: Backend, sender: str, body: str = "STOP", to: str = "+14155550100") -> Any:
    return _receive(backend, body, to, sender)


def _opt_outs(backend: Backend) -> int:
    with backend.db.read() as conn:
        return conn.scalar(select(func.count()).select_from(opt_outs)) or 0


def test_an_account_holds_at_most_the_bound_of_opt_outs(backend: Backend, monkeypatch) -> None:
    """A STOP is recorded where the text itself is not stored (a service without an inbound
    URL): STOPs from ever new senders grew an account's opt-outs without end."""
    monkeypatch.setattr(optouts, "opt_outs_per_account", lambda: 3)
    _pool(backend, US1)  # a service with no inbound URL: nothing stored but the opt-outs
    for n in range(3):
        assert not _stop_from(backend, f"+1202555{n:04d}").stored
    _stop_from(backend, "+12025550000")  # one already held: nothing new, not refused
    with pytest.raises(errors.InvalidParameter) as caught:
        _stop_from(backend, "+12025550009")
    assert (caught.value.status, caught.value.code) == (400, 20001)
    assert "3 opt-outs" in caught.value.message
    assert _opt_outs(backend) == 3
    _stop_from(backend, "+12025550001", body="START")  # room again
    _stop_from(backend, "+12025550009")
    assert _opt_outs(backend) == 3


def test_the_opt_outs_of_a_released_number_or_a_deleted_service_count_no_more(
    backend: Backend, monkeypatch
) -> None:
    """No one can text a scope that is gone, so START could never free the place its opt-outs
    held: the account stayed full until a reset."""
    monkeypatch.setattr(optouts, "opt_outs_per_account", lambda: 2)
    _pool(backend, US1)  # US1's opt-outs are the service's; US2, in no pool, its own
    _stop_from(backend, "+12025550001")
    _stop_from(backend, "+12025550002", to="+14155550101")
    with pytest.raises(errors.InvalidParameter):
        _stop_from(backend, "+12025550003")
    numbers_model.release(backend, ACCOUNT, US2)
    _stop_from(backend, "+12025550003")  # the released number's opt-out gave its place
    assert _opt_outs(backend) == 2
    with pytest.raises(errors.InvalidParameter):
        _stop_from(backend, "+12025550004")
    services_model.delete_service(backend, ACCOUNT, SERVICE)
    numbers_model.release(backend, ACCOUNT, US1)
    bought = numbers_model.buy(backend, ACCOUNT, phone_number="+15005550006")
    _stop_from(backend, "+12025550005", to=bought.phone_number)
    assert _opt_outs(backend) == 1


def test_racing_stops_never_pass_the_bound(backend: Backend, monkeypatch) -> None:
    monkeypatch.setattr(optouts, "opt_outs_per_account", lambda: 3)
    _pool(backend, US1)
    senders = iter([f"+1202555{n:04d}" for n in range(8)])
    outcomes = all_at_once(8, lambda: _stop_from(backend, next(senders)))
    refused = [o for o in outcomes if isinstance(o, errors.InvalidParameter)]
    assert (len(outcomes) - len(refused), len(refused)) == (3, 5), outcomes
    assert _opt_outs(backend) == 3


def test_a_number_the_account_does_not_hold_is_refused(backend: Backend) -> None:
    with backend.db.write() as conn:
        with pytest.raises(NotAnIncomingNumber) as caught:
            inbound.receive(
                conn, ACCOUNT, from_number=CUSTOMER, to_number="+14155550102", body="Hi", now=NOW
            )  # the other account's number
        assert caught.value.code == 20404
        assert inbound.account_of(conn, "+14155550102") == OTHER_ACCOUNT
        assert inbound.account_of(conn, "+19995550000") is None
    with backend.db.read() as conn:
        assert conn.execute(select(messages.c.sid)).first() is None
