"""The errors of Messages, one class each, with Twilio's code (those of sender selection live in
`rule_errors` and are re-exported here).

Texts quoted from recorded Twilio answers are used as they are (21604, 21603, 21602, 21617,
21211, 21212, 21606, 21610, 21611, 21612, 21614, 21408); where only the error page's title is
known, the title is the message (docs/fidelity.md, "Messages", says which). Each class's
docstring names what raises it.
"""

from __future__ import annotations

from twilio_fake.exceptions import TwilioError

# The errors of choosing a sender (part of the rules below the resource), re-exported so that
# every error of Messages is found here. A message through a service fails with them after its
# create (it is `accepted` first); they are not a create's answer.
from .rule_errors import NoSenderForRecipient, NoSenders, SenderSelectionFailed, ServiceGone


# -- create: what is missing ----------------------------------------------------------------------
class ToRequired(TwilioError):
    """No `To` (evidence 1.1)."""

    status, code = 400, 21604
    default_message = "A 'To' phone number is required."


class SenderRequired(TwilioError):
    """Neither `From` nor `MessagingServiceSid` (1.2: the text recorded 2015-2017)."""

    status, code = 400, 21603
    default_message = "A 'From' phone number is required."


class BodyRequired(TwilioError):
    """A sender given as `From` and no `Body`, `MediaUrl` or `ContentSid` (1.4)."""

    status, code = 400, 21602
    default_message = "Message body is required."


class ServiceContentRequired(TwilioError):
    """Through a Messaging Service, with no content (1.5: title only, status assumed)."""

    status, code = 400, 21619
    default_message = "A text message body or media urls must be specified"


# -- create: limits and formats -------------------------------------------------------------------
class BodyTooLong(TwilioError):
    """A body over the contract's `message-body-characters` (1.6)."""

    status, code = 400, 21617
    default_message = "The concatenated message body exceeds the 1600 character limit"


class TooManyMedia(TwilioError):
    """More `MediaUrl`s than the contract's `media-per-message` (1.22: title)."""

    status, code = 400, 21623
    default_message = "Number of media files exceeds allowed limit"


class InvalidMediaUrl(TwilioError):
    """A `MediaUrl` that is not an http or https URL (1.22: title)."""

    status, code = 400, 21620
    default_message = "Invalid media URL(s)"


class InvalidStatusCallback(TwilioError):
    """A `StatusCallback` that is not an http(s) URL of a valid host, or too long (1.24)."""

    status, code = 400, 21609
    default_message = "Invalid 'StatusCallback'"


# -- create: scheduling ---------------------------------------------------------------------------
class ScheduleNeedsService(TwilioError):
    """`ScheduleType=fixed` without a Messaging Service (1.25: title)."""

    status, code = 400, 35118
    default_message = "MessagingServiceSid is required to schedule a message"


class SendAtRequired(TwilioError):
    """`ScheduleType=fixed` without `SendAt` (1.25: title)."""

    status, code = 400, 35111
    default_message = "SendAt timestamp is missing"


class SendAtNotSupported(TwilioError):
    """`SendAt` not a time, or outside the contract's `schedule-*` window (1.25: title)."""

    status, code = 400, 35114
    default_message = "Scheduling does not support this timestamp"


# -- create: the service --------------------------------------------------------------------------
class ServiceInvalid(TwilioError):
    """A `MessagingServiceSid` that is not `MG` and 32 hex digits (1.16: title; answered at
    once, a choice)."""

    status, code = 400, 21705
    default_message = "The Messaging Service is invalid"


class ServiceNotFound(TwilioError):
    """A well-formed `MessagingServiceSid` that names none of the account's services (1.15:
    title; answered at once, a choice)."""

    status, code = 400, 21701
    default_message = "The Messaging Service does not exist"


# -- create: the recipient ------------------------------------------------------------------------
class ToInvalid(TwilioError):
    """`To` is not a valid phone number, or is the sender itself (1.7; test number +15005550001)."""

    status, code = 400, 21211

    def __init__(self, to: str) -> None:
        super().__init__(f"The 'To' number {to} is not a valid phone number.")


class ToUnreachable(TwilioError):
    """The test number +15005550002 (1.11)."""

    status, code = 400, 21612

    def __init__(self, to: str, sender: str, channel: str) -> None:
        super().__init__(
            f"The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
            f"number: {sender} via {channel}."
        )


class RegionNotPermitted(TwilioError):
    """The test number +15005550003 (1.13)."""

    status, code = 400, 21408

    def __init__(self, to: str) -> None:
        super().__init__(
            "Permission to send an SMS has not been enabled for the region indicated by the "
            f"'To' number: {to}."
        )


class OptedOut(TwilioError):
    """The recipient texted STOP to this sender, or is the test number +15005550004 (1.10)."""

    status, code = 400, 21610
    default_message = "The message From/To pair violates a blacklist rule."


class NotMobile(TwilioError):
    """The test number +15005550009 (1.12; no final period, as recorded)."""

    status, code = 400, 21614

    def __init__(self, to: str) -> None:
        super().__init__(f"To number: {to}, is not a mobile number")


# -- create: the sender ---------------------------------------------------------------------------
class FromInvalid(TwilioError):
    """`From` is neither a phone number, a short code nor an alphanumeric sender ID (1.8; test
    number +15005550001)."""

    status, code = 400, 21212

    def __init__(self, sender: str) -> None:
        super().__init__(
            f"The 'From' number {sender} is not a valid phone number, shortcode, or "
            "alphanumeric sender ID."
        )


class FromNotOwned(TwilioError):
    """`From` is not one of the account's numbers able to send this message, or not in the
    given service's pool (1.9, 1.20; test number +15005550007)."""

    status, code = 400, 21606

    def __init__(self, sender: str) -> None:
        super().__init__(
            f"The From phone number {sender} is not a valid, SMS-capable inbound phone number "
            "or short code for your account."
        )


class QueueFull(TwilioError):
    """The test number +15005550008 (1.14: 429 as recorded whole in 2018; another source says
    400). The contract's 429 carries `Retry-After`."""

    status, code = 429, 21611
    default_message = "SMS queue is full."

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class TooManyMessages(TwilioError):
    """The account holds as many messages as the fake keeps for one account (a bound of the
    fake's, `x-limits` `messages-per-account` in openapi.yaml: Twilio documents none). A send
    checks it after every rule above; an inbound text (control surface) too."""

    status, code = 400, 20001
    default_message = "This account holds as many messages as it may"


# -- update and delete ----------------------------------------------------------------------------
class UpdateNotValid(TwilioError):
    """An update that is neither a redaction (`Body` empty) nor a cancel (2.5, 2.6: title)."""

    status, code = 400, 30400
    default_message = "Parameters are not valid"


class CannotCancel(TwilioError):
    """A cancel of a message that is no longer scheduled (2.6: title)."""

    status, code = 400, 30409
    default_message = "This message cannot be canceled"


class NotComplete(TwilioError):
    """A delete before the message's status is final (2.7: title)."""

    status, code = 400, 20009
    default_message = "Cannot delete this resource before it is complete"


__all__ = [
    "NoSenderForRecipient",
    "NoSenders",
    "SenderSelectionFailed",
    "ServiceGone",
]
