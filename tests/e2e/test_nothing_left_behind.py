"""What a process starts ends with it, however it ends: the servers of `serving.Server` (the
fakes of the tests, the kit and the pytest plugin) and the tests' throwaway PostgreSQL servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT

STARTS_A_SERVER = """
import time
from tests.support.postgres import PostgresServer
server = PostgresServer()
print(server.root, server.data, flush=True)
time.sleep(600)
"""


STARTS_A_FAKE = """
import time
from twilio_fake.testing import FakeTwilio
fake = FakeTwilio().start()
print(fake._server.pid, fake._scratch, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_test_run_killed_outright_leaves_no_server_behind() -> None:
    """pg_ctl leaves the server running on its own: a test run killed with SIGKILL (no clean-up
    runs) left its servers and their directories behind, one set a worker, for good."""
    with subprocess.Popen(
        [sys.executable, "-c", STARTS_A_SERVER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as starter:
        assert starter.stdout is not None
        root, data = starter.stdout.readline().split()
        postmaster = int((Path(data) / "postmaster.pid").read_text().split()[0])
        assert alive(postmaster)
        starter.kill()
    deadline = time.monotonic() + 20
    while alive(postmaster) or Path(root).exists():
        assert time.monotonic() < deadline, (alive(postmaster), Path(root).exists())
        time.sleep(0.05)


def test_a_fake_outlives_no_starter_killed_outright() -> None:
    """A fake runs in a session of its own (so that it can be killed as a group): a test run
    killed with SIGKILL left every fake it had started serving, for good, with its database."""
    with subprocess.Popen(
        [sys.executable, "-c", STARTS_A_FAKE], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as starter:
        assert starter.stdout is not None
        pid, scratch = starter.stdout.readline().split()
        assert alive(int(pid)) and Path(scratch, "fake.sqlite3").exists()
        starter.kill()
    deadline = time.monotonic() + 20
    while alive(int(pid)) or Path(scratch).exists():
        assert time.monotonic() < deadline, (alive(int(pid)), Path(scratch).exists())
        time.sleep(0.05)


def watchers_of(pid: int) -> list[int]:
    """The processes watching the server `pid` (`twilio_fake_contract/watcher.py`)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"watcher.py") for arg in args) and str(pid).encode() in args:
            found.append(int(cmdline.parent.name))
    return found


LISTENS = "import time; print('listening on http://127.0.0.1:1', flush=True); time.sleep(600)"


def test_a_server_stopped_by_its_starter_leaves_no_watcher_behind(tmp_path: Path) -> None:
    """The watcher leaves when told the starter has stopped the server itself: else each
    server started left a process waiting until the whole test run ended."""
    from twilio_fake_contract.serving import Server

    server = Server([sys.executable, "-c", LISTENS], scratch=tmp_path)
    try:
        assert watchers_of(server.pid)
    finally:
        server.stop()
    deadline = time.monotonic() + 20
    while watchers_of(server.pid):
        assert time.monotonic() < deadline, "the watcher stayed"
        time.sleep(0.05)
    assert tmp_path.exists()  # its owner removes it, not the watcher


STARTS_AND_FORKS = f"""
import os, sys, time
from twilio_fake_contract.serving import Server
server = Server([sys.executable, "-c", {LISTENS!r}])
child = os.fork()  # as multiprocessing does by default: it lives on after this process
if child == 0:
    time.sleep(600)
    os._exit(0)
print(server.pid, child, flush=True)
time.sleep(600)
"""


def test_a_child_forked_by_the_starter_does_not_keep_its_servers_alive() -> None:
    """A forked child held the watchers' pipes open: the servers lived as long as it did."""
    with subprocess.Popen(
        [sys.executable, "-c", STARTS_AND_FORKS], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as starter:
        assert starter.stdout is not None
        pid, child = map(int, starter.stdout.readline().split())
        try:
            starter.kill()
            deadline = time.monotonic() + 20
            while alive(pid):
                assert time.monotonic() < deadline, "the server still runs"
                time.sleep(0.05)
            assert alive(child)
        finally:
            os.kill(child, 9)


ENDS_SLOWLY = """
import pathlib, signal, sys, time
asked = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: asked.touch())
print('listening on http://127.0.0.1:1', flush=True)
while not asked.exists():
    time.sleep(0.05)
time.sleep(2)  # a graceful shutdown's work
"""

STARTS_AND_STOPS = f"""
import sys
from twilio_fake_contract.serving import Server
server = Server([sys.executable, "-c", {ENDS_SLOWLY!r}, sys.argv[1]], scratch=sys.argv[2])
print(server.pid, flush=True)
server.stop()
"""


def test_a_starter_killed_while_it_stops_its_server_still_leaves_nothing(tmp_path: Path) -> None:
    """The watcher was told to leave before the server had ended: a starter killed while it
    waited for its server to stop (a CI timeout in a test's teardown) left the scratch."""
    asked, scratch = tmp_path / "asked", tmp_path / "scratch"
    scratch.mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", STARTS_AND_STOPS, str(asked), str(scratch)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as starter:
        assert starter.stdout is not None
        pid = int(starter.stdout.readline())
        deadline = time.monotonic() + 20
        while not asked.exists():  # the starter is in stop(), waiting for the server
            assert time.monotonic() < deadline, "the server was not asked to stop"
            time.sleep(0.02)
        starter.kill()
    while alive(pid) or scratch.exists():
        assert time.monotonic() < deadline, (alive(pid), scratch.exists())
        time.sleep(0.05)
