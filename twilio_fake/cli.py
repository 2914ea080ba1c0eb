"""The `twilio-fake` command: serve the fake with uvicorn (or, as `contract`, check a server)."""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import signal
import sys
import warnings
from pathlib import Path

import uvicorn

# connexion 3.3 imports starlette's test client at import time, which warns about httpx: noise
# for anyone running the server.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from . import fixtures  # noqa: E402  (after the filter, which must precede connexion's import)
from .app import create_app, create_backend  # noqa: E402
from .config import ENV_PREFIX, Settings  # noqa: E402
from .db import MEMORY  # noqa: E402


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
        "--no-fast-lane",
        dest="fast_lane",
        action="store_false",
        default=None,
        help="send every request through connexion's full stack (slower; same answers)",
    )
    parser.add_argument(
        "--no-read-cache",
        dest="read_cache",
        action="store_false",
        default=None,
        help="compute every GET answer afresh (slower; same answers)",
    )
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


def serve_command(port: int, database: str | Path, *options: str) -> list[str]:
    """The command that starts this fake on `port`: for the contract kit, the tests, the bench."""
    return [
        sys.executable,
        "-m",
        "twilio_fake",
        "--port",
        str(port),
        "--database",
        str(database),
        *options,
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["contract"]:
        from .contract.runner import main as contract

        return contract(argv[1:])
    args = parse_args(argv)
    settings = Settings.from_env(**vars(args))
    logging.config.dictConfig(LOG_CONFIG)
    if settings.workers > 1 and settings.database == MEMORY:
        print("twilio-fake: workers cannot share an in-memory database", file=sys.stderr)
        return 2
    try:
        # Create the tables and load the fixtures once, before any worker starts.
        backend = create_backend(settings)
    except fixtures.FixtureError as err:
        print(f"twilio-fake: {err}", file=sys.stderr)
        return 2
    print(banner(settings), flush=True)
    # uvicorn finishes in-flight requests on SIGTERM/SIGINT, then raises the signal again with
    # the handlers that were in place before it started: make that a clean exit, status 0.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _exit_cleanly)
    server_options = {
        "host": settings.host,
        "port": settings.port,
        "log_config": LOG_CONFIG,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings, backend), **server_options)
    else:
        # Each worker process builds its own app (and database connections) from the settings.
        backend.db.dispose()
        os.environ.update(settings.as_env())
        uvicorn.run(
            "twilio_fake.app:create_app_from_env",
            factory=True,
            workers=settings.workers,
            **server_options,
        )
    return 0


def _exit_cleanly(_signum: int, _frame: object) -> None:
    sys.exit(0)


def banner(settings: Settings) -> str:
    """Tell the user where the fake is and, for the demo, how to call it."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    lines = [
        f"twilio-fake serving {base}/v1/Services/{{ServiceSid}}/PhoneNumbers",
        f"  database: {settings.database}    fixtures: {settings.fixtures or 'built-in demo'}"
        f"    workers: {settings.workers}",
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
            f"  service {service}, incoming numbers PN…01 to PN…05",
            "try:",
            f"  curl -u {demo.sid}:{demo.auth_token} {pool} -d PhoneNumberSid={number}",
            f"  curl -u {demo.sid}:{demo.auth_token} {pool}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
