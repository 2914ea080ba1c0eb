"""Prepared statements (twilio_fake.statements): compiled once, run on the driver (sqlite3's,
psycopg's); they must give exactly what `Connection.execute` gives for the same statement, and fail
as it fails."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.support import ACCOUNT, KEY, NUMBERS, SERVICE
from twilio_fake import backend as _backend  # noqa: F401  (its statements are made at import)
from twilio_fake import clock, db, fixtures
from twilio_fake.backend import Backend
from twilio_fake.resources.messages import capacity, lifecycle, optouts
from twilio_fake.resources.messages import model as _messages  # noqa: F401  (as above)
from twilio_fake.resources.pool import model as pool
from twilio_fake.resources.pool.tables import pool_entries
from twilio_fake.statements import Prepared

(SENDER,) = (
    n.phone_number for n in fixtures.demo()[0].incoming_phone_numbers if n.sid == NUMBERS[1]
)
# Values for every parameter name the prepared statements bind, chosen so that each finds rows.
PARAMETERS: dict[str, Any] = {
    "account": ACCOUNT,
    "service": SERVICE,
    "sid": NUMBERS[1],  # in the pool (the test puts it there); an insert adds NUMBERS[0]
    "user": ACCOUNT,
    "size": 50,
    "now": datetime(2026, 12, 1, 18, 30, 15, 123456, tzinfo=UTC),
    "sender": SENDER,  # the number NUMBERS[1]
    "to": "+15005550123",  # an outcome rule's number (the test sets one)
    "recipient": "+15005550124",  # opted out of the service (the test opts it out)
    "most": 100,  # the bound on an account's messages (it holds one: the test counts one)
    # A message as a send writes it (messages.model._INSERT).
    **{
        f"new_{name}": value
        for name, value in {
            "sid": "SM" + "1" * 32,
            "account_sid": ACCOUNT,
            "service_sid": SERVICE,
            "from_number": SENDER,
            "to_number": "+15005550123",
            "body": "Hello",
            "media_urls": None,
            "num_segments": 1,
            "status": "queued",
            "direction": "outbound-api",
            "status_callback": None,
            "date_created": datetime(2026, 12, 1, 18, 30, 15),
            "date_updated": datetime(2026, 12, 1, 18, 30, 15),
            "date_sent": datetime(2026, 12, 1, 18, 30, 15),
            "send_at": None,
            "due_at": 1764613816.25,
            "outcome": "delivered",
            "outcome_error": None,
        }.items()
    },
    **{f"scope{n}": [NUMBERS[1], SERVICE][n % 2] for n in range(optouts.SCOPES_AT_ONCE)},
}


def _its_table(backend: Backend, prepared: Prepared) -> tuple[Any, list[Any]]:
    """The table a statement writes (the pool's, for a select), and the columns compared: on
    PostgreSQL all but the key a sequence gives, as its sequences are not rolled back (the
    second way's insert takes the next one)."""
    table = prepared.statement.table if prepared.statement.is_dml else pool_entries
    return table, [c for c in table.c if backend.db.is_sqlite or c.name != "seq"]


def _in_order(table: Any, kept: list[Any]) -> Any:
    """The kept columns of every row, in the table's order (its seq, else its key)."""
    return select(*kept).order_by(*([table.c.seq] if "seq" in table.c else table.primary_key))


def _rows_of_its_table(backend: Backend, prepared: Prepared) -> list[tuple[Any, ...]]:
    table, kept = _its_table(backend, prepared)
    with backend.db.read() as conn:
        return [tuple(row) for row in conn.execute(_in_order(table, kept))]


def _both_ways(backend: Backend, prepared: Prepared, parameters: dict[str, Any]) -> list[Any]:
    """The statement's rows, and the rows of its table after it (see _its_table), run each way
    in a transaction that is rolled back."""

    def executed(conn: Any) -> list[tuple[Any, ...]]:
        result = conn.execute(prepared.statement, parameters)
        return [tuple(row) for row in result] if result.returns_rows else []

    found = []
    for run in (executed, lambda conn: prepared.rows(conn, parameters)):
        with backend.db.engine.connect() as conn, conn.begin() as transaction:
            if backend.db.is_sqlite:
                conn.exec_driver_sql("BEGIN")  # the driver is in autocommit (see db.Database)
            rows = run(conn)
            table, kept = _its_table(backend, prepared)
            after = [tuple(row) for row in conn.execute(_in_order(table, kept))]
            transaction.rollback()
        found.append((rows, after))
    return found


def test_every_prepared_statement_gives_what_execute_gives(backend: Backend) -> None:
    # Rows for every statement to find: pool entries on both sides of the one whose seq a page
    # goes on from (so that pages both ways find one), a frozen clock, an outcome rule, an
    # opt-out.
    for number in NUMBERS[1:4]:
        pool.add(backend, ACCOUNT, SERVICE, number)
    with backend.db.read() as conn:
        seqs = [s for (s,) in conn.execute(select(pool_entries.c.seq).order_by("seq"))]
    with backend.db.write() as conn:
        clock.freeze(conn, ACCOUNT)
        lifecycle.set_outcome(conn, ACCOUNT, PARAMETERS["to"], "undelivered", 30003)
        optouts.opt_out(conn, ACCOUNT, SERVICE, PARAMETERS["recipient"], datetime.now(UTC))
        capacity.take_place(conn, ACCOUNT)  # so that giving one back changes the count
    assert len(Prepared.made) >= 13  # the pool's, its list's, authentication's, a send's
    unanswered = []
    for prepared in Prepared.made:
        answered = False
        for user in (ACCOUNT, KEY):
            given = {**PARAMETERS, "user": user, "seq": seqs[1]}
            if prepared.statement.is_insert:
                given["sid"] = NUMBERS[0]
            # Only what it binds: execute would take a column's name as a value to insert.
            bound = prepared.statement.compile().binds
            parameters = {name: value for name, value in given.items() if name in bound}
            before = _rows_of_its_table(backend, prepared)
            executed, run = _both_ways(backend, prepared, parameters)
            assert run == executed, str(prepared.statement)
            answered |= bool(run[0]) or run[1] != before
        if not answered:
            unanswered.append(str(prepared.statement))
    # Each found or changed something, for one user at least: else the comparison shows little.
    assert unanswered == []


def test_values_are_converted_as_sqlalchemy_converts_them(backend: Backend) -> None:
    # A datetime is stored as SQLAlchemy stores it and read back as a datetime; JSON as JSON.
    entry = pool.add(backend, ACCOUNT, SERVICE, NUMBERS[1])
    fetched = pool.get(backend, ACCOUNT, SERVICE, NUMBERS[1])
    assert fetched == entry
    assert isinstance(fetched.date_created, datetime) and isinstance(fetched.capabilities, tuple)


def test_a_driver_error_is_raised_as_sqlalchemys(backend: Backend) -> None:
    # What the rules catch (backend.db.integrity_errors) is SQLAlchemy's class, as execute raises.
    pool.add(backend, ACCOUNT, SERVICE, NUMBERS[1])
    with backend.db.write() as conn, pytest.raises(IntegrityError):
        pool._INSERT.rows(conn, {**PARAMETERS, "sid": NUMBERS[1]})


def test_a_missing_parameter_is_refused(backend: Backend) -> None:
    with backend.db.read() as conn, pytest.raises(KeyError, match="service"):
        pool._NUMBER_AND_POOL_SIZE.rows(conn, {"sid": NUMBERS[1], "account": ACCOUNT})


def test_a_statement_that_cannot_be_prepared_is_refused(tmp_path) -> None:
    database = db.Database(str(tmp_path / "x.sqlite3"))
    sids = bindparam("sids", expanding=True)
    expanding = Prepared(select(db.accounts.c.sid).where(db.accounts.c.sid.in_(sids)))
    Prepared.made.remove(expanding)
    try:
        with database.read() as conn, pytest.raises(ValueError, match="cannot prepare"):
            expanding.rows(conn, {"sids": ["AC1"]})
    finally:
        database.dispose()


def test_no_prepared_statement_binds_a_like_pattern() -> None:
    # SQLite prepares a statement again every time a LIKE or GLOB pattern is bound to it, so
    # that it can plan for that pattern: the send's outcome rule paid that on every send
    # (docs/performance.md). A pattern written into the SQL is prepared once.
    bound = [
        sql
        for sql in (str(p.statement.compile(dialect=sqlite.dialect())) for p in Prepared.made)
        if re.search(r"\b(LIKE|GLOB)\s+\?", sql)
    ]
    assert not bound


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_on_postgresql_a_dead_connection_is_invalidated_as_execute_invalidates_it(
    backend: Backend,
) -> None:
    # The server ends the connection under the statement (as a restart does): the error says the
    # connection was invalidated, which is what lets a read be run again on a new one
    # (db._again_if_cut), and the connection is not used again.
    with backend.db.engine.connect() as conn:
        transaction = conn.begin()
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")  # a live connection first
        ended = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        with backend.db.engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({ended})")
        with pytest.raises(DBAPIError) as raised:
            pool._SERVICE.rows(conn, {"service": SERVICE, "account": ACCOUNT})
        assert raised.value.connection_invalidated
        assert conn.invalidated
        transaction.rollback()  # what leaving a rule's transaction on the error does
