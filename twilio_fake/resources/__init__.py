"""The resources the fake serves, one package each: tables, rules (model.py) and errors.

Importing this package imports every resource package in it, so that their tables are on
`db.metadata` before the schema is created. A package that takes part in fixture documents
(services, incoming numbers) has a `load_fixtures(conn, account, now)` that writes the account's
entries inside the loading transaction. Nothing here lists the resources by name: adding one is
adding its package.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

PACKAGES: list[ModuleType] = [
    importlib.import_module(f"{__name__}.{module.name}")
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    if module.ispkg
]


def fixture_loaders() -> list[Callable[..., Any]]:
    """Each resource's `load_fixtures`, in the packages' order (by name)."""
    return [p.load_fixtures for p in PACKAGES if hasattr(p, "load_fixtures")]
