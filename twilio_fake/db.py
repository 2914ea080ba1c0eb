"""The database: table definitions and an engine set up for safe concurrent use.

SQLAlchemy Core only, so that the same statements run on SQLite (the default) and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextvars
import fcntl
import math
import os
import queue
import shutil
import tempfile
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from anyio import fail_after, to_thread
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    MetaData,
    String,
    Table,
    TypeDecorator,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from .fixtures import FixtureError
from .launch import MEMORY
from .statements import Prepared, on_the_driver

metadata = MetaData()


class Sid(TypeDecorator[str]):
    """A SID: two letters and 32 hex digits, as every stored one is (fixtures check it).

    Looked-up SIDs come from requests and may hold anything. One with a NUL character names
    nothing; SQLite finds nothing for it, but PostgreSQL cannot even bind it (a 500), so there
    it is bound as the empty string, which names nothing either. SQLite binds values as they
    are, at no cost.
    """

    impl = String(34)
    cache_ok = True

    def bind_processor(self, dialect: Any) -> Callable[[str | None], str | None] | None:
        return None if dialect.name == "sqlite" else _empty_if_nul


def _empty_if_nul(value: str | None) -> str | None:
    return "" if value is not None and "\x00" in value else value


accounts = Table(
    "accounts",
    metadata,
    Column("sid", Sid(), primary_key=True),
    # SHA-256 of the auth token: what authentication compares (in constant time).
    Column("auth_token_hash", String(64), nullable=False),
    # The token itself, only to sign the webhooks the fake sends (X-Twilio-Signature is an
    # HMAC-SHA1 keyed with it, as Twilio signs them). Never read by authentication, never
    # logged. NULL in a database of an earlier version until its fixtures are loaded again.
    Column("auth_token", String(256), nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("sid", Sid(), primary_key=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

# Server-wide values that must survive restarts and be shared by every worker (the key that
# signs page tokens). A reset keeps them.
settings = Table(
    "fake_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
    info={"kept_by_reset": True},
)

# The tables of the resources are defined in their packages (twilio_fake/resources/*/tables.py)
# on this same `metadata`. What the rest of the fake needs to know of a table it reads from
# `Table.info`:
# - a table with an `account_sid` column belongs to that account: dropped with it, emptied by
#   a reset; one whose rows belong to an account through another table says how, with
#   info["account_rows"]: a function from an account SID to a WHERE clause;
# - info["lock_rank"]: where a bulk change locks it on PostgreSQL (lower first; default 100);
# - info["on_create"]: a function of a connection, run when the table is created in a database
#   that an earlier version made (it has other tables), to fill the new table from them.

MASK = "***"  # what is shown of a password
_MASK_QUOTED = "%2A%2A%2A"  # the same, as a URL's query renders it
SECRET_PARAMETERS = frozenset({"password"})  # a URL's query parameters never shown
SCHEMA_LOCK = 0x7F1A4E  # PostgreSQL advisory lock key: creating the schema
# PostgreSQL advisory lock key: every write holds it shared from its first statement, a bulk
# change alone (see Database.write).
BULK_LOCK = 0x7F1A4F
T = TypeVar("T")


def bulk_lock_order() -> list[str]:
    """The order in which a bulk change (reset, a fixture load, an account minted or dropped)
    locks the tables on PostgreSQL: a table a rule locks first (SELECT … FOR UPDATE: the
    services, ranked 0) comes first, so that a bulk change and a rule cannot each hold what the
    other waits for."""
    tables = [t for t in metadata.sorted_tables if not t.info.get("kept_by_reset")]
    return [t.name for t in sorted(tables, key=lambda t: t.info.get("lock_rank", 100))]


def owned_tables() -> list[Table]:
    """The tables that hold what accounts own, children before parents (the order to delete)."""
    return [t for t in reversed(metadata.sorted_tables) if not t.info.get("kept_by_reset")]


def database_url(database: str) -> str:
    """Turn the DATABASE setting (a file path, ':memory:' or a SQLAlchemy URL) into a URL."""
    if database == MEMORY:
        return "sqlite://"
    if database.startswith(("postgresql://", "postgres://")):
        # The driver this package pins (the `postgresql` extra), not SQLAlchemy's default.
        return "postgresql+psycopg://" + database.split("://", 1)[1]
    if "://" in database:
        return database
    return f"sqlite:///{Path(database).expanduser().resolve()}"


def shown(database: str) -> str:
    """The DATABASE setting as it may be printed or logged: a URL's password masked."""
    if "://" not in database:
        return database
    try:
        return _masked(make_url(database))
    except ArgumentError:
        return database.split("://", 1)[0] + "://***"  # not a URL: show nothing of it


def _add_missing_columns(conn: Connection) -> None:
    """Add the columns a newer version of the fake defines to tables an older one created.

    `create_all` creates missing tables but leaves existing ones as they are, so a database file
    kept from an earlier version would lack a column added since. A column added later must be
    nullable or have a `server_default` (its existing rows get that value).
    """
    present = _names_by_table(inspect(conn).get_multi_columns())
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.name in present[table.name]:
                continue
            if not column.nullable and column.server_default is None:
                raise RuntimeError(
                    f"{table.name}.{column.name} is new: it must be nullable or have a "
                    "server_default, so that tables made by an earlier version can take it"
                )
            kind = column.type.compile(dialect=conn.dialect)
            default = ""
            if column.server_default is not None:
                value = getattr(column.server_default, "arg", "")
                default = " DEFAULT " + (
                    "'" + value.replace("'", "''") + "'"
                    if isinstance(value, str)
                    else str(value.compile(dialect=conn.dialect))
                )
            conn.exec_driver_sql(
                f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{default}'
            )


def _add_missing_indexes(conn: Connection) -> None:
    """Create the indexes a newer version of the fake defines on tables an older one created
    (`create_all` creates a missing table's indexes with it, not those of a table that exists).
    On PostgreSQL the first replica of the newer version builds them at start-up, under the
    schema lock: writes to their tables wait until they are built."""
    present = _names_by_table(inspect(conn).get_multi_indexes())
    for table in metadata.sorted_tables:
        for index in table.indexes:
            if index.name not in present[table.name]:
                index.create(conn)


def _names_by_table(reflected: dict[tuple[str | None, str], list[Any]]) -> dict[str, set[str]]:
    """The names of what the inspector reflected (columns or indexes), by table of the default
    schema: one query for all the tables, where asking table by table took three each on
    PostgreSQL (36 of the 40 statements that opened an existing database there)."""
    names: dict[str, set[str]] = defaultdict(set)
    for (schema, table), items in reflected.items():
        if schema is None:
            names[table] |= {item["name"] for item in items}
    return names


def _masked(url: URL) -> str:
    """A URL as it may be shown: its password masked, in its authority or its query (libpq
    takes `?password=` too)."""
    secret = [name for name in url.query if name.lower() in SECRET_PARAMETERS]
    if secret:
        url = url.update_query_dict(
            {name: [MASK] * len(url.normalized_query[name]) for name in secret}
        )
    return url.render_as_string(hide_password=True).replace(_MASK_QUOTED, MASK)


class DatabaseFileGone(Exception):
    """The SQLite file the server opened was removed or replaced: what it writes is lost."""


class DatabaseTimeout(Exception):
    """The database did not answer in time (a hung or partitioned PostgreSQL server)."""


DEFAULT_TIMEOUT = 5.0  # seconds a read may wait for the database, and a connection be made
# A statement PostgreSQL runs (or a lock it waits for) longer than this is cancelled by the
# server itself. Longer than any deadline a request has: bulk changes lock whole tables.
STATEMENT_TIMEOUT_MS = 60_000
# Threads that run the calls on PostgreSQL (see `call`): as many calls at once, at most.
CALLERS = 16
# Connections one caller thread may hold at once on PostgreSQL: the two it keeps (lone reads,
# read transactions), a write's, and a read transaction opened inside a read. The pool holds
# that many for every caller: the kept ones are never given back, and a pool smaller than
# them ran dry for good under 26 calls at once (every write then failed).
CONNECTIONS_PER_CALLER = 4
POOL_SIZE = 10  # of those, the connections the pool keeps open when idle


class Database:
    """An engine plus the two kinds of transaction the rules need: read, and exclusive write.

    Every statement runs through SQLAlchemy Core on this engine, on SQLite and PostgreSQL alike.
    Readers never wait for a writer: SQLite in WAL mode reads the last commit while a write
    transaction is open, PostgreSQL's MVCC does the same.
    """

    def __init__(self, database: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        url = database_url(database)
        self.is_sqlite = url.startswith("sqlite")
        # How long a read may keep a request waiting on a database that does not answer; on
        # PostgreSQL, also how long a connection may take to be made.
        self.timeout = timeout
        # PostgreSQL calls under way (threads that would wait for a hung server); SQLite's are
        # not counted (a local file always answers), at no cost.
        self._busy: _Busy | nullcontext[None] = nullcontext() if self.is_sqlite else _Busy()
        self._callers = _Callers(CALLERS)
        self.in_memory = url == "sqlite://"
        self._scratch: weakref.finalize[Any, Database] | None = None
        if self.in_memory:
            # One shared in-memory connection cannot hold a read beside a write transaction
            # (every read waited for whole writes): "in memory" is a private file in a
            # temporary directory instead, in WAL mode like any file, removed when closed.
            directory = tempfile.mkdtemp(prefix="twilio-fake-memory-")
            self._scratch = weakref.finalize(self, shutil.rmtree, directory, True)
            url = f"sqlite:///{directory}/memory.sqlite3"
        self.engine = self._create_engine(url)
        # Writers queue on locks rather than in SQLite's busy handler, which sleeps in growing
        # steps (a p99 near a second for create+delete at 16 connections). The threads of this
        # process queue on a lock; processes sharing a file (--workers) queue on an flock of a
        # file next to it, which the kernel hands over at once and releases if the holder dies.
        # The busy timeout stays as the last resort.
        self._write_lock = threading.Lock()
        # Set on the thread that holds the write lock for a whole call (see `call`), so that the
        # writes inside it do not wait for the lock their own thread holds.
        self._holder = threading.local()
        self._reader = threading.local()
        self._readers: list[Connection] = []  # every thread's kept connection, to close them all
        self._readers_lock = threading.Lock()  # for that list only: never held while waiting
        on_file = self.is_sqlite and not self.in_memory
        self._lock_file = open(f"{self.engine.url.database}-writer.lock", "ab") if on_file else None
        # What a unique constraint raises when two writers race (databases without a global
        # write lock).
        self.integrity_errors = (IntegrityError,)
        try:
            self._create_schema()
        except BaseException:  # nothing of this database is left open
            self.dispose()
            raise
        # The file opened, to notice when it is removed or replaced under the server (whose
        # writes would then go to a file nobody will ever open again).
        self._file = self.engine.url.database if self.is_sqlite else None
        self._identity = _identity(self._file) if self._file else None

    def _create_schema(self) -> None:
        """Create the tables that are missing. Servers starting at once queue (on the writers'
        flock on SQLite, an advisory lock on PostgreSQL), so that only one creates them and the
        others find them made. On PostgreSQL this is a bulk change too (BULK_LOCK, alone, after
        SCHEMA_LOCK): adding what an earlier version's tables lack (ALTER TABLE, CREATE INDEX)
        locks them against every write, in an order no write keeps, so it waits for the writes
        under way, as a reset does."""
        with self._writer(), self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({BULK_LOCK})")
            earlier = set(inspect(conn).get_table_names())
            metadata.create_all(conn)
            _add_missing_columns(conn)
            _add_missing_indexes(conn)
            if earlier:  # a database an earlier version made: fill its new tables from it
                for table in metadata.sorted_tables:
                    if table.name not in earlier and "on_create" in table.info:
                        table.info["on_create"](conn)

    def _create_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            # Enough connections for every caller thread at once (CALLERS x
            # CONNECTIONS_PER_CALLER a replica, which PostgreSQL's max_connections must allow
            # for: docs/deployment.md).
            most = CALLERS * CONNECTIONS_PER_CALLER
            engine = create_engine(
                url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=most - POOL_SIZE
            )

            @event.listens_for(engine, "do_connect")
            def _timeouts(_dialect: Any, _record: Any, _args: Any, kwargs: dict[str, Any]) -> None:
                # A server that accepts but never answers (stopped, partitioned) is given up
                # on; a statement that runs away is cancelled by the server.
                kwargs.setdefault("connect_timeout", max(1, math.ceil(self.timeout)))
                kwargs.setdefault("options", f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")

            return engine
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            # Autocommit at the driver: `Database._transaction` emits BEGIN itself, so
            # writes take the write lock up front (BEGIN IMMEDIATE) instead of failing to
            # upgrade it later.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # First, so that switching to WAL waits for a server that is creating the schema.
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA journal_mode=WAL")
            # In memory: nothing is kept after the process, so nothing to sync for a crash.
            cursor.execute(f"PRAGMA synchronous={'OFF' if self.in_memory else 'NORMAL'}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """On SQLite, be the only writer: of this process's threads, then of the processes on the
        file. PostgreSQL has row locks: writers run side by side, the rules lock what they read."""
        if not self.is_sqlite or getattr(self._holder, "held", False):  # `call` took it already
            yield
            return
        with self._write_lock:
            if self._lock_file is None:
                yield
                return
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _take_writer_at_once(self) -> bool:
        """Take the write lock (this process's, then the file's) if both are free right now;
        never wait. Released by `_release_writer`."""
        if not self._write_lock.acquire(blocking=False):
            return False
        if self._lock_file is not None:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process is writing
                self._write_lock.release()
                return False
        self._holder.held = True
        return True

    def _release_writer(self) -> None:
        self._holder.held = False
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._write_lock.release()

    def first(self, statement: Any, parameters: dict[str, Any]) -> Any:
        """Run one read statement alone (see `alone`) and return its first row (a tuple for a
        `Prepared` one, a SQLAlchemy Row otherwise)."""
        run = statement.first if isinstance(statement, Prepared) else _execute_first(statement)
        return self.alone(run, parameters)

    def alone(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return `read(conn, *args, **kwargs)`, where `read` runs one statement: the read of a
        row, or of a list's first page.

        A lone statement needs no transaction: it runs in autocommit, a snapshot of its own, on
        a connection that its thread keeps (checking one out of the pool for every read was a
        third of the storage layer's cost; BEGIN and COMMIT around it cost about as much as a
        small read). Only threads that live as long as the database keep one: on SQLite the
        event loop's, where reads run (`call`); on PostgreSQL the callers' threads. Any other
        thread (one of anyio's, which come and go: a write that waits for the lock on SQLite
        runs on one, and may read) takes a pooled connection and gives it back, or the pool
        would run dry. A read cut short by a connection the server dropped (a database
        restart) runs once more, on a new one.
        """
        if self.is_sqlite:
            if _on_event_loop():
                return self._alone_on_kept(read, args, kwargs)
            with self.engine.connect() as conn:  # its driver is in autocommit (_configure)
                return read(conn, *args, **kwargs)
        with self._busy:
            if not _Callers.on_one():
                with self.engine.connect() as conn:
                    return read(
                        conn.execution_options(isolation_level="AUTOCOMMIT"), *args, **kwargs
                    )
            return self._alone_on_kept(read, args, kwargs)

    def _alone_on_kept(
        self, read: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        try:
            return read(self._kept_connection(), *args, **kwargs)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        # The server dropped the kept connection (a database restart): once more, anew.
        return read(self._kept_connection(), *args, **kwargs)

    def _kept_connection(self) -> Connection:
        """This thread's connection for lone statements, in autocommit."""
        conn = getattr(self._reader, "connection", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._reader.connection = self._keep(
                conn, self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            )
        return conn

    def _kept_for_transaction(self, write: bool) -> Connection | None:
        """A connection this thread keeps for transactions, if it is not in one already (a read
        opened inside a write takes a pooled one). Taking a connection out of the pool and
        putting it back (a queue under a condition, a reset, its events; on PostgreSQL a ping)
        cost as much as the statements of a small write.
        - On SQLite, the event loop's, for reads and writes. Worker threads come and go (and
          are many): they take pooled connections, so that none is kept by a thread that is gone.
        - On PostgreSQL, each caller thread's (`_Callers`), for reads only: a read cut short by a
          connection that died (a server restart) is run again (`call`), a write is not, so
          writes take pooled connections, which the pool pings before it hands them out."""
        if self.is_sqlite:
            if not _on_event_loop():
                return None
        elif write or not _Callers.on_one():
            return None
        conn = getattr(self._reader, "transactions", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._reader.transactions = self._keep(conn, self.engine.connect())
        return None if conn.in_transaction() else conn

    def _keep(self, old: Connection | None, new: Connection) -> Connection:
        if old is not None:
            old.close()
        with self._readers_lock:
            self._readers.append(new)
        return new

    @contextmanager
    def _transaction(self, begin: str, *, write: bool) -> Iterator[Connection]:
        """A transaction on this thread's kept connection (SQLite) or a pooled one. SQLite's
        driver is in autocommit (see _configure), and SQLAlchemy's begin does nothing to it: the
        transaction starts with `begin` as written, given to the driver, and SQLAlchemy's commit
        or rollback ends it. On PostgreSQL psycopg begins the transaction itself, and `begin` (if
        any) is its first statement."""
        kept = self._kept_for_transaction(write)
        with nullcontext(kept) if kept is not None else self.engine.connect() as conn:
            with conn.begin():
                if begin:
                    on_the_driver(conn, begin)
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection inside a read transaction: one consistent snapshot."""
        with self._busy, self._transaction("BEGIN" if self.is_sqlite else "", write=False) as conn:
            yield conn

    @contextmanager
    def write(self, *, bulk: bool = False) -> Iterator[Connection]:
        """Yield a connection inside a transaction that holds the database's write lock.

        On SQLite this is BEGIN IMMEDIATE, so check-then-insert rules (one number per pool, the
        pool limit) cannot interleave between workers, and a `bulk` change (a reset, a fixture
        load, an account minted or dropped) has the database to itself.

        On PostgreSQL, rules lock the rows involved with SELECT ... FOR UPDATE themselves. A
        `bulk` change keeps every other writer out until it commits (readers go on, and see the
        state before it): its first statement takes the advisory BULK_LOCK alone, and every
        other write's takes it shared, so a bulk change waits for the writes under way and new
        ones wait for it. Then it locks every table EXCLUSIVE, in bulk_lock_order (what keeps
        out the writes of a replica of an earlier version, which take no BULK_LOCK). Without
        the advisory lock, a write that locked a table late in that order (a message's row)
        and then one early in it (its account's row, for a foreign key) met a bulk change
        holding the second and waiting for the first: PostgreSQL's deadlock error, a 503.
        """
        self.check_present()
        if self.is_sqlite:
            begin = "BEGIN IMMEDIATE"
        else:  # a statement of its own: folded into the BEGIN it cost no less (pg_begin_costs)
            begin = f"SELECT pg_advisory_xact_lock{'' if bulk else '_shared'}({BULK_LOCK})"
        with self._busy, self._writer(), self._transaction(begin, write=True) as conn:
            if bulk and not self.is_sqlite:
                conn.exec_driver_sql(f"LOCK TABLE {', '.join(bulk_lock_order())} IN EXCLUSIVE MODE")
            yield conn

    @property
    def busy(self) -> int:
        """How many PostgreSQL calls are under way (0 on SQLite)."""
        return self._busy.count if isinstance(self._busy, _Busy) else 0

    async def call(
        self, function: Callable[..., Any], *args: Any, write: bool = False, bulk: bool = False
    ) -> Any:
        """Run a function of the rules from the event loop without ever holding the loop.

        On SQLite, a read runs at once (a few indexed statements on a local file, which readers
        share with writers), and so does a write of a few rows when the write lock is free; a
        write that would wait for the lock (another thread's write, or another process's) waits
        in a thread, and so does a `bulk` one (one that may change a whole pool), so that reads go
        on meanwhile.
        On PostgreSQL, every call runs on one of the database's threads (`_Callers`): a server
        that hangs must not stop the requests that need no database. A read not answered within
        `timeout` seconds raises OperationalError (a 503; the thread is left to finish when the
        server answers). A write
        has no such deadline (it may be done before it could be told so, and a 503 says "not
        done"): the server's statement timeout bounds it, and a shutdown does not wait for it.
        """
        if self.is_sqlite:
            if not write:
                return function(*args)
            if not bulk and self._take_writer_at_once():
                # Nobody else is writing: the write runs here, as a read does, under the lock
                # it has already (a hop to a thread and back was a fifth of a create+delete's
                # CPU time). Only waiting for the lock would hold the loop, and that goes to a
                # thread.
                try:
                    return function(*args)
                finally:
                    self._release_writer()
            return await to_thread.run_sync(function, *args)
        if write:
            return await self._callers.run(function, *args)
        try:
            with fail_after(self.timeout):
                return await self._callers.run(_again_if_cut, function, *args)
        except TimeoutError:
            raise self.timed_out() from None

    def timed_out(self) -> OperationalError:
        late = DatabaseTimeout(f"the database did not answer within {self.timeout:g} s")
        return OperationalError(None, None, late)

    def check_present(self) -> None:
        """Raise OperationalError (a 503) if the SQLite file opened was removed or replaced.

        Reads go on from the open file; health and writes ask this first.
        """
        if self._file is not None and _identity(self._file) != self._identity:
            shown_file = MEMORY if self.in_memory else self._file
            gone = DatabaseFileGone(f"the database file {shown_file} was removed or replaced")
            raise OperationalError(None, None, gone)

    def describe(self) -> str:
        """The database, for health checks and logs: its URL without a password."""
        return "sqlite://" if self.in_memory else _masked(self.engine.url)

    def dispose(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        self._callers.stop()
        for reader in readers:
            reader.close()
        self.engine.dispose()
        if self._lock_file is not None:
            self._lock_file.close()
        if self._scratch is not None:
            self._scratch()


class _Callers:
    """The threads that run calls on PostgreSQL: started as calls need them (up to `size`) and
    kept for the database's life, so that each keeps its connections (see `Database.alone` and
    `_kept_for_transaction`), and a call costs a queue's put and a wake-up. anyio's `to_thread`
    cost 67 to 158 µs a call here against 13 to 104 (its limiter, cancel scope and checks;
    tools/hop_costs.py), and its threads end when idle, so they could keep no connection. The
    threads are daemons: a shutdown never waits for a call that a hung database never answers."""

    _mine = threading.local()

    def __init__(self, size: int) -> None:
        self._size = size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # threads waiting for a call
        self._queued = 0  # calls waiting for a thread

    @classmethod
    def on_one(cls) -> bool:
        """Whether this thread is one of the callers."""
        return getattr(cls._mine, "caller", False)

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(*args)` on a caller thread, in this task's context. If the task is
        cancelled (a deadline, a client gone) the call is left to finish, its answer dropped."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._queued += 1
            if self._queued > self._idle and self._threads < self._size:
                self._threads += 1
                self._idle += 1
                threading.Thread(target=self._work, name="database-call", daemon=True).start()
        self._queue.put((loop, future, contextvars.copy_context(), function, args))
        return await future

    def stop(self) -> None:
        """Let every thread end once it has finished its call (if the database answers)."""
        with self._lock:
            for _ in range(self._threads):
                self._queue.put(None)
            self._threads = 0

    def _work(self) -> None:
        self._mine.caller = True
        while (task := self._queue.get()) is not None:
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            loop, future, context, function, args = task
            try:
                answer, error = context.run(function, *args), None
            except BaseException as raised:  # handed to the caller, whatever it is
                answer, error = None, raised
            try:
                loop.call_soon_threadsafe(_settle, future, answer, error)
            except RuntimeError:  # the loop is closed: nobody waits for the answer
                pass
            with self._lock:
                self._idle += 1


def _again_if_cut(function: Callable[..., Any], *args: Any) -> Any:
    """Run a read; once more if the connection it ran on was found dead (a database restart
    cut it: its thread keeps a new one now)."""
    try:
        return function(*args)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return function(*args)


def _settle(future: asyncio.Future[Any], answer: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(answer)


class _Busy:
    """A count of the threads inside it."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self.count -= 1


def _execute_first(statement: Any) -> Callable[[Connection, dict[str, Any]], Any]:
    return lambda conn, parameters: conn.execute(statement, parameters).first()


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _identity(path: str) -> tuple[int, int] | None:
    """The file at `path` (its device and inode), or None if there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


# What one account's writes do in turns (its buys, its opt-outs) waits for this lock of its row
# (PostgreSQL: FOR NO KEY UPDATE, which lets other writes' foreign keys to the account go on; on
# SQLite every write takes its turn already), so that no two pass a per-account count together.
ACCOUNT_TURN = (
    select(accounts.c.sid)
    .where(accounts.c.sid == bindparam("account"))
    .with_for_update(key_share=True)
)


def upsert(conn: Connection, table: Table, sid: str, **values: Any) -> None:
    """Insert a row keyed by `sid`, or update it if it exists (portable across databases)."""
    if conn.execute(update(table).where(table.c.sid == sid).values(**values)).rowcount == 0:
        conn.execute(insert(table).values(sid=sid, **values))


def insert_or_nothing(conn: Connection, table: Table) -> Any:
    """An INSERT into `table` that does nothing where a unique key is taken already (`ON
    CONFLICT DO NOTHING`, each database's own form). To learn whether it inserted, give it a
    RETURNING and look for a row: psycopg's rowcount for it is -1 here, inserted or not.

    The dialect's module is imported here, for the database in use: PostgreSQL's (its drivers'
    modules with it) is 2.4 MB and 20 ms of start-up that a SQLite fake does without."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing()


def refuse_foreign(
    conn: Connection, table: Table, kind: str, sids: list[str], account: str
) -> None:
    """Refuse a fixture that gives this account a row another account owns: what one account
    owns stays its own, so no pool can end up holding a number of another account. The whole
    document is refused (FixtureError, naming the SID): its transaction rolls back."""
    for sid in sids:
        owner = conn.scalar(select(table.c.account_sid).where(table.c.sid == sid))
        if owner is not None and owner != account:
            raise FixtureError(
                f"{kind} {sid} belongs to another account; a fixture cannot move it to {account}"
            )
