"""The Python API for test suites (twilio_fake.testing) against a real server process: faults
that drop connections or delay answers, the control token, the SDK client's confinement."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

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
    slow, other = fake.new_account(), fake.new_account()
    fake.arm_fault(account=slow, delay=2)
    slow_pool = fake.client(slow).messaging.v1.services(slow.services[0]).phone_numbers
    other_pool = fake.client(other).messaging.v1.services(other.services[0]).phone_numbers
    finished: list[float] = []
    started = time.monotonic()
    waiting = threading.Thread(
        target=lambda: (slow_pool.list(), finished.append(time.monotonic() - started))
    )
    waiting.start()
    time.sleep(0.2)
    quick = time.monotonic()
    for _ in range(5):
        other_pool.list()
    assert time.monotonic() - quick < 1.5 and not finished  # served while the other waits
    waiting.join()
    assert finished and finished[0] >= 2


def test_an_injected_503_is_a_twilio_error_in_the_sdk(fake: FakeTwilio) -> None:
    account = fake.new_account()
    pool = fake.client(account).messaging.v1.services(account.services[0]).phone_numbers
    fake.arm_fault(account=account, method="DELETE", status=503, times=2)
    pool.create(phone_number_sid=account.numbers[0])
    for _ in range(2):
        with pytest.raises(TwilioRestException) as raised:
            pool(account.numbers[0]).delete()
        assert (raised.value.status, raised.value.code) == (503, 20503)
    assert pool(account.numbers[0]).delete() is True


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
