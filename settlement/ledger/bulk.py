"""Bulk row writes for the hot paths (COPY on PostgreSQL, a raw executemany on SQLite), and
set membership for bulk reads.

Rows are tuples in column order, values already in their stored form (ints, strs, aware UTC
datetimes, bools); this skips the per-value work of the ORM and of Core's bind processing,
which dominates when a batch writes tens of thousands of rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Select,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

if TYPE_CHECKING:
    import psycopg

# A row to write: a dict of column (or bind parameter) name to its value in stored form.
RowDict = Mapping[str, Any]


def _sqlite_datetime(value: datetime) -> str:
    # The format SQLAlchemy's DateTime uses on SQLite, in UTC, so reads and comparisons
    # through Core and the ORM see the same values.
    # (isoformat with a space is that format, and several times faster than strftime; its
    # "+00:00" is cut off rather than a naive copy made first, which cost as much again.)
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]


# The driver converts datetimes itself, in C, for the raw writes below: Core never hands it
# one (its DateTime type binds strings), so this changes nothing for the rest of the program.
# Booleans need nothing: sqlite3 binds them as the integers 0 and 1.
sqlite3.register_adapter(datetime, _sqlite_datetime)


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None, "the connection is open"
    if conn.dialect.name == "postgresql":
        pg = cast("psycopg.Connection[Any]", dbapi)  # the psycopg driver is the only one
        with (
            pg.cursor() as cur,
            cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in columns)
    cursor = dbapi.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", rows
        )
    finally:
        cursor.close()


def insert_or_add(
    conn: Connection,
    table: Table,
    key: Sequence[str],
    added: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    also: Sequence[str] = (),
) -> None:
    """Insert each row (its values for `key`, `added`, then `also`), or, where a row of its
    key is stored, add its `added` values to that row's. One raw statement for both databases
    (ON CONFLICT ... excluded is SQLite's syntax too); give rows in key order, so concurrent
    writers lock rows in one order."""
    if not rows:
        return
    columns = [*key, *added, *also]
    marks = ", ".join(["?" if conn.dialect.name == "sqlite" else "%s"] * len(columns))
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in added),
        rows,
    )


def _values_getter(keys: Sequence[str]) -> Callable[[RowDict], tuple[Any, ...]]:
    """A dict's values for keys, as a tuple (itemgetter of one key returns the bare value)."""
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return itemgetter(*keys)


def insert_rows(conn: Connection, table: Table, rows: Sequence[RowDict]) -> None:
    """`bulk_insert` for rows given as dicts with the same keys (the first row's order)."""
    if not rows:
        return
    columns = list(rows[0])
    values_of = _values_getter(columns)
    bulk_insert(conn, table, columns, [values_of(row) for row in rows])


def execute_many(
    conn: Connection, statement: UpdateBase, rows: Sequence[RowDict]
) -> CursorResult[Any] | None:
    """One Core DML statement (an UPDATE, an upsert) for many parameter sets, run by the
    driver's executemany.

    The statement is compiled once for the call; the values skip Core's per-value bind
    processing, as in `bulk_insert`, so they must already be in stored form. Every row has the
    first row's keys, which name the statement's bind parameters (or columns, for an insert);
    values given in the statement itself fill the rest.
    """
    if not rows:
        return None
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    assert isinstance(compiled, SQLCompiler)  # a DML statement compiles with the SQL compiler
    fixed = {
        name: bind.effective_value
        for bind, name in compiled.bind_names.items()
        if name not in rows[0]
    }
    if fixed:  # values written into the statement itself, `.values(flag=True)` say
        rows = [{**fixed, **row} for row in rows]
    params: Sequence[tuple[Any, ...]] | Sequence[RowDict]
    if compiled.positional:
        assert compiled.positiontup is not None
        values_of = _values_getter(compiled.positiontup)
        params = [values_of(row) for row in rows]
    else:
        params = rows
    # Through the connection, not a raw cursor, so driver errors arrive as SQLAlchemy's.
    # Its rowcount is the sum over the rows on both drivers.
    return conn.exec_driver_sql(compiled.string, params)


def one_of(
    conn: Connection, column: ColumnElement[Any], values: Sequence[int | str]
) -> ColumnElement[bool]:
    """`column IN values` with the whole list as one parameter.

    A plain `in_()` renders one bind parameter per value and so compiles afresh for every
    list length; for batches of thousands that compile costs more than the query. PostgreSQL
    takes an array (`= ANY`), SQLite a JSON array read by `json_each`; both statements are
    compiled once and cached.
    """
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    members = func.json_each(bindparam(None, json.dumps(values))).table_valued("value")
    return column.in_(select(members.c.value))


KEYS = "keys"  # the parameter of a `by_keys` statement: its keys, from `keys_param`


def by_keys(dialect: str, query: Select[Any], column: ColumnElement[Any]) -> Select[Any]:
    """`query` narrowed to the rows whose `column` is one of the keys, looked up key by key;
    the keys are the statement's parameter `KEYS` (`keys_param` gives its value).

    On PostgreSQL `column = ANY(:keys)` leaves the choice to the planner, and on a table it
    has no statistics for (never analysed yet) or a small one it may read every row, or
    walk an index on a leading column and filter the rest (`source = ...`, then every
    external id stored). Here each key of `unnest(:keys)` drives a lateral subquery whose
    `OFFSET 0` keeps the planner from flattening it into a join: the subquery runs once
    per key with the key as its condition, an index lookup whatever the statistics. The
    rows come back in the order of the keys (a nested loop keeps the outer order), so
    sorted keys lock rows in key order under `FOR UPDATE`. The result's columns are the
    query's, by the same names.

    SQLite searches its index per key for `IN (SELECT value FROM json_each(:keys))`,
    statistics or none.

    Building the statement costs more than running it for a batch (a lateral subquery
    proxies every column): callers build theirs once per dialect and cache it, with their
    other values as bind parameters too.
    """
    if dialect != "postgresql":
        members = func.json_each(bindparam(KEYS)).table_valued("value")
        return query.where(column.in_(select(members.c.value)))
    keys = (
        func.unnest(bindparam(KEYS, type_=ARRAY(column.type)))
        .table_valued("key")
        .render_derived(name="wanted")
    )
    found = query.where(column == keys.c.key).offset(literal_column("0")).lateral("found")
    return select(*found.c).select_from(keys).join(found, true())


def keys_param(conn: Connection, values: Sequence[int | str]) -> list[int | str] | str:
    """The value of a `by_keys` statement's `KEYS` parameter: an array on PostgreSQL, a
    JSON array (read by `json_each`) on SQLite. A key given twice is looked up once, as
    `IN` does (a lateral lookup would return its rows twice)."""
    keys = list(dict.fromkeys(values))
    return keys if conn.dialect.name == "postgresql" else json.dumps(keys)
