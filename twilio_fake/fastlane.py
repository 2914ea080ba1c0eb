"""The fast lane: plainly valid API requests served without connexion's per-request machinery.

Connexion stays the reference. It routes, authenticates, validates and renders every request of
openapi.yaml, and it alone answers every error of routing, credentials or parameters. But its
nine middleware layers, the per-request request objects and the thread pool hop cost far more
than the work itself: with a handler that does nothing it tops out near 3,500 fetches a second
per process on this machine (see the Speed section of the README).

So this middleware, in front of connexion and behind EdgeMiddleware, compiles once at start-up
and from the same specs (openapi.yaml, and control.yaml, whose operations need no credentials)
what a request of each operation must look like: the path template, each parameter's schema,
the form body, HTTP Basic. A request that matches all of it
exactly is served here, by the operation's own handler (the spec's operationId) with the
arguments connexion would pass it. Anything else, such as a parameter out of range, an unknown or
repeated key, missing or wrong credentials, another content type, or a body over the limit, goes
on to connexion untouched (the body replayed if it was read). The lane only ever takes a subset
of what connexion accepts, so every error answer is still connexion's.

An operation whose parameters use a schema keyword this module cannot check completely is left
to connexion entirely (`Unsupported`); `FastLane.operations` says which were compiled.
The errors a handler raises (Twilio's rules: not found, already in a pool, pool full) are
rendered from the same parts as on connexion's path (http_errors).

Handlers run here on the event loop, writes included: each is a few compiled statements well
under a tenth of a millisecond, less than a hop to a thread would cost. GET answers may come
from the ReadCache, which is exact (see there).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import importlib
import inspect
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import http_errors
from .edge import replaying
from .exceptions import RequestTimeout, TwilioError
from .models import Backend

log = logging.getLogger(__name__)

INVALID = object()  # what a value parser returns for a value it does not take

# Schema keywords a parameter may use and still be checked here. Anything else (formats, allOf,
# exclusive bounds...) leaves the operation to connexion.
_CHECKED = {"type", "pattern", "minLength", "maxLength", "minimum", "maximum", "enum", "default"}
_DOCUMENTATION = {"description", "example", "examples", "title"}

# Characters a query string or form body may hold to be taken here. Anything rarer (non-ASCII,
# `;`, control characters) is connexion's to judge; percent-encoded forms of them are decoded
# and then checked against the schema like any value.
_PLAIN = re.compile(rb"[A-Za-z0-9_.~%+=&\-]*")
_FORM = "application/x-www-form-urlencoded"


class Unsupported(Exception):
    """The spec asks for a check this module does not make: connexion keeps the operation."""


def value_parser(schema: dict[str, Any]) -> Callable[[str], Any]:
    """Compile a parameter schema into a function from the raw string to its value (or INVALID).

    The checks are JSON Schema's, as connexion applies them: `pattern` is searched, lengths
    count characters. Integers are taken in plain decimal only; any other spelling is left to
    connexion's coercion.
    """
    unknown = set(schema) - _CHECKED - _DOCUMENTATION
    if unknown:
        raise Unsupported(f"schema keywords {sorted(unknown)}")
    enum = schema.get("enum")
    if schema.get("type") == "string":
        pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength")

        def parse_string(raw: str) -> Any:
            if not raw.isprintable() or len(raw) < shortest:
                return INVALID
            if longest is not None and len(raw) > longest:
                return INVALID
            if pattern is not None and not pattern.search(raw):
                return INVALID
            if enum is not None and raw not in enum:
                return INVALID
            return raw

        return parse_string
    if schema.get("type") == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")

        def parse_integer(raw: str) -> Any:
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
                return INVALID
            value = int(raw)
            if (low is not None and value < low) or (high is not None and value > high):
                return INVALID
            if enum is not None and value not in enum:
                return INVALID
            return value

        return parse_integer
    raise Unsupported(f"parameter type {schema.get('type')!r}")


@dataclass
class Parameter:
    parse: Callable[[str], Any]
    required: bool
    default: Any = INVALID  # INVALID: none; the handler's own default applies


@dataclass
class Operation:
    """What one operation of the spec accepts, compiled; and the handler that serves it."""

    operation_id: str
    method: str
    path: re.Pattern[str]
    path_parameters: dict[str, Callable[[str], Any]]
    query: dict[str, Parameter]
    handler: Callable[..., Any]
    handler_arguments: frozenset[str]
    form_name: str | None = None  # the handler argument the form body goes to (x-body-name)
    form: dict[str, Parameter] = field(default_factory=dict)
    authenticated: bool = True  # HTTP Basic required
    responses: dict[int, Any] = field(default_factory=dict)  # --validate-responses: validators


def compile_operations(
    spec: dict[str, Any], context_names: set[str], *, validate_responses: bool = False
) -> list[Operation]:
    """Compile every operation of the spec that the lane can take (HTTP Basic or no security)."""
    base_path = spec["servers"][0]["url"]
    document = resolve_refs(spec)
    security_schemes = document.get("components", {}).get("securitySchemes", {})
    operations = []
    for template, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method, definition in item.items():
            if method not in {"get", "post", "delete", "put", "patch"}:
                continue
            try:
                operation = _compile(
                    base_path + template,
                    method.upper(),
                    definition,
                    shared,
                    document.get("security", []),
                    security_schemes,
                    context_names,
                )
            except Unsupported as why:
                log.debug("fast lane: %s %s stays with connexion (%s)", method, template, why)
                continue
            if validate_responses:
                operation.responses = _response_validators(definition)
            operations.append(operation)
    return operations


def resolve_refs(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document with every local `$ref` replaced by what it points to."""

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target: Any = document
                for part in node["$ref"].removeprefix("#/").split("/"):
                    target = target[part.replace("~1", "/").replace("~0", "~")]
                return resolve(target)
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(copy.deepcopy(document))


def _response_validators(definition: dict[str, Any]) -> dict[int, Any]:
    """For --validate-responses: each success status and its body's validator (or None)."""
    from connexion.json_schema import Draft4ResponseValidator  # connexion's own, as it checks

    validators = {}
    for status, response in definition.get("responses", {}).items():
        if str(status).isdigit() and 200 <= int(status) < 300:
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            validators[int(status)] = Draft4ResponseValidator(schema) if schema else None
    return validators


def _compile(
    template: str,
    method: str,
    definition: dict[str, Any],
    shared: list[dict[str, Any]],
    default_security: list[dict[str, Any]],
    security_schemes: dict[str, Any],
    context_names: set[str],
) -> Operation:
    security = definition.get("security", default_security)
    if security:  # none at all: open to anyone (the control surface)
        if len(security) != 1 or len(security[0]) != 1:
            raise Unsupported("only one HTTP Basic requirement is checked here")
        scheme = security_schemes[next(iter(security[0]))]
        if scheme.get("type") != "http" or scheme.get("scheme", "").lower() != "basic":
            raise Unsupported("only HTTP Basic is checked here")

    parameters = {(p["name"], p["in"]): p for p in [*shared, *definition.get("parameters", [])]}
    path_parameters: dict[str, Callable[[str], Any]] = {}
    query: dict[str, Parameter] = {}
    for (name, where), parameter in parameters.items():
        schema = parameter.get("schema", {})
        parse = value_parser(schema)
        if where == "path":
            path_parameters[name] = parse
        elif where == "query":
            query[name] = Parameter(
                parse, parameter.get("required", False), schema.get("default", INVALID)
            )
        else:
            raise Unsupported(f"{where} parameters")
    regex = re.escape(template)
    for name in path_parameters:
        regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
    if "{" in regex:
        raise Unsupported("a path template names a parameter it does not declare")

    form_name, form = None, {}
    if "requestBody" in definition:
        form_name, form = _compile_form(definition["requestBody"])

    module_name, _, function_name = definition["operationId"].rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    signature = inspect.signature(handler)
    supplied = {*path_parameters, *query, *context_names, *([form_name] if form_name else [])}
    for name, argument in signature.parameters.items():
        if name not in supplied and argument.default is inspect.Parameter.empty:
            raise Unsupported(f"the handler's argument {name} is not known here")

    return Operation(
        operation_id=definition["operationId"],
        method=method,
        path=re.compile(regex),
        path_parameters=path_parameters,
        query=query,
        handler=handler,
        handler_arguments=frozenset(signature.parameters),
        form_name=form_name,
        form=form,
        authenticated=bool(security),
    )


def _compile_form(body: dict[str, Any]) -> tuple[str, dict[str, Parameter]]:
    content = body.get("content", {})
    if list(content) != [_FORM]:
        raise Unsupported("request bodies other than one form")
    schema = content[_FORM].get("schema", {})
    if set(schema) - {"type", "required", "properties", "additionalProperties"} - _DOCUMENTATION:
        raise Unsupported("form schema keywords")
    required = set(schema.get("required", []))
    form = {}
    for name, property_schema in schema.get("properties", {}).items():
        if property_schema.get("type") != "string":
            raise Unsupported("form fields other than strings")
        form[name] = Parameter(value_parser(property_schema), name in required)
    return body.get("x-body-name", "body"), form


def _fields(raw: bytes, declared: dict[str, Parameter]) -> dict[str, Any] | None:
    """Parse a query string or form body; None unless every key is declared, once, and valid."""
    if not _PLAIN.fullmatch(raw):
        return None
    values: dict[str, Any] = {}
    for name, text in parse_qsl(raw.decode("ascii"), keep_blank_values=True):
        parameter = declared.get(name)
        if parameter is None or name in values:
            return None
        value = parameter.parse(text)
        if value is INVALID:
            return None
        values[name] = value
    for name, parameter in declared.items():
        if name not in values:
            if parameter.required:
                return None
            if parameter.default is not INVALID:
                values[name] = parameter.default
    return values


def _credentials(scope: Scope) -> tuple[str, str] | None:
    """The user name and password of an HTTP Basic header in plain ASCII, else None."""
    authorization = _header(scope, b"authorization")
    if authorization is None or authorization[:6].lower() != b"basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:], validate=True)
    except (binascii.Error, ValueError):
        return None
    if not decoded.isascii() or b":" not in decoded:
        return None
    username, password = decoded.decode("ascii").split(":", 1)
    return username, password


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    found = None
    for name, value in scope["headers"]:
        if name == wanted:
            if found is not None:
                return None
            found = value
    return found


class ReadCache:
    """The answers of GET operations, kept for as long as the data is unchanged.

    A list page of fifty is two thirds rendering and JSON; a CI job that polls a pool asks for
    the same page again and again. An answer is kept under the database's version
    (Database.version, read before the data), and all of them are dropped when it changes:
    any commit, by any worker or thread. The key holds everything an answer depends on: the
    operation, the account, the base URL and every argument. Only answers of 200 are kept, at
    most `budget` characters of them (8 MB: some four hundred pages of fifty), oldest out first.
    """

    def __init__(self, budget: int = 8 * 1024 * 1024) -> None:
        self.budget = budget
        self.version: Any = None
        self.size = 0
        self.hits = 0
        self.answers: dict[tuple[Any, ...], tuple[int, str | None]] = {}

    def get(self, version: Any, key: tuple[Any, ...]) -> tuple[int, str | None] | None:
        if version is None:
            return None
        if version != self.version:
            self.answers.clear()
            self.size = 0
            self.version = version
            return None
        answer = self.answers.get(key)
        self.hits += answer is not None
        return answer

    def put(self, version: Any, key: tuple[Any, ...], answer: tuple[int, str | None]) -> None:
        status, body = answer
        size = len(body or "")
        if version is None or version != self.version or status != 200 or size > self.budget:
            return
        if key in self.answers:
            return
        while self.answers and self.size + size > self.budget:
            oldest = next(iter(self.answers))
            self.size -= len(self.answers.pop(oldest)[1] or "")
        self.answers[key] = answer
        self.size += size


class FastLane:
    """Serve what connexion would accept for the compiled operations; pass on everything else."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        documents: list[dict[str, Any]],
        backend: Backend,
        max_body_bytes: int,
        body_timeout: float,
        validate_responses: bool = False,
        read_cache: bool = True,
    ) -> None:
        self.app = app
        self.backend = backend
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.validate_responses = validate_responses
        self.operations = [
            operation
            for spec in documents
            for operation in compile_operations(
                spec, {"user", "backend", "base_url"}, validate_responses=validate_responses
            )
        ]
        self.cache = ReadCache() if read_cache else None
        self.served = 0  # requests answered here, for tests and curious operators

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = self._match(scope)
        if match is None:
            await self.app(scope, receive, send)
            return
        operation, path_values = match
        arguments = self._arguments(scope, operation, path_values)
        if arguments is None:
            await self.app(scope, receive, send)
            return
        body = b""
        if operation.form_name is not None:
            body = await self._read_form(scope, receive, send)
            if body is None:
                return  # answered (408) or the client left
            form = _fields(body, operation.form)
            if form is None or not body:
                await self.app(scope, replaying(body, receive), send)
                return
            arguments[operation.form_name] = form
        elif _header(scope, b"content-length") not in (None, b"0") or _header(
            scope, b"transfer-encoding"
        ):
            await self.app(scope, receive, send)  # a body where none is expected
            return
        account = None
        if operation.authenticated:
            credentials = _credentials(scope)
            account = self.backend.authenticate(*credentials) if credentials else None
            if account is None:
                await self.app(scope, replaying(body, receive), send)
                return
        self.served += 1
        await self._serve(scope, send, operation, arguments, account)

    def _match(self, scope: Scope) -> tuple[Operation, dict[str, Any]] | None:
        path, method = scope["path"], scope["method"]
        for operation in self.operations:
            if operation.method != method:
                continue
            found = operation.path.fullmatch(path)
            if found is None:
                continue
            values = {}
            for name, raw in found.groupdict().items():
                value = operation.path_parameters[name](raw)
                if value is INVALID:
                    return None
                values[name] = value
            return operation, values
        return None

    @staticmethod
    def _arguments(
        scope: Scope, operation: Operation, path_values: dict[str, Any]
    ) -> dict[str, Any] | None:
        query = _fields(scope.get("query_string", b""), operation.query)
        return None if query is None else {**path_values, **query}

    async def _read_form(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """Read a declared-length form body; None once answered. Odd bodies come back as b""."""
        content_type = (_header(scope, b"content-type") or b"").lower()
        length = _header(scope, b"content-length")
        if (
            content_type not in (_FORM.encode(), _FORM.encode() + b"; charset=utf-8")
            or length is None
            or not length.isdigit()
            or not 0 < int(length) <= self.max_body_bytes
        ):
            return b""  # connexion answers it (415, 413, a missing body...)
        chunks = []
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        # The client left mid-body: answered (and logged) as connexion's path
                        # answers it, though nobody reads it.
                        await self._send(scope, send, http_errors.cut_short())
                        return None
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            error = RequestTimeout(
                f"The request body did not arrive within {self.body_timeout:g} seconds"
            )
            await self._send(scope, send, error)
            return None
        return b"".join(chunks)

    async def _serve(
        self,
        scope: Scope,
        send: Send,
        operation: Operation,
        arguments: dict[str, Any],
        account: str | None,  # None: an operation open to anyone
    ) -> None:
        context = scope["extensions"]["connexion_context"]
        context["user"] = account
        key = version = None
        if operation.method == "GET" and self.cache is not None:
            version = self.backend.db.version()  # read before the data, so never newer than it
            key = (operation.operation_id, account, context["base_url"], *sorted(arguments.items()))
            cached = self.cache.get(version, key)
            if cached is not None:
                await self._send_answer(scope, send, *cached)
                return
        available = {**context, **arguments}
        kwargs = {k: v for k, v in available.items() if k in operation.handler_arguments}
        try:
            result = operation.handler(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            status, body = self._answer(operation, result)
        except TwilioError as error:
            await self._send(scope, send, error)
            return
        except Exception as error:  # noqa: BLE001 - every failure leaves as Twilio's 500
            await self._send(scope, send, http_errors.unexpected(Request(scope), error))
            return
        if self.cache is not None and key is not None:
            self.cache.put(version, key, (status, body))
        await self._send_answer(scope, send, status, body)

    def _answer(self, operation: Operation, result: Any) -> tuple[int, str | None]:
        """The status and body connexion would send for what the handler returned."""
        data, status = (result if isinstance(result, tuple) else (result, None))[:2]
        status = status or (204 if data is None else 200)
        if self.validate_responses:
            self._check(operation, status, data)
        return status, None if data is None else dumps(data)

    @staticmethod
    async def _send_answer(scope: Scope, send: Send, status: int, body: str | None) -> None:
        # As connexion builds it (connexion.frameworks.starlette): a plain Response, typed JSON.
        response = Response(body, status_code=status, media_type="application/json")
        await response(scope, _no_receive, send)

    @staticmethod
    def _check(operation: Operation, status: int, data: Any) -> None:
        """Check the response against openapi.yaml, as connexion does with validate_responses."""
        if status not in operation.responses:
            raise RuntimeError(f"{operation.operation_id} answered {status}, not in openapi.yaml")
        validator = operation.responses[status]
        error = None if validator is None else next(iter(validator.iter_errors(data)), None)
        if error is not None:
            raise RuntimeError(f"response does not match openapi.yaml: {error.message}")

    @staticmethod
    async def _send(scope: Scope, send: Send, error: TwilioError) -> None:
        await http_errors.respond(error)(scope, _no_receive, send)


def dumps(data: Any) -> str:
    """JSON as connexion's Jsonifier(json) writes it (for the types handlers return)."""
    return json.dumps(data) + "\n"


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
