"""Find the changes between two versions of the contract that would break its clients.

A client breaks when something it relies on goes away or when a request it was allowed to send
becomes invalid:
- an operation, a response status, a response field, a required response header disappears;
- a response field changes type or may hold values it could not before (a new enum value);
- a request parameter or body field appears as required, disappears, changes type, or gets a
  tighter constraint (pattern, length, range, enum).
Additions that clients can ignore (new operations, statuses, optional parameters, response
fields) are not breaking. The check is deliberately conservative: any change to a pattern counts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def _paths(spec: dict) -> dict[str, dict]:
    """The spec's path items by the path a client calls: its server's path, then the template
    (`/v1` + `/Services` and `/` + `/v1/Services` are the same operation)."""
    servers = spec.get("servers") or [{"url": "/"}]
    prefix = urlsplit(servers[0].get("url", "/")).path.rstrip("/")
    return {prefix + path: item for path, item in spec.get("paths", {}).items()}


def breaking_changes(old: dict, new: dict) -> list[str]:
    """Return a line for each change from `old` to `new` that breaks clients."""
    problems: list[str] = []
    new_paths = _paths(new)
    for path, old_item in _paths(old).items():
        new_item = new_paths.get(path)
        for method in METHODS:
            if method not in old_item:
                continue
            where = f"{method.upper()} {path}"
            if new_item is None or method not in new_item:
                problems.append(f"{where}: operation removed")
                continue
            problems += _operation(where, old, new, old_item, new_item, method)
    return problems


def _operation(
    where: str, old: dict, new: dict, old_item: dict, new_item: dict, method: str
) -> list[str]:
    problems = []
    old_op, new_op = old_item[method], new_item[method]
    if old_op.get("operationId") != new_op.get("operationId"):
        # Generated clients name their methods after it, and links refer to it.
        problems.append(
            f"{where}: operationId {old_op.get('operationId')} renamed {new_op.get('operationId')}"
        )
    old_params = _parameters(old, old_item, old_op)
    new_params = _parameters(new, new_item, new_op)
    for key, param in old_params.items():
        if key not in new_params:
            problems.append(f"{where}: parameter {key[1]} removed")
        else:
            problems += _request_schema(
                f"{where}: parameter {key[1]}",
                old,
                new,
                param.get("schema", {}),
                new_params[key].get("schema", {}),
            )
    for key, param in new_params.items():
        if key not in old_params and param.get("required"):
            problems.append(f"{where}: new required parameter {key[1]}")
    problems += _request_body(where, old, new, old_op.get("requestBody"), new_op.get("requestBody"))
    for status, old_response in old_op.get("responses", {}).items():
        new_response = new_op.get("responses", {}).get(status)
        if new_response is None:
            problems.append(f"{where}: response {status} removed")
            continue
        problems += _response(
            f"{where} -> {status}",
            old,
            new,
            _resolve(old, old_response),
            _resolve(new, new_response),
        )
    return problems


def _parameters(spec: dict, item: dict, operation: dict) -> dict[tuple[str, str], dict]:
    params = [
        _resolve(spec, p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]
    ]
    return {(p["in"], p["name"]): p for p in params}


def _request_body(where: str, old: dict, new: dict, old_body: Any, new_body: Any) -> list[str]:
    if not old_body:
        return (
            [f"{where}: request body now required"]
            if new_body and _resolve(new, new_body).get("required")
            else []
        )
    if not new_body:
        return [f"{where}: request body removed"]
    old_body, new_body = _resolve(old, old_body), _resolve(new, new_body)
    problems = []
    for media, content in old_body.get("content", {}).items():
        if media not in new_body.get("content", {}):
            problems.append(f"{where}: request media type {media} no longer accepted")
            continue
        problems += _request_schema(
            f"{where}: body",
            old,
            new,
            content.get("schema", {}),
            new_body["content"][media].get("schema", {}),
        )
    return problems


def _request_schema(
    where: str, old: dict, new: dict, old_schema: dict, new_schema: dict
) -> list[str]:
    """What the client sends: the new schema must accept everything the old one did."""
    o, n = _resolve(old, old_schema), _resolve(new, new_schema)
    problems = []
    if o.get("type") != n.get("type"):
        problems.append(f"{where}: type {o.get('type')} -> {n.get('type')}")
    if o.get("pattern") != n.get("pattern") and n.get("pattern") is not None:
        problems.append(f"{where}: pattern {o.get('pattern')!r} -> {n.get('pattern')!r}")
    for key, tighter in (
        ("minLength", max),
        ("maxLength", min),
        ("minimum", max),
        ("maximum", min),
    ):
        if n.get(key) is not None and (o.get(key) is None or tighter(o[key], n[key]) != o[key]):
            problems.append(f"{where}: {key} {o.get(key)} -> {n.get(key)}")
    if "enum" in n and not set(o.get("enum", n["enum"])) <= set(n["enum"]):
        problems.append(
            f"{where}: enum values removed: {sorted(set(o.get('enum', [])) - set(n['enum']))}"
        )
    if (
        o.get("additionalProperties", True) is not False
        and n.get("additionalProperties", True) is False
    ):
        problems.append(f"{where}: additional properties no longer allowed")
    new_required = set(n.get("required", [])) - set(o.get("required", []))
    problems += [f"{where}: new required field {name}" for name in sorted(new_required)]
    for name, prop in o.get("properties", {}).items():
        if name not in n.get("properties", {}):
            problems.append(f"{where}: field {name} removed")
        else:
            problems += _request_schema(f"{where}.{name}", old, new, prop, n["properties"][name])
    return problems


def _response(
    where: str, old: dict, new: dict, old_response: dict, new_response: dict
) -> list[str]:
    problems = []
    for name, header in old_response.get("headers", {}).items():
        if _resolve(old, header).get("required") and not _resolve(
            new, new_response.get("headers", {}).get(name, {})
        ).get("required"):
            problems.append(f"{where}: required header {name} removed")
    for media, content in old_response.get("content", {}).items():
        new_content = new_response.get("content", {}).get(media)
        if new_content is None:
            problems.append(f"{where}: response media type {media} removed")
            continue
        problems += _response_schema(
            where, old, new, content.get("schema", {}), new_content.get("schema", {})
        )
    return problems


def _response_schema(
    where: str, old: dict, new: dict, old_schema: dict, new_schema: dict
) -> list[str]:
    """What the client reads: everything it could rely on must still be there, and no wider."""
    o, n = _resolve(old, old_schema), _resolve(new, new_schema)
    problems = []
    if o.get("type") != n.get("type"):
        problems.append(f"{where}: type {o.get('type')} -> {n.get('type')}")
    if n.get("nullable") and not o.get("nullable"):
        problems.append(f"{where}: may now be null")
    if "enum" in o and not set(n.get("enum", [])) <= set(o["enum"]):
        problems.append(
            f"{where}: new enum values {sorted(set(n.get('enum', [])) - set(o['enum']))}"
        )
    for name in set(o.get("required", [])) - set(n.get("required", [])):
        problems.append(f"{where}: field {name} no longer always present")
    for name, prop in o.get("properties", {}).items():
        if name not in n.get("properties", {}):
            problems.append(f"{where}: field {name} removed")
        else:
            problems += _response_schema(f"{where}.{name}", old, new, prop, n["properties"][name])
    if "items" in o:
        problems += _response_schema(f"{where}[]", old, new, o["items"], n.get("items", {}))
    return problems


def _resolve(spec: dict, node: Any) -> dict:
    """Follow local $refs (#/components/...)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node, seen = target, seen + 1
    return node if isinstance(node, dict) else {}


def major(version: str) -> int:
    return int(version.split(".")[0])
