"""Server settings: defaults in one place, overridable by environment variables and CLI options."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from .db import DEFAULT_TIMEOUT

ENV_PREFIX = "TWILIO_FAKE_"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"  # loopback only: serving other interfaces is an explicit choice
    port: int = 8080
    database: str = "twilio-fake.sqlite3"  # a SQLite file path, ":memory:", or a SQLAlchemy URL
    fixtures: str | None = None  # a fixture YAML file; None serves the built-in demo
    public_url: str | None = None  # base of the URLs in responses; None: taken from each request
    pool_limit: int | None = None  # phone numbers per service; None: the contract's (x-limits)
    validate_responses: bool = False  # check every response against openapi.yaml (tests: on)
    workers: int = 1  # server processes sharing the database (SQLite file in WAL mode)
    max_body_bytes: int = 65536  # larger request bodies get 413; this API's bodies are tiny
    body_timeout: float = 10.0  # seconds a request body may take to arrive, else 408
    head_timeout: float = 10.0  # seconds a connection may take to send a whole request head
    # Seconds a read (and health) may wait for the database before answering 503; on
    # PostgreSQL, also the connect timeout.
    database_timeout: float = DEFAULT_TIMEOUT
    max_head_bytes: int = 65536  # larger request heads (line and headers) get 431
    max_connections: int = 1000  # beyond it, requests are refused with 503 until some close
    keep_alive: float = 5.0  # seconds an idle keep-alive connection is kept open
    # Host names requests may name, comma-separated, besides loopback's; "*" turns the check
    # off. Checked when bound to loopback (DNS rebinding), or when any are given.
    allowed_hosts: str | None = None
    control_token: str | None = None  # required by /_fake/* (all but health) when set
    journal_size: int = 1000  # requests the journal (/_fake/requests) keeps; 0 turns it off
    # The proxy for clients that cannot be given a base URL (twilio_fake.proxy): its port (0: a
    # free one; None: no proxy), and the directory of its CA (None: beside the database).
    proxy_port: int | None = None
    proxy_ca: str | None = None
    # Hosts webhooks (status callbacks, inbound messages) may be sent to, comma-separated; None:
    # loopback's names (localhost, 127.0.0.1, ::1). Nothing else is ever connected to.
    callback_hosts: str | None = None
    callback_timeout: float = 15.0  # seconds a webhook's whole exchange may take

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read TWILIO_FAKE_<FIELD> variables, then apply explicit overrides (None is ignored).

        A variable that an override replaces is not read, so a bad one does not matter.
        """
        environ = dict(os.environ) if environ is None else environ
        overrides = {name: value for name, value in overrides.items() if value is not None}
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name in overrides:
                continue
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                try:
                    values[field.name] = _coerce(field.type, raw)
                except ValueError:
                    variable = ENV_PREFIX + field.name.upper()
                    kind = str(field.type).removesuffix(" | None")
                    raise ValueError(f"{variable}={raw!r} is not a valid {kind}") from None
        values.update(overrides)
        return replace(cls(), **values)

    def as_env(self) -> dict[str, str]:
        """Return the settings as TWILIO_FAKE_* variables (how worker processes receive them)."""
        env = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                env[ENV_PREFIX + field.name.upper()] = (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )
        return env


def _coerce(annotation: Any, raw: str) -> Any:
    kind = str(annotation).removesuffix(" | None")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw
