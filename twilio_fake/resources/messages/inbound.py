"""An inbound message: a recipient texts one of the account's numbers.

The message is stored (direction `inbound`, status `received`), Twilio's keywords change the
sender's opt-out of the number's scope (STOP, START; `optouts`), and the webhook is named:
- a number in a service: the service's `inbound_request_url` (`inbound_method`), or the
  number's `sms_url` (`sms_method`) when the service has `use_inbound_webhook_on_number`. A
  service without an inbound URL (and not deferring to the number) has inbound messages
  disabled: "not logged and received on the Account", so the message is not stored (`stored`
  False), though STOP and START still apply;
- any other number: its `sms_url` (`sms_method`); none, no webhook, the message is stored.
The webhook's parameters are Twilio's for an incoming SMS (behaviour §3; docs/fidelity.md).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, insert, select

from twilio_fake.resources.numbers.tables import (
    incoming_phone_number_details as details,
)
from twilio_fake.resources.numbers.tables import (
    incoming_phone_numbers as numbers,
)
from twilio_fake.resources.pool.tables import pool_entries
from twilio_fake.resources.services.model import Service
from twilio_fake.resources.services.tables import services
from twilio_fake.urls import api_version

from . import capacity, optouts, segments, selection
from .rule_errors import NotAnIncomingNumber
from .tables import messages
from .times import as_datetime

DEFAULT_METHOD = "POST"


class Inbound(NamedTuple):
    """What arrived: the message (its row's values), where its webhook goes (None: nowhere),
    with which method and parameters, and whether the message was stored."""

    message: dict[str, Any]
    url: str | None
    method: str
    params: dict[str, str]
    stored: bool = True


def account_of(conn: Connection, to_number: str) -> str | None:
    """The account that holds the number, if exactly one does."""
    owners = conn.execute(
        select(numbers.c.account_sid).where(numbers.c.phone_number == to_number).limit(2)
    ).all()
    return owners[0].account_sid if len(owners) == 1 else None


def receive(
    conn: Connection,
    account_sid: str,
    *,
    from_number: str,
    to_number: str,
    body: str,
    now: datetime | float,
) -> Inbound:
    """Receive a message from `from_number` to the account's number `to_number`; raise
    NotAnIncomingNumber if the account holds no such number. Run it in a write transaction."""
    number = conn.execute(
        select(numbers.c.sid, details.c.sms_url, details.c.sms_method)
        .select_from(numbers.outerjoin(details, details.c.sid == numbers.c.sid))
        .where(numbers.c.account_sid == account_sid, numbers.c.phone_number == to_number)
        .order_by(numbers.c.sid)
        .limit(1)
    ).first()
    if number is None:
        raise NotAnIncomingNumber(
            f"The 'To' number {to_number[:32]} is not an incoming phone number of this account"
        )
    service_row = conn.execute(
        select(services)
        .join(pool_entries, pool_entries.c.service_sid == services.c.sid)
        .where(pool_entries.c.sid == number.sid, services.c.account_sid == account_sid)
    ).first()
    service = Service.from_row(service_row) if service_row is not None else None

    word = optouts.keyword(body)
    if word in ("stop", "start"):
        scope = service.sid if service is not None else number.sid
        if word == "stop":
            optouts.opt_out(conn, account_sid, scope, from_number, now)
        else:
            optouts.opt_in(conn, account_sid, scope, from_number, now)

    url: str | None
    if service is not None and not service.use_inbound_webhook_on_number:
        url, method = service.inbound_request_url, service.inbound_method
        stored = url is not None
    else:
        url, method, stored = number.sms_url, number.sms_method or DEFAULT_METHOD, True

    when = as_datetime(now)
    message: dict[str, Any] = {
        "sid": "SM" + secrets.token_hex(16),
        "account_sid": account_sid,
        "service_sid": service.sid if service is not None else None,
        "from_number": from_number,
        "to_number": to_number,
        "body": body,
        "media_urls": None,
        "num_segments": max(1, segments.count(body)),
        "status": "received",
        "direction": "inbound",
        "error_code": None,
        "error_message": None,
        "price": None,
        "price_unit": None,
        "status_callback": None,
        "date_created": when,
        "date_updated": when,
        "date_sent": when,
        "send_at": None,
        "due_at": None,
        "outcome": None,
        "outcome_error": None,
    }
    if stored:
        key = conn.execute(insert(messages).values(**message)).inserted_primary_key
        message["seq"] = key[0] if key else None
        capacity.take_place(conn, account_sid)
    return Inbound(message, url, (method or DEFAULT_METHOD).upper(), _params(message), stored)


def _params(message: dict[str, Any]) -> dict[str, str]:
    """Twilio's parameters of an incoming SMS webhook."""
    sid = message["sid"]
    params = {
        "ToCountry": selection.region(message["to_number"]) or "",
        "ToState": selection.state_of(message["to_number"]) or "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": selection.state_of(message["from_number"]) or "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": message["body"],
        "FromCountry": selection.region(message["from_number"]) or "",
        "To": message["to_number"],
    }
    if message["service_sid"] is not None:
        params["MessagingServiceSid"] = message["service_sid"]
    params.update(
        ToZip="",
        NumSegments=str(message["num_segments"]),
        MessageSid=sid,
        AccountSid=message["account_sid"],
        From=message["from_number"],
        ApiVersion=api_version("CreateMessage"),
    )
    return params


__all__ = ["Inbound", "account_of", "receive"]
