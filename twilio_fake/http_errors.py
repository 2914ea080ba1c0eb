"""Turn every error, ours or the framework's, into Twilio's JSON error body: the one place it happens."""

from __future__ import annotations

import json
import logging

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from . import exceptions as errors

log = logging.getLogger(__name__)

API_VERSION_PREFIX = "/v1"  # Twilio names resources without it in its 404 messages


def render(error: errors.TwilioError) -> ConnexionResponse:
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="Twilio API"')
    return ConnexionResponse(
        status_code=error.status,
        mimetype="application/json",
        content_type="application/json",
        body=json.dumps(error.body()).encode(),
        headers=headers,
    )


def twilio_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, errors.TwilioError)
    return render(exc)


def framework_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Translate connexion's problems and starlette's HTTP exceptions (routing, validation, auth)."""
    if isinstance(exc, ProblemException):
        status, detail = exc.status_code, str(exc.detail or exc.title or "")
    else:
        assert isinstance(exc, HTTPException)
        status, detail = exc.status_code, str(exc.detail or "")
    headers = dict(getattr(exc, "headers", None) or {})
    return render(translate(request, status, detail, headers))


def unexpected_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(errors.InternalServerError())


def translate(
    request: ConnexionRequest, status: int, detail: str, headers: dict[str, str]
) -> errors.TwilioError:
    """Choose the Twilio error for a framework error of the given status."""
    if status == 400:
        if _page_size_too_large(request):
            return errors.PageSizeTooLarge()
        return errors.InvalidParameter(_parameter_message(detail))
    if status == 401:
        if request.headers.get("authorization"):
            return errors.AuthenticationFailed(detail="Your AccountSid or AuthToken was incorrect.")
        return errors.AuthenticationFailed("Authentication Error - No credentials provided")
    if status == 404:
        path = request.url.path
        if path.startswith(API_VERSION_PREFIX + "/"):
            path = path[len(API_VERSION_PREFIX) :]
        return errors.ResourceNotFound.at(path)
    if status == 405:
        allow = headers.get("Allow") or headers.get("allow") or ""
        return errors.MethodNotAllowed(
            f"Method {request.method} not allowed on this resource; allowed: {allow}",
            headers={"Allow": allow},
        )
    if status == 415:
        content_type = request.headers.get("content-type", "none")
        return errors.UnsupportedMediaType(
            f"Unsupported media type {content_type}: "
            "send the parameters as application/x-www-form-urlencoded"
        )
    if 400 <= status < 500:
        error = errors.InvalidParameter(detail or "Invalid request")
        error.status = status  # type: ignore[misc]  # keep the framework's 4xx status
        return error
    log.error("framework error %s on %s %s: %s", status, request.method, request.url.path, detail)
    return errors.InternalServerError()


def _page_size_too_large(request: ConnexionRequest) -> bool:
    """PageSize over 1000 has a code of its own (20007) among Twilio's validation errors."""
    value = request.query_params.get("PageSize", "")
    return value.isdigit() and int(value) > 1000


def _parameter_message(detail: str) -> str:
    """Phrase connexion's validation messages the way Twilio does where the two differ."""
    if detail.startswith("Missing formdata parameter "):
        name = detail.removeprefix("Missing formdata parameter ").strip("'")
        return f"Missing required parameter {name} in the post body"
    return f"Invalid parameter: {detail}" if detail else "Invalid parameter"
