"""Every override of a library's private member, in one place, each pinned to its library.

The fake is connexion's AsyncApp served by uvicorn; where neither offers an extension point for
what the fake needs, a class here subclasses theirs and overrides (or reads) a member they
do not publish. Such a member can change in any release, silently: `PINS` names each one the
fake relies on with a digest of its source at the pinned version, and
tests/unit/test_overrides.py fails when an installed library is not the pinned version or a
pinned member's source changed (then read the new source, adapt the override, and record the
new digest: `python -m twilio_fake.overrides` prints them). That test also fails when a class
here overrides a member of a library class that `PINS` does not name.

What is here, and why each stays (docs/performance.md measures those kept for speed):
- connexion's security handlers (`TwilioBasicAuth`, `ControlTokenAuth`): the published spec
  names no Python function (`_resolve_func`); Basic credentials are read as UTF-8 and the check
  is called without connexion's per-request signature inspection, and the control token may
  be absent when none is configured (`_get_verify_func`);
- connexion's operation (`OperationBuiltOnce`, `DecoratedOnce`): each handler's decorator
  chain (its parameters in, its answer out) put together once per operation, where connexion
  puts it together, inspecting the handler's signature, on every request;
- connexion's request validation (`RequestValidation`, `ValidatorsBuiltOnce`): each
  operation's URI parser and validators made once, where connexion makes them on every request;
- connexion's request validators (`TwilioParameterValidator`, `TwilioFormValidator`,
  `TwilioJSONValidator`): Twilio's wording, a parameter given twice refused, bodies that say
  what they are, and the schemas compiled once rather than on every request;
- connexion's check of a spec against the OpenAPI schema (`check_each_spec_once`): once per
  document and process, not for every app built, and the packaged specs not at start-up
  (`checked_specs.json` records them as passed; after editing openapi.yaml or control.yaml,
  `python -m twilio_fake.overrides --record-checked-specs`, or a unit test fails);
- connexion's routing and Swagger UI middleware (`ExactRouting`, `ChainedSwaggerUI`): no
  slash redirects, and two specs on one base path;
- connexion's log line naming an operation it failed to add (`FailedOperations`): the only
  place connexion says which one, read to name it in the start-up error;
- uvicorn's httptools protocol (`GuardedHttpProtocol`, the proxy's `ProxyFront` and `Tunnel`)
  and server (`ServerWithProxy`): deadlines and limits on a request's head and body,
  Twilio-shaped answers below the app, and the proxy's CONNECT tunnels.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import importlib
import inspect
import json
import logging
import math
import re
import socket
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

import httptools
import uvicorn
from connexion.apps.asynchronous import AsyncApi, AsyncApp, AsyncOperation
from connexion.context import _operation as _routed_operation
from connexion.context import _receive as _request_receive
from connexion.context import _scope as _request_scope
from connexion.datastructures import MediaTypeDict
from connexion.decorators import StarletteDecorator
from connexion.exceptions import BadRequestProblem, OAuthProblem
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.operations import AbstractOperation
from connexion.security import NO_VALUE, BasicSecurityHandler, BearerSecurityHandler
from connexion.spec import OpenAPISpecification
from connexion.utils import is_null, is_nullable
from connexion.validators import VALIDATOR_MAP as CONNEXION_VALIDATORS
from connexion.validators import FormDataValidator, JSONRequestBodyValidator, ParameterValidator
from jsonschema import ValidationError
from starlette.datastructures import FormData, Headers, QueryParams
from starlette.formparsers import FormParser, MultiPartException
from starlette.requests import ClientDisconnect
from starlette.routing import Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .auth import check_basic_credentials, check_control_token
from .config import Settings
from .edge import CONTROL_PREFIX, CORS_HEADERS, FORM, new_request_id, says_form
from .faults import TRANSPORT_KEY
from .protocol import BODY_GRACE, REASONS, error_body
from .proxy import hosts
from .proxy.tunnel import HANDSHAKES, front_logger, name_host, proxy_refusal
from .validation import _compile, _first_line, _message, _repeated

if TYPE_CHECKING:
    from connexion.lifecycle import ConnexionRequest

    from .proxy.ca import CertificateAuthority

log = logging.getLogger("twilio_fake.requests")

# The versions the digests below were taken from (pyproject.toml pins connexion and uvicorn;
# starlette and httptools come with them).
PINNED = {"connexion": "3.3.0", "uvicorn": "0.54.0", "starlette": "1.10.0", "httptools": "0.9.0"}

# Each library member an override here replaces, calls into, or reads, with the first 16 hex
# digits of the SHA-256 of its source at the pinned version. A member the fake overrides is
# pinned, and so is the library code that calls it or sets what it reads.
PINS: dict[str, dict[str, str]] = {
    "connexion.security": {
        "AbstractSecurityHandler.get_fn": "6a2992e2057688ca",
        "AbstractSecurityHandler._resolve_func": "d6f6e16398e41bc2",
        "AbstractSecurityHandler.get_auth_header_value": "f2808eab920f17d8",
        "BasicSecurityHandler._get_verify_func": "3382266565d696c3",
        "BearerSecurityHandler._get_verify_func": "2d831c150d65535a",
    },
    "connexion.apps.asynchronous": {
        "AsyncApp.__init__": "624f5070177b0d80",
        "AsyncApi.make_operation": "555eaf3ca12397b1",
        "AsyncOperation.fn": "9cad70e32840c9ec",
        "AsyncOperation.__call__": "5435ed498983193d",
    },
    "connexion.decorators.main": {
        "BaseDecorator.decorate": "ecc6529a18274fda",
        "BaseDecorator.uri_parser": "140072be21d36da0",
        "ASGIDecorator.__call__": "7397ac94437e4d7e",
    },
    "connexion.middleware.request_validation": {
        "RequestValidationOperation.__init__": "d21eda3fde4a2734",
        "RequestValidationOperation.__call__": "af472716211911b9",
        "RequestValidationAPI.make_operation": "55b32cb8b0ab229e",
    },
    "connexion.validators.parameter": {
        "ParameterValidator.__init__": "24776a9397239d06",
        "ParameterValidator.validate_parameter": "2d9293659a1c1ea5",
        "ParameterValidator.validate_query_parameter": "442854ab9b6386dd",
        "ParameterValidator.validate_path_parameter": "5f0668de581b7a6e",
        "ParameterValidator.validate_request": "e3d4a4e16aaee99e",
    },
    "connexion.validators.abstract": {
        "AbstractRequestBodyValidator.__init__": "cc70034b45755cc5",
        "AbstractRequestBodyValidator.wrap_receive": "44c469448a6e46fb",
    },
    "connexion.validators.form_data": {
        "FormDataValidator.__init__": "0164181a3e25c114",
        "FormDataValidator._validator": "3b8e1028fc2da830",
        "FormDataValidator._form_parser_cls": "4ff5228b2e84f03d",
        "FormDataValidator._parse": "4b1afc9c6cb62fb3",
        "FormDataValidator._validate": "7ce82dcb557f5861",
        "FormDataValidator._validate_params_strictly": "3192d50770b943fd",
    },
    "connexion.validators.json": {
        "JSONRequestBodyValidator._parse": "653b0d4025a2592e",
    },
    "connexion.middleware.routing": {
        "RoutingMiddleware.__init__": "7aede01e17b135ab",
        "RoutingMiddleware.add_api": "a25f6d00c2c1d3d2",
    },
    "connexion.middleware.swagger_ui": {
        "SwaggerUIMiddleware.__init__": "1bac25a16b008c0b",
        "SwaggerUIMiddleware.add_api": "e260564a85361940",
    },
    "connexion.spec": {
        "Specification.__init__": "4db416e79b8b3f11",
        "Specification._validate_spec": "8164a6ab6b95deb9",
    },
    "connexion.middleware.abstract": {
        "AbstractRoutingAPI._handle_add_operation_error": "b08fdae95a3ec4cc",
        "RoutedMiddleware.add_api": "b4ef7143c0f7ff47",
    },
    "starlette.formparsers": {
        "FormParser.parse": "994a1813e80229f3",
    },
    "starlette.routing": {
        "Router.__init__": "bfb2b4a65c811770",
    },
    "uvicorn.protocols.http.httptools_impl": {
        "HttpToolsProtocol.__init__": "4f08999410347141",
        "HttpToolsProtocol.connection_made": "6efb565ff3d36b91",
        "HttpToolsProtocol.connection_lost": "c91a4c9bf2e29c55",
        "HttpToolsProtocol.data_received": "010a7ae59a5d3b1a",
        "HttpToolsProtocol.on_message_begin": "96d377fdc7c2baef",
        "HttpToolsProtocol.on_headers_complete": "1ea8589acfad92d8",
        "HttpToolsProtocol.on_message_complete": "1fbad42dc31fc01f",
        "HttpToolsProtocol.send_400_response": "ae5a4a3782b646fd",
        "HttpToolsProtocol._should_upgrade": "8fcad1ab8e096739",
        "HttpToolsProtocol.handle_websocket_upgrade": "179c4f769386ab89",
        "HttpToolsProtocol.shutdown": "d7351fa33f00d430",
        "RequestResponseCycle.__init__": "4d2f220910c33c12",
    },
    "uvicorn.server": {
        "Server.__init__": "c150b55284f7511e",
        "Server.startup": "2aa1d70a244bfcf2",
    },
}


# -- connexion's security handlers ---------------------------------------------------------------
class TwilioBasicAuth(BasicSecurityHandler):
    """Connexion's Basic handler, bound to `check_basic_credentials`.

    Credentials are read as UTF-8 (RFC 7617), falling back to Latin-1, connexion's own reading.
    The check is called directly: connexion's generic wrapper inspects the function's signature
    on every request to decide which arguments to pass, and this one's are known.
    """

    def _resolve_func(self, security_scheme: dict[str, Any]) -> Any:
        return check_basic_credentials

    def _get_verify_func(self, basic_info_func: Any) -> Any:
        def verify(request: ConnexionRequest) -> Any:
            auth_type, user_pass = self.get_auth_header_value(request)
            if auth_type != "basic":
                return NO_VALUE
            try:
                decoded = base64.b64decode(user_pass, validate=True)
            except (binascii.Error, ValueError):
                raise OAuthProblem(detail="Invalid authorization header") from None
            try:
                text = decoded.decode("utf-8")
            except UnicodeDecodeError:
                text = decoded.decode("latin-1")
            username, colon, password = text.partition(":")
            if not colon:
                raise OAuthProblem(detail="Invalid authorization header")
            return basic_info_func(username, password, request)

        return verify


class ControlTokenAuth(BearerSecurityHandler):
    """The `controlToken` scheme of control.yaml: off unless the fake has a control token.

    Connexion's own bearer handler refuses a request without an Authorization header before
    asking anyone; this one asks `check_control_token`, which knows whether a token is set.
    """

    def _resolve_func(self, security_scheme: dict[str, Any]) -> Any:
        return check_control_token

    def _get_verify_func(self, token_func: Any) -> Any:
        def verify(request: ConnexionRequest) -> Any:
            auth_type, token = self.get_auth_header_value(request)
            return token_func(token if auth_type == "bearer" else None, request)

        return verify


# -- connexion's handler chain ------------------------------------------------------------------
class DecoratedOnce(StarletteDecorator):
    """Connexion's decorators of a handler (its parameters in, its answer out), put together once.

    Connexion's `AsyncOperation.fn` makes this decorator on every request, and the decorator's
    wrapper then puts the chain together (`decorate`: the handler's signature inspected, four
    `functools.wraps`) and makes the operation's URI parser, on every request again; none of it
    depends on the request. Here the chain is put together once, when the operation is first
    called, and the URI parser made once for each routed operation (one).
    """

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        decorated = self.decorate(function)
        uri_parsers: dict[AbstractOperation, Any] = {}

        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            routed = _routed_operation.get()
            uri_parser = uri_parsers.get(routed)
            if uri_parser is None:
                parser_class = self.uri_parser_class or routed.uri_parser_class
                uri_parser = parser_class(routed.parameters, routed.body_definition())
                uri_parsers[routed] = uri_parser
            # The request's own scope and receive, where connexion passes its context's proxies
            # to them (each use of which looks the context up again).
            request = self.framework.get_request(
                uri_parser=uri_parser, scope=_request_scope.get(), receive=_request_receive.get()
            )
            return await decorated(request)

        return wrapper


class OperationBuiltOnce(AsyncOperation):
    """Connexion's operation, calling its handler through a chain put together once."""

    @functools.cached_property
    def fn(self) -> Callable[..., Any]:
        decorator = DecoratedOnce(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)
        return decorator(self._fn)


class OperationsBuiltOnceAPI(AsyncApi):
    def make_operation(self, operation: AbstractOperation) -> AsyncOperation:
        return OperationBuiltOnce.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


def build_handlers_once(app: AsyncApp) -> None:
    """Make the APIs `app` adds from now on call their handlers through `OperationBuiltOnce`.

    AsyncApp makes its innermost app (the one that calls the handlers) itself, and hands it to
    its middleware at once: its class of API is set on that instance.
    """
    app._middleware_app.api_cls = OperationsBuiltOnceAPI


# -- connexion's request validators -------------------------------------------------------------
CACHE_LIMIT = 4096  # compiled schemas kept; the specs hold a few hundred
_compiled: dict[tuple[str, int], tuple[Any, Any]] = {}


def once_per_schema(kind: str, schema: Any, build: Callable[[], Any]) -> Any:
    """What `build` makes of a schema (or parameter) of the specs, built on first use.

    Connexion makes its request validators anew for every request
    (`RequestValidationOperation.__call__`), so nothing kept on a validator outlives its
    request; the schemas they are given are the operations' own, which live as long as the app.
    Kept by identity (the entry holds the schema, so its id is not reused while kept), and
    bounded: a schema built per request would only ever cost a rebuild.
    """
    key = (kind, id(schema))
    kept = _compiled.get(key)
    if kept is not None and kept[0] is schema:
        return kept[1]
    if len(_compiled) >= CACHE_LIMIT:
        _compiled.clear()
    built = build()
    _compiled[key] = (schema, built)
    return built


class TwilioParameterValidator(ParameterValidator):
    """Path and query parameters. A parameter given twice is refused rather than guessed at.

    Each parameter's schema is compiled once (`once_per_schema`) into the same Draft 4 validator
    (and format checker) connexion's own `validate_parameter` builds for every value.
    """

    def __init__(self, parameters: list[dict], *args: Any, **kwargs: Any) -> None:
        super().__init__(parameters, *args, **kwargs)
        self._declared_query = {param["name"] for param in self.parameters["query"]}

    def validate_request(self, request: Any) -> None:
        pairs = QueryParams(request.scope["query_string"]).multi_items()
        name = _repeated(pairs, self._declared_query)
        if name is not None:
            raise BadRequestProblem(detail=f"Parameter {name} is given more than once")
        super().validate_request(request)

    def validate_parameter(  # connexion's is a staticmethod; called on the instance
        self, parameter_type: str, value: Any, param: dict, param_name: Any = None
    ) -> str | None:
        if is_nullable(param) and is_null(value):
            return None
        if value is None:
            return f"Missing required parameter {param['name']}" if param.get("required") else None
        validator = once_per_schema(
            "parameter", param, lambda: _compile(param.get("schema", param))
        )
        error = next(iter(validator.iter_errors(value)), None)
        if error is None:
            return None
        return f"Invalid {parameter_type} parameter {param['name']}: {_message(error)}"


# Body validators kept per operation, for each media type and encoding a request declares: the
# declarations come from clients, so past this many an operation's validators are made per
# request, as connexion makes them.
BODY_VALIDATORS_PER_OPERATION = 8
_NOT_KEPT = object()
validation_log = logging.getLogger("connexion.middleware.validation")  # connexion's own


class ValidatorsBuiltOnce(RequestValidationOperation):
    """Connexion's request validation for one operation, its validators made once.

    Connexion's `__call__` makes, on every request, the operation's URI parser (twice), its
    parameter validator and its body validator, none of which keeps anything of a request. This
    does what it does with validators made on the first request that needs them: the parameter
    validator once, a body validator once for each media type and encoding (up to
    BODY_VALIDATORS_PER_OPERATION; then per request again).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body_validators: dict[tuple[str, str], Any] = {}
        # An operation whose body can only be a form reads any other body as no parameters.
        self._forms_only = self._operation.consumes == [FORM]

    @functools.cached_property
    def _parameter_validator(self) -> ParameterValidator:
        operation = self._operation
        uri_parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        return self._validator_map["parameter"](
            operation.parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )

    def _body_validator(self, mime_type: str, encoding: str) -> Any:
        """The body validator connexion would make for this request; None if it would make none."""
        kept = self._body_validators.get((mime_type, encoding), _NOT_KEPT)
        if kept is _NOT_KEPT:
            kept = self._new_body_validator(mime_type, encoding)
            if len(self._body_validators) < BODY_VALIDATORS_PER_OPERATION:
                self._body_validators[(mime_type, encoding)] = kept
        return kept

    def _new_body_validator(self, mime_type: str, encoding: str) -> Any:
        operation = self._operation
        schema = operation.body_schema(mime_type)
        if not schema:
            return None
        try:
            body_validator = self._validator_map["body"][mime_type]
        except KeyError:
            validation_log.info(
                f"Skipping validation. No validator registered for content type: {mime_type}."
            )
            return None
        return body_validator(
            schema=schema,
            required=operation.request_body.get("required", False),
            nullable=is_nullable(operation.body_definition(mime_type)),
            encoding=encoding,
            strict_validation=self.strict_validation,
            uri_parser=operation.uri_parser_class(
                operation.parameters, operation.body_definition()
            ),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._parameter_validator.validate(scope)
        if self._forms_only:
            if says_form(scope["headers"]):
                scope = _as_a_form(scope)
            else:
                scope, receive = await _as_an_empty_form(scope, receive)
        mime_type, encoding = self.extract_content_type(scope["headers"])
        self.validate_mime_type(mime_type)
        validator = self._body_validator(mime_type, encoding)
        if validator is not None:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


def _as_a_form(scope: Scope) -> Scope:
    """A form's request with its Content-Type written as connexion reads it (`Form ;
    charset=utf-8`, with a space before the `;`, is the form's type to a reader of HTTP, and
    an unknown one to connexion's split of the header). Most requests need nothing done."""
    content_type = next(value for name, value in scope["headers"] if name == b"content-type")
    media = content_type.partition(b";")[0]
    if media == media.strip():
        return scope
    headers, seen = [], False
    for name, value in scope["headers"]:
        if name == b"content-type" and not seen:
            seen = True
            _media, semicolon, parameters = value.partition(b";")
            value = FORM.encode() + (b"; " + parameters.strip() if semicolon else b"")
        headers.append((name, value))
    return {**scope, "headers": headers}


async def _as_an_empty_form(scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
    """The request as one with an empty form for its body: Twilio reads parameters from a form
    body only, and answers a JSON body (say) as a request without them (a message's create:
    21604, its `To` missing). The body is read and dropped (the edge has bounded its size and
    time); a client that leaves before its end has sent no request, as for a form cut short."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        if not message.get("more_body", False):
            break
    given = False

    async def empty() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    dropped = (b"content-type", b"content-length", b"transfer-encoding")
    headers = [(name, value) for name, value in scope["headers"] if name not in dropped]
    headers += [(b"content-type", FORM.encode()), (b"content-length", b"0")]
    return {**scope, "headers": headers}, empty


class ValidatorsBuiltOnceAPI(RequestValidationAPI):
    def make_operation(self, operation: AbstractOperation) -> RequestValidationOperation:
        return ValidatorsBuiltOnce(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class RequestValidation(RequestValidationMiddleware):
    """Connexion's request validation middleware, each operation's validators made once."""

    api_cls = ValidatorsBuiltOnceAPI


class SingleValueFormParser(FormParser):
    """A form parser that refuses a declared field given more than once."""

    declared: set[str] = set()  # the body schema's properties (see TwilioFormValidator)

    async def parse(self) -> FormData:
        try:
            form = await super().parse()
        except MultiPartException as error:  # starlette's bounds: too many fields, too large
            raise BadRequestProblem(detail=f"The post body is refused: {error.message}") from None
        name = _repeated(form.multi_items(), self.declared)
        if name is not None:
            raise BadRequestProblem(
                detail=f"Parameter {name} is given more than once in the post body"
            )
        return form


class TwilioFormValidator(FormDataValidator):
    """Form-encoded request bodies."""

    @functools.cached_property
    def _form_parser_cls(self) -> type[FormParser]:
        # Made once per validator, which is kept with its operation (ValidatorsBuiltOnce).
        # An array (a message's MediaUrl) is given by repeating its name: only single values
        # are refused when repeated.
        properties = self._schema.get("properties", {})
        declared = {name for name, schema in properties.items() if schema.get("type") != "array"}
        return type("DeclaredFormParser", (SingleValueFormParser,), {"declared": declared})

    def _missing(self, name: str) -> BadRequestProblem:
        return BadRequestProblem(detail=f"Missing required parameter {name} in the post body")

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        headers = Headers(scope=scope)
        has_body = int(headers.get("content-length", 0) or 0) > 0
        if self._required and not has_body:
            raise self._missing(self._schema.get("required", ["(body)"])[0])
        # A body that does not say it is a form never comes here (ValidatorsBuiltOnce).
        return await super().wrap_receive(receive, scope=scope)

    def _validate(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise BadRequestProblem(detail="The post body must be form-encoded parameters")
        if self._strict_validation:
            self._validate_params_strictly(body)
        error: ValidationError | None = next(iter(self._validator.iter_errors(body)), None)
        if error is None:
            return
        if error.validator == "required":
            missing = [name for name in self._schema.get("required", []) if name not in body]
            raise self._missing(missing[0] if missing else _first_line(error.message))
        name = error.path[0] if error.path else "(body)"
        raise BadRequestProblem(detail=f"Invalid parameter {name}: {_message(error)}")


class TwilioJSONValidator(JSONRequestBodyValidator):
    """JSON bodies (the control surface's): read as JSON (RFC 8259) is written, so a body
    Python's `json` would take but JSON has no word for (`NaN`, `Infinity`: they pass a
    schema's minimum and maximum, and a clock moved by NaN seconds was stored broken) is a 400,
    and so is one that cannot be read at all (nested past the recursion limit, not UTF-8, an
    integer of more digits than Python converts), like any unreadable body. So is a string that
    is not text: JSON may escape half of a surrogate pair alone (`"\\ud800"`), which no
    database stores (an inbound message's body was a 500)."""

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        raw = b"".join([message async for message in stream])
        # JSON is UTF-8 (RFC 8259 8.1), and the handler reads the bytes as `json.loads` does
        # (UTF-8 unless they look like UTF-16 or 32): a body checked in another charset that
        # the Content-Type named was read differently there (a 500, or a lone surrogate stored).
        if self._encoding.strip('"').lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise BadRequestProblem(
                detail=f"The JSON body must be UTF-8, not {self._encoding[:20]!r} (RFC 8259)"
            )
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestProblem(detail="The JSON body is not UTF-8") from None
        if not body:
            return None
        try:
            document = json.loads(body, parse_constant=_not_json, parse_float=_finite)
        except RecursionError:
            raise BadRequestProblem(detail="The JSON body is nested too deeply") from None
        except (json.JSONDecodeError, _NotJson) as error:
            raise BadRequestProblem(detail=f"The JSON body cannot be read: {error}") from None
        except ValueError:  # Python's limit on an integer's digits
            detail = "The JSON body cannot be read: a number in it has too many digits"
            raise BadRequestProblem(detail=detail) from None
        # Only an escape can make a lone surrogate (UTF-8 cannot encode one): most bodies have
        # none, and are not walked.
        where = lone_surrogate(document) if _ESCAPED_SURROGATE.search(raw) else None
        if where is not None:
            raise BadRequestProblem(
                detail=f"The JSON body's {where} is not valid text (a lone surrogate?)"
            )
        return document


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


_Place = tuple[Any, "str | int"] | None  # (the parent's place, a key or an index); None: the root


def lone_surrogate(document: Any) -> str | None:
    """Where a JSON document holds a string (a key or a value) with a lone surrogate, as
    `accounts[0].auth_token` (`(the document)` for the whole), or None if it holds none.
    Iterative: a document as deep as `json` reads does not reach the recursion limit here. Each
    node's place is a link to its parent's, spelled out only for the one found: a path string
    for every node of a deep document took memory in the square of its depth."""
    stack: list[tuple[_Place, Any]] = [(None, document)]
    while stack:
        place, node = stack.pop()
        if isinstance(node, str) and not _is_text(node):
            return _spelled(place)
        if isinstance(node, dict):
            for key, value in reversed(node.items()):
                if not _is_text(key):
                    return _spelled((place, key))
                stack.append(((place, key), value))
        elif isinstance(node, list):
            stack.extend(((place, i), item) for i, item in reversed(list(enumerate(node))))
    return None


def _spelled(place: _Place, most: int = 200) -> str:
    """A place as `accounts[0].auth_token`, its keys cut at 40 characters, non-text escaped;
    at most `most` characters, the end kept."""
    parts: list[str] = []
    while place is not None:
        place, step = place
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            shown = step[:40].encode("utf-8", "backslashreplace").decode("utf-8")
            parts.append(f".{shown}" if place is not None else shown)
        if sum(map(len, parts)) > most:
            parts.append("…")
            break
    return "".join(reversed(parts)).lstrip(".") or "(the document)"


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _NotJson(ValueError):
    pass


def _not_json(word: str) -> Any:
    raise _NotJson(f"{word} is not a JSON number")


def _finite(text: str) -> float:
    """A JSON number as Python reads it, unless it is too large for a float (`1e999` would
    be infinity)."""
    number = float(text)
    if math.isinf(number):
        raise _NotJson(f"{text[:20]} is not a JSON number this server can hold")
    return number


VALIDATOR_MAP = {
    "parameter": TwilioParameterValidator,
    "body": MediaTypeDict(
        {
            **CONNEXION_VALIDATORS["body"],
            "*/*json": TwilioJSONValidator,
            "application/x-www-form-urlencoded": TwilioFormValidator,
        }
    ),
}


# -- connexion's check of a spec against the OpenAPI schema ------------------------------------
VALIDATED_LIMIT = 64  # documents remembered as checked; a process serves two, tests a few more
# The digests of the packaged documents as connexion's check passed them, with the connexion
# and jsonschema that checked them: a server starts without checking them again (0.19 s of
# its start-up).
# Written by `python -m twilio_fake.overrides --record-checked-specs`; a unit test fails when
# the packaged specs change without it.
CHECKED_RECORD = Path(__file__).with_name("checked_specs.json")
_validated: set[str] = set()  # "checker:digest"
_record_read = False  # CHECKED_RECORD is read once a process, by the first app built
_connexions_check = OpenAPISpecification._validate_spec.__func__
# What decides whether a document passes, besides the document: the class whose schema it is
# checked against, and the libraries that check it.
CHECKING_LIBRARIES = ("connexion", "jsonschema")


def _checker(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _checking_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in CHECKING_LIBRARIES}


def spec_digest(spec: Any) -> str | None:
    """The SHA-256 of a document's content with each value's JSON type (a date and the string
    that spells it differ, as do a tuple and a list); None if it holds anything else, or if
    whether it passes may depend on something outside it: a `$ref` to another document, or an
    `id` that moves where its references resolve (the check follows both)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            parts.append("{")
            for key in sorted(node):  # a key that is not a string fails here or below
                if type(key) is not str:
                    raise TypeError(key)
                value = node[key]
                if isinstance(value, str) and (
                    (key == "$ref" and not value.startswith("#")) or key in ("id", "$id")
                ):
                    raise ValueError(f"{key}: {value[:40]}")
                parts.append(json.dumps(key))
                walk(value)
            parts.append("}")
        elif type(node) is list:
            parts.append("[")
            for item in node:
                walk(item)
            parts.append("]")
        elif node is None or type(node) in (str, int, float, bool):
            parts.append(type(node).__name__ + json.dumps(node))
        else:
            raise TypeError(type(node))

    try:
        walk(spec)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _validate_spec_once(cls: type[OpenAPISpecification], spec: dict) -> None:
    """Connexion's own check of a document against the OpenAPI 3.0 schema, once per document.

    Connexion checks the whole document every time an API is added (`Specification.__init__`):
    0.19 s of a server's start-up for the two specs, and again for each app a process builds
    (the suite builds one for every API test). Whether a document passes depends on its
    content alone, so one that passed is remembered by `spec_digest`, in this process and, for
    the packaged documents, in `CHECKED_RECORD`; a document that fails is checked again, and
    fails again.
    """
    digest = spec_digest(spec)
    key = None if digest is None else f"{_checker(cls)}:{digest}"
    if key is not None and key in _validated:
        return
    _connexions_check(cls, spec)
    if key is not None and len(_validated) < VALIDATED_LIMIT:
        _validated.add(key)


def check_each_spec_once() -> None:
    """Put `_validate_spec_once` in place of connexion's check (for every OpenAPI 3 document
    of the process: the fake builds its apps from no other), the packaged documents recorded
    as checked if the connexion and jsonschema that checked them are the ones installed."""
    global _record_read
    OpenAPISpecification._validate_spec = classmethod(_validate_spec_once)
    if not _record_read:
        _record_read = True
        try:
            record = json.loads(CHECKED_RECORD.read_text())
            if record["versions"] == _checking_versions():
                checker = record["checker"]
                _validated.update(f"{checker}:{d}" for d in record["documents"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # no record (a copy without it): every document is checked


def record_checked_specs() -> dict[str, Any]:
    """Write `checked_specs()` to `CHECKED_RECORD`; return it."""
    record = checked_specs()
    CHECKED_RECORD.write_text(json.dumps(record, indent=2) + "\n")
    return record


def checked_specs() -> dict[str, Any]:
    """Build the app with connexion's own check of every document, the record set aside; the
    digests of the documents it passed, by title, with the class and libraries that checked
    them."""
    global _connexions_check, _record_read
    from .app import create_app, create_backend
    from .config import Settings

    passed: dict[str, str] = {}
    check = _connexions_check

    def checking(cls: type[OpenAPISpecification], spec: dict) -> None:
        check(cls, spec)
        digest = spec_digest(spec)
        assert digest is not None, "a packaged spec holds something JSON does not"
        passed[spec["info"]["title"]] = digest

    # The record set aside: what was read of it forgotten, and not read again.
    _record_read, _connexions_check = True, checking
    _validated.clear()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            settings = Settings(database=str(Path(scratch) / "record.sqlite3"))
            backend = create_backend(settings)
            try:
                create_app(settings, backend)
            finally:
                backend.db.dispose()
    finally:
        _connexions_check = check
    return {
        "checker": _checker(OpenAPISpecification),
        "versions": _checking_versions(),
        "documents": passed,
    }


# -- connexion's routing, Swagger UI and start-up log ---------------------------------------------
class ExactRouting(RoutingMiddleware):
    """Connexion's routing, without starlette's redirect to the path with or without a slash.

    Twilio answers `…/PhoneNumbers/` with a 404; a redirect would carry no body and send a
    client that does not follow it away with nothing to report.
    """

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.router.redirect_slashes = False

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        for route in self.router.routes:
            if isinstance(route, Mount) and isinstance(route.app, Router):
                route.app.redirect_slashes = False


class ChainedSwaggerUI(SwaggerUIMiddleware):
    """Connexion's Swagger UI layer, serving the docs of several APIs on one base path.

    The contract and the control surface are both served from the root. Connexion's routing
    chains APIs that share a base path (a request no route of the first matches goes to the
    next); its Swagger UI layer mounts each on its own and would only ever look in the first.
    This puts the routes of an API added on a base path already mounted (the control surface's
    `/_fake/docs`…) into the first one's router: one router, so `/docs/` and `/_fake/docs/` both
    answer and an API request walks no second router on its way through.
    """

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        # No redirect to the path with or without a slash either (see ExactRouting): an API
        # request, which no route here matches, would be matched against them all once more.
        self.router.redirect_slashes = False
        added = self.router.routes[-1]
        if isinstance(added, Mount) and isinstance(added.app, Router):
            added.app.redirect_slashes = False
        for route in self.router.routes[:-1]:
            if isinstance(route, Mount) and isinstance(added, Mount) and route.path == added.path:
                route.routes.extend(added.routes)
                self.router.routes.remove(added)
                return


class FailedOperations(logging.Handler):
    """Collect the operations connexion says it failed to add ("POST /v1/Services/…")."""

    logger = logging.getLogger("connexion.middleware.abstract")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.operations: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Failed to add operation for "):
            self.operations.append(message.removeprefix("Failed to add operation for "))

    def __enter__(self) -> FailedOperations:
        self.logger.addHandler(self)
        self.propagate, self.logger.propagate = self.logger.propagate, False
        return self

    def __exit__(self, *_exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.propagate = self.propagate


# -- uvicorn's protocol and server -------------------------------------------------------------
class GuardedHttpProtocol(HttpToolsProtocol):
    head_timeout: float = Settings.head_timeout
    max_head_bytes: int = Settings.max_head_bytes
    body_timeout: float = Settings.body_timeout + BODY_GRACE

    @classmethod
    def configure(cls, settings: Settings) -> None:
        cls.head_timeout = settings.head_timeout
        cls.max_head_bytes = settings.max_head_bytes
        cls.body_timeout = settings.body_timeout + BODY_GRACE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # waiting for (the rest of) a request head
        self._head_bytes = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._in_body = False  # a head was read; its body has not all arrived
        self._keep_alive = True  # what the client asked, while a body keeps the answer's closed
        self._body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        self._cancel_body_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
        else:
            # Feed the parser no more than the head may still hold, so that a head that ends
            # in this read is told from one that is too long; what follows it goes on whole.
            room = self.max_head_bytes - self._head_bytes + 1
            head = data if len(data) <= room else data[:room]
            self._head_bytes += len(head)
            super().data_received(head)
            if self._in_head and self._head_bytes > self.max_head_bytes:
                self._refuse(431, f"The request head is larger than {self.max_head_bytes} bytes")
                return
            if len(head) < len(data) and not self.transport.is_closing():
                self.data_received(data[room:])
                return
        if self._in_body and self._body_deadline is None and not self.transport.is_closing():
            self._body_pending()

    def on_headers_complete(self) -> None:
        self._in_head, self._in_body = False, True
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_message_begin(self) -> None:
        # The next request's head begins (after a response, or pipelined behind one).
        super().on_message_begin()
        # An injected fault may drop the connection (faults.drop_connection).
        extensions: Any = {TRANSPORT_KEY: self.transport}
        self.scope["extensions"] = extensions
        if self._head_deadline is None:
            self._arm_head_deadline()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What follows is the next request's head, counted from here.
        self._in_head, self._head_bytes = True, 0
        if self._in_body:
            self._in_body = False
            if self._body_deadline is not None:
                self._cancel_body_deadline()
                if self.cycle is not None and not self.cycle.response_started:
                    self.cycle.keep_alive = self._keep_alive  # all read before the answer

    def _body_pending(self) -> None:
        """A head was read and its body is still on the way: answer it with the connection
        closed, unless the body is all there before the answer starts; and give it a deadline."""
        cycle = self.cycle
        if cycle is not None:
            self._keep_alive, cycle.keep_alive = cycle.keep_alive, False
        self._body_deadline = self.loop.call_later(self.body_timeout, self._body_too_slow)

    def _cancel_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if not self._in_body or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            # The app did not read it in time (the app answers 408 itself when it reads).
            self.cycle.disconnected = True  # whatever the app answers later goes nowhere
            self._refuse(408, f"The request body did not arrive within {self.body_timeout:g} s")
        else:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"The request is not valid HTTP: {msg}")

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._in_head and not self.transport.is_closing():
            if self._head_bytes:
                self._refuse(408, f"The request head did not arrive within {self.head_timeout:g} s")
            else:
                self.transport.close()  # nothing was asked: nothing to answer

    def _refuse(self, status: int, message: str, code: int = 20001) -> None:
        """Answer Twilio's error body and close: the app never sees the request."""
        if self.transport.is_closing():
            return
        body = error_body(status, code, message)
        headers = {"Twilio-Request-Id": new_request_id()}
        # The path, if the head got that far: no CORS approval on the control surface.
        if not unquote_to_bytes(getattr(self, "url", b"")).startswith(CONTROL_PREFIX.encode()):
            headers |= CORS_HEADERS
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n" % (status, REASONS[status], len(body))
        )
        head += b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())
        self.transport.write(head + b"\r\n" + body)
        self.transport.close()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        log.info("- %d refused before the app (%s): %s", status, client, message)
        self._cancel_head_deadline()


class ProxyFront(GuardedHttpProtocol):
    """A connection to the proxy's port."""

    def __init__(self, *args: Any, authority: CertificateAuthority, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = front_logger
        self.authority = authority
        self._connect: str | None = None  # the target of a CONNECT being answered
        self._tunnel_to: str | None = None  # its host, once accepted

    def on_headers_complete(self) -> None:
        if self.parser.get_method() == b"CONNECT":
            self._in_head = False
            self._cancel_head_deadline()
            self._connect = self.url.decode("latin-1")
            host = hosts.connect_target(self.url)
            if host is None:
                self._refuse(403, hosts.refusal(self.url), code=20403)
            elif self.limit_concurrency is not None and (
                len(self.connections) >= self.limit_concurrency  # uvicorn's rule for a request
            ):
                self._refuse(503, "Too many connections to the fake: retry later", code=20503)
            else:
                self._tunnel_to = host
            return  # uvicorn asks _should_upgrade next, then handle_websocket_upgrade
        try:
            url = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            url = None
        host = None
        if url is not None and url.schema == b"http" and url.host and not url.userinfo:
            host = hosts.served(url.host.decode("ascii", "replace"), url.port, hosts.HTTP_PORT)
        if url is None or host is None:
            self.app = proxy_refusal(hosts.refusal(self.url))
        else:
            self.app = self.config.loaded_app
            # The app sees an origin-form request for the host the client named.
            self.url = (url.path or b"/") + (b"?" + url.query if url.query else b"")
            name_host(self.headers, self.scope, host)
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # What cannot be parsed is refused like any target the proxy does not take.
        self._refuse(403, hosts.refusal(f"a request that is not HTTP ({msg})"), code=20403)

    def _should_upgrade(self) -> bool:
        return self._connect is not None

    def handle_websocket_upgrade(self) -> None:
        """Open the tunnel of an accepted CONNECT (a refused one is answered and closing)."""
        if self._tunnel_to is None or self.transport.is_closing():
            return
        # The next bytes are the TLS handshake, for start_tls. (Bytes a client sent behind the
        # CONNECT head without waiting for the 200 are lost; clients wait, as RFC 9110 9.3.6
        # leads them to.)
        self.transport.pause_reading()
        self.transport.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        task = self.loop.create_task(self._tunnel(self._tunnel_to))
        HANDSHAKES.add(task)
        task.add_done_callback(HANDSHAKES.discard)

    async def _tunnel(self, host: str) -> None:
        raw = self.transport
        inner = Tunnel(
            config=self.config,
            server_state=self.server_state,
            app_state=self.app_state,
            _loop=self.loop,
            host=host,
        )
        try:
            tls = await self.loop.start_tls(
                raw,
                inner,
                self.authority.context_for(host),
                server_side=True,
                ssl_handshake_timeout=self.head_timeout,
                # Closing waits this long at most for the client's close_notify: an idle client
                # that never answers must not hold a shutdown (or a connection slot) for 30 s.
                ssl_shutdown_timeout=self.head_timeout,
            )
        except Exception as error:  # a handshake that failed, timed out or was cut short
            raw.abort()
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
            log.info(
                "- tunnel to %s closed before TLS was established (%s): %s",
                host,
                client,
                type(error).__name__,
            )
            return
        finally:
            # The tunnel's own protocol counts the connection from here (or nothing does).
            self.connections.discard(self)
        if tls is None:  # the transport closed as the handshake finished
            return
        inner.connection_made(tls)


class Tunnel(GuardedHttpProtocol):
    """The HTTP inside a tunnel, after the TLS handshake: the normal listener's, for one host."""

    def __init__(self, *args: Any, host: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host = host

    def on_headers_complete(self) -> None:
        name_host(self.headers, self.scope, self.host)
        super().on_headers_complete()

    def shutdown(self) -> None:
        """The server stops: an idle tunnel is cut at once. A TLS goodbye would wait for the
        client's, and a client with the connection idle in its pool is not reading; a request
        in flight finishes first, as on the normal listener."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()


class ServerWithProxy(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, proxy_socket: socket.socket, authority: CertificateAuthority
    ) -> None:
        super().__init__(config)
        self.proxy_socket = proxy_socket
        self.authority = authority

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit:
            return

        def create_front(_loop: asyncio.AbstractEventLoop | None = None) -> ProxyFront:
            return ProxyFront(
                config=self.config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=_loop,
                authority=self.authority,
            )

        loop = asyncio.get_running_loop()
        proxy = await loop.create_server(
            create_front, sock=self.proxy_socket, backlog=self.config.backlog
        )
        self.servers.append(proxy)


# -- the pins ------------------------------------------------------------------------------------
def pinned_members() -> dict[str, str]:
    """Every pin, "package.module.Class.name": its digest."""
    return {
        f"{module}.{name}": value for module, names in PINS.items() for name, value in names.items()
    }


def member(path: str) -> Any:
    """The library member a pin names ("package.module.Class.name"), as its class holds it
    (a property's getter, a static method's function)."""
    module_name, class_name, name = path.rsplit(".", 2)
    module = importlib.import_module(module_name)
    held = vars(getattr(module, class_name))[name]
    if isinstance(held, property):
        return held.fget
    if isinstance(held, (staticmethod, classmethod)):
        return held.__func__
    return held


def digest(path: str) -> str:
    """The first 16 hex digits of the SHA-256 of a pinned member's source."""
    return hashlib.sha256(inspect.getsource(member(path)).encode()).hexdigest()[:16]


if __name__ == "__main__" and sys.argv[1:] == ["--record-checked-specs"]:
    from twilio_fake import overrides  # the module the app uses, not this __main__ copy

    print(json.dumps(overrides.record_checked_specs(), indent=2))
elif __name__ == "__main__":  # the digests of the installed libraries, to record after a review
    for module_name, names in PINS.items():
        print(f'    "{module_name}": {{')
        for name in names:
            print(f'        "{name}": "{digest(f"{module_name}.{name}")}",')
        print("    },")
