"""The errors of Messaging Services, one class each, with Twilio's status and code."""

from __future__ import annotations

from twilio_fake.exceptions import TwilioError


class UsecaseInvalid(TwilioError):
    """Twilio's own code for a use case outside its list (error dictionary: "Messaging Service
    Use Case is Invalid"); the status is assumed 400, as for the other parameter errors."""

    status, code = 400, 21713
    default_message = "Messaging Service Use Case is Invalid"


class TooManyServices(TwilioError):
    """The account holds as many services as the fake keeps for one account (a bound of the
    fake's, `x-limits` `services-per-account` in openapi.yaml: Twilio documents none)."""

    status, code = 400, 20001
    default_message = "This account holds as many Messaging Services as it may"
