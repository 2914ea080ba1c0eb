"""The errors every resource shares, one class each, with Twilio's HTTP status and error code.

A resource's own errors live in its package (`twilio_fake/resources/<name>/errors.py`), as
subclasses of TwilioError; every one of them leaves through `http_errors` as Twilio's body.
"""

from __future__ import annotations

from typing import Any, ClassVar

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class TwilioError(Exception):
    """An error that leaves the server as Twilio's JSON error body."""

    status: ClassVar[int] = 400
    code: ClassVar[int] = 20001
    default_message: ClassVar[str] = "Invalid request"

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.detail = detail
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """Return the error in the shape Twilio's SDKs parse."""
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        if self.details is not None:
            body["details"] = self.details
        return body


# 400 -----------------------------------------------------------------------------------------
class InvalidParameter(TwilioError):
    """A parameter is missing or malformed (Twilio's generic 20001)."""

    status, code = 400, 20001


class InvalidRequest(TwilioError):
    """A request HTTP itself forbids (two Host headers, RFC 9112 3.2)."""

    status, code = 400, 20001


class InvalidPageToken(TwilioError):
    """Twilio's own code for a PageToken it does not accept (status 400 assumed)."""

    status, code = 400, 21481
    default_message = "Invalid PageToken"


class PageTokenRequired(TwilioError):
    """A page after the first asked for by its number alone, on the 2010-04-01 API: Twilio's
    answer, as recorded (twilio-python issue 395, 2017, reproduced by its maintainers)."""

    status, code = 400, 20001
    default_message = "PageToken is required for paging."


class PhoneNumberInvalid(TwilioError):
    """Twilio's "Phone Number is invalid": a PN sid that is not one of the account's incoming
    numbers (adding to a pool), or a phone number that cannot be bought."""

    status, code = 400, 21421
    default_message = "Phone Number is invalid"


# 401 / 403 / 404 / 405 / 408 / 413 / 415 / 429 / 500 / 503 ------------------------------------
class AuthenticationFailed(TwilioError):
    """Twilio sends `detail` with each of its 401 messages. Raised without a message, it says
    what Twilio says on the API the request addressed (`http_errors.twilio_error`): the v1
    APIs' words below, or the 2010-04-01 API's own."""

    status, code = 401, 20003
    default_message = "Authentication Error - invalid username"
    DETAIL = "Your AccountSid or AuthToken was incorrect."

    def __init__(self, message: str | None = None, **options: Any) -> None:
        options.setdefault("detail", self.DETAIL)
        self.in_apis_words = message is None
        super().__init__(message, **options)


class Forbidden(TwilioError):
    """The fake's own refusals at its edge: an unknown Host, a cross-origin control request."""

    status, code = 403, 20403
    default_message = "Forbidden"


class ResourceNotFound(TwilioError):
    """Raised without a message: the answer names the resource the request addressed, the way
    Twilio does (`http_errors.resource_name`), which only the HTTP layer knows."""

    status, code = 404, 20404
    default_message = ""  # see http_errors.twilio_error

    @staticmethod
    def message_for(resource_name: str) -> str:
        return f"The requested resource {resource_name} was not found"


class MethodNotAllowed(TwilioError):
    status, code = 405, 20004
    default_message = "Method not allowed"


class RequestTimeout(TwilioError):
    status, code = 408, 20001
    default_message = "The request body did not arrive in time"


class RequestBodyTooLarge(TwilioError):
    status, code = 413, 20001


class UnsupportedMediaType(TwilioError):
    """Twilio has no code of its own for this; 20001 says the parameters could not be read."""

    status, code = 415, 20001


class ClientError(TwilioError):
    """Any other 4xx the framework answers (none is expected from openapi.yaml's operations)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status  # type: ignore[misc]  # one class for several statuses


class TooManyRequests(TwilioError):
    status, code = 429, 20429
    default_message = "Too many requests"


class TooManyAccounts(TooManyRequests):
    """The fake holds as many accounts as the control surface's `x-limits` allows."""

    default_message = (
        "The fake holds as many accounts as it may: drop some (DELETE /_fake/accounts/{Sid}) "
        "or reset it"
    )


class InternalServerError(TwilioError):
    status, code = 500, 20500
    default_message = "Internal Server Error"


class ServiceUnavailable(TwilioError):
    """The fake cannot serve: its database is out of reach."""

    status, code = 503, 20503
    default_message = "Service Unavailable"
