"""Connexion's request validators, with messages phrased as Twilio phrases them.

They are plugged in through connexion's `validator_map`, so validation itself stays connexion's
(driven by openapi.yaml); only the wording of the errors changes, and every message names the
parameter at fault.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, UnsupportedMediaTypeProblem
from connexion.utils import is_null, is_nullable
from connexion.validators import VALIDATOR_MAP as CONNEXION_VALIDATORS
from connexion.validators import (
    FormDataValidator,
    JSONRequestBodyValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, ValidationError
from starlette.datastructures import FormData, Headers, QueryParams
from starlette.formparsers import FormParser, MultiPartException
from starlette.types import Receive, Scope


def _first_line(message: str) -> str:
    return message.split("\n", 1)[0]


SHOWN_VALUE = 64  # characters of a refused value that an error message repeats


def _message(error: ValidationError) -> str:
    """jsonschema's message, first line, with the value at fault shown up to SHOWN_VALUE
    characters: a 60 KB FriendlyName is refused without being echoed back whole."""
    message = error.message
    shown = repr(error.instance)
    if len(shown) > SHOWN_VALUE and shown in message:
        message = message.replace(shown, shown[: SHOWN_VALUE - 3] + "...", 1)
    return _first_line(message)


def _repeated(pairs: list[tuple[str, Any]], declared: set[str]) -> str | None:
    """Return the first declared name given more than once, if any (others are ignored)."""
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen and name in declared:
            return name
        seen.add(name)
    return None


class TwilioParameterValidator(ParameterValidator):
    """Path and query parameters. A parameter given twice is refused rather than guessed at.

    Each parameter's schema is compiled once, when connexion builds the operation, into the same
    Draft 4 validator (and format checker) connexion's own `validate_parameter` would build for
    every value: building it per request was a fifth of a request's time.
    """

    def __init__(self, parameters: list[dict], *args: Any, **kwargs: Any) -> None:
        super().__init__(parameters, *args, **kwargs)
        self._compiled = {
            id(param): (param, _compile(param.get("schema", param))) for param in parameters
        }
        self._declared_query = {param["name"] for param in parameters if param["in"] == "query"}

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
        kept, validator = self._compiled.get(id(param), (None, None))
        if kept is not param or validator is None:  # not one of this operation's parameters
            validator = _compile(param.get("schema", param))
        error = next(iter(validator.iter_errors(value)), None)
        if error is None:
            return None
        return f"Invalid {parameter_type} parameter {param['name']}: {_message(error)}"


def _compile(schema: dict) -> Draft4Validator:
    return Draft4Validator(copy.deepcopy(schema), format_checker=Draft4Validator.FORMAT_CHECKER)


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
        if has_body and "content-type" not in headers:
            # Connexion would validate the body as a guessed form, then hand the handler raw
            # bytes: a body must say what it is.
            raise UnsupportedMediaTypeProblem(detail="no Content-Type")
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
    """JSON bodies (the control surface's fixtures): a body nested past Python's recursion limit,
    or not UTF-8, is a 400 like any unreadable body, not a failure of the server."""

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        try:
            return await super()._parse(stream, scope)
        except RecursionError:
            raise BadRequestProblem(detail="The JSON body is nested too deeply") from None
        except UnicodeDecodeError:
            raise BadRequestProblem(detail="The JSON body is not UTF-8") from None


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
