"""The `twilio-fake` command: serve the fake with uvicorn (or, as `contract`, check a server)."""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import shlex
import signal
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import uvicorn

# connexion 3.3 imports starlette's test client at import time, which warns about httpx: noise
# for anyone running the server.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from sqlalchemy.exc import ArgumentError, DatabaseError  # noqa: E402
from uvicorn.supervisors import Multiprocess  # noqa: E402

from . import __version__, fixtures  # noqa: E402  (after the filter: connexion imports it)
from .app import SpecError, create_app, create_backend  # noqa: E402
from .config import ENV_PREFIX, Settings  # noqa: E402
from .db import MEMORY, shown  # noqa: E402
from .protocol import GuardedHttpProtocol  # noqa: E402


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
        "--pool-limit", type=int, help=f"phone numbers per service (default {defaults.pool_limit})"
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


# One line per request on stderr (twilio_fake.requests), plus warnings and errors. uvicorn applies
# this in every worker process; its own access log stays off (it would log query strings).
LOG_CONFIG: dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"uvicorn": {"level": "WARNING"}, "connexion": {"level": "WARNING"}},
}


READY = "twilio-fake listening on "  # then the base URL: the line a supervisor waits for


def serve_command(database: str | Path = MEMORY, *options: str) -> list[str]:
    """The command that starts this fake on a free port (it prints READY and its URL).

    For the contract kit's own fake, the tests and the bench.
    """
    return [
        sys.executable, "-m", "twilio_fake", "--port", "0", "--database", str(database), *options,
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["contract"]:
        return contract(argv[1:])
    args = parse_args(argv)
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
    try:
        sock = listen(settings.host, settings.port)
    except OSError as err:
        return fail(f"cannot listen on {settings.host}:{settings.port}: {err.strerror or err}")
    port = sock.getsockname()[1]
    print(banner(settings, port), flush=True)
    # uvicorn finishes in-flight requests on SIGTERM/SIGINT, then raises the signal again with
    # the handlers that were in place before it started: make that a clean exit, status 0.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _exit_cleanly)
    GuardedHttpProtocol.configure(settings)
    app.leave_hung_database = True
    server_options: dict[str, Any] = {
        "log_config": LOG_CONFIG,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "lifespan": "on",
        "http": GuardedHttpProtocol,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive,
    }
    if settings.workers == 1:
        uvicorn.Server(uvicorn.Config(app, **server_options)).run(sockets=[sock])
    else:
        # Each worker process builds its own app (and database connections) from the settings.
        backend.db.dispose()
        os.environ.update(settings.as_env())
        config = uvicorn.Config(
            "twilio_fake.app:create_app_from_env",
            factory=True,
            workers=settings.workers,
            **server_options,
        )
        Multiprocess(config, sockets=[sock]).run()
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


def contract(argv: list[str]) -> int:
    """`twilio-fake contract`: the contract kit, given this fake with its demo data to start.

    The kit (package twilio_fake_contract) knows nothing of the fake: with no --url, this hands it
    the command that starts a fresh fake and the demo account to use.
    """
    try:
        from twilio_fake_contract import runner as kit
    except ImportError as err:
        return fail(
            f"the contract kit needs its extra: pip install 'twilio-fake[contract]' ({err})"
        )
    if not any(arg == "--url" or arg.startswith(("--url=", "--serve")) for arg in argv):
        account = fixtures.demo()[0]
        service, service2 = list(account.services)[:2]
        messaging = [
            n.sid for n in account.incoming_phone_numbers if {"SMS", "MMS"} & set(n.capabilities)
        ]
        voice_only = next(n.sid for n in account.incoming_phone_numbers if n.sid not in messaging)
        # PN…01 and PN…02 are left alone: PN…01 is the spec's example SID, which schemathesis's
        # examples phase fetches and deletes. A pool limit of 2 lets the kit fill a pool.
        argv = [
            "--serve", shlex.join(serve_command(MEMORY, "--pool-limit", "2")),
            "--user", account.sid, "--service", service, "--service2", service2,
            "--numbers", ",".join(messaging[2:]), "--voice-only", voice_only,
            "--pool-limit", "2", *argv,
        ]  # fmt: skip
        os.environ.setdefault(kit.PASSWORD_VARIABLE, account.auth_token)
    return kit.main(argv, prog="twilio-fake contract")


def fail(message: str) -> int:
    """Say what stops the server on one line (a driver's message may span several)."""
    print(f"twilio-fake: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _exit_cleanly(_signum: int, _frame: object) -> None:
    sys.exit(0)


def banner(settings: Settings, port: int) -> str:
    """Tell the user where the fake is and, for the demo, how to call it."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    listening = f"http://{host}:{port}"
    base = settings.public_url or listening
    lines = [
        READY + listening,
        f"  API:      {base}/v1/Services/{{ServiceSid}}/PhoneNumbers",
        f"  database: {shown(settings.database)}"
        f"    fixtures: {settings.fixtures or 'built-in demo'}    workers: {settings.workers}",
        f"  docs:     {base}/v1/docs    control: {base}/_fake/health",
    ]
    if not settings.fixtures:
        demo = fixtures.demo()[0]
        key_sid, key_secret = next(iter(demo.api_keys.items()))
        service = next(iter(demo.services))
        number = demo.incoming_phone_numbers[0].sid
        pool = f"{base}/v1/Services/{service}/PhoneNumbers"
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
