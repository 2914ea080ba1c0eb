"""Hot statements, compiled once and run on the driver's cursor.

The rules build their statements with SQLAlchemy Core, so that the same ones run on SQLite and
PostgreSQL. Executing one through `Connection.execute` costs far more than SQLite takes to run
it: SQLAlchemy generates the statement's cache key (a walk of its whole tree), looks the compiled
form up, builds an execution context and a result object, and dispatches events, every time. For
the statements every request runs (authentication, a pool's fetch, add, remove and page), that
was most of the fake's own cost on top of connexion's (docs/performance.md).

A `Prepared` statement does that work once per dialect: it keeps the compiled SQL, its parameters
(their order, or their names where the driver takes named ones) with their bind processors and
defaults, and its columns' result processors, all taken from SQLAlchemy's public compiler and type
API, so that values go in and come out exactly as `Connection.execute` would convert them
(`tests/unit/test_statements.py` runs every prepared statement both ways, on both databases, and
compares). It then runs on the driver's connection behind the SQLAlchemy one (`sqlite3`'s, or
psycopg's), inside whatever transaction that connection is in. Driver errors are raised as
SQLAlchemy's own exception classes, as `execute` raises them; and as `execute` does, a connection
that the error shows to be dead (a PostgreSQL restart) is invalidated, and the error says so
(`connection_invalidated`), so that the caller may run a read again on a new one. A replica on
PostgreSQL is bound by its own CPU, not the database's: the driver path took a tenth to a fifth
of a request's CPU off there (docs/performance.md, sixth pass).

Rows come back as plain tuples on both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any] | None
_REQUIRED = object()  # a parameter the caller must give


@dataclass(frozen=True)
class _Plan:
    sql: str
    parameters: tuple[tuple[str, Processor, Any], ...]  # name, bind processor, default
    named: bool  # the driver takes the parameters by name (psycopg), not in order (sqlite3)
    names: tuple[str, ...]
    # Whether the statement returns rows: an insert that returns none may still be compiled with
    # a RETURNING of its key (PostgreSQL's, for SQLAlchemy's inserted_primary_key), not ours.
    returns_rows: bool


# The columns to convert (index, result processor); the others come back as the driver gives
# them. Made on a statement's first rows: a processor may depend on the type the driver says
# the column has (psycopg's numbers).
_Results = tuple[tuple[int, Callable[[Any], Any]], ...]


class Prepared:
    """A Core statement (a select, or an insert, update or delete with or without RETURNING)
    without expanding (`IN` list) or literal-execute parameters."""

    made: list[Prepared] = []  # every one made (they are made once, at import), for the tests

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}
        self._results: dict[str, _Results] = {}
        Prepared.made.append(self)

    def rows(self, conn: Connection, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement; its rows (those it returns, for a write with RETURNING)."""
        plan = self._plans.get(conn.dialect.name) or self._plan(conn.dialect)
        values = []
        for name, process, default in plan.parameters:
            value = parameters.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"a value is required for the parameter {name!r}")
            values.append(value if process is None else process(value))
        arguments = dict(zip(plan.names, values, strict=True)) if plan.named else values
        rows, description = _run(conn, plan.sql, arguments)
        if description is None or not plan.returns_rows:
            return []
        results = self._results.get(conn.dialect.name)
        if results is None:
            results = self._results_for(conn.dialect, description)
        if not results:
            return rows
        return [_converted(row, results) for row in rows]

    def first(self, conn: Connection, parameters: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = self.rows(conn, parameters)
        return rows[0] if rows else None

    def scalar(self, conn: Connection, parameters: Mapping[str, Any]) -> Any:
        rows = self.rows(conn, parameters)
        return rows[0][0] if rows else None

    def _plan(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        sql = compiled.string
        named = not compiled.positional
        if "POSTCOMPILE" in sql or (named and compiled.escaped_bind_names):
            raise ValueError(f"cannot prepare this statement for {dialect.name}: {sql}")
        parameters = []
        order = list(compiled.binds) if named else compiled.positiontup or []
        for name in order:
            bind = compiled.binds[name]
            default = _REQUIRED if bind.required else bind.effective_value
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            parameters.append((name, process, default))
        returns_rows = len(self.statement.exported_columns) > 0
        plan = _Plan(sql, tuple(parameters), named, tuple(order), returns_rows)
        self._plans[dialect.name] = plan
        return plan

    def _results_for(self, dialect: Dialect, description: Any) -> _Results:
        processors = (
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(self.statement.exported_columns, description, strict=True)
        )
        results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        self._results[dialect.name] = results
        return results


def _converted(
    row: tuple[Any, ...], processors: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> tuple[Any, ...]:
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    return tuple(values)


def on_the_driver(conn: Connection, sql: str, arguments: Any = ()) -> list[Any]:
    """Run SQL on the driver's connection behind `conn` (sqlite3's, psycopg's); its rows."""
    return _run(conn, sql, arguments)[0]


def _run(conn: Connection, sql: str, arguments: Any) -> tuple[list[Any], Any]:
    """The rows and the driver's description of them (None: the statement returns no rows).

    A driver error is raised as SQLAlchemy's class for it (OperationalError, IntegrityError...),
    as `execute` raises it; if it shows the connection dead, `conn` is invalidated first, as
    `execute` invalidates it, and the error says so."""
    driver = conn.connection.driver_connection
    try:
        cursor = driver.execute(sql, arguments)  # type: ignore[union-attr]
        description = cursor.description
        return (cursor.fetchall() if description is not None else []), description
    except conn.dialect.loaded_dbapi.Error as error:
        dead = conn.dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
        if dead:
            conn.invalidate(error)
        raise DBAPIError.instance(
            sql,
            arguments,
            error,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=dead,
            dialect=conn.dialect,
        ) from error
