"""Account balances as every reader sees them: the account row plus the feed writers' slots."""

from __future__ import annotations

from sqlalchemy import Engine, select

from settlement.ledger.slots import account_columns


def balances(engine: Engine) -> dict[str, tuple[int, int]]:
    """Every account's (posted, pending) balance, by code."""
    with engine.connect() as conn:
        return {
            r.code: (int(r.posted_amount), int(r.pending_amount))
            for r in conn.execute(select(*account_columns()))
        }


def posted(engine: Engine, code: str) -> int:
    """An account's posted balance; 0 for an account not yet opened."""
    return balances(engine).get(code, (0, 0))[0]
