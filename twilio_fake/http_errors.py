"""Turn every error, ours or the framework's, into Twilio's JSON error body (the one place)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware.routing import ROUTING_CONTEXT
from starlette.exceptions import HTTPException
from starlette.responses import Response

from . import exceptions as errors
from . import spec

log = logging.getLogger(__name__)


class AllowedMethods:
    """Which methods each path of the specs supports, for the `Allow` header of a 405.

    Connexion registers one route per operation, so the router's own 405 names only the first
    route that matched the path; the spec knows them all.
    """

    def __init__(self, specs: Iterable[tuple[str, dict]]) -> None:
        self._routes: list[tuple[re.Pattern[str], str]] = []
        for base_path, document in specs:
            for template, item in document.get("paths", {}).items():
                pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(base_path + template))
                methods = sorted(m.upper() for m in item if m in _HTTP_METHODS)
                self._routes.append((re.compile(pattern), ", ".join(methods)))

    def __call__(self, path: str) -> str:
        return next((methods for pattern, methods in self._routes if pattern.fullmatch(path)), "")


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _parts(error: errors.TwilioError) -> tuple[int, dict[str, str], bytes]:
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="Twilio API"')
    return error.status, headers, json.dumps(error.body()).encode()


def render(error: errors.TwilioError) -> ConnexionResponse:
    """The error as connexion's error handlers return it."""
    status, headers, body = _parts(error)
    return ConnexionResponse(
        status_code=status,
        mimetype="application/json",
        content_type="application/json",
        body=body,
        headers=headers,
    )


def respond(error: errors.TwilioError) -> Response:
    """The same error as a plain ASGI response, for the edge (outside connexion's handlers)."""
    status, headers, body = _parts(error)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def twilio_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, errors.TwilioError)
    if isinstance(exc, errors.ResourceNotFound) and not exc.message:
        exc.message = errors.ResourceNotFound.message_for(resource_name(request.url.path))
    if isinstance(exc, errors.AuthenticationFailed) and exc.in_apis_words:
        exc.message = spec.authentication_failed_message(request.url.path) or exc.message
    return render(exc)


def resource_name(path: str) -> str:
    """How Twilio names the resource a path addresses in a 404: the path, without the version
    of the APIs whose messages leave it out (the contract's `x-not-found-names-without`)."""
    for prefix in spec.resource_name_prefixes():
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


def accepted_media_types(specs: Iterable[dict]) -> dict[str, str]:
    """operationId -> the request body's media types, as a 415 names them."""
    accepted = {}
    for document in specs:
        for item in document.get("paths", {}).values():
            for method, operation in item.items():
                content = (
                    operation.get("requestBody", {}).get("content", {})
                    if method in _HTTP_METHODS
                    else {}
                )
                if content:
                    accepted[operation["operationId"]] = " or ".join(content)
    return accepted


class FrameworkErrors:
    """Translate connexion's problems and starlette's HTTP exceptions (routing, checks, auth)."""

    def __init__(self, allowed_methods: AllowedMethods, media_types: dict[str, str]) -> None:
        self.allowed_methods = allowed_methods
        self.media_types = media_types

    def __call__(self, request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        if isinstance(exc, ProblemException):
            status, detail = exc.status_code, str(exc.detail or exc.title or "")
        else:
            assert isinstance(exc, HTTPException)
            status, detail = exc.status_code, str(exc.detail or "")
        if status == 415:
            return render(self.unsupported_media_type(request))
        return render(translate(request, status, detail, self.allowed_methods))

    def unsupported_media_type(self, request: ConnexionRequest) -> errors.TwilioError:
        routing = request.scope.get("extensions", {}).get(ROUTING_CONTEXT, {})
        accepted = self.media_types.get(routing.get("operation_id") or "", "a form body")
        content_type = request.headers.get("content-type", "none")[:100]
        return errors.UnsupportedMediaType(
            f"Unsupported media type {content_type}: send {accepted}"
        )


def cut_short() -> errors.TwilioError:
    """The client closed its side before sending the whole body; answered in case it still reads."""
    return errors.InvalidParameter("The request body ended before its declared length")


def body_cut_short(_request: ConnexionRequest, _exc: Exception) -> ConnexionResponse:
    return render(cut_short())


def database_unavailable(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """The database cannot be reached (a restart, a network cut): 503, which clients retry."""
    # The driver's own message, first line: SQLAlchemy's adds the statement and its values.
    cause = getattr(exc, "orig", None) or exc
    reason = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
    log.error("database error on %s %s: %s", request.method, request.url.path, reason)
    return render(errors.ServiceUnavailable("The database cannot be reached; try again"))


def unexpected(request: Any, exc: Exception) -> errors.TwilioError:
    """Log a failure of our own in full (not to the client) and name the Twilio error for it."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return errors.InternalServerError()


def unexpected_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return render(unexpected(request, exc))


def translate(
    request: ConnexionRequest, status: int, detail: str, allowed_methods: AllowedMethods
) -> errors.TwilioError:
    """Choose the Twilio error for a framework error of the given status."""
    if status == 400:
        # Our validators (validation.py) already phrase the message; keep its first line only.
        return errors.InvalidParameter(detail.split("\n", 1)[0] or "Invalid parameter")
    if status == 401:
        message = spec.authentication_failed_message(request.url.path)
        if message is None and not request.headers.get("authorization"):
            message = "Authentication Error - No credentials provided"
        return errors.AuthenticationFailed(message)
    if status == 404:
        return errors.ResourceNotFound(
            errors.ResourceNotFound.message_for(resource_name(request.url.path))
        )
    if status == 405:
        allow = allowed_methods(request.url.path)
        return errors.MethodNotAllowed(
            f"Method {request.method} not allowed on this resource; allowed: {allow}",
            headers={"Allow": allow},
        )
    if 400 <= status < 500:
        return errors.ClientError(status, detail.split("\n", 1)[0] or "Invalid request")
    log.error("framework error %s on %s %s: %s", status, request.method, request.url.path, detail)
    return errors.InternalServerError()
