"""Allocate primary keys before inserting, so related rows go in with one executemany each."""

from __future__ import annotations

from sqlalchemy import Connection, Table, func, select, text

# table name -> its id sequence (PostgreSQL), fixed by the schema: asking on every batch
# cost a round trip per table per batch.
_sequences: dict[str, str] = {}


def allocate_ids(conn: Connection, table: Table, count: int) -> list[int]:
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        seq = _sequences.get(table.name)
        if seq is None:
            seq = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
            ).scalar_one()
            _sequences[table.name] = seq
        return list(
            conn.execute(
                text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                {"s": seq, "n": count},
            ).scalars()
        )
    # SQLite: every write transaction starts with BEGIN IMMEDIATE, so no other writer can
    # take ids between this read and our insert.
    # Remember what this connection handed out, in case two allocations precede one insert.
    top = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    marks = conn.info.setdefault("allocated_ids", {})
    top = max(top, marks.get(table.name, 0))
    marks[table.name] = top + count
    return list(range(top + 1, top + 1 + count))
