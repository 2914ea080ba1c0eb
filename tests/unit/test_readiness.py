"""twilio_fake/readiness.py: how the parent of `--workers` counts the workers that serve (the
whole path, a server with two workers, is in tests/e2e/test_command.py)."""

from __future__ import annotations

import os
import subprocess

from twilio_fake.readiness import still_serving


def test_a_worker_that_died_since_it_said_it_serves_no_longer_counts() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # exited and reaped: its process ID names nobody now
    serving = still_serving(set(), str(gone.pid).encode())
    assert serving == set()
    serving = still_serving(serving, str(os.getpid()).encode())
    assert serving == {os.getpid()}
    assert still_serving(serving, str(gone.pid).encode()) == {os.getpid()}


def test_a_word_that_is_not_a_process_id_counts_for_nobody() -> None:
    me = {os.getpid()}
    for word in (b"", b"ready", b"0", b"-1", b"12x", b"9" * 32):
        assert still_serving(me, word) == me
