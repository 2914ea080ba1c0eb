"""The application: connexion's AsyncApp over openapi.yaml and control.yaml, with Twilio's edges.

Connexion is the only thing that routes, authenticates and validates a request. The specs carry
Twilio's operationIds; each handler module maps its own to functions (`handlers.operations()`,
the resolver below), and the security scheme's HTTP Basic is checked by `overrides.TwilioBasicAuth`.
Around connexion's own layers sit the edge (Twilio's response headers, the request context, the
access log) and the body limits; every error, raised anywhere, leaves through `http_errors` as
Twilio's JSON body.

The whole stack is built when the app is created, so that a spec that does not load or an
operationId that names no handler stops the server before it listens.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import connexion
from connexion.exceptions import ProblemException, ResolverError
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.resolver import Resolver
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import ClientDisconnect

from . import fixtures, http_errors, outbound, readiness, spec
from .backend import Backend
from .callback_faults import CallbackFaults
from .config import Settings
from .dispatch import Dispatcher
from .edge import (
    EdgeMiddleware,
    LimitRequestBodies,
    RefuseUnrouted,
    StampInnerResponses,
    allowed_host_names,
)
from .exceptions import TwilioError
from .faults import Faults, InjectFaults, declared_answers
from .handlers import operations
from .journal import Journal
from .overrides import (
    VALIDATOR_MAP,
    ChainedSwaggerUI,
    ControlTokenAuth,
    ExactRouting,
    FailedOperations,
    RequestValidation,
    TwilioBasicAuth,
    build_handlers_once,
    check_each_spec_once,
)
from .spec import CONTRACT, CONTROL, SPECS, SpecError, first_line

if TYPE_CHECKING:
    from starlette.testclient import TestClient

__all__ = ["FakeApp", "SpecError", "create_app", "create_backend"]

# Both specs are served from / (their servers); each keeps its docs and document apart.
SPEC_OPTIONS = {
    CONTRACT: connexion.options.SwaggerUIOptions(
        swagger_ui_path=spec.DOCS_PATH, spec_path=spec.CONTRACT_PATH
    ),
    CONTROL: connexion.options.SwaggerUIOptions(
        swagger_ui_path="/_fake/docs", spec_path="/_fake/openapi.json"
    ),
}


def create_backend(settings: Settings) -> Backend:
    """Open the database and load the fixture file (or the demo) into it."""
    accounts = fixtures.load_file(settings.fixtures) if settings.fixtures else fixtures.demo()
    backend = Backend(settings.database, accounts, pool_limit=settings.pool_limit)
    backend.db.timeout = settings.database_timeout
    return backend


def served_documents(replaced: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The specs as served: the packaged ones (or those `replaced` gives by name), with the
    control surface's `Operation` (what faults and the journal name) filled with the
    contract's operationIds, so that it never lists them again by hand."""
    documents = {name: spec.document(name) for name in SPECS} | (replaced or {})
    control = copy.deepcopy(documents[CONTROL])
    control["components"]["schemas"]["Operation"]["enum"] = spec.operation_ids(documents[CONTRACT])
    return documents | {CONTROL: control}


def create_app(
    settings: Settings | None = None,
    backend: Backend | None = None,
    *,
    specs: dict[str, dict[str, Any]] | None = None,
) -> FakeApp:
    """Create the fake, fully built: raises SpecError if a spec cannot be served.

    `specs` replaces the packaged documents by name (tests use it to serve a broken one).
    """
    settings = settings or Settings()
    backend = backend or create_backend(settings)
    documents = served_documents(specs)
    try:
        handlers = operations()
    except ValueError as error:
        raise SpecError(str(error)) from None
    dispatcher = create_dispatcher(settings, backend)
    check_each_spec_once()
    faults = Faults(declared_answers(documents[CONTRACT]))
    app = connexion.AsyncApp(
        __name__, middlewares=_middlewares(settings, faults), lifespan=_lifespan(dispatcher)
    )
    build_handlers_once(app)
    options = {
        "resolver": Resolver(function_resolver=_resolver(handlers)),
        "security_map": {"basic": TwilioBasicAuth, "bearer": ControlTokenAuth},
        "jsonifier": Jsonifier(json),  # one line, fields in the order the handlers build them
        # Unknown query or form parameters are ignored, as Twilio ignores them.
        "strict_validation": False,
        "validate_responses": settings.validate_responses,
        "validator_map": VALIDATOR_MAP,  # connexion's validation, Twilio's wording
    }
    # Both are served from the root (their servers say "/"). Connexion tries the APIs of one base
    # path in the reverse of the order they were added (its sort_apis_by_basepath swaps equals):
    # the contract is added last so that its routes are tried first, and a request to it never
    # walks the control surface's (ExactRouting, ChainedSwaggerUI).
    for name in reversed(SPECS):
        base_path = documents[name]["servers"][0]["url"].rstrip("/")
        app.add_api(
            documents[name],
            name=name,
            base_path=base_path,
            swagger_ui_options=SPEC_OPTIONS[name],
            **options,
        )
    app.add_middleware(
        EdgeMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        backend=backend,
        public_url=settings.public_url,
        allowed_hosts=allowed_host_names(
            settings.host, settings.allowed_hosts, settings.public_url
        ),
        control_token=settings.control_token,
        journal=Journal(settings.journal_size),
        faults=faults,
        dispatcher=dispatcher,
    )
    app.add_middleware(RefuseUnrouted, position=MiddlewarePosition.BEFORE_SECURITY)
    if settings.validate_responses:
        # Response validation checks the headers the spec requires, so they must be on the
        # response before it gets there (the edge adds them further out).
        app.add_middleware(StampInnerResponses, position=MiddlewarePosition.BEFORE_CONTEXT)
    app.add_error_handler(TwilioError, http_errors.twilio_error)
    framework_errors = http_errors.FrameworkErrors(
        http_errors.AllowedMethods(
            (documents[name]["servers"][0]["url"].rstrip("/"), documents[name]) for name in SPECS
        ),
        http_errors.accepted_media_types(documents[name] for name in SPECS),
    )
    app.add_error_handler(ProblemException, framework_errors)
    app.add_error_handler(HTTPException, framework_errors)
    app.add_error_handler(ClientDisconnect, http_errors.body_cut_short)
    app.add_error_handler(OperationalError, http_errors.database_unavailable)
    app.add_error_handler(Exception, http_errors.unexpected_error)
    fake = FakeApp(app, backend, dispatcher)
    fake.build()
    return fake


def create_dispatcher(settings: Settings, backend: Backend) -> Dispatcher:
    """The dispatcher of statuses and webhooks, and the one client webhooks leave through."""
    sender = outbound.Sender(
        outbound.parse_hosts(settings.callback_hosts),
        outbound.CallbackJournal(settings.journal_size),
        timeout=settings.callback_timeout,
    )
    return Dispatcher(backend, sender, CallbackFaults())


def _lifespan(dispatcher: Dispatcher) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The dispatcher runs while the server does (started and stopped with its lifespan)."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()

    return lifespan


def create_app_from_env() -> FakeApp:
    """Build the app from TWILIO_FAKE_* variables: the factory each uvicorn worker calls."""
    from .overrides import GuardedHttpProtocol

    settings = Settings.from_env()
    GuardedHttpProtocol.configure(settings)  # the worker's own copy of the class
    app = create_app(settings)
    app.leave_hung_database = True
    app.started = readiness.tell_parent  # the parent prints the banner once all have
    settle_heap()
    return app


def settle_heap() -> None:
    """Once the app is built, before it serves: move what start-up made (the parsed specs,
    connexion's operations, SQLAlchemy's tables, some 100,000 objects) out of the garbage
    collector's sight. They live as long as the process; scanning them in every full
    collection took 150 ms each (a pause that every request under way waits out) and, with the
    younger generations, 7% of a create+delete's CPU."""
    gc.collect()
    gc.freeze()


def _middlewares(settings: Settings, faults: Faults) -> list[Any]:
    """Connexion's default stack, with response validation only where it is asked for, and the
    fake's layers between authentication and validation.

    Those are placed here rather than by `add_middleware(position=BEFORE_VALIDATION)`, which
    looks for connexion's own class of validation middleware, not `RequestValidation`.
    """
    layers = [
        ServerErrorMiddleware,
        ExceptionMiddleware,
        ChainedSwaggerUI,
        ExactRouting,
        SecurityMiddleware,
        partial(
            LimitRequestBodies, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout
        ),
        # After routing and authentication (a fault may name an account) and inside the body
        # limits (a faulted request's body is read, within them, for the journal); before
        # validation.
        partial(InjectFaults, faults=faults),
        RequestValidation,
    ]
    if settings.validate_responses:
        layers.append(ResponseValidationMiddleware)
    return [*layers, LifespanMiddleware, ContextMiddleware]


def _resolver(handlers: dict[str, Callable[..., Any]]) -> Callable[[str], Any]:
    def handler(operation_id: str) -> Any:
        """The resolver's lookup: Twilio's operationId to the handler that serves it."""
        try:
            return handlers[operation_id]
        except KeyError:
            raise ValueError(f"operationId {operation_id!r} names no handler") from None

    return handler


class FakeApp:
    """The ASGI app the server runs: connexion's app, and the backend behind it."""

    def __init__(
        self, app: connexion.AsyncApp, backend: Backend, dispatcher: Dispatcher | None = None
    ) -> None:
        self.connexion = app
        self.backend = backend
        self.dispatcher = dispatcher
        # The server's process exits at shutdown without waiting for database calls that a
        # hung PostgreSQL never answers (their threads would keep it alive until it does).
        self.leave_hung_database = False
        # Called once the server's lifespan startup is complete (a worker tells its parent).
        self.started: Callable[[], None] | None = None

    def build(self) -> None:
        """Build connexion's whole stack now, through an ASGI lifespan cycle, not on first use.

        Every operation is resolved and every validator compiled here; any failure becomes a
        SpecError that names what could not be served.
        """
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        failures: list[str] = []

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            if message["type"].endswith(".failed"):
                failures.append(message.get("message", ""))

        async def cycle() -> None:
            await self.connexion({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

        # In a thread of its own, so that it also works where an event loop is already running
        # (uvicorn calls the factory of each worker from inside its loop).
        errors: list[BaseException] = []
        with FailedOperations() as failed:
            thread = threading.Thread(target=_run_collecting, args=(cycle, errors), name="build")
            thread.start()
            thread.join()
        if errors:
            where = failed.operations[0] + ": " if failed.operations else ""
            raise SpecError(where + _first_line(errors[0])) from errors[0]
        if failures:
            raise SpecError(failures[0])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.connexion(scope, receive, send)
            return
        if self.started is not None:
            send = readiness.after_startup(send, self.started)
        await self.connexion(scope, receive, send)
        if self.leave_hung_database and self.backend.db.busy:
            # The lifespan ends after every request is done: what is left is stuck.
            logging.getLogger("twilio_fake").warning(
                "exiting without waiting for %d database call(s) that never returned",
                self.backend.db.busy,
            )
            logging.shutdown()
            sys.stdout.flush()
            os._exit(0)

    def test_client(self, **options: Any) -> TestClient:
        from starlette.testclient import TestClient  # httpx: only the tests need it

        return TestClient(self, **options)


def _run_collecting(coroutine: Any, errors: list[BaseException]) -> None:
    try:
        asyncio.run(coroutine())
    except Exception as error:
        errors.append(error)


def _first_line(error: BaseException) -> str:
    text = first_line(error)
    return text if isinstance(error, ResolverError) else f"{type(error).__name__}: {text}"
