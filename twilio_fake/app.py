"""The application: EdgeMiddleware, then the fast lane, then connexion, built in the background.

openapi.yaml and control.yaml are routed by connexion onto handlers/. Importing connexion and
building its app is about half of the start-up (0.25 of 0.5 s on the 2-core machine of the
bench), and the fast lane needs none of it: it compiles the same specs itself. So the server
starts without connexion, answers plainly valid requests at once, and builds connexion in a
thread as soon as it starts; a request that needs connexion before then waits for it.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from . import fixtures, http_errors
from .config import Settings
from .edge import EdgeMiddleware, LimitRequestBodies, RefuseUnrouted, StampInnerResponses
from .exceptions import TwilioError
from .fastlane import FastLane
from .models import Backend

if TYPE_CHECKING:
    import connexion
    from starlette.testclient import TestClient

SPEC_DIR = Path(__file__).resolve().parent.parent
TWILIO_SPEC = "openapi.yaml"
CONTROL_SPEC = "control.yaml"

log = logging.getLogger(__name__)


def create_backend(settings: Settings) -> Backend:
    """Open the database and load the fixture file (or the demo) into it."""
    accounts = fixtures.load_file(settings.fixtures) if settings.fixtures else fixtures.demo()
    return Backend(settings.database, accounts, pool_limit=settings.pool_limit)


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FakeApp:
    """Create and configure the fake."""
    settings = settings or Settings()
    return FakeApp(settings, backend or create_backend(settings))


def create_app_from_env() -> FakeApp:
    """Build the app from TWILIO_FAKE_* variables: the factory each uvicorn worker calls."""
    return create_app(Settings.from_env())


class FakeApp:
    """The ASGI app the server runs."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.connexion = LazyApp(functools.partial(build_connexion_app, settings, backend))
        self.lane = (
            FastLane(
                self.connexion,
                documents=[spec_document(TWILIO_SPEC), spec_document(CONTROL_SPEC)],
                backend=backend,
                max_body_bytes=settings.max_body_bytes,
                body_timeout=settings.body_timeout,
                validate_responses=settings.validate_responses,
                read_cache=settings.read_cache,
            )
            if settings.fast_lane
            else None
        )
        self.app = EdgeMiddleware(
            self.lane or self.connexion, backend=backend, public_url=settings.public_url
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        else:
            await self.app(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """Start building connexion as the server starts; nothing to do when it stops."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.connexion.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def test_client(self, **options: Any) -> TestClient:
        from starlette.testclient import TestClient  # httpx: only the tests need it

        return TestClient(self, **options)


class LazyApp:
    """An ASGI app built on first need, or in a thread once `start` is called."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self.get, name="build-connexion", daemon=True).start()

    def get(self) -> ASGIApp:
        """The app, built now if it is not yet (thread-safe; later callers wait for the first)."""
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await anyio.to_thread.run_sync(self.get)
        await app(scope, receive, send)


def build_connexion_app(settings: Settings, backend: Backend) -> connexion.AsyncApp:
    """Connexion's app over both specs: validation, errors and docs for whatever the lane passes on.

    AsyncApp rather than FlaskApp: the WSGI bridge was most of the time per request (py-spy);
    fetch at 16 connections went from 552 to 710 req/s with one worker (wrk, this machine). The
    handlers stay synchronous: connexion runs them in a thread pool.
    """
    import json

    import connexion
    from connexion.exceptions import ProblemException
    from connexion.jsonifier import Jsonifier
    from connexion.middleware import MiddlewarePosition
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    from .validation import VALIDATOR_MAP

    app = connexion.AsyncApp(__name__, specification_dir=SPEC_DIR)
    common = {
        "jsonifier": Jsonifier(json),  # one line, fields in the order the handlers build them
        "strict_validation": True,  # unknown query or form parameters are errors, not ignored
        "validate_responses": settings.validate_responses,
        "validator_map": VALIDATOR_MAP,  # connexion's validation, Twilio's wording
        "swagger_ui_options": connexion.options.SwaggerUIOptions(swagger_ui_path="/docs"),
    }
    app.add_api(spec_document(TWILIO_SPEC), **common)
    app.add_api(spec_document(CONTROL_SPEC), **common)
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
