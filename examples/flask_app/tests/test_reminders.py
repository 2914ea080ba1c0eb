"""The app against the fake: what it sends, what Twilio tells it, what it refuses.

The account's clock is frozen for each test (`twilio_clock`): a message stays `accepted` until
the test advances the clock, and the advance returns once the callbacks it caused have been
delivered to the app. No test sleeps or waits for real time.
"""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

RECIPIENT = "+14155550100"


def send(server, to: str = RECIPIENT, body: str = "Your appointment is tomorrow at 10:00"):
    return server.post("/reminders", json={"to": to, "body": body})


def test_a_reminder_goes_out_through_the_service_and_ends_delivered(server, twilio_clock) -> None:
    answer = send(server)
    assert answer.status_code == 201, answer.text
    sid = answer.json()["sid"]
    assert answer.json()["status"] == "accepted"  # the service picks the sender later

    twilio_clock.advance(60)  # every status falls due; their callbacks have reached the app
    reminder = server.get(f"/reminders/{sid}").json()
    assert reminder["status"] == "delivered"
    assert reminder["reported"][0] == "queued" and reminder["reported"][-1] == "delivered"
    assert "sent" in reminder["reported"]


def test_the_outcome_the_test_chose_reaches_the_app(
    server, twilio_fake, twilio_account, twilio_clock
) -> None:
    twilio_fake.set_outcome(twilio_account, RECIPIENT, "undelivered", error_code=30003)
    sid = send(server).json()["sid"]
    twilio_clock.advance(60)
    reminder = server.get(f"/reminders/{sid}").json()
    assert (reminder["status"], reminder["error_code"]) == ("undelivered", 30003)


def test_every_callback_was_signed_and_accepted(
    server, twilio_fake, twilio_account, twilio_clock
) -> None:
    send(server)
    twilio_clock.advance(60)
    callbacks = twilio_fake.callbacks(account=twilio_account)  # the fake's journal of them
    assert callbacks, "the fake journaled no callback"
    assert all(c["url"] == server.url + "/twilio/status" for c in callbacks)
    assert all((c["outcome"], c["status"]) == ("delivered", 204) for c in callbacks), callbacks


@pytest.mark.parametrize(
    "signature",
    [None, "", "bm90IGEgc2lnbmF0dXJl", "forged-with-another-token"],
)
def test_a_callback_twilio_did_not_sign_is_refused(server, twilio_clock, signature) -> None:
    """Anyone can POST to the app: only what the account's auth token signed is believed."""
    sid = send(server).json()["sid"]
    params = {"MessageSid": sid, "MessageStatus": "delivered", "SmsStatus": "delivered"}
    headers = {}
    if signature == "forged-with-another-token":
        signature = RequestValidator("not the auth token").compute_signature(
            server.url + "/twilio/status", params
        )
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    refused = server.post("/twilio/status", data=params, headers=headers)
    assert refused.status_code == 403
    assert server.get(f"/reminders/{sid}").json()["status"] == "accepted"  # nothing changed


def callbacks_per_message(server, twilio_clock) -> int:
    """How many status callbacks one message causes (sent and delivered once, first)."""
    send(server)
    return sum(len(step["callbacks"]) for step in twilio_clock.advance(60)["transitions"])


def test_a_wrongly_signed_callback_from_the_fake_is_refused(
    server, twilio_fake, twilio_account, twilio_clock
) -> None:
    """The fake's chaos: it signs the callbacks wrongly, and the app answers 403."""
    count = callbacks_per_message(server, twilio_clock)
    twilio_fake.clear_callbacks(account=twilio_account)
    sid = send(server).json()["sid"]
    twilio_fake.arm_callback_fault("bad_signature", account=twilio_account, times=count)
    twilio_clock.advance(60)
    assert server.get(f"/reminders/{sid}").json()["status"] == "accepted"  # nothing believed
    answers = [c["status"] for c in twilio_fake.callbacks(account=twilio_account)]
    assert answers == [403] * count


def test_callbacks_out_of_order_never_move_a_reminder_back(
    server, twilio_fake, twilio_account, twilio_clock
) -> None:
    """Twilio does not promise callbacks in order: the fake reverses them, the app copes."""
    count = callbacks_per_message(server, twilio_clock)
    sid = send(server).json()["sid"]
    twilio_fake.arm_callback_fault("reverse", account=twilio_account, times=count)
    twilio_clock.advance(60)
    reminder = server.get(f"/reminders/{sid}").json()
    assert reminder["reported"][0] == "delivered"  # the last status came first...
    assert reminder["reported"][-1] == "queued"
    assert reminder["status"] == "delivered"  # ...and the earlier ones changed nothing


def test_a_duplicated_callback_is_recorded_once(
    server, twilio_fake, twilio_account, twilio_clock
) -> None:
    count = callbacks_per_message(server, twilio_clock)
    twilio_fake.clear_callbacks(account=twilio_account)
    sid = send(server).json()["sid"]
    twilio_fake.arm_callback_fault("duplicate", account=twilio_account, times=count)
    twilio_clock.advance(60)
    assert len(twilio_fake.callbacks(account=twilio_account)) == 2 * count  # each came twice
    reported = server.get(f"/reminders/{sid}").json()["reported"]
    assert len(reported) == len(set(reported)) == count


def test_a_text_to_the_service_gets_a_reply(server, twilio_fake, twilio_account) -> None:
    answer = twilio_fake.inbound(
        RECIPIENT, server.senders[0], "What time again?", account=twilio_account
    )
    assert answer["message"]["direction"] == "inbound"
    assert (answer["webhook"]["outcome"], answer["webhook"]["status"]) == ("delivered", 200)
    assert "Thanks! Reply STOP" in answer["webhook"]["response"]  # the app's TwiML
    received = server.app.extensions["reminders"].received
    assert [(r["From"], r["Body"]) for r in received] == [(RECIPIENT, "What time again?")]


def test_stop_means_no_more_reminders(server, twilio_fake, twilio_account) -> None:
    twilio_fake.inbound(RECIPIENT, server.senders[0], "STOP", account=twilio_account)
    refused = send(server)
    assert refused.status_code == 422
    assert refused.json()["code"] == 21610
    twilio_fake.inbound(RECIPIENT, server.senders[0], "START", account=twilio_account)
    assert send(server).status_code == 201
