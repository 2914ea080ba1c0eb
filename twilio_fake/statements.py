"""Hot statements, compiled once and run on the driver's cursor.

The rules build their statements with SQLAlchemy Core, so that the same ones run on SQLite and
PostgreSQL. Executing one through `Connection.execute` costs far more than SQLite takes to run
it: SQLAlchemy generates the statement's cache key (a walk of its whole tree), looks the compiled
form up, builds an execution context and a result object, and dispatches events, every time. For
the statements every request runs (authentication, a pool's fetch, add, remove and page), that
was most of the fake's own cost on top of connexion's (docs/performance.md).

A `Prepared` statement does that work once per dialect: it keeps the compiled SQL, the order of
its parameters with their bind processors and defaults, and its columns' result processors, all
taken from SQLAlchemy's public compiler and type API, so that values go in and come out exactly
as `Connection.execute` would convert them (`tests/unit/test_statements.py` runs every prepared
statement both ways and compares). On SQLite it then runs on the `sqlite3` connection behind the
SQLAlchemy one, inside whatever transaction that connection is in, and driver errors are raised
as SQLAlchemy's own exception classes, as `execute` raises them. On PostgreSQL it runs through
`Connection.execute` as any statement does: there a statement's cost is the network round trip,
and SQLAlchemy's handling of a dropped connection (invalidating it) is worth keeping.

Rows come back as plain tuples on both.
"""

from __future__ import annotations

import sqlite3
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
    # The columns to convert (index, result processor); the others come back as the driver
    # gives them.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]


class Prepared:
    """A Core statement (a select, or an insert, update or delete with or without RETURNING)
    without expanding (`IN` list) or literal-execute parameters."""

    made: list[Prepared] = []  # every one made (they are made once, at import), for the tests

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}
        Prepared.made.append(self)

    def rows(self, conn: Connection, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement; its rows (those it returns, for a write with RETURNING)."""
        if conn.dialect.name != "sqlite":
            result = conn.execute(self.statement, parameters)
            return [tuple(row) for row in result] if result.returns_rows else []
        plan = self._plans.get("sqlite") or self._plan(conn.dialect)
        arguments = []
        for name, process, default in plan.parameters:
            value = parameters.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"a value is required for the parameter {name!r}")
            arguments.append(value if process is None else process(value))
        rows = on_the_driver(conn, plan.sql, arguments)
        if not plan.results:
            return rows
        return [_converted(row, plan.results) for row in rows]

    def first(self, conn: Connection, parameters: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = self.rows(conn, parameters)
        return rows[0] if rows else None

    def scalar(self, conn: Connection, parameters: Mapping[str, Any]) -> Any:
        rows = self.rows(conn, parameters)
        return rows[0][0] if rows else None

    def _plan(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        sql = compiled.string
        if not compiled.positional or "POSTCOMPILE" in sql:
            raise ValueError(f"cannot prepare this statement for {dialect.name}: {sql}")
        parameters = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            default = _REQUIRED if bind.required else bind.effective_value
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            parameters.append((name, process, default))
        processors = (
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.exported_columns
        )
        results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        plan = _Plan(sql, tuple(parameters), results)
        self._plans[dialect.name] = plan
        return plan


def _converted(
    row: tuple[Any, ...], processors: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> tuple[Any, ...]:
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    return tuple(values)


def on_the_driver(conn: Connection, sql: str, arguments: Any = ()) -> list[Any]:
    """Run SQL on the `sqlite3` connection behind `conn`; its rows. A driver error is raised as
    SQLAlchemy's class for it (OperationalError, IntegrityError...), as `execute` raises it."""
    try:
        return conn.connection.driver_connection.execute(sql, arguments).fetchall()  # type: ignore[union-attr]
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, arguments, error, sqlite3.Error) from error
