"""The errors of a Messaging Service's phone number pool."""

from twilio_fake.exceptions import TwilioError


class PhoneNumberCannotMessage(TwilioError):
    """The number has neither SMS nor MMS (a voice-only number); status 400 assumed."""

    status, code = 400, 21715
    default_message = "Phone Number Does Not Have Correct Messaging Service Capabilities"


class PhoneNumberAlreadyInService(TwilioError):
    status, code = 409, 21710
    default_message = "Phone Number or Short Code is already in the Messaging Service."


class PhoneNumberInAnotherService(TwilioError):
    status, code = 409, 21712
    default_message = "Phone Number or Short Code is associated with another Messaging Service."


class ServicePoolFull(TwilioError):
    """Production code for this endpoint branches on exactly this status and code."""

    status, code = 412, 21714
    default_message = "Number Pool size limit reached"
