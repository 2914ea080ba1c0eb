"""Issue 18's "done when", end to end, through both official SDKs against a real server process:
a Messaging Service whose pool holds a US and a French number (bought through
IncomingPhoneNumbers) sends a French mobile's message from the French number and keeps one US
number for a US recipient (Sticky Sender); the status callbacks arrive signed, each SDK's own
validator accepts them, in order by default and reversed when a callback fault asks; every
error of the evidence's tables (Messages §1a, test numbers §8) answers as stated; a STOP texted
to the service makes the next send 21610.

The account's clock is frozen (`FakeTwilio.clock`): a message moves only when the test advances
it, and the advance answers once the callbacks have been delivered, so nothing here sleeps.
The fake calls back only a receiver on loopback; the module runs in a network namespace with
nothing else (tests/support/netns.py), so no callback could leave the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.support import ROOT, Server, npm_tools, raises, serve
from tests.support.netns import loopback_only
from twilio_fake.resources.numbers import inventory
from twilio_fake.testing import Account, CallbackReceiver, FakeTwilio, ReceivedRequest

FRENCH_MOBILE = "+33612345678"  # a recipient in France
US_RECIPIENT = "+12125550123"  # a recipient in New York
US_AREA_CODE = 415  # where the US sender is bought: not the recipient's
# How far along a status is; a message's callbacks in order never go back.
PROGRESS = {"queued": 1, "sending": 2, "sent": 3, "delivered": 4, "undelivered": 4, "failed": 4}
FINAL = {"delivered", "undelivered", "failed"}

# The French mobiles of the fake's inventory (sold by PhoneNumber): one per test, since every
# test of the module buys from the same server.
FRENCH_SENDERS = [number.phone_number for number in inventory.numbers("FR", "mobile")]

# Every error of the evidence's tables a send can meet, as (name, form, status, code, message):
# the form in Twilio's parameter names, with {us}, {fr}, {service} and {other_service} for the
# account's US sender, French sender, the service and a second, empty service. `message` is
# checked where the evidence quotes Twilio's text (None: only the title is known).
TOO_LONG = "a" * 1601
ERRORS: list[tuple[str, dict[str, Any], int, int, str | None]] = [
    ("no To", {"From": "{us}", "Body": "x"}, 400, 21604, "A 'To' phone number is required."),
    ("no sender", {"To": US_RECIPIENT, "Body": "x"}, 400, 21603,
     "A 'From' phone number is required."),
    ("From, no body", {"To": US_RECIPIENT, "From": "{us}"}, 400, 21602,
     "Message body is required."),
    ("service, no body", {"To": US_RECIPIENT, "MessagingServiceSid": "{service}"}, 400, 21619,
     None),
    ("1,601 characters", {"To": US_RECIPIENT, "From": "{us}", "Body": TOO_LONG}, 400, 21617,
     "The concatenated message body exceeds the 1600 character limit"),
    ("To not a number", {"To": "123", "From": "{us}", "Body": "x"}, 400, 21211,
     "The 'To' number 123 is not a valid phone number."),
    ("To is From", {"To": "{us}", "From": "{us}", "Body": "x"}, 400, 21211, None),
    ("test To +15005550001", {"To": "+15005550001", "From": "{us}", "Body": "x"}, 400, 21211,
     "The 'To' number +15005550001 is not a valid phone number."),
    ("test From +15005550001", {"To": US_RECIPIENT, "From": "+15005550001", "Body": "x"}, 400,
     21212, "The 'From' number +15005550001 is not a valid phone number, shortcode, or "
     "alphanumeric sender ID."),
    ("test From +15005550007", {"To": US_RECIPIENT, "From": "+15005550007", "Body": "x"}, 400,
     21606, "The From phone number +15005550007 is not a valid, SMS-capable inbound phone "
     "number or short code for your account."),
    ("From not the account's", {"To": US_RECIPIENT, "From": "+15005550000", "Body": "x"}, 400,
     21606, "The From phone number +15005550000 is not a valid, SMS-capable inbound phone "
     "number or short code for your account."),
    ("From not in the service's pool",
     {"To": US_RECIPIENT, "From": "{us}", "MessagingServiceSid": "{other_service}",
      "Body": "x"}, 400, 21606, None),
    ("test From +15005550008", {"To": US_RECIPIENT, "From": "+15005550008", "Body": "x"}, 429,
     21611, "SMS queue is full."),
    ("test To +15005550002", {"To": "+15005550002", "From": "{us}", "Body": "x"}, 400, 21612,
     "The 'To' phone number: +15005550002, is not currently reachable using the 'From' phone "
     "number: {us} via SMS."),
    ("test To +15005550002 with media",
     {"To": "+15005550002", "From": "{us}", "MediaUrl": ["https://example.com/cat.png"]}, 400,
     21612, "The 'To' phone number: +15005550002, is not currently reachable using the 'From' "
     "phone number: {us} via MMS."),
    ("test To +15005550003", {"To": "+15005550003", "From": "{us}", "Body": "x"}, 400, 21408,
     "Permission to send an SMS has not been enabled for the region indicated by the 'To' "
     "number: +15005550003."),
    ("test To +15005550004", {"To": "+15005550004", "From": "{us}", "Body": "x"}, 400, 21610,
     "The message From/To pair violates a blacklist rule."),
    ("test To +15005550009", {"To": "+15005550009", "From": "{us}", "Body": "x"}, 400, 21614,
     "To number: +15005550009, is not a mobile number"),
    ("media URL not http", {"To": US_RECIPIENT, "From": "{us}", "MediaUrl": ["ftp://x/a.png"]},
     400, 21620, None),
    ("eleven media", {"To": US_RECIPIENT, "From": "{us}",
                      "MediaUrl": [f"https://example.com/{i}.png" for i in range(11)]},
     400, 21623, None),
    ("StatusCallback with an underscore",
     {"To": US_RECIPIENT, "From": "{us}", "Body": "x",
      "StatusCallback": "https://under_score.example.com/cb"}, 400, 21609, None),
    ("service SID malformed", {"To": US_RECIPIENT, "MessagingServiceSid": "MG123", "Body": "x"},
     400, 21705, None),
    ("service not the account's",
     {"To": US_RECIPIENT, "MessagingServiceSid": "MG" + "0" * 32, "Body": "x"}, 400, 21701,
     None),
]  # fmt: skip
PYTHON_NAMES = {
    "To": "to",
    "From": "from_",
    "MessagingServiceSid": "messaging_service_sid",
    "Body": "body",
    "MediaUrl": "media_url",
    "StatusCallback": "status_callback",
}


@pytest.fixture(scope="module", autouse=True)
def namespace() -> Iterator[None]:
    with loopback_only():
        yield


@pytest.fixture(scope="module")
def server(namespace: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve(tmp_path_factory.mktemp("messages") / "fake.sqlite3")
    yield server
    server.stop()


@pytest.fixture
def fake(server: Server) -> FakeTwilio:
    return FakeTwilio(server.url)


@pytest.fixture
def account(fake: FakeTwilio) -> Iterator[Account]:
    account = fake.new_account(services=0, numbers=0)  # a team's empty account
    yield account
    fake.drop_account(account)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as receiver:
        yield receiver


class Pool:
    """A service whose pool holds one US and one French number, bought for the test."""

    def __init__(self, client: Client, french_sender: str, **settings: Any) -> None:
        self.service = client.messaging.v1.services.create(
            friendly_name="Reminders", sticky_sender=True, **settings
        )
        found = client.available_phone_numbers("US").local.list(
            area_code=US_AREA_CODE, sms_enabled=True, mms_enabled=True, limit=1
        )
        self.us = client.incoming_phone_numbers.create(phone_number=found[0].phone_number)
        self.fr = client.incoming_phone_numbers.create(phone_number=french_sender)
        for number in (self.us, self.fr):
            client.messaging.v1.services(self.service.sid).phone_numbers.create(
                phone_number_sid=number.sid
            )


def send(client: Client, pool: Pool, to: str, receiver: CallbackReceiver, body: str = "Hello"):
    return client.messages.create(
        messaging_service_sid=pool.service.sid, to=to, body=body, status_callback=receiver.url
    )


def statuses_of(requests: list[ReceivedRequest], sid: str) -> list[str]:
    return [r.params["MessageStatus"] for r in requests if r.params.get("MessageSid") == sid]


# -- twilio-python ---------------------------------------------------------------------------------
def test_the_french_number_texts_france_and_a_us_recipient_keeps_one_sender(
    fake: FakeTwilio, account: Account, receiver: CallbackReceiver
) -> None:
    client = fake.client(account)
    pool = Pool(client, FRENCH_SENDERS[0])
    clock = fake.clock(account)
    clock.freeze()

    french = send(client, pool, FRENCH_MOBILE, receiver, "Bonjour")
    assert (french.status, french.from_, french.num_segments) == ("accepted", None, "0")
    americans = [send(client, pool, US_RECIPIENT, receiver, f"Reminder {i}") for i in range(3)]
    moved = clock.advance(60)
    assert moved["transitions"] and not any(t["pending"] for t in moved["transitions"])

    french = client.messages(french.sid).fetch()
    assert (french.from_, french.status) == (pool.fr.phone_number, "delivered")
    fetched = [client.messages(m.sid).fetch() for m in americans]
    assert [(m.from_, m.status) for m in fetched] == [(pool.us.phone_number, "delivered")] * 3

    # Every callback: signed with the account's auth token, as twilio-python's validator sees it.
    requests = receiver.requests
    validator = RequestValidator(account.auth_token)
    assert requests and all(validator.validate(r.url, r.params, r.signature) for r in requests)
    stranger = RequestValidator("another auth token")
    assert not any(stranger.validate(r.url, r.params, r.signature) for r in requests)
    # In order, for each message: queued first, delivered last, never a step back.
    for message in (french, *fetched):
        statuses = statuses_of(requests, message.sid)
        assert statuses[0] == "queued" and statuses[-1] == "delivered", statuses
        assert statuses == sorted(statuses, key=PROGRESS.__getitem__), statuses
        assert "sent" in statuses
        for request in (r for r in requests if r.params["MessageSid"] == message.sid):
            assert request.params["From"] == message.from_
            assert request.params["To"] == message.to
            assert request.params["MessagingServiceSid"] == pool.service.sid
            assert request.params["AccountSid"] == account.sid
            assert "ErrorCode" not in request.params


def test_sticky_sender_keeps_a_recipients_sender_while_it_stays_in_the_pool(
    fake: FakeTwilio, account: Account, receiver: CallbackReceiver
) -> None:
    """With two US senders and no area-code match, each recipient keeps the sender its first
    message got, also once a third US sender joins the pool (the choice among equals would now
    fall elsewhere for some); a sender taken out of the pool takes its recipients' mapping
    with it."""
    client = fake.client(account)
    pool = Pool(client, FRENCH_SENDERS[1], area_code_geomatch=False)
    found = client.available_phone_numbers("US").local.list(
        area_code=206, sms_enabled=True, mms_enabled=True, limit=1
    )
    second = client.incoming_phone_numbers.create(phone_number=found[0].phone_number)
    entries = client.messaging.v1.services(pool.service.sid).phone_numbers
    entries.create(phone_number_sid=second.sid)
    clock = fake.clock(account)
    clock.freeze()

    recipients = [f"+1617555{line:04d}" for line in range(100, 106)]
    sids = {to: [send(client, pool, to, receiver).sid for _ in range(4)] for to in recipients}
    clock.advance(60)
    senders = {
        to: {client.messages(sid).fetch().from_ for sid in messages}
        for to, messages in sids.items()
    }
    us_senders = {pool.us.phone_number, second.phone_number}
    assert all(len(chosen) == 1 and chosen <= us_senders for chosen in senders.values()), senders

    found = client.available_phone_numbers("US").local.list(
        area_code=312, sms_enabled=True, mms_enabled=True, limit=1
    )
    third = client.incoming_phone_numbers.create(phone_number=found[0].phone_number)
    entries.create(phone_number_sid=third.sid)
    later = {to: [send(client, pool, to, receiver).sid for _ in range(4)] for to in recipients}
    clock.advance(60)
    for to, messages in later.items():
        assert {client.messages(sid).fetch().from_ for sid in messages} == senders[to], to

    kept = recipients[0]
    (first,) = senders[kept]
    leaving = pool.us if first == pool.us.phone_number else second
    entries(leaving.sid).delete()
    again = send(client, pool, kept, receiver)
    clock.advance(60)
    remaining = (us_senders | {third.phone_number}) - {first}
    assert client.messages(again.sid).fetch().from_ in remaining


def test_callbacks_come_reversed_when_a_fault_asks(
    fake: FakeTwilio, account: Account, receiver: CallbackReceiver
) -> None:
    client = fake.client(account)
    pool = Pool(client, FRENCH_SENDERS[2])
    clock = fake.clock(account)
    clock.freeze()
    first = send(client, pool, US_RECIPIENT, receiver)
    clock.advance(60)
    in_order = statuses_of(receiver.wait_for(1), first.sid)

    second = send(client, pool, US_RECIPIENT, receiver)
    fake.arm_callback_fault("reverse", account=account, times=len(in_order))
    moved = clock.advance(60)
    assert not any(t["pending"] for t in moved["transitions"])
    assert statuses_of(receiver.requests, second.sid) == in_order[::-1]
    validator = RequestValidator(account.auth_token)
    assert all(validator.validate(r.url, r.params, r.signature) for r in receiver.requests)


def test_every_error_of_the_evidence_answers_as_stated(fake: FakeTwilio, account: Account) -> None:
    client = fake.client(account)
    pool = Pool(client, FRENCH_SENDERS[3])
    other = client.messaging.v1.services.create(friendly_name="Empty")
    names = {
        "{us}": pool.us.phone_number,
        "{fr}": pool.fr.phone_number,
        "{service}": pool.service.sid,
        "{other_service}": other.sid,
    }
    wrong = []
    for name, form, status, code, message in ERRORS:
        kwargs = {PYTHON_NAMES[key]: fill(value, names) for key, value in form.items()}
        kwargs.setdefault("to", values.unset)  # the SDK requires `to`: leave it out of the form
        try:
            created = client.messages.create(**kwargs)
        except TwilioRestException as error:
            seen = (error.status, error.code)
            wanted_text = fill(message, names) if message else None
            if seen != (status, code) or (wanted_text and wanted_text not in error.msg):
                wrong.append(f"{name}: {seen} {error.msg!r}, not {status} {code} {wanted_text!r}")
        else:
            wrong.append(f"{name}: created {created.sid}, not {status} {code}")
    assert not wrong, "\n".join(wrong)

    # The test number +15005550006 passes every check (§8.3): queued, from the number itself.
    magic = client.messages.create(to=US_RECIPIENT, from_="+15005550006", body="x")
    assert (magic.status, magic.from_) == ("queued", "+15005550006")
    with raises(404, 20404):
        client.messages("SM" + "0" * 32).fetch()
    with raises(401, 20003):
        stranger = Client(account.sid, "not the token", http_client=client.http_client)
        stranger.messages(magic.sid).fetch()


def test_update_and_delete_answer_as_stated(fake: FakeTwilio, account: Account) -> None:
    client = fake.client(account)
    pool = Pool(client, FRENCH_SENDERS[4])
    clock = fake.clock(account)
    clock.freeze()
    message = client.messages.create(
        messaging_service_sid=pool.service.sid, to=US_RECIPIENT, body="Your code is 1234"
    )
    with raises(400, 20009):
        client.messages(message.sid).delete()  # not final yet
    clock.advance(60)
    with raises(400, 30400):
        client.messages(message.sid).update()  # neither a redaction nor a cancel
    with raises(400, 30409):
        client.messages(message.sid).update(status="canceled")  # delivered already
    redacted = client.messages(message.sid).update(body="")
    assert (redacted.body, redacted.status) == ("", "delivered")
    assert [m.sid for m in client.messages.list(to=US_RECIPIENT)] == [message.sid]
    assert client.messages(message.sid).delete() is True
    with raises(404, 20404):
        client.messages(message.sid).fetch()


def test_a_service_that_cannot_send_fails_the_message_afterwards(
    fake: FakeTwilio, account: Account, receiver: CallbackReceiver
) -> None:
    """21704 (an empty pool) and 21703 (no sender for the recipient: a US recipient and only
    a French sender) come as a failed message and its callback, as the evidence infers."""
    client = fake.client(account)
    clock = fake.clock(account)
    clock.freeze()
    empty = client.messaging.v1.services.create(friendly_name="Empty")
    french_only = client.messaging.v1.services.create(friendly_name="France")
    fr = client.incoming_phone_numbers.create(phone_number=FRENCH_SENDERS[5])
    client.messaging.v1.services(french_only.sid).phone_numbers.create(phone_number_sid=fr.sid)
    sids = {}
    for code, service in ((21704, empty), (21703, french_only)):
        sids[code] = client.messages.create(
            messaging_service_sid=service.sid,
            to=US_RECIPIENT,
            body="x",
            status_callback=receiver.url,
        ).sid
    clock.advance(60)
    for code, sid in sids.items():
        message = client.messages(sid).fetch()
        assert (message.status, message.error_code) == ("failed", code)
        last = [r for r in receiver.requests if r.params["MessageSid"] == sid][-1]
        assert (last.params["MessageStatus"], last.params["ErrorCode"]) == ("failed", str(code))


def test_stop_then_a_send_is_21610_and_start_lets_it_through(
    fake: FakeTwilio, account: Account, receiver: CallbackReceiver
) -> None:
    client = fake.client(account)
    pool = Pool(client, FRENCH_SENDERS[6])
    client.messaging.v1.services(pool.service.sid).update(inbound_request_url=receiver.url)
    received = fake.inbound(US_RECIPIENT, pool.us.phone_number, "STOP", account=account)
    assert received["message"]["direction"] == "inbound"
    inbound = receiver.wait_for(1)[0]
    assert RequestValidator(account.auth_token).validate(
        inbound.url, inbound.params, inbound.signature
    )
    assert (inbound.params["From"], inbound.params["Body"]) == (US_RECIPIENT, "STOP")

    with raises(400, 21610):
        send(client, pool, US_RECIPIENT, receiver)
    with raises(400, 21610):  # from the number itself: it pools in the service that was told
        client.messages.create(to=US_RECIPIENT, from_=pool.us.phone_number, body="x")
    assert send(client, pool, FRENCH_MOBILE, receiver).status == "accepted"  # others still get it

    fake.inbound(US_RECIPIENT, pool.us.phone_number, "START", account=account)
    assert send(client, pool, US_RECIPIENT, receiver).status == "accepted"


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [fill(item, names) for item in value]
    for placeholder, real in names.items():
        value = value.replace(placeholder, real)
    return value


# -- twilio-node -----------------------------------------------------------------------------------
def test_twilio_node_runs_the_same_flow(server: Server, account: Account) -> None:
    """The same flow with twilio-node, whose own `validateRequest` checks each callback the
    script's receiver gets; the errors table is the one above."""
    npm_tools()
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "e2e" / "node" / "messages_flow.js")],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "NODE_PATH": str(ROOT / "tools" / "npm" / "node_modules"),
            "FAKE_URL": server.url,
            "ACCOUNT": account.sid,
            "TOKEN": account.auth_token,
            "FR_SENDER": FRENCH_SENDERS[7],
            "FR_RECIPIENT": FRENCH_MOBILE,
            "US_RECIPIENT": US_RECIPIENT,
            "US_AREA_CODE": str(US_AREA_CODE),
            "ERRORS": json.dumps([[name, form] for name, form, *_ in ERRORS]),
        },
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows["frenchFrom"] == rows["frSender"]
    assert rows["usFrom"] == [rows["usSender"]] * 3
    assert rows["finalStatuses"] == ["delivered"] * 4
    assert rows["callbacks"] > 0 and rows["validated"] == rows["callbacks"]
    assert rows["forgedAccepted"] == 0
    for statuses in rows["inOrder"]:
        assert statuses[0] == "queued" and statuses[-1] == "delivered", statuses
        assert statuses == sorted(statuses, key=PROGRESS.__getitem__), statuses
    assert rows["reversed"] == rows["inOrder"][0][::-1]
    names = {"{us}": rows["usSender"], "{fr}": rows["frSender"]}
    for name, _form, status, code, message in ERRORS:
        seen = rows["errors"][name]
        assert (seen["status"], seen["code"]) == (status, code), (name, seen)
        if message:
            assert fill(message, names) in seen["message"], (name, seen)
    assert (rows["afterStop"]["status"], rows["afterStop"]["code"]) == (400, 21610)
    assert rows["afterStart"] == "accepted"
