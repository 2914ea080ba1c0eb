"""The rules and state of Messaging Service phone number pools; nothing here knows about HTTP."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Row,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)

from . import db
from .exceptions import (
    PhoneNumberAlreadyInService,
    PhoneNumberCannotMessage,
    PhoneNumberInAnotherService,
    PhoneNumberNotInAccount,
    ResourceNotFound,
    ServicePoolFull,
)
from .fixtures import Account, FixtureError, IncomingNumber
from .paging import PageCursor, PageTokens

DEFAULT_POOL_LIMIT = 400  # Twilio's documented default per Messaging Service
DEFAULT_PAGE_SIZE = 50
# The most entries one page holds. Twilio's spec says PageSize is at most 1000, but its SDKs send
# the caller's whole `limit` as PageSize and Twilio accepts it; the page then holds at most this
# many (inferred, not observed) and the SDK follows next_page_url for the rest.
MAX_PAGE_SIZE = 1000


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
    db.incoming_phone_numbers.c.capabilities,
    db.pool_entries.c.date_created,
    db.pool_entries.c.date_updated,
)
_entries = select(*_entry_columns).join_from(
    db.pool_entries,
    db.incoming_phone_numbers,
    db.pool_entries.c.sid == db.incoming_phone_numbers.c.sid,
)


def _entry(row: Any) -> PoolEntry:
    """Build an entry from a row of `_entry_columns` (seq first, then the entry's fields)."""
    _seq, sid, account, service, number, country, capabilities, created, updated = row
    return PoolEntry(sid, account, service, number, country, tuple(capabilities), created, updated)


# The statements of the rules, built once; SQLAlchemy compiles each once per dialect and caches
# it. Values are bound by name at execution.
_seq = db.pool_entries.c.seq
_in_pool = db.pool_entries.c.service_sid == bindparam("service")
_ACCOUNT = select(db.accounts.c.sid, db.accounts.c.auth_token_hash).where(
    db.accounts.c.sid == bindparam("user")
)
_API_KEY = select(db.api_keys.c.account_sid, db.api_keys.c.secret_hash).where(
    db.api_keys.c.sid == bindparam("user"), db.api_keys.c.disabled.is_(False)
)
_SERVICE = select(db.services.c.sid).where(
    db.services.c.sid == bindparam("service"),
    db.services.c.account_sid == bindparam("account"),
)
# Both the number and the service must be the caller's: loads cannot move either to another
# account (see _load), and the queries check it again, a primary-key lookup each.
_SERVICE_IS_THE_ACCOUNTS = exists().where(
    db.services.c.sid == bindparam("service"),
    db.services.c.account_sid == bindparam("account"),
)
_ENTRY = _entries.where(
    db.pool_entries.c.sid == bindparam("sid"),
    _in_pool,
    db.incoming_phone_numbers.c.account_sid == bindparam("account"),
    _SERVICE_IS_THE_ACCOUNTS,
)
_SERVICE_FOR_ADD = _SERVICE.with_for_update()
# The account's number, what an entry shows of it, and the service whose pool holds it (None:
# in no pool).
_NUMBER = (
    select(
        db.pool_entries.c.service_sid,
        db.incoming_phone_numbers.c.phone_number,
        db.incoming_phone_numbers.c.country_code,
        db.incoming_phone_numbers.c.capabilities,
    )
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
_POOL_SIZE = select(func.count()).select_from(db.pool_entries).where(_in_pool)
_INSERT = insert(db.pool_entries).values(
    sid=bindparam("sid"),
    service_sid=bindparam("service"),
    date_created=bindparam("now"),
    date_updated=bindparam("now"),
)
_REMOVE = (
    delete(db.pool_entries)
    .where(
        db.pool_entries.c.sid == bindparam("sid"),
        _in_pool,
        exists().where(  # the number is the account's: one primary-key lookup
            db.incoming_phone_numbers.c.sid == db.pool_entries.c.sid,
            db.incoming_phone_numbers.c.account_sid == bindparam("account"),
        ),
        _SERVICE_IS_THE_ACCOUNTS,
    )
    .returning(db.pool_entries.c.sid)
)
_PAGE = _entries.where(_in_pool).limit(bindparam("size"))
_PAGE_FIRST = _PAGE.order_by(_seq)
_PAGE_AFTER = _PAGE.where(_seq > bindparam("seq")).order_by(_seq)
_PAGE_BEFORE = _PAGE.where(_seq < bindparam("seq")).order_by(_seq.desc())
_ANY_BEFORE = select(exists().where(_in_pool, _seq < bindparam("seq")))
_ANY_AFTER = select(exists().where(_in_pool, _seq > bindparam("seq")))


_OWNED_SERVICES = select(db.services.c.sid).where(db.services.c.account_sid == bindparam("account"))
_OWNED_NUMBERS = select(db.incoming_phone_numbers.c.sid).where(
    db.incoming_phone_numbers.c.account_sid == bindparam("account")
)
# What dropping an account deletes, in an order the foreign keys allow. By ownership, a pool
# only holds numbers of its service's account; both sides are cleared all the same.
_DROP_ACCOUNT = (
    delete(db.pool_entries).where(
        db.pool_entries.c.service_sid.in_(_OWNED_SERVICES)
        | db.pool_entries.c.sid.in_(_OWNED_NUMBERS)
    ),
    delete(db.incoming_phone_numbers).where(
        db.incoming_phone_numbers.c.account_sid == bindparam("account")
    ),
    delete(db.services).where(db.services.c.account_sid == bindparam("account")),
    delete(db.api_keys).where(db.api_keys.c.account_sid == bindparam("account")),
    delete(db.accounts).where(db.accounts.c.sid == bindparam("account")),
)


def _new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _new_phone_number() -> str:
    """A US number for a minted account: San Francisco's area code, a random line."""
    return f"+1415{secrets.randbelow(8_000_000) + 2_000_000}"


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
        self.load(self.startup_fixtures)

    def _page_token_key(self) -> bytes:
        """Read the key that signs page tokens, creating it once per database (replicas that
        start at once race to create it: the first wins, the others read it)."""
        read = select(db.settings.c.value).where(db.settings.c.name == "page_key")
        try:
            with self.db.write() as conn:
                key = conn.scalar(read)
                if key is None:
                    key = secrets.token_hex(32)
                    conn.execute(insert(db.settings).values(name="page_key", value=key))
        except self.db.integrity_errors:
            with self.db.read() as conn:
                key = conn.scalar(read)
        return bytes.fromhex(str(key))

    # -- fixtures ---------------------------------------------------------------------------
    def load(self, accounts: Iterable[Account]) -> None:
        """Add or update accounts and what they own; pool entries are left as they are."""
        with self.db.write() as conn:
            self.db.lock_for_bulk_change(conn)
            _load(conn, accounts)

    def reset(self) -> None:
        """Drop the pools and everything loaded since start-up; load the start-up fixtures again.

        One transaction: no reader, in any process, sees the state half gone.
        """
        with self.db.write() as conn:
            self.db.lock_for_bulk_change(conn)
            for table in (
                db.pool_entries,
                db.incoming_phone_numbers,
                db.services,
                db.api_keys,
                db.accounts,
            ):
                conn.execute(delete(table))
            _load(conn, self.startup_fixtures)

    def mint_account(self, services: int, numbers: int) -> Account:
        """Create an account of its own: a random SID and auth token, `services` services and
        `numbers` incoming numbers able to send SMS and MMS (and take calls).

        SIDs are random (128 bits), so accounts minted by parallel tests never meet.
        """
        account = Account(
            sid=_new_sid("AC"),
            auth_token=secrets.token_hex(16),
            services={_new_sid("MG"): f"Minted service {i + 1}" for i in range(services)},
            incoming_phone_numbers=tuple(
                IncomingNumber(_new_sid("PN"), _new_phone_number(), "US", ("MMS", "SMS", "Voice"))
                for _ in range(numbers)
            ),
        )
        self.load([account])
        return account

    def drop_account(self, account_sid: str) -> None:
        """Remove an account and everything it owns, pools included, in one transaction."""
        owned = {"account": account_sid}
        with self.db.write() as conn:
            self.db.lock_for_bulk_change(conn)
            if conn.execute(_ACCOUNT, {"user": account_sid}).first() is None:
                raise ResourceNotFound.at(f"/Accounts/{account_sid}")
            for statement in _DROP_ACCOUNT:
                conn.execute(statement, owned)

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
        query = {"AC": _ACCOUNT, "SK": _API_KEY}.get(username[:2])
        row = self.db.first(query, {"user": username}) if query is not None else None
        stored = row[1] if row else _NO_SUCH_SECRET
        if hmac.compare_digest(_digest(password), stored) and row:
            return str(row[0])
        return None

    # -- the pool ---------------------------------------------------------------------------
    def add_phone_number(
        self, account_sid: str, service_sid: str, phone_number_sid: str
    ) -> PoolEntry:
        """Put one of the account's incoming numbers into a service's pool."""
        service = {"service": service_sid, "account": account_sid}
        try:
            with self.db.write() as conn:
                # FOR UPDATE serialises adds to one service on databases with row locks; SQLite
                # already holds the database's write lock (see Database.write).
                if conn.execute(_SERVICE_FOR_ADD, service).first() is None:
                    raise ResourceNotFound.at(_pool_path(service_sid))
                number = self._check_can_add(conn, account_sid, service_sid, phone_number_sid)
                now = self.clock()
                conn.execute(_INSERT, {"sid": phone_number_sid, "service": service_sid, "now": now})
        except self.db.integrity_errors:
            # Another writer added the same number between our check and our insert (possible
            # only on databases without a global write lock): report what it did.
            with self.db.read() as conn:
                self._check_can_add(conn, account_sid, service_sid, phone_number_sid)
            raise
        _service, phone_number, country_code, capabilities = number
        return PoolEntry(
            phone_number_sid,
            account_sid,
            service_sid,
            phone_number,
            country_code,
            tuple(capabilities),
            now,
            now,
        )

    def _check_can_add(
        self, conn: Connection, account_sid: str, service_sid: str, phone_number_sid: str
    ) -> Row[*tuple[Any, ...]]:
        """Raise the error that forbids the add, if any; return the number's row."""
        number = conn.execute(_NUMBER, {"sid": phone_number_sid, "account": account_sid}).first()
        if number is None:
            shown = (
                phone_number_sid if len(phone_number_sid) <= 64 else phone_number_sid[:61] + "..."
            )
            raise PhoneNumberNotInAccount(
                f"Phone Number is invalid: PhoneNumberSid {shown!r} is not the SID of an incoming "
                "phone number of this account"
            )
        current_service, _number, _country, capabilities = number
        if current_service == service_sid:
            raise PhoneNumberAlreadyInService()
        if current_service is not None:
            raise PhoneNumberInAnotherService()
        if not {"SMS", "MMS"} & set(capabilities):
            raise PhoneNumberCannotMessage()
        size = conn.scalar(_POOL_SIZE, {"service": service_sid}) or 0
        if size >= self.pool_limit:
            raise ServicePoolFull()
        return number

    def get_phone_number(self, account_sid: str, service_sid: str, sid: str) -> PoolEntry:
        row = self.db.first(_ENTRY, {"sid": sid, "service": service_sid, "account": account_sid})
        if row is None:
            raise ResourceNotFound.at(f"{_pool_path(service_sid)}/{sid}")
        return _entry(row)

    def remove_phone_number(self, account_sid: str, service_sid: str, sid: str) -> None:
        with self.db.write() as conn:
            removed = conn.execute(
                _REMOVE, {"sid": sid, "service": service_sid, "account": account_sid}
            ).first()
        if removed is None:
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
        """Return one page of a pool, oldest entry first, of at most MAX_PAGE_SIZE entries.

        With a token, the page is the entries after (or before) the token's boundary; without
        one, the first page. `page` selects nothing: as for Twilio, it is the client's own
        count, echoed in the page (the token's count when the client sends none).
        """
        cursor = self.tokens.read(page_token, service_sid) if page_token else None
        page_size = min(page_size, MAX_PAGE_SIZE)
        index = page if page is not None else cursor.page if cursor is not None else 0
        pool = {"service": service_sid, "size": page_size + 1}
        with self.db.read() as conn:
            if (
                conn.execute(_SERVICE, {"service": service_sid, "account": account_sid}).first()
                is None
            ):
                raise ResourceNotFound.at(_pool_path(service_sid))
            # One row more than the page tells whether the list goes on in the direction read;
            # the other direction is known (the start of the list) or asked once.
            if cursor is None:
                rows = conn.execute(_PAGE_FIRST, pool).all()
                more_after, rows, more_before = len(rows) > page_size, rows[:page_size], False
            elif cursor.direction == "after":
                rows = conn.execute(_PAGE_AFTER, {**pool, "seq": cursor.seq}).all()
                more_after, rows = len(rows) > page_size, rows[:page_size]
                more_before = bool(rows) and bool(
                    conn.scalar(_ANY_BEFORE, {"service": service_sid, "seq": rows[0][0]})
                )
            else:
                rows = conn.execute(_PAGE_BEFORE, {**pool, "seq": cursor.seq}).all()
                more_before, rows = len(rows) > page_size, rows[:page_size][::-1]
                more_after = bool(rows) and bool(
                    conn.scalar(_ANY_AFTER, {"service": service_sid, "seq": rows[-1][0]})
                )
            previous_token = next_token = None
            if rows:
                first, last = rows[0][0], rows[-1][0]
                if more_before:
                    previous_token = self.tokens.issue(
                        PageCursor(service_sid, max(index - 1, 0), "before", first)
                    )
                if more_after:
                    next_token = self.tokens.issue(
                        PageCursor(service_sid, index + 1, "after", last)
                    )
        return Page([_entry(row) for row in rows], index, page_size, previous_token, next_token)


def _load(conn: Connection, accounts: Iterable[Account]) -> None:
    """Add or update accounts and what they own, inside the caller's write transaction.

    What one account owns stays its own: a document that gives another account's API key,
    service or incoming number to this one is refused whole (FixtureError naming the SID), so
    no pool can end up holding a number of another account.
    """
    for account in accounts:
        owned = [
            (db.api_keys, "API key", list(account.api_keys)),
            (db.services, "service", list(account.services)),
            (
                db.incoming_phone_numbers,
                "incoming number",
                [n.sid for n in account.incoming_phone_numbers],
            ),
        ]
        for table, kind, sids in owned:
            for sid in sids:
                owner = conn.scalar(select(table.c.account_sid).where(table.c.sid == sid))
                if owner is not None and owner != account.sid:
                    raise FixtureError(
                        f"{kind} {sid} belongs to another account; a fixture cannot move it "
                        f"to {account.sid}"
                    )
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
            _upsert(conn, db.services, service_sid, account_sid=account.sid, friendly_name=name)
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


def _upsert(conn: Connection, table: Any, sid: str, **values: Any) -> None:
    """Insert a row keyed by `sid`, or update it if it exists (portable across databases)."""
    if conn.execute(update(table).where(table.c.sid == sid).values(**values)).rowcount == 0:
        conn.execute(insert(table).values(sid=sid, **values))
