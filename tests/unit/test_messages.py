"""The rules of Messages over the API (send, list, fetch, redact or cancel, delete), no HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, delete, event, func, insert, inspect, select, update

from tests.support import ACCOUNT, OTHER_ACCOUNT, SERVICE, all_at_once, database_for
from tests.support.postgres import Interloper, PostgresServer, outcome_once_it_waits
from twilio_fake import clock, db, fixtures, spec
from twilio_fake.backend import Backend
from twilio_fake.db import MEMORY
from twilio_fake.exceptions import InvalidPageToken, ResourceNotFound, TwilioError
from twilio_fake.resources.messages import (
    capacity,
    control,
    errors,
    lifecycle,
    model,
    selection,
)
from twilio_fake.resources.messages.model import DateSent, Draft
from twilio_fake.resources.messages.tables import (
    message_counts,
    message_outcomes,
    messages,
    opt_outs,
    sticky_senders,
)
from twilio_fake.resources.numbers.tables import incoming_phone_numbers
from twilio_fake.resources.pool import model as pool

DEMO, OTHER = fixtures.demo()
# The demo's numbers, by what they can do (read from the demo fixture, not restated).
SMS_MMS = next(n for n in DEMO.incoming_phone_numbers if {"SMS", "MMS"} <= set(n.capabilities))
SMS_ONLY = next(n for n in DEMO.incoming_phone_numbers if set(n.capabilities) == {"SMS"})
VOICE_ONLY = next(n for n in DEMO.incoming_phone_numbers if "SMS" not in n.capabilities)
OTHER_SERVICE = next(iter(OTHER.services))
FOREIGN = OTHER.incoming_phone_numbers[0]
TO = "+14155550199"
BODY_LIMIT = spec.limit("message-body-characters")
MEDIA_LIMIT = spec.limit("media-per-message")


@pytest.fixture(params=["sqlite", MEMORY, "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_for(request.param, request, tmp_path)


def send(backend: Backend, account: str = ACCOUNT, **fields: object) -> model.Message:
    fields.setdefault("to", TO)
    if "from_" not in fields and "service_sid" not in fields:
        fields["from_"] = SMS_MMS.phone_number
    if not {"body", "media_urls", "content_sid"} & set(fields):
        fields["body"] = "Hello"
    return model.create(backend, account, Draft(**fields))  # type: ignore[arg-type]


def refused(backend: Backend, error: type[TwilioError], **fields: object) -> TwilioError:
    """The create fails with `error` and stores nothing."""
    before = count(backend)
    with pytest.raises(error) as caught:
        model.create(backend, ACCOUNT, Draft(**fields))  # type: ignore[arg-type]
    assert count(backend) == before
    return caught.value


def count(backend: Backend) -> int:
    with backend.db.read() as conn:
        return conn.scalar(select(func.count()).select_from(messages)) or 0


def stored(backend: Backend, sid: str) -> dict:
    with backend.db.read() as conn:
        return dict(conn.execute(select(messages).where(messages.c.sid == sid)).one()._mapping)


def frozen_at(backend: Backend, moment: datetime, account: str = ACCOUNT) -> None:
    with backend.db.write() as conn:
        clock.freeze(conn, account)
        now = clock.read(conn, account).now
        clock.advance(conn, account, moment.timestamp() - now)


def every_message(backend: Backend, account: str = ACCOUNT, **filters: object) -> list:
    found: list = []
    token = None
    while True:
        page = model.list_messages(backend, account, page_size=2, page_token=token, **filters)  # type: ignore[arg-type]
        found += page.rows
        token = page.next_token
        if token is None:
            return found


# -- create --------------------------------------------------------------------------------------
def test_a_message_from_a_number_is_queued_with_its_dates_from_the_accounts_clock(
    backend: Backend,
) -> None:
    moment = datetime(2026, 1, 15, 9, 30)
    frozen_at(backend, moment)
    message = send(backend, body="Hello")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.direction) == ("queued", "outbound-api")
    assert (message.from_number, message.to_number, message.service_sid) == (
        SMS_MMS.phone_number,
        TO,
        None,
    )
    assert message.date_created == message.date_updated == message.date_sent == moment
    assert (message.num_segments, message.num_media, message.error_code) == (1, 0, None)
    row = stored(backend, message.sid)
    assert row["due_at"] == lifecycle.first_due(moment.timestamp(), "queued")
    assert row["due_at"] is not None and row["due_at"] >= moment.timestamp()
    assert (row["outcome"], row["outcome_error"]) == ("delivered", None)


def test_the_planned_outcome_is_the_newest_rule_for_the_recipient(backend: Backend) -> None:
    with backend.db.write() as conn:
        conn.execute(
            insert(message_outcomes),
            [
                {
                    "account_sid": ACCOUNT,
                    "to_pattern": "+1415*",
                    "status": "failed",
                    "error_code": 30008,
                },
                {
                    "account_sid": ACCOUNT,
                    "to_pattern": TO,
                    "status": "undelivered",
                    "error_code": 30003,
                },
            ],
        )
    row = stored(backend, send(backend).sid)
    assert (row["outcome"], row["outcome_error"]) == ("undelivered", 30003)
    other = stored(backend, send(backend, to="+14155550198").sid)
    assert (other["outcome"], other["outcome_error"]) == ("failed", 30008)


def test_a_message_through_a_service_is_accepted_with_no_sender_yet(backend: Backend) -> None:
    message = send(backend, service_sid=SERVICE, body="Hi")
    assert (message.status, message.from_number, message.service_sid) == ("accepted", None, SERVICE)


def test_an_mg_sid_as_from_is_the_service(backend: Backend) -> None:
    message = send(backend, from_=SERVICE)
    assert (message.status, message.from_number, message.service_sid) == ("accepted", None, SERVICE)
    same = send(backend, from_=SERVICE, service_sid=SERVICE)
    assert same.service_sid == SERVICE and same.from_number is None


def test_from_with_a_service_must_be_in_its_pool(backend: Backend) -> None:
    refused(
        backend,
        errors.FromNotOwned,
        to=TO,
        from_=SMS_MMS.phone_number,
        service_sid=SERVICE,
        body="x",
    )
    pool.add(backend, ACCOUNT, SERVICE, SMS_MMS.sid)
    message = send(backend, from_=SMS_MMS.phone_number, service_sid=SERVICE)
    assert (message.status, message.from_number, message.service_sid) == (
        "queued",
        SMS_MMS.phone_number,
        SERVICE,
    )


def test_media_make_an_mm_message_and_need_an_mms_sender(backend: Backend) -> None:
    urls = ("https://example.com/a.png", "http://example.com/b.jpg")
    message = send(backend, media_urls=urls)
    assert message.sid.startswith("MM") and message.num_media == 2
    refused(backend, errors.FromNotOwned, to=TO, from_=SMS_ONLY.phone_number, media_urls=urls)


def test_segments_are_counted_and_a_content_sid_counts_as_content(backend: Backend) -> None:
    assert send(backend, body="a" * 161).num_segments == 2
    assert send(backend, body="ж" * 71).num_segments == 2
    assert send(backend, content_sid="HX" + "0" * 32).num_segments == 0


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        # The order of the checks (docs/fidelity.md): each case passes every earlier check.
        ({}, errors.ToRequired),
        ({"to": ""}, errors.ToRequired),
        ({"to": TO, "body": "x"}, errors.SenderRequired),
        ({"to": TO, "from_": "", "service_sid": ""}, errors.SenderRequired),
        ({"to": TO, "from_": "+15005550006"}, errors.BodyRequired),
        ({"to": TO, "from_": "+15005550006", "body": ""}, errors.BodyRequired),
        ({"to": TO, "service_sid": SERVICE}, errors.ServiceContentRequired),
        ({"to": TO, "from_": SERVICE}, errors.ServiceContentRequired),
        ({"to": "x", "from_": "x", "body": "a" * (BODY_LIMIT + 1)}, errors.BodyTooLong),
        (
            {"to": "x", "from_": "x", "media_urls": ["https://e.com/a"] * (MEDIA_LIMIT + 1)},
            errors.TooManyMedia,
        ),
        ({"to": "x", "from_": "x", "media_urls": ["ftp://e.com/a"]}, errors.InvalidMediaUrl),
        (
            {"to": "x", "from_": "x", "body": "x", "status_callback": "https://bad_host.com/cb"},
            errors.InvalidStatusCallback,
        ),
        (
            {"to": "x", "from_": "x", "body": "x", "status_callback": "ftp://example.com/cb"},
            errors.InvalidStatusCallback,
        ),
        (
            {"to": "x", "from_": "x", "body": "x", "schedule_type": "fixed"},
            errors.ScheduleNeedsService,
        ),
        (
            {"to": "x", "service_sid": "MGx", "body": "x", "schedule_type": "fixed"},
            errors.SendAtRequired,
        ),
        (
            {
                "to": "x",
                "service_sid": "MGx",
                "body": "x",
                "schedule_type": "fixed",
                "send_at": "soon",
            },
            errors.SendAtNotSupported,
        ),
        ({"to": "x", "service_sid": "MGx", "body": "x"}, errors.ServiceInvalid),
        ({"to": "x", "service_sid": "MG" + "f" * 32, "body": "x"}, errors.ServiceNotFound),
        ({"to": "x", "service_sid": OTHER_SERVICE, "body": "x"}, errors.ServiceNotFound),
        ({"to": "123", "from_": "x", "body": "x"}, errors.ToInvalid),
        ({"to": "+15005550001", "from_": "x", "body": "x"}, errors.ToInvalid),
        ({"to": "+15005550002", "from_": "x", "body": "x"}, errors.ToUnreachable),
        ({"to": "+15005550003", "from_": "x", "body": "x"}, errors.RegionNotPermitted),
        ({"to": "+15005550004", "from_": "x", "body": "x"}, errors.OptedOut),
        ({"to": "+15005550009", "from_": "x", "body": "x"}, errors.NotMobile),
        (
            {"to": SMS_MMS.phone_number, "from_": SMS_MMS.phone_number, "body": "x"},
            errors.ToInvalid,
        ),
        # Written as a number, held or not decides: Twilio answered `+123` with 21606.
        ({"to": TO, "from_": "+123", "body": "x"}, errors.FromNotOwned),
        ({"to": TO, "from_": "+1234567890123456", "body": "x"}, errors.FromInvalid),
        ({"to": TO, "from_": "not a sender!", "body": "x"}, errors.FromInvalid),
        ({"to": TO, "from_": "+15005550001", "body": "x"}, errors.FromInvalid),
        ({"to": TO, "from_": "+15005550007", "body": "x"}, errors.FromNotOwned),
        ({"to": TO, "from_": "+15005550008", "body": "x"}, errors.QueueFull),
        ({"to": TO, "from_": FOREIGN.phone_number, "body": "x"}, errors.FromNotOwned),
        ({"to": TO, "from_": VOICE_ONLY.phone_number, "body": "x"}, errors.FromNotOwned),
        ({"to": TO, "from_": "+14155550111", "body": "x"}, errors.FromNotOwned),
        ({"to": TO, "from_": "ACME", "body": "x"}, errors.FromNotOwned),
        ({"to": TO, "from_": "12345", "body": "x"}, errors.FromNotOwned),
    ],
)
def test_each_check_refuses_with_its_code_in_order_and_stores_nothing(
    backend: Backend, fields: dict, error: type[TwilioError]
) -> None:
    refused(backend, error, **fields)


def test_the_body_limit_is_the_contracts_and_counts_utf16_units(backend: Backend) -> None:
    assert send(backend, body="a" * BODY_LIMIT).num_segments > 1
    refused(
        backend, errors.BodyTooLong, to=TO, from_="+15005550006", body="😀" * (BODY_LIMIT // 2 + 1)
    )
    assert (
        send(backend, media_urls=["https://example.com/a.png"] * MEDIA_LIMIT).num_media
        == MEDIA_LIMIT
    )


def test_the_test_credentials_from_number_passes_for_any_account(backend: Backend) -> None:
    for account in (ACCOUNT, OTHER_ACCOUNT):
        assert send(backend, account, from_="+15005550006").status == "queued"


def test_twilios_recorded_messages(backend: Backend) -> None:
    cases = [
        (dict(to="123"), "The 'To' number 123 is not a valid phone number."),
        (
            dict(from_="+15005550007"),
            "The From phone number +15005550007 is not a valid, SMS-capable inbound phone number "
            "or short code for your account.",
        ),
        (dict(to="+15005550009"), "To number: +15005550009, is not a mobile number"),
        (
            dict(to="+15005550002", from_="+15005550006"),
            "The 'To' phone number: +15005550002, is not currently reachable using the 'From' "
            "phone number: +15005550006 via SMS.",
        ),
        (
            dict(to="+15005550002", from_="+15005550006", media_urls=["https://example.com/a.png"]),
            "The 'To' phone number: +15005550002, is not currently reachable using the 'From' "
            "phone number: +15005550006 via MMS.",
        ),
        (dict(to="+15005550004"), "The message From/To pair violates a blacklist rule."),
    ]
    for fields, message in cases:
        draft = {"to": TO, "from_": SMS_MMS.phone_number, "body": "x", **fields}
        with pytest.raises(TwilioError) as caught:
            model.create(backend, ACCOUNT, Draft(**draft))  # type: ignore[arg-type]
        assert caught.value.message == message
    with pytest.raises(errors.QueueFull) as full:
        send(backend, from_="+15005550008")
    assert (full.value.status, full.value.headers) == (429, {"Retry-After": "1"})


def test_a_recipient_who_opted_out_of_the_number_or_its_service_is_refused(
    backend: Backend,
) -> None:
    with backend.db.write() as conn:
        conn.execute(
            insert(opt_outs).values(
                scope_sid=SMS_MMS.sid,
                recipient=TO,
                account_sid=ACCOUNT,
                date_created=datetime(2026, 1, 1),
            )
        )
    refused(backend, errors.OptedOut, to=TO, from_=SMS_MMS.phone_number, body="x")
    assert send(backend, to="+14155550198").status == "queued"  # another recipient
    assert send(backend, from_=SMS_ONLY.phone_number, body="x").status == "queued"  # another sender
    # Through a service, the service's opt-outs count.
    with backend.db.write() as conn:
        conn.execute(
            insert(opt_outs).values(
                scope_sid=SERVICE,
                recipient=TO,
                account_sid=ACCOUNT,
                date_created=datetime(2026, 1, 1),
            )
        )
    refused(backend, errors.OptedOut, to=TO, service_sid=SERVICE, body="x")
    # A number in the service's pool, sent from directly: its service's opt-outs count too,
    # and its own (an opt-out recorded before it joined).
    pool.add(backend, ACCOUNT, SERVICE, SMS_ONLY.sid)
    refused(backend, errors.OptedOut, to=TO, from_=SMS_ONLY.phone_number, body="x")
    with backend.db.write() as conn:
        conn.execute(
            insert(opt_outs).values(
                scope_sid=SMS_MMS.sid,
                recipient="+14155550197",
                account_sid=ACCOUNT,
                date_created=datetime(2026, 1, 1),
            )
        )
    pool.add(backend, ACCOUNT, SERVICE, SMS_MMS.sid)
    refused(backend, errors.OptedOut, to="+14155550197", from_=SMS_MMS.phone_number, body="x")


def test_a_create_wakes_the_dispatcher_only_when_it_stored_a_message(backend: Backend) -> None:
    woken: list[float | None] = []
    backend.wake_dispatcher = lambda at=None: woken.append(at)
    with pytest.raises(errors.ToRequired):
        model.create(backend, ACCOUNT, Draft())
    assert woken == []
    message = send(backend)
    # For the real time its next status falls due: the account's clock runs on real time.
    assert woken == [stored(backend, message.sid)["due_at"]]


def test_a_create_on_a_frozen_clock_wakes_no_dispatcher(backend: Backend) -> None:
    """Its message falls due only when the clock is moved (the clock's control runs the steps)."""
    woken: list[float | None] = []
    backend.wake_dispatcher = lambda at=None: woken.append(at)
    frozen_at(backend, datetime(2026, 1, 15, 9, 30))
    send(backend)
    assert woken == []


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("made_by", ["this version", "an earlier version"])
def test_a_send_costs_the_same_whatever_else_the_account_holds(
    backend: Backend, made_by: str
) -> None:
    """A send looks up its sender among the account's numbers by the number itself: it reads
    no other number, nor the messages sent before. Counted in SQLite's virtual machine
    instructions (each pooled connection counts while checked out), a send costs the same with
    the demo's numbers and one message as with 1,000 more of each; also in a database an
    earlier version made, which keeps its index of the numbers by account alone."""
    if made_by == "an earlier version":
        with backend.db.write() as conn:
            conn.exec_driver_sql(
                "CREATE INDEX ix_incoming_phone_numbers_account_sid "
                "ON incoming_phone_numbers (account_sid)"
            )
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0  # go on

    def counting(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.set_progress_handler(count, 1)

    def sent_once() -> int:
        steps[0] = 0
        send(backend)
        return steps[0]

    send(backend)  # the first send's one-time work (the sequence's row) out of the way
    event.listen(backend.db.engine, "checkout", counting)
    few = sent_once()
    with backend.db.write() as conn:
        conn.execute(
            insert(incoming_phone_numbers),
            [
                {"sid": f"PN{0xABC000 + n:032x}", "account_sid": ACCOUNT,
                 "phone_number": f"+1415900{n:04d}", "country_code": "US",
                 "capabilities": ["SMS", "MMS"]}
                for n in range(1000)
            ],
        )  # fmt: skip
    for _ in range(1000):
        send(backend)
    many = sent_once()
    assert many == few


# -- scheduling ----------------------------------------------------------------------------------
def test_a_scheduled_message_waits_for_send_at(backend: Backend) -> None:
    moment = datetime(2026, 1, 15, 9, 30)
    frozen_at(backend, moment)
    earliest = spec.limit("schedule-min-seconds")
    latest = spec.limit("schedule-max-seconds")
    send_at = moment + timedelta(seconds=earliest)
    message = send(
        backend, service_sid=SERVICE, schedule_type="fixed", send_at=send_at.isoformat() + "Z"
    )
    assert (message.status, message.date_sent) == ("scheduled", None)
    row = stored(backend, message.sid)
    assert row["send_at"] == send_at and row["due_at"] == send_at.timestamp()
    last = moment + timedelta(seconds=latest)
    assert (
        send(
            backend, service_sid=SERVICE, schedule_type="fixed", send_at=last.isoformat() + "+00:00"
        ).status
        == "scheduled"
    )
    for wrong in (send_at - timedelta(seconds=1), last + timedelta(seconds=1)):
        refused(
            backend,
            errors.SendAtNotSupported,
            to=TO,
            service_sid=SERVICE,
            body="x",
            schedule_type="fixed",
            send_at=wrong.isoformat() + "Z",
        )


# -- list ----------------------------------------------------------------------------------------
def test_the_list_is_newest_first_and_pages_neither_repeat_nor_skip(backend: Backend) -> None:
    sent = [send(backend, body=f"m{i}").sid for i in range(5)]
    first = model.list_messages(backend, ACCOUNT, page_size=2)
    assert [m.sid for m in first.rows] == sent[:2:-1][:2] == [sent[4], sent[3]]
    assert first.previous_token is None and first.next_token
    newer = send(backend, body="after the first page").sid  # not on the later pages
    second = model.list_messages(backend, ACCOUNT, page_size=2, page_token=first.next_token)
    assert [m.sid for m in second.rows] == [sent[2], sent[1]]
    back = model.list_messages(backend, ACCOUNT, page_size=2, page_token=second.previous_token)
    assert [m.sid for m in back.rows] == [sent[4], sent[3]]
    assert back.previous_token is not None  # the newer message is before them now
    assert [m.sid for m in every_message(backend)] == [newer, *sent[::-1]]
    assert every_message(backend, OTHER_ACCOUNT) == []


def test_the_list_filters_by_to_and_from(backend: Backend) -> None:
    a = send(backend, to="+14155550198").sid
    b = send(backend, from_=SMS_ONLY.phone_number).sid
    send(backend, service_sid=SERVICE)
    assert [m.sid for m in every_message(backend, to="+14155550198")] == [a]
    assert [m.sid for m in every_message(backend, from_=SMS_ONLY.phone_number)] == [b]
    assert every_message(backend, to="+1415555019") == []  # the whole number only


def test_the_list_filters_by_date_sent(backend: Backend) -> None:
    sids = {}
    for day in (14, 15, 16):
        frozen_at(backend, datetime(2026, 1, day, 12, 0, 0))
        sids[day] = send(backend).sid
    frozen_at(backend, datetime(2026, 1, 1))
    send(backend, service_sid=SERVICE, schedule_type="fixed", send_at="2026-01-03T00:00:00Z")

    def sent(**filters: str) -> list[str]:
        return [m.sid for m in every_message(backend, date_sent=DateSent(**filters))]

    assert sent(on="2026-01-15") == [sids[15]]
    # A time names its day (UTC): the SDKs send a date as its midnight.
    assert sent(on="2026-01-15T00:00:00Z") == [sids[15]]
    assert sent(on="2026-01-15T23:59:59Z") == [sids[15]]
    assert sent(on="2026-01-16T00:30:00+01:00") == [sids[15]]
    assert sent(on_or_before="2026-01-15") == [sids[15], sids[14]]
    assert sent(on_or_after="2026-01-15") == [sids[16], sids[15]]
    assert sent(on_or_before="2026-01-15T00:00:00Z") == [sids[15], sids[14]]
    assert sent(on_or_after="2026-01-15T23:00:00Z") == [sids[16], sids[15]]
    assert sent(on_or_after="2026-01-15", on_or_before="2026-01-15") == [sids[15]]
    assert sent(on_or_after="2026-01-16", on_or_before="2026-01-14") == []
    # A day past the end of its month counts on into the next; times beyond what a date can
    # hold are the first or the last date.
    assert sent(on="2026-01-45") == [] and sent(on="2025-12-46") == [sids[15]]
    assert sent(on_or_after="2026-02-31") == []
    assert sent(on_or_before="9999-12-31") == [sids[16], sids[15], sids[14]]
    assert sent(on_or_after="9999-12-31T23:59:59-01:00") == []
    assert sent(on_or_before="0001-01-01T00:00:00+01:00") == []
    with pytest.raises(TwilioError) as caught:
        sent(on="yesterday")
    assert caught.value.code == 20001 and "DateSent" in caught.value.message


def test_a_page_token_is_bound_to_its_filters(backend: Backend) -> None:
    for _ in range(3):
        send(backend)
    token = model.list_messages(backend, ACCOUNT, page_size=1).next_token
    with pytest.raises(InvalidPageToken):
        model.list_messages(backend, ACCOUNT, page_size=1, page_token=token, to=TO)
    with pytest.raises(InvalidPageToken):
        model.list_messages(backend, OTHER_ACCOUNT, page_size=1, page_token=token)


# -- fetch, update, delete -----------------------------------------------------------------------
def test_fetch_finds_only_the_accounts_own_message(backend: Backend) -> None:
    message = send(backend)
    assert model.fetch(backend, ACCOUNT, message.sid) == message
    with pytest.raises(ResourceNotFound):
        model.fetch(backend, OTHER_ACCOUNT, message.sid)
    with pytest.raises(ResourceNotFound):
        model.fetch(backend, ACCOUNT, "SM" + "0" * 32)


def test_redact_empties_the_body_and_keeps_the_rest(backend: Backend) -> None:
    frozen_at(backend, datetime(2026, 1, 15, 9, 30))
    message = send(backend, body="secret")
    frozen_at(backend, datetime(2026, 1, 15, 9, 31))
    redacted = model.update(backend, ACCOUNT, message.sid, body="", status=None)
    assert redacted.body == "" and redacted.date_updated == datetime(2026, 1, 15, 9, 31)
    assert redacted.status == message.status and redacted.date_created == message.date_created


@pytest.mark.parametrize(("body", "status"), [(None, None), ("", "canceled"), ("not empty", None)])
def test_an_update_that_is_neither_a_redaction_nor_a_cancel_is_30400(
    backend: Backend, body: str | None, status: str | None
) -> None:
    message = send(backend, body="keep")
    with pytest.raises(errors.UpdateNotValid):
        model.update(backend, ACCOUNT, message.sid, body=body, status=status)
    assert model.fetch(backend, ACCOUNT, message.sid).body == "keep"


def test_cancel_only_a_scheduled_message(backend: Backend) -> None:
    frozen_at(backend, datetime(2026, 1, 15, 9, 30))
    scheduled = send(
        backend, service_sid=SERVICE, schedule_type="fixed", send_at="2026-01-15T10:30:00Z"
    )
    canceled = model.update(backend, ACCOUNT, scheduled.sid, body=None, status="canceled")
    assert canceled.status == "canceled"
    # Due at once, by the account's clock: the next round sends its `canceled` callback.
    assert stored(backend, scheduled.sid)["due_at"] == datetime(2026, 1, 15, 9, 30).timestamp()
    with pytest.raises(errors.CannotCancel):
        model.update(backend, ACCOUNT, scheduled.sid, body=None, status="canceled")
    queued = send(backend)
    with pytest.raises(errors.CannotCancel):
        model.update(backend, ACCOUNT, queued.sid, body=None, status="canceled")
    with pytest.raises(ResourceNotFound):
        model.update(backend, OTHER_ACCOUNT, queued.sid, body="", status=None)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_cancel_reads_the_status_once_it_holds_the_messages_lock(backend: Backend) -> None:
    # A cancel locks the message's row (FOR UPDATE) before it reads the status: a cancel that
    # waited for the dispatcher's claim then reads the status the dispatcher wrote, and refuses
    # (30409) rather than cancel a message already sent on. The dispatcher here claims the due
    # message and moves it to queued, and commits once the cancel waits.
    pool.add(backend, ACCOUNT, SERVICE, SMS_MMS.sid)
    frozen_at(backend, datetime(2026, 1, 15, 9, 30))
    scheduled = send(
        backend, service_sid=SERVICE, schedule_type="fixed", send_at="2026-01-15T10:30:00Z"
    )
    frozen_at(backend, datetime(2026, 1, 15, 10, 30))

    def dispatch(dispatcher: Connection) -> None:
        steps = lifecycle.advance_due(dispatcher, real_now=time.time(), account_sid=ACCOUNT)
        assert [(t.message_sid, t.status) for t in steps] == [(scheduled.sid, "queued")]

    def cancel() -> object:
        return model.update(backend, ACCOUNT, scheduled.sid, body=None, status="canceled")

    outcome = outcome_once_it_waits(backend.db.engine, dispatch, cancel)
    assert [type(o) for o in outcome] == [errors.CannotCancel]
    assert stored(backend, scheduled.sid)["status"] == "queued"


def test_delete_only_once_the_status_is_final(backend: Backend) -> None:
    message = send(backend)
    with pytest.raises(errors.NotComplete):
        model.delete_message(backend, ACCOUNT, message.sid)
    assert model.fetch(backend, ACCOUNT, message.sid)
    with backend.db.write() as conn:
        conn.execute(
            update(messages).where(messages.c.sid == message.sid).values(status="delivered")
        )
    with pytest.raises(ResourceNotFound):
        model.delete_message(backend, OTHER_ACCOUNT, message.sid)
    model.delete_message(backend, ACCOUNT, message.sid)
    with pytest.raises(ResourceNotFound):
        model.fetch(backend, ACCOUNT, message.sid)
    with pytest.raises(ResourceNotFound):
        model.delete_message(backend, ACCOUNT, message.sid)
    assert every_message(backend) == []


def test_a_deleted_message_takes_its_recipients_sticky_mapping_with_it(backend: Backend) -> None:
    """A mapping was kept for good, one a recipient: an account that sent to new recipients
    through a sticky service and deleted the messages grew sticky_senders without end, under
    its bound of messages. Now each mapping lasts no longer than the messages to its recipient,
    so there are never more mappings than messages."""
    recipients = [f"+1415555{n:04d}" for n in range(200, 210)]
    pool.add(backend, ACCOUNT, SERVICE, SMS_MMS.sid)
    pool.add(backend, ACCOUNT, SERVICE, SMS_ONLY.sid)

    def sent_on(to: str) -> dict:
        """Sent through the service, then stepped until its sender is chosen (the dispatcher's
        first step records the mapping) and it is delivered."""
        sid = send(backend, service_sid=SERVICE, to=to).sid
        for _step in range(4):  # queued, sending, sent, delivered
            with backend.db.write() as conn:
                lifecycle.advance_due(conn, real_now=time.time() + 3600, account_sid=ACCOUNT)
        return stored(backend, sid)

    def mappings() -> int:
        with backend.db.read() as conn:
            return conn.scalar(select(func.count()).select_from(sticky_senders)) or 0

    first = [sent_on(to) for to in recipients]
    assert mappings() == len(recipients)
    again = sent_on(recipients[0])  # a second message to one of them
    assert {message["status"] for message in [*first, again]} == {"delivered"}
    for message in first:
        model.delete_message(backend, ACCOUNT, message["sid"])
    assert mappings() == 0
    # Chosen afresh from the same pool, a recipient's sender is the one it had.
    assert sent_on(recipients[1])["from_number"] == first[1]["from_number"]
    model.delete_message(backend, ACCOUNT, again["sid"])  # its mapping went already
    assert mappings() == 1 and count(backend) == 1


def test_every_final_status_allows_a_delete_and_no_other(backend: Backend) -> None:
    statuses = ["accepted", "scheduled", "queued", "sending", "sent", "receiving", *model.FINAL]
    for status in statuses:
        message = send(backend)
        with backend.db.write() as conn:
            conn.execute(
                update(messages).where(messages.c.sid == message.sid).values(status=status)
            )
        if status in model.FINAL:
            model.delete_message(backend, ACCOUNT, message.sid)
        else:
            with pytest.raises(errors.NotComplete):
                model.delete_message(backend, ACCOUNT, message.sid)
    assert model.FINAL == {"delivered", "undelivered", "failed", "canceled", "received", "read"}


def test_a_reset_and_a_dropped_account_take_the_messages(backend: Backend) -> None:
    send(backend)
    send(backend, OTHER_ACCOUNT, from_="+15005550006")
    backend.drop_account(OTHER_ACCOUNT)
    assert count(backend) == 1
    backend.reset()
    assert count(backend) == 0


# -- the per-account bound ------------------------------------------------------------------------
def held(backend: Backend, account: str = ACCOUNT) -> int | None:
    """The account's count of messages (None: it has no row)."""
    with backend.db.read() as conn:
        return conn.scalar(
            select(message_counts.c.held).where(message_counts.c.account_sid == account)
        )


def counted(backend: Backend, account: str = ACCOUNT) -> int:
    with backend.db.read() as conn:
        return (
            conn.scalar(
                select(func.count()).select_from(messages).where(messages.c.account_sid == account)
            )
            or 0
        )


def forget_count(backend: Backend, account: str = ACCOUNT) -> None:
    with backend.db.write() as conn:
        conn.execute(delete(message_counts).where(message_counts.c.account_sid == account))


def finished(backend: Backend, sid: str) -> None:
    with backend.db.write() as conn:
        conn.execute(update(messages).where(messages.c.sid == sid).values(status="delivered"))


def test_the_bound_is_the_contracts_limit() -> None:
    assert capacity.most() == spec.contract()["x-limits"]["messages-per-account"]


def test_an_account_holds_at_most_the_bound_of_messages(backend: Backend, monkeypatch) -> None:
    monkeypatch.setattr(capacity, "most", lambda: 3)
    first = send(backend)
    send(backend, body="second")
    _, text = control.receive(backend, ACCOUNT, "+14155550123", SMS_MMS.phone_number, "Hi")
    assert text.stored  # an inbound text takes a place as a send does
    caught = refused(backend, errors.TooManyMessages, to=TO, from_=SMS_MMS.phone_number, body="4")
    assert (caught.status, caught.code) == (400, 20001)
    assert "already holds 3 messages" in caught.message
    # An inbound text beyond the bound is refused whole: its STOP opts nobody out.
    with pytest.raises(errors.TooManyMessages):
        control.receive(backend, ACCOUNT, "+14155550124", SMS_MMS.phone_number, "STOP")
    with backend.db.read() as conn:
        assert conn.scalar(select(func.count()).select_from(opt_outs)) == 0
    assert held(backend) == counted(backend) == 3
    send(backend, OTHER_ACCOUNT, from_="+15005550006")  # a bound per account
    finished(backend, first.sid)
    model.delete_message(backend, ACCOUNT, first.sid)  # a delete makes room again
    assert held(backend) == 2
    send(backend, body="room again")
    assert held(backend) == counted(backend) == 3


def test_racing_sends_never_pass_the_bound(backend: Backend, monkeypatch) -> None:
    monkeypatch.setattr(capacity, "most", lambda: 5)
    outcomes = all_at_once(8, lambda: send(backend))
    assert sorted(type(o).__name__ for o in outcomes) == ["Message"] * 5 + ["TooManyMessages"] * 3
    assert held(backend) == counted(backend) == 5


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_send_reads_the_count_once_it_holds_its_row(backend: Backend, monkeypatch) -> None:
    # On PostgreSQL a send's place is a row lock held to its commit: a send that waited for
    # another write's place must then see that write's count and refuse at the bound.
    monkeypatch.setattr(capacity, "most", lambda: 1)

    def take_the_last_place(writer: Connection) -> None:
        capacity.take_place(writer, ACCOUNT)

    outcome = outcome_once_it_waits(backend.db.engine, take_the_last_place, lambda: send(backend))
    assert [type(o) for o in outcome] == [errors.TooManyMessages]
    assert counted(backend) == 0


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_reset_waits_for_a_send_between_its_insert_and_its_place(backend: Backend) -> None:
    # A send takes its place after its insert (which also locks its account's row, for the
    # foreign key). A bulk change locks message_counts after messages and accounts (its
    # lock_rank), so a reset that comes between the two waits for the send's commit. Ranked
    # before them, each would wait for the other (PostgreSQL's deadlock error for one). The
    # writer here takes no advisory lock, as a replica of an earlier version does not: the
    # table order alone must hold.
    when = datetime(2026, 1, 15, 9, 30)
    message = {
        "sid": "SM" + "2" * 32,
        "account_sid": ACCOUNT,
        "to_number": TO,
        "body": "Hello",
        "num_segments": 1,
        "status": "queued",
        "direction": "outbound-api",
        "date_created": when,
        "date_updated": when,
    }

    def insert_it(writer: Connection) -> None:
        writer.execute(insert(messages).values(message))

    def take_its_place(writer: Connection) -> None:
        capacity.take_place(writer, ACCOUNT)

    outcome = outcome_once_it_waits(backend.db.engine, insert_it, backend.reset, take_its_place)
    assert outcome == [None]
    assert counted(backend) == 0 and held(backend) == 0


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_real_send_holds_a_reset_back_until_it_has_taken_its_place(
    backend: Backend, monkeypatch
) -> None:
    # The same, in a real send: a reset that starts just before the send takes its place
    # waits for what the send's insert holds (its account's row, for the foreign key), and goes
    # on after the send's commit. A send that took its place before its insert would hold
    # nothing yet: the reset would not wait for it (or, ranked otherwise, deadlock with it).
    take_place = capacity.take_place
    reset = Interloper(backend.db.engine, backend.reset)

    def a_reset_comes_first(conn: Connection, account_sid: str) -> None:
        reset.come_in()
        take_place(conn, account_sid)

    monkeypatch.setattr(capacity, "take_place", a_reset_comes_first)
    message = send(backend)
    assert reset.outcome() == [None]
    with pytest.raises(ResourceNotFound):  # the reset came after the send, and took it
        model.fetch(backend, ACCOUNT, message.sid)
    assert held(backend) == counted(backend) == 0


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_reset_waits_for_the_dispatcher_whatever_the_dispatcher_locks_next(
    backend: Backend, monkeypatch
) -> None:
    # The dispatcher locks a due message's row (messages), then, for a message sent through a
    # service, records the sticky sender it chose, whose foreign key locks the account's row
    # (accounts). A reset locks accounts before messages: had it locked the tables the
    # dispatcher had not yet taken, each would wait for the other (PostgreSQL's deadlock error,
    # a 503, for one). A write holds the bulk lock shared from its start, so the reset waits for
    # the dispatcher before it locks any table, and takes the message after its commit.
    pool.add(backend, ACCOUNT, SERVICE, SMS_MMS.sid)
    frozen_at(backend, datetime(2026, 1, 15, 9, 30))
    scheduled = send(
        backend, service_sid=SERVICE, schedule_type="fixed", send_at="2026-01-15T10:30:00Z"
    )
    frozen_at(backend, datetime(2026, 1, 15, 10, 30))
    choose = selection.choose
    reset = Interloper(backend.db.engine, backend.reset)

    def a_reset_comes_first(*args: Any, **kwargs: Any) -> Any:
        reset.come_in()
        return choose(*args, **kwargs)

    monkeypatch.setattr(selection, "choose", a_reset_comes_first)
    with backend.db.write() as conn:  # as the dispatcher calls it
        steps = lifecycle.advance_due(conn, real_now=time.time(), account_sid=ACCOUNT)
        assert conn.scalar(select(func.count()).select_from(sticky_senders)) == 1
    assert [(t.message_sid, t.status) for t in steps] == [(scheduled.sid, "queued")]
    assert reset.outcome() == [None]
    with pytest.raises(ResourceNotFound):  # the reset came after the dispatcher, and took it
        model.fetch(backend, ACCOUNT, scheduled.sid)


@pytest.fixture
def backend_on_a_database_of_its_own(postgres: PostgresServer) -> Iterator[Backend]:
    """A backend on a PostgreSQL database of its own, for a test that changes the schema: the
    session's database, left so by a failure, would fail every later test."""
    backend = Backend(postgres.create_database(), fixtures.demo())
    yield backend
    backend.db.dispose()


def test_on_postgresql_a_replica_that_adds_what_an_earlier_version_lacked_waits_for_the_dispatcher(
    backend_on_a_database_of_its_own: Backend, monkeypatch
) -> None:
    # A replica opening a database an earlier version made adds columns and indexes (ALTER
    # TABLE, CREATE INDEX: each locks its table against every write). Here it adds a column of
    # services, then an index of messages, while the dispatcher has stepped a message (messages
    # locked) and has yet to read its service's callback URL (services): without the bulk lock,
    # each waited for the other and the replica failed to start (PostgreSQL's deadlock error).
    backend = backend_on_a_database_of_its_own
    url = backend.db.engine.url.render_as_string(hide_password=False)
    pool.add(backend, ACCOUNT, SERVICE, SMS_MMS.sid)
    sent = send(backend, service_sid=SERVICE)
    for status in ("queued", "sending"):  # the next step, to sent, sends a callback
        with backend.db.write() as conn:
            steps = lifecycle.advance_due(conn, real_now=time.time() + 3600)
        assert [(t.message_sid, t.status) for t in steps] == [(sent.sid, status)]
    with backend.db.engine.begin() as conn:  # what the earlier version lacked
        conn.exec_driver_sql("ALTER TABLE services DROP COLUMN validity_period")
        conn.exec_driver_sql("DROP INDEX ix_messages_account_due")
    service_of = lifecycle._service
    replica = Interloper(backend.db.engine, lambda: db.Database(url))

    def a_replica_starts_first(*args: Any) -> Any:
        replica.come_in()
        return service_of(*args)

    monkeypatch.setattr(lifecycle, "_service", a_replica_starts_first)
    with backend.db.write() as conn:  # as the dispatcher calls it
        steps = lifecycle.advance_due(conn, real_now=time.time() + 3600)
    assert [(t.message_sid, t.status) for t in steps] == [(sent.sid, "sent")]
    outcome = replica.outcome()
    assert [type(o) for o in outcome] == [db.Database], outcome
    outcome[0].dispose()  # type: ignore[attr-defined]
    with backend.db.engine.connect() as conn:
        found = inspect(conn)
        assert "validity_period" in {c["name"] for c in found.get_columns("services")}
        assert "ix_messages_account_due" in {i["name"] for i in found.get_indexes("messages")}


def test_an_account_without_a_count_is_counted_at_its_next_send(
    backend: Backend, monkeypatch
) -> None:
    # As an account that a replica of an earlier version made (rolling deploy) has no count.
    monkeypatch.setattr(capacity, "most", lambda: 3)
    send(backend)
    send(backend)
    forget_count(backend)
    send(backend)  # counted: its two messages and this one
    assert held(backend) == counted(backend) == 3
    forget_count(backend)
    refused(backend, errors.TooManyMessages, to=TO, from_=SMS_MMS.phone_number, body="4th")
    assert held(backend) is None and counted(backend) == 3
    # Racing first sends, one count: on PostgreSQL the others wait for the first's row (the
    # deterministic forms of this race are the two tests below).
    forget_count(backend)
    monkeypatch.setattr(capacity, "most", lambda: 8)
    outcomes = all_at_once(8, lambda: send(backend))
    assert sorted(type(o).__name__ for o in outcomes) == ["Message"] * 5 + ["TooManyMessages"] * 3
    assert held(backend) == counted(backend) == 8


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_first_send_that_waits_for_anothers_count_takes_its_place_in_it(
    backend: Backend,
) -> None:
    send(backend)
    send(backend)
    forget_count(backend)

    def count_first(writer: Connection) -> None:
        capacity.take_place(writer, ACCOUNT)  # counts the two (it stores no message itself)

    outcome = outcome_once_it_waits(backend.db.engine, count_first, lambda: send(backend))
    assert [type(o).__name__ for o in outcome] == ["Message"]
    assert held(backend) == counted(backend) == 3


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_delete_and_a_first_count_racing_either_way_count_exactly(backend: Backend) -> None:
    first = send(backend)
    second = send(backend)
    finished(backend, first.sid)
    finished(backend, second.sid)
    forget_count(backend)

    # A delete counts first (its message gone), and a send waits for that row.
    def delete_first(writer: Connection) -> None:
        writer.execute(delete(messages).where(messages.c.sid == first.sid))
        capacity.give_back(writer, ACCOUNT)

    outcome = outcome_once_it_waits(backend.db.engine, delete_first, lambda: send(backend))
    assert [type(o).__name__ for o in outcome] == ["Message"]
    assert held(backend) == counted(backend) == 2
    # A write counts first (the message still there), and the delete waits, then takes it off.
    forget_count(backend)

    def count_first(writer: Connection) -> None:
        capacity.take_place(writer, ACCOUNT)

    def delete_it() -> None:
        model.delete_message(backend, ACCOUNT, second.sid)

    assert outcome_once_it_waits(backend.db.engine, count_first, delete_it) == [None]
    assert held(backend) == counted(backend) == 1


def test_an_earlier_versions_drop_and_reset_still_work_and_leave_no_count(
    backend: Backend,
) -> None:
    # A replica of an earlier version knows nothing of message_counts: it deletes what an
    # account owns but its count, then the account. That must not fail, and the count goes
    # with the account (ON DELETE CASCADE): the account made again, as such a replica loads
    # it (no count), is counted at its next send, not from what it held before.
    send(backend)
    send(backend)
    with backend.db.write() as conn:
        for table in db.owned_tables():
            if table is not message_counts and "account_sid" in table.c:
                conn.execute(delete(table).where(table.c.account_sid == ACCOUNT))
        conn.execute(delete(db.accounts).where(db.accounts.c.sid == ACCOUNT))
    assert held(backend) is None
    with backend.db.write() as conn:
        db.upsert(conn, db.accounts, ACCOUNT, auth_token_hash="0" * 64, auth_token=None)
    send(backend, from_="+15005550006")  # its numbers went with it; the test number sends
    assert held(backend) == counted(backend) == 1
    # Its deletes give nothing back: the count is high until this version loads the account.
    with backend.db.write() as conn:
        conn.execute(delete(messages).where(messages.c.account_sid == ACCOUNT))
    assert (held(backend), counted(backend)) == (1, 0)
    backend.load(fixtures.demo())
    assert held(backend) == counted(backend) == 0


def test_an_inbound_text_that_is_not_stored_takes_no_place(backend: Backend) -> None:
    # A number in a service with no inbound URL: Twilio drops the text (inbound.py).
    pool.add(backend, ACCOUNT, SERVICE, SMS_MMS.sid)
    _, text = control.receive(backend, ACCOUNT, "+14155550123", SMS_MMS.phone_number, "Hi")
    assert not text.stored
    assert held(backend) == counted(backend) == 0


def test_every_account_has_its_count_whatever_made_it(backend: Backend) -> None:
    send(backend)
    send(backend, OTHER_ACCOUNT, from_="+15005550006")
    minted = backend.mint_account(services=1, numbers=1)
    assert held(backend, minted.sid) == 0
    send(backend, minted.sid, from_=minted.incoming_phone_numbers[0].phone_number)
    backend.load(fixtures.demo())  # loading an account again keeps its count
    assert [held(backend, a) for a in (ACCOUNT, OTHER_ACCOUNT, minted.sid)] == [1, 1, 1]
    backend.drop_account(OTHER_ACCOUNT)
    assert held(backend, OTHER_ACCOUNT) is None
    backend.reset()
    assert [held(backend, a) for a in (ACCOUNT, OTHER_ACCOUNT, minted.sid)] == [0, 0, None]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_a_database_of_an_earlier_version_gets_its_counts(database: str) -> None:
    # A database made before the bound has messages and no counts: the first server of this
    # version to open it counts each account's messages. (An in-memory one is new each time.)
    first = Backend(database, fixtures.demo())
    try:
        minted = first.mint_account(services=0, numbers=1)
        send(first)
        send(first, body="again")
        send(first, minted.sid, from_=minted.incoming_phone_numbers[0].phone_number)
        with first.db.write() as conn:
            message_counts.drop(conn)
    finally:
        first.db.dispose()
    again = Backend(database, [])  # no fixtures: the minted account is loaded by nobody
    try:
        assert [held(again, a) for a in (ACCOUNT, OTHER_ACCOUNT, minted.sid)] == [2, 0, 1]
    finally:
        again.db.dispose()
