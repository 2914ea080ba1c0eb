"""What the kit reads from the contract it carries (openapi.yaml): URLs, names and headers.

Nothing about the pool's URLs is written in the kit's code: each operation is found by its
operationId, and its URL is the first server's path joined with the operation's path template.
That holds whether the contract says `servers: [/v1]` with paths `/Services/…`, or
`servers: [/]` with paths `/v1/Services/…`. Parameter names come from the same place.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
TEMPLATE = re.compile(r"\{([^}/]+)\}")


class ContractError(RuntimeError):
    """The contract the kit carries lacks something the kit needs (a renamed operation…)."""


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # the full path template, the server's base path included
    definition: dict[str, Any]

    @property
    def path_parameters(self) -> list[str]:
        """The path's placeholders, in the order they appear."""
        return TEMPLATE.findall(self.path)

    def url(self, base: str, **values: str) -> str:
        return base.rstrip("/") + TEMPLATE.sub(lambda m: values[m.group(1)], self.path)

    def matches(self, method: str, path: str) -> bool:
        parts = TEMPLATE.split(self.path)  # literal, placeholder, literal, …
        pattern = "".join(re.escape(p) if i % 2 == 0 else "[^/]+" for i, p in enumerate(parts))
        return method.upper() == self.method and re.fullmatch(pattern, path) is not None


class Contract:
    """The parsed openapi.yaml, and lookups over it."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        servers = spec.get("servers") or [{"url": "/"}]
        self.base_path = urlsplit(servers[0]["url"]).path.rstrip("/")
        self.operations: dict[str, Operation] = {}
        for path, item in spec.get("paths", {}).items():
            for method in METHODS:
                if method in item and "operationId" in item[method]:
                    op = item[method]
                    self.operations[op["operationId"]] = Operation(
                        op["operationId"], method.upper(), self.base_path + path, op
                    )

    def operation(self, operation_id: str) -> Operation:
        try:
            return self.operations[operation_id]
        except KeyError:
            raise ContractError(f"the contract has no operation {operation_id}") from None

    def operation_for(self, method: str, path: str) -> Operation | None:
        """The operation a request goes to, if the contract names one."""
        return next((op for op in self.operations.values() if op.matches(method, path)), None)

    def resolve(self, node: Any) -> Any:
        """Follow local $refs (#/components/…)."""
        for _ in range(32):
            if not (isinstance(node, dict) and "$ref" in node):
                return node
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def query_parameter(self, operation_id: str, name: str) -> str:
        """`name`, once checked to be a query parameter the operation declares."""
        op = self.operation(operation_id)
        declared = {
            p["name"]
            for p in map(self.resolve, op.definition.get("parameters", []))
            if p.get("in") == "query"
        }
        if name not in declared:
            raise ContractError(f"{operation_id} declares no query parameter {name}")
        return name

    def form_fields(self, operation_id: str) -> list[str]:
        """The required form fields of an operation's body, in the order they are declared."""
        body = self.resolve(self.operation(operation_id).definition.get("requestBody", {}))
        content = body.get("content", {}).get("application/x-www-form-urlencoded", {})
        schema = self.resolve(content.get("schema", {}))
        return list(schema.get("required", []))

    def response_headers(self, operation: Operation, status: int) -> list[str]:
        """The headers the contract names for a response (any status of it when undeclared)."""
        responses = operation.definition.get("responses", {})
        chosen = responses.get(str(status)) or responses.get("default")
        candidates = [chosen] if chosen else list(responses.values())
        names: list[str] = []
        for response in candidates:
            for name in self.resolve(response).get("headers", {}):
                if name not in names:
                    names.append(name)
        return names


@functools.cache
def bundled() -> Contract:
    """The contract the kit carries."""
    text = resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")
    # libyaml's loader where PyYAML has it: 0.02 s of CPU for the contract, the pure-Python
    # one 0.2 s.
    return Contract(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


@dataclass(frozen=True)
class Pool:
    """The pool's operations and the names they use, as the contract gives them."""

    create: Operation
    list: Operation
    fetch: Operation
    delete: Operation
    number_field: str  # the create form's field that names the phone number
    page_size: str
    page_token: str

    @classmethod
    def from_contract(cls, contract: Contract) -> Pool:
        fields = contract.form_fields("CreatePhoneNumber")
        if len(fields) != 1:
            raise ContractError(f"CreatePhoneNumber should require one form field, not {fields}")
        fetch = contract.operation("FetchPhoneNumber")
        listing = contract.operation("ListPhoneNumber")
        if len(fetch.path_parameters) != len(listing.path_parameters) + 1:
            raise ContractError("FetchPhoneNumber's path should be the list's plus one SID")
        return cls(
            contract.operation("CreatePhoneNumber"),
            listing,
            fetch,
            contract.operation("DeletePhoneNumber"),
            fields[0],
            contract.query_parameter("ListPhoneNumber", "PageSize"),
            contract.query_parameter("ListPhoneNumber", "PageToken"),
        )

    @property
    def service_parameter(self) -> str:
        """The list path's placeholder for the service (its last one)."""
        return self.list.path_parameters[-1]

    @property
    def entry_parameter(self) -> str:
        """The fetch path's placeholder for the entry (its last one)."""
        return self.fetch.path_parameters[-1]

    def url(self, base: str, service: str, sid: str | None = None) -> str:
        if sid is None:
            return self.list.url(base, **{self.service_parameter: service})
        return self.fetch.url(base, **{self.service_parameter: service, self.entry_parameter: sid})


@functools.cache
def pool() -> Pool:
    return Pool.from_contract(bundled())


def form_field(contract: Contract, operation_id: str, name: str) -> str:
    """`name`, once checked to be a form field the operation's body declares."""
    body = contract.resolve(contract.operation(operation_id).definition.get("requestBody", {}))
    content = body.get("content", {}).get("application/x-www-form-urlencoded", {})
    schema = contract.resolve(content.get("schema", {}))
    if name not in schema.get("properties", {}):
        raise ContractError(f"{operation_id} declares no form field {name}")
    return name


@dataclass(frozen=True)
class Resource:
    """One resource's operations (create, list, fetch, update, delete) by operationId.

    A resource's list path and item path share their placeholders but the item's last one (its
    SID); `owner` fills the others (the account, for the 2010 API).
    """

    create: Operation
    list: Operation
    fetch: Operation
    update: Operation
    delete: Operation
    list_key: str  # the key of the list in a page's body

    @classmethod
    def from_contract(cls, contract: Contract, name: str, list_key: str) -> Resource:
        create, listing, fetch, update, delete = (
            contract.operation(f"{verb}{name}")
            for verb in ("Create", "List", "Fetch", "Update", "Delete")
        )
        if len(fetch.path_parameters) != len(listing.path_parameters) + 1:
            raise ContractError(f"Fetch{name}'s path should be the list's plus one SID")
        return cls(create, listing, fetch, update, delete, list_key)

    def url(self, base: str, sid: str | None = None, **owner: str) -> str:
        if sid is None:
            return self.list.url(base, **owner)
        return self.fetch.url(base, **{**owner, self.fetch.path_parameters[-1]: sid})

    def field(self, verb: str, name: str) -> str:
        """A form field of the create or update operation, checked against the contract."""
        op = self.create if verb == "create" else self.update
        return form_field(bundled(), op.operation_id, name)


@functools.cache
def services() -> Resource:
    return Resource.from_contract(bundled(), "Service", "services")


@functools.cache
def incoming_numbers() -> Resource:
    return Resource.from_contract(bundled(), "IncomingPhoneNumber", "incoming_phone_numbers")


@functools.cache
def available_local() -> Operation:
    return bundled().operation("ListAvailablePhoneNumberLocal")


@functools.cache
def messages() -> Resource:
    return Resource.from_contract(bundled(), "Message", "messages")
