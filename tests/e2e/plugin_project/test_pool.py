"""Tests as an application team writes them against the fake, through the pytest plugin.

The README's own example joins these as test_readme.py when tests/e2e/test_plugin.py runs them.
"""

import json

import pytest
from twilio.base.exceptions import TwilioRestException


@pytest.mark.parametrize("run", range(12))
@pytest.mark.twilio_account(services=2, numbers=4)
def test_each_test_sees_only_its_own_account(twilio_client, twilio_account, run):
    first, second = (
        twilio_client.messaging.v1.services(sid).phone_numbers for sid in twilio_account.services
    )
    for sid in twilio_account.numbers[:3]:
        first.create(phone_number_sid=sid)
    second.create(phone_number_sid=twilio_account.numbers[3])
    # Exactly what this test added, whatever the tests beside it (same fake or not) did.
    assert [n.sid for n in first.list()] == twilio_account.numbers[:3]
    assert [n.sid for n in second.list()] == twilio_account.numbers[3:]
    first(twilio_account.numbers[0]).delete()
    assert [n.sid for n in first.list()] == twilio_account.numbers[1:3]


def test_a_429_makes_the_sdk_raise_and_the_retry_succeeds(
    twilio_fake, twilio_client, twilio_account
):
    twilio_fake.arm_fault(account=twilio_account, operation="CreatePhoneNumber", status=429)
    pool = twilio_client.messaging.v1.services(twilio_account.services[0]).phone_numbers
    with pytest.raises(TwilioRestException) as raised:
        pool.create(phone_number_sid=twilio_account.numbers[0])
    assert (raised.value.status, raised.value.code) == (429, 20429)
    assert pool.create(phone_number_sid=twilio_account.numbers[0]).sid == twilio_account.numbers[0]
    sent = twilio_fake.requests(account=twilio_account, operation="CreatePhoneNumber")
    assert [entry["status"] for entry in sent] == [201, 429]
    assert sent[1]["injected"] and not sent[0]["injected"]


def test_the_journal_shows_what_the_code_sent_and_no_credential(
    twilio_fake, twilio_client, twilio_account
):
    pool = twilio_client.messaging.v1.services(twilio_account.services[0]).phone_numbers
    pool.create(phone_number_sid=twilio_account.numbers[1])
    pool(twilio_account.numbers[1]).fetch()
    pool(twilio_account.numbers[1]).delete()
    sent = twilio_fake.requests(account=twilio_account)
    assert [(e["operation"], e["status"]) for e in sent] == [
        ("DeletePhoneNumber", 204),
        ("FetchPhoneNumber", 200),
        ("CreatePhoneNumber", 201),
    ]
    assert sent[2]["form"] == {"PhoneNumberSid": twilio_account.numbers[1]}
    assert twilio_account.auth_token not in json.dumps(sent)


def test_the_client_sends_nothing_but_to_the_fake(twilio_client):
    with pytest.raises(Exception, match="not the fake"):
        twilio_client.request("GET", "https://example.com/")
    # Any Twilio host lands on the fake, which knows only the phone number pools.
    with pytest.raises(TwilioRestException) as raised:
        twilio_client.api.v2010.accounts(twilio_client.account_sid).fetch()
    assert raised.value.status == 404
