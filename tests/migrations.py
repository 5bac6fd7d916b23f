"""Migration tests take a database back to an earlier revision, write rows as they were
then, and upgrade again: the way back, shared."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from service.schema import alembic_config


def downgrade_to(engine: Engine, revision: str) -> None:
    """Run the migrations down to `revision` (kept) on `engine`'s database."""
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
