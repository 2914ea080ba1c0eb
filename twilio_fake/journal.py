"""The request journal: what clients sent to the Twilio API, for tests to check, newest first.

Bounded: it keeps the last `journal_size` requests (a setting; 0 turns it off) and forgets the
oldest first, and every entry is bounded too (path, parameter count, and the size of each name
and value as JSON writes it, in bytes: a `%01` sent is one character but six bytes written), so
a long-running fake cannot grow without limit. A request is kept as it came (`Request`, each
part bounded) and decoded into its entry when read. It is read a page at a time, and each page is
bounded in bytes too (MAX_PAGE_BYTES), so that one read cannot build an answer of any size. It
holds no credential: no header is recorded, and the control surface (whose fixture documents
carry auth tokens) is not journaled at all.

It lives in the memory of the server process: with `--workers N`, each worker keeps its own.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

MAX_PARAMETERS = 20  # per entry, for the query and for the form each
MAX_VALUE_BYTES = 256  # longer names and values (as JSON writes them) are cut, "..." at the end
MAX_PATH_BYTES = 512
MAX_KEPT_BODY = 8192  # bytes of a form body kept to record its parameters
# One page of the journal, as JSON, stays under this (one entry, at most ~22 KB, always fits).
MAX_PAGE_BYTES = 1 << 20
_ELLIPSIS = "..."


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


class Request(NamedTuple):
    """A request as the edge saw it, kept as it came and read into an `Entry` only when the
    journal is read: decoding and cutting it for every request was a tenth of a fetch's CPU
    time, and most entries are never read. Each part is bounded already: the path is cut to as
    many characters as an entry's path can show, the query string by the request head's limit,
    the form and the error body by what the edge keeps of them."""

    moment: float  # time.time() when the request ended
    request_id: str
    operation: str | None
    method: str
    path: str
    query: bytes
    form: bytes
    status: int | None
    error_body: bytes
    account: str | None
    injected: str | None
    duration_ms: float

    def entry(self) -> Entry:
        return Entry(
            time=datetime.fromtimestamp(self.moment, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            request_id=self.request_id,
            operation=self.operation,
            method=self.method,
            path=cut_path(self.path),
            query=parameters(self.query),
            form=parameters(self.form),
            status=self.status,
            code=error_code(self.error_body) if self.error_body else None,
            account=self.account,
            injected=self.injected,
            duration_ms=self.duration_ms,
        )


class _Kept(NamedTuple):
    seq: int  # the entry's place in the journal, counted from 1 since the process started
    entry: Entry | Request


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    cursor: str | None  # where the next page starts; None: this page is the last


class Journal:
    """The last `size` entries, kept in a ring; safe to use from several threads."""

    def __init__(self, size: int, *, max_page_bytes: int = MAX_PAGE_BYTES) -> None:
        self.size = max(size, 0)
        self.max_page_bytes = max_page_bytes
        self._entries: deque[_Kept] = deque(maxlen=self.size)
        self._seq = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def record(self, entry: Entry | Request) -> None:
        if self.enabled:
            with self._lock:
                self._seq += 1
                self._entries.append(_Kept(self._seq, entry))

    def page(
        self,
        page_size: int,
        cursor: str | None = None,
        *,
        account: str | None = None,
        operation: str | None = None,
        method: str | None = None,
        status: int | None = None,
    ) -> Page:
        """The entries that match every filter given, newest first: at most `page_size` of
        them, and no more than `max_page_bytes` of JSON (at least one), from where `cursor`
        (from an earlier page of the same filters) says. Raises ValueError for a bad cursor."""
        before = _read_cursor(cursor) if cursor is not None else None
        with self._lock:
            kept = list(self._entries)
        found: list[Entry] = []
        taken, last = 0, 0
        for seq, kept_entry in reversed(kept):
            if before is not None and seq >= before:
                continue
            if not (
                (account is None or kept_entry.account == account)
                and (operation is None or kept_entry.operation == operation)
                and (method is None or kept_entry.method == method.upper())
                and (status is None or kept_entry.status == status)
            ):
                continue
            if len(found) >= page_size:
                return Page(found, _CURSOR_PREFIX + str(last))
            entry = kept_entry.entry() if isinstance(kept_entry, Request) else kept_entry
            # Measured here, when read, not on every request: a read is rare, requests are not.
            size = len(json.dumps(entry.as_dict()))
            if found and taken + size > self.max_page_bytes:
                return Page(found, _CURSOR_PREFIX + str(last))
            found.append(entry)
            taken += size + 1  # and the comma between entries
            last = seq
        return Page(found, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A URL's `user:password@` (a webhook's HTTP Basic credentials: StatusCallback, SmsUrl...):
# never written down, in this journal as in the callbacks' (up to the authority's last `@`).
_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def parameters(encoded: bytes) -> dict[str, str | list[str]]:
    """Decode a query string or form body into name -> value (a list when a name repeats):
    the first MAX_PARAMETERS values, each name and value cut to MAX_VALUE_BYTES as written."""
    text = encoded.decode("utf-8", errors="replace")
    pairs: Iterable[tuple[str, str]] = parse_qsl(text, keep_blank_values=True)
    found: dict[str, str | list[str]] = {}
    for _, (name, value) in zip(range(MAX_PARAMETERS), pairs, strict=False):
        name, value = _cut(name), _cut(_CREDENTIALS.sub(r"\1***@", value))
        previous = found.get(name)
        if previous is None:
            found[name] = value
        else:
            found[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return found


def cut_path(path: str) -> str:
    return _cut(path, MAX_PATH_BYTES)


def error_code(body: bytes) -> int | None:
    """The `code` of a Twilio error body, if the body is one."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


_CURSOR_PREFIX = "JE"  # a journal cursor: JE<the seq of the last entry given>


def _read_cursor(cursor: str) -> int:
    digits = cursor[len(_CURSOR_PREFIX) :]
    if not cursor.startswith(_CURSOR_PREFIX) or not (digits.isascii() and digits.isdigit()):
        raise ValueError(cursor)
    return int(digits)


def _written_size(text: str) -> int:
    """Bytes of a string as JSON writes it, without its quotes."""
    return len(json.dumps(text)) - 2


def _cut(value: str, limit: int = MAX_VALUE_BYTES) -> str:
    """`value` if JSON writes it in `limit` bytes or fewer; else its longest start that fits
    with "..." after it."""
    if len(value) <= limit // 12 or _written_size(value) <= limit:  # 12: an escaped astral
        return value
    room = limit - len(_ELLIPSIS)
    used = 0
    for index, character in enumerate(value):
        used += _written_size(character)
        if used > room:
            return value[:index] + _ELLIPSIS
    return value  # not reached: the whole value was too long
