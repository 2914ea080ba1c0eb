"""The tests' throwaway PostgreSQL server ends with the process that started it, however it ends."""

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
