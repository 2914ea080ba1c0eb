"""Thin HTTP handlers, one module per resource, each with its own table of operations.

This package is installed as `twilio_fake.handlers`. Every module here whose name does not start
with an underscore has an `OPERATIONS` dict, operationId (as in openapi.yaml and control.yaml)
-> handler; `operations()` merges them for the app's resolver. Adding a resource is adding a
module: no central list to keep in step. An operationId with no handler stops the server at
start-up, and so does one claimed by two modules.

Connexion has routed, authenticated and validated a request before a handler runs; the handler
shapes the answer and leaves the rules to the resource's model (twilio_fake.resources).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any


def operations() -> dict[str, Callable[..., Any]]:
    """operationId -> handler, from every handler module of this package."""
    found: dict[str, Callable[..., Any]] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        table = importlib.import_module(f"{__name__}.{module.name}").OPERATIONS
        for operation_id, handler in table.items():
            if operation_id in found:
                raise ValueError(f"operationId {operation_id!r} has handlers in two modules")
            found[operation_id] = handler
    return found
