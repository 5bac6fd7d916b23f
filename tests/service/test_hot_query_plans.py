"""Every query a feed batch runs finds its rows through an index, whatever the planner's
statistics say.

A webhook batch of a hundred events must not read the tables that grow with every event
(events, rewards, the ledger, counters) whole. On PostgreSQL the risk is a table that was
never analysed: without statistics the planner guesses, and a guess such as "`source = ?`
is selective enough" turns a lookup per key into a walk over every stored event. So the
statements of one real batch are captured as the driver receives them and each is explained
with its own parameters: on a fresh database with autovacuum off and no ANALYZE, then again
after ANALYZE. A new per-batch query that scans fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text

from matching.events import Source
from service.db import make_engine
from service.feeds.pipeline import IngestPipeline
from service.feeds.records import record_from_json_value
from service.synthetic import generate_events, seed_world
from service.tables import Activation

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
HISTORY_EVENTS = 3_000
BATCH_EVENTS = 100
# Tables that grow with events, members or days. Offers, merchants and their locations are
# the catalogue: read whole, and cached.
GROWING = frozenset(
    {
        "card_event",
        "rejected_event",
        "reward",
        "ledger_account",
        "ledger_entry",
        "ledger_entry_resolution",
        "ledger_posting",
        "ledger_daily_booking",
        "outbox_event",
        "member_brand_state",
        "member_offer_state",
        "activation",
        "card",
        "member",
        "notification",
    }
)
# Not here: `claim`, read per batch only through a probe of its partial index of open claims
# (accepted, not matched yet: a handful whatever the number of claims settled).


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any


def _records(events: list[dict[str, object]]) -> list:
    return [record_from_json_value(e, json.dumps(e), i) for i, e in enumerate(events)]


def _disable_autovacuum(engine: Engine) -> None:
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        for table in list(tables):
            conn.exec_driver_sql(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')


def _never_analysed(engine: Engine) -> bool:
    """No planner statistics yet: `pg_stats` empty on PostgreSQL, no `sqlite_stat1` on SQLite."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            stats = "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()"
        elif conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).scalar_one():
            stats = "SELECT count(*) FROM sqlite_stat1"
        else:
            return True
        return not conn.execute(text(stats)).scalar_one()


def _world(engine: Engine) -> list[dict[str, object]]:
    """A seeded world with HISTORY_EVENTS events ingested; returns the next batch, which
    names stored events (clearings, refunds, reversals) and repeats a few (duplicates)."""
    world = seed_world(
        engine, seed=5, now=NOW - timedelta(days=40), merchants=20, offers=40, members=400
    )
    events = list(
        generate_events(
            world,
            seed=5,
            count=HISTORY_EVENTS + BATCH_EVENTS,
            start=NOW - timedelta(days=31),
            duplicate_share=0,
            malformed_share=0,
        )
    )
    history, batch = events[:HISTORY_EVENTS], events[HISTORY_EVENTS:]
    with engine.begin() as conn:  # members activate offers, so that table is not empty either
        conn.execute(
            insert(Activation.__table__),
            [
                {
                    "member_id": m,
                    "offer_id": 1 + (m + k) % 40,
                    "activated_at": NOW - timedelta(days=35),
                }
                for m in world.member_ids
                for k in (0, 7)
            ],
        )
    pipeline = IngestPipeline(engine, batch_events=1_000)
    for _ in pipeline.ingest(_records(history), Source.NETWORK, NOW):
        pass
    return [*batch[:-5], *history[-5:]]


def _captured_batch(engine: Engine, batch: list[dict[str, object]]) -> list[Statement]:
    """The statements one webhook-sized batch sends to the database, with their parameters."""
    statements: list[Statement] = []

    def capture(_conn, _cursor, sql, parameters, _context, executemany) -> None:
        first = parameters[0] if executemany and parameters else parameters
        statements.append(Statement(sql, first))

    pipeline = IngestPipeline(engine)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        outcomes = pipeline.ingest_batch(_records(batch), Source.NETWORK, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statuses = {o.status for o in outcomes}
    assert statuses == {"accepted", "duplicate"}, statuses
    return [s for s in statements if re.match(r"\s*(SELECT|UPDATE|WITH)\b", s.sql, re.I)]


def _pg_scans(
    engine: Engine,
    statement: Statement,
    sizes: dict[str, int],
    leading: dict[str, tuple[str, str]],
) -> list[str]:
    """What the plan of `statement` reads of a growing table beyond its keys: a sequential
    scan, a whole index, or rows fetched only to be filtered out."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        # ANALYZE runs the statement (inside a transaction rolled back below), so the plan
        # says how many rows each node fetched only to drop them.
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql, statement.parameters)
        (explained,) = cur.fetchall()
        plan = explained[0][0]["Plan"]
    finally:
        raw.rollback()
        raw.close()
    found = []
    for node in _nodes(plan):
        # A bitmap index scan names its index only; the table is the index's.
        table = node.get("Relation Name") or leading.get(node.get("Index Name", ""), ("", ""))[0]
        if table not in GROWING:
            continue
        kind = node["Node Type"]
        removed = node.get("Rows Removed by Filter", 0) + node.get(
            "Rows Removed by Index Recheck", 0
        )
        removed = removed * node.get("Actual Loops", 1)
        if kind == "Seq Scan":
            found.append(f"Seq Scan on {table}")
        elif kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
            found.append(f"{kind} on {table} without a condition (the whole index)")
        elif _walks_whole_index(node, leading):
            found.append(
                f"{kind} on {table} by {node['Index Name']} with no condition on its leading "
                f"column {leading[node['Index Name']][1]} (the whole index)"
            )
        elif removed > max(50, sizes.get(table, 0) // 10):
            found.append(f"{kind} on {table} dropped {removed:,} rows by filter")
    return found


def _leading_columns(engine: Engine) -> dict[str, tuple[str, str]]:
    """Each index's table and first column, by index name."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.relname, t.relname, a.attname FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]"
        )
        return {index: (table, column) for index, table, column in rows}


def _walks_whole_index(node: dict, leading: dict[str, tuple[str, str]]) -> bool:
    """An index scan whose condition names only later columns reads the index end to end (a
    planner sure a range holds nothing may still choose it)."""
    index, cond = node.get("Index Name"), node.get("Index Cond")
    if not index or not cond or index not in leading:
        return False
    return re.search(rf"\b{re.escape(leading[index][1])}\b", cond) is None


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


# What SQLite's virtual machine may spend on a statement: a lookup costs a few dozen steps per
# key and per row it returns (about 30 in this batch), the catalogue reads a few hundred in
# all. A statement that visits rows only to drop them, whether by a scan or by searching an
# index on a value most rows share (`linked_event_id IS NULL` on a plain index of that column
# is a walk over nearly every event), spends steps per stored row and goes over.
SQLITE_STEPS_PER_KEY_OR_ROW = 60
SQLITE_STEPS_FIXED = 2_000


def _sqlite_scans(engine: Engine, statement: Statement) -> list[str]:
    raw = engine.raw_connection()
    steps = 0

    def count_step() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    sqlite = raw.driver_connection
    assert sqlite is not None
    try:
        cur = raw.cursor()
        plan = cur.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.parameters).fetchall()
        sqlite.set_progress_handler(count_step, 1)
        returned = len(cur.execute(statement.sql, statement.parameters).fetchall())
        sqlite.set_progress_handler(None, 1)
    finally:
        raw.rollback()
        raw.close()
    found = []
    for *_, detail in plan:
        scanned = re.match(r"SCAN (\w+)", detail)
        if scanned and scanned.group(1) in GROWING:
            found.append(detail)
    keys = sum(len(json.loads(p)) for p in _parameters(statement) if _is_json_array(p))
    budget = SQLITE_STEPS_FIXED + SQLITE_STEPS_PER_KEY_OR_ROW * (keys + returned)
    if steps > budget:
        how = "; ".join(detail for *_, detail in plan)
        found.append(f"{steps:,} steps for {keys} keys and {returned} rows ({how})")
    return found


def _parameters(statement: Statement) -> list[Any]:
    p = statement.parameters
    return list(p.values()) if isinstance(p, dict) else list(p or ())


def _is_json_array(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[")


def _scans(engine: Engine, statements: list[Statement]) -> list[str]:
    sizes: dict[str, int] = {}
    leading: dict[str, tuple[str, str]] = {}
    if engine.dialect.name == "postgresql":
        leading = _leading_columns(engine)
        with engine.connect() as conn:
            for table in GROWING:
                sizes[table] = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
    problems = []
    for statement in statements:
        if engine.dialect.name == "postgresql":
            found = _pg_scans(engine, statement, sizes, leading)
        else:
            found = _sqlite_scans(engine, statement)
        problems += [f"{f}\n    in: {' '.join(statement.sql.split())[:300]}" for f in found]
    return problems


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    engine = make_engine(db_url)
    if engine.dialect.name == "postgresql":
        _disable_autovacuum(engine)
    yield engine
    engine.dispose()


def test_a_feed_batch_reads_growing_tables_by_index_before_any_analyse(engine):
    batch = _world(engine)
    assert _never_analysed(engine)
    statements = _captured_batch(engine, batch)
    assert len(statements) > 10  # the capture saw the batch
    problems = _scans(engine, statements)
    assert not problems, "\n".join(problems)


def test_a_feed_batch_reads_growing_tables_by_index_after_analyse(engine):
    """The same once the planner has statistics (`VACUUM ANALYZE` on PostgreSQL, `ANALYZE` on
    SQLite), which may make it prefer a scan of a table it now knows to be small."""
    batch = _world(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    assert not _never_analysed(engine)
    statements = _captured_batch(engine, batch)
    problems = _scans(engine, statements)
    assert not problems, "\n".join(problems)
