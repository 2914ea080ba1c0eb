"""The errors of the rules below the Messages resource (selection of a sender).

Kept apart from `errors.py` (the resource's errors over HTTP, written beside these rules) so the
two are written without conflict; `errors.py` re-exports these. Twilio reports them after the
create, not as its answer: a message sent through a service is `accepted`, then ends `failed`
with the code (twilio-messaging-behaviour.md 1.18, 1.19, inferred). They are TwilioErrors all the
same, with the status a synchronous answer would have (assumed 400), should one ever leave.
"""

from twilio_fake.exceptions import TwilioError


class SenderSelectionFailed(TwilioError):
    """No sender of the service can send this message."""

    status = 400


class ServiceGone(SenderSelectionFailed):
    """The message's service was deleted before a sender was chosen."""

    code = 21701
    default_message = "The Messaging Service does not exist"


class NoSenders(SenderSelectionFailed):
    code = 21704
    default_message = "The Messaging Service contains no phone numbers"


class NoSenderForRecipient(SenderSelectionFailed):
    code = 21703
    default_message = (
        "The Messaging Service does not have a phone number available to send a message"
    )


class NotAnIncomingNumber(TwilioError):
    """An inbound message to a number the account does not hold (the fake's control surface)."""

    status, code = 404, 20404
    default_message = "The 'To' number is not an incoming phone number of this account"


__all__ = [
    "NoSenderForRecipient",
    "NoSenders",
    "NotAnIncomingNumber",
    "SenderSelectionFailed",
    "ServiceGone",
]
