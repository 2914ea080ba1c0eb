"""Status callbacks and inbound webhooks from a real server process: signed as Twilio signs them,
in order, faulted when asked, refused beyond the allow-list, and never stalling anyone.

The server, its receivers and every client run in a network namespace with only loopback
(tests/support/netns.py): a webhook the allow-list let through by mistake fails there instead of
reaching anything. Messages are written into the server's database as the Messages resource
writes them (`queue_message`), so that these tests need nothing of the resource's HTTP side; the
dispatcher and the rules (lifecycle.advance_due) move them as they move any message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import insert
from twilio.request_validator import RequestValidator

from tests.support import ROOT, Server, serve, stop_cleanly
from tests.support.netns import loopback_only
from tests.support.webhooks import Listener, silent
from twilio_fake.db import Database
from twilio_fake.launch import serve_command
from twilio_fake.outbound import MAX_IN_FLIGHT
from twilio_fake.resources.messages import lifecycle
from twilio_fake.resources.messages.tables import messages
from twilio_fake.testing import Account, CallbackReceiver, FakeTwilio, FakeTwilioError

CALLBACK_TIMEOUT = 60  # seconds: a dead receiver stays in flight for the whole of a test


@pytest.fixture(scope="module", autouse=True)
def namespace() -> Iterator[None]:
    with loopback_only():
        yield


@dataclass
class Served:
    server: Server
    database: Path

    def fake(self) -> FakeTwilio:
        return FakeTwilio(self.server.url)


@pytest.fixture(scope="module")
def served(namespace: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    database = tmp_path_factory.mktemp("callbacks") / "fake.sqlite3"
    env = {"TWILIO_FAKE_CALLBACK_TIMEOUT": str(CALLBACK_TIMEOUT)}
    server = serve(database, env=env)
    yield Served(server, database)
    stop_cleanly([server])


@pytest.fixture
def fake(served: Served) -> FakeTwilio:
    return served.fake()


@pytest.fixture
def account(fake: FakeTwilio) -> Iterator[Account]:
    account = fake.new_account(services=1, numbers=2)
    yield account
    fake.drop_account(account)


def queue_message(
    served: Served, account: Account, callback: str | None, *, due_at: float, to: str
) -> str:
    """A message sent from the account's first number, queued and due at `due_at` (by its
    account's clock), its outcome planned by the rules, as the Messages resource writes one."""
    sid = "SM" + format(time.time_ns(), "032x")[-32:]
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    db = Database(str(served.database))
    try:
        with db.write() as conn:
            outcome = lifecycle.plan(conn, account.sid, to)
            conn.execute(
                insert(messages).values(
                    sid=sid,
                    account_sid=account.sid,
                    from_number=account.phone_numbers[0],
                    to_number=to,
                    body="Hello",
                    num_segments=1,
                    status="queued",
                    direction="outbound-api",
                    status_callback=callback,
                    date_created=now,
                    date_updated=now,
                    due_at=due_at,
                    outcome=outcome.status,
                    outcome_error=outcome.error_code,
                )
            )
    finally:
        db.dispose()
    return sid


def frozen_message(fake: FakeTwilio, served: Served, account: Account, callback: str) -> str:
    """A message due a second ahead on the account's frozen clock: it moves only when the test
    advances the clock (the dispatcher's own looks find nothing due before)."""
    now = fake.clock(account).freeze()["now"]
    return queue_message(served, account, callback, due_at=now + 1, to="+15005550006")


def statuses(receiver: CallbackReceiver) -> list[str]:
    return [request.params["MessageStatus"] for request in receiver.requests]


# -- delivery ------------------------------------------------------------------------------------
def test_an_advance_sends_each_status_callback_signed_in_order_before_answering(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    with CallbackReceiver() as receiver:
        callback = receiver.url + "?run=1"
        sid = frozen_message(fake, served, account, callback)
        answer = fake.clock(account).advance(5)
        # Answered after the callbacks came: they are in the receiver already, in order.
        assert statuses(receiver) == ["sent", "delivered"]
        validator = RequestValidator(account.auth_token)
        for request in receiver.requests:
            assert request.url == callback
            assert validator.validate(request.url, request.params, request.signature)
            assert request.params["MessageSid"] == sid
            assert request.params["AccountSid"] == account.sid
    steps = [(t["status"], t["pending"]) for t in answer["transitions"]]
    assert steps == [("sending", False), ("sent", False), ("delivered", False)]
    sent = answer["transitions"][1]["callbacks"]
    assert [(c["outcome"], c["status"], c["signature_ok"]) for c in sent] == [
        ("delivered", 200, True)
    ]
    journal = fake.callbacks(account=account)
    assert [c["params"]["MessageStatus"] for c in journal] == ["delivered", "sent"]  # newest first


def test_a_status_callback_written_with_an_ipv6_address_is_taken_and_delivered(
    fake: FakeTwilio, account: Account
) -> None:
    """`::1` is in the default allow-list: a send through the API takes a StatusCallback
    written `http://[::1]:port/...` (the contract's WebhookUrl), and its callbacks reach a
    receiver listening there, signed over the URL as written."""
    with CallbackReceiver("::1") as receiver:
        assert receiver.url.startswith("http://[::1]:")
        fake.clock(account).freeze()
        message = fake.client(account).messages.create(
            to="+15005550006",
            from_=account.phone_numbers[0],
            body="Hi",
            status_callback=receiver.url,
        )
        assert message.status == "queued"
        fake.clock(account).advance(5)
        assert statuses(receiver) == ["sent", "delivered"]
        validator = RequestValidator(account.auth_token)
        for request in receiver.requests:
            assert request.url == receiver.url and request.params["MessageSid"] == message.sid
            assert validator.validate(request.url, request.params, request.signature)


def test_a_running_clock_delivers_by_itself(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    with CallbackReceiver() as receiver:
        queue_message(served, account, receiver.url, due_at=time.time(), to="+15005550006")
        receiver.wait_for(2)  # found by the dispatcher's own look, no advance asked
        assert statuses(receiver) == ["sent", "delivered"]


def test_an_outcome_rule_ends_the_message_as_told_with_its_error_code(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    fake.set_outcome(account, "+1500555*", "undelivered", 30005)
    with CallbackReceiver() as receiver:
        frozen_message(fake, served, account, receiver.url)
        fake.clock(account).advance(5)
        fake.clear_outcomes(account)
        frozen_message(fake, served, account, receiver.url)
        fake.clock(account).advance(5)
    assert statuses(receiver) == ["sent", "undelivered", "sent", "delivered"]
    assert receiver.requests[1].params["ErrorCode"] == "30005"
    assert "ErrorCode" not in receiver.requests[3].params


# -- nobody stalls -------------------------------------------------------------------------------
def test_a_dead_receiver_stalls_no_other_client(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    """An account whose receiver accepts and never answers (for longer than the test) keeps
    more callbacks in flight than it has places; meanwhile the API answers, another account's
    callbacks arrive, and its clock advances: proven by order, not by time."""
    stopping = threading.Event()
    other = fake.new_account(services=0, numbers=1)
    try:
        with Listener(silent(stopping)) as dead, CallbackReceiver() as alive:
            for _ in range(MAX_IN_FLIGHT + 8):  # more than all places, let alone an account's
                queue_message(served, account, dead.url, due_at=time.time(), to="+15005550006")
            assert dead.connected.wait(30), "the dead receiver was never called"
            # The API and the control surface answer.
            health = requests.get(served.server.url + "/_fake/health", timeout=10)
            assert health.status_code == 200
            pool = requests.get(
                f"{served.server.url}/v1/Services/{account.services[0]}/PhoneNumbers",
                auth=(account.sid, account.auth_token),
                timeout=10,
            )
            assert pool.status_code == 200
            # Another account's callbacks go, and its clock's advance answers, with them sent.
            sid = frozen_message(fake, served, other, alive.url)
            answer = fake.clock(other).advance(5)
            assert statuses(alive) == ["sent", "delivered"]
            assert all(not t["pending"] for t in answer["transitions"])
            # ...while the dead receiver's callbacks are all still in flight or waiting.
            assert [c for c in fake.callbacks(account=account) if c["kind"] == "status"] == []
            assert alive.requests[0].params["MessageSid"] == sid
            stopping.set()
    finally:
        fake.drop_account(other)


# -- faults --------------------------------------------------------------------------------------
def test_callback_faults_reverse_duplicate_and_sign_wrongly(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    with CallbackReceiver() as receiver:
        reverse = fake.arm_callback_fault("reverse", account=account, times=2)
        frozen_message(fake, served, account, receiver.url)
        fake.clock(account).advance(5)
        assert statuses(receiver) == ["delivered", "sent"]
        receiver.clear()
        fake.arm_callback_fault("duplicate", account=account)
        fake.arm_callback_fault("bad_signature", account=account, times=2)
        frozen_message(fake, served, account, receiver.url)
        fake.clock(account).advance(5)
        assert statuses(receiver) == ["sent", "sent", "delivered"]
        validator = RequestValidator(account.auth_token)
        signed = [validator.validate(r.url, r.params, r.signature) for r in receiver.requests]
        # Each callback takes the oldest fault armed: `sent` is doubled, `delivered` signed wrongly.
        assert signed == [True, True, False]
    journal = fake.callbacks(account=account)
    assert [c["fault"] for c in journal[-2:]] == [reverse["sid"], reverse["sid"]]


def test_a_dropped_callback_is_journaled_and_not_sent(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    with CallbackReceiver() as receiver:
        fault = fake.arm_callback_fault("drop", account=account)
        frozen_message(fake, served, account, receiver.url)
        answer = fake.clock(account).advance(5)
        assert statuses(receiver) == ["delivered"]
    (dropped,) = answer["transitions"][1]["callbacks"]
    assert (dropped["outcome"], dropped["fault"]) == ("dropped", fault["sid"])


# -- the allow-list ------------------------------------------------------------------------------
def test_a_refused_host_is_journaled_and_never_connected_to(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    with Listener(silent(threading.Event())) as listener:
        refused = [
            "http://example.com/status",
            listener.url.replace("127.0.0.1", "127.1"),
            listener.url.replace("127.0.0.1", "[::ffff:127.0.0.1]"),
        ]
        for url in refused:
            frozen_message(fake, served, account, url)
        answer = fake.clock(account).advance(5)
        assert listener.connections == 0
    outcomes = {(c["url"], c["outcome"]) for t in answer["transitions"] for c in t["callbacks"]}
    assert outcomes == {(url, "refused") for url in refused}


def test_refused_callbacks_make_no_lookup_and_no_connection(tmp_path: Path) -> None:
    """Under strace: the server's processes never call connect() or send to an address (a DNS
    query would do either) for callbacks to hosts it refuses; they accept connections (strace
    watches the right processes)."""
    trace = tmp_path / "syscalls"
    strace = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect,sendto,sendmsg,accept4"]
    database = tmp_path / "fake.sqlite3"
    server = Server([*strace, "-o", str(trace), *serve_command(database)], cwd=ROOT)
    try:
        fake = FakeTwilio(server.url)
        account = fake.new_account(services=0, numbers=1)
        served = Served(server, database)
        for url in ("http://example.com/x", "http://twilio.example:8080/x", "http://10.1.2.3/"):
            frozen_message(fake, served, account, url)
        answer = fake.clock(account).advance(5)
        outcomes = [c["outcome"] for t in answer["transitions"] for c in t["callbacks"]]
        assert outcomes == ["refused"] * 6
    finally:
        server.stop()
    calls = trace.read_text().splitlines()
    assert any("accept" in call for call in calls), "strace saw no accept: the check is blind"
    outbound = [call for call in calls if "sin_port=" in call or "sin6_port=" in call]
    outbound = [call for call in outbound if "accept" not in call]
    assert outbound == []


# -- inbound -------------------------------------------------------------------------------------
def test_an_inbound_message_calls_the_numbers_webhook_signed_and_returns_its_twiml(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    with CallbackReceiver() as receiver:
        twiml = "<Response><Message>Thanks!</Message></Response>"
        receiver.answer(body=twiml)
        number = account.numbers[0]
        updated = requests.post(
            f"{served.server.url}/2010-04-01/Accounts/{account.sid}/IncomingPhoneNumbers/"
            f"{number}.json",
            data={"SmsUrl": receiver.url, "SmsMethod": "POST"},
            auth=(account.sid, account.auth_token),
            timeout=10,
        )
        assert updated.status_code == 200, updated.text
        received = fake.inbound("+15005550006", account.phone_numbers[0], "Hi there")
        (request,) = receiver.requests
    assert request.params["Body"] == "Hi there"
    assert request.params["From"] == "+15005550006"
    assert request.params["To"] == account.phone_numbers[0]
    assert request.params["SmsStatus"] == "received"
    validator = RequestValidator(account.auth_token)
    assert validator.validate(request.url, request.params, request.signature)
    assert received["message"]["direction"] == "inbound"
    webhook = received["webhook"]
    assert (webhook["kind"], webhook["outcome"], webhook["response"]) == (
        "inbound",
        "delivered",
        twiml,
    )


def test_inbound_webhooks_to_hosts_beyond_the_allow_list_are_refused_not_connected(
    fake: FakeTwilio, served: Served, account: Account
) -> None:
    """An sms_url (set through IncomingPhoneNumbers) and a service's inbound_request_url are
    webhooks anyone with the account's credentials chooses: the allow-list holds for them as
    for status callbacks."""
    api = f"{served.server.url}/2010-04-01/Accounts/{account.sid}/IncomingPhoneNumbers"
    auth = (account.sid, account.auth_token)
    with Listener(silent(threading.Event())) as listener:
        beyond = listener.url.replace("127.0.0.1", "127.1")
        number = requests.post(
            f"{api}/{account.numbers[0]}.json", data={"SmsUrl": beyond}, auth=auth, timeout=10
        )
        assert number.status_code == 200, number.text
        service = requests.post(
            f"{served.server.url}/v1/Services/{account.services[0]}",
            data={"InboundRequestUrl": "http://example.com/inbound"},
            auth=auth,
            timeout=10,
        )
        assert service.status_code == 200, service.text
        pooled = requests.post(
            f"{served.server.url}/v1/Services/{account.services[0]}/PhoneNumbers",
            data={"PhoneNumberSid": account.numbers[1]},
            auth=auth,
            timeout=10,
        )
        assert pooled.status_code in (201, 409), pooled.text
        webhooks = [
            fake.inbound("+15005550006", phone, "Hi")["webhook"] for phone in account.phone_numbers
        ]
        assert listener.connections == 0
    assert [(w["url"], w["outcome"]) for w in webhooks] == [
        (beyond, "refused"),
        ("http://example.com/inbound", "refused"),
    ]


def test_an_inbound_message_to_nobodys_number_is_400(fake: FakeTwilio) -> None:
    with pytest.raises(FakeTwilioError, match="400"):
        fake.inbound("+15005550006", "+19999999999", "Hi")
