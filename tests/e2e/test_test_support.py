"""The Python API for test suites (twilio_fake.testing) against a real server process: faults
that drop connections or delay answers, the control token, the SDK client's confinement."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from tests.support import survived
from twilio_fake.testing import FakeTwilio, FakeTwilioError


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def test_a_dropped_connection_reaches_the_sdk_and_changes_nothing(fake: FakeTwilio) -> None:
    account = fake.new_account()
    pool = fake.client(account).messaging.v1.services(account.services[0]).phone_numbers
    fault = fake.arm_fault(account=account, operation="CreatePhoneNumber", drop=True)
    with pytest.raises(requests.ConnectionError):
        pool.create(phone_number_sid=account.numbers[0])
    assert pool.list() == []  # the dropped request added nothing
    assert pool.create(phone_number_sid=account.numbers[0]).sid == account.numbers[0]
    sent = fake.requests(account=account, operation="CreatePhoneNumber")
    assert [(e["status"], e["injected"]) for e in sent] == [(201, None), (None, fault["sid"])]
    assert sent[1]["form"] == {"PhoneNumberSid": account.numbers[0]}
    assert fake.health()["status"] == "ok"
    assert "ASGI callable returned without" not in fake._server.output_so_far()
    survived["connections dropped by a fault"] += 1


def test_a_delayed_answer_stalls_no_other_client(fake: FakeTwilio) -> None:
    """While one request waits out its delay, other clients are served: their requests finish
    first (the journal records each request as it ends)."""
    slow, other = fake.new_account(), fake.new_account()
    delay = 5
    fault = fake.arm_fault(account=slow, delay=delay)
    slow_pool = fake.client(slow).messaging.v1.services(slow.services[0]).phone_numbers
    other_pool = fake.client(other).messaging.v1.services(other.services[0]).phone_numbers
    waiting = threading.Thread(target=slow_pool.list)
    waiting.start()
    deadline = time.monotonic() + 30
    while fake.faults() and time.monotonic() < deadline:  # until the slow request took it
        time.sleep(0.02)
    assert fake.faults() == []
    for _ in range(5):
        other_pool.list()
    waiting.join()
    finished = [
        (e["account"], e["injected"])
        for e in fake.requests()
        if e["account"] in (slow.sid, other.sid)
    ]
    assert finished == [(slow.sid, fault["sid"])] + [(other.sid, None)] * 5
    (slowest,) = fake.requests(account=slow)
    assert slowest["status"] == 200 and slowest["duration_ms"] >= delay * 1000


def test_an_injected_429_is_a_twilio_error_in_the_sdk(fake: FakeTwilio) -> None:
    account = fake.new_account()
    pool = fake.client(account).messaging.v1.services(account.services[0]).phone_numbers
    fake.arm_fault(account=account, method="DELETE", status=429, times=2)
    pool.create(phone_number_sid=account.numbers[0])
    for _ in range(2):
        with pytest.raises(TwilioRestException) as raised:
            pool(account.numbers[0]).delete()
        assert (raised.value.status, raised.value.code) == (429, 20429)
    assert pool(account.numbers[0]).delete() is True


class StandInProxy:
    """A proxy on loopback that forwards nothing: it counts the connections it gets and
    answers each with 502."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                try:
                    self.received.append(connection.recv(65536))
                    connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


def test_the_fakes_own_traffic_never_goes_through_a_proxy(
    fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY and the like name a proxy: the control calls and the SDK client still go
    straight to the fake on loopback (a proxy would see the control token and credentials)."""
    proxy = StandInProxy()
    try:
        for name in (
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        # The stand-in is what a client obeying the variables would reach.
        assert requests.get(f"{fake.url}/_fake/health", timeout=5).status_code == 502
        assert len(proxy.received) == 1
        proxy.received.clear()
        account = fake.new_account()
        pool = fake.client(account).messaging.v1.services(account.services[0]).phone_numbers
        pool.create(phone_number_sid=account.numbers[0])
        fake.arm_fault(account=account, operation="ListPhoneNumber", status=500)
        with pytest.raises(TwilioException):  # the SDK's own error for a failed list
            pool.list()
        assert [n.sid for n in pool.list()] == [account.numbers[0]]
        assert fake.requests(account=account)[0]["operation"] == "ListPhoneNumber"
        fake.drop_account(account)
        assert proxy.received == []
    finally:
        proxy.close()


def test_a_fake_with_a_control_token_needs_it() -> None:
    with FakeTwilio(control_token="t0ken") as guarded:
        assert guarded.new_account().sid.startswith("AC")
        without = FakeTwilio(guarded.url, control_token="")
        without.control_token = None
        with pytest.raises(FakeTwilioError, match="401"):
            without.new_account()
        assert "t0ken" not in guarded._server.output_so_far()


def test_a_url_with_nothing_behind_it_is_said_at_once() -> None:
    with pytest.raises(FakeTwilioError, match="no answer"):
        FakeTwilio("http://127.0.0.1:9", timeout=2).start()
