"""The `twilio-fake` command's serving: the fake under uvicorn (`twilio-fake contract` is
contract_command.py, dispatched by `__main__` before this is imported)."""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn

from .command import fail, hide_library_warnings

hide_library_warnings()  # before connexion is imported

from sqlalchemy.exc import ArgumentError, DatabaseError  # noqa: E402
from uvicorn.supervisors import Multiprocess  # noqa: E402

from . import __version__, command, fixtures, proxy, readiness, spec, urls  # noqa: E402  (after the filter)
from .app import SpecError, create_app, create_backend, settle_heap  # noqa: E402
from .config import ENV_PREFIX, Settings  # noqa: E402
from .db import MEMORY, shown  # noqa: E402
from .overrides import GuardedHttpProtocol, ServerWithProxy  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="twilio-fake",
        description="Serve a stateful fake of Twilio's Messaging Service phone number pool.",
        epilog=f"Every option can also be set as an environment variable {ENV_PREFIX}<OPTION>, "
        f"e.g. {ENV_PREFIX}PORT=9000. Options on the command line win. "
        "`twilio-fake contract --help` checks a server against the contract.",
    )
    parser.add_argument("--host", help=f"interface to bind (default {defaults.host})")
    parser.add_argument("--port", type=int, help=f"port to listen on (default {defaults.port})")
    parser.add_argument(
        "--database",
        help=f"SQLite file, ':memory:' or a SQLAlchemy URL (default {defaults.database})",
    )
    parser.add_argument("--fixtures", help="fixture YAML file (default: the built-in demo)")
    parser.add_argument(
        "--public-url",
        help="base URL written into responses, e.g. https://fake.example (default: the request's)",
    )
    parser.add_argument(
        "--pool-limit",
        type=int,
        help=f"phone numbers per service (default {spec.limit('pool-size')}, the contract's)",
    )
    parser.add_argument(
        "--workers", type=int, help=f"server processes (default {defaults.workers})"
    )
    parser.add_argument(
        "--validate-responses",
        action="store_true",
        default=None,
        help="check every response against openapi.yaml (a 500 on a mismatch)",
    )
    parser.add_argument(
        "--allowed-hosts",
        help="Host names requests may use besides loopback's, comma-separated; '*' for any "
        "(default: loopback's when bound to loopback, any otherwise)",
    )
    parser.add_argument(
        "--control-token",
        help="require 'Authorization: Bearer TOKEN' on /_fake/* (all but health) "
        "(default: none; prefer the variable TWILIO_FAKE_CONTROL_TOKEN, which ps does not show)",
    )
    parser.add_argument(
        "--journal-size",
        type=int,
        help=f"requests the journal (/_fake/requests) keeps, oldest dropped first; 0 turns it "
        f"off (default {defaults.journal_size})",
    )
    parser.add_argument(
        "--proxy-port",
        type=int,
        help="also listen here as an HTTP proxy for clients that cannot be given a base URL "
        "(CONNECT messaging.twilio.com:443 and the like; nothing else, never forwarded); 0 takes "
        "a free port (default: no proxy; see docs/proxy.md)",
    )
    parser.add_argument(
        "--proxy-ca",
        metavar="DIR",
        help=f"directory of the proxy's CA, made there on first use (default: "
        f"{proxy.CA_DIRECTORY}/ beside the SQLite file; a temporary one with :memory:)",
    )
    parser.add_argument(
        "--callback-hosts",
        help="hosts status callbacks and inbound webhooks may be sent to, comma-separated "
        "(default: localhost, 127.0.0.1, ::1); nothing else is connected to (docs/callbacks.md)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


# One line per request on stderr (twilio_fake.requests), plus warnings and errors, made cheaply
# (twilio_fake/logs.py). uvicorn applies this in every worker process; its own access log stays
# off (it would log query strings).
LOG_CONFIG: dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"()": "twilio_fake.logs.Formatter"}},
    "filters": {"no_websocket_advice": {"()": "twilio_fake.logs.NoWebSocketAdvice"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "uvicorn": {"level": "WARNING"},
        "uvicorn.error": {"filters": ["no_websocket_advice"]},
        "connexion": {"level": "WARNING"},
    },
}


READY = "twilio-fake listening on "  # then the base URL: the line a supervisor waits for


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env(**vars(args))
    except ValueError as err:
        return fail(str(err))
    if settings.workers < 1:
        return fail(f"workers must be at least 1, not {settings.workers}")
    logging.config.dictConfig(LOG_CONFIG)
    if settings.workers > 1 and settings.database == MEMORY:
        return fail("workers cannot share an in-memory database")
    try:
        # Create the tables and load the fixtures once, before any worker starts; build the app
        # (every operation resolved) before anything listens.
        backend = create_backend(settings)
        app = create_app(settings, backend)
    except (fixtures.FixtureError, SpecError) as err:
        return fail(str(err))
    except DatabaseError as err:
        return fail(f"cannot open the database {shown(settings.database)}: {err.orig or err}")
    except OSError as err:
        return fail(f"cannot open the database {shown(settings.database)}: {err.strerror or err}")
    except ArgumentError as err:
        return fail(f"cannot open the database {shown(settings.database)}: {err}")
    except ImportError as err:
        return fail(
            f"cannot open the database {shown(settings.database)}: its driver is not installed "
            f"({err}); for PostgreSQL: pip install 'twilio-fake[postgresql]'"
        )
    scratch: str | None = None  # the CA's temporary directory, for an in-memory database
    authority: proxy.CertificateAuthority | None = None
    if settings.proxy_port is not None:
        if settings.workers > 1:
            return fail("the proxy (--proxy-port) runs with one worker: drop --workers")
        directory = proxy.ca_directory(settings.database, settings.proxy_ca)
        if directory is None and settings.database != MEMORY:
            return fail("the proxy needs --proxy-ca DIR with this database (its CA's directory)")
        if directory is None:
            scratch = tempfile.mkdtemp(prefix="twilio-fake-proxy-ca-")
            directory = Path(scratch)
        try:
            authority = proxy.CertificateAuthority(directory)
        except proxy.CertificateAuthorityError as err:
            _remove(scratch)
            return fail(str(err))
    try:
        return _listen_and_serve(settings, app, backend, authority)
    finally:
        _remove(scratch)  # even on a signal that comes before the server runs


def _listen_and_serve(
    settings: Settings,
    app: Any,
    backend: Any,
    authority: proxy.CertificateAuthority | None,
) -> int:
    proxy_sock: socket.socket | None = None
    try:
        sock = listen(settings.host, settings.port)
    except (OSError, OverflowError) as err:
        return fail(f"cannot listen on {settings.host}:{settings.port}: {_reason(err)}")
    if settings.proxy_port is not None:
        try:
            proxy_sock = listen(settings.host, settings.proxy_port)
        except (OSError, OverflowError) as err:
            return fail(
                f"cannot listen on {settings.host}:{settings.proxy_port} (--proxy-port): "
                f"{_reason(err)}"
            )
    port = sock.getsockname()[1]
    proxy_port = proxy_sock.getsockname()[1] if proxy_sock else None
    # uvicorn finishes in-flight requests on SIGTERM/SIGINT, then raises the signal again with
    # the handlers that were in place before it started: make that a clean exit, status 0. Set
    # before the banner: a supervisor may stop the server as soon as it has read it.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, command.exit_cleanly)
    announce = partial(print, banner(settings, port, proxy_port, authority), flush=True)
    if settings.workers == 1:
        announce()  # the app is built: it serves as soon as uvicorn runs it
    GuardedHttpProtocol.configure(settings)
    app.leave_hung_database = True
    settle_heap()
    server_options: dict[str, Any] = {
        "log_config": LOG_CONFIG,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "lifespan": "on",
        "http": GuardedHttpProtocol,
        # No WebSocket: the fake serves none. A request to switch protocols reaches the app, whose
        # edge refuses it (a Twilio-shaped 400, a log line), not uvicorn's bare 403.
        "ws": "none",
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive,
    }
    if authority is not None and proxy_sock is not None:
        server = ServerWithProxy(uvicorn.Config(app, **server_options), proxy_sock, authority)
        server.run(sockets=[sock])
    elif settings.workers == 1:
        uvicorn.Server(uvicorn.Config(app, **server_options)).run(sockets=[sock])
    else:
        # Each worker process builds its own app (and database connections) from the settings.
        backend.db.dispose()
        os.environ.update(settings.as_env() | {command.WORKER: "1"})
        config = uvicorn.Config(
            "twilio_fake.app:create_app_from_env",
            factory=True,
            workers=settings.workers,
            **server_options,
        )
        supervisor = Multiprocess(config, sockets=[sock])
        # The banner once every worker serves, not while they start (readiness.py); none once
        # the server was told to stop (its workers may still finish starting).
        stopping = threading.Event()
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, _noting(stopping, signal.getsignal(stop)))
        with readiness.WorkersReady(
            settings.workers, lambda: None if stopping.is_set() else announce()
        ):
            supervisor.run()
    return 0


def listen(host: str, port: int) -> socket.socket:
    """Bind and listen now, so that a busy port is reported before anything is printed.

    Port 0 takes a free port; the caller reads it back from the socket.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)  # worker processes serve the same socket
    return sock


def _noting(event: threading.Event, handler: Any) -> Callable[[int, Any], None]:
    """A signal handler that sets `event`, then calls `handler` (a signal's handler before)."""

    def note(signum: int, frame: Any) -> None:
        event.set()
        if callable(handler):
            handler(signum, frame)

    return note


def _reason(error: Exception) -> str:
    return (error.strerror if isinstance(error, OSError) else None) or str(error)


def _remove(directory: str | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


PROXY_READY = "twilio-fake proxy listening on "  # then its URL, ", CA certificate " and a path


def banner(
    settings: Settings,
    port: int,
    proxy_port: int | None = None,
    authority: proxy.CertificateAuthority | None = None,
) -> str:
    """Tell the user where the fake is and, for the demo, how to call it."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    listening = f"http://{host}:{port}"
    base = settings.public_url or listening
    api = spec.path_template("ListPhoneNumber")
    lines = [
        READY + listening,
        f"  API:      {base}{api}",
        f"  database: {shown(settings.database)}"
        f"    fixtures: {settings.fixtures or 'built-in demo'}    workers: {settings.workers}",
        f"  docs:     {base}{spec.DOCS_PATH}    control: {base}/_fake/health",
    ]
    if proxy_port is not None and authority is not None:
        proxy_url = f"http://{host}:{proxy_port}"
        ca = shlex.quote(str(authority.certificate_path))
        lines += [
            f"{PROXY_READY}{proxy_url}, CA certificate {authority.certificate_path}",
            f"  Python:           HTTPS_PROXY={proxy_url} REQUESTS_CA_BUNDLE={ca}",
            f"  Node, twilio-cli: HTTP_PROXY={proxy_url} HTTPS_PROXY={proxy_url} "
            f"NODE_EXTRA_CA_CERTS={ca}",
            f"  curl:             curl --proxy {proxy_url} --cacert {ca} "
            f"https://messaging.twilio.com{api.replace('{ServiceSid}', 'MG…')}",
            "  Java (truststore) and others: docs/proxy.md in twilio-fake's repository",
        ]
    if not settings.fixtures:
        demo = fixtures.demo()[0]
        key_sid, key_secret = next(iter(demo.api_keys.items()))
        service = next(iter(demo.services))
        number = demo.incoming_phone_numbers[0].sid
        pool = base + urls.path_for("ListPhoneNumber", ServiceSid=service)
        lines += [
            "demo credentials:",
            f"  account {demo.sid}  auth token {demo.auth_token}",
            f"  API key {key_sid}  secret {key_secret}",
            f"  service {service}, incoming numbers PN…01 to PN…05 (and PN…07, voice only)",
            "try:",
            f"  curl -u {demo.sid}:{demo.auth_token} {pool} -d PhoneNumberSid={number}",
            f"  curl -u {demo.sid}:{demo.auth_token} {pool}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
