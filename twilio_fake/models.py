"""The rules and state of Messaging Service phone number pools; nothing here knows about HTTP."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    String,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    type_coerce,
    update,
)

from . import db
from .exceptions import (
    InvalidParameter,
    PhoneNumberAlreadyInService,
    PhoneNumberInAnotherService,
    PhoneNumberNotInAccount,
    ResourceNotFound,
    ServicePoolFull,
)
from .fixtures import Account
from .paging import PageCursor, PageTokens

DEFAULT_POOL_LIMIT = 400  # Twilio's documented default per Messaging Service
DEFAULT_PAGE_SIZE = 50


def utcnow() -> datetime:
    """Return the current UTC time as stored: naive, whole seconds (Twilio's dates have none)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# Compared against when a user name is unknown, so that a miss costs as much as a hit.
_NO_SUCH_SECRET = _digest(secrets.token_hex(32))


class PoolEntry(NamedTuple):
    """A phone number in a service's pool (a named tuple: a list page makes fifty of them)."""

    sid: str
    account_sid: str
    service_sid: str
    phone_number: str
    country_code: str
    capabilities: tuple[str, ...]
    date_created: datetime
    date_updated: datetime


@dataclass(frozen=True)
class Page:
    """One page of a pool, with the tokens of its neighbours (None at the ends)."""

    entries: list[PoolEntry]
    page: int
    page_size: int
    previous_token: str | None
    next_token: str | None


@dataclass(frozen=True)
class Counts:
    accounts: int
    services: int
    incoming_phone_numbers: int
    pool_entries: int


_entry_columns = (
    db.pool_entries.c.seq,
    db.pool_entries.c.sid,
    db.incoming_phone_numbers.c.account_sid,
    db.pool_entries.c.service_sid,
    db.incoming_phone_numbers.c.phone_number,
    db.incoming_phone_numbers.c.country_code,
    # As stored (JSON text on SQLite), decoded by `_capabilities`: a list page holds fifty
    # entries with a handful of distinct values, and decoding each was a sixth of its cost.
    type_coerce(db.incoming_phone_numbers.c.capabilities, String),
    db.pool_entries.c.date_created,
    db.pool_entries.c.date_updated,
)
_entries = select(*_entry_columns).join_from(
    db.pool_entries,
    db.incoming_phone_numbers,
    db.pool_entries.c.sid == db.incoming_phone_numbers.c.sid,
)


@functools.lru_cache(maxsize=256)
def _decode_capabilities(stored: str) -> tuple[str, ...]:
    return tuple(json.loads(stored))


def _capabilities(stored: Any) -> tuple[str, ...]:
    # Drivers with a JSON type of their own (psycopg) hand over the list already decoded.
    return _decode_capabilities(stored) if isinstance(stored, str) else tuple(stored)


def _entry(row: Any) -> PoolEntry:
    """Build an entry from a row of `_entry_columns` (seq first, then the entry's fields)."""
    _seq, sid, account, service, number, country, capabilities, created, updated = row
    return PoolEntry(
        sid, account, service, number, country, _capabilities(capabilities), created, updated
    )


class _Queries:
    """The reads on the request path, compiled once for the database (see db.Query)."""

    def __init__(self, database: db.Database) -> None:
        seq, in_pool = db.pool_entries.c.seq, db.pool_entries.c.service_sid == bindparam("service")
        self.account = database.query(
            select(db.accounts.c.sid, db.accounts.c.auth_token_hash).where(
                db.accounts.c.sid == bindparam("user")
            )
        )
        self.api_key = database.query(
            select(db.api_keys.c.account_sid, db.api_keys.c.secret_hash).where(
                db.api_keys.c.sid == bindparam("user"), db.api_keys.c.disabled.is_(False)
            )
        )
        self.entry = database.query(
            _entries.where(
                db.pool_entries.c.sid == bindparam("sid"),
                in_pool,
                db.incoming_phone_numbers.c.account_sid == bindparam("account"),
            )
        )
        service = select(db.services.c.sid).where(
            db.services.c.sid == bindparam("service"),
            db.services.c.account_sid == bindparam("account"),
        )
        self.service = database.query(service)
        # -- writes (and the reads inside them) --
        self.service_for_update = database.query(service.with_for_update())
        # The account's number, and the service whose pool holds it (None: in no pool).
        self.number = database.query(
            select(db.incoming_phone_numbers.c.sid, db.pool_entries.c.service_sid)
            .outerjoin_from(
                db.incoming_phone_numbers,
                db.pool_entries,
                db.pool_entries.c.sid == db.incoming_phone_numbers.c.sid,
            )
            .where(
                db.incoming_phone_numbers.c.sid == bindparam("sid"),
                db.incoming_phone_numbers.c.account_sid == bindparam("account"),
            )
        )
        self.pool_size = database.query(
            select(func.count()).select_from(db.pool_entries).where(in_pool)
        )
        self.insert = database.query(
            insert(db.pool_entries).values(
                sid=bindparam("sid"),
                service_sid=bindparam("service"),
                date_created=bindparam("created"),
                date_updated=bindparam("updated"),
            )
        )
        self.entry_by_sid = database.query(
            _entries.where(db.pool_entries.c.sid == bindparam("sid"))
        )
        self.remove = database.query(
            delete(db.pool_entries)
            .where(
                db.pool_entries.c.sid == bindparam("sid"),
                in_pool,
                exists().where(  # the number is the account's: one primary-key lookup
                    db.incoming_phone_numbers.c.sid == db.pool_entries.c.sid,
                    db.incoming_phone_numbers.c.account_sid == bindparam("account"),
                ),
            )
            .returning(db.pool_entries.c.sid)
        )
        page = _entries.where(in_pool).limit(bindparam("size"))
        self.page_at = database.query(page.order_by(seq).offset(bindparam("offset")))
        self.page_after = database.query(page.where(seq > bindparam("seq")).order_by(seq))
        self.page_before = database.query(page.where(seq < bindparam("seq")).order_by(seq.desc()))
        self.any_before = database.query(select(exists().where(in_pool, seq < bindparam("seq"))))
        self.any_after = database.query(select(exists().where(in_pool, seq > bindparam("seq"))))


def _pool_path(service_sid: str) -> str:
    return f"/Services/{service_sid}/PhoneNumbers"


class Backend:
    """All pools of all accounts, kept in one database."""

    def __init__(
        self,
        database: str = db.MEMORY,
        fixtures: Iterable[Account] = (),
        *,
        pool_limit: int = DEFAULT_POOL_LIMIT,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db.Database(database)
        self.startup_fixtures = list(fixtures)
        self.pool_limit = pool_limit
        self.clock = clock
        self.tokens = PageTokens(self._page_token_key())
        self.queries = _Queries(self.db)
        self.load(self.startup_fixtures)

    def _page_token_key(self) -> bytes:
        """Read the key that signs page tokens, creating it once per database."""
        with self.db.write() as conn:
            key = conn.scalar(select(db.settings.c.value).where(db.settings.c.name == "page_key"))
            if key is None:
                key = secrets.token_hex(32)
                conn.execute(insert(db.settings).values(name="page_key", value=key))
        return bytes.fromhex(key)

    # -- fixtures ---------------------------------------------------------------------------
    def load(self, accounts: Iterable[Account]) -> None:
        """Add or update accounts and what they own; pool entries are left as they are."""
        with self.db.write() as conn:
            for account in accounts:
                _upsert(conn, db.accounts, account.sid, auth_token_hash=_digest(account.auth_token))
                for key_sid, secret in account.api_keys.items():
                    _upsert(
                        conn,
                        db.api_keys,
                        key_sid,
                        account_sid=account.sid,
                        secret_hash=_digest(secret),
                        disabled=key_sid in account.disabled_api_keys,
                    )
                for service_sid, name in account.services.items():
                    _upsert(
                        conn, db.services, service_sid, account_sid=account.sid, friendly_name=name
                    )
                for number in account.incoming_phone_numbers:
                    _upsert(
                        conn,
                        db.incoming_phone_numbers,
                        number.sid,
                        account_sid=account.sid,
                        phone_number=number.phone_number,
                        country_code=number.country_code,
                        capabilities=list(number.capabilities),
                    )

    def reset(self) -> None:
        """Drop the pools and everything loaded since start-up; load the start-up fixtures again."""
        with self.db.write() as conn:
            for table in (
                db.pool_entries,
                db.incoming_phone_numbers,
                db.services,
                db.api_keys,
                db.accounts,
            ):
                conn.execute(delete(table))
        self.load(self.startup_fixtures)

    def counts(self) -> Counts:
        with self.db.read() as conn:
            return Counts(
                *(
                    conn.scalar(select(func.count()).select_from(table)) or 0
                    for table in (
                        db.accounts,
                        db.services,
                        db.incoming_phone_numbers,
                        db.pool_entries,
                    )
                )
            )

    # -- authentication ---------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> str | None:
        """Return the Account SID that the credentials belong to, or None.

        The user name is an Account SID (password: its auth token) or an API Key SID (password:
        the key's secret; a disabled key signs nobody in). Secrets are stored as SHA-256 digests
        and compared in constant time.
        """
        query = {"AC": self.queries.account, "SK": self.queries.api_key}.get(username[:2])
        rows = self.db.rows(query, user=username) if query else []
        stored = rows[0][1] if rows else _NO_SUCH_SECRET
        if hmac.compare_digest(_digest(password), stored) and rows:
            return str(rows[0][0])
        return None

    # -- the pool ---------------------------------------------------------------------------
    def add_phone_number(
        self, account_sid: str, service_sid: str, phone_number_sid: str
    ) -> PoolEntry:
        """Put one of the account's incoming numbers into a service's pool."""
        q = self.queries
        try:
            with self.db.transaction() as run:
                # FOR UPDATE serialises adds to one service on databases with row locks; SQLite
                # already holds the database's write lock (see Database.transaction).
                if not run(q.service_for_update, service=service_sid, account=account_sid):
                    raise ResourceNotFound.at(_pool_path(service_sid))
                self._check_can_add(run, account_sid, service_sid, phone_number_sid)
                now = self.clock()
                run(q.insert, sid=phone_number_sid, service=service_sid, created=now, updated=now)
                return _entry(run(q.entry_by_sid, sid=phone_number_sid)[0])
        except self.db.integrity_errors:
            # Another writer added the same number between our check and our insert (possible
            # only on databases without a global write lock): report what it did.
            with self.db.snapshot() as run:
                self._check_can_add(run, account_sid, service_sid, phone_number_sid)
            raise

    def _check_can_add(
        self, run: db.Runner, account_sid: str, service_sid: str, phone_number_sid: str
    ) -> None:
        q = self.queries
        number = run(q.number, sid=phone_number_sid, account=account_sid)
        if not number:
            raise PhoneNumberNotInAccount(
                f"PhoneNumberSid {phone_number_sid} is not an incoming phone number of this account"
            )
        current_service = number[0][1]
        if current_service == service_sid:
            raise PhoneNumberAlreadyInService()
        if current_service is not None:
            raise PhoneNumberInAnotherService()
        size = run(q.pool_size, service=service_sid)[0][0]
        if size >= self.pool_limit:
            raise ServicePoolFull(
                f"The Messaging Service {service_sid} already holds {size} phone numbers, "
                f"its limit is {self.pool_limit}"
            )

    def get_phone_number(self, account_sid: str, service_sid: str, sid: str) -> PoolEntry:
        rows = self.db.rows(self.queries.entry, sid=sid, service=service_sid, account=account_sid)
        if not rows:
            raise ResourceNotFound.at(f"{_pool_path(service_sid)}/{sid}")
        return _entry(rows[0])

    def remove_phone_number(self, account_sid: str, service_sid: str, sid: str) -> None:
        with self.db.transaction() as run:
            removed = run(self.queries.remove, sid=sid, service=service_sid, account=account_sid)
        if not removed:
            raise ResourceNotFound.at(f"{_pool_path(service_sid)}/{sid}")

    def list_phone_numbers(
        self,
        account_sid: str,
        service_sid: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        page: int | None = None,
        page_token: str | None = None,
    ) -> Page:
        """Return one page of a pool, oldest entry first.

        With a token, the page is the `page_size` entries after (or before) the token's boundary;
        without one, `page` counts pages from the start.
        """
        cursor = self.tokens.read(page_token, service_sid) if page_token else None
        if cursor is not None and page is not None and page != cursor.page:
            raise InvalidParameter(
                f"Page {page} does not match the PageToken, which is for page {cursor.page}"
            )
        q = self.queries
        with self.db.snapshot() as run:
            if not run(q.service, service=service_sid, account=account_sid):
                raise ResourceNotFound.at(_pool_path(service_sid))
            if cursor is None:
                index = page or 0
                rows = run(q.page_at, service=service_sid, size=page_size, offset=index * page_size)
            elif cursor.direction == "after":
                index = cursor.page
                rows = run(q.page_after, service=service_sid, size=page_size, seq=cursor.seq)
            else:
                index = cursor.page
                rows = run(q.page_before, service=service_sid, size=page_size, seq=cursor.seq)
                rows.reverse()
            previous_token = next_token = None
            if rows:
                first, last = rows[0][0], rows[-1][0]
                if run(q.any_before, service=service_sid, seq=first)[0][0]:
                    previous_token = self.tokens.issue(
                        PageCursor(service_sid, max(index - 1, 0), "before", first)
                    )
                if run(q.any_after, service=service_sid, seq=last)[0][0]:
                    next_token = self.tokens.issue(
                        PageCursor(service_sid, index + 1, "after", last)
                    )
        return Page([_entry(row) for row in rows], index, page_size, previous_token, next_token)


def _upsert(conn: Connection, table: Any, sid: str, **values: Any) -> None:
    """Insert a row keyed by `sid`, or update it if it exists (portable across databases)."""
    if conn.execute(update(table).where(table.c.sid == sid).values(**values)).rowcount == 0:
        conn.execute(insert(table).values(sid=sid, **values))
