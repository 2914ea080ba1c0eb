"""What the tests share: the demo's identities, request helpers, and real server processes.

Test modules import from here (or get fixtures from conftest.py), never from each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import venv
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from twilio_fake import fixtures
from twilio_fake.app import FakeApp, create_app
from twilio_fake.backend import Backend
from twilio_fake.config import Settings
from twilio_fake.db import MEMORY
from twilio_fake.launch import serve_command
from twilio_fake_contract.serving import Server

from .postgres import emptied

ROOT = Path(__file__).resolve().parents[2]  # the repository

# The demo fixture's identities (twilio_fake/demo_fixtures.yaml), read from the fixture itself.
_DEMO, _OTHER = fixtures.demo()
ACCOUNT, TOKEN = _DEMO.sid, _DEMO.auth_token
KEY, KEY_SECRET = next(iter(_DEMO.api_keys.items()))
DISABLED_KEY = next(iter(_DEMO.disabled_api_keys))
SERVICE, SERVICE2 = list(_DEMO.services)
# PN…01 to PN…05, which can send SMS or MMS; and PN…07, which can only take calls.
NUMBERS = [n.sid for n in _DEMO.incoming_phone_numbers if {"SMS", "MMS"} & set(n.capabilities)]
(VOICE_ONLY_NUMBER,) = (n.sid for n in _DEMO.incoming_phone_numbers if n.sid not in NUMBERS)
OTHER_ACCOUNT, OTHER_TOKEN = _OTHER.sid, _OTHER.auth_token
(OTHER_SERVICE,) = _OTHER.services
(OTHER_NUMBER,) = (number.sid for number in _OTHER.incoming_phone_numbers)
AUTH = (ACCOUNT, TOKEN)
# What /_fake/health counts with the demo loaded: accounts, services, incoming numbers, pool.
DEMO_COUNTS = (
    2,
    len(_DEMO.services) + len(_OTHER.services),
    len(_DEMO.incoming_phone_numbers) + len(_OTHER.incoming_phone_numbers),
    0,
)

# `make soak` sets SOAK=1: the same reliability tests, run long. `make test` runs them short.
SOAK = os.environ.get("SOAK") == "1"

# What the run put the server through, printed at the end of the session (see conftest.py).
survived: Counter[str] = Counter()


def load_yaml(path: Path) -> Any:
    """A YAML file as `yaml.safe_load` reads it, by libyaml's loader where PyYAML has one: the
    contract in 0.02 s of CPU, not 0.2 s, in each module that reads it, on each xdist worker."""
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def plain_id(value: object, width: int | None = None) -> str:
    """A test ID for `value` (a string, else its repr), at most `width` characters, in
    printable ASCII without a backslash: pytest escapes any other character with one, and cannot
    then find the test by that ID (`pytest 'FILE::TEST[ID]'`, which is how mutmut runs the tests
    of each mutant)."""
    text = value if isinstance(value, str) else repr(value)
    return "".join(
        c if c.isascii() and c.isprintable() and c != "\\" else f"U+{ord(c):X}" for c in text
    )[:width]


def scale(short: int, soak: int) -> int:
    return soak if SOAK else short


def pool_path(service: str = SERVICE, sid: str | None = None) -> str:
    path = f"/v1/Services/{service}/PhoneNumbers"
    return f"{path}/{sid}" if sid else path


def add(client, number: str, service: str = SERVICE, auth=AUTH):
    """POST a number to a pool through a test client (or requests session with a base URL)."""
    return client.post(pool_path(service), data={"PhoneNumberSid": number}, auth=auth)


def post_in_pieces(
    client, path: str, pieces: list[bytes], headers: dict[str, str], *, stall: bool = False
):
    """POST a body that reaches the app in `pieces`, one ASGI message each (`more_body` on all
    but the last), on the loop of a started test client: starlette's test client joins a
    streamed body into one message, so a test of reading in pieces cannot go through it. With
    `stall`, the body never ends after the pieces (a client that stopped sending)."""
    import asyncio

    import httpx

    async def body() -> AsyncIterator[bytes]:
        for number, piece in enumerate(pieces):
            if number:
                await asyncio.sleep(0)  # a later turn of the loop, as from a network
            yield piece
        if stall:
            await asyncio.Event().wait()  # never set

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as sent:
            response = await sent.post(path, content=body(), headers=headers, auth=AUTH)
            await response.aread()
            return response

    return client.portal.call(post)


def raises(status: int, code: int):
    """Expect an official SDK's TwilioRestException with the given HTTP status and Twilio code."""
    from twilio.base.exceptions import TwilioRestException  # only the SDK tests need twilio

    return pytest.raises(TwilioRestException, check=lambda e: (e.status, e.code) == (status, code))


def sdk(server: Server, username: str, password: str, account_sid: str | None = None):
    """twilio-python's Client with both of the fake's Twilio hosts (api, messaging) on `server`."""
    from twilio.rest import Client

    client = Client(username, password, account_sid)
    client.api.base_url = server.url
    client.messaging.base_url = server.url
    return client


def all_at_once(count: int, action: Callable[[], object]) -> list[object]:
    """What `action` returned or raised in each of `count` threads released together (a
    barrier), once all have finished: a race for whatever the action decides on."""
    outcomes: list[object] = []
    start = threading.Barrier(count)

    def run() -> None:
        start.wait()
        try:
            outcomes.append(action())
        except Exception as error:  # its outcome is the caller's to assert
            outcomes.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def assert_error(response, status: int, code: int, message: str | None = None) -> dict:
    """Check Twilio's error shape, and return the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message
    return body


def serve(database: Path | str, *options: str, env: dict[str, str] | None = None) -> Server:
    """Start the fake as its users start it, in its own process, on a port it picks."""
    return Server(serve_command(database, *options), env=env, cwd=ROOT)


def stop_cleanly(servers: list[Server]) -> None:
    """Stop every server, then check that none logged a 500 or a traceback."""
    outputs = [server.stop() for server in servers]  # all of them, before any assertion
    for output in outputs:
        assert " 500 " not in output and "Traceback" not in output, output


def app_for(backend: Backend, **settings: object) -> FakeApp:
    """The app over a backend, with responses checked against the spec."""
    options = {
        "database": backend.db.engine.url.database or "",
        "validate_responses": True,
        "allowed_hosts": "testserver",  # the name starlette's test client sends
    }
    return create_app(Settings(**(options | settings)), backend)  # type: ignore[arg-type]


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold a lock of this checkout's, named `name`, against every other process of the tests
    (pytest-xdist's workers, another run): for what writes into the checkout itself."""
    tag = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"twilio-fake-tests-{tag}-{name}.lock"
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def npm_tools() -> Path:
    """The pinned npm tools (twilio-node, twilio-cli, Redocly CLI, Prism), installed by make
    when missing; returns their node_modules. A test that needs them does not depend on another
    test (`make spec`'s) having installed them. One worker at a time: two `npm ci` in one
    folder would undo each other."""
    with exclusive("npm"):
        subprocess.run(
            ["make", "--no-print-directory", "-s", "tools/npm/node_modules/.installed"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return ROOT / "tools" / "npm" / "node_modules"


def build_wheel(directory: Path) -> Path:
    """Build the project's wheel into `directory`, as `make wheel` would, unless it holds one
    already; return its path. The e2e modules that install it share one a run (the fixture
    `built_wheel`): each build took some 4 s of CPU.

    One build at a time: pip builds in the checkout (build/, *.egg-info). Both go first:
    setuptools adds to build/ without removing what an earlier build left, and reads the old
    file list in *.egg-info, so a file dropped from the package (or from its package data)
    would still be in the wheel."""
    with exclusive("wheel"):
        if not list(directory.glob("twilio_fake-*.whl")):
            for left in [ROOT / "build", *ROOT.glob("*.egg-info")]:
                shutil.rmtree(left, ignore_errors=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                 str(directory), ROOT],
                check=True,
                capture_output=True,
            )  # fmt: skip
    (wheel,) = directory.glob("twilio_fake-*.whl")
    return wheel


def fresh_environment(directory: Path, *requirements: str) -> Path:
    """A new virtual environment with only `requirements` installed (not even pip); return its
    bin/. Our own pip installs into it (`--python`): seeding the environment with the pip that
    Python bundles cost 7.5 s of CPU, and that older pip took 17 s to install what ours installs
    in 7 (2026-12-04). Nothing is compiled up front (pip's default: 9 of the 20 s an install of
    the plugin's took); what the tests import is compiled when first imported."""
    venv.create(directory, with_pip=False)
    bin_dir = directory / "bin"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install",
         "--quiet", "--no-compile", *requirements],
        check=True,
        capture_output=True,
        timeout=600,
    )  # fmt: skip
    return bin_dir


def database_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of a kind: "sqlite" (a file), ":memory:", or "postgresql" (the session's
    throwaway server, emptied)."""
    if kind == "sqlite":
        return str(tmp_path / "fake.sqlite3")
    if kind == MEMORY:
        return MEMORY
    return emptied(request.getfixturevalue("postgres_url"))
