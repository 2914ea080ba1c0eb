"""The database: table definitions and an engine set up for safe concurrent use.

SQLAlchemy Core only, so that the same statements run on SQLite (the default) and PostgreSQL.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("sid", String(34), primary_key=True),
    # SHA-256 of the auth token: the token itself is never stored.
    Column("auth_token_hash", String(64), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("sid", String(34), primary_key=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

services = Table(
    "services",
    metadata,
    Column("sid", String(34), primary_key=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
)

incoming_phone_numbers = Table(
    "incoming_phone_numbers",
    metadata,
    Column("sid", String(34), primary_key=True),
    Column("account_sid", String(34), ForeignKey("accounts.sid"), nullable=False, index=True),
    Column("phone_number", String(16), nullable=False),
    Column("country_code", String(2), nullable=False),
    Column("capabilities", JSON, nullable=False),
)

# The pools. `seq` gives the stable, oldest-first order that paging walks; a phone number sits in
# at most one pool, which the unique `sid` enforces even under concurrent writers. The entry's
# account is its number's (and its service's) account, so it is not stored twice.
pool_entries = Table(
    "pool_entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column(
        "sid", String(34), ForeignKey("incoming_phone_numbers.sid"), nullable=False, unique=True
    ),
    Column("service_sid", String(34), ForeignKey("services.sid"), nullable=False),
    Column("date_created", DateTime, nullable=False),
    Column("date_updated", DateTime, nullable=False),
    Index("ix_pool_entries_service_seq", "service_sid", "seq"),
)

# Server-wide values that must survive restarts and be shared by every worker (the key that
# signs page tokens).
settings = Table(
    "fake_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

MEMORY = ":memory:"


def database_url(database: str) -> str:
    """Turn the DATABASE setting (a file path, ':memory:' or a SQLAlchemy URL) into a URL."""
    if database == MEMORY:
        return "sqlite://"
    if "://" in database:
        return database
    return f"sqlite:///{Path(database).expanduser().resolve()}"


class Query:
    """A statement compiled once for a dialect, to run many times without SQLAlchemy's execution.

    SQLAlchemy compiles a statement once and caches it, but still spends tens of microseconds
    per execution building parameters, result metadata and row objects: more than SQLite takes
    to answer. The statements on the request path are compiled here once instead, bound by name
    with `bindparam`, with the column types' own bind and result processors applied, so values
    go in and come out as SQLAlchemy would pass them (datetimes, JSON).
    """

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.names = compiled.positiontup  # positional paramstyles: bind names in order
        self.defaults = compiled.params  # the values SQLAlchemy bound itself (literals)
        self.bind_processors = {
            name: process
            for name, bind in compiled.binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.exported_columns  # selected, or RETURNING
        ]
        self.processors = [(i, p) for i, p in enumerate(processors) if p is not None]

    def parameters(self, values: dict[str, Any]) -> Any:
        """The driver's parameters: the named values, with the statement's own literals."""
        values = {**self.defaults, **values}
        for name, process in self.bind_processors.items():
            if values.get(name) is not None:
                values[name] = process(values[name])
        return values if self.names is None else tuple(values[name] for name in self.names)

    def convert(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self.processors:
            return row
        values = list(row)
        for index, process in self.processors:
            if values[index] is not None:
                values[index] = process(values[index])
        return tuple(values)


# Runs a Query inside a snapshot or transaction: rows = run(query, name=value...)
Runner = Callable[..., list[tuple[Any, ...]]]


class Database:
    """An engine plus the two kinds of transaction the rules need: read, and exclusive write.

    Each comes twice: `read`/`write` yield a SQLAlchemy connection (fixtures, reset, counts);
    `snapshot`/`transaction` run compiled Queries, on a SQLite file straight on the thread's
    own `sqlite3` connection (the request path). `version` tells when the data may have changed.
    """

    def __init__(self, database: str) -> None:
        url = database_url(database)
        self.is_sqlite = url.startswith("sqlite")
        self.in_memory = url == "sqlite://"
        on_file = self.is_sqlite and not self.in_memory
        self.engine = self._create_engine(url)
        # One shared in-memory connection cannot hold two transactions at once: serialise them.
        self._memory_lock = threading.RLock() if self.in_memory else None
        # Writers queue on locks rather than in SQLite's busy handler, which sleeps in growing
        # steps: it gave create+delete a p99 near a second at 16 connections. The threads of
        # this process queue on a lock; processes sharing a file (--workers) queue on an flock
        # of a file next to it, which the kernel hands over at once and releases if the
        # holder dies. The busy timeout stays as the last resort.
        self._write_lock = threading.Lock()
        self._lock_file = (
            open(f"{self.engine.url.database}-writer.lock", "ab") if on_file else None  # noqa: SIM115
        )
        # Each thread's own plain DBAPI connection for Query reads on a SQLite file (see
        # `snapshot`); None for other databases and for ':memory:', which go through the engine.
        self._plain = threading.local() if on_file else None
        # What a unique constraint raises, through SQLAlchemy or straight from the driver.
        self.integrity_errors = (IntegrityError, self.engine.dialect.loaded_dbapi.IntegrityError)
        metadata.create_all(self.engine)

    def _create_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            return create_engine(url, pool_pre_ping=True)
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if self.in_memory:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            self._configure_sqlite(dbapi_connection)

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get("write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def _configure_sqlite(self, dbapi_connection: Any) -> None:
        # Autocommit at the driver: a lone SELECT is its own transaction, and SQLAlchemy's
        # "begin" hook above emits BEGIN itself, so writes can take the write lock up front
        # (BEGIN IMMEDIATE) instead of failing to upgrade it later.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not self.in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    def query(self, statement: Any) -> Query:
        return Query(statement, self.engine.dialect)

    def rows(self, query: Query, **values: Any) -> list[tuple[Any, ...]]:
        """Run one Query on its own (a single statement is a consistent snapshot)."""
        if self._plain is None:
            with self.snapshot() as run:
                return run(query, **values)
        return _plain_runner(self._plain_connection())(query, **values)

    @contextmanager
    def snapshot(self) -> Iterator[Runner]:
        """Yield a function that runs Queries, all inside one read transaction."""
        if self._plain is None:
            with self.read() as conn:
                yield _engine_runner(conn)
            return
        plain = self._plain_connection()
        plain.execute("BEGIN")
        try:
            yield _plain_runner(plain)
        finally:
            plain.execute("COMMIT")  # a read transaction: nothing to undo

    @contextmanager
    def transaction(self) -> Iterator[Runner]:
        """Yield a function that runs Queries in a transaction holding the write lock.

        The same guarantees as `write`, on this thread's plain connection for a SQLite file.
        """
        if self._plain is None:
            with self.write() as conn:
                yield _engine_runner(conn)
            return
        plain = self._plain_connection()
        with self._writer():
            plain.execute("BEGIN IMMEDIATE")
            try:
                yield _plain_runner(plain)
            except BaseException:
                plain.execute("ROLLBACK")
                raise
            plain.execute("COMMIT")
            self._plain.own_commits += 1  # PRAGMA data_version does not count these (`version`)

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """Be the only writer: of this process's threads, then of the processes on the file."""
        with self._write_lock:
            if self._lock_file is None:
                yield
                return
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _plain_connection(self) -> Any:
        """This thread's own DBAPI connection, opened on first use with the engine's settings.

        Outside SQLAlchemy's pool on purpose: it lives as long as its thread (the driver closes
        it when the thread's locals go), and a pool connection held that long would starve the
        pool.
        """
        assert self._plain is not None
        connection = getattr(self._plain, "connection", None)
        if connection is None:
            dialect = self.engine.dialect
            arguments, options = dialect.create_connect_args(self.engine.url)
            connection = dialect.connect(*arguments, **options)
            self._configure_sqlite(connection)
            self._plain.connection = connection
            self._plain.own_commits = 0
        return connection

    def version(self) -> tuple[int, int] | None:
        """A value that changes whenever the data may have changed, as this thread sees it.

        SQLite's `PRAGMA data_version` changes when any other connection, in this process or
        another, commits to the file; commits on this thread's own connection are counted
        apart. None where there is no such signal (':memory:', other databases).
        """
        if self._plain is None:
            return None
        connection = self._plain_connection()
        (data_version,) = connection.execute("PRAGMA data_version").fetchone()
        return data_version, self._plain.own_commits

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection inside a read transaction."""
        with self._memory_lock or nullcontext(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """Yield a connection inside a transaction that holds the database's write lock.

        On SQLite this is BEGIN IMMEDIATE, so check-then-insert rules (one number per pool, the
        pool limit) cannot interleave between workers. Other databases lock the rows involved
        with SELECT ... FOR UPDATE in the rules themselves.
        """
        with self._memory_lock or nullcontext(), self._writer(), self.engine.connect() as conn:
            conn.execution_options(write=True)
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        if self._plain is not None and getattr(self._plain, "connection", None) is not None:
            self._plain.connection.close()
            self._plain = threading.local()  # other threads' connections close with the old one
        self.engine.dispose()
        if self._lock_file is not None:
            self._lock_file.close()


def _plain_runner(connection: Any) -> Runner:
    """Run Queries straight on a DBAPI connection."""

    def run(query: Query, **values: Any) -> list[tuple[Any, ...]]:
        cursor = connection.execute(query.sql, query.parameters(values))
        return [query.convert(row) for row in cursor.fetchall()]

    return run


def _engine_runner(conn: Connection) -> Runner:
    """Run Queries on a SQLAlchemy connection, as plain SQL (':memory:', other databases)."""

    def run(query: Query, **values: Any) -> list[tuple[Any, ...]]:
        result = conn.exec_driver_sql(query.sql, query.parameters(values))
        rows = result.all() if result.returns_rows else []
        return [query.convert(tuple(row)) for row in rows]

    return run
