"""The `twilio-fake` command: a mistake in starting it is one line and status 2, not a trace."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.support import ROOT


def run(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twilio_fake", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_a_busy_port_is_reported_before_anything_is_printed() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--port", str(port), "--database", ":memory:")
    assert result.returncode == 2
    assert result.stdout == ""  # no banner, no curl lines pointing at the other server
    assert (
        result.stderr == f"twilio-fake: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        ((), {"TWILIO_FAKE_PORT": "abc"}, "twilio-fake: TWILIO_FAKE_PORT='abc' is not a valid int"),
        (
            ("--database", "/nonexistent/directory/fake.sqlite3"),
            {},
            "twilio-fake: cannot open the database /nonexistent/directory/fake.sqlite3: ",
        ),
        (
            ("--fixtures", "/nonexistent/fixtures.yaml"),
            {},
            "twilio-fake: cannot read fixture file /nonexistent/fixtures.yaml: ",
        ),
    ],
    ids=["bad variable", "database in a missing directory", "missing fixture file"],
)
def test_a_bad_setting_is_one_line(arguments: tuple[str, ...], env: dict, message: str) -> None:
    result = run("--port", "0", *arguments, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("twilio-fake ")
