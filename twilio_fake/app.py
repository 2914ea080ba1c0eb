"""The application factory: openapi.yaml and control.yaml routed by connexion onto handlers/."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import connexion
import yaml
from connexion.exceptions import ProblemException
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from . import fixtures, http_errors
from .config import Settings
from .edge import EdgeMiddleware, LimitRequestBodies, RefuseUnrouted, StampInnerResponses
from .exceptions import TwilioError
from .fastlane import FastLane
from .models import Backend
from .validation import VALIDATOR_MAP

SPEC_DIR = Path(__file__).resolve().parent.parent
TWILIO_SPEC = "openapi.yaml"
CONTROL_SPEC = "control.yaml"


def create_backend(settings: Settings) -> Backend:
    """Open the database and load the fixture file (or the demo) into it."""
    accounts = fixtures.load_file(settings.fixtures) if settings.fixtures else fixtures.demo()
    return Backend(settings.database, accounts, pool_limit=settings.pool_limit)


def create_app(
    settings: Settings | None = None, backend: Backend | None = None
) -> connexion.AsyncApp:
    """Create and configure the fake."""
    settings = settings or Settings()
    backend = backend or create_backend(settings)
    # AsyncApp rather than FlaskApp: the WSGI bridge was most of the time per request (py-spy);
    # fetch at 16 connections went from 552 to 710 req/s with one worker, 1,198 to 1,909 with
    # two (wrk, this machine). The handlers stay synchronous: connexion runs them in a thread
    # pool, so a write waiting for SQLite's lock never blocks the event loop.
    app = connexion.AsyncApp(__name__, specification_dir=SPEC_DIR)
    jsonifier = Jsonifier(json)  # one line, fields in the order the handlers build them
    common = {
        "jsonifier": jsonifier,
        "strict_validation": True,  # unknown query or form parameters are errors, not ignored
        "validate_responses": settings.validate_responses,
        "validator_map": VALIDATOR_MAP,  # connexion's validation, Twilio's wording
        "swagger_ui_options": connexion.options.SwaggerUIOptions(swagger_ui_path="/docs"),
    }
    app.add_api(spec_document(TWILIO_SPEC), **common)
    app.add_api(spec_document(CONTROL_SPEC), **common)
    app.add_middleware(
        EdgeMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        backend=backend,
        public_url=settings.public_url,
    )
    if settings.fast_lane:
        # Inside EdgeMiddleware (so its answers are stamped and logged), before connexion.
        app.add_middleware(
            FastLane,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            document=spec_document(TWILIO_SPEC),
            backend=backend,
            jsonifier=jsonifier,
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout,
            validate_responses=settings.validate_responses,
            read_cache=settings.read_cache,
        )
    app.add_middleware(StampInnerResponses, position=MiddlewarePosition.BEFORE_CONTEXT)
    app.add_middleware(RefuseUnrouted, position=MiddlewarePosition.BEFORE_CONTEXT)
    app.add_middleware(
        LimitRequestBodies,
        position=MiddlewarePosition.BEFORE_VALIDATION,
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_timeout,
    )
    app.add_error_handler(TwilioError, http_errors.twilio_error)
    framework_errors = http_errors.FrameworkErrors(http_errors.AllowedMethods(_specs()))
    app.add_error_handler(ProblemException, framework_errors)
    app.add_error_handler(HTTPException, framework_errors)
    app.add_error_handler(ClientDisconnect, http_errors.body_cut_short)
    app.add_error_handler(Exception, http_errors.unexpected_error)
    return app


def create_app_from_env() -> connexion.AsyncApp:
    """Build the app from TWILIO_FAKE_* variables: the factory each uvicorn worker calls."""
    return create_app(Settings.from_env())


@functools.cache
def spec_document(name: str) -> dict[str, Any]:
    """A spec of this directory, parsed once per process (with libyaml: a tenth of the time).

    Shared by connexion, the fast lane and the 405 table, none of which changes it.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((SPEC_DIR / name).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506


def _specs() -> list[tuple[str, dict]]:
    """Return (base path, document) for each spec the app serves."""
    return [
        (spec_document(name)["servers"][0]["url"], spec_document(name))
        for name in (TWILIO_SPEC, CONTROL_SPEC)
    ]
