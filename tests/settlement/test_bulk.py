"""Rows written through the driver (`bulk_insert`, `execute_many`) read back exactly as rows
written through Core, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel.sql.sqltypes import UTCDateTime

from settlement.ledger.bulk import KEYS, bulk_insert, by_keys, execute_many, keys_param

probe = Table(
    "bulk_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("flag", Boolean, nullable=False),
    Column("n", Integer, nullable=False),
)
# 01:30:00.25 UTC, given as 03:30:00.25 at UTC+2: stored as the UTC instant either way.
AT = datetime(2026, 3, 29, 1, 30, 0, 250_000, tzinfo=UTC)
AT_PLUS_2 = AT.astimezone(timezone(timedelta(hours=2)))


@pytest.fixture
def table(engine):
    probe.create(engine)
    return probe


def _upsert(engine):
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(probe)
    return stmt.on_conflict_do_update(
        index_elements=["id"], set_={"n": probe.c.n + stmt.excluded.n, "at": stmt.excluded.at}
    )


def test_a_row_written_by_the_driver_reads_back_as_one_written_by_core(engine, table):
    with engine.begin() as conn:
        bulk_insert(conn, table, ["id", "at", "flag", "n"], [(1, AT_PLUS_2, True, 5)])
        conn.execute(table.insert(), [{"id": 2, "at": AT, "flag": True, "n": 5}])
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.at, table.c.flag, table.c.n).order_by("id")).all()
        assert [tuple(r) for r in rows] == [(AT, True, 5), (AT, True, 5)]
        # Compared in SQL too: the stored text (SQLite) or instant (PostgreSQL) is the same.
        same = select(func.count()).where(table.c.at == AT)
        assert conn.execute(same).scalar_one() == 2
        stored = conn.exec_driver_sql("SELECT at FROM bulk_probe ORDER BY id").scalars().all()
        assert stored[0] == stored[1]


def test_execute_many_runs_the_statement_once_per_row(engine, table):
    later = AT + timedelta(days=1)
    with engine.begin() as conn:
        execute_many(
            conn,
            _upsert(engine),
            [
                {"id": 1, "at": AT, "flag": False, "n": 2},
                {"id": 2, "at": AT, "flag": False, "n": 3},
            ],
        )
        # Upserts add: 2 + 40 = 42 for id 1; id 3 is new.
        execute_many(
            conn,
            _upsert(engine),
            [
                {"id": 1, "at": later, "flag": False, "n": 40},
                {"id": 3, "at": later, "flag": True, "n": 7},
            ],
        )
        # One bind parameter per row (p_id); n doubles: 3 -> 6 for id 2.
        execute_many(
            conn,
            update(table).where(table.c.id == bindparam("p_id")).values(n=table.c.n * 2),
            [{"p_id": 2}],
        )
        # A value given in the statement applies to every row.
        execute_many(
            conn,
            update(table).where(table.c.id == bindparam("p_id")).values(flag=True),
            [{"p_id": 1}, {"p_id": 2}],
        )
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.id)).all()
    assert [tuple(r) for r in rows] == [
        (1, later, True, 42),
        (2, AT, True, 6),
        (3, later, True, 7),
    ]


def test_a_driver_error_arrives_as_sqlalchemys(engine, table):
    with engine.begin() as conn:
        execute_many(conn, table.insert(), [{"id": 1, "at": AT, "flag": True, "n": 1}])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        execute_many(conn, table.insert(), [{"id": 1, "at": AT, "flag": True, "n": 1}])


def test_by_keys_finds_each_key_and_keeps_the_querys_columns_and_conditions(engine, table):
    with engine.begin() as conn:
        bulk_insert(
            conn,
            table,
            ["id", "at", "flag", "n"],
            [(i, AT, i % 2 == 0, i * 10) for i in range(1, 21)],
        )
    query = by_keys(
        engine.dialect.name,
        select(table.c.n, table.c.id).where(table.c.flag == bindparam("flag")),
        table.c.id,
    )
    query = query.order_by(query.selected_columns.id)
    with engine.connect() as conn:
        found = conn.execute(query, {KEYS: keys_param(conn, [2, 3, 4, 99, 2]), "flag": True}).all()
    # 3 is filtered out by the query's own condition, 99 is absent, 2 is found once.
    assert [tuple(r) for r in found] == [(20, 2), (40, 4)]
    assert list(found[0]._fields) == ["n", "id"]
