"""The errors of IncomingPhoneNumbers and AvailablePhoneNumbers, one class each.

21421 (an invalid phone number) is shared with the pool and lives in twilio_fake.exceptions.
"""

from __future__ import annotations

from twilio_fake.exceptions import InvalidParameter, TwilioError


class PhoneNumberOrAreaCodeRequired(InvalidParameter):
    """A buy names neither a number nor an area code. Twilio's message, seen through twilio-cli
    (2019); its numeric code was not shown, so the generic 20001 is the fake's choice."""

    default_message = "did or area_code is required"


class PhoneNumberNotAvailable(TwilioError):
    """The number is not in the fake's inventory, or another buyer holds it (also the test
    credentials' +15005550000)."""

    status, code = 400, 21422
    default_message = "PhoneNumber is not available"


class TooManyNumbers(TwilioError):
    """The account holds as many phone numbers as the fake keeps for one account (a bound of
    the fake's, `x-limits` `incoming-numbers-per-account` in openapi.yaml: Twilio documents
    none). A buy checks it after every other rule."""

    status, code = 400, 20001
    default_message = "This account holds as many phone numbers as it may"


class InvalidAreaCode(TwilioError):
    """Not a North American area code: three digits, the first 2 to 9."""

    status, code = 400, 21451
    default_message = "Invalid area code"


class NoPhoneNumbersInAreaCode(TwilioError):
    """Nothing left to buy in a well-formed area code (also the test credentials' 533)."""

    status, code = 400, 21452
    default_message = "No phone numbers found in area code"


class InvalidContainsPattern(InvalidParameter):
    """A `Contains` search pattern outside Twilio's documented rules (code chosen: 20001)."""
