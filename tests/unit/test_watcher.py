"""The watcher beside each server (`twilio_fake_contract/watcher.py`): what it signals, when."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from twilio_fake_contract import watcher

IGNORES_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); "
    "time.sleep(600)"
)


def orders(word: bytes) -> int:
    """A pipe's read end holding `word`, its write end closed (the starter's word, or its end)."""
    read, write = os.pipe()
    os.write(write, word)
    os.close(write)
    return read


@pytest.fixture
def server():
    process = subprocess.Popen(
        [sys.executable, "-c", IGNORES_TERM], start_new_session=True, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    process.stdout.readline()  # it ignores SIGTERM from now on
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()
    process.stdout.close()


@pytest.fixture
def signals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    sent: list[tuple[int, int]] = []
    real = os.killpg

    def killpg(pgid: int, signum: int) -> None:
        sent.append((pgid, signum))
        real(pgid, signum)

    monkeypatch.setattr(watcher.os, "killpg", killpg)
    return sent


def test_a_starters_word_sends_nothing(server, signals, tmp_path: Path) -> None:
    watcher.watch(watcher.Watched(server.pid), str(tmp_path), orders(b"x"))
    assert signals == [] and server.poll() is None and tmp_path.exists()


def test_an_ended_starter_ends_a_server_deaf_to_sigterm(
    server, signals, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher, "GRACE", 0.5)
    watched = watcher.Watched(server.pid)
    watcher.watch(watched, str(tmp_path), orders(b""))
    assert signals == [(server.pid, signal.SIGTERM), (server.pid, signal.SIGKILL)]
    assert server.wait(timeout=10) == -signal.SIGKILL and not tmp_path.exists()


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "kill-0"])
def test_a_server_that_has_ended_is_not_signalled(
    server, signals, tmp_path: Path, pidfd: bool
) -> None:
    """Its number may be another's by then."""
    watched = watcher.Watched(server.pid)
    if not pidfd:
        watched.pidfd = None
    server.kill()
    server.wait()  # reaped: the number is free
    watcher.watch(watched, str(tmp_path), orders(b""))
    assert signals == [] and not tmp_path.exists()


@pytest.mark.parametrize("pid", ["1", "0", "-1"])
def test_no_server_is_init_or_everyone(pid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """killpg(1) signals init's group; kill(-1) every process one may signal."""
    watched: list[int] = []
    monkeypatch.chdir(Path.cwd())  # put back, should main() go on to leave it
    monkeypatch.setattr(watcher, "watch", lambda server, *_: watched.append(server.pid))
    with pytest.raises(SystemExit):
        watcher.main(["watcher.py", pid])
    assert watched == []
