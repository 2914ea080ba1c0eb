"""The request journal: what clients sent to the Twilio API, for tests to check, newest first.

Bounded: it keeps the last `journal_size` requests (a setting; 0 turns it off) and forgets the
oldest first, and every entry is bounded too (path, parameter count and value lengths), so a
long-running fake cannot grow without limit. It holds no credential: no header is recorded, and
the control surface (whose fixture documents carry auth tokens) is not journaled at all.

It lives in the memory of the server process: with `--workers N`, each worker keeps its own.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

MAX_PARAMETERS = 20  # per entry, for the query and for the form each
MAX_VALUE_LENGTH = 256  # longer names and values are cut, with "..." at the end
MAX_PATH_LENGTH = 512
MAX_KEPT_BODY = 8192  # bytes of a form body kept to record its parameters


@dataclass(frozen=True)
class Entry:
    time: str  # ISO 8601, UTC, to the millisecond
    request_id: str  # the Twilio-Request-Id the answer carried
    operation: str | None  # the operationId, e.g. CreatePhoneNumber; None if nothing matched
    method: str
    path: str
    query: dict[str, str | list[str]]
    form: dict[str, str | list[str]]
    status: int | None  # None: the connection was dropped (an injected fault)
    code: int | None  # the Twilio error code of an error answer
    account: str | None  # the Account SID the credentials belong to; None if they did not
    injected: str | None  # the SID of the fault that shaped the answer, if one did
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    """The last `size` entries, kept in a ring; safe to use from several threads."""

    def __init__(self, size: int) -> None:
        self.size = max(size, 0)
        self._entries: deque[Entry] = deque(maxlen=self.size)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def record(self, entry: Entry) -> None:
        if self.enabled:
            with self._lock:
                self._entries.append(entry)

    def entries(
        self,
        *,
        account: str | None = None,
        operation: str | None = None,
        method: str | None = None,
        status: int | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """The entries that match every filter given, newest first."""
        with self._lock:
            kept = list(self._entries)
        found = []
        for entry in reversed(kept):
            if (
                (account is None or entry.account == account)
                and (operation is None or entry.operation == operation)
                and (method is None or entry.method == method.upper())
                and (status is None or entry.status == status)
            ):
                found.append(entry)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parameters(encoded: bytes) -> dict[str, str | list[str]]:
    """Decode a query string or form body into name -> value (a list when a name repeats):
    the first MAX_PARAMETERS values, each name and value cut to MAX_VALUE_LENGTH."""
    text = encoded.decode("utf-8", errors="replace")
    pairs: Iterable[tuple[str, str]] = parse_qsl(text, keep_blank_values=True)
    found: dict[str, str | list[str]] = {}
    for _, (name, value) in zip(range(MAX_PARAMETERS), pairs, strict=False):
        name, value = _cut(name), _cut(value)
        previous = found.get(name)
        if previous is None:
            found[name] = value
        else:
            found[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return found


def cut_path(path: str) -> str:
    return path if len(path) <= MAX_PATH_LENGTH else path[: MAX_PATH_LENGTH - 3] + "..."


def error_code(body: bytes) -> int | None:
    """The `code` of a Twilio error body, if the body is one."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


def _cut(value: str) -> str:
    return value if len(value) <= MAX_VALUE_LENGTH else value[: MAX_VALUE_LENGTH - 3] + "..."
