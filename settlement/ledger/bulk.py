"""Bulk row writes for the hot paths (COPY on PostgreSQL, a raw executemany on SQLite), and
set membership for bulk reads.

Rows are tuples in column order, values already in their stored form (ints, strs, aware UTC
datetimes, bools); this skips the per-value work of the ORM and of Core's bind processing,
which dominates when a batch writes tens of thousands of rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY


def _needs_conversion(table: Table, name: str) -> bool:
    column_type = table.c[name].type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, DateTime | Boolean)


def _to_sqlite(value: object) -> object:
    if isinstance(value, datetime):
        # The format SQLAlchemy's DateTime uses on SQLite, in UTC, so reads and comparisons
        # through Core and the ORM see the same values.
        # (isoformat with a space is that format, and several times faster than strftime.)
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple]
) -> None:
    if not rows:
        return
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        with (
            dbapi.cursor() as cur,
            cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    convert = [i for i, name in enumerate(columns) if _needs_conversion(table, name)]
    if convert:
        converted = []
        for row in rows:
            values = list(row)
            for i in convert:
                if values[i] is not None:
                    values[i] = _to_sqlite(values[i])
            converted.append(values)
        rows = converted
    placeholders = ", ".join("?" for _ in columns)
    cur = dbapi.cursor()
    try:
        cur.executemany(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", rows
        )
    finally:
        cur.close()


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict]) -> None:
    """`bulk_insert` for rows given as dicts with the same keys (the first row's order)."""
    if not rows:
        return
    columns = list(rows[0])
    bulk_insert(conn, table, columns, [tuple(row[c] for c in columns) for row in rows])


def one_of(conn: Connection, column: ColumnElement, values: Sequence[int | str]) -> ColumnElement:
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
