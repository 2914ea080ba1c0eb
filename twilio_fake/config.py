"""Server settings: defaults in one place, overridable by environment variables and CLI options."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from .models import DEFAULT_POOL_LIMIT

ENV_PREFIX = "TWILIO_FAKE_"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"  # loopback only: serving other interfaces is an explicit choice
    port: int = 8080
    database: str = "twilio-fake.sqlite3"  # a SQLite file path, ":memory:", or a SQLAlchemy URL
    fixtures: str | None = None  # a fixture YAML file; None serves the built-in demo
    public_url: str | None = None  # base of the URLs in responses; None: taken from each request
    pool_limit: int = DEFAULT_POOL_LIMIT
    validate_responses: bool = False  # check every response against openapi.yaml (tests: on)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read TWILIO_FAKE_<FIELD> variables, then apply explicit overrides (None is ignored)."""
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _coerce(field.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def _coerce(annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    if kind == "int":
        return int(raw)
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw
