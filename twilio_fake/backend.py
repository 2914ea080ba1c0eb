"""The fake's state as a whole: the database, its clock, page tokens and the accounts.

What every resource shares lives here: authentication, fixture loading, reset, minted and dropped
accounts, counts. Each resource's rules live in its package (`twilio_fake/resources/`), as
functions that take this backend; nothing here knows about HTTP, nor names a resource's rules.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, delete, func, insert, select

from . import db, resources, spec
from .clock import account_clocks
from .exceptions import ResourceNotFound, ServiceUnavailable, TooManyAccounts
from .fixtures import Account, IncomingNumber
from .paging import PageTokens
from .statements import Prepared


def utcnow() -> datetime:
    """Return the current UTC time as stored: naive, whole seconds (Twilio's dates have none)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# Compared against when a user name is unknown, so that a miss costs as much as a hit.
_NO_SUCH_SECRET = _digest(secrets.token_hex(32))

_ACCOUNT = select(db.accounts.c.sid, db.accounts.c.auth_token_hash).where(
    db.accounts.c.sid == bindparam("user")
)
_API_KEY = select(db.api_keys.c.account_sid, db.api_keys.c.secret_hash).where(
    db.api_keys.c.sid == bindparam("user"), db.api_keys.c.disabled.is_(False)
)
# What every request's authentication runs, compiled once (statements.Prepared).
_CREDENTIALS = {"AC": Prepared(_ACCOUNT), "SK": Prepared(_API_KEY)}
_MINT_ATTEMPTS = 3  # a mint whose account a reset removed starts again, this many times at most


class _MintInterrupted(Exception):
    """The account being minted was removed (a reset, a drop) before all it owns was written."""


# What /_fake/health counts, by table name.
COUNTED = ("accounts", "services", "incoming_phone_numbers", "pool_entries")


@dataclass(frozen=True)
class Counts:
    accounts: int
    services: int
    incoming_phone_numbers: int
    pool_entries: int


def _new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _new_phone_number() -> str:
    """A US number for a minted account: San Francisco's area code, a random line."""
    return f"+1415{secrets.randbelow(8_000_000) + 2_000_000}"


class Backend:
    """Every account and what it owns, kept in one database."""

    def __init__(
        self,
        database: str = db.MEMORY,
        fixtures: Iterable[Account] = (),
        *,
        pool_limit: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        # Their tables are on db.metadata before the schema is made.
        assert resources.PACKAGES and account_clocks is not None
        self.db = db.Database(database)
        self.startup_fixtures = list(fixtures)
        self.pool_limit = pool_limit if pool_limit is not None else spec.limit("pool-size")
        self.clock = clock
        self.tokens = PageTokens(self._page_token_key())
        # Called after a write that gave a message its next status's due time, with the real
        # time it falls due (None: now). The dispatcher, when the app runs one, sets it to wake
        # itself by then; nothing to wake otherwise.
        self.wake_dispatcher: Callable[..., None] = lambda at=None: None
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
        with self.db.write(bulk=True) as conn:
            self._load(conn, accounts)

    def _load(self, conn: Connection, accounts: Iterable[Account]) -> None:
        """Add or update accounts, their keys, and what each resource takes from the document,
        inside the caller's write transaction. A document that gives another account's key,
        service or number to this one is refused whole (FixtureError, naming the SID)."""
        now = self.clock()
        for account in accounts:
            db.refuse_foreign(conn, db.api_keys, "API key", list(account.api_keys), account.sid)
            db.upsert(
                conn,
                db.accounts,
                account.sid,
                auth_token_hash=_digest(account.auth_token),
                auth_token=account.auth_token,
            )
            for key_sid, secret in account.api_keys.items():
                db.upsert(
                    conn,
                    db.api_keys,
                    key_sid,
                    account_sid=account.sid,
                    secret_hash=_digest(secret),
                    disabled=key_sid in account.disabled_api_keys,
                )
            for load_fixtures in resources.fixture_loaders():
                load_fixtures(conn, account, now)

    def reset(self) -> None:
        """Drop everything accounts own and everything loaded since start-up; load the start-up
        fixtures again.

        One transaction: no reader, in any process, sees the state half gone.
        """
        with self.db.write(bulk=True) as conn:
            for table in db.owned_tables():
                conn.execute(delete(table))
            self._load(conn, self.startup_fixtures)

    def mint_account(self, services: int, numbers: int) -> Account:
        """Create an account of its own: a random SID and auth token, `services` services and
        `numbers` incoming numbers able to send SMS and MMS (and take calls).

        SIDs are random (128 bits), so accounts minted by parallel tests never meet. The fake
        holds at most the control surface's `x-limits` `accounts` (TooManyAccounts beyond). The
        account is made first, then what it owns a batch at a time (`mint-batch`), each batch a
        short write of its own: other accounts' writes wait for one batch, never a whole large
        mint. Nobody knows the account before this returns, so nobody sees it half made. A
        reset (or a drop) that removes it meanwhile makes the mint start again, with new SIDs.
        """
        for _attempt in range(_MINT_ATTEMPTS):
            try:
                return self._mint(services, numbers)
            except _MintInterrupted:
                continue
        raise ServiceUnavailable("Accounts were reset while this one was being minted: try again")

    def _mint(self, services: int, numbers: int) -> Account:
        account = Account(
            sid=_new_sid("AC"),
            auth_token=secrets.token_hex(16),
            services={_new_sid("MG"): f"Minted service {i + 1}" for i in range(services)},
            incoming_phone_numbers=tuple(
                IncomingNumber(_new_sid("PN"), _new_phone_number(), "US", ("MMS", "SMS", "Voice"))
                for _ in range(numbers)
            ),
        )
        # Serialised with other mints (and bulk changes), so the count cannot be overtaken.
        with self.db.write(bulk=True) as conn:
            held = conn.scalar(select(func.count()).select_from(db.accounts)) or 0
            if held >= spec.limit("accounts", spec.CONTROL):
                raise TooManyAccounts()
            self._load(conn, [replace(account, services={}, incoming_phone_numbers=())])
        batch = spec.limit("mint-batch", spec.CONTROL)
        owned = list(account.services.items())
        now = self.clock()
        for start in range(0, max(len(owned), len(account.incoming_phone_numbers)), batch):
            part = replace(
                account,
                services=dict(owned[start : start + batch]),
                incoming_phone_numbers=account.incoming_phone_numbers[start : start + batch],
            )
            # A bulk change too: a reset or drop waits for this batch, or it for them and finds
            # the account gone. No row lock is needed on top: no other writer gets in.
            with self.db.write(bulk=True) as conn:
                if conn.execute(_ACCOUNT, {"user": account.sid}).first() is None:
                    raise _MintInterrupted()
                for load_fixtures in resources.fixture_loaders():
                    load_fixtures(conn, part, now)
        return account

    def drop_account(self, account_sid: str) -> None:
        """Remove an account and everything it owns, in one transaction."""
        with self.db.write(bulk=True) as conn:
            if conn.execute(_ACCOUNT, {"user": account_sid}).first() is None:
                raise ResourceNotFound()
            for table in db.owned_tables():
                if "account_sid" in table.c:
                    conn.execute(delete(table).where(table.c.account_sid == account_sid))
                elif "account_rows" in table.info:
                    conn.execute(delete(table).where(table.info["account_rows"](account_sid)))
            conn.execute(delete(db.accounts).where(db.accounts.c.sid == account_sid))

    def counts(self) -> Counts:
        with self.db.read() as conn:
            return Counts(
                *(
                    conn.scalar(select(func.count()).select_from(db.metadata.tables[name])) or 0
                    for name in COUNTED
                )
            )

    def signing_key(self, conn: Connection, account_sid: str) -> str | None:
        """The auth token that signs the account's webhooks (None: not known, see db.accounts)."""
        return conn.scalar(select(db.accounts.c.auth_token).where(db.accounts.c.sid == account_sid))

    # -- authentication ---------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> str | None:
        """Return the Account SID that the credentials belong to, or None.

        The user name is an Account SID (password: its auth token) or an API Key SID (password:
        the key's secret; a disabled key signs nobody in). Secrets are stored as SHA-256 digests
        and compared in constant time.
        """
        query = _CREDENTIALS.get(username[:2])
        row = self.db.first(query, {"user": username}) if query is not None else None
        stored = row[1] if row else _NO_SUCH_SECRET
        if hmac.compare_digest(_digest(password), stored) and row:
            return str(row[0])
        return None
