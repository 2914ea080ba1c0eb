"""The specs the fake serves, read once, and what the code takes from them.

`openapi.yaml` (the contract) and `control.yaml` (the fake's own surface) are package resources.
Routing, validation and docs come from them through connexion; the few things the code itself
needs to know (limits and defaults, the path of an operation, how Twilio names a resource in a
404) are read from them here, so that nothing the spec says is written again in Python.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import resources
from typing import Any

import yaml

CONTRACT = "openapi.yaml"  # the contract: Twilio's resources
CONTROL = "control.yaml"  # the fake's own control surface, /_fake
SPECS = (CONTRACT, CONTROL)
# Where the fake serves the contract and its interactive docs (connexion's Swagger UI).
CONTRACT_PATH = "/openapi.json"
DOCS_PATH = "/docs"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


class SpecError(Exception):
    """A spec that cannot be served: it does not load, or an operation resolves to no handler."""


@functools.cache
def document(name: str) -> dict[str, Any]:
    """A spec packaged with the fake, parsed once per process; nobody changes it."""
    try:
        text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        parsed = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SpecError(f"{name} cannot be read: {first_line(error)}") from error
    if not isinstance(parsed, dict) or not isinstance(parsed.get("paths"), dict):
        raise SpecError(f"{name} is not an OpenAPI document (no paths)")
    return parsed


def contract() -> dict[str, Any]:
    return document(CONTRACT)


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every operation of a spec: (path template, method, operation)."""
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS and isinstance(operation, dict):
                yield path, method, operation


def operation_ids(spec: dict[str, Any]) -> list[str]:
    return [op["operationId"] for _, _, op in operations(spec) if "operationId" in op]


@functools.cache
def _paths_by_operation(name: str) -> dict[str, str]:
    return {op["operationId"]: path for path, _, op in operations(document(name))}


def path_template(operation_id: str, name: str = CONTRACT) -> str:
    """The path of one of a spec's operations, as the spec writes it."""
    return _paths_by_operation(name)[operation_id]


def limit(name: str, name_of_spec: str = CONTRACT) -> int:
    """A limit of the fake's, from a spec's `x-limits` (the contract's: pool size, per-account
    caps…; the control surface's: accounts held, a mint's batch)."""
    return int(document(name_of_spec)["x-limits"][name])


def page_size_default() -> int:
    """The page size of a list when the client gives none (the PageSize parameter's default)."""
    return int(_component("parameters", "PageSize")["schema"]["default"])


def page_size_cap() -> int:
    """The most entries one page holds, whatever PageSize asks: a page's declared maximum."""
    return int(_component("schemas", "PageMeta")["properties"]["page_size"]["maximum"])


def resource_name_prefixes() -> tuple[str, ...]:
    """Path prefixes Twilio leaves out when a 404 names the resource (`/v1`: "The requested
    resource /Services/MG… was not found"); the 2010-04-01 API keeps its own."""
    return tuple(contract().get("x-not-found-names-without", ()))


def page_needs_a_token(operation_id: str) -> bool:
    """Whether a list refuses a `Page` above 0 asked for without a `PageToken`: its `Page`
    parameter says so (`x-needs-a-token-past-the-first-page`, the 2010-04-01 API's lists)."""
    path, method = _operations_by_id()[operation_id]
    item = contract()["paths"][path]
    for parameter in item.get("parameters", []) + item[method].get("parameters", []):
        if "$ref" in parameter:
            parameter = _component("parameters", parameter["$ref"].rsplit("/", 1)[1])
        if parameter.get("in") == "query" and parameter.get("name") == "Page":
            return bool(parameter.get("x-needs-a-token-past-the-first-page"))
    return False


@functools.cache
def _operations_by_id() -> dict[str, tuple[str, str]]:
    return {op["operationId"]: (path, method) for path, method, op in operations(contract())}


def authentication_failed_message(path: str) -> str | None:
    """Twilio's 401 message on the API `path` belongs to, where it has one of its own (the
    contract's `x-authentication-failed-messages`: the 2010-04-01 API's "Authenticate")."""
    for prefix, message in contract().get("x-authentication-failed-messages", {}).items():
        if path.startswith(prefix + "/"):
            return str(message)
    return None


def control_default(schema: str, field: str) -> Any:
    """A default of the control surface (control.yaml), e.g. the size of a minted account."""
    return document(CONTROL)["components"]["schemas"][schema]["properties"][field]["default"]


def _component(section: str, name: str) -> dict[str, Any]:
    return contract()["components"][section][name]


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
