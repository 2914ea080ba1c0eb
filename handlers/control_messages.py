"""The control surface of Messages (control.yaml): an account's clock, the outcomes of its
messages, inbound messages, the journal of webhooks and callback faults.

Coroutines: what they do to the database is the rules' (resources/messages/control.py), run
through `Database.call`; the clock's advance and an inbound message wait for webhooks, which the
dispatcher sends on the event loop.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from twilio_fake import clock, spec
from twilio_fake.backend import Backend
from twilio_fake.dispatch import Dispatcher
from twilio_fake.exceptions import InvalidParameter
from twilio_fake.outbound import Webhook
from twilio_fake.resources.messages import control, model

from . import messages


def _clock(account_sid: str, reading: clock.Reading) -> dict[str, Any]:
    return {
        "account": account_sid,
        "now": reading.now,
        "date": reading.datetime.isoformat(timespec="seconds") + "Z",
        "frozen": reading.frozen,
    }


async def get_clock(AccountSid: str, backend: Backend):
    return _clock(AccountSid, await backend.db.call(control.read_clock, backend, AccountSid))


async def set_clock(
    AccountSid: str, body: dict[str, Any], backend: Backend, dispatcher: Dispatcher
):
    """Freeze, resume and/or advance; after an advance, run what fell due and wait for its
    callbacks (up to `callback_wait` seconds)."""
    if body.get("freeze") and body.get("resume"):
        raise InvalidParameter("A clock cannot be frozen and resumed at once: choose one")
    advance = body.get("advance_seconds")
    if not (body.get("freeze") or body.get("resume") or advance is not None):
        raise InvalidParameter("Give freeze, resume or advance_seconds")
    change = partial(
        control.change_clock,
        backend,
        AccountSid,
        freeze=bool(body.get("freeze")),
        advance=advance,
        resume=bool(body.get("resume")),
    )
    transitions = []
    if advance is None:
        reading = await backend.db.call(change, write=True)
    else:
        wait = body.get("callback_wait", _default_wait())
        reading, done = await dispatcher.advance_account(AccountSid, wait, change)
        transitions = [t.as_dict() for t in done]
    dispatcher.wake()  # a running clock may have made messages due sooner
    return _clock(AccountSid, reading) | {"transitions": transitions}


def _default_wait() -> float:
    return float(spec.control_default("ClockChange", "callback_wait"))


async def set_outcome(AccountSid: str, body: dict[str, Any], backend: Backend):
    """A rule for how the account's next messages to `to` end (the rules fill in the error
    code a failed or undelivered outcome gets when none is given)."""
    store = partial(
        control.set_outcome, backend, AccountSid, body["to"], body["status"], body.get("error_code")
    )
    outcome = await backend.db.call(store, write=True)
    return {"to": body["to"], "status": outcome.status, "error_code": outcome.error_code}, 201


async def clear_outcomes(AccountSid: str, backend: Backend):
    await backend.db.call(control.clear_outcomes, backend, AccountSid, write=True)
    return None, 204


async def receive_message(body: dict[str, Any], backend: Backend, dispatcher: Dispatcher):
    """An inbound message: stored (with STOP and START applied), then its webhook sent."""
    receive = partial(
        control.receive, backend, body.get("account"), body["from"], body["to"], body["body"]
    )
    account_sid, received = await backend.db.call(receive, write=True)
    webhook = None
    if received.url:
        hook = Webhook(
            account=account_sid,
            url=received.url,
            params=dict(received.params),
            method=received.method,
            kind="inbound",
            message=received.message["sid"],
        )
        webhook = (await dispatcher.send_now(hook)).as_dict()
    # The message in the Message resource's fields, as a fetch would show it, and whether it
    # was kept (a service with no inbound URL logs none).
    message = messages.resource(model.message_of(received.message)) | {"stored": received.stored}
    return {"message": message, "webhook": webhook}, 201


async def list_callbacks(dispatcher: Dispatcher, page_size: int, account: str | None = None):
    entries = dispatcher.sender.journal.entries(account, page_size)
    return {"callbacks": [entry.as_dict() for entry in entries]}


async def clear_callbacks(dispatcher: Dispatcher, account: str | None = None):
    dispatcher.sender.journal.clear(account)
    return None, 204


async def list_callback_faults(dispatcher: Dispatcher):
    return {"faults": [fault.as_dict() for fault in dispatcher.faults.armed()]}


async def arm_callback_fault(body: dict[str, Any], dispatcher: Dispatcher):
    return dispatcher.faults.arm(body).as_dict(), 201


async def clear_callback_faults(dispatcher: Dispatcher):
    dispatcher.release_disarmed(dispatcher.faults.clear())
    return None, 204


OPERATIONS = {
    "FakeGetClock": get_clock,
    "FakeSetClock": set_clock,
    "FakeSetOutcome": set_outcome,
    "FakeClearOutcomes": clear_outcomes,
    "FakeReceiveMessage": receive_message,
    "FakeListCallbacks": list_callbacks,
    "FakeClearCallbacks": clear_callbacks,
    "FakeListCallbackFaults": list_callback_faults,
    "FakeArmCallbackFault": arm_callback_fault,
    "FakeClearCallbackFaults": clear_callback_faults,
}
