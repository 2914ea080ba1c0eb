"""How to start this fake as a process of its own, for the contract kit, the tests and the bench.

Light on purpose: `twilio-fake contract` (contract_command.py) needs this and nothing of the
server, so that the kit's run starts in the time of the kit's own imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

MEMORY = ":memory:"  # the DATABASE setting of a fake that keeps nothing (SQLite in memory)


def serve_command(database: str | Path = MEMORY, *options: str) -> list[str]:
    """The command that starts this fake on a free port (it prints READY and its URL)."""
    return [
        sys.executable, "-m", "twilio_fake", "--port", "0", "--database", str(database), *options,
    ]  # fmt: skip
