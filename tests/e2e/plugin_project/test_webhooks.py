"""Webhooks as an application team tests them: the plugin's receiver and the account's clock."""


def test_an_inbound_message_reaches_the_apps_webhook_signed(
    twilio_fake, twilio_client, twilio_account, twilio_callbacks
):
    number = twilio_client.incoming_phone_numbers(twilio_account.numbers[0])
    number.update(sms_url=twilio_callbacks.url)
    received = twilio_fake.inbound("+15005550006", twilio_account.phone_numbers[0], "Hello")
    (request,) = twilio_callbacks.requests
    assert request.params["Body"] == "Hello"
    assert request.signed_by(twilio_account.auth_token)
    assert received["webhook"]["outcome"] == "delivered"
    assert received["webhook"]["response"] == "<Response/>"
    (entry,) = twilio_fake.callbacks(account=twilio_account)
    assert entry["kind"] == "inbound"


def test_the_accounts_clock_is_frozen_and_moves_when_told(twilio_clock):
    before = twilio_clock.read()
    assert before["frozen"]
    assert twilio_clock.advance(60)["now"] == before["now"] + 60
