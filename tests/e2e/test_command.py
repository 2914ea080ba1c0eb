"""The `twilio-fake` command: a mistake in starting it is one line and status 2, not a trace; the
banner comes once the fake serves; a Ctrl-C while it starts stops it quietly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support import ROOT, serve


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
        (
            (),
            {"TWILIO_FAKE_POOL_LIMIT": "abc"},
            "twilio-fake: TWILIO_FAKE_POOL_LIMIT='abc' is not a valid int",
        ),
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
        (
            ("--database", "postgresql://fake:s3cret@127.0.0.1:1/fake"),
            {},
            "twilio-fake: cannot open the database postgresql://fake:***@127.0.0.1:1/fake: ",
        ),
        (
            ("--database", "nosuchdb://fake:s3cret@host/fake"),
            {},
            "twilio-fake: cannot open the database nosuchdb://fake:***@host/fake: ",
        ),
        (
            ("--database", "postgresql://fake:s3cret@127.0.0.1:1/fake"),
            {"PYTHONPATH": "{no_psycopg}"},
            "twilio-fake: cannot open the database postgresql://fake:***@127.0.0.1:1/fake: its "
            "driver is not installed",
        ),
    ],
    ids=[
        "bad variable",
        "database in a missing directory",
        "missing fixture file",
        "database out of reach",
        "unknown database",
        "driver missing",
    ],
)
def test_a_bad_setting_is_one_line(
    arguments: tuple[str, ...], env: dict, message: str, tmp_path: Path
) -> None:
    # "Driver missing": an import of psycopg that fails, as where the extra is not installed.
    (tmp_path / "psycopg.py").write_text("raise ImportError('psycopg is not installed here')\n")
    env = {name: value.format(no_psycopg=tmp_path) for name, value in env.items()}
    result = run("--port", "0", *arguments, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "s3cret" not in result.stderr + result.stdout


def test_an_option_wins_over_a_bad_variable_of_the_same_setting() -> None:
    """Options on the command line win: a bad TWILIO_FAKE_PORT does not matter under --port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The port is busy, so the command stops at once: after reading its settings.
        result = run("--port", str(port), "--database", ":memory:", env={"TWILIO_FAKE_PORT": "abc"})
    assert result.returncode == 2
    assert result.stderr == (
        f"twilio-fake: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


@pytest.mark.parametrize(
    ("arguments", "env"),
    [(("--workers", "0"), {}), (("--workers", "-2"), {}), ((), {"TWILIO_FAKE_WORKERS": "0"})],
    ids=["option 0", "option negative", "variable 0"],
)
def test_workers_below_one_are_refused_in_one_line(arguments: tuple[str, ...], env: dict) -> None:
    result = run("--port", "0", "--database", ":memory:", *arguments, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("twilio-fake: ") and "workers" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_with_workers_the_banner_waits_until_every_worker_serves(tmp_path: Path) -> None:
    """The banner is what a supervisor waits for before its first request. With `--workers`,
    each worker builds its own app after the parent listens: the banner comes once both have
    (here: both have the database open), not while they start, which left the first requests
    waiting in the socket's backlog for seconds."""
    database = tmp_path / "fake.sqlite3"
    lock = os.path.realpath(f"{database}-writer.lock")  # every worker's Database opens it
    with serve(database, "--workers", "2") as server:
        serving = [pid for pid in _children(server.pid) if lock in _open_files(pid)]
        assert len(serving) == 2
        assert requests.get(f"{server.url}/_fake/health", timeout=10).status_code == 200


def test_with_workers_and_no_room_for_the_readiness_socket_the_banner_comes_at_once(
    tmp_path: Path,
) -> None:
    """A TMPDIR too long for a Unix socket's path (107 bytes) leaves the parent no socket to
    hear its workers on: it prints the banner at once, as before, and serves."""
    scratch = tmp_path / ("t" * (120 - len(str(tmp_path))))
    scratch.mkdir()
    with serve(tmp_path / "fake.sqlite3", "--workers", "2", env={"TMPDIR": str(scratch)}) as server:
        assert requests.get(f"{server.url}/_fake/health", timeout=30).status_code == 200
    assert list(scratch.iterdir()) == []  # nothing left behind


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:  # gone meanwhile
            continue
        if f"\nPPid:\t{parent}\n" in status:
            found.append(int(entry))
    return found


def _open_files(pid: int) -> set[str]:
    files = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                files.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:  # closed meanwhile
                continue
    except OSError:  # the process is gone
        pass
    return files


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("twilio-fake ")


def test_make_says_in_one_line_what_to_install_when_postgresql_is_missing() -> None:
    """`make test` needs PostgreSQL's binaries: without them it stops at once, saying so."""
    missing = subprocess.run(
        ["make", "--no-print-directory", "postgres-check", "PG_BIN=/nonexistent"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stdout.splitlines() == [
        "make: PostgreSQL's initdb and pg_ctl not found: install PostgreSQL 15 (Debian: apt-get "
        "install postgresql-15) or set PG_BIN=<their directory>"
    ]
    found = subprocess.run(
        ["make", "--no-print-directory", "postgres-check"], capture_output=True, cwd=ROOT
    )
    assert found.returncode == 0


# -- Ctrl-C while the server starts ---------------------------------------------------------------
COMMAND = Path(sys.executable).with_name("twilio-fake")  # the console script, as a user runs it


def _mapped(pid: int, fragment: str) -> bool:
    """Whether the process has a file whose path holds `fragment` mapped (a loaded extension
    module): how far its imports have come."""
    try:
        return fragment in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _workers(pid: int) -> list[int]:
    """The processes multiprocessing spawned for the command (not its resource tracker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    spawned = []
    for child in map(int, children):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                spawned.append(child)
        except OSError:
            pass
    return spawned


def _poll(condition: Callable[[], bool], what: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        time.sleep(0.005)


@pytest.mark.parametrize(
    "moment", ["the command imports the server", "its workers start", "its workers serve"]
)
def test_ctrl_c_while_the_server_starts_stops_it_quietly(tmp_path: Path, moment: str) -> None:
    """A terminal's Ctrl-C is SIGINT to every process of the group. Caught while the command
    imports the server, or while its workers do theirs (each has begun: SQLAlchemy is loaded),
    it used to end in a KeyboardInterrupt traceback from some import; now, as once it serves:
    status 0, no traceback, no process left. Nor does a worker print the import-time warning
    the command hides."""
    database = tmp_path / "fake.sqlite3"
    with (tmp_path / "output").open("w+") as output:  # a file: a pipe nobody reads fills up
        process = subprocess.Popen(
            [str(COMMAND), "--port", "0", "--database", str(database), "--workers", "2"],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if moment == "the command imports the server":
                _poll(lambda: _mapped(process.pid, "/sqlalchemy/"), "the command loads SQLAlchemy")
            elif moment == "its workers start":
                _poll(
                    lambda: (
                        len([w for w in _workers(process.pid) if _mapped(w, "/sqlalchemy/")]) == 2
                    ),
                    "both workers load SQLAlchemy",
                )
            else:
                _poll(
                    lambda: (
                        process.poll() is not None
                        or "listening on" in Path(output.name).read_text()
                    ),
                    "the banner",
                )
            assert process.poll() is None, Path(output.name).read_text()
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        printed = Path(output.name).read_text()
    assert "Traceback" not in printed, printed
    assert "Warning" not in printed, printed
    assert process.returncode == 0, printed

    def group_gone() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    _poll(group_gone, "every process of the group ends")


def test_the_kits_run_keeps_pythons_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """`twilio-fake contract` is not made quiet: an interrupted check must not exit 0."""
    from twilio_fake import __main__, cli, command, contract_command

    before = {stop: signal.getsignal(stop) for stop in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(contract_command, "contract", lambda _: signal.getsignal(signal.SIGINT))
    monkeypatch.setattr(cli, "main", lambda: signal.getsignal(signal.SIGINT))
    try:
        monkeypatch.setattr(sys, "argv", ["twilio-fake", "contract", "--url", "http://x"])
        assert __main__.main() is before[signal.SIGINT]
        monkeypatch.setattr(sys, "argv", ["twilio-fake", "--port", "0"])
        assert __main__.main() is command.exit_cleanly  # the server's: status 0
    finally:
        for stop, handler in before.items():
            signal.signal(stop, handler)


def test_the_entry_point_imports_nothing_heavy_before_its_handlers() -> None:
    """The command's Ctrl-C is Python's until `start_command` runs: the package and its entry
    point must import nothing that takes time (command.py)."""
    heavy = ("importlib.metadata", "connexion", "sqlalchemy", "uvicorn", "yaml", "httpx")
    script = (
        "import sys; import twilio_fake.__main__; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_the_kits_command_imports_nothing_of_the_server() -> None:
    """`twilio-fake contract` checks a server in another process: it loads neither connexion,
    SQLAlchemy nor uvicorn, a second of every run's start (contract_command.py)."""
    script = (
        "import sys; from twilio_fake.__main__ import main; "
        "sys.argv = ['twilio-fake', 'contract', '--help']\n"
        "try: main()\nexcept SystemExit: pass\n"
        "print([m for m in ('connexion', 'sqlalchemy', 'uvicorn') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "--serve" in done.stdout  # the kit's own help: the command got that far
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_without_the_kits_extra_the_contract_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from twilio_fake.contract_command import contract

    monkeypatch.setitem(sys.modules, "twilio_fake_contract", None)  # as if not installed
    assert contract(["--url", "http://127.0.0.1:1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("twilio-fake: the contract kit needs its extra: pip install")
