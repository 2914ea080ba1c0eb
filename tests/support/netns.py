"""A network namespace with only loopback, for tests where a mistake could reach the internet.

`loopback_only()` moves the calling thread (pytest's) into a fresh network namespace with `lo`
up and nothing else, and back when it ends. Every socket opened and every process started inside
it (a server, an SDK, a CLI) can reach 127.0.0.1 and nothing beyond: a proxy that forwarded, or a
client that ignored its proxy, fails instead of reaching Twilio. It needs root (CI runs as root),
as `unshare --net` does; Python 3.11 has no os.unshare, so libc's is called.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import subprocess
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)} (the proxy tests need root)")


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
            assert_isolated()
            yield
        finally:
            _check(_libc.setns(original, CLONE_NEWNET), "setns back")
    finally:
        os.close(original)


def assert_isolated() -> None:
    """Check that nothing but loopback is reachable from here (a public address fails at once)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        code = probe.connect_ex(("192.0.2.1", 443))  # TEST-NET-1: unreachable without a route
    finally:
        probe.close()
    assert code == errno.ENETUNREACH, f"the namespace reaches beyond loopback ({code})"
