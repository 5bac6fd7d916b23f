"""The migrations build exactly the schema the table models declare.

A model index the migrations forget is a silent full scan in production (the feed's
"is this auth cleared yet?" lookup once ran without its index), so any difference between
the migrated database and the models fails here, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import settlement.runs.tables
import settlement.tables  # noqa: F401  (every module that declares tables)


def test_migrated_database_matches_the_table_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []
