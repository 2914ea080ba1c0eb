"""Webhooks out (twilio_fake.outbound) and the dispatcher that sends status callbacks
(twilio_fake.dispatch): the signature, the allow-list, the sender against real receivers, and
the order, faults and bounds of delivery.

Everything that could connect runs in a network namespace with only loopback
(tests/support/netns.py): a URL the allow-list let through by mistake fails there instead of
reaching anything. The receivers are real sockets on loopback, in threads.

The dispatcher is driven here by a stand-in for `lifecycle.advance_due` (the rules' part, tested
in test_message_rules.py): it hands out the transitions a test queues, with their callbacks.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError
from twilio.request_validator import RequestValidator

from tests.support import ACCOUNT, OTHER_ACCOUNT, OTHER_TOKEN, TOKEN
from tests.support.netns import loopback_only
from tests.support.webhooks import Listener, answering, read_request, silent
from twilio_fake import fixtures
from twilio_fake.backend import Backend
from twilio_fake.callback_faults import CallbackFaults
from twilio_fake.dispatch import Dispatcher
from twilio_fake.outbound import (
    KEPT_RESPONSE_CHARS,
    CallbackJournal,
    RefusedUrl,
    Sender,
    Webhook,
    check_url,
    parse_hosts,
    signature,
    tls_context,
)
from twilio_fake.proxy.ca import CertificateAuthority
from twilio_fake.resources.messages.tables import messages
from twilio_fake.testing import CallbackReceiver

LOOPBACK = parse_hosts(None)
PARAMS = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "sent", "To": "+15005550006"}


@pytest.fixture(scope="module", autouse=True)
def namespace() -> Iterator[None]:
    with loopback_only():
        yield


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# -- the signature -------------------------------------------------------------------------------
# twilio-python's own test vectors (tests/unit/test_request_validator.py), as the evidence
# (reference/messaging/extras/signature_vectors.py) re-derived them.
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        (VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            VECTOR_PARAMS,
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
        ),
        (
            VECTOR_URL,
            {"Sid": "CA123", "SidAccount": "AC123", "Digits": ["5678", "1234", "1234"]},
            "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
        ),
        (
            VECTOR_URL
            + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620",
            {},
            "a9nBmqA0ju/hNViExpshrM61xv4=",
        ),
    ],
    ids=["form", "explicit-port", "repeated-values", "json-body-url"],
)
def test_signature_matches_twilios_vectors(url: str, params: dict, expected: str) -> None:
    assert signature("12345", url, params) == expected


def test_the_sdk_validator_accepts_the_signature_of_a_status_callback() -> None:
    url = "http://127.0.0.1:8000/status?x=1&y=%C3%A9"
    params = PARAMS | {"Body": "héllo & <b>", "ErrorCode": "30003"}
    assert RequestValidator(TOKEN).validate(url, params, signature(TOKEN, url, params))
    assert not RequestValidator(OTHER_TOKEN).validate(url, params, signature(TOKEN, url, params))


# -- the allow-list ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/status",
        "http://LOCALHOST:8080/status?x=1",
        "https://127.0.0.1:1/",
        "http://[::1]:9000/x",
        "http://[0:0:0:0:0:0:0:1]:9000/x",  # ::1, written long: the same address
    ],
)
def test_loopback_is_allowed_by_default(url: str) -> None:
    check_url(url, LOOPBACK)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/status", "not in the callback allow-list"),
        ("http://localhost@example.com/", "host example.com is not in the callback allow-list"),
        ("http://localhost:80@example.com/", "host example.com is not"),
        ("http://127.0.0.1%2f@example.com/", "host example.com is not"),
        ("http://127.1/", "not written in its usual form"),
        ("http://2130706433/", "not written in its usual form"),
        ("http://0x7f.0.0.1/", "not written in its usual form"),
        ("http://0177.0.0.1/", "does not parse"),
        ("http://127.0.0.01/", "does not parse"),
        ("http://[::ffff:127.0.0.1]/", "not in the callback allow-list"),
        ("http://[::ffff:7f00:1]/", "not in the callback allow-list"),
        ("http://lоcalhost/", "xn--"),  # a Cyrillic о
        ("http://xn--lcalhost-z0a/", "not in the callback allow-list"),
        ("http://localhost./", "not in the callback allow-list"),
        ("http://localhost.example.com/", "not in the callback allow-list"),
        ("http://169.254.169.254/latest/meta-data/", "not in the callback allow-list"),
        ("http://0.0.0.0:8080/", "not in the callback allow-list"),
        ("ftp://localhost/", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://localhost:25/", "only http and https"),
        ("/relative/path", "only http and https"),
        ("http:///nohost", "names no host"),
        ("http://local host/", "space"),
        ("http://localhost\\@example.com/", "backslash"),
        ("http://localhost/\r\nX-Injected: 1", "control character"),
        ("http://localhost/" + "a" * 5000, "longer than"),
        # No such port: the resolver of asyncio's own loop raised OverflowError out of send
        ("http://127.0.0.1:65536/", "port"),
        ("http://localhost:99999/x", "port"),
    ],
)
def test_tricky_urls_are_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(RefusedUrl) as refused:
        check_url(url, LOOPBACK)
    assert why in str(refused.value)


def test_the_allow_list_takes_names_and_addresses_as_written() -> None:
    hosts = parse_hosts(" Receiver.Example , 10.0.0.5,[::ffff:127.0.0.1], bücher.example ")
    assert hosts == {"receiver.example", "10.0.0.5", "::ffff:7f00:1", "xn--bcher-kva.example"}
    check_url("http://receiver.example:3000/x", hosts)
    check_url("http://RECEIVER.example/x", hosts)
    check_url("http://[::ffff:127.0.0.1]:3000/x", hosts)
    check_url("http://bücher.example/x", hosts)
    with pytest.raises(RefusedUrl):
        check_url("http://localhost/x", hosts)  # a list given replaces loopback's
    assert parse_hosts("") == parse_hosts(" , ") == LOOPBACK


def test_the_setting_reaches_the_sender_from_the_option_and_the_variable(backend: Backend) -> None:
    from twilio_fake.app import create_dispatcher
    from twilio_fake.cli import parse_args
    from twilio_fake.config import Settings

    environ = {"TWILIO_FAKE_CALLBACK_HOSTS": "app,db", "TWILIO_FAKE_CALLBACK_TIMEOUT": "2.5"}
    from_env = Settings.from_env(environ)
    assert create_dispatcher(from_env, backend).sender.hosts == {"app", "db"}
    assert create_dispatcher(from_env, backend).sender.timeout == 2.5
    option = vars(parse_args(["--callback-hosts", "receiver"]))
    assert create_dispatcher(Settings.from_env(environ, **option), backend).sender.hosts == {
        "receiver"
    }
    assert create_dispatcher(Settings(), backend).sender.hosts == LOOPBACK


# -- the sender against real receivers -------------------------------------------------------------
def sender(hosts: frozenset[str] = LOOPBACK, **options: Any) -> Sender:
    return Sender(hosts, CallbackJournal(100), **({"timeout": 10.0} | options))


async def send_all(out: Sender, *calls: tuple[Webhook, str | None]) -> list[Any]:
    await out.open()
    try:
        return list(await asyncio.gather(*(out.send(hook, token) for hook, token in calls)))
    finally:
        await out.close()


def hook(url: str, account: str = ACCOUNT, **values: Any) -> Webhook:
    return Webhook(account=account, url=url, params=dict(PARAMS), **values)


def test_a_status_callback_is_a_signed_form_post_the_sdk_validates() -> None:
    out = sender()
    with CallbackReceiver() as receiver:
        url = receiver.url + "?a=1&b=2"
        (entry,) = run(send_all(out, (hook(url), TOKEN)))
        (request,) = receiver.requests
    assert request.method == "POST"
    assert request.url == url
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["user-agent"] == "TwilioProxy/1.1"
    assert request.params == PARAMS
    assert RequestValidator(TOKEN).validate(url, request.params, request.signature)
    assert request.signed_by(TOKEN)
    assert (entry.outcome, entry.status, entry.response) == ("delivered", 200, "<Response/>")
    assert entry.signature == request.signature and entry.signature_ok
    assert entry.params == PARAMS and entry.url == url and entry.account == ACCOUNT
    assert out.journal.entries() == [entry]


def test_credentials_in_the_url_are_sent_as_basic_auth_and_neither_signed_nor_journaled() -> None:
    out = sender()
    with CallbackReceiver() as receiver:
        url = receiver.url.replace("http://", "http://user:s3cr%40t@") + "?a=1"
        (entry,) = run(send_all(out, (hook(url), TOKEN)))
        (request,) = receiver.requests
    assert request.headers["authorization"] == "Basic dXNlcjpzM2NyQHQ="  # user:s3cr@t
    assert request.url == receiver.url + "?a=1" == entry.url
    assert RequestValidator(TOKEN).validate(request.url, request.params, request.signature)
    assert entry.outcome == "delivered" and "s3cr" not in repr(entry)
    refused = out.unsent(hook("http://user:s3cret@example.com/x"), "dropped", "a test")
    assert refused.url == "http://***@example.com/x"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_fragment_is_not_sent_nor_signed_and_a_get_query_goes_before_it(method: str) -> None:
    """A URL's fragment (Twilio's connection overrides, `#rc=5&ct=3000`, which teams put on
    status callbacks) never reaches the receiver: signing it made a signature no validator can
    check, and a GET's parameters appended after it were never sent at all."""
    out = sender()
    with CallbackReceiver() as receiver:
        url = receiver.url + "?a=1#rc=5&ct=3000"
        (entry,) = run(send_all(out, (hook(url, method=method), TOKEN)))
        (request,) = receiver.requests
    assert request.params == (PARAMS if method == "POST" else {"a": "1"} | PARAMS)
    signed_params = request.params if method == "POST" else {}
    assert RequestValidator(TOKEN).validate(request.url, signed_params, request.signature)
    assert entry.outcome == "delivered"


def test_a_get_webhook_with_a_long_body_is_sent_whatever_the_length_of_its_query() -> None:
    """The length limit is the configured URL's: an inbound message of 1,600 non-ASCII
    characters to a GET webhook (a query of some 10,000 characters) was refused as too long."""
    params = {"Body": "é" * 1600, "From": "+15005550006"}
    with CallbackReceiver() as receiver:
        webhook = Webhook(account=ACCOUNT, url=receiver.url, params=params, method="GET")
        (entry,) = run(send_all(sender(), (webhook, TOKEN)))
        (request,) = receiver.requests
    assert entry.outcome == "delivered" and request.params == params
    assert RequestValidator(TOKEN).validate(request.url, {}, request.signature)


def test_a_get_webhook_carries_its_parameters_in_the_signed_query() -> None:
    out = sender()
    with CallbackReceiver() as receiver:
        (entry,) = run(send_all(out, (hook(receiver.url, method="GET", kind="inbound"), TOKEN)))
        (request,) = receiver.requests
    assert request.method == "GET" and request.body == b""
    assert request.params == PARAMS
    assert RequestValidator(TOKEN).validate(request.url, {}, request.signature)
    assert entry.outcome == "delivered" and entry.url == request.url


def test_a_bad_signature_is_sent_on_purpose_and_journaled_so() -> None:
    out = sender()
    with CallbackReceiver() as receiver:
        (entry,) = run(send_all(out, (hook(receiver.url, bad_signature=True), TOKEN)))
        (request,) = receiver.requests
    assert request.signature and not request.signed_by(TOKEN)
    assert not RequestValidator(TOKEN).validate(receiver.url, request.params, request.signature)
    assert entry.outcome == "delivered" and entry.signature_ok is False


def test_a_refused_host_is_journaled_and_never_connected_to() -> None:
    out = sender(parse_hosts("localhost"))
    with Listener(answering("200 OK", {})) as listener:  # on 127.0.0.1, not "localhost"
        (entry,) = run(send_all(out, (hook(listener.url), TOKEN)))
        run(send_all(out, (hook(listener.url.replace("127.0.0.1", "127.1")), TOKEN)))
        assert listener.connections == 0
    assert entry.outcome == "refused" and entry.signature is None and entry.status is None
    assert "not in the callback allow-list" in (entry.error or "")
    assert [e.outcome for e in out.journal.entries()] == ["refused", "refused"]


def test_an_account_without_a_known_token_sends_nothing() -> None:
    out = sender()
    with Listener(answering("200 OK", {})) as listener:
        (entry,) = run(send_all(out, (hook(listener.url), None)))
        assert listener.connections == 0
    assert entry.outcome == "refused" and "auth token" in (entry.error or "")


def test_a_redirect_is_not_followed() -> None:
    out = sender()
    with CallbackReceiver() as elsewhere:
        moved = answering("302 Found", {"Location": elsewhere.url})
        with Listener(moved) as listener:
            (entry,) = run(send_all(out, (hook(listener.url), TOKEN)))
        assert elsewhere.requests == []
    assert (entry.outcome, entry.status) == ("rejected", 302)


def test_a_receiver_that_never_answers_times_out() -> None:
    stopping = threading.Event()
    out = sender(timeout=0.5)
    with Listener(silent(stopping)) as listener:
        (entry,) = run(send_all(out, (hook(listener.url), TOKEN)))
        stopping.set()
    assert entry.outcome == "timeout" and entry.status is None
    assert "no whole answer within 0.5 s" in (entry.error or "")


def test_a_trickling_answer_is_cut_by_the_deadline_of_the_whole_exchange() -> None:
    stopping = threading.Event()

    def trickle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):  # a byte now and then: each read is quick, the whole is not
            if stopping.wait(0.05):
                return
            conn.sendall(b"x")

    out = sender(timeout=0.5)
    with Listener(trickle) as listener:
        (entry,) = run(send_all(out, (hook(listener.url), TOKEN)))
        stopping.set()
    assert entry.outcome == "timeout"


def test_a_closed_port_fails_and_says_so() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        (entry,) = run(send_all(sender(), (hook(f"http://127.0.0.1:{port}/x"), TOKEN)))
    assert entry.outcome == "failed" and entry.error.startswith("ConnectError")


def test_an_https_receiver_must_show_a_certificate_of_a_public_authority(tmp_path: Path) -> None:
    """An https webhook's receiver is verified (against certifi's authorities, httpx's default;
    one context for every app of the process, `tls_context`): a certificate that the fake's own
    proxy CA signed is refused before anything is sent."""
    context = CertificateAuthority(tmp_path).context_for("localhost")
    requests: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            requests.append(read_request(tls))

    with Listener(serve) as listener:
        url = f"https://localhost:{listener.port}/hook"
        (entry,) = run(send_all(sender(), (hook(url), TOKEN)))
    assert entry.outcome == "failed" and "CERTIFICATE_VERIFY_FAILED" in entry.error, entry
    assert requests == []
    assert tls_context().verify_mode == ssl.CERT_REQUIRED and tls_context().check_hostname


def test_a_port_that_cannot_be_is_refused_and_journaled_not_raised() -> None:
    """The API's WebhookUrl pattern admits five digits (an sms_url or StatusCallback of
    :99999): under asyncio's loop (not uvloop) the connect raised OverflowError out of send."""
    (entry,) = run(send_all(sender(), (hook("http://127.0.0.1:99999/x"), TOKEN)))
    assert entry.outcome == "refused" and "port" in entry.error


def test_a_huge_answer_is_read_only_in_part() -> None:
    body = b"<Response>" + b"x" * 10_000_000
    out = sender()
    with Listener(answering("200 OK", {"Content-Type": "text/xml"}, body)) as listener:
        (entry,) = run(send_all(out, (hook(listener.url), TOKEN)))
    assert entry.outcome == "delivered"
    assert entry.response == body[:KEPT_RESPONSE_CHARS].decode()


def test_a_dead_receiver_holds_its_own_accounts_places_and_nobody_elses() -> None:
    """Per account, PER_ACCOUNT webhooks at most are under way: an account whose receiver never
    answers takes those places, and another account's webhooks go at once beside them."""
    release = threading.Event()
    out = sender(per_account=2, max_in_flight=10)
    with CallbackReceiver() as stuck, CallbackReceiver() as other:
        stuck.answer(hold=release)

        async def scenario() -> list[Any]:
            await out.open()
            held = [asyncio.create_task(out.send(hook(stuck.url), TOKEN)) for _ in range(5)]
            await asyncio.to_thread(stuck.wait_for, 2)
            # The other account's webhook is answered while the first account's wait.
            answered = await out.send(hook(other.url, OTHER_ACCOUNT), OTHER_TOKEN)
            arrived_meanwhile = len(stuck.requests)
            release.set()
            done = await asyncio.gather(*held)
            await out.close()
            return [answered, arrived_meanwhile, done]

        answered, arrived_meanwhile, done = run(scenario())
        assert len(stuck.requests) == 5
    assert answered.outcome == "delivered"
    assert arrived_meanwhile == 2  # the three others waited for the account's places
    assert [entry.outcome for entry in done] == ["delivered"] * 5
    assert out._accounts == {}  # nothing kept for accounts with nothing under way


def test_the_journal_is_bounded_and_filtered_by_account() -> None:
    kept = CallbackJournal(3)
    out = Sender(LOOPBACK, kept, timeout=1.0)
    for account in [ACCOUNT, OTHER_ACCOUNT, ACCOUNT, ACCOUNT]:
        out.unsent(hook("http://localhost/", account), "dropped", "a test")
    assert len(kept.entries()) == 3
    assert [e.account for e in kept.entries(ACCOUNT)] == [ACCOUNT, ACCOUNT]
    kept.clear(ACCOUNT)
    assert [e.account for e in kept.entries()] == [OTHER_ACCOUNT]
    assert CallbackJournal(0).entries() == []


# -- the dispatcher, with a stand-in for the rules -------------------------------------------------
@dataclass
class Callback:
    url: str
    params: dict[str, str]


@dataclass
class Transition:
    account_sid: str
    message_sid: str
    status: str
    callback: Callback | None


@dataclass
class Rules:
    """lifecycle.advance_due's stand-in: hands out queued transitions, an account's or all."""

    queued: list[Transition] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def advance_due(
        self, conn: Any, *, real_now: float, account_sid: str | None = None, limit: int = 100
    ) -> list[Transition]:
        with self.lock:
            self.calls += 1
            taken = [t for t in self.queued if account_sid in (None, t.account_sid)][:limit]
            self.queued = [t for t in self.queued if t not in taken]
            return taken


def status(message: str, name: str, url: str, account: str = ACCOUNT) -> Transition:
    params = {"MessageSid": message, "MessageStatus": name, "AccountSid": account}
    return Transition(account, message, name, Callback(url, params))


@pytest.fixture
def backend() -> Iterator[Backend]:
    backend = Backend(":memory:", fixtures.demo())
    yield backend
    backend.db.dispose()


class Running:
    """A dispatcher running on an event loop in a thread of its own, as in a server."""

    def __init__(self, backend: Backend, rules: Rules, **options: Any) -> None:
        self.sender = sender(**options.pop("sender", {}))
        self.faults = CallbackFaults()
        self.dispatcher = Dispatcher(
            backend, self.sender, self.faults, advance=rules.advance_due, **options
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.dispatcher.start())
        # Its first look for due messages (at start) is over before the test queues any.
        deadline = time.monotonic() + 30
        while rules.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.call(asyncio.sleep(0))

    def call(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.call(self.dispatcher.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def rules() -> Rules:
    return Rules()


@pytest.fixture
def running(backend: Backend, rules: Rules) -> Iterator[Running]:
    dispatcher = Running(backend, rules, poll_interval=1000.0)  # only wake() moves it
    yield dispatcher
    dispatcher.stop()


def statuses(receiver: CallbackReceiver) -> list[tuple[str, str]]:
    return [(r.params["MessageSid"], r.params["MessageStatus"]) for r in receiver.requests]


def test_wake_runs_the_due_transitions_and_sends_their_callbacks_signed(
    running: Running, rules: Rules, backend: Backend
) -> None:
    with CallbackReceiver() as receiver:
        rules.queued += [status("SM1", "queued", receiver.url), status("SM1", "sent", receiver.url)]
        assert backend.wake_dispatcher == running.dispatcher.wake
        backend.wake_dispatcher()  # as a handler does after its write, from its thread
        receiver.wait_for(2)
        assert statuses(receiver) == [("SM1", "queued"), ("SM1", "sent")]
        assert all(request.signed_by(TOKEN) for request in receiver.requests)


def until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.01)


def test_a_wake_for_a_later_due_time_sleeps_until_then_without_looking_first(
    backend: Backend, rules: Rules
) -> None:
    running = Running(backend, rules, poll_interval=1000.0, batch=0.0)
    try:
        first_look = running.dispatcher.next_look
        assert first_look is not None
        due = time.time() + 600  # a message written now falls due then
        running.dispatcher.wake(due)
        until(lambda: running.dispatcher.next_look == due)
        assert rules.calls == 1  # the look at start only: none until it falls due
        running.dispatcher.wake(due + 1)  # later than it looks anyway: nothing changes
        running.dispatcher.wake(first_look + 1)
        assert running.dispatcher.next_look == due
        running.dispatcher.wake()  # due now: it looks at once
        until(lambda: rules.calls == 2)
    finally:
        running.stop()


def test_rounds_are_a_batch_apart_but_a_message_due_now_is_looked_for_at_once(
    backend: Backend, rules: Rules
) -> None:
    running = Running(backend, rules, poll_interval=1000.0, batch=600.0)
    try:
        before = running.dispatcher.next_look
        assert before is not None
        running.dispatcher.wake(time.time())  # falls due now: taken with the next batch
        until(lambda: running.dispatcher.next_look != before)
        batch_end = running.dispatcher.next_look
        assert batch_end is not None and before - 1000 + 600 <= batch_end < before
        assert rules.calls == 1
        running.dispatcher.wake()  # now: at once
        until(lambda: rules.calls == 2)
    finally:
        running.stop()


def test_a_round_follows_the_last_one_a_batch_later_when_a_message_is_due_already(
    backend: Backend, rules: Rules
) -> None:
    """A message the stand-in never moves stays due: the loop looks again a batch later, not
    at once (it would spin, a round after another)."""
    running = Running(backend, rules, poll_interval=1000.0, batch=600.0)
    try:
        with backend.db.write() as conn:
            conn.execute(
                insert(messages).values(
                    sid="SM" + "0" * 32,
                    account_sid=ACCOUNT,
                    to_number="+15005550006",
                    status="queued",
                    direction="outbound-api",
                    date_created=datetime(2026, 1, 1),
                    date_updated=datetime(2026, 1, 1),
                    due_at=time.time(),
                )
            )
        running.dispatcher.wake()
        until(lambda: rules.calls == 2 and running.dispatcher.next_look is not None)
        assert running.dispatcher.next_look > time.time() + 500
        assert rules.calls == 2
    finally:
        running.stop()


def test_a_messages_callbacks_go_in_order_and_other_messages_go_beside_them(
    running: Running, rules: Rules
) -> None:
    release = threading.Event()
    with CallbackReceiver() as receiver:
        receiver.answer(hold=release)
        rules.queued += [status("SM1", "queued", receiver.url), status("SM1", "sent", receiver.url)]
        running.dispatcher.wake()
        receiver.wait_for(1)
        rules.queued.append(status("SM2", "queued", receiver.url))
        running.dispatcher.wake()
        receiver.wait_for(2)
        # SM1's second callback waits for its first, still unanswered; SM2's went beside it.
        assert statuses(receiver) == [("SM1", "queued"), ("SM2", "queued")]
        release.set()
        receiver.wait_for(3)
        assert statuses(receiver)[2] == ("SM1", "sent")


def test_a_clock_advance_runs_the_accounts_steps_and_waits_for_their_callbacks(
    running: Running, rules: Rules
) -> None:
    with CallbackReceiver() as receiver:
        rules.queued += [
            status("SM1", "queued", receiver.url),
            status("SM9", "queued", receiver.url, OTHER_ACCOUNT),
            Transition(ACCOUNT, "SM1", "sending", None),
        ]
        done = running.call(running.dispatcher.advance_account(ACCOUNT, 30))[1]
        # Answered once the callback was sent: it is in the answer, and it came.
        assert [(t.message_sid, t.status, t.pending) for t in done] == [
            ("SM1", "queued", False),
            ("SM1", "sending", False),
        ]
        assert [e.outcome for e in done[0].callbacks] == ["delivered"]
        assert done[1].callbacks == []  # no callback for this step
        assert statuses(receiver) == [("SM1", "queued")]
        assert [t.account_sid for t in rules.queued] == [OTHER_ACCOUNT]  # not another's


def test_a_drop_fault_sends_nothing_and_journals_it(running: Running, rules: Rules) -> None:
    with CallbackReceiver() as receiver:
        fault = running.faults.arm({"action": "drop", "account": ACCOUNT})
        rules.queued += [status("SM1", "queued", receiver.url), status("SM1", "sent", receiver.url)]
        done = running.call(running.dispatcher.advance_account(ACCOUNT, 30))[1]
        assert statuses(receiver) == [("SM1", "sent")]
    (dropped,) = done[0].callbacks
    assert (dropped.outcome, dropped.fault, dropped.signature) == ("dropped", fault.sid, None)


def test_a_duplicate_fault_sends_twice(running: Running, rules: Rules) -> None:
    with CallbackReceiver() as receiver:
        running.faults.arm({"action": "duplicate"})
        rules.queued += [status("SM1", "queued", receiver.url), status("SM1", "sent", receiver.url)]
        running.call(running.dispatcher.advance_account(ACCOUNT, 30))
        assert statuses(receiver) == [("SM1", "queued"), ("SM1", "queued"), ("SM1", "sent")]


def test_a_bad_signature_fault_signs_wrongly(running: Running, rules: Rules) -> None:
    with CallbackReceiver() as receiver:
        running.faults.arm({"action": "bad_signature", "account": ACCOUNT})
        rules.queued += [status("SM1", "queued", receiver.url), status("SM1", "sent", receiver.url)]
        done = running.call(running.dispatcher.advance_account(ACCOUNT, 30))[1]
        assert [r.signed_by(TOKEN) for r in receiver.requests] == [False, True]
    assert [t.callbacks[0].signature_ok for t in done] == [False, True]


def test_a_reverse_fault_sends_the_next_callbacks_in_reverse(
    running: Running, rules: Rules
) -> None:
    with CallbackReceiver() as receiver:
        running.faults.arm({"action": "reverse", "times": 3, "account": ACCOUNT})
        rules.queued += [
            status("SM1", name, receiver.url) for name in ("queued", "sent", "delivered")
        ]
        running.call(running.dispatcher.advance_account(ACCOUNT, 30))
        assert statuses(receiver) == [("SM1", "delivered"), ("SM1", "sent"), ("SM1", "queued")]
    assert running.faults.armed() == []


def test_a_reverse_fault_disarmed_early_lets_what_it_held_go_in_order(
    running: Running, rules: Rules
) -> None:
    with CallbackReceiver() as receiver:
        running.faults.arm({"action": "reverse", "times": 5})
        rules.queued += [status("SM1", "queued", receiver.url), status("SM1", "sent", receiver.url)]
        done = running.call(running.dispatcher.advance_account(ACCOUNT, 0))[1]
        assert [t.pending for t in done] == [True, True]
        assert running.faults.armed()[0].as_dict()["held"] == 2

        async def disarm() -> None:
            running.dispatcher.release_disarmed(running.faults.clear())

        running.call(disarm())
        receiver.wait_for(2)
        assert statuses(receiver) == [("SM1", "queued"), ("SM1", "sent")]


def test_a_delay_fault_sends_late_while_other_messages_go(running: Running, rules: Rules) -> None:
    with CallbackReceiver() as receiver:
        running.faults.arm({"action": "delay", "delay": 1.0, "account": ACCOUNT})
        rules.queued += [
            status("SM1", "queued", receiver.url),
            status("SM2", "queued", receiver.url),
        ]
        running.call(running.dispatcher.advance_account(ACCOUNT, 30))
        assert statuses(receiver) == [("SM2", "queued"), ("SM1", "queued")]


def test_the_backlog_is_bounded(backend: Backend, rules: Rules) -> None:
    release = threading.Event()
    running = Running(backend, rules, poll_interval=1000.0, backlog=2)
    try:
        with CallbackReceiver() as receiver:
            receiver.answer(hold=release)
            rules.queued += [status(f"SM{i}", "queued", receiver.url) for i in range(3)]
            done = running.call(running.dispatcher.advance_account(ACCOUNT, 0))[1]
            pending = [t.pending for t in done]
            release.set()
            receiver.wait_for(2)
        assert pending == [True, True, False]
        assert done[2].callbacks[0].outcome == "dropped"
        assert "backlog" in (done[2].callbacks[0].error or "")
    finally:
        running.stop()


def test_a_failing_advance_is_logged_once_and_the_loop_goes_on(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Rules):
        def advance_due(self, conn: Any, **kwargs: Any) -> list[Transition]:
            self.calls += 1
            if self.calls <= 3:
                raise RuntimeError("the rules broke")
            return super().advance_due(conn, **kwargs)

    rules = Broken()
    running = Running(backend, rules, poll_interval=0.05)
    try:
        with CallbackReceiver() as receiver:
            rules.queued.append(status("SM1", "queued", receiver.url))
            receiver.wait_for(1)
    finally:
        running.stop()
    failures = [r for r in caplog.records if "could not run the due transitions" in r.message]
    assert len(failures) == 1


def test_a_database_out_of_reach_is_one_warning_without_a_traceback(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    class Unreachable(Rules):
        def advance_due(self, conn: Any, **kwargs: Any) -> list[Transition]:
            self.calls += 1
            if self.calls <= 3:
                raise OperationalError("SELECT", {}, Exception("connection refused"))
            return super().advance_due(conn, **kwargs)

    rules = Unreachable()
    running = Running(backend, rules, poll_interval=0.05)
    try:
        with CallbackReceiver() as receiver:
            rules.queued.append(status("SM1", "queued", receiver.url))
            receiver.wait_for(1)
    finally:
        running.stop()
    (warning,) = [r for r in caplog.records if "cannot reach the database" in r.message]
    assert warning.levelname == "WARNING" and warning.exc_info is None
    assert warning.getMessage().endswith("connection refused")


def test_stop_restores_a_wake_that_does_nothing(backend: Backend, rules: Rules) -> None:
    running = Running(backend, rules)
    running.stop()
    backend.wake_dispatcher()  # no loop to wake: nothing happens, nothing raises
    assert backend.wake_dispatcher != running.dispatcher.wake
