"""Keyset paging for every list of the fake, and its page tokens.

A list is walked oldest first by an integer `seq` that only grows. A token is `PA` (a page after
a position) or `PB` (a page before one) followed by base64url(JSON payload) "." base64url
(HMAC-SHA256 of the prefix and payload). The payload names the list (its key: the pool's service
SID, say), the page index and the `seq` of the entry at the boundary, so a page is found with an
indexed range query however deep in the list it is, and entries added or removed while a client
walks the list neither repeat nor skip the others. A token is only good for the list it was
issued for, as Twilio's are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from sqlalchemy import Connection, bindparam, exists, select
from sqlalchemy.sql.elements import ColumnElement

from . import spec
from .exceptions import InvalidPageToken, PageTokenRequired
from .statements import Prepared

if TYPE_CHECKING:
    from .db import Database

Direction = Literal["after", "before"]
_PREFIX: dict[Direction, str] = {"after": "PA", "before": "PB"}
_DIRECTION = {prefix: direction for direction, prefix in _PREFIX.items()}


@dataclass(frozen=True)
class PageCursor:
    """Where a page starts: strictly after (or before) the entry with `seq` in the list `key`."""

    key: str
    page: int
    direction: Direction
    seq: int


Row = TypeVar("Row")
Item = TypeVar("Item")


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a list, with its neighbours' tokens (None at the ends). Its rows are as the
    list's statement selected them (`seq` first), or what a model made of them (`of`)."""

    rows: list[Row]
    page: int
    page_size: int
    previous_token: str | None
    next_token: str | None

    def of(self, make: Callable[[Row], Item]) -> Page[Item]:
        """The same page, each row made into what the model lists (a Service, a Message...)."""
        rows = [make(row) for row in self.rows]
        return Page(rows, self.page, self.page_size, self.previous_token, self.next_token)


class KeysetList:
    """A list of rows in `seq` order, in a scope (a WHERE clause with bound parameters, e.g. one
    service's pool); its statements are built once and SQLAlchemy compiles each once.
    `descending` walks it newest first (the largest `seq` first), as Twilio lists messages.
    A list built once for the life of the process may be `prepared` (statements.Prepared: its
    rows are then plain tuples); one built per request (its scope depends on the filters) must
    not be, or it would be compiled anew every time. A list whose pages past the first `need a
    token` (the 2010-04-01 API's) refuses a `page` above 0 asked for without one."""

    def __init__(
        self,
        rows: Any,
        seq: Any,
        scope: ColumnElement[bool],
        *,
        descending: bool = False,
        prepared: bool = False,
        need_a_token: bool = False,
    ) -> None:
        self.need_a_token = need_a_token
        page = rows.where(scope).limit(bindparam("size"))
        boundary: Any = bindparam("seq")
        # "Later in the list" is a larger seq, or a smaller one when walking newest first.
        later, earlier = (
            (seq < boundary, seq > boundary) if descending else (seq > boundary, seq < boundary)
        )
        forward, backward = (seq.desc(), seq) if descending else (seq, seq.desc())
        statement = Prepared if prepared else _Executed
        self._first = statement(page.order_by(forward))
        self._after = statement(page.where(later).order_by(forward))
        self._before = statement(page.where(earlier).order_by(backward))
        self._any_before = statement(select(exists().where(scope, earlier)))
        self._any_after = statement(select(exists().where(scope, later)))

    def page(
        self,
        conn: Connection,
        scope: dict[str, Any],
        key: str,
        tokens: PageTokens,
        *,
        page_size: int | None = None,
        page: int | None = None,
        token: str | None = None,
    ) -> Page:
        """One page, in the list's order (oldest first unless `descending`), of at most the
        spec's page-size cap (rows as selected, `seq` first); `scope` binds the scope's
        parameters, `key` names the list in its tokens.

        With a token, the page is the rows after (or before) its boundary; without one, the
        first page. `page` selects nothing: as for Twilio, it is the client's own count, echoed
        in the page (the token's count when the client sends none), except where the list
        needs a token past its first page (PageTokenRequired).
        """
        if self.need_a_token and page and not token:
            raise PageTokenRequired()
        cursor = tokens.read(token, key) if token else None
        size = min(page_size or spec.page_size_default(), spec.page_size_cap())
        index = page if page is not None else cursor.page if cursor is not None else 0
        bound = {**scope, "size": size + 1}
        # One row more than the page tells whether the list goes on in the direction read; the
        # other direction is known (the start of the list) or asked once.
        if cursor is None:
            rows = self._first.rows(conn, bound)
            more_after, rows, more_before = len(rows) > size, rows[:size], False
        elif cursor.direction == "after":
            rows = self._after.rows(conn, {**bound, "seq": cursor.seq})
            more_after, rows = len(rows) > size, rows[:size]
            more_before = bool(rows) and bool(
                self._any_before.scalar(conn, {**scope, "seq": rows[0][0]})
            )
        else:
            rows = self._before.rows(conn, {**bound, "seq": cursor.seq})
            more_before, rows = len(rows) > size, rows[:size][::-1]
            more_after = bool(rows) and bool(
                self._any_after.scalar(conn, {**scope, "seq": rows[-1][0]})
            )
        previous_token = next_token = None
        if rows:
            if more_before:
                previous_token = tokens.issue(
                    PageCursor(key, max(index - 1, 0), "before", rows[0][0])
                )
            if more_after:
                next_token = tokens.issue(PageCursor(key, index + 1, "after", rows[-1][0]))
        return Page(list(rows), index, size, previous_token, next_token)

    def read_page(
        self,
        db: Database,
        scope: dict[str, Any],
        key: str,
        tokens: PageTokens,
        *,
        page_size: int | None = None,
        page: int | None = None,
        token: str | None = None,
    ) -> Page:
        """`page`, read as it needs to be: a first page is one statement, run alone
        (`Database.alone`: no BEGIN and COMMIT around it); a page from a token takes two (its
        rows, and whether the list goes on the other way), in one read transaction."""
        if token is None:
            return db.alone(self.page, scope, key, tokens, page_size=page_size, page=page)
        with db.read() as conn:
            return self.page(conn, scope, key, tokens, page_size=page_size, page=page, token=token)


class _Executed:
    """A statement run through `Connection.execute` (its rows SQLAlchemy's), as `Prepared` is
    run otherwise."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement

    def rows(self, conn: Connection, parameters: dict[str, Any]) -> list[Any]:
        return list(conn.execute(self.statement, parameters).all())

    def scalar(self, conn: Connection, parameters: dict[str, Any]) -> Any:
        return conn.scalar(self.statement, parameters)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    """Issue and check page tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, cursor: PageCursor) -> str:
        prefix = _PREFIX[cursor.direction]
        payload = json.dumps(
            {"s": cursor.key, "p": cursor.page, "k": cursor.seq}, separators=(",", ":")
        ).encode()
        return f"{prefix}{_b64(payload)}.{_b64(self._sign(prefix.encode() + payload))}"

    def read(self, token: str, key: str) -> PageCursor:
        """Return the cursor a token stands for, or raise InvalidPageToken."""
        direction = _DIRECTION.get(token[:2])
        encoded_payload, _, encoded_signature = token[2:].partition(".")
        try:
            payload = _unb64(encoded_payload)
            signature = _unb64(encoded_signature)
        except (binascii.Error, ValueError):
            raise InvalidPageToken() from None
        signed = token[:2].encode("utf-8") + payload  # the direction is signed too
        if direction is None or not hmac.compare_digest(signature, self._sign(signed)):
            raise InvalidPageToken()
        fields = json.loads(payload)
        if fields["s"] != key:
            raise InvalidPageToken()  # issued for another list: Twilio's token is per list too
        return PageCursor(key, fields["p"], direction, fields["k"])
